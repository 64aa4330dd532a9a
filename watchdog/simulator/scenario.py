"""Scenario files: the world the simulator plays, as YAML.

Every key is optional unless marked *required*; unknown keys are errors. Times are seconds since
the simulator started (for a script set at runtime: since it was set). `builtin/demo.yaml` is a
commented example. Discovery (`GET /org/v2/environments`, `GET /cmk/v2/clusters`: display names,
clusters appearing and disappearing, which environments a key sees) has its keys described in
`discovery_scenario.py`, a connector's script in `connector_script.py`, fault rules in
`fault_rules.py`; what the models share in `spec_model.py`.

Where the behaviour comes from: unmarked keys follow Confluent's published specs (connect/v1,
Metrics v2) and docs. OBSERVED marks behaviour seen in real answers or in tests Confluent runs
against the real service, which no spec promises (it may change without notice); ASSUMED marks
what no source shows, chosen so that a client safe against it is safe against the real service.

    seed: 7                        # randomness of fault probabilities, latency and request ids
    error_shape: nested            # nested: {"error": {"code", "message"}} (connect/v1 spec);
                                   # flat: {"error_code", "message"} (OBSERVED, research §2.8)
    strict_requests: false         # refuse every request its operation's spec does not allow
                                   # (unknown or repeated query parameters, values outside the
                                   # spec's bounds, a body where none is taken): strict.py
    status_diagnostics: true       # failing /status bodies carry Cloud's undocumented extras
                                   # (error_summary, errors_from_trace, validation_errors, ...,
                                   # and a trace on failed tasks; OBSERVED, research §2.3)
    recorded_extras: false         # what Confluent's recorded answers (the Terraform provider's
                                   # fixtures) carry beyond the spec: `extensions: {}` on every
                                   # expanded-list entry, and a custom connector's status, in the
                                   # list too and in every state, with errors_from_trace,
                                   # validation_errors and override_message (OBSERVED)
    latency_seconds: 0             # added to every API answer (Connect, Metrics, Kafka
                                   # Connect): a number or [min, max]
    arrival_delay_seconds: 0       # before the server counts a request: a number or
                                   # [min, max]; a range makes concurrent requests be counted
                                   # in another order than they were sent, as over a network
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
        kafka_version: 4.3.1       # the Apache Kafka release the workers play (recorded:
                                   # 2.8.2, 3.4.1, 3.9.2, 4.3.1): before 3.0 restarts ignore
                                   # their flags, before 3.5 no PUT .../stop, before 4.0 Jetty
                                   # 9.4 routes %2F, %25, %5C, %2E names, from 4.1 statuses
                                   # carry the plugin version
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
      reset_format: seconds        # X-RateLimit-Reset as relative seconds (documented) |
                                   # unix_time (the Unix time the period ends, as GitHub sends
                                   # it: ASSUMED possible), read by each answer's Date header
      limit_format: plain          # X-RateLimit-Limit as a number (documented) | quota_policy
                                   # ("10, 10;w=5": the limit, then its window, as Envoy's
                                   # rate-limit filter sends it: ASSUMED possible)
      header_names: x_ratelimit    # X-RateLimit-* (documented) | ratelimit (RateLimit-Limit,
                                   # -Remaining, -Reset: the IETF draft's names, as a gateway
                                   # such as Kong's sends them: ASSUMED possible) |
                                   # ratelimit_structured (`RateLimit: "default";r=7;t=2` and
                                   # `RateLimit-Policy: "default";q=20;w=2`: the draft's later
                                   # structured fields, -08 on: ASSUMED possible)
      body: empty                  # empty (documented) | error (a connect-style 429 error body)
      scope: key                   # key (each API key its own budget) | organization (every key
                                   # of the scenario counted in one budget, other clients too:
                                   # Confluent limits "both per user and organization-wide",
                                   # research §3.1; its numbers: ASSUMED)
      other_clients:               # other tools on the same key, sharing its budget
        - {pattern: steady, share: 0.33}   # steady | bursty | runaway; share of the limit per
                                   # window (at most 1; a runaway asks for more: 1 < share <= 10,
                                   # a loop that ignores 429s and takes every unit that frees);
                                   # until_seconds: 300 makes it stop then (a tool that leaves)
    concurrency_limit:             # omitted: none. At most this many requests of one API key in
      max_in_flight: 2             # progress at once (from counted to answered, the latency);
                                   # more is answered 429 at once and not counted by rate_limit.
                                   # Confluent says it has such limits (research §3.1), not
                                   # their numbers nor what their 429 carries (ASSUMED):
      retry_after: 1               # its Retry-After (null: none), and
      rate_headers: true           # the key's X-RateLimit-* as its last admitted request left
                                   # them (where rate_limit sends headers on 429s): Remaining
                                   # may say there is room beside the 429 (concurrency.py)
    restart:
      delay_seconds: 3             # time spent restarting before the script decides the outcome
      lag_seconds: 0               # after the 202 the connector shows as before for this long,
                                   # then restarts: the spec says "asynchronous ... will not
                                   # transition to another state at the same time"; how long
                                   # is not published (ASSUMED; Kafka Connect: always 0)
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
      query_delay_by_metric: {}    # query: a later delay for some metrics, by full name, e.g.
                                   # {io.confluent.kafka.connect/received_records: 480}: one
                                   # metric ingested late while the others are current
      export_offset_seconds: 180   # export: serves the sample at now - offset, rounded down
                                   # (3 minutes: the Metrics spec's changelog of 2026-06-18)
      export_sample_seconds: 60    # export: the length of each sample (60: Confluent's)
      zero_points: omit            # omit | emit: whether query answers carry points of 0;
                                   # the real API leaves minutes without data out (OBSERVED:
                                   # the spec does not say), so a stalled source has no rows
      answer_format: asked         # asked | grouped: answer in the request's format, or
                                   # GROUPED whatever it asked (the spec allows both shapes)
    routing:                       # how Confluent Cloud paths are routed (routing.py); ASSUMED:
      encoded_slash: keep          # keep: %2F stays inside the connector's name, literal . and
                                   # .. segments are removed first; decode: the path is decoded
                                   # first, so `a%2F..%2Fb` reaches b
    faults: []                     # injected faults, below

A connector script: see connector_script.py.

A fault rule: see fault_rules.py (`faults:` holds a list of them).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    ConfigDict,
    Field,
    NonNegativeFloat,
    PositiveFloat,
    PositiveInt,
    SecretStr,
    ValidationError,
    model_validator,
)

from watchdog.simulator.connector_script import ConnectorSpec, ConnectorState
from watchdog.simulator.discovery_scenario import (
    DiscoverableCluster,
    DiscoverableEnvironment,
    DiscoverySpec,
    EnvironmentAccess,
)
from watchdog.simulator.fault_rules import (
    FaultRule,
    check_fault_references,
)
from watchdog.simulator.ratelimit import RUNAWAY_MAX_SHARE, Algorithm, Pattern
from watchdog.simulator.routing import EncodedSlash
from watchdog.simulator.spec_model import SpecModel as _Model


class ScenarioError(ValueError):
    """A scenario that cannot be used; the message names the file and the offending fields."""


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

    pattern: Pattern = "steady"
    share: float = Field(gt=0, le=RUNAWAY_MAX_SHARE)  # of the limit, per window
    until_seconds: PositiveFloat | None = None  # it sends nothing from then on (None: never stops)

    @model_validator(mode="after")
    def _share_fits_the_pattern(self) -> OtherClientSpec:
        # A steady or bursty tool uses part of the limit; only a runaway asks for more than all.
        if self.pattern == "runaway" and self.share <= 1:
            raise ValueError(f"share: a runaway client asks for more than the whole limit (share > 1), got {self.share}")
        if self.pattern != "runaway" and self.share > 1:
            raise ValueError(
                f"share: a {self.pattern} client uses at most the whole limit (share <= 1), got {self.share};"
                " use pattern: runaway for one that asks for more"
            )
        return self


class RateLimitSpec(_Model):
    limit: PositiveInt
    window_seconds: PositiveFloat
    algorithm: Algorithm = "fixed_aligned"
    headers: Literal["on_429", "always", "never"] = "on_429"
    retry_after: bool = True  # whether a 429 carries Retry-After (with `never`: the only hint)
    # X-RateLimit-Reset as Confluent documents it (relative seconds), or as a Unix time (GitHub's
    # style), rounded up to the second, read by the Date header every answer carries.
    reset_format: Literal["seconds", "unix_time"] = "seconds"
    # X-RateLimit-Limit as Confluent documents it (an integer), or with its quota policy after it
    # (draft-polli-ratelimit-headers, as Envoy's rate-limit filter sends it).
    limit_format: Literal["plain", "quota_policy"] = "plain"
    # The fields' names as Confluent documents them (X-RateLimit-*), or as the IETF draft and
    # gateways such as Kong's rate-limiting plugin send them (RateLimit-*).
    header_names: Literal["x_ratelimit", "ratelimit", "ratelimit_structured"] = "x_ratelimit"
    body: Literal["empty", "error"] = "empty"
    # Whose requests one budget counts: each API key's own, or every key's of the scenario together
    # (Confluent also limits "organization-wide"; ORGANIZATION in cloud_api.py).
    scope: Literal["key", "organization"] = "key"
    other_clients: list[OtherClientSpec] = []


class ConcurrencyLimitSpec(_Model):
    """At most `max_in_flight` requests of one API key in progress at once (concurrency.py)."""

    max_in_flight: PositiveInt
    retry_after: PositiveInt | None = 1  # the 429's Retry-After in seconds; None: none sent
    # The 429 carries the key's X-RateLimit-* as its last admitted request left them (where
    # rate_limit sends headers on 429s): Remaining may say there is room.
    rate_headers: bool = True


class RestartSpec(_Model):
    delay_seconds: NonNegativeFloat = 3.0
    lag_seconds: NonNegativeFloat = 0.0
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
    # One metric's minutes answered later than the others' (a pipeline behind for that metric;
    # ASSUMED possible, the spec promises no order): by full metric name.
    query_delay_by_metric: dict[str, NonNegativeFloat] = {}
    export_offset_seconds: NonNegativeFloat = 180.0
    export_sample_seconds: PositiveInt = 60
    zero_points: Literal["emit", "omit"] = "omit"
    # The spec's QueryResponse is one of FLAT and GROUPED: `asked` answers in the request's
    # `format`; `grouped` answers GROUPED whatever was asked (ASSUMED: a server that may).
    answer_format: Literal["asked", "grouped"] = "asked"


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
    # The release played (kafka_connect_api.py says what differs; tests/fixtures/kafka_connect/
    # holds each recorded release's real answers).
    kafka_version: str = Field("4.3.1", pattern=r"^\d+\.\d+\.\d+$")
    bare_restart_status: Literal[200, 204] = 204
    # Kafka Connect before 3.0 (KIP-745): includeTasks and onlyFailed are ignored, every restart
    # restarts the connector instance only and is answered like a bare one (204, no body).
    # Implied by a kafka_version before 3.0.
    ignores_restart_flags: bool = False

    @property
    def release(self) -> tuple[int, int, int]:
        major, minor, patch = (int(part) for part in self.kafka_version.split("."))
        return major, minor, patch

    @property
    def flags_ignored(self) -> bool:
        return self.ignores_restart_flags or self.release < (3, 0, 0)
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


class Scenario(_Model):
    seed: int | None = None
    error_shape: Literal["nested", "flat"] = "nested"
    strict_requests: bool = False
    status_diagnostics: bool = True
    recorded_extras: bool = False
    latency_seconds: NonNegativeFloat | tuple[NonNegativeFloat, NonNegativeFloat] = 0.0
    arrival_delay_seconds: NonNegativeFloat | tuple[NonNegativeFloat, NonNegativeFloat] = 0.0
    api_keys: list[ApiKeySpec] = Field(min_length=1)
    environments: list[EnvironmentSpec]
    rate_limit: RateLimitSpec | None = None
    concurrency_limit: ConcurrencyLimitSpec | None = None
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


def _reject_duplicates(values: Any, what: str) -> None:
    seen: set[str] = set()
    for value in values:
        if value in seen:
            raise ValueError(f"duplicate {what}: {value}")
        seen.add(value)


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
