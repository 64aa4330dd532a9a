"""An answer's body read as JSON, whatever its bytes, into text every store takes."""

from __future__ import annotations

import codecs
import json
from typing import Any

import httpx

from ..model import LONE_SURROGATE, UNSTORABLE_ESCAPE, whole_unicode


def _lenient(error: UnicodeError) -> tuple[str, int]:
    """Bytes that are not UTF-8, read as halves of surrogate pairs (read_json makes each U+FFFD):
    a surrogate's own three bytes (CESU-8, Java's "modified UTF-8") as that one half, as Python's
    JSON reader takes them; any other byte as the half that stands for it (surrogateescape)."""
    try:
        text, end = codecs.lookup_error("surrogatepass")(error)
    except UnicodeError:
        text, end = codecs.lookup_error("surrogateescape")(error)
    return str(text), end  # decoding: always text


_LENIENT = "watchdog-lenient"
codecs.register_error(_LENIENT, _lenient)


def read_json(response: httpx.Response) -> Any:
    """The body as JSON; ValueError for any body that cannot be read as such. A body nested too
    deep (a 200 of 100,000 `[`) makes Python's reader raise RecursionError, which no caller's
    `except ValueError` took: the poll ended in a traceback, uncounted and unlogged, and /readyz
    stayed 503 for good.

    Every string value is text any store takes: JSON may escape half of a UTF-16 surrogate pair
    alone (`"\\ud83d"`, what a Java server writes for a message cut between an emoji's two
    halves), which Python reads into a str no encoder takes, and a NUL (`"\\u0000"`), which
    PostgreSQL's text refuses. Kept as they came, a restart answered 400 with such a half in its
    message crashed its job when its history record was written (the restart was never
    recorded), and a connector state holding either failed the whole cluster's poll (SQLite: a
    traceback; PostgreSQL: "could not record a connector's status", the store counted failing).
    Each becomes U+FFFD. Object keys are left as they came: a connector name holding one is no
    name the API can be addressed by, and is refused as such (model.connector_name_problem).

    Bytes that are not UTF-8 (a Latin-1 `é` in one connector's trace) are read as such halves
    (`_lenient`), then made U+FFFD alike: read strictly, one such byte failed every poll of its
    cluster ("'utf-8' codec can't decode byte 0xe9"), nothing of it judged. A control character
    raw inside a string is read as itself (a NUL, as U+FFFD)."""
    content = response.content
    try:
        text = content.decode(json.detect_encoding(content), _LENIENT)
        # strict=False: a control character left raw inside a string (JSON wants it escaped; a
        # proxy or a hand-built answer may not) is read as itself. Read strictly, one ESC of a
        # coloured log line in one connector's trace failed every poll of its cluster.
        data = json.loads(text, strict=False)
    except RecursionError:
        raise ValueError("JSON nested too deep to read") from None
    if UNSTORABLE_ESCAPE.search(content) or LONE_SURROGATE.search(text):  # most answers have none
        data = whole_unicode(data)
    return data
