"""What a fault run leaves behind for the checks: the simulator's record of every call, every
restart job the daemon accepted, what /healthz answered, and the daemon's metrics."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry

from watchdog.config import Config
from watchdog.model import RestartRequest
from watchdog.queue import RestartJob, RestartQueue
from watchdog.simulator import CallRecord


class JobLedger:
    """Every job the queue accepts, in order: the checks need the ones that never finished too."""

    def __init__(self, queue: RestartQueue) -> None:
        self.jobs: list[RestartJob] = []
        submit = queue.submit

        def recording_submit(request: RestartRequest, **options: Any) -> tuple[RestartJob, bool]:
            job, merged = submit(request, **options)
            if not merged:
                self.jobs.append(job)
            return job, merged

        queue.submit = recording_submit  # type: ignore[method-assign]


@dataclass
class FaultRun:
    case: str
    config: Config
    calls: list[CallRecord]
    jobs: list[RestartJob]
    unsent: list[RestartJob]
    health: list[int]  # /healthz status codes, one per probe during the whole run
    readiness: list[int]  # /readyz status codes after the first poll of every cluster
    registry: CollectorRegistry
    polling_seconds: float  # how long polls were due
    elapsed: float  # the whole run, start to stop, in the simulator's seconds
    polls: dict[str, int]  # polls started per cluster, counted where they start (never from the calls)
    gone: frozenset[str] = frozenset()  # connectors deleted during the run
    polls_cut_short: dict[str, int] = field(default_factory=dict)  # polls cancelled by stop() per cluster
    poll_times: dict[str, list[float]] = field(default_factory=dict)  # when each poll started (loopback: the simulator's t)
    logs: list[dict[str, Any]] = field(default_factory=list)  # every event the daemon logged, debug included
    notes: dict[str, object] = field(default_factory=dict)

    def sample(self, name: str, **labels: str) -> float:
        """Sum of every series of `name` whose labels include `labels` (0 if none)."""
        total = 0.0
        for metric in self.registry.collect():
            for sample in metric.samples:
                if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                    total += sample.value
        return total

    def has_series(self, name: str, **labels: str) -> bool:
        return any(
            sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items())
            for metric in self.registry.collect()
            for sample in metric.samples
        )
