"""`watchdog run --once` (Daemon.run_once) against the independent Kafka Connect fake
(fake_kafka_connect.py, written from Apache Kafka's source): what real workers of 2.x to 4.x
answer beyond a healthy cluster's answers."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from starlette.responses import Response
from structlog.testing import capture_logs

from watchdog.app import Daemon
from watchdog.connect.kafka_connect import KafkaConnectBackend
from watchdog.model import Outcome

from ..conftest import TEST_API_KEY, TEST_API_SECRET
from ..support import CLUSTER, KAFKA_CONNECT_NAME, SELF_MANAGED, Clock, daemon_config
from .fake_kafka_connect import (
    LEADER_GONE,
    NO_LEADER,
    STALE_CONFIG,
    Balancer,
    Connector,
    Worker,
    connector,
    serving,
)

STATUS_RULE = {"name": "heal", "trigger": {"type": "status", "interval": 5, "confirm_polls": 1}, "select": {"include": ["*"]}}
# tests/support.py's cluster_config puts a self-managed cluster's worker under this path
PREFIX = f"/kafka-connect/{KAFKA_CONNECT_NAME}"
SMALLEST_BODY_CAP = 64 * 1024  # api.max_response_bytes' least value
ONLY_FAILED = "includeTasks=true&onlyFailed=true"


async def once(balancer: Balancer, settings: dict[str, Any] | None = None, **api: Any) -> tuple[int, list[dict[str, Any]]]:
    """A `run --once` pass of STATUS_RULE against `balancer`; `api`: api settings, `settings`:
    other sections."""
    async with serving(balancer):
        base = balancer.base_url
        daemon = Daemon(daemon_config([STATUS_RULE], base_url=base, backend=SELF_MANAGED, api={"base_url": base, **api},
                                      **(settings or {})))
        with capture_logs() as logs:
            code = await daemon.run_once()
    return code, logs


def restarted(worker: Worker) -> list[str]:
    return [f"{path.removeprefix(PREFIX)}?{query}" for method, path, query in worker.requests if method == "POST"]


def failing_sinks(count: int, *, tasks: int = 2, trace_kb: int = 16) -> dict[str, Connector]:
    return {f"sink-{i}": connector("RUNNING", ["FAILED"] * tasks, trace_kb=trace_kb) for i in range(count)}


async def test_a_list_too_large_for_its_traces_is_read_status_by_status_and_the_failed_restarted() -> None:
    """A worker puts every FAILED instance's stack trace in the expanded list, uncut: 300 sinks
    of 4 tasks with traces of 16 KB (their database down) made a 20 MB list, and every poll of
    the cluster failed (`answer larger than 16777216 bytes (api.max_response_bytes)`), `run
    --once` exiting 1, nothing judged or restarted. Here 3 sinks of 2 tasks pass the least cap."""
    worker = Worker(version=(3, 9))
    worker.connectors.update(failing_sinks(3))
    worker.connectors.update({f"ok-{i}": connector() for i in range(5)})
    worker.connectors["just-created"] = Connector(has_status=False)  # its status: 404, left out
    code, logs = await once(Balancer([worker], prefix=PREFIX), max_response_bytes=SMALLEST_BODY_CAP)
    assert code == 0, [e for e in logs if e["event"] == "once_incomplete"]
    assert sorted(restarted(worker)) == [f"/connectors/sink-{i}/restart?{ONLY_FAILED}" for i in range(3)]
    [said] = [e for e in logs if e["event"] == "list_read_by_status"]
    assert said["cluster"] == CLUSTER and said["log_level"] == "info"
    assert "larger than 65536 bytes (api.max_response_bytes): read status by status" in str(said["message"])
    lists = [(path, query) for method, path, query in worker.requests if path == f"{PREFIX}/connectors"]
    assert lists == [(f"{PREFIX}/connectors", "expand=status&expand=info"), (f"{PREFIX}/connectors", "")]
    statuses = [path for _, path, _ in worker.requests if path.endswith("/status")]
    assert len(statuses) == 9  # one per name listed


async def test_a_list_a_gateway_stripped_of_its_statuses_is_read_status_by_status_and_the_failed_restarted() -> None:
    """A gateway keeping one value per query key sends `?expand=status&expand=info` on as
    `?expand=info`: every entry came without its status, `unusable_entries` named each one
    `status_missing`, and every poll failed `unusable` (`run --once` exit 1), nothing judged."""
    worker = Worker(version=(4, 1))
    worker.connectors.update(failing_sinks(1, trace_kb=1))
    worker.connectors.update({f"ok-{i}": connector() for i in range(2)})
    code, logs = await once(Balancer([worker], prefix=PREFIX, last_value_per_key=True))
    assert code == 0, [e for e in logs if e["event"] in ("poll_failed", "once_incomplete")]
    assert restarted(worker) == [f"/connectors/sink-0/restart?{ONLY_FAILED}"]
    [said] = [e for e in logs if e["event"] == "list_read_by_status"]
    assert said["message"] == ("the list came without the connectors' statuses (a gateway keeping one value of the "
                               "repeated ?expand parameter?): read status by status")
    assert not [e for e in logs if e["event"] in ("unusable_entries", "poll_failed")]
    lists = [query for _, path, query in worker.requests if path == f"{PREFIX}/connectors"]
    assert lists == ["expand=info"], "the list is asked for once; its names are read from the map"
    assert sorted(path for _, path, _ in worker.requests if path.endswith("/status")) == [
        f"{PREFIX}/connectors/{name}/status" for name in ("ok-0", "ok-1", "sink-0")]


async def test_a_connector_whose_own_status_is_too_large_is_unusable_and_its_neighbours_judged() -> None:
    worker = Worker(version=(4, 1))
    worker.connectors.update(failing_sinks(1))
    worker.connectors["huge"] = connector("RUNNING", ["FAILED"] * 5, trace_kb=16)  # 80 KB alone
    worker.connectors["ok"] = connector()
    code, logs = await once(Balancer([worker], prefix=PREFIX), max_response_bytes=SMALLEST_BODY_CAP)
    assert code == 0
    assert restarted(worker) == [f"/connectors/sink-0/restart?{ONLY_FAILED}"]
    [unusable] = [e for e in logs if e["event"] == "unusable_entries"]
    assert unusable["entries"] == {"huge": "status_not_read"}


async def test_a_name_a_4_x_worker_will_not_route_is_unusable_and_its_neighbours_judged() -> None:
    """Kafka Connect 4.x (Jetty 12) answers `GET /connectors/a%2Fb/status` with a 400 page: read
    status by status, that one connector is unknown, not the whole cluster's poll failed."""
    worker = Worker(version=(4, 1))
    worker.connectors.update(failing_sinks(2))
    worker.connectors["team/orders"] = connector("RUNNING", ["FAILED"])
    worker.connectors.update({f"ok-{i}": connector() for i in range(3)})
    code, logs = await once(Balancer([worker], prefix=PREFIX), max_response_bytes=SMALLEST_BODY_CAP)
    assert code == 0
    assert sorted(restarted(worker)) == [f"/connectors/sink-{i}/restart?{ONLY_FAILED}" for i in range(2)]
    [unusable] = [e for e in logs if e["event"] == "unusable_entries"]
    assert unusable["entries"] == {"team/orders": "status_not_read"}


