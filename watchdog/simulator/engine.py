"""The simulator: its world, the four APIs it serves, its fault rules and its call record.

A request passes, in order: its API's door (authentication: 401; the API's own rate limit:
429), the fault rules, then the rest of the door (permissions: 403; the operation itself). The
APIs are Confluent Cloud's Connect API (cloud_api.py), its environment and cluster lists for
discovery (discovery_api.py), the Metrics API (metrics_api.py) and self-managed Kafka Connect
clusters (kafka_connect_api.py); routing.py tells them apart.
Everything is computed from the injected clock when a request arrives; nothing runs in the
background.
"""

from __future__ import annotations

import random
import re
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from email.utils import formatdate
from typing import Any

from pydantic import TypeAdapter

from watchdog.simulator.cloud_api import CloudApi
from watchdog.simulator.connector import ConnectorSnapshot
from watchdog.simulator.connector_script import ConnectorChange, ConnectorSpec, InitialState, Script
from watchdog.simulator.credentials import KeyRing
from watchdog.simulator.discovery_api import ClusterLifecycles, DiscoveryApi
from watchdog.simulator.doors import ApiDoor, ApiRequest
from watchdog.simulator.fault_rules import FaultAction, FaultRule, check_fault_references
from watchdog.simulator.faults import FaultBook, FiredFault
from watchdog.simulator.kafka_connect_api import KafkaConnectApi
from watchdog.simulator.metrics_api import MetricsApi
from watchdog.simulator.operations import ApiReply, json_reply
from watchdog.simulator.ratelimit import KeyBudgets
from watchdog.simulator.routing import ApiFamily, EndpointKind, classify
from watchdog.simulator.scenario import Scenario
from watchdog.simulator.strict import check, refusal_reply
from watchdog.simulator.world import World

__all__ = ["ApiRequest", "CallRecord", "Simulator"]

_FAULT_RULES = TypeAdapter(list[FaultRule])
_STATE = TypeAdapter(InitialState)

# The call record keeps the newest calls only: `watchdog simulate` runs for days in the compose
# playground (about 1 call a second there, some 450 bytes a record: 40 MB a day, and every
# `GET /_sim/calls` serialised all of it). 100,000 calls is about 45 MB and more than any test or
# bench run makes; `calls_forgotten` counts what fell off, so that nobody reads a cut record as whole.
CALLS_KEPT = 100_000


