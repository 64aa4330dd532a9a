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
from typing import Any, Generic, TypeVar
from urllib.parse import parse_qs, urlsplit

from ..config import NAME_PATTERN

T = TypeVar("T")

# The cmk/v2 spec's phases (an extensible enum: others may come). Only a PROVISIONED cluster is
# watched: connectors cannot exist on a cluster still being created, and one whose provisioning
# FAILED never will have any.
READY_PHASE = "PROVISIONED"
# Display names are shown in logs, tables and one info metric's label; longer ones are cut.
MAX_DISPLAY_NAME_CHARS = 128
_NAME = re.compile(NAME_PATTERN)
_ENVIRONMENT_ID = re.compile(r"^[A-Za-z0-9_-]{1,255}$")


@dataclass(frozen=True, slots=True)
class FoundEnvironment:
    id: str
    display_name: str | None  # None when the environments were not listed (ids only)


@dataclass(frozen=True, slots=True)
class FoundCluster:
    id: str  # lkc-...; also its name in the daemon
    environment_id: str
    display_name: str
    phase: str  # status.phase as answered; "" when the answer had none

    @property
    def ready(self) -> bool:
        return self.phase == READY_PHASE


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: tuple[T, ...]
    next_token: str | None  # None: the last page
    skipped: int = 0  # entries that could not be read


def parse_page(data: Any, parse_item: Callable[[Any], T | None]) -> Page[T]:
    """One page of a list answer (`{"data": [...], "metadata": {"next": URL}}`). ValueError when
    the page itself cannot be read: then the whole listing has failed."""
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        raise ValueError("the list answer has no `data` array")
    items: list[T] = []
    skipped = 0
    for entry in data["data"]:
        item = parse_item(entry)
        if item is None:
            skipped += 1
        else:
            items.append(item)
    return Page(tuple(items), next_page_token(data.get("metadata")), skipped)


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
    return FoundEnvironment(identifier, _display(name) if isinstance(name, str) and name else identifier)


def cluster_parser(environment_id: str) -> Callable[[Any], FoundCluster | None]:
    """Reads the entries of `GET /cmk/v2/clusters?environment={environment_id}`."""

    def parse(entry: Any) -> FoundCluster | None:
        if not isinstance(entry, dict):
            return None
        identifier = entry.get("id")
        if not isinstance(identifier, str) or len(identifier) > 63 or not _NAME.fullmatch(identifier):
            # Its id becomes its name in metrics, logs and the state file: it must be one.
            return None
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
            phase=phase if isinstance(phase, str) else "",
        )

    return parse


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _display(name: str) -> str:
    """A display name safe to log and to use as a label value: printable, bounded."""
    printable = "".join(c if c.isprintable() else "?" for c in name)
    return printable[:MAX_DISPLAY_NAME_CHARS]
