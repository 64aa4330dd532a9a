"""A small fake of Apache Kafka Connect's REST API, written from Apache Kafka's own source
(connect/runtime: ConnectorsResource, HerderRequestHandler, AbstractHerder.connectorStatus and
buildRestartPlan, DistributedHerder.restartConnectorAndTasks, RestartRequest, ConnectorStateInfo,
ConnectExceptionMapper) and KIP-745, not from watchdog/simulator/ or watchdog/connect/.

It plays what workers of 2.x to 4.x answer, healthy or not:
- `GET /connectors`: names only without `expand` (and before 2.3 whatever is asked); with it a map
  of name -> the expansions asked, each `expand` value one expansion (Jersey's `getQueryParameters`:
  `expand=status,info` is one unknown value, ignored: `{}` entries). A connector whose status is
  not in the status store yet is left out of the expanded map (ConnectorsResource catches the
  NotFoundException) but is in the names;
- `GET /connectors/{name}/status`: ConnectorStateInfo (`trace` only when not empty, `type`
  `source`, `sink` or `unknown`), 404 "No status found for connector" for a connector without one;
- `POST /connectors/{name}/restart`: before 3.0 the parameters are ignored: the connector instance
  alone restarts, 204. From 3.0, `includeTasks=false&onlyFailed=false` is the old call (204); any
  other is a 202 with the restart plan (the instances to restart marked RESTARTING, the others as
  they are); 404 "Unknown connector: x";
  A 3.x/4.x worker whose leader is before 3.0 (`leader_version`, a rolling upgrade) passes the
  flagged restart on, and the leader's 204 comes back as a 202 with an empty body;
- `POST /connectors/{name}/tasks/{id}/restart`: 204, the task restarted whatever its state;
- faults a worker answers: 409 while a rebalance is expected, 500 when the leader it forwards to
  is gone, 401 for basic auth, a path prefix (a reverse proxy's), and several workers behind one
  address that each answer from their own (disagreeing) view, and a gateway that keeps one value
  per query key.

`Worker` is one worker's view (mutable between calls) and records every request; `app(balancer)`
is the ASGI app to serve with uvicorn on 127.0.0.1: each call goes to the next worker in turn.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .fake_confluent import served

# HerderRequestHandler's and DistributedHerder's own words
STALE_CONFIG = ("Cannot complete request momentarily due to stale configuration (typically caused by a "
                "concurrent config change)")
NO_LEADER = "Cannot complete request momentarily due to no known leader URL, likely because a rebalance was underway."
CONFLICTING = "Cannot complete request because of a conflicting operation (e.g. worker rebalance)"
LEADER_GONE = "IO Error trying to forward REST request: java.net.ConnectException: Connection refused"
TIMED_OUT = "Request timed out"


def trace(kb: int, cause: str = "java.sql.SQLException: Connection refused") -> str:
    """A Java stack trace of about `kb` KiB, as a worker stores a FAILED instance's `trace`."""
    head = (f"org.apache.kafka.connect.errors.ConnectException: Exiting WorkerSinkTask due to unrecoverable exception.\n"
            f"\tat org.apache.kafka.connect.runtime.WorkerSinkTask.deliverMessages(WorkerSinkTask.java:618)\n"
            f"Caused by: {cause}\n")
    frame = "\tat org.postgresql.core.v3.ConnectionFactoryImpl.openConnectionImpl(ConnectionFactoryImpl.java:319)\n"
    return head + frame * max(0, (kb * 1024 - len(head)) // len(frame))


@dataclass
class Instance:
    state: str = "RUNNING"
    worker_id: str = "10.0.0.1:8083"
    trace: str = ""

    def info(self) -> dict[str, Any]:
        # AbstractState: `trace` is @JsonInclude(NON_EMPTY)
        out: dict[str, Any] = {"state": self.state, "worker_id": self.worker_id}
        if self.trace:
            out["trace"] = self.trace
        return out


@dataclass
class Connector:
    connector: Instance = field(default_factory=Instance)
    tasks: list[Instance] = field(default_factory=list)
    type: str = "sink"
    has_status: bool = True  # False: created, its status not yet in the status store
    # What a restart of an instance leaves it in: RUNNING, or FAILED again (the cause is still
    # there), or nothing at all (the instance is assigned to a dead worker: nobody runs it).
    after_restart: str | None = "RUNNING"

    def status(self, name: str) -> dict[str, Any]:
        return {"name": name, "connector": self.connector.info(),
                "tasks": [{"id": i, **t.info()} for i, t in enumerate(self.tasks)], "type": self.type}


def connector(state: str = "RUNNING", tasks: list[str] | tuple[str, ...] = ("RUNNING",), **kwargs: Any) -> Connector:
    traces = kwargs.pop("trace_kb", 0)
    worker = kwargs.pop("worker_id", "10.0.0.1:8083")

    def make(s: str) -> Instance:
        return Instance(s, worker, trace(traces) if s == "FAILED" and traces else "")

    return Connector(make(state), [make(s) for s in tasks], **kwargs)


@dataclass
class Worker:
    version: tuple[int, int] = (3, 9)
    # The release of the leader it passes writes on to, when older (a rolling upgrade from 2.x)
    leader_version: tuple[int, int] | None = None
    connectors: dict[str, Connector] = field(default_factory=dict)
    auth: tuple[str, str] | None = None
    # Writes (restarts) answered (status, message) first, one each, before any is run
    write_faults: list[tuple[int, str]] = field(default_factory=list)
    requests: list[tuple[str, str, str]] = field(default_factory=list)  # method, raw path, query
    hook: Callable[[Request], Response | None] | None = None

    def restarts(self) -> list[str]:
        return [p + (f"?{q}" if q else "") for m, p, q in self.requests if m == "POST"]

    def _restart(self, c: Connector, instance: Instance) -> None:
        if c.after_restart is not None:
            instance.state = c.after_restart
            instance.trace = instance.trace if c.after_restart == "FAILED" else ""


def _error(status: int, message: str) -> Response:
    """ConnectExceptionMapper's body."""
    return Response(json.dumps({"error_code": status, "message": message}), status, media_type="application/json")


def _json(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body), status, media_type="application/json")


