"""The stalled trigger against the simulator's Metrics API, on a fake clock: a source that stops
sending after moving and a sink that stops receiving while its lag grows are restarted once their
stall shows in two windows; an idle sink, an idle source and a busy source are left alone."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog
from pydantic import SecretStr

from watchdog.app import Daemon
from watchdog.cli import main
from watchdog.config import Config, Credential, build_config
from watchdog.model import ConnectorKey, Trigger
from watchdog.simulator import Scenario, Simulator, create_app
from watchdog.stall import Judgement, StallVerdict

from .conftest import TEST_API_KEY, TEST_API_SECRET
from .support import CLUSTER, CLUSTER_ID, ENVIRONMENT, Clock, World, daemon_config, sim_scenario

STALL_AT = 600  # after the first check (three windows and the delay in): it sees the stall coming
DELAY = 300  # the shortest `delay`: the Metrics API's data is typically available within 5 minutes
GRACE = 120
STALLED_RULE = {
    "name": "stalled", "select": {"include": ["*"]}, "backoff": {"base": 600, "cap": 3600, "jitter": 0},
    "trigger": {"type": "stalled", "interval": 60, "grace": GRACE, "window": 300, "delay": DELAY},
}


CONNECTORS = [
    {"name": "orders-source", "records_per_second": 10, "script": {"stall_at": STALL_AT}},
    {"name": "billing-sink", "type": "sink", "records_per_second": 5, "script": {"stall_at": STALL_AT}},
    {"name": "idle-sink", "type": "sink", "script": {"idle_at": 0}},
    {"name": "steady-source", "records_per_second": 10},
    # The simulator leaves 0-valued points out, as the real API does: billing-sink's stall has no
    # received_records point of its own, and steady-sink's points in the later window show those
    # minutes in (stall.received_missing); alone, the stall would read as late data.
    {"name": "steady-sink", "type": "sink", "records_per_second": 5},
]


class Backlog(httpx.AsyncBaseTransport):
    """The Metrics API with an ingestion backlog: until `until` (wall time), no minute from `since`
    on has been ingested, so its answers hold no point from then (real answers, filtered)."""

    def __init__(self, inner: httpx.AsyncBaseTransport, clock: Clock, since: datetime, until: datetime) -> None:
        self._inner, self._clock, self._since, self._until = inner, clock, since, until

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self._inner.handle_async_request(request)
        if request.url.path != "/v2/metrics/cloud/query" or self._clock.wall() >= self._until or response.status_code != 200:
            return response
        await response.aread()
        answer = response.json()
        answer["data"] = [p for p in answer["data"] if datetime.fromisoformat(p["timestamp"]) < self._since]
        return httpx.Response(200, json=answer, headers=response.headers)


def world(
    connectors: list[dict[str, Any]] = CONNECTORS, backlog: tuple[float, float] | None = None,
    rule: dict[str, Any] = STALLED_RULE, **metrics_api: Any,
) -> World:
    """`backlog`: (from, until) in seconds from the start, an ingestion backlog at the Metrics API."""
    clock = Clock()
    scenario = sim_scenario(connectors, restart={"delay_seconds": 5}, metrics_api={"rate_limit": None, **metrics_api})
    simulator = Simulator(Scenario.model_validate(scenario), clock=clock.monotonic, epoch=clock.epoch.timestamp())
    config = daemon_config([rule], metrics_api={"base_url": "http://sim", "max_requests_per_second": 10000},
                           rate_limit={"max_requests_per_second": 10000})
    return _started(simulator, config, clock, backlog)


def _started(simulator: Simulator, config: Config, clock: Clock, backlog: tuple[float, float] | None) -> World:
    """The daemon of `config` against `simulator` on `clock`, its queue and Metrics API lane
    started; `backlog`: (from, until) in seconds from now, an ingestion backlog at the Metrics API."""
    transport: httpx.AsyncBaseTransport = httpx.ASGITransport(app=create_app(simulator))
    if backlog is not None:
        since, until = (clock.wall() + timedelta(seconds=t) for t in backlog)
        transport = Backlog(transport, clock, since, until)
    daemon = Daemon(config, transport=transport, now=clock.wall, rng=lambda: 0.5)
    daemon.queue.start()
    daemon._ensure_metrics_lane()
    return World(simulator, daemon, clock)


async def run(w: World, seconds: int) -> None:
    for _ in range(seconds // 60):
        await w.daemon.pollers[CLUSTER].poll()
        await w.daemon.run_stall_check("stalled")
        await w.daemon.queue.join()
        w.clock.advance(60)


def restarts(w: World, connector: str) -> list[float]:
    return [c.t for c in w.simulator.restarts(connector=connector)]


async def test_stalled_connectors_are_restarted_once_and_idle_ones_left_alone() -> None:
    w = world()
    with structlog.testing.capture_logs() as logs:
        await run(w, 1800)
    # Two 5-minute windows ending 5 minutes ago must both be quiet: not before STALL_AT + 600 + DELAY s.
    for name in ("orders-source", "billing-sink"):
        times = restarts(w, name)
        assert len(times) == 1, f"{name}: {times}"
        assert STALL_AT + 600 + DELAY <= times[0] <= STALL_AT + 600 + DELAY + 120
    assert restarts(w, "idle-sink") == [] and restarts(w, "steady-source") == [] and restarts(w, "steady-sink") == []
    assert w.sample("watchdog_stall_checks_total", cluster=CLUSTER, verdict="idle") > 0
    assert w.sample("watchdog_stall_checks_total", cluster=CLUSTER, verdict="stalling") > 0
    assert w.sample("watchdog_restarts_total", cluster=CLUSTER, connector="orders-source", rule="stalled",
                    trigger="stalled", outcome="accepted") == 1
    decided = [e for e in logs if e["event"] == "decision" and e.get("trigger") == "stalled" and e["decision"] == "restart"]
    assert {e["connector"] for e in decided} == {"orders-source", "billing-sink"}
    assert any(e["detail"].startswith("source sent ") and ", then no data point in " in e["detail"] for e in decided)
    assert any("while its lag stayed up to" in e["detail"] for e in decided)
    assert not w.simulator.connector(CLUSTER_ID, "orders-source").stalled, "the restart ended the stall"


async def test_a_restarted_connector_is_not_judged_again_on_windows_from_before_its_restart() -> None:
    # Backoff gaps of 1 and 3 min, shorter than the windows (15 min in all, 5 min late): after the
    # restart, the next checks read windows that still show the stall the restart answered.
    quick = {**STALLED_RULE, "backoff": {"base": 30, "cap": 60, "jitter": 0}}
    w = world([CONNECTORS[0], CONNECTORS[3]], rule=quick)
    await run(w, 2400)
    times = restarts(w, "orders-source")
    assert len(times) == 1, f"restarted again on the windows the first restart answered: {times}"
    assert not w.simulator.connector(CLUSTER_ID, "orders-source").stalled


async def test_a_rule_in_dry_run_promises_the_one_restart_the_live_rule_makes_for_a_stall() -> None:
    # The same stall on trial: its dry-run restart changed nothing in the state file, so the next
    # checks judged the source again on the windows that restart answered, and each the backoff
    # allowed ended dry_run too (3 where the live rule, above, makes 1; with the default backoff,
    # 2 at a 5-minute interval and 10-minute window).
    trial = {**STALLED_RULE, "dry_run": True, "backoff": {"base": 30, "cap": 60, "jitter": 0}}
    w = world([CONNECTORS[0], CONNECTORS[3]], rule=trial)
    with structlog.testing.capture_logs() as logs:
        await run(w, 2400)
    assert restarts(w, "orders-source") == [], "nothing sent"
    decided = [e for e in logs if e["event"] == "decision" and e.get("trigger") == "stalled" and e["connector"] == "orders-source"]
    assert [e["decision"] for e in decided] == ["restart"], decided
    assert w.sample("watchdog_restarts_total", cluster=CLUSTER, connector="orders-source", rule="stalled",
                    trigger="stalled", outcome="dry_run") == 1


@pytest.mark.parametrize("zero_points", ["omit", "emit"])
async def test_an_idle_source_is_never_restarted(zero_points: str) -> None:
    # RUNNING with nothing upstream: the Metrics API shows no activity (no points, or points of
    # 0), just as it would for a stalled source. Never seen moving, it cannot be said to stop.
    w = world([{"name": "quiet-jdbc-source", "script": {"idle_at": 0}}], zero_points=zero_points)
    with structlog.testing.capture_logs() as logs:
        await run(w, 7200)
    assert restarts(w, "quiet-jdbc-source") == []
    assert w.sample("watchdog_stall_checks_total", cluster=CLUSTER, verdict="idle") > 50
    assert w.sample("watchdog_stall_checks_total", cluster=CLUSTER, verdict="stalled") == 0
    checked = [e for e in logs if e["event"] == "stall_check" and e["connector"] == "quiet-jdbc-source"]
    assert checked and all(e["verdict"] == "idle" for e in checked)
    assert "idle, or its data is not in the Metrics API; not restarted" in checked[0]["detail"]


async def test_late_metrics_data_does_not_restart_every_busy_source() -> None:
    # A 25-minute ingestion backlog from t = 1800 s: every busy source's newest minutes go
    # missing at once, which reads as each of them having stopped after moving.
    sources = [{"name": f"busy-source-{n}", "records_per_second": 10} for n in range(3)]
    w = world(sources, backlog=(1800, 1800 + 1500))
    with structlog.testing.capture_logs() as logs:
        await run(w, 4200)
    assert w.simulator.restarts() == [], "busy sources were restarted because the Metrics API was late"
    # No point in `later` for any of them while they moved in `before`: t = 2400 to 3240 s, to the
    # backlog's end. From 3000 s a check's own three windows hold no point at all; as the late
    # checks did not count as judged, it reads back to the last windows judged with data (catch_up)
    # and sees the sources moving there: still late (3 x 15), not 5 checks of "idle" (3 x 10 before).
    assert w.sample("watchdog_stall_unjudged_total", cluster=CLUSTER, reason="data_late") == 3 * 15
    assert w.sample("watchdog_stall_checks_total", cluster=CLUSTER, verdict="stalled") == 0
    warned = [e for e in logs if e["event"] == "stall_unjudged" and e["log_level"] == "warning"]
    assert sorted((e["connector"], e["reason"]) for e in warned) == [(s["name"], "data_late") for s in sources], "logged once"
    # Once the data is in, they are judged (and seen moving) again.
    last = [e for e in logs if e["event"] == "stall_check" and e["connector"] == "busy-source-0"][-1]
    assert last["verdict"] == "moving"


def fleet(clusters: dict[str, list[dict[str, Any]]], backlog: tuple[float, float] | None = None,
          **metrics_api: Any) -> World:
    """Several clusters (name -> connectors), each named after its lkc- id, one stalled rule over all;
    `metrics_api`: settings of the daemon's metrics_api section besides the defaults here."""
    clock = Clock()
    scenario = {"api_keys": [{"id": TEST_API_KEY, "secret": TEST_API_SECRET}],
                "environments": [{"id": ENVIRONMENT, "clusters": [{"id": f"lkc-{name}", "connectors": connectors}
                                                                  for name, connectors in clusters.items()]}],
                "restart": {"delay_seconds": 5}, "metrics_api": {"rate_limit": None}}
    simulator = Simulator(Scenario.model_validate(scenario), clock=clock.monotonic, epoch=clock.epoch.timestamp())
    credential = Credential(api_key=SecretStr(TEST_API_KEY), api_secret=SecretStr(TEST_API_SECRET))
    config = build_config({
        "api": {"base_url": "http://sim"}, "credentials": {"main": {}}, "state": {"path": ":memory:"},
        "server": {"host": "127.0.0.1", "port": 0}, "rules": [STALLED_RULE],
        "clusters": {name: {"environment_id": ENVIRONMENT, "kafka_cluster_id": f"lkc-{name}"} for name in clusters},
        "metrics_api": {"base_url": "http://sim", "max_requests_per_second": 10000, **metrics_api},
        "rate_limit": {"max_requests_per_second": 10000},
    }, "test config", secrets={"credentials": {"main": credential}})
    return _started(simulator, config, clock, backlog)


