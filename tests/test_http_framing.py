"""A request whose body is framed two ways (Content-Length and Transfer-Encoding) is refused and
its connection closed (RFC 9112 §6.3), over a real socket: h11 would read it as chunked."""

from __future__ import annotations

import asyncio
import json

from .test_api import AUTH
from .test_http_connections import daemon_server


async def test_a_request_with_both_content_length_and_transfer_encoding_is_refused_and_its_connection_closed() -> None:
    # The probe's raw_http.py case "CL+TE": answered 202, the restart sent, the connection kept
    # alive; a proxy in front framing it by Content-Length would have read the rest as another
    # request (request smuggling).
    body = json.dumps({"cluster": "nope", "connector": "orders-sink"}).encode()
    async with daemon_server(max_connections=8, request_timeout=5.0) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(b"POST /v1/restarts HTTP/1.1\r\nHost: daemon\r\nAuthorization: "
                         + AUTH["Authorization"].encode() + b"\r\nContent-Type: application/json\r\n"
                         b"Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"
                         + b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n")
            await writer.drain()
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 3.0)
            assert head.startswith(b"HTTP/1.1 400 "), head
            try:  # read() ends only when the server closes the connection
                rest = await asyncio.wait_for(reader.read(), 3.0)
            except TimeoutError:
                raise AssertionError("the connection was kept open after the answer") from None
        finally:
            writer.close()
    assert b"connection: close" in head.lower(), head
    error = json.loads(rest)["error"]
    assert "Content-Length and Transfer-Encoding" in error and "connection is closed" in error, error
