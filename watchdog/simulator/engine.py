"""The simulated Confluent Cloud Connect API: the world, its gatekeeping and its call record.

A request passes, in order: authentication (401), the per-key rate limit (429), the fault rules,
the key's cluster permission (403), then the operation itself (404, 400, 200, 202). Everything
is computed from the injected clock when a request arrives; nothing runs in the background.
"""

from __future__ import annotations

import base64
import hmac
import random
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from http import HTTPStatus
from typing import Any

from pydantic import TypeAdapter

from watchdog.simulator.connector import ConnectorSnapshot
from watchdog.simulator.faults import FaultBook, FiredFault
from watchdog.simulator.operations import ApiReply, Operations, error_reply, json_reply
from watchdog.simulator.ratelimit import FixedWindowLimiter, Verdict
from watchdog.simulator.routing import EndpointKind, Route, classify
from watchdog.simulator.scenario import (
    ApiKeySpec,
    ConnectorChange,
    ConnectorSpec,
    FaultAction,
    FaultRule,
    InitialState,
    RateLimitSpec,
    Scenario,
    Script,
    check_fault_references,
)
from watchdog.simulator.world import World

_FAULT_RULES = TypeAdapter(list[FaultRule])
_STATE = TypeAdapter(InitialState)
# Default bodies of injected errors: the spec's example messages where it has one.
_ERROR_MESSAGES = {
    401: "Unauthorized",
    403: "Forbidden",
    404: "resource not found",
    500: "Oops, something went wrong",
}


@dataclass(frozen=True, slots=True)
class ApiRequest:
    method: str
    path: str
    query: tuple[tuple[str, str], ...] = ()
    authorization: str | None = None


