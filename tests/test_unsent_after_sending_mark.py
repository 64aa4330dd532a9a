"""A restart whose requests were marked `sending` (its attempt counted) and whose call was then
refused, the replica losing the lead (its renewal late, or the `sending` write answered after its
renew deadline): the replica knows the call never went out and logs `restart_left_to_leader`.

Before, the store kept it `sending`, and the next leader ended it `interrupted` ("while this
restart was being sent; it may or may not have reached the API"), counted, and judged its
connector on a restart never made: a FAILED connector nothing restarted for a whole backoff gap
(an HA probe, 2026-12-07: 19 minutes). Now the replica puts it back `queued`, the attempt taken
back, while its lease still holds; the next leader's poll restarts the connector."""

from __future__ import annotations

from typing import Any

import structlog

from bench.postgres import PostgresServer
from watchdog.model import PendingPhase
from watchdog.simulator import Scenario, Simulator
from watchdog.state.postgres import PostgresStateStore

from .support import CLUSTER, sim_scenario, until
from .test_outage_outcomes import HOLDER
from .test_unmade_attempt_across_lead import KEY, _of_it, _replica, _restart_calls, taken_over

LATE = "the lease was not renewed within renew_deadline (10s); stepping down before it can expire"


async def test_a_restart_refused_its_call_after_its_sending_mark_is_restarted_by_the_next_leader(
    postgres_server: PostgresServer, postgres_url: str,
) -> None:
    scenario = sim_scenario([{"name": KEY.connector, "script": {"initial": "FAILED", "recover_after_restarts": "never"}}])
    simulator = Simulator(Scenario.model_validate(scenario))
    with PostgresStateStore(postgres_url, password=postgres_server.password) as store, \
            PostgresStateStore(postgres_url, password=postgres_server.password) as other_store:
        first = await _replica(postgres_server, postgres_url, store, simulator, HOLDER)
        refused: list[str | None] = [None]
        first.queue.may_send = lambda: refused[0]
        real_mark = store.mark_sending

        def mark_then_lapse(*args: Any) -> None:
            real_mark(*args)
            refused[0] = LATE  # the write's answer came after the renew deadline

        store.mark_sending = mark_then_lapse  # type: ignore[method-assign]
        successor = None
        try:
            with structlog.testing.capture_logs() as first_logs:
                first.queue.start()
                await first.pollers[CLUSTER].poll()
                await first.pollers[CLUSTER].poll()  # the second failed poll: the restart is decided
                await until(lambda: _of_it(first_logs, "restart_left_to_leader"), "the restart left to the leader")
            left_phases = [p.phase for p in store.pending()]
            # The leader is lost (its lease expires): another replica takes over.
            successor, logs = await taken_over(postgres_server, postgres_url, other_store, simulator)
            stored = other_store.load(KEY)
        finally:
            if successor is not None:
                await successor.stop()
            await first.stop()
    ended = {e["outcome"]: e for e in _of_it(logs, "restart_finished")}
    assert "interrupted" not in ended, ended["interrupted"]["message"]
    (decision,) = _of_it(logs, "decision")
    assert decision["decision"] == "restart", decision
    assert ended["accepted"]["attempt"] == 1, ended
    assert stored.attempts == 1, stored
    assert _restart_calls(simulator) == [202]
    assert left_phases == [PendingPhase.QUEUED], left_phases  # the store says it was not sent
