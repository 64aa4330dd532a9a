"""The connection, fencing and transactions of `PostgresStateStore` (postgres.py): every write is
one fenced transaction (or part of a poll's `batch`), every read goes to a live connection, and a
failure becomes a `StateStoreError` that names what could not be done (and `problem`, for /readyz).

Fencing: every write transaction starts by reading the lease row `FOR SHARE` and comparing its
epoch (and holder) with the ones this replica leads under (`fence`). The share lock is held until
the transaction commits, and a replica taking the lease over must update that row, so the two
cannot interleave (postgres.py says what that guarantees).

`PostgresTransactions` is the base of `PostgresMemory` (postgres_memory.py) and so of the store;
it holds no record of its own: the store's modules say what is read and written.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from typing import Any

import psycopg
from psycopg.rows import dict_row

from . import postgres_rows
from .errors import Fenced, LeaseRolledBack, StateStoreError
from .held import HeldTime
from .marks import WriteMarks
from .postgres_connection import error_text
from .postgres_rows import AnsweringConnection, Connection, Row, rollback

# After a failed attempt to connect, calls fail at once for this long rather than each waiting
# for the connect timeout on the event loop.
RECONNECT_PAUSE = 1.0


class PostgresTransactions:
    def __init__(self, parameters: dict[str, Any], clock: Callable[[], float] = time.monotonic) -> None:
        self.parameters = parameters
        self._clock = clock
        self.problem: str | None = None
        self.on_failure: Callable[[], None] = lambda: None
        self._epoch: int | None = None
        self._holder: str | None = None  # the lease holder this replica won the epoch as (fence)
        self._conn: Connection | None = None
        self._no_connect_before = 0.0
        self._batch: Connection | None = None  # the connection holding a batch's transaction
        self._batch_open = False  # whether that transaction is open (not just past a commit point)
        self._batch_whole = False  # whether commit points join the batch's transaction (batch(whole=True))
        self._seen: list[postgres_rows.Seen] = []  # observe_status in a batch, not sent yet (_send_seen)
        # The states written since a moment (marks.py): the recorder reads a job's state once while
        # nothing writes it. Good for the leader alone: every write it makes is fenced, and it
        # begins anew at each new epoch (fence), when another replica may have written.
        self.marks = WriteMarks()
        self.held = HeldTime()  # how long its calls held the event loop: each wait for the database

    path: str  # the database as messages name it (PostgresStateStore sets it first: postgres_connection.describe)

    @property
    def description(self) -> str:
        return f"PostgreSQL database {self.path}"

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def fence(self, epoch: int | None, holder: str | None = None) -> None:
        self._epoch, self._holder = epoch, holder
        self.marks.wrote_all()

    @property
    def epoch(self) -> int | None:
        return self._epoch

    def _send_seen(self) -> None:
        """The statuses (and states) a batch has kept for its next statement, in one pipeline."""
        if not self._seen:
            return
        seen, self._seen = self._seen, []
        with self._write("record connectors' statuses") as db:
            postgres_rows.save_seen_many(db, seen)

    @contextmanager
    def batch(self, *, whole: bool = False) -> Iterator[None]:
        """One transaction for the writes of one step (a poll: two writes per connector), so that
        a poll of a large cluster costs one commit, not thousands. Nested batches join the outer.
        `whole`: its commit points (add_pending, finish...) join it too (contract.py), and its
        writes are pipelined: a failure among them is raised at its end, all rolled back."""
        if self._batch is not None:
            yield
            return
        conn = self._begin("start a batch of writes")
        self._batch, self._batch_open, self._batch_whole = conn, True, whole
        try:
            # A whole batch has no commit point to wait at, so its writes go in a pipeline: sent
            # without waiting for each answer, a round trip at its reads and at its end. Waiting
            # for each, a new leader's recovery of 3,000 kept requests (a write each) with its
            # database 3 ms away held the event loop 16 s, past lease_duration: the lease went to
            # a standby, which recovered the same backlog, and so on.
            with conn.pipeline() if whole else nullcontext():
                yield
                self._send_seen()
        except psycopg.Error as error:  # a pipelined write's failure, raised at the pipeline's end
            self._batch, self._seen = None, []
            rollback(conn)
            raise self._failure("record a batch of writes", error) from error
        except BaseException:
            self._batch, self._seen = None, []
            if self._batch_open:
                rollback(conn)
                self.marks.wrote_all()  # what the batch wrote since its last commit point is undone
            raise
        self._batch = None
        if not self._batch_open:
            return  # its last write was a commit point: nothing left to commit
        try:
            conn.execute("COMMIT")
        except psycopg.Error as error:
            raise self._failure("commit a batch of writes", error) from error
        self.problem = None

    @contextmanager
    def _write(self, what: str, *, commit: bool = False, quiet_while_failing: bool = False) -> Iterator[Connection]:
        """One transaction, fenced; inside a batch, part of the batch's (and with `commit`, the
        batch's commit point: committed before returning, the batch going on in a new one).

        A commit point's statements (add_pending, mark_sending, mark_queued, finish) only execute,
        reading nothing back, so they go in one pipeline with their COMMIT (one round trip), as
        the BEGIN of a transaction goes with its fence (_fence_check). Each waiting for its
        answer, a restart remembered in a poll's or a schedule run's batch took four round trips
        (the statement, COMMIT, then BEGIN and the fence of the next): a schedule run restarting
        2,000 connectors took 52 s with the database 3 ms away. `quiet_while_failing` (outside a
        batch): a failure while another is reported is raised, neither counted nor made `problem`."""
        if self._batch is not None:
            self._send_seen()  # first: the batch's writes keep their order
            conn = self._batch
            try:
                if not self._batch_open:
                    # The first write after a commit point begins the batch's next transaction,
                    # fenced again: a takeover waiting on the lease row got in at the commit (a
                    # COMMIT releases every lock; nothing can keep it), and then this write and
                    # every later one are refused. Checking here, not right after the commit,
                    # keeps the committed write's caller from seeing an error for a write that
                    # happened.
                    self._fence_check(conn)
                    self._batch_open = True
                if commit and not self._batch_whole:
                    with conn.pipeline():
                        yield conn
                        conn.execute("COMMIT")
                    self._batch_open = False
                    self.problem = None  # it takes writes again: else the queue drops what this remembered
                else:
                    yield conn
            except psycopg.Error as error:
                raise self._failure(what, error) from error
            return
        report = not (quiet_while_failing and self.problem is not None)
        conn = self._begin(what, report=report)
        try:
            with conn.pipeline() if commit else nullcontext():
                yield conn
                conn.execute("COMMIT")
        except psycopg.Error as error:
            rollback(conn)
            raise self._failure(what, error, report=report) from error
        except BaseException:
            rollback(conn)
            raise
        self.problem = None

    def _begin(self, what: str, *, report: bool = True) -> Connection:
        """A connection in a new transaction whose epoch has been checked (and stays valid until it
        ends: the lease row is share-locked)."""
        if self._epoch is None:
            raise Fenced(f"{self.description}: not written ({what}): this replica is not the leader")
        try:
            return self._on_live_connection(self._fence_check)
        except LeaseRolledBack as rolled_back:
            self.marks.wrote_all()
            failure = StateStoreError(f"{self.description}: not written ({what}): {rolled_back}")
            if report:
                self.problem = str(failure)
                self.on_failure()
            raise failure from rolled_back
        except Fenced:
            raise
        except psycopg.Error as error:
            if self._conn is not None:
                # The check's BEGIN opened a transaction the error aborted (a read-only database
                # refuses SELECT ... FOR SHARE): left open, every later statement on this
                # connection failed with "current transaction is aborted", after the database
                # was writable again too, and the leader recorded nothing for good.
                rollback(self._conn)
            raise self._failure(what, error, report=report) from error

    def _fence_check(self, conn: Connection) -> None:
        with conn.pipeline():  # BEGIN and the fence in one round trip
            conn.execute("BEGIN")
            fence = conn.execute("SELECT epoch, holder FROM leader_lease WHERE id = 1 FOR SHARE")
        row = fence.fetchone()
        if row is not None and self._epoch is not None and row["epoch"] < self._epoch:
            # Epochs only rise: an older one is a database that lost the commits of this
            # replica's own takeover (errors.LeaseRolledBack), not another replica's.
            rollback(conn)
            raise LeaseRolledBack(
                f"the lease row names epoch {row['epoch']} (held by {row['holder']}), older than the {self._epoch} this "
                "replica leads under: the database lost commits (a failover to a standby that missed them?); the "
                "leader's next lease renewal takes the lease back")
        # The holder too: an epoch is `epoch + 1` of a row that a failover losing its last
        # commits (asynchronous replication) rolls back, and the next leader then wins the very
        # epoch the old one still writes under; by epoch alone the old leader's writes passed.
        if row is None or row["epoch"] != self._epoch or (self._holder is not None and row["holder"] != self._holder):
            rollback(conn)
            found = None if row is None else row["epoch"]
            raise Fenced(f"{self.description}: write refused: this replica leads under epoch {self._epoch}"
                         f"{'' if self._holder is None else f' as {self._holder}'}, the lease is at epoch {found} "
                         f"(held by {None if row is None else row['holder']})")

    def _read(self, what: str, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        if self._batch is not None:
            self._send_seen()  # a read sees the batch's writes
        try:
            if self._batch is not None:
                return self._batch.execute(sql, params).fetchall()
            rows: list[Row] = []
            self._on_live_connection(lambda conn: rows.extend(conn.execute(sql, params).fetchall()))
            return rows
        except psycopg.Error as error:
            raise self._failure(what, error) from error

    def _on_live_connection(self, use: Callable[[Connection], object]) -> Connection:
        """`use` (a read, or a transaction's start: nothing that may not be done twice) on the
        store's connection, and once more on a new one if that connection died while idle: a
        database restarted or failed over since its last use says so only when it is next used
        ("terminating connection due to administrator command"), so the first call after a blip
        long over failed: a restart request answered 503, a new leader's pruning.
        The connection it was used on."""
        conn = self._conn
        reused = conn is not None and not conn.closed and not conn.broken
        conn = self._connection()
        started = self._clock()
        try:
            use(conn)
        except psycopg.OperationalError:
            # Only a connection found lost at once (ours closed on a timeout is not `broken`): one
            # lost while waited on (a route gone: TCP's timeout) is no blip long over, and a new
            # connection would hold the event loop for the connect timeout more.
            if not (reused and conn.broken and self._clock() - started < RECONNECT_PAUSE):
                raise
            self.close()
            conn = self._connection()
            use(conn)
        return conn

    def _connection(self) -> Connection:
        conn = self._conn
        if conn is not None and not conn.closed and not conn.broken:
            return conn
        self.close()
        if self._clock() < self._no_connect_before:
            raise psycopg.OperationalError("the last attempt to connect failed less than a second ago")
        try:
            with self.held.holding():
                self._conn = AnsweringConnection.connect(autocommit=True, row_factory=dict_row, **self.parameters)
            self._conn.held = self.held
        except psycopg.Error:
            self._no_connect_before = self._clock() + RECONNECT_PAUSE
            raise
        return self._conn

    def _failure(self, what: str, error: psycopg.Error, *, report: bool = True) -> StateStoreError:
        if isinstance(error, (psycopg.OperationalError, psycopg.errors.ReadOnlySqlTransaction)):
            self.close()  # made again on the next call; a read-only session's setting lasts as long as it does
        failure = StateStoreError(f"{self.description}: could not {what}: {error_text(error, self.parameters)}.")
        self.marks.wrote_all()  # a transaction rolled back (a batch's other writes too), or its end unknown
        if report:
            self.problem = str(failure)
            self.on_failure()
        return failure
