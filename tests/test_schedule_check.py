"""`watchdog check-config` on a schedule rule's windows: the runs of the coming year they hold
(held, not made later), and a warning where they hold every one."""

from datetime import datetime, timezone
from pathlib import Path

import pytest

from watchdog.cli import main
from watchdog.cli.summary import summarize
from watchdog.config import load_config

FIXTURES = Path(__file__).parent / "fixtures" / "configs"

RULES = """\
rules:
  - name: nightly
    trigger: {type: schedule, cron: "0 3 * * *"}
    select: {connectors: [orders-sink]}
    windows: {allowed: ["Mon-Fri 02:00-04:00 Europe/Berlin"]}
  - name: weekdays
    trigger: {type: schedule, cron: "30 3 * * 1-5", jitter: 5m}
    select: {connectors: [orders-sink]}
    windows: {allowed: ["Mon-Fri 04:00-05:00 Europe/Berlin"]}
  - name: often
    trigger: {type: schedule, cron: "* * * * *"}
    select: {connectors: [orders-sink]}
    windows: {allowed: ["Sat 10:00-10:30 UTC"]}
"""


def test_check_config_says_which_runs_a_schedules_windows_hold_and_warns_when_they_hold_all(
    capsys: pytest.CaptureFixture[str], credentials_env: None, tmp_path: Path
) -> None:
    # A cron in UTC beside a window in Europe/Berlin: `0 3 * * *` is 04:00 CET and 05:00 CEST,
    # never inside 02:00-04:00 there, so the rule never restarted anything; `30 3` is inside
    # 04:00-05:00 in winter only. check-config said valid and nothing more.
    path = tmp_path / "config.yaml"
    path.write_text((FIXTURES / "good" / "minimal.yaml").read_text().split("rules:")[0] + RULES)
    assert main(["check-config", "--config", str(path)]) == 0
    out = capsys.readouterr().out
    assert "warning: rule nightly: every run in the next year falls while its windows" in out
    assert "warning: rule weekdays" not in out and "warning: rule often" not in out  # Saturday's 10:00 is open
    assert "jitter 5m" in out
    # The lines check-config prints, from a given day.
    out = summarize(load_config(path), "config.yaml", now=datetime(2026, 12, 3, tzinfo=timezone.utc))
    assert ("runs in the next year: 366, 366 of them while its windows are closed (held, not made later), "
            "the first 2026-12-03T03:00:00+00:00") in out
    assert ("runs in the next year: 262, 155 of them while its windows are closed (held, not made later), "
            "the first 2027-03-29T03:30:00+00:00") in out  # summer time: none from then to October
    assert "runs to 2026-12-03T16:39:00+00:00: 1000, 1000 of them" in out  # a run every minute: the first 1000


def test_check_config_says_when_each_schedule_rule_runs_next_in_its_zone(credentials_env: None, tmp_path: Path) -> None:
    # `interval: 366d` written on 2026-12-07 first runs on 2027-02-13 (the 1970 grid), `7d` on
    # Thursdays; nothing said so, and the summary showed "every 8784h" and "every 168h".
    path = tmp_path / "config.yaml"
    path.write_text((FIXTURES / "good" / "minimal.yaml").read_text().split("rules:")[0] + """\
rules:
  - {name: weekly, trigger: {type: schedule, interval: 7d}, select: {connectors: [a]}}
  - {name: yearly, trigger: {type: schedule, interval: 366d}, select: {connectors: [a]}}
  - {name: tokyo, trigger: {type: schedule, cron: "0 3 * * *", timezone: Asia/Tokyo, jitter: 10m}, select: {connectors: [a]}}
  - {name: brisk, trigger: {type: schedule, interval: 20.5}, select: {connectors: [a]}}
  - {name: paused, enabled: false, trigger: {type: schedule, interval: 1h}, select: {connectors: [a]}}
""")
    out = summarize(load_config(path), "config.yaml", now=datetime(2026, 12, 7, 13, 24, tzinfo=timezone.utc))
    lines = out.splitlines()

    def after(rule: str) -> str:
        at = next(i for i, line in enumerate(lines) if line.split()[:1] == [rule])
        return "\n".join(lines[at:at + 3])

    assert "schedule every 7d" in after("weekly") and "168h" not in out
    assert "next runs: Thu 2026-12-10 00:00, Thu 2026-12-17 00:00 (UTC)" in after("weekly")
    assert "schedule every 366d" in after("yearly") and "8784h" not in out
    assert "next runs: Sat 2027-02-13 00:00, Mon 2028-02-14 00:00 (UTC)" in after("yearly")
    assert ("next runs: Tue 2026-12-08 03:00 +09:00, Wed 2026-12-09 03:00 +09:00 (Asia/Tokyo), each up to 10m later "
            "(jitter)") in after("tokyo")
    assert "next runs" not in after("paused")  # a disabled rule does not run
    # Off the minute, to the second (the verification of b7c4e73 read "14:06, 14:06").
    # On the grid of 20.5 s from 1970-01-01 UTC: 13:24:08.0, then 13:24:28.5 (shown to the second).
    assert "next runs: Mon 2026-12-07 13:24:08, Mon 2026-12-07 13:24:28 (UTC)" in after("brisk"), after("brisk")
