"""A self-managed connector whose instance is UNASSIGNED (its worker left: a rolling deploy, a node
drain) while its tasks are FAILED on a live worker. It was called transient "in passing", neither
restarted nor reported degraded_too_long, until a worker took it: scheduled.rebalance.max.delay.ms,
5 minutes on Kafka's defaults, or for good before 3.6 (KAFKA-12525) (real 4.3.1 workers,
2026-12-06). Now its FAILED tasks are a failure like any other (confirm_polls, backoff, budget),
restarted with onlyFailed=true, which leaves the connector instance alone (Kafka's RestartRequest),
and the instance awaiting a worker is reported after degraded_report_after (rules.classify)."""

from __future__ import annotations

from typing import Any

from structlog.testing import capture_logs

from .support import CLOUD, CLUSTER, SELF_MANAGED
from .test_daemon import restart_times, status_rule, world

# The simulated connector has task 1 FAILED (RUNNING beside it); the listing shows it as a real
# worker did after the connector's worker stopped gracefully.
CONNECTORS = [{"name": "sink-b", "tasks": 2, "script": {"initial": "DEGRADED", "recover_after_restarts": 1}}]
SAID = ("UNASSIGNED with task 1 FAILED: a restart of what failed restarts those tasks (onlyFailed), not the "
        "connector instance, which awaits a worker (a rebalance assigns it)")


def _listed(connector: str, *tasks: str) -> list[dict[str, Any]]:
    entry = {"status": {"name": "sink-b", "type": "sink", "connector": {"state": connector, "worker_id": "w1:8083"},
                        "tasks": [{"id": i, "state": s, "worker_id": "w2:8083"} for i, s in enumerate(tasks)]},
             "info": {"name": "sink-b", "type": "sink", "config": {}, "tasks": []}}
    return [{"match": {"endpoint": "list"}, "action": {"status": 200, "body": {"sink-b": entry}}}]


def _decisions(logs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in logs if e["event"] == "decision" and e["connector"] == "sink-b"]

async def _polled_while_unassigned_with_a_failed_task(w: Any) -> list[dict[str, Any]]:
    """Six polls 5 s apart of the connector listed UNASSIGNED, task 0 RUNNING, task 1 FAILED: their logs."""
    w.simulator.set_faults(_listed("UNASSIGNED", "RUNNING", "FAILED"))
    assert w.clock is not None
    with capture_logs() as logs:
        for _ in range(6):
            await w.daemon.pollers[CLUSTER].poll()
            await w.daemon.queue.join()
            w.clock.advance(5)
    return logs


async def test_its_failed_tasks_are_restarted_after_confirm_polls_and_the_instance_reported_after_degraded_report_after() -> None:
    rule = status_rule(trigger={"type": "status", "interval": 5, "confirm_polls": 2, "degraded_report_after": "20s"})
    w = world(CONNECTORS, [rule], backend=SELF_MANAGED)
    w.simulator.set_faults(_listed("UNASSIGNED", "RUNNING", "FAILED"))
    poller = w.daemon.pollers[CLUSTER]
    assert w.clock is not None
    with capture_logs() as logs:
        await poller.poll()
        await w.daemon.queue.join()
        assert restart_times(w, "sink-b") == [], "restarted on one poll: confirm_polls is 2"
        w.clock.advance(5)
        await poller.poll()
        await w.daemon.queue.join()
        assert len(restart_times(w, "sink-b")) == 1
        # Its task runs again; the instance still awaits a worker.
        w.simulator.set_faults(_listed("UNASSIGNED", "RUNNING", "RUNNING"))
        for _ in range(2):  # 10 s and 15 s after it was first seen
            w.clock.advance(5)
            await poller.poll()
            await w.daemon.queue.join()
        assert not [e for e in logs if e["event"] == "degraded_too_long"], "reported before degraded_report_after"
        w.clock.advance(5)  # 20 s
        await poller.poll()
        await w.daemon.queue.join()

    first, second = _decisions(logs)[:2]
    assert (first["decision"], first["health"], first["detail"]) == (
        "unconfirmed", "failed", f"{SAID}; seen failed on 1 of the 2 polls in a "
        "row that confirm it (confirm_polls 2, every 5s): restarted at the last of them if it still fails, in about 5s")
    assert (second["decision"], second["detail"]) == ("restart", SAID)
    # Only the FAILED task was restarted (onlyFailed=true), not the connector instance (the simulated
    # worker shows its instance RUNNING: the listing alone plays it UNASSIGNED).
    [finished] = [e for e in logs if e["event"] == "restart_finished"]
    assert (finished["outcome"], finished["message"]) == ("accepted", "202: connector RUNNING; tasks 0 RUNNING, 1 RESTARTING")
    assert len(restart_times(w, "sink-b")) == 1
    [reported] = [e for e in logs if e["event"] == "degraded_too_long"]
    assert reported["connector"] == "sink-b" and reported["state"] == "UNASSIGNED"
    assert w.sample("watchdog_connectors_degraded_too_long", cluster=CLUSTER) == 1


