"""The simulator as an ASGI app: its APIs, plus /_sim/ for control and inspection.

Every path outside /_sim is one of the simulated APIs (see routing.py): Confluent Cloud's Connect
API, the Metrics API under /v2/metrics/, and self-managed Kafka Connect clusters under
/kafka-connect/{cluster}/.

Control endpoints (no authentication; never recorded as calls):

    GET    /_sim/calls                        the call record, oldest first (the newest 100,000)
    GET    /_sim/state                        {"t": seconds, "connectors": [snapshot, ...]}
    POST   /_sim/faults                       replace the fault rules (a JSON list, like the
                                              scenario's `faults`)
    DELETE /_sim/faults                       remove every fault rule
    POST   /_sim/connectors/{cluster}/{name}  change one connector: {"create": {...}},
                                              {"delete": true}, {"script": {...}},
                                              {"state": "FAILED"}, {"stalled": true},
                                              {"idle": true}, {"unassigned": 1}
    POST   /_sim/rebalances/{cluster}         a Kafka Connect cluster rebalances from now:
                                              {"seconds": 10}
"""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.types import Receive, Scope, Send

from watchdog.simulator.doors import ApiRequest
from watchdog.simulator.engine import Simulator
from watchdog.simulator.operations import ApiReply

# A server that wants the truncated and reset faults to cut real connections puts the
# connection's asyncio transport into each request's scope["state"] under this key (ASGI itself
# has no way to abort a connection). `serve` does.
TRANSPORT_STATE_KEY = "watchdog.simulator.transport"


def create_app(simulator: Simulator) -> Starlette:
    return Starlette(
        routes=[
            Mount("/_sim", routes=_control_routes(simulator)),
            Route("/{path:path}", _ApiEndpoint(simulator)),
        ]
    )


class _ApiEndpoint:
    """Every path outside /_sim is a simulated API: the simulator decides, this sends."""

    def __init__(self, simulator: Simulator) -> None:
        self._simulator = simulator

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        body = await request.body() if request.method in ("POST", "PUT") else b""
        arrival = self._simulator.arrival_delay()
        if arrival > 0 and not await _sleep_unless_disconnected(arrival, receive):
            return
        reply = self._simulator.handle(
            ApiRequest(
                method=request.method,
                path=scope["path"],
                raw_path=_raw_path(scope),
                query=tuple(request.query_params.multi_items()),
                authorization=request.headers.get("authorization"),
                headers=tuple(request.headers.items()),
                body=body,
                client=request.client.host if request.client is not None else None,
            )
        )
        if reply.delay_seconds > 0 and not await _sleep_unless_disconnected(
            reply.delay_seconds, receive
        ):
            return
        if reply.connection_fault is None and reply.trickle_seconds > 0 and reply.body:
            await _trickle(send, receive, reply)
            return
        if reply.connection_fault is None:
            await _send_reply(send, reply)
            return
        transport = scope.get("state", {}).get(TRANSPORT_STATE_KEY)
        if transport is None:
            raise ConnectionResetError(
                f"simulated {reply.connection_fault} needs a real connection: use serve()"
            )
        if reply.connection_fault == "truncated":
            await _send_truncated(send, reply, transport)
        else:
            _reset(transport)
        await _wait_for_disconnect(receive)


def _raw_path(scope: Scope) -> str | None:
    """The path as the client sent it (routing reads encoded slashes and dots from it). Some
    servers put the query string in raw_path (httpx's ASGI transport); it is cut off."""
    raw = scope.get("raw_path")
    if not raw:
        return None
    return bytes(raw).decode("latin-1").split("?", 1)[0]


def _raw_headers(reply: ApiReply, content_length: int) -> list[tuple[bytes, bytes]]:
    headers = [
        (name.lower().encode("latin-1"), value.encode("latin-1"))
        for name, value in [*reply.headers.items(), *reply.repeated_headers]
    ]
    return [*headers, (b"content-length", str(content_length).encode())]


async def _send_reply(send: Send, reply: ApiReply) -> None:
    start = {
        "type": "http.response.start",
        "status": reply.status,
        "headers": _raw_headers(reply, len(reply.body)),
    }
    await send(start)
    await send({"type": "http.response.body", "body": reply.body})


