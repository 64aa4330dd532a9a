"""The Dockerfile and .dockerignore: hadolint passes, and the image declares what the deploy
manifests and the daemon rely on (user, port, paths, health check, labels, build context)."""

from __future__ import annotations

import os
import re
import subprocess
import tomllib
from pathlib import Path

from watchdog import __version__, release
from watchdog.config import DEFAULT_SECRETS_DIR, ServerSettings

from . import dockerfile as df
from .tools import REPO, hadolint, run


def test_hadolint_passes_with_no_unexplained_ignores() -> None:
    result = run([hadolint(), "--no-color", "--failure-threshold", "info", str(df.DOCKERFILE)], check=False)
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr
    lines = df.DOCKERFILE.read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines):
        if re.search(r"#\s*hadolint\s+(global\s+)?ignore=", line):
            reason = lines[number - 1].strip() if number else ""
            assert reason.startswith("#") and "hadolint" not in reason and len(reason) > 10, (
                f"Dockerfile:{number + 1}: a hadolint ignore needs its reason in the comment line above it"
            )


def test_every_stage_uses_the_same_pinned_python_base() -> None:
    parsed = df.parse()
    assert [stage.base for stage in parsed.stages] == ["${PYTHON_IMAGE}"] * 3
    image = parsed.global_args["PYTHON_IMAGE"]
    # A tag, or a tag pinned to its index digest (`@sha256:...`, see the Dockerfile's comment).
    assert re.fullmatch(r"python:3\.1[1-9]-slim-[a-z]+(@sha256:[0-9a-f]{64})?", image), image
    requires = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["requires-python"]
    assert requires == ">=3.11" and image.startswith("python:3.11"), "the image's Python is the oldest supported"


def test_the_runtime_stage_declares_user_port_paths_and_health_check() -> None:
    final = df.parse().final
    env = dict(pair for instruction in final.all("ENV") for pair in df.key_values(instruction))
    assert re.fullmatch(r"[1-9]\d*:[1-9]\d*", final.one("USER").text), "a fixed numeric non-root uid:gid"
    assert final.one("EXPOSE").text == str(ServerSettings().port) == "9464"
    assert env["WATCHDOG_CONFIG"] == "/etc/watchdog/config.yaml"
    assert DEFAULT_SECRETS_DIR == Path("/etc/watchdog/secrets")
    assert "mkdir -p /etc/watchdog/secrets /var/lib/watchdog" in final.one("RUN").text
    assert env["WATCHDOG_STATE__PATH"] == "/var/lib/watchdog/state.db"
    assert final.one("VOLUME").text == '["/var/lib/watchdog"]'
    assert env["TMPDIR"] == "/tmp"
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"
    assert final.one("ENTRYPOINT").exec_form() == ["watchdog"]
    assert final.one("CMD").exec_form() == ["run"]
    assert final.one("STOPSIGNAL").text == "SIGTERM"
    healthcheck = final.one("HEALTHCHECK")
    assert "http://127.0.0.1:%s/healthz" in " ".join(healthcheck.exec_form())
    assert {"interval", "timeout", "start-period", "retries"} <= set(healthcheck.flags)


def test_oci_labels_describe_the_image() -> None:
    final = df.parse().final
    labels = dict(df.key_values(final.one("LABEL")))
    args = dict(pair for instruction in final.all("ARG") for pair in df.key_values(instruction))
    required = {"title", "description", "version", "revision", "created", "source", "url", "documentation",
                "licenses", "base.name"}
    assert {f"org.opencontainers.image.{name}" for name in required} <= set(labels)
    assert labels["org.opencontainers.image.version"] == "${VERSION}" and args["VERSION"] == __version__, (
        "the VERSION build argument defaults to the package version"
    )
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert labels["org.opencontainers.image.licenses"] == project["license"]["text"]
    assert labels["org.opencontainers.image.documentation"].endswith("/docs/runbook.md")


