"""The fleet breaker's room and restarts that cannot go: one organisation's backlog stuck behind
its own key (a 429's Retry-After, a revoked key) took the whole fleet's room for the window, and
every other organisation's failure restarts were held `breaker_open` for as long as it stayed
stuck (a scale probe, 2026-12-07: 25 FAILED connectors of three healthy organisations held for the
whole run, "22 queued to go" naming nobody). Restarts queued on a paused lane or parked count for
nothing that protects the fleet: they cannot go. What the fleet limit promises still holds: at
most `max_restarts` failure restarts sent per window, also once the stuck lane goes again.

Two API keys, each with its own cluster, in the in-process simulator on virtual time
(bench/virtualtime.py), through the real gates, breaker and queue."""

from __future__ import annotations

import asyncio
from typing import Any

import structlog
from pydantic import SecretStr

from bench import fixtures, virtualtime
from watchdog.app import Daemon
from watchdog.config import Credential, build_config
from watchdog.simulator import Scenario, Simulator

ENVIRONMENT = "env-orgs"
KEYS = {"orga": ("ORGAKEY000000001", "secret-a"), "orgc": ("ORGCKEY000000003", "secret-c")}
CLUSTERS = {"a-prod": ("lkc-a001", "orga"), "c-prod": ("lkc-c001", "orgc")}
LIMIT, WINDOW = 4, 600
HEAL = {"name": "heal", "trigger": {"type": "status", "confirm_polls": 1}, "select": {"include": ["*"]},
        "backoff": {"base": 60, "cap": 600, "jitter": 0}}


def orgs_scenario(connectors: dict[str, list[dict[str, Any]]], faults: list[dict[str, Any]]) -> Scenario:
    """Each organisation's key seeing its own cluster; `connectors`: each cluster's, by its name."""
    return Scenario.model_validate({
        "seed": 1,
        "api_keys": [{"id": key, "secret": secret, "clusters": [lkc for lkc, owner in CLUSTERS.values() if owner == name]}
                     for name, (key, secret) in KEYS.items()],
        "environments": [{"id": ENVIRONMENT, "clusters": [
            {"id": CLUSTERS[name][0], "connectors": listed} for name, listed in connectors.items()]}],
        "faults": faults,
    })


def scenario(faults: list[dict[str, Any]]) -> Scenario:
    """Six FAILED connectors in each organisation's cluster, each healed by one restart."""
    failing = {"initial": "FAILED", "recover_after_restarts": 1}
    return orgs_scenario({name: [{"name": f"{name}-{i}", "script": failing} for i in range(6)] for name in CLUSTERS},
                         faults)


def daemon(simulator: Simulator, *, concurrent: int | None = 1, rules: list[dict[str, Any]] | None = None,
           token: str | None = None) -> Daemon:
    """The two organisations' daemon, a fleet limit of LIMIT per WINDOW. `concurrent`: restarts of a
    key on the wire at once (1: org C's first restart meets the 429, the rest wait; None: the
    defaults, rate limit included); `rules`: HEAL by default; `token`: the API's, for webhooks."""
    data: dict[str, Any] = {
        "api": {"base_url": "http://sim"},
        "credentials": {name: {} for name in KEYS},
        "clusters": {name: {"environment_id": ENVIRONMENT, "kafka_cluster_id": lkc, "credential": owner}
                     for name, (lkc, owner) in CLUSTERS.items()},
        "server": {"host": "127.0.0.1", "port": 0},
        "state": {"path": ":memory:"},
        "rules": rules or [HEAL],
        "breaker": {"max_failing_share": None, "max_restarts": LIMIT, "window": WINDOW},
    }
    if concurrent is not None:
        data["rate_limit"] = {"max_requests_per_second": 1000, "max_concurrent_requests": concurrent}
    secrets: dict[str, Any] = {"credentials": {name: Credential(api_key=SecretStr(key), api_secret=SecretStr(secret))
                                               for name, (key, secret) in KEYS.items()}}
    if token is not None:
        secrets["server"] = {"auth_token": SecretStr(token)}
    return fixtures.virtual_daemon(build_config(data, "test config", secrets=secrets), simulator)


