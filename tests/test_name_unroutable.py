"""Names a Kafka Connect worker cannot route between workers. A follower forwards a connector's
task configs to the leader with the name unencoded, so on a cluster of several workers a name
with `/` or `;` (Jetty cuts the path at `;`: "Connector semi not found") never gets a task: it
reads RUNNING with no task, and was shown `healthy` with nothing said (probe of real Kafka, F3)."""

from __future__ import annotations

from typing import Any

from structlog.testing import capture_logs

from watchdog.model import MANUAL_RULE, ConnectorKey, ConnectorStatus, Decision, TaskStatus, Trigger

from .support import CLOUD, CLUSTER, SELF_MANAGED
from .test_daemon import status_rule, world

RULE = status_rule(trigger={"type": "status", "interval": 5, "confirm_polls": 1, "degraded_report_after": "20s"})


def taskless(name: str) -> ConnectorStatus:
    return ConnectorStatus(name=name, state="RUNNING", tasks=())


async def polls(statuses: dict[str, ConnectorStatus], backend: str, seconds: int = 40) -> list[dict[str, Any]]:
    # The listing is handed to the engine as a poll would: the simulator's own scenario refuses
    # a `/` in a name (a connector created through PUT), which POST /connectors takes on 4.3.1.
    w = world([{"name": "other"}], [RULE], backend=backend)
    assert w.clock is not None
    with capture_logs() as logs:
        for _ in range(seconds // 5):
            await w.daemon.engine.on_poll(CLUSTER, statuses)
            await w.daemon.queue.join()
            w.clock.advance(5)
    assert w.simulator.restarts() == []
    return [e for e in logs if e["event"] == "connector_name_unroutable"]


async def test_a_taskless_connector_whose_name_a_worker_cannot_forward_is_said_once() -> None:
    # `pct%41` and `back\slash` too (the Kafka verification, real 4.3.1: RUNNING with no task,
    # "Error forwarding REST request" in the worker's log; before, said of `/` and `;` only).
    said = await polls({"semi;colon": taskless("semi;colon"), "a/b": taskless("a/b"), "plain": taskless("plain"),
                        "pct%41": taskless("pct%41"), "back\\slash": taskless("back\\slash"),
                        "ok;tasks": ConnectorStatus(name="ok;tasks", state="RUNNING", tasks=(TaskStatus(0, "RUNNING"),))},
                       SELF_MANAGED)
    assert sorted(e["connector"] for e in said) == ["a/b", "back\\slash", "pct%41", "semi;colon"], said
    line = next(e for e in said if e["connector"] == "semi;colon")
    assert line["log_level"] == "warning"
    assert "';'" in line["note"] and "unencoded" in line["note"] and "rename" in line["note"], line["note"]


async def test_not_said_before_degraded_report_after_nor_on_confluent_cloud() -> None:
    assert await polls({"semi;colon": taskless("semi;colon")}, SELF_MANAGED, seconds=15) == []
    assert await polls({"semi;colon": taskless("semi;colon")}, CLOUD) == []


# --- a restart the worker's Jetty refuses for the name alone is not made again at each gap ------


async def test_a_restart_refused_400_for_its_name_is_held_after_the_first_not_made_at_each_gap() -> None:
    # Kafka Connect 4.x (Jetty 12) answers every path with `%`, `\` or a `.`/`..` name with a 400
    # page before Connect sees it ("Ambiguous URI path encoding"): every later attempt gets the
    # same. It was made again at each backoff gap until max_restarts (for ever with null), an
    # error line each (probe of real Kafka, F4: pct%41, back\slash, ..).
    name = "pct%41"
    failing = {"name": name, "type": "sink", "tasks": 1, "script": {"initial": "FAILED", "recover_after_restarts": "never"}}
    w = world([failing, {"name": "fine", "tasks": 1}], [status_rule(max_restarts=None)], backend=SELF_MANAGED)
    assert w.clock is not None
    key = ConnectorKey(CLUSTER, name)
    with capture_logs() as logs:
        for _ in range(60):  # 60 s: gaps of 2, 6, 12, 20 s with base 1 s
            await w.daemon.pollers[CLUSTER].poll()
            await w.daemon.queue.join()
            w.clock.advance(1)
    calls = w.simulator.restarts(connector=name, accepted_only=False)
    assert [(c.status_code) for c in calls] == [400], "made again after the worker refused the name"
    ended = [e for e in logs if e["event"] == "restart_finished" and e["connector"] == name]
    assert [e["outcome"] for e in ended] == ["rejected"]
    held = [e for e in logs if e["event"] == "decision" and e["connector"] == name
            and e["decision"] == "unaddressable" and e["log_level"] == "info"]
    assert len(held) == 1, held
    assert "Ambiguous URI path encoding" in held[0]["detail"] and "by hand" in held[0]["detail"], held[0]["detail"]
    assert w.daemon.engine.held[key][0] is Decision.UNADDRESSABLE
    # A person asking by name is answered by the worker, as always (the name may have become
    # routable: a worker's Jetty configured otherwise).
    w.daemon.engine.on_request(key, w.daemon.engine.statuses[key], trigger=Trigger.MANUAL, rule=MANUAL_RULE,
                               reason="operator")
    await w.daemon.queue.join()
    assert len(w.simulator.restarts(connector=name, accepted_only=False)) == 2


async def test_a_400_for_another_reason_is_retried_at_its_gap_as_before() -> None:
    # Only Jetty's refusal of the path says every later attempt is answered alike; a 400 of
    # Connect's own (or Confluent's, for a PAUSED connector) may not.
    from watchdog.engine.unroutable import may_be_refused_for_its_name, refused_for_its_name
    # Only names Jetty could refuse are looked up in the history (a read per restart decided).
    assert [may_be_refused_for_its_name(n) for n in ("pct%41", "back\\slash", "a/b", "..", "semi;colon")] == [True] * 5
    assert not may_be_refused_for_its_name("orders.v1") and not may_be_refused_for_its_name("billing-sink")
    assert refused_for_its_name(400, "Error 400 Ambiguous URI path encoding")
    assert refused_for_its_name(400, "Error 400 Suspicious Path Character")
    assert refused_for_its_name(400, "Error 400 Ambiguous URI path segment")
    assert not refused_for_its_name(400, "Connector is PAUSED")
    assert not refused_for_its_name(500, "Error 400 Ambiguous URI path encoding")
    assert not refused_for_its_name(None, "")


async def test_a_connector_held_for_its_name_is_no_sign_of_an_outage_to_the_cluster_breaker() -> None:
    # As a user error its rule leaves alone: no restart can reach it, so it is left to people and
    # not counted towards the share of failing connectors that opens the cluster's breaker. Counted,
    # it and one other failure held every restart of the cluster (2 of 3 failing).
    failing = {"name": "pct%41", "type": "sink", "tasks": 1, "script": {"initial": "FAILED", "recover_after_restarts": "never"}}
    late = {"name": "late", "type": "sink", "tasks": 1, "script": {"fail_at": 20, "recover_after_restarts": "never"}}
    w = world([failing, late, {"name": "fine", "tasks": 1}], [status_rule(max_restarts=None)], backend=SELF_MANAGED,
              breaker={"max_failing_share": 0.5, "min_failing": 2, "max_restarts": 1000})
    assert w.clock is not None
    with capture_logs() as logs:
        for _ in range(45):
            await w.daemon.pollers[CLUSTER].poll()
            await w.daemon.queue.join()
            w.clock.advance(1)
    assert not [e for e in logs if e["event"] == "breaker_opened"], [e.get("reason") for e in logs if e["event"] == "breaker_opened"]
    assert w.simulator.restarts(connector="late"), "the other failure was held by the breaker"
    assert len(w.simulator.restarts(connector="pct%41", accepted_only=False)) == 1