def test_the_revision_and_creation_time_given_to_the_build_reach_the_daemon(tmp_path: Path) -> None:
    # `docker build --build-arg REVISION=$(git rev-parse HEAD)`: before, the revision went into
    # the image's labels only, and the daemon inside said 0.1.0 like every release before it.
    parsed = df.parse()
    install = parsed.stage("install")
    args = dict(pair for instruction in install.all("ARG") for pair in df.key_values(instruction))
    labels = dict(pair for instruction in parsed.final.all("ARG") for pair in df.key_values(instruction))
    assert args["REVISION"] == labels["REVISION"] == "unknown" and args["CREATED"] == labels["CREATED"] == "unknown"
    (step,) = [run for run in install.all("RUN") if "${REVISION}" in run.text]
    assert df.REPLAY_MARKER in step.comments
    # The step as the build runs it, on a stand-in virtualenv (its `watchdog --version` a stub).
    venv = tmp_path / "opt-watchdog"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "watchdog").write_text("#!/bin/sh\nexit 0\n")
    (venv / "bin" / "watchdog").chmod(0o755)
    given = {"REVISION": "5d41402abc4b2a76b9719d911017c592ae5e3f12", "CREATED": "2026-12-02T11:00:00Z"}
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "VIRTUAL_ENV": str(venv), **given}
    subprocess.run(["/bin/sh", "-c", step.text], env=env, cwd=tmp_path, check=True, timeout=30)
    assert release.read_build_file(venv) == {"revision": given["REVISION"], "created": given["CREATED"]}
    # Built without them: the defaults, which the daemon reports as `unknown`.
    subprocess.run(["/bin/sh", "-c", step.text], env={**env, "REVISION": "unknown", "CREATED": "unknown"},
                   cwd=tmp_path, check=True, timeout=30)
    assert release.read_build_file(venv) == {}


def test_the_build_context_is_only_what_the_image_needs() -> None:
    context = df.build_context()
    assert {path.split("/")[0] for path in context} == {"pyproject.toml", "requirements.lock", "build-requirements.lock",
                                                         "README.md", "config.example.yaml", "watchdog"}
    assert not [p for p in context if "__pycache__" in p or p.endswith(".pyc")]
    for stage in df.parse().stages:
        for copy in stage.all("COPY"):
            if "from" in copy.flags:
                continue
            for source in copy.body.split()[:-1]:
                assert any(p == source or p.startswith(source + "/") for p in context), (
                    f"Dockerfile:{copy.line}: COPY {source} is excluded by .dockerignore"
                )


def _locked(path: Path) -> dict[str, list[str]]:
    """name -> its sha256 hashes, from a pip-compile --generate-hashes file."""
    pins: dict[str, list[str]] = {}
    current = ""
    for line in path.read_text(encoding="utf-8").splitlines():
        if match := re.match(r"^([A-Za-z0-9_.-]+)==[^ ]+", line):
            current = match.group(1).lower().replace("_", "-")
            pins[current] = []
        elif match := re.search(r"--hash=sha256:([0-9a-f]{64})", line):
            pins[current].append(match.group(1))
    return pins


def test_the_image_installs_only_hash_checked_pins_of_every_dependency() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    locked = _locked(REPO / "requirements.lock")
    for requirement in project["dependencies"]:
        name = re.match(r"[A-Za-z0-9_.-]+", requirement).group(0).lower().replace("_", "-")  # type: ignore[union-attr]
        assert name in locked, f"{name} is a dependency but not pinned in requirements.lock (run `make lock`)"
    assert all(hashes for hashes in locked.values()), "every pin carries its sha256 hashes"
    build = _locked(REPO / "build-requirements.lock")
    assert {"setuptools", "wheel"} <= set(build) and all(build.values())
    steps = [i.text for stage in df.parse().stages[:2] for i in stage.all("RUN")]
    assert "--require-hashes -r build-requirements.lock" in steps[0]
    assert "--require-hashes --only-binary=:all:" in steps[0] and "--no-build-isolation" in steps[0]
    assert '--require-hashes -r "${WHEEL_DIR}/requirements.lock"' in steps[1] and "--no-index" in steps[1]
