"""The calls the daemon makes to Kafka Connect, in the states that matter, played against a base
URL: a real worker (`record.py` writes the answers to tests/fixtures/kafka_connect/) or the
simulator's Kafka Connect mode (tests/simulator/test_kafka_connect_vs_real.py compares them).

Requests go out through http.client, byte for byte as written here: httpx would remove the `.`
and `..` path segments that the routing cases send on purpose. Answers are normalised (worker
ids, versions, traces cut to their first line, file paths, the Date header) so that two runs,
and the simulator, can be compared.

The connectors both sides set up (the real one with FileStream connectors, see record.py; the
simulator from `simulator_scenario()`):

    healthy     a sink, one task, RUNNING
    poisoned    a sink whose only task is FAILED on a record it cannot convert
    paused      a healthy sink, paused (PUT /connectors/paused/pause)
    stopped     a healthy sink, stopped (PUT /connectors/stopped/stop, KIP-875)
    .  ..       healthy sinks with those names (path routing)
"""

from __future__ import annotations

import asyncio
import http.client
import json
import re
import time
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit

SINK_CLASS = "org.apache.kafka.connect.file.FileStreamSinkConnector"
CONNECTORS = ("healthy", "poisoned", "paused", "stopped", ".", "..")
FLAGS_ONLY_FAILED = "includeTasks=true&onlyFailed=true"
FLAGS_ALL = "includeTasks=true&onlyFailed=false"
# Headers that differ on every answer or by server software, not by API behaviour.
_IGNORED_HEADERS = frozenset({"date", "content-length", "server", "connection", "keep-alive", "transfer-encoding"})
_TITLE = re.compile(r"<title>(.*?)</title>", re.IGNORECASE | re.DOTALL)


@dataclass(frozen=True)
class Case:
    name: str
    method: str
    path: str  # sent exactly as written (already percent-encoded where it must be)
    follow: str | None = None  # a connector whose status is watched after the call
    settled: str = ""  # what the followed connector is back to: "FAILED" (a task), "RUNNING", "STOPPED", "PAUSED"


CASES: tuple[Case, ...] = (
    Case("list names", "GET", "/connectors"),
    Case("list expanded (the daemon's poll)", "GET", "/connectors?expand=status&expand=info"),
    Case("list, expand as one value", "GET", "/connectors?expand=status,info"),
    *(Case(f"status {name}", "GET", f"/connectors/{name}/status") for name in ("healthy", "poisoned", "paused", "stopped")),
    Case("task status", "GET", "/connectors/poisoned/tasks/0/status"),
    Case("read", "GET", "/connectors/healthy"),
    # Restarts of a failed task: each is watched until the task has failed again on its record.
    Case("restart failed, onlyFailed", "POST", f"/connectors/poisoned/restart?{FLAGS_ONLY_FAILED}", "poisoned", "FAILED"),
    Case("restart failed, all", "POST", f"/connectors/poisoned/restart?{FLAGS_ALL}", "poisoned", "FAILED"),
    Case("restart failed, no flags", "POST", "/connectors/poisoned/restart", "poisoned", "FAILED"),
    Case("restart failed, includeTasks only", "POST", "/connectors/poisoned/restart?includeTasks=true", "poisoned", "FAILED"),
    Case("restart failed, onlyFailed without includeTasks", "POST", "/connectors/poisoned/restart?includeTasks=false&onlyFailed=true", "poisoned", "FAILED"),
    Case("restart failed task", "POST", "/connectors/poisoned/tasks/0/restart", "poisoned", "FAILED"),
    Case("restart healthy, onlyFailed", "POST", f"/connectors/healthy/restart?{FLAGS_ONLY_FAILED}", "healthy", "RUNNING"),
    Case("restart healthy, all", "POST", f"/connectors/healthy/restart?{FLAGS_ALL}", "healthy", "RUNNING"),
    Case("restart paused, all", "POST", f"/connectors/paused/restart?{FLAGS_ALL}", "paused", "PAUSED"),
    Case("restart stopped, all", "POST", f"/connectors/stopped/restart?{FLAGS_ALL}", "stopped", "STOPPED"),
    Case("restart stopped task", "POST", "/connectors/stopped/tasks/0/restart"),
    # Unknown connectors, tasks and paths.
    Case("status unknown", "GET", "/connectors/nope/status"),
    Case("read unknown", "GET", "/connectors/nope"),
    Case("restart unknown, flags", "POST", f"/connectors/nope/restart?{FLAGS_ONLY_FAILED}"),
    Case("restart unknown, no flags", "POST", "/connectors/nope/restart"),
    Case("restart unknown task", "POST", "/connectors/healthy/tasks/7/restart"),
    Case("status unknown task", "GET", "/connectors/healthy/tasks/7/status"),
    Case("unknown path", "GET", "/nothing/here"),
    # How names reach the worker (Jetty 12 and Jersey).
    Case("literal . segment", "GET", "/connectors/./status"),
    Case("literal .. segment", "GET", "/connectors/../status"),
    Case("encoded . segment", "GET", "/connectors/%2E/status"),
    Case("encoded .. segment", "GET", "/connectors/%2E%2E/status"),
    Case("encoded slash", "GET", "/connectors/a%2Fb/status"),
    Case("encoded percent", "GET", "/connectors/50%25/status"),
    Case("encoded backslash", "GET", "/connectors/a%5Cb/status"),
    Case("encoded space", "GET", "/connectors/no%20such%20name/status"),
)


