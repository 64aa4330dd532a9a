"""The configuration: one YAML file, `WATCHDOG_*` environment overrides, and a secrets directory.

Strict on purpose: a typo in a rule must stop the daemon before it starts, with a message that
names the exact path of the bad value (`rules[2].trigger.cron`). `load_config` is the only entry
point; it raises `ConfigError` and never returns a half-valid config.

Priority, highest first: environment (`WATCHDOG_RULES__0__DRY_RUN=true`, nested with `__`),
secret files (same names, one file each, e.g. a Kubernetes Secret mounted at
`/etc/watchdog/secrets`), then the YAML file, then defaults. API keys and secrets may come only
from the environment or secret files, never from the YAML file: config files end up in git and
ConfigMaps.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from apscheduler.triggers.cron import CronTrigger
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    SecretStr,
    Tag,
    ValidationError,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    NestedSecretsSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from .windows import Windows, parse_window

ENV_PREFIX = "WATCHDOG_"
DEFAULT_SECRETS_DIR = Path("/etc/watchdog/secrets")
DEFAULT_BASE_URL = "https://api.confluent.cloud"
NAME_PATTERN = r"^[a-z0-9]([a-z0-9_.-]*[a-z0-9])?$"
# Credential names become parts of environment variable names, so no dots or dashes.
CREDENTIAL_NAME_PATTERN = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")
SECRET_FIELDS = ("api_key", "api_secret")


class ConfigError(Exception):
    """A config that must not be run. `problems` is a list of (path, message)."""

    def __init__(self, source: str, problems: list[tuple[str, str]]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(str(self))

    def __str__(self) -> str:
        lines = [f"invalid config {self.source}:"]
        lines += [f"  {path}: {message}" if path else f"  {message}" for path, message in self.problems]
        return "\n".join(lines)


# --- value types -------------------------------------------------------------------------------

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(value: Any) -> Any:
    """`90`, `90s`, `1m30s`, `2h`, `500ms` -> seconds as float. Other types go to pydantic."""
    if isinstance(value, bool):
        raise ValueError("expected a duration like 30s, 5m or 1h, not a boolean")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if re.fullmatch(r"\d+(\.\d+)?", text):
            return float(text)
        parts = _DURATION_PART.findall(text)
        if not parts or "".join(n + u for n, u in parts) != text:
            raise ValueError(f"expected a duration like 30s, 5m, 1h30m, got {value!r}")
        return sum(float(n) * _UNIT_SECONDS[u] for n, u in parts)
    return value


Duration = Annotated[float, BeforeValidator(parse_duration)]
PositiveDuration = Annotated[float, BeforeValidator(parse_duration), Field(gt=0)]
def _matching(pattern: str, what: str) -> AfterValidator:
    """A pattern check whose error says what is allowed, not which regular expression failed."""
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        if not compiled.fullmatch(value):
            raise ValueError(f"{value!r} is not valid: {what}")
        return value

    return AfterValidator(check)


Name = Annotated[
    str,
    _matching(NAME_PATTERN, "use lower-case letters, digits, '.', '_' and '-', starting and ending with a letter or digit"),
    Field(max_length=63),
]
HttpUrl = Annotated[str, _matching(r"^https?://[^\s/]+(/[^\s]*)?$", "expected an http:// or https:// URL")]
ResourceId = Annotated[str, _matching(r"^[A-Za-z0-9_-]+$", "expected an id like env-abc123 or lkc-xyz789")]


def _check_timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r} (use an IANA name like Europe/Berlin)") from exc
    return name


TimeZoneName = Annotated[str, AfterValidator(_check_timezone)]


def _check_window(text: str) -> str:
    parse_window(text)  # raises WindowError (a ValueError) naming the bad text
    return text


WindowText = Annotated[str, AfterValidator(_check_window)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- sections ----------------------------------------------------------------------------------


class Timeouts(Strict):
    """HTTP timeouts for the Connect API, in seconds."""

    connect: PositiveDuration = 5.0
    read: PositiveDuration = 30.0
    write: PositiveDuration = 10.0
    pool: PositiveDuration = 10.0


class ApiSettings(Strict):
    base_url: HttpUrl = DEFAULT_BASE_URL
    timeouts: Timeouts = Timeouts()


class Credential(Strict):
    # Filled from WATCHDOG_CREDENTIALS__<NAME>__API_KEY / __API_SECRET or secret files of the
    # same names; a missing one is reported by Config's cross-checks with those names.
    api_key: SecretStr | None = None
    api_secret: SecretStr | None = None


class CloudCluster(Strict):
    """A Kafka cluster in Confluent Cloud: its connectors through the connect/v1 API."""

    backend: Literal["confluent_cloud"] = "confluent_cloud"
    environment_id: ResourceId
    kafka_cluster_id: ResourceId
    credential: str | None = None  # may be left out when exactly one credential is configured


def _readable_file(path: Path) -> Path:
    if not path.is_file():
        raise ValueError(f"file {path} does not exist or is not a file")
    return path


ReadableFile = Annotated[Path, AfterValidator(_readable_file)]


class TlsSettings(Strict):
    ca_file: ReadableFile | None = None  # CA bundle for the workers' certificates
    cert_file: ReadableFile | None = None  # client certificate (mutual TLS) ...
    key_file: ReadableFile | None = None  # ... and its key
    verify: bool = True

    @model_validator(mode="after")
    def _cert_and_key_together(self) -> TlsSettings:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file go together (mutual TLS needs both)")
        return self


class KafkaConnectCluster(Strict):
    """A self-managed Apache Kafka Connect cluster, through its REST API."""

    backend: Literal["kafka_connect"]
    # Worker URLs: each serves every call; the next one is tried when one cannot be reached.
    urls: Annotated[list[HttpUrl], Field(min_length=1)]
    credential: str | None = None  # optional HTTP basic auth: api_key is the user, api_secret the password
    tls: TlsSettings = TlsSettings()


BACKENDS = ("confluent_cloud", "kafka_connect")


def _cluster_backend(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("backend", "confluent_cloud"))
    return str(getattr(value, "backend", "confluent_cloud"))


Cluster = Annotated[
    Annotated[CloudCluster, Tag("confluent_cloud")] | Annotated[KafkaConnectCluster, Tag("kafka_connect")],
    Discriminator(_cluster_backend),
]


class MetricsApiSettings(Strict):
    """Confluent's Metrics API (its own host and limits), used by `stalled` rules."""

    base_url: HttpUrl = "https://api.telemetry.confluent.cloud"
    credential: str | None = None  # may be left out when exactly one credential is configured
    timeouts: Timeouts = Timeouts()
    # The Metrics API allows 300 requests per IP and minute (its published limit).
    max_requests_per_second: Annotated[float, Field(gt=0)] = 4.0


