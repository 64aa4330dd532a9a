"""`watchdog status --daemon` answers "why has this FAILED connector not been restarted?" for
the reasons a poll decides on its own, not only for the gates (tests/test_runbook.py): a failure
not yet seen on the rule's `confirm_polls` polls in a row.

Played against the simulator with `interval: 60s, confirm_polls: 3` (two minutes to confirm):
the row of the FAILED connector said ATTEMPTS 0, NEXT ALLOWED `now`, and nothing under the
table, for those two minutes; only the first poll's `decision` line said `unconfirmed` (the
repeats are at debug). The operator read "now" as "it should have been restarted already".
"""

from __future__ import annotations

from typing import Any

import httpx

from watchdog.report import places_from_json, render_status, status_rows_from_json
from watchdog.server import create_app

from .support import CLUSTER, World, daemon_config, in_process, sim_scenario

TOKEN = "status-why-token-5b1d"


def _http(w: World) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(
        w.daemon.metrics.registry, w.daemon.probes, w.daemon.api_context())), base_url="http://daemon")


async def _shown(w: World) -> tuple[dict[str, Any], str]:
    """The rows of /v1/connectors by connector, and the table `watchdog status --daemon` prints."""
    async with _http(w) as http:
        document = (await http.get("/v1/connectors", headers={"Authorization": f"Bearer {TOKEN}"})).json()
    table = render_status(status_rows_from_json(document), now=w.clock.wall(), places=places_from_json(document),
                          failing=document["polls_failing"], paused=document["polls_paused"])
    return {row["connector"]: row for row in document["connectors"]}, table


def _line(table: str, connector: str) -> str:
    return next(line for line in table.splitlines() if line.strip().startswith(connector + " "))


async def test_a_failure_not_yet_confirmed_shows_what_its_first_restart_waits_for() -> None:
    rules = [{"name": "batch", "trigger": {"type": "status", "interval": 60, "confirm_polls": 3},
              "select": {"include": ["*"]}}]
    scenario = sim_scenario([{"name": "orders-sink", "script": {"initial": "FAILED", "recover_after_restarts": 1}},
                             {"name": "billing-sink"}])
    w = in_process(scenario, daemon_config(rules, token=TOKEN), fake_time=True)
    assert w.clock is not None
    w.daemon.queue.start()
    try:
        await w.daemon.pollers[CLUSTER].poll()
        await w.daemon.queue.join()
        rows, table = await _shown(w)
        assert rows["orders-sink"]["held"] == {
            "decision": "unconfirmed",
            "detail": "seen failed on 1 of the 3 polls in a row that confirm it (confirm_polls 3, every 60s): "
                      "restarted at the last of them if it still fails, in about 2m",
            "at": "2026-03-01T12:00:00.000000+00:00"}
        assert rows["billing-sink"]["held"] is None
        orders = _line(table, "orders-sink")
        assert "held: unconfirmed" in orders and " now " not in orders, table
        assert f"{CLUSTER}/orders-sink: unconfirmed (0s ago): seen failed on 1 of the 3 polls" in table, table

        w.clock.advance(60)
        await w.daemon.pollers[CLUSTER].poll()
        rows, table = await _shown(w)
        assert rows["orders-sink"]["held"]["detail"].startswith("seen failed on 2 of the 3 polls"), rows
        assert rows["orders-sink"]["held"]["detail"].endswith("in about 1m"), rows

        # The third poll restarts it: nothing holds it any more, and its row says the restart.
        w.clock.advance(60)
        await w.daemon.pollers[CLUSTER].poll()
        await w.daemon.queue.join()
        assert [c for c in w.simulator.calls if c.endpoint == "restart"]
        rows, table = await _shown(w)
        assert rows["orders-sink"]["held"] is None and rows["orders-sink"]["attempts"] == 1, rows
        assert "Held" not in table, table
    finally:
        await w.daemon.queue.close(1.0)


