"""Which of many rules' globs first matches a connector name, in a few glob matches per name.

`rules.StatusOwners` (the status rule that owns each polled connector) and `rules.RuleSelection`
(whether any rule still selects a connector, asked at each reload) ask it of every connector. Rule
by rule that is a glob match per rule; as one compiled alternation of every rule's globs it is
one call, but Python's `re` tries the alternation branch by branch (it does not merge the
branches' common prefixes): 1,500 team rules (`team-7-*` each) cost 0.7 ms a name, and a reload
of such a config after a poll of 3,000 connectors held the event loop 4.4 s (the liveness probe's
timeout is 3 s).

Here each glob is filed under its literal anchor: the text before its first wildcard (`*`, `?`,
`[`) or, for a glob that starts with one, the text after its last (`*-sink` under `-sink`). A
name looks up each of its own prefixes and suffixes of the lengths filed (a dict lookup each) and
matches only the globs found there, plus those with no anchor at all (`*`, `*orders*`; several
of them as one alternation, as before), in rule order, stopping at the first that matches: with
one anchored glob per team, about one glob match a name, whatever the number of rules
(docs/benchmarks.md, 9). fnmatch has no escape character, so the text before the
first wildcard (and after the last, since a `[...]` class ends at its `]`) is always literal:
every name a glob matches starts (ends) with its anchor, and no candidate is ever missed.
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Iterable, Iterator, Sequence
from fnmatch import fnmatchcase, translate

_WILDCARDS = "*?["
_SUFFIX_STOPS = "*?[]"


def literal_prefix(pattern: str) -> str:
    """The text every name `pattern` matches begins with (fnmatchcase): up to its first wildcard."""
    cut = min((at for at in map(pattern.find, _WILDCARDS) if at >= 0), default=len(pattern))
    return pattern[:cut]


def literal_suffix(pattern: str) -> str:
    """The text every name `pattern` matches ends with: after its last wildcard or `]` (a class
    ends at a `]`, and a `[` with none after it is literal; text after a `]` is never in a class)."""
    return pattern[max(map(pattern.rfind, _SUFFIX_STOPS)) + 1:]


# (rule position, the glob, its literal prefix, its literal suffix)
_Glob = tuple[int, str, str, str]


class GlobIndex:
    """The globs of rules in order (`globs[i]`: the `include` globs of the i-th rule)."""

    def __init__(self, globs: Iterable[Sequence[str]]) -> None:
        self._by_prefix: dict[str, list[_Glob]] = {}
        self._by_suffix: dict[str, list[_Glob]] = {}
        self._unanchored: list[_Glob] = []
        for position, patterns in enumerate(globs):
            for pattern in dict.fromkeys(patterns):
                glob = (position, pattern, literal_prefix(pattern), literal_suffix(pattern))
                # Filed under the longer anchor (the fewer names share it); the other is checked
                # with startswith/endswith before the glob is matched.
                if glob[2] and len(glob[2]) >= len(glob[3]):
                    self._by_prefix.setdefault(glob[2], []).append(glob)
                elif glob[3]:
                    self._by_suffix.setdefault(glob[3], []).append(glob)
                else:
                    self._unanchored.append(glob)
        self._prefix_lengths = sorted({len(prefix) for prefix in self._by_prefix})
        self._suffix_lengths = sorted({len(suffix) for suffix in self._by_suffix})
        # Globs with no anchor are tried on every name. Several of them are one compiled
        # alternation (a group per rule, in order), which `re` tries in C: one by one in Python,
        # 150 rules' `*team-N*` cost 82 us a name, as an alternation 18 us.
        by_position: dict[int, list[str]] = {}
        for position, pattern, _, _ in self._unanchored:
            by_position.setdefault(position, []).append(translate(pattern))
        self._unanchored_match = re.compile("|".join(
            f"(?P<r{position}>{'|'.join(patterns)})" for position, patterns in by_position.items()
        )).match if len(self._unanchored) > 1 else None

    def first(self, name: str, after: int = 0, before: int | None = None) -> int | None:
        """The position of the first rule from `after` (and below `before`) one of whose globs
        matches `name`; None if none does."""
        anchored = list(self._anchored(name))
        if self._unanchored_match is None or after > 0:  # (after > 0: an exclusion's hand-on, rare)
            return _first_of(name, anchored + ([self._unanchored] if self._unanchored else []), after, before)
        found = self._unanchored_match(name)
        unanchored = None if found is None or found.lastgroup is None else int(found.lastgroup[1:])
        if unanchored is not None and (before is None or unanchored < before):
            before = unanchored  # an anchored glob of an earlier rule still comes first
        else:
            unanchored = None
        earlier = _first_of(name, anchored, after, before)
        return earlier if earlier is not None else unanchored

    def _anchored(self, name: str) -> Iterator[list[_Glob]]:
        """The anchored globs that may match `name`, as lists each in rule order."""
        for length in self._prefix_lengths:
            if length > len(name):
                break
            found = self._by_prefix.get(name[:length])
            if found is not None:
                yield found
        for length in self._suffix_lengths:
            if length > len(name):
                break
            found = self._by_suffix.get(name[len(name) - length:])
            if found is not None:
                yield found


def _first_of(name: str, lists: list[list[_Glob]], after: int, before: int | None) -> int | None:
    """The first position (from `after`, below `before`) of a glob of `lists` (each in rule
    order, merged) that matches `name`."""
    merged = lists[0] if len(lists) == 1 else heapq.merge(*lists)
    for position, pattern, prefix, suffix in merged:
        if before is not None and position >= before:
            break
        if position >= after and name.startswith(prefix) and name.endswith(suffix) and fnmatchcase(name, pattern):
            return position
    return None