class RetryBackoff(Strict):
    """Capped exponential backoff with full jitter, for 5xx, network errors and hint-less 429s."""

    base: PositiveDuration = 1.0
    cap: PositiveDuration = 60.0

    @model_validator(mode="after")
    def _cap_not_below_base(self) -> RetryBackoff:
        if self.cap < self.base:
            raise ValueError(f"cap ({self.cap}s) must not be below base ({self.base}s)")
        return self


class RateLimitSettings(Strict):
    """Pacing for all calls made with one credential (restarts and status polls share it)."""

    reserve: Annotated[int, Field(ge=0)] = 1
    max_requests_per_second: Annotated[float, Field(gt=0)] = 10.0
    max_concurrent_requests: Annotated[int, Field(ge=1, le=64)] = 4
    max_pause: PositiveDuration = 900.0
    max_retries: Annotated[int, Field(ge=0, le=20)] = 3
    max_rate_limited_retries: Annotated[int, Field(ge=0, le=100)] = 10
    backoff: RetryBackoff = RetryBackoff()


class ServerSettings(Strict):
    host: str = "0.0.0.0"
    port: Annotated[int, Field(ge=0, le=65535)] = 9464
    # Bearer token for the Alertmanager webhook and the restart API (never from the YAML file:
    # WATCHDOG_SERVER__AUTH_TOKEN or a secret file of that name). Without it those routes refuse
    # every request; /metrics, /healthz and /readyz stay open.
    auth_token: SecretStr | None = None
    max_body_bytes: Annotated[int, Field(ge=1024, le=16 * 1024 * 1024)] = 1024 * 1024


class QueueSettings(Strict):
    shutdown_deadline: Duration = Field(default=20.0, ge=0)


