"""The state store: what the watchdog remembers per connector, the restart history, and the restart
requests accepted but not yet finished.

`SqliteStateStore` keeps it in an embedded SQLite file so that a daemon killed at any moment comes
back with its backoff, budgets and gave-up flags intact (no restart storm) and sends the requests it
had accepted. On `:memory:` it keeps nothing beyond the process (tests, the demo).

Crash safety rests on three choices:
- Every write is one short transaction. The ones that must move together share one:
  `mark_sending` counts the attempt in the same transaction that marks the request as possibly
  sent, and `finish` writes the history record, the state and the removal of the request together.
- WAL journal with `synchronous=NORMAL`: a commit is in the write-ahead log, in the operating
  system's page cache, before COMMIT returns, so a process crash (kill -9, OOM kill) loses no
  committed transaction and cannot corrupt the file. Only a power loss or kernel crash can lose
  the last commits since a checkpoint (never corrupt the file); `FULL` would add an fsync to every
  commit, i.e. to every connector on every poll, to guard against that rarer loss, whose cost is
  a few restarts counted too few.
- A file we cannot read is never replaced: opening it raises `StateStoreError`, which names the
  file and how to recover.

One job per file:

    store.py     `SqliteStateStore`: the reads and the (transactional) writes
    sqlite_memory.py  its side tables' reads and writes: since when connectors run, the windows
                 judged (running.py), and the daemon's last sign of life (`daemon_alive`)
    file_lock.py the lock: one process per file, and who holds it (pid, command, since); files owner-only
    opening.py   the checks that refuse an untrustworthy file, WAL, the upgrade
    schema.py    the tables, `MIGRATIONS` and the version checks
    rows.py      rows <-> values (timestamps as sortable ISO 8601 UTC text, JSON for lists)
    errors.py    `StateStoreError`, `StateFileInUse` (and its `LockHolder`), `StateFileMissing`, `Fenced` and the recovery advice every refusal carries
    contract.py  `StateStore`: the protocol both backends implement (and their shared guarantees)
    held.py      `HeldTime`: how long a store's calls held the event loop, in all
    postgres.py  `PostgresStateStore`: the shared store of replicas, every write fenced by epoch
    postgres_memory.py  its side tables' reads and writes (running.py), and its last sign of life (the lease)
    postgres_transactions.py  its connection, fencing and transactions: each write fenced by the lease row, a poll's writes in one batch
    postgres_schema.py, postgres_connection.py   its migrations; how it connects (bounded waits)
    postgres_rows.py  its rows <-> values (what each write sends, what each read gives back)
    postgres_password.py  a password rotated at a reload: the next connection sends it
    postgres_migration_lock.py  a start waiting (bounded, said) for another replica's migration
    backends.py  `open_store`: the backend a config asks for
    pruning.py   the restart history's pruning in steps of bounded size, for both stores
    row_pages.py the connectors' rows a page at a time, by primary key (GET /v1/connectors)
    running.py   since when the leader's polls saw each connector running, when each cluster was
                 last listed, the windows each stalled rule last judged: side tables (not a
                 migration), for the next leader's stall checks
    marks.py     `WriteMarks`: which connectors' states a store wrote since a moment (a state read
                 once is used again while nothing wrote it: the recorder, per restart sent)
"""

from .backends import is_shared, open_store
from .contract import StateStore
from .errors import Fenced, StateFileInUse, StateFileMissing, StateStoreError
from .opening import BUSY_TIMEOUT_MS, MEMORY
from .schema import MIGRATIONS, Migration, latest_schema_version
from .store import SqliteStateStore, utc_now

__all__ = [
    "BUSY_TIMEOUT_MS",
    "Fenced",
    "StateStore",
    "is_shared",
    "open_store",
    "MEMORY",
    "MIGRATIONS",
    "Migration",
    "SqliteStateStore",
    "StateFileInUse",
    "StateFileMissing",
    "StateStoreError",
    "latest_schema_version",
    "utc_now",
]