def most_sent_in_a_window(simulator: Simulator) -> int:
    """The most failure restarts made within any `WINDOW` seconds, from the simulator's own call
    record: each connector's first call not answered 429 or 409 (which ran nothing; what the
    breaker counts: engine/fleet_count.py). Counted at a 429'd call, as it once was, the retry that
    really made the restart went uncounted wherever it landed (probe_breaker F1)."""
    first: dict[str, float] = {}
    for call in simulator.calls:
        if call.endpoint == "restart" and call.connector is not None and call.status_code not in (429, 409):
            first.setdefault(call.connector, call.t)
    times = sorted(first.values())
    return max((sum(1 for t in times if start <= t < start + WINDOW) for start in times), default=0)


async def run_orgs(faults: list[dict[str, Any]], minutes: int, *,
                   concurrent: int = 1) -> tuple[Simulator, list[dict[str, Any]]]:
    """Org C's cluster polled first (its backlog queued and stuck), then both every 30 s."""
    simulator = Simulator(scenario(faults), clock=asyncio.get_running_loop().time)
    d = daemon(simulator, concurrent=concurrent)
    d.queue.start()
    running: dict[str, asyncio.Task[None]] = {}
    try:
        with structlog.testing.capture_logs() as logs:
            for _ in range(minutes * 2):
                for cluster in ("c-prod", "a-prod"):
                    if cluster not in running or running[cluster].done():
                        running[cluster] = asyncio.create_task(d.pollers[cluster].poll())
                    await asyncio.sleep(1)
                await asyncio.sleep(28)
    finally:
        for task in running.values():
            task.cancel()
        await asyncio.gather(*running.values(), return_exceptions=True)
        await d.stop()
    return simulator, logs


def firing(cluster: str, connectors: list[str], status: str = "firing") -> dict[str, Any]:
    """An Alertmanager webhook's body: one ConnectorFailed alert per connector, firing (or resolved)."""
    return {"version": "4", "status": status, "alerts": [{
        "status": status, "startsAt": "2026-03-01T12:00:00Z",
        "labels": {"alertname": "ConnectorFailed", "kafka_cluster_id": CLUSTERS[cluster][0], "connector": name}}
        for name in connectors]}


def held_for_room(logs: list[dict[str, Any]], org: str) -> list[dict[str, Any]]:
    return [e for e in logs if e["event"] == "decision" and e["decision"] == "breaker_open" and e["cluster"] == org]


def rate_limited(retry_after: int, until: float) -> dict[str, Any]:
    """Org C's every restart answered 429 with `retry_after` until `until` (simulator seconds)."""
    return {"match": {"endpoint": "restart", "api_key": KEYS["orgc"][0]},
            "action": {"status": 429, "headers": {"Retry-After": str(retry_after)}}, "when": {"until": until}}


def test_one_keys_restarts_paused_by_a_429_do_not_hold_another_keys_failure_restarts() -> None:
    """Org C's every restart is answered 429 with Retry-After 600 for 15 minutes: its first
    restart (counted: it was sent) and three queued behind the pause. Org A's six FAILED
    connectors are restarted within the hour, the first at once, not held `breaker_open` by org C's
    backlog (before: the first at 601 s, "1 restarts in the last 600s and 3 queued to go").
    Org C's restarts go once its key is let through, and the fleet never sends more than LIMIT
    per window."""
    simulator, logs = virtualtime.run(run_orgs([rate_limited(600, 15 * 60)], minutes=90))
    restarted_a = {call.connector for call in simulator.restarts(cluster="lkc-a001")}
    first_a = min((call.t for call in simulator.restarts(cluster="lkc-a001")), default=None)
    assert first_a is not None and first_a < 60, f"org A's first restart at {first_a}: held by org C's backlog"
    assert len(restarted_a) == 6, sorted(restarted_a)
    assert len({call.connector for call in simulator.restarts(cluster="lkc-c001")}) == 6, "org C's go once it may"
    assert most_sent_in_a_window(simulator) <= LIMIT


