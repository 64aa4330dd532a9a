"""Connectors held `transient` for a reason nobody chose, said once they stay so too long.

A DEGRADED connector whose tasks await a worker was reported after the rule's
`degraded_report_after` (`degraded_too_long`), but one PROVISIONING that never finished (a network
or private-link problem, a plugin that cannot start), in a state no known API reports, or with a
task stuck RESTARTING or PROVISIONING, was held transient for good: one `decision transient` info
line at its first poll, then nothing, no warning and no gauge, while it moved no data (a probe,
2026-12-06). Such a connector is now said once (`transient_too_long`, counted in
`watchdog_connectors_degraded_too_long`), never restarted: Confluent refuses a restart while
PROVISIONING, and a restart of a state nobody knows may do anything. PAUSED and STOPPED are left
out: its owner chose them, and status says so already.
"""

from __future__ import annotations

from ..model import ConnectorStatus, Health
from ..rules import OWNER_HELD_STATES, awaiting_a_worker, classify, tasks_said, unknown_states

# Task states a connector settles out of by itself, soon, when all is well.
_SETTLING_TASK_STATES = frozenset({"RESTARTING", "PROVISIONING"})


def held_unchosen(status: ConnectorStatus) -> bool:
    """Whether the connector is transient for a reason nobody chose, other than awaiting a worker
    (which `degraded_too_long` says): PROVISIONING, RESTARTING, a state no known API reports, a
    task RESTARTING or PROVISIONING. Not PAUSED or STOPPED (its owner's), nor an entry that could
    not be read (`unusable_entries` says it)."""
    if status.unusable or awaiting_a_worker(status) or classify(status) is not Health.TRANSIENT:
        return False
    return status.state.strip().upper() not in OWNER_HELD_STATES


def held_unchosen_note(status: ConnectorStatus, seconds: float) -> str:
    """What a `transient_too_long` line tells the on-call: what it is stuck in, and what to do."""
    unknown = unknown_states(status)
    settling = [task.id for task in status.tasks if task.state.upper() in _SETTLING_TASK_STATES]
    if unknown:
        what = f"in a state no known API reports ({', '.join(unknown)})"
    elif status.state.upper() in ("PROVISIONING", "RESTARTING", "NONE", "DELETED"):
        what = status.state.upper()
    elif settling:
        states = sorted({task.state.upper() for task in status.tasks if task.id in settling})
        what = f"with {tasks_said(settling)} {'/'.join(states)}"
    else:
        what = f"{status.state} with tasks not running"
    return (f"{what} for over {seconds:g} s (degraded_report_after): not restarted (Confluent refuses a restart "
            "while PROVISIONING, and a restart of a state nobody knows may do anything), and it moves no data; "
            "check its configuration, credentials and network (private link) in the Confluent console, restart it "
            "by hand (watchdog restart) if that is what it needs, or ask Confluent support")
