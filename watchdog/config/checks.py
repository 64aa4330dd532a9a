"""Checks that span sections: names that must exist, be unique, or be complete."""

from __future__ import annotations

import re

from .root import ENV_PREFIX, Config
from .rules import AlertTrigger, StalledTrigger
from .sections import SECRET_FIELDS, CloudCluster, KafkaConnectCluster, MetricsApiSettings

# Credential names become parts of environment variable names, so no dots or dashes.
CREDENTIAL_NAME_PATTERN = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")


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