def _flag(request: Request, name: str) -> bool:
    return (request.query_params.get(name) or "false").lower() == "true"


def answer(worker: Worker, request: Request, parts: list[str]) -> Response:
    method = request.method
    if worker.auth is not None:
        expected = "Basic " + base64.b64encode(":".join(worker.auth).encode()).decode()
        if request.headers.get("authorization") != expected:
            # JaasBasicAuthFilter aborts with a bare 401
            return Response(b"", 401)
    if parts == [] and method == "GET":
        major, minor = worker.version
        return _json({"version": f"{major}.{minor}.0", "commit": "fakefakefakefake", "kafka_cluster_id": "fake-cluster"})
    if parts[:1] != ["connectors"]:
        return _error(404, "HTTP 404 Not Found")
    if len(parts) == 1 and method == "GET":
        expands = request.query_params.getlist("expand")
        if not expands or worker.version < (2, 3):
            return _json(sorted(worker.connectors))
        out: dict[str, dict[str, Any]] = {}
        for name, c in worker.connectors.items():
            entry: dict[str, Any] = {}
            if "status" in expands:
                if not c.has_status:
                    continue  # NotFoundException caught: the connector is left out
                entry["status"] = c.status(name)
            if "info" in expands:
                entry["info"] = {"name": name, "config": {"name": name, "connector.class": "FakeConnector",
                                                          "tasks.max": str(max(1, len(c.tasks)))},
                                 "tasks": [{"connector": name, "task": i} for i in range(len(c.tasks))], "type": c.type}
            out[name] = entry
        return _json(out)
    name = parts[1]
    if worker.version >= (4, 0) and (any(ch in name for ch in "/%\\") or name in (".", "..")):
        # Jetty 12 refuses an encoded `/`, `%`, `\\` or a dot segment before Connect sees it
        return Response(b"<html><head><title>Error 400 Ambiguous URI path encoding</title></head></html>", 400,
                        media_type="text/html")
    c = worker.connectors.get(name)
    action = parts[2:]
    if action == ["status"] and method == "GET":
        if c is None or not c.has_status:
            return _error(404, f"No status found for connector {name}")
        return _json(c.status(name))
    if method == "POST" and (action == ["restart"] or (len(action) == 3 and action[::2] == ["tasks", "restart"])):
        if worker.write_faults:
            status, message = worker.write_faults.pop(0)
            return _error(status, message)
        if c is None:
            return _error(404, f"Unknown connector: {name}")
        if action == ["restart"]:
            include, only_failed = _flag(request, "includeTasks"), _flag(request, "onlyFailed")
            if worker.version < (3, 0) or not (include or only_failed):
                worker._restart(c, c.connector)
                return Response(b"", 204)
            if worker.leader_version is not None and worker.leader_version < (3, 0):
                # The leader ignores the flags and answers 204: the connector instance alone
                # restarts, and ConnectorsResource sends on `Response.accepted().entity(null)`
                worker._restart(c, c.connector)
                return Response(b"", 202)
            if not c.has_status:
                return _error(404, f"Status for connector {name} not found")
            # RestartRequest.shouldRestartConnector / shouldRestartTask, then the plan
            plan = copy.deepcopy(c)
            if not only_failed or c.connector.state == "FAILED":
                plan.connector.state = "RESTARTING"
                worker._restart(c, c.connector)
            for planned, task in zip(plan.tasks, c.tasks):
                if include and (not only_failed or task.state == "FAILED"):
                    planned.state = "RESTARTING"
                    worker._restart(c, task)
            return _json(plan.status(name), 202)
        task_id = int(action[1]) if action[1].isdigit() else -1
        if not 0 <= task_id < len(c.tasks):
            return _error(404, f"Unknown task: {name}-{action[1]}")
        worker._restart(c, c.tasks[task_id])
        return Response(b"", 204)
    return _error(404, "HTTP 404 Not Found")


