"""What the runbook tells the person on call that it did not (the runbook probe, finding 6,
2026-12-06): the error-level lines it never named, the restart by name refused (exit 75) during the
incidents that send one to it, an alert for a full queue, and the lane's size in check-config."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from watchdog.cli import main

from .support import CLUSTER_ID, ENVIRONMENT

ROOT = Path(__file__).parent.parent
RUNBOOK = (ROOT / "docs" / "runbook.md").read_text(encoding="utf-8")
ERROR_LINES = ["scheduled_restart_skipped", "restart_outcome_given_up", "poll_crashed", "restart_job_crashed",
               "leader_start_failed", "leader_stop_failed", "history_not_pruned"]


def _section(title: str) -> str:
    match = re.search(rf"^### {title}\n(.*?)(?=^### |\Z)", RUNBOOK, re.S | re.M)
    assert match, title
    return match.group(1)


@pytest.mark.parametrize("event", ERROR_LINES)
def test_every_error_line_the_probe_found_unexplained_is_logged_at_error_and_named_in_the_runbook(event: str) -> None:
    source = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "watchdog").rglob("*.py"))
    assert re.search(rf'log\.(error|exception)\(\s*"{event}"', source), f"{event} is no error line of the daemon"
    assert f"`{event}`" in RUNBOOK, f"docs/runbook.md does not name {event}"


def test_the_sections_that_send_one_to_them_name_the_lines() -> None:
    assert "`scheduled_restart_skipped`" in _section("WatchdogApiKeyRejected")
    assert "`scheduled_restart_skipped`" in _section("WatchdogPollsFailing")
    recording = _section("WatchdogCannotRecordDecisions")
    assert "`restart_outcome_given_up`" in recording and "`history_not_pruned`" in recording
    assert "`leader_start_failed`" in _section("WatchdogNoLeader")


def test_the_runbook_says_a_restart_by_name_is_refused_while_the_cluster_cannot_be_listed_or_the_lane_is_full() -> None:
    for section in ("WatchdogRestartsFailing", "WatchdogPollsFailing"):
        text = " ".join(_section(section).split())
        assert "exit 75" in text and "could not be listed" in text, section
    failing = " ".join(_section("WatchdogRestartsFailing").split())
    assert "the restart queue is full" in failing and "WatchdogQueueFull" in failing
    # Retry-After is 30 s at the least, not "until the pause ends" (api/refusals.py).
    limited = " ".join(_section("WatchdogRateLimited").split())
    assert "with `Retry-After` until the pause ends" not in limited
    assert "`Retry-After` of 30 s, or the pause's end if that is later" in limited


def test_a_full_queue_pages() -> None:
    rules = yaml.safe_load((ROOT / "deploy" / "prometheus" / "watchdog-alerts.yaml").read_text(encoding="utf-8"))
    [rule] = [r for g in rules["groups"] for r in g["rules"] if r.get("alert") == "WatchdogQueueFull"]
    assert 'decision="queue_full"' in rule["expr"] and rule["labels"]["severity"] == "warning"
    assert "`queue.max_jobs_per_lane`" in _section("WatchdogQueueFull")


def test_check_config_shows_the_lanes_size_the_runbook_says_to_raise(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], credentials_env: None
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({
        "credentials": {"main": {}},
        "clusters": {"prod": {"environment_id": ENVIRONMENT, "kafka_cluster_id": CLUSTER_ID}},
        "state": {"path": str(tmp_path / "state.db")}, "queue": {"max_jobs_per_lane": 250, "manual_restart_gap": 90},
    }))
    assert main(["check-config", "--config", str(path)]) == 0
    [line] = [line for line in capsys.readouterr().out.splitlines() if line.startswith("queue:")]
    assert line == ("queue: at most 250 restart jobs per API key's lane (max_jobs_per_lane; more are refused "
                    "queue_full)   manual_restart_gap: 90s")