@dataclass(frozen=True, slots=True)
class CallRecord:
    """One Connect API request as the simulator saw and answered it."""

    t: float  # simulator seconds (since start) when it arrived
    method: str
    path: str
    endpoint: EndpointKind
    api_key: str | None  # the key id when it names a scenario key; never the secret
    environment: str | None
    cluster: str | None
    connector: str | None
    status_code: int  # for truncated and reset answers: the status in the cut-off response
    request_id: str
    rate_limited: bool
    fault: str | None  # the label of the fault rule that fired

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class Simulator:
    """The in-memory Confluent Cloud.

    `clock` gives monotonic seconds (default `time.monotonic`); t = 0 is the moment the
    simulator is built. `seed` (default: the scenario's) makes fault probabilities, latency and
    request ids repeatable. `bound_port` is set by `serve` while it listens.
    """

    def __init__(
        self,
        scenario: Scenario,
        *,
        clock: Callable[[], float] = time.monotonic,
        seed: int | None = None,
    ) -> None:
        self.scenario = scenario
        self.bound_port: int | None = None
        self._clock = clock
        self._started_at = clock()
        seed = scenario.seed if seed is None else seed
        self._latency_rng = _stream(seed, "latency")
        self._id_rng = _stream(seed, "request-id")
        self._keys = {key.id: key for key in scenario.api_keys}
        self._world = World(scenario, 0.0)
        # Event ids of error recommendations embed wall-clock seconds (§2.7); only they do.
        self._operations = Operations(self._world, scenario, epoch_at_start=time.time())
        limit = scenario.rate_limit
        self._limiter = (
            None if limit is None else FixedWindowLimiter(limit.limit, limit.window_seconds)
        )
        self._faults = FaultBook(scenario.faults, _stream(seed, "faults"))
        self._calls: list[CallRecord] = []

    def now(self) -> float:
        """Seconds since the simulator was built."""
        return self._clock() - self._started_at

    # --- the Connect API ------------------------------------------------------------------

    def handle(self, request: ApiRequest) -> ApiReply:
        """Answer one Connect API request and record it."""
        t = self.now()
        route = classify(request.method, request.path)
        claimed, key = self._authenticate(request.authorization)
        if key is None:
            reply = error_reply(401, "Unauthorized", self.scenario.error_shape)
            fired, rate_limited = None, False
        else:
            reply, fired, rate_limited = self._admit(route, request, key, t)
        reply.delay_seconds += self._latency()
        request_id = str(uuid.UUID(int=self._id_rng.getrandbits(128), version=4))
        reply.headers["X-Request-Id"] = request_id
        self._calls.append(
            CallRecord(
                t=t,
                method=request.method,
                path=request.path,
                endpoint=route.kind,
                api_key=claimed if claimed in self._keys else None,
                environment=route.environment,
                cluster=route.cluster,
                connector=route.connector,
                status_code=reply.status,
                request_id=request_id,
                rate_limited=rate_limited,
                fault=None if fired is None else fired.label,
            )
        )
        return reply

    def _authenticate(self, authorization: str | None) -> tuple[str | None, ApiKeySpec | None]:
        """(the key id the request claims, the key if the secret matches) from HTTP Basic."""
        scheme, _, encoded = (authorization or "").partition(" ")
        if scheme.lower() != "basic":
            return None, None
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode()
        except ValueError:  # binascii.Error and UnicodeDecodeError are ValueErrors
            return None, None
        key_id, colon, secret = decoded.partition(":")
        key = self._keys.get(key_id)
        if not colon or key is None:
            return key_id, None
        if not hmac.compare_digest(key.secret.get_secret_value().encode(), secret.encode()):
            return key_id, None
        return key_id, key

    def _admit(
        self, route: Route, request: ApiRequest, key: ApiKeySpec, t: float
    ) -> tuple[ApiReply, FiredFault | None, bool]:
        """(reply, the fault that fired, whether rate limited) for an authenticated request."""
        settings = self.scenario.rate_limit
        verdict = None if self._limiter is None else self._limiter.admit(key.id, t)
        if settings is not None and verdict is not None and not verdict.allowed:
            return _too_many_requests(verdict, settings, self.scenario.error_shape), None, True
        fired = self._faults.pick(route, key.id, t)
        if fired is not None and fired.action.status is not None:
            # An injected answer carries exactly the headers its rule lists.
            return self._injected_reply(fired.action.status, fired.action), fired, False
        if route.cluster is not None and not key.may_use(route.cluster):
            reply = error_reply(403, "Forbidden", self.scenario.error_shape)
        else:
            reply = self._operations.answer(route, request.query, t)
        if fired is not None:
            _spoil(reply, fired.action)
        if settings is not None and verdict is not None and settings.headers == "always":
            reply.headers.update(_rate_limit_headers(verdict))
        return reply, fired, False

    def _injected_reply(self, status: int, action: FaultAction) -> ApiReply:
        if action.body is None and status >= 400 and status != 429:
            message = _ERROR_MESSAGES.get(status) or _phrase(status)
            reply = error_reply(status, message, self.scenario.error_shape)
        elif action.body is None:
            reply = ApiReply(status)
        elif isinstance(action.body, str):
            reply = ApiReply(
                status, action.body.encode(), {"Content-Type": "text/plain; charset=utf-8"}
            )
        else:
            reply = json_reply(status, action.body)
        reply.headers.update(action.headers)
        reply.delay_seconds = action.delay_seconds
        return reply

    def _latency(self) -> float:
        latency = self.scenario.latency_seconds
        if isinstance(latency, tuple):
            return self._latency_rng.uniform(*latency)
        return latency

    # --- inspection -----------------------------------------------------------------------

    @property
    def calls(self) -> list[CallRecord]:
        return list(self._calls)

    def restarts(
        self, cluster: str | None = None, connector: str | None = None, accepted_only: bool = True
    ) -> list[CallRecord]:
        """Restart calls, optionally for one cluster or connector; by default only the 202s."""
        return [
            call
            for call in self._calls
            if call.endpoint == "restart"
            and (cluster is None or call.cluster == cluster)
            and (connector is None or call.connector == connector)
            and (not accepted_only or call.status_code == 202)
        ]

    def connector(self, cluster: str, name: str) -> ConnectorSnapshot:
        """The connector as it is now; KeyError if there is no such connector."""
        return self._world.connector(cluster, name).snapshot(self.now())

    def connectors(self) -> list[ConnectorSnapshot]:
        now = self.now()
        return [connector.snapshot(now) for connector in self._world.connectors()]

    def state(self) -> dict[str, Any]:
        return {"t": self.now(), "connectors": [asdict(s) for s in self.connectors()]}

    # --- control --------------------------------------------------------------------------

    @property
    def faults(self) -> list[FaultRule]:
        return self._faults.rules

    def set_faults(self, rules: Iterable[FaultRule | Mapping[str, Any]]) -> None:
        """Replace the fault rules (validated like the scenario's); their counts restart."""
        parsed = _FAULT_RULES.validate_python(list(rules))
        check_fault_references(parsed, self.scenario.cluster_ids, set(self._keys))
        self._faults.replace(parsed)

    def clear_faults(self) -> None:
        self._faults.replace([])

    def add_connector(
        self, cluster: str, spec: ConnectorSpec | Mapping[str, Any]
    ) -> ConnectorSnapshot:
        """Create a connector now; its script's times count from now."""
        spec = ConnectorSpec.model_validate(spec)
        return self._world.add(cluster, spec, self.now()).snapshot(self.now())

    def delete_connector(self, cluster: str, name: str) -> None:
        self._world.remove(cluster, name)

    def set_state(self, cluster: str, name: str, state: str) -> ConnectorSnapshot:
        """Show `state` from now on (script timings dropped, recovery rules kept)."""
        state = _STATE.validate_python(state)
        connector = self._world.connector(cluster, name)
        if state == "DEGRADED" and connector.spec.tasks < 2:
            raise ValueError(f"{name} has one task: DEGRADED needs one RUNNING and one failed")
        connector.set_state(self.now(), state)
        return connector.snapshot(self.now())

    def set_script(
        self, cluster: str, name: str, script: Script | Mapping[str, Any]
    ) -> ConnectorSnapshot:
        """Play a new script from now on; its times count from now."""
        connector = self._world.connector(cluster, name)
        spec = ConnectorSpec.model_validate({**connector.spec.model_dump(), "script": script})
        connector.set_script(self.now(), spec.script)
        return connector.snapshot(self.now())

    def set_stalled(self, cluster: str, name: str, stalled: bool = True) -> ConnectorSnapshot:
        connector = self._world.connector(cluster, name)
        connector.set_stalled(self.now(), stalled)
        return connector.snapshot(self.now())

    def change_connector(
        self, cluster: str, name: str, change: ConnectorChange | Mapping[str, Any]
    ) -> ConnectorSnapshot | None:
        """Apply a control-API change; None once the connector is deleted."""
        change = ConnectorChange.model_validate(change)
        if change.create is not None:
            return self.add_connector(cluster, {**change.create.model_dump(), "name": name})
        if change.delete:
            self.delete_connector(cluster, name)
            return None
        if change.script is not None:
            self.set_script(cluster, name, change.script)
        if change.state is not None:
            self.set_state(cluster, name, change.state)
        if change.stalled is not None:
            self.set_stalled(cluster, name, change.stalled)
        return self.connector(cluster, name)


