"""Settings a config allows that do nothing, each said with the path it was written at: at
check-config (on stderr) and, once, at start (start_warnings.py). Legal, so warned of, not
refused: the config is valid, only careless. A probe found each accepted without a word:

- a selector entry written as a regular expression (`^orders-.*$`, `orders-(sink|source)`): globs
  and exact names match it as written, so it selects nothing;
- an `include` entry (or an exact name) that the rule's own `exclude` removes whole;
- a status rule behind an earlier one that selects all it selects: the first enabled status rule
  that selects a connector owns it, so the later one never decides, yet its `interval` still
  paces the cluster's polls (live rules are compared with live rules, dry-run with dry-run: a
  trial owns connectors among trials only);
- a status, alert or stalled rule whose windows (with the global ones) never open: a schedule
  rule's are said by the summary already (cli/summary.py, every run held);
- a dated window (ISO range) that ended before now: last year's freeze copied;
- no rule at all (`rules: []`, or no `rules:`): nothing is watched;
- rules, each of them `enabled: false` (every rule switched off during an incident and the file
  left so): nothing is watched either.
- a credential no cluster, discovery or metrics_api uses (credential_use.py): the clusters of
  its organisation are watched by nobody.

The checks are conservative: a warning is said only when the config alone shows the setting does
nothing, whatever connectors the clusters have."""

from __future__ import annotations

import re
from datetime import datetime
from fnmatch import fnmatchcase

from ..windows import AbsoluteWindow, Windows, parse_window
from .credential_use import unused_credentials
from .gates import WindowSettings
from .root import Config
from .rules import Rule, ScheduleTrigger, Selector
from .shadowing import covers, shadowed_rules

_GLOB = re.compile(r"[*?\[]")
# What only a regular expression means: anchors, `.*`/`.+`, an alternation in parentheses, escapes.
_REGEX_SIGNS = re.compile(r"^\^|(?<!\\)\$$|\.[*+]|\([^()]*\|[^()]*\)|\\[dwsDWS.]|\][+{]|\)[*+?]")
_ALTERNATION = re.compile(r"\(([^()]*\|[^()]*)\)")
NO_RULES = ("rules: no rule: nothing is watched or restarted (no status poll, alert or schedule acts; only a restart "
            "asked for by hand, `watchdog restart`, is sent)")
ALL_DISABLED = ("rules: every rule is `enabled: false`: nothing is watched or restarted (no status poll, alert or "
                "schedule acts; only a restart asked for by hand, `watchdog restart`, is sent); set `enabled: true` "
                "on the rules that should act, or `dry_run: true` to try them")


def no_effect_warnings(config: Config, now: datetime) -> list[str]:
    """`<path>: <why it does nothing>` for each such setting, in the order of the file."""
    found = unused_credentials(config)  # `credentials` comes first in a file
    found += _past_windows("windows", config.windows, now)
    if not config.rules:
        # `rules: []` from a generated ConfigMap, or a file cut before `rules:`: valid, and the
        # daemon then polled nothing and restarted nothing, with not a word at start or reload.
        found.append(NO_RULES)
    elif not any(rule.enabled for rule in config.rules):
        # Every rule switched off in an incident and the file left so: valid, and the daemon then
        # watched nothing, as with no rule, without a word (a probe's finding).
        found.append(ALL_DISABLED)
    global_windows = config.windows.compile() if config.windows.configured else None
    never_open = global_windows is not None and global_windows.next_open(now) is None
    if never_open:
        found.append("windows: never open in the next 400 days (with these allowed and blackout windows): no rule "
                     "restarts anything; leave `allowed` out for all the time")
    shadowed = shadowed_rules(config)  # (shadowing.py: an index, not every rule with every earlier one)
    for index, rule in enumerate(config.rules):
        found += _regex_entries(index, rule.select)
        found += _excluded_whole(index, rule.select)
        if rule.windows is not None:
            found += _past_windows(f"rules[{index}].windows", rule.windows, now)
        if rule.enabled and not never_open and not isinstance(rule.trigger, ScheduleTrigger):
            found += _closed_for_good(index, rule, global_windows, now)
        if index in shadowed:
            found.append(shadowed[index])
    return found


