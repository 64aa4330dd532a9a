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
# Why a Kafka Connect instance stays RESTARTING. The worker that accepts a restart writes
# RESTARTING, and the one that runs the instance writes RUNNING or FAILED seconds later; so one
# seen that long ran on a worker that died (or hangs) mid-restart, or the worker that answered the
# poll cannot read the state written since: a pre-3.5 worker in a group whose leader is newer
# (a rolling upgrade) fails to read STOPPED ("No enum constant ... STOPPED" in its log) and keeps
# the last state it could read, RUNNING, then RESTARTING once the connector is restarted (real
# 3.4.1 worker beside a 4.3.1 leader: it said RESTARTING for good while the leader said STOPPED).
# Which of the two, the daemon cannot tell from one worker's answer: both are said.
_KAFKA_CONNECT_RESTARTING = (
    "Kafka Connect marks an instance RESTARTING as it accepts a restart, and the worker running it says RUNNING or "
    "FAILED seconds later: either that worker died or hangs mid-restart (a rebalance reassigns its instances after "
    "scheduled.rebalance.max.delay.ms, 5 minutes by default), or the worker that answered is older than 3.5 in a "
    "group whose leader is newer and cannot read a later state (a STOPPED connector reads RUNNING, then RESTARTING "
    "for good, through it; its log says \"No enum constant ... STOPPED\"): ask each worker (GET "
    "/connectors/<name>/status), finish the rolling upgrade or list the newest workers first in `urls`")


def held_unchosen(status: ConnectorStatus) -> bool:
    """Whether the connector is transient for a reason nobody chose, other than awaiting a worker
    (which `degraded_too_long` says): PROVISIONING, RESTARTING, a state no known API reports, a
    task RESTARTING or PROVISIONING. Not PAUSED or STOPPED (its owner's), nor an entry that could
    not be read (`unusable_entries` says it)."""
    if status.unusable or awaiting_a_worker(status) or classify(status) is not Health.TRANSIENT:
        return False
    return status.state.strip().upper() not in OWNER_HELD_STATES


def held_unchosen_note(status: ConnectorStatus, seconds: float, *, self_managed: bool = False) -> str:
    """What a `transient_too_long` line tells the on-call: what it is stuck in, and what to do.
    `self_managed`: a Kafka Connect cluster's, which has no console, no private link and no
    Confluent support to ask, and whose RESTARTING has causes of its own (_KAFKA_CONNECT_RESTARTING)."""
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
    if self_managed:
        restarting = status.state.upper() == "RESTARTING" or any(
            task.state.upper() == "RESTARTING" for task in status.tasks)
        return (f"{what} for over {seconds:g} s (degraded_report_after): not restarted, and it moves no data; "
                + (_KAFKA_CONNECT_RESTARTING if restarting else
                   "look at it through each worker (GET /connectors/<name>/status) and in the workers' logs")
                + ", and restart it by hand (watchdog restart) if that is what it needs")
    return (f"{what} for over {seconds:g} s (degraded_report_after): not restarted (Confluent refuses a restart "
            "while PROVISIONING, and a restart of a state nobody knows may do anything), and it moves no data; "
            "check its configuration, credentials and network (private link) in the Confluent console, restart it "
            "by hand (watchdog restart) if that is what it needs, or ask Confluent support")
