"""Live reload: what changed between two configs, and a watcher for the config file.

A reload is validated in full before anything is touched: a broken file leaves the running
config in place. Rules, schedules, clusters, discovery, windows, the breaker, blocking, dry-run
and the log level change in place; the sections that shape long-lived connections, listeners and
tasks (API endpoint and timeouts, credentials added or removed, the Metrics API client, rate
limits, the HTTP server but its token, the queue, the state file, the reload watcher itself, the
log format) need a process restart, and a reload that changes them is refused with the names of
those sections rather than half-applied, its line naming the other changes it discards
(`not_applied`). They are compared by effect where that is certain (`auto` as resolved at start,
`./state.db` as `state.db`, a base URL's trailing slash), not as written. Two parts of restart-only sections rotate at a reload: the API token, and the
key and secret of a credential already named (`credentials_rotated`: every client that sends
that credential's pair sends the new one from its next request; its lane, limiter and queue stay).
Of `state`, the database password rotates too (`state.password`: the next connection sends it). Neither
the token nor the password is taken away by a reload (refused, the running one kept). Every section is in one list or the other (tests/test_reload.py checks it): a
section in neither was taken, logged as unchanged, and silently not applied.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import SecretStr

from .config import ENV_PREFIX, Config, KafkaConnectCluster
from .config.credential_use import cloud_credentials
from .config.loading import read_config_head
from .config.sources import MAX_SECRET_FILE_BYTES, regular_file_hash
from .config.tls import files_digest
from .logs import get_logger

log = get_logger("watchdog.reload")

# Sections whose objects live for the whole process (HTTP clients, limiters, listeners, lanes,
# the file watcher). `log.format` too: the log's renderer is set once, at start. Of `credentials`,
# the names and how they share keys (credentials_shape); their values rotate at a reload.
RESTART_ONLY_SECTIONS = ("api", "credentials", "metrics_api", "rate_limit", "server", "queue", "state", "reload")
# A token rotates at a reload, but is not taken away by one: without it the webhook and the restart
# API answer every request 403, and Alertmanager does not send a 4xx again, so every alert from
# then on was lost, with only `sections_changed: ["server.auth_token"]` at info to say so. What
# takes it away at a reload is seldom meant: a Secret not mounted yet, a variable renamed in the
# Deployment. Running without it is a choice made at a start.
TOKEN_REMOVED = "server.auth_token (removed: the webhook and the restart API would refuse every request)"
# The database password rotates at a reload (state/postgres_password.py): the next connection the
# store or the elector opens sends the new one. Refused as a change of `state`, it held back every
# later edit, and the password fixed at the start failed at the next database restart: no leader.
STATE_PASSWORD = "state.password"
# Nor is the password taken away by one, as the token is not: the sessions open go on, and the
# next one made (a database restart, a failover, a pooler cutting a connection: hours or days
# later) sends none and is refused, on every replica (they read the same Secret): no leader, no
# poll judged, no restart, nothing pointing at the reload. What takes it away is seldom meant: a
# key renamed in the Secret, a Secret made again from a partial list of files, a file emptied by
# a writer that failed half-way (an empty file reads as not set). A switch to certificates changes
# the URL (sslcert, sslkey), a restart anyway; running without one is a choice made at a start.
STATE_PASSWORD_REMOVED = ("state.password (removed: the next database session would log in without a password and be "
                          "refused: no leader, no restart)")
# Secrets a reload would take away: refused, but not because a restart would apply them (a restart
# would start without them, which is what the refusal spares): the note says to put them back.
SECRETS_REMOVED = (TOKEN_REMOVED, STATE_PASSWORD_REMOVED)
# Sections a reload applies in place (`rules` and `clusters` are diffed by name).
LIVE_SECTIONS = ("windows", "breaker", "blocking", "dry_run", "log", "discovery")


@dataclass(frozen=True)
class ConfigDiff:
    rules_added: list[str] = field(default_factory=list)
    rules_removed: list[str] = field(default_factory=list)
    rules_changed: list[str] = field(default_factory=list)
    clusters_added: list[str] = field(default_factory=list)
    clusters_removed: list[str] = field(default_factory=list)
    clusters_changed: list[str] = field(default_factory=list)
    sections_changed: list[str] = field(default_factory=list)  # windows, breaker, blocking, dry_run, log, discovery, server.auth_token, credentials, state.password
    # Credentials (by name, never a value) whose key or secret a reload rotates in place.
    credentials_rotated: list[str] = field(default_factory=list)
    restart_required: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not any(vars(self).values())

    def summary(self) -> dict[str, list[str]]:
        return {name: value for name, value in vars(self).items() if value}

    def logged(self) -> dict[str, list[str] | int]:
        """summary() as a log line carries it: each list of names cut to its first NAMES_LOGGED
        (sorted), with `<field>_count` saying how many there are when it is cut. A reload to
        2,000 rules logged a `config_reloaded` line of 25 KB, every rule's name in `rules_added`."""
        return capped(self.summary())

    def not_applied(self) -> dict[str, list[str] | int]:
        """What a refused reload discards besides the sections that refuse it (for its log line):
        the refusal line named only `credentials`, and the token, the rules and the `dry_run` of
        the same file, thrown away with it, went unsaid. Cut as logged() cuts."""
        return capped({name: value for name, value in self.summary().items() if name != "restart_required"})


