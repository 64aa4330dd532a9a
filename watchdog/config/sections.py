"""The sections that are not rules or gates: the Connect API, credentials, clusters (Confluent Cloud
and self-managed Kafka Connect), the Metrics API, rate limits, the HTTP server, the queue, the state
file, reload and logging. A self-managed cluster's TLS settings are tls.py's; how a secret's value
is read and checked, secret_values.py's."""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Discriminator,
    Field,
    SecretStr,
    Tag,
    ValidationInfo,
    field_validator,
    model_validator,
)

from .leadership import DatabaseUrl, LeaderElectionSettings
from .secret_values import (
    MaskableSecret,
    StrippedSecret,
    basic_user,
    check_token,
)
from .tls import TlsSettings
from .types import (
    NUMBER,
    Duration,
    HttpUrl,
    PositiveDuration,
    ResourceId,
    Strict,
    at_least,
    parse_duration,
)

DEFAULT_BASE_URL = "https://api.confluent.cloud"
SECRET_FIELDS = ("api_key", "api_secret")
# The largest count any setting takes (history entries per connector, requests kept in reserve,
# restarts before giving up, the breaker's limits). Far beyond any use: larger is a typo, and
# some counts reach SQLite, which stores integers in 64 bits (`1e30` entries stopped `run` with
# an OverflowError after check-config had passed it).
MAX_COUNT = 1_000_000


class Timeouts(Strict):
    """HTTP timeouts for the Connect API, in seconds. connect, read, write and pool bound one
    step each (a read timeout bounds the wait for the next byte, not for the whole answer);
    `total` bounds the whole call, so that an answer trickling in a byte at a time cannot hold a
    rate-limit lane, or the shutdown, for longer."""

    connect: PositiveDuration = 5.0
    read: PositiveDuration = 30.0
    write: PositiveDuration = 10.0
    pool: PositiveDuration = 10.0
    total: PositiveDuration = 30.0

    @model_validator(mode="after")
    def _total_covers_a_read(self) -> Timeouts:
        if self.total < max(self.connect, self.read):
            raise ValueError(
                f"total ({self.total:g}s) must be at least connect and read ({max(self.connect, self.read):g}s): "
                "it bounds the whole call"
            )
        return self


# Upstream answers larger than this are refused (a 10,000-connector expanded list is 7.1 MiB and
# parses into about 50 MiB; see docs/benchmarks.md).
DEFAULT_MAX_RESPONSE_BYTES = 16 * 1024 * 1024
# Twice the 10,000 connectors in one cluster that docs/benchmarks.md measures.
DEFAULT_MAX_LISTED_CONNECTORS = 20_000


class ApiSettings(Strict):
    base_url: HttpUrl = DEFAULT_BASE_URL
    timeouts: Timeouts = Timeouts()
    # Every upstream answer (Connect API, Metrics API, Alertmanager) is read up to this many
    # bytes; a larger one is a failed call (a failed poll), never a reason to run out of memory.
    max_response_bytes: Annotated[int, NUMBER, Field(ge=64 * 1024, le=1024 * 1024 * 1024)] = DEFAULT_MAX_RESPONSE_BYTES
    # A cluster's list answer holding more connectors than this is a failed poll: entries of a few
    # dozen bytes fit 280,000 connectors in max_response_bytes, each made a connector with its
    # series and state (100,000: 300,000 series, 325 MB, a poll of a minute).
    max_listed_connectors: Annotated[int, NUMBER, Field(ge=1, le=10_000_000)] = DEFAULT_MAX_LISTED_CONNECTORS


class Credential(Strict):
    # Filled from WATCHDOG_CREDENTIALS__<NAME>__API_KEY / __API_SECRET or secret files of the
    # same names; a missing one is reported by Config's cross-checks with those names.
    api_key: Annotated[StrippedSecret | None, AfterValidator(basic_user)] = None
    api_secret: MaskableSecret | None = None


class CloudCluster(Strict):
    """A Kafka cluster in Confluent Cloud: its connectors through the connect/v1 API."""

    backend: Literal["confluent_cloud"] = "confluent_cloud"
    environment_id: ResourceId
    kafka_cluster_id: ResourceId
    credential: str | None = None  # may be left out when exactly one credential is configured

    @property
    def address(self) -> str:
        """Which Kafka cluster the name stands for (RestartRequest.cluster_address)."""
        return f"{self.environment_id}/{self.kafka_cluster_id}"


class KafkaConnectCluster(Strict):
    """A self-managed Apache Kafka Connect cluster, through its REST API."""

    backend: Literal["kafka_connect"]
    # Worker URLs: each serves every call; the next one is tried when one cannot be reached.
    urls: Annotated[list[HttpUrl], Field(min_length=1)]
    credential: str | None = None  # optional HTTP basic auth: api_key is the user, api_secret the password
    tls: TlsSettings = TlsSettings()

    @property
    def address(self) -> str:
        """Nothing to compare (RestartRequest.cluster_address): worker URLs change as workers
        come and go (one added, a DNS name moved), and the cluster behind them is the same."""
        return ""


