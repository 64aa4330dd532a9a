"""`Config`, the root of the schema: its sections, where values come from (environment, secret
files, the YAML document) and the lookups that span sections."""

from __future__ import annotations

import base64
import hashlib
import json

from pydantic import PrivateAttr
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from .discovery import DiscoverySettings
from .gates import BlockingSettings, BreakerSettings, WindowSettings
from .rules import Rule, StalledTrigger
from .sections import (
    ApiSettings,
    CloudCluster,
    Cluster,
    Credential,
    KafkaConnectCluster,
    LogSettings,
    MetricsApiSettings,
    QueueSettings,
    RateLimitSettings,
    ReloadSettings,
    ServerSettings,
    StateSettings,
)
from .sources import Layer, LayeredSources, SecretFiles
from .types import Name, is_loopback_url

ENV_PREFIX = "WATCHDOG_"
# A self-managed cluster's rate-limit lane is this, then its name (Config.lane_for).
SELF_MANAGED_LANE = "kafka-connect/"
# What overrides the file's `log.format` when `watchdog run --log-format` is given (Config.overridden).
LOG_FORMAT_FLAG = "--log-format"


class Config(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    api: ApiSettings = ApiSettings()
    credentials: dict[str, Credential] = {}
    # Static clusters; with `discovery`, more are found at run time (cross_check wants one or the other).
    clusters: dict[Name, Cluster] = {}
    discovery: DiscoverySettings | None = None
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
    # Values the file has that a variable or a secret file overrode, by path: {"dry_run":
    # "WATCHDOG_DRY_RUN"}. Set by the loader; said at start, by check-config and at each reload.
    _overridden: dict[str, str] = PrivateAttr(default_factory=dict)

    # Secret files whose setting a variable also sets, and wins: {"WATCHDOG_SERVER__AUTH_TOKEN":
    # "WATCHDOG_SERVER__AUTH_TOKEN"} (the file's name, the variable's). Said likewise.
    _secret_files_overridden: dict[str, str] = PrivateAttr(default_factory=dict)
    # Credentials the file does not have, by the variables (or secret files) that made them:
    # {"orgc": ["WATCHDOG_CREDENTIALS__ORGC__API_KEY", ...]}. Set by the loader; an unused one is
    # said naming them (credential_use.py): variables left in a Deployment make a credential.
    _credentials_made_by: dict[str, list[str]] = PrivateAttr(default_factory=dict)
    # `watchdog run --log-format`'s value, which wins over `log.format` (logs are set up with it,
    # and reload.log_format_in_effect compares it). Not a setting: left out of the digest, which
    # check-config (whose --log-format is only its own log's) shows as the daemon does.
    _log_format_given: str | None = PrivateAttr(default=None)
    # Config.digest, worked out once: /readyz asks for it at every probe, and a config in force is
    # never changed in place (a reload builds a new one).
    _digest: str | None = PrivateAttr(default=None)

    @property
    def overridden(self) -> dict[str, str]:
        return dict(self._overridden)

    @property
    def log_format_given(self) -> str | None:
        return self._log_format_given

    @property
    def secret_files_overridden(self) -> dict[str, str]:
        return dict(self._secret_files_overridden)

    @property
    def credentials_made_by(self) -> dict[str, list[str]]:
        return {name: list(made) for name, made in self._credentials_made_by.items()}

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
        # lowest priority here rather than the highest. The three are layered by one source of
        # ours, which can merge a variable naming a list's entry into that entry (sources.py).
        return (
            LayeredSources(settings_cls, [
                Layer(env_settings, ENV_PREFIX, "environment"),
                Layer(SecretFiles(file_secret_settings, secrets_dir_missing="ok"), ENV_PREFIX, "secrets"),
                Layer(init_settings, None, "file"),
            ]),
        )

    def cluster_address(self, name: str) -> str:
        """Which Kafka cluster the configured cluster `name` stands for (CloudCluster.address); ""
        when it is not configured or is self-managed (nothing to compare)."""
        cluster = self.clusters.get(name)
        return cluster.address if cluster is not None else ""

    def credential_for(
        self, cluster: CloudCluster | KafkaConnectCluster | MetricsApiSettings | DiscoverySettings
    ) -> str | None:
        """The credential a cluster (the Metrics API, discovery) uses: its own, or the only one configured.
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
            return f"{SELF_MANAGED_LANE}{cluster}"
        credential = self.credential_for(settings)
        assert credential is not None  # cross_check requires one for every Cloud cluster
        return self.lane_of(credential)

    def lane_of(self, credential: str) -> str:
        """The rate-limit lane of a credential's calls: its own name, or, where several
        credentials hold the same API key and secret (one key entered under two names, say one
        per team's clusters), the first of their names: Confluent limits per key, and two lanes
        on one key each took the other's use for another client's and left it its share (a
        backlog of 400 restarts took 387 s where one lane took 42)."""
        return self.same_key(credential)[0]

    def same_key(self, credential: str) -> list[str]:
        """The names of every credential holding the same API key and secret as `credential`
        (itself included), sorted; only itself when either is unset."""
        mine = self.credentials.get(credential)
        if mine is None or mine.api_key is None or mine.api_secret is None:
            return [credential]
        key, secret = mine.api_key.get_secret_value(), mine.api_secret.get_secret_value()
        return sorted(
            name for name, other in self.credentials.items()
            if other.api_key is not None and other.api_secret is not None
            and other.api_key.get_secret_value() == key and other.api_secret.get_secret_value() == secret
        )

    def plaintext_credential_urls(self) -> list[tuple[str, str]]:
        """(where, url) for each http:// URL that a credential would be sent to in the clear
        over a network: a loopback address (the demo's own simulator, a TLS sidecar or a
        `kubectl port-forward` in the pod) keeps it on the machine, and warning of it made the
        first screen of README's first command tell a new user to use https:// for nothing."""
        found: list[tuple[str, str]] = []
        cloud = self.discovery is not None or any(isinstance(c, CloudCluster) for c in self.clusters.values())
        if _in_the_clear(self.api.base_url) and cloud:
            found.append(("api.base_url", self.api.base_url))
        if self.has_stalled_rules and _in_the_clear(self.metrics_api.base_url):
            found.append(("metrics_api.base_url", self.metrics_api.base_url))
        for name, cluster in self.clusters.items():
            if isinstance(cluster, KafkaConnectCluster) and cluster.credential is not None:
                found += [(f"clusters.{name}.urls", url) for url in cluster.urls if _in_the_clear(url)]
        if self.blocking is not None and self.blocking.auth != "none" and _in_the_clear(self.blocking.alertmanager_url):
            found.append(("blocking.alertmanager_url", self.blocking.alertmanager_url))
        return found

    def digest(self) -> str:
        """What replicas compare to tell whether they run the same config: a SHA-256 of the
        settings in force (the file, the variables and the defaults together), its first 16 hex
        digits. Secrets are dumped masked: a rotated key does not change it, and it tells nothing
        of one. `server.host` and `server.port` are left out. Replicas that each ran a different file over a day (`max_restarts` 10 and 7, a
        cluster under two names) showed no difference anywhere until a failover acted on it (an HA
        probe, 2026-12-06)."""
        if self._digest is not None:
            return self._digest
        settings = self.model_dump(mode="json")
        # Where a replica listens is its own, not what it does: replicas on one host (compose, VMs)
        # each listen on a port of their own, and read as running different configs.
        for own in ("host", "port"):
            settings["server"].pop(own, None)
        dumped = json.dumps(settings, sort_keys=True, separators=(",", ":"))
        self._digest = hashlib.sha256(dumped.encode()).hexdigest()[:16]
        return self._digest

    def secret_values(self) -> tuple[set[str], set[str]]:
        """(secrets, users): every secret this config holds, each also in the forms it is sent in
        (a Basic pair `user:password` and its base64), and the users of `credentials` (an API
        key's id, a worker's basic-auth user: kept as secrets, check-config shows only "set"), for
        the log to keep out. Alertmanager's `blocking.username` is no secret (it is in the file)."""
        secrets: set[str] = set()
        users: set[str] = set()

        def basic(user: str, password: str) -> None:
            pair = f"{user}:{password}"
            secrets.update({password, pair, base64.b64encode(pair.encode()).decode()})

        for credential in self.credentials.values():
            if credential.api_key is not None and credential.api_secret is not None:
                basic(credential.api_key.get_secret_value(), credential.api_secret.get_secret_value())
                users.add(credential.api_key.get_secret_value())
        for token in (self.server.auth_token, self.state.password):
            if token is not None:
                secrets.add(token.get_secret_value())
        sent = self.blocking.credentials() if self.blocking is not None else None
        if isinstance(sent, tuple):
            basic(sent[0], sent[1].get_secret_value())
        elif sent is not None:
            secrets.add(sent.get_secret_value())
        return secrets, users

    def rules_on_trial(self) -> list[str]:
        """The enabled rules in dry-run of their own (`dry_run: true` on the rule)."""
        return [rule.name for rule in self.rules if rule.enabled and rule.dry_run]

    @property
    def dry_run_anywhere(self) -> bool:
        """Whether any restart may end `dry_run`: dry-run set globally, or a rule on trial."""
        return self.dry_run or bool(self.rules_on_trial())

    @property
    def has_stalled_rules(self) -> bool:
        return any(r.enabled and isinstance(r.trigger, StalledTrigger) for r in self.rules)

    def rules_for_cluster(self, cluster: str) -> list[Rule]:
        return [
            r
            for r in self.rules
            if r.enabled and r.select.selects_cluster(cluster)
        ]


def _in_the_clear(url: str) -> bool:
    """An http:// URL whose host is not this machine: what is sent to it crosses a network."""
    return url.startswith("http://") and not is_loopback_url(url)