async def test_the_clock_runs_while_its_tasks_are_failed_and_restarts_do_not_heal_them() -> None:
    # Its tasks FAILED all along (its budget spent, the restarts not healing them): still reported.
    rule = status_rule(trigger={"type": "status", "interval": 5, "confirm_polls": 2, "degraded_report_after": "20s"},
                       max_restarts=1)
    w = world(CONNECTORS, [rule], backend=SELF_MANAGED)
    logs = await _polled_while_unassigned_with_a_failed_task(w)

    [reported] = [e for e in logs if e["event"] == "degraded_too_long"]
    assert reported["note"].startswith(SAID), reported["note"]
    assert w.sample("watchdog_connectors_degraded_too_long", cluster=CLUSTER) == 1


async def test_a_rebalance_blip_restarts_nothing() -> None:
    # A rolling restart: the instance UNASSIGNED for a poll, its tasks not failed (transient, as
    # before), or a task seen FAILED on that one poll only (confirm_polls holds it).
    for tasks in (("UNASSIGNED", "RUNNING"), ("RUNNING", "FAILED")):
        w = world([{"name": "sink-b", "tasks": 2}], [status_rule()], backend=SELF_MANAGED)
        w.simulator.set_faults(_listed("UNASSIGNED", *tasks))
        assert w.clock is not None
        with capture_logs() as logs:
            await w.daemon.pollers[CLUSTER].poll()
            w.simulator.set_faults([])
            for _ in range(5):
                w.clock.advance(5)
                await w.daemon.pollers[CLUSTER].poll()
                await w.daemon.queue.join()
        assert restart_times(w, "sink-b") == [], tasks
        assert _decisions(logs)[0]["decision"] == ("transient" if "FAILED" not in tasks else "unconfirmed")



CLOUD_SAID = ("UNASSIGNED with task 1 FAILED: a restart on Confluent Cloud restarts the connector and every task, "
              "task 0 RUNNING included (its API has no restart of only what failed)")


async def test_on_confluent_cloud_the_decision_says_the_restart_restarts_every_task() -> None:
    # Cloud's restart has no onlyFailed: the line said "a restart of what failed restarts those
    # tasks (onlyFailed), not the connector instance", and an operator believed task 0, RUNNING,
    # was left alone (session 75's probe, F-LOW-3).
    rule = status_rule(trigger={"type": "status", "interval": 5, "confirm_polls": 2, "degraded_report_after": "20s"})
    w = world(CONNECTORS, [rule], backend=CLOUD)
    logs = await _polled_while_unassigned_with_a_failed_task(w)

    decided = [e for e in _decisions(logs) if e["decision"] == "restart"]
    assert decided and decided[0]["detail"] == CLOUD_SAID, decided
    assert all("onlyFailed" not in e["detail"] for e in _decisions(logs)), _decisions(logs)
    [reported] = [e for e in logs if e["event"] == "degraded_too_long"]
    assert reported["note"].startswith(CLOUD_SAID), reported["note"]
    assert "scheduled.rebalance.max.delay.ms" not in reported["note"], "no Kafka Connect worker on Cloud"
