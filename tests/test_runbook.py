"""docs/runbook.md followed literally: its PromQL, `jq` filters and commands held against what the
daemon really exports, logs and prints, so that a step that shows nothing (or the wrong thing) is
found here rather than by an operator paged at 3 a.m. (tests/test_docs.py holds the older checks;
tests/deploy/test_queries.py runs the PromQL against a live daemon, which only proves it parses.)"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from .deploy.tools import tool

ROOT = Path(__file__).parent.parent
RUNBOOK = ROOT / "docs" / "runbook.md"


def jq() -> str:
    return tool("jq", package="Debian's jq package")


def runbook_lines() -> list[str]:
    """The runbook's lines with shell line continuations joined."""
    return RUNBOOK.read_text(encoding="utf-8").replace("\\\n", " ").splitlines()


def jq_program(line: str) -> str:
    """The program of the `jq` a runbook line pipes into (`| jq -r '...'`)."""
    words = shlex.split(line.split("| jq ", 1)[1], comments=True)
    return next(word for word in words if not word.startswith("-"))


def run_jq(program: str, document: str, *options: str) -> str:
    done = subprocess.run([jq(), *options, program], input=document, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, f"jq {program!r} failed: {done.stderr}"
    return done.stdout


# -- PromQL: every label a query groups or selects by is one its metric has -------------------


def exported_labels() -> dict[str, set[str]]:
    """Each exported series name (counters with `_total`, histograms with `_bucket`) and the
    labels it carries, from the metric families' own definitions."""
    from prometheus_client import CollectorRegistry

    from watchdog.discovery.metrics import DiscoveryMetrics
    from watchdog.leadership.metrics import LeadershipMetrics
    from watchdog.metrics import Metrics

    registry = CollectorRegistry()
    Metrics(registry)
    DiscoveryMetrics(registry)
    LeadershipMetrics(registry)
    labels: dict[str, set[str]] = {}
    for collector, names in registry._collector_to_names.items():  # noqa: SLF001 (no public way to read them)
        for name in names:
            labels[name] = set(getattr(collector, "_labelnames", ())) | ({"le"} if name.endswith("_bucket") else set())
    return labels


def test_every_label_the_runbooks_promql_groups_or_selects_by_is_one_its_metric_has() -> None:
    # WatchdogPollsFailing's "how to confirm" summed watchdog_api_requests_total `by (cluster, ...)`:
    # that counter has no cluster label (its calls are counted per credential), so the query ran,
    # and showed one row per status class with an empty cluster: nothing said which cluster failed.
    exported = exported_labels()
    blocks = re.findall(r"```promql\n(.*?)```", RUNBOOK.read_text(encoding="utf-8"), re.S)
    queries = [line for block in blocks for line in block.strip().splitlines() if line.strip()]
    assert len(queries) > 30
    wrong = []
    for query in queries:
        metrics = re.findall(r"\b(watchdog_\w+|up)\b(?=\s*[{\[)\s]|$)", query)
        assert metrics, query
        unknown = [name for name in metrics if name not in exported and name != "up"]
        assert not unknown, f"{query}: no such metric {unknown}"
        has = {"job", "instance"}.union(*(exported.get(name, set()) for name in metrics))
        used = {label.strip() for group in re.findall(r"\b(?:by|without|on)\s*\(([^)]*)\)", query)
                for label in group.split(",") if label.strip()}
        used |= set(re.findall(r"[{,]\s*(\w+)\s*(?:=~|!~|!=|=)", query))
        wrong += [f"{query}: {label}" for label in sorted(used - has)]
    assert not wrong, "labels the queried metrics do not have:\n" + "\n".join(wrong)


# -- jq: the filters give what the runbook says they give, on the daemon's real output ---------


def test_the_runbooks_full_traces_show_confluent_clouds_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # "the full traces" piped `watchdog history orders-sink --json` into jq's
    # `.evidence.tasks[]?.trace`: Confluent Cloud gives a task's error in `msg` (its trace is empty)
    # and the connector's stack trace in the connector's `trace`, so the command printed empty
    # lines, one per failed task, and nothing of either.
    from watchdog.cli import main
    from watchdog.model import (
        ConnectorKey,
        ConnectorState,
        ConnectorStatus,
        HistoryRecord,
        Outcome,
        TaskStatus,
        Trigger,
    )
    from watchdog.state import SqliteStateStore

    cloud = ConnectorStatus(  # the shape Confluent Cloud (and the simulator) answers
        name="orders-sink", state="FAILED",
        trace="org.apache.kafka.connect.errors.ConnectException: Exiting WorkerSinkTask\n"
              "Caused by: java.net.SocketTimeoutException: Read timed out\n",
        tasks=(TaskStatus(0, "SYSTEM_ERROR", msg="Writing to the destination timed out"), TaskStatus(1, "RUNNING")))
    degraded = ConnectorStatus(name="orders-sink", state="DEGRADED",
                               tasks=(TaskStatus(2, "SYSTEM_ERROR", msg="Connection to orders-db refused"),))
    self_managed = ConnectorStatus(name="orders-sink", state="RUNNING", tasks=(TaskStatus(
        0, "FAILED", trace="org.apache.kafka.connect.errors.DataException: poison record\n\tat Foo.bar(Foo.java:1)"),))
    path = tmp_path / "state.db"
    start = datetime(2026, 3, 1, 3, 0, tzinfo=timezone.utc)
    key = ConnectorKey("prod", "orders-sink")
    with SqliteStateStore(path) as store:
        for minute, status in enumerate((cloud, degraded, self_managed)):
            store.finish(f"job-{minute}", key, ConnectorState(attempts=minute + 1), HistoryRecord(
                at=start + timedelta(minutes=minute), key=key, job_id=f"job-{minute}", rule="heal",
                trigger=Trigger.STATUS, triggers=(Trigger.STATUS,), outcome=Outcome.ACCEPTED, status_code=202,
                tries=1, attempt=minute + 1, evidence=status.failure_evidence()))

    line = next(line for line in runbook_lines() if "# the full traces" in line)
    command = shlex.split(line.split("-- ", 1)[1].split("|")[0])
    capsys.readouterr()
    assert main([*command[1:], "--state", str(path)]) == 0
    shown = run_jq(jq_program(line), capsys.readouterr().out, "-r")

    for text in ("Caused by: java.net.SocketTimeoutException: Read timed out",  # the connector's trace
                 "Writing to the destination timed out", "Connection to orders-db refused",  # tasks' msg
                 "DataException: poison record", "at Foo.bar(Foo.java:1)"):  # a Kafka Connect task's trace
        assert text in shown, (text, shown)
    assert "\n\n\n" not in shown and shown.strip(), shown


# -- "why was it not restarted?": the daemon says what holds a wanted restart ---------------------


async def test_status_from_the_daemon_says_what_holds_a_failing_connectors_restart() -> None:
    # A FAILED connector in a blackout window (or behind an open breaker, or blocking alerts):
    # `watchdog status` said NEXT ALLOWED "now" and nothing else, and the only line that said
    # `window_closed` was the first decision's (the repeats are at debug), an hour back in the
    # log: nothing the operator could read said why it was not restarted. The daemon now says it.
    import httpx

    from watchdog.report import places_from_json, render_status, status_rows_from_json
    from watchdog.server import create_app

    from .support import CLUSTER, daemon_config, in_process, sim_scenario

    token = "runbook-token-7f3e9a1c"
    rules = [{"name": "heal", "trigger": {"type": "status", "confirm_polls": 1}, "select": {"include": ["*"]}}]
    scenario = sim_scenario([{"name": "orders-sink", "script": {"initial": "FAILED", "recover_after_restarts": 1}},
                             {"name": "billing-sink"}])
    # The fake clock starts at 2026-03-01T12:00Z: inside the blackout.
    config = daemon_config(rules, token=token,
                           windows={"blackout": ["2026-03-01T11:00:00+00:00-2026-03-01T15:00:00+00:00"]})
    w = in_process(scenario, config, fake_time=True)
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(
        w.daemon.metrics.registry, w.daemon.probes, w.daemon.api_context())), base_url="http://daemon")
    w.daemon.queue.start()
    for _ in range(3):
        await w.daemon.pollers[CLUSTER].poll()
        await w.daemon.queue.join()
        w.clock.advance(60)
    assert not [c for c in w.simulator.calls if c.endpoint == "restart"]

    document = (await http.get("/v1/connectors", headers={"Authorization": f"Bearer {token}"})).json()
    rows = {row["connector"]: row for row in document["connectors"]}
    assert rows["orders-sink"]["held"] == {"decision": "window_closed",
                                           "detail": "global windows closed; next open 2026-03-01T15:00:00+00:00",
                                           "at": "2026-03-01T12:02:00.000000+00:00"}  # the last poll's
    assert rows["billing-sink"]["held"] is None
    shown = render_status(status_rows_from_json(document), now=w.clock.wall(), places=places_from_json(document))
    # (3 polls a minute apart from 12:00, the clock then moved on a minute: 12:03.)
    orders = next(line for line in shown.splitlines() if line.strip().startswith("orders-sink"))
    assert "held: window_closed" in orders and " now " not in orders, shown
    assert (f"{CLUSTER}/orders-sink: window_closed (1m ago): global windows closed; next open "
            "2026-03-01T15:00:00+00:00") in shown

    # Once the window is gone (a reload), the next poll restarts it and nothing is held.
    w.daemon.engine.set_config(daemon_config(rules, token=token))
    await w.daemon.pollers[CLUSTER].poll()
    await w.daemon.queue.join()
    assert [c for c in w.simulator.calls if c.endpoint == "restart"]
    document = (await http.get("/v1/connectors", headers={"Authorization": f"Bearer {token}"})).json()
    assert all(row["held"] is None for row in document["connectors"])


