"""Names in URL paths. A connector's name becomes one path segment of the request URL, and no
name may change which resource the URL addresses."""

from __future__ import annotations

from urllib.parse import quote


def path_segment(value: str) -> str:
    """`value` as one path segment: every reserved character percent-encoded (`/` included),
    and a segment of only dots encoded as `%2E`s. HTTP clients (httpx among them) and servers
    remove `.` and `..` segments, so a connector named `..` would otherwise restart
    `.../clusters/lkc-1/restart`, or step out of a Kafka Connect URL's path prefix."""
    if value and set(value) == {"."}:
        return "%2E" * len(value)
    return quote(value, safe="")
