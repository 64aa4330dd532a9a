"""Confluent Cloud's Connect API operations, for a request already authenticated and admitted."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from watchdog.simulator import bodies
from watchdog.simulator.connector import FAILURE_PHASES, Phase, SimulatedConnector, connector_state
from watchdog.simulator.routing import Route
from watchdog.simulator.scenario import Scenario
from watchdog.simulator.world import World

ConnectionFault = Literal["truncated", "reset"]

_EXPANSIONS = frozenset({"id", "info", "status"})
# The spec's 404 examples differ by operation (research note §2.8): list, status and read say
# "account not found"; pause, resume and restart say "resource not found".
_NOT_FOUND = {
    "list": "account not found",
    "status": "account not found",
    "read": "account not found",
}
# Observed wording (research note §2.7).
_NO_RECOMMENDATIONS = (
    "could not generate recommendations as error stack trace is not available. "
    "Please retry when the connector is in a failed state."
)


@dataclass
class ApiReply:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    # Header fields sent more than once, after `headers` (the Metrics API sends one set of
    # rateLimit-* headers per rate-limit scope, research note §3.4).
    repeated_headers: list[tuple[str, str]] = field(default_factory=list)
    delay_seconds: float = 0.0
    connection_fault: ConnectionFault | None = None
    trickle_seconds: float = 0.0  # send the body one byte at a time, this long apart


def json_reply(status: int, payload: Any) -> ApiReply:
    body = json.dumps(payload, separators=(",", ":")).encode()
    return ApiReply(status, body, {"Content-Type": "application/json"})


def error_reply(status: int, message: str, shape: str) -> ApiReply:
    return json_reply(status, bodies.error_body(status, message, shape))


class Operations:
    def __init__(self, world: World, scenario: Scenario, epoch_at_start: float) -> None:
        self._world = world
        self._scenario = scenario
        self._epoch_at_start = epoch_at_start

    def answer(self, route: Route, query: Sequence[tuple[str, str]], t: float) -> ApiReply:
        """Answer a connect/v1 operation (research note §2)."""
        connectors = self._world.cluster(route.environment, route.cluster)
        if route.kind == "other" or connectors is None:
            return self._not_found(route)
        if route.kind == "list":
            return self._list(connectors, query, t)
        connector = connectors.get(route.connector or "")
        if connector is None:
            return self._not_found(route)
        if route.kind == "status":
            diagnostics, extras = self._scenario.status_diagnostics, self._scenario.recorded_extras
            return json_reply(200, bodies.status_body(connector, t, diagnostics=diagnostics, recorded_extras=extras))
        if route.kind == "read":
            return json_reply(200, bodies.info_body(connector))
        if route.kind == "restart":
            return self._restart(connector, t)
        if route.kind == "pause":
            connector.pause(t, self._scenario.pause_resume.delay_seconds)
            return ApiReply(202)
        if route.kind == "resume":
            connector.resume(t, self._scenario.pause_resume.delay_seconds)
            return ApiReply(202)
        return self._recommendations(connector, t)

    def _not_found(self, route: Route) -> ApiReply:
        message = _NOT_FOUND.get(route.kind, "resource not found")
        return error_reply(404, message, self._scenario.error_shape)

    def _list(
        self, connectors: dict[str, SimulatedConnector], query: Sequence[tuple[str, str]], t: float
    ) -> ApiReply:
        values = [value for key, value in query if key == "expand"]
        if not values:
            return json_reply(200, list(connectors))
        # Comma lists and repeated parameters both occur (Go SDK, Confluent CLI: §2.2); like
        # Kafka Connect, unknown expansions are ignored.
        expand = {part.strip() for value in values for part in value.split(",")} & _EXPANSIONS
        return json_reply(
            200, {name: bodies.expansion_body(c, t, expand, recorded_extras=self._scenario.recorded_extras)
                  for name, c in connectors.items()}
        )

    def _restart(self, connector: SimulatedConnector, t: float) -> ApiReply:
        settings = self._scenario.restart
        state = connector_state(connector.phase_at(t))
        if state in settings.rejected_states:
            # Cloud answers 400 while PROVISIONING or PAUSED (research note §2.6); the wording
            # of that message is not published, this one is the simulator's.
            message = f"Connector {connector.name} cannot be restarted while it is {state}"
            return error_reply(400, message, self._scenario.error_shape)
        connector.restart(t, settings.delay_seconds, settings.lag_seconds)
        return ApiReply(202)

    def _recommendations(self, connector: SimulatedConnector, t: float) -> ApiReply:
        # Only a failure with a stack trace has advice: Cloud answers this 400 for a healthy
        # connector and for one that failed at config validation (no task ever ran: CONFIG_ERROR),
        # OBSERVED by Confluent's MCP server against the real service.
        phase = connector.phase_at(t)
        if phase not in FAILURE_PHASES or phase is Phase.CONFIG_ERROR:
            return error_reply(400, _NO_RECOMMENDATIONS, self._scenario.error_shape)
        event_time = int(self._epoch_at_start + t)
        return json_reply(200, bodies.recommendations_body(connector, event_time))