@dataclass
class Balancer:
    """One address in front of `workers`, each call to the next in turn (a round-robin load
    balancer), under `prefix` (a reverse proxy's path)."""

    workers: list[Worker]
    prefix: str = ""
    # A gateway that keeps one value per query key, the last: `?expand=status&expand=info`
    # reaches the workers as `?expand=info`
    last_value_per_key: bool = False
    base_url: str = "http://127.0.0.1:0"
    calls: int = 0

    @property
    def url(self) -> str:
        return self.base_url + self.prefix


def app(balancer: Balancer) -> Starlette:
    async def dispatch(request: Request) -> Response:
        worker = balancer.workers[balancer.calls % len(balancer.workers)]
        balancer.calls += 1
        raw = request.scope.get("raw_path", b"").decode("latin-1") or request.url.path
        raw = raw.split("?")[0]
        if balancer.last_value_per_key:
            kept = dict(parse_qsl(request.url.query, keep_blank_values=True))
            request = Request({**request.scope, "query_string": urlencode(kept).encode()}, request.receive)
        worker.requests.append((request.method, raw, request.url.query))
        if worker.hook is not None:
            hooked = worker.hook(request)
            if hooked is not None:
                return hooked
        if not raw.startswith(balancer.prefix + "/") and raw != balancer.prefix:
            return Response(b"<html><title>404 Not Found</title></html>", 404, media_type="text/html")
        raw = raw[len(balancer.prefix):]
        # Segments split before decoding: a name's %2F is part of the name
        parts = [unquote(part) for part in raw.strip("/").split("/") if part]
        return answer(worker, request, parts)

    return Starlette(routes=[Route("/{rest:path}", dispatch, methods=["GET", "POST", "PUT", "DELETE"])])


@contextlib.asynccontextmanager
async def serving(balancer: Balancer) -> AsyncIterator[str]:
    """`balancer` served by uvicorn on a free 127.0.0.1 port for as long as the block; yields the
    URL to configure (with its prefix)."""
    async with served(app(balancer)) as url:
        balancer.base_url = url
        yield balancer.url
