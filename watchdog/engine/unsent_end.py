"""A poll's restart left `unsent` at a stop ends there, once, in the history as `unsent`.

Recovery never sends a kept status restart (the first poll decides again on the connector as it
is then), so keeping it for the next start only had that start end it a second time: `unsent`
(tries 3, HTTP 429) in the stopping run's log, then `dropped`, tries 0, HTTP null, "before
sending it" in the next start's log, history and metrics, though its calls had been answered 429
(an outside probe, 2026-12-06). Ended at the stop, the one record says what happened and what
comes next."""

from __future__ import annotations

from ..model import Outcome, Trigger
from ..queue import RestartJob


def ends_at_stop(job: RestartJob, durable: bool) -> bool:
    """Whether this `unsent` job ends for good here: only polls asked for it (the next start
    leaves such a restart to its first poll), and the store keeps its record. One a restart by
    name, a schedule or an alert joined is kept whole: the next start sends it."""
    return (job.outcome is Outcome.UNSENT and durable and bool(job.requests)
            and all(request.trigger is Trigger.STATUS for request in job.requests))


def ended_message(job: RestartJob, shared: bool) -> str:
    """Its message at the stop: why it did not go, what its tries got, and what happens next."""
    if job.tries:
        times = "once" if job.tries == 1 else f"{job.tries} times"
        answer = f" (last answer HTTP {job.status_code})" if job.status_code is not None else ""
        tried = f"tried {times}, not accepted{answer}"
    else:
        tried = "never sent"
    who = "the replica that leads next" if shared else "the next start"
    return (f"{job.message}; {tried}; not sent again: {who} leaves the connector to its first poll, which "
            "decides again on it as it is then (its backoff and failure count kept)")


def ended_note(description: str) -> str:
    """The `restart_finished` line's note: where it went (the history), and that nothing is kept."""
    return f"ended here, recorded in the history ({description}); not kept for the next start to send"
