"""Reading the rate-limit headers of an answer: X-RateLimit-* (or the Metrics API's rateLimit-*)
and Retry-After. Malformed or negative values are ignored, never fatal: a server we did not
write may send anything, and a header we cannot read is simply no information. Integers past
MAX_HEADER_INT are no reading either; a Reset or Retry-After of hours or years is read, and the
limiter holds calls for it at most `rate_limit.max_pause` (the server said to wait: we wait as
long as we ever do, and say so).

Confluent documents X-RateLimit-Reset in relative seconds; some APIs send the Unix time the
period ends instead (GitHub's x-ratelimit-reset). Read as seconds, such a value held every call
for `max_pause` and, on every answer, set the pace to the limit per `max_pause`. A value no
relative Reset can have (10^9 seconds is 31 years) is therefore read as a Unix time, and one
from 10^12 as a Unix time in milliseconds. A Unix time, like an HTTP-date Retry-After, is read
against the answer's own Date header when it has one: the server's clock, so that a skew
between its clock and ours does not move the pause; else against our clock.

A header may also be a list (RFC 9110 5.3: a field sent twice, or joined by a proxy, reads as
"v1, v2"), and X-RateLimit-Limit may carry quota policies after the limit: Envoy's rate-limit
filter sends `X-RateLimit-Limit: 10, 10;w=1, 1000;w=3600` (draft-polli-ratelimit-headers-00/03:
the limit that applies now, then each policy). Read as one integer, either lost the limit. The
first member's number is the limit (the one that applies now); of a list of Remaining values the
least, and of Resets and Retry-After seconds the longest, since each may be the one that binds.

A gateway may name the fields as the IETF draft does, without the `X-`: `RateLimit-Limit`,
`RateLimit-Remaining`, `RateLimit-Reset` (draft-ietf-httpapi-ratelimit-headers up to -06; Kong's
rate-limiting plugin, GitLab, Microsoft's Dev Proxy send them). Confluent's own names win: where
none of the three `X-RateLimit-*` fields is there, the three unprefixed ones are read instead,
as a family, never one field of each (a gateway's count beside the server's would mix two
budgets). Read as nothing, a key behind such a gateway was never paced by its headers. The
draft's later revisions fold them into one structured field, `RateLimit` (with
`RateLimit-Policy`): read last, by structured.py.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import TypeVar

from .structured import structured_fields

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RateLimitHeaders:
    limit: int | None = None
    remaining: int | None = None
    reset: float | None = None  # seconds from the response
    retry_after: float | None = None  # seconds from the response

    @property
    def present(self) -> bool:
        return self.limit is not None or self.remaining is not None or self.reset is not None


# No limit or Remaining comes near this; a larger one is nonsense, not information. Beyond it a
# value no longer fits a float: `X-RateLimit-Limit: 1` with 400 zeros, read as an integer, made
# the limit gauge raise OverflowError, and the restart that carried it (answered 202) ended
# `network_error` with nothing counted.
MAX_HEADER_INT = 2**53


def _non_negative_int(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        number = int(value.strip())
    except ValueError:
        return None
    return number if 0 <= number <= MAX_HEADER_INT else None


def _non_negative_seconds(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        number = float(value.strip())
    except ValueError:
        return None
    return number if math.isfinite(number) and number >= 0 else None


def _members(value: str | None) -> list[str]:
    """A list-valued field's members, each without its parameters (`10;w=1` is 10)."""
    return [] if value is None else [member.split(";", 1)[0] for member in value.split(",")]


def _limit(value: str | None) -> int | None:
    """The first member: the limit that applies now (module docstring). 0 is nonsense: unknown."""
    members = _members(value)
    return (_non_negative_int(members[0]) or None) if members else None


def _every(value: str | None, read: Callable[[str], T | None]) -> list[T] | None:
    """Every member read, or None if any cannot be (a list we cannot read whole may hide the
    value that binds)."""
    numbers = [read(member) for member in _members(value)]
    known = [n for n in numbers if n is not None]
    return known if known and len(known) == len(numbers) else None


def _remaining(value: str | None) -> int | None:
    """The least of the values (module docstring)."""
    numbers = _every(value, _non_negative_int)
    return None if numbers is None else min(numbers)