async def test_a_restart_waiting_out_a_429_and_the_paused_polls_are_shown() -> None:
    # A failure restarted, its call answered 429 with `Retry-After: 300`: every call of the key
    # waits 300 s, that restart and the cluster's polls alike. Against the simulator the row said
    # ATTEMPTS 1, LAST RESTART 13s ago, NEXT ALLOWED `now`, nothing under the table, for those
    # five minutes (up to rate_limit.max_pause, 15), while its rows were as the last poll before
    # the pause saw them: a restart made, a daemon that would restart it again now, neither true.
    from .support import until

    rules = [{"name": "heal", "trigger": {"type": "status", "confirm_polls": 1}, "select": {"include": ["*"]}}]
    faults = [{"match": {"endpoint": "restart"}, "when": {"count": 1},
               "action": {"status": 429, "headers": {"Retry-After": "300"}}}]
    scenario = sim_scenario([{"name": "orders-sink", "script": {"initial": "FAILED", "recover_after_restarts": 1}},
                             {"name": "billing-sink"}], faults=faults)
    w = in_process(scenario, daemon_config(rules, token=TOKEN), fake_time=True)
    w.daemon.queue.start()
    try:
        await w.daemon.pollers[CLUSTER].poll()
        job = w.daemon.queue.pending_job(next(k for k in w.daemon.engine.statuses if k.connector == "orders-sink"))
        assert job is not None
        await until(lambda: job.rate_limited == 1, "the restart answered 429")
        rows, table = await _shown(w)
        held = rows["orders-sink"]["held"]
        assert held is not None and held["decision"] == "queued", rows
        assert held["detail"].startswith("its restart is queued, not sent yet: tried once (1 answered 429); waiting: "
                                         "every call of its API key is paused for "), held
        assert held["at"] == "2026-03-01T12:00:00.000000+00:00"
        assert rows["billing-sink"]["held"] is None
        orders = _line(table, "orders-sink")
        assert "held: queued" in orders and " now " not in orders, table
        assert f"{CLUSTER}/orders-sink: queued (0s ago): its restart is queued, not sent yet" in table, table
        lines = table.splitlines()
        section = lines[lines.index("Polls paused (a cluster's connectors above are as its last poll before the pause "
                                    "saw them):"):]
        assert section[1].startswith(f"  {CLUSTER}: every call of its API key is paused for "), section
        assert section[1].endswith(" more by a 429 (last poll that worked: 0s ago)"), section
    finally:
        await w.daemon.queue.close(0.1)


async def test_a_connector_one_rule_gave_up_on_and_another_restarts_says_which_rules_budget_is_spent() -> None:
    # A status rule (max_restarts 1) gave up on a connector; an alert rule with restarts left
    # (max_restarts 10) restarts it at its next alert, by design: each rule gives up at its own
    # max_restarts. Against the simulator the log said `gave_up` (rule heal: "left alone until it
    # has stayed healthy"), then `gave_up_cleared` (rule on-alert) with the note "the rule's
    # max_restarts now leaves it restarts to make", which the events table in docs/metrics.md
    # explains as a reload raising it: none had happened, and nothing named the rule whose budget
    # was spent.
    import httpx
    from structlog.testing import capture_logs

    rules = [
        {"name": "heal", "trigger": {"type": "status", "confirm_polls": 1}, "select": {"include": ["*"]},
         "backoff": {"base": 1, "cap": 2, "jitter": 0}, "max_restarts": 1},
        {"name": "on-alert", "trigger": {"type": "alert", "match": {"alertname": "ConnectorFailed"},
                                          "cluster_label": "kafka_cluster_id", "connector_label": "connector"},
         "select": {"include": ["*"]}, "backoff": {"base": 1, "cap": 2, "jitter": 0}, "max_restarts": 10},
    ]
    scenario = sim_scenario([{"name": "orders-sink", "script": {"initial": "FAILED", "recover_after_restarts": "never"}}])
    w = in_process(scenario, daemon_config(rules, token=TOKEN), fake_time=True)
    assert w.clock is not None
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(
        w.daemon.metrics.registry, w.daemon.probes, w.daemon.api_context())), base_url="http://daemon")
    w.daemon.queue.start()
    try:
        with capture_logs() as logs:
            for _ in range(3):
                await w.daemon.pollers[CLUSTER].poll()
                await w.daemon.queue.join()
                w.clock.advance(60)
            body = {"version": "4", "status": "firing", "alerts": [{
                "status": "firing", "startsAt": "2026-03-01T12:00:00Z",
                "labels": {"alertname": "ConnectorFailed", "kafka_cluster_id": CLUSTER, "connector": "orders-sink"}}]}
            answer = (await http.post("/v1/alertmanager", json=body,
                                      headers={"Authorization": f"Bearer {TOKEN}"})).json()["alerts"][0]
            await w.daemon.queue.join()
    finally:
        await w.daemon.queue.close(1.0)
        await http.aclose()
    (gave_up,) = [e for e in logs if e["event"] == "gave_up"]
    assert (gave_up["rule"], gave_up["attempts"]) == ("heal", 1)
    assert gave_up["note"].endswith("; rule(s) on-alert, with restarts left, may still restart it (each rule gives up "
                                    "at its own max_restarts)"), gave_up
    assert answer["decision"] == "restart", answer
    (cleared,) = [e for e in logs if e["event"] == "gave_up_cleared"]
    assert cleared["rule"] == "on-alert" and cleared["attempts"] == 1 and cleared["max_restarts"] == 10
    assert cleared["spent_for"] == ["heal"], cleared
    assert cleared["note"] == ("rule on-alert's max_restarts (10) leaves it restarts to make, where heal's is spent (each "
                               "rule gives up at its own max_restarts): restarted again as rule on-alert's backoff "
                               "allows"), cleared


