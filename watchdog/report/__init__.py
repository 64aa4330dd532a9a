"""What `watchdog status` and `watchdog history` show, as text tables and as JSON.

Pure: values in, strings and JSON-ready structures out, the time passed in as `now`. The daemon's
HTTP API (`GET /v1/connectors`, the history route) and the CLI's `--json` output both call
`status_json` / `history_json`, and the CLI renders an API answer by reading it back with
`status_rows_from_json` / `history_from_json`, so a table looks the same whether its rows came
from a running daemon or straight from the state file.

One job per file:

    status.py        a watched connector's row (`StatusRow`), which rows `--problems` shows, the dry run's view
    gone.py          which rows are of deleted connectors (`gone`), or no longer watched (from the state file)
    places.py        where each cluster is (environment, Kafka cluster id): `ClusterPlace`, and its JSON
    status_json.py   the rows as GET /v1/connectors' and `--json`'s JSON, and read back from it
    status_table.py  the status table: rows grouped by environment and cluster, held, not accepted
    status_cells.py  a row's cells in that table (HEALTH, STATE, ..., NEXT ALLOWED, GAVE UP)
    status_notes.py  the lines after the table: polls failing or paused, the store, clusters left out
    history.py       finished restarts: their JSON, the captured error, the history table
    attempts.py      a connector whose attempts the API accepted none of, said beside its row
    stall_word.py    the stall check's last word on a connector a stalled rule selects, beside its row
    kept.py          the restart requests a state store keeps, as their rows' `held` (status from the store)
    row_select.py    which rows GET /v1/connectors answers with: its query's, the rows of deleted
                     connectors and of clusters no longer watched capped, the rest counted
    formatting.py    what both share: timestamps, spans (`3m ago`), the text table's layout

Everything is imported from here (`from watchdog.report import render_history`).
"""

from .attempts import attempts_note, with_attempts_notes
from .formatting import (
    COLUMN_GAP,
    GROUP_INDENT,
    format_span,
    format_timestamp,
    parse_timestamp,
    parse_timestamp_or_none,
    timestamp_or_none,
)
from .gone import gone_keys, unwatched_rows, with_gone
from .history import (
    ERROR_WIDTH,
    HISTORY_HEADER,
    REASON_WIDTH,
    captured_error,
    history_from_json,
    history_json,
    render_history,
)
from .kept import KEPT_DECISIONS, kept_holds, with_kept
from .places import ClusterPlace, cluster_places, places_from_json
from .row_select import EVERY_ROW, GONE_ROWS_LISTED, RowQuery, in_cluster, rows_answer, select_rows
from .stall_word import NOT_CHECKED, StallWord
from .status import TO_BE_DROPPED, StatusRow, dry_run_rows, rows_shown
from .status_cells import DRY_RUN_MARK
from .status_json import status_json, status_rows_from_json
from .status_table import DRY_RUN_NOTE, STATUS_HEADER, render_status

__all__ = [
    "EVERY_ROW", "GONE_ROWS_LISTED", "RowQuery", "in_cluster", "rows_answer", "select_rows",
    "COLUMN_GAP", "DRY_RUN_MARK", "KEPT_DECISIONS", "DRY_RUN_NOTE", "ERROR_WIDTH", "GROUP_INDENT", "HISTORY_HEADER", "REASON_WIDTH", "STATUS_HEADER", "TO_BE_DROPPED",
    "ClusterPlace", "StatusRow", "captured_error", "cluster_places", "dry_run_rows", "format_span", "format_timestamp",
    "gone_keys", "history_from_json", "history_json", "kept_holds", "parse_timestamp", "parse_timestamp_or_none", "places_from_json",
    "render_history", "render_status", "rows_shown", "status_json", "status_rows_from_json", "timestamp_or_none",
    "NOT_CHECKED", "StallWord", "attempts_note", "unwatched_rows", "with_attempts_notes", "with_gone", "with_kept",
]