# How many names a reload's log line lists of each change (rules added, clusters removed...).
NAMES_LOGGED = 20


def capped(lists: dict[str, list[str]]) -> dict[str, list[str] | int]:
    said: dict[str, list[str] | int] = {}
    for name, values in lists.items():
        said[name] = values[:NAMES_LOGGED]
        if len(values) > NAMES_LOGGED:
            said[f"{name}_count"] = len(values)
    return said


def diff_configs(old: Config, new: Config) -> ConfigDiff:
    old_rules = {r.name: r for r in old.rules}
    new_rules = {r.name: r for r in new.rules}
    rotated = sorted(n for n in old.credentials.keys() & new.credentials.keys() if old.credentials[n] != new.credentials[n])
    return ConfigDiff(
        rules_added=sorted(new_rules.keys() - old_rules.keys()),
        rules_removed=sorted(old_rules.keys() - new_rules.keys()),
        rules_changed=sorted(n for n in old_rules.keys() & new_rules.keys() if old_rules[n] != new_rules[n]),
        clusters_added=sorted(new.clusters.keys() - old.clusters.keys()),
        clusters_removed=sorted(old.clusters.keys() - new.clusters.keys()),
        clusters_changed=sorted(
            n for n in old.clusters.keys() & new.clusters.keys() if old.clusters[n] != new.clusters[n]
        ),
        sections_changed=[s for s in LIVE_SECTIONS if _live_part(old, s) != _live_part(new, s)]
        + (["server.auth_token"] if old.server.auth_token != new.server.auth_token else [])
        + (["credentials"] if rotated else [])
        + ([STATE_PASSWORD] if old.state.password != new.state.password else []),
        credentials_rotated=rotated,
        restart_required=[s for s in RESTART_ONLY_SECTIONS if _restart_part(old, s) != _restart_part(new, s)]
        + (["log.format"] if log_format_in_effect(old) != log_format_in_effect(new) else [])
        + ([TOKEN_REMOVED] if old.server.auth_token is not None and new.server.auth_token is None else [])
        + ([STATE_PASSWORD_REMOVED] if old.state.password is not None and new.state.password is None else []),
    )


def renamed_clusters(old: Config, new: Config, diff: ConfigDiff) -> list[tuple[str, str]]:
    """(old name, new name) of each Confluent Cloud cluster the reload removed under one name and
    added under another (the same environment and lkc- ids: CloudCluster.address); a
    self-managed one has no address to tell it by."""
    added = {new.clusters[name].address: name for name in diff.clusters_added}
    return [(name, added[address]) for name in diff.clusters_removed
            if (address := old.clusters[name].address) and address in added]


def _live_part(config: Config, section: str) -> object:
    """What of a live section a reload applies: of `log`, the level alone (log.format is
    restart-only)."""
    return config.log.level if section == "log" else getattr(config, section)


def _restart_part(config: Config, section: str) -> object:
    """What of a restart-only section a reload cannot apply: of `server`, all but the token,
    which every request reads from the running config. A rotated token refused as a `server`
    change left the old one in force and the new one (Alertmanager's, once its credentials_file
    changed) answered 401 until the process was restarted: every webhook lost meanwhile."""
    if section == "server":
        return config.server.model_copy(update={"auth_token": None})
    if section == "credentials":
        return credentials_shape(config)
    if section == "state":
        return config.state.model_copy(update={"password": None, "path": state_path_in_effect(config.state.path)})
    if section in ("api", "metrics_api"):
        settings = getattr(config, section)
        return settings.model_copy(update={"base_url": base_url_in_effect(str(settings.base_url))})
    return getattr(config, section)


