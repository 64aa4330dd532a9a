"""A reverse proxy in front of one worker, as nginx is in front of each worker in the usual
layout: each request is passed on over a new connection to the worker; when the worker refuses
the connection (it is down) the proxy answers nginx's HTML `502 Bad Gateway` page, not a 503.
Every request it got is kept (`calls`: method and path)."""

from __future__ import annotations

import asyncio
import contextlib

PAGE_502 = ("<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1>"
            "</center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n")


class NginxLike:
    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.calls: list[tuple[str, str]] = []
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    async def __aenter__(self) -> NginxLike:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    def posts(self) -> list[str]:
        return [path for method, path in self.calls if method == "POST"]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, target, _ = lines[0].split(" ", 2)
                headers = [line for line in lines[1:] if line and not line.lower().startswith("connection:")]
                length = next((int(line.split(":", 1)[1]) for line in headers
                               if line.lower().startswith("content-length:")), 0)
                body = await reader.readexactly(length) if length else b""
                self.calls.append((method, target.split("?", 1)[0]))
                answer = await self._forward(method, target, headers, body)
                writer.write(answer)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _forward(self, method: str, target: str, headers: list[str], body: bytes) -> bytes:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:  # refused: nginx's "connect() failed (111: Connection refused)", a 502
            page = PAGE_502.encode()
            return (b"HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/html\r\nContent-Length: "
                    + str(len(page)).encode() + b"\r\n\r\n" + page)
        try:
            request = "\r\n".join([f"{method} {target} HTTP/1.1", *headers, "Connection: close", "", ""])
            up_writer.write(request.encode("latin-1") + body)
            await up_writer.drain()
            answer = await up_reader.read()
        finally:
            up_writer.close()
        # The worker's answer as it came, but kept open to our client: its own Connection header
        # (if any) is left as the worker sent it, and its length delimits the body.
        head, _, rest = answer.partition(b"\r\n\r\n")
        kept = [line for line in head.split(b"\r\n") if not line.lower().startswith(b"connection:")
                and not line.lower().startswith(b"transfer-encoding:")]
        if b"chunked" in head.lower():
            rest = _unchunk(rest)
        kept = [line for line in kept if not line.lower().startswith(b"content-length:")]
        return b"\r\n".join([*kept, b"Content-Length: " + str(len(rest)).encode()]) + b"\r\n\r\n" + rest


def _unchunk(data: bytes) -> bytes:
    out = b""
    while data:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0] or b"0", 16)
        if size == 0:
            break
        out, data = out + data[:size], data[size + 2:]
    return out
