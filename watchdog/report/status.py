"""`watchdog status` and `GET /v1/connectors`: a watched connector's row (`StatusRow`), which rows
`--problems` and `--cluster` show, and the dry run's view of them. Its JSON is status_json.py's,
its table status_table.py's; gone.py says which rows are of deleted connectors, places.py where
each cluster is."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime

from ..model import ConnectorKey, ConnectorState, Health
from ..rules import RESTART_REFUSED_STATES
from .places import ClusterPlace
from .stall_word import NOT_RUNNING, StallWord


@dataclass(frozen=True, slots=True)
class StatusRow:
    """One watched connector as the status table shows it."""

    key: ConnectorKey
    state: ConnectorState
    seen_state: str | None = None  # the connector state of the last poll: RUNNING, FAILED, ...
    seen_at: datetime | None = None  # when that poll saw it
    # `state` is the dry run's view (attempts, backoff, gave-up as the live run would have them,
    # kept in the daemon's memory only), not the state file's: dry_run_rows.
    dry_run: bool = False
    # In a dry run's view, its last restart is a live one (a restart by name the view took on:
    # JobRecorder): LAST RESTART is not marked `(dry run)` (dry_run_rows).
    last_restart_live: bool = False
    # Whether its cluster's last listing left it out, where that is known (the daemon knows what
    # each poll listed); None: worked out from `seen_at` (gone_keys).
    gone: bool | None = None
    # (decision, detail, when) while a gate holds its wanted restart (window_closed,
    # breaker_open, blocked), or its failure awaits its rule's confirmation (unconfirmed): the
    # daemon knows it, the state file does not (EngineCore.held).
    held: tuple[str, str, datetime] | None = None
    # Listed, but no status rule selects it now (a reload excluded it, a rule turned off): not
    # judged, so its health and seen state are as last seen, and no poll restarts it. Said by the
    # daemon, or read from the state file with the config (report.unwatched_rows).
    unwatched: bool = False
    # Its ATTEMPTS, none of which the API accepted (every call refused, 500, unsent...): what each
    # got, from the history (report/attempts.py); None when one was accepted, or not read.
    not_accepted: str | None = None
    # Its cluster is no longer watched (discovery removed it from its environment's list, or a
    # reload removed it from the config): nothing polls, schedules or restarts it, and its state
    # is kept for `state.forget_vanished_after`. Said by the daemon only (the state file cannot
    # tell a discovered cluster removed from one not discovered yet). Shown as last seen, a
    # deleted cluster's FAILED connectors read `failed ... in 1m`, `gone: false` for days.
    cluster_unwatched: bool = False
    # A stalled rule selects it: the stall check's last word on it (report/stall_word.py; the daemon's memory).
    stall: StallWord | None = None
    # No status rule selects it, a stalled rule does: only a stall check may restart it (said by
    # the daemon, or read from the state file with the config: report.unwatched_rows).
    stall_only: bool = False


def rows_shown(rows: Iterable[StatusRow], places: Mapping[str, ClusterPlace], *, cluster: str | None = None,
               problems: bool = False) -> list[StatusRow]:
    """The rows `watchdog status --cluster C --problems` shows. A fleet of 2,000 connectors, with
    the deleted ones kept for days, made one table of 3,400 lines (a soak probe), every healthy
    row in the way of the few that matter."""
    def in_cluster(row: StatusRow) -> bool:
        place = places.get(row.key.cluster)
        return row.key.cluster == cluster or (place is not None and place.kafka_cluster_id == cluster)

    def a_problem(row: StatusRow) -> bool:
        if row.cluster_unwatched:
            return False  # nothing can be done there: said in one line instead (render_status's not_shown)
        return (row.state.health is not Health.HEALTHY or row.gone is True or row.unwatched or row.held is not None
                or row.state.gave_up or row.not_accepted is not None)

    return [row for row in rows if (cluster is None or in_cluster(row)) and (not problems or a_problem(row))]


def no_restart_due(row: StatusRow) -> bool:
    """A connector only stalled rules select that a stall check does not judge now (not RUNNING):
    nothing restarts it at any time (no status rule judges its status), so no restart is due,
    whatever its backoff says. Shown `now`, a stall-only FAILED connector read as a restart about
    to go. The daemon says it (`waits`, from its listing: RUNNING with its tasks); read from the
    state file, which keeps no health for it, its last listed state says it."""
    if not row.stall_only:
        return False
    if row.stall is not None:
        return row.stall.waits == NOT_RUNNING
    return row.seen_state != "RUNNING"


def restarts_refused(row: StatusRow) -> bool:
    """A connector last listed PAUSED, STOPPED, PROVISIONING or being deleted: every restart of it
    is refused (by name, an alert's, a schedule's: rules.refuses_restart), so none is due. Shown
    `now`, read as one about to go, where the README said such a row shows its STATE alone
    (verification, 2026-12-08)."""
    return row.seen_state in RESTART_REFUSED_STATES


def dry_run_rows(rows: Iterable[StatusRow], dry_states: Mapping[ConnectorKey, ConnectorState]) -> list[StatusRow]:
    """The daemon's rows with the dry run's view where it has one. The state file keeps the live
    state (attempts 0, next allowed now) while the backoff gauges and the log show the dry run's
    cadence: shown from the file, the API and `watchdog status` disagreed with both."""
    return [_in_dry_run(row, dry_states[row.key]) if row.key in dry_states else row for row in rows]


def _in_dry_run(row: StatusRow, view: ConnectorState) -> StatusRow:
    """The row with the dry run's view, its last restart said live where the state file has it at
    the same moment: a live restart (by name, an alert's, a schedule's) moves the view too, and
    marked `(dry run)` a live manual restart read as none made (probe s73, finding 4)."""
    live, shown = row.state.last_restart_at, view.last_restart_at
    made_live = live is not None and shown is not None and abs((shown - live).total_seconds()) < 1
    return replace(row, state=view, dry_run=True, last_restart_live=made_live)


# The `held` of a restart queued (or on the wire) that goes out whatever the gave-up flag says (a
# person's, a schedule's): shown for a given-up connector too, whose NEXT ALLOWED said `when
# healthy` while a restart of it was about to go.
QUEUED_DECISIONS = frozenset({"queued", "sending"})
# A queued restart a reload took the rule or cluster of: it ends `dropped` at its turn, not sent
# (the daemon's Daemon._queued); only a restart asked for by name outlives such a reload.
TO_BE_DROPPED = "to be dropped"
