"""A self-managed cluster's TLS files rotated in place (a new CA, a renewed client certificate) are
read again at the reload, which the file watcher makes when they change.

Before, the cluster's client held the files as read at start: with the CA mounted from a Secret
(trust-manager) and the worker's certificate re-issued by a new CA, every poll failed
CERTIFICATE_VERIFY_FAILED, the watcher saw nothing, SIGHUP said `unchanged: true` (the settings
were compared by path), and only a process restart read the new CA.
"""

from __future__ import annotations

import gc
import os
import ssl
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
import trustme
import yaml

from watchdog.app import Daemon
from watchdog.config import load_config
from watchdog.config.tls import files_digest

from .loopback import QuietHandler, serving
from .support import until

HEAL = {"name": "heal", "trigger": {"type": "status", "interval": 3600, "confirm_polls": 1}, "select": {"include": ["*"]}}


class _EmptyList(QuietHandler):
    def do_GET(self) -> None:
        self.send_body(200, b"{}")


class Worker:
    """An HTTPS worker on 127.0.0.1 whose certificate can be re-issued by another CA."""

    def __init__(self) -> None:
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.url = ""

    def issued_by(self, ca: trustme.CA) -> None:
        ca.issue_cert("127.0.0.1").configure_cert(self.context)  # the next handshakes present it


@pytest.fixture
def worker() -> Iterator[Worker]:
    served = Worker()
    first = trustme.CA()
    served.issued_by(first)
    served.first_ca = first  # type: ignore[attr-defined]
    with serving(_EmptyList, threaded=True, tls=served.context) as server:
        served.url = f"https://127.0.0.1:{server.server_port}"
        yield served
    # The daemon's stop may cancel a scheduled poll (the first of a cluster a reload rebuilt)
    # between its TCP connect and its TLS handshake, and httpcore leaves that socket to the
    # garbage collector (in production the process is exiting). Collected here, so its
    # ResourceWarning does not land on whichever test runs next.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()


def put(path: Path, ca: trustme.CA) -> None:
    """The kubelet's way: the new file renamed over the old one in one step."""
    staged = path.with_suffix(".new")
    ca.cert_pem.write_to_path(str(staged))
    os.replace(staged, path)


def daemon_on(tmp_path: Path, worker: Worker, watch: bool) -> Daemon:
    ca_file = tmp_path / "ca.pem"
    put(ca_file, worker.first_ca)  # type: ignore[attr-defined]
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({
        "clusters": {"onprem": {"backend": "kafka_connect", "urls": [worker.url], "tls": {"ca_file": str(ca_file)}}},
        "server": {"host": "127.0.0.1", "port": 0},
        "state": {"path": ":memory:"},
        "reload": {"watch": watch, "interval": 0.2},
        "rules": [HEAL],
    }))
    return Daemon(load_config(path), reload_config=lambda: load_config(path), config_path=path)


def polls(daemon: Daemon, result: str) -> float:
    return daemon.metrics.registry.get_sample_value("watchdog_polls_total", {"cluster": "onprem", "result": result}) or 0.0


async def test_a_ca_file_rotated_in_place_is_read_at_the_reload_the_watcher_makes(tmp_path: Path, worker: Worker) -> None:
    daemon = daemon_on(tmp_path, worker, watch=True)
    with structlog.testing.capture_logs() as logs:
        await daemon.start(serve_http=False)
        try:
            await daemon.pollers["onprem"].poll()
            assert polls(daemon, "ok") >= 1 and polls(daemon, "network_error") == 0

            second = trustme.CA()  # the worker's certificate re-issued by a new CA, mounted with it
            worker.issued_by(second)
            put(tmp_path / "ca.pem", second)

            def reloads() -> list[dict[str, Any]]:
                return [e for e in logs if e["event"].startswith("config_reload")]

            await until(reloads, "the watcher's reload of the new CA", timeout=10)
            (line,) = reloads()
            assert (line["event"], line["reason"], line["clusters_changed"]) == ("config_reloaded", "TLS file changed", ["onprem"])
            failed = polls(daemon, "network_error")
            await daemon.pollers["onprem"].poll()
            assert polls(daemon, "network_error") == failed, "the poll after the reload failed: the old CA is still used"
            ok = polls(daemon, "ok")
            await daemon.pollers["onprem"].poll()
            # At least: the rebuilt cluster's first scheduled poll may run beside this one.
            assert polls(daemon, "ok") >= ok + 1
        finally:
            await daemon.stop()
    assert len([e for e in logs if e["event"].startswith("config_reload")]) == 1, "one reload per change"


async def test_sighup_after_a_ca_rotation_rebuilds_the_cluster_not_unchanged(tmp_path: Path, worker: Worker) -> None:
    daemon = daemon_on(tmp_path, worker, watch=False)
    await daemon.start(serve_http=False)
    try:
        await daemon.pollers["onprem"].poll()
        second = trustme.CA()
        worker.issued_by(second)
        put(tmp_path / "ca.pem", second)
        await daemon.pollers["onprem"].poll()
        assert polls(daemon, "network_error") == 1  # the old CA: CERTIFICATE_VERIFY_FAILED
        with structlog.testing.capture_logs() as logs:
            assert await daemon.reload("SIGHUP") is True
        (line,) = [e for e in logs if e["event"] == "config_reloaded"]
        assert line["unchanged"] is False and line["clusters_changed"] == ["onprem"]
        ok = polls(daemon, "ok")
        await daemon.pollers["onprem"].poll()
        # The new CA (the cluster's series start over with its new client; at least: the rebuilt
        # cluster's first scheduled poll may run beside this one).
        assert polls(daemon, "ok") >= ok + 1 and polls(daemon, "network_error") == 0
    finally:
        await daemon.stop()


def test_a_fifo_swapped_in_at_a_tls_path_does_not_hold_the_watcher(tmp_path: Path) -> None:
    # The watcher hashes the TLS files on the event loop at every look: a FIFO at the path (a
    # mount gone wrong) blocked the open until someone wrote to it, and the daemon with it.
    fifo = tmp_path / "ca.pem"
    os.mkfifo(fifo)
    assert files_digest([fifo]) == files_digest([fifo])  # returned, counted by its path alone
