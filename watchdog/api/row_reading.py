"""GET /v1/connectors' rows read and built in steps, the event loop let go between them, keeping
only the rows the answer can hold.

Deleted connectors keep a row for `state.forget_vanished_after` (3 days), so under name churn the
rows are many more than the answer lists (the live ones and the newest GONE_ROWS_LISTED gone).
Read whole, decoded, judged, noted and selected in one go (report.rows_answer), 20,297 rows held
the event loop 1 to 2.4 s on PostgreSQL (a soak probe): /healthz, the webhooks and the lease's
renewal waited that long. Here the store is read PAGE_ROWS at a time (state/row_pages.py), each
page made the daemon's rows (`shown`) and judged before the next is read, and the loop runs
whatever waits between pages. Of a page, only what the answer can hold is kept: the live rows
(the fleet), the newest `cap` of the deleted and no-longer-watched ones (a heap), the
MOST_NOTES_READ whose history the attempts notes read; the others are counted. Kept all (or a
page's rows promoted by a collection in its middle: _no_collection), 20,000 rows set off a full
garbage collection of the whole process in the middle of a reading (80 to 250 ms at once,
bench/row_reading.py).

The answer is rows_answer's over the same rows, order and ties alike (tests/test_row_reading.py
compares them on both stores): each step below names the step of select_rows, gone_keys or
with_attempts_notes it does a page at a time. rows()'s order (cluster, then connector, as bytes:
SQLite's BINARY, PostgreSQL's "C") is Python's order of the names, so the rows are put in it here
and the pages may come in the order the store's index gives. A page is read after the loop ran
others: a poll's writes between two pages are in the pages after them only."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import heapq
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from ..model import ConnectorKey, HistoryRecord
from ..policy import NEVER_RESTARTED
from ..report import ClusterPlace, RowQuery, StatusRow, rows_shown, status_json
from ..report.attempts import MOST_NOTES_READ, history_to_read, with_note, worth_a_read
from ..report.row_select import NEVER_SEEN, left_out_of
from ..state import StateStore
from ..state.row_pages import rows_page

PAGE_ROWS = 500  # a page of the store read, made the daemon's rows and judged: some 5 to 30 ms of the loop on a
# quiet machine (bench/row_reading.py); 70 to 170 ms at 7,500 rows with a CI run on the same 2 CPUs (a verification run)
NOTES_AT_ONCE = 25  # history reads (a round trip each to PostgreSQL) between two turns of the loop
WRITTEN_AT_ONCE = 2000  # rows written out as JSON between two turns of the loop

Place = tuple[str, str]  # a row's place in rows()'s order: its cluster and connector


class _Later:
    """A place that compares the other way: of two rows seen (or restarted) at the same moment,
    the one earlier in rows()'s order is the one kept, as a stable sort of them keeps it."""

    __slots__ = ("place",)

    def __init__(self, place: Place) -> None:
        self.place = place

    def __lt__(self, other: _Later) -> bool:
        return self.place > other.place


Ranked = tuple[datetime, _Later, StatusRow]  # the greatest kept (a min-heap's first is the one to go)


async def answer_in_steps(store: StateStore, places: dict[str, ClusterPlace], query: RowQuery,
                          shown: Callable[[list[StatusRow]], list[StatusRow]]) -> dict[str, Any]:
    """rows_answer(shown(store.rows()), places, query, store.history), read and built in steps.
    `shown`: a page of the store's rows as the daemon shows them (of the query's cluster)."""
    reading = _Reading(places, query)
    after: ConnectorKey | None = None
    while True:
        with _no_collection():
            got = rows_page(store, after, PAGE_ROWS)
            reading.take(shown(store.rows() if got is None else got))
        if got is None or len(got) < PAGE_ROWS:
            break
        after = got[-1].key
        await asyncio.sleep(0)
    await asyncio.sleep(0)
    notes: dict[ConnectorKey, Sequence[HistoryRecord]] = {}
    for n, (_, _, row) in enumerate(reading.to_note):
        if n and n % NOTES_AT_ONCE == 0:
            await asyncio.sleep(0)
        notes[row.key] = store.history(row.key, history_to_read(row.state))
    chosen = reading.chosen(notes)
    written: list[dict[str, Any]] = []
    for start in range(0, len(chosen), WRITTEN_AT_ONCE):
        await asyncio.sleep(0)
        # Every chosen row says `gone` itself now (or is of a cluster no longer watched), so
        # status_json judges each alone: a part at a time writes what the whole would.
        written.extend(status_json(chosen[start:start + WRITTEN_AT_ONCE], places)["connectors"])
    return {"connectors": written, "rows_selected": reading.selected,
            "clusters_unwatched": sorted(reading.clusters_unwatched), "left_out": left_out_of(reading.dropped["gone"], reading.dropped["cluster_unwatched"], query.cap)}


