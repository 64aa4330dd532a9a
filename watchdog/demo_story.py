"""The demo's closing story: for each connector that was in trouble or was restarted, what the
daemon found, what it did, and what came of it. Built from what the daemon itself saw (its
polls) and did (its finished restart jobs), not from the simulator's script."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from .model import ConnectorKey, ConnectorState, ConnectorStatus, Health, Outcome, Trigger
from .queue import RestartJob
from .rules import RESTART_REFUSED_STATES, classify, configuration_error, degraded_without_error

_DONE_BY = {
    Trigger.STATUS: "restarted for its status",
    Trigger.SCHEDULE: "restarted on schedule",
    Trigger.ALERT: "restarted for an alert",
    Trigger.STALLED: "restarted as stalled",
    Trigger.MANUAL: "restarted on request",
}

# Why a connector in a state restarts do not help is left alone, in words true of both backends:
# Confluent answers such a restart 400, a Kafka Connect worker 202 and leaves the connector as it
# was ("restarts are refused while PAUSED" was untrue of the kafka_connect demo).
_LEFT_ALONE = {
    "PROVISIONING": "Confluent refuses restarts until it is provisioned",
    "PAUSED": "a restart does not start a PAUSED connector (resume it)",
    "STOPPED": "a restart does not start a STOPPED connector (resume it)",
    "DELETED": "it is being deleted",
}


@dataclass
class Sightings:
    """What the polls showed: each connector's first status, first status in trouble, latest."""

    first: dict[ConnectorKey, ConnectorStatus] = field(default_factory=dict)
    trouble: dict[ConnectorKey, ConnectorStatus] = field(default_factory=dict)
    latest: dict[ConnectorKey, ConnectorStatus] = field(default_factory=dict)

    def look(self, statuses: Mapping[ConnectorKey, ConnectorStatus]) -> None:
        for key, status in statuses.items():
            self.first.setdefault(key, status)
            if classify(status) is not Health.HEALTHY:
                self.trouble.setdefault(key, status)
        self.latest = dict(statuses)


def story(sightings: Sightings, jobs: Iterable[RestartJob], states: Mapping[ConnectorKey, ConnectorState]) -> list[str]:
    """One line per connector worth telling about, sorted by cluster and name."""
    by_key: dict[ConnectorKey, list[RestartJob]] = {}
    for job in jobs:
        by_key.setdefault(job.key, []).append(job)
    keys = sorted(set(sightings.trouble) | set(by_key), key=str)
    width = max((len(str(key)) for key in keys), default=0)
    lines = []
    for key in keys:
        found = sightings.trouble.get(key) or sightings.first.get(key)
        done = _done(found, by_key.get(key, []), states.get(key))
        now = describe(sightings.latest.get(key))
        lines.append(f"    {str(key):<{width}}  found {describe(found)}; {done}; now {now}")
    return lines


def describe(status: ConnectorStatus | None) -> str:
    if status is None:
        return "gone"
    if status.unusable is not None:
        return f"unreadable ({status.unusable})"
    if status.state.upper() == "FAILED" and configuration_error(status):
        return "FAILED (configuration error)"
    odd = Counter(task.state for task in status.tasks if task.state.upper() != "RUNNING")
    if not odd:
        return status.state
    return f"{status.state} ({', '.join(f'{n} of {len(status.tasks)} tasks {s}' for s, n in odd.items())})"


def _done(found: ConnectorStatus | None, jobs: list[RestartJob], state: ConnectorState | None) -> str:
    if jobs:
        parts = []
        for trigger in Trigger:
            mine = [job for job in jobs if job.primary.trigger is trigger]
            if mine:
                outcomes = Counter(job.outcome.value if job.outcome else "unfinished" for job in mine)
                times = "once" if len(mine) == 1 else f"{len(mine)} times"
                parts.append(f"{_DONE_BY[trigger]} {times} ({', '.join(f'{o} {n}' for o, n in outcomes.items())})")
        done = ", ".join(parts)
        if state is not None and state.gave_up:
            done += ", then gave up (max_restarts)"
        return done
    if found is None:
        return "nothing to do"
    health = classify(found)
    if health is Health.USER_ERROR:
        return "reported, not restarted: no restart fixes a configuration"
    if degraded_without_error(found) or any(task.state.upper() == "UNASSIGNED" for task in found.tasks):
        return "left alone: its tasks await a worker, which the cluster assigns by itself"
    if found.state.upper() in RESTART_REFUSED_STATES:
        return f"left alone: {_LEFT_ALONE.get(found.state.upper(), f'a restart does nothing while {found.state}')}"
    if health is Health.FAILED:
        return "not restarted yet (confirmation polls, backoff or a gate)"
    return f"left alone: {found.state} is transient, looked at again each poll"


def outcome_counts(jobs: Iterable[RestartJob]) -> dict[str, int]:
    counts = Counter(job.outcome for job in jobs if job.outcome is not None)
    return {outcome.value: counts[outcome] for outcome in Outcome if counts[outcome]}
