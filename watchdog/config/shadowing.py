"""Status rules that never decide: every connector such a rule selects, an earlier enabled status
rule of the same kind (live or dry-run) selects first, and the first one that selects a
connector is the one that acts on it (no_effect.py says it).

Compared rule with rule, every rule with every earlier one, this cost a glob match per pair: a
fleet of 2,000 team rules (`include: ["team-<i>-*"]` each) took 8.7 s at each reload and each
start, 5,000 rules 57 s (longer than the startupProbe's 60 s with the load). Here each enabled
status rule's `include` entries are filed under their longest literal text (the longest run
between wildcards; with a `[...]` class, the text before the first wildcard or after the last),
and its exact names by name. A rule can cover another only if it selects one of the other's live
entries: a name (an exact name, or an include with no wildcard) its exact names hold or one of
its globs matches, or a glob one of its globs covers (`_covers`: then matched as a name). Each
literal text of a glob is in every name (and every glob, read as a name) it matches, so looking
up each substring of a live entry of the lengths filed (a dict look-up each) finds every rule
that may cover it, and only those are compared in full, in order, as before: the same rule is
named, in a few look-ups a rule (docs/benchmarks.md, 11). Rules whose globs have no literal text
(`*`) are candidates for every rule; the comparison of each candidate is cheap."""

from __future__ import annotations

import re
from collections.abc import Iterable
from fnmatch import fnmatchcase

from ..rule_index import literal_prefix, literal_suffix
from .root import Config
from .rules import Rule, Selector, StatusTrigger

_GLOB = re.compile(r"[*?\[]")


def covers(wide: str, narrow: str) -> bool:
    """Whether every name the glob `narrow` matches, `wide` matches too. Sure only when `wide`
    holds no `?`, `[` or `]` and `narrow` no `[` (each of `wide`'s literal characters then meets a
    literal one of `narrow`, its `*` absorbing the rest); otherwise only when they are equal."""
    if wide == narrow:
        return True
    if re.search(r"[?\[\]]", wide) or "[" in narrow:
        return False
    return fnmatchcase(narrow, wide)


def _selects_name(select: Selector, name: str) -> bool:
    if any(fnmatchcase(name, x) for x in select.exclude):
        return False
    return name in select.connectors or any(fnmatchcase(name, p) for p in select.include)


def _live_entries(select: Selector) -> list[str]:
    """The entries of `select` its own `exclude` does not remove whole (names and globs)."""
    names = [n for n in select.connectors if not any(fnmatchcase(n, x) for x in select.exclude)]
    return names + [p for p in select.include if not any(covers(x, p) for x in select.exclude)]


def _selection_covers(wide: Selector, narrow: Selector) -> bool:
    """Whether `wide` selects every connector `narrow` selects, whatever the connectors are."""
    # What `wide` excludes must be excluded by `narrow` too, or `narrow` may keep what `wide` drops.
    if not all(any(covers(y, x) for y in narrow.exclude) for x in wide.exclude):
        return False
    live = False  # a selector that selects nothing is said so (no_effect._excluded_whole), not shadowed
    for name in narrow.connectors:
        if any(fnmatchcase(name, x) for x in narrow.exclude):
            continue
        live = True
        if not _selects_name(wide, name):
            return False
    for pattern in narrow.include:
        if any(covers(x, pattern) for x in narrow.exclude):
            continue
        live = True
        if _GLOB.search(pattern) is None:
            if not _selects_name(wide, pattern):
                return False
        elif not any(covers(p, pattern) for p in wide.include):
            return False
    return live


def _literal_text(pattern: str) -> str:
    """A text every name `pattern` matches holds (and `pattern` itself, and every glob it covers,
    read as names): its longest run between wildcards; with a `[...]` class, where a `]` or `!`
    may be literal, only the text before the first wildcard or after the last."""
    if "[" in pattern:
        return max(literal_prefix(pattern), literal_suffix(pattern), key=len)
    return max(re.split(r"[*?]", pattern), key=len)


class _Clusters:
    """Which clusters each rule selects, worked out once a rule (compared per pair, each of
    thousands of pairs read every cluster again)."""

    def __init__(self, config: Config) -> None:
        self._config = config
        self._all = frozenset(config.clusters)
        self._selected: dict[int, frozenset[str]] = {}

    def of(self, position: int) -> frozenset[str]:
        if position not in self._selected:
            written = self._config.rules[position].select.clusters
            if written is None:
                self._selected[position] = self._all
            else:  # a name is looked up, a glob matched against each cluster
                names = {w for w in written if _GLOB.search(w) is None and w in self._all}
                globs = [w for w in written if _GLOB.search(w) is not None]
                matched = {c for c in self._all if any(fnmatchcase(c, g) for g in globs)} if globs else set()
                self._selected[position] = frozenset(names | matched)
        return self._selected[position]

    def covered(self, wide: int, narrow: int) -> bool:
        """Whether rule `wide` selects every cluster rule `narrow` selects (and it selects one)."""
        written, narrower = self._config.rules[wide].select.clusters, self._config.rules[narrow].select.clusters
        if written is None:
            return True
        if self._config.discovery is not None:  # clusters not known yet: compare what is written
            return narrower is not None and all(any(covers(w, n) for w in written) for n in narrower)
        selected = self.of(narrow)
        return bool(selected) and selected <= self.of(wide)