class _Reading:
    """What is kept of the pages taken so far."""

    def __init__(self, places: dict[str, ClusterPlace], query: RowQuery) -> None:
        self.places, self.query = places, query
        self.selected = 0
        self.clusters_unwatched: set[str] = set()
        # gone_keys: each cluster's newest `seen_at` so far, and its rows that do not say `gone`
        # seen at that moment (gone if a newer one comes, else not).
        self.last_poll: dict[str, datetime] = {}
        self.at_last_poll: dict[str, list[StatusRow]] = {}
        self.live: list[StatusRow] = []  # chosen whatever their notes say, unless `problems` (judged at the end)
        self.past: list[Ranked] = []  # the newest `cap` chosen past rows (a min-heap)
        self.dropped = {"gone": 0, "cluster_unwatched": 0}  # chosen past rows past the cap: left_out (counted, not kept)
        self.to_note: list[Ranked] = []  # rows_to_note's MOST_NOTES_READ (a min-heap)

    def take(self, rows: list[StatusRow]) -> None:
        for row in rows:
            self.selected += 1
            if worth_a_read(row):
                # rows_to_note: the most recently restarted first, the earlier row first among equals.
                _keep(self.to_note, (row.state.last_restart_at or NEVER_RESTARTED, _later(row), row), MOST_NOTES_READ)
            if row.cluster_unwatched:
                self.clusters_unwatched.add(row.key.cluster)
            cluster, seen = row.key.cluster, row.seen_at
            if seen is not None and (cluster not in self.last_poll or seen > self.last_poll[cluster]):
                self.last_poll[cluster] = seen
                for waited in self.at_last_poll.pop(cluster, []):
                    self._judged(replace(waited, gone=True))  # seen before the newest now
            if row.gone is not None or row.cluster_unwatched:
                self._judged(row)
            elif row.seen_state is None or seen is None:
                self._judged(replace(row, gone=False))
            elif seen < self.last_poll[cluster]:
                self._judged(replace(row, gone=True))
            else:
                self.at_last_poll.setdefault(cluster, []).append(row)

    def _judged(self, row: StatusRow) -> None:
        """select_rows, for a row whose `gone` is known: kept if the query may choose it."""
        if not (row.gone or row.cluster_unwatched):
            self.live.append(row)  # its notes may make it a problem: judged at the end
            return
        if not self.query.gone or not rows_shown([row], self.places, problems=self.query.problems):
            return
        # past_the_cap: the most recently seen first, the earlier row first among equals.
        dropped = _keep(self.past, (row.seen_at or NEVER_SEEN, _later(row), row), self.query.cap)
        if dropped is not None:
            self.dropped["cluster_unwatched" if dropped.cluster_unwatched else "gone"] += 1

    def chosen(self, notes: dict[ConnectorKey, Sequence[HistoryRecord]]) -> list[StatusRow]:
        """The rows of the answer in rows()'s order, with their attempts notes."""
        for cluster in list(self.at_last_poll):
            for row in self.at_last_poll.pop(cluster):
                self._judged(replace(row, gone=False))  # seen by its cluster's newest poll
        rows = sorted([*self.live, *(row for _, _, row in self.past)], key=lambda row: (row.key.cluster, row.key.connector))
        noted = [with_note(row, notes[row.key]) if row.key in notes else row for row in rows]
        # rows_shown for the live rows now that their notes are known; the past ones were chosen already.
        return [row for row in noted
                if row.gone or row.cluster_unwatched or rows_shown([row], self.places, problems=self.query.problems)]


def _later(row: StatusRow) -> _Later:
    return _Later((row.key.cluster, row.key.connector))


def _keep(heap: list[Ranked], item: Ranked, most: int | None) -> StatusRow | None:
    """`item` kept among the `most` greatest of `heap`; the row that no longer is, if one."""
    if most is None:
        heap.append(item)
        return None
    if len(heap) < most:
        heapq.heappush(heap, item)
        return None
    if most == 0 or item[:2] < heap[0][:2]:
        return item[2]
    return heapq.heapreplace(heap, item)[2]


@contextlib.contextmanager
def _no_collection() -> Iterator[None]:
    """No garbage collection while a page is read and judged. A page's rows (some 5,000 objects)
    live for the page only, but collections in its middle promote them to the oldest generation,
    and enough promoted (pages after pages) set off a full collection of the whole process in
    the middle of a reading: 80 to 250 ms of the loop at once at 20,000 rows. Freed at the
    page's end, they are never promoted; what the reading keeps is collected as usual after."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
