"""The sections that are not rules or gates: the Connect API, credentials, clusters (Confluent Cloud
and self-managed Kafka Connect, with TLS), the Metrics API, rate limits, the HTTP server, the queue,
the state file, reload and logging."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Discriminator, Field, SecretStr, Tag, model_validator

from .types import (
    Duration,
    HttpUrl,
    PositiveDuration,
    ReadableFile,
    ResourceId,
    Strict,
    parse_duration,
)

DEFAULT_BASE_URL = "https://api.confluent.cloud"
SECRET_FIELDS = ("api_key", "api_secret")


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
    # A connector the polls no longer list keeps its backoff, budget and gave-up flag this long
    # before they are deleted: a short answer (a glitch, a cluster listed only in part) must not
    # hand every connector a fresh restart budget. At least a day.
    forget_vanished_after: Annotated[float, BeforeValidator(parse_duration), Field(ge=86400)] = 3 * 86400.0


class ReloadSettings(Strict):
    """Live reload: on SIGHUP always, and when the config file's contents change if `watch`."""

    watch: bool = True
    interval: PositiveDuration = 10.0


class LogSettings(Strict):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["auto", "json", "console"] = "auto"