async def test_a_list_within_the_cap_is_one_call() -> None:
    worker = Worker(version=(3, 9))
    worker.connectors.update(failing_sinks(1, trace_kb=4))
    worker.connectors["ok"] = connector()
    code, logs = await once(Balancer([worker], prefix=PREFIX))
    assert code == 0
    assert restarted(worker) == [f"/connectors/sink-0/restart?{ONLY_FAILED}"]
    assert [path for _, path, _ in worker.requests if path.endswith("/status")] == []
    assert not [e for e in logs if e["event"] == "list_read_by_status"]


async def test_a_list_too_large_is_not_asked_of_every_worker_in_turn() -> None:
    """Every worker lists the same cluster: a list too large from the first is read status by
    status there, not fetched whole again from each other worker (as a broken worker's 2xx is)."""
    first, second = Worker(version=(3, 9)), Worker(version=(3, 9))
    for worker in (first, second):
        worker.connectors.update(failing_sinks(3))
        worker.connectors.update({f"ok-{i}": connector() for i in range(5)})  # the breaker holds 3 of 3
    one, two = Balancer([first], prefix=PREFIX), Balancer([second], prefix=PREFIX)
    async with serving(one), serving(two):
        cluster = {"backend": SELF_MANAGED, "urls": [one.url, two.url]}
        daemon = Daemon(daemon_config([STATUS_RULE], backend=SELF_MANAGED, clusters={CLUSTER: cluster},
                                      api={"base_url": one.base_url, "max_response_bytes": SMALLEST_BODY_CAP}))
        code = await daemon.run_once()
    assert code == 0
    assert len(restarted(first)) == 3 and second.requests == []


