"""Names a Kafka Connect worker cannot route between workers. A follower forwards a connector's
task configs to the leader with the name unencoded, so on a cluster of several workers a name
with `/` or `;` (Jetty cuts the path at `;`: "Connector semi not found") never gets a task: it
reads RUNNING with no task, and was shown `healthy` with nothing said (probe of real Kafka, F3)."""

from __future__ import annotations

from typing import Any

from structlog.testing import capture_logs

from watchdog.model import ConnectorStatus, TaskStatus

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
    said = await polls({"semi;colon": taskless("semi;colon"), "a/b": taskless("a/b"), "plain": taskless("plain"),
                        "ok;tasks": ConnectorStatus(name="ok;tasks", state="RUNNING", tasks=(TaskStatus(0, "RUNNING"),))},
                       SELF_MANAGED)
    assert sorted(e["connector"] for e in said) == ["a/b", "semi;colon"], said
    line = next(e for e in said if e["connector"] == "semi;colon")
    assert line["log_level"] == "warning"
    assert "';'" in line["note"] and "unencoded" in line["note"] and "rename" in line["note"], line["note"]


async def test_not_said_before_degraded_report_after_nor_on_confluent_cloud() -> None:
    assert await polls({"semi;colon": taskless("semi;colon")}, SELF_MANAGED, seconds=15) == []
    assert await polls({"semi;colon": taskless("semi;colon")}, CLOUD) == []
