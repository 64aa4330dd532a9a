"""Every skip is logged with a reason's words, whichever trigger met it (docs/runbook.md, "Why a
connector was not restarted"). An outside audit (2026-12-06) found a status rule's `backoff`,
`budget_spent`, `transient` (PAUSED) and `duplicate` lines with no `detail`, where an alert's or
a request's said why and what comes next; and the `budget_spent` line's `next_allowed_at`, a few
seconds on, read as "restarted again then" for a connector left alone until it stays healthy.
"""

from __future__ import annotations

from typing import Any

import httpx
import structlog

from watchdog.report import places_from_json, render_status, status_rows_from_json
from watchdog.server import create_app

from .support import CLUSTER, daemon_config, in_process, sim_scenario


def _said(logs: list[dict[str, Any]], connector: str) -> list[dict[str, Any]]:
    """The connector's `decision` lines written at info (repeats go to debug)."""
    return [e for e in logs if e["event"] == "decision" and e["connector"] == connector and e["log_level"] == "info"]


async def test_a_status_rules_skips_say_why_and_what_comes_next() -> None:
    rules = [{"name": "heal", "trigger": {"type": "status", "confirm_polls": 1}, "select": {"include": ["*"]},
              "max_restarts": 2, "backoff": {"base": 60, "cap": 600, "jitter": 0}}]
    scenario = sim_scenario([{"name": "orders-sink", "script": {"initial": "FAILED", "recover_after_restarts": "never"}},
                             {"name": "audit-sink", "script": {"initial": "PAUSED"}}])
    w = in_process(scenario, daemon_config(rules), fake_time=True)
    assert w.clock is not None
    poll = w.daemon.pollers[CLUSTER].poll
    with structlog.testing.capture_logs() as logs:
        await poll()  # the queue not started: the restart stays queued
        await poll()
        w.daemon.queue.start()
        await w.daemon.queue.join()
        w.clock.advance(10)
        await poll()  # restarted 10 s ago: its backoff
        w.clock.advance(110)
        await poll()  # its second and last restart
        await w.daemon.queue.join()
        w.clock.advance(10)
        await poll()
    await w.daemon.queue.close(1.0)
    orders = {e["decision"]: e for e in _said(logs, "orders-sink")}
    assert list(orders) == ["restart", "duplicate", "backoff", "budget_spent"], _said(logs, "orders-sink")
    assert orders["duplicate"]["detail"] == ("a restart of it is already queued, to go at its turn: this poll asks for "
                                             "no other"), orders
    assert orders["backoff"]["detail"] == ("1 restart attempt(s) so far; its backoff lets the next go at "
                                           "2026-03-01T12:02:00+00:00 (in 1m): restarted then if a poll still sees it "
                                           "failing"), orders
    assert orders["budget_spent"]["detail"] == (
        "given up on: 2 restart attempt(s) without a fix (max_restarts); left to a person until it has stayed healthy "
        "for 6m (its backoff gap), or a restart by name (watchdog restart)"), orders
    # No moment it "goes again" at: its backoff's next step is not one.
    assert "next_allowed_at" not in orders["budget_spent"], orders
    assert "next_allowed_at" in orders["backoff"], orders
    [paused] = _said(logs, "audit-sink")
    assert (paused["decision"], paused["detail"]) == (
        "transient", "it is PAUSED: resume it, and it starts again without a restart"), paused
    # Its STATE says it: status shows no `held` line for it (docs/runbook.md's table).
    assert w.daemon.engine.held.get(next(k for k in w.daemon.engine.statuses if k.connector == "audit-sink")) is None


async def test_an_alert_the_fleet_breaker_refused_says_when_the_next_may_go_and_that_a_resend_then_restarts_it() -> None:
    # The detail said "1 restarts in the last 600s (limit 1)": not when the breaker lets the next
    # go (the oldest counted restart leaving the window), nor that the refused alert waits for
    # Alertmanager to send it again. The webhook's answer, the decision line, /v1/connectors and
    # the status table say the same words.
    from .test_api import AUTH, RULES, alert, payload, restart_calls
    from .test_api import world as api_world
    from .test_status_why import _line

    w, http = api_world(rules=RULES, fake_time=True, breaker={"max_restarts": 1, "window": 600})
    assert w.clock is not None
    w.daemon.queue.start()
    try:
        await http.post("/v1/alertmanager", json=payload(alert(connector="orders-sink", fingerprint="a")), headers=AUTH)
        await w.daemon.queue.join()
        w.clock.advance(100)
        with structlog.testing.capture_logs() as logs:
            held = (await http.post("/v1/alertmanager", json=payload(alert(connector="billing-sink", fingerprint="b")),
                                    headers=AUTH)).json()["alerts"][0]
        words = ("1 restarts in the last 600s (limit 1); the next may go after 2026-03-01T12:10:00+00:00 (in 8m), when the "
                 "oldest counted restart leaves the window; this alert restarts it if Alertmanager sends it again after "
                 "then")
        assert (held["decision"], held["detail"]) == ("breaker_open", words), held
        [line] = [e for e in logs if e["event"] == "decision" and e["connector"] == "billing-sink"]
        assert line["detail"] == words, line
        document = (await http.get("/v1/connectors", headers=AUTH)).json()
        rows = {row["connector"]: row for row in document["connectors"]}
        table = render_status(status_rows_from_json(document), now=w.clock.wall(), places=places_from_json(document),
                              failing=document["polls_failing"], paused=document["polls_paused"])
        assert rows["billing-sink"]["held"]["detail"] == words, rows["billing-sink"]
        assert "held: breaker_open" in _line(table, "billing-sink"), table
        assert "when the oldest counted restart leaves the window" in table, table
        w.clock.advance(501)  # past 12:10:00, the oldest restart's window over: Alertmanager sends it again
        again = (await http.post("/v1/alertmanager", json=payload(alert(connector="billing-sink", fingerprint="b")),
                                 headers=AUTH)).json()["alerts"][0]
        await w.daemon.queue.join()
        assert again["decision"] == "restart", again
        assert restart_calls(w) == 2
    finally:
        await w.daemon.queue.close(1.0)
        await http.aclose()


