"""`StateStore`: what every state backend promises, whatever keeps the records.

Two implementations: `SqliteStateStore` (an embedded file, one daemon per file) and
`PostgresStateStore` (a shared database, several replicas, one of them the leader). The engine,
the recorder, recovery, the API and the CLI know only this protocol; `tests/test_state_contract.py`
runs the same suite against both.

The guarantees, for both:
- Every write is all or nothing. `mark_sending` counts the attempt in the transaction that marks
  the request as possibly sent; `mark_queued` puts it back once an answer proved the call is no
  longer on the wire (with the attempt taken back, in the same transaction, when the answer
  proved the call ran nothing); `finish` writes the history record, the state and the removal of
  the request together. A write that returns is durable against a crash of the daemon.
- `add_pending` is durable when it returns, even inside a `batch()`: a request is remembered before
  it is queued, so a crash never loses it.
- Writes are fenced (PostgreSQL): each carries the epoch of the leadership it was decided under,
  checked in its own transaction; a stale one raises `Fenced` and changes nothing. The SQLite
  store has one writer by construction (an exclusive lock on the file), so it needs no epoch.
- A failed write raises `StateStoreError` (naming the store and the operation), sets `problem`
  until a write succeeds again, and calls `on_failure` (which the daemon counts). `Fenced` is not
  a failure of the store: it leaves `problem` alone. Nor does `mark_alive` failing while
  `problem` is set (a full disk): that failure is raised but not counted, once is enough.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from typing import Protocol

from ..model import (
    ConnectorKey,
    ConnectorState,
    HistoryRecord,
    PendingPhase,
    PendingRequest,
    RestartRequest,
)
from ..report import StatusRow
from .held import HeldTime
from .marks import WriteMarks
from .running import JudgedWindows, RunningIdentity, RunningSeen


class StateStore(Protocol):
    # Why the last write failed, until a write succeeds again (readiness, a metric, an alert).
    problem: str | None
    # Called on every failed read or write (the daemon counts them).
    on_failure: Callable[[], None]
    # Which connectors' states this store has written since a moment (marks.py): a state read
    # from it is still what it holds while nothing has written it since (the writer's own view:
    # every write a leader makes is fenced, and fence() begins anew).
    marks: WriteMarks
    # How long its calls have held the caller, the event loop (held.py): what made a listing late.
    held: HeldTime

    @property
    def description(self) -> str:
        """What the store is, for messages: the file's path, or the database without its password."""
        ...

    @property
    def durable(self) -> bool:
        """Whether what the store keeps outlives the daemon (False for SQLite's `:memory:`): the
        log says where an `unsent` restart went only if it is true."""
        ...

    @property
    def schema_version(self) -> int: ...

    def close(self) -> None: ...

    def fence(self, epoch: int | None, holder: str | None = None) -> None:
        """The epoch every following write is checked against (None: this replica may not write),
        and the lease holder it was won as, when leaders are elected (then both must still match)."""
        ...

    def batch(self, *, whole: bool = False) -> AbstractContextManager[None]:
        """Group the writes of one step (a poll) into as few transactions as the backend needs;
        `add_pending` still commits before it returns. A failure inside rolls back what the batch
        wrote since its last commit point and is raised. `whole`: every write, the commit points
        too, is durable only when the batch ends, all or none: for writes that only move what the
        store already holds durably (recovery giving kept requests their new jobs, ending them),
        where a commit each cost four round trips: 1,000 requests held the event loop 7 s at
        the start of a leader whose database was 1 ms away."""
        ...

    # -- per-connector state
    def load(self, key: ConnectorKey) -> ConnectorState: ...
    def save(self, key: ConnectorKey, state: ConnectorState) -> None: ...
    def forget(self, key: ConnectorKey) -> None: ...
    def items(self) -> Iterator[tuple[ConnectorKey, ConnectorState]]: ...
    def load_many(self, keys: Sequence[ConnectorKey]) -> dict[ConnectorKey, ConnectorState]:
        """The states of `keys` (the initial state for those it holds none of), in one read where
        the backend can: a poll reads its connectors' states so, a slice at a time, rather than
        a round trip each (with PostgreSQL 1 ms away, a third of a 14 s poll of 2,000)."""
        ...
    def observe_status(self, key: ConnectorKey, seen_state: str, seen_at: datetime,
                       state: ConnectorState | None = None) -> None:
        """Remember the status a poll saw; with `state`, the connector's state too (as `save`),
        in the same write: one statement per connector and poll instead of two. Inside a batch
        the store may send it with the batch's next statement (PostgreSQL: a slice's statuses in
        one round trip), in order, read by the batch's reads; its failure is then raised by that
        statement (or by the batch's end), which it rolls back with."""
        ...
    def dry_run_last_restarts(self) -> list[ConnectorKey]:
        """Connectors whose kept last restart is a dry-run restart of their history: only a release
        from before dry-run attempts were kept in memory wrote those (recovery forgets them)."""
        ...
    def rows(self) -> list[StatusRow]: ...
    def rows_seen_before(self, moment: datetime) -> list[StatusRow]:
        """The rows of connectors a poll last saw at or before `moment`, and of those no poll
        ever saw whose newest restart time (last_restart_at, next_allowed_at, healthy_since) is at
        or before it (undated ones left out): what the hourly sweep may forget, read without the
        thousands a poll just saw."""
        ...

    # -- restart requests: queued -> sending (-> queued, answered and tried again) -> finished
    def add_pending(self, request: RestartRequest, job_id: str, *, phase: PendingPhase = PendingPhase.QUEUED) -> None:
        """Remember an accepted request of `job_id`; `phase` sending when it joins a job whose
        call may be on the wire (so that a crash then never sends it again at the next start)."""
    def mark_sending(self, job_id: str, key: ConnectorKey, state: ConnectorState) -> None: ...
    def mark_queued(self, job_id: str, key: ConnectorKey | None = None, state: ConnectorState | None = None) -> None:
        """The job's last call was answered (429, 5xx...) and it will be tried again: back to
        `queued`, so that a restart of the daemon sends it rather than ending it `interrupted`.
        With `key` and `state`, the connector's state saved in the same transaction: the attempt
        taken back when the answer proved the call ran nothing (engine/unmade_attempts.py)."""
        ...
    def finish(self, job_id: str, key: ConnectorKey, state: ConnectorState | None, record: HistoryRecord) -> None: ...
    def withdraw_pending(self, request_ids: Sequence[str]) -> None: ...
    def pending(self) -> list[PendingRequest]: ...

    # -- since when the polls saw each connector running (running.py): what a new leader's stall checks need
    def record_running(self, cluster: str, listed_at: datetime, started: Mapping[str, datetime],
                       stopped: Collection[str], *, ids: Mapping[str, str | None] | None = None,
                       identity: str | None = None) -> None:
        """A listing of `cluster` at `listed_at`: the connectors it saw become healthy (`started`,
        since when; `ids`: the lcc- id each was listed with) and those it saw stop being so or
        leave (`stopped`), in one write with the cluster's stamp and `identity` (which Kafka
        cluster the name stood for). A store that cannot keep them (a PostgreSQL role that may
        not create the tables) writes nothing."""
        ...
    def running_seen(self, cluster: str) -> RunningSeen:
        """When `cluster` was last listed (None: none recorded; running.NotKnown: the store cannot
        tell, and why) and since when each connector was seen healthy by the listings up to then."""
        ...

    def running_identity(self, cluster: str) -> RunningIdentity:
        """Which Kafka cluster `cluster`'s last listing was of, and the lcc- id each time
        running_seen gives is of (None: not known: a listing gave none, or an older release wrote
        the row): seeded only under the same definition, to a connector listed with that id."""
        ...

    def record_judged(self, rule: str, judged: Mapping[str, JudgedWindows]) -> None:
        """The windows a stalled rule's check read and judged, per cluster (each replaces the one
        kept): a new leader's first check reads the span since (stall.catch_up)."""
        ...
    def judged(self, rule: str) -> dict[str, JudgedWindows]:
        """The windows the rule's checks last judged, per cluster (none a store cannot keep)."""
        ...

    def prune_unlisted(self, keep: Callable[[str], bool], cutoff: datetime, after: str | None,
                       clusters: int) -> tuple[int, str | None]:
        """One step of the side tables' prune (pruning.side_steps): the rows of the next
        `clusters` clusters after `after` last listed before `cutoff` that `keep` does not keep."""
        ...
    def prune_unjudged(self, rules: Collection[str], after: str | None, count: int) -> tuple[int, str | None]:
        """One step of the side tables' prune: the windows of the next `count` rules after
        `after` whose names are not in `rules`."""
        ...

    # -- the daemon's last sign of life, for recovery: a schedule's restart kept while no daemon
    # ran for longer than the scheduler's grace is not sent late (engine/recovery.py)
    def last_alive(self, now: datetime | None = None) -> datetime | None:
        """When a daemon was last known alive on this store, by its own clock (a time ahead of
        `now` not counted); None when the store does not record it (PostgreSQL: the lease's renewal
        does) or never did."""
        ...
    def mark_alive(self, at: datetime) -> None: ...

    # -- history
    def history(
        self, key: ConnectorKey | None = None, limit: int = 50, *, cluster: str | None = None, connector: str | None = None
    ) -> list[HistoryRecord]:
        """Finished restarts, newest first: of one connector (`key`), or of those matching
        `cluster` and/or `connector` (a connector's name in any cluster), or of all."""
        ...
    def prune(self, max_age: timedelta, max_entries: int) -> int:
        """The whole prune at once (pruning.prune_all); the daemon goes in steps (pruning.prune_steps)."""
        ...
    def prune_older(self, max_age: timedelta, limit: int) -> int:
        """One step of the prune: at most `limit` records older than `max_age`, oldest first."""
        ...
    def prune_excess(self, max_entries: int, after: ConnectorKey | None, connectors: int) -> tuple[int, ConnectorKey | None]:
        """One step of the prune: the records beyond the newest `max_entries` of each of the next
        `connectors` connectors after `after`; returns how many went and where the next step begins."""
        ...
