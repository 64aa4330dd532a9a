"""Reading the rate-limit headers of an answer: X-RateLimit-* (or the Metrics API's rateLimit-*)
and Retry-After. Malformed or negative values are ignored, never fatal: a server we did not write
may send anything, and a header we cannot read is simply no information.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime


@dataclass(frozen=True, slots=True)
class RateLimitHeaders:
    limit: int | None = None
    remaining: int | None = None
    reset: float | None = None  # seconds from the response
    retry_after: float | None = None  # seconds from the response

    @property
    def present(self) -> bool:
        return self.limit is not None or self.remaining is not None or self.reset is not None


def _non_negative_int(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        number = int(value.strip())
    except ValueError:
        return None
    return number if number >= 0 else None


def _non_negative_seconds(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        number = float(value.strip())
    except ValueError:
        return None
    return number if math.isfinite(number) and number >= 0 else None


def _retry_after(value: str | None, now: datetime) -> float | None:
    """Retry-After is delta-seconds or an HTTP-date (RFC 9110 10.2.3); anything else is ignored."""
    seconds = _non_negative_seconds(value)
    if seconds is not None or value is None:
        return seconds
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - now).total_seconds())


def parse_headers(
    headers: Mapping[str, str], now: datetime | None = None, *, prefix: str = "x-ratelimit-"
) -> RateLimitHeaders:
    """Read the rate-limit headers; malformed or negative values are ignored, never fatal.

    `prefix` names the family: Confluent Cloud's `X-RateLimit-*`, or the Metrics API's
    `rateLimit-*` (pass "ratelimit-"; header names are case-insensitive).
    """
    return RateLimitHeaders(
        limit=_non_negative_int(headers.get(f"{prefix}limit")) or None,  # a limit of 0 is nonsense
        remaining=_non_negative_int(headers.get(f"{prefix}remaining")),
        reset=_non_negative_seconds(headers.get(f"{prefix}reset")),
        retry_after=_retry_after(headers.get("retry-after"), now or datetime.now(timezone.utc)),
    )


@dataclass(frozen=True, slots=True)
class Pause:
    seconds: float
    source: str  # retry_after, reset, backoff
    capped_from: float | None = None  # what the server asked for, when it was over max_pause
