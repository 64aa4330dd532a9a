"""What every API the simulator serves has in common: a request, the door it passes, and how.

Each API (Confluent Cloud Connect, its org/v2 and cmk/v2 lists, the Metrics API, self-managed
Kafka Connect) is a door with two steps. `admit` authenticates and applies the API's own rate
limit; `answer` does the rest (permissions, the operation). The engine puts the fault rules
between the two, so faults never answer an unauthenticated or rate-limited request, exactly as
the scenario docstring promises.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from watchdog.simulator.operations import ApiReply
from watchdog.simulator.ratelimit import Verdict
from watchdog.simulator.routing import Route
from watchdog.simulator.scenario import ApiKeySpec


@dataclass(frozen=True, slots=True)
class ApiRequest:
    method: str
    path: str
    query: tuple[tuple[str, str], ...] = ()
    authorization: str | None = None
    body: bytes = b""
    client: str | None = None  # the caller's IP address (the Metrics API limits per IP)
    # The path as it came on the wire, percent-encoding and all (`path` is decoded; None: `path`
    # is as sent): routing reads encoded slashes and dots from it, and Kafka Connect's Jetty
    # refuses some encodings before any routing.
    raw_path: str | None = None
    # Every header field as sent (names in any case): strict.py reads Accept and Content-Type.
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(slots=True)
class Admission:
    """A door's verdict on who is asking and whether they may go on."""

    principal: str | None  # recorded in CallRecord.api_key and matched by fault rules
    key: ApiKeySpec | None = None  # the API key, for the APIs that use them
    refusal: ApiReply | None = None  # 401 or 429: the request goes no further
    rate_limited: bool = False
    verdicts: list[Verdict] = field(default_factory=list)  # the rate limits it passed
    # Told when the admitted request's answer leaves (the engine adds the latency): a
    # concurrency limit holds its slot until then (concurrency.py).
    on_answered: Callable[[float], None] | None = None


class ApiDoor(Protocol):
    def admit(self, route: Route, request: ApiRequest, t: float) -> Admission: ...

    def answer(
        self, route: Route, request: ApiRequest, admission: Admission, t: float
    ) -> ApiReply: ...

    def injected_error(self, status: int) -> ApiReply:
        """The API's own error body for an injected 4xx/5xx whose rule gives none."""
