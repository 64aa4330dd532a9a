"""What the Confluent Cloud API says exists: environments (`GET /org/v2/environments`) and Kafka
clusters (`GET /cmk/v2/clusters?environment=...`), read page by page.

Pure: JSON in, values out. Read leniently, as every answer from a service we do not control:
unknown fields are ignored, an entry that cannot be read is skipped (and counted) rather than
failing its whole page, but a page whose shape is wrong fails, because a listing we could not
read whole must never be taken for a listing of fewer clusters.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar
from urllib.parse import parse_qs, urlsplit

from ..config import KAFKA_CLUSTER_ID_PREFIX, NAME_PATTERN

T = TypeVar("T")

# The cmk/v2 spec's phases (an extensible enum: others may come). A cluster is watched unless its
# phase is one the spec says serves nothing yet: connectors cannot exist on a cluster still being
# PROVISIONING, and one whose provisioning FAILED never will have any. The assumption, written
# down: any other phase (one the spec does not list yet, UPDATING say, or none at all, `status`
# left out by a gateway) is a cluster that serves. Taken the other way (ready only when exactly
# PROVISIONED), a live cluster in a new phase went unwatched, silently, at every restart of the
# daemon: "was ready once" lives only in memory (found 2026-12-07 by a black-box probe). Watching
# a cluster that serves nothing yet costs a failing poll; not watching a live one costs its
# connectors' healing. Such a phase is said once at warning (`discovery_cluster_phase_unknown`).
READY_PHASE = "PROVISIONED"
NOT_READY_PHASES = frozenset({"PROVISIONING", "FAILED"})
KNOWN_PHASES = NOT_READY_PHASES | {READY_PHASE}
# Display names are shown in logs, tables and one info metric's label; longer ones are cut.
MAX_DISPLAY_NAME_CHARS = 128
_NAME = re.compile(NAME_PATTERN)
_ENVIRONMENT_ID = re.compile(r"^[A-Za-z0-9_-]{1,255}$")


@dataclass(frozen=True, slots=True)
class FoundEnvironment:
    id: str
    # None when the environments were not listed (ids only), or when the answer gave no name:
    # display_name is optional in org/v2's Environment, and a missing one must not rename the
    # environment to its id (its clusters were dropped at once by a `names:` selection).
    display_name: str | None


@dataclass(frozen=True, slots=True)
class FoundCluster:
    id: str  # lkc-...; also its name in the daemon
    environment_id: str
    display_name: str
    phase: str  # status.phase as answered (made printable, cut as display names are); "" when none
    # metadata.deleted_at as answered (printable, bounded); "" when not set. "The date and time at
    # which this object was (or will be) deleted": see `deleted_by`.
    deleted_at: str = ""

    @property
    def ready(self) -> bool:
        return self.phase not in NOT_READY_PHASES

    @property
    def phase_known(self) -> bool:
        """Whether its phase is one the cmk/v2 spec lists (an unknown or missing one is taken as
        serving: see NOT_READY_PHASES)."""
        return self.phase in KNOWN_PHASES

    def deleted_by(self, now: float) -> bool:
        """Whether it is being deleted at `now` (Unix seconds): its deleted_at has come, or cannot
        be read (then it is taken as going now). One set to go later is still there: it stays
        watched until then (taken as gone at once, it lost its polls and restarts weeks early)."""
        if not self.deleted_at:
            return False
        try:
            moment = datetime.fromisoformat(self.deleted_at)
        except ValueError:
            return True
        if moment.tzinfo is None:
            return True
        return moment.timestamp() <= now


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: tuple[T, ...]
    next_token: str | None  # None: the last page
    skipped: int = 0  # entries that could not be read
    # Of those, the ids they named (an entry of another environment, one whose phase or name
    # could not be read), and how many named no id that could be read at all (`id: null`, an
    # entry that is no object). A cluster known before is not counted missing from a listing that
    # skipped an entry naming it, nor from one that skipped an entry naming none, which may be
    # any of them: taken for a listing without them, a cmk/v2 answer whose entries came with
    # `id: null` (a schema change, a gateway rewriting it) dropped every discovered cluster of the
    # environment after two refreshes (found 2026-12-06 against an independent fake of cmk/v2).
    skipped_ids: frozenset[str] = frozenset()
    unnamed: int = 0


def parse_page(data: Any, parse_item: Callable[[Any], T | None]) -> Page[T]:
    """One page of a list answer (`{"data": [...], "metadata": {"next": URL}}`). ValueError when
    the page itself cannot be read: then the whole listing has failed."""
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        raise ValueError("the list answer has no `data` array")
    items: list[T] = []
    skipped = 0
    skipped_ids: set[str] = set()
    unnamed = 0
    for entry in data["data"]:
        item = parse_item(entry)
        if item is not None:
            items.append(item)
            continue
        skipped += 1
        named = entry.get("id") if isinstance(entry, dict) else None
        if isinstance(named, str) and _NAME.fullmatch(named):
            skipped_ids.add(named)
        else:
            unnamed += 1
    return Page(tuple(items), next_page_token(data.get("metadata")), skipped, frozenset(skipped_ids), unnamed)


def next_page_token(metadata: Any) -> str | None:
    """The page token of `metadata.next`, or None when there is no next page (absent, null or
    empty, as the Terraform provider reads it). Only the token is taken from the URL: the next
    call goes to our own base URL, never to a host an answer names (the key would go with it).
    A `next` without a token is an error, not an end: it would silently cut the listing short."""
    if metadata is None:
        return None
    if not isinstance(metadata, dict):
        raise ValueError("the list answer's `metadata` is not an object")
    link = metadata.get("next")
    if link is None or link == "":
        return None
    if not isinstance(link, str):
        raise ValueError("metadata.next is not a string")
    tokens = parse_qs(urlsplit(link).query).get("page_token") or []
    if not tokens or not tokens[0]:
        raise ValueError("metadata.next has no page_token")
    return tokens[0]


def parse_environment(entry: Any) -> FoundEnvironment | None:
    if not isinstance(entry, dict):
        return None
    identifier = entry.get("id")
    if not isinstance(identifier, str) or not _ENVIRONMENT_ID.fullmatch(identifier):
        return None
    name = entry.get("display_name")
    return FoundEnvironment(identifier, _display(name) if isinstance(name, str) and name else None)


def cluster_parser(environment_id: str) -> Callable[[Any], FoundCluster | None]:
    """Reads the entries of `GET /cmk/v2/clusters?environment={environment_id}`."""

    def parse(entry: Any) -> FoundCluster | None:
        if not isinstance(entry, dict):
            return None
        identifier = entry.get("id")
        if not isinstance(identifier, str) or len(identifier) > 63 or not _NAME.fullmatch(identifier):
            # Its id becomes its name in metrics, logs and the state file: it must be one.
            return None
        if not identifier.startswith(KAFKA_CLUSTER_ID_PREFIX):
            # The spec's id is a free string; only the lkc- shape keeps a discovered cluster's name
            # apart from the configured ones (config refuses a configured lkc- name that is not
            # that very cluster). Taken as it came, an id `orders` replaced the configured
            # cluster `orders`: its rules, state and restarts went to another cluster.
            return None
        metadata = _object(entry.get("metadata"))
        deleted_at = metadata.get("deleted_at")
        spec = _object(entry.get("spec"))
        environment = spec.get("environment")
        answered = environment.get("id") if isinstance(environment, dict) else None
        if answered is not None and answered != environment_id:
            # The environment filter was not applied: whose cluster this is cannot be trusted.
            return None
        status = _object(entry.get("status"))
        phase = status.get("phase")
        name = spec.get("display_name")
        return FoundCluster(
            id=identifier,
            environment_id=environment_id,
            display_name=_display(name) if isinstance(name, str) and name else identifier,
            # Shown by check-config --discover and in discovery's log lines: printable, bounded.
            phase=_display(phase) if isinstance(phase, str) else "",
            # Any value but null or "" is a deletion (one that cannot be read: going now). The
            # inventory takes a cluster being deleted as not listed: it follows the
            # missing-then-dropped path (two refreshes) instead of being polled while it goes.
            deleted_at="" if deleted_at is None or deleted_at == "" else _display(str(deleted_at)),
        )

    return parse


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _display(name: str) -> str:
    """A display name safe to log and to use as a label value: printable, bounded."""
    printable = "".join(c if c.isprintable() else "?" for c in name)
    return printable[:MAX_DISPLAY_NAME_CHARS]
