"""The active fault rules and how often each has fired."""

from __future__ import annotations

import random
from dataclasses import dataclass

from watchdog.simulator.fault_rules import FaultAction, FaultRule
from watchdog.simulator.routing import Route


@dataclass(frozen=True, slots=True)
class FiredFault:
    label: str
    action: FaultAction


class FaultBook:
    def __init__(self, rules: list[FaultRule], rng: random.Random) -> None:
        self._rng = rng
        self.replace(rules)

    @property
    def rules(self) -> list[FaultRule]:
        return list(self._rules)

    def replace(self, rules: list[FaultRule]) -> None:
        """Install new rules; their counts start at zero."""
        self._rules = list(rules)
        self._fired = [0] * len(self._rules)

    def pick(self, route: Route, api_key: str | None, t: float) -> FiredFault | None:
        """The first rule that matches this request at time t and still may fire, counted."""
        for index, rule in enumerate(self._rules):
            match, when = rule.match, rule.when
            if (
                (match.endpoint is not None and match.endpoint != route.kind)
                or (match.cluster is not None and match.cluster != route.cluster)
                or (match.connector is not None and match.connector != route.connector)
                or (match.api_key is not None and match.api_key != api_key)
                or t < when.from_
                or (when.until is not None and t >= when.until)
                or (when.count is not None and self._fired[index] >= when.count)
            ):
                continue
            # Draw only for probabilistic rules, so adding a certain rule leaves the others'
            # seeded sequence unchanged.
            if when.probability < 1.0 and self._rng.random() >= when.probability:
                continue
            self._fired[index] += 1
            return FiredFault(rule.name or f"faults[{index}]", rule.action)
        return None
