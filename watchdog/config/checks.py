"""Checks that span sections: names that must exist, be unique, or be complete."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from ..model import FLEET, MANUAL_RULE
from .discovery import DiscoverySettings
from .root import ENV_PREFIX, Config
from .rules import AlertTrigger, Rule, ScheduleTrigger, StalledTrigger
from .secret_values import not_a_cloud_key
from .sections import SECRET_FIELDS, CloudCluster, KafkaConnectCluster, MetricsApiSettings

# Credential names become parts of environment variable names, so no dots or dashes.
CREDENTIAL_NAME_PATTERN = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")
# Discovered clusters are named by their id; a name of this shape may name one.
KAFKA_CLUSTER_ID_PREFIX = "lkc-"
_GLOB_CHARACTERS = re.compile(r"[*?\[]")


def _unreachable_by_variables(name: str) -> str:
    """Why a cluster name holding `__` is refused. Its variables' names hold it cut in two, as
    credential names would be (which are refused with one underscore at most): the override an
    operator reaches for at 3 a.m. (a moved cluster's id) was refused naming a cluster the file
    does not have, with no fix but a rename. Said at check-config, before anyone needs it."""
    first, key = name.split("__")[:2]
    return (f"'__' separates the parts of a variable's name, so no variable or secret file can reach this cluster "
            f"({ENV_PREFIX}CLUSTERS__{name.upper()}__KAFKA_CLUSTER_ID is read as cluster {first!r}, key {key!r}): "
            f"name it with single underscores, e.g. {re.sub('_{2,}', '_', name)!r}")


def cross_check(config: Config, *, calls: bool = True) -> list[tuple[str, str]]:
    """Checks that span sections: names that must exist, be unique, or be complete. `calls=False`
    for a command that makes no call with the Cloud keys or serves no API (status and history
    read the state file): their secrets need not be set."""
    problems: list[tuple[str, str]] = []
    for name in config.credentials:
        if not CREDENTIAL_NAME_PATTERN.fullmatch(name):
            problems.append(
                (f"credentials.{name}", "credential names are lower-case letters, digits and single underscores")
            )
    if not config.clusters and config.discovery is None:
        problems.append(("clusters", "at least one cluster is required, or a `discovery` section that finds them"))
    if FLEET in config.clusters:
        # Taken, the cluster's own breaker was the fleet breaker: open, it held every cluster's
        # failure restarts, and watchdog_breaker_open{scope="fleet"} could not say which it was.
        problems.append((f"clusters.{FLEET}", f"{FLEET!r} is reserved: the fleet-wide breaker is reported under it "
                                              "(watchdog_breaker_open{scope=\"fleet\"}); choose another name"))
    problems += [(f"clusters.{name}", _unreachable_by_variables(name)) for name in config.clusters if "__" in name]
    cloud = {name: c for name, c in config.clusters.items() if isinstance(c, CloudCluster)}
    needs_credential = bool(cloud) or config.has_stalled_rules or config.discovery is not None
    if needs_credential and not config.credentials:
        problems.append(
            ("credentials", f"at least one credential is required (e.g. credentials: {{main: {{}}}} "
             f"with {ENV_PREFIX}CREDENTIALS__MAIN__API_KEY and __API_SECRET set)")
        )
    users: dict[str, CloudCluster | KafkaConnectCluster | MetricsApiSettings | DiscoverySettings] = {
        f"clusters.{name}": cluster for name, cluster in config.clusters.items()
    }
    if config.has_stalled_rules:
        users["metrics_api"] = config.metrics_api
    if config.discovery is not None:
        users["discovery"] = config.discovery
    for name, user in users.items():
        path = f"{name}.credential"
        if user.credential is None:
            if not isinstance(user, KafkaConnectCluster) and len(config.credentials) > 1:
                problems.append((path, "required when more than one credential is configured"))
        elif user.credential not in config.credentials:
            problems.append(
                (path, f"unknown credential {user.credential!r}; known: {', '.join(sorted(config.credentials)) or 'none'}")
            )
    used = {used_name for u in users.values() if (used_name := config.credential_for(u)) is not None}
    for name in sorted(used & set(config.credentials) if calls else ()):
        credential = config.credentials[name]
        for secret in SECRET_FIELDS:
            if getattr(credential, secret) is None:
                env = f"{ENV_PREFIX}CREDENTIALS__{name.upper()}__{secret.upper()}"
                problems.append(
                    (f"credentials.{name}.{secret}", f"missing (unset, or empty once whitespace is stripped); set {env} or put it in a file of that name in the secrets directory")
                )
    # Sent to Confluent Cloud (a Cloud cluster, discovery, the Metrics API): what no Cloud key
    # holds. A self-managed worker's user and password may hold anything.
    cloud_used = {used_name for u in users.values()
                  if not isinstance(u, KafkaConnectCluster) and (used_name := config.credential_for(u)) is not None}
    for name in sorted(cloud_used & set(config.credentials)):
        for secret in SECRET_FIELDS:
            value = getattr(config.credentials[name], secret)
            why = None if value is None else not_a_cloud_key(value.get_secret_value())
            if why is not None:
                problems.append((f"credentials.{name}.{secret}", why))
    missing = config.blocking.missing_secret() if calls and config.blocking is not None else None
    if missing is not None:
        problems.append(("blocking", missing))
    alert_rules = any(isinstance(r.trigger, AlertTrigger) and r.enabled for r in config.rules)
    if calls and config.server.auth_token is None and alert_rules:
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
        if rule.name == MANUAL_RULE:
            # Taken, the API's and the CLI's restarts met that rule's dry_run and windows (a nightly
            # rule in dry-run ended every restart asked for by name `dry_run`), and its metrics,
            # log lines and history rows could not be told from theirs.
            problems.append((f"rules[{index}].name", f"{MANUAL_RULE!r} is reserved: restarts asked for by name (the "
                                                     "restart API, `watchdog restart`) are recorded under it; "
                                                     "choose another name"))
        problems += _selected_cluster_problems(config, index, rule)
        problems += _inert_on_a_schedule(index, rule)
    problems += _discovery_name_problems(config)
    problems += _same_cluster_problems(config)
    return problems


# What a schedule rule's `backoff` and `max_restarts` would be taken to do, and why they do not:
# accepted, `max_restarts: 2` and `backoff: {base: 5m}` on a rule of every minute restarted its 40
# connectors every minute (a probe), and nothing said the settings were read by no one.
_INERT_ON_A_SCHEDULE = {
    "backoff": ("does nothing on a schedule rule: its restarts come at its `cron` or `interval`, never after a backoff "
                "gap (backoff paces the restarts of status, alert and stalled rules); leave it out, and space the runs "
                "by the schedule itself"),
    "max_restarts": ("does nothing on a schedule rule: each run restarts what it selects whatever the connector's "
                     "restart count, and never gives up on it (max_restarts bounds the restarts of status, alert and "
                     "stalled rules); leave it out, and narrow `select` or space the runs to restart less"),
    "restart_user_errors": ("does nothing on a schedule rule: a schedule restarts what it selects whatever its state "
                            "(but PAUSED or PROVISIONING); restart_user_errors lets status, alert and stalled rules "
                            "restart a connector in a user error; leave it out"),
    "fetch_recommendations": ("does nothing on a schedule rule: Confluent's error recommendations are asked before a "
                              "failure restart (status, alert and stalled rules) only; leave it out"),
}


def _inert_on_a_schedule(index: int, rule: Rule) -> list[tuple[str, str]]:
    """A schedule rule's `backoff`, `max_restarts`, `restart_user_errors` or `fetch_recommendations`
    written out (model_fields_set: the defaults every rule has are not), refused as `timezone`
    beside an `interval` is: read by nothing."""
    if not isinstance(rule.trigger, ScheduleTrigger):
        return []
    return [(f"rules[{index}].{field}", why) for field, why in _INERT_ON_A_SCHEDULE.items() if field in rule.model_fields_set]


def _same_cluster_problems(config: Config) -> list[tuple[str, str]]:
    """Two entries of `clusters` for one Kafka cluster (the same kafka_cluster_id; for Kafka
    Connect, a worker URL in common) made two clusters of one: each polled it and kept its own
    backoff, and a FAILED connector was restarted twice, 8 ms apart, and twice at every step of
    its backoff. The queue keeps one restart per connector of a cluster *name*."""
    problems = []
    first: dict[str, str] = {}
    for name, cluster in config.clusters.items():
        if isinstance(cluster, CloudCluster):
            identities = [cluster.kafka_cluster_id]
        else:
            identities = sorted({_worker(str(url)) for url in cluster.urls})
        for identity in identities:
            other = first.setdefault(identity, name)
            if other != name:
                problems.append((f"clusters.{name}", f"names the same cluster as clusters.{other} ({identity}): its "
                                 "connectors would be restarted twice, each name with its own backoff; keep one entry"))
                break
    return problems


_DEFAULT_PORTS = {"http": 80, "https": 443}


def _worker(url: str) -> str:
    """A worker as the network reaches it: its host in any letter case and its port written or
    not are one worker. Compared as written, `http://Connect-1:8083` beside `http://connect-1:8083`
    (or `http://connect-1` beside `http://connect-1:80`) passed as two clusters, and every failed
    connector was restarted twice."""
    parts = urlsplit(url)
    port = parts.port or _DEFAULT_PORTS.get(parts.scheme.lower())
    return f"{parts.scheme.lower()}://{(parts.hostname or '').lower()}:{port}{parts.path.rstrip('/')}"


def _selected_cluster_problems(config: Config, index: int, rule: Rule) -> list[tuple[str, str]]:
    """Each `select.clusters` entry must be able to select something: an exact name must name a
    configured cluster (or, with discovery, may be an lkc- id: discovered clusters are named so),
    and a glob must match a configured cluster unless discovery may bring some."""
    problems = []
    known = ", ".join(sorted(config.clusters)) or "none"
    for position, entry in enumerate(rule.select.clusters or []):
        path = f"rules[{index}].select.clusters[{position}]"
        if _GLOB_CHARACTERS.search(entry):
            if config.discovery is None and not any(rule.select.selects_cluster(name) for name in config.clusters):
                problems.append((path, f"{entry!r} matches no cluster; known: {known}"))
        elif entry not in config.clusters:
            if config.discovery is not None and entry.startswith(KAFKA_CLUSTER_ID_PREFIX):
                continue  # a discovered cluster, perhaps not created yet
            hint = " (discovered clusters are named by their lkc- id)" if config.discovery is not None else ""
            problems.append((path, f"unknown cluster {entry!r}; known: {known}{hint}"))
        elif isinstance(rule.trigger, StalledTrigger) and isinstance(config.clusters[entry], KafkaConnectCluster):
            problems.append((path, f"{entry!r} is self-managed Kafka Connect: stalled rules need Confluent Cloud's Metrics API"))
    return problems


def _discovery_name_problems(config: Config) -> list[tuple[str, str]]:
    """Discovered clusters are named by their lkc- id. A configured cluster named like an lkc- id
    must be that very cluster, or it and a discovered cluster could share one name (and one
    state, and one set of series)."""
    if config.discovery is None:
        return []
    return [
        (f"clusters.{name}", f"with discovery, a cluster named like a Kafka cluster id must be that cluster "
         f"(kafka_cluster_id: {name}); discovered clusters are named by their id. Rename it")
        for name, cluster in config.clusters.items()
        if name.startswith(KAFKA_CLUSTER_ID_PREFIX)
        and not (isinstance(cluster, CloudCluster) and cluster.kafka_cluster_id == name)
    ]