class HistorySettings(Strict):
    max_age: PositiveDuration = 30 * 86400.0
    max_entries: Annotated[int, Field(ge=1)] = 200  # per connector: a noisy one cannot push out the rest


class StateSettings(Strict):
    """The state file: backoff, budgets, gave-up flags, history and unsent requests survive a
    restart of the daemon. `:memory:` keeps nothing (tests, `--once` experiments)."""

    path: str = "watchdog.db"
    history: HistorySettings = HistorySettings()


class ReloadSettings(Strict):
    """Live reload: on SIGHUP always, and when the config file's contents change if `watch`."""

    watch: bool = True
    interval: PositiveDuration = 10.0


class LogSettings(Strict):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["auto", "json", "console"] = "auto"


class Selector(Strict):
    """Which connectors a rule acts on. Exact names and glob patterns may be combined."""

    clusters: list[str] | None = None  # None: every configured cluster
    connectors: list[Annotated[str, Field(min_length=1)]] = []
    include: list[Annotated[str, Field(min_length=1)]] = []
    exclude: list[Annotated[str, Field(min_length=1)]] = []

    @model_validator(mode="after")
    def _selects_something(self) -> Selector:
        if not self.connectors and not self.include:
            raise ValueError("select needs `connectors` (exact names) or `include` (globs)")
        if self.clusters is not None and not self.clusters:
            raise ValueError("select.clusters must not be empty (leave it out for every cluster)")
        return self


class Backoff(Strict):
    """Strimzi's restart backoff: gap(n) = min(base * (n^2 + n), cap), lengthened by jitter."""

    base: PositiveDuration = 60.0
    cap: PositiveDuration = 3600.0
    jitter: Annotated[float, Field(ge=0, le=1)] = 0.1

    @model_validator(mode="after")
    def _cap_not_below_base(self) -> Backoff:
        if self.cap < self.base:
            raise ValueError(f"cap ({self.cap}s) must not be below base ({self.base}s)")
        return self


_NUMERIC_WEEKDAY = re.compile(r"\d")


def _check_cron(expr: str) -> str:
    fields = expr.split()
    if len(fields) != 5:
        raise ValueError(f"cron needs 5 fields (minute hour day month weekday), got {len(fields)}")
    if _NUMERIC_WEEKDAY.search(fields[4]):
        # APScheduler 3 counts weekday 0 as Monday where crontab counts it as Sunday; a numeric
        # weekday would silently fire on the wrong day.
        raise ValueError(
            f"numeric weekday {fields[4]!r} is ambiguous; use names like mon-fri or sun"
        )
    try:
        CronTrigger.from_crontab(expr, timezone="UTC")
    except ValueError as exc:
        raise ValueError(f"bad cron expression {expr!r}: {exc}") from exc
    return expr


class ScheduleTrigger(Strict):
    type: Literal["schedule"]
    cron: Annotated[str, AfterValidator(_check_cron)] | None = None
    interval: PositiveDuration | None = None
    timezone: TimeZoneName = "UTC"
    jitter: Duration = Field(default=0.0, ge=0)

    @model_validator(mode="after")
    def _cron_xor_interval(self) -> ScheduleTrigger:
        if (self.cron is None) == (self.interval is None):
            raise ValueError("a schedule trigger needs exactly one of `cron` or `interval`")
        if self.jitter and self.cron is None:
            # APScheduler adds interval jitter to the previous (already jittered) run, so the
            # schedule would drift later and later.
            raise ValueError("jitter is only supported with `cron`")
        return self


class StatusTrigger(Strict):
    type: Literal["status"]
    interval: Annotated[float, BeforeValidator(parse_duration), Field(ge=5)] = 60.0
    confirm_polls: Annotated[int, Field(ge=1, le=20)] = 2


def _check_regexes(patterns: dict[str, str]) -> dict[str, str]:
    for label, pattern in patterns.items():
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"bad regular expression for label {label!r}: {pattern!r} ({exc})") from exc
    return patterns


LabelName = Annotated[
    str, _matching(r"^[a-zA-Z_][a-zA-Z0-9_]*$", "Prometheus label names are letters, digits and '_', not starting with a digit")
]


