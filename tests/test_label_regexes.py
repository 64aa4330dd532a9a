"""Alert rules' `match_re`: RE2, the syntax of Alertmanager's own matchers, anchored as there, and
matched in time linear in the label's length.

Python's `re` backtracks: `(.*a){12}` against a label of 40 `a`s and a `b` took 115 s, the event
loop (webhooks, polls, /healthz) frozen throughout; Alertmanager, on the same matcher, takes
microseconds. A backreference or a lookahead, which Alertmanager cannot read either, is refused
when the config is loaded (the bad-config corpus: alert-trigger-regex-alertmanager-cannot-read).
"""

from __future__ import annotations

import pytest

from watchdog.config.rules import AlertTrigger


def trigger(**match_re: str) -> AlertTrigger:
    return AlertTrigger.model_validate({"type": "alert", "match_re": match_re})


@pytest.mark.timeout(10)  # with a backtracking engine this takes hours, not seconds
def test_a_pattern_that_backtracks_exponentially_is_matched_at_once() -> None:
    rule = trigger(connector="(.*a){12}")
    assert not rule.matches({"connector": "a" * 60 + "b"})
    assert rule.matches({"connector": "a" * 12})


def test_patterns_are_anchored_as_alertmanager_anchors_them() -> None:
    rule = trigger(connector="orders-.*", severity="warning|critical")
    assert rule.matches({"connector": "orders-sink", "severity": "critical"})
    assert not rule.matches({"connector": "new-orders-sink", "severity": "critical"})
    assert not rule.matches({"connector": "orders-sink", "severity": "critical-ish"})
    assert not rule.matches({"severity": "critical"}), "a missing label is the empty string"
    assert trigger(team="").matches({}), "as in Alertmanager, an empty pattern matches a missing label"


def test_an_empty_value_in_match_matches_a_missing_label_as_alertmanager_does() -> None:
    # Before: `match: {maintenance: ""}` ("no maintenance label") matched no alert ever sent.
    rule = AlertTrigger.model_validate({"type": "alert", "match": {"alertname": "ConnectorStalled", "maintenance": ""}})
    assert rule.matches({"alertname": "ConnectorStalled", "connector": "orders-sink"})
    assert not rule.matches({"alertname": "ConnectorStalled", "maintenance": "planned"})
    assert not rule.matches({"connector": "orders-sink"}), "alertname is still required"
