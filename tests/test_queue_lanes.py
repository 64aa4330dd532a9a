"""A rate-limit lane shared by several clusters (Cloud clusters of one API key): what one
cluster's backlog does to another cluster's restart."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from typing import Any

from pydantic import SecretStr

from watchdog.config import Config, Credential, build_config
from watchdog.model import ConnectorKey, Decision, Outcome, RestartRequest, Trigger

from .conftest import TEST_API_KEY, TEST_API_SECRET
from .support import ENVIRONMENT, World, in_process

BACKLOG = 30


def two_clusters(faults: list[dict[str, Any]] | None = None, **settings: Any) -> World:
    """Clusters `big` and `small` on one credential (one lane), restarts sent one at a time."""
    return in_process(*two_clusters_world(faults, **settings))


def two_clusters_world(faults: list[dict[str, Any]] | None = None, **settings: Any) -> tuple[dict[str, Any], Config]:
    """two_clusters' simulator scenario and daemon config."""
    scenario: dict[str, Any] = {
        "faults": faults or [],
        "api_keys": [{"id": TEST_API_KEY, "secret": TEST_API_SECRET}],
        "environments": [{"id": ENVIRONMENT, "clusters": [
            {"id": "lkc-big", "connectors": [{"name": f"b{i}"} for i in range(BACKLOG)]},
            {"id": "lkc-small", "connectors": [{"name": "urgent"}]},
        ]}],
    }
    data: dict[str, Any] = {
        "api": {"base_url": "http://sim"},
        "credentials": {"main": {}},
        "clusters": {"big": {"environment_id": ENVIRONMENT, "kafka_cluster_id": "lkc-big"},
                     "small": {"environment_id": ENVIRONMENT, "kafka_cluster_id": "lkc-small"}},
        "server": {"host": "127.0.0.1", "port": 0},
        "state": {"path": ":memory:"},
        "rate_limit": {"max_concurrent_requests": 1, "max_requests_per_second": 1000},
        "rules": [],
        **settings,
    }
    credential = Credential(api_key=SecretStr(TEST_API_KEY), api_secret=SecretStr(TEST_API_SECRET))
    config: Config = build_config(data, "test config", secrets={"credentials": {"main": credential}})
    return scenario, config


def request(cluster: str, connector: str, trigger: Trigger = Trigger.MANUAL) -> RestartRequest:
    return RestartRequest(id=f"r-{cluster}-{connector}-{trigger}", key=ConnectorKey(cluster, connector),
                          rule="manual", trigger=trigger, reason="test", requested_at=datetime.now(timezone.utc))


async def test_one_clusters_backlog_does_not_hold_another_clusters_restart_behind_it() -> None:
    """A schedule run queued 30 restarts of cluster `big`; then cluster `small` needs one. Served
    first in, first out, it went 31st (a thousand on a slow key: minutes); the lane takes its
    clusters in turn, so it goes second."""
    w = two_clusters()
    queue = w.daemon.queue
    big = [queue.submit(request("big", f"b{i}"))[0] for i in range(BACKLOG)]
    urgent, _ = queue.submit(request("small", "urgent"))
    queue.start()
    await asyncio.wait_for(queue.join(), 10)
    await queue.close(0)
    assert {job.outcome for job in [*big, urgent]} == {Outcome.ACCEPTED}
    order = [call.connector for call in w.simulator.restarts()]
    assert order.index("urgent") == 1, order
    assert order[:1] + order[2:] == [f"b{i}" for i in range(BACKLOG)], "each cluster in its own arrival order"


async def test_a_lane_filled_by_one_cluster_still_takes_another_clusters_restart() -> None:
    """`queue.max_jobs_per_lane` bounds a lane's memory; it is not meant to let one cluster's
    backlog refuse every other cluster of the key (an alert on `small` answered 503 `queue_full`
    until `big` drained). A cluster with no restart waiting in the full lane still gets one in:
    the lane then holds at most the cap plus one job per cluster."""
    w = two_clusters(queue={"max_jobs_per_lane": 5})
    queue = w.daemon.queue
    for i in range(5):
        queue.submit(request("big", f"b{i}"))
    assert queue.full_for(ConnectorKey("big", "b5")) is not None, "the backlog's cluster is refused"
    assert queue.full_for(ConnectorKey("small", "urgent")) is None
    urgent, _ = queue.submit(request("small", "urgent"))
    assert queue.full_for(ConnectorKey("small", "other")) is not None, "one per cluster, not one per connector"
    queue.start()
    await asyncio.wait_for(queue.join(), 10)
    await queue.close(0)
    assert urgent.outcome is Outcome.ACCEPTED