# A restart-only value is compared by its effect where that is certain, not as written: an
# incident edit saved with `./state.db` for `state.db` was refused whole, the edit not in effect.
# `state.path` is joined to the working directory (the daemon never changes it; SQLite opens a
# relative path from there); `..` is kept as written, since through a symlink it may name another
# file. An httpx client's base_url ends in `/` whatever is written (it adds one), so
# `https://host/` and `https://host` send the same requests; one with a query is left as written.
def state_path_in_effect(path: str) -> str:
    if path == ":memory:":  # no file: `./:memory:` would be one
        return path
    try:
        return str(Path.cwd() / path)
    except OSError:  # the working directory removed: as written
        return path


def base_url_in_effect(url: str) -> str:
    return url if url.endswith("/") or "?" in url or "#" in url else url + "/"


def log_is_a_terminal() -> bool:
    """Whether the daemon's log (stdout; stderr when stdout is closed, as logs.configure_logging
    picks) is a terminal: what `log.format: auto` was resolved by at start. The process keeps its
    file descriptors, so the answer now is the one it had then."""
    out = sys.stdout or sys.stderr
    try:
        return out is not None and out.isatty()
    except (OSError, ValueError):
        return False


def log_format_in_effect(config: Config) -> str:
    """`auto` as the start resolved it: console on a terminal, else json. `json` -> `auto` in a
    pod (a line tidied after config.example.yaml) changes nothing the log does; refused, it threw
    away the edit it came with. A `--log-format` given to `run` wins over both (Config.log_format_given):
    the file's line, edited, changes nothing, and is said overridden (file_values_overridden) as a
    variable's is; refused, the edit's other changes were thrown away for a change that did nothing."""
    if config.log_format_given is not None:
        return config.log_format_given
    fmt = config.log.format
    return ("console" if log_is_a_terminal() else "json") if fmt == "auto" else fmt


def credentials_shape(config: Config) -> dict[str, tuple[bool, str]]:
    """What of `credentials` a reload cannot apply: the names, whether each has its pair (a lane
    and its client are made at start for each one that has), and the lane each one's calls go
    through (credentials holding the same key share one). The values themselves rotate at a
    reload: refused, a key rotated in the mounted Secret held back the API token rotated in the
    same update (Alertmanager's webhooks answered 401 until a restart) and every later edit."""
    return {name: (credential.api_key is not None and credential.api_secret is not None, config.lane_of(name))
            for name, credential in config.credentials.items()}


def credentials_reshaped(old: Config, new: Config) -> str:
    """Why a change of `credentials` needs a restart, by names only (for the refusal's line)."""
    before, after = credentials_shape(old), credentials_shape(new)
    both = before.keys() & after.keys()
    parts = [f"{what}: {', '.join(names)}" for what, names in (
        ("added", sorted(after.keys() - before.keys())),
        ("removed", sorted(before.keys() - after.keys())),
        ("key or secret set or unset", sorted(n for n in both if before[n][0] != after[n][0])),
        ("now sharing a key differently", sorted(n for n in both if before[n][0] == after[n][0] and before[n][1] != after[n][1])),
    ) if names]
    return "; ".join(parts) + " (a new key and secret of a credential already named is applied at a reload; this is not)"


# A credential's key and secret, hashed: compared across reloads, never shown or kept as text.
Pair = tuple[str | None, str | None]


def pairs_of(config: Config) -> dict[str, Pair]:
    return {name: (_hashed(c.api_key), _hashed(c.api_secret)) for name, c in config.credentials.items()}


@dataclass(frozen=True)
class Rotations:
    """How a reload's rotated credentials stand. `halves`: name -> (the half changed, the half
    not); `completed`: those a half rotation said before is over for (the pair whole again);
    `whole`: each credential's last pair that was not half rotated, to judge the next reload by."""
    halves: dict[str, tuple[str, str]]
    completed: list[str]
    whole: dict[str, Pair]


