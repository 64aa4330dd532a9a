"""Scenario files: the world the simulator plays, as YAML.

Every key is optional unless marked *required*; unknown keys are errors. Times are seconds since
the simulator started (for a script set at runtime: since it was set). `builtin/demo.yaml` is a
commented example. Discovery (`GET /org/v2/environments`, `GET /cmk/v2/clusters`: display names,
clusters appearing and disappearing, which environments a key sees) has its keys described in
`discovery_scenario.py`.

Where the behaviour comes from: unmarked keys follow Confluent's published specs (connect/v1,
Metrics v2) and docs. OBSERVED marks behaviour seen in real answers or in tests Confluent runs
against the real service, which no spec promises (it may change without notice); ASSUMED marks
what no source shows, chosen so that a client safe against it is safe against the real service.

    seed: 7                        # randomness of fault probabilities, latency and request ids
    error_shape: nested            # nested: {"error": {"code", "message"}} (connect/v1 spec);
                                   # flat: {"error_code", "message"} (OBSERVED, research §2.8)
    status_diagnostics: true       # failing /status bodies carry Cloud's undocumented extras
                                   # (error_summary, errors_from_trace, validation_errors, ...,
                                   # and a trace on failed tasks; OBSERVED, research §2.3)
    latency_seconds: 0             # added to every API answer (Connect, Metrics, Kafka
                                   # Connect): a number or [min, max]
    api_keys:                      # *required*, at least one; Connect and Metrics API keys
      - id: demo-key               # *required*: the HTTP Basic user name
        secret: demo-secret        # *required*: the HTTP Basic password
        clusters: [lkc-demo01]     # where the key may act (403 elsewhere); default: everywhere
    environments:                  # *required*
      - id: env-demo01             # *required*, env-...
        clusters:
          - id: lkc-demo01         # *required*, lkc-..., unique across environments
            connectors:
              - name: orders-sink  # *required*, unique within its cluster
                type: sink         # source | sink (default source)
                shown_type: unknown   # the `type` its status and info show, if not `type`:
                                   # Confluent's recorded answers (Terraform provider test
                                   # fixtures) show "unknown" in both; OBSERVED, not in the spec
                tasks: 2           # default 1
                id: lcc-abc123     # default: derived from cluster and name, stable across runs
                custom: false      # a custom connector (bring your own plugin): info.config says
                                   # confluent.connector.type: CUSTOM, its id is clcc-...
                                   # (OBSERVED in the Terraform provider's recorded answers) and
                                   # its metrics are in the Metrics API's `cloud-custom` dataset,
                                   # not in `cloud` (current Metrics spec), under the same metric
                                   # and label names (ASSUMED: the spec does not list them)
                config: {}         # merged over the spec's required keys; secrets come back masked
                records_per_second: 10   # throughput while RUNNING, not stalled, not idle
                list_entry: complete   # its entry in the expanded list: complete, or broken as
                                   # an answer may be: status_null, status_empty ({}),
                                   # status_missing, connector_null; /status stays complete
                record_bytes: 512  # average record size, for the *_bytes metrics
                script: {}         # how its state changes over time, below; default: RUNNING
    kafka_connect_clusters:        # self-managed Apache Kafka Connect clusters (research §4),
                                   # each served at /kafka-connect/{name}/ + the Kafka Connect
                                   # REST paths; see kafka_connect_api.py
      - name: onprem               # *required*; unique among all cluster ids and names
        workers: 3                 # worker_id 10.0.0.1:8083, 10.0.0.2:8083, ...
        basic_auth:                # optional: the BasicAuthSecurityRestExtension's check
          username: admin
          password: admin-secret
        bare_restart_status: 204   # POST .../restart without flags: 204 (AK >= 3.0 as
                                   # released, KAFKA-13139) or 200 (the KIP-745 text)
        rebalances:                # restarts answer 409 while one is in progress
          - {from: 30, until: 40}
        connectors: []             # as under environments; the script's failure shows the
                                   # Kafka Connect way (see kafka_connect_bodies.py)
    rate_limit:                    # omitted: no limit
      limit: 10                    # *required*: requests per window and API key
      window_seconds: 5            # *required*: aligned windows start when the simulator starts
      algorithm: fixed_aligned     # fixed_aligned | fixed_anchored | sliding_log |
                                   # sliding_counter | token_bucket | gcra: what each admits
                                   # and what its headers mean: simulator/ratelimit.py (Confluent
                                   # publishes neither its numbers nor its algorithm)
      headers: on_429              # on_429 (documented) | always (X-RateLimit-* on every
                                   # answer: ASSUMED, the headers are documented on 429 only) |
                                   # never (a 429 carries no X-RateLimit-*)
      retry_after: true            # whether a 429 carries Retry-After
      body: empty                  # empty (documented) | error (a connect-style 429 error body)
      other_clients:               # other tools on the same key, sharing its budget
        - {pattern: steady, share: 0.33}   # steady | bursty; share of the limit per window
    restart:
      delay_seconds: 3             # time spent restarting before the script decides the outcome
      rejected_states: [PROVISIONING, PAUSED]   # restart answers 400 here: OBSERVED (Confluent's
                                   # MCP server integration tests against the real service,
                                   # research §2.6); the spec lists no 400 for restart, and the
                                   # 400's message is the simulator's own wording (ASSUMED)
      task_state: RESTARTING       # RESTARTING | UNASSIGNED: the tasks' state while restarting
                                   # (the connector shows RUNNING meanwhile: ASSUMED, after KIP-745)
    pause_resume:
      delay_seconds: 2             # pause and resume take effect this long after the 202 (the
                                   # spec says asynchronous; the delay is ASSUMED)
    metrics_api:                   # the Metrics API (research §5); every key has a default
      rate_limit:                  # its own limit per client IP (research §3.4); null: none
        limit: 300
        window_seconds: 60
        headers: on_429            # on_429 | always: rateLimit-limit/-remaining/-reset
      export_rate_limit:           # export only: per resource and key (research §3.4); null:
        limit: 160                 # none. A real Prometheus scraping every 15 s exceeds it.
        window_seconds: 3600
      query_delay_seconds: 180     # query: a minute is answered once it is this old (§5)
      export_offset_seconds: 180   # export: serves the sample at now - offset, rounded down
                                   # (3 minutes: the Metrics spec's changelog of 2026-06-18)
      export_sample_seconds: 60    # export: the length of each sample (60: Confluent's)
      zero_points: omit            # omit | emit: whether query answers carry points of 0;
                                   # the real API leaves minutes without data out (OBSERVED:
                                   # the spec does not say), so a stalled source has no rows
    routing:                       # how Confluent Cloud paths are routed (routing.py); ASSUMED:
      encoded_slash: keep          # keep: %2F stays inside the connector's name, literal . and
                                   # .. segments are removed first; decode: the path is decoded
                                   # first, so `a%2F..%2Fb` reaches b
    faults: []                     # injected faults, below

A connector script (all keys optional):

    initial: RUNNING               # RUNNING | PROVISIONING | PAUSED | STOPPED | FAILED | DEGRADED
                                   # | USER_ACTIONABLE_ERROR | CONFIG_ERROR
    provisioning_until: 30         # PROVISIONING ends then (only with initial PROVISIONING);
                                   # omitted: it stays PROVISIONING
    fail_at: 5                     # the failure shows from then on (PROVISIONING, while it
                                   # lasts, hides it)
    flap: {running_seconds: 10, failed_seconds: 5}   # RUNNING and failed in turn, from t = 0
    failure: FAILED                # how the failure shows: FAILED (connector FAILED, tasks
                                   # SYSTEM_ERROR), DEGRADED (one task SYSTEM_ERROR, needs 2+
                                   # tasks), USER_ACTIONABLE_ERROR (connector FAILED, tasks
                                   # USER_ACTIONABLE_ERROR), CONFIG_ERROR (connector FAILED, no
                                   # tasks, "There were some errors with your configuration"
                                   # and validation errors: the spec's own FAILED example);
                                   # default: initial if that is one of these, else FAILED
    recover_after_restarts: 1      # the k-th restart made while the failure exists clears it for
                                   # good; `never`: restarts do not help. Restarting a connector
                                   # whose failure has not begun yet counts for nothing.
    refail_after: 4                # after a restart that does not clear the failure the connector
                                   # shows RUNNING this long before failing again; omitted: it
                                   # fails again as soon as the restart ends
    stall_at: 60                   # RUNNING, but its records counter stops and its lag
                                   # grows; a restart ends it (on Kafka Connect a restart of
                                   # every task: onlyFailed=true finds nothing failed)
    idle_at: 90                    # RUNNING, nothing upstream: no records and no lag; a
                                   # restart does not change it
    unassigned: {from: 0, until: 60, tasks: 1}   # tasks awaiting a worker: while the connector
                                   # would be RUNNING it shows DEGRADED, its last `tasks` tasks
                                   # UNASSIGNED and the others RUNNING (Confluent's status docs:
                                   # UNASSIGNED is "awaiting allocation to a cloud worker", and
                                   # DEGRADED covers RUNNING + UNASSIGNED tasks; the Terraform
                                   # provider waits through PROVISIONING -> DEGRADED -> RUNNING).
                                   # until omitted: for good. A restart does not change it.
    trace: "..."                   # the connector trace of the failure (default: realistic text)
    message: "..."                 # the failed tasks' msg (default: realistic text)

A fault rule. Rules are tried in order; the first that matches fires. Rules act after
authentication and the rate limit, so they never answer an unauthenticated request, and every
request they touch is still recorded in `Simulator.calls`.

    name: restart-503              # shown as the call record's `fault`; default "faults[i]"
    match:                         # all optional; an omitted key matches anything
      endpoint: restart            # list | status | read | restart | pause | resume
                                   # | error_recommendations | metrics_query
                                   # | metrics_export | other
      cluster: lkc-demo01          # an lkc- id or a kafka_connect_clusters name
      connector: orders-sink
      api_key: demo-key            # never matches Kafka Connect calls (no API keys there)
    when:                          # all optional
      from: 10                     # active from this time ...
      until: 20                    # ... until this time (exclusive)
      count: 2                     # fire at most this many times
      probability: 0.5             # fire with this probability (seeded)
    action:                        # *required*: one of status, invalid_json, truncated, reset,
                                   # or delay_seconds alone; delay_seconds combines with any
      status: 503                  # answer this instead of the real thing; the request never
                                   # reaches the connector
      body: {...}                  # with status: a JSON object or list, or a string sent as
                                   # is; default: the API's own error body for 4xx/5xx except
                                   # 429 (connect/v1, Kafka Connect or Metrics API), else empty
      headers: {Retry-After: soon} # with status: the headers sent (besides X-Request-Id); a
                                   # redirect is status 301/307 with a Location header (Confluent's
                                   # compatibility policy says clients must follow them)
      delay_seconds: 30            # answer this much later (real seconds)
      invalid_json: true           # the real answer, its body cut to broken JSON
      truncated: true              # the real answer, Content-Length larger than the bytes sent,
                                   # then the connection closes
      reset: true                  # a TCP reset instead of the real answer
      trickle_seconds: 0.5         # the real answer, its body sent one byte at a time with this
                                   # pause between bytes (a read timeout never fires)
      pad_to_bytes: 2000000        # the real answer, its JSON body padded with trailing spaces
                                   # (still valid JSON) to at least this size
    # invalid_json, truncated, reset, trickle_seconds and pad_to_bytes act after the operation
    # ran: a restart answered that way did happen. truncated and reset need a real connection (`serve`); in-process (ASGI
    # transport) they raise ConnectionResetError.
"""