def test_a_stuck_backlog_let_go_later_still_meets_the_fleet_limit() -> None:
    """Org C's lane paused for 100 s with three restarts queued behind it, while org A's poll
    takes the room they left. When org C's lane goes again, the window is full: what exceeds it
    is held at its turn (`dropped`, breaker_open, decided again by a later poll), not sent."""
    simulator, logs = virtualtime.run(run_orgs([rate_limited(100, 50)], minutes=25))
    first_a = min((call.t for call in simulator.restarts(cluster="lkc-a001")), default=None)
    assert first_a is not None and first_a < 60, f"org A's first restart at {first_a}: held by org C's backlog"
    assert most_sent_in_a_window(simulator) <= LIMIT
    held_at_turn = [e for e in logs if e["event"] == "restart_finished" and e["cluster"] == "c-prod"
                    and e["outcome"] == "dropped" and e["message"].startswith("breaker_open: 4 restarts in the last 600s")]
    assert held_at_turn, "org C's backlog met a full window when its lane went again"


def test_a_revoked_keys_parked_restarts_do_not_hold_another_keys_failure_restarts() -> None:
    """Org C's key is revoked (every call 401 from t=5 s, after a 429 paused its lane): its
    restarts are parked until the key is rotated. Before, they took three of the four places of
    every window for as long: org A's six FAILED connectors got one restart a window."""
    revoked = {"match": {"api_key": KEYS["orgc"][0]}, "action": {"status": 401}, "when": {"from": 5}}
    simulator, logs = virtualtime.run(run_orgs([rate_limited(30, 5), revoked], minutes=20))
    assert simulator.restarts(cluster="lkc-c001") == []
    assert len({call.connector for call in simulator.restarts(cluster="lkc-a001")}) == 6
    assert most_sent_in_a_window(simulator) <= LIMIT
    assert not [e for e in held_for_room(logs, "a-prod") if "API key 'orgc'" in e["detail"]]


def test_the_fleet_breakers_reason_names_the_key_of_the_restarts_that_take_its_room() -> None:
    """The on-call of org A read "3 queued to go" and could not tell whose they were."""
    simulator, logs = virtualtime.run(run_orgs([], minutes=1))
    opened = [e["reason"] for e in logs if e["event"] == "breaker_opened" and e["scope"] == "fleet"]
    assert opened and opened[0] == ("0 restarts in the last 600s, 4 queued to go (limit 4); those queued: 4 on API "
                                    "key 'orgc'; the room of this window is spoken for"), opened
    held = held_for_room(logs, "c-prod")
    assert held and held[0]["detail"].startswith("0 restarts in the last 600s and 4 queued to go (limit 4); those "
                                                 "queued: 4 on API key 'orgc'; room for the next frees"), held[:1]


def test_one_keys_restarts_answered_429_with_a_short_retry_after_do_not_hold_another_keys() -> None:
    """Org C's restarts answered 429 with Retry-After 1 at every try while its listings pass (a
    scale probe's storm: its key paused for a second at a time, its restarts never admitted):
    between two such pauses its lane is not paused, yet its restarts queued behind the one
    being tried cannot go. They held org A's `breaker_open` all the same."""
    simulator, logs = virtualtime.run(run_orgs([rate_limited(1, 20 * 60)], minutes=20))
    first_a = min((call.t for call in simulator.restarts(cluster="lkc-a001")), default=None)
    assert first_a is not None and first_a < 60, f"org A's first restart at {first_a}: held by org C's backlog"
    assert len({call.connector for call in simulator.restarts(cluster="lkc-a001")}) == 6
    assert most_sent_in_a_window(simulator) <= LIMIT
