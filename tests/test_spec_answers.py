"""Answers legal per Confluent's specs, drawn at random (tests/spec_answers.py), served to the
real clients over a loopback socket and to the daemon's engine through the simulator.

Whatever the draw (optional fields absent, empty arrays, nulls where nullable, properties the
spec does not name, long strings, an emoji or half of one): nothing crashes, a connector whose
status is healthy is never restarted, one that is FAILED is, and an answer that cannot be used
is reported as such, never read as "nothing there".
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from structlog.testing import capture_logs

from watchdog.connect import ConfluentCloudBackend
from watchdog.connect.backend import Endpoint
from watchdog.connect.cloud import call_api
from watchdog.connect.metrics_api import MetricsApiClient
from watchdog.connect.transfer import DEFAULT_LIMITS
from watchdog.discovery.found import cluster_parser, parse_environment, parse_page
from watchdog.model import Outcome, connector_name_problem
from watchdog.rules import unaddressable

from .loopback import QuietHandler, serving
from .spec_answers import Drawer
from .support import CLUSTER, sim_scenario
from .test_daemon import run_polls, status_rule, world

CONNECT = "confluent-connect-v1-openapi.yaml"
LIFECYCLE = "confluent-connect-v1-lifecycle-2026-excerpt.yaml"
PREFIX = "/connect/v1/environments/{environment_id}/clusters/{kafka_cluster_id}/connectors"
EXPANDED_LIST = f"{PREFIX}?expand=info,status,id"
RESTART = f"{PREFIX}/{{connector_name}}/restart"
# What each documented refusal of a restart ends as.
RESTART_REFUSALS = {401: Outcome.UNAUTHORIZED, 403: Outcome.FORBIDDEN, 404: Outcome.NOT_FOUND, 500: Outcome.SERVER_ERROR}


def _state(entry: Any) -> tuple[str, list[Any]] | None:
    """The connector state and task states the entry shows (None: no status to read)."""
    status = entry.get("status") if isinstance(entry, dict) else None
    if not isinstance(status, dict):
        return None
    return status["connector"]["state"], [task["state"] for task in status.get("tasks") or []]


def _addressable(name: str) -> bool:
    return connector_name_problem(name) is None and not unaddressable(name)


@pytest.mark.parametrize("seed", range(12))
async def test_the_engine_restarts_exactly_the_failed_connectors_of_a_drawn_list(seed: int) -> None:
    drawer = Drawer(CONNECT, seed)
    body = drawer.draw(drawer.response_schema(EXPANDED_LIST, "get", 200))
    # Every connector FAILED in one draw, and most healthy in another: both judgements get tested.
    for name, entry in body.items():
        if isinstance(entry.get("status"), dict):
            entry["status"]["connector"]["state"] = "FAILED" if seed % 2 else "RUNNING"
            if seed % 4 == 2:
                entry["status"]["tasks"] = [{"id": 0, "state": "RUNNING", "worker_id": name}]
    connectors = [{"name": "placeholder"}]
    faults = [{"match": {"endpoint": "list"}, "action": {"status": 200, "body": body}}]
    w = world(connectors, [status_rule()], scenario=sim_scenario(connectors, faults=faults))

    with capture_logs() as logs:
        await run_polls(w, 4)

    assert [e["event"] for e in logs if e["event"] in ("poll_crashed", "restart_job_crashed")] == []
    restarted = {call.connector for call in w.simulator.restarts(accepted_only=False)}
    shown = {name: _state(entry) for name, entry in body.items()}
    healthy = {name for name, state in shown.items() if state in (("RUNNING", []), ("RUNNING", ["RUNNING"]))}
    failed = {name for name, state in shown.items() if state is not None and state[0] == "FAILED"
              and "there were some errors" not in str(body[name]["status"]["connector"].get("trace", "")).lower()}
    assert not restarted & healthy, "a healthy connector was restarted"
    assert restarted == {name for name in failed if _addressable(name)}, "a FAILED connector was not restarted"
    if body and all(state is None for state in shown.values()):
        assert w.sample("watchdog_polls_total", cluster=CLUSTER, result="unusable") == 4
    else:
        assert w.sample("watchdog_polls_total", cluster=CLUSTER, result="ok") == 4


class _Answers(QuietHandler):
    """Serves the answers queued in `answers` (status, JSON body or None), one a request."""

    answers: list[tuple[int, Any]] = []

    def _answer(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        status, body = self.answers.pop(0)
        if body is None:
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()
        else:
            self.send_body(status, json.dumps(body).encode())

    do_GET = do_POST = _answer


@pytest.fixture
def loopback() -> Iterator[tuple[type[_Answers], str]]:
    class Answers(_Answers):
        answers = []

    with serving(Answers) as server:
        yield Answers, f"http://127.0.0.1:{server.server_port}"


async def test_drawn_answers_of_every_operation_are_read_by_the_real_clients(
    loopback: tuple[type[_Answers], str],
) -> None:
    answers, base_url = loopback
    async with httpx.AsyncClient(base_url=base_url) as http:
        backend = ConfluentCloudBackend(http, "env-1", "lkc-1")
        for seed in range(30):
            connect, lifecycle = Drawer(CONNECT, seed), Drawer(LIFECYCLE, seed)

            answers.answers.append((200, body := connect.draw(connect.response_schema(EXPANDED_LIST, "get", 200))))
            listed = await backend.list_connectors()
            assert listed.ok and listed.value is not None and set(listed.value) == set(body)
            for name, entry in body.items():
                assert (listed.value[name].unusable is None) == (_state(entry) is not None)

            answers.answers.append((202, None))
            assert (await backend.restart("orders")).outcome is Outcome.ACCEPTED
            for status, outcome in RESTART_REFUSALS.items():
                refusal = lifecycle.resolve(lifecycle.document["paths"][RESTART]["post"]["responses"][str(status)])
                answers.answers.append((status, lifecycle.draw(refusal["content"]["application/json"]["schema"])))
                result = await backend.restart("orders")
                assert (result.outcome, result.status_code) == (outcome, status)
                assert result.message, "a refusal without a reason said nothing"


async def test_drawn_environment_and_cluster_lists_are_read_whole(loopback: tuple[type[_Answers], str]) -> None:
    answers, base_url = loopback
    async with httpx.AsyncClient(base_url=base_url) as http:
        for seed in range(30):
            org, cmk = Drawer("confluent-org-v2-openapi.yaml", seed), Drawer("confluent-cmk-v2-openapi.yaml", seed)
            environments = org.draw(org.response_schema("/org/v2/environments", "get", 200))
            for number, entry in enumerate(environments["data"]):
                entry["id"] = f"env-{seed}x{number}"
            clusters = cmk.draw(cmk.response_schema("/cmk/v2/clusters", "get", 200))
            for number, entry in enumerate(clusters["data"]):
                entry["id"] = f"lkc-{seed}x{number}"
                entry["spec"]["environment"] = {**entry["spec"].get("environment", {}), "id": "env-1"}
            answers.answers += [(200, environments), (200, clusters)]

            found = await call_api(http, DEFAULT_LIMITS, Endpoint.LIST_ENVIRONMENTS, "GET", "/org/v2/environments",
                                   lambda data: parse_page(data, parse_environment))
            assert found.ok and found.value is not None, found.message
            assert [e.id for e in found.value.items] == [e["id"] for e in environments["data"]]
            found_clusters = await call_api(http, DEFAULT_LIMITS, Endpoint.LIST_CLUSTERS, "GET", "/cmk/v2/clusters",
                                            lambda data: parse_page(data, cluster_parser("env-1")))
            assert found_clusters.ok and found_clusters.value is not None, found_clusters.message
            assert [(c.id, c.ready) for c in found_clusters.value.items] == [
                # Only the phases that serve nothing yet are not ready (found.NOT_READY_PHASES).
                (c["id"], c["status"]["phase"] not in ("PROVISIONING", "FAILED")) for c in clusters["data"]]


async def test_drawn_metrics_answers_are_read_or_reported_unreadable(loopback: tuple[type[_Answers], str]) -> None:
    answers, base_url = loopback
    start = datetime(2026, 12, 2, 3, 0, tzinfo=UTC)
    async with httpx.AsyncClient(base_url=base_url) as http:
        client = MetricsApiClient(http)
        for seed in range(40):
            metrics = Drawer("confluent-metrics-v2-openapi.yaml", seed)
            body = metrics.draw(metrics.response_schema("/v2/metrics/{dataset}/query", "post", 200))
            # FLAT points and GROUPED groups carry the label the query grouped by.
            for entry in body["data"]:
                entry["resource.connector.id"] = "lcc-1"
            answers.answers.append((200, body))

            result = await client.query("io.confluent.kafka.connect/sent_records", ["lcc-1"], start,
                                        start + timedelta(minutes=10))

            points = [p for e in body["data"] for p in (e["points"] if "points" in e else [e])]
            if body["data"] and not points and not any("points" in e for e in body["data"]):
                assert result.outcome is Outcome.SERVER_ERROR
            else:
                assert result.ok and result.value is not None, result.message
                # One point per moment, the larger value where the answer repeats one (drawn
                # timestamps repeat often); before 2026-12-07 every repeat was kept and summed by
                # the stall check ("sent 200 records" where 100 were sent).
                kept: dict[datetime, float] = {}
                for p in points:
                    when = datetime.fromisoformat(p["timestamp"])
                    kept[when] = max(float(p["value"]), kept.get(when, float("-inf")))
                assert sorted(v for _, v in result.value.points["lcc-1"]) == sorted(kept.values())
