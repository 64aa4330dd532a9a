"""Connector names no connector can have (status_intake: control characters, over 255 characters,
not valid Unicode), shown in a log line so an operator can find them: escaped to ASCII, cut
short, the first few only."""

from __future__ import annotations

from collections.abc import Sequence

NAMES_SHOWN = 5
NAME_CHARS_SHOWN = 80


def escaped_names(names: Sequence[str]) -> list[str]:
    """The first NAMES_SHOWN names, each as its ASCII escape (`'new\\nline'`, `'odd\\ud83d'`: a
    newline, ESC or lone surrogate can reach no terminal or log reader raw) of its first
    NAME_CHARS_SHOWN characters, `... (300 characters)` after one cut."""
    return [ascii(name[:NAME_CHARS_SHOWN]) + (f"... ({len(name)} characters)" if len(name) > NAME_CHARS_SHOWN else "")
            for name in names[:NAMES_SHOWN]]
