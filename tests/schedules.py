"""Helpers for schedule-rule tests: a rule built by the config's own validation, and the fire
times the scheduler would get from the trigger the daemon builds for it (rule_trigger)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from watchdog.config import Rule
from watchdog.triggers.scheduler import rule_trigger

BERLIN = ZoneInfo("Europe/Berlin")


def schedule_rule(**trigger: Any) -> Rule:
    return Rule.model_validate(
        {"name": "nightly", "trigger": {"type": "schedule", **trigger}, "select": {"connectors": ["a"]}}
    )


def fire_times(rule: Rule, start: datetime, count: int) -> list[datetime]:
    """The rule's next `count` fire times from `start`, as the scheduler asks for them."""
    trigger = rule_trigger(rule)
    times: list[datetime] = []
    previous, now = None, start
    for _ in range(count):
        nxt = trigger.get_next_fire_time(previous, now)
        assert nxt is not None, f"no fire time after {now.isoformat()}"
        times.append(nxt)
        # In UTC: an aware local time plus a second is wall-clock arithmetic, which drops the
        # fold, so a second after 02:30 CET (the fall-back's second pass) read as 02:30:01 CEST.
        previous, now = nxt, nxt.astimezone(timezone.utc) + timedelta(seconds=1)
    return times


def local(times: list[datetime], zone: ZoneInfo = BERLIN) -> list[str]:
    """Fire times as the zone's clock reads them, with their offset (ISO 8601)."""
    return [t.astimezone(zone).isoformat() for t in times]


def days(times: list[datetime]) -> list[str]:
    """Fire times as dates with their weekday: `Mon 2026-01-05`."""
    return [t.strftime("%a %Y-%m-%d") for t in times]
