"""The container image, replayed without a container engine.

No container engine runs in CI, so this module does what `docker build` and `docker run` would,
from the Dockerfile itself:

- build: the `build` and `install` stages' RUN steps (the ones marked "replayed by
  tests/deploy/test_image.py") run as written, with every ARG/ENV path moved under a scratch root
  directory and `python` being a system Python 3.11 (the base image's stand-in); COPY copies
  from the build context that .dockerignore leaves;
- run: ENTRYPOINT + CMD with the runtime stage's ENV, as the USER's uid:gid with no capabilities
  and no_new_privs, as PID 1 of a new PID namespace, in a new mount namespace where every mount is
  read-only except the state volume and TMPDIR (`docker run --read-only` with two volumes);
- HEALTHCHECK: its CMD runs inside those namespaces as that user and must succeed;
- stop: SIGTERM to PID 1, which must drain and exit 0.

What differs from a real container, and why: paths are under the scratch root (the runtime ENV
says where, so the daemon finds everything through the same variables; the secrets directory,
the daemon's built-in default in the image, is passed as WATCHDOG_SECRETS_DIR); the network is
the host's loopback, so the daemon listens on 127.0.0.1 at a free port (WATCHDOG_SERVER__HOST/
PORT, the variables a user would set) and talks to a simulator started here
(WATCHDOG_API__BASE_URL). The config and secrets are the compose playground's.

Needs root (for the namespaces, as CI has) and util-linux's unshare, setpriv and nsenter.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from watchdog import __version__
from watchdog.config import DEFAULT_SECRETS_DIR

from . import dockerfile as df
from .live import Budget, free_port, start_simulator, stop_process
from .tools import DAEMON_CONFIG, DAEMON_SECRETS, INSTALL_HINT, REPO, tool

pytestmark = pytest.mark.process

# Every test's waits, inside pytest's 120 s per test (which counts fixture setup): the build runs
# in the first test's setup, a daemon starts in every test's, then the test's own waits.
# Each test's teardown stops its daemon and simulator (STOP_SECONDS at most), also counted.
BUILD_SECONDS = 50  # measured: 20-30 s on a loaded 2-core machine
START_SECONDS = 15
TEST_SECONDS = 35
STOP_SECONDS = 16
assert BUILD_SECONDS + START_SECONDS + TEST_SECONDS + STOP_SECONDS <= 120 - 4
# What a release build passes (the Dockerfile's header): the daemon must report the revision.
BUILD_ARGS = {"REVISION": "5d41402abc4b2a76b9719d911017c592ae5e3f12", "CREATED": "2026-12-02T11:00:00Z"}

# Runs as root inside the new namespaces: makes the root file system read-only except the given
# directories, then execs the command (which becomes PID 1 in place of this script).
LAUNCHER = r"""
import os, re, subprocess, sys
sep = sys.argv.index("--")
writable, command = sys.argv[1:sep], sys.argv[sep + 1:]
subprocess.run(["mount", "--make-rprivate", "/"], check=True)
for path in writable:
    subprocess.run(["mount", "--bind", path, path], check=True)
unescape = lambda s: re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), s)
points = sorted({unescape(line.split()[4]) for line in open("/proc/self/mountinfo")})
for point in points:
    if point in writable or point.split("/")[1] in ("proc", "sys", "dev"):
        continue
    done = subprocess.run(["mount", "-o", "remount,bind,ro", point], capture_output=True, text=True)
    if done.returncode != 0 and (point == "/" or writable[0].startswith(point.rstrip("/") + "/")):
        sys.exit(f"could not make {point} read-only: {done.stderr.strip()}")
probe = os.path.join(os.path.dirname(writable[0]), ".readonly-probe")
try:
    open(probe, "w").close()
except OSError as exc:
    print(f"root file system read-only: {exc.strerror}", file=sys.stderr, flush=True)
else:
    sys.exit(f"{probe} is writable: the root file system is not read-only")
