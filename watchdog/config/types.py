"""Field types shared by every section: durations, names, URLs, time zones, and `Strict`, the base
of every section (unknown keys are errors, values are frozen)."""

from __future__ import annotations

import ipaddress
import math
import re
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import SplitResult, parse_qs, urlsplit

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from ..windows.zones import zone_named

NAME_PATTERN = r"^[a-z0-9]([a-z0-9_.-]*[a-z0-9])?$"

# No duration in the config may be longer than this. Longer ones are typos (`99999999999999`,
# `.inf`) that would pass validation and then overflow the scheduler's or the clock's arithmetic
# at run time; a year is more than any interval, backoff, pause or history age needs.
MAX_DURATION_SECONDS = 366 * 86400.0

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(value: Any) -> Any:
    """`90`, `90s`, `1m30s`, `2h`, `500ms` -> seconds as float. Other types go to pydantic."""
    if isinstance(value, bool):
        raise ValueError("expected a duration like 30s, 5m or 1h, not a boolean")
    if isinstance(value, int) and value > MAX_DURATION_SECONDS:
        # Checked before float(): an integer of more than 308 digits raised OverflowError there,
        # which pydantic does not catch: check-config (and a reload) ended in a traceback.
        raise ValueError(f"{_shown(value)} is longer than the longest duration allowed, 366 days")
    if isinstance(value, int | float):
        return _bounded(float(value), value)
    if isinstance(value, str):
        _no_capital_m(value)
        text = value.strip().lower()
        if re.fullmatch(r"\d+(\.\d+)?", text):
            return _bounded(float(text), value)
        parts = _DURATION_PART.findall(text)
        if not parts or "".join(n + u for n, u in parts) != text:
            raise ValueError(f"expected a duration like 30s, 5m, 1h30m, got {value!r}")
        _units_in_order(value, parts)
        return _bounded(sum(float(n) * _UNIT_SECONDS[u] for n, u in parts), value)
    return value


def _no_capital_m(written: str) -> None:
    """`1M` was read as a minute (the text is lower-cased so that `1H` and `30S` read as written),
    while whoever wrote it likely meant a month, as in ISO 8601's P1M or Java's `M`: a history age
    or a backoff 43,200 times shorter than meant, without a word. No unit here is a capital M."""
    if re.search(r"\dM(?![sS])", written):
        raise ValueError(f"{written!r}: M is not a unit here (a month? a minute?): write m for minutes, d for days "
                         "(30d for a month)")


def _units_in_order(written: str, parts: list[tuple[str, str]]) -> None:
    """Each unit once, the largest first (`1h30m`): `30m30m` (a typo for 30m) was read as an hour
    and `1s1h` as 3601 s, without a word, the interval doubled."""
    units = [unit for _, unit in parts]
    for before, unit in zip(units, units[1:], strict=False):
        if unit == before or units.count(unit) > 1:
            raise ValueError(f"{written!r} gives the unit {unit} twice: write each unit once, e.g. 1h30m")
        if _UNIT_SECONDS[unit] > _UNIT_SECONDS[before]:
            ordered = "".join(n + u for n, u in sorted(parts, key=lambda part: -_UNIT_SECONDS[part[1]]))
            raise ValueError(f"{written!r} gives {unit} after {before}: write the largest unit first ({ordered}?)")


def _bounded(seconds: float, written: Any) -> float:
    if not math.isfinite(seconds):
        raise ValueError(f"expected a finite duration, got {_shown(written)}")
    if seconds > MAX_DURATION_SECONDS:
        raise ValueError(f"{_shown(written)} is longer than the longest duration allowed, 366 days")
    return seconds


def _shown(written: Any) -> str:
    """A value as an error quotes it: a number of hundreds of digits is cut, not printed whole."""
    text = repr(written)
    return text if len(text) <= 40 else f"{text[:30]}... ({len(text)} characters)"


Duration = Annotated[float, BeforeValidator(parse_duration)]
PositiveDuration = Annotated[float, BeforeValidator(parse_duration), Field(gt=0)]