def send(base_url: str, method: str, path: str, timeout: float = 30.0) -> dict[str, Any]:
    """One request, exactly as written; the answer as recorded (before normalisation)."""
    parts = urlsplit(base_url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=timeout)
    try:
        connection.putrequest(method, f"{parts.path}{path}", skip_accept_encoding=True)
        connection.putheader("Accept", "application/json")
        connection.putheader("Content-Length", "0")
        connection.endheaders()
        response = connection.getresponse()
        raw = response.read()
        headers = {name.lower(): value for name, value in response.getheaders()}
    finally:
        connection.close()
    return {"status": response.status, "headers": headers, "body": raw.decode("utf-8", "replace")}


def normalise(answer: dict[str, Any], keep: tuple[str, ...] = CONNECTORS) -> dict[str, Any]:
    headers = answer["headers"]
    content_type = (headers.get("content-type") or "").lower().replace(" ", "")
    body_text = answer["body"]
    body: Any
    if "html" in content_type:
        title = _TITLE.search(body_text)
        body = {"html_title": title.group(1).strip() if title else None}
    elif body_text:
        try:
            body = _scrub(json.loads(body_text), keep)
        except ValueError:
            body = {"text": body_text[:200]}
    else:
        body = None
    return {
        "status": answer["status"],
        "content_type": content_type or None,
        "headers": sorted(set(headers) - _IGNORED_HEADERS),
        "body": body,
    }


def _scrub(value: Any, keep: tuple[str, ...], key: str = "") -> Any:
    if isinstance(value, dict):
        if key == "config":
            # The connector's own settings differ (file paths, topics); the daemon reads none.
            return {k: value[k] for k in ("connector.class", "name", "tasks.max") if k in value}
        if key == "" and value and all(isinstance(v, dict) and set(v) <= {"status", "info"} for v in value.values()):
            value = {name: entry for name, entry in value.items() if name in keep}  # the expanded list
        return {k: _scrub(v, keep, k) for k, v in sorted(value.items())}
    if isinstance(value, list):
        if key == "" and all(isinstance(v, str) for v in value):
            return sorted(v for v in value if v in keep)  # the list of names
        return [_scrub(v, keep) for v in value]
    if key == "worker_id":
        return "<worker>"
    if key == "version":
        return "<version>"
    if key == "trace":
        return "<trace>"  # its text is the connector's own; that there is one is the API's
    return value


