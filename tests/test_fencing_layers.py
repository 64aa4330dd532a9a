"""Each layer that keeps two replicas from sending at once, on its own.

tests/test_ha.py shows that a frozen leader is fenced as a whole, but that test passes as long as
any one layer works. Here each layer is checked with the others out of the way, so that a broken
layer fails its own test:

1. The elector stops saying "may send" once its renew deadline passes without a renewal, while
   its lease in the database is still valid (the margin that covers clock drift and pauses).
2. The queue asks `may_send` right before every call: a job it may not send is not sent, and
   stays pending in the store for the next leader.
3. The store refuses a write under a stale epoch (tests/test_state_contract.py:
   test_a_write_under_a_stale_epoch_is_refused_and_changes_nothing and the takeover tests).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest
import structlog
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from bench.postgres import PostgresServer, take_lease
from watchdog.app import Daemon
from watchdog.config import Credential
from watchdog.config.leadership import LeaseTiming
from watchdog.config.loading import build_config
from watchdog.engine import MANUAL_RULE
from watchdog.leadership.elector import Elector
from watchdog.leadership.metrics import LeadershipMetrics
from watchdog.model import ConnectorKey, ConnectorState, Decision, PendingPhase, Trigger
from watchdog.simulator import Scenario, Simulator, create_app
from watchdog.state import Fenced, StateStoreError
from watchdog.state.postgres import PostgresStateStore

from .support import (
    CLUSTER,
    CLUSTER_ID,
    ENVIRONMENT,
    TEST_API_KEY,
    TEST_API_SECRET,
    daemon_config,
    in_process,
    sim_scenario,
    start_and_wait_until_elected,
    until,
)

# Renewals far apart in real time: none happens while a test moves its own clock.
SLOW_RENEWALS = LeaseTiming(lease_duration=100.0, renew_deadline=60.0, renew_interval=30.0)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def schema(postgres_server: PostgresServer, postgres_url: str) -> Iterator[str]:
    """A database with the daemon's schema (the lease table comes with the migrations)."""
    with PostgresStateStore(postgres_url, password=postgres_server.password):
        pass
    yield postgres_url


async def test_a_leader_stops_sending_at_its_renew_deadline_while_its_lease_still_holds(
    postgres_server: PostgresServer, schema: str
) -> None:
    clock = Clock()
    leader = Elector(schema, postgres_server.password, SLOW_RENEWALS, LeadershipMetrics(CollectorRegistry()),
                     identity="a", clock=clock)
    rival = Elector(schema, postgres_server.password, SLOW_RENEWALS, LeadershipMetrics(CollectorRegistry()),
                    identity="b")
    try:
        await start_and_wait_until_elected(leader)
        assert leader.may_send() is None
        clock.now += SLOW_RENEWALS.renew_deadline - 1
        assert leader.may_send() is None, "within the renew deadline the leader may send"
        clock.now += 1
        reason = leader.may_send()
        assert reason is not None and "renew_deadline" in reason
        # Nothing in the database changed: the lease is still the leader's, so no other replica
        # can start sending before this one has stopped.
        rival.start(_never_called, _never_lost)
        await asyncio.sleep(0.5)
        assert not rival.leading and rival.may_send() == "this replica is not the leader"
    finally:
        await rival.stop(release=False)
        await leader.stop(release=False)


async def _never_called(epoch: int) -> None:
    raise AssertionError(f"a second replica was elected (epoch {epoch}) while the lease was held")


async def _never_lost(reason: str) -> None:
    pass