def _spoil(reply: ApiReply, action: FaultAction) -> None:
    """Apply the faults that act on a real answer: broken JSON, a cut connection, a delay."""
    if action.invalid_json:
        # Every body here is a JSON object or array, so any proper prefix is invalid JSON.
        reply.body = reply.body[: len(reply.body) // 2] if len(reply.body) >= 2 else b"{"
        reply.headers["Content-Type"] = "application/json"
    elif action.truncated:
        reply.connection_fault = "truncated"
    elif action.reset:
        reply.connection_fault = "reset"
    reply.delay_seconds = action.delay_seconds


def _too_many_requests(verdict: Verdict, settings: RateLimitSpec, error_shape: str) -> ApiReply:
    # The spec declares no 429 body (research note §3.1); the error body is an option.
    if settings.body == "error":
        reply = error_reply(429, "Too Many Requests", error_shape)
    else:
        reply = ApiReply(429)
    reply.headers.update(_rate_limit_headers(verdict))
    reply.headers["Retry-After"] = str(verdict.reset_seconds)
    return reply


def _rate_limit_headers(verdict: Verdict) -> dict[str, str]:
    return {
        "X-RateLimit-Limit": str(verdict.limit),
        "X-RateLimit-Remaining": str(verdict.remaining),
        "X-RateLimit-Reset": str(verdict.reset_seconds),
    }


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _stream(seed: int | None, purpose: str) -> random.Random:
    """An independent random stream per purpose, so one kind of draw never shifts another."""
    return random.Random(None if seed is None else f"{seed}/{purpose}")