async def run_fleet(w: World, seconds: int) -> None:
    for _ in range(seconds // 60):
        for poller in w.daemon.pollers.values():
            await poller.poll()
        await w.daemon.run_stall_check("stalled")
        await w.daemon.queue.join()
        w.clock.advance(60)


async def test_late_metrics_data_does_not_restart_the_one_source_of_each_cluster() -> None:
    # Three clusters with one CDC source each: each cluster's query holds one source, so a
    # backlog showed each as stopping after moving, and all three were restarted at once.
    w = fleet({f"cdc{n}": [{"name": "cdc-source", "records_per_second": 10}] for n in range(3)}, backlog=(1800, 1800 + 1500))
    await run_fleet(w, 4200)
    assert w.simulator.restarts() == [], "every cluster's source was restarted because the Metrics API was late"
    assert w.total("watchdog_stall_unjudged_total", reason="data_late") == 3 * 15, "to the backlog's end, as above"
    assert w.total("watchdog_stall_checks_total", verdict="stalled") == 0


async def test_the_one_source_of_a_cluster_that_stops_while_other_clusters_move_is_restarted() -> None:
    w = fleet({"cdc0": [{"name": "cdc-source", "records_per_second": 10, "script": {"stall_at": STALL_AT}}],
               "cdc1": [{"name": "cdc-source", "records_per_second": 10}]})
    await run_fleet(w, 1800)
    assert [(c.cluster, c.connector) for c in w.simulator.restarts()] == [("lkc-cdc0", "cdc-source")]


async def test_one_query_per_metric_batch_not_per_connector() -> None:
    w = world()
    # Connectors qualify once they have run for the grace, the three windows and the delay: 22
    # minutes here (20 before grace counted before the windows: it then excluded nothing).
    await run(w, 1440)
    queries = [c for c in w.simulator.calls if c.endpoint == "metrics_query"]
    # Each check: sent_records for the sources, received_records and records_lag_max for the sinks.
    checks = len([t for t in range(0, 1440, 60) if t >= GRACE + 3 * 300 + DELAY])
    assert checks > 0 and len(queries) == 3 * checks


async def test_no_verdict_before_the_connector_has_run_for_the_grace_and_all_three_windows() -> None:
    w = world()
    # Checks up to a minute before the connectors qualify: the grace is not part of the windows
    # judged (before, they were queried and judged at 3 * 300 + DELAY, grace or not).
    await run(w, GRACE + 3 * 300 + DELAY)
    assert [c for c in w.simulator.calls if c.endpoint == "metrics_query"] == []
    assert w.simulator.restarts() == []


async def test_a_stall_rules_budget_comes_back_once_checks_saw_the_connector_moving_for_the_gap() -> None:
    # No status rule polls it: only stall checks say whether it fails. Before, its count never
    # reset, and after `max_restarts` stalls (weeks apart, each healed) it was never restarted again.
    w = world([CONNECTORS[3]], rule={**STALLED_RULE, "max_restarts": 1})
    await w.daemon.pollers[CLUSTER].poll()
    (rule,) = w.daemon.config.rules
    key = ConnectorKey(CLUSTER, "steady-source")
    decisions = []
    with structlog.testing.capture_logs() as logs:
        for _ in range(3):
            w.daemon.engine.on_stall_check(rule, key, Judgement(StallVerdict.STALLED, "sent 0 records"))
            await w.daemon.queue.join()
            w.clock.advance(600)
            w.daemon.engine.on_stall_check(rule, key, Judgement(StallVerdict.MOVING, "moving", healthy=True))
            w.clock.advance(7 * 86400)
        decisions = [e["decision"] for e in logs if e["event"] == "decision" and e["trigger"] == "stalled"]
    assert decisions == ["restart"] * 3
    assert len(restarts(w, "steady-source")) == 3


async def test_a_backward_step_of_the_wall_clock_does_not_hold_stall_checks_for_its_length() -> None:
    w = world([CONNECTORS[3]])
    assert w.clock is not None
    await w.daemon.pollers[CLUSTER].poll()  # seen RUNNING from now on
    (rule,) = w.daemon.config.rules
    w.daemon.follow_clock()
    w.clock.epoch -= timedelta(hours=1)  # NTP steps the wall clock back an hour
    w.daemon.follow_clock()  # what the heartbeat does within a second
    w.clock.advance(300)
    await w.daemon.pollers[CLUSTER].poll()
    # Running for five real minutes, over the two-minute grace: judged. Before, "running since"
    # lay an hour ahead, and the connector was not checked for an hour more.
    candidates = w.daemon.engine.stall_candidates(rule, CLUSTER, judged_from=w.clock.wall() - timedelta(minutes=3))
    assert [key.connector for key, _ in candidates] == ["steady-source"]


async def test_a_reload_during_a_stall_check_decides_its_verdicts_under_the_new_rule() -> None:
    # The rule on trial (dry_run) is made live by a reload while the check that finds the stall
    # reads the Metrics API (its queries are awaits: minutes behind that API's rate limit). The
    # verdict was decided under the rule read at the check's start: the restart ended `dry_run`,
    # and with the backoff it advanced (600 s) no real restart came in the rest of the run.
    w = world([CONNECTORS[0], CONNECTORS[3]], rule={**STALLED_RULE, "dry_run": True})
    checker = w.daemon._stall_checker
    assert checker is not None
    query = checker._points
    reloaded: list[float] = []

    async def reload_while_querying(*args: Any, **kwargs: Any) -> Any:
        answer = await query(*args, **kwargs)
        if not reloaded and w.clock is not None and w.clock.t - 1000 >= STALL_AT + 600 + DELAY:
            reloaded.append(w.clock.t)  # the check that finds the stall: the rule goes live now
            rules = [r.model_copy(update={"dry_run": False}) for r in w.daemon.config.rules]
            w.daemon.config = w.daemon.config.model_copy(update={"rules": rules})
            w.daemon.engine.set_config(w.daemon.config)
        return answer

    checker._points = reload_while_querying  # type: ignore[method-assign]
    await run(w, 1800)

    assert reloaded, "the stall was found"
    assert restarts(w, "orders-source") == [STALL_AT + 600 + DELAY]
    assert w.sample("watchdog_restarts_total", cluster=CLUSTER, connector="orders-source", rule="stalled",
                    trigger="stalled", outcome="dry_run") == 0


async def test_a_connector_restarted_while_a_stall_check_reads_is_not_restarted_again_on_its_windows() -> None:
    # An operator (or a status or alert rule) restarts the stalled source while the check that
    # finds its stall reads the Metrics API (awaits: minutes behind that API's rate limit, every
    # cluster's queries before any verdict). The verdict was decided on windows showing the run
    # that restart ended, and the source was restarted a second time at once (on Confluent Cloud
    # each restart stops every task).
    w = world([CONNECTORS[0], CONNECTORS[3]])
    checker = w.daemon._stall_checker
    assert checker is not None and w.clock is not None
    query = checker._points
    key = ConnectorKey(CLUSTER, "orders-source")
    asked: list[float] = []

    async def restart_by_name_while_querying(*args: Any, **kwargs: Any) -> Any:
        answer = await query(*args, **kwargs)
        if not asked and w.clock is not None and w.clock.t - 1000 >= STALL_AT + 600 + DELAY:
            asked.append(w.clock.t)  # the check that finds the stall
            w.daemon.engine.on_request(key, w.daemon.engine.statuses[key], trigger=Trigger.MANUAL,
                                       rule="manual", reason="restarted by hand")
            await w.daemon.queue.join()
            w.clock.advance(30)
        return answer

    checker._points = restart_by_name_while_querying  # type: ignore[method-assign]
    with structlog.testing.capture_logs() as logs:
        await run(w, 1800)

    assert asked, "the stall was found"
    assert restarts(w, "orders-source") == [STALL_AT + 600 + DELAY], "restarted once, by name"
    assert not [e for e in logs if e["event"] == "decision" and e.get("trigger") == "stalled" and e["decision"] == "restart"]
    assert not w.simulator.connector(CLUSTER_ID, "orders-source").stalled, "the restart by name ended the stall"


async def test_a_source_its_stall_restart_did_not_get_moving_is_said_once_not_restarted_again() -> None:
    # A source whose upstream went quiet (or whose fault a restart does not cure) stops sending:
    # restarted once for the stall. Since, the Metrics API shows it sending nothing, which tells it
    # from neither an idle source nor late data: not restarted again. Before, nothing said so: the
    # history showed the restart accepted and every later check judged the source idle at debug.
    # The stall a restart ended (orders-source) is not said.
    quiet = {"name": "quiet-source", "records_per_second": 10, "script": {"idle_at": STALL_AT}}
    w = world([CONNECTORS[0], quiet, CONNECTORS[3]])
    with structlog.testing.capture_logs() as logs:
        await run(w, 5400)
    assert len(restarts(w, "quiet-source")) == 1 and len(restarts(w, "orders-source")) == 1
    said = [e for e in logs if e["event"] == "stall_restart_unresolved"]
    assert [(e["connector"], e["log_level"], e["restart_outcome"]) for e in said] == [("quiet-source", "warning", "accepted")], said
    assert "it has sent nothing since" in said[0]["note"] and "idle" in said[0]["detail"]
    await w.daemon.stop()


@pytest.mark.parametrize("grace", [600, 120])
async def test_a_start_up_burst_inside_grace_then_quiet_is_not_restarted_as_stalled(grace: int) -> None:
    # A connector just created (or resumed, or back from FAILED) sends a burst in its first two
    # minutes (a snapshot, a backlog flushed), then its upstream is quiet. `grace` is "only
    # connectors seen RUNNING at least this long": its first minutes must never be the `before`
    # window judged. Before, grace was counted back from now and the burst was judged as `before`:
    # restarted as stalled at 1200 s (and with the default 10m grace too, which excluded nothing).
    # A source stalling once past its grace is still restarted.
    burst = {"name": "new-source", "records_per_second": 50, "script": {"idle_at": 120}}
    stalls = {"name": "orders-source", "records_per_second": 10, "script": {"stall_at": 1000}}
    w = world([burst, stalls], rule={**STALLED_RULE, "trigger": {**STALLED_RULE["trigger"], "grace": grace}})
    with structlog.testing.capture_logs() as logs:
        await run(w, 3600)
    assert restarts(w, "new-source") == [], [e["detail"] for e in logs if e["event"] == "decision"]
    assert len(restarts(w, "orders-source")) == 1
    checked = [e for e in logs if e["event"] == "stall_check" and e["connector"] == "new-source"]
    assert checked and all(e["verdict"] == "idle" for e in checked)


def test_check_config_says_when_a_connector_is_first_judged_with_the_grace_before_the_windows(
    credentials_env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # config.example.yaml: grace 10m, three 10m windows ending 5m ago. "after 10m RUNNING" read as
    # "its first 10 minutes are not judged", which the check did not keep (grace counted back from
    # now excluded nothing); it now keeps it, and says when a new connector is first judged.
    monkeypatch.setenv("WATCHDOG_SERVER__AUTH_TOKEN", "example-token-0123456789")
    assert main(["check-config", "--config", str(Path(__file__).parent.parent / "config.example.yaml")]) == 0
    [line] = [line for line in capsys.readouterr().out.splitlines() if line.strip().startswith("restart-stalled-connectors")]
    assert ("three 10m windows ending 5m ago, of connectors RUNNING 10m before them (judged from at most 46m after they start)"
            in line), line
