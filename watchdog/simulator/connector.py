"""One simulated connector: its script, the lifecycle calls it received, its throughput.

State is never stored. It is computed for a time t from the script and from the windows that
restarts, pauses, stalls and idle spells opened; every window is half-open, [start, end), in
simulator seconds. Methods that change a connector take the current time, which never goes
backwards, and only ever change the future. Before they do, the time up to now is written into
the connector's throughput ledger, so the past stays as it was computed (the Metrics API reads
it back).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

from watchdog.simulator.connector_script import FAILURE_KINDS, ConnectorSpec, Script
from watchdog.simulator.failures import FailureText, failure_text
from watchdog.simulator.throughput import ThroughputLedger


class Phase(StrEnum):
    """The simulator's view: the API's connector states plus the two it hides in other names."""

    PROVISIONING = "PROVISIONING"
    RUNNING = "RUNNING"
    PAUSED = "PAUSED"
    STOPPED = "STOPPED"  # Kafka Connect 3.5+ (KIP-875): stopped by an operator, no tasks
    RESTARTING = "RESTARTING"  # shown as connector RUNNING, tasks RESTARTING or UNASSIGNED
    FAILED = "FAILED"
    DEGRADED = "DEGRADED"
    USER_ACTIONABLE_ERROR = "USER_ACTIONABLE_ERROR"  # shown as connector FAILED
    # Cannot start for its configuration: connector FAILED, no tasks (the spec's FAILED example).
    CONFIG_ERROR = "CONFIG_ERROR"
    # Would be RUNNING, but some tasks await a worker: shown as connector DEGRADED with those
    # tasks UNASSIGNED and the others RUNNING; no task is in error.
    ALLOCATING = "ALLOCATING"


FAILURE_PHASES = frozenset({Phase.FAILED, Phase.DEGRADED, Phase.USER_ACTIONABLE_ERROR, Phase.CONFIG_ERROR})
TASK_ERROR_STATES = frozenset({"SYSTEM_ERROR", "USER_ACTIONABLE_ERROR"})


def connector_state(phase: Phase) -> str:
    """The connector `state` the API reports for a phase."""
    if phase is Phase.RESTARTING:
        return "RUNNING"  # KIP-745 shows a restarting connector RUNNING with RESTARTING tasks
    if phase in (Phase.USER_ACTIONABLE_ERROR, Phase.CONFIG_ERROR):
        return "FAILED"
    if phase is Phase.ALLOCATING:
        return "DEGRADED"
    return phase.value


def task_states(
    phase: Phase, tasks: int, restarting_as: str, unassigned: int = 0, degraded_as: str = "SYSTEM_ERROR"
) -> tuple[str, ...]:
    """The task states the API reports (Confluent's task vocabulary, research note §2.3);
    `degraded_as` is the failed task's state when DEGRADED (the script's `failed_task`)."""
    if phase in (Phase.PROVISIONING, Phase.STOPPED, Phase.CONFIG_ERROR):
        # The spec's PROVISIONING and FAILED examples list no tasks; a stopped connector has none.
        return ()
    if phase is Phase.DEGRADED:
        return ("RUNNING",) * (tasks - 1) + (degraded_as,)
    if phase is Phase.ALLOCATING:
        waiting = min(max(unassigned, 1), tasks)
        return ("RUNNING",) * (tasks - waiting) + ("UNASSIGNED",) * waiting
    state = {
        Phase.RUNNING: "RUNNING",
        Phase.PAUSED: "STOPPED",  # "STOPPED (connector paused)" in Confluent's status docs
        Phase.RESTARTING: restarting_as,
        Phase.FAILED: "SYSTEM_ERROR",
        Phase.USER_ACTIONABLE_ERROR: "USER_ACTIONABLE_ERROR",
    }[phase]
    return (state,) * tasks


@dataclass(frozen=True, slots=True)
class _Window:
    start: float
    end: float = math.inf

    def contains(self, t: float) -> bool:
        return self.start <= t < self.end


@dataclass(frozen=True, slots=True)
class ConnectorSnapshot:
    """A connector as it is at one moment, for tests, /_sim/state and metrics."""

    environment: str
    cluster: str
    name: str
    id: str
    type: str
    state: str  # the connector state the API shows
    phase: str  # the simulator's phase (adds RESTARTING, USER_ACTIONABLE_ERROR, CONFIG_ERROR, ALLOCATING)
    tasks: tuple[str, ...]
    stalled: bool
    idle: bool
    records: int  # grows while RUNNING, not stalled and not idle
    lag: int  # records upstream produced that the connector has not taken yet
    restarts_accepted: int


class SimulatedConnector:
    _script: Script
    _origin: float  # when the script's clock started
    _pause: _Window | None
    _stop: _Window | None
    _restart: _Window | None
    _grace: _Window | None  # RUNNING after a restart that did not cure
    _cured_at: float | None
    _restarts_while_failing: int
    _stall: _Window | None
    _idle: _Window | None
    _unassigned: _Window | None  # tasks awaiting a worker
    unassigned_tasks: int

    def __init__(
        self,
        spec: ConnectorSpec,
        *,
        environment: str,
        cluster: str,
        created_at: float,
        restarting_as: str,
    ) -> None:
        self.spec = spec
        self.environment = environment
        self.cluster = cluster
        self.id = spec.resource_id(cluster, spec.name)
        self.restarts_accepted = 0
        self.list_entry = spec.list_entry  # how the expanded list shows it (bodies.expansion_body)
        self._restarting_as = restarting_as
        self.throughput = ThroughputLedger(created_at)
        self._start_script(spec.script, created_at)

    # --- reading --------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def created_at(self) -> float:
        return self.throughput.start

    @property
    def failure(self) -> FailureText:
        script = self._script
        kind: str = script.failure_kind
        if kind == "DEGRADED" and script.failed_task == "USER_ACTIONABLE_ERROR":
            kind = "USER_ACTIONABLE_ERROR"  # its failed task says what a user error says
        return failure_text(kind, self.spec.type, trace=script.trace, message=script.message)

    def phase_at(self, t: float) -> Phase:
        if self._stop is not None and self._stop.contains(t):
            return Phase.STOPPED
        if self._pause is not None and self._pause.contains(t):
            return Phase.PAUSED
        if self._restart is not None and self._restart.contains(t):
            return Phase.RESTARTING
        phase = self._settled_phase(t)
        if phase is Phase.RUNNING and self._unassigned is not None and self._unassigned.contains(t):
            return Phase.ALLOCATING
        return phase

    def _settled_phase(self, t: float) -> Phase:
        if self._cured_at is not None and t >= self._cured_at:
            return Phase.RUNNING
        phase = self._script_phase(t)
        if phase in FAILURE_PHASES and self._grace is not None and self._grace.contains(t):
            return Phase.RUNNING
        return phase

    def task_states_at(self, t: float) -> tuple[str, ...]:
        return task_states(self.phase_at(t), self.spec.tasks, self._restarting_as, self.unassigned_tasks,
                           self._script.failed_task)

    def stalled_at(self, t: float) -> bool:
        return self._stall is not None and self._stall.contains(t)

    def idle_at(self, t: float) -> bool:
        return self._idle is not None and self._idle.contains(t)

    def snapshot(self, t: float) -> ConnectorSnapshot:
        self.advance(t)
        phase = self.phase_at(t)
        return ConnectorSnapshot(
            environment=self.environment,
            cluster=self.cluster,
            name=self.name,
            id=self.id,
            type=self.spec.type,
            state=connector_state(phase),
            phase=phase.value,
            tasks=self.task_states_at(t),
            stalled=self.stalled_at(t),
            idle=self.idle_at(t),
            records=int(self.throughput.records_at(t)),
            lag=int(self.throughput.lag_at(t)),
            restarts_accepted=self.restarts_accepted,
        )

    # --- lifecycle calls ------------------------------------------------------------------

    def restart(self, now: float, delay: float, lag: float = 0.0) -> None:
        """An accepted restart: unchanged for `lag` (Confluent's restart is asynchronous: "the
        connector will not transition to another state at the same time"), restarting for
        `delay`, then the script decides the outcome."""
        self.advance(now)
        self.restarts_accepted += 1
        begins = now + lag
        resolves = begins + delay
        self._restart = _Window(begins, resolves)
        if self._stall is not None and self._stall.contains(now):
            self._stall = _Window(self._stall.start, resolves)
        if not self._failure_present(now):
            return
        self._restarts_while_failing += 1
        needed = self._script.recover_after_restarts
        if needed != "never" and self._restarts_while_failing >= needed:
            self._cured_at = resolves
        elif self._script.refail_after is not None:
            self._grace = _Window(resolves, resolves + self._script.refail_after)
        else:
            self._grace = None

    def pause(self, now: float, delay: float) -> None:
        """Pause after `delay`; a paused or pausing connector stays as it is."""
        self.advance(now)
        if self._pause is not None and self._pause.end > now:
            return
        self._pause = _Window(now + delay)

    def stop(self, now: float) -> None:
        """Stop now (Kafka Connect's PUT /stop answers once the connector is stopped)."""
        self.advance(now)
        if self._stop is None or not self._stop.contains(now):
            self._stop = _Window(now)
        if self._pause is not None and self._pause.contains(now):
            self._pause = _Window(self._pause.start, now)

    def resume(self, now: float, delay: float) -> None:
        """Resume after `delay`; "do nothing if the connector is not paused" (spec). A stopped
        connector resumes too (KIP-875)."""
        self.advance(now)
        if self._stop is not None and self._stop.contains(now):
            self._stop = _Window(self._stop.start, now + delay)
            return
        if self._pause is None or not self._pause.contains(now) or self._pause.end != math.inf:
            return
        self._pause = _Window(self._pause.start, now + delay)

    # --- runtime changes (control API) -----------------------------------------------------

    def set_script(self, now: float, script: Script) -> None:
        """Play `script` from now on, as if the connector had just been created."""
        self.advance(now)
        self._start_script(script, now)

    def set_state(self, now: float, state: str) -> None:
        """Show `state` from now on; restarts keep following the connector's recovery rules."""
        self.advance(now)
        if state == "PAUSED":
            self._pause = _Window(now)
            return
        if state == "STOPPED":
            self._stop = _Window(now)
            return
        stall, idle = self._stall, self._idle
        script = self._script.model_copy(
            update={
                "initial": state,
                "provisioning_until": None,
                "fail_at": None,
                "flap": None,
                "failure": state if state in FAILURE_KINDS else None,
                "stall_at": None,
                "idle_at": None,
            }
        )
        self._start_script(script, now)
        self._stall, self._idle = stall, idle

    def set_stalled(self, now: float, stalled: bool) -> None:
        self.advance(now)
        self._stall = _switched(self._stall, now, stalled)

    def set_idle(self, now: float, idle: bool) -> None:
        self.advance(now)
        self._idle = _switched(self._idle, now, idle)

    def set_unassigned(self, now: float, tasks: int) -> None:
        """`tasks` of its tasks await a worker from now on (0: every task has one again)."""
        self.advance(now)
        self._unassigned = _switched(self._unassigned, now, tasks > 0)
        if tasks > 0:
            self.unassigned_tasks = min(tasks, self.spec.tasks)

    def advance(self, now: float) -> None:
        """Write the throughput since the last look into the ledger, segment by segment."""
        t = self.throughput.end
        while t < now:
            end = min(self._next_change_after(t), now)
            # The middle of a segment is safely away from its float-rounded boundaries.
            middle = (t + end) / 2
            # Tasks awaiting a worker move nothing; the connector's running tasks still do.
            flowing = self.phase_at(middle) in (Phase.RUNNING, Phase.ALLOCATING) and not self.stalled_at(middle)
            upstream = 0.0 if self.idle_at(middle) else self.spec.records_per_second
            self.throughput.extend(end, flowing=flowing, upstream_rate=upstream)
            t = end

    # --- internals ------------------------------------------------------------------------

    def _start_script(self, script: Script, origin: float) -> None:
        self._script = script
        self._origin = origin
        self._pause = _Window(origin) if script.initial == "PAUSED" else None
        self._stop = _Window(origin) if script.initial == "STOPPED" else None
        self._restart = None
        self._grace = None
        self._cured_at = None
        self._restarts_while_failing = 0
        stall_at, idle_at = script.stall_at, script.idle_at
        self._stall = None if stall_at is None else _Window(origin + stall_at)
        self._idle = None if idle_at is None else _Window(origin + idle_at)
        spell = script.unassigned
        self._unassigned = None
        self.unassigned_tasks = 0
        if spell is not None:
            end = math.inf if spell.until is None else origin + spell.until
            self._unassigned = _Window(origin + spell.from_, end)
            self.unassigned_tasks = spell.tasks

    def _script_phase(self, t: float) -> Phase:
        script, elapsed = self._script, t - self._origin
        if script.initial == "PROVISIONING" and (
            script.provisioning_until is None or elapsed < script.provisioning_until
        ):
            return Phase.PROVISIONING
        return Phase(script.failure_kind) if self._script_failing(elapsed) else Phase.RUNNING

    def _script_failing(self, elapsed: float) -> bool:
        script = self._script
        if script.initial in FAILURE_KINDS:
            return True
        if script.fail_at is not None:
            return elapsed >= script.fail_at
        if script.flap is not None:
            period = script.flap.running_seconds + script.flap.failed_seconds
            return elapsed % period >= script.flap.running_seconds
        return False

    def _failure_present(self, t: float) -> bool:
        begins = self._script.failure_begins_at
        return self._cured_at is None and begins is not None and t >= self._origin + begins

    def _next_change_after(self, t: float) -> float:
        """The first time after t at which phase, stall or idleness may change."""
        script, origin = self._script, self._origin
        candidates = [self._cured_at]
        for window in (self._pause, self._stop, self._restart, self._grace, self._stall, self._idle, self._unassigned):
            if window is not None:
                candidates += [window.start, window.end]
        for offset in (script.provisioning_until, script.fail_at):
            if offset is not None:
                candidates.append(origin + offset)
        if script.flap is not None:
            period = script.flap.running_seconds + script.flap.failed_seconds
            cycle_start = origin + math.floor((t - origin) / period) * period
            running = script.flap.running_seconds
            # Three candidates: float rounding may put t on either side of a boundary.
            candidates += [
                cycle_start + running,
                cycle_start + period,
                cycle_start + period + running,
            ]
        return min((c for c in candidates if c is not None and c > t), default=math.inf)


def _switched(window: _Window | None, now: float, on: bool) -> _Window | None:
    """An open-ended window switched on or off at `now` (the past part is kept)."""
    if on:
        return window if window is not None and window.contains(now) else _Window(now)
    if window is None or not window.contains(now):
        return window
    return _Window(window.start, now) if window.start < now else None
