"""`watchdog check-config`'s view of discovery: its settings, and with `--discover` what it would
watch right now, from one round of list calls (the environments, then each selected one's
clusters) and nothing else: no poll, no restart, no state file.

The key is often the daemon's too, so a 429 is likely just when an operator runs this in an
incident: a page refused by a failure that passes (a 429, a 5xx, the network) is asked for again
after the wait its answer asked for (Retry-After, X-RateLimit-Reset, as the daemon's limiter reads
them) or a short backoff, each wait said on stderr, at most MAX_RETRIES times and
DEADLINE_SECONDS of waiting in all; a wait longer than what is left is not begun: the command
says so and answers with what it could read. One 429 failed the command before."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
from prometheus_client import CollectorRegistry

from ..clients import cloud_client
from ..config import CloudCluster, Config, another_keys_question
from ..connect import ApiResult, Gateway
from ..connect.transfer import CallLimits
from ..engine import utc_now
from ..logs import printable
from ..metrics import Metrics
from ..model import Outcome
from ..ratelimit import Pause, RateLimiter
from .client import DiscoveryClient
from .fleet import Fleet, static_cluster_ids, static_elsewhere
from .inventory import ClusterState, EnvironmentOutcome
from .metrics import DiscoveryMetrics


def settings_summary(config: Config) -> list[str]:
    """The discovery section in one or two lines (check-config without --discover)."""
    settings = config.discovery
    if settings is None:
        return []
    selection = settings.environments
    if selection.everything:
        where = "every environment the key can see"
    else:
        parts = ([", ".join(selection.ids)] if selection.ids else []) + (
            [f"those named {' or '.join(selection.names)}"] if selection.names else [])
        where = "environments " + " and ".join(parts)
    clusters = f"include {','.join(settings.clusters.include)}"
    if settings.clusters.exclude:
        clusters += f"; exclude {','.join(settings.clusters.exclude)}"
    minutes = f"{settings.interval / 60:g}m" if settings.interval % 60 == 0 else f"{settings.interval:g}s"
    return [f"discovery: {where}; clusters {clusters}; credential {config.credential_for(settings)}; every {minutes}",
            "  (watchdog check-config --discover lists what it would watch now)"]


# Pages asked for again after a failure that passes, in all, and the seconds spent waiting for
# them in all: the command answers within about this (plus the calls' own timeouts), never hangs.
MAX_RETRIES = 4
DEADLINE_SECONDS = 30.0
# The wait before asking again when the answer asked for none (a 5xx, the network): doubling.
FIRST_BACKOFF_SECONDS = 1.0
_PASSING = frozenset({Outcome.RATE_LIMITED, Outcome.SERVER_ERROR, Outcome.NETWORK_ERROR})
_SOURCES = {"retry_after": "its Retry-After", "reset": "its X-RateLimit-Reset"}


class Patience:
    """When a page of a listing is asked for again, and what is said on `say` (stderr)."""

    def __init__(self, limiter: RateLimiter, say: Callable[[str], object]) -> None:
        self._limiter = limiter
        self._say = say
        self._ends: float | None = None
        self._declined = False  # a page was not asked, the key paused too long (said once)
        self.retried = 0

    def _left(self) -> float:
        """Seconds of waiting left, counted from the first wait met."""
        now = asyncio.get_running_loop().time()
        if self._ends is None:
            self._ends = now + DEADLINE_SECONDS
        return self._ends - now

    def may_wait(self, seconds: float, what: str) -> bool:
        """Whether a page is sent though the key is paused for `seconds` (the pause is waited
        out before it goes): not when that is longer than what is left to wait, said once."""
        left = self._left()
        if seconds <= left:
            return True
        if not self._declined:
            self._say(f"{what}: not asked: the API key is paused for {seconds:.0f} s more, longer than the "
                      f"{max(0.0, left):.0f} s left of the {DEADLINE_SECONDS:g} s this command waits in all; the "
                      f"listings after it are not asked either (try again in {seconds:.0f} s)")
        self._declined = True
        return False

    async def __call__(self, result: ApiResult[Any], pause: Pause | None, what: str) -> bool:
        if result.outcome not in _PASSING:
            return False  # a 401, a 403, a 404 or an answer that cannot be read: asking again cannot help
        left = self._left()  # the deadline counts from the first failure (or pause) met
        failed = f"{what}: {result.outcome.value}" + (f" ({result.status_code})" if result.status_code else "")
        if self.retried >= MAX_RETRIES:
            self._say(f"{failed}; not asked again: {MAX_RETRIES} tries again already made (at most {MAX_RETRIES})")
            return False
        waited = max(self._limiter.paused_for(), pause.seconds if pause is not None else 0.0)
        asked = _SOURCES.get(pause.source) if pause is not None else None
        if waited > 0 and asked is not None:
            why = f"the API asked to wait {waited:.1f} s ({asked})"
        elif waited > 0:  # a 429 that said not how long: the limiter's own backoff, as the daemon waits
            why = f"the answer said not how long to wait: the rate limiter's backoff, {waited:.1f} s"
        else:
            waited = FIRST_BACKOFF_SECONDS * 2 ** self.retried
            why = "no wait asked for, backing off"
        if waited > left:
            self._say(f"{failed}; {why}, longer than the {max(0.0, left):.0f} s left of the {DEADLINE_SECONDS:g} s "
                      f"this command waits in all: not asked again (try again in {waited:.0f} s)")
            return False
        self.retried += 1
        self._say(f"{failed}; {why}: waiting {waited:.1f} s before asking again "
                  f"(try {self.retried + 1}, at most {MAX_RETRIES + 1}; at most {DEADLINE_SECONDS:g} s of waiting in all)")
        await asyncio.sleep(waited)
        return True


async def discover_once(config: Config, transport: httpx.AsyncBaseTransport | None = None,
                        say: Callable[[str], object] = lambda _: None) -> tuple[bool, str]:
    """One round of discovery's list calls, a page refused by a failure that passes asked for
    again within bounds (Patience; each wait said on `say`). Returns (whether every selected
    environment could be read, the text to print)."""
    settings = config.discovery
    assert settings is not None
    credential = config.credential_for(settings)
    assert credential is not None  # cross_check requires one
    metrics = Metrics(CollectorRegistry())
    limiter = RateLimiter(credential, config.rate_limit, observer=metrics)
    patience = Patience(limiter, say)
    async with cloud_client(config, config.credentials[credential], transport) as http:
        client = DiscoveryClient(http, Gateway(limiter, metrics), CallLimits(config.api.timeouts.total, config.api.max_response_bytes),
                                 patience)
        fleet = Fleet(config, DiscoveryMetrics(metrics.registry), utc_now)
        refresh = await fleet.refresh(client, settings)
    return refresh.result == "ok", render(config, fleet, refresh.calls + client.calls_again)


def _another_key(config: Config, name: str) -> str:
    """config.another_keys_question, after the verdict's "; " (where it asks anything)."""
    question = another_keys_question(config, name)
    return f"; {question}" if question else ""


