"""The command line: version, restart, demo, exit codes."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import threading
from pathlib import Path

import pytest
import yaml

from watchdog import __version__
from watchdog.cli import main
from watchdog.simulator import Scenario, Simulator

from .loopback import QuietHandler, serving
from .support import CLUSTER_ID, ENVIRONMENT, served, sim_scenario, until


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert __version__ in capsys.readouterr().out


def test_unknown_command_is_a_usage_error() -> None:
    with pytest.raises(SystemExit) as exited:
        main(["explode"])
    assert exited.value.code == 2


def test_run_with_a_missing_config_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--config", str(tmp_path / "missing.yaml")]) == 2
    assert "does not exist" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["status", "history"])
def test_status_and_history_with_an_invalid_config_exit_2(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # README: "2 invalid config or command line"; they said so and exited 1, as for a restart that failed.
    bad = tmp_path / "bad.yaml"
    bad.write_text("dry_run: maybe\n")
    for config in (tmp_path / "missing.yaml", bad):
        assert main([command, "--config", str(config)]) == 2, config
        assert f"invalid config {config}" in capsys.readouterr().err


def _config(tmp_path: Path, url: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({
        "api": {"base_url": url},
        "credentials": {"main": {}},
        "clusters": {"prod": {"environment_id": ENVIRONMENT, "kafka_cluster_id": CLUSTER_ID}},
        "state": {"path": str(tmp_path / "state.db")},
    }))
    return path


async def _run_against(simulator: Simulator, tmp_path: Path, *command: str, config_tail: str = "") -> int:
    """Runs the CLI `command` with a config naming cluster prod on `simulator`, served on loopback
    (`config_tail`: YAML added at the end of that config)."""
    async with served(simulator) as url:
        path = _config(tmp_path, url)
        path.write_text(path.read_text() + config_tail)
        return await asyncio.to_thread(main, [*command, "--config", str(path)])


async def test_restart_takes_a_configured_cluster_by_its_lkc_id(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], credentials_env: None
) -> None:
    # Before: "unknown cluster 'lkc-...'; configured: prod", exit 2, where the daemon's API takes the id.
    simulator = Simulator(Scenario.model_validate(sim_scenario([{"name": "orders"}])))
    result = await _run_against(simulator, tmp_path, "restart", CLUSTER_ID, "orders", "--log-level", "ERROR")
    assert result == 0 and "prod/orders: accepted (HTTP 202)" in capsys.readouterr().out
    assert len(simulator.restarts()) == 1


@pytest.mark.parametrize(
    ("connector", "code", "expected"),
    [("orders", 0, "prod/orders: accepted (HTTP 202)"), ("paused", 1, "prod/paused: not restarted (transient)"),
     ("nope", 1, "prod/nope: not restarted (missing): the listing of cluster prod does not show it")],
)
async def test_restart_command(tmp_path: Path, capsys: pytest.CaptureFixture[str], credentials_env: None,
                               connector: str, code: int, expected: str) -> None:
    simulator = Simulator(Scenario.model_validate(sim_scenario([{"name": "orders"}, {"name": "paused", "script": {"initial": "PAUSED"}}])))
    result = await _run_against(simulator, tmp_path, "restart", "prod", connector, "--log-level", "ERROR")
    assert result == code
    assert expected in capsys.readouterr().out


async def test_restart_prints_its_answer_alone_on_stdout_and_its_log_on_stderr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], credentials_env: None
) -> None:
    # `out=$(watchdog restart prod orders --reason 'deploy 42')` in a deploy script, or its output
    # posted to a chat: the log lines (decision, restart_queued, restart_finished, stopping,
    # stopped: JSON, since stdout is no terminal) came on stdout before the answer, six lines for
    # one, whatever 2>/dev/null said. The answer alone is on stdout now, as `restart --daemon`
    # and check-config --discover print it; the log is on stderr, whole.
    simulator = Simulator(Scenario.model_validate(sim_scenario([{"name": "orders"}])))
    result = await _run_against(simulator, tmp_path, "restart", "prod", "orders", "--reason", "deploy 42")
    said = capsys.readouterr()
    assert result == 0
    assert said.out.splitlines() == ["prod/orders: accepted (HTTP 202)"], said.out
    events = [json.loads(line)["event"] for line in said.err.splitlines() if line.startswith("{")]
    assert {"decision", "restart_queued", "restart_finished"} <= set(events), said.err


def test_restart_of_an_unknown_cluster_is_refused_with_the_same_exit_code_with_or_without_a_daemon(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], credentials_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Before: exit 2 (README: an invalid config or command line) without --daemon, 1 with it
    # (the daemon's 404), for the same mistyped cluster.
    path = _config(tmp_path, "http://127.0.0.1:9")
    assert main(["restart", "staging", "orders", "--config", str(path)]) == 1
    assert "unknown cluster 'staging'" in capsys.readouterr().err

    class Daemon(QuietHandler):
        def do_POST(self) -> None:  # noqa: N802 (the stdlib's name)
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_body(404, {"error": "unknown cluster 'staging'", "known": ["prod"]})

    monkeypatch.setenv("WATCHDOG_SERVER__AUTH_TOKEN", "cli-test-token")
    with serving(Daemon) as server:
        assert main(["restart", "staging", "orders", "--daemon", f"http://127.0.0.1:{server.server_port}"]) == 1
    assert "unknown cluster 'staging'" in capsys.readouterr().err


def story_lines(out: str) -> dict[str, str]:
    """The demo summary's story: connector -> its line (found ...; done ...; now ...)."""
    lines = out.split("what was found, what was done, what came of it:", 1)[1].splitlines()
    story = {}
    for line in lines[1:]:
        if not line.startswith("    "):
            break
        name, _, rest = line.strip().partition("  ")
        story[name] = rest.strip()
    return story


def demo_events(log: Path) -> list[dict]:
    import json

    return [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]


def run_demo_until(tmp_path: Path, args: list[str], awaited: list[tuple[str, str]]) -> str:
    """`watchdog demo`, stopped with SIGTERM (as Ctrl-C) once the log shows every awaited
    (event, connector or cluster) -- restarts as `accepted` -- and a status poll decided after
    the last of them; not after a fixed number of seconds. Returns its output."""
    import signal
    import subprocess
    import sys
    import time

    log = tmp_path / "demo.log"

    def done() -> bool:
        seen = demo_events(log)
        last = -1
        for event, subject in awaited:
            found = [i for i, e in enumerate(seen) if e["event"] == event and subject in (e.get("connector"), e.get("cluster"))
                     and e.get("outcome", "accepted") == "accepted"]
            if not found:
                return False
            last = max(last, found[0])
        return any(e["event"] == "decision" and e.get("trigger") == "status" for e in seen[last + 1:])

    with open(log, "wb") as out:
        demo = subprocess.Popen([sys.executable, "-m", "watchdog", "demo", *args, "--port", "0", "--log-format", "json",
                                 "--log-level", "DEBUG"], stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 90
        while not done():
            assert demo.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.1)
        demo.send_signal(signal.SIGTERM)
        assert demo.wait(timeout=60) == 0
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
    return log.read_text()


def test_demo_heals_the_built_in_scenario(tmp_path: Path) -> None:
    out = run_demo_until(tmp_path, [], [("discovery_cluster_added", "lkc-demo04"), ("restart_finished", "billing-sink"),
                                        ("restart_finished", "events-sink")])
    story = story_lines(out)
    # The analytics environment is discovered, not listed: its clusters are watched by lkc- id,
    # the excluded scratch cluster is not, and the one created at t=3 comes with the refresh at 10 s.
    (discovered,) = [line for line in out.splitlines() if line.startswith("  discovered:")]
    assert "lkc-demo03 (clickstream, analytics)" in discovered and "lkc-demo04 (reporting, analytics)" in discovered
    assert "lkc-demo05" not in out
    assert "found FAILED" in story["lkc-demo03/events-sink"]
    assert "restarted for its status once (accepted 1)" in story["orders/billing-sink"], (
        "the connector that fails at t=5 was restarted"
    )
    assert "left alone: Confluent refuses restarts until it is provisioned" in story["orders/crm-source"]
    assert "left alone: a restart does not start a PAUSED connector (resume it)" in story["platform/audit-sink"]
    assert "reported, not restarted" in story["platform/users-source"]
    assert "reported, not restarted" in story["orders/warehouse-sink"]
    assert story["orders/inventory-sink"].startswith("found DEGRADED (1 of 2 tasks UNASSIGNED); left alone")
    assert "restarted" not in story["orders/inventory-sink"]


def test_the_demo_logs_no_error_and_no_scheduler_noise(tmp_path: Path) -> None:
    """What the repo's pre-stop hook checks: a demo run with JSON logs has no error-level line
    and no traceback. Ten seconds: the stop lands on a poll (every 5 s), where a stop used to
    log APScheduler's CancelledError."""
    import json
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "watchdog", "demo", "--duration", "10", "--log-format", "json", "--port", "0"],
        capture_output=True, text=True, timeout=90, check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    events = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert events, "no JSON log lines"
    errors = [e for e in events if e.get("level") in ("error", "critical")]
    assert errors == []
    assert "Traceback" not in result.stdout + result.stderr
    assert not [e for e in events if "Adding job tentatively" in e["event"] or "Error notifying listener" in e["event"]]
    assert "demo summary" in result.stdout


