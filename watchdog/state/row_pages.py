"""The connectors' rows a page at a time, by the primary key (cluster, connector): GET
/v1/connectors reads them so, letting the event loop go between pages (api/row_reading.py).

`rows()` in one read held the loop 0.5 s at 20,000 rows on SQLite, more on PostgreSQL (a soak
probe under name churn: deleted connectors keep a row for `state.forget_vanished_after`), and
/healthz, the webhooks and the lease's renewal waited for it. Here, not in the stores, so that
store.py and postgres.py (over 500 lines) do not grow: it uses each store's row decoding."""

from __future__ import annotations

import sys
from typing import Any

from ..model import ConnectorKey
from ..report import StatusRow
from .store import SqliteStateStore

# Each page starts past the last key of the one before, in the primary key's own order (SQLite:
# bytes; PostgreSQL: the database's collation), so that its index finds it: the "C" order of
# PostgreSQL's rows() sorted the whole table for every page (17 ms a page at 20,000 rows, and
# growing with them). The reader puts the rows in rows()'s order itself (api/row_reading.py).
_SQLITE = "SELECT * FROM connector_state WHERE (cluster, connector) > (?, ?) ORDER BY cluster, connector LIMIT ?"
_SQLITE_FIRST = "SELECT * FROM connector_state ORDER BY cluster, connector LIMIT ?"
_POSTGRES = "SELECT * FROM connector_state WHERE (cluster, connector) > (%s, %s) ORDER BY cluster, connector LIMIT %s"
_POSTGRES_FIRST = "SELECT * FROM connector_state ORDER BY cluster, connector LIMIT %s"


def rows_page(store: Any, after: ConnectorKey | None, limit: int) -> list[StatusRow] | None:
    """At most `limit` rows past `after` (None: from the first), in the order of the store's
    primary key (on PostgreSQL, not always `rows()`'s); None for a store that cannot be read by
    pages (another backend, a test's double): read it whole then."""
    if isinstance(store, SqliteStateStore):
        if after is None:
            return store._status_rows(_SQLITE_FIRST, (limit,))
        return store._status_rows(_SQLITE, (after.cluster, after.connector, limit))
    # psycopg is loaded only by those who use it (backends.py): a PostgreSQL store has loaded it.
    postgres = sys.modules.get("watchdog.state.postgres")
    if postgres is not None and isinstance(store, postgres.PostgresStateStore):
        if after is None:
            return store._status_rows(_POSTGRES_FIRST, (limit,))
        return store._status_rows(_POSTGRES, (after.cluster, after.connector, limit))
    return None
