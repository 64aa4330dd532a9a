"""A small, strict fake of Confluent Cloud's APIs, written from Confluent's OpenAPI specs
(connect/v1 with the 2026 lifecycle excerpt, org/v2, cmk/v2) and the research notes,
not from watchdog/simulator/. It plays shapes the specs allow that our own simulator may never
play: optional fields missing or null, unknown fields, the spec's examples verbatim, each
endpoint's own error body, `expand` as the spec defines it (one enum value, exploded; a comma
list as Confluent's clients send it), pagination by `metadata.next` links.

`Fake` holds the scenario (mutable between calls) and records every request; `app(fake)` is the
ASGI app to serve with uvicorn on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlencode

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

CONNECT = "/connect/v1/environments/{env}/clusters/{cluster}/connectors"


def connect_error(code: int, message: str) -> dict[str, Any]:
    """connect.v1.ConnectorError, as the connect/v1 spec gives 400/401/403/404/500."""
    return {"error": {"code": code, "message": message}}


def failure(status: int, detail: str) -> dict[str, Any]:
    """The generic Cloud `Failure` (org/v2, cmk/v2): `{"errors": [{...}]}`."""
    return {"errors": [{"id": "e-1", "status": str(status), "code": "error", "title": detail, "detail": detail}]}


@dataclass
class Fake:
    key: str = "TESTKEY0123456789"  # tests/conftest.py's TEST_API_KEY and TEST_API_SECRET
    secret: str = "test-secret-Zq8xV3nR7tLk2Pw9"
    base_url: str = "http://127.0.0.1:0"
    # cluster id -> connector name -> the entry the expanded list gives (id/info/status)
    connectors: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    environments: list[dict[str, Any]] = field(default_factory=list)
    clusters: list[dict[str, Any]] = field(default_factory=list)
    # connector name -> (status code, body bytes, headers) for its restart; default 202, empty
    restart_answers: dict[str, tuple[int, bytes, dict[str, str]]] = field(default_factory=dict)
    # path -> (status, body, headers): answers any GET/POST to that exact path with this
    overrides: dict[str, tuple[int, bytes, dict[str, str]]] = field(default_factory=dict)
    # Pagination: whether the last page says `next: null` (else leaves it out)
    last_next_null: bool = False
    next_link_extra: dict[str, str] = field(default_factory=dict)  # extra query params in `next`
    max_page: int = 100  # a server may hand out smaller pages than asked for
    requests: list[tuple[str, str, str]] = field(default_factory=list)  # method, raw path, query
    hook: Callable[[Request], Response | None] | None = None

    def restarts(self) -> list[str]:
        return [p for m, p, _ in self.requests if m == "POST" and p.endswith("/restart")]


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body), status, {"X-Request-Id": "req-fake", **(headers or {})},
                    media_type="application/json")


def _authorized(request: Request, fake: Fake) -> bool:
    expected = "Basic " + base64.b64encode(f"{fake.key}:{fake.secret}".encode()).decode()
    return request.headers.get("authorization") == expected


def _expansions(request: Request) -> set[str]:
    """`expand` as the spec declares it (exploded: one value per parameter) and as Confluent's own
    clients send it (a comma list, `info,status,id`): unknown values ignored."""
    values = request.query_params.getlist("expand")
    return {part.strip() for value in values for part in value.split(",")} & {"id", "info", "status"}


def _page(request: Request, fake: Fake, items: list[dict[str, Any]], path: str, keep: dict[str, str]) -> Response:
    size = int(request.query_params.get("page_size", "10"))
    if not 1 <= size <= 100:
        return _json(failure(400, "page_size must be 1..100"), 400)
    size = min(size, fake.max_page)
    start = int(request.query_params.get("page_token") or 0)
    chunk = items[start : start + size]
    metadata: dict[str, Any] = {"total_size": len(items), "first": f"{fake.base_url}{path}"}
    if start + size < len(items):
        query = urlencode({**keep, "page_size": size, **fake.next_link_extra, "page_token": str(start + size)})
        metadata["next"] = f"{fake.base_url}{path}?{query}"
    elif fake.last_next_null:
        metadata["next"] = None
    return _json({"api_version": "v2", "kind": "EnvironmentList" if "environments" in path else "ClusterList",
                  "metadata": metadata, "data": chunk})


def app(fake: Fake) -> Starlette:
    async def dispatch(request: Request) -> Response:
        raw = request.scope.get("raw_path", b"").decode("latin-1") or request.url.path
        fake.requests.append((request.method, raw, request.url.query))
        if fake.hook is not None:
            hooked = fake.hook(request)
            if hooked is not None:
                return hooked
        if raw in fake.overrides:
            status, body, headers = fake.overrides[raw]
            return Response(body, status, {"X-Request-Id": "req-fake", **headers})
        if not _authorized(request, fake):
            return _json(connect_error(401, "Unauthorized"), 401)
        path = request.url.path
        # Segments split before decoding: a name's %2F is part of the name, not a separator.
        parts = [unquote(part) for part in raw.split("?")[0].strip("/").split("/")]
        if path == "/org/v2/environments" and request.method == "GET":
            return _page(request, fake, fake.environments, path, {})
        if path == "/cmk/v2/clusters" and request.method == "GET":
            env = request.query_params.get("environment")
            if not env:
                return _json(failure(400, "environment is required"), 400)
            mine = [c for c in fake.clusters if c.get("spec", {}).get("environment", {}).get("id") == env]
            return _page(request, fake, mine, path, {"environment": env})
        if parts[:2] == ["connect", "v1"] and len(parts) >= 7:
            cluster = parts[5]
            connectors = fake.connectors.get(cluster)
            if connectors is None:
                return _json(connect_error(404, "account not found"), 404)
            if len(parts) == 7 and request.method == "GET":
                wanted = _expansions(request)
                if not wanted:
                    return _json(sorted(connectors))
                return _json({name: {k: v for k, v in entry.items() if k in wanted or k not in ("id", "info", "status")}
                              for name, entry in connectors.items()})
            name = parts[7]
            entry = connectors.get(name)
            if entry is None:
                return _json(connect_error(404, "resource not found"), 404)
            action = parts[8] if len(parts) > 8 else ""
            if action == "status" and request.method == "GET":
                return _json(entry["status"])
            if action == "restart" and request.method == "POST":
                if name in fake.restart_answers:
                    status, body, headers = fake.restart_answers[name]
                    return Response(body, status, {"X-Request-Id": "req-fake", **headers})
                state = entry["status"]["connector"]["state"]
                if state in ("PROVISIONING", "PAUSED"):
                    return _json(connect_error(400, f"connector is {state}"), 400)
                return Response(b"", 202, {"X-Request-Id": "req-fake"})
            if action == "error-recommendations" and request.method == "GET":
                return _json({"error": None, "event_id": "lcc-1_1", "recommendations": ["check the database"]})
        return _json(connect_error(404, "resource not found"), 404)

    return Starlette(routes=[Route("/{rest:path}", dispatch, methods=["GET", "POST", "PUT"])])


# The spec's own example entries (connect/v1 listConnectv1ConnectorsWithExpansions), verbatim
# but for the config abridged.
def spec_example_entries() -> dict[str, dict[str, Any]]:
    return {
        "MyS3BucketConnector": {
            "id": {"id": "lcc-xxxxx", "id_type": "ID"},
            "info": {"name": "MyS3BucketConnector", "config": {"connector.class": "S3Sink", "kafka.api.key": "****************",
                                                               "name": "MyS3BucketConnector", "tasks.max": "1"}},
            "status": {"name": "MyS3BucketConnector",
                       "connector": {"state": "FAILED", "worker_id": "MyS3BucketConnector",
                                     "trace": "There were some errors with your configuration:\ntopics: Provided Kafka "
                                              "ApiKey is invalid\nkafka.api.secret: Provided Kafka ApiKey is invalid\n"},
                       "tasks": [], "type": "sink"},
        },
        "MyDatagenConnector": {
            "id": {"id": "lcc-yyyyy", "id_type": "ID"},
            "info": {"name": "MyDatagenConnector", "config": {"connector.class": "DatagenSource", "name": "MyDatagenConnector",
                                                              "tasks.max": "1"}},
            "status": {"name": "MyDatagenConnector",
                       "connector": {"state": "RUNNING", "worker_id": "MyDatagenConnector", "trace": ""},
                       "tasks": [{"id": 0, "msg": "", "state": "RUNNING", "worker_id": "MyDatagenConnector"}],
                       "type": "source"},
        },
    }


def entry(name: str, state: str, tasks: list[tuple[int, str]], lcc: str | None = None, **extra: Any) -> dict[str, Any]:
    result: dict[str, Any] = {
        "status": {"name": name, "connector": {"state": state, "worker_id": name},
                   "tasks": [{"id": i, "state": s, "worker_id": name} for i, s in tasks], "type": "source", **extra},
        "info": {"name": name, "config": {"connector.class": "PostgresSource", "name": name}},
    }
    if lcc is not None:
        result["id"] = {"id": lcc, "id_type": "ID"}
    return result


@contextlib.asynccontextmanager
async def served(asgi: Starlette) -> AsyncIterator[str]:
    """`asgi` served by uvicorn on a free 127.0.0.1 port for as long as the block; yields its URL
    (the Kafka Connect fake is served the same way)."""
    config = uvicorn.Config(asgi, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()  # raises what stopped it
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


@contextlib.asynccontextmanager
async def serving(fake: Fake) -> AsyncIterator[str]:
    """`fake` served by uvicorn on a free 127.0.0.1 port for as long as the block; yields its URL."""
    async with served(app(fake)) as url:
        fake.base_url = url
        yield url
