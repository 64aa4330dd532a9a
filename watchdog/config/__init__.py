"""The configuration: one YAML file, `WATCHDOG_*` environment overrides, and a secrets directory.

Strict on purpose: a typo in a rule must stop the daemon before it starts, with a message that
names the exact path of the bad value (`rules[2].trigger.cron`). `load_config` is the only entry
point; it raises `ConfigError` and never returns a half-valid config.

Priority, highest first: environment (`WATCHDOG_RULES__0__DRY_RUN=true`, nested with `__`, a
list's entry named by its position), secret files (same names, one file each, e.g. a Kubernetes
Secret mounted at `/etc/watchdog/secrets`), then the YAML file, then defaults. API keys and secrets may come only
from the environment or secret files, never from the YAML file: config files end up in git and
ConfigMaps.

The schema and its loading, one job per file:

    types.py      field types every section uses: durations, names, URLs, time zones, `Strict`
    sections.py   api, credentials, clusters, metrics_api, rate_limit, server, queue, state,
                  reload, log
    secret_values.py  how a key, secret, password or token is read, and which are refused
    tls.py        a self-managed cluster's TLS files, proven loadable, their bytes compared at a reload
    rules.py      rules: selectors, backoff, the four triggers
    cron_ranges.py  a cron's ranges as meant: `sun` ending a weekday range is 7, a backwards range refused saying what to write
    discovery.py  discovery: which environments and clusters are found at run time
    gates.py      the gates' settings: windows, breaker, blocking
    leadership.py the shared store's settings: the PostgreSQL URL, the lease and its renewals
    matchers.py   Alertmanager's matcher grammar and Go's regexp syntax, for blocking.filters
    regexes.py    RE2, the regex engine Alertmanager uses: alert rules' match_re, blocking's regexes
    root.py       `Config`: the sections together, the sources' priority, cross-section lookups
    sources.py    the sources layered: a variable naming a list's entry merged into that entry
    stray_variables.py  WATCHDOG_* variables that name no setting: refused where misspelt
    loading.py    `load_config`/`build_config`: strict YAML, secrets refused in YAML, merging
    given_secrets.py  the secrets the environment and secrets directory hold, for what `run` prints of a refused config
    strict_yaml.py  the YAML reader: duplicate keys refused, YAML 1.2 numbers, merge keys
    errors.py     `ConfigError` and pydantic's errors as paths the user wrote
    key_hints.py  where an unknown key belongs (a key one level off, misspelt, of another trigger)
    checks.py     `cross_check`: names that must exist, be unique, or be complete
    credential_use.py  credentials no cluster, discovery or metrics_api uses, names holding one key, and
                  Cloud credentials holding one key id with different secrets, a listed cluster under another
                  key than discovery's
    zone_warnings.py  rule and window zones that rarely mean what their writer thinks (`EST`, `Etc/GMT-2`)
    no_effect.py  settings that do nothing: regex-looking globs, a rule excluding all it includes, a
                  status rule behind one that selects all it selects, windows that never open or have ended
    shadowing.py  which status rules never decide (an earlier one selects all they select), by an index
"""

from .checks import (
    CREDENTIAL_NAME_PATTERN,
    KAFKA_CLUSTER_ID_PREFIX,
    cross_check,
)
from .credential_use import (
    KEY_ID_CLASH,
    another_keys_question,
    key_id_clash_warnings,
    key_id_clashes,
    shared_keys,
    unused_credentials,
)
from .discovery import (
    ClusterSelection,
    DiscoverySettings,
    EnvironmentSelection,
)
from .errors import (
    ConfigError,
    format_location,
)
from .gates import (
    BlockingSettings,
    BreakerSettings,
    WindowSettings,
    WindowText,
)
from .loading import (
    DEFAULT_SECRETS_DIR,
    build_config,
    ignored_variables,
    load_config,
)
from .no_effect import no_effect_warnings
from .root import (
    ENV_PREFIX,
    SELF_MANAGED_LANE,
    Config,
)
from .rules import (
    TRIGGER_TYPES,
    AlertTrigger,
    Backoff,
    LabelName,
    Rule,
    ScheduleTrigger,
    Selector,
    StalledTrigger,
    StatusTrigger,
    TriggerSettings,
)
from .sections import (
    BACKENDS,
    DEFAULT_BASE_URL,
    SECRET_FIELDS,
    ApiSettings,
    CloudCluster,
    Cluster,
    Credential,
    HistorySettings,
    KafkaConnectCluster,
    LogSettings,
    MetricsApiSettings,
    QueueSettings,
    RateLimitSettings,
    ReloadSettings,
    RetryBackoff,
    ServerSettings,
    StateSettings,
    Timeouts,
    TlsSettings,
)
from .types import (
    NAME_PATTERN,
    Duration,
    HttpUrl,
    Name,
    PositiveDuration,
    ReadableFile,
    ResourceId,
    Strict,
    TimeZoneName,
    is_loopback_url,
    parse_duration,
)
from .zone_warnings import zone_warnings

__all__ = [
    "AlertTrigger",
    "ApiSettings",
    "BACKENDS",
    "Backoff",
    "BlockingSettings",
    "BreakerSettings",
    "CREDENTIAL_NAME_PATTERN",
    "CloudCluster",
    "Cluster",
    "ClusterSelection",
    "Config",
    "ConfigError",
    "Credential",
    "DEFAULT_BASE_URL",
    "DEFAULT_SECRETS_DIR",
    "DiscoverySettings",
    "Duration",
    "ENV_PREFIX",
    "SELF_MANAGED_LANE",
    "EnvironmentSelection",
    "HistorySettings",
    "KEY_ID_CLASH",
    "HttpUrl",
    "KAFKA_CLUSTER_ID_PREFIX",
    "KafkaConnectCluster",
    "LabelName",
    "LogSettings",
    "MetricsApiSettings",
    "NAME_PATTERN",
    "Name",
    "PositiveDuration",
    "QueueSettings",
    "RateLimitSettings",
    "ReadableFile",
    "ReloadSettings",
    "ResourceId",
    "RetryBackoff",
    "Rule",
    "SECRET_FIELDS",
    "ScheduleTrigger",
    "Selector",
    "ServerSettings",
    "StalledTrigger",
    "StateSettings",
    "StatusTrigger",
    "Strict",
    "TRIGGER_TYPES",
    "TimeZoneName",
    "Timeouts",
    "TlsSettings",
    "TriggerSettings",
    "WindowSettings",
    "WindowText",
    "another_keys_question",
    "build_config",
    "cross_check",
    "format_location",
    "ignored_variables",
    "is_loopback_url",
    "key_id_clash_warnings",
    "key_id_clashes",
    "load_config",
    "no_effect_warnings",
    "parse_duration",
    "shared_keys",
    "unused_credentials",
    "zone_warnings",
]