def at_least(minimum: float, why: str) -> AfterValidator:
    """A floor for a duration, whose error says the value, the floor and why there is one."""

    def check(seconds: float) -> float:
        if seconds < minimum:
            raise ValueError(f"{seconds:g}s is shorter than the shortest allowed, {minimum:g}s: {why}")
        return seconds

    return AfterValidator(check)


def matching(pattern: str, what: str) -> AfterValidator:
    """A pattern check whose error says what is allowed, not which regular expression failed."""
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        if not compiled.fullmatch(value):
            raise ValueError(f"{value!r} is not valid: {what}")
        return value

    return AfterValidator(check)


Name = Annotated[
    str,
    # The length first: after a validator function pydantic counts "items", not characters.
    Field(max_length=63),
    matching(NAME_PATTERN, "use lower-case letters, digits, '.', '_' and '-', starting and ending with a letter or digit"),
]
_URL = re.compile(r"^https?://[^\s/]+(/[^\s]*)?$")


# Query parameters that carry a credential, by their name without '-' and '_' in lower case:
# those containing one of the words, and those that are one of the names. `passfile`, `sslkey` or
# `sslcert` name files, and `require_auth` a method: not credentials.
_CREDENTIAL_WORDS = ("password", "passwd", "secret", "token", "apikey", "accesskey", "credential")
_CREDENTIAL_NAMES = ("pwd", "pass")


def credential_parameters(query: str) -> list[str]:
    """The names of a URL query's parameters that carry a credential (`password`, `sslpassword`,
    `token`, `api_key`...), as written, each once."""
    found: list[str] = []
    for name in parse_qs(query, keep_blank_values=True):
        plain = name.lower().replace("-", "").replace("_", "")
        if (any(word in plain for word in _CREDENTIAL_WORDS) or plain in _CREDENTIAL_NAMES) and name not in found:
            found.append(name)
    return found


