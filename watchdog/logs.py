"""structlog setup: JSON lines by default, a console renderer on a terminal.

Our own events and third-party stdlib logs (apscheduler, uvicorn, httpx, psycopg) go through the
same `ProcessorFormatter`, so every line on stdout has the same shape; psycopg's under one fixed
event name each (`psycopg_warning`), its message in `detail`.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import html
import io
import json
import logging
import re
import sys
import urllib.parse
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import IO, Any, Literal, cast

import structlog
from structlog.tracebacks import ExceptionDictTransformer

LogFormat = Literal["auto", "json", "console"]

# `scheme://user:password@host`: what a URL's credentials look like wherever they turn up. Up to
# the LAST `@` before the path, query or fragment, as URL parsers read it: a password with an `@`
# left unencoded (`user:p@ss@host`, which curl and httpx take) kept its tail (`***@ss@host`).
# Matched from the `://` on, whatever comes before it: matched from the scheme, every letter of a
# long word was tried as a scheme's start, and a 60 KB upstream value with an `@` (an X-Request-Id,
# a redirect's Location) held the event loop 3 s per log line that carried it.
_URL_USERINFO = re.compile(r"://[^/?#\s]*@")


# A URL's parameter that carries a credential (`?password=`, `&access_token=`, a JDBC URL's
# `;password=`), named as the config refuses them in a URL (config.types.credential_parameters;
# `pwd` and `pass` only alone: `passage` is none): its value, up to the next parameter. A
# connector's trace quoting `jdbc:mysql://db/orders?user=etl&password=...` kept the password in
# the log and the history. A name is looked at up to 64 characters, so a long run of letters
# after a `&` costs one bounded look, not one per letter.
_URL_CREDENTIAL_PARAMETER = re.compile(
    r"([?&;](?:(?=[\w.-]{0,56}?(?:password|passwd|secret|token|api[_-]?key|access[_-]?key|credential))[\w.-]{1,64}"
    r"|pwd|pass)=)[^&;#\s'\"<>]+",
    re.IGNORECASE,
)


def redact_url_credentials(text: str) -> str:
    """`https://user:pass@host/x` -> `https://***@host/x`, and `?password=pw` -> `?password=***`,
    anywhere in a text."""
    if "@" in text:  # most texts have neither: polls parse thousands
        text = _URL_USERINFO.sub("://***@", text)
    if "=" in text:
        text = _URL_CREDENTIAL_PARAMETER.sub(r"\1***", text)
    return text


# A secret this long or longer is starred wherever it is. A shorter one only where it stands
# alone (a whole token), so that it does not star every word it is part of: a Kafka Connect
# worker's password is not the user's to choose, and one of 5 characters echoed in an error
# (`Invalid password pw123`) was logged and kept. Shorter than MIN_TOKEN_CHARS, not looked for:
# every `a`, `no` or `12` of every line would be starred; the config refuses such a secret
# (config.secret_values.MIN_SECRET_CHARS, equal to this), as it could not be kept out. API key ids and basic-auth users are
# starred where they stand alone from MIN_ANYWHERE_CHARS on only: they are sent beside the secret
# (its pair and base64 are starred), and a short user (`etl`, `app`) is as often a plain word.
MIN_ANYWHERE_CHARS = 6
MIN_TOKEN_CHARS = 3

# (text to look for, the pattern of it standing alone, or None: wherever it is).
Form = tuple[str, re.Pattern[str] | None]


@dataclass(frozen=True, slots=True)
class Scrub:
    """What starring out a set of secrets looks for (scrub_of): `forms` longest first, and the
    same grouped by their first SCRUB_PREFIX_CHARS characters. A secret's forms (secret_forms)
    are some 20 to 30, most of them sharing a start (the secret's, or its base64's), and looking
    for each in a 10 KB trace took 0.4 ms with four credentials' forms; looking for the starts
    first, and for a form only where its start is, keeps it to one short search per start."""

    forms: tuple[Form, ...] = ()
    by_prefix: tuple[tuple[str, tuple[Form, ...]], ...] = ()

    def __bool__(self) -> bool:
        return bool(self.forms)


SCRUB_PREFIX_CHARS = 4


def standing_alone(word: str) -> re.Pattern[str]:
    """`word` where it stands alone: not part of a longer word, a hyphenated one or a dotted name
    (a worker's user `connect` must not star out `org.apache.kafka.connect`); a full stop after
    it ends a sentence, not a name."""
    return re.compile(rf"(?<![\w.-]){re.escape(word)}(?![\w-]|\.[\w-])")


def secret_forms(secret: str) -> frozenset[str]:
    """Every form a server or a proxy may say `secret` back in: as it is; base64 encoded (a Basic
    token is the pair's), padded or not and URL-safe or not; and each of those as a repr quotes
    it, JSON-escaped (`/` as `\\/` too: Java's and PHP's writers), URL-encoded (`quote` and
    `quote_plus`, upper- or lowercase hex) and HTML-escaped. The one list of them: the log, the
    masking of an answer (connect.masking), Alertmanager's reasons (blocking) and the database's
    errors all star these. Before, only the secret, its Basic token as sent and a repr were
    looked for: a worker echoing the token without its `=` padding had the whole credential
    logged, and Confluent's secrets (which hold `/` and `+`) came back URL-encoded or as `\\/`."""
    return _forms(secret)


def _percent(text: str, *, plus: bool, safe: str) -> tuple[str, str]:
    encoded = urllib.parse.quote_plus(text, safe=safe) if plus else urllib.parse.quote(text, safe=safe)
    return encoded, _PERCENT.sub(lambda m: m.group().lower(), encoded)


_PERCENT = re.compile(r"%[0-9A-F]{2}")


def _html_escaped(text: str) -> set[str]:
    """`text` as HTML escapes it: html.escape's, with or without quotes, and the least an XML or
    template writer escapes (`&` and `<`, `>` or not), each with `/` as `&#x2F;` (OWASP's advice) or not."""
    least = text.replace("&", "&amp;").replace("<", "&lt;")
    escaped = {html.escape(text), html.escape(text, quote=False), least, least.replace(">", "&gt;")}
    return escaped | {e.replace("/", "&#x2F;") for e in escaped}


@functools.lru_cache(maxsize=1024)
def _forms(secret: str) -> frozenset[str]:
    raw = secret.encode()
    encoded = {secret}
    for b64 in (base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode()):
        encoded |= {b64, b64.rstrip("=")}
    forms: set[str] = set()
    for text in encoded:
        escaped = {json.dumps(text)[1:-1], json.dumps(text, ensure_ascii=False)[1:-1]}
        forms |= {text, repr(text)[1:-1], repr(text.encode())[2:-1], *escaped, *(e.replace("/", "\\/") for e in escaped),
                  *_html_escaped(text)}
        for plus in (False, True):
            for safe in ("", "/"):
                forms.update(_percent(text, plus=plus, safe=safe))
    return frozenset(forms)


def scrub_of(secrets: Iterable[str], users: Iterable[str] = ()) -> Scrub:
    """What starring out `secrets` and `users`, in each of their forms (secret_forms), looks for
    (see MIN_ANYWHERE_CHARS)."""
    return _scrub_of(frozenset(secrets), frozenset(users))


@functools.lru_cache(maxsize=64)  # asked for each answer's text (connect.masking), from a few sets
def _scrub_of(secrets: frozenset[str], users: frozenset[str]) -> Scrub:
    found = {(form, None if len(form) >= MIN_ANYWHERE_CHARS else standing_alone(form))
             for s in secrets if len(s) >= MIN_TOKEN_CHARS for form in secret_forms(s)}
    known = {form for form, _ in found}
    found |= {(form, standing_alone(form)) for u in users - secrets if len(u) >= MIN_ANYWHERE_CHARS
              for form in secret_forms(u) if form not in known}
    forms = tuple(sorted(found, key=lambda f: (-len(f[0]), f[0])))
    groups: dict[str, list[Form]] = {}
    for form in forms:
        groups.setdefault(form[0][:SCRUB_PREFIX_CHARS], []).append(form)
    return Scrub(forms, tuple((prefix, tuple(members)) for prefix, members in groups.items()))


def scrubbed(text: str, scrub: Scrub) -> str:
    """`text` with what `scrub` looks for starred out, the longest first (a `key:secret` pair holds
    its password). Linear in the text's length: one search per start of a form, then one per
    form whose start is there."""
    if not text:  # most of a listing's messages and traces (every healthy task's)
        return text
    present = [form for prefix, members in scrub.by_prefix if prefix in text for form in members]
    if len(present) > 1:
        present.sort(key=lambda f: (-len(f[0]), f[0]))
    for secret, alone in present:
        if secret in text:
            text = text.replace(secret, "***") if alone is None else alone.sub("***", text)
    return text


# The secrets of the config in effect (keep_out_of_logs) and the users sent with a password:
# starred out of every log line, whatever put them there.
_known: Scrub = Scrub()


def keep_out_of_logs(secrets: Iterable[str], users: Iterable[str] = ()) -> None:
    """From now on no log line shows any of `secrets`, nor any of `users` where it stands alone
    (scrub_of). The daemon gives the config's and the environment's proxy URLs'
    (clients.sent_secrets) at start and at each reload. What quotes a server's answer is
    scrubbed where it is made (the history and the API keep it too); this is the last line: a
    server that put the request's Authorization header in a redirect's Location had the key's
    Basic token logged with the next hop's path."""
    global _known
    _known = scrub_of(secrets, users)


def without_known_secrets(text: str) -> str:
    """`text` without the secrets keep_out_of_logs was given: for a text from upstream that is cut
    short before it is logged or kept, so that no part of a secret is left at the cut."""
    return scrubbed(text, _known)


def _without_known(value: Any) -> Any:
    if isinstance(value, str):
        return without_known_secrets(value)
    if isinstance(value, dict):
        return {key: _without_known(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_without_known(item) for item in value]
    return value


def _without_known_secrets(logger: Any, method: str, event: structlog.types.EventDict) -> structlog.types.EventDict:
    if not _known:
        return event
    return {key: _without_known(value) for key, value in event.items()}


def printable(text: str, *, keep: str = "") -> str:
    """Text safe to print on a terminal: every character that is not printable (escape
    sequences, control characters, bidirectional overrides), except those in `keep`, shown as
    its escape (`\\x1b`), so that a name or a message from upstream cannot clear the screen, set
    the window title or hide what follows it."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() or c in keep else c.encode("unicode_escape").decode("ascii") for c in text)


def _printable_strings(logger: Any, method: str, event: structlog.types.EventDict) -> structlog.types.EventDict:
    """The console renderer prints a string value as it is unless it holds a space, a quote, `=`
    or a line break (then its repr): an upstream error message `\\x1b]0;...\\x07\\x1b[2J` reached
    the operator's terminal raw and set its title and cleared it. Other values are printed as
    their repr, which escapes already. A rendered traceback or stack keeps its line breaks."""
    return {key: printable(value, keep="\n" if key in _MULTILINE else "") if isinstance(value, str) else value
            for key, value in event.items()}


_MULTILINE = frozenset({"exception", "stack"})  # the keys the console renderer prints as blocks


def _without_terminal_colours(logger: Any, method: str, event: structlog.types.EventDict) -> structlog.types.EventDict:
    """uvicorn gives its lines a `color_message` extra (its own format string with terminal
    colours): every start and stop of the daemon logged `color_message='Started server process
    [\\x1b[36m%d\\x1b[0m]'` beside the message itself, in both formats."""
    event.pop("color_message", None)
    return event


def _redacted(value: Any) -> Any:
    if isinstance(value, str):
        return redact_url_credentials(value)
    if isinstance(value, dict):
        return {key: _redacted(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_redacted(item) for item in value]
    return value


def _redact_url_credentials(logger: Any, method: str, event: structlog.types.EventDict) -> structlog.types.EventDict:
    """The config refuses URLs with credentials in them, but an upstream's error message, a
    redirect or an exception can still carry one: no log line ever shows it."""
    return {key: _redacted(value) for key, value in event.items()}


# An object's address in its repr (`<psycopg.Pipeline [BAD] at 0x7f41f46f5b50>`): new at every line.
_OBJECT_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


class _PsycopgRecord(logging.Filter):
    """psycopg's own lines (`error ignored terminating <psycopg.Pipeline [BAD] at 0x7f41...>: the
    connection is lost`, logged while it closes a connection already lost) became events named by
    their whole message, an object's address and the connection's host, port and database in it: a
    new event name every time, which no one could grep, alert on or count. Each is now the event
    `psycopg_<level>` (psycopg_warning), its message in `detail`, without the addresses."""

    def filter(self, record: logging.LogRecord) -> bool:
        detail = _OBJECT_ADDRESS.sub("", record.getMessage())
        record.msg, record.args = f"psycopg_{record.levelname.lower()}", None
        record.detail = detail
        record.note = ("the database driver's own line, said while it closes a connection already lost or failed; "
                       "the store's and the lease's own lines say what failed and what happens next")
        return True


def _route_psycopg_records() -> None:
    psycopg_log = logging.getLogger("psycopg")
    if not any(isinstance(known, _PsycopgRecord) for known in psycopg_log.filters):
        psycopg_log.addFilter(_PsycopgRecord())


class _Nowhere(io.TextIOBase):
    """Where the log goes when stdout and stderr are both closed."""

    def write(self, text: str) -> int:
        return len(text)


class _LogStream(logging.StreamHandler):
    """The log's handler. When the stream's reader goes away (a broken pipe: `watchdog run |
    head`, a journald restarted under a systemd unit), the log goes on on stderr, then nowhere,
    and those waiting for it (on_log_reader_gone) are told once. Before, every line after that
    printed a "--- Logging error ---" traceback to stderr with the line's values as logged,
    before the masking of credentials in URLs, and the daemon went on with no log for ever."""

    def __init__(self, stream: IO[str]) -> None:
        super().__init__(stream)
        self.reader_gone = False
        self.listeners: list[Callable[[], object]] = []
        self.failing = False  # lines are being lost (a full disk): said once, until one is written

    def emit(self, record: logging.LogRecord) -> None:
        # StreamHandler.emit, but knowing when a line was written after lines were lost.
        try:
            self.stream.write(self.format(record) + self.terminator)
            self.flush()
        except RecursionError:
            raise
        except Exception:
            self.handleError(record)
            return
        self.failing = False

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 (logging's name)
        error = sys.exc_info()[1]
        if not isinstance(error, BrokenPipeError | ConnectionResetError):
            self._lost(error)
            return
        broken = self.stream
        # Not setStream(): it flushes the broken stream first, which raises again.
        self.stream = sys.stderr if sys.stderr is not None and broken is not sys.stderr else _Nowhere()
        if not self.reader_gone:
            self.reader_gone = True
            for listener in list(self.listeners):
                listener()
        self.emit(record)  # this line too, where the log goes now

    def _lost(self, error: BaseException | None) -> None:
        """A line not written (a full disk: `> /var/log/watchdog.log` on a full volume, or a line
        that could not be rendered), said on stderr once until a line is written again. Never
        logging's own report: for every line it printed a traceback and the line's values as
        logged, before the masking of credentials in URLs (an upstream's error message quoting
        https://user:password@host reached stderr whole)."""
        if self.failing:
            return
        self.failing = True
        with contextlib.suppress(Exception):  # stderr full or gone too: nothing more to do
            print(f"watchdog: log lines are lost: {printable(f'{type(error).__name__}: {error}')[:300]}; "
                  "said once until a line is written again", file=sys.stderr, flush=True)


def _log_stream() -> _LogStream | None:
    found = [h for h in logging.getLogger().handlers if isinstance(h, _LogStream)]
    return found[0] if found else None


def log_reader_gone() -> bool:
    """Whether the reader of the log went away (a broken pipe) since logging was configured."""
    stream = _log_stream()
    return stream is not None and stream.reader_gone


def on_log_reader_gone(listener: Callable[[], object]) -> Callable[[], None]:
    """Call `listener` once the log's reader goes away (from the thread that logged: hand it to
    an event loop with call_soon_threadsafe), at once if it has already gone; returns what stops
    listening."""
    stream = _log_stream()
    if stream is None:
        return lambda: None
    if stream.reader_gone:
        listener()
        return lambda: None
    stream.listeners.append(listener)
    return lambda: stream.listeners.remove(listener) if listener in stream.listeners else None


def configure_logging(level: str = "INFO", fmt: LogFormat = "auto", stream: IO[str] | None = None) -> None:
    # stdout closed by whoever started the process (`watchdog run >&-`, a supervisor that closes
    # it) is None in Python: the log goes to stderr then (None too: nowhere), not an
    # AttributeError traceback before anything started.
    out: IO[str] = stream or sys.stdout or sys.stderr or cast(IO[str], _Nowhere())
    if fmt == "auto":
        fmt = "console" if out.isatty() else "json"
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.stdlib.ExtraAdder(),
        _without_terminal_colours,
    ]
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        # Not cached: tests and the demo reconfigure logging in one process.
        cache_logger_on_first_use=False,
    )
    tail: list[structlog.types.Processor] = [structlog.stdlib.ProcessorFormatter.remove_processors_meta]
    # Tracebacks are rendered WITHOUT the frames' local variables, in both formats: a frame's
    # locals can hold anything, a request's Authorization header included (uvicorn's proxy-headers
    # frame held the last header read when an app raised). structlog's defaults show them.
    if fmt == "json":
        tail += [
            structlog.processors.ExceptionRenderer(ExceptionDictTransformer(show_locals=False)),
            _redact_url_credentials,
            _without_known_secrets,
            structlog.processors.JSONRenderer(),
        ]
    else:
        tail += [
            structlog.processors.format_exc_info,
            _redact_url_credentials,
            _without_known_secrets,
            _printable_strings,
            structlog.dev.ConsoleRenderer(colors=_colors(out), exception_formatter=structlog.dev.plain_traceback),
        ]
    handler = _LogStream(out)
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(foreign_pre_chain=shared, processors=tail))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # httpx logs every request at INFO; our gateway logs each call once, with more context.
    # APScheduler logs every job added, run and removed at INFO ("Adding job tentatively...");
    # skipped, missed and failed runs come at WARNING and above, and scheduler_job_event reports
    # them (triggers/scheduler.py drops APScheduler's own line for the first two).
    # pydantic-settings logs every source's values at DEBUG when PYDANTIC_SETTINGS_DEBUG is set (a
    # knob someone debugging a setting may leave on): the secrets as read, a rotated token read
    # at a reload included, in plain text. Never wanted, whatever the level.
    for noisy in ("httpx", "httpcore", "uvicorn.access", "apscheduler", "pydantic_settings"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    _route_psycopg_records()
    # uvicorn installs its own handlers; route its records through ours instead.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True


def _colors(out: IO[str]) -> bool:
    """Whether the console log is coloured: on a terminal, unless NO_COLOR is set to anything but
    "" (no-color.org) or TERM is `dumb` (an editor's shell, a serial console, a screen reader's
    terminal). Both were ignored: escape codes on terminals that had asked for none (found
    2026-12-07)."""
    import os

    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    return out.isatty()


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    return structlog.get_logger(name)