def _entry(name: str, state: str, *tasks: str) -> dict[str, Any]:
    """An entry of the expanded list as Confluent Cloud answers it."""
    return {"id": {"id": f"lcc-{name}", "id_type": "ID"}, "info": {"name": name, "type": "sink", "config": {}},
            "status": {"name": name, "type": "sink", "connector": {"state": state, "worker_id": "w", "trace": ""},
                       "tasks": [{"id": i, "state": task, "worker_id": "w", "msg": ""} for i, task in enumerate(tasks)]}}


async def test_a_failing_connector_its_rule_will_not_restart_says_why_where_the_row_said_now() -> None:
    # Three connectors a status rule decides never to restart as they are, each row NEXT ALLOWED
    # `now` (or the backoff of a restart long past), nothing under the table: one in a user error
    # (only a person can fix it), one DEGRADED with a task awaiting a worker (Confluent allocates
    # it), one in a state no API documents with a FAILED task (Confluent added a state: said once
    # as `unknown_state`, an hour back in the log). A PAUSED one says nothing more: its STATE does.
    listing = {name: _entry(name, *states) for name, *states in (
        ("users-source", "FAILED", "USER_ACTIONABLE_ERROR"), ("inventory-sink", "DEGRADED", "RUNNING", "UNASSIGNED"),
        ("search-sink", "HIBERNATING", "FAILED"), ("audit-sink", "PAUSED", "PAUSED"), ("orders-sink", "RUNNING", "RUNNING"))}
    faults = [{"match": {"endpoint": "list"}, "action": {"status": 200, "body": listing}}]
    rules = [{"name": "heal", "trigger": {"type": "status", "confirm_polls": 1}, "select": {"include": ["*"]}}]
    w = in_process(sim_scenario([{"name": "orders-sink"}], faults=faults), daemon_config(rules, token=TOKEN),
                   fake_time=True)
    w.daemon.queue.start()
    try:
        await w.daemon.pollers[CLUSTER].poll()
        await w.daemon.queue.join()
        rows, table = await _shown(w)
    finally:
        await w.daemon.queue.close(1.0)
    assert not [c for c in w.simulator.calls if c.endpoint == "restart"]
    held = {name: row["held"] and (row["held"]["decision"], row["held"]["detail"]) for name, row in rows.items()}
    assert held == {
        "users-source": ("user_error", "its status names a configuration or data error (USER_ACTIONABLE_ERROR, or "
                                       "Confluent's validation errors): no restart fixes it; the rule may set "
                                       "restart_user_errors"),
        "inventory-sink": ("transient", "DEGRADED with no task in error: tasks await a worker; Confluent allocates them"),
        "search-sink": ("transient", "in a state the watchdog does not know (HIBERNATING): taken as transient, not "
                                     "restarted; look at the connector, and restart it by hand (watchdog restart) if "
                                     "it has failed"),
        "audit-sink": None, "orders-sink": None}, held
    for name, shown in (("users-source", "held: user_error"), ("inventory-sink", "held: transient"),
                        ("search-sink", "held: transient")):
        assert shown in _line(table, name) and " now " not in _line(table, name), table
    assert f"{CLUSTER}/search-sink: transient (0s ago): in a state the watchdog does not know (HIBERNATING)" in table


async def test_a_failure_the_full_queue_refused_says_so_until_it_is_queued() -> None:
    # A poll whose lane already holds queue.max_jobs_per_lane restarts refuses the rest
    # (`queue_full`, one info line, repeats at debug): their rows said NEXT ALLOWED `now`.
    rules = [{"name": "heal", "trigger": {"type": "status", "confirm_polls": 1}, "select": {"include": ["*"]}}]
    failed = {"initial": "FAILED", "recover_after_restarts": 1}
    scenario = sim_scenario([{"name": "orders-sink", "script": failed}, {"name": "billing-sink", "script": failed}])
    w = in_process(scenario, daemon_config(rules, token=TOKEN, queue={"max_jobs_per_lane": 1}), fake_time=True)
    await w.daemon.pollers[CLUSTER].poll()  # the queue not started: the first restart stays queued
    rows, table = await _shown(w)
    held = {name: row["held"]["decision"] for name, row in rows.items()}
    assert sorted(held.values()) == ["queue_full", "queued"], held
    refused = next(name for name, decision in held.items() if decision == "queue_full")
    assert rows[refused]["held"]["detail"].startswith("lane main already holds 1 restart jobs"), rows[refused]
    assert "held: queue_full" in _line(table, refused), table
    w.daemon.queue.start()
    await w.daemon.queue.join()
    await w.daemon.pollers[CLUSTER].poll()
    await w.daemon.queue.join()
    await w.daemon.queue.close(1.0)
    assert len([c for c in w.simulator.calls if c.endpoint == "restart"]) == 2, "each restarted in turn"