def _longest_seconds(value: str | None) -> float | None:
    """The longest of the values (module docstring)."""
    numbers = _every(value, _non_negative_seconds)
    return None if numbers is None else max(numbers)


# A Reset at least this large is a Unix time in seconds, and from the second in milliseconds.
UNIX_TIME_FROM = 1e9
UNIX_MILLISECONDS_FROM = 1e12


def _reset(value: str | None, answered_at: Callable[[], datetime]) -> float | None:
    """Relative seconds, or a Unix time (module docstring) made relative to the answer's time."""
    seconds = _longest_seconds(value)
    if seconds is None or seconds < UNIX_TIME_FROM:
        return seconds
    if seconds >= UNIX_MILLISECONDS_FROM:
        seconds /= 1000.0
    return max(0.0, seconds - answered_at().timestamp())


def _retry_after(value: str | None, answered_at: Callable[[], datetime]) -> float | None:
    """Retry-After is delta-seconds or an HTTP-date (RFC 9110 10.2.3); anything else is ignored."""
    seconds = _longest_seconds(value)
    if seconds is not None or value is None:
        return seconds
    when = _http_date(value)  # before any list: an HTTP-date has a comma of its own
    return None if when is None else max(0.0, (when - answered_at()).total_seconds())


def _http_date(value: str) -> datetime | None:
    """An HTTP-date in any of its three forms (RFC 9110 5.6.7: a recipient must accept them all),
    else None. Every HTTP-date is GMT: the asctime form names no zone, and Python reads it (and a
    zone of -0000) as naive, which is taken as UTC here; ignored, a 429's `Retry-After: Sun Nov  6
    08:49:37 1994` left the pause to our own backoff."""
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        # OverflowError: a field of more digits than a C long (`Sun, 06 Nov 1994
        # 99999999999999999999:49:37 GMT`); past every caller, a restart answered 429 or 202
        # with such a Retry-After (or Date, beside a Unix-time Reset) ended `network_error`.
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=timezone.utc)


CONFLUENT_PREFIX = "x-ratelimit-"
IETF_DRAFT_PREFIX = "ratelimit-"
FIELDS = ("limit", "remaining", "reset")


def parse_headers(
    headers: Mapping[str, str], now: datetime | None = None, *, prefix: str = CONFLUENT_PREFIX
) -> RateLimitHeaders:
    """Read the rate-limit headers; malformed or negative values are ignored, never fatal.

    `prefix` names the family: Confluent Cloud's `X-RateLimit-*` (or, where none of those is
    there, the IETF draft's `RateLimit-*`), or the Metrics API's `rateLimit-*` (pass
    "ratelimit-"; header names are case-insensitive, lower case in a plain dict). `now`: when the answer
    came, for a Unix-time Reset or an HTTP-date Retry-After in an answer without a Date header
    (default: our clock).
    """

    def answered_at() -> datetime:
        # The server's clock (Date) when a value needs a time at all, which most answers' do not.
        return _http_date(headers.get("date", "")) or now or datetime.now(timezone.utc)

    fields = {field: headers.get(f"{prefix}{field}") for field in FIELDS}
    if prefix == CONFLUENT_PREFIX and all(value is None for value in fields.values()):
        # The IETF draft's names, as a family (module docstring); its later structured fields
        # (`RateLimit: "burst";r=50;t=30`, structured.py) where the older three are not there either.
        fields = {field: headers.get(f"{IETF_DRAFT_PREFIX}{field}") for field in FIELDS}
        if all(value is None for value in fields.values()):
            fields = structured_fields(headers)
    return RateLimitHeaders(
        limit=_limit(fields["limit"]),
        remaining=_remaining(fields["remaining"]),
        reset=_reset(fields["reset"], answered_at),
        retry_after=_retry_after(headers.get("retry-after"), answered_at),
    )


@dataclass(frozen=True, slots=True)
class Pause:
    seconds: float
    source: str  # retry_after, reset, backoff
    capped_from: float | None = None  # what the server asked for, when it was over max_pause

    @property
    def at_hint(self) -> bool:
        """It ends where the server said capacity is back (its Retry-After or Reset, in full), not
        where a backoff of ours or the max_pause cap put it."""
        return self.source != "backoff" and self.capped_from is None