def is_loopback_url(url: str) -> bool:
    """Whether `url`'s host is this machine: `localhost` or a loopback address (127.0.0.0/8, ::1).
    A name other than `localhost` may resolve anywhere, so it is not."""
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def split_url(url: str, what: str) -> SplitResult:
    """`url`'s parts; a ValueError that never quotes any of it when its host or port cannot be
    read. urlsplit's own message quotes the port as it read it, and a '/', '?' or '#' in a
    password ends the host there: `postgresql://u:Pa55/w0rd@db` was refused with "Port could not
    be cast to integer value as 'Pa55'", half the password on stderr and in the reload log."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        raise ValueError(
            f"{what} is not valid: its host or port cannot be read (the port must be a number from 0 to 65535, and "
            "a '/', '?' or '#' after the scheme ends the host, as in a password, which never belongs in a URL)"
        ) from None
    return parts


def _check_url(url: str) -> str:
    """An http:// or https:// URL without credentials in it. Credentials in a URL
    (`https://user:pass@host`, `?token=...`) would be printed by check-config and written to every
    log line that names the URL; they go in secrets instead. A URL with an `@` or a credential
    parameter is never quoted in an error: it may hold a password. One the HTTP client could not
    send to (a control character in it, no host: `http://:8083`) passed check-config and stopped
    `run` with httpx's InvalidURL, or the Kafka Connect client's ValueError, as a traceback."""
    if any(ord(char) < 32 or ord(char) == 127 for char in url):
        raise ValueError("the URL holds a control character (a NUL, an escape, ...), which no URL can carry")
    if not _URL.fullmatch(url):
        shown = "the URL" if "@" in url or credential_parameters(url.partition("?")[2]) else repr(url)
        raise ValueError(f"{shown} is not valid: expected an http:// or https:// URL")
    parts = split_url(url, "the URL")
    if not parts.hostname:
        raise ValueError("the URL has no host: expected http://HOST[:PORT][/PATH]")
    if "@" in parts.netloc:
        raise ValueError(
            "a URL must not carry a user name or password (user:pass@host): it would be shown by "
            "check-config and in logs; give credentials through `credential` or `blocking.auth`, "
            "from the environment or the secrets directory"
        )
    found = credential_parameters(parts.query)
    if found:
        raise ValueError(
            f"a URL must not carry credentials (its {', '.join(found)} parameter): it would be shown by check-config "
            "and in logs; give credentials through `credential` or `blocking.auth`, from the environment or the "
            "secrets directory"
        )
    if "?" in url or "#" in url:
        # Each of these URLs is a base the daemon adds paths and parameters to (the Connect API's,
        # a worker's, the Metrics API's, Alertmanager's): httpx puts a request's parameters in
        # place of the base's query, and the path after a '?' or '#', so a restart of `orders`
        # went as `POST https://gw/confluent?team=a/connect/v1/...` (the gateway's base path) and,
        # to a worker `http://connect:8083?x`, as `POST http://connect:8083?includeTasks=...`
        # (no connector at all).
        raise ValueError(
            "a base URL takes no query string or fragment ('?' or '#'): the daemon adds each API's paths and "
            "parameters to it, and after a '?' or '#' they do not reach the server as a path; "
            "give scheme, host, port and path only"
        )
    return url


HttpUrl = Annotated[str, AfterValidator(_check_url)]
ResourceId = Annotated[str, matching(r"^[A-Za-z0-9_-]+$", "expected an id like env-abc123 or lkc-xyz789")]


def _check_timezone(name: str) -> str:
    zone_named(name)  # as a window's zone is read: a folder of zones ("Europe") is refused by name too
    return name


TimeZoneName = Annotated[str, AfterValidator(_check_timezone)]


def _readable_file(path: Path) -> Path:
    if not path.is_file():
        # A relative path is read from the working directory, not the config file's: `ca.pem`
        # beside /etc/watchdog/config.yaml was "file ca.pem does not exist", looked for nowhere said.
        where = "" if path.is_absolute() else f" (looked for as {path.absolute()}: a relative path is read from the " \
            "working directory, not the config file's)"
        raise ValueError(f"file {path} does not exist or is not a file{where}")
    return path


ReadableFile = Annotated[Path, AfterValidator(_readable_file)]


# A number written as text (an environment variable's, or a YAML scalar quoted): decimal only.
_DECIMAL_TEXT = re.compile(r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?")
# Text that looks like a number in another form (1_000, 0b1010, 0x1F as text, 1:30); a word
# (`many`) is left to pydantic's own refusal.
_NUMBER_LIKE = re.compile(r"[-+]?\.?\d.*", re.S)


def _not_a_boolean(value: Any) -> Any:
    """Pydantic takes a boolean for a number (True is 1), and YAML reads `yes`, `no`, `on` and
    `off` as booleans: `max_retries: no` was 0 retries, `max_restarts: yes` a budget of one, and
    check-config called both valid.

    Nor text other than a decimal number: YAML 1.2 reads `1_000` and `0b1010` as text (the
    example config says so), and pydantic's lax parsing took `max_restarts: 1_000` as 1000
    (Python's int() allows `_`) while `interval: 1_000`, a duration, and `0b1010` anywhere were
    refused: the same token valid in one setting and refused in the next. Now refused wherever a
    number goes, the value named (`0b1010` was refused without it)."""
    if isinstance(value, bool):
        raise ValueError("expected a number, not a boolean (YAML reads yes, no, on and off as booleans)")
    if isinstance(value, str) and _NUMBER_LIKE.fullmatch(value.strip()) and not _DECIMAL_TEXT.fullmatch(value.strip()):
        yaml_1_1 = "_" in value or re.match(r"\s*[-+]?0[bBoOxX]", value)
        raise ValueError(f"expected a number, got the text {value!r}" + (
            " (YAML 1.2 reads 1_000 and 0b1010 as text: write the number in decimal, e.g. 1000 or 10)" if yaml_1_1 else ""))
    return value


# In every number's Annotated[...], before its bounds: Annotated[int, NUMBER, Field(ge=1)].
NUMBER = BeforeValidator(_not_a_boolean)


class Strict(BaseModel):
    # allow_inf_nan=False: `.inf` and `.nan` are valid YAML floats and no setting means them.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