def two_keys(prod_credential: str) -> Config:
    """Clusters `prod` (on `prod_credential`) and `dev` (on `main`), keys `main` and `other`."""
    data: dict[str, Any] = {
        "api": {"base_url": "http://sim"},
        "credentials": {"main": {}, "other": {}},
        "clusters": {
            "prod": {"environment_id": ENVIRONMENT, "kafka_cluster_id": "lkc-prod", "credential": prod_credential},
            "dev": {"environment_id": ENVIRONMENT, "kafka_cluster_id": "lkc-dev", "credential": "main"},
        },
        "server": {"host": "127.0.0.1", "port": 0},
        "state": {"path": ":memory:"},
        "queue": {"shutdown_deadline": 0},
        "rules": [],
    }
    credentials = {"main": Credential(api_key=SecretStr(TEST_API_KEY), api_secret=SecretStr(TEST_API_SECRET)),
                   "other": Credential(api_key=SecretStr("OTHERKEY"), api_secret=SecretStr("o" * 32))}
    return build_config(data, "test config", secrets={"credentials": credentials})


async def test_a_restart_queued_before_a_reload_moved_its_cluster_to_another_key_is_paced_by_that_key() -> None:
    """A reload moved cluster `prod` from key `main` to key `other` while a restart of it waited.
    It was sent with `other` (the cluster's new client) but through `main`'s limiter: `other`'s
    429 paused `main`, holding cluster `dev`'s restart for its Retry-After, and `other`'s limiter
    never heard of it (its polls of `prod` went on into the pause). The call now goes through
    the limiter of the key it is sent with."""
    import httpx

    from watchdog.app import Daemon
    from watchdog.simulator import Scenario, Simulator, create_app

    scenario = {
        "api_keys": [{"id": TEST_API_KEY, "secret": TEST_API_SECRET}, {"id": "OTHERKEY", "secret": "o" * 32}],
        "environments": [{"id": ENVIRONMENT, "clusters": [
            {"id": "lkc-prod", "connectors": [{"name": "p0"}]},
            {"id": "lkc-dev", "connectors": [{"name": "d0"}]},
        ]}],
        "faults": [{"match": {"endpoint": "restart", "api_key": "OTHERKEY"}, "when": {"count": 1},
                    "action": {"status": 429, "headers": {"Retry-After": "30"}}}],
    }
    simulator = Simulator(Scenario.model_validate(scenario))
    daemon = Daemon(two_keys("main"), transport=httpx.ASGITransport(app=create_app(simulator)),
                    reload_config=lambda: two_keys("other"))
    queue = daemon.queue
    moved, _ = queue.submit(request("prod", "p0"))
    assert await daemon.reload("test")
    queue.start()
    try:
        await asyncio.wait_for(_answered_429(simulator), 5)
        dev, _ = queue.submit(request("dev", "d0"))
        await asyncio.wait_for(dev.done.wait(), 5)  # not held by the other key's 30 s pause
        assert dev.outcome is Outcome.ACCEPTED
        assert daemon.gateways["other"].limiter.paused_for() > 20, "the key that said 429 is paused"
        assert daemon.gateways["main"].limiter.paused_for() == 0
        assert [c.api_key for c in simulator.restarts(connector="p0", accepted_only=False)] == ["OTHERKEY"]
    finally:
        await daemon.stop()
    assert moved.outcome is Outcome.UNSENT


async def _answered_429(simulator: Any) -> None:
    while not any(call.status_code == 429 for call in simulator.calls):
        await asyncio.sleep(0.005)


async def test_a_restart_for_a_failure_goes_before_the_scheduled_restarts_queued_ahead_of_it() -> None:
    """A schedule rule queued its nightly restart of 28 connectors of `big`; then a poll finds
    another one FAILED, and someone asks for a third by name, and for one of the planned ones.
    Each waited behind the whole planned run (a thousand on a slow key: many minutes of an
    outage). A restart asked for because a connector is down, or by a person, now goes before
    its cluster's scheduled ones, which still all go, in their order."""
    rules = [{"name": "nightly", "trigger": {"type": "schedule", "cron": "0 3 * * *"}, "select": {"include": ["*"]}},
             {"name": "heal", "trigger": {"type": "status"}, "select": {"include": ["*"]}}]
    w = two_clusters(rules=rules)
    queue = w.daemon.queue
    planned = [queue.submit(asked("big", f"b{i}", Trigger.SCHEDULE, "nightly"))[0] for i in range(BACKLOG - 2)]
    queue.submit(asked("big", f"b{BACKLOG - 2}", Trigger.STATUS, "heal"))
    queue.submit(request("big", f"b{BACKLOG - 1}"))
    joined, merged = queue.submit(request("big", "b20"))  # joins a scheduled job
    assert merged and joined is planned[20]
    queue.start()
    await asyncio.wait_for(queue.join(), 10)
    await queue.close(0)
    assert {job.outcome for job in planned} == {Outcome.ACCEPTED}
    order = [call.connector for call in w.simulator.restarts()]
    assert order[:3] == [f"b{BACKLOG - 2}", f"b{BACKLOG - 1}", "b20"], order
    assert order[3:] == [f"b{i}" for i in range(BACKLOG - 2) if i != 20]