async def test_a_worker_before_2_3_listing_names_only_is_read_status_by_status_and_its_failed_task_restarted() -> None:
    """Kafka Connect before 2.3 (KIP-465) answers `GET /connectors?expand=...` with the names
    alone, as does a worker behind a proxy that drops the query: every poll of the cluster failed
    (`unreadable response: expanded list is not an object but an array (of names?)`), `run
    --once` exiting 1, its FAILED task never restarted."""
    worker = Worker(version=(2, 2))
    worker.connectors.update({"orders": connector("RUNNING", ["RUNNING", "FAILED"]), "ok": connector()})
    code, logs = await once(Balancer([worker], prefix=PREFIX))
    assert code == 0, [e for e in logs if e["event"] == "once_incomplete"]
    # Before 3.0 the flags are ignored (204): the failed task is then restarted by id.
    assert restarted(worker) == [f"/connectors/orders/restart?{ONLY_FAILED}", "/connectors/orders/tasks/1/restart?"]
    [said] = [e for e in logs if e["event"] == "list_read_by_status"]
    assert "names only (Kafka Connect before 2.3 ignores ?expand" in str(said["message"])
    lists = [query for _, path, query in worker.requests if path == f"{PREFIX}/connectors"]
    assert lists == ["expand=status&expand=info", ""]


async def test_a_worker_listing_names_only_beside_one_answering_the_map_is_passed_over() -> None:
    """A rolling upgrade from 2.2: the worker answering the map is asked next, and the poll is
    one list call there, not a status call per connector."""
    old, new = Worker(version=(2, 2)), Worker(version=(3, 9))
    for worker in (old, new):
        worker.connectors.update({"orders": connector("RUNNING", ["RUNNING", "FAILED"]), "ok": connector()})
    first, second = Balancer([old], prefix=PREFIX), Balancer([new], prefix=PREFIX)
    async with serving(first), serving(second):
        cluster = {"backend": SELF_MANAGED, "urls": [first.url, second.url]}
        daemon = Daemon(daemon_config([STATUS_RULE], backend=SELF_MANAGED, clusters={CLUSTER: cluster},
                                      api={"base_url": first.base_url}))
        with capture_logs() as logs:
            code = await daemon.run_once()
    assert code == 0
    assert restarted(new) == [f"/connectors/orders/restart?{ONLY_FAILED}"]
    assert [path for _, path, _ in old.requests + new.requests if path.endswith("/status")] == []
    assert not [e for e in logs if e["event"] == "list_read_by_status"]


async def test_a_self_managed_connector_left_unassigned_is_reported_once_past_degraded_report_after() -> None:
    """Kafka Connect has no DEGRADED: a connector whose task no worker runs stays RUNNING with the
    task UNASSIGNED (what a worker that left writes until another takes it), or is UNASSIGNED
    itself. Such connectors were `transient` at every poll for good and never reported: no
    `degraded_too_long`, `watchdog_connectors_degraded_too_long` 0 after 30 s with
    `degraded_report_after: 8s` in a running daemon. Neither is restarted (no restart of what
    failed touches them); the RUNNING one with no task at all (a connector that made none) is healthy."""
    worker = Worker(version=(3, 9))
    worker.connectors.update({
        "task-unassigned": connector("RUNNING", ["RUNNING", "UNASSIGNED"]),
        "unassigned": connector("UNASSIGNED", ["UNASSIGNED"]),
        "no-tasks": connector("RUNNING", []),
        "paused": connector("PAUSED", ["PAUSED"]),
        "ok": connector(),
    })
    clock = Clock()
    rule = {**STATUS_RULE, "trigger": {**STATUS_RULE["trigger"], "degraded_report_after": "60s"}}
    balancer = Balancer([worker], prefix=PREFIX)
    async with serving(balancer):
        base = balancer.base_url
        daemon = Daemon(daemon_config([rule], base_url=base, backend=SELF_MANAGED, api={"base_url": base}),
                        now=clock.wall, clock=clock.monotonic)
        gauge = ("watchdog_connectors_degraded_too_long", {"cluster": CLUSTER})
        with capture_logs() as logs:
            for second in range(0, 61, 5):
                await daemon.pollers[CLUSTER].poll()
                if second < 60:
                    assert daemon.metrics.registry.get_sample_value(*gauge) == 0
                clock.advance(5)
            await daemon.pollers[CLUSTER].poll()
            assert daemon.metrics.registry.get_sample_value(*gauge) == 2
            worker.connectors["task-unassigned"].tasks[1].state = "RUNNING"  # a worker took it
            await daemon.pollers[CLUSTER].poll()
            assert daemon.metrics.registry.get_sample_value(*gauge) == 1
        await daemon.stop()
    reports = [e for e in logs if e["event"] == "degraded_too_long"]
    assert sorted((e["connector"], e["state"], e["log_level"]) for e in reports) == [
        ("task-unassigned", "RUNNING", "warning"), ("unassigned", "UNASSIGNED", "warning")]
    assert all("UNASSIGNED: no worker has said it runs it" in str(e["note"]) for e in reports)
    assert [e["connector"] for e in logs if e["event"] == "degraded_ended"] == ["task-unassigned"]
    assert restarted(worker) == []


