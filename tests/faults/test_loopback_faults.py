"""The fault matrix over real sockets: faults that need a connection to cut."""

from __future__ import annotations

import asyncio
import dataclasses
import math
import time
from datetime import datetime, timedelta, timezone

import pytest
from freezegun import freeze_time

from watchdog.app import Daemon
from watchdog.simulator import Simulator
from watchdog.simulator.doors import ApiRequest
from watchdog.simulator.operations import ApiReply

from ..support import until
from .cases import LOOPBACK_CASES, FaultCase
from .checks import calls_within_policy, check_all
from .loopback import POLL_SECONDS, play_loopback
from .world import PROD

pytestmark = pytest.mark.process


@pytest.mark.parametrize("case", LOOPBACK_CASES, ids=lambda case: case.id)
async def test_the_daemon_survives_the_fault(case: FaultCase) -> None:
    check_all(case, await play_loopback(case))


async def test_a_poll_a_step_forward_of_the_wall_clock_made_due_is_not_counted_as_a_hot_loop() -> None:
    """A CI run once failed the connection-reset case with "prod: 3 polls in 8s; one per interval
    allows 2", and nothing said why. APScheduler plans the polls on the wall clock, the checks
    measured the run on the simulator's monotonic clock: a step forward of the wall clock makes
    the poll it brought due run at once (docs/operations.md, "The wall clock"), which the daemon logs as
    wall_clock_stepped, but the run's log lines are captured. Here the wall clock steps 6 s
    forward once the first polls are done: the second poll runs at once, the third one interval
    of the wall clock after the first (4 s of the run's), and that is the daemon doing as documented, not a hot
    loop. Without that logged step, the same three polls still fail the count, and the message
    says when each poll started and that no step was logged."""
    case = next(c for c in LOOPBACK_CASES if c.id == "connection-reset")
    with freeze_time(datetime.now(timezone.utc), tick=True, real_asyncio=True, tz_offset=0) as frozen:

        async def step_forward(daemon: Daemon) -> None:
            await until(lambda: all(p.first_poll_done for p in daemon.pollers.values()), "the first polls", step=0.05)
            await asyncio.sleep(0.5)
            frozen.move_to(datetime.now(timezone.utc) + timedelta(seconds=6))

        run = await play_loopback(case, step_forward)
    (stepped,) = [e for e in run.logs if e["event"] == "wall_clock_stepped"]
    assert 5.9 < stepped["seconds"] < 6.1
    polls, alone = run.polls[PROD], math.floor(run.elapsed / POLL_SECONDS) + 1
    assert polls > alone, f"the step made {polls} polls in {run.elapsed:.1f}s, no more than the run alone allows"
    check_all(case, run)

    unsaid = dataclasses.replace(run, logs=[e for e in run.logs if e["event"] != "wall_clock_stepped"])
    with pytest.raises(AssertionError, match=rf"prod: {polls} polls in \d+s; one per interval allows {alone} "
                                             r"\(polls started at t = [\d., ]+ s; no step of the wall clock"):
        calls_within_policy(case, unsaid)


async def test_a_stall_of_the_process_while_a_restart_is_answered_cuts_no_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    """Beside two CPU hogs with coverage on, the connection-reset case failed 1 run in 20 with
    "API calls counted by the daemon {..., ('restart', 'error'): 8.0, ('restart', '2xx'): 5.0} !=
    seen by the API {..., ('restart', 'error'): 7.0, ('restart', '2xx'): 6.0}": a restart the
    simulator answered 202 that the daemon counted as failed, and sent again. The daemon and the
    simulator share the event loop, and `timeouts.total` (asyncio.timeout) cuts a call at its
    deadline even when its answer is already waiting in the socket: the process held 1.2 s as
    the answer went (a loaded machine; a 0.67 s hold was seen there) gave "CallDeadlineExceeded:
    no complete answer within 1s". Only the trickling-answer case is about that deadline; the
    others now give it 5 s, so such a hold costs them nothing."""
    case = next(c for c in LOOPBACK_CASES if c.id == "connection-reset")
    handle = Simulator.handle
    held: list[float] = []

    def holding(simulator: Simulator, request: ApiRequest) -> ApiReply:
        reply = handle(simulator, request)
        call = simulator.calls[-1]
        if call.endpoint == "restart" and call.fault is None and not held:
            held.append(call.t)
            time.sleep(1.2)  # the whole process: the answer goes out after it
        return reply

    monkeypatch.setattr(Simulator, "handle", holding)
    run = await play_loopback(case)
    assert held, "no restart was answered after the fault"
    check_all(case, run)