async def test_a_connector_that_fails_while_its_scheduled_restart_waits_goes_before_the_rest_of_the_run() -> None:
    """The nightly run queued a restart of each of `big`'s 30 connectors; then a poll finds the
    last of them FAILED. The poll's decision is `duplicate` (a restart of it is queued), which
    joins nothing, so its restart stayed at its planned turn, 30th, behind the whole run (a
    thousand on a slow key: many minutes of an outage). A failure seen now moves it up, as a
    restart a failure asked for goes before its cluster's scheduled ones."""
    rules = [{"name": "nightly", "trigger": {"type": "schedule", "cron": "0 3 * * *"}, "select": {"include": ["*"]}},
             {"name": "heal", "trigger": {"type": "status", "confirm_polls": 1}, "select": {"include": ["*"]}}]
    scenario, config = two_clusters_world(rules=rules, breaker={"max_failing_share": None})
    failing = f"b{BACKLOG - 1}"
    scenario["environments"][0]["clusters"][0]["connectors"][-1]["script"] = {"initial": "FAILED"}
    w = in_process(scenario, config)
    queue = w.daemon.queue
    planned = [queue.submit(asked("big", f"b{i}", Trigger.SCHEDULE, "nightly"))[0] for i in range(BACKLOG)]
    await w.daemon.pollers["big"].poll()
    decided = [r for r in w.daemon.engine.requests.values() if r.key.connector == failing]
    assert [r.decision for r in decided] == [Decision.DUPLICATE]
    queue.start()
    await asyncio.wait_for(queue.join(), 10)
    await queue.close(0)
    assert {job.outcome for job in planned} == {Outcome.ACCEPTED}
    order = [call.connector for call in w.simulator.restarts()]
    assert order == [failing, *[f"b{i}" for i in range(BACKLOG - 1)]], order


def asked(cluster: str, connector: str, trigger: Trigger, rule: str) -> RestartRequest:
    return RestartRequest(id=f"{rule}-{cluster}-{connector}", key=ConnectorKey(cluster, connector), rule=rule,
                          trigger=trigger, reason="test", requested_at=datetime.now(timezone.utc))


def test_a_retry_goes_when_its_wait_is_over_not_behind_the_restarts_queued_since() -> None:
    """`b0` is answered 503 with Retry-After: 1 (logged `restart_retry_scheduled`, 1 s) while 29
    more restarts of its cluster wait, sent at 10 per second. Its retry goes a second later, as
    the log said, not after the 29 (three seconds). On virtual time (bench/virtualtime.py), the
    daemon's timers and the simulator's clock the loop's: the gap is the queue's alone, where in
    real time a loaded machine's late wake-ups ate into the half second between the two."""
    from bench import fixtures, virtualtime
    from watchdog.simulator import Scenario, Simulator

    faults = [{"match": {"endpoint": "restart", "connector": "b0"}, "when": {"count": 1},
               "action": {"status": 503, "headers": {"Retry-After": "1"}}}]

    async def run() -> tuple[set[Outcome | None], list[float]]:
        scenario, config = two_clusters_world(
            faults, rate_limit={"max_concurrent_requests": 1, "max_requests_per_second": 10})
        simulator = Simulator(Scenario.model_validate(scenario), clock=asyncio.get_running_loop().time)
        queue = fixtures.virtual_daemon(config, simulator).queue
        jobs = [queue.submit(request("big", f"b{i}"))[0] for i in range(BACKLOG)]
        queue.start()
        await asyncio.wait_for(queue.join(), 60)
        await queue.close(0)
        return {job.outcome for job in jobs}, [c.t for c in simulator.calls if c.endpoint == "restart" and c.connector == "b0"]

    outcomes, (refused, retried) = virtualtime.run(run())
    assert outcomes == {Outcome.ACCEPTED}
    assert retried - refused < 1.5, f"retried {retried - refused:.2f} s after the 503"


