"""Which release is running (watchdog/release.py): every release so far says version 0.1.0, so
during a rolling update or after a rollback only the revision the build came from tells two
replicas apart. It must reach every place the daemon reports itself (docs/operations.md, "Upgrading
and rolling back"): `watchdog --version`, the `started` line, watchdog_build_info, /readyz; and
nothing about it may keep the daemon from starting."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import structlog

from watchdog import __version__, release
from watchdog.app import Daemon
from watchdog.cli import main
from watchdog.metrics import Metrics
from watchdog.server import Probes
from watchdog.simulator import Scenario, Simulator, create_app

from .support import daemon_config, sim_scenario

REVISION = "5d41402abc4b2a76b9719d911017c592ae5e3f12"
CREATED = "2026-12-02T11:00:00Z"
HEAL = {"name": "heal", "trigger": {"type": "status"}, "select": {"include": ["*"]}}


@pytest.fixture(autouse=True)
def read_afresh() -> Iterator[None]:
    """The build is read once per process: each test reads it again, and leaves it to be read
    again by whatever runs next."""
    release.build.cache_clear()
    yield
    release.build.cache_clear()


def image_prefix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str) -> Path:
    """The virtualenv of an image whose build wrote `text` (the Dockerfile's step)."""
    prefix = tmp_path / "opt-watchdog"
    prefix.mkdir()
    (prefix / release.BUILD_FILE).write_text(text, encoding="utf-8")
    monkeypatch.setattr(sys, "prefix", str(prefix))
    return prefix


def version_line(capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    return capsys.readouterr().out.strip()


def build_info(metrics: Metrics) -> dict[str, str]:
    (family,) = [m for m in metrics.registry.collect() if m.name == "watchdog_build_info"]
    (sample,) = family.samples
    assert sample.value == 1
    return dict(sample.labels)


async def started_line(tmp_path: Path) -> dict[str, object]:
    simulator = Simulator(Scenario.model_validate(sim_scenario([{"name": "orders"}])))
    config = daemon_config([HEAL], state={"path": str(tmp_path / "state.db")})
    daemon = Daemon(config, transport=httpx.ASGITransport(app=create_app(simulator)))
    with structlog.testing.capture_logs() as logs:
        await daemon.start(serve_http=False)
    await daemon.stop()
    (started,) = [e for e in logs if e["event"] == "started"]
    return started


async def test_an_images_revision_is_reported_everywhere_the_daemon_says_what_it_is(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    # Two replicas of a rolling update, both 0.1.0: before, nothing said which image each ran.
    image_prefix(tmp_path, monkeypatch, f"revision={REVISION}\ncreated={CREATED}\n")

    assert version_line(capsys) == f"connect-watchdog {__version__} (revision {REVISION}, built {CREATED})"
    assert build_info(Metrics()) == {"version": __version__, "revision": REVISION,
                                     "python_version": platform.python_version()}
    leader = Probes()
    standby = Probes()
    standby.not_leader = lambda: "this replica is not the leader"
    for probes in (leader, standby):
        detail = probes.readiness()[1]
        assert (detail["version"], detail["revision"]) == (__version__, REVISION), detail
    started = await started_line(tmp_path)
    assert (started["version"], started["revision"]) == (__version__, REVISION)


def git(checkout: Path, *args: str) -> str:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(checkout), "GIT_CONFIG_NOSYSTEM": "1",
           "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}
    return subprocess.run(["git", "-C", str(checkout), *args], env=env, check=True, capture_output=True,
                          text=True, timeout=30).stdout.strip()


def test_a_source_checkout_reports_its_commit_and_says_when_it_was_edited(tmp_path: Path) -> None:
    checkout = tmp_path / "connect-watchdog"
    checkout.mkdir()
    (checkout / "pyproject.toml").write_text("[project]\nname = 'connect-watchdog'\n")
    git(checkout, "init", "-q")
    git(checkout, "add", "pyproject.toml")
    git(checkout, "commit", "-q", "-m", "first")
    head = git(checkout, "rev-parse", "HEAD")
    git(checkout, "tag", "v0.1.0")  # a tag does not replace the commit id
    assert release.git_revision(checkout) == head
    (checkout / "pyproject.toml").write_text("[project]\nname = 'edited'\n")
    assert release.git_revision(checkout) == f"{head}-dirty"
    # Not a checkout of the project: nothing is claimed from it.
    assert release.git_revision(tmp_path) is None
    (tmp_path / "pyproject.toml").write_text("")
    assert release.git_revision(tmp_path) is None


async def test_without_a_build_file_or_git_it_says_unknown_and_starts(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    # An install from a wheel, or a checkout where git is missing: `unknown`, never a failed start.
    empty = tmp_path / "venv"
    empty.mkdir()
    monkeypatch.setattr(sys, "prefix", str(empty))
    monkeypatch.setenv("PATH", str(empty))  # no git to be found
    assert version_line(capsys) == f"connect-watchdog {__version__} (revision unknown)"
    assert build_info(Metrics())["revision"] == "unknown"
    assert (await started_line(tmp_path))["revision"] == "unknown"


@pytest.mark.parametrize("text", [
    "",  # docker build --build-arg REVISION= (a CI variable left empty)
    "revision=\ncreated=\n",
    "revision=unknown\ncreated=unknown\n",  # the Dockerfile's defaults
    'revision=abc"} 1\nwatchdog_fake{x="\n',  # a value that would break the exposition format
    "revision=" + "a" * 65 + "\n",
    "revision=abc def\n",
])
def test_a_build_file_without_a_plain_revision_says_unknown(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    image_prefix(tmp_path, monkeypatch, text)
    monkeypatch.setenv("PATH", str(tmp_path))  # and no checkout to fall back to
    build = release.build()
    assert (build.revision, build.created) == ("unknown", None)
    assert build_info(Metrics())["revision"] == "unknown"


def test_a_build_file_that_cannot_be_read_says_unknown(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    prefix = tmp_path / "venv"
    (prefix / release.BUILD_FILE).mkdir(parents=True)  # a directory in its place
    monkeypatch.setattr(sys, "prefix", str(prefix))
    monkeypatch.setenv("PATH", str(tmp_path))
    assert release.build().revision == "unknown"
