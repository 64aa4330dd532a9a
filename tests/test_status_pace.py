"""A status rule's `confirm_polls` counts polls at the rule's own `interval`, however often its
cluster is polled for another rule: a cluster is polled at its rules' shortest interval
(plan.poll_intervals), and a rule written `interval: 5m, confirm_polls: 2` had its connectors
restarted 5 s after a failure was first seen whenever another rule polled the cluster every 5 s."""

from __future__ import annotations

from typing import Any

from structlog.testing import capture_logs

from watchdog.plan import poll_intervals

from .support import CLUSTER
from .test_daemon import restart_times, run_polls, status_rule, world

BACKOFF = {"base": 60, "cap": 3600, "jitter": 0.1}


def _rules(slow: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        status_rule(name="payments", trigger={"type": "status", "interval": 5, "confirm_polls": 2},
                    select={"connectors": ["payments-sink"]}, backoff=BACKOFF),
        status_rule(name="batch", trigger=slow, select={"include": ["*"]}, backoff=BACKOFF),
    ]


async def test_a_slow_rules_confirmation_is_not_cut_short_by_a_faster_rule_polling_its_cluster() -> None:
    connectors = [{"name": "payments-sink", "script": {"fail_at": 10}},
                  {"name": "nightly-export", "script": {"fail_at": 10}}]
    w = world(connectors, _rules({"type": "status", "interval": 300, "confirm_polls": 2}))
    assert poll_intervals(w.daemon.config)[CLUSTER] == 5, "the cluster is polled at the payments rule's interval"
    with capture_logs() as logs:
        await run_polls(w, 70, every=5)  # both FAILED from t = 10 s, for a minute
    # The payments rule polls every 5 s and confirms on 2 polls: restarted 5 s after first seen.
    assert restart_times(w, "payments-sink") == [15.0]
    # The batch rule asked for its failure to be seen on 2 of its polls 5 minutes apart: a
    # failure of a minute is not restarted (before: at the second poll of the cluster, 5 s).
    assert restart_times(w, "nightly-export") == [], "restarted before its rule's confirmation"
    waiting = [e for e in logs if e["event"] == "decision" and e.get("connector") == "nightly-export"
               and e["decision"] == "unconfirmed"]
    assert waiting and "300s" in waiting[0]["detail"], "the decision says what it waits for"
    # A failure that lasts the rule's interval is restarted then, at the first poll after it.
    await run_polls(w, 250, every=5)
    (restarted,) = restart_times(w, "nightly-export")
    assert 10 + 300 <= restarted <= 10 + 300 + 5


async def test_a_rule_polled_at_its_own_interval_confirms_on_its_polls_as_before() -> None:
    connectors = [{"name": "nightly-export", "script": {"fail_at": 10}}]
    w = world(connectors, [status_rule(name="batch", trigger={"type": "status", "interval": 30, "confirm_polls": 3},
                                       backoff=BACKOFF)])
    await run_polls(w, 120, every=30)
    # Seen failed at 30, 60 and 90 s: restarted at the third poll.
    assert restart_times(w, "nightly-export") == [90.0]
