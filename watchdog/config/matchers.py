"""Alertmanager's matcher grammar and Go's regular-expression syntax, checked when the config is
loaded: a `blocking.filters` entry Alertmanager cannot parse is answered 400 at every check, and
with `on_error: block` that held every restart behind a reason that blamed the network.

A matcher, as Alertmanager's classic parser reads it (pkg/labels ParseMatcher, the parser of every
version and the fallback of the newer ones): a label name `[a-zA-Z_:][a-zA-Z0-9_:]*`, an operator
(`=`, `!=`, `=~`, `!~`) and a value, with optional whitespace between. The value may be written
in double quotes; inside them `\\"` is a quote, `\\\\` a backslash, `\\n` a line feed, and any other
backslash is itself. An unescaped double quote anywhere else in the value is refused. For `=~`
and `!~` the value is a Go (RE2) regular expression, anchored by Alertmanager as `^(?:value)$`.

Stricter than Alertmanager in two places, both of which it would take and then never match what
was meant: a value ending in `}` (a selector's brace pasted in; Alertmanager 0.27 and later refuse
it), and an unquoted value holding a comma (two matchers in one entry; a quoted value may hold one).

The regular expression is checked by RE2 (regexes.py), the engine whose syntax Go's regexp
implements, not by Python's `re`, whose syntax differs both ways: lookarounds, backreferences,
atomic groups and possessive repeats are Python's, not Go's; `\\z`, `\\Q...\\E`, `\\x{...}`,
`\\pL` and `[[:alpha:]]` are Go's. RE2 refuses what Go refuses for syntax (unbalanced parentheses
or brackets, invalid escapes, unsupported Perl syntax, nested or argumentless repeats, counts over
1000 alone or multiplied through nesting, reversed ranges, unknown POSIX classes and Unicode
classes), but for `\\C` and `(?<name>...)`, checked here (go_regex_problem).
"""

from __future__ import annotations

import re

from .regexes import RE2_TOO_LARGE, re2_problem

# Go's \s in the classic parser's pattern: ASCII whitespace only (Python's \s is wider). The
# value is taken whole and its trailing whitespace stripped after the match: Alertmanager's own
# `(.*?)\s*$`, run by Python's backtracking engine, took time quadratic in a run of spaces inside
# the value (2 s for 32,000, half an hour for a 1 MiB config), holding check-config, or a reload
# and with it the whole daemon, since `re` keeps the GIL.
_SPACE = "\t\n\f\r "
_MATCHER = re.compile(r"[\t\n\f\r ]*([a-zA-Z_:][a-zA-Z0-9_:]*)[\t\n\f\r ]*(=~|=|!=|!~)[\t\n\f\r ]*(.*)", re.DOTALL)
_EXAMPLE = 'alertname=~"ConfluentCloudIncident|KafkaClusterDown"'
_SHOWN = 80  # of a filter quoted in an error: enough to find it, short enough for one line


def _quote(text: str) -> str:
    return repr(text if len(text) <= _SHOWN else text[:_SHOWN] + "...")


def matcher_problem(text: str) -> str | None:
    """What Alertmanager (or the two stricter rules above) would refuse in one filter, or None."""
    shape = _MATCHER.fullmatch(text)
    if shape is None:
        stripped = text.strip()
        if stripped.startswith("{") or stripped.endswith("}"):
            return (f"{_quote(text)}: one matcher per entry, without braces, e.g. {_EXAMPLE} "
                    "(entries are ANDed)")
        return (f"{_quote(text)} is not a matcher: expected a label name ([a-zA-Z_:][a-zA-Z0-9_:]*), an "
                f"operator (=, !=, =~ or !~) and a value, e.g. {_EXAMPLE}")
    _, operator, raw = shape.groups()
    raw = raw.rstrip(_SPACE)
    value, problem = _unquote(raw)
    if problem is not None:
        return f"{_quote(text)}: {problem}"
    if not raw.startswith('"'):
        if raw.endswith("}"):
            return (f"{_quote(text)}: the value ends with a brace: one matcher per entry, without braces, "
                    f"e.g. {_EXAMPLE} (quote the value if the brace belongs to it)")
        if "," in raw:
            return (f"{_quote(text)}: one matcher per entry (entries are ANDed); quote the value if the "
                    "comma belongs to it")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return f"{_quote(text)}: the value is not valid UTF-8"
    if operator in ("=~", "!~"):
        regex_problem = go_regex_problem(value)
        if regex_problem is not None:
            return f"{_quote(text)}: not a valid regular expression (Go RE2 syntax, as Alertmanager compiles it): " \
                   f"{regex_problem}"
    return None


def _unquote(raw: str) -> tuple[str, str | None]:
    """The value as Alertmanager's classic parser reads it: (value, None) or ("", problem)."""
    quoted = raw.startswith('"')
    body = raw[1:] if quoted else raw
    out: list[str] = []
    escaped = False
    for index, char in enumerate(body):
        if escaped:
            escaped = False
            out.append({"n": "\n", '"': '"', "\\": "\\"}.get(char, "\\" + char))
        elif char == "\\":
            if index < len(body) - 1:
                escaped = True
            else:
                out.append("\\")  # a last backslash is itself
        elif char == '"':
            if not quoted or index < len(body) - 1:
                return "", 'the value holds an unescaped double quote: write \\" for a quote inside a quoted value'
            quoted = False  # the closing quote
        else:
            out.append(char)
    if quoted:
        return "", "the value opens a double quote that is never closed"
    return "".join(out), None


# --- Go's regular-expression syntax ----------------------------------------------------------

# RE2 reads two things Go's regexp refuses: `\C` (any byte), and `(?<name>...)`, which Go took
# only from 1.22 (older Alertmanager builds refuse it). Each after an even run of backslashes.
_ANY_BYTE = re.compile(r"(?<!\\)(?:\\\\)*\\C")
_ANGLE_NAME = re.compile(r"(?<!\\)(?:\\\\)*\(\?<(?![=!])")


def go_regex_problem(pattern: str) -> str | None:
    """Why Go's regexp.Compile would refuse `^(?:pattern)$` (as Alertmanager compiles a regex
    matcher's value and the receiver parameter), or None. RE2 decides (regexes.py): Go's syntax
    is RE2's, but for the two cases above. Whether the pattern is valid is decided wrapped, as
    Alertmanager compiles it (`a)|(b` is, as `^(?:a)|(b)$`); RE2's reason is given for the
    pattern as written where that fails too, so that it names the user's text."""
    if _ANY_BYTE.search(pattern):
        return "invalid escape sequence: `\\C` (any byte is RE2's, not Go's)"
    if _ANGLE_NAME.search(pattern):
        return "write (?P<name>...) rather than (?<name>...): older Alertmanager builds refuse the latter"
    wrapped = re2_problem("^(?:" + pattern + ")$")
    if wrapped is None or wrapped.startswith(RE2_TOO_LARGE):
        return None  # RE2's memory bound for a compiled program is not Go's: only syntax is checked
    return re2_problem(pattern) or wrapped