def judge_rotations(whole: dict[str, Pair] | None, old: Config, new: Config, rotated: list[str]) -> Rotations:
    """Of the credentials a reload rotated, those of Confluent Cloud whose key changed and secret
    did not, or the other way, judged against `whole` (the last pair of each that was not half
    rotated: the pair at start, or after a whole rotation; None: the old config's). Compared,
    never shown. A Confluent Cloud key comes with its own secret, so this is a Secret half updated
    (a new key id pasted beside the old secret): announced as a rotation like any other, every
    call then answered 401 with no word of why. Judged against the previous config alone, the
    reload that finished a rotation in two steps (the key file, then the secret file: Compose's
    bind mount, one `kubectl patch` per key) or put the key id back was said as a new half
    rotation, "will be refused (401)", while every call was accepted; it is `completed` now.
    A credential only self-managed clusters use is left out: its pair is a basic-auth user and
    password, and a new password for the same user is common. The Metrics API's credential counts
    only when an enabled `stalled` rule calls it or the file names it (`metrics_api.credential`):
    by default it is the only credential configured, and a self-managed-only config's one
    credential (its workers' user and password) counted as a Cloud key, its new password
    announced as a half rotation that "will be refused (401)"."""
    cloud = cloud_credentials(new)
    basic = {cluster.credential for cluster in new.clusters.values() if isinstance(cluster, KafkaConnectCluster)}
    before, after = pairs_of(old), pairs_of(new)
    known = {**before, **(whole or {})}
    judged = {name: known[name] for name in after if name in known}
    halves, completed = {}, []
    for name in rotated:
        if name in basic and name not in cloud:
            judged[name] = after[name]
            continue
        reference = known.get(name, before[name])
        key_changed = reference[0] != after[name][0]
        secret_changed = reference[1] != after[name][1]
        if key_changed != secret_changed:
            halves[name] = ("api_key", "api_secret") if key_changed else ("api_secret", "api_key")
            continue  # judged by the pair before it until the Secret is whole again
        if before[name] != reference:
            completed.append(name)
        judged[name] = after[name]
    return Rotations(halves, completed, judged)


def _hashed(secret: SecretStr | None) -> str | None:
    return None if secret is None else hashlib.sha256(secret.get_secret_value().encode()).hexdigest()


def log_overridden(config: Config) -> None:
    """Say which values of the file a variable or a secret file overrides (at start, and at each
    reload): an edit of one in the file (`dry_run: true` in an incident, beside the live
    overlay's WATCHDOG_DRY_RUN=false) changed nothing, and the reload said `unchanged`. And which
    secret files a variable overrides: a rotated token put in the file changed nothing likewise."""
    if config.overridden:
        log.warning("file_values_overridden", values=config.overridden,
                    note="the command line, the environment and secret files win over the config file: editing these "
                         "there changes nothing")
    if config.secret_files_overridden:
        log.warning("secret_files_overridden", files=config.secret_files_overridden,
                    note="a variable of the same setting is set and wins over the secret file: a new value put in the "
                         "file (a rotated Secret) changes nothing, at a reload or a restart, until the variable is unset")


def file_fingerprint(path: Path, secrets_dir: Path | None = None) -> str | None:
    """A hash of the file's bytes: Kubernetes swaps ConfigMap files through symlinks, so modification
    times are not a reliable sign of change; contents are. None when the file cannot be read.
    Only as much as the loader reads (read_config_head) is hashed, with the size: a file given by mistake (a log) was hashed whole at every look, every `reload.interval`.
    With `secrets_dir`, the files there that the config reads (secret_files_digest) too."""
    try:
        head, size = read_config_head(path)
    except OSError:
        return None
    digest = hashlib.sha256(head + str(size).encode())
    if secrets_dir is not None:
        digest.update(secret_files_digest(secrets_dir))
    return digest.hexdigest()


def secret_files_digest(directory: Path) -> bytes:
    """The names and contents of the files of a secrets directory named like a setting (as far as
    the loader reads them), hashed. Watched with the config file: a ConfigMap naming a new
    credential that Kubernetes updated before the Secret holding its key (each volume is
    updated on its own) was refused as missing that key, and the Secret coming a minute later
    changed nothing until someone sent SIGHUP; a rotated API token was refused (401) likewise.
    Each file is opened without blocking and read only if regular (a FIFO held the open); one
    that cannot be read, or is no regular file, counts by its name alone (regular_file_hash)."""
    digest = hashlib.sha256()
    try:
        entries = sorted(directory.iterdir())
    except OSError:
        return b""
    for entry in entries:
        if not entry.name.lower().startswith(ENV_PREFIX.lower()):
            continue
        digest.update(os.fsencode(entry.name) + b"\0")
        digest.update(regular_file_hash(entry, MAX_SECRET_FILE_BYTES + 1) or b"unreadable")
    return digest.digest()


def tls_digests(config: Config) -> tuple[str, str]:
    """(as the config read them, as they are now): hashes of the TLS files (CA bundle, client
    certificate and key) of the config's self-managed clusters, for the file watcher. A renewed
    certificate or CA mounted from a Secret (cert-manager, trust-manager) changes them in place."""
    clusters = [(name, cluster.tls) for name, cluster in sorted(config.clusters.items())
                if isinstance(cluster, KafkaConnectCluster) and cluster.tls.files]
    read = hashlib.sha256("".join(f"{name}\0{tls.contents}\0" for name, tls in clusters).encode())
    now = hashlib.sha256("".join(f"{name}\0{files_digest(tls.files)}\0" for name, tls in clusters).encode())
    return read.hexdigest(), now.hexdigest()


