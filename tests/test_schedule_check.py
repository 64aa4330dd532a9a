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
