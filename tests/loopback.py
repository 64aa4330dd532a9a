"""Small HTTP servers on 127.0.0.1 for tests that need a real socket: a daemon or a worker that
answers oddly, a proxy. Each runs in a thread for as long as its `with` block."""

from __future__ import annotations

import contextlib
import http.server
import json
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


@contextlib.contextmanager
def serving(
    handler: type[http.server.BaseHTTPRequestHandler], *, threaded: bool = False, tls: ssl.SSLContext | None = None
) -> Iterator[http.server.HTTPServer]:
    """`handler` served on a free 127.0.0.1 port (`server.server_port`), one request at a time
    unless `threaded`, over TLS with `tls`; shut down when the block ends."""
    server = (http.server.ThreadingHTTPServer if threaded else http.server.HTTPServer)(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
