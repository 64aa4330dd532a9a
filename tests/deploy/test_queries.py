"""Every PromQL expression we ship, run by a real Prometheus against a real daemon.

The stack, all on 127.0.0.1 at free ports, in a temporary directory, bounded in time:
`watchdog simulate` (the built-in demo scenario) <- `watchdog run` with the compose playground's
config and secrets <- Debian's `prometheus` with the playground's prometheus.yml (only the target
address, a 1s scrape/evaluation interval, the rule file's absolute path and no Alertmanager
differ) and the alert rules.

Once Prometheus holds a few scrapes and the daemon has restarted something, every alert rule must
evaluate without error, every dashboard query must succeed and return data (a panel that stays
empty against a working daemon is a broken panel), every metric named must exist, and every
PromQL snippet of the runbook must run.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from .live import Budget, free_port, start, start_simulator, stop_process, wait_until
from .tools import (
    DAEMON_CONFIG,
    DAEMON_SECRETS,
    DASHBOARD,
    DEPLOY,
    PROMETHEUS_CONFIG,
    RULES,
    RUNBOOK,
    prometheus,
    promtool,
)

pytestmark = pytest.mark.process

SCRAPE_SECONDS = 1
# The module fixture's waits together (they counted up to 135 s, past the 120 s test timeout);
# the first test then has the rest (its own waits are at most 20 s).
SETUP_SECONDS = 90
# Grafana's $__rate_interval is at least four scrape intervals.
RATE_INTERVAL = f"{4 * SCRAPE_SECONDS}s"
# Alerts that must stay silent against a healthy daemon talking to a healthy (simulated) cloud.
SILENT_WHEN_HEALTHY = {"WatchdogDown", "WatchdogReplicaDown", "WatchdogNotPolling", "WatchdogPollsFailing", "WatchdogApiKeyRejected"}


@dataclass
class Stack:
    prometheus: str  # base URL of the Prometheus HTTP API
    daemon: str  # base URL of the daemon
    simulator: str
    started: float  # unix time the daemon started
    logs: Path

    def query(self, expr: str, **params: str) -> dict[str, Any]:
        response = httpx.get(f"{self.prometheus}/api/v1/query", params={"query": expr, **params}, timeout=10)
        return _data(response, expr)

    def query_range(self, expr: str) -> dict[str, Any]:
        end = time.time()
        response = httpx.get(f"{self.prometheus}/api/v1/query_range", timeout=10, params={
            "query": expr, "start": f"{self.started:.3f}", "end": f"{end:.3f}", "step": f"{SCRAPE_SECONDS}s"})
        return _data(response, expr)


def _data(response: httpx.Response, expr: str) -> Any:
    body = response.json()
    assert response.status_code == 200 and body["status"] == "success", (
        f"Prometheus refused {expr!r}: {body.get('errorType')}: {body.get('error')}"
    )
    return body["data"]


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    binary = prometheus()
    # Its waits share one budget, inside the first test's 120 s with room for that test's own.
    setup = Budget(SETUP_SECONDS, "the stack's setup")
    workdir = Path(tempfile.mkdtemp(prefix="watchdog-queries-"))
    procs = []
    try:
        simulator, simulator_url = start_simulator(workdir / "simulator.log", timeout=setup.left(20))
        procs.append(simulator)

        port = free_port()
        daemon_url = f"http://127.0.0.1:{port}"
        env = {key: value for key, value in os.environ.items() if not key.startswith("WATCHDOG_")}
        env.update({"WATCHDOG_API__BASE_URL": simulator_url, "WATCHDOG_SERVER__HOST": "127.0.0.1",
                    "WATCHDOG_SERVER__PORT": str(port), "WATCHDOG_STATE__PATH": str(workdir / "state.db")})
        started = time.time()
        daemon = start([sys.executable, "-m", "watchdog", "run", "--config", str(DAEMON_CONFIG),
                        "--secrets-dir", str(DAEMON_SECRETS)], workdir / "daemon.log", env=env)
        procs.append(daemon)
        setup.wait_until(lambda: httpx.get(f"{daemon_url}/readyz", timeout=1).status_code == 200 or None, 30,
                   "the daemon to be ready", log=workdir / "daemon.log", alive=daemon)

        # The playground's Prometheus config, pointed at this daemon.
        config = yaml.safe_load(PROMETHEUS_CONFIG.read_text(encoding="utf-8"))
        config["global"].update(scrape_interval=f"{SCRAPE_SECONDS}s", evaluation_interval=f"{SCRAPE_SECONDS}s")
        config["rule_files"] = [str((PROMETHEUS_CONFIG.parent / name).resolve()) for name in config["rule_files"]]
        config.pop("alerting")
        (job,) = config["scrape_configs"]
        job["static_configs"] = [{"targets": [f"127.0.0.1:{port}"]}]
        (workdir / "prometheus.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
        prometheus_port = free_port()
        prometheus_url = f"http://127.0.0.1:{prometheus_port}"
        server = start([binary, f"--config.file={workdir / 'prometheus.yml'}",
                        f"--storage.tsdb.path={workdir / 'data'}",
                        f"--web.listen-address=127.0.0.1:{prometheus_port}", "--log.level=warn"],
                       workdir / "prometheus.log")
        procs.append(server)
        setup.wait_until(lambda: httpx.get(f"{prometheus_url}/-/ready", timeout=1).status_code == 200 or None, 30,
                   "Prometheus to be ready", log=workdir / "prometheus.log", alive=server)
        stack = Stack(prometheus_url, daemon_url, simulator_url, started, workdir)

        def has(expr: str) -> bool | None:
            return True if stack.query(expr)["result"] else None

        # Enough scrapes for rate() and increase() over $__rate_interval, and restarts done.
        setup.wait_until(lambda: has('count_over_time(up{job="connect-watchdog"}[1m]) >= 6'), 30,
                   "six scrapes of the daemon", log=workdir / "prometheus.log", alive=server)
        setup.wait_until(lambda: has('sum(watchdog_restarts_total{outcome="accepted"}) > 0'), 45,
                   "an accepted restart in Prometheus", log=workdir / "daemon.log", alive=daemon)
        yield stack
    finally:
        for proc in reversed(procs):
            stop_process(proc)
        for log in sorted(workdir.glob("*.log")):
            sys.stderr.write(f"--- {log.name} (last lines)\n" + "\n".join(log.read_text(errors="replace").splitlines()[-5:]) + "\n")
        shutil.rmtree(workdir, ignore_errors=True)


def alert_rules() -> list[dict[str, Any]]:
    return [rule for group in yaml.safe_load(RULES.read_text(encoding="utf-8"))["groups"] for rule in group["rules"]]


def dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text(encoding="utf-8"))


def panels() -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for panel in dashboard()["panels"]:
        found += panel.get("panels", []) if panel["type"] == "row" else [panel]
    return found


def _substitute(expr: str, values: dict[str, str]) -> str:
    return re.sub(r"\$(\w+)|\$\{(\w+)\}", lambda m: values[m.group(1) or m.group(2)], expr)


def _label_values(stack: Stack, definition: str, values: dict[str, str]) -> list[str]:
    """Grafana's label_values(selector, label) as Prometheus' label values API answers it."""
    match = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", _substitute(definition, values))
    assert match, f"variable query {definition!r}: only label_values(selector, label) is used"
    response = httpx.get(f"{stack.prometheus}/api/v1/label/{match.group(2)}/values",
                         params={"match[]": match.group(1)}, timeout=10)
    values_found: list[str] = _data(response, definition)
    return values_found


def variable_values(stack: Stack) -> dict[str, str]:
    """What Grafana puts in for each variable: the first value found, or the All value."""
    values = {"__rate_interval": RATE_INTERVAL}
    for variable in dashboard()["templating"]["list"]:
        if variable["type"] == "datasource":
            continue
        found = _label_values(stack, variable["query"]["query"], values)
        assert found, f"variable ${variable['name']} ({variable['query']['query']}) finds no value"
        values[variable["name"]] = variable["allValue"] if variable.get("includeAll") else found[0]
    return values


def test_prometheus_loads_the_alert_rules_and_evaluates_each_without_error(stack: Stack) -> None:
    names = {rule["alert"] for rule in alert_rules()}

    def evaluated() -> list[dict[str, Any]] | None:
        groups = _data(httpx.get(f"{stack.prometheus}/api/v1/rules", timeout=10), "rules")["groups"]
        rules = [rule for group in groups for rule in group["rules"]]
        done = all(not rule["lastEvaluation"].startswith("0001") for rule in rules)
        return rules if done and {rule["name"] for rule in rules} == names else None

    rules = wait_until(evaluated, 20, "every alert rule evaluated once")
    assert {rule["name"]: (rule["health"], rule.get("lastError", "")) for rule in rules} == {
        name: ("ok", "") for name in names
    }


@pytest.mark.parametrize("rule", alert_rules(), ids=lambda rule: rule["alert"])
def test_every_alert_expression_runs_against_the_live_daemon(stack: Stack, rule: dict[str, Any]) -> None:
    result = stack.query(rule["expr"])["result"]
    if rule["alert"] in SILENT_WHEN_HEALTHY:
        assert result == [], f"{rule['alert']} would fire against a healthy daemon: {result}"


def test_every_metric_named_in_rules_and_dashboard_exists(stack: Stack) -> None:
    exprs = [rule["expr"] for rule in alert_rules()]
    exprs += [target["expr"] for panel in panels() for target in panel.get("targets", [])]
    exprs += [variable["query"]["query"] for variable in dashboard()["templating"]["list"] if "query" in variable
              and isinstance(variable["query"], dict)]
    names = sorted({name for expr in exprs for name in re.findall(r"\b(watchdog_[a-z_]+|up)\b(?!\s*\()", expr)})
    missing = [name for name in names if not stack.query(f'count({{__name__="{name}", job="connect-watchdog"}})')["result"]]
    assert missing == [], f"metrics named but not exported by the daemon: {missing}"


def test_every_dashboard_panel_returns_data(stack: Stack) -> None:
    values = variable_values(stack)
    empty = []
    for panel in panels():
        targets = panel.get("targets", [])
        assert targets, f"panel {panel['title']!r} has no query"
        for target in targets:
            assert target["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
            expr = _substitute(target["expr"], values)
            data = stack.query(expr) if target.get("instant") else stack.query_range(expr)
            if not data["result"]:
                empty.append(f"{panel['title']} [{target['refId']}]: {expr}")
    assert empty == [], "panels with no data against a running daemon:\n" + "\n".join(empty)


def test_the_dashboard_covers_what_an_operator_needs() -> None:
    exprs = " ".join(target["expr"] for panel in panels() for target in panel.get("targets", []))
    # Counted per cluster: a glob-found connector's own series start at 1, its first restart unseen.
    for needed in ("sum by (outcome) (increase(watchdog_cluster_restarts_total",
                   "sum by (trigger) (increase(watchdog_cluster_restarts_total",
                   "watchdog_connectors{", "watchdog_connector_gave_up{", "watchdog_ratelimit_remaining{",
                   "watchdog_ratelimit_wait_seconds_total{", "watchdog_queue_depth{", "watchdog_api_request_duration_seconds_bucket{",
                   "time() - watchdog_last_successful_poll_timestamp_seconds{",
                   # What the limiter does now and what holds a key (the heart of the product), the
                   # triggers besides polls, and the daemon's own health: none was on the dashboard,
                   # so an operator could not see a key paused by a 429 nor which replica led.
                   "watchdog_ratelimit_pacing_rate{", "watchdog_ratelimit_paused_seconds{",
                   "watchdog_webhook_alerts_total{", "watchdog_stall_checks_total{", "watchdog_blocking_checks_total{",
                   "watchdog_leader{", "watchdog_state_store_writable{", "watchdog_state_store_errors_total{",
                   "watchdog_config_reloads_total{", "watchdog_discovery_clusters{"):
        assert needed in exprs, needed
    cluster = next(v for v in dashboard()["templating"]["list"] if v["name"] == "cluster")
    assert cluster["includeAll"] and cluster["multi"]
    # watchdog_discovery_clusters counts clusters by state: it has no cluster label to filter on.
    clustered = [t["expr"] for p in panels() for t in p.get("targets", [])
                 if "cluster" in t["expr"].replace("watchdog_discovery_clusters", "")]
    assert all('cluster=~"$cluster"' in expr for expr in clustered), "panels by cluster follow the variable"
    ids = [panel["id"] for panel in dashboard()["panels"]]
    assert len(ids) == len(set(ids)), "panel ids are unique"


def test_the_runbooks_promql_runs(stack: Stack) -> None:
    blocks = re.findall(r"```promql\n(.*?)```", RUNBOOK.read_text(encoding="utf-8"), re.S)
    assert len(blocks) >= len(alert_rules()), "every alert's section shows how to confirm it in PromQL"
    for block in blocks:
        for expr in (line for line in block.strip().splitlines() if line.strip() and not line.startswith("#")):
            stack.query(expr)


def test_the_playground_simulators_healthcheck_path_answers(stack: Stack) -> None:
    compose = yaml.safe_load((DEPLOY / "compose" / "compose.yaml").read_text(encoding="utf-8"))
    test = " ".join(compose["services"]["simulator"]["healthcheck"]["test"])
    path = re.search(r"http://127\.0\.0\.1:\d+(/\S+?)'", test)
    assert path, test
    assert httpx.get(stack.simulator + path.group(1), timeout=5).status_code == 200


# Two replicas on PostgreSQL: `a` led, gave up on a connector, opened the cluster's breaker and
# then lost the lead; `b` leads and sees every connector healthy. A replica that stops leading
# keeps its gauges as they were (measured: watchdog_connector_gave_up 1 and watchdog_breaker_open
# 1 on the standby long after the leader saw the connector healthy again).
_STANDBY_SERIES = {
    'watchdog_leader{job="connect-watchdog", instance="a:9464"}': "0x10",
    'watchdog_leader{job="connect-watchdog", instance="b:9464"}': "1x10",
    'watchdog_connectors{job="connect-watchdog", instance="a:9464", cluster="prod", health="failed"}': "1x10",
    'watchdog_connectors{job="connect-watchdog", instance="b:9464", cluster="prod", health="failed"}': "0x10",
    'watchdog_connector_gave_up{job="connect-watchdog", instance="a:9464", cluster="prod", connector="x"}': "1x10",
    'watchdog_connector_gave_up{job="connect-watchdog", instance="b:9464", cluster="prod", connector="x"}': "0x10",
    'watchdog_breaker_open{job="connect-watchdog", instance="a:9464", scope="prod"}': "1x10",
    'watchdog_breaker_open{job="connect-watchdog", instance="b:9464", scope="prod"}': "0x10",
    # a: its last poll at t=0, when it still led; b polls every minute.
    'watchdog_last_successful_poll_timestamp_seconds{job="connect-watchdog", instance="a:9464", cluster="prod"}': "0x10",
    'watchdog_last_successful_poll_timestamp_seconds{job="connect-watchdog", instance="b:9464", cluster="prod"}': "0+60x10",
}


def test_the_dashboard_shows_the_leaders_view_not_a_standbys_left_over_gauges(tmp_path: Path) -> None:
    expected = {"Failed connectors": 0, "Gave up": 0, "Breakers open": 0, "Oldest successful poll": 0}
    values = {"job": "connect-watchdog", "cluster": ".*", "__rate_interval": RATE_INTERVAL}
    tests = [{"expr": _substitute(target["expr"], values), "eval_time": "10m",
              "exp_samples": [{"labels": "{}", "value": expected[panel["title"]]}]}
             for panel in panels() if panel["title"] in expected for target in panel["targets"]]
    assert len(tests) == len(expected)
    table = next(panel for panel in panels() if panel["title"] == "Connector restart state")
    gave_up = next(t["expr"] for t in table["targets"] if "watchdog_connector_gave_up" in t["expr"])
    tests.append({"expr": _substitute(gave_up, values), "eval_time": "10m",
                  "exp_samples": [{"labels": '{cluster="prod", connector="x"}', "value": 0}]})
    _promtool_expr_tests(tmp_path, "1m", _STANDBY_SERIES, tests)


def _promtool_expr_tests(tmp_path: Path, interval: str, series: dict[str, str], tests: list[dict[str, Any]]) -> None:
    """Evaluate expressions over the input series with promtool, as Prometheus would."""
    spec = {"rule_files": [], "evaluation_interval": interval, "tests": [{
        "interval": interval, "promql_expr_test": tests,
        "input_series": [{"series": name, "values": v} for name, v in series.items()]}]}
    path = tmp_path / "dashboard.test.yaml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    done = subprocess.run([promtool(), "test", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


# A day of accepted restarts, sampled hourly as a daemon exports them. `named` is selected by
# name, so its series has been there at 0 since the day before; `glob-once` and `glob-twice` are
# found by a glob, so each series begins at its first restart, already at 1 (docs/metrics.md,
# watchdog_cluster_restarts_total): measured in an incident played against the simulator, 52 of
# 179 restarted connectors showed a restart fewer in the panel than the API had accepted.
_RESTART_SERIES = {
    'watchdog_restarts_total{job="connect-watchdog", instance="w:9464", cluster="prod", connector="named", '
    'rule="heal", trigger="status", outcome="accepted"}': "0x36 1 2 3x10",
    'watchdog_restarts_total{job="connect-watchdog", instance="w:9464", cluster="prod", connector="glob-twice", '
    'rule="heal", trigger="status", outcome="accepted"}': "_x40 1 2x7",
    'watchdog_restarts_total{job="connect-watchdog", instance="w:9464", cluster="prod", connector="glob-once", '
    'rule="heal", trigger="status", outcome="accepted"}': "_x45 1x3",
}


def test_the_most_restarted_panel_counts_each_connectors_first_restart(tmp_path: Path) -> None:
    panel = next(panel for panel in panels() if panel["title"] == "Most restarted connectors (24h)")
    values = {"job": "connect-watchdog", "cluster": ".*", "__rate_interval": RATE_INTERVAL}
    expected = {"named": 3, "glob-twice": 2, "glob-once": 1}
    samples = [{"labels": f'{{cluster="prod", connector="{name}"}}', "value": count} for name, count in expected.items()]
    _promtool_expr_tests(tmp_path, "1h", _RESTART_SERIES,
                         [{"expr": _substitute(panel["targets"][0]["expr"], values), "eval_time": "48h", "exp_samples": samples}])


def test_the_most_restarted_panel_and_the_runbooks_query_count_a_replaced_pods_restarts(tmp_path: Path) -> None:
    # A rollout at 8h30: pod a restarted orders-sink 8 times (its series begins at 1 and ends with
    # the pod), pod b 8 times more. `... or x` counted pod a's ended series nothing (it is in no
    # instant vector): the panel and the runbook's query showed 8 restarts for 16 in the day.
    panel = next(panel for panel in panels() if panel["title"] == "Most restarted connectors (24h)")
    values = {"job": "connect-watchdog", "cluster": ".*", "__rate_interval": RATE_INTERVAL}
    runbook = (Path(__file__).parents[2] / "docs" / "runbook.md").read_text(encoding="utf-8")
    section = runbook.split("### WatchdogConnectorRestartedTooOften", 1)[1]
    query = re.search(r"```promql\n(.*?)\n```", section, re.S).group(1)  # type: ignore[union-attr]
    labels = 'job="connect-watchdog", cluster="prod", connector="orders-sink", rule="heal", trigger="status", outcome="accepted"'
    series = {f'watchdog_restarts_total{{{labels}, instance="10.0.0.5:9464", pod="a"}}': "1x59 2x59 3x59 4x59 5x59 6x59 7x59 8x30",
              f'watchdog_restarts_total{{{labels}, instance="10.0.0.6:9464", pod="b"}}': "_x540 1x59 2x59 3x59 4x59 5x59 6x59 7x59 8x120"}
    sample = [{"labels": '{cluster="prod", connector="orders-sink"}', "value": 16}]
    _promtool_expr_tests(tmp_path, "1m", series, [
        {"expr": _substitute(panel["targets"][0]["expr"], values), "eval_time": "17h", "exp_samples": sample},
        {"expr": query, "eval_time": "17h", "exp_samples": sample}])