async def test_a_lease_row_deleted_by_hand_is_made_again_and_the_old_leader_stays_fenced(
    postgres_server: PostgresServer, schema: str
) -> None:
    """leader_lease truncated (a "clear the watchdog's state" by hand: TRUNCATE of every table) or
    its row deleted: no replica could ever take the lease again, and none logged why; the daemons
    ran, healthy, standing by forever."""
    old_epoch = await asyncio.to_thread(take_lease, postgres_server, schema, "old-leader")
    with PostgresStateStore(schema, password=postgres_server.password) as old_leader:
        old_leader.fence(old_epoch, "old-leader")
        with postgres_server.connect(schema.rsplit("/", 1)[1]) as admin:
            admin.execute("TRUNCATE connector_state, restart_history, pending_request, leader_lease")
        replica = Elector(schema, postgres_server.password, LeaseTiming(3.0, 2.0, 0.5),
                          LeadershipMetrics(CollectorRegistry()), identity="replica")
        try:
            epoch = await start_and_wait_until_elected(replica)
        finally:
            await replica.stop(release=False)
        assert epoch > old_epoch, "the epoch still rises with every change of holder"
        with pytest.raises(Fenced):
            old_leader.save(ConnectorKey(CLUSTER, "c0"), ConnectorState())


@pytest.mark.parametrize("row", ["still valid", "expired"])
async def test_a_leader_whose_database_lost_its_takeover_takes_the_lease_back_and_leads_on(
    postgres_server: PostgresServer, schema: str, row: str
) -> None:
    """A failover to an asynchronous standby that missed a handover: the promoted database's
    lease row names the replica that led before, under the epoch before. The leader took its
    refused renewal for a takeover ("its epoch is newer", which it was not), stood by, led again
    and recovered the restarts it had finished (their ends lost with the commits): each sent a
    second time, and those it had accepted and not sent yet lost (a failover probe: 34 and 32).
    Epochs only rise: the row's holder was superseded before the loss, so the leader takes the
    lease back under a new epoch, says the database rolled back, and its writes go again."""
    name = schema.rsplit("/", 1)[1]
    rolled: list[int] = []
    leader = Elector(schema, postgres_server.password, LeaseTiming(6.0, 4.0, 0.2), LeadershipMetrics(CollectorRegistry()),
                     identity="b")
    leader.on_rolled_back = rolled.append
    with PostgresStateStore(schema, password=postgres_server.password) as store:
        try:
            epoch = await start_and_wait_until_elected(leader)
            store.fence(epoch, "b")
            store.save(ConnectorKey(CLUSTER, "c0"), ConnectorState())
            expires = "clock_timestamp() + interval '5 seconds'" if row == "still valid" else "'-infinity'"
            # No await from here to the refused write: the elector cannot renew in between.
            with structlog.testing.capture_logs() as logs:
                with postgres_server.connect(name) as admin:
                    admin.execute(f"UPDATE leader_lease SET holder = 'a', epoch = {epoch - 1}, expires_at = {expires}")
                with pytest.raises(StateStoreError) as refused:  # not Fenced: no other replica took over
                    store.save(ConnectorKey(CLUSTER, "c1"), ConnectorState())
                assert not isinstance(refused.value, Fenced) and store.problem is not None
                assert f"names epoch {epoch - 1} (held by a), older than the {epoch}" in str(refused.value)
                await until(lambda: bool(rolled), "the leader takes the lease back")
            assert leader.leading and leader.epoch == epoch + 1 and rolled == [epoch + 1]
            (said,) = [e for e in logs if e["event"] == "state_database_rolled_back"]
            assert (said["found_holder"], said["found_epoch"], said["held_epoch"]) == ("a", epoch - 1, epoch)
            assert not [e for e in logs if e["event"] == "leadership_lost"]
            with postgres_server.connect(name) as admin:
                assert admin.execute("SELECT holder, epoch FROM leader_lease").fetchone() == ("b", epoch + 1)
            store.fence(epoch + 1, "b")  # as the daemon does when told (LeadershipHost._rewrite_lost)
            store.save(ConnectorKey(CLUSTER, "c1"), ConnectorState())
        finally:
            await leader.stop(release=False)