def test_the_runbooks_logs_of_every_replica_are_read_whole() -> None:
    # `kubectl logs -l app.kubernetes.io/name=connect-watchdog --prefix | grep leadership_lost`
    # read 10 lines of each pod: with a label selector kubectl asks for `tailLines=10` unless
    # `--tail` says otherwise (`kubectl logs --help`; seen against an API server on loopback),
    # so WatchdogNoLeader's and WatchdogLeaderFlapping's greps found nothing of a busy leader.
    lines = [line for line in runbook_lines() if re.match(r"\s*kubectl .*\blogs\b.* (?:-l|--selector)[ =]", line)]
    assert len(lines) >= 2, lines
    for line in lines:
        assert re.search(r" --tail[ =]-1\b", line), line


def test_the_runbooks_logs_include_the_leaders_with_replicas() -> None:
    # With the ha overlay, `kubectl logs deploy/connect-watchdog` reads the one replica kubectl
    # picks (the oldest ready pod; seen against an API server on loopback), whichever leads: after
    # a handover, the standby's log, where no poll, restart or breaker is ever said. The runbook's
    # log queries read every replica's (a lone pod's the same), all but the last container's.
    lines = [line for line in runbook_lines() if re.match(r"\s*kubectl .*\blogs\b", line)]
    assert len(lines) >= 10, lines
    for line in lines:
        if "--previous" not in line:
            assert "logs -l app.kubernetes.io/name=connect-watchdog " in line and " --tail=-1" in line, line