async def test_an_alert_refused_for_its_connectors_state_or_backoff_says_why_in_its_answer() -> None:
    # The webhook's answer (what a person testing a rule with curl reads, and the decision line's
    # `detail`) said `refused`, decision `transient` or `backoff`, detail "": the same connector
    # asked for by name said "it is PAUSED: resume it, and it starts again without a restart".
    import httpx

    rules = [{"name": "on-alert", "trigger": {"type": "alert", "match": {"alertname": "ConnectorFailed"},
                                               "cluster_label": "kafka_cluster_id", "connector_label": "connector"},
              "select": {"include": ["*"]}, "backoff": {"base": 60, "cap": 600, "jitter": 0}}]
    scenario = sim_scenario([{"name": "orders-sink", "script": {"initial": "FAILED", "recover_after_restarts": "never"}},
                             {"name": "audit-sink", "script": {"initial": "PAUSED"}}])
    w = in_process(scenario, daemon_config(rules, token=TOKEN), fake_time=True)
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(
        w.daemon.metrics.registry, w.daemon.probes, w.daemon.api_context())), base_url="http://daemon")

    async def send(connector: str) -> dict[str, Any]:
        body = {"version": "4", "status": "firing", "alerts": [{
            "status": "firing", "startsAt": "2026-03-01T12:00:00Z",
            "labels": {"alertname": "ConnectorFailed", "kafka_cluster_id": CLUSTER, "connector": connector}}]}
        answer = (await http.post("/v1/alertmanager", json=body, headers={"Authorization": f"Bearer {TOKEN}"})).json()
        await w.daemon.queue.join()
        return dict(answer["alerts"][0])

    w.daemon.queue.start()
    try:
        paused = await send("audit-sink")
        assert (await send("orders-sink"))["decision"] == "restart"
        again = await send("orders-sink")
    finally:
        await w.daemon.queue.close(1.0)
        await http.aclose()
    assert (paused["result"], paused["decision"]) == ("refused", "transient"), paused
    assert paused["detail"] == "it is PAUSED: resume it, and it starts again without a restart", paused
    assert (again["result"], again["decision"]) == ("refused", "backoff"), again
    assert again["detail"] == ("1 restart attempt(s) so far; its backoff lets the next go at 2026-03-01T12:02:00+00:00 (in 2m): "
                               "this alert restarts it if sent again then"), again


async def test_a_user_error_its_rule_does_not_restart_reads_held_from_the_state_file_as_from_the_daemon() -> None:
    """probe_cli F7: read from the state file, a connector in a user error its status rule does not
    restart (restart_user_errors off) showed NEXT ALLOWED `now`, the daemon `held: user_error`."""
    from .test_daemon import run_polls, status_rule, world
    from .test_stall_only_rows import _daemon_view, _file_view, _line

    connectors = [
        {"name": "bad-config", "script": {"initial": "USER_ACTIONABLE_ERROR", "recover_after_restarts": "never"}},
        {"name": "healthy"},
    ]
    w = world(connectors, [status_rule()])
    await run_polls(w, 5)
    _, daemon_table = await _daemon_view(w)
    file_table = _file_view(w)
    for table in (daemon_table, file_table):
        assert "held: user_error" in _line(table, "bad-config"), table
        assert "now" in _line(table, "healthy").split(), table
    assert w.simulator.restarts() == []
    await w.daemon.stop()


async def test_a_paused_or_provisioning_connector_shows_no_restart_due() -> None:
    """Every restart of a connector PAUSED or PROVISIONING is refused (rules.refuses_restart): its
    row said NEXT ALLOWED `now`, read as a restart about to go, in both views (verification,
    2026-12-08); the README says such a row shows its STATE alone."""
    from .test_daemon import run_polls, status_rule, world
    from .test_stall_only_rows import _daemon_view, _file_view, _line

    connectors = [{"name": "paused", "script": {"initial": "PAUSED"}},
                  {"name": "provisioning", "script": {"initial": "PROVISIONING"}},
                  {"name": "healthy"}]
    w = world(connectors, [status_rule()])
    await run_polls(w, 3)
    _, daemon_table = await _daemon_view(w)
    for table in (daemon_table, _file_view(w)):
        for name, state in (("paused", "PAUSED"), ("provisioning", "PROVISIONING")):
            words = _line(table, name).split()
            assert words[2] == state and words[5] == "-", table
        assert _line(table, "healthy").split()[5] == "now", table
    await w.daemon.stop()
