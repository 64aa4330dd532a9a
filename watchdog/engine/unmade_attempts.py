"""A failure restart's attempt is counted in the state store before its call goes out (a kill -9
with the call on the wire must not undo the backoff). When the answer proves the call ran nothing
(a 429, a 409 of a self-managed cluster between leaders, a call no worker could be connected to)
and the job is kept for another try, the attempt is taken back in the same write that puts its
requests back to `queued`: the store then holds the connector as if that call had never been
made, and the job's next call counts it again, once.

Kept counted (before), a leader lost before the retry left its successor only the stored state:
it ended the request `dropped` (a poll's restart) and judged the connector on a restart never
made: a FAILED connector held in backoff for minutes and one of max_restarts spent (an HA probe
under load, 2026-12-07: three leader losses, three connectors held up to 4 minutes).

`UnmadeAttempts` is mixed into `JobRecorder` (recorder.py), which counts the attempts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, TypeVar

from ..breaker import Breaker
from ..config import Config
from ..metrics import Metrics
from ..model import ConnectorState, Health
from ..queue import Abandoned, RestartJob
from ..state import Fenced, StateStore, StateStoreError
from .core import log
from .fleet_count import NOTHING_RAN, take_back_unmade

T = TypeVar("T")


def undone(current: ConnectorState, before: ConnectorState, charged: ConnectorState) -> ConnectorState:
    """The connector's state as it would be had the attempt counted at `charged` (from `before`)
    not been made. A field something else changed since the charge (a poll that saw it healthy,
    an alert resolved) keeps that change; the failed polls seen since count on top of those
    before the restart (policy.record_attempt set them to 0), so its next poll decides at once."""
    failures = current.consecutive_failures
    if current.health is not Health.HEALTHY:
        failures += before.consecutive_failures
    return replace(
        current, consecutive_failures=failures,
        attempts=_back(current.attempts, charged.attempts, before.attempts),
        last_restart_at=_back(current.last_restart_at, charged.last_restart_at, before.last_restart_at),
        next_allowed_at=_back(current.next_allowed_at, charged.next_allowed_at, before.next_allowed_at),
        healthy_since=_back(current.healthy_since, charged.healthy_since, before.healthy_since),
        awaiting_resolution=_back(current.awaiting_resolution, charged.awaiting_resolution, before.awaiting_resolution),
    )


def _back(now: T, charged: T, before: T) -> T:
    """A field's value before the charge, unless something changed it since."""
    return before if now == charged else now


class UnmadeAttempts:
    # The recorder's parts this uses (JobRecorder sets them).
    _config: Callable[[], Config]
    _state: StateStore
    _metrics: Metrics
    _breaker: Breaker
    # Jobs whose attempt the call on the wire was charged: their state before it, and with it.
    _charged: dict[str, tuple[ConnectorState, ConnectorState]]
    # Jobs whose attempt an answer took back: their next call counts it again.
    _taken_back: set[str]

    if TYPE_CHECKING:
        def _stored(self, job: RestartJob) -> ConnectorState: ...

    def charge_again(self, job: RestartJob) -> bool:
        """Whether the job's next call counts its attempt again (an answer took it back)."""
        return job.id in self._taken_back

    def charged(self, job: RestartJob, before: ConnectorState, after: ConnectorState) -> None:
        """The job's call about to go out counted its attempt: `before` and `after` that."""
        self._taken_back.discard(job.id)
        self._charged[job.id] = (before, after)

    def settled(self, job: RestartJob) -> None:
        """The job ended, or its next call counts nothing new (record_resend): forgotten here."""
        self._charged.pop(job.id, None)
        self._taken_back.discard(job.id)

    def not_sent(self, job: RestartJob) -> bool:
        """The job's requests were just marked `sending` (its attempt counted), and then this
        replica was refused the call (it is losing the lead: its renewal late, or the `sending`
        write answered after its renew deadline): it knows the call never went out. Put back to
        `queued`, the attempt it was charged taken back, in one write fenced as every write is:
        kept `sending`, the replica that leads next ended it `interrupted` ("it may or may not have
        reached the API"), counted, and its connector waited a whole backoff gap with no restart
        made (an HA probe, 2026-12-07: 19 minutes). Refused (another replica leads already: the
        write is fenced) or failed, it stays `sending` and ends so there; whether it was written."""
        charge = self._charged.pop(job.id, None)
        self._taken_back.discard(job.id)
        take_back_unmade(self._breaker, job, went_out=False)  # counts no restart made (fleet_count.py)
        try:
            self._put_back_queued(job, charge, take_back=True)
        except (Fenced, StateStoreError) as exc:
            log.info("restart_not_sent_not_recorded", cluster=job.key.cluster, connector=job.key.connector,
                     job=job.id, error=str(exc),
                     note="the call did not go out, but the state store could not record it: the leader ends "
                          "it interrupted")
            return False
        job.maybe_sent = False
        return True

    def answered(self, job: RestartJob) -> bool:
        """A call was answered and the job will be tried again: its requests are `queued` again, so
        a shutdown or crash before the next try leaves them to be sent at the next start (a 429
        otherwise would turn a restart nobody received into an `interrupted` one). When the answer
        proves the call ran nothing, the attempt it was charged is taken back in the same write,
        and the fleet breaker's entry for it (fleet_count.py) whatever the store does."""
        take_back_unmade(self._breaker, job)
        charge = self._charged.pop(job.id, None)
        try:
            if self._put_back_queued(job, charge, take_back=job.last_call_not_run or job.status_code in NOTHING_RAN):
                self._taken_back.add(job.id)
        except Fenced as exc:
            raise Abandoned(str(exc)) from exc
        except StateStoreError as exc:
            # Left `sending`, the attempt counted: the safe side (at worst it ends `interrupted`,
            # never sent twice; its backoff errs long).
            log.warning("restart_phase_not_recorded", cluster=job.key.cluster, connector=job.key.connector,
                        job=job.id, error=str(exc), note="still marked as possibly sent in the state file")
            return False
        return True

    def _put_back_queued(self, job: RestartJob, charge: tuple[ConnectorState, ConnectorState] | None, *,
                         take_back: bool) -> bool:
        """Mark the job's requests `queued` again; with `take_back`, the attempt `charge` counted
        undone in the same write (the state unread: left counted, the safe side, the backoff errs
        long). Whether the attempt was taken back. Raises Fenced and StateStoreError."""
        state = None
        if charge is not None and take_back:
            try:
                state = undone(self._stored(job), *charge)
            except StateStoreError:
                state = None
        if state is None:
            self._state.mark_queued(job.id)
            return False
        self._state.mark_queued(job.id, job.key, state)
        job.stored = (state, self._state.marks.now())
        self._metrics.show_connector_state(job.key.cluster, job.key.connector, state)
        return True