def test_two_credentials_holding_one_key_share_its_lane() -> None:
    """One API key entered under two names (one per team's cluster): Confluent limits per key, so
    both clusters' restarts go through one limiter. Two limiters on one key each took the other's
    use for another client's and left it its share: 400 restarts took 387 s where one lane took 42."""
    from bench import fixtures, virtualtime
    from bench.ratelab import backlog_connectors
    from watchdog.simulator import Simulator

    fixtures.quiet_logs()

    async def run() -> tuple[float, int, list[Outcome]]:
        scenario = fixtures.scenario(
            [backlog_connectors(100), backlog_connectors(100)], latency_seconds=[0.05, 0.15],
            rate_limit={"limit": 20, "window_seconds": 2, "algorithm": "fixed_aligned", "headers": "always"})
        simulator = Simulator(scenario, clock=asyncio.get_running_loop().time)
        rule = {"name": "backlog", "trigger": {"type": "schedule", "interval": "1d"}, "select": {"include": ["*"]}}
        data = fixtures.config_data(2, [rule], "http://sim", breaker=fixtures.NO_BREAKER,
                                    rate_limit={"max_requests_per_second": 1000})
        data["credentials"] = {"team_a": {}, "team_b": {}}
        data["clusters"][fixtures.cluster_name(0)]["credential"] = "team_a"
        data["clusters"][fixtures.cluster_name(1)]["credential"] = "team_b"
        same = Credential(api_key=SecretStr(fixtures.API_KEY), api_secret=SecretStr(fixtures.API_SECRET))
        config = build_config(data, "test", secrets={"credentials": {"team_a": same, "team_b": same}})
        daemon = fixtures.virtual_daemon(config, simulator)
        await daemon.run_once()
        restarts = [call for call in simulator.calls if call.endpoint == "restart"]
        took = max(call.t for call in restarts) - min(call.t for call in restarts)
        refused = sum(1 for call in restarts if call.status_code == 429)
        return took, refused, [job.outcome for job in daemon.recorder.finished_jobs if job.outcome is not None]

    took, refused, outcomes = virtualtime.run(run())
    assert outcomes == [Outcome.ACCEPTED] * 200
    assert refused == 0
    assert took < 25.0  # 200 at 20 per 2 s: 20 s at best


async def test_a_cluster_whose_api_hangs_leaves_the_keys_other_clusters_their_polls_and_restarts() -> None:
    """Cluster `big`'s restart endpoint takes calls and answers none (a region's Connect API
    stuck) while a schedule run queued 30 of its restarts; `small`, on the same key, is healthy.
    The lane passes its turn on after 5 s, so `big` had four restarts on the wire within 15 s,
    every one of the key's max_concurrent_requests slots and workers: measured against `watchdog
    simulate`, `small`'s polls were skipped as still running and its connector's restart went out
    18 to 36 s after its failure instead of at the next poll (4 to 6 s). Now a cluster with a call unanswered for
    5 s sends no other restart until that call ends (they wait, saying so), and `small` is polled
    and restarted at once; `big`'s go once its API answers."""
    from .support import HeldCalls, until

    w = two_clusters(rate_limit={"max_concurrent_requests": 4, "max_requests_per_second": 1000})
    held = HeldCalls(w, "lkc-big/connectors/b")  # big's restarts; its listing still answers
    queue = w.daemon.queue
    big = [queue.submit(request("big", f"b{i}"))[0] for i in range(BACKLOG)]
    queue.start()
    try:
        await asyncio.wait_for(held.reached.wait(), 5)
        await asyncio.sleep(5.5)  # the first of big's restarts has had no answer for 5 s
        await asyncio.wait_for(w.daemon.pollers["small"].poll(), 3)
        assert not w.daemon.pollers["small"].failure, "small was listed"
        urgent, _ = queue.submit(request("small", "urgent"))
        await until(lambda: urgent.outcome is not None, "small's restart sent", timeout=3)
        assert urgent.outcome is Outcome.ACCEPTED
        waiting = [job for job in big if job.message.startswith("waiting: a call to the cluster's Connect API")]
        assert len(waiting) >= BACKLOG - 2, [job.message for job in big]
    finally:
        held.release()
    await asyncio.wait_for(queue.join(), 30)
    await queue.close(0)
    assert {job.outcome for job in big} == {Outcome.ACCEPTED}, "big's restarts go once its API answers"
    assert {job.message for job in big} == {""}