async def test_restart_through_a_running_daemon(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from watchdog.app import Daemon

    from .support import daemon_config

    simulator = Simulator(Scenario.model_validate(sim_scenario([{"name": "orders"}])))
    heal = {"name": "heal", "trigger": {"type": "status"}, "select": {"include": ["*"]}}
    async with served(simulator) as url:
        daemon = Daemon(daemon_config([heal], base_url=url, token="cli-token-1-5f0a9e3d"))
        await daemon.start()
        try:
            await until(lambda: daemon.pollers["prod"].first_poll_done, "a first poll")
            daemon_url = f"http://127.0.0.1:{daemon.bound_port}"
            monkeypatch.setenv("WATCHDOG_SERVER__AUTH_TOKEN", "cli-token-1-5f0a9e3d")
            ok = await asyncio.to_thread(main, ["restart", "prod", "orders", "--daemon", daemon_url])
            again = await asyncio.to_thread(main, ["restart", "prod", "orders", "--daemon", daemon_url])
            too_long = await asyncio.to_thread(main, ["restart", "prod", "orders", "--daemon", daemon_url, "--reason", "x" * 501])
            monkeypatch.setenv("WATCHDOG_SERVER__AUTH_TOKEN", "wrong")
            refused = await asyncio.to_thread(main, ["restart", "prod", "orders", "--daemon", daemon_url])
        finally:
            await daemon.stop()
    captured = capsys.readouterr()
    assert ok == 0 and "prod/orders: accepted (HTTP 202)" in captured.out
    # Before: "not restarted (recently_restarted)" without when it may go again.
    assert again == 1 and "prod/orders: not restarted (recently_restarted): restarted " in captured.out, captured.out
    assert "s ago; asked for by name, it may go again in " in captured.out, captured.out
    # Before: "request body does not match the expected shape", without saying which part.
    assert too_long == 1 and "prod/orders: refused by the daemon (HTTP 422): request body does not match the expected " \
                             "shape: reason: String should have at most 500 characters" in captured.err, captured.err
    assert refused == 1 and "HTTP 401" in captured.err
    assert len(simulator.restarts()) == 1


async def test_restart_of_a_cluster_the_daemon_does_not_know_names_those_it_does(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Without --daemon: "unknown cluster 'prdo'; configured: prod". With it, the daemon's 404 lists
    # them too (`known`), and the command said "unknown cluster 'prdo'" alone.
    from watchdog.app import Daemon

    from .support import daemon_config

    simulator = Simulator(Scenario.model_validate(sim_scenario([{"name": "orders"}])))
    heal = {"name": "heal", "trigger": {"type": "status"}, "select": {"include": ["*"]}}
    async with served(simulator) as url:
        daemon = Daemon(daemon_config([heal], base_url=url, token="cli-token-2-5f0a9e3d"))
        await daemon.start()
        try:
            monkeypatch.setenv("WATCHDOG_SERVER__AUTH_TOKEN", "cli-token-2-5f0a9e3d")
            code = await asyncio.to_thread(
                main, ["restart", "prdo", "orders", "--daemon", f"http://127.0.0.1:{daemon.bound_port}"])
        finally:
            await daemon.stop()
    err = capsys.readouterr().err
    assert code == 1 and "prdo/orders: refused by the daemon (HTTP 404): unknown cluster 'prdo'; configured: prod" in err, err


async def test_restart_says_why_a_cluster_could_not_be_listed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], credentials_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Before: "not restarted (missing)", as if the connector did not exist, when the API key was refused.
    monkeypatch.setenv("WATCHDOG_CREDENTIALS__MAIN__API_SECRET", "not-the-secret")
    simulator = Simulator(Scenario.model_validate(sim_scenario([{"name": "orders"}])))
    result = await _run_against(simulator, tmp_path, "restart", "prod", "orders", "--log-level", "ERROR")
    assert result == 1
    out = capsys.readouterr().out
    assert "prod/orders: not restarted (missing): cluster prod could not be listed (unauthorized: " in out, out
    assert "not-the-secret" not in out


def test_demo_runs_against_self_managed_kafka_connect(tmp_path: Path) -> None:
    out = run_demo_until(tmp_path, ["--backend", "kafka_connect"], [("restart_finished", "billing-sink")])
    assert "(0 answered 429)" in out
    story = story_lines(out)
    assert "restarted for its status" in story["orders/billing-sink"]
    assert "restarted" not in story["platform/audit-sink"] and "restarted" not in story["orders/crm-source"]
    # A worker answers a restart of a PAUSED connector 202 (and leaves it paused): not "refused".
    assert "left alone: a restart does not start a PAUSED connector (resume it)" in story["platform/audit-sink"]
    assert "refused" not in story["platform/audit-sink"]


async def test_restart_dry_run_sends_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str], credentials_env: None) -> None:
    simulator = Simulator(Scenario.model_validate(sim_scenario([{"name": "orders"}])))
    result = await _run_against(simulator, tmp_path, "restart", "prod", "orders", "--dry-run", "--log-level", "ERROR")
    assert result == 0 and "prod/orders: dry_run (--dry-run: nothing was sent)" in capsys.readouterr().out
    assert simulator.restarts(accepted_only=False) == []


async def test_a_restart_the_config_s_dry_run_did_not_send_is_not_taken_for_done(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], credentials_env: None
) -> None:
    # `watchdog restart prod orders`, no --dry-run, with the config in dry-run (the example config
    # starts so): "prod/orders: dry_run", exit 0, as if restarted; nothing was sent.
    simulator = Simulator(Scenario.model_validate(sim_scenario([{"name": "orders"}])))
    result = await _run_against(simulator, tmp_path, "restart", "prod", "orders", "--log-level", "ERROR",
                                config_tail="dry_run: true\n")
    assert result == 1 and "prod/orders: dry_run (not sent: the config sets dry-run)" in capsys.readouterr().out
    assert simulator.restarts(accepted_only=False) == []


def test_check_config_warns_when_a_credential_would_travel_over_plain_http(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], credentials_env: None
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("api: {base_url: 'http://confluent-proxy:8080'}\ncredentials: {main: {}}\n"
                      "clusters: {prod: {environment_id: env-1, kafka_cluster_id: lkc-1}}\n")
    assert main(["check-config", "--config", str(config)]) == 0
    assert "warning: api.base_url http://confluent-proxy:8080 is plain http://" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("content", "said"),
    [
        (None, "cannot be read (No such file or directory)"),
        (b"TOPSECRETTOKEN-line1\nTOPSECRET-line2\n", "must be printable ASCII without spaces"),
        (b"\xff\xfeTOPSECRET", "is not UTF-8 text"),
        # Before: "no token: set WATCHDOG_SERVER__AUTH_TOKEN, pass --token-file, ..." to someone who had.
        (b" \n", "is empty (or only whitespace)"),
    ],
    ids=["missing", "two-lines", "not-utf8", "empty"],
)
def test_a_token_file_that_cannot_be_sent_is_refused_without_quoting_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes | None, said: str
) -> None:
    # Before: a missing file was a traceback, a token of two lines was printed inside httpx's
    # "Illegal header value b'Bearer ...'". No daemon is needed: nothing may be sent.
    token_file = tmp_path / "token"
    if content is not None:
        token_file.write_bytes(content)
    for command in (["status", "--daemon", "http://127.0.0.1:9"], ["restart", "prod", "orders", "--daemon", "http://127.0.0.1:9"]):
        code = main([*command, "--token-file", str(token_file)])
        shown = capsys.readouterr()
        assert code != 0, shown
        assert said in shown.err and str(token_file) in shown.err, shown.err
        assert "TOPSECRET" not in shown.out + shown.err and "Traceback" not in shown.err


async def test_status_shows_a_deleted_connector_as_gone_while_its_state_is_kept(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from .support import CLUSTER, daemon_config, in_process, sim_cluster
    from .test_daemon import status_rule

    connectors = [{"name": "deleted-sink", "script": {"initial": "FAILED", "recover_after_restarts": "never"}},
                  {"name": "alive"}]
    state = tmp_path / "state.db"
    w = in_process(sim_scenario(connectors, restart={"delay_seconds": 2}),
                   daemon_config([status_rule()], state={"path": str(state)}), fake_time=True, rng=0.5)
    poll = w.daemon.pollers[CLUSTER].poll
    await poll()
    w.clock.advance(60)
    w.simulator.delete_connector(sim_cluster(), "deleted-sink")
    await poll()
    w.daemon.state.close()
    capsys.readouterr()

    assert main(["status", "--state", str(state)]) == 0

    rows = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()[3:]}
    assert rows["alive"].split()[2] == "RUNNING"
    # Before, `deleted-sink ... FAILED`, for state.forget_vanished_after (3 days).
    assert "gone (last seen FAILED " in rows["deleted-sink"], rows


