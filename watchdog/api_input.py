"""What a request to the API brings, read and checked: the body read whole within its size
limit, parsed as JSON with every key of an object different, and validated against its model
with a 4xx that names the bad field (`BadRequest`, the refusal every route answers with).
"""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError
from starlette.requests import ClientDisconnect, Request

from .config import format_location
from .logs import printable
from .model import (
    MAX_CONNECTOR_NAME_CHARS,
    REPLACED_CHAR,
    REPLACED_PROBLEM,
    UNSTORABLE_ESCAPE,
    connector_name_problem,
    whole_unicode,
)

# A 422 lists at most this many problems, then how many more there were (`problems_not_shown`):
# one alert whose labels held 100,000 non-strings got a 7.8 MB answer naming the same mistake
# 100,000 times, built in memory and sent to whoever asked.
MAX_PROBLEMS = 20
# A field a 422 names may be the caller's own key (a label's, an unknown field's): each part of
# its path is shown cut to this many characters, escaped. A 900 KB key was sent back whole and
# written whole into the refusal's warning line, once per request.
MAX_FIELD_PART_CHARS = 100


# A NUL or half a surrogate pair, as json_body leaves it (model.REPLACED_PROBLEM): refused as the
# control character it was, not looked up as a name the caller never sent.
_REPLACED = REPLACED_CHAR
_REPLACED_PROBLEM = REPLACED_PROBLEM


def _valid_connector_name(name: str) -> str:
    problem = connector_name_problem(name)
    if problem is not None:
        raise ValueError(f"connector name {problem}")
    if _REPLACED in name:
        raise ValueError(f"connector name {_REPLACED_PROBLEM}")
    return name


def _printable(text: str) -> str:
    if any(ord(c) < 32 or 127 <= ord(c) < 160 for c in text):
        raise ValueError("contains control characters")
    return text


def _cluster_name(text: str) -> str:
    _printable(text)
    if _REPLACED in text:
        raise ValueError(_REPLACED_PROBLEM)
    return text


def _printable_text(text: str) -> str:
    _printable(text.replace("\n", " ").replace("\t", " "))
    return text


class RestartBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cluster: Annotated[str, AfterValidator(_cluster_name)] = Field(min_length=1, max_length=63)
    connector: Annotated[str, AfterValidator(_valid_connector_name)] = Field(min_length=1, max_length=MAX_CONNECTOR_NAME_CHARS)
    # Free text (line breaks and tabs allowed): kept with the request and logged, never printed raw.
    reason: Annotated[str, AfterValidator(_printable_text)] = Field(default="requested through the API", max_length=500)


class BadRequest(Exception):
    def __init__(self, status: int, error: str, *, headers: dict[str, str] | None = None, **detail: Any) -> None:
        super().__init__(error)
        self.status = status
        self.headers = headers
        self.body = {"error": error, **detail}



async def read_body(request: Request, limit: int) -> bytes:
    _not_encoded(request)
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BadRequest(413, f"request body larger than {limit} bytes")
    body = bytearray()
    try:
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                raise BadRequest(413, f"request body larger than {limit} bytes")
    except ClientDisconnect:
        # The client went away, or was cut off for sending too slowly (server.request_timeout).
        # 503, as the server answered it (asgi_server's body timeout): counted and logged 408
        # here, the client got a 503, which Alertmanager retries (it takes any 4xx as final).
        raise BadRequest(503, "the request body did not arrive whole; nothing was done; send it again",
                         headers={"Retry-After": "1"}) from None
    return bytes(body)


def _not_encoded(request: Request) -> None:
    """A body sent compressed (`Content-Encoding: gzip`, by a proxy or a hand-made sender;
    Alertmanager does not compress) is refused 415 before it is read, naming the encoding (RFC
    9110 15.5.16, with the codings taken in Accept-Encoding). Read as JSON, it was answered "not
    valid JSON: 'utf-8' codec can't decode byte 0x8b" (probe_callers F4). Not decoded: the body
    limit (server.max_body_bytes) bounds the bytes that arrive, and a few KB of gzip inflate to
    gigabytes; no sender of ours needs it."""
    codings = [c.strip() for value in request.headers.getlist("content-encoding") for c in value.split(",")]
    sent = [c for c in codings if c and c.lower() != "identity"]
    if sent:
        named = printable(", ".join(codings)[:50])
        raise BadRequest(415, f"Content-Encoding: {named} is not accepted: send the body uncompressed (JSON as it is); "
                              "nothing was done", headers={"Accept-Encoding": "identity"})


class _DuplicateKey(Exception):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An object whose keys are all different. json.loads keeps the last of two equal keys, a
    proxy or a policy in front of the daemon may read the first: the daemon would restart a
    connector other than the one that was checked."""
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            raise _DuplicateKey(key)
        seen.add(key)
    return dict(pairs)


def json_body(body: bytes) -> Any:
    """The body as JSON, every string value storable (model.whole_unicode). JSON may escape half of
    an emoji alone (`"\\ud83d"`): kept as it came, an alert whose summary held one crashed its
    request's write to the state file, a 500 that Alertmanager resent, failing alike, for ever."""
    try:
        data = json.loads(body, object_pairs_hook=_unique_keys)
        return whole_unicode(data) if UNSTORABLE_ESCAPE.search(body) else data
    except _DuplicateKey as exc:
        raise BadRequest(400, f"request body is not acceptable JSON: the key {exc.key[:100]!r} "
                              "appears twice in one object") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadRequest(400, f"request body is not valid JSON: {exc}") from None
    except RecursionError:
        raise BadRequest(400, "request body is not acceptable JSON: nested too deeply") from None
    except ValueError as exc:
        # Python's own words here advise calling sys.set_int_max_str_digits(): not for a caller.
        problem = (f"a number has more than {sys.get_int_max_str_digits()} digits" if "digits" in str(exc)
                   else "it cannot be converted")
        raise BadRequest(400, f"request body is not acceptable JSON: {problem}") from None


def validated(model: type[BaseModel], data: Any) -> Any:
    try:
        return model.model_validate(data)
    except RecursionError:
        raise BadRequest(422, "request body does not match the expected shape: nested too deeply") from None
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False)
        problems = [
            {"field": format_location(tuple(_shown(part) for part in e["loc"])) or "(body)", "problem": e["msg"]}
            for e in errors[:MAX_PROBLEMS]
        ]
        detail: dict[str, Any] = {"problems": problems}
        if len(errors) > MAX_PROBLEMS:
            detail["problems_not_shown"] = len(errors) - MAX_PROBLEMS
        raise BadRequest(422, "request body does not match the expected shape", **detail) from None


def _shown(part: Any) -> Any:
    """A part of a field's path as a 422 names it (MAX_FIELD_PART_CHARS)."""
    if not isinstance(part, str) or (len(part) <= MAX_FIELD_PART_CHARS and part.isprintable()):
        return part
    return printable(part[:MAX_FIELD_PART_CHARS]) + ("..." if len(part) > MAX_FIELD_PART_CHARS else "")
