"""What the daemon SENDS, checked against the specs: the real clients (built as the daemon
builds them) talk over loopback to a simulator that refuses every request its operation's spec
does not allow (scenario `strict_requests`, watchdog/simulator/strict.py). Connector names with
spaces, `/`, `%` and non-ASCII letters; discovery over several pages; metrics queries in several
batches; Kafka Connect restarts with and without the KIP-745 flags, and task by task on a worker
before 3.0. None may be refused, and each carries the headers a server expects."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from watchdog import __version__
from watchdog.clients import cloud_client, kafka_connect_client, metrics_api_client
from watchdog.config import Config, Credential, KafkaConnectCluster, build_config
from watchdog.connect.cloud import ConfluentCloudBackend
from watchdog.connect.kafka_connect import KafkaConnectBackend
from watchdog.connect.metrics_api import MetricsApiClient
from watchdog.simulator import Scenario, Simulator
from watchdog.simulator.doors import ApiRequest
from watchdog.simulator.routing import classify
from watchdog.simulator.strict import check

from .conftest import TEST_API_KEY, TEST_API_SECRET
from .support import served

ENVIRONMENT, CLUSTER = "env-abc123", "lkc-prod01"
NAMES = ["orders", "orders sink", "a/b", "50%", "ünïcode-sink", "日本"]
START = datetime(2026, 1, 1, tzinfo=UTC)
SENT = "io.confluent.kafka.connect/sent_records"


def strict_scenario() -> dict[str, Any]:
    cloud = [{"name": name, "script": {"initial": "FAILED"}} for name in NAMES]
    cloud += [{"name": f"source-{i}"} for i in range(150)]  # two metrics batches of ids
    return {
        "strict_requests": True,
        "api_keys": [{"id": TEST_API_KEY, "secret": TEST_API_SECRET}],
        "environments": [{"id": ENVIRONMENT, "clusters": [{"id": CLUSTER, "connectors": cloud}]}],
        "kafka_connect_clusters": [
            {"name": "current", "connectors": [{"name": "orders sink", "tasks": 2, "script": {"initial": "FAILED"}}]},
            {"name": "old", "ignores_restart_flags": True,
             "connectors": [{"name": "orders sink", "tasks": 2, "script": {"initial": "FAILED"}}]},
        ],
    }


def config(url: str) -> Config:
    data = {
        "api": {"base_url": url},
        "metrics_api": {"base_url": url},
        "credentials": {"main": {}},
        "clusters": {
            "prod": {"environment_id": ENVIRONMENT, "kafka_cluster_id": CLUSTER},
            **{name: {"backend": "kafka_connect", "urls": [f"{url}/kafka-connect/{name}"]} for name in ("current", "old")},
        },
        "server": {"host": "127.0.0.1", "port": 0},
        "state": {"path": ":memory:"},
        "rules": [],
    }
    credential = Credential(api_key=SecretStr(TEST_API_KEY), api_secret=SecretStr(TEST_API_SECRET))
    return build_config(data, "test config", secrets={"credentials": {"main": credential}})


async def test_the_real_clients_send_only_what_the_specs_allow() -> None:
    simulator = Simulator(Scenario.model_validate(strict_scenario()), epoch=START.timestamp())
    sent: list[httpx.Request] = []

    async def keep(response: httpx.Response) -> None:
        sent.append(response.request)

    async with served(simulator) as url:
        settings = config(url)
        credential = settings.credentials["main"]
        async with cloud_client(settings, credential, None, [keep]) as http:
            cloud = ConfluentCloudBackend(http, ENVIRONMENT, CLUSTER)
            listed = await cloud.list_connectors()
            assert listed.ok and listed.value is not None, listed.message
            for name in NAMES:
                assert (await cloud.connector_status(name)).ok, name
                assert (await cloud.error_recommendations(name)).ok, name
                assert (await cloud.restart(name)).ok, name
        ids = sorted(status.resource_id for status in listed.value.values() if status.resource_id)
        async with metrics_api_client(settings, credential, None, [keep]) as http:
            end = START + timedelta(minutes=30)
            answer = await MetricsApiClient(http).query(SENT, ids, end - timedelta(minutes=15), end)
            assert answer.ok, answer.message
        for cluster in ("current", "old"):
            entry = settings.clusters[cluster]
            assert isinstance(entry, KafkaConnectCluster)
            async with kafka_connect_client(settings, entry, None, [keep]) as http:
                backend = KafkaConnectBackend(http, [str(u) for u in entry.urls])
                assert (await backend.list_connectors()).ok
                assert (await backend.connector_status("orders sink")).ok
                assert (await backend.restart("orders sink", only_failed=True)).ok
                assert (await backend.restart("orders sink", only_failed=False)).ok

    refused = [(call.method, call.path, call.refused) for call in simulator.calls if call.refused]
    assert refused == []
    endpoints = {(call.api, call.endpoint) for call in simulator.calls}
    assert {("cloud", "list"), ("cloud", "status"), ("cloud", "restart"), ("cloud", "error_recommendations"),
            ("metrics", "metrics_query"), ("kafka_connect", "list"), ("kafka_connect", "restart")} <= endpoints
    assert len([c for c in simulator.calls if c.endpoint == "metrics_query"]) == 2  # 156 ids: two batches
    task_restarts = [c for c in simulator.calls if c.api == "kafka_connect" and c.endpoint == "restart"
                     and c.cluster == "old" and "/tasks/" in c.path]
    assert task_restarts, "the worker before 3.0 had its tasks restarted one by one"
    for request in sent:
        assert request.headers["user-agent"].startswith(f"connect-watchdog/{__version__} "), request.url
        assert request.headers["accept"] == "application/json", request.url
        assert request.method != "POST" or request.content or "content-type" not in request.headers, request.url
    assert all(r.headers["authorization"].startswith("Basic ") for r in sent if "/kafka-connect/" not in r.url.path)


LIST = f"/connect/v1/environments/{ENVIRONMENT}/clusters/{CLUSTER}/connectors"
RESTART = f"{LIST}/orders/restart"
JSON = (("content-type", "application/json"),)


@pytest.mark.parametrize(("method", "path", "query", "headers", "body", "status", "why"), [
    ("GET", LIST, (("expand", "info,status,bogus"),), (), b"", 400, "expand 'bogus'"),
    ("GET", LIST, (("expand", "id"), ("x", "1")), (), b"", 400, "unknown query parameter(s) x"),
    ("GET", f"{LIST}/orders/status", (("expand", "id"),), (), b"", 400, "unknown query parameter(s) expand"),
    ("POST", RESTART, (("includeTasks", "true"),), (), b"", 400, "unknown query parameter(s) includeTasks"),
    ("POST", RESTART, (), JSON, b"{}", 400, "takes no body"),
    ("GET", LIST, (("expand", "id"),), (("accept", "text/html"),), b"", 406, "rules out application/json"),
    ("GET", "/cmk/v2/clusters", (("environment", "env-1"), ("page_size", "101")), (), b"", 400, "page_size"),
    ("GET", "/cmk/v2/clusters", (("page_size", "10"),), (), b"", 400, "'environment' query parameter is required"),
    ("GET", "/org/v2/environments", (("page_token", "x" * 256),), (), b"", 400, "page_token is longer"),
    ("GET", "/org/v2/environments", (("page_size", "10"), ("page_size", "20")), (), b"", 400, "more than once"),
    ("POST", "/v2/metrics/cloud/query", (), (), b"{}", 415, "must be application/json"),
    ("POST", "/v2/metrics/cloud/query", (), JSON, b'{"limit": 5, "pages": 2}', 400, "no properties pages"),
    ("GET", "/kafka-connect/c/connectors", (("expand", "status,info"),), (), b"", 400, "expand 'status,info'"),
    ("POST", "/kafka-connect/c/connectors/x/restart", (("onlyFailed", "yes"),), (), b"", 400, "true or false"),
    ("POST", "/kafka-connect/c/connectors/x/tasks/0/restart", (("onlyFailed", "true"),), (), b"", 400, "takes no query"),
])
def test_a_strict_simulator_refuses_what_the_specs_do_not_allow(
    method: str, path: str, query: tuple[tuple[str, str], ...], headers: tuple[tuple[str, str], ...],
    body: bytes, status: int, why: str,
) -> None:
    refusal = check(classify(method, path), ApiRequest(method, path, query, headers=headers, body=body))
    assert refusal is not None and refusal.status == status and why in str(refusal), refusal


@pytest.mark.parametrize(("method", "path", "query"), [
    ("GET", LIST, (("expand", "info,status,id"),)),
    ("GET", LIST, (("expand", "info"), ("expand", "status"), ("expand", "id"))),
    ("GET", LIST, ()),
    ("POST", RESTART, ()),
    ("GET", "/cmk/v2/clusters", (("environment", "env-1"), ("page_size", "100"), ("page_token", "x" * 255))),
    ("GET", "/kafka-connect/c/connectors", (("expand", "status"), ("expand", "info"))),
    ("POST", "/kafka-connect/c/connectors/x/restart", (("includeTasks", "true"), ("onlyFailed", "FALSE"))),
])
def test_a_strict_simulator_takes_what_the_specs_allow(method: str, path: str, query: tuple[tuple[str, str], ...]) -> None:
    accept = (("accept", "application/json, text/plain;q=0.5"),)
    assert check(classify(method, path), ApiRequest(method, path, query, headers=accept)) is None


async def test_a_strict_refusal_is_answered_in_the_apis_own_shape_and_recorded() -> None:
    simulator = Simulator(Scenario.model_validate(strict_scenario()))
    async with served(simulator) as url, httpx.AsyncClient(base_url=url, auth=(TEST_API_KEY, TEST_API_SECRET)) as http:
        connect = await http.get(LIST, params={"expand": "bogus"})
        listing = await http.get("/cmk/v2/clusters", params={"environment": ENVIRONMENT, "page_size": "0"})
        lenient = Simulator(Scenario.model_validate({**strict_scenario(), "strict_requests": False}))
    assert connect.status_code == 400 and connect.json()["error"]["message"].startswith("expand 'bogus'")
    assert listing.status_code == 400 and "page_size" in listing.json()["errors"][0]["detail"]
    assert [call.refused is not None for call in simulator.calls] == [True, True]
    assert lenient.scenario.strict_requests is False  # off by default: the real services are lenient


# A stand-in for the Brotli package, installed beside the daemon (httpx[brotli], or a neighbour's
# dependency in a shared virtualenv): httpx then offers `br` in every request it sends. Its
# "compression" reverses the bytes, enough to tell who decoded an answer.
BROTLI_STUB = '''
error = ValueError
class Decompressor:
    def process(self, data): return data[::-1]
    def is_finished(self): return True
'''
CHECK_OFFERS = '''
import asyncio, json
from prometheus_client import CollectorRegistry
from tests.loopback import QuietHandler, serving
from tests.support import daemon_config
from watchdog.blocking import AlertBlocker
from watchdog.clients import cloud_client, metrics_api_client
from watchdog.config import BlockingSettings
from watchdog.connect.cloud import ConfluentCloudBackend
from watchdog.metrics import Metrics

BODY = json.dumps({"c1": {"status": {"connector": {"state": "FAILED"}, "tasks": []}}}).encode()

class CompressingProxy(QuietHandler):
    def do_GET(self):
        offered = "br" in self.headers.get("accept-encoding", "")
        data = BODY[::-1] if offered else BODY  # what a CDN does with an offer it likes
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        if offered:
            self.send_header("Content-Encoding", "br")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

async def main():
    with serving(CompressingProxy) as server:
        config = daemon_config([], base_url=f"http://127.0.0.1:{server.server_port}")
        credential = config.credentials["main"]
        async with cloud_client(config, credential, None) as http:
            listed = await ConfluentCloudBackend(http, "env-1", "lkc-1").list_connectors()
        offers = {metrics_api_client(config, credential, None).headers["accept-encoding"],
                  AlertBlocker(BlockingSettings(alertmanager_url="http://am:9093"),
                               Metrics(CollectorRegistry()))._http.headers["accept-encoding"]}
        print(json.dumps([listed.outcome.value, listed.message, sorted(offers)]))

asyncio.run(main())
'''


def test_only_the_codings_the_daemon_decodes_are_offered_whatever_is_installed_beside_it(tmp_path: Path) -> None:
    # With Brotli installed beside it, every request offered `br`; a server (or a CDN in front of
    # it) that took the offer had its answer read undecoded: every poll failed "unreadable
    # response: Expecting value", and nothing was ever restarted.
    (tmp_path / "brotli.py").write_text(BROTLI_STUB)
    root = Path(__file__).parent.parent
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(root)])}
    done = subprocess.run([sys.executable, "-c", CHECK_OFFERS], env=environment, capture_output=True, text=True,
                          timeout=60, cwd=root, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    outcome, message, offers = json.loads(done.stdout.strip().splitlines()[-1])
    assert (outcome, message) == ("accepted", "")
    assert offers == ["gzip, deflate"]