async def test_a_failure_an_open_cluster_breaker_holds_says_when_its_probe_may_go() -> None:
    rules = [{"name": "heal", "trigger": {"type": "status", "confirm_polls": 1}, "select": {"include": ["*"]}}]
    never = {"initial": "FAILED", "recover_after_restarts": "never"}
    scenario = sim_scenario([{"name": f"f{i}", "script": never} for i in range(3)] + [{"name": "ok-sink"}])
    w = in_process(scenario, daemon_config(rules, breaker={"max_failing_share": 0.5, "min_failing": 2,
                                                            "max_restarts": None, "window": 600}), fake_time=True)
    assert w.clock is not None
    w.daemon.queue.start()
    try:
        with structlog.testing.capture_logs() as logs:
            await w.daemon.pollers[CLUSTER].poll()
            await w.daemon.queue.join()
        said = {e["connector"]: e["detail"] for e in logs if e["event"] == "decision" and e["decision"] == "breaker_open"}
        assert said == dict.fromkeys(["f0", "f1", "f2"], (
            "3 of 4 watched connectors failing (more than 50%); until fewer fail, one failure restart there goes per "
            "window as the breaker's probe, the next at 2026-03-01T12:10:00+00:00 (in 10m)")), said
        w.clock.advance(600)
        await w.daemon.pollers[CLUSTER].poll()
        await w.daemon.queue.join()
        assert len([c for c in w.simulator.calls if c.endpoint == "restart"]) == 1, "the probe went then"
    finally:
        await w.daemon.queue.close(1.0)


async def test_a_restart_by_name_or_schedule_an_open_cluster_breaker_holds_says_it_is_not_made() -> None:
    # An outage-storm probe (2026-12-06): POST /v1/restarts during a cluster's outage was answered
    # 202, `skipped`, with "a planned restart waits until fewer fail there", read as queued until
    # then; it was never made (GET /v1/restarts/{id} stayed `skipped`). A schedule's run likewise.
    token = "test-token-5d1c0e2a"
    rules = [{"name": "heal", "trigger": {"type": "status", "confirm_polls": 1}, "select": {"include": ["*"]}},
             {"name": "nightly", "trigger": {"type": "schedule", "cron": "0 3 * * *"}, "select": {"include": ["*"]}}]
    never = {"initial": "FAILED", "recover_after_restarts": "never"}
    scenario = sim_scenario([{"name": f"f{i}", "script": never} for i in range(3)] + [{"name": "ok-sink"}])
    w = in_process(scenario, daemon_config(rules, token=token, breaker={
        "max_failing_share": 0.5, "min_failing": 2, "max_restarts": None, "window": 600}), fake_time=True)
    app = create_app(w.daemon.metrics.registry, w.daemon.probes, w.daemon.api_context())
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://daemon")
    auth = {"Authorization": f"Bearer {token}"}
    w.daemon.queue.start()
    try:
        await w.daemon.pollers[CLUSTER].poll()
        await w.daemon.queue.join()
        asked = await http.post("/v1/restarts", json={"cluster": CLUSTER, "connector": "ok-sink"}, headers=auth)
        answer = asked.json()
        assert (answer["decision"], answer["state"], answer["job"]) == ("breaker_open", "skipped", None), answer
        assert answer["detail"] == ("3 of 4 watched connectors failing (more than 50%); not made (a restart by name is "
                                    "never its probe): ask again once fewer fail there"), answer
        await w.daemon.queue.join()
        followed = (await http.get(f"/v1/restarts/{answer['id']}", headers=auth)).json()
        assert followed["state"] == "skipped", followed
        with structlog.testing.capture_logs() as logs:
            await w.daemon.run_schedule_rule("nightly")
            await w.daemon.queue.join()
        said = {e["detail"] for e in logs if e["event"] == "decision" and e["decision"] == "breaker_open"}
        assert said == {"3 of 4 watched connectors failing (more than 50%); not made (a scheduled one is never its "
                        "probe): the schedule's next run restarts it if fewer fail there then"}, said
        assert [c for c in w.simulator.calls if c.endpoint == "restart"] == []
    finally:
        await w.daemon.queue.close(1.0)
        await http.aclose()