def _regex_entries(index: int, select: Selector) -> list[str]:
    found = []
    for field, takes in (("connectors", "exact names"), ("include", "globs"), ("exclude", "globs")):
        for position, entry in enumerate(getattr(select, field)):
            if not _REGEX_SIGNS.search(entry):
                continue
            instead = _as_globs(entry)
            write = f"; write {', '.join(repr(g) for g in instead)}" + (" (one entry each)" if len(instead) > 1 else "")
            if field == "connectors" and any(_GLOB.search(g) for g in instead):
                write += " in `include`"
            does = "removes nothing" if field == "exclude" else "selects nothing"
            found.append(f"rules[{index}].select.{field}[{position}] {entry!r}: looks like a regular expression, but "
                         f"`{field}` takes {takes} (* any text, ? one character), read as written (`.` a dot, `^ $ ( | )` "
                         f"themselves): it {does} you meant"
                         f"{write if instead else ''}")
    return found


def _as_globs(regex: str) -> list[str]:
    """The globs a simple regular expression means, or [] when it is not that simple."""
    text = regex.removeprefix("^")
    text = text[:-1] if text.endswith("$") and not text.endswith("\\$") else text
    text = text.replace(".*", "*").replace(".+", "?*").replace("\\d", "[0-9]")
    text = re.sub(r"\\([.\-_$^])", r"\1", text)
    match = _ALTERNATION.search(text)
    texts = [text[:match.start()] + part + text[match.end():] for part in match.group(1).split("|")] if match else [text]
    if any(re.search(r"[()|+{}\\^$]", t) or not t for t in texts):
        return []
    return texts


def _excluded_whole(index: int, select: Selector) -> list[str]:
    """Entries the rule's own `exclude` removes whole; when that is all of them, the rule."""
    dead = []
    for position, name in enumerate(select.connectors):
        remover = next((x for x in select.exclude if fnmatchcase(name, x)), None)
        if remover is not None:
            dead.append((f"connectors[{position}]", name, remover))
    for position, pattern in enumerate(select.include):
        remover = next((x for x in select.exclude if covers(x, pattern)), None)
        if remover is not None:
            dead.append((f"include[{position}]", pattern, remover))
    if not dead:
        return []
    if len(dead) == len(select.connectors) + len(select.include):
        return [f"rules[{index}].select: its `exclude` removes everything its `include` and `connectors` select "
                f"({', '.join(f'{e!r} by {x!r}' for _, e, x in dead)}): the rule selects nothing"]
    return [f"rules[{index}].select.{where} {entry!r}: removed whole by the rule's exclude {remover!r}: it selects nothing"
            for where, entry, remover in dead]


def _closed_for_good(index: int, rule: Rule, global_windows: Windows | None, now: datetime) -> list[str]:
    if rule.windows is None or not rule.windows.configured:
        return []
    windows = rule.windows.compile()
    if global_windows is not None:
        windows = global_windows.intersect(windows)
    if windows.next_open(now) is not None:
        return []
    return [f"rules[{index}].windows: never open in the next 400 days (with the global windows): rule {rule.name} "
            "restarts nothing; its failures are decided window_closed"]


def _past_windows(where: str, windows: WindowSettings, now: datetime) -> list[str]:
    found = []
    for kind, texts, does in (("allowed", windows.allowed or [], "allows"), ("blackout", windows.blackout, "holds")):
        for position, text in enumerate(texts):
            spec = parse_window(text)  # the config took it: it parses
            if isinstance(spec, AbsoluteWindow) and spec.end <= now:
                found.append(f"{where}.{kind}[{position}] {text!r}: ended {spec.end.isoformat()}, before now: it "
                             f"{does} nothing (dates copied from last year?)")
    return found
