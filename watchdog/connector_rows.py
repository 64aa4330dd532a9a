"""What GET /v1/connectors and `watchdog status --daemon` show of each connector's row: the
stored row as the daemon sees it now (dry run's cadence, a removed cluster's connectors unwatched,
gone from the last listing), and what holds a restart of it (queued, on the wire, to be dropped).

`ConnectorRowsHost` is mixed into `app.Daemon`; the rows are read and answered by
report/row_select.py and api/row_reading.py.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .api.row_reading import answer_in_steps
from .config import Config, StalledTrigger
from .connect import Gateway
from .engine import Engine, WallClock
from .engine.rules_gone import rules_gone
from .engine.stall_waits import stall_waits
from .leadership.build import Leadership
from .model import ConnectorKey, ConnectorState
from .queue import Phase, RestartQueue
from .report import TO_BE_DROPPED, StatusRow, dry_run_rows
from .report.places import ClusterPlace
from .report.row_select import EVERY_ROW, RowQuery, in_cluster, rows_answer
from .report.stall_word import StallWord
from .rules import classify
from .state import StateStore
from .triggers.poller import key_held_for


class ConnectorRowsHost:
    # The daemon's parts this uses (app.Daemon sets them; discovery/host.py gives the places).
    config: Config
    engine: Engine
    queue: RestartQueue
    gateways: dict[str, Gateway]
    state: StateStore
    leadership: Leadership
    _now: WallClock

    if TYPE_CHECKING:  # discovery/host.py's steps, declared for the type checker
        def cluster_places(self) -> dict[str, ClusterPlace]: ...
        def discovery_pending(self) -> bool: ...

    def connector_rows(self) -> list[dict[str, Any]]:
        return list(self.connector_answer(EVERY_ROW)["connectors"])  # every row, none left out

    def connector_answer(self, query: RowQuery) -> dict[str, Any]:
        """GET /v1/connectors' rows (report/row_select.py); dry run's cadence where it has one (Engine.trial_views)."""
        rows = dry_run_rows(in_cluster(self.state.rows(), places := self.cluster_places(), query.cluster),
                            self.engine.trial_views())
        return rows_answer([self._shown_row(r) for r in rows], places, query, lambda k, n: self.state.history(k, n))

    async def connector_reading(self, query: RowQuery) -> dict[str, Any]:
        """connector_answer's answer, read and built a page at a time (api/row_reading.py)."""
        places, views = self.cluster_places(), self.engine.trial_views()
        return await answer_in_steps(self.state, places, query, lambda rows: [
            self._shown_row(r) for r in dry_run_rows(in_cluster(rows, places, query.cluster), views)])

    def _shown_row(self, row: StatusRow) -> StatusRow:
        held = self._queued(row.key) or self.engine.held.get(row.key)
        if (self.leadership.leading and not self.discovery_pending() and row.key.cluster not in self.config.clusters):
            # Discovery or a reload removed its cluster: nothing polls or restarts it now. Shown as
            # last seen, a deleted cluster's connectors read `gone: false`, FAILED, NEXT ALLOWED
            # soon for state.forget_vanished_after. A standby, or a start before discovery's first
            # refresh, does not know the discovered clusters: the cluster may well be watched.
            return replace(row, gone=False, unwatched=True, cluster_unwatched=True, held=held)
        stall = self._stall_word(row)
        return replace(row, state=self._stall_health(row), gone=self._gone(row.key), unwatched=self._unwatched(row),
                       held=held, stall=stall,
                       stall_only=stall is not None and row.key.connector not in self.engine.watched(row.key.cluster))

    def _stall_word(self, row: StatusRow) -> StallWord | None:
        """The stall check's last word on it, with why the checks skip it now (engine/stall_waits.py):
        read from memory (the listing, since when it runs, the row's last restart: the dry run's
        in its view, as its rule's checks read it), nothing written."""
        key = row.key
        word = self.engine.stall_rows.word(key, self.engine.stall_owners)
        if word is None:
            return None
        rule = self.engine.stall_rule(word.rule)
        trigger = rule.trigger if rule is not None and isinstance(rule.trigger, StalledTrigger) else None
        return stall_waits(word, listed=self.engine.listed_status(key) is not None,
                           running_since=self.engine.running_since.get(key), trigger=trigger,
                           restarted_at=row.state.last_restart_at, now=self._now())

    def _stall_health(self, row: StatusRow) -> ConnectorState:
        """A connector only stalled rules watch: its health as its cluster's last listing shows it.
        No status rule judges it, so the state keeps none (HEALTH read "-" though every poll
        listed it RUNNING); shown, not stored: nothing decides on it (engine/stall_rows.py)."""
        listed = self.engine.listed_status(row.key)
        if (listed is None or row.key.connector in self.engine.watched(row.key.cluster)
                or not self.engine.stall_rows.watches(row.key.cluster, row.key.connector)):
            return row.state
        return replace(row.state, health=classify(listed))

    def _queued(self, key: ConnectorKey) -> tuple[str, str, datetime] | None:
        """A restart of the connector queued and not sent yet, as its row's `held`: decided, its
        attempt perhaps counted, waiting for its turn, the key's budget, a 429's pause or a retry.
        Not said, its row showed that attempt as LAST RESTART and NEXT ALLOWED "now". One whose call
        is on the wire is `sending`, since when and which try (RestartJob.on_the_wire)."""
        job = self.queue.pending_job(key)
        if job is None or job.phase is Phase.DONE:
            return None
        if job.phase is Phase.SENDING:
            # Its call is out, unanswered: "queued, not sent yet" read as nothing sent (probe_restart F4).
            return "sending", job.on_the_wire(), job.primary.requested_at
        if (gone := rules_gone(job, self.config)) is not None:
            # A reload took its rule or its cluster away: ended `dropped` at its turn, not sent
            # (JobRecorder.drop_reason). Said `queued` with what it waited for, a rule's restart of
            # a removed cluster was counted as "still sent" by `watchdog status` (verification of
            # probe_races F4): only a restart asked for by name is kept by such a reload.
            return TO_BE_DROPPED, f"dropped at its turn, not sent: {gone}", job.primary.requested_at
        # The job's own lane, not its cluster's poller: a reload that removed the cluster took the
        # poller, and the job, kept and still sent, waits for that lane's pause all the same.
        gateway = self.gateways.get(job.credential)
        paused, budget = key_held_for(gateway) if gateway is not None else (0.0, False)
        return "queued", job.waiting(paused, budget=budget), job.primary.requested_at

    def _unwatched(self, row: StatusRow) -> bool:
        """Listed by its cluster's last poll, once judged by one, and selected by no status rule
        now (a reload excluded it): shown as last seen, `healthy ... now`, it read as watched. One a
        stalled rule selects is watched by its stall checks (engine/stall_rows.py)."""
        listed = self.engine.listed(row.key.cluster)
        return (row.seen_state is not None and listed is not None and row.key.connector in listed
                and not self.engine.watches(row.key))

    def _gone(self, key: ConnectorKey) -> bool | None:
        """Left out of its cluster's last listing; None before that cluster's first poll here (a
        start, a standby that took the lead): then the report works it out from `seen_at`."""
        listed = self.engine.listed(key.cluster)
        return None if listed is None else key.connector not in listed