async def test_the_queue_sends_nothing_once_this_replica_may_not_and_leaves_the_rest_pending() -> None:
    world = in_process(sim_scenario([{"name": f"c{i}"} for i in range(3)]),
                       daemon_config([], rate_limit={"max_requests_per_second": 1000, "max_concurrent_requests": 1}))
    daemon, simulator = world.daemon, world.simulator

    def restarts_sent() -> list[str | None]:
        return [c.connector for c in simulator.calls if c.endpoint == "restart"]

    # Leadership is lost right after the first restart went out (as a renew deadline passing
    # while the queue works through a backlog would): only the queue's own check stands between
    # the other two and the API here, the store being SQLite (no epoch to fence writes with).
    daemon.queue.may_send = lambda: "this replica is not the leader" if restarts_sent() else None
    for i in range(3):
        daemon.engine.on_request(ConnectorKey(CLUSTER, f"c{i}"), None, trigger=Trigger.MANUAL, rule=MANUAL_RULE,
                                 reason="test", known_missing=False)
    daemon.queue.start()
    await asyncio.wait_for(daemon.queue.join(), 10)
    assert restarts_sent() == ["c0"]
    left = sorted((p.request.key.connector, p.phase) for p in daemon.state.pending())
    assert left == [("c1", PendingPhase.QUEUED), ("c2", PendingPhase.QUEUED)], (
        "the restarts not sent stay pending, queued, for the next leader to recover and send")
    await daemon.queue.close(0)


async def test_watchdog_restart_that_loses_the_lease_says_so_rather_than_waiting_for_good(
    postgres_server: PostgresServer, schema: str
) -> None:
    """`watchdog restart` against a shared database leads for the length of one restart. Its lease
    lost while the restart waited (a 429's pause, a database failover longer than renew_deadline),
    the job was left to the leader and the command waited for it for good, campaigning as a
    standby: it never printed or exited. It now ends at once and says the restart was not sent."""
    faults = [{"match": {"endpoint": "restart"}, "action": {"status": 429, "headers": {"Retry-After": "30"}}}]
    simulator = Simulator(Scenario.model_validate(sim_scenario([{"name": "orders"}], faults=faults)))
    data = {
        "api": {"base_url": "http://sim"}, "credentials": {"main": {}},
        "clusters": {CLUSTER: {"environment_id": ENVIRONMENT, "kafka_cluster_id": CLUSTER_ID}},
        "server": {"host": "127.0.0.1", "port": 0},
        "state": {"url": schema, "leader_election": {"lease_duration": 3, "renew_deadline": 2, "renew_interval": 0.25}},
        "rules": [{"name": "heal", "trigger": {"type": "status"}, "select": {"include": ["*"]}}],
    }
    credential = Credential(api_key=SecretStr(TEST_API_KEY), api_secret=SecretStr(TEST_API_SECRET))
    config = build_config(data, "test", secrets={"credentials": {"main": credential},
                                                 "state": {"password": postgres_server.password}})
    daemon = Daemon(config, transport=httpx.ASGITransport(app=create_app(simulator)))
    restart = asyncio.create_task(daemon.restart_now(CLUSTER, "orders", reason="test"))
    await until(lambda: any(c.endpoint == "restart" for c in simulator.calls), "the restart answered 429: it waits")

    def take_over() -> None:
        with postgres_server.connect(schema.rsplit("/", 1)[1]) as admin:
            admin.execute("UPDATE leader_lease SET holder = 'other', epoch = epoch + 1, "
                          "expires_at = clock_timestamp() + interval '60 s'")

    await asyncio.to_thread(take_over)
    decision, job, _ = await asyncio.wait_for(restart, 10)

    assert decision is Decision.RESTART and job is not None and job.outcome is None
    assert "not sent by this process" in job.message and "another replica took the lease over" in job.message
    assert simulator.restarts() == []