BACKENDS = ("confluent_cloud", "kafka_connect")


def _cluster_backend(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("backend", "confluent_cloud"))
    return str(getattr(value, "backend", "confluent_cloud"))


Cluster = Annotated[
    Annotated[CloudCluster, Tag("confluent_cloud")] | Annotated[KafkaConnectCluster, Tag("kafka_connect")],
    Discriminator(_cluster_backend),
]


# A local ceiling on calls per second. At least one call per 100 s: below that nothing works (a
# poll of one cluster waited hours, and 1e-300 was accepted: the daemon never polled). At most a
# million: a ceiling, not a target, and infinity is no number of calls.
RequestRate = Annotated[float, NUMBER, Field(ge=0.01, le=1_000_000)]


class MetricsApiSettings(Strict):
    """Confluent's Metrics API (its own host and limits), used by `stalled` rules."""

    base_url: HttpUrl = "https://api.telemetry.confluent.cloud"
    credential: str | None = None  # may be left out when exactly one credential is configured
    timeouts: Timeouts = Timeouts()
    # The Metrics API allows 300 requests per IP and minute (its published limit).
    max_requests_per_second: RequestRate = 4.0


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

    reserve: Annotated[int, NUMBER, Field(ge=0, le=MAX_COUNT)] = 1
    max_requests_per_second: RequestRate = 10.0
    max_concurrent_requests: Annotated[int, NUMBER, Field(ge=1, le=64)] = 4
    max_pause: PositiveDuration = 900.0
    max_retries: Annotated[int, NUMBER, Field(ge=0, le=20)] = 3
    max_rate_limited_retries: Annotated[int, NUMBER, Field(ge=0, le=100)] = 10
    backoff: RetryBackoff = RetryBackoff()
    # Confluent Cloud keys whose answers show one budget counting them all (an organisation-wide
    # limit) are paced as one from then on (ratelimit/shared_budget.py). False: they are still
    # found and logged, never joined (an escape hatch, should keys of budgets of their own ever
    # read as one). Like the whole section, it takes a restart to change.
    join_shared_budgets: bool = True


_HOST_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")


def _check_host(host: str) -> str:
    """An IP address (v4 or v6) or a host name (RFC 1123: dot-separated labels of letters, digits
    and '-'). Anything else passed check-config and then stopped `run` with uvicorn's traceback
    (exit 3) when it could not bind."""
    try:
        ipaddress.ip_address(host)
        return host
    except ValueError:
        pass
    name = host.removesuffix(".")
    labels = name.split(".")
    # A last label of digits only is an IPv4 address gone wrong (999.1.1.1), never a name: no
    # top-level domain is numeric (RFC 1123, 2.1).
    if 0 < len(name) <= 253 and all(_HOST_LABEL.fullmatch(label) for label in labels) and not labels[-1].isdigit():
        return host
    raise ValueError(
        f"{host!r} is not an IP address or a host name (dot-separated labels of letters, digits and '-'); "
        "e.g. 0.0.0.0 (every IPv4 interface), :: or 127.0.0.1"
    )


class ServerSettings(Strict):
    host: Annotated[str, AfterValidator(_check_host)] = "0.0.0.0"
    port: Annotated[int, NUMBER, Field(ge=0, le=65535)] = 9464
    # Bearer token for the Alertmanager webhook and the restart API (never from the YAML file:
    # WATCHDOG_SERVER__AUTH_TOKEN or a secret file of that name). Without it those routes refuse
    # every request; /metrics, /healthz and /readyz stay open.
    auth_token: Annotated[SecretStr | None, AfterValidator(check_token)] = None
    max_body_bytes: Annotated[int, NUMBER, Field(ge=1024, le=16 * 1024 * 1024)] = 1024 * 1024
    # Open connections beyond this are closed at once: Prometheus, Alertmanager and the kubelet
    # need a handful, and each idle one costs memory. Half of it bounds the webhooks in progress,
    # an eighth the restart requests (api/admission.py).
    max_connections: Annotated[int, NUMBER, Field(ge=4, le=10_000)] = 64
    # A request must arrive whole (headers and body) within this long of its connection opening
    # or of the previous answer on it; slower ones are cut off (half-open and trickling
    # connections would otherwise be held for ever).
    request_timeout: Annotated[float, BeforeValidator(parse_duration), Field(gt=0, le=300)] = 10.0