def states(status: dict[str, Any]) -> list[str]:
    """`CONNECTOR/task0,task1`: one status as a short comparable string."""
    connector = status.get("connector", {}).get("state", "?")
    tasks = ",".join(t["state"] for t in sorted(status.get("tasks", []), key=lambda t: t["id"]))
    return [f"{connector}/{tasks}"]


def can_stop(kafka_version: str) -> bool:
    """`PUT /connectors/{name}/stop` came in 3.5 (KIP-875): before, the `stopped` connector runs."""
    major, minor, _ = (int(part) for part in kafka_version.split("."))
    return (major, minor) >= (3, 5)


async def play(
    base_url: str, *, follow_seconds: float, settle_timeout: float, kafka_version: str
) -> list[dict[str, Any]]:
    """Every case against `base_url`; a followed connector is watched for `follow_seconds` and
    then until it is back to its settled state (the next case needs it there)."""
    results = []
    for case in CASES:
        if case.settled == "STOPPED" and not can_stop(kafka_version):
            case = replace(case, settled="RUNNING")
        answer = await asyncio.to_thread(send, base_url, case.method, case.path)
        result: dict[str, Any] = {"case": case.name, "request": f"{case.method} {case.path}", "answer": normalise(answer)}
        if case.follow is not None:
            result["seen"] = await _watch(base_url, case, answer, follow_seconds, settle_timeout)
        results.append(result)
    return results


async def _watch(base_url: str, case: Case, answer: dict[str, Any], follow_seconds: float, settle_timeout: float) -> list[str]:
    """The distinct states the followed connector went through, in order, starting with what
    the restart's own answer showed."""
    seen: list[str] = []
    if answer["body"].startswith("{"):
        seen += states(json.loads(answer["body"]))
    started = time.monotonic()
    while True:
        status = await asyncio.to_thread(send, base_url, "GET", f"/connectors/{case.follow}/status")
        current = states(json.loads(status["body"]))[0] if status["status"] == 200 else f"HTTP {status['status']}"
        if not seen or seen[-1] != current:
            seen.append(current)
        elapsed = time.monotonic() - started
        if elapsed >= follow_seconds and _settled(current, case.settled):
            return seen
        if elapsed > follow_seconds + settle_timeout:
            raise AssertionError(f"{case.name}: {case.follow} did not settle to {case.settled}: {seen}")
        await asyncio.sleep(0.1)


def _settled(current: str, settled: str) -> bool:
    connector, _, tasks = current.partition("/")
    if settled == "FAILED":
        return "FAILED" in tasks.split(",")
    if settled == "RUNNING":
        return connector == "RUNNING" and set(tasks.split(",")) <= {"RUNNING"}
    return connector == settled


def simulator_scenario(restart_delay: float, kafka_version: str) -> dict[str, Any]:
    """The simulator's Kafka Connect cluster of that release holding the same connectors in the
    same states (before 3.5 the `stopped` connector could not be stopped: it runs)."""
    sink = {"type": "sink", "tasks": 1, "config": {"connector.class": SINK_CLASS}}
    stopped = {"script": {"initial": "STOPPED"}} if can_stop(kafka_version) else {}
    return {
        "api_keys": [{"id": "unused", "secret": "unused-secret"}],  # the Cloud side needs one
        "environments": [],
        "restart": {"delay_seconds": restart_delay},
        "pause_resume": {"delay_seconds": 0},
        "kafka_connect_clusters": [{
            "name": "real",
            "kafka_version": kafka_version,
            "workers": 2,
            "connectors": [
                {"name": "healthy", **sink},
                {"name": "poisoned", **sink, "script": {"initial": "FAILED", "recover_after_restarts": "never"}},
                {"name": "paused", **sink, "script": {"initial": "PAUSED"}},
                {"name": "stopped", **sink, **stopped},
                {"name": ".", **sink},
                {"name": "..", **sink},
            ],
        }],
    }