class AlertTrigger(Strict):
    """Restart on a firing Alertmanager alert (POST /v1/alertmanager)."""

    type: Literal["alert"]
    match: dict[LabelName, str] = {}  # label == value
    match_re: Annotated[dict[LabelName, str], AfterValidator(_check_regexes)] = {}  # label =~ regex (anchored)
    # The label naming the cluster (a configured cluster's name or its kafka_cluster_id) and the
    # label naming the connector (its name, or its lcc- id as Confluent's metrics label it).
    cluster_label: LabelName = "kafka_cluster_id"
    connector_label: LabelName = "connector"

    @model_validator(mode="after")
    def _matches_something(self) -> AlertTrigger:
        if not self.match and not self.match_re:
            raise ValueError("an alert trigger needs `match` or `match_re`, or it would act on every alert")
        return self

    def matches(self, labels: dict[str, str]) -> bool:
        if any(labels.get(name) != value for name, value in self.match.items()):
            return False
        return all(re.fullmatch(pattern, labels.get(name, "")) for name, pattern in self.match_re.items())


class StalledTrigger(Strict):
    """Restart connectors that are RUNNING but move no data, judged from Confluent's Metrics API.

    Every `interval` the last two windows of `window` each, ending `delay` ago (Confluent's data
    arrives about 3 minutes late), are read for the connectors that have been RUNNING for at
    least `grace`: a source that sent nothing, or a sink that received nothing while its lag is
    above zero, in both windows, is stalled. An idle sink (no lag, no records) is not."""

    type: Literal["stalled"]
    interval: Annotated[float, BeforeValidator(parse_duration), Field(ge=60)] = 300.0
    grace: Annotated[float, BeforeValidator(parse_duration), Field(ge=0)] = 600.0
    window: Annotated[float, BeforeValidator(parse_duration), Field(ge=60, le=6 * 3600)] = 600.0
    delay: Annotated[float, BeforeValidator(parse_duration), Field(ge=180)] = 180.0

    @model_validator(mode="after")
    def _whole_minutes(self) -> StalledTrigger:
        if self.window % 60:
            raise ValueError("window must be a whole number of minutes (the Metrics API counts per minute)")
        return self


TriggerSettings = Annotated[
    ScheduleTrigger | StatusTrigger | AlertTrigger | StalledTrigger, Field(discriminator="type")
]
TRIGGER_TYPES = ("schedule", "status", "alert", "stalled")


class WindowSettings(Strict):
    """When restarts may happen: inside any `allowed` window (all the time if none) and outside
    every `blackout` window. Forms: `Mon-Fri 06:30-20:30 Europe/Berlin`, an ISO-8601 range
    `2026-12-24T00:00:00+01:00-2026-12-27T00:00:00+01:00`, `always`, `never`."""

    allowed: list[WindowText] | None = None
    blackout: list[WindowText] = []

    @property
    def configured(self) -> bool:
        return self.allowed is not None or bool(self.blackout)

    def compile(self) -> Windows:
        allowed = None if self.allowed is None else [parse_window(text) for text in self.allowed]
        return Windows(allowed, [parse_window(text) for text in self.blackout])


class BreakerSettings(Strict):
    """Stop every restart while too much fails at once: a systemic outage is not healed by
    restarting everything, and a storm of restarts can make it worse. Leave a limit out to
    disable it."""

    max_failing_share: Annotated[float, Field(gt=0, le=1)] | None = 0.5  # of a cluster's watched connectors
    min_failing: Annotated[int, Field(ge=1)] = 3  # the share only counts from this many failing
    max_restarts: Annotated[int, Field(ge=1)] | None = 30  # restarts sent fleet-wide within `window`
    window: PositiveDuration = 600.0


class BlockingSettings(Strict):
    """Before a restart, ask Alertmanager whether a blocking alert (a Confluent incident, a
    cluster outage) is firing; silenced and inhibited alerts do not block."""

    alertmanager_url: HttpUrl
    # Alertmanager matchers, ANDed, e.g. 'alertname=~"ConfluentCloudIncident|KafkaClusterDown"'.
    filters: list[Annotated[str, Field(min_length=3)]] = []
    receiver: str | None = None
    cache_ttl: PositiveDuration = 30.0
    timeout: PositiveDuration = 5.0
    on_error: Literal["block", "allow"] = "block"  # fail closed by default, as Kured does