async def _trickle(send: Send, receive: Receive, reply: ApiReply) -> None:
    """One byte, a pause, the next byte: each read gets a byte long before any read timeout,
    so only a deadline on the whole call ends it. Stops when the client has gone."""
    body = reply.body
    await send({"type": "http.response.start", "status": reply.status, "headers": _raw_headers(reply, len(body))})
    gone = asyncio.ensure_future(_wait_for_disconnect(receive))
    try:
        for index in range(len(body)):
            await send({"type": "http.response.body", "body": body[index:index + 1], "more_body": index + 1 < len(body)})
            await asyncio.wait({gone}, timeout=reply.trickle_seconds)
            if gone.done():
                return
    finally:
        gone.cancel()
        await asyncio.gather(gone, return_exceptions=True)


async def _send_truncated(send: Send, reply: ApiReply, transport: asyncio.Transport) -> None:
    """Promise the whole body, send half of it, close: the client reads a short body."""
    declared = max(len(reply.body), 1)
    headers = _raw_headers(reply, declared)
    await send({"type": "http.response.start", "status": reply.status, "headers": headers})
    await send(
        {
            "type": "http.response.body",
            "body": reply.body[: len(reply.body) // 2],
            "more_body": True,
        }
    )
    transport.close()  # flushes what was written, then FIN


def _reset(transport: asyncio.Transport) -> None:
    """Abort with a TCP RST (SO_LINGER 0) before any byte of the answer.

    Nothing is sent first: a status line and headers may already be a complete answer (a 202
    has no body), and the client must see the connection fail.
    """
    sock = transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


async def _wait_for_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def _sleep_unless_disconnected(seconds: float, receive: Receive) -> bool:
    """Sleep; False if the client went away first (then there is no one to answer)."""
    sleeper = asyncio.ensure_future(asyncio.sleep(seconds))
    watcher = asyncio.ensure_future(_wait_for_disconnect(receive))
    done, pending = await asyncio.wait({sleeper, watcher}, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    return sleeper in done


def _control_routes(simulator: Simulator) -> list[Route]:
    async def calls(request: Request) -> Response:
        # The record keeps the newest calls only (engine.CALLS_KEPT): the header says how many
        # older ones it no longer holds, so that a count taken from the list is known to be cut.
        return JSONResponse(
            [call.as_dict() for call in simulator.calls],
            headers={"X-Calls-Forgotten": str(simulator.calls_forgotten)},
        )

    async def state(request: Request) -> Response:
        return JSONResponse(simulator.state())

    async def faults(request: Request) -> Response:
        if request.method == "DELETE":
            simulator.clear_faults()
            return JSONResponse({"faults": 0})
        return await _validated(request, lambda body: _set_faults(simulator, body))

    async def change_connector(request: Request) -> Response:
        cluster, name = request.path_params["cluster"], request.path_params["name"]

        def apply(body: Any) -> Response:
            snapshot = simulator.change_connector(cluster, name, body)
            return JSONResponse(None if snapshot is None else asdict(snapshot))

        return await _validated(request, apply)

    async def rebalance(request: Request) -> Response:
        cluster = request.path_params["cluster"]

        def apply(body: Any) -> Response:
            seconds = body.get("seconds") if isinstance(body, dict) else None
            if not isinstance(seconds, int | float) or isinstance(seconds, bool):
                raise ValueError('expected {"seconds": <number>}')
            simulator.start_rebalance(cluster, seconds)
            return JSONResponse({"cluster": cluster, "until": simulator.now() + seconds})

        return await _validated(request, apply)

    return [
        Route("/calls", calls, methods=["GET"]),
        Route("/state", state, methods=["GET"]),
        Route("/faults", faults, methods=["POST", "DELETE"]),
        Route("/connectors/{cluster}/{name:path}", change_connector, methods=["POST"]),
        Route("/rebalances/{cluster}", rebalance, methods=["POST"]),
    ]


def _set_faults(simulator: Simulator, body: Any) -> Response:
    if not isinstance(body, list):
        return JSONResponse({"detail": "expected a JSON list of fault rules"}, status_code=400)
    simulator.set_faults(body)
    return JSONResponse({"faults": len(body)})


async def _validated(request: Request, apply: Callable[[Any], Response]) -> Response:
    """Run `apply` on the JSON body; bad input is a 400 and an unknown connector a 404."""
    try:
        body = await request.json()
    except ValueError:
        return JSONResponse({"detail": "the body is not JSON"}, status_code=400)
    try:
        return apply(body)
    except ValidationError as error:
        detail = error.errors(include_url=False, include_context=False, include_input=False)
        return JSONResponse({"detail": detail}, status_code=400)
    except KeyError as error:
        return JSONResponse({"detail": error.args[0]}, status_code=404)
    except ValueError as error:
        return JSONResponse({"detail": str(error)}, status_code=400)
