"""The JSON bodies of a self-managed Kafka Connect worker's REST API (research note §4).

A scenario's connector phases show the Apache Kafka way:

    phase (simulator)       connector     tasks
    PROVISIONING            UNASSIGNED    none yet
    RUNNING                 RUNNING       RUNNING
    PAUSED                  PAUSED        PAUSED
    STOPPED                 STOPPED       none (KIP-875: a stopped connector has no tasks)
    FAILED                  RUNNING       all FAILED (the usual Kafka Connect failure: the
                                          connector instance keeps running, its tasks die)
    DEGRADED                RUNNING       the last one FAILED, the others RUNNING
    USER_ACTIONABLE_ERROR   FAILED        none (a connector that cannot start creates no tasks)
    RESTARTING              RESTARTING or RUNNING, each instance by whether the restart
                            request selected it (KIP-745); a connector restarting without any
                            of its tasks shows none (it creates them once it runs)

Failed instances carry `trace` (Kafka Connect has no `msg`); other instances have none, as
Kafka Connect leaves the empty trace out. `worker_id` is host:port of the worker running it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from watchdog.simulator.connector import Phase, SimulatedConnector

REBALANCE_MESSAGE = (
    "Cannot complete request momentarily due to no known leader URL, "
    "likely because a rebalance was underway."
)
# What the FileStream connectors of the recorded workers report as their plugin version.
PLUGIN_VERSION = "4.3.1"
_DEFAULT_CLASSES = {
    "source": "org.apache.kafka.connect.file.FileStreamSourceConnector",
    "sink": "org.apache.kafka.connect.file.FileStreamSinkConnector",
}


@dataclass(frozen=True, slots=True)
class Instances:
    """A set of a connector's instances: the connector itself and some of its tasks."""

    connector: bool = False
    tasks: frozenset[int] = frozenset()

    def __bool__(self) -> bool:
        return self.connector or bool(self.tasks)

    def covers(self, other: Instances) -> bool:
        return (self.connector or not other.connector) and other.tasks <= self.tasks


NO_INSTANCES = Instances()


def error_body(status: int, message: str) -> dict[str, Any]:
    """Kafka Connect's ConnectRestException body."""
    return {"error_code": status, "message": message}


def states(
    connector: SimulatedConnector, t: float, restarting: Instances | None
) -> tuple[str, list[str]]:
    """(connector state, task states) at t; `restarting` is what the last restart selected."""
    phase = connector.phase_at(t)
    count = connector.spec.tasks
    if phase is Phase.RESTARTING:
        chosen = restarting if restarting is not None else Instances(True, frozenset(range(count)))
        if not chosen.tasks:
            return "RESTARTING", []  # a connector must start before it creates its tasks
        tasks = ["RESTARTING" if i in chosen.tasks else "RUNNING" for i in range(count)]
        return ("RESTARTING" if chosen.connector else "RUNNING"), tasks
    return {
        Phase.STOPPED: ("STOPPED", []),
        Phase.PROVISIONING: ("UNASSIGNED", []),
        Phase.RUNNING: ("RUNNING", ["RUNNING"] * count),
        Phase.PAUSED: ("PAUSED", ["PAUSED"] * count),
        Phase.FAILED: ("RUNNING", ["FAILED"] * count),
        Phase.DEGRADED: ("RUNNING", ["RUNNING"] * (count - 1) + ["FAILED"]),
        Phase.USER_ACTIONABLE_ERROR: ("FAILED", []),
        Phase.CONFIG_ERROR: ("FAILED", []),
        # Kafka Connect has no DEGRADED: tasks awaiting a worker are UNASSIGNED.
        Phase.ALLOCATING: ("RUNNING", list(connector.task_states_at(t))),
    }[phase]


def failed_instances(connector: SimulatedConnector, t: float) -> Instances:
    state, tasks = states(connector, t, None)
    failed_tasks = frozenset(i for i, task in enumerate(tasks) if task == "FAILED")
    return Instances(state == "FAILED", failed_tasks)


def worker_id(connector: SimulatedConnector, workers: int, task: int | None = None) -> str:
    """A stable worker for each instance, spread over the cluster like Connect's assignor."""
    digest = hashlib.sha256(f"{connector.cluster}/{connector.name}".encode()).digest()
    slot = (int.from_bytes(digest[:4], "big") + (0 if task is None else task + 1)) % workers
    return f"10.0.0.{slot + 1}:8083"


def status_body(
    connector: SimulatedConnector,
    t: float,
    workers: int,
    restarting: Instances | None,
    *,
    shown_restarting: Instances = NO_INSTANCES,
    failed_before: Instances = NO_INSTANCES,
    versions: bool = True,
) -> dict[str, Any]:
    """ConnectorStateInfo; `shown_restarting` marks instances a restart has just selected
    (observed: those in `failed_before` keep their failure's trace until they run again). `versions`: the
    plugin version on every entry, as 4.x workers show it (older ones do not)."""
    state, task_states = states(connector, t, restarting)
    failure = connector.failure
    head: dict[str, Any] = {
        "state": "RESTARTING" if shown_restarting.connector else state,
        "worker_id": worker_id(connector, workers),
    }
    if versions:
        head["version"] = PLUGIN_VERSION
    if state == "FAILED" or (shown_restarting.connector and failed_before.connector):
        head["trace"] = failure.connector_trace
    tasks = []
    for task_id, task_state in enumerate(task_states):
        task: dict[str, Any] = {
            "id": task_id,
            "state": "RESTARTING" if task_id in shown_restarting.tasks else task_state,
            "worker_id": worker_id(connector, workers, task_id),
        }
        if versions:
            task["version"] = PLUGIN_VERSION
        if task_state == "FAILED" or (task_id in shown_restarting.tasks and task_id in failed_before.tasks):
            task["trace"] = failure.task_trace
        tasks.append(task)
    return {"name": connector.name, "connector": head, "tasks": tasks, "type": connector.spec.type}


def info_body(connector: SimulatedConnector, t: float) -> dict[str, Any]:
    """ConnectorInfo: the config as given (a worker does not mask it), task ids and type. A
    stopped connector lists no tasks (observed: stopping removes its task configs)."""
    spec = connector.spec
    tasks = 0 if connector.phase_at(t) is Phase.STOPPED else spec.tasks
    config = {
        "connector.class": _DEFAULT_CLASSES[spec.type],
        **spec.config,
        "name": spec.name,
        "tasks.max": str(spec.tasks),
    }
    return {
        "name": spec.name,
        "config": config,
        "tasks": [{"connector": spec.name, "task": task} for task in range(tasks)],
        "type": spec.type,
    }
