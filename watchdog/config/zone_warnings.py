"""The zone names a config may use that rarely mean what their writer thinks (`EST`, `Etc/GMT-2`:
windows/zone_traps.py says which and why), each said with the path it was written at: at
check-config and, once, at start (start_warnings.py). Legal, so warned of, not refused: some
users mean a fixed offset."""

from __future__ import annotations

from ..windows import WeeklyWindow, parse_window
from ..windows.zone_traps import zone_trap
from .gates import WindowSettings
from .root import Config
from .rules import ScheduleTrigger


def zone_warnings(config: Config) -> list[str]:
    """`<path>: <what the zone really is>` for each rule timezone and window zone that is a trap."""
    found = _window_warnings("windows", config.windows)
    for index, rule in enumerate(config.rules):
        trigger = rule.trigger
        if isinstance(trigger, ScheduleTrigger) and trigger.cron is not None:
            trap = zone_trap(trigger.timezone)
            if trap is not None:
                found.append(f"rules[{index}].trigger.timezone: {trap}")
        if rule.windows is not None:
            found += _window_warnings(f"rules[{index}].windows", rule.windows)
    return found


def _window_warnings(where: str, windows: WindowSettings) -> list[str]:
    found = []
    for kind, texts in (("allowed", windows.allowed or []), ("blackout", windows.blackout)):
        for index, text in enumerate(texts):
            spec = parse_window(text)  # the config took it: it parses
            trap = zone_trap(spec.zone.key) if isinstance(spec, WeeklyWindow) else None
            if trap is not None:
                found.append(f"{where}.{kind}[{index}] {text!r}: {trap}")
    return found