from __future__ import annotations

import hashlib
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal, cast, get_args

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    SecretStr,
    ValidationError,
    model_validator,
)

from watchdog.simulator.discovery_scenario import (
    DiscoverableCluster,
    DiscoverableEnvironment,
    DiscoverySpec,
    EnvironmentAccess,
)
from watchdog.simulator.ratelimit import Algorithm
from watchdog.simulator.routing import EncodedSlash, EndpointKind

# STOPPED: Kafka Connect 3.5+ (KIP-875), a connector an operator stopped; it has no tasks.
InitialState = Literal[
    "RUNNING", "PROVISIONING", "PAUSED", "STOPPED", "FAILED", "DEGRADED", "USER_ACTIONABLE_ERROR",
    "CONFIG_ERROR",
]
FailureKind = Literal["FAILED", "DEGRADED", "USER_ACTIONABLE_ERROR", "CONFIG_ERROR"]
FAILURE_KINDS: frozenset[str] = frozenset(get_args(FailureKind))
# The connector states a restart can be refused in (the spec's enum less NONE and DELETED,
# which a listed connector never shows).
ConnectorState = Literal["PROVISIONING", "RUNNING", "DEGRADED", "FAILED", "PAUSED"]


class ScenarioError(ValueError):
    """A scenario that cannot be used; the message names the file and the offending fields."""


