"""Credentials a config holds that it may not have meant, said by name (never a key id or
secret): at check-config (on stderr) and, for an unused one, once at start among the settings that
do nothing (no_effect.py). Legal, so warned of, not refused: a key kept for a cluster about to be
added is legitimate. A probe with four organisations' keys found each passed without a word:

- a credential no cluster, discovery or metrics_api uses (in the file, or made only by
  `WATCHDOG_CREDENTIALS__<NAME>__*` variables left in the environment): the organisation whose
  clusters were forgotten was watched by nobody;
- two names holding the same key and secret (one pasted into the other's variables): said by the
  running daemon only (`credentials_share_a_key`, app.py), not by check-config run in CI;
- two Confluent Cloud credentials holding the same key id with different secrets: Confluent issues
  one secret per key, so one pair is refused (401) at every call; said by check-config, at start
  and at each reload that leaves it (`credentials_share_a_key_id`, start_warnings.py). Names only:
  the key id is kept out of every text as a secret is (Config.secret_values). The same key with the
  same secret is one key under two names (the line above), not this."""

from __future__ import annotations

from .discovery import DiscoverySettings
from .root import ENV_PREFIX, Config
from .sections import CloudCluster, KafkaConnectCluster, MetricsApiSettings

# What is said of credentials holding one key id with different secrets (check-config's warning
# after the names, the start's and a reload's `note`).
KEY_ID_CLASH = ("hold the same API key id (api_key) with different secrets (api_secret): Confluent Cloud issues one "
                "secret per key, so the calls of one of them will be refused (401); put each key's own secret beside "
                "it (or each organisation's own key id)")


def used_credentials(config: Config) -> set[str]:
    """The credentials a call may be made with: each cluster's, discovery's, and the Metrics
    API's (also one `metrics_api.credential` names with no stalled rule yet: written, it is meant)."""
    users: list[CloudCluster | KafkaConnectCluster | MetricsApiSettings | DiscoverySettings] = list(config.clusters.values())
    if config.discovery is not None:
        users.append(config.discovery)
    if config.has_stalled_rules or config.metrics_api.credential is not None:
        users.append(config.metrics_api)
    used = set()
    for user in users:
        if isinstance(user, KafkaConnectCluster) and user.credential is None:
            continue  # a self-managed cluster without basic auth uses none
        name = config.credential_for(user)
        if name is not None:
            used.add(name)
    return used


def unused_credentials(config: Config) -> list[str]:
    """`credentials.<name>: no cluster, discovery or metrics_api uses it ...` for each unused one,
    by name; one made only by variables (or secret files) names them: it is not in the file."""
    used = used_credentials(config)
    found = []
    for name in sorted(set(config.credentials) - used):
        made_by = config.credentials_made_by.get(name)
        where = f"credentials.{name}" + (f" (not in the file: made by {', '.join(made_by)})" if made_by else "")
        drop = ("remove it" if not made_by else "unset those variables"
                if all(m.startswith(ENV_PREFIX) for m in made_by) else "remove those")
        found.append(f"{where}: no cluster, discovery or metrics_api uses it: no call is made with its key, so if "
                     f"clusters of its organisation were meant to be watched, none is; name it in those clusters' "
                     f"`credential` (or in discovery's), or {drop} if it is kept for a cluster not added yet")
    return found


def shared_keys(config: Config) -> list[str]:
    """`credentials.a, credentials.b: hold the same API key and secret ...` for each group of
    names holding one key (Config.same_key compares the values; only the names are said)."""
    groups = {tuple(config.same_key(name)) for name in config.credentials}
    return [f"{', '.join(f'credentials.{n}' for n in group)}: hold the same API key and secret: Confluent limits per "
            f"key, so their clusters share one rate-limit lane ({group[0]}'s; the daemon says credentials_share_a_key "
            "at start); if each was meant to be its own organisation's key, one of them holds another's"
            for group in sorted(groups) if len(group) > 1]


def cloud_credentials(config: Config) -> set[str]:
    """The credentials Confluent Cloud calls are made with: each Cloud cluster's, discovery's, and
    the Metrics API's when an enabled `stalled` rule calls it or the file names it (by default it
    is the only credential configured: a self-managed-only config's one credential, its workers'
    user and password, is no Cloud key)."""
    users: list[CloudCluster | MetricsApiSettings | DiscoverySettings] = [
        cluster for cluster in config.clusters.values() if isinstance(cluster, CloudCluster)]
    if config.has_stalled_rules or config.metrics_api.credential is not None:
        users.append(config.metrics_api)
    if config.discovery is not None:
        users.append(config.discovery)
    return {name for user in users if (name := config.credential_for(user)) is not None}


def key_id_clashes(config: Config) -> list[list[str]]:
    """Each group of Confluent Cloud credentials (cloud_credentials) holding one key id, not all
    with the same secret: one of them will be refused (401). By name, sorted; values compared,
    never returned. A self-managed cluster's credential is left out: one basic-auth user with a
    password per cluster is common."""
    by_key: dict[str, list[tuple[str, str]]] = {}
    for name in sorted(cloud_credentials(config)):
        credential = config.credentials.get(name)
        if credential is None or credential.api_key is None or credential.api_secret is None:
            continue
        by_key.setdefault(credential.api_key.get_secret_value(), []).append(
            (name, credential.api_secret.get_secret_value()))
    return sorted([name for name, _ in held] for held in by_key.values() if len({secret for _, secret in held}) > 1)


def key_id_clash_warnings(config: Config) -> list[str]:
    """`credentials.a, credentials.b: hold the same API key id ...` for each key_id_clashes group."""
    return [f"{', '.join(f'credentials.{n}' for n in group)}: {KEY_ID_CLASH}" for group in key_id_clashes(config)]


def another_keys_question(config: Config, name: str) -> str:
    """For the Confluent Cloud cluster `name` listed by hand, where discovery's key lists it too:
    the question whether its `credential` is right when it is not discovery's key (often another
    organisation's key written by mistake, refused 401 or 403 at every poll while the cluster's
    FAILED connectors wait). Only a question: a second key of the same organisation (its own
    rate-limit lane) is legitimate, and the two cannot be told apart. Names holding the same key
    (Config.lane_of) are one key: "". Said by `check-config --discover` and by the running
    daemon's first poll_failed line of a 401 or 403 (triggers/poller.py). Names only."""
    entry = config.clusters.get(name)
    if config.discovery is None or not isinstance(entry, CloudCluster):
        return ""
    found_by, used = config.credential_for(config.discovery), config.credential_for(entry)
    if found_by is None or used is None or config.lane_of(found_by) == config.lane_of(used):
        return ""
    return (f"discovery's key {found_by!r} lists this cluster and clusters.{name} uses {used!r}: is `credential: "
            f"{used}` right? (a key of another organisation is refused, 401 or 403, at every poll)")
