"""TLS to Kafka Connect workers (`clusters.*.tls`): a worker that requires a client certificate
(`listeners.https.ssl.client.auth=required`) gets ours, with or without checking its own."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import trustme

from watchdog.config.sections import TlsSettings
from watchdog.connect.kafka_connect import KafkaConnectBackend
from watchdog.model import Outcome

from .loopback import QuietHandler, serving


class _EmptyList(QuietHandler):
    def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
        self.send_body(200, b"{}")


@pytest.fixture
def worker_requiring_a_client_certificate(tmp_path: Path) -> Iterator[tuple[str, Path, Path]]:
    """A worker on 127.0.0.1 whose certificate no trust store knows (a self-signed one, as far as
    the client goes) and that refuses a handshake without a certificate its CA issued. Yields its
    URL and a client certificate and key that CA issued."""
    ca = trustme.CA()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    ca.configure_trust(context)
    context.verify_mode = ssl.CERT_REQUIRED
    client = ca.issue_cert("watchdog")
    cert, key = tmp_path / "client.pem", tmp_path / "client.key"
    client.cert_chain_pems[0].write_to_path(str(cert))
    client.private_key_pem.write_to_path(str(key))
    with serving(_EmptyList, threaded=True, tls=context) as server:
        yield f"https://127.0.0.1:{server.server_port}", cert, key


async def test_verify_false_still_presents_the_client_certificate(worker_requiring_a_client_certificate) -> None:
    # httpx's verify=False is a context without a client certificate: every call failed with a
    # bare ReadError while the config named cert_file and key_file.
    url, cert, key = worker_requiring_a_client_certificate
    tls = TlsSettings(cert_file=cert, key_file=key, verify=False)
    async with httpx.AsyncClient(verify=tls.context(), timeout=5.0) as http:
        result = await KafkaConnectBackend(http, [url]).list_connectors()
    assert result.outcome is Outcome.ACCEPTED, result.message


async def test_without_a_client_certificate_the_worker_refuses_and_the_call_fails(worker_requiring_a_client_certificate) -> None:
    # With TLS 1.3 the worker's refusal (a certificate_required alert) comes at the first read,
    # as an ssl.SSLError that escaped httpx: a network error here, never a traceback.
    url, _, _ = worker_requiring_a_client_certificate
    async with httpx.AsyncClient(verify=TlsSettings(verify=False).context(), timeout=5.0) as http:
        for _ in range(30):  # the alert comes at the handshake or at the first read, by timing
            result = await KafkaConnectBackend(http, [url]).list_connectors()
            assert result.outcome is Outcome.NETWORK_ERROR, result.message


class _AlertAtFirstRead(httpx.AsyncBaseTransport):
    """What httpx lets through when the alert comes at the first read: anyio's ssl.SSLError."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        raise ssl.SSLError(1, "[SSL: TLSV13_ALERT_CERTIFICATE_REQUIRED] tlsv13 alert certificate required")


async def test_a_tls_alert_that_escapes_httpx_is_a_network_error_with_its_reason() -> None:
    async with httpx.AsyncClient(transport=_AlertAtFirstRead()) as http:
        result = await KafkaConnectBackend(http, ["https://worker-1:8083"]).list_connectors()
    assert result.outcome is Outcome.NETWORK_ERROR
    assert "TLSV13_ALERT_CERTIFICATE_REQUIRED" in result.message, result.message


def test_an_encrypted_client_key_is_refused_without_asking_for_its_passphrase(tmp_path: Path) -> None:
    # Before: OpenSSL asked on the terminal ("Enter PEM pass phrase:"), and check-config, `run`
    # and each reload hung there. Here the command runs with a terminal of its own, as at a shell.
    import os
    import pty
    import select
    import sys
    import time

    from cryptography.hazmat.primitives import serialization

    leaf = trustme.CA().issue_cert("client.example")
    key = serialization.load_pem_private_key(leaf.private_key_pem.bytes(), password=None)
    (tmp_path / "client.key").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"key-passphrase-1234")))
    leaf.cert_chain_pems[0].write_to_path(str(tmp_path / "client.pem"))
    (tmp_path / "config.yaml").write_text(
        "clusters:\n  onprem:\n    backend: kafka_connect\n    urls: ['https://127.0.0.1:9']\n"
        f"    tls: {{cert_file: {tmp_path / 'client.pem'}, key_file: {tmp_path / 'client.key'}}}\n"
        "rules:\n  - {name: heal, trigger: {type: status, interval: 30s}, select: {include: ['*']}}\n")
    pid, terminal = pty.fork()
    if pid == 0:  # the child, on the new terminal
        os.execv(sys.executable, [sys.executable, "-m", "watchdog", "check-config", "--config", str(tmp_path / "config.yaml")])
    shown, deadline = b"", time.monotonic() + 30
    try:
        while b"pass phrase" not in shown and time.monotonic() < deadline:
            if select.select([terminal], [], [], 0.2)[0]:
                try:
                    chunk = os.read(terminal, 4096)
                except OSError:  # the child closed the terminal: it has ended
                    break
                if not chunk:
                    break
                shown += chunk
    finally:
        if os.waitpid(pid, os.WNOHANG) == (0, 0):  # still waiting at the prompt
            os.kill(pid, 9)
            os.waitpid(pid, 0)
        os.close(terminal)
    assert b"pass phrase" not in shown, shown
    assert b"is encrypted (it needs a passphrase)" in shown, shown