def _java_string(value: Any) -> Any:
    # Connector configs are string maps in the spec; YAML turns `tasks.max: 1` into an int and
    # `enabled: true` into a bool, which Kafka Connect would spell "1" and "true".
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return value


ConfigValue = Annotated[str, BeforeValidator(_java_string)]
HeaderValue = Annotated[str, BeforeValidator(_java_string), Field(pattern=r"^[\x20-\x7e]*$")]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Flap(_Model):
    running_seconds: PositiveFloat
    failed_seconds: PositiveFloat


class UnassignedSpell(_Model):
    """Tasks awaiting allocation to a worker (connector DEGRADED, no task in error)."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_by_name=True)

    from_: NonNegativeFloat = Field(0.0, alias="from")
    until: NonNegativeFloat | None = None
    tasks: PositiveInt = 1

    @model_validator(mode="after")
    def _ordered(self) -> UnassignedSpell:
        if self.until is not None and self.until <= self.from_:
            raise ValueError("unassigned ends after it starts: until > from")
        return self


class Script(_Model):
    initial: InitialState = "RUNNING"
    provisioning_until: NonNegativeFloat | None = None
    fail_at: NonNegativeFloat | None = None
    flap: Flap | None = None
    failure: FailureKind | None = None
    recover_after_restarts: PositiveInt | Literal["never"] = 1
    refail_after: NonNegativeFloat | None = None
    stall_at: NonNegativeFloat | None = None
    idle_at: NonNegativeFloat | None = None
    unassigned: UnassignedSpell | None = None
    trace: str | None = None
    message: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Script:
        starts_failed = self.initial in FAILURE_KINDS
        if self.provisioning_until is not None and self.initial != "PROVISIONING":
            raise ValueError("provisioning_until needs initial: PROVISIONING")
        if self.fail_at is not None and self.flap is not None:
            raise ValueError("fail_at and flap exclude each other")
        if starts_failed and (self.fail_at is not None or self.flap is not None):
            raise ValueError(f"fail_at and flap have no effect: initial {self.initial} is failed")
        if starts_failed and self.failure not in (None, self.initial):
            raise ValueError(f"failure {self.failure} contradicts initial {self.initial}")
        if self.refail_after is not None and self.recover_after_restarts == 1:
            raise ValueError(
                "refail_after has no effect when the first restart recovers: "
                "set recover_after_restarts to 2 or more, or never"
            )
        return self

    @property
    def failure_kind(self) -> FailureKind:
        if self.failure is not None:
            return self.failure
        if self.initial in FAILURE_KINDS:
            return cast(FailureKind, self.initial)
        return "FAILED"

    @property
    def failure_begins_at(self) -> float | None:
        """When the failure first shows (script time), or None if it never does."""
        if self.initial in FAILURE_KINDS:
            return 0.0
        if self.fail_at is not None:
            return self.fail_at
        if self.flap is not None:
            return self.flap.running_seconds
        return None


ListEntry = Literal["complete", "status_null", "status_empty", "status_missing", "connector_null"]


class ConnectorDefinition(_Model):
    """A connector without its name (the name comes from the list or from the URL)."""

    type: Literal["source", "sink"] = "source"
    shown_type: Literal["source", "sink", "unknown"] | None = None
    tasks: PositiveInt = 1
    id: str | None = Field(None, pattern=r"^c?lcc-[a-z0-9]+$")
    custom: bool = False
    config: dict[str, ConfigValue] = {}
    records_per_second: NonNegativeFloat = 10.0
    record_bytes: PositiveInt = 512
    list_entry: ListEntry = "complete"
    script: Script = Script()

    @model_validator(mode="after")
    def _degraded_needs_a_running_task(self) -> ConnectorDefinition:
        if self.script.failure_kind == "DEGRADED" and self.tasks < 2:
            raise ValueError("a DEGRADED connector needs tasks: 2 or more (one fails)")
        spell = self.script.unassigned
        if spell is not None and spell.tasks > self.tasks:
            raise ValueError(f"unassigned.tasks ({spell.tasks}) exceeds the connector's tasks ({self.tasks})")
        return self

    def resource_id(self, cluster: str, name: str) -> str:
        """The lcc- id (clcc- for a custom connector): the given one, or one derived from
        cluster and name (stable)."""
        if self.id is not None:
            return self.id
        digest = hashlib.sha256(f"{cluster}/{name}".encode()).digest()
        return ("clcc-" if self.custom else "lcc-") + _base36(int.from_bytes(digest[:8], "big"))


class ConnectorSpec(ConnectorDefinition):
    # Any name: Confluent Cloud paths carry it percent-encoded (see `routing`).
    name: str = Field(min_length=1)


class ClusterSpec(DiscoverableCluster):  # display name, lifecycle: discovery_scenario.py
    id: str = Field(pattern=r"^lkc-[a-z0-9]+$")
    connectors: list[ConnectorSpec] = []

    @model_validator(mode="after")
    def _unique_names(self) -> ClusterSpec:
        _reject_duplicates((c.name for c in self.connectors), "connector name")
        return self


class EnvironmentSpec(DiscoverableEnvironment):  # display name, deletion: discovery_scenario.py
    id: str = Field(pattern=r"^env-[a-z0-9]+$")
    clusters: list[ClusterSpec] = []


class ApiKeySpec(EnvironmentAccess):  # `environments`: discovery_scenario.py
    id: str = Field(min_length=1, pattern=r"^[^:]+$")  # ':' ends the user name in HTTP Basic
    secret: SecretStr
    clusters: list[str] | None = None

    def may_use(self, cluster: str) -> bool:
        return self.clusters is None or cluster in self.clusters


class OtherClientSpec(_Model):
    """Another tool on the same key (simulator/ratelimit.py: OtherClient)."""

    pattern: Literal["steady", "bursty"] = "steady"
    share: float = Field(gt=0, le=1)  # of the limit, per window


class RateLimitSpec(_Model):
    limit: PositiveInt
    window_seconds: PositiveFloat
    algorithm: Algorithm = "fixed_aligned"
    headers: Literal["on_429", "always", "never"] = "on_429"
    retry_after: bool = True  # whether a 429 carries Retry-After (with `never`: the only hint)
    body: Literal["empty", "error"] = "empty"
    other_clients: list[OtherClientSpec] = []


class RestartSpec(_Model):
    delay_seconds: NonNegativeFloat = 3.0
    rejected_states: list[ConnectorState] = ["PROVISIONING", "PAUSED"]
    task_state: Literal["RESTARTING", "UNASSIGNED"] = "RESTARTING"


class PauseResumeSpec(_Model):
    delay_seconds: NonNegativeFloat = 2.0


class MetricsRateLimitSpec(_Model):
    # 300 requests per IP address per minute: the current published Metrics spec (research
    # §3.4); the saved 2022 spec's 60 is outdated.
    limit: PositiveInt = 300
    window_seconds: PositiveFloat = 60.0
    headers: Literal["on_429", "always"] = "on_429"


class ExportRateLimitSpec(_Model):
    # 160 requests per resource, per hour, per principal (current spec, research §3.4).
    limit: PositiveInt = 160
    window_seconds: PositiveFloat = 3600.0


class MetricsApiSpec(_Model):
    rate_limit: MetricsRateLimitSpec | None = MetricsRateLimitSpec()
    export_rate_limit: ExportRateLimitSpec | None = ExportRateLimitSpec()
    query_delay_seconds: NonNegativeFloat = 180.0
    export_offset_seconds: NonNegativeFloat = 180.0
    export_sample_seconds: PositiveInt = 60
    zero_points: Literal["emit", "omit"] = "omit"


class BasicAuthSpec(_Model):
    username: str = Field(min_length=1, pattern=r"^[^:]+$")
    password: SecretStr


class RebalanceSpec(_Model):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_by_name=True)

    from_: NonNegativeFloat = Field(alias="from")
    until: NonNegativeFloat

    @model_validator(mode="after")
    def _ordered(self) -> RebalanceSpec:
        if self.until <= self.from_:
            raise ValueError("a rebalance ends after it starts: until > from")
        return self


class KafkaConnectClusterSpec(_Model):
    # The name is a path segment of the cluster's base URL.
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    workers: int = Field(3, ge=1, le=254)
    basic_auth: BasicAuthSpec | None = None
    bare_restart_status: Literal[200, 204] = 204
    # Kafka Connect before 3.0 (KIP-745): includeTasks and onlyFailed are ignored, every restart
    # restarts the connector instance only and is answered like a bare one (204, no body).
    ignores_restart_flags: bool = False
    rebalances: list[RebalanceSpec] = []
    connectors: list[ConnectorSpec] = []

    @model_validator(mode="after")
    def _unique_names(self) -> KafkaConnectClusterSpec:
        _reject_duplicates((c.name for c in self.connectors), "connector name")
        for connector in self.connectors:
            if "/" in connector.name:
                # Kafka Connect refuses to create such a connector (KAFKA-4372).
                raise ValueError(f"connector name {connector.name!r}: Kafka Connect refuses '/' in names")
        return self


class RoutingSpec(_Model):
    # How Confluent Cloud paths are routed (routing.py); ASSUMED either way, see there.
    encoded_slash: EncodedSlash = "keep"


class FaultMatch(_Model):
    endpoint: EndpointKind | None = None
    cluster: str | None = None
    connector: str | None = None
    api_key: str | None = None


class FaultWhen(_Model):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_by_name=True)

    from_: NonNegativeFloat = Field(0.0, alias="from")
    until: NonNegativeFloat | None = None
    count: PositiveInt | None = None
    probability: float = Field(1.0, ge=0.0, le=1.0)


class FaultAction(_Model):
    status: int | None = Field(None, ge=100, le=599)
    body: dict[str, Any] | list[Any] | str | None = None
    headers: dict[str, HeaderValue] = {}
    delay_seconds: NonNegativeFloat = 0.0
    invalid_json: bool = False
    truncated: bool = False
    reset: bool = False
    trickle_seconds: NonNegativeFloat = 0.0
    pad_to_bytes: int | None = Field(None, ge=1, le=1_000_000_000)

    @model_validator(mode="after")
    def _one_effect(self) -> FaultAction:
        effects = [
            name
            for name, chosen in (
                ("status", self.status is not None),
                ("invalid_json", self.invalid_json),
                ("truncated", self.truncated),
                ("reset", self.reset),
                ("trickle_seconds", self.trickle_seconds > 0),
                ("pad_to_bytes", self.pad_to_bytes is not None),
            )
            if chosen
        ]
        if len(effects) > 1:
            raise ValueError(f"choose one of {', '.join(effects)}")
        if not effects and self.delay_seconds == 0:
            raise ValueError(
                "an action needs status, invalid_json, truncated, reset, trickle_seconds, "
                "pad_to_bytes or delay_seconds"
            )
        if self.status is None and (self.body is not None or self.headers):
            raise ValueError("body and headers go with status")
        framing = {"content-length", "transfer-encoding"} & {h.lower() for h in self.headers}
        if framing:
            raise ValueError(f"{', '.join(sorted(framing))} cannot be set: use truncated")
        return self


class FaultRule(_Model):
    name: str | None = None
    match: FaultMatch = FaultMatch()
    when: FaultWhen = FaultWhen.model_validate({})
    action: FaultAction


class Scenario(_Model):
    seed: int | None = None
    error_shape: Literal["nested", "flat"] = "nested"
    status_diagnostics: bool = True
    latency_seconds: NonNegativeFloat | tuple[NonNegativeFloat, NonNegativeFloat] = 0.0
    api_keys: list[ApiKeySpec] = Field(min_length=1)
    environments: list[EnvironmentSpec]
    rate_limit: RateLimitSpec | None = None
    restart: RestartSpec = RestartSpec()
    pause_resume: PauseResumeSpec = PauseResumeSpec()
    metrics_api: MetricsApiSpec = MetricsApiSpec()
    routing: RoutingSpec = RoutingSpec()
    kafka_connect_clusters: list[KafkaConnectClusterSpec] = []
    discovery: DiscoverySpec = DiscoverySpec()  # discovery_scenario.py
    faults: list[FaultRule] = []

    @model_validator(mode="after")
    def _references(self) -> Scenario:
        _reject_duplicates((e.id for e in self.environments), "environment id")
        clusters = [c for e in self.environments for c in e.clusters]
        self_managed = self.kafka_connect_clusters
        _reject_duplicates(
            [*(c.id for c in clusters), *(c.name for c in self_managed)], "cluster id"
        )
        _reject_duplicates(
            (s.resource_id(c.id, s.name) for c in clusters for s in c.connectors), "connector id"
        )
        _reject_duplicates((k.id for k in self.api_keys), "api key id")
        cloud = {c.id for c in clusters}
        for key in self.api_keys:
            unknown = set(key.clusters or ()) - cloud
            if unknown:
                raise ValueError(f"api key {key.id}: unknown clusters {sorted(unknown)}")
            unknown = set(key.environments or ()) - {e.id for e in self.environments}
            if unknown:
                raise ValueError(f"api key {key.id}: unknown environments {sorted(unknown)}")
        check_fault_references(self.faults, self.cluster_ids, {k.id for k in self.api_keys})
        return self

    @property
    def cluster_ids(self) -> set[str]:
        """Confluent Cloud cluster ids and self-managed Kafka Connect cluster names."""
        cloud = {c.id for e in self.environments for c in e.clusters}
        return cloud | {c.name for c in self.kafka_connect_clusters}


class ConnectorChange(_Model):
    """A runtime change to one connector (the body of POST /_sim/connectors/{cluster}/{name})."""

    create: ConnectorDefinition | None = None
    delete: bool = False
    script: Script | None = None
    state: InitialState | None = None
    stalled: bool | None = None
    idle: bool | None = None
    unassigned: NonNegativeInt | None = None  # tasks awaiting a worker from now on; 0 ends it
    list_entry: ListEntry | None = None  # how its expanded-list entry looks from now on

    @model_validator(mode="after")
    def _something_to_do(self) -> ConnectorChange:
        wanted = self.model_fields_set - ({"delete"} if not self.delete else set())
        if not wanted:
            raise ValueError("give one of create, delete, script, state, stalled, idle, unassigned, list_entry")
        if wanted & {"create", "delete"} and len(wanted) > 1:
            raise ValueError("create and delete go alone")
        return self


def check_fault_references(rules: list[FaultRule], clusters: set[str], keys: set[str]) -> None:
    """Reject rules naming clusters or keys that do not exist: such a rule would never fire."""
    for index, rule in enumerate(rules):
        if rule.match.cluster is not None and rule.match.cluster not in clusters:
            raise ValueError(f"faults[{index}].match.cluster: unknown cluster {rule.match.cluster}")
        if rule.match.api_key is not None and rule.match.api_key not in keys:
            raise ValueError(f"faults[{index}].match.api_key: unknown api key {rule.match.api_key}")


def _reject_duplicates(values: Any, what: str) -> None:
    seen: set[str] = set()
    for value in values:
        if value in seen:
            raise ValueError(f"duplicate {what}: {value}")
        seen.add(value)


def _base36(number: int, width: int = 6) -> str:
    """The last `width` base-36 digits of `number`, lower case like Cloud ids."""
    alphabet = "0123456789abcdefghijklmnopqrstuvwxyz"
    digits = []
    for _ in range(width):
        number, digit = divmod(number, 36)
        digits.append(alphabet[digit])
    return "".join(reversed(digits))


def describe_errors(error: ValidationError) -> str:
    """One line per problem, each starting with the dotted path of the field."""
    lines = []
    for problem in error.errors(include_url=False):
        where = ".".join(str(part) for part in problem["loc"]) or "(top level)"
        lines.append(f"  {where}: {problem['msg']}")
    return "\n".join(lines)


def parse_scenario(data: Any, source: str) -> Scenario:
    if not isinstance(data, dict):
        raise ScenarioError(f"{source}: a scenario is a mapping, not {type(data).__name__}")
    try:
        return Scenario.model_validate(data)
    except ValidationError as error:
        raise ScenarioError(f"{source}: invalid scenario\n{describe_errors(error)}") from None


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario YAML file; ScenarioError says what is wrong and where."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise ScenarioError(f"{path}: cannot read scenario: {error.strerror}") from None
    return _parse_yaml(text, str(path))


def builtin_scenario(name: str) -> Scenario:
    """A scenario shipped in watchdog/simulator/builtin/ (e.g. `demo`)."""
    folder = resources.files("watchdog.simulator") / "builtin"
    available = sorted(
        p.name.removesuffix(".yaml") for p in folder.iterdir() if p.name.endswith(".yaml")
    )
    if name not in available:
        raise ScenarioError(f"no built-in scenario {name!r}; available: {', '.join(available)}")
    return _parse_yaml((folder / f"{name}.yaml").read_text(encoding="utf-8"), f"builtin:{name}")


def _parse_yaml(text: str, source: str) -> Scenario:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ScenarioError(f"{source}: not valid YAML: {error}") from None
    return parse_scenario(data, source)
