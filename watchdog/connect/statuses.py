"""A connector's status object read leniently (`parse_status`), and a restart's answer body: the
instances it restarts, and the one line that says them."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ..model import ConnectorStatus, TaskStatus
from .backend import MAX_MESSAGE_CHARS
from .masking import upstream_text


class TasksNotList(ValueError):
    """A status whose `tasks` is neither a list nor null."""


# No state any API reports comes near this (USER_ACTIONABLE_ERROR has 21 characters). A state is
# said whole wherever its connector is (each poll's decision line, `unknown_state`, the state
# file's last seen state, GET /v1/connectors, the restart's evidence), and a state of a megabyte
# made log lines of megabytes at every poll, which log shippers drop or split.
MAX_STATE_CHARS = 64


def bounded_state(value: str) -> str:
    """A state from upstream, cut to MAX_STATE_CHARS with a note of its length. A state cut so
    was longer than any known one, and the note keeps its cut from reading as one."""
    if len(value) <= MAX_STATE_CHARS:
        return value
    return f"{value[:MAX_STATE_CHARS]}... ({len(value)} characters)"


def parse_status(data: Any, resource_id: str | None = None) -> ConnectorStatus:
    """A status object, read leniently: unknown fields and unknown states are kept or ignored."""
    if not isinstance(data, dict):
        raise ValueError("status is not an object")
    connector = data.get("connector")
    if not isinstance(connector, dict) or not isinstance(connector.get("state"), str):
        raise ValueError("status has no connector.state")
    listed = data.get("tasks")
    if listed is not None and not isinstance(listed, list):
        # Not iterated: a number raised TypeError past every reader's `except ValueError` (the
        # whole cluster's poll crashed, and a restart answered 202 ended `network_error`), and a
        # map or a string read as "no tasks", which a RUNNING connector turns into healthy.
        raise TasksNotList(f"status tasks is {type(listed).__name__}, not a list")
    tasks: list[TaskStatus] = []
    for task in listed or []:
        if not isinstance(task, dict):
            task = {}
        try:
            task_id = int(task.get("id", len(tasks)))
        except (TypeError, ValueError, OverflowError):  # OverflowError: 1e400 reads as inf
            task_id = len(tasks)
        # A task whose state cannot be read (null, missing, an object, an entry that is no
        # object) is kept with the empty state, one no API reports: its connector is `transient`
        # and the state is said (unknown_state), as for a state added tomorrow. Left out, a
        # RUNNING connector whose every task was so was judged healthy, unsaid.
        state = task.get("state")
        tasks.append(
            TaskStatus(
                id=task_id,
                state=bounded_state(state) if isinstance(state, str) else "",
                msg=upstream_text(task.get("msg")),
                trace=upstream_text(task.get("trace")),
            )
        )
    validation_errors = data.get("validation_errors")
    return ConnectorStatus(
        name=str(data.get("name") or ""),
        state=bounded_state(connector["state"]),
        type=str(data.get("type") or "unknown"),
        trace=upstream_text(connector.get("trace")),
        tasks=tuple(tasks),
        resource_id=resource_id,
        validation_errors=tuple(
            upstream_text(e) for e in (validation_errors if isinstance(validation_errors, list) else []) if e
        ),
    )


def restart_answer(data: Any) -> ConnectorStatus:
    """A restart's answer body (Kafka Connect's 202): which instances it restarts, their states
    only. A worker sends each failed instance's trace along, uncut (tens of kilobytes a task),
    and the answer stays with its job: kept whole, a daemon's finished jobs held 87 KB of traces
    per restart of a connector with four failed tasks, 20,000 jobs deep. The traces are in the
    failure evidence already, cut (model.evidence_text)."""
    status = parse_status(data)
    tasks = tuple(TaskStatus(id=task.id, state=task.state) for task in status.tasks)
    return replace(status, trace="", tasks=tasks, validation_errors=())


def describe_answer(status_code: int | None, status: ConnectorStatus) -> str:
    """One line for a restart's answer body: what the API says it is restarting.

    `202: connector RUNNING; tasks 0 RESTARTING, 1 RUNNING`
    """
    # Sorted: a real worker lists tasks in no particular order.
    ordered = sorted(status.tasks, key=lambda t: t.id)
    tasks = ", ".join(f"{task.id} {task.state}" for task in ordered) or "none"
    line = f"{status_code}: connector {status.state}; tasks {tasks}"
    if len(line) > MAX_MESSAGE_CHARS:
        # Cut as it was, one task of 50 restarting was named past the cut (tasks 0 to 22
        # RUNNING, then nothing): the instances not RUNNING are what the answer says it restarts.
        running = sum(1 for task in ordered if task.state == "RUNNING")
        others = ", ".join(f"{task.id} {task.state}" for task in ordered if task.state != "RUNNING")
        tasks = f"{others}, and {running} more RUNNING" if others else f"all {running} RUNNING"
        line = f"{status_code}: connector {status.state}; tasks {tasks}"
    return line[:MAX_MESSAGE_CHARS]