def test_status_from_the_state_file_says_a_dry_run_s_cadence_is_not_in_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Before: in dry-run, the table read from the file showed attempts 0, next allowed "now",
    # while the gauges and the log showed the dry run's backoff, and nothing said why.
    from watchdog.state import SqliteStateStore

    path = _config(tmp_path, "http://127.0.0.1:9")
    SqliteStateStore(tmp_path / "state.db").close()
    assert main(["status", "--config", str(path)]) == 0
    assert "dry" not in capsys.readouterr().err
    path.write_text(path.read_text() + "dry_run: true\n")
    assert main(["status", "--config", str(path)]) == 0
    said = capsys.readouterr().err
    assert "dry run's would-be attempts and backoff" in said and "--daemon" in said, said


def test_status_from_the_state_file_of_a_daemon_run_with_dry_run_says_its_cadence_is_not_in_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # README's way in: `watchdog run --dry-run` with the config unchanged. The note above was given
    # only where the config sets dry-run, so the table showed every failing connector at attempts
    # 0, next allowed "now", beside a history of dry_run restarts, and nothing said why.
    from datetime import UTC, datetime

    from watchdog.model import ConnectorKey, HistoryRecord, Outcome, Trigger
    from watchdog.state import SqliteStateStore

    path = _config(tmp_path, "http://127.0.0.1:9")
    key = ConnectorKey("prod", "orders")
    with SqliteStateStore(tmp_path / "state.db") as store:
        store.finish("job-1", key, None, HistoryRecord(
            at=datetime.now(UTC), key=key, job_id="job-1", rule="heal", trigger=Trigger.STATUS,
            triggers=(Trigger.STATUS,), outcome=Outcome.DRY_RUN, attempt=1))
    assert main(["status", "--config", str(path)]) == 0
    said = capsys.readouterr().err
    assert "the state file's newest restart is a dry run's" in said, said
    assert "dry run's would-be attempts and backoff" in said and "--daemon" in said, said