async def test_every_refused_request_is_logged_with_the_error_it_was_answered() -> None:
    # The runbook (and the webhook section of docs/alerts-and-api.md) say a refused webhook or
    # request is logged as `http_request` with its 4xx `status` and its `error`: a 401 (a token
    # rotated on one side only) carried the answer's words in `note`, so `jq '{status, error}'`
    # showed `error: null` for the very refusal the token rotation makes.
    import structlog

    from .test_api import AUTH, TOKEN, world

    w, http = world()
    with structlog.testing.capture_logs() as logs:
        answers = [
            await http.post("/v1/alertmanager", json={}, headers={"Authorization": f"Bearer {TOKEN}-old"}),
            await http.post("/v1/alertmanager", json={"x": 1}, headers=AUTH),
            await http.post("/v1/restarts", content=b"{", headers={**AUTH, "Content-Type": "application/json"}),
        ]
    assert [a.status_code for a in answers] == [401, 422, 400]
    lines = [e for e in logs if e["event"] == "http_request" and e.get("status", 0) >= 400]
    assert [(e["status"], e.get("error")) for e in lines] == [(a.status_code, a.json()["error"]) for a in answers]


def test_every_event_the_runbooks_log_commands_look_for_is_one_the_daemon_logs() -> None:
    # A renamed event leaves a runbook filter that finds nothing, silently: the line it looked for
    # is simply never there.
    from .test_docs import _log_events

    events = set(_log_events())
    commands = [line for line in runbook_lines() if re.match(r"\s*kubectl .*\blogs\b", line) and "--previous" not in line]
    looked_for = set()
    for line in commands:
        looked_for |= set(re.findall(r'\.event\s*==\s*"(\w+)"', line))
        for pattern in re.findall(r"grep -E '([\w|]+)'", line):
            looked_for |= set(pattern.split("|"))
        for prefix in re.findall(r'\.event \| startswith\("(\w+)"\)', line):
            assert any(event.startswith(prefix) for event in events), prefix
    assert len(looked_for) >= 15, looked_for
    # One-word events (`decision`) are not among _log_events' names: look for their log calls.
    sources = "\n".join(path.read_text(encoding="utf-8") for path in (ROOT / "watchdog").rglob("*.py"))
    events |= {name for name in looked_for if re.search(rf'\blog\.\w+\(\s*"{name}"', sources)}
    assert not looked_for - events, sorted(looked_for - events)