class QueueSettings(Strict):
    shutdown_deadline: Duration = Field(default=20.0, ge=0)
    # After the deadline, how long a call already on the wire may still take before the process
    # stops without its answer (it is then reported `interrupted`: it may have reached the API).
    in_flight_grace: Duration = Field(default=10.0, ge=0)
    # Restart jobs queued or in flight per rate-limit lane. More are refused (the API answers
    # 429, alerts are refused, polls decide again next time) and counted as `queue_full`.
    max_jobs_per_lane: Annotated[int, NUMBER, Field(ge=1, le=1_000_000)] = 1000
    # A restart asked for by name (the API, the CLI) within this long of the connector's last
    # restart is refused as `recently_restarted` (engine/restart_gap.made_gap); 0 turns the check off.
    manual_restart_gap: Duration = Field(default=60.0, ge=0, le=86400)


class HistorySettings(Strict):
    max_age: PositiveDuration = 30 * 86400.0
    max_entries: Annotated[int, NUMBER, Field(ge=1, le=MAX_COUNT)] = 200  # per connector: a noisy one cannot push out the rest


_URL_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")


def is_url(text: str) -> bool:
    """Whether `text` starts as a URL does (`scheme://`): never a file's path as meant."""
    return _URL_SCHEME.match(text) is not None


def _not_a_url(path: str) -> str:
    """`state.path` is a file's path. A database URL put there by mistake (for `state.url`) was
    taken for a file name: check-config printed it, password and all ("SQLite file
    postgresql://u:pw@db/..."), and `run` quoted it in "Cannot create state file ...". Refused,
    never quoted."""
    if is_url(path):
        raise ValueError("is a file's path, not a URL; a PostgreSQL database goes in state.url (its password in "
                         "WATCHDOG_STATE__PASSWORD or a secret file of that name, never in the URL)")
    return path


class StateSettings(Strict):
    """The state file: backoff, budgets, gave-up flags, history and unsent requests survive a
    restart of the daemon. `:memory:` keeps nothing (tests, `--once` experiments). With `url`
    (PostgreSQL) instead, replicas share the state and elect a leader (config/leadership.py)."""

    url: DatabaseUrl | None = None  # before `path`, which is checked knowing it
    path: Annotated[str, AfterValidator(_not_a_url)] = "watchdog.db"
    password: MaskableSecret | None = None  # for `url`: WATCHDOG_STATE__PASSWORD or a secret file
    leader_election: LeaderElectionSettings = LeaderElectionSettings()
    history: HistorySettings = HistorySettings()
    # A connector the polls no longer list keeps its backoff, budget and gave-up flag this long
    # before they are deleted: a short answer (a glitch, a cluster listed only in part) must not
    # hand every connector a fresh restart budget. At least a day.
    forget_vanished_after: Annotated[float, BeforeValidator(parse_duration), Field(ge=86400)] = 3 * 86400.0

    @field_validator("path")
    @classmethod
    def _path_given(cls, path: str, info: ValidationInfo) -> str:
        if not path.strip() and info.data.get("url") is None:
            # Read as the current directory: check-config said valid, and `run` stopped on "State
            # file /app is a directory". Set so by an empty variable (WATCHDOG_STATE__PATH=, a Helm
            # value left unset); with `url` the path is not used, and may be empty.
            raise ValueError("is empty: name the SQLite file (the default is watchdog.db), or :memory: to keep nothing")
        if info.data.get("url") is None and any(ord(char) < 32 or ord(char) == 127 for char in path):
            # A NUL ("\0" in a quoted YAML string) passed check-config and stopped `run` with
            # "ValueError: embedded null byte", a traceback; no file name holds one.
            raise ValueError("holds a control character (a NUL, a line break, ...), which no file name should have")
        return path

    @model_validator(mode="after")
    def _one_store(self) -> StateSettings:
        # With `url`, `path` is not used (the image sets WATCHDOG_STATE__PATH for the SQLite default,
        # and a Kubernetes env cannot unset an image's variable).
        if self.url is None and self.password is not None:
            raise ValueError("a database password is set (WATCHDOG_STATE__PASSWORD) but no `url`")
        return self


# How often the config file may be read to see whether it changed. Each look reads and hashes the
# whole file (at most 1 MiB), so ten a second cost at most about 2% of a core, where 1 ms cost a
# quarter of one; tests look every 0.2 s, to see a reload promptly.
MIN_RELOAD_INTERVAL = 0.1


class ReloadSettings(Strict):
    """Live reload: on SIGHUP always, and when the config file's contents change if `watch`."""

    watch: bool = True
    interval: Annotated[
        PositiveDuration,
        at_least(MIN_RELOAD_INTERVAL, "each look reads and hashes the whole config file; 10s is plenty"),
    ] = 10.0


def _upper(value: object) -> object:
    return value.upper() if isinstance(value, str) else value


class LogSettings(Strict):
    # In any letter case, as --log-level takes it: `level: debug` was refused while
    # `--log-level debug` worked.
    level: Annotated[Literal["DEBUG", "INFO", "WARNING", "ERROR"], BeforeValidator(_upper)] = "INFO"
    format: Literal["auto", "json", "console"] = "auto"