# --- Cases in which the fake found the daemon sound, kept ------------------------------------------


async def test_only_failed_instances_are_restarted_and_states_awaiting_or_held_are_left_alone() -> None:
    """PAUSED, STOPPED (3.5+), RESTARTING and UNASSIGNED are never restarted by a status rule;
    a FAILED task (of a RUNNING connector) and a FAILED connector without tasks are, with
    onlyFailed=true, and the 202's plan is the restart's message."""
    worker = Worker(version=(4, 1))
    worker.connectors.update({
        "paused": connector("PAUSED", ["PAUSED"]), "stopped": connector("STOPPED", []),
        "restarting": connector("RESTARTING", ["RESTARTING"]), "unassigned": connector("UNASSIGNED", ["UNASSIGNED"]),
        "task-failed": connector("RUNNING", ["RUNNING", "FAILED"], trace_kb=8),
        "connector-failed": connector("FAILED", [], trace_kb=8),
        **{f"ok-{i}": connector() for i in range(4)},
    })
    code, logs = await once(Balancer([worker], prefix=PREFIX))
    assert code == 0
    assert sorted(restarted(worker)) == [f"/connectors/connector-failed/restart?{ONLY_FAILED}",
                                         f"/connectors/task-failed/restart?{ONLY_FAILED}"]
    messages = {e["connector"]: e["message"] for e in logs if e["event"] == "restart_finished"}
    assert messages == {"task-failed": "202: connector RUNNING; tasks 0 RUNNING, 1 RESTARTING",
                        "connector-failed": "202: connector RESTARTING; tasks none"}


async def test_a_worker_before_3_0_has_its_failed_task_restarted_by_id_after_its_204() -> None:
    worker = Worker(version=(2, 8))
    worker.connectors.update({"orders": connector("RUNNING", ["RUNNING", "FAILED"]), "ok": connector()})
    code, logs = await once(Balancer([worker], prefix=PREFIX))
    assert code == 0
    assert restarted(worker) == [f"/connectors/orders/restart?{ONLY_FAILED}", "/connectors/orders/tasks/1/restart?"]
    [finished] = [e for e in logs if e["event"] == "restart_finished"]
    assert finished["outcome"] == "accepted" and "ignored includeTasks/onlyFailed (answered 204)" in finished["message"]


async def test_a_restart_behind_a_newer_worker_whose_leader_is_before_3_0_restarts_the_failed_tasks_by_id() -> None:
    """A rolling upgrade from 2.x: the 2.8.2 leader ignores the flags and restarts the connector
    instance only; the 4.3.1 worker asked answers 202 with an empty body. Taken as accepted, the
    FAILED task was never restarted (history `accepted 202`, then `gave_up`)."""
    worker = Worker(version=(4, 3), leader_version=(2, 8))
    worker.connectors.update({"orders": connector("RUNNING", ["RUNNING", "FAILED"]), "ok": connector()})
    code, logs = await once(Balancer([worker], prefix=PREFIX))
    assert code == 0
    assert restarted(worker) == [f"/connectors/orders/restart?{ONLY_FAILED}", "/connectors/orders/tasks/1/restart?"]
    [finished] = [e for e in logs if e["event"] == "restart_finished"]
    assert (finished["outcome"], finished["status_code"]) == ("accepted", 202)
    assert finished["message"] == (
        "this Kafka Connect answered 202 naming no instance it restarts (a leader before 3.0 ignores "
        "includeTasks/onlyFailed and restarts the connector instance only); restarted tasks 1 one by one")
    assert worker.connectors["orders"].tasks[1].state == "RUNNING"


