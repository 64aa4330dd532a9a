"""Small HTTP servers on 127.0.0.1 for tests that need a real socket: a daemon or a worker that
answers oddly, a proxy. Each runs in a thread for as long as its `with` block."""

from __future__ import annotations

import contextlib
import http.server
import json
import socket
import ssl
import threading
from collections.abc import Iterator
from typing import Any


class QuietHandler(http.server.BaseHTTPRequestHandler):
    """A handler that logs nothing, with `send_body` for an answer of known length."""

    def send_body(self, status: int, body: bytes | dict[str, Any], content_type: str = "application/json") -> None:
        data = json.dumps(body).encode() if isinstance(body, dict) else body
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:  # quiet in test output
        pass


# How long a TLS client may take over its handshake (made before the handler runs, in the thread
# that accepts): one that connected and never finished it (its verification failed, a pooled
# connection cut) held serve_forever, and shutdown() waited for it for ever.
TLS_HANDSHAKE_SECONDS = 5.0


def _accepting_over_tls(server: http.server.HTTPServer, tls: ssl.SSLContext) -> None:
    """Each connection `server` accepts is wrapped in `tls`, its handshake bounded in time."""
    def get_request() -> tuple[socket.socket, Any]:
        connection, address = server.socket.accept()
        connection.settimeout(TLS_HANDSHAKE_SECONDS)
        return tls.wrap_socket(connection, server_side=True), address

    server.get_request = get_request  # type: ignore[method-assign]


@contextlib.contextmanager
def serving(
    handler: type[http.server.BaseHTTPRequestHandler], *, threaded: bool = False, tls: ssl.SSLContext | None = None
) -> Iterator[http.server.HTTPServer]:
    """`handler` served on a free 127.0.0.1 port (`server.server_port`), one request at a time
    unless `threaded`, over TLS with `tls`; shut down when the block ends."""
    server = (http.server.ThreadingHTTPServer if threaded else http.server.HTTPServer)(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    if tls is not None:
        _accepting_over_tls(server, tls)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
