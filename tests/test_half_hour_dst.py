"""A 30-minute fall-back (Australia/Lord_Howe): what docs/configuration.md says a cron does there
is what it does. The docs said a cron with `*` in the hour runs every hour the clock shows, and
`45 * * * *` ran 01:45 once (cronsim steps whole hours): the docs now say so."""

from datetime import datetime, timezone
from pathlib import Path

from .schedules import fire_times, schedule_rule

NIGHT = datetime(2026, 4, 4, 14, 0, tzinfo=timezone.utc)  # 01:00 +11:00 on 5 April, Lord Howe


def _local(cron: str, count: int) -> list[str]:
    rule = schedule_rule(cron=cron, timezone="Australia/Lord_Howe")
    return [t.isoformat() for t in fire_times(rule, NIGHT, count)]


def test_a_half_hour_fall_back_runs_a_star_hour_cron_once_as_documented() -> None:
    assert _local("45 * * * *", 2) == ["2026-04-05T01:45:00+11:00", "2026-04-05T02:45:00+10:30"]
    assert _local("*/20 1 * * *", 4)[-2:] == ["2026-04-05T01:40:00+11:00", "2026-04-05T01:40:00+10:30"]
    doc = " ".join((Path(__file__).parent.parent / "docs" / "configuration.md").read_text().split())
    assert ("so `45 * * * *` (and `40 */1 * * *`) runs at 01:45 +11:00 and next at 02:45 +10:30, not again at "
            "01:45 +10:30 as Debian's cron would") in doc
