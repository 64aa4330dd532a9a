"""Regular expressions as Alertmanager reads them: RE2 (Google's google-re2), the syntax of Go's
regexp, in which Alertmanager compiles every regex matcher, route and query parameter.

Used for alert rules' `match_re` (matched here) and for `blocking.filters` and `blocking.receiver`
(checked here, matched by Alertmanager). Python's `re` is the wrong engine for both: its syntax
differs both ways (lookarounds and backreferences are Python's, `\\z`, `\\Q...\\E`, `\\pL` and
`[[:alpha:]]` are RE2's), and it backtracks: `(.*a){12}` against a label of 41 characters took
115 s, the event loop frozen, where RE2 takes time linear in the label's length.
"""

from __future__ import annotations

import functools
from typing import Any

import re2

# Errors are raised to the caller, not also logged by RE2 to stderr.
_OPTIONS = re2.Options()
_OPTIONS.log_errors = False


@functools.lru_cache(maxsize=1024)
def label_regex(pattern: str) -> Any:
    """The compiled RE2 pattern; ValueError saying what RE2 cannot read (a backreference, a
    lookahead, an unbalanced group)."""
    try:
        return re2.compile(pattern, _OPTIONS)
    except re2.error as exc:
        reason = exc.args[0].decode(errors="replace") if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        raise ValueError(reason) from None


# How RE2 says a pattern compiles to more than its memory bound (8 MiB): not a syntax error.
RE2_TOO_LARGE = "pattern too large"


def re2_problem(pattern: str) -> str | None:
    """Why RE2 cannot read `pattern`, or None."""
    try:
        label_regex(pattern)
    except ValueError as exc:
        return str(exc)
    return None