async def test_a_request_accepted_before_the_lead_was_lost_and_won_back_says_what_became_of_it() -> None:
    """A replica that loses the lead leaves its queue to the shared state, and recovers it when it
    leads again: a new job for each request. GET /v1/restarts/{id} of a request it had accepted
    still showed the job it left, `pending` for good, though the restart went out once it led
    again (a flap: a database failover past renew_deadline, the same replica elected again)."""
    from watchdog.server import create_app as serve

    faults = [{"match": {"endpoint": "restart"}, "when": {"count": 1},
               "action": {"status": 429, "headers": {"Retry-After": "1"}}}]
    rules = [{"name": "heal", "trigger": {"type": "status", "interval": 30}, "select": {"include": ["*"]}}]
    world = in_process(sim_scenario([{"name": "orders"}], faults=faults), daemon_config(rules, token="t0ken-t0ken-t0ken"))
    daemon = world.daemon
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=serve(daemon.metrics.registry, daemon.probes,
                                                                     daemon.api_context())), base_url="http://daemon")
    auth = {"Authorization": "Bearer t0ken-t0ken-t0ken"}
    await daemon.start(serve_http=False)
    try:
        await until(lambda: daemon.pollers[CLUSTER].listed_at is not None, "the first poll")
        asked = (await http.post("/v1/restarts", json={"cluster": CLUSTER, "connector": "orders"}, headers=auth)).json()
        job = daemon.queue.pending_job(ConnectorKey(CLUSTER, "orders"))
        assert job is not None
        await until(lambda: job.rate_limited == 1, "the restart answered 429: it waits for the pause")
        daemon.leadership.leading = False  # as Elector._step_down does, then _follow; elected again: _lead
        await daemon._follow("could not renew the lease within renew_deadline")
        daemon.leadership.leading = True
        await daemon._lead(None)
        await asyncio.wait_for(daemon.queue.join(), 10)
        followed = (await http.get(f"/v1/restarts/{asked['id']}", headers=auth)).json()
    finally:
        await daemon.stop()
    assert len(world.simulator.restarts()) == 1
    assert (followed["state"], followed["job"]["outcome"]) == ("finished", "accepted")


# One replica, run as its own process: it campaigns for a few seconds with the default identity
# and prints how often it was elected. `os.getpid` is 1, as for every process started as a
# container's entrypoint.
_REPLICA = """
import asyncio, os, sys
os.getpid = lambda: 1
from prometheus_client import CollectorRegistry
from pydantic import SecretStr
from watchdog.config.leadership import LeaseTiming
from watchdog.leadership.elector import Elector
from watchdog.leadership.metrics import LeadershipMetrics

async def main() -> None:
    elected = 0
    async def won(epoch: int) -> None:
        nonlocal elected
        elected += 1
    async def lost(reason: str) -> None:
        pass
    elector = Elector(sys.argv[1], SecretStr(sys.argv[2]), LeaseTiming(3.0, 2.0, 0.25),
                      LeadershipMetrics(CollectorRegistry()))
    elector.start(won, lost)
    await asyncio.sleep(4)
    await elector.stop(release=False)
    print("elected", elected)

asyncio.run(main())
"""


def test_replicas_with_one_hostname_and_pid_do_not_share_the_lease(postgres_server: PostgresServer, schema: str) -> None:
    """Two containers on one host's network (or any two hosts named alike) have the same HOSTNAME,
    and each runs the watchdog as PID 1: an identity of host and process id alone was the same for
    both, and the lease's "the holder may take it again at once" let each take it from the other
    every try, both leading at once between tries."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "HOSTNAME": "node-1"}
    replicas = [
        subprocess.Popen([sys.executable, "-c", _REPLICA, schema, postgres_server.password.get_secret_value()],
                         env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        for _ in range(2)
    ]
    elections = [int(replica.communicate(timeout=60)[0].split("elected ")[-1]) for replica in replicas]
    assert sorted(elections) == [0, 1], f"elections per replica: {elections} (one leader, elected once, expected)"