# How long a changed file must stay as it is before it is read (at most reload.interval).
SETTLE_SECONDS = 1.0
# What the watcher has seen of a config file that is gone or cannot be read (no fingerprint's value).
UNREADABLE = "unreadable"


class ConfigWatcher:
    """Polls the config file and calls `reload` when its contents change and have settled, and
    once when the file goes away or cannot be read (the reload then fails, saying why)."""

    def __init__(
        self, path: Path, reload: Callable[[str], Awaitable[object]], interval: float, seen: str | None = None,
        secrets_dir: Path | None = None, tls: Callable[[], tuple[str, str]] | None = None,
    ) -> None:
        """`seen`: the fingerprint of the file (and the secret files of `secrets_dir`) as the
        running config was read from them. Taken when the watcher starts instead, an edit made
        while the daemon started (the state file opened, the lead taken, the first discovery) was
        never applied: the file already read as seen. `tls`: the running config's tls_digests;
        the TLS files changing from what it read reloads too (once per change: a reload that
        fails on them is not tried again until they change again)."""
        self._tls = tls
        self._tls_tried: str | None = None
        self._path = path
        self._secrets_dir = secrets_dir
        self._reload = reload
        self._interval = interval
        self._seen = seen if seen is not None else file_fingerprint(path, secrets_dir)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="config-watcher")

    async def _settled(self, current: str) -> str | None:
        """The fingerprint once the file has stayed the same for SETTLE_SECONDS (or
        reload.interval, if shorter); None if it went away meanwhile. An editor that writes in
        place (truncate, then write: nano, a bind-mounted file edited on the host) leaves the file
        cut short for a moment, and a cut that is valid YAML is a valid config: read then, a file
        cut after `max_restarts:` applied no budget at all, another cut dropped the second rule
        and its queued restarts (found by a reload probe: 129 of the 847 cuts of a two-rule
        config were valid). Kubernetes swaps a ConfigMap's files at once, and pays a second."""
        while True:
            await asyncio.sleep(min(self._interval, SETTLE_SECONDS))
            again = file_fingerprint(self._path, self._secrets_dir)
            if again == current or again is None:
                return again
            current = again

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            current = file_fingerprint(self._path, self._secrets_dir)
            if current is None:
                if self._seen != UNREADABLE and await self._still_unreadable():
                    # Once per disappearance: the reload reads the file, fails naming its path and
                    # why (`does not exist`, `is not a file`, `cannot read`), and counts it (the
                    # gauge to 0, WatchdogConfigReloadFailing). Skipped without a word, a ConfigMap
                    # key renamed left the gauge at 1 and the daemon on its old config, and the next
                    # start (any rollout) refused to start.
                    self._seen = UNREADABLE
                    await self._reload_guarded("file gone or unreadable")
                continue
            if current != self._seen:
                current = await self._settled(current)
            if current is None:
                continue
            tls = self._tls_changed()
            if current != self._seen or tls is not None:
                reason = "file changed" if current != self._seen else "TLS file changed"
                self._seen, self._tls_tried = current, tls or self._tls_tried
                await self._reload_guarded(reason)

    def _tls_changed(self) -> str | None:
        """The TLS files' digest now, when it differs from what the running config read and was
        not tried yet. No settling wait: the kubelet swaps a Secret's files at once, and a file
        cut short is no PEM, which the reload refuses (the running config stays)."""
        if self._tls is None:
            return None
        read, now = self._tls()
        if now == read or now == self._tls_tried:
            return None
        return now

    async def _still_unreadable(self) -> bool:
        """Whether the file is still gone a moment later (SETTLE_SECONDS, or reload.interval if
        shorter): an editor that deletes the file before writing it anew is not a failed reload."""
        await asyncio.sleep(min(self._interval, SETTLE_SECONDS))
        return file_fingerprint(self._path, self._secrets_dir) is None

    async def _reload_guarded(self, reason: str) -> None:
        try:
            await self._reload(reason)
        except Exception:
            # The watcher outlives any reload: a dead watcher would ignore every later
            # edit until someone sent SIGHUP.
            log.exception("config_watch_reload_failed", path=str(self._path),
                          note="the watcher goes on; later edits are still picked up")