def test_the_runbooks_missed_schedules_are_found_after_a_busy_start(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # WatchdogDown's "once it runs again" listed the scheduled restarts a long stop made miss with
    # jq over `watchdog history --json`: the fleet's newest 50 restarts. A start after an outage
    # restarts every connector still failing, so by the time the page was read the `missed`
    # records were further back than 50, and the filter printed nothing: "none missed".
    from watchdog.cli import main
    from watchdog.model import ConnectorKey, ConnectorState, HistoryRecord, Outcome, Trigger
    from watchdog.state import SqliteStateStore

    path = tmp_path / "state.db"
    start = datetime(2026, 3, 1, 9, 0, tzinfo=timezone.utc)
    with SqliteStateStore(path) as store:
        for n in range(3):  # ended at the start, first
            key = ConnectorKey("prod", f"nightly-{n}")
            store.finish(f"missed-{n}", key, ConnectorState(), HistoryRecord(
                at=start, key=key, job_id=f"missed-{n}", rule="nightly", trigger=Trigger.SCHEDULE,
                triggers=(Trigger.SCHEDULE,), outcome=Outcome.DROPPED,
                message="missed while no daemon ran: 6h00m from the previous daemon's last sign of life to this start"))
        for n in range(80):  # then the first polls' restarts of what the outage left failing
            key = ConnectorKey("prod", f"sink-{n}")
            store.finish(f"job-{n}", key, ConnectorState(attempts=1), HistoryRecord(
                at=start + timedelta(seconds=10 + n), key=key, job_id=f"job-{n}", rule="heal",
                trigger=Trigger.STATUS, triggers=(Trigger.STATUS,), outcome=Outcome.ACCEPTED, status_code=202,
                tries=1, attempt=1))

    text = RUNBOOK.read_text(encoding="utf-8")
    line = re.search(r"`(watchdog history [^`|]*\| jq [^`]*startswith\(\"missed\"\)[^`]*)`", text)
    assert line, "the runbook no longer lists the missed scheduled restarts"
    command = shlex.split(line.group(1).split("|")[0])
    capsys.readouterr()
    assert main([*command[1:], "--state", str(path)]) == 0
    shown = run_jq(jq_program(line.group(1)), capsys.readouterr().out, "-c")
    assert sorted(json.loads(item)["connector"] for item in shown.splitlines()) == [f"nightly-{n}" for n in range(3)]


async def test_the_runbooks_decision_lines_say_when_a_connector_in_backoff_may_go_again() -> None:
    # "Why a connector was not restarted" read the decision log with jq, keeping timestamp, rule,
    # decision, detail, health and state: a connector in its backoff (the most common answer)
    # showed `"decision": "backoff", "detail": null`, and when it may go again, and after how many
    # restarts, were in fields the filter left out (`next_allowed_at`, `attempts`).
    import io

    from watchdog.logs import configure_logging

    from .support import CLUSTER, daemon_config, in_process, sim_scenario

    line = next(line for line in runbook_lines() if '.event=="decision"' in line and "| jq " in line)
    rules = [{"name": "heal", "trigger": {"type": "status", "confirm_polls": 1}, "select": {"include": ["*"]}}]
    w = in_process(sim_scenario([{"name": "orders-sink", "script": {"initial": "FAILED", "recover_after_restarts": "never"}}]),
                   daemon_config(rules), fake_time=True)
    restarted = w.clock.wall()
    stream = io.StringIO()
    configure_logging("INFO", "json", stream)
    w.daemon.queue.start()
    for _ in range(2):  # restarted, then (still FAILED a minute later) held by its backoff
        await w.daemon.pollers[CLUSTER].poll()
        await w.daemon.queue.join()
        w.clock.advance(60)
    shown = [json.loads(item) for item in run_jq(jq_program(line), stream.getvalue(), "-c").splitlines()]
    assert [item["decision"] for item in shown] == ["restart", "backoff"], shown
    backoff = shown[-1]
    assert backoff["attempts"] == 1 and backoff["next_allowed_at"], backoff
    # Strimzi's first gap after the restart (at the first poll): 2 x base (1m), up to 10% jitter.
    allowed = datetime.fromisoformat(backoff["next_allowed_at"])
    assert timedelta(minutes=2) <= allowed - restarted <= timedelta(minutes=2.2) + timedelta(seconds=1), shown


def _daemon_reading_secret_files(tmp_path: Path, files: dict[str, str]) -> tuple[Any, Path]:
    """A daemon (not started) whose config and secrets directory, holding `files`, its file watcher
    follows, as in the pod; its cluster on the simulator. Returns it and the directory."""
    import httpx

    from watchdog.app import Daemon
    from watchdog.config import load_config
    from watchdog.simulator import Scenario, Simulator, create_app

    from .support import sim_scenario
    from .test_reload import HEAL, write

    secrets = tmp_path / "secrets"
    secrets.mkdir()
    for name, content in files.items():
        (secrets / name).write_text(content)
    path = tmp_path / "config.yaml"
    write(path, [HEAL])
    simulator = Simulator(Scenario.model_validate(sim_scenario([{"name": "orders"}])))
    daemon = Daemon(load_config(path, secrets_dir=secrets), transport=httpx.ASGITransport(app=create_app(simulator)),
                    reload_config=lambda: load_config(path, secrets_dir=secrets), config_path=path, secrets_dir=secrets)
    return daemon, secrets


async def test_the_runbooks_token_rotation_tells_a_token_the_watcher_applied_from_one_not_yet_there(
    tmp_path: Path, credentials_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    # Rotating the token, followed literally: put the new token in the Secret, "give the kubelet a
    # minute", then SIGHUP. By then the file watcher had applied it (`reason: "file changed"`,
    # `sections_changed: ["server.auth_token"]`, within reload.interval), so the SIGHUP said
    # `unchanged: true`, which the runbook read as "the file was not updated yet: wait, and send it
    # again": seen on a daemon on 127.0.0.1, rotated, SIGHUP 30 s later, and that loop never ends.
    import asyncio

    import structlog

    from watchdog.cli import main

    from .support import until

    daemon, secrets = _daemon_reading_secret_files(tmp_path, {"WATCHDOG_SERVER__AUTH_TOKEN": "old-token-0123456789abcdef\n"})
    token_file = secrets / "WATCHDOG_SERVER__AUTH_TOKEN"
    with structlog.testing.capture_logs() as logs:
        await daemon.start()
        try:
            url = f"http://127.0.0.1:{daemon.bound_port}"
            token_file.write_text("new-token-fedcba9876543210\n")  # the kubelet updates the mounted file
            await until(lambda: any(e["event"] == "config_reloaded" for e in logs), "the watcher's reload", timeout=10)
            assert await daemon.reload("SIGHUP") is True  # the runbook's SIGHUP, after the minute
            asked = await asyncio.to_thread(main, ["status", "--daemon", url, "--secrets-dir", str(secrets)])
        finally:
            await daemon.stop()
    reloads = [{key: e.get(key) for key in ("reason", "unchanged", "sections_changed")}
               for e in logs if e["event"] == "config_reloaded"]
    assert reloads == [{"reason": "file changed", "unchanged": False, "sections_changed": ["server.auth_token"]},
                       {"reason": "SIGHUP", "unchanged": True, "sections_changed": None}]
    assert asked == 0, capsys.readouterr().err  # the check the runbook gives: the file's token is taken

    section = RUNBOOK.read_text(encoding="utf-8").split("### Rotating the webhook and API token", 1)[1].split("\n### ", 1)[0]
    said = " ".join(section.split())
    assert "`unchanged: true` (`reason: \"SIGHUP\"`): the token was already applied" in said
    assert "watchdog status --daemon http://127.0.0.1:9464` prints the table once the daemon holds the new token" in said
    program = jq_program(next(line for line in runbook_lines() if "startswith(\"config_reload\")" in line).rstrip("`."))
    shown = run_jq(program, "\n".join(json.dumps({**e, "timestamp": "t"}) for e in logs
                                      if e["event"].startswith("config_reload")), "-c")
    assert [json.loads(line)["reason"] for line in shown.splitlines()] == ["file changed", "SIGHUP"]


def test_every_watchdog_command_line_of_the_runbook_parses_with_the_real_argparse() -> None:
    # The on-call types these as printed (adapted only for the pod): an option renamed or a
    # positional added leaves a step that answers `error: unrecognized arguments` at 3 a.m.
    # Placeholders in capitals (CLUSTER, URL) stand for one word; a bare `...` elides the rest.
    import contextlib
    import io

    from watchdog.cli.commands import build_parser

    text = RUNBOOK.read_text(encoding="utf-8").replace("\\\n", " ")
    lines = [line for block in re.findall(r"```sh\n(.*?)```", text, re.S) for line in block.splitlines()]
    # In prose; `watchdog restart` alone names the command. A span may wrap onto the paragraph's
    # next line (Markdown joins it with a space): read it joined, as the on-call types it.
    prose = re.sub(r"```.*?```", "", text, flags=re.S)
    spans = [" ".join(span.split()) for span in re.findall(r"`([^`]+)`", prose) if "\n\n" not in span]
    commands = set()
    for place in spans + lines:
        for found in re.finditer(r"(?:^|[\s(])watchdog ([a-z][a-z-]+\b[^|;)&#`]*)", place):
            words = shlex.split(found.group(1))
            if (words[0] in {"status", "history", "restart", "check-config", "run", "simulate", "demo"}
                    and "..." not in words and (len(words) > 1 or place in lines)):
                commands.add(tuple(words))
    assert len(commands) >= 12, sorted(commands)
    refused = []
    for words in sorted(commands):
        said = io.StringIO()
        try:
            with contextlib.redirect_stderr(said):
                build_parser().parse_args(list(words))
        except SystemExit:
            refused.append(f"watchdog {shlex.join(words)}: {said.getvalue().strip().splitlines()[-1:]}")
    assert not refused, "\n".join(refused)


def _api_server_of_one_secret(secret: dict[str, Any]) -> type:
    """A Kubernetes API server as far as `kubectl create --dry-run | apply` and `kubectl patch`
    of one Secret need it: discovery, the Secret, and a PATCH applied to `secret` in place (a null
    in `data` deletes that key, as the API server does for a strategic or a JSON merge patch)."""
    from .loopback import QuietHandler

    path = f"/api/v1/namespaces/connect-watchdog/secrets/{secret['metadata']['name']}"

    class Handler(QuietHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            route = self.path.split("?")[0]
            answers: dict[str, dict[str, Any]] = {
                "/api": {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []},
                "/apis": {"kind": "APIGroupList", "apiVersion": "v1", "groups": []},
                "/api/v1": {"kind": "APIResourceList", "groupVersion": "v1", "resources": [
                    {"name": "secrets", "singularName": "secret", "namespaced": True, "kind": "Secret",
                     "verbs": ["create", "get", "patch", "update"]}]},
                path: secret,
            }
            if route in answers:
                self.send_body(200, answers[route])
            else:
                self.send_body(404, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404})

        def do_PATCH(self) -> None:  # noqa: N802
            patch = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            for key, value in (patch.get("data") or {}).items():
                if value is None:
                    secret["data"].pop(key, None)
                else:
                    secret["data"][key] = value
            secret["metadata"].setdefault("annotations", {}).update((patch.get("metadata") or {}).get("annotations") or {})
            self.send_body(200, secret)

    return Handler


def test_the_runbooks_key_rotation_keeps_the_api_token_in_the_secret(tmp_path: Path) -> None:
    # "Replace the Secret" made a Secret of the two key files and `kubectl apply`-ed it. Apply
    # deletes every key its last apply set that the new manifest leaves out: after a token rotation
    # made the same way (all three files applied), kubectl 1.32 sent `"WATCHDOG_SERVER__AUTH_TOKEN":
    # null`, and the daemon restarted in step 3 ran without a token: webhook and restart API 403.
    import base64
    import os

    from .deploy.tools import kubectl
    from .loopback import serving

    def b64(text: str) -> str:
        return base64.b64encode(text.encode()).decode()

    old = {"WATCHDOG_CREDENTIALS__MAIN__API_KEY": b64("OLD-KEY"), "WATCHDOG_CREDENTIALS__MAIN__API_SECRET": b64("OLD-SECRET"),
           "WATCHDOG_SERVER__AUTH_TOKEN": b64("token-0123456789abcdef")}
    applied = {"apiVersion": "v1", "kind": "Secret", "data": old,  # what the token rotation's apply left
               "metadata": {"name": "connect-watchdog-credentials", "namespace": "connect-watchdog", "creationTimestamp": None}}
    secret = {"apiVersion": "v1", "kind": "Secret", "type": "Opaque", "data": dict(old), "metadata": {
        "name": "connect-watchdog-credentials", "namespace": "connect-watchdog", "resourceVersion": "7", "uid": "1",
        "annotations": {"kubectl.kubernetes.io/last-applied-configuration": json.dumps(applied) + "\n"}}}

    text = RUNBOOK.read_text(encoding="utf-8").split("### Rotating the API key", 1)[1]
    block = re.search(r"```sh\n(.*?)```", text, re.S).group(1)  # type: ignore[union-attr]
    script = "\n".join(line.strip() for line in block.replace("\\\n", " ").splitlines())
    assert "printf %s 'NEW-KEY'" in script and "shred -u" in script
    tools = tmp_path / "bin"
    tools.mkdir()
    for name, path in (("kubectl", kubectl()), ("jq", jq())):
        (tools / name).symlink_to(path)
    with serving(_api_server_of_one_secret(secret), threaded=True) as server:
        (tmp_path / "kubeconfig").write_text(json.dumps({
            "apiVersion": "v1", "kind": "Config", "current-context": "c",
            "clusters": [{"name": "loopback", "cluster": {"server": f"http://127.0.0.1:{server.server_port}"}}],
            "users": [{"name": "u", "user": {}}], "contexts": [{"name": "c", "context": {"cluster": "loopback", "user": "u"}}]}))
        env = {**os.environ, "KUBECONFIG": str(tmp_path / "kubeconfig"), "PATH": f"{tools}:{os.environ['PATH']}"}
        done = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", script], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert {key: base64.b64decode(value).decode() for key, value in secret["data"].items()} == {
        "WATCHDOG_CREDENTIALS__MAIN__API_KEY": "NEW-KEY", "WATCHDOG_CREDENTIALS__MAIN__API_SECRET": "NEW-SECRET",
        "WATCHDOG_SERVER__AUTH_TOKEN": "token-0123456789abcdef"}
    # The block's last line lists the Secret's files: all three, the token among them.
    assert json.loads(done.stdout.strip().splitlines()[-1]) == sorted(old)
    assert not list(tmp_path.glob("WATCHDOG_*")), "the key files are shredded"

    # What the runbook warns of, with the same kubectl: `apply` of the two key files over that
    # Secret deletes the token. (--validate=false: validation needs a schema this stand-in does
    # not serve; it changes nothing of the patch.)
    secret["data"], secret["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"] = (
        dict(old), json.dumps(applied) + "\n")
    apply = ("printf %s NEW-KEY > WATCHDOG_CREDENTIALS__MAIN__API_KEY; printf %s NEW-SECRET > WATCHDOG_CREDENTIALS__MAIN__API_SECRET; "
             "kubectl -n connect-watchdog create secret generic connect-watchdog-credentials --from-file=WATCHDOG_CREDENTIALS__MAIN__API_KEY "
             "--from-file=WATCHDOG_CREDENTIALS__MAIN__API_SECRET --dry-run=client -o yaml | kubectl apply --validate=false -f -")
    with serving(_api_server_of_one_secret(secret), threaded=True) as server:
        (tmp_path / "kubeconfig").write_text((tmp_path / "kubeconfig").read_text().replace(
            re.search(r"127\.0\.0\.1:\d+", (tmp_path / "kubeconfig").read_text()).group(0),  # type: ignore[union-attr]
            f"127.0.0.1:{server.server_port}"))
        done = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", apply], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "WATCHDOG_SERVER__AUTH_TOKEN" not in secret["data"]


def test_the_runbooks_no_leader_quotes_the_words_the_lease_lines_say_of_a_database_that_answers_nothing() -> None:
    # WatchdogNoLeader's grep shows `leader_lease_unreachable` and `leadership_lost`; the page told
    # to look for `no answer from the database within 7s`. With PostgreSQL frozen (SIGSTOP, on
    # 127.0.0.1) those lines said `within 2s`: the lease's calls wait `renew_interval`, the state
    # store's 7 s. Both bounds, from the code and the default settings, are the ones quoted.
    from watchdog.config import Config
    from watchdog.state.postgres_connection import ANSWER_TIMEOUT

    section = RUNBOOK.read_text(encoding="utf-8").split("### WatchdogNoLeader", 1)[1].split("\n### ", 1)[0]
    said = " ".join(section.split())
    renew = Config().state.leader_election.renew_interval
    assert f"`no answer from the database within {round(renew, 2):g}s` (the lease's lines above" in said
    assert f"the state store's say `within {ANSWER_TIMEOUT:g}s`" in said


async def test_the_runbooks_key_rotation_says_what_the_daemon_logs_when_it_takes_the_new_key_files(
    tmp_path: Path,
) -> None:
    # Drilled on 127.0.0.1: the key file of a running daemon's secrets directory rewritten (step 2
    # of the rotation, the kubelet updating the mounted Secret). Before, the daemon logged
    # `config_reload_refused`, `sections: ["credentials"]`, and its polls went on with the old pair
    # until a restart (the token of the same update dropped with it: tests/test_credential_rotation.py).
    # Now it takes the new pair at that reload, and says so by the credential's name; the runbook
    # names that line, in step 3 and under WatchdogApiKeyRejected, as the sign the daemon sends it.
    import structlog

    from .support import TEST_API_KEY, TEST_API_SECRET, until

    daemon, secrets = _daemon_reading_secret_files(tmp_path, {"WATCHDOG_CREDENTIALS__MAIN__API_KEY": TEST_API_KEY,
                                                              "WATCHDOG_CREDENTIALS__MAIN__API_SECRET": TEST_API_SECRET})
    with structlog.testing.capture_logs() as logs:
        await daemon.start(serve_http=False)
        try:
            (secrets / "WATCHDOG_CREDENTIALS__MAIN__API_KEY").write_text("NEW-KEY")
            await until(lambda: any(e["event"].startswith("config_reload") for e in logs), "the watcher's reload", timeout=10)
        finally:
            await daemon.stop()
    (line,) = [e for e in logs if e["event"].startswith("config_reload")]
    assert (line["event"], line["credentials_rotated"], line["reason"]) == ("config_reloaded", ["main"], "file changed")
    assert daemon.config.credentials["main"].api_key.get_secret_value() == "NEW-KEY"  # type: ignore[union-attr]
    assert "NEW-KEY" not in str(logs)

    text = " ".join(RUNBOOK.read_text(encoding="utf-8").split())
    rotation = text.split("### Rotating the API key", 1)[1].split(" ### ", 1)[0]
    rejected = text.split("### WatchdogApiKeyRejected", 1)[1].split(" ### ", 1)[0]
    for section in (rotation, rejected):
        assert '`config_reloaded` with `credentials_rotated: ["main"]`' in section.replace(" line with", " with")