async def test_a_restart_of_every_instance_behind_a_newer_worker_whose_leader_is_before_3_0_restarts_each_task() -> None:
    worker = Worker(version=(3, 4), leader_version=(2, 8))
    worker.connectors["orders"] = connector("RUNNING", ["RUNNING", "RUNNING"])
    async with serving(Balancer([worker], prefix=PREFIX)) as url:
        http = httpx.AsyncClient(timeout=10)
        try:
            result = await KafkaConnectBackend(http, [url]).restart("orders", only_failed=False)
        finally:
            await http.aclose()
    assert (result.outcome, result.status_code) == (Outcome.ACCEPTED, 202)
    assert result.message.endswith("; restarted tasks 0, 1 one by one"), result.message
    assert restarted(worker) == ["/connectors/orders/restart?includeTasks=true&onlyFailed=false",
                                 "/connectors/orders/tasks/0/restart?", "/connectors/orders/tasks/1/restart?"]


async def test_a_202_whose_body_is_cut_short_stays_accepted_without_restarts_by_id() -> None:
    """Not the empty 202 above: a body that began and broke off came from a worker that planned
    the restart (3.0 and later), so nothing is restarted again by id."""
    def cut(request: Any) -> Response | None:
        if request.method == "POST":
            return Response(b'{"name": "orders", "connector": {"state": "RUN', 202, media_type="application/json")
        return None

    worker = Worker(version=(4, 3), hook=cut)
    worker.connectors["orders"] = connector("RUNNING", ["FAILED"])
    async with serving(Balancer([worker], prefix=PREFIX)) as url:
        http = httpx.AsyncClient(timeout=10)
        try:
            result = await KafkaConnectBackend(http, [url]).restart("orders")
        finally:
            await http.aclose()
    assert (result.outcome, result.status_code) == (Outcome.ACCEPTED, 202)
    assert "one by one" not in (result.message or "")
    assert restarted(worker) == [f"/connectors/orders/restart?{ONLY_FAILED}"]


@pytest.mark.parametrize(("faults", "outcome", "sent"), [
    # DistributedHerder.checkRebalanceNeeded: 409 "stale configuration", tried again, then run
    ([(409, STALE_CONFIG)] * 3, "accepted", 4),
    ([(409, NO_LEADER)], "accepted", 2),
    # A follower that cannot reach the leader it forwards to ran nothing: tried again
    ([(500, LEADER_GONE)] * 2, "accepted", 3),
    # Deleted between the poll and the restart: ConnectorsResource's 404, not sent again
    ([(404, "Unknown connector: orders")], "not_found", 1),
])
async def test_a_restart_answered_as_a_worker_answers_during_a_rebalance_or_a_deletion(
    faults: list[tuple[int, str]], outcome: str, sent: int,
) -> None:
    worker = Worker(version=(3, 9), write_faults=list(faults))
    worker.connectors.update({"orders": connector("RUNNING", ["RUNNING", "FAILED"]), "ok": connector(),
                              "ok-2": connector()})
    # Retries 10 ms apart, not the default backoff's seconds
    code, logs = await once(Balancer([worker], prefix=PREFIX), {"rate_limit": {"backoff": {"base": 0.01, "cap": 0.01}}})
    [finished] = [e for e in logs if e["event"] == "restart_finished"]
    assert finished["outcome"] == outcome, finished
    assert restarted(worker) == [f"/connectors/orders/restart?{ONLY_FAILED}"] * sent
    assert code == (0 if outcome == "accepted" else 1)


async def test_basic_auth_a_worker_refuses_without_the_credential_and_serves_with_it() -> None:
    """JaasBasicAuthFilter's bare 401: a pass that could not read the cluster says so, exit 1;
    with the cluster's credential (api_key as user, api_secret as password) it is read."""
    worker = Worker(version=(3, 9), auth=(TEST_API_KEY, TEST_API_SECRET))
    worker.connectors.update({"orders": connector("RUNNING", ["FAILED"]), "ok": connector(), "ok-2": connector()})
    code, logs = await once(Balancer([worker], prefix=PREFIX))
    assert code == 1 and restarted(worker) == []
    [incomplete] = [e for e in logs if e["event"] == "once_incomplete"]
    assert str(incomplete["clusters"][CLUSTER]).startswith("unauthorized")
    balancer = Balancer([worker], prefix=PREFIX)
    async with serving(balancer) as url:
        cluster = {"backend": SELF_MANAGED, "urls": [url], "credential": "main"}
        daemon = Daemon(daemon_config([STATUS_RULE], backend=SELF_MANAGED, clusters={CLUSTER: cluster},
                                      api={"base_url": balancer.base_url}))
        assert await daemon.run_once() == 0
    assert restarted(worker) == [f"/connectors/orders/restart?{ONLY_FAILED}"]
