"""Which rows `GET /v1/connectors` answers with: those its query asks for (`cluster=`,
`problems=true`, `gone=false`), and of the rows of connectors deleted (`gone`) or of clusters no
longer watched, the newest GONE_ROWS_LISTED at most, the rest counted (`left_out`).

Those rows stay for `state.forget_vanished_after` (3 days by default), so the answer followed
name churn rather than the fleet: a soak probe whose connectors were replaced at every poll had
11,400 rows (6.3 MB) for 600 connectors that existed, and 36,900 rows, 20 MB, for 1,500;
`watchdog status --daemon` stops reading at 64 MiB. The rows of connectors that exist in watched
clusters are bounded by the fleet and are always all listed.

The cap bounds the answer, not the work: every row was still read, judged and noted in one go,
and a later soak probe saw /healthz wait 0.3 s at 5,500 rows and 1 to 2.4 s at 20,297
(PostgreSQL). The daemon now reads them a page at a time, keeping only what the answer can hold
(api/row_reading.py: some 25 ms of the event loop at once at most at 20,000 rows, on SQLite or
PostgreSQL, where one go held it 0.5 to 0.7 s: docs/benchmarks.md section 12). `rows_answer`
here is the same answer in one go, for the daemon's own readers (`connector_rows`) and as what
the pages are checked against."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from ..model import ConnectorKey, HistoryRecord
from .attempts import with_attempts_notes
from .gone import with_gone
from .places import ClusterPlace
from .status import StatusRow, rows_shown
from .status_json import status_json

# Rows of deleted connectors and of clusters no longer watched listed in one answer, the most
# recently seen first (about 550 bytes each: some 0.5 MB).
GONE_ROWS_LISTED = 1000
NEVER_SEEN = datetime.min.replace(tzinfo=timezone.utc)  # a row no poll saw: the oldest


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
    # Said by each row from here: worked out again on a part of the rows (gone_keys compares a
    # row with its cluster's newest), a row of a cluster not polled yet read differently.
    rows = with_gone(rows)
    extra: dict[str, Any] = {
        "rows_selected": len(rows),
        "clusters_unwatched": sorted({row.key.cluster for row in rows if row.cluster_unwatched}),
    }
    chosen = rows_shown(rows, places, problems=query.problems)
    if not query.gone:
        chosen = [row for row in chosen if not (row.gone or row.cluster_unwatched)]
    dropped, left_out = past_the_cap([row for row in chosen if row.gone or row.cluster_unwatched], query.cap)
    if dropped:
        chosen = [row for row in chosen if id(row) not in dropped]
    extra["left_out"] = left_out
    return chosen, extra


def past_the_cap(past: list[StatusRow], cap: int | None) -> tuple[set[int], dict[str, Any]]:
    """Of `past` (the chosen rows of deleted connectors and of clusters no longer watched, in
    their order), those past `cap` once the most recently seen go first (their `id()`s), and
    the answer's `left_out`."""
    dropped: list[StatusRow] = []
    if cap is not None and len(past) > cap:
        dropped = sorted(past, key=lambda row: row.seen_at or NEVER_SEEN, reverse=True)[cap:]
    unwatched = sum(1 for row in dropped if row.cluster_unwatched)
    return {id(row) for row in dropped}, left_out_of(len(dropped) - unwatched, unwatched, cap)


def left_out_of(gone: int, cluster_unwatched: int, cap: int | None) -> dict[str, Any]:
    """The answer's `left_out`: the rows past the cap, by kind, and a note if any."""
    left_out: dict[str, Any] = {"gone": gone, "cluster_unwatched": cluster_unwatched}
    if gone or cluster_unwatched:
        left_out["note"] = (f"only the {cap} most recently seen rows of deleted connectors and of clusters no "
                            "longer watched are listed (they stay for state.forget_vanished_after); narrow with "
                            "cluster=, or read every row from the state file (`watchdog status` without --daemon)")
    return left_out


def rows_answer(rows: Sequence[StatusRow], places: Mapping[str, ClusterPlace], query: RowQuery,
                history_of: Callable[[ConnectorKey, int], Sequence[HistoryRecord]]) -> dict[str, Any]:
    """The rows part of `GET /v1/connectors`' answer: `connectors` (status_json's, with where each
    cluster is) and select_rows' fields. `rows`: the daemon's, of the query's cluster (in_cluster),
    as shown (dry run's view, gone, held); the attempts notes are read before the choice, since
    `problems` counts a row whose attempts the API accepted none of."""
    chosen, extra = select_rows(with_attempts_notes(rows, history_of), places, query)
    return {**status_json(chosen, places), **extra}
