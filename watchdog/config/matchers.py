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

The regular expression is checked by a parser written for Go's syntax (regexp/syntax, Perl flags),
not by Python's `re`, whose syntax differs both ways: lookarounds, backreferences, atomic groups
and possessive repeats are Python's, not Go's; `\\z`, `\\Q...\\E`, `\\x{...}`, `\\pL` and
`[[:alpha:]]` are Go's. It refuses what Go refuses for syntax (unbalanced parentheses or brackets,
invalid escapes, unsupported Perl syntax, nested or argumentless repeats, counts over 1000 alone
or multiplied through nesting, reversed ranges, unknown POSIX classes). Not checked: whether a
`\\p{Name}` names a Unicode script Go knows (its form is), and Go's limits on a compiled program's
size, which no filter comes near.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Go's \s in the classic parser's pattern: ASCII whitespace only (Python's \s is wider).
_MATCHER = re.compile(r"[\t\n\f\r ]*([a-zA-Z_:][a-zA-Z0-9_:]*)[\t\n\f\r ]*(=~|=|!=|!~)[\t\n\f\r ]*(.*?)[\t\n\f\r ]*",
                      re.DOTALL)
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

_MAX_REPEAT = 1000  # Go's limit on one count, and on counts multiplied through nesting
_MAX_DEPTH = 1000  # Go's limit on nesting
_POSIX_CLASSES = frozenset(
    ["alnum", "alpha", "ascii", "blank", "cntrl", "digit", "graph", "lower", "print", "punct", "space", "upper",
     "word", "xdigit"])
_UNICODE_CLASS_NAME = re.compile(r"\^?[A-Za-z0-9_ -]+")
_ONE_LETTER_CATEGORIES = frozenset("CLMNPSZ")
_PERL_CLASSES = frozenset("dDsSwW")
_C_ESCAPES = frozenset("afnrtv")
_HEX = frozenset("0123456789abcdefABCDEF")
_OCTAL = frozenset("01234567")


class _Refused(Exception):
    pass


@dataclass
class _Group:
    start: int  # where its `(` is, for the error
    widest: int = 1  # the largest product of repeat counts within any item so far
    last: int | None = None  # the product within the last item, None when there is nothing to repeat


def go_regex_problem(pattern: str) -> str | None:
    """Why Go's regexp.Compile would refuse `^(?:pattern)$` (as Alertmanager compiles a regex
    matcher's value and the receiver parameter), or None."""
    try:
        _GoSyntax("^(?:" + pattern + ")$").check()
    except _Refused as refused:
        return str(refused)
    return None


class _GoSyntax:
    def __init__(self, pattern: str) -> None:
        self.s = pattern
        self.i = 0
        self.groups = [_Group(0)]
        self.repeat_at: int | None = None  # where the repeat just before this token began

    def check(self) -> None:
        s = self.s
        while self.i < len(s):
            char = s[self.i]
            repeat_at = self.repeat_at
            self.repeat_at = None
            if char == "(":
                self._open()
            elif char == ")":
                self._close()
            elif char == "|":
                group = self.groups[-1]
                group.widest = max(group.widest, group.last or 1)
                group.last = None
                self.i += 1
            elif char in "*+?":
                self._repeat(self.i, self.i + 1, 0, 0, repeat_at)
            elif char == "{" and (counts := self._counts()) is not None:
                end, low, high = counts
                if low > _MAX_REPEAT or high > _MAX_REPEAT or 0 <= high < low:
                    raise _Refused(f"invalid repeat count: `{s[self.i:end]}`")
                self._repeat(self.i, end, low, high, repeat_at)
            elif char == "[":
                self.i = self._class(self.i)
                self._item()
            elif char == "\\":
                self._escape()
            else:
                self.i += 1
                self._item()
        if len(self.groups) > 1:
            raise _Refused("missing closing )")

    def _item(self, weight: int = 1) -> None:
        group = self.groups[-1]
        if group.last is not None:
            group.widest = max(group.widest, group.last)
        group.last = weight

    def _open(self) -> None:
        s, i = self.s, self.i
        if s.startswith("(?", i):
            rest = s[i:]
            for construct, what in (("(?=", "lookahead"), ("(?!", "lookahead"), ("(?<=", "lookbehind"),
                                    ("(?<!", "lookbehind"), ("(?>", "an atomic group"), ("(?#", "a comment"),
                                    ("(?P=", "a backreference"), ("(?(", "a conditional")):
                if rest.startswith(construct):
                    raise _Refused(f"invalid or unsupported Perl syntax: `{construct}` ({what} is not RE2 syntax)")
            if rest.startswith("(?<"):
                # Go accepts it only from 1.22 on: older Alertmanager builds refuse it.
                raise _Refused("invalid named capture: write (?P<name>...) rather than (?<name>...), which older "
                               "Alertmanager builds refuse")
            if rest.startswith("(?P<"):
                end = rest.find(">")
                if end < 0:
                    raise _Refused(f"invalid named capture: `{rest}`")
                if not re.fullmatch(r"[A-Za-z0-9_]+", rest[4:end]):
                    raise _Refused(f"invalid named capture: `{rest[:end + 1]}`")
                self._push_group(i, i + end + 1)
                return
            self._flags(i)
            return
        self._push_group(i, i + 1)

    def _push_group(self, start: int, after: int) -> None:
        if len(self.groups) > _MAX_DEPTH:
            raise _Refused("expression nests too deeply")
        self.groups.append(_Group(start))
        self.i = after

    def _flags(self, start: int) -> None:
        """(?flags) or (?flags:...): flags from i, m, s, U, with one - before those turned off."""
        s = self.s
        j = start + 2
        negated = saw_flag = False
        while j < len(s):
            char = s[j]
            j += 1
            if char in "imsU":
                saw_flag = True
                continue
            if char == "-" and not negated:
                negated, saw_flag = True, False
                continue
            if char in ":)" and (saw_flag or not negated):
                if char == ":":
                    self._push_group(start, j)
                else:
                    self.i = j  # flags alone: no group, nothing to repeat added
                return
            break
        raise _Refused(f"invalid or unsupported Perl syntax: `{s[start:j]}`")

    def _close(self) -> None:
        if len(self.groups) == 1:
            raise _Refused("unexpected )")
        group = self.groups.pop()
        self.i += 1
        self._item(max(group.widest, group.last or 1))

    def _counts(self) -> tuple[int, int, int] | None:
        """{n}, {n,} or {n,m} at i: (end, n, m with -1 for none); None when it is a literal `{`."""
        shape = re.compile(r"\{(0|[1-9][0-9]*)(,(0|[1-9][0-9]*)?)?\}").match(self.s, self.i)
        if shape is None:
            return None
        low = int(shape.group(1)) if len(shape.group(1)) < 10 else _MAX_REPEAT + 1
        if shape.group(2) is None:
            high = low
        elif shape.group(3) is None:
            high = -1
        else:
            high = int(shape.group(3)) if len(shape.group(3)) < 10 else _MAX_REPEAT + 1
        return shape.end(), low, high

    def _repeat(self, start: int, end: int, low: int, high: int, previous: int | None) -> None:
        s = self.s
        if end < len(s) and s[end] == "?":
            end += 1  # non-greedy
        group = self.groups[-1]
        if previous is not None:
            raise _Refused(f"invalid nested repetition operator: `{s[previous:end]}`")
        if group.last is None:
            raise _Refused(f"missing argument to repetition operator: `{s[start:end]}`")
        if s[start] == "{":
            if high == 0:
                group.last = 0  # x{0} matches nothing: Go does not look inside it
            else:
                group.last *= high if high > 0 else max(low, 1)
                if group.last > _MAX_REPEAT:
                    raise _Refused(f"invalid repeat count: `{s[start:end]}`")
        self.i = end
        self.repeat_at = start

    def _escape(self) -> None:
        s, i = self.s, self.i
        if i + 1 >= len(s):
            raise _Refused("trailing backslash at end of expression")
        char = s[i + 1]
        if char in "AbBz" or char in _PERL_CLASSES:
            self.i = i + 2
            self._item()
        elif char == "C":
            raise _Refused("invalid escape sequence: `\\C`")
        elif char == "Q":
            end = s.find("\\E", i + 2)
            literal = s[i + 2:] if end < 0 else s[i + 2:end]
            self.i = len(s) if end < 0 else end + 2
            if literal:
                self._item()
        elif char in "pP":
            self.i = self._unicode_class(i)
            self._item()
        else:
            self.i, _ = self._char_escape(i)
            self._item()

    def _unicode_class(self, i: int) -> int:
        """\\pL, \\PL, \\p{Name}, \\p{^Name} at i: the index after it."""
        s = self.s
        if i + 2 >= len(s):
            raise _Refused(f"invalid character class range: `{s[i:]}`")
        if s[i + 2] != "{":
            if s[i + 2] not in _ONE_LETTER_CATEGORIES:
                raise _Refused(f"invalid character class range: `{s[i:i + 3]}`")
            return i + 3
        end = s.find("}", i)
        if end < 0:
            raise _Refused(f"invalid character class range: `{s[i:]}`")
        if not _UNICODE_CLASS_NAME.fullmatch(s[i + 3:end]):
            raise _Refused(f"invalid character class range: `{s[i:end + 1]}`")
        return end + 1

    def _char_escape(self, i: int) -> tuple[int, int]:
        """One escaped character at i (a backslash): (the index after it, its code point)."""
        s = self.s
        if i + 1 >= len(s):
            raise _Refused("trailing backslash at end of expression")
        char = s[i + 1]
        j = i + 2
        if ord(char) < 128 and not char.isalnum():
            return j, ord(char)  # escaped punctuation is itself
        if char in _C_ESCAPES:
            return j, ord({"a": "\a", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}[char])
        if char == "0" or (char in "1234567" and j < len(s) and s[j] in _OCTAL):
            digits = char
            while len(digits) < 3 and j < len(s) and s[j] in _OCTAL:
                digits += s[j]
                j += 1
            return j, int(digits, 8)
        if char == "x" and j < len(s):
            if s[j] == "{":
                end = s.find("}", j)
                digits = s[j + 1:end] if end > 0 else ""
                if digits and set(digits) <= _HEX and int(digits, 16) <= 0x10FFFF:
                    return end + 1, int(digits, 16)
            elif len(pair := s[j:j + 2]) == 2 and set(pair) <= _HEX:
                return j + 2, int(pair, 16)
        bad = s[i:j]
        if char in "1234567":
            raise _Refused(f"invalid escape sequence: `{bad}` (backreferences are not RE2 syntax)")
        raise _Refused(f"invalid escape sequence: `{bad}`")

    def _class(self, start: int) -> int:
        """A bracketed class at start: the index after its `]`."""
        s = self.s
        i = start + 1
        if i < len(s) and s[i] == "^":
            i += 1
        first = True
        while first or i >= len(s) or s[i] != "]":
            if i >= len(s):
                raise _Refused(f"missing closing ]: `{s[start:]}`")
            first = False
            if s.startswith("[:", i) and (end := s.find(":]", i + 2)) >= 0:
                name = s[i + 2:end].removeprefix("^")
                if name not in _POSIX_CLASSES:
                    raise _Refused(f"invalid character class range: `{s[i:end + 2]}`")
                i = end + 2
                continue
            if s.startswith(("\\p", "\\P"), i):
                i = self._unicode_class(i)
                continue
            if s[i] == "\\" and i + 1 < len(s) and s[i + 1] in _PERL_CLASSES:
                i += 2
                continue
            low_at = i
            i, low = self._class_char(i, start)
            if s.startswith("-", i) and i + 1 < len(s) and s[i + 1] != "]":
                i, high = self._class_char(i + 1, start)
                if high < low:
                    raise _Refused(f"invalid character class range: `{s[low_at:i]}`")
        return i + 1

    def _class_char(self, i: int, start: int) -> tuple[int, int]:
        s = self.s
        if i >= len(s):
            raise _Refused(f"missing closing ]: `{s[start:]}`")
        if s[i] == "\\":
            return self._char_escape(i)
        return i + 1, ord(s[i])