class Rule(Strict):
    name: Name
    trigger: TriggerSettings
    select: Selector
    backoff: Backoff = Backoff()
    max_restarts: Annotated[int, Field(ge=1)] | None = None
    restart_user_errors: bool = False
    # Ask Confluent's error-recommendations endpoint before a failure restart and keep the
    # advice in the history (one extra, rate-limited call per restart).
    fetch_recommendations: bool = False
    windows: WindowSettings | None = None
    dry_run: bool = False
    enabled: bool = True


# --- the root ----------------------------------------------------------------------------------


class Config(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
        secrets_dir_missing="ok",
    )

    api: ApiSettings = ApiSettings()
    credentials: dict[str, Credential] = {}
    clusters: dict[Name, Cluster]
    metrics_api: MetricsApiSettings = MetricsApiSettings()
    rate_limit: RateLimitSettings = RateLimitSettings()
    server: ServerSettings = ServerSettings()
    queue: QueueSettings = QueueSettings()
    log: LogSettings = LogSettings()
    reload: ReloadSettings = ReloadSettings()
    state: StateSettings = StateSettings()
    windows: WindowSettings = WindowSettings()
    breaker: BreakerSettings = BreakerSettings()
    blocking: BlockingSettings | None = None
    dry_run: bool = False
    rules: list[Rule] = []

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The YAML document arrives as init kwargs (parsed by load_config, which must check the
        # file itself: pydantic-settings silently skips a missing YAML file), so it gets the
        # lowest priority here rather than the highest.
        return (
            env_settings,
            NestedSecretsSettingsSource(file_secret_settings),
            init_settings,
        )

    def credential_for(self, cluster: CloudCluster | KafkaConnectCluster | MetricsApiSettings) -> str | None:
        """The credential a cluster (or the Metrics API) uses: its own, or the only one configured.
        Self-managed Kafka Connect clusters use none unless they name one (basic auth)."""
        if cluster.credential is not None:
            return cluster.credential
        if isinstance(cluster, KafkaConnectCluster) or not self.credentials:
            return None
        return next(iter(self.credentials))

    def lane_for(self, cluster: str) -> str:
        """The rate-limit lane of a cluster's calls. Confluent limits per API key, so Cloud clusters
        sharing a key share a lane; a self-managed cluster has its own (its workers, its limits)."""
        settings = self.clusters[cluster]
        if isinstance(settings, KafkaConnectCluster):
            return f"kafka-connect/{cluster}"
        credential = self.credential_for(settings)
        assert credential is not None  # cross_check requires one for every Cloud cluster
        return credential

    @property
    def has_stalled_rules(self) -> bool:
        return any(r.enabled and isinstance(r.trigger, StalledTrigger) for r in self.rules)

    def rules_for_cluster(self, cluster: str) -> list[Rule]:
        return [
            r
            for r in self.rules
            if r.enabled and (r.select.clusters is None or cluster in r.select.clusters)
        ]


# --- loading -----------------------------------------------------------------------------------


def load_config(path: str | Path, *, secrets_dir: str | Path | None = None) -> Config:
    """Read, merge and validate the config, or raise ConfigError naming every bad value."""
    path = Path(path)
    return build_config(_read_yaml(path), str(path), secrets_dir=secrets_dir)


def build_config(
    data: dict[str, Any],
    source: str,
    *,
    secrets_dir: str | Path | None = None,
    secrets: dict[str, Any] | None = None,
) -> Config:
    """Validate a parsed YAML document. `secrets` (same shape as the config, e.g.
    {"credentials": {"demo": {...}}}) are for callers that hold them in memory, like the demo's
    fake key; everyone else gets them from the environment or secret files."""
    problems = _secrets_in_yaml(data)
    if problems:
        raise ConfigError(source, problems)
    if secrets:
        data = _deep_merge(data, secrets)
    directory = _secrets_dir(secrets_dir, source)
    try:
        config = Config(_secrets_dir=directory, **data)  # type: ignore[call-arg]
    except ValidationError as exc:
        raise ConfigError(source, _validation_problems(exc)) from None
    except SettingsError as exc:
        # Raised for an env value that must be JSON (a list or mapping) and is not.
        field_name = re.search(r'field "(\w+)"', str(exc))
        variable = f"{ENV_PREFIX}{field_name.group(1).upper()}" if field_name else "an environment variable"
        raise ConfigError(
            source, [("", f"{variable}: not valid JSON (lists and mappings set from the environment must be JSON)")]
        ) from None
    problems = cross_check(config)
    if problems:
        raise ConfigError(source, problems)
    return config


def _deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _read_yaml(path: Path) -> dict[str, Any]:
    source = str(path)
    if not path.exists():
        raise ConfigError(source, [("", f"config file {source} does not exist")])
    if not path.is_file():
        raise ConfigError(source, [("", f"config path {source} is not a file")])
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(source, [("", f"cannot read config file: {exc}")]) from None
    try:
        data = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise ConfigError(source, [("", _describe_yaml_error(exc))]) from None
    if data is None:
        raise ConfigError(source, [("", "config file is empty")])
    if not isinstance(data, dict):
        raise ConfigError(
            source, [("", f"config must be a mapping at the top level, got {type(data).__name__}")]
        )
    for key in data:
        if not isinstance(key, str):
            # PyYAML turns `on:`/`yes:`/`no:` into booleans (YAML 1.1).
            raise ConfigError(source, [(repr(key), "keys must be strings; quote it")])
    return data


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys: PyYAML keeps the last one silently, so a rule or a
    cluster written twice would lose its first definition without a word."""


def _mapping_without_duplicates(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: dict[Any, yaml.Node] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if isinstance(key, str) and key in seen:
            raise yaml.constructor.ConstructorError(
                f"while reading the mapping that starts at line {node.start_mark.line + 1}", None,
                f"duplicate key {key!r} (first at line {seen[key].start_mark.line + 1})", key_node.start_mark,
            )
        if isinstance(key, str):
            seen[key] = key_node
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_without_duplicates)


def _describe_yaml_error(exc: yaml.YAMLError) -> str:
    def at(mark: yaml.Mark | None) -> str:
        return f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""

    problem = getattr(exc, "problem", None) or str(exc)
    text = f"invalid YAML{at(getattr(exc, 'problem_mark', None))}: {problem}"
    context = getattr(exc, "context", None)
    if context:
        text += f" ({context}{at(getattr(exc, 'context_mark', None))})"
    return text


def _secrets_in_yaml(data: dict[str, Any]) -> list[tuple[str, str]]:
    problems = []
    server = data.get("server")
    if isinstance(server, dict) and "auth_token" in server:
        problems.append(
            ("server.auth_token", f"secrets are not read from the config file; set {ENV_PREFIX}SERVER__AUTH_TOKEN "
             "or put it in a file of that name in the secrets directory")
        )
    credentials = data.get("credentials")
    if isinstance(credentials, dict):
        for name, body in credentials.items():
            if isinstance(body, dict):
                for secret in SECRET_FIELDS:
                    if secret in body:
                        env = f"{ENV_PREFIX}CREDENTIALS__{str(name).upper()}__{secret.upper()}"
                        problems.append(
                            (
                                f"credentials.{name}.{secret}",
                                f"secrets are not read from the config file; set {env} "
                                "or put it in a file of that name in the secrets directory",
                            )
                        )
    return problems


def _secrets_dir(explicit: str | Path | None, source: str) -> Path | None:
    chosen = explicit or os.environ.get(f"{ENV_PREFIX}SECRETS_DIR")
    if chosen:
        path = Path(chosen)
        if not path.is_dir():
            raise ConfigError(source, [("", f"secrets directory {path} does not exist")])
        return path
    return DEFAULT_SECRETS_DIR if DEFAULT_SECRETS_DIR.is_dir() else None


def format_location(loc: tuple[Any, ...]) -> str:
    """('rules', 2, 'trigger', 'schedule', 'cron') -> 'rules[2].trigger.cron'."""
    out = ""
    previous: Any = None
    for index, part in enumerate(loc):
        if previous == "trigger" and part in TRIGGER_TYPES:
            continue  # pydantic puts the union's tag in the path; users never wrote it
        if index >= 2 and loc[index - 2] == "clusters" and part in BACKENDS:
            continue  # the same for a cluster's backend
        if part == "[key]":
            continue  # a mapping's key failed: the path up to it already names the key
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
        previous = part
    return out


def _validation_problems(exc: ValidationError) -> list[tuple[str, str]]:
    problems = []
    for error in exc.errors(include_url=False, include_input=False):
        loc = tuple(error["loc"])
        message = error["msg"]
        if error["type"] == "extra_forbidden":
            message = "unknown key (check the spelling; see config.example.yaml)"
        elif error["type"] == "missing":
            message = "required"
        elif error["type"] == "union_tag_invalid" and loc[:1] == ("clusters",):
            loc = (*loc, "backend")
            message = f"unknown backend {error['ctx']['tag']}; expected one of {', '.join(BACKENDS)}"
        elif error["type"] == "union_tag_invalid":
            loc = (*loc, "type")
            message = f"unknown trigger type {error['ctx']['tag']}; expected one of {', '.join(TRIGGER_TYPES)}"
        elif error["type"] == "union_tag_not_found":
            loc = (*loc, "type")
            message = f"required; one of {', '.join(TRIGGER_TYPES)}"
        elif message.startswith("Value error, "):
            message = message.removeprefix("Value error, ")
        problems.append((format_location(loc), message))
    return problems


def cross_check(config: Config) -> list[tuple[str, str]]:
    """Checks that span sections: names that must exist, be unique, or be complete."""
    problems: list[tuple[str, str]] = []
    for name in config.credentials:
        if not CREDENTIAL_NAME_PATTERN.fullmatch(name):
            problems.append(
                (f"credentials.{name}", "credential names are lower-case letters, digits and single underscores")
            )
    if not config.clusters:
        problems.append(("clusters", "at least one cluster is required"))
    cloud = {name: c for name, c in config.clusters.items() if isinstance(c, CloudCluster)}
    needs_credential = bool(cloud) or config.has_stalled_rules
    if needs_credential and not config.credentials:
        problems.append(
            ("credentials", f"at least one credential is required (e.g. credentials: {{main: {{}}}} "
             f"with {ENV_PREFIX}CREDENTIALS__MAIN__API_KEY and __API_SECRET set)")
        )
    users: dict[str, CloudCluster | KafkaConnectCluster | MetricsApiSettings] = dict(config.clusters)
    if config.has_stalled_rules:
        users["metrics_api"] = config.metrics_api
    for name, user in users.items():
        path = "metrics_api.credential" if name == "metrics_api" else f"clusters.{name}.credential"
        if user.credential is None:
            if not isinstance(user, KafkaConnectCluster) and len(config.credentials) > 1:
                problems.append((path, "required when more than one credential is configured"))
        elif user.credential not in config.credentials:
            problems.append(
                (path, f"unknown credential {user.credential!r}; known: {', '.join(sorted(config.credentials)) or 'none'}")
            )
    used = {used_name for u in users.values() if (used_name := config.credential_for(u)) is not None}
    for name in sorted(used & set(config.credentials)):
        credential = config.credentials[name]
        for secret in SECRET_FIELDS:
            if getattr(credential, secret) is None:
                env = f"{ENV_PREFIX}CREDENTIALS__{name.upper()}__{secret.upper()}"
                problems.append(
                    (f"credentials.{name}.{secret}", f"missing; set {env} or put it in a file of that name in the secrets directory")
                )
    if config.server.auth_token is None and any(isinstance(r.trigger, AlertTrigger) and r.enabled for r in config.rules):
        problems.append(
            ("server.auth_token", f"required by alert rules (Alertmanager must authenticate); set {ENV_PREFIX}SERVER__AUTH_TOKEN "
             "or put it in a file of that name in the secrets directory")
        )
    seen: dict[str, int] = {}
    for index, rule in enumerate(config.rules):
        if rule.name in seen:
            problems.append(
                (f"rules[{index}].name", f"duplicate rule name {rule.name!r} (also rules[{seen[rule.name]}])")
            )
        seen.setdefault(rule.name, index)
        for position, cluster_name in enumerate(rule.select.clusters or []):
            if cluster_name not in config.clusters:
                problems.append(
                    (f"rules[{index}].select.clusters[{position}]", f"unknown cluster {cluster_name!r}; "
                     f"known: {', '.join(sorted(config.clusters))}")
                )
            elif isinstance(rule.trigger, StalledTrigger) and isinstance(config.clusters[cluster_name], KafkaConnectCluster):
                problems.append(
                    (f"rules[{index}].select.clusters[{position}]", f"{cluster_name!r} is self-managed Kafka Connect: "
                     "stalled rules need Confluent Cloud's Metrics API")
                )
    return problems