os.execvp(command[0], command)
"""


@dataclass
class Replay:
    root: Path
    dockerfile: df.Dockerfile
    runtime_env: dict[str, str]
    uid: int
    gid: int
    command: list[str]
    healthcheck: list[str]
    port: int
    launcher: subprocess.Popen[bytes] | None = None
    pid: int = 0  # the daemon's pid as the host sees it
    log: Path | None = None

    def path(self, image_path: str) -> Path:
        return self.root / image_path.lstrip("/")

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace") if self.log else ""


def _reroot(value: str, root: Path) -> str:
    """Move absolute paths (and absolute PATH-list entries) under the scratch root."""
    if "://" in value:
        return value
    return ":".join(f"{root}{part}" if part.startswith("/") else part for part in value.split(":"))


def _require_root_and_util_linux() -> dict[str, str]:
    if os.geteuid() != 0:
        pytest.fail(
            "the image replay needs root, as in CI (it runs the daemon in its own PID and mount "
            "namespaces with a read-only root file system, as a container engine would)",
            pytrace=False,
        )
    return {name: tool(name, package="util-linux (Debian package util-linux / mount)")
            for name in ("unshare", "setpriv", "nsenter", "mount")}


def _base_python(uid: int, gid: int, setpriv: str) -> str:
    """A Python 3.11+ with venv and pip that the image's non-root user may run: the stand-in for
    the base image's /usr/local/bin/python (the test's own interpreter may sit under /root)."""
    candidates = [getattr(sys, "_base_executable", ""), "/usr/bin/python3.11", "/usr/bin/python3",
                  shutil.which("python3.11") or "", shutil.which("python3") or ""]
    tried = []
    for candidate in dict.fromkeys(c for c in candidates if c):
        ok = subprocess.run([candidate, "-c", "import sys, venv, pip; sys.exit(sys.version_info < (3, 11))"],
                            capture_output=True).returncode == 0
        ok = ok and subprocess.run([setpriv, f"--reuid={uid}", f"--regid={gid}", "--clear-groups", candidate, "-c", ""],
                                   capture_output=True).returncode == 0
        if ok:
            return candidate
        tried.append(candidate)
    pytest.fail(
        f"no Python 3.11+ with venv and pip that uid {uid} may run (tried {', '.join(tried)}): "
        f"the replay needs Debian's python3, python3-venv and python3-pip; {INSTALL_HINT}",
        pytrace=False,
    )


def _user(final: df.Stage) -> tuple[int, int]:
    user = final.one("USER").text
    match = re.fullmatch(r"(\d+):(\d+)", user)
    assert match, f"USER {user!r}: the image must name a numeric uid:gid (Kubernetes' runAsNonRoot needs it)"
    uid, gid = int(match.group(1)), int(match.group(2))
    assert uid != 0 and gid != 0, "the image must not run as root"
    return uid, gid


def _copy_from_context(instruction: df.Instruction, env: dict[str, str], cwd: Path, root: Path,
                       context: set[str]) -> None:
    *sources, dest = [df.substitute(t, env) for t in instruction.body.split()]
    target = Path(f"{root}{dest}") if dest.startswith("/") else cwd / dest
    for source in sources:
        files = sorted(f for f in context if f == source or f.startswith(source.rstrip("/") + "/"))
        assert files, f"line {instruction.line}: COPY {source}: not in the build context (.dockerignore)"
        for rel in files:
            if rel == source:
                out = target / Path(rel).name if dest.endswith("/") or len(sources) > 1 else target
            else:
                out = target / Path(rel).relative_to(source)
            out.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / rel, out)


def _replay_stage(stage: df.Stage, global_args: dict[str, str], env: dict[str, str], root: Path,
                  context: set[str], *, run_steps: bool, budget: Budget) -> dict[str, str]:
    env = dict(env)
    cwd = root
    for instruction in stage.instructions:
        keyword = instruction.keyword
        if keyword in ("ARG", "ENV"):
            for key, value in df.key_values(instruction):
                if keyword == "ARG" and key in BUILD_ARGS:  # docker build --build-arg KEY=value
                    value = BUILD_ARGS[key]
                elif keyword == "ARG" and not value:
                    value = global_args.get(key, "")
                env[key] = df.substitute(_reroot(value, root), env)
        elif keyword == "WORKDIR":
            cwd = Path(df.substitute(_reroot(instruction.text, root), env))
            cwd.mkdir(parents=True, exist_ok=True)
        elif keyword == "COPY" and "from" in instruction.flags:
            source, dest = (Path(df.substitute(_reroot(t, root), env)) for t in instruction.body.split())
            # Every stage shares the scratch root, so a COPY --from must keep the path: that is
            # also what lets the virtualenv run unchanged in the next stage.
            assert source == dest, f"line {instruction.line}: COPY --from must keep the path ({source} -> {dest})"
            assert source.exists(), f"line {instruction.line}: {source} was not built by stage {instruction.flags['from']}"
        elif keyword == "COPY":
            _copy_from_context(instruction, env, cwd, root, context)
        elif keyword == "RUN" and run_steps:
            assert df.REPLAY_MARKER in instruction.comments, (
                f"line {instruction.line}: a RUN in stage {stage.name} that the replay would skip; "
                f"mark it '# {df.REPLAY_MARKER}' (paths only through ARG/ENV)"
            )
            literal = re.findall(r"(?<![\w$}/.-])/[\w.-]+", instruction.text)
            assert not literal, f"line {instruction.line}: literal paths {literal} cannot be replayed; use ARG/ENV"
            done = subprocess.run(["/bin/sh", "-c", instruction.text], cwd=cwd, env=env, capture_output=True,
                                  text=True, timeout=budget.left())
            assert done.returncode == 0, (
                f"line {instruction.line}: RUN failed ({done.returncode})\n{done.stdout}\n{done.stderr}"
            )
    return env


@dataclass
class Image:
    """The replayed build: its file system and what `docker run` needs, without a daemon."""

    root: Path
    scratch: Path
    dockerfile: df.Dockerfile
    runtime_env: dict[str, str]
    uid: int
    gid: int
    command: list[str]
    healthcheck: list[str]
    state_dir: Path
    tmp_dir: Path
    secrets_dir: Path
    tools: dict[str, str]


@pytest.fixture(scope="module")
def image() -> Iterator[Image]:
    """Built once per module (part of the first test's setup, inside its 120 s: BUILD_SECONDS)."""
    build = Budget(BUILD_SECONDS, "the image build")
    tools = _require_root_and_util_linux()
    dockerfile = df.parse()
    uid, gid = _user(dockerfile.final)
    python = _base_python(uid, gid, tools["setpriv"])
    scratch = Path(tempfile.mkdtemp(prefix="watchdog-image-"))
    scratch.chmod(0o755)  # the image's user must reach its files under it
    root = scratch / "root"  # the image's file system
    root.mkdir(mode=0o755)
    try:
        # The base image: its python on PATH first, a home for root, a UTF-8 locale.
        (root / "usr/local/bin").mkdir(parents=True)
        for name in ("python", "python3"):
            (root / "usr/local/bin" / name).symlink_to(python)
        (root / "root").mkdir()
        base_env = {"PATH": f"{root}/usr/local/bin:{os.environ.get('PATH', '/usr/bin:/bin')}",
                    "HOME": str(root / "root"), "LANG": "C.UTF-8"}
        context = df.build_context()
        stages = {stage.name: stage for stage in dockerfile.stages}
        assert list(stages) == ["build", "install", "runtime"], list(stages)
        for name in ("build", "install"):
            _replay_stage(stages[name], dockerfile.global_args, base_env, root, context, run_steps=True, budget=build)
        runtime_env = _replay_stage(stages["runtime"], dockerfile.global_args, base_env, root, context,
                                    run_steps=False, budget=build)

        # What the runtime stage's one RUN does (user and directories), which must not run here:
        # it has to create exactly the uid/gid of USER and hand them the state directory.
        setup = stages["runtime"].one("RUN").text
        assert f"--uid {uid}" in setup and f"--gid {gid}" in setup and f"chown {uid}:{gid}" in setup, setup
        state_dir = Path(runtime_env["WATCHDOG_STATE__PATH"]).parent
        secrets_dir = Path(_reroot(str(DEFAULT_SECRETS_DIR), root))
        tmp_dir = Path(runtime_env["TMPDIR"])
        for directory, owner, mode in ((state_dir, (uid, gid), 0o750), (secrets_dir, (0, gid), 0o750),
                                       (tmp_dir, (0, 0), 0o1777)):
            directory.mkdir(parents=True, exist_ok=True)
            os.chown(directory, *owner)
            directory.chmod(mode)
        # The mounted config (world-readable, as a ConfigMap) and secrets (0440 root:gid, as a
        # Secret with defaultMode 0440 and fsGroup).
        config = Path(runtime_env["WATCHDOG_CONFIG"])
        shutil.copy(DAEMON_CONFIG, config)
        config.chmod(0o444)
        for secret in DAEMON_SECRETS.iterdir():
            shutil.copy(secret, secrets_dir / secret.name)
            os.chown(secrets_dir / secret.name, 0, gid)
            (secrets_dir / secret.name).chmod(0o440)
        # The install is root's and read-only.
        venv = Path(runtime_env["VIRTUAL_ENV"])
        subprocess.run(["chmod", "-R", "a-w", str(venv)], check=True)

        final = dockerfile.final
        command = final.one("ENTRYPOINT").exec_form() + final.one("CMD").exec_form()
        resolved = shutil.which(command[0], path=runtime_env["PATH"])
        assert resolved and Path(resolved).is_relative_to(venv), f"{command[0]} resolves to {resolved}, not the install"
        yield Image(root, scratch, dockerfile, runtime_env, uid, gid, [resolved, *command[1:]],
                    final.one("HEALTHCHECK").exec_form(), state_dir, tmp_dir, secrets_dir, tools)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


@pytest.fixture
def replay(image: Image) -> Iterator[Replay]:
    """`docker run` of the image: a daemon of its own for every test, on an empty state volume
    (the SIGTERM test stops its daemon; the others never depend on which test ran first)."""
    start = Budget(START_SECONDS, "the daemon's start in its namespaces")
    for leftover in image.state_dir.iterdir():
        leftover.unlink()
    simulator = None
    state: Replay | None = None
    try:
        port = free_port()
        simulator, base_url = start_simulator(image.scratch / "simulator.log", timeout=start.left(15))
        run_env = {**image.runtime_env, "WATCHDOG_SECRETS_DIR": str(image.secrets_dir), "WATCHDOG_API__BASE_URL": base_url,
                   "WATCHDOG_SERVER__HOST": "127.0.0.1", "WATCHDOG_SERVER__PORT": str(port)}
        state = Replay(image.root, image.dockerfile, run_env, image.uid, image.gid, image.command, image.healthcheck, port)
        tools = image.tools
        drop = [tools["setpriv"], f"--reuid={image.uid}", f"--regid={image.gid}", "--clear-groups", "--no-new-privs",
                "--inh-caps=-all", "--bounding-set=-all", "--"]
        state.log = image.scratch / "daemon.log"
        with open(state.log, "wb") as log:
            state.launcher = subprocess.Popen(
                [tools["unshare"], "--pid", "--mount", "--fork", "--kill-child", "--mount-proc", "--",
                 sys.executable, "-c", LAUNCHER, str(image.state_dir), str(image.tmp_dir), "--", *drop, *state.command],
                env=run_env, stdout=log, stderr=subprocess.STDOUT, cwd=image.state_dir,
            )
        launcher = state.launcher

        def daemon_pid() -> int | None:
            children = Path(f"/proc/{launcher.pid}/task/{launcher.pid}/children")
            text = children.read_text().split() if children.exists() else []
            if not text:
                return None
            comm = Path(f"/proc/{text[0]}/cmdline").read_bytes()
            # The launcher and setpriv carry the command in their own arguments: only once setpriv
            # has exec'd it is PID 1 the daemon (each test starts one, so this race is every test's).
            return int(text[0]) if b"watchdog" in comm and b"setpriv" not in comm else None

        state.pid = start.wait_until(daemon_pid, 30, "the daemon to start in its namespaces", log=state.log,
                                     alive=launcher)
        yield state
    finally:
        # Within STOP_SECONDS: pytest's timeout counts the teardown too.
        if state is not None and state.pid and _runs_from(state.pid, image.root):
            # The daemon first, by its own pid: unshare's --kill-child is a parent-death signal,
            # which the kernel clears when setpriv changes the user, so stopping the launcher alone
            # left every test's daemon running as PID 1 of its namespace, for good (three per CI
            # run). Killing a namespace's PID 1 ends the whole namespace.
            os.kill(state.pid, signal.SIGKILL)
        if state is not None and state.launcher is not None:
            stop_process(state.launcher, timeout=STOP_SECONDS / 4)
        if simulator is not None:
            stop_process(simulator, timeout=STOP_SECONDS / 4)
        if state is not None and state.pid:
            assert not _runs_from(state.pid, image.root), f"the daemon (pid {state.pid}) outlived its test"


def _runs_from(pid: int, root: Path) -> bool:
    """The process is alive (not a zombie) and runs a program under `root`: the image's daemon,
    not another process that was given its pid after it ended (the SIGTERM test ends its own)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z" and str(root).encode() in command


def _in_container(
    replay: Replay, nsenter: str, setpriv: str, argv: list[str], timeout: float, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run argv as `docker exec` would: in the daemon's mount and PID namespaces, as its user,
    with the container's environment (`env` added to it: what `docker run -e` would set)."""
    resolved = shutil.which(argv[0], path=replay.runtime_env["PATH"]) or argv[0]
    return subprocess.run(
        [nsenter, f"--target={replay.pid}", "--mount", "--pid", "--",
         setpriv, f"--reuid={replay.uid}", f"--regid={replay.gid}", "--clear-groups", "--no-new-privs", "--",
         resolved, *argv[1:]],
        env={**replay.runtime_env, **(env or {})}, capture_output=True, text=True, timeout=timeout,
    )


def test_the_healthcheck_turns_healthy_within_the_start_period(replay: Replay) -> None:
    nsenter, setpriv = tool("nsenter", package="util-linux"), tool("setpriv", package="util-linux")
    flags = replay.dockerfile.final.one("HEALTHCHECK").flags
    start_period = float(flags["start-period"].rstrip("s"))
    timeout = float(flags["timeout"].rstrip("s"))
    assert start_period <= TEST_SECONDS, "the start period must fit in the test's budget"
    deadline = time.monotonic() + start_period
    last: subprocess.CompletedProcess[str] | None = None
    while time.monotonic() < deadline:
        last = _in_container(replay, nsenter, setpriv, replay.healthcheck, timeout)
        if last.returncode == 0:
            break
        time.sleep(0.5)
    assert last is not None and last.returncode == 0, (
        f"HEALTHCHECK still failing after {start_period}s: {last.stderr if last else ''}\n{replay.log_text()}"
    )
    assert "/healthz" in " ".join(replay.healthcheck)


def test_the_healthcheck_asks_the_daemon_itself_whatever_proxy_the_container_is_given(replay: Replay) -> None:
    # A daemon that reaches Confluent Cloud through a proxy runs with HTTP(S)_PROXY set, often with
    # NO_PROXY=localhost: urllib sent the check for 127.0.0.1 to the proxy (here nothing listens at
    # it), and the container was marked unhealthy while the daemon was well.
    nsenter, setpriv = tool("nsenter", package="util-linux"), tool("setpriv", package="util-linux")
    timeout = float(replay.dockerfile.final.one("HEALTHCHECK").flags["timeout"].rstrip("s"))
    proxy = f"http://127.0.0.1:{free_port()}"
    budget = Budget(TEST_SECONDS, "the test")
    budget.wait_until(lambda: _in_container(replay, nsenter, setpriv, replay.healthcheck, timeout).returncode == 0 or None,
                      TEST_SECONDS, "the HEALTHCHECK to pass without a proxy", log=replay.log)
    given = {"HTTP_PROXY": proxy, "http_proxy": proxy, "HTTPS_PROXY": proxy, "NO_PROXY": "localhost"}
    checked = _in_container(replay, nsenter, setpriv, replay.healthcheck, timeout, env=given)
    assert checked.returncode == 0, checked.stderr


def test_the_daemon_reports_the_revision_the_image_was_built_from(replay: Replay) -> None:
    # Two replicas of a rolling update both said 0.1.0: which one ran the new image, or whether a
    # rollback took, could not be told. Built with --build-arg REVISION, the image's daemon says it.
    nsenter, setpriv = tool("nsenter", package="util-linux"), tool("setpriv", package="util-linux")
    revision = BUILD_ARGS["REVISION"]
    version = _in_container(replay, nsenter, setpriv, ["watchdog", "--version"], 10)
    assert version.returncode == 0 and f"(revision {revision}, built {BUILD_ARGS['CREATED']})" in version.stdout, version
    base = f"http://127.0.0.1:{replay.port}"
    budget = Budget(TEST_SECONDS, "the test")
    metrics = budget.wait_until(lambda: (r := httpx.get(f"{base}/metrics", timeout=2)).status_code == 200 and r.text
                                or None, 30, "/metrics to answer", log=replay.log)
    assert f'revision="{revision}"' in next(line for line in metrics.splitlines()
                                            if line.startswith("watchdog_build_info{")), metrics
    assert httpx.get(f"{base}/readyz", timeout=2).json()["revision"] == revision

    def started() -> dict[str, object] | None:
        for line in replay.log_text().splitlines():
            with contextlib.suppress(ValueError):
                if (event := json.loads(line)).get("event") == "started":
                    return dict(event)
        return None

    line = budget.wait_until(started, 10, "the started line", log=replay.log)
    assert (line["version"], line["revision"]) == (__version__, revision), line


def test_the_daemon_is_pid_1_as_the_images_non_root_user_without_privileges(replay: Replay) -> None:
    status = dict(
        line.split(":", 1) for line in Path(f"/proc/{replay.pid}/status").read_text().splitlines() if ":" in line
    )
    assert status["Uid"].split() == [str(replay.uid)] * 4
    assert status["Gid"].split() == [str(replay.gid)] * 4
    assert status["Groups"].strip() == ""
    assert status["NSpid"].split()[-1] == "1", "the daemon is not PID 1 of its namespace"
    assert status["NoNewPrivs"].strip() == "1"
    assert int(status["CapEff"], 16) == 0 and int(status["CapBnd"], 16) == 0
    assert "root file system read-only" in replay.log_text()


def test_the_daemon_works_on_a_read_only_root_with_only_the_volumes_writable(replay: Replay) -> None:
    nsenter, setpriv = tool("nsenter", package="util-linux"), tool("setpriv", package="util-linux")
    base = f"http://127.0.0.1:{replay.port}"
    budget = Budget(TEST_SECONDS, "the test")
    # Ready: config loaded and both clusters listed through the simulator.
    budget.wait_until(lambda: httpx.get(f"{base}/readyz", timeout=2).status_code == 200 or None, 30,
                      "/readyz to answer 200", log=replay.log)
    # Working: a failing connector of the demo scenario restarted (two confirming polls, 5s apart).
    def accepted() -> bool | None:
        text = httpx.get(f"{base}/metrics", timeout=2).text
        return True if re.search(r'watchdog_restarts_total\{[^}]*outcome="accepted"[^}]*\} [1-9]', text) else None
    budget.wait_until(accepted, 30, "a restart accepted by the simulator", log=replay.log)
    # From inside: the install and the config cannot be written, the volumes can.
    venv = replay.runtime_env["VIRTUAL_ENV"]
    state_dir = str(Path(replay.runtime_env["WATCHDOG_STATE__PATH"]).parent)
    probe = ("import sys, pathlib\n"
             "for d in sys.argv[1:]:\n"
             "    p = pathlib.Path(d) / '.probe'\n"
             "    try:\n"
             "        p.write_text('x'); p.unlink(); print(d, 'writable')\n"
             "    except OSError as e:\n"
             "        print(d, 'read-only' if e.errno == 30 else f'refused ({e.strerror})')\n")
    done = _in_container(replay, nsenter, setpriv,
                         ["python", "-c", probe, venv, str(Path(replay.runtime_env["WATCHDOG_CONFIG"]).parent),
                          state_dir, replay.runtime_env["TMPDIR"]], budget.left(20))
    assert done.returncode == 0, done.stderr
    verdicts = dict(line.rsplit(" ", 1) for line in done.stdout.splitlines())
    assert verdicts[venv] == "read-only"
    assert verdicts[str(Path(replay.runtime_env["WATCHDOG_CONFIG"]).parent)] == "read-only"
    assert verdicts[state_dir] == "writable"
    assert verdicts[replay.runtime_env["TMPDIR"]] == "writable"


def test_sigterm_to_pid_1_drains_and_exits_0(replay: Replay) -> None:
    assert replay.launcher is not None
    # Serving means the daemon's own SIGTERM handler is installed (as PID 1 it ignores SIGTERM
    # until then, like any PID 1 without a handler).
    budget = Budget(TEST_SECONDS, "the test")
    budget.wait_until(lambda: httpx.get(f"http://127.0.0.1:{replay.port}/healthz", timeout=2).status_code == 200 or None,
                      15, "/healthz to answer 200", log=replay.log)
    os.kill(replay.pid, signal.SIGTERM)
    try:
        code = replay.launcher.wait(timeout=budget.left())
    except subprocess.TimeoutExpired:
        pytest.fail(f"the daemon did not exit within {TEST_SECONDS}s of its test's start after SIGTERM\n{replay.log_text()}")
    log = replay.log_text()
    assert code == 0, log
    assert '"event": "stopping"' in log and '"event": "stopped"' in log, log
