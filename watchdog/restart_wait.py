"""How long `watchdog restart` without a daemon waits for its restart to be sent, and what it
does with one it cannot send in that time.

The command is a person at a terminal (or a script): its restart call answered 429 (or 503)
with a `Retry-After` of minutes waited out the key's pause, up to `rate_limit.max_pause`
(15 minutes) per answer, saying nothing on stdout; cut short (`timeout 40`), it said the
restart "may or may not have been sent", though every call had been answered; and the request
stayed in the state file, armed for whichever daemon started on it next, possibly hours later,
after the person had restarted the connector by other means (a probe, 2026-12-06).

Now the restart is waited for at most RESTART_WAIT_SECONDS once queued; a wait that cannot end
in that time (the key paused for longer than what is left) is not begun. A restart not sent by
then is withdrawn: it ends `cancelled`, saying why and for how long the API asked to wait, the
state file keeps nothing of it, and the command exits 75 (run it again later, or ask a running
daemon with --daemon, which waits). A restart whose last call got no answer (it may have reached
the API) is not withdrawn: the stop that follows ends it `interrupted`, as it is."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable

from .model import Outcome
from .queue import Phase, RestartJob, RestartQueue
from .state import StateStore

RESTART_WAIT_SECONDS = 30.0
# How often the wait looks at the job and the key's pause.
_LOOK_EVERY = 0.5


async def wait_or_withdraw(job: RestartJob, queue: RestartQueue, state: StateStore,
                           paused_for: Callable[[], float], *, seconds: float = RESTART_WAIT_SECONDS) -> None:
    """Return once the job has ended: sent (whatever its answer), or withdrawn because it could
    not be sent within `seconds` (`paused_for`: how long its key's calls are paused now)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not job.done.is_set():
        left = deadline - loop.time()
        paused = max(paused_for(), queue.retry_in(job))
        if left <= 0 or paused > left:
            if _withdraw(job, queue, state, seconds, paused):
                return
            if left <= 0:
                # On the wire, or its last call unanswered: the stop ends it as it is.
                await job.done.wait()
                return
        try:
            await asyncio.wait_for(job.done.wait(), min(_LOOK_EVERY, max(left, _LOOK_EVERY)))
        except TimeoutError:
            pass


def _withdraw(job: RestartJob, queue: RestartQueue, state: StateStore, seconds: float, paused: float) -> bool:
    """Withdraw a job no call of which may be on the wire; whether it was."""
    if job.phase is Phase.SENDING or job.maybe_sent:
        return False
    asked = (f"it would wait {math.ceil(paused)} s more ({job.message or 'its API key is paused by a 429'})"
             if paused > 0 else f"still waiting after {seconds:g} s ({job.message or 'for the API'})")
    withdrawn = queue.withdraw(job.key, lambda _: True, message=(
        # It keeps nothing, the pause included (what the limiter learnt lives in the process:
        # docs/rate-limits.md): "run it again then" was read by a script as "at once", and five
        # runs in 10 s sent five restarts into a 120 s pause (probe_cli F2, left as documented).
        f"not sent: {asked}; this command waits at most {seconds:g} s and keeps nothing, the pause included: run it "
        "again once that wait has passed (one run sooner is sent into the pause and answered 429 again), or ask a "
        "running daemon (--daemon), which waits"))
    if withdrawn:
        state.withdraw_pending([request.id for request in withdrawn])
    return job.outcome is Outcome.CANCELLED