def render(config: Config, fleet: Fleet, calls: int) -> str:
    refresh = fleet.last
    assert refresh is not None and config.discovery is not None
    settings = config.discovery
    lines = [f"discovery now ({calls} list call(s), nothing else): {refresh.result}"]
    if refresh.sweep.failure is not None:
        lines.append(f"  the environments could not be listed: {printable(refresh.sweep.failure)}")
        return "\n".join(lines)
    static = static_cluster_ids(config)
    static_names = {c.kafka_cluster_id: name for name, c in config.clusters.items() if isinstance(c, CloudCluster)}
    inventory = fleet.inventory
    elsewhere = static_elsewhere(config, inventory)
    for result in refresh.sweep.results:
        environment = result.environment
        name = inventory.environment_names.get(environment.id)
        shown = f"{environment.id} ({printable(name)})" if name and name != environment.id else environment.id
        if result.outcome is EnvironmentOutcome.READ:
            # Entries it could not read: a user checking what would be watched learned nothing of
            # them (the daemon says them: discovery_entries_unreadable).
            skipped = (f", and {result.skipped} entr{'y' if result.skipped == 1 else 'ies'} it could not read, "
                       "skipped (no usable lkc- id, or another environment's)") if result.skipped else ""
            lines.append(f"  ENVIRONMENT {shown}: {len(result.clusters)} cluster(s){skipped}")
        elif result.outcome is EnvironmentOutcome.GONE:
            lines.append(f"  ENVIRONMENT {shown}: refused ({printable(result.detail)}); the key needs a role there")
        else:
            lines.append(f"  ENVIRONMENT {shown}: could not be read ({printable(result.detail)})")
        width = max((len(c.id) for c in result.clusters), default=0)
        display = max((len(c.display_name) for c in result.clusters), default=0)
        for cluster in sorted(result.clusters, key=lambda c: c.id):
            state = inventory.state_of(cluster.id, settings, static)
            verdict = {
                ClusterState.WATCHED: "watched, as " + cluster.id,
                ClusterState.EXCLUDED: "excluded by discovery.clusters",
                ClusterState.NOT_READY: f"not watched until PROVISIONED (phase {cluster.phase or 'unknown'})",
                ClusterState.STATIC: f"watched as clusters.{static_names.get(cluster.id, '?')} (the static entry wins)",
            }.get(state, "not watched") if state is not None else "not watched"
            entry = config.clusters.get(static_names.get(cluster.id, ""))
            if state is ClusterState.STATIC and isinstance(entry, CloudCluster) and static_names[cluster.id] in elsewhere:
                verdict += f"; {elsewhere[static_names[cluster.id]]}: its polls go to {entry.environment_id}"
            if state is ClusterState.STATIC and isinstance(entry, CloudCluster):
                verdict += _another_key(config, static_names[cluster.id])
            if state is ClusterState.WATCHED and not cluster.phase_known:
                verdict += (f" (phase {printable(cluster.phase)!r}" if cluster.phase else " (no phase") + \
                    ": not one the cmk/v2 spec lists, taken as serving)"
            if cluster.deleted_at:
                verdict += f" (being deleted: metadata.deleted_at {cluster.deleted_at})"
            lines.append(f"    {cluster.id:<{width}}  {printable(cluster.display_name):<{display}}  {verdict}")
    if refresh.sweep.skipped:
        count = refresh.sweep.skipped
        lines.append(f"  the environment list had {count} entr{'y' if count == 1 else 'ies'} it could not read, "
                     "skipped (no usable id)")
    if refresh.sweep.listed is not None and not refresh.sweep.listed:
        lines.append("  the key sees no environment: it has no role on any (Operator, or EnvironmentAdmin on each)")
    for glob, why in refresh.sweep.unmatched:
        lines.append(f"  names glob {glob!r} selects no environment: {why}")
    watched = fleet.inventory.watched(settings, static)
    lines.append(f"would watch {len(watched)} discovered cluster(s) and {len(config.clusters)} configured one(s)")
    return "\n".join(lines)
