"""Field types shared by every section: durations, names, URLs, time zones, and `Strict`, the base
of every section (unknown keys are errors, values are frozen)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

NAME_PATTERN = r"^[a-z0-9]([a-z0-9_.-]*[a-z0-9])?$"

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(value: Any) -> Any:
    """`90`, `90s`, `1m30s`, `2h`, `500ms` -> seconds as float. Other types go to pydantic."""
    if isinstance(value, bool):
        raise ValueError("expected a duration like 30s, 5m or 1h, not a boolean")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if re.fullmatch(r"\d+(\.\d+)?", text):
            return float(text)
        parts = _DURATION_PART.findall(text)
        if not parts or "".join(n + u for n, u in parts) != text:
            raise ValueError(f"expected a duration like 30s, 5m, 1h30m, got {value!r}")
        return sum(float(n) * _UNIT_SECONDS[u] for n, u in parts)
    return value


Duration = Annotated[float, BeforeValidator(parse_duration)]
PositiveDuration = Annotated[float, BeforeValidator(parse_duration), Field(gt=0)]


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
    matching(NAME_PATTERN, "use lower-case letters, digits, '.', '_' and '-', starting and ending with a letter or digit"),
    Field(max_length=63),
]
HttpUrl = Annotated[str, matching(r"^https?://[^\s/]+(/[^\s]*)?$", "expected an http:// or https:// URL")]
ResourceId = Annotated[str, matching(r"^[A-Za-z0-9_-]+$", "expected an id like env-abc123 or lkc-xyz789")]


def _check_timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r} (use an IANA name like Europe/Berlin)") from exc
    return name


TimeZoneName = Annotated[str, AfterValidator(_check_timezone)]


def _readable_file(path: Path) -> Path:
    if not path.is_file():
        raise ValueError(f"file {path} does not exist or is not a file")
    return path


ReadableFile = Annotated[Path, AfterValidator(_readable_file)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