class _CoverIndex:
    """The enabled status rules of one kind, by what their selectors hold and, with the clusters
    known (no discovery), by the clusters they select (a rule per cluster, each `include: ["*"]`:
    every earlier rule selects the connectors, none the cluster)."""

    def __init__(self, rules: Iterable[tuple[int, Rule]], clusters: _Clusters | None) -> None:
        self._by_name: dict[str, set[int]] = {}
        self._by_text: dict[str, set[int]] = {}
        self._everywhere: set[int] = set()  # rules with a glob of no literal text (`*`)
        self._clusters = clusters
        self._by_cluster: dict[str, set[int]] = {}
        self._every_cluster: set[int] = set()  # rules with no `clusters`
        for position, rule in rules:
            for name in rule.select.connectors:
                self._by_name.setdefault(name, set()).add(position)
            for pattern in rule.select.include:
                text = _literal_text(pattern)
                if text:
                    self._by_text.setdefault(text, set()).add(position)
                else:
                    self._everywhere.add(position)
            if clusters is not None and rule.select.clusters is None:
                self._every_cluster.add(position)
            elif clusters is not None:
                for cluster in clusters.of(position):
                    self._by_cluster.setdefault(cluster, set()).add(position)
        self._lengths = sorted({len(text) for text in self._by_text})

    def candidates(self, entry: str) -> list[set[int]]:
        """The rules that may select the name `entry`, or cover the glob `entry` (and more), as
        sets their union is (not made: thousands of rules each, for each rule)."""
        found = [self._everywhere, self._by_name.get(entry, set())]
        for length in self._lengths:
            if length > len(entry):
                break
            for start in range(len(entry) - length + 1):
                text = self._by_text.get(entry[start:start + length])
                if text is not None:
                    found.append(text)
        return found

    def in_clusters(self, position: int) -> list[set[int]] | None:
        """The rules that may select every cluster the rule at `position` selects (None: any may,
        the clusters unknown): those that select one of them (any one) or have no `clusters`."""
        if self._clusters is None:
            return None
        some = next(iter(self._clusters.of(position)), None)
        return [self._every_cluster, self._by_cluster.get(some, set()) if some is not None else set()]


def _earlier_in_all(sides: list[list[set[int]]], index: int) -> list[int]:
    """The positions below `index` in (the union of the sets of) every side, in order: the
    smallest side is read, the others asked."""
    smallest = min(sides, key=lambda sets: sum(map(len, sets)))
    others = [sets for sets in sides if sets is not smallest]
    return sorted({p for sets in smallest for p in sets
                   if p < index and all(any(p in s for s in other) for other in others)})


def shadowed_rules(config: Config) -> dict[int, str]:
    """Each enabled status rule that never decides, by position, with the warning that says it."""
    clusters = _Clusters(config)
    known = clusters if config.discovery is None else None  # with discovery, the clusters come at run time
    kinds = {dry_run: _CoverIndex(((position, rule) for position, rule in enumerate(config.rules)
                                   if rule.enabled and isinstance(rule.trigger, StatusTrigger) and rule.dry_run == dry_run),
                                  known)
             for dry_run in (False, True)}
    found = {}
    for index, rule in enumerate(config.rules):
        if not (rule.enabled and isinstance(rule.trigger, StatusTrigger)):
            continue
        live = _live_entries(rule.select)
        if not live:
            continue  # selects nothing: said as such, never shadowed
        # An earlier rule that covers this one selects each of its live entries (and one of its
        # clusters): it is among each entry's candidates; only those in all are compared.
        index_of_kind = kinds[rule.dry_run]
        sides = [index_of_kind.candidates(entry) for entry in live]
        clusters_side = index_of_kind.in_clusters(index)
        for before in _earlier_in_all(sides + ([clusters_side] if clusters_side is not None else []), index):
            earlier = config.rules[before]
            if clusters.covered(before, index) and _selection_covers(earlier.select, rule.select):
                found[index] = _never_decides(index, rule, before, earlier)
                break
    return found


def _never_decides(index: int, rule: Rule, before: int, earlier: Rule) -> str:
    assert isinstance(rule.trigger, StatusTrigger) and isinstance(earlier.trigger, StatusTrigger)
    kind = "dry-run " if rule.dry_run else ""
    polls = ""
    if rule.trigger.interval < earlier.trigger.interval:
        polls = (f"; its interval ({rule.trigger.interval:g}s) still polls the clusters it selects that often, "
                 f"API calls for nothing")
    return (f"rules[{index}] ({rule.name}): never decides: every connector it selects is selected first by "
            f"rules[{before}] ({earlier.name}), and the first enabled {kind}status rule that selects a "
            f"connector is the one that acts on it, so its max_restarts, backoff and windows are never "
            f"applied{polls}; move it above rules[{before}] or narrow rules[{before}]")
