"""Which rows `GET /v1/connectors` answers with: those its query asks for (`cluster=`,
`problems=true`, `gone=false`), and of the rows of connectors deleted (`gone`) or of clusters no
longer watched, the newest GONE_ROWS_LISTED at most, the rest counted (`left_out`).

Those rows stay for `state.forget_vanished_after` (3 days by default), so the answer followed
name churn rather than the fleet: a soak probe whose connectors were replaced at every poll had
11,400 rows (6.3 MB, 0.4 to 0.6 s of the event loop each read, /healthz waiting) for 600
connectors that existed, and 36,900 rows, 20 MB, for 1,500; `watchdog status --daemon` stops
reading at 64 MiB. The rows of connectors that exist in watched clusters are bounded by the fleet
and are always all listed."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Any

from ..model import ConnectorKey, HistoryRecord
from .attempts import with_attempts_notes
from .status import ClusterPlace, StatusRow, gone_keys, rows_shown, status_json

# Rows of deleted connectors and of clusters no longer watched listed in one answer, the most
# recently seen first (about 550 bytes each: some 0.5 MB).
GONE_ROWS_LISTED = 1000
_NEVER = datetime.min.replace(tzinfo=timezone.utc)


@dataclass(frozen=True, slots=True)
class RowQuery:
    """What a reader asks of the rows. `cluster`: a cluster's name or lkc- id (None: every
    cluster); `problems`: only rows `watchdog status --problems` shows; `gone`: False leaves out
    deleted connectors and clusters no longer watched; `cap`: GONE_ROWS_LISTED, None for all."""

    cluster: str | None = None
    problems: bool = False
    gone: bool = True
    cap: int | None = GONE_ROWS_LISTED


EVERY_ROW = RowQuery(cap=None)  # the daemon's own readers (tests, embedders): every row


def in_cluster(rows: Iterable[StatusRow], places: Mapping[str, ClusterPlace], cluster: str | None) -> list[StatusRow]:
    """The rows of `cluster` (its name or lkc- id), before anything costly is done with them."""
    return list(rows) if cluster is None else rows_shown(rows, places, cluster=cluster)


def select_rows(rows: Sequence[StatusRow], places: Mapping[str, ClusterPlace],
                query: RowQuery) -> tuple[list[StatusRow], dict[str, Any]]:
    """The rows `query` asks for (of `rows`, the daemon's rows of its cluster already), in their
    order, and what the answer says beside them: `rows_selected` (the cluster's rows before
    `problems` and `gone`), `clusters_unwatched` (the clusters no longer watched among them, for
    `--problems`' "Not shown" line) and `left_out` (rows past the cap, by kind)."""
    gone = gone_keys(rows)
    # Said by each row from here: worked out again on a part of the rows (gone_keys compares a
    # row with its cluster's newest), a row of a cluster not polled yet read differently.
    rows = [row if row.gone is not None or row.cluster_unwatched else replace(row, gone=row.key in gone)
            for row in rows]
    extra: dict[str, Any] = {
        "rows_selected": len(rows),
        "clusters_unwatched": sorted({row.key.cluster for row in rows if row.cluster_unwatched}),
    }
    chosen = rows_shown(rows, places, problems=query.problems)
    if not query.gone:
        chosen = [row for row in chosen if not (row.gone or row.cluster_unwatched)]
    past = [row for row in chosen if row.gone or row.cluster_unwatched]
    left_out: dict[str, Any] = {"gone": 0, "cluster_unwatched": 0}
    if query.cap is not None and len(past) > query.cap:
        past.sort(key=lambda row: row.seen_at or _NEVER, reverse=True)
        dropped = {id(row) for row in past[query.cap:]}
        for row in past[query.cap:]:
            left_out["cluster_unwatched" if row.cluster_unwatched else "gone"] += 1
        chosen = [row for row in chosen if id(row) not in dropped]
    if left_out["gone"] or left_out["cluster_unwatched"]:
        left_out["note"] = (f"only the {query.cap} most recently seen rows of deleted connectors and of clusters no "
                            "longer watched are listed (they stay for state.forget_vanished_after); narrow with "
                            "cluster=, or read every row from the state file (`watchdog status` without --daemon)")
    extra["left_out"] = left_out
    return chosen, extra


def rows_answer(rows: Sequence[StatusRow], places: Mapping[str, ClusterPlace], query: RowQuery,
                history_of: Callable[[ConnectorKey, int], Sequence[HistoryRecord]]) -> dict[str, Any]:
    """The rows part of `GET /v1/connectors`' answer: `connectors` (status_json's, with where each
    cluster is) and select_rows' fields. `rows`: the daemon's, of the query's cluster (in_cluster),
    as shown (dry run's view, gone, held); the attempts notes are read before the choice, since
    `problems` counts a row whose attempts the API accepted none of."""
    chosen, extra = select_rows(with_attempts_notes(rows, history_of), places, query)
    return {**status_json(chosen, places), **extra}