@pytest.mark.parametrize(("command", "body"), [
    (["status"], b"<html><title>Sign in</title></html>"),  # a proxy's sign-in page
    (["history"], b'{"restarts": "not a list"}'),  # another service, or another version
])
def test_status_and_history_say_when_the_daemon_url_answers_something_else(
    command: list[str], body: bytes, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    class Answer(QuietHandler):
        def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
            self.send_body(200, body, "text/html" if body.startswith(b"<") else "application/json")

    monkeypatch.setenv("WATCHDOG_SERVER__AUTH_TOKEN", "cli-test-token")
    with serving(Answer) as server:
        # Before: a JSONDecodeError or TypeError traceback.
        assert main([*command, "--daemon", f"http://127.0.0.1:{server.server_port}"]) == 1
    err = capsys.readouterr().err
    assert "is --daemon the daemon's API address?" in err and "Traceback" not in err, err


@pytest.mark.parametrize("then", ["unknown_id", "gone"])
def test_restart_through_a_daemon_that_forgets_the_request_says_it_was_requested(
    then: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The daemon took the restart (202), then was restarted or replaced while the CLI followed
    it: the new one no longer knows the request (404), or none answers. Before: a KeyError
    traceback, or 'cannot reach the daemon', as if nothing had been asked for."""
    class Answer(QuietHandler):
        def do_POST(self) -> None:  # noqa: N802 (the stdlib's name)
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_body(202, {"id": "0123456789abcdef", "state": "pending", "decision": "restart", "detail": "",
                                 "job": None})

        def do_GET(self) -> None:  # noqa: N802
            if then == "gone":
                self.connection.close()  # no answer at all
                return
            self.send_body(404, {"error": "unknown or expired request id '0123456789abcdef'"})

    monkeypatch.setenv("WATCHDOG_SERVER__AUTH_TOKEN", "cli-test-token")
    with serving(Answer) as server:
        code = main(["restart", "prod", "orders", "--daemon", f"http://127.0.0.1:{server.server_port}", "--wait", "5"])
    err = capsys.readouterr().err
    assert code == 1
    assert "Traceback" not in err and "cannot reach the daemon" not in err, err
    assert "prod/orders: requested (request 0123456789abcdef" in err and "outcome could not be followed" in err, err


@pytest.mark.parametrize("address", ["http://127.0.0.1:94a4", "http://[::1", "watchdog:9464",
                                     "http://ops:Pa55/w0rd@127.0.0.1:9", "http://ops:Pa55?w0rd@127.0.0.1:9",
                                     # Past 65535 the port wrapped: the token went to :8464 (74000 - 65536).
                                     "http://127.0.0.1:74000", "http://127.0.0.1:-1", "http://127.0.0.1:0"])
def test_a_daemon_address_no_request_can_go_to_is_refused_by_name(
    address: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Before: an httpx.InvalidURL traceback ("Invalid port: 'Pa55'": half a password), or for
    # credentials in the URL, a basic-auth header sent in place of the bearer token.
    monkeypatch.setenv("WATCHDOG_SERVER__AUTH_TOKEN", "cli-test-token")
    for command in (["restart", "prod", "orders"], ["status"], ["history"]):
        code = main([*command, "--daemon", address])
        err = capsys.readouterr().err
        assert code == 2 and "Traceback" not in err and "Pa55" not in err and "w0rd" not in err, err
        assert err.startswith("--daemon ") and "give the daemon's address as http://HOST:PORT" in err, err


@pytest.mark.parametrize("address", ["http://127.0.0.1:9/metrics", "http://127.0.0.1:9/healthz/", "http://127.0.0.1:9/v1",
                                     "http://127.0.0.1:9/?x=1", "http://127.0.0.1:9#top", "http://127.0.0.1:9/#"])
def test_a_daemon_address_with_a_page_a_query_or_a_fragment_is_refused_before_any_call(
    address: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # The API's paths go after --daemon's: http://HOST:9464/metrics (the address at hand) asked
    # /metrics/v1/connectors and the command said only "the daemon answered HTTP 404: no such route".
    monkeypatch.setenv("WATCHDOG_SERVER__AUTH_TOKEN", "cli-test-token")
    for command in (["restart", "prod", "orders"], ["status"], ["history"]):
        assert main([*command, "--daemon", address]) != 0
        err = capsys.readouterr().err
        assert err.startswith(f"--daemon {address} names a page of the daemon, or has a query or a fragment: give the "
                              "daemon's address as http://HOST:PORT"), err


def test_restart_beside_a_running_daemon_says_to_ask_the_daemon(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], credentials_env: None
) -> None:
    # Before: the lock's advice, "stop the other one or give this one its own state.path": a
    # restart with another state file goes out without the daemon's backoff and budget.
    from watchdog.state import SqliteStateStore

    path = _config(tmp_path, "http://127.0.0.1:9")
    with SqliteStateStore(tmp_path / "state.db"):  # the running daemon's hold on it
        code = main(["restart", "prod", "orders sink", "--config", str(path), "--log-level", "ERROR"])
        err = capsys.readouterr().err
        assert code == 1
        # The daemon's own address from the config and the reason typed: a command to paste
        # (http://HOST:PORT was no usable URL, and the --reason was dropped).
        assert main(["restart", "prod", "orders", "--reason", "after incident 123", "--config", str(path)]) == 1
        pasted = capsys.readouterr().err
    assert f"State file {tmp_path / 'state.db'} is in use by a running watchdog: ask it to restart the connector: " \
           "watchdog restart --daemon http://127.0.0.1:9464 prod 'orders sink'" in err, err
    assert pasted.rstrip().endswith("--daemon http://127.0.0.1:9464 prod orders --reason 'after incident 123'"), pasted
    assert "its own state.path" not in err


def test_a_dry_run_restart_beside_a_running_daemon_is_not_answered_with_a_real_restart_to_paste(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], credentials_env: None
) -> None:
    # Before: "ask it to restart the connector: watchdog restart --daemon http://127.0.0.1:9464
    # prod orders", --dry-run dropped: the command pasted restarts for real (the daemon makes no
    # dry run of one restart; --dry-run with --daemon is refused), where a dry run was asked for.
    from watchdog.state import SqliteStateStore

    path = _config(tmp_path, "http://127.0.0.1:9")
    with SqliteStateStore(tmp_path / "state.db"):  # the running daemon's hold on it
        code = main(["restart", "prod", "orders", "--dry-run", "--config", str(path), "--log-level", "ERROR"])
    captured = capsys.readouterr()
    assert code == 1 and captured.out == ""
    assert "ask it to restart the connector" not in captured.err, captured.err
    assert f"State file {tmp_path / 'state.db'} is in use by a running watchdog: no dry run was made" in captured.err
    assert "watchdog status --daemon http://127.0.0.1:9464 shows the connector's backoff" in captured.err
    assert "would restart it for real" in captured.err, captured.err


def test_restart_through_a_daemon_that_took_the_request_but_never_answered_may_have_been_queued(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # The request arrived (the daemon may have queued the restart), the answer did not. Before:
    # "cannot reach the daemon", as for a daemon that is not there at all.
    class NoAnswer(QuietHandler):
        def do_POST(self) -> None:  # noqa: N802 (the stdlib's name)
            self.rfile.read(int(self.headers["Content-Length"]))
            self.connection.close()

    monkeypatch.setenv("WATCHDOG_SERVER__AUTH_TOKEN", "cli-test-token")
    with serving(NoAnswer) as server:
        code = main(["restart", "prod", "orders", "--daemon", f"http://127.0.0.1:{server.server_port}"])
    err = capsys.readouterr().err
    assert code == 1 and "cannot reach the daemon" not in err, err
    assert "prod/orders: sent to the daemon at http://127.0.0.1:" in err and "the restart may have been queued" in err, err


@pytest.mark.parametrize("command", [["status"], ["history"]])
def test_a_daemon_that_never_answers_is_given_up_on_saying_how_long_was_waited(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    # `watchdog status --daemon` against a daemon that took the connection and never answered
    # ended after 10 s with `ReadTimeout: timed out`: neither what was waited for nor how long.
    monkeypatch.setattr("watchdog.cli.daemon.DAEMON_TIMEOUT_SECONDS", 0.5)
    monkeypatch.setenv("WATCHDOG_SERVER__AUTH_TOKEN", "cli-test-token")
    Hang, asked = hanging_handler()
    with serving(Hang, threaded=True) as server:
        code = main([*command, "--daemon", f"http://127.0.0.1:{server.server_port}"])
    err = capsys.readouterr().err
    assert asked.is_set() and code == 75, err
    assert "ReadTimeout: nothing read within the read timeout (0.5s)" in err, err


def test_restart_through_a_daemon_that_stops_answering_ends_within_its_wait(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # The daemon took the restart (202), then answered no GET of it. `--wait 1` took the client's
    # whole timeout past its end (10 s; here the 5 s the GET hangs): no ask outlasts --wait now.
    import time

    Hang, asked = hanging_handler()

    class Accepts(Hang):  # type: ignore[valid-type,misc]
        def do_POST(self) -> None:  # noqa: N802 (the stdlib's name)
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_body(202, {"id": "0123456789abcdef", "state": "pending", "decision": "restart", "detail": "",
                                 "job": None})

    monkeypatch.setenv("WATCHDOG_SERVER__AUTH_TOKEN", "cli-test-token")
    with serving(Accepts, threaded=True) as server:
        started = time.monotonic()
        code = main(["restart", "prod", "orders", "--daemon", f"http://127.0.0.1:{server.server_port}", "--wait", "1"])
        took = time.monotonic() - started
    err = capsys.readouterr().err
    assert asked.is_set() and code == 1, err
    assert took < 3, f"{took:.1f} s"
    assert "prod/orders: requested (request 0123456789abcdef" in err and "ReadTimeout" in err, err


def hanging_handler() -> tuple[type[QuietHandler], threading.Event]:
    """A handler whose GET hangs for 5 s, and the event it sets once asked: a daemon or an API
    that stopped answering, for a command to be interrupted while it waits."""
    asked = threading.Event()

    class Hang(QuietHandler):
        def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
            asked.set()
            threading.Event().wait(5)

    return Hang, asked


@pytest.mark.parametrize("signum", ["SIGINT", "SIGTERM"])
def test_restart_interrupted_before_its_outcome_is_known_does_not_exit_0(
    signum: str, tmp_path: Path, credentials_env: None
) -> None:
    # Ctrl-C while the cluster is listed (the API hangs): before, exit 0 and not a word, as if
    # the restart had been made. SIGTERM (`timeout 30 watchdog restart ...`) the same: before, it
    # killed the command where it stood, exit 143 and not a word.
    import signal
    import subprocess
    import sys

    Hang, asked = hanging_handler()

    with serving(Hang, threaded=True) as server:
        path = _config(tmp_path, f"http://127.0.0.1:{server.server_port}")
        # Ctrl-C's own handling in the child: a shell runs a background job (the test suite started
        # with `&`) with SIGINT ignored, the child inherits that, and the signal below did nothing.
        process = subprocess.Popen([sys.executable, "-m", "watchdog", "restart", "prod", "orders", "--config", str(path),
                                    "--log-level", "ERROR"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                   preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        try:
            assert asked.wait(20), "the listing never reached the API"
            process.send_signal(getattr(signal, signum))
            out, err = process.communicate(timeout=20)
        finally:
            if process.poll() is None:
                process.kill()
    assert process.returncode == 1, (out, err)
    assert "prod/orders: interrupted before the restart's outcome was known" in err and "Traceback" not in err, (out, err)


@pytest.mark.parametrize("command", [
    ["status", "--daemon", "{url}"],
    ["history", "--daemon", "{url}"],
    ["check-config", "--discover", "--config", "{config}"],
])
def test_a_report_interrupted_by_ctrl_c_says_so_and_does_not_exit_0(
    command: list[str], tmp_path: Path, credentials_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Ctrl-C while the daemon or the API is asked (it hangs): before, exit 0 and no output, which
    # a script took for a status read, an empty history or a discovery that found nothing.
    import signal
    import subprocess
    import sys

    Hang, asked = hanging_handler()

    monkeypatch.setenv("WATCHDOG_SERVER__AUTH_TOKEN", "cli-test-token-of-16-or-more")
    with serving(Hang, threaded=True) as server:
        url = f"http://127.0.0.1:{server.server_port}"
        config = _config(tmp_path, url)
        with config.open("a") as file:
            file.write("discovery: {}\n")
        argv = [part.format(url=url, config=config) for part in command]
        # Ctrl-C's own handling in the child (see the restart's test above).
        process = subprocess.Popen([sys.executable, "-m", "watchdog", *argv, "--log-level", "ERROR"],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                   preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        try:
            assert asked.wait(20), "nothing was asked"
            process.send_signal(signal.SIGINT)
            out, err = process.communicate(timeout=20)
        finally:
            if process.poll() is None:
                process.kill()
    assert process.returncode == 130, (out, err)
    assert err.strip().splitlines()[-1] == f"watchdog {command[0]}: interrupted (Ctrl-C) before it finished", err
    assert "Traceback" not in err, err


@pytest.mark.parametrize(("body", "shown"), [
    (b'{"error": "bad", "problems": [{"field": "reason", "problem": "too long"}], "problems_not_shown": "many"}',
     "bad: reason: too long"),
    (b'{"error": "bad", "problems": [1, 2, 3, 4, 5, 6], "problems_not_shown": 3}', "bad: 1; 2; 3; 4; 5; and 4 more"),
    (b'{"error": "bad", "problems": "not a list"}', "bad"),
    (b"[1]", "[1]"),
])
def test_a_refusal_of_any_shape_is_printed_without_a_traceback(body: bytes, shown: str) -> None:
    import httpx

    from watchdog.cli.daemon import error_text

    assert error_text(httpx.Response(422, content=body)) == shown


@pytest.mark.parametrize("how", ["--secrets-dir", "WATCHDOG_SECRETS_DIR"])
def test_the_daemons_token_is_read_from_the_secrets_directory_it_reads(
    how: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # In the daemon's pod the token is a file of the mounted Secret. Before: "no token", with
    # --secrets-dir given and the file in it.
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "WATCHDOG_SERVER__AUTH_TOKEN").write_text("pod-token-4f1e9a7c2b8d\n")
    seen: list[str | None] = []

    class Daemon(QuietHandler):
        def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
            seen.append(self.headers.get("Authorization"))
            self.send_body(200, {"connectors": []})

    monkeypatch.delenv("WATCHDOG_SERVER__AUTH_TOKEN", raising=False)
    monkeypatch.chdir(tmp_path)
    if how == "--secrets-dir":
        options = ["--secrets-dir", "secrets"]
    else:
        options = []
        monkeypatch.setenv("WATCHDOG_SECRETS_DIR", str(secrets))
    with serving(Daemon) as server:
        code = main(["status", "--daemon", f"http://127.0.0.1:{server.server_port}", *options])
    assert code == 0, capsys.readouterr().err
    assert seen == ["Bearer pod-token-4f1e9a7c2b8d"]


def test_a_proxy_the_cli_cannot_use_is_named_not_taken_for_the_daemon_url(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # httpx reads the proxy variables when the client is built: its InvalidURL for the proxy was
    # taken for --daemon's own ("--daemon is not a valid URL" for a URL that is fine).
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", "http://ops:Pa55/w0rdLEAK@proxy.corp.example:3128")
    monkeypatch.setenv("WATCHDOG_SERVER__AUTH_TOKEN", "cli-test-token-0123456789")
    for command in (["status"], ["restart", "prod", "orders"]):
        assert main([*command, "--daemon", "https://watchdog.example:9464"]) != 0
        err = capsys.readouterr().err
        assert "HTTPS_PROXY: not a proxy URL the daemon can use" in err and "--daemon is not" not in err, err
        assert "Pa55" not in err and "LEAK" not in err


def test_the_demo_reads_no_production_setting(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # Run where a daemon runs (its pod, a shell with its variables): the demo read its credential
    # and failed ("clusters.orders.credential: required when more than one credential is
    # configured"), or took its state.url and password and joined the production database's
    # leader election.
    from watchdog.demo import demo_config

    monkeypatch.setenv("WATCHDOG_CREDENTIALS__MAIN__API_KEY", "PRODKEY0123456789")
    monkeypatch.setenv("WATCHDOG_CREDENTIALS__MAIN__API_SECRET", "prod-secret-0123456789")
    monkeypatch.setenv("WATCHDOG_STATE__URL", "postgresql://watchdog@db.prod.internal:5432/watchdog")
    monkeypatch.setenv("WATCHDOG_STATE__PASSWORD", "prod-db-password-0123")
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "WATCHDOG_SERVER__AUTH_TOKEN").write_text("prod-token-0123456789abcdef\n")
    monkeypatch.setenv("WATCHDOG_SECRETS_DIR", str(secrets))

    config = demo_config("http://127.0.0.1:9", 0)
    assert set(config.credentials) == {"demo"}
    assert config.state.url is None and config.state.password is None and config.state.path == ":memory:"
    assert config.server.auth_token is None


def test_the_daemon_in_its_own_pod_is_asked_directly_not_through_the_proxy(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # A pod with HTTP_PROXY for its http:// Kafka Connect workers: the runbook's
    # `watchdog restart --daemon http://127.0.0.1:9464 ...` went to the proxy, bearer token and
    # all, and said "cannot reach the daemon". A proxy that records what it is sent stands in.
    seen: list[str] = []

    class Proxy(QuietHandler):
        def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
            seen.append(self.headers.get("Authorization", ""))
            self.send_body(502, b"proxy")

        do_POST = do_GET  # noqa: N815

    class Daemon(QuietHandler):
        def do_GET(self) -> None:  # noqa: N802
            if self.path.startswith("/v1/restarts/"):
                self.send_body(200, {"id": "0123456789abcdef", "state": "finished", "decision": "restart",
                                     "job": {"outcome": "accepted", "status_code": 202}})
            else:
                self.send_body(200, {"restarts": []} if self.path.startswith("/v1/history") else {"connectors": []})

        def do_POST(self) -> None:  # noqa: N802
            self.send_body(202, {"id": "0123456789abcdef", "state": "pending", "decision": "restart", "job": None})

    monkeypatch.setenv("WATCHDOG_SERVER__AUTH_TOKEN", "cli-test-token-0123456789")
    for name in ("NO_PROXY", "no_proxy"):  # conftest exempts loopback; a pod's NO_PROXY may not
        monkeypatch.delenv(name, raising=False)
    with serving(Proxy) as proxy, serving(Daemon, threaded=True) as daemon:
        for name in ("HTTP_PROXY", "ALL_PROXY"):
            monkeypatch.setenv(name, f"http://127.0.0.1:{proxy.server_port}")
        for host in ("127.0.0.1", "localhost"):
            url = f"http://{host}:{daemon.server_port}"
            for command, code in ((["status"], 0), (["history"], 0), (["restart", "prod", "orders"], 0)):
                assert main([*command, "--daemon", url]) == code, (command, capsys.readouterr().err)
        assert seen == [], "the token went to the proxy"
        assert "accepted" in capsys.readouterr().out
        # Another host still goes through the proxy the environment names, as curl sends it.
        assert main(["status", "--daemon", "http://watchdog.example:9464"]) == 1
    assert len(seen) == 1


@pytest.mark.parametrize("proxy_state", ["refusing", "down"])
def test_what_a_proxy_says_of_a_daemon_it_stands_before_is_not_said_as_the_daemons(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], proxy_state: str
) -> None:
    # A shell with HTTP_PROXY set (a jump host's, a corporate one) and NO_PROXY not naming the
    # daemon's host: a proxy that does not let the host through was quoted as the daemon's
    # refusal, "refused by the daemon (HTTP 403): <html>...", and one that was down as "cannot
    # reach the daemon at http://watchdog.example:9464: ConnectError: [Errno 111] Connection
    # refused": the operator looked at a daemon that was running.
    import socket

    class Proxy(QuietHandler):
        def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
            self.send_body(403, b"<html><h1>403 Forbidden</h1>access denied</html>", content_type="text/html")

        do_POST = do_GET  # noqa: N815

    monkeypatch.setenv("WATCHDOG_SERVER__AUTH_TOKEN", "cli-test-token-0123456789")
    daemon = "http://watchdog.example:9464"
    with serving(Proxy) as proxy:
        port = proxy.server_port
        if proxy_state == "down":
            with socket.socket() as free:  # a port nothing listens on
                free.bind(("127.0.0.1", 0))
                port = free.getsockname()[1]
        monkeypatch.setenv("HTTP_PROXY", f"http://someone:pr0xy-pass@127.0.0.1:{port}")
        for command in (["restart", "prod", "orders"], ["status"], ["history"]):
            assert main([*command, "--daemon", daemon]) == (75 if proxy_state == "down" else 1), command
            err = capsys.readouterr().err
            assert f"through the proxy http://127.0.0.1:{port} (HTTP_PROXY in the environment" in err \
                or f"by the proxy http://127.0.0.1:{port} (HTTP_PROXY in the environment" in err, err
            assert "refused by the daemon" not in err and "the daemon answered" not in err, err
            assert "pr0xy-pass" not in err and "someone" not in err, err
            if proxy_state == "refusing":
                assert "(HTTP 403)" in err and "access denied" in err, err


def test_a_port_in_use_stops_run_and_demo_at_once_saying_which(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], credentials_env: None
) -> None:
    # Before: the daemon polled (and sent restarts), then uvicorn's bind error ended it with exit
    # code 3 under tracebacks; `make demo` beside a running daemon (both on 9464) looked broken.
    import socket

    calls: list[str] = []

    class Api(QuietHandler):
        def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
            calls.append(self.path)
            self.send_body(200, {})

    with socket.socket() as held, serving(Api) as api:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        path = tmp_path / "config.yaml"
        path.write_text(yaml.safe_dump({
            "api": {"base_url": f"http://127.0.0.1:{api.server_port}"}, "credentials": {"main": {}},
            "clusters": {"prod": {"environment_id": ENVIRONMENT, "kafka_cluster_id": CLUSTER_ID}},
            "server": {"host": "127.0.0.1", "port": port}, "state": {"path": str(tmp_path / "state.db")},
            "rules": [{"name": "heal", "trigger": {"type": "status", "interval": "5s"}, "select": {"include": ["*"]}}],
        }))
        assert main(["run", "--config", str(path), "--log-level", "ERROR"]) == 1
        assert f"cannot listen on 127.0.0.1:{port}: Address already in use" in capsys.readouterr().err
        assert main(["demo", "--port", str(port), "--duration", "5", "--log-level", "ERROR"]) == 1
        shown = capsys.readouterr()
        assert f"cannot listen on 127.0.0.1:{port}" in shown.err and "Traceback" not in shown.err + shown.out
        assert main(["simulate", "--port", str(port), "--log-level", "ERROR"]) == 1
        assert f"cannot listen on 127.0.0.1:{port}: Address already in use" in capsys.readouterr().err
    assert calls == [], "a daemon that could not start polled"


@pytest.mark.parametrize("host", ["10.255.255.254", "no-such-host.invalid"])
def test_a_server_host_that_cannot_be_listened_on_is_said_as_such_not_as_a_port_in_use(
    host: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], credentials_env: None
) -> None:
    # server.host set to another machine's address (the node's, a Service's) or to a name that
    # does not resolve (a typo) said "Cannot assign requested address" or "Unknown error -2" (the
    # resolver's code read as an errno), each followed by "is another watchdog or a demo using
    # it?": the operator of a pod in CrashLoopBackOff looked for a second process on the port.
    import socket

    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({
        "api": {"base_url": "http://127.0.0.1:9"}, "credentials": {"main": {}},
        "clusters": {"prod": {"environment_id": ENVIRONMENT, "kafka_cluster_id": CLUSTER_ID}},
        "server": {"host": host, "port": 19999}, "state": {"path": str(tmp_path / "state.db")},
        "rules": [{"name": "heal", "trigger": {"type": "status", "interval": "5s"}, "select": {"include": ["*"]}}],
    }))
    try:
        socket.getaddrinfo(host, 19999)
        expected = "not an address of this machine"
    except socket.gaierror as exc:
        expected = f"{exc.strerror} (the name does not resolve here)"
    assert main(["run", "--config", str(path), "--log-level", "ERROR"]) == 1
    err = capsys.readouterr().err
    assert f"cannot listen on {host}:19999: " in err and expected in err, err
    assert "another watchdog" not in err and "Unknown error" not in err, err


@pytest.mark.process
def test_history_piped_into_head_ends_quietly(tmp_path: Path) -> None:
    # `watchdog history --json | head`: a BrokenPipeError traceback on stderr and exit 1, the code
    # README gives a failed restart. Now nothing on stderr and 141, as a shell's own tools end.
    import os
    import subprocess
    import sys
    from datetime import datetime, timedelta, timezone

    from watchdog.model import ConnectorKey, ConnectorState, HistoryRecord, Outcome, Trigger
    from watchdog.state import SqliteStateStore

    path = tmp_path / "state.db"
    with SqliteStateStore(path) as store:
        for n in range(200):  # about 250 KB of JSON: more than a pipe holds
            key = ConnectorKey("prod", f"sink-{n}")
            store.finish(f"job-{n}", key, ConnectorState(attempts=1), HistoryRecord(
                at=datetime(2026, 3, 1, tzinfo=timezone.utc) + timedelta(seconds=n), key=key, job_id=f"job-{n}",
                rule="heal", trigger=Trigger.STATUS, triggers=(Trigger.STATUS,), outcome=Outcome.ACCEPTED,
                status_code=202, tries=1, attempt=1, message="m" * 1000))
    with subprocess.Popen([sys.executable, "-m", "watchdog", "history", "--state", str(path), "--limit", "200", "--json"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ}) as process:
        assert process.stdout is not None and process.stderr is not None
        assert process.stdout.readline().strip() == b"{"
        process.stdout.close()  # `head -1` has what it wanted
        err = process.stderr.read().decode()
        code = process.wait(timeout=30)
    assert code == 141 and "Traceback" not in err, err


LEADER = "connect-watchdog-7d9f-xyz12/1/k3y"
STANDBY_ANSWER = {"error": f"not the leader (this replica is not the leader); nothing was done; send again later; "
                           f"the leader is {LEADER}", "standby": True, "leader": LEADER}


class TwoReplicas(QuietHandler):
    """A Service in front of a standby and a leader: the first POSTs reach the standby (503,
    Connection: close), then the leader takes the request and its outcome is followed."""
    standby_answers = 2
    posts: list[str] = []

    def do_POST(self) -> None:  # noqa: N802 (the stdlib's name)
        self.rfile.read(int(self.headers["Content-Length"]))
        type(self).posts.append(self.path)
        if len(type(self).posts) <= type(self).standby_answers:
            self.close_connection = True
            data = json.dumps(STANDBY_ANSWER).encode()
            self.send_response(503)
            for name, value in (("Content-Type", "application/json"), ("Content-Length", str(len(data))),
                                ("Retry-After", "17"), ("Connection", "close")):
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
            return
        self.send_body(202, {"id": "0123456789abcdef", "state": "pending", "decision": "restart", "detail": "", "job": None})

    def do_GET(self) -> None:  # noqa: N802
        self.send_body(200, {"id": "0123456789abcdef", "state": "done", "decision": "restart", "detail": "",
                             "job": {"outcome": "accepted", "status_code": 202}})


def test_restart_through_a_service_asks_again_when_a_standby_answers(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # --daemon a Service in front of both replicas (every replica is Ready): a standby's 503 said
    # "refused by the daemon (HTTP 503)" and the restart was not asked for, depending on the pod
    # the connection reached. It is asked again (a few times, each on a new connection).
    from watchdog.cli import daemon_restart

    monkeypatch.setattr(daemon_restart, "is_loopback", lambda url: False, raising=False)  # as for http://connect-watchdog:9464
    monkeypatch.setattr(daemon_restart, "STANDBY_PAUSE", 0.01, raising=False)
    monkeypatch.setenv("WATCHDOG_SERVER__AUTH_TOKEN", "cli-test-token")
    TwoReplicas.posts = []
    with serving(TwoReplicas) as server:
        code = main(["restart", "prod", "orders", "--daemon", f"http://127.0.0.1:{server.server_port}", "--wait", "5"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "prod/orders: accepted (HTTP 202)" in out and len(TwoReplicas.posts) == 3


def test_restart_asked_of_a_standby_says_that_it_stands_by_and_which_pod_leads(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # `kubectl exec deploy/connect-watchdog -- watchdog restart --daemon http://127.0.0.1:9464` on
    # the pod kubectl picked, the standby: asked once (it would answer the same again), and the
    # answer says in plain words which pod to run it in.
    monkeypatch.setenv("WATCHDOG_SERVER__AUTH_TOKEN", "cli-test-token")
    TwoReplicas.posts = []
    with serving(TwoReplicas) as server:
        code = main(["restart", "prod", "orders", "--daemon", f"http://127.0.0.1:{server.server_port}"])
    err = capsys.readouterr().err
    assert code == 1 and len(TwoReplicas.posts) == 1
    assert "prod/orders: not requested: the daemon at http://127.0.0.1:" in err
    assert "is a standby replica, which does nothing: another replica leads" in err
    assert f"({LEADER}, pod connect-watchdog-7d9f-xyz12)" in err
    assert "kubectl -n " in err and "Traceback" not in err  # a namespace (finding 4 of the runbook probe)
    # ... the command as typed (not `watchdog ...`), at the address it was asked on (one config, so one port).
    assert f"exec connect-watchdog-7d9f-xyz12 -- watchdog restart prod orders --daemon http://127.0.0.1:{server.server_port}" in err


def test_restart_asked_of_a_standby_that_knows_no_leader_does_not_claim_one(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Between a leader's death and the election (a lease), a standby knows of no leader.
    class NoLeader(TwoReplicas):
        def do_POST(self) -> None:  # noqa: N802 (the stdlib's name)
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_body(503, {**STANDBY_ANSWER, "error": "not the leader; nothing was done", "leader": None})

    monkeypatch.setenv("WATCHDOG_SERVER__AUTH_TOKEN", "cli-test-token")
    with serving(NoLeader) as server:
        code = main(["restart", "prod", "orders", "--daemon", f"http://127.0.0.1:{server.server_port}"])
    err = capsys.readouterr().err
    assert code == 1 and "is a standby replica, which does nothing: it knows of no leader now" in err, err
    assert "another replica leads" not in err


@pytest.mark.parametrize("wait", ["-5", "nan", "inf", "soon"])
def test_restart_refuses_a_wait_that_is_no_number_of_seconds_before_asking(
    wait: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Before: --wait -5 sent the restart and returned at once ("still queued after -5s"), never
    # following it; nan the same; inf followed it for ever.
    posted: list[str] = []

    class Answer(QuietHandler):
        def do_POST(self) -> None:  # noqa: N802 (the stdlib's name)
            posted.append(self.path)
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_body(202, {"id": "0123456789abcdef", "state": "pending", "decision": "restart", "detail": "",
                                 "job": None})

    monkeypatch.setenv("WATCHDOG_SERVER__AUTH_TOKEN", "cli-test-token")
    with serving(Answer) as server, pytest.raises(SystemExit) as exited:
        main(["restart", "prod", "orders", "--daemon", f"http://127.0.0.1:{server.server_port}", "--wait", wait])
    assert exited.value.code == 2
    assert "argument --wait:" in capsys.readouterr().err
    assert posted == []


@pytest.mark.parametrize("duration", ["-5", "0", "nan"])
def test_demo_refuses_a_duration_that_is_no_time_to_run(duration: str, capsys: pytest.CaptureFixture[str]) -> None:
    # Before: the demo stopped before its first poll and said "nothing was in trouble", exit 0.
    with pytest.raises(SystemExit) as exited:
        main(["demo", "--duration", duration, "--port", "0"])
    assert exited.value.code == 2 and "argument --duration:" in capsys.readouterr().err


@pytest.mark.parametrize(("command", "port"), [("demo", "70000"), ("demo", "-1"), ("simulate", "-1"), ("simulate", "65536")])
def test_a_port_out_of_range_is_refused_by_name(command: str, port: str, capsys: pytest.CaptureFixture[str]) -> None:
    # Before: `demo --port 70000` ended in a pydantic ValidationError traceback, exit 1;
    # `simulate --port -1` in "cannot listen on 127.0.0.1:-1: Servname not supported", exit 1.
    with pytest.raises(SystemExit) as exited:
        main([command, "--port", port, *(["--duration", "1"] if command == "demo" else [])])
    err = capsys.readouterr().err
    assert exited.value.code == 2 and "argument --port:" in err and "Traceback" not in err


def test_an_empty_token_in_the_secrets_directory_is_named_and_a_missing_one_is_no_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("WATCHDOG_SERVER__AUTH_TOKEN", raising=False)
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    assert main(["status", "--daemon", "http://127.0.0.1:9", "--secrets-dir", str(secrets)]) != 0
    assert "no token: set WATCHDOG_SERVER__AUTH_TOKEN" in capsys.readouterr().err
    (secrets / "WATCHDOG_SERVER__AUTH_TOKEN").write_text("\n")  # a Secret mounted with an empty key
    assert main(["status", "--daemon", "http://127.0.0.1:9", "--secrets-dir", str(secrets)]) != 0
    err = capsys.readouterr().err
    assert f"the token from secret file WATCHDOG_SERVER__AUTH_TOKEN in {secrets.resolve()} is empty" in err, err


async def test_a_reason_the_daemon_refuses_is_refused_without_it_too_before_anything_is_sent(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], credentials_env: None
) -> None:
    # Before: --reason of 5,000 characters was refused by a daemon (422, exit 1) but, without
    # --daemon, sent and kept in the history whole.
    simulator = Simulator(Scenario.model_validate(sim_scenario([{"name": "orders"}])))
    code = await _run_against(simulator, tmp_path, "restart", "prod", "orders", "--reason", "x" * 5000, "--log-level", "ERROR")
    assert code == 1 and simulator.calls == []
    assert "prod/orders: refused (as the daemon's API refuses it): reason: String should have at most 500 characters" \
        in capsys.readouterr().err


class StandbyThenLeaderRows(QuietHandler):
    """A Service in front of a standby and a leader, read by `status`: the first GETs of
    /v1/connectors reach the standby (503, Connection: close), the next the leader."""
    standby_answers = 2
    gets: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
        type(self).gets.append(self.path)
        if len(type(self).gets) <= type(self).standby_answers:
            self.close_connection = True
            self.send_body(503, STANDBY_ANSWER)
            return
        self.send_body(200, {"connectors": [{
            "cluster": "lkc-found1", "connector": "orders", "health": "healthy", "seen_state": "RUNNING",
            "seen_at": None, "consecutive_failures": 0, "attempts": 0, "last_restart_at": None,
            "next_allowed_at": None, "gave_up": False, "healthy_since": None, "environment_id": "env-abc123",
            "environment_name": "production", "kafka_cluster_id": "lkc-found1", "cluster_display_name": "orders-cluster",
            "self_managed": False}]})


def test_status_through_a_service_reads_the_leader_past_a_standby(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # A standby's rows (it polls and discovers nothing) showed a discovered cluster under
    # ENVIRONMENT unknown; it now answers 503, and status through a Service asks again.
    from watchdog.cli import daemon

    monkeypatch.setattr(daemon, "is_loopback", lambda url: False)  # as for http://connect-watchdog:9464
    monkeypatch.setattr(daemon, "STANDBY_PAUSE", 0.01)
    monkeypatch.setenv("WATCHDOG_SERVER__AUTH_TOKEN", "cli-test-token")
    StandbyThenLeaderRows.gets = []
    with serving(StandbyThenLeaderRows) as server:
        code = main(["status", "--daemon", f"http://127.0.0.1:{server.server_port}"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "production" in out and len(StandbyThenLeaderRows.gets) == 3


def test_status_asked_of_a_standby_says_which_pod_leads(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("WATCHDOG_SERVER__AUTH_TOKEN", "cli-test-token")
    StandbyThenLeaderRows.gets = []
    with serving(StandbyThenLeaderRows) as server:
        code = main(["status", "--daemon", f"http://127.0.0.1:{server.server_port}"])
    err = capsys.readouterr().err
    assert code == 1 and len(StandbyThenLeaderRows.gets) == 1, err
    assert "is a standby replica" in err and "exec connect-watchdog-7d9f-xyz12 -- watchdog status --daemon" in err


@pytest.mark.parametrize("answer", ["no-http", "401-echo", "content-type"])
def test_what_answers_at_daemon_repeating_the_token_does_not_get_it_printed(
    answer: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Something that is not the daemon (another service on the port, a hostile one) sends the
    # request's Authorization line back: as its status line (httpx's RemoteProtocolError quoted
    # it), in a 401's error, or in the Content-Type of an answer that is not JSON. Before:
    # `illegal status line: bytearray(b'Authorization: Bearer TOKEN')`, `refused: Authorization:
    # Bearer TOKEN` and `is not JSON (text/plain; Authorization: Bearer TOKEN)` on the terminal.
    token = "cli-echo-token-7Hq2LmZ9"

    class Echo(QuietHandler):
        def echo(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            line = f"Authorization: {self.headers['Authorization']}"
            if answer == "no-http":
                self.wfile.write(f"{line}\r\n\r\n".encode())
                self.close_connection = True
            elif answer == "content-type":
                self.send_body(200, b"not json", content_type=f"text/plain; {line}")
            else:
                self.send_body(401, {"error": f"refused: {line}"})

        do_GET = do_POST = echo  # noqa: N815 (the stdlib's names)

    monkeypatch.setenv("WATCHDOG_SERVER__AUTH_TOKEN", token)
    with serving(Echo) as server:
        # A restart answered 200 is a refusal said without the body's type: status and history only.
        commands = [["status"], ["history"]] if answer == "content-type" else [["restart", "prod", "orders"], ["status"], ["history"]]
        for command in commands:
            code = main([*command, "--daemon", f"http://127.0.0.1:{server.server_port}"])
            err = capsys.readouterr().err
            assert code != 0 and "Authorization: Bearer ***" in err, err
            assert token not in err and "Traceback" not in err, err


def test_an_empty_config_path_is_named_so_and_an_empty_watchdog_config_is_unset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Both read the working directory: "invalid config .: config path . is not a file".
    monkeypatch.chdir(tmp_path)
    assert main(["check-config", "--config", ""]) == 2
    assert capsys.readouterr().err == "invalid config '':\n  no config file named: the path given is empty\n"
    monkeypatch.setenv("WATCHDOG_CONFIG", "")  # a chart's value left unset: the default, ./config.yaml
    assert main(["check-config"]) == 2
    assert capsys.readouterr().err == "invalid config config.yaml:\n  config file config.yaml does not exist\n"


def test_restart_still_held_by_an_outage_when_the_wait_ends_says_why(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before: 'still queued after 1s' and nothing more, for as long as the API was out, as if
    the daemon were stuck; the request's record said why all along."""
    held = "held: the cluster's Connect API answers only server errors (restarts_held); it stays queued"
    record = {"id": "0123456789abcdef", "state": "pending", "decision": "restart", "detail": "",
              "job": {"id": "j", "outcome": None, "status_code": None, "message": held, "tries": 0, "requests": []}}

    class Answer(QuietHandler):
        def do_POST(self) -> None:  # noqa: N802 (the stdlib's name)
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_body(202, record)

        def do_GET(self) -> None:  # noqa: N802
            self.send_body(200, record)

    monkeypatch.setenv("WATCHDOG_SERVER__AUTH_TOKEN", "cli-test-token")
    with serving(Answer) as server:
        code = main(["restart", "prod", "orders", "--daemon", f"http://127.0.0.1:{server.server_port}", "--wait", "1"])
    out, err = capsys.readouterr()
    assert code == 1
    assert f"still queued after 1s ({held}); request " in out + err, out + err


@pytest.mark.parametrize("command", ["status", "history"])
def test_a_database_url_given_as_state_is_refused_without_quoting_it(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # `--state` names a SQLite file; a PostgreSQL URL put there (how else would one read a shared
    # state?) was taken for a file's name and printed back, password and all, in a message that
    # sent the reader looking for a file: "State file /home/me/postgresql:/watchdog:Pa55Leak9@db:5432/
    # watchdog does not exist: no daemon has written state there yet." (exit 1).
    with pytest.raises(SystemExit) as exited:
        main([command, "--state", "postgresql://watchdog:Pa55Leak9@db.internal:5432/watchdog"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "--state: takes a SQLite file's path, not a URL" in err and "state.url" in err, err
    assert "Pa55Leak9" not in err and "db.internal" not in err


@pytest.mark.parametrize("command", ["status", "history"])
def test_daemon_and_state_together_are_refused_not_one_of_them_passed_over(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # README: `[--daemon URL | --state FILE]`. Given both, --state was passed over without a word:
    # the daemon's view, read as the state file's (exit 0).
    with pytest.raises(SystemExit) as exited:
        main([command, "--daemon", "http://127.0.0.1:9", "--state", str(tmp_path / "state.db")])
    assert exited.value.code == 2
    assert "argument --state: not allowed with argument --daemon" in capsys.readouterr().err


async def test_a_token_the_daemon_refuses_is_named_by_where_it_came_from(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # In the daemon's pod, after the token was rotated in the Secret and before the daemon was
    # sent SIGHUP: the command read the new token from the mounted file, the daemon still held
    # the old one, and all it said was "refused by the daemon (HTTP 401): missing or invalid
    # bearer token", with nothing about which token it had sent or why the daemon might not have it.
    from watchdog.app import Daemon

    from .support import daemon_config

    monkeypatch.delenv("WATCHDOG_SERVER__AUTH_TOKEN", raising=False)
    monkeypatch.delenv("WATCHDOG_SECRETS_DIR", raising=False)
    (tmp_path / "WATCHDOG_SERVER__AUTH_TOKEN").write_text("token-rotated-new-7Hq2LmZ9\n")
    (tmp_path / "token").write_text("token-typed-wrong-7Hq2LmZ9\n")
    simulator = Simulator(Scenario.model_validate(sim_scenario([{"name": "orders"}])))
    heal = {"name": "heal", "trigger": {"type": "status"}, "select": {"include": ["*"]}}
    async with served(simulator) as url:
        daemon = Daemon(daemon_config([heal], base_url=url, token="token-held-old-7Hq2LmZ9"))
        await daemon.start()
        try:
            at = f"http://127.0.0.1:{daemon.bound_port}"
            codes = [await asyncio.to_thread(main, command) for command in (
                ["restart", "prod", "orders", "--daemon", at, "--secrets-dir", str(tmp_path)],
                ["status", "--daemon", at, "--secrets-dir", str(tmp_path)],
                ["history", "--daemon", at, "--token-file", str(tmp_path / "token")],
            )]
        finally:
            await daemon.stop()
    err = capsys.readouterr().err
    assert codes == [1, 1, 1]
    assert err.count(f"the token sent came from secret file WATCHDOG_SERVER__AUTH_TOKEN in {tmp_path}; the daemon's "
                     "token and this one differ: either the daemon has not reloaded a new one yet (it reads its own "
                     "at start and at each reload: SIGHUP)") == 2, err
    assert f"the token sent came from --token-file {tmp_path / 'token'}; the daemon's token and this one differ" in err, err
    assert "token-" not in err.replace("--token-file", ""), err
    assert simulator.restarts() == []


async def test_a_token_older_than_the_daemons_is_said_as_possibly_stale_not_only_the_daemon_not_reloaded(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Found by a credentials probe: after the daemon reloaded a rotated token, a command sending
    # an operator's saved copy of the old one (or, in the pod, the Secret's new file while a
    # WATCHDOG_SERVER__AUTH_TOKEN variable in the Deployment keeps the daemon on the old one) was
    # told only that the daemon "is refused until it reloads": SIGHUP, which changes nothing.
    from watchdog.app import Daemon

    from .support import daemon_config

    monkeypatch.delenv("WATCHDOG_SERVER__AUTH_TOKEN", raising=False)
    monkeypatch.delenv("WATCHDOG_SECRETS_DIR", raising=False)
    (tmp_path / "saved").write_text("token-saved-old-4Xw8PqR2\n")
    simulator = Simulator(Scenario.model_validate(sim_scenario([{"name": "orders"}])))
    heal = {"name": "heal", "trigger": {"type": "status"}, "select": {"include": ["*"]}}
    async with served(simulator) as url:
        rotated = daemon_config([heal], base_url=url, token="token-rotated-new-4Xw8PqR2")
        daemon = Daemon(daemon_config([heal], base_url=url, token="token-saved-old-4Xw8PqR2"), reload_config=lambda: rotated)
        await daemon.start()
        try:
            assert await daemon.reload("file changed") is True  # the daemon holds the new one
            at = f"http://127.0.0.1:{daemon.bound_port}"
            code = await asyncio.to_thread(main, ["status", "--daemon", at, "--token-file", str(tmp_path / "saved")])
        finally:
            await daemon.stop()
    err = " ".join(capsys.readouterr().err.split())
    assert code == 1
    assert f"the token sent came from --token-file {tmp_path / 'saved'}; the daemon's token and this one differ" in err, err
    assert "either the daemon has not reloaded a new one yet" in err, err
    assert "or this one is older than the daemon's" in err, err
    # The variable's case is the daemon keeping the older token, not this one being older.
    assert ("or the daemon keeps an older one: a WATCHDOG_SERVER__AUTH_TOKEN variable in its environment wins over "
            "its secret file") in err, err
    assert "`secret_files_overridden`" in err, err
    assert "is refused until it reloads" not in err, err
    assert "token-" not in err.replace("--token-file", ""), err


@pytest.mark.parametrize(
    ("argument", "argv"),
    [
        ("cluster", ["restart", "clu\udce9", "orders"]),
        ("connector", ["restart", "main", "ord\udce9rs"]),
        ("--reason", ["restart", "main", "orders", "--reason", "r\udce9ason"]),
        ("connector", ["history", "ord\udce9rs"]),
        ("--cluster", ["history", "--cluster", "clu\udce9"]),
    ],
)
def test_an_argument_that_is_not_utf8_is_refused_by_name(
    argument: str, argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A name typed in a Latin-1 terminal reaches Python as a lone surrogate ("\udce9" for the byte
    # 0xe9). Before: `restart --daemon` ended in a UnicodeEncodeError traceback as its request was
    # encoded, exit 1 ("a restart failed"), and `history --daemon` likewise.
    token = tmp_path / "token"
    token.write_text("tok-abcdefghijklmnopqrstuvwxyz0123\n")
    with pytest.raises(SystemExit) as exited:
        main([*argv, "--daemon", "http://127.0.0.1:1", "--token-file", str(token)])
    err = capsys.readouterr().err
    assert exited.value.code == 2, err
    assert f"argument {argument}: not UTF-8 text (the byte 0xe9 at position" in err
    assert "Traceback" not in err and "\\udce9" not in err


def test_check_config_shows_the_budget_of_alert_and_stall_rules_too(
    credentials_env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # config.example.yaml gives its alert rule `max_restarts: 6` and its stall rule 4: the summary
    # showed a budget for status rules only, so neither was there, nor that an alert rule without
    # one gives up after 10 restarts, as a status rule does.
    monkeypatch.setenv("WATCHDOG_SERVER__AUTH_TOKEN", "example-token-0123456789")
    assert main(["check-config", "--config", str(Path(__file__).parent.parent / "config.example.yaml")]) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines() if line.startswith("  ") and line.split()}
    # The backoff is shown as the waits it makes (base x (n^2 + n), up to the cap): shown as
    # `1m..1h` (base and cap), it read as a first wait of one minute, where it is two.
    assert lines["heal-failed"].endswith(", backoff gaps 2m, 6m, 12m .. 1h, max_restarts 10"), lines["heal-failed"]
    assert lines["restart-on-alert"].endswith(", backoff gaps 10m, 30m, 1h, max_restarts 6"), lines["restart-on-alert"]
    assert lines["restart-stalled-connectors"].endswith(", backoff gaps 10m, 30m, 1h, max_restarts 4"), lines["restart-stalled-connectors"]
    assert "max_restarts" not in lines["nightly-jdbc"]  # a schedule restarts what it selects, no budget


async def test_a_restart_of_a_connector_named_wrong_is_offered_the_listed_names_close_to_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], credentials_env: None
) -> None:
    # `watchdog restart prod orders-snik` at 3 a.m.: "the listing of cluster prod does not show
    # it", and the operator went to find the name in the console.
    simulator = Simulator(Scenario.model_validate(sim_scenario([{"name": "orders-sink"}, {"name": "orders-source"}])))
    assert await _run_against(simulator, tmp_path, "restart", "prod", "orders-snik", "--log-level", "ERROR") == 1
    assert ("prod/orders-snik: not restarted (missing): the listing of cluster prod does not show it; "
            "did you mean 'orders-sink'?") in capsys.readouterr().out
    assert await _run_against(simulator, tmp_path, "restart", "prod", "billing", "--log-level", "ERROR") == 1
    assert capsys.readouterr().out.rstrip().endswith("the listing of cluster prod does not show it")
    assert not simulator.restarts()


@pytest.mark.parametrize(("holder_argv", "named"), [
    (["watchdog", "restart", "prod", "orders", "--reason", "opA"], "`watchdog restart`"),
    (["watchdog", "run", "--once", "-c", "x.yaml"], "`watchdog run --once`"),
])
def test_restart_beside_another_one_shot_command_says_so_and_to_try_again(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], credentials_env: None, monkeypatch: pytest.MonkeyPatch,
    holder_argv: list[str], named: str,
) -> None:
    # Before (F4, session 79): "in use by a running watchdog: ask it to restart the connector:
    # watchdog restart --daemon http://127.0.0.1:9464 ...", exit 1, where the holder was another
    # person's one-shot `watchdog restart` and no daemon listened ("cannot reach the daemon").
    from watchdog.state import SqliteStateStore

    path = _config(tmp_path, "http://127.0.0.1:9")
    monkeypatch.setattr(sys, "argv", holder_argv)  # the holder's command line
    with SqliteStateStore(tmp_path / "state.db"):
        monkeypatch.setattr(sys, "argv", ["watchdog", "restart", "prod", "orders"])
        code = main(["restart", "prod", "orders", "--config", str(path), "--log-level", "ERROR"])
    err = capsys.readouterr().err
    assert code == 75, err
    assert f"State file {tmp_path / 'state.db'} is in use by another {named}, pid {os.getpid()}, since " in err, err
    assert "not a daemon: nothing was sent" in err and "run this command again once it has" in err, err
    assert "--daemon" not in err and "opA" not in err, err


def test_restart_beside_a_daemon_that_recorded_itself_still_says_to_ask_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], credentials_env: None, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from watchdog.state import SqliteStateStore

    path = _config(tmp_path, "http://127.0.0.1:9")
    monkeypatch.setattr(sys, "argv", ["watchdog", "run", "-c", "x.yaml"])
    with SqliteStateStore(tmp_path / "state.db"):
        code = main(["restart", "prod", "orders", "--config", str(path), "--log-level", "ERROR"])
    err = capsys.readouterr().err
    assert code == 1
    assert "is in use by a running watchdog: ask it to restart the connector: " \
           "watchdog restart --daemon http://127.0.0.1:9464 prod orders" in err, err