@dataclass(frozen=True, slots=True)
class CallRecord:
    """One API request as the simulator saw and answered it."""

    t: float  # simulator seconds (since start) when it arrived
    method: str
    path: str
    endpoint: EndpointKind
    api_key: str | None  # the key id when it names a scenario key; never the secret
    environment: str | None
    cluster: str | None  # an lkc- id, or a Kafka Connect cluster's name
    connector: str | None
    status_code: int  # for truncated and reset answers: the status in the cut-off response
    request_id: str
    rate_limited: bool
    fault: str | None  # the label of the fault rule that fired
    api: ApiFamily = "cloud"  # cloud (connect/v1), discovery (org/v2, cmk/v2), metrics, or kafka_connect
    refused: str | None = None  # why a strict server refused it (scenario strict_requests; strict.py)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class Simulator:
    """The in-memory Confluent Cloud, its Metrics API and self-managed Kafka Connect clusters.

    `clock` gives monotonic seconds (default `time.monotonic`); t = 0 is the moment the
    simulator is built. `epoch` is the Unix time at t = 0 (default: the wall clock then): the
    Metrics API's timestamps and minute boundaries are `epoch + t`. `seed` (default: the
    scenario's) makes fault probabilities, latency and request ids repeatable. `bound_port` is
    set by `serve` while it listens. `calls_kept` bounds the call record (`calls`) to the newest
    calls; `calls_forgotten` counts the older ones it dropped.
    """

    def __init__(
        self,
        scenario: Scenario,
        *,
        clock: Callable[[], float] = time.monotonic,
        seed: int | None = None,
        epoch: float | None = None,
        calls_kept: int = CALLS_KEPT,
    ) -> None:
        self.scenario = scenario
        self.bound_port: int | None = None
        self.epoch = time.time() if epoch is None else epoch
        self._clock = clock
        self._started_at = clock()
        seed = scenario.seed if seed is None else seed
        self._latency_rng = _stream(seed, "latency")
        self._arrival_rng = _stream(seed, "arrival")
        self._id_rng = _stream(seed, "request-id")
        self._keys = KeyRing(scenario.api_keys)
        self._world = World(scenario, 0.0)
        self._kafka_connect = KafkaConnectApi(scenario, self._world)
        lifecycles = ClusterLifecycles(scenario)
        cloud = CloudApi(scenario, self._world, self._keys, self.epoch, lifecycles)
        self._doors: dict[ApiFamily, ApiDoor] = {
            "cloud": cloud,
            "discovery": DiscoveryApi(scenario, cloud, lifecycles, self.epoch),
            "metrics": MetricsApi(scenario.metrics_api, self._world, self._keys, epoch=self.epoch),
            "kafka_connect": self._kafka_connect,
        }
        self._faults = FaultBook(scenario.faults, _stream(seed, "faults"))
        self._calls: deque[CallRecord] = deque(maxlen=calls_kept)
        self.calls_forgotten = 0  # calls the record no longer holds (the oldest go first)

    def now(self) -> float:
        """Seconds since the simulator was built."""
        return self._clock() - self._started_at

    # --- the APIs -------------------------------------------------------------------------

    def handle(self, request: ApiRequest) -> ApiReply:
        """Answer one API request and record it."""
        t = self.now()
        route = classify(
            request.method, request.path, request.raw_path, self.scenario.routing.encoded_slash
        )
        door = self._doors[route.api]
        admission = door.admit(route, request, t)
        fired: FiredFault | None = None
        refusal = None if admission.refusal is not None or not self.scenario.strict_requests else check(route, request)
        if admission.refusal is not None:
            reply = admission.refusal
        elif refusal is not None:
            reply = refusal_reply(route, refusal, self.scenario.error_shape)
        else:
            fired = self._faults.pick(route, admission.principal, t)
            if fired is not None and fired.action.status is not None:
                # An injected answer carries exactly the headers its rule lists.
                reply = _injected_reply(door, fired.action.status, fired.action)
            else:
                reply = door.answer(route, request, admission, t)
                if fired is not None:
                    _spoil(reply, fired.action)
        if not any(name.lower() == "date" for name in reply.headers):
            # Every HTTP server sends one; it is also the clock a Unix-time X-RateLimit-Reset is
            # read by (scenario rate_limit.reset_format), so it follows the simulator's clock.
            reply.headers["Date"] = formatdate(self.epoch + t, usegmt=True)
        reply.delay_seconds += self._latency()
        if admission.on_answered is not None:
            admission.on_answered(t + reply.delay_seconds)
        request_id = str(uuid.UUID(int=self._id_rng.getrandbits(128), version=4))
        if route.api != "kafka_connect":
            # Kafka Connect sends no request id (observed on 4.3.1); the call record keeps one.
            reply.headers["X-Request-Id"] = request_id
        if len(self._calls) == self._calls.maxlen:
            self.calls_forgotten += 1
        self._calls.append(
            CallRecord(
                t=t,
                method=request.method,
                path=request.path,
                endpoint=route.kind,
                api_key=admission.principal,
                environment=route.environment,
                cluster=route.cluster,
                connector=route.connector,
                status_code=reply.status,
                request_id=request_id,
                rate_limited=admission.rate_limited,
                fault=None if fired is None else fired.label,
                api=route.api,
                refused=None if refusal is None else str(refusal),
            )
        )
        return reply

    def arrival_delay(self) -> float:
        """How long the next request takes to reach the server (the HTTP layer waits it out
        before `handle` counts the request): drawn per request, so that concurrent requests
        can be counted out of the order they were sent in."""
        return _draw(self.scenario.arrival_delay_seconds, self._arrival_rng)

    def _latency(self) -> float:
        return _draw(self.scenario.latency_seconds, self._latency_rng)

    # --- inspection -----------------------------------------------------------------------

    @property
    def cloud_budgets(self) -> KeyBudgets | None:
        """The Connect API's per-key rate-limit budgets (with other clients' use), or None."""
        door = self._doors["cloud"]
        assert isinstance(door, CloudApi)
        return door.budgets

    @property
    def calls(self) -> list[CallRecord]:
        """The newest `calls_kept` calls, oldest first (`calls_forgotten`: how many fell off)."""
        return list(self._calls)

    def restarts(
        self, cluster: str | None = None, connector: str | None = None, accepted_only: bool = True
    ) -> list[CallRecord]:
        """Restart calls, optionally for one cluster or connector; by default only the accepted
        ones (2xx: Confluent Cloud answers 202, Kafka Connect 202, 204 or 200)."""
        return [
            call
            for call in self._calls
            if call.endpoint == "restart"
            and (cluster is None or call.cluster == cluster)
            and (connector is None or call.connector == connector)
            and (not accepted_only or 200 <= call.status_code < 300)
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
        check_fault_references(parsed, self.scenario.cluster_ids, self._keys.ids)
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

    def set_idle(self, cluster: str, name: str, idle: bool = True) -> ConnectorSnapshot:
        """Upstream has nothing (idle) or has data again: no records and no lag while idle."""
        connector = self._world.connector(cluster, name)
        connector.set_idle(self.now(), idle)
        return connector.snapshot(self.now())

    def set_unassigned(self, cluster: str, name: str, tasks: int) -> ConnectorSnapshot:
        """`tasks` of the connector's tasks await a worker from now on (0 ends it): shown as
        DEGRADED with those tasks UNASSIGNED, no task in error."""
        connector = self._world.connector(cluster, name)
        if tasks > connector.spec.tasks:
            raise ValueError(f"{name} has {connector.spec.tasks} tasks, not {tasks}")
        connector.set_unassigned(self.now(), tasks)
        return connector.snapshot(self.now())

    def start_rebalance(self, cluster: str, seconds: float) -> None:
        """A Kafka Connect cluster rebalances from now: its restarts answer 409 meanwhile."""
        self._kafka_connect.start_rebalance(cluster, self.now(), seconds)

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
        if change.idle is not None:
            self.set_idle(cluster, name, change.idle)
        if change.unassigned is not None:
            self.set_unassigned(cluster, name, change.unassigned)
        if change.list_entry is not None:
            self._world.connector(cluster, name).list_entry = change.list_entry
        return self.connector(cluster, name)


def _injected_reply(door: ApiDoor, status: int, action: FaultAction) -> ApiReply:
    if action.body is None and status >= 400 and status != 429:
        reply = door.injected_error(status)
    elif action.body is None:
        reply = ApiReply(status)
    elif isinstance(action.body, str):
        reply = ApiReply(
            status, raw_text(action.body), {"Content-Type": "text/plain; charset=utf-8"}
        )
    else:
        reply = json_reply(status, action.body)
    reply.headers.update(action.headers)
    reply.delay_seconds = action.delay_seconds
    reply.trickle_seconds = action.trickle_seconds
    return reply


def raw_text(text: str) -> bytes:
    """A fault body's text as UTF-8, where a lone surrogate plays invalid bytes: U+DC80..U+DCFF the
    byte it stands for (Python's surrogateescape: `\udcff` is the byte FF, never valid UTF-8), any
    other its own three bytes, as a CESU-8 or Java "modified UTF-8" encoder writes it."""
    out = bytearray()
    for part in re.split("([\ud800-\udfff])", text):
        if len(part) == 1 and "\udc80" <= part <= "\udcff":
            out.append(ord(part) - 0xDC00)
        else:
            out += part.encode("utf-8", "surrogatepass")
    return bytes(out)


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
    elif action.trickle_seconds > 0:
        reply.trickle_seconds = action.trickle_seconds
    elif action.pad_to_bytes is not None:
        # Trailing whitespace keeps a JSON body valid: only its size changes.
        reply.body = reply.body.ljust(action.pad_to_bytes, b" ")
    reply.delay_seconds = action.delay_seconds


def _draw(seconds: float | tuple[float, float], rng: random.Random) -> float:
    return rng.uniform(*seconds) if isinstance(seconds, tuple) else seconds


def _stream(seed: int | None, purpose: str) -> random.Random:
    """An independent random stream per purpose, so one kind of draw never shifts another."""
    return random.Random(None if seed is None else f"{seed}/{purpose}")
