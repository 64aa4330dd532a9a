"""A state.url naming several hosts, libpq's way of following a PostgreSQL failover without a
virtual IP: postgresql://watchdog@pg1:5432,pg2:5432/watchdog?target_session_attrs=read-write
connects to whichever host takes writes. check-config refused it ("its host or port cannot be read
(the port must be a number from 0 to 65535 ...)": urlsplit reads `5432,pg2:5432` as one port),
though the same hosts without ports passed and libpq takes both forms."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from bench.postgres import PostgresServer
from bench.processes import free_port
from watchdog.cli import main
from watchdog.config.leadership import LeaseTiming
from watchdog.leadership.elector import Elector
from watchdog.leadership.metrics import LeadershipMetrics
from watchdog.model import ConnectorKey, ConnectorState
from watchdog.state.postgres import PostgresStateStore

from .support import start_and_wait_until_elected
from .test_database_silent import SilentProxy


def _check(url: str, tmp_path: Path) -> int:
    path = tmp_path / "config.yaml"
    path.write_text("credentials: {main: {}}\nclusters: {prod: {environment_id: env-abc123, kafka_cluster_id: lkc-xyz789}}\n"
                    f"state: {{url: '{url}'}}\n")
    return main(["check-config", "--config", str(path)])


@pytest.mark.parametrize("url", [
    "postgresql://watchdog@pg1:5432,pg2:5432/watchdog?target_session_attrs=read-write",
    "postgresql://watchdog@pg1.db.internal:5432,pg2.db.internal:5433,pg3.db.internal/watchdog",
    "postgresql://watchdog@[2001:db8::1]:5432,[2001:db8::2]:5432/watchdog",
])
def test_a_url_naming_several_hosts_each_with_its_port_is_accepted(url: str, credentials_env: None, tmp_path: Path) -> None:
    assert _check(url, tmp_path) == 0


@pytest.mark.parametrize("url", [
    "postgresql://watchdog@pg1:5432,pg2:http/watchdog",
    "postgresql://watchdog@pg1:5432,:5432/watchdog",
])
def test_a_host_list_with_a_bad_port_or_an_empty_host_is_refused(
    url: str, credentials_env: None, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    assert _check(url, tmp_path) == 2
    assert "state.url: " in capsys.readouterr().err


def test_a_password_beside_several_hosts_is_refused_without_being_repeated(
    credentials_env: None, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    assert _check("postgresql://watchdog:hunter2hunter2@pg1:5432,pg2:5432/watchdog", tmp_path) == 2
    shown = capsys.readouterr()
    assert "must not carry a password" in shown.err and "hunter2hunter2" not in shown.out + shown.err


async def test_a_replica_whose_first_host_is_down_leads_and_records_on_the_next(
    postgres_server: PostgresServer, postgres_url: str,
) -> None:
    """The first host refuses connections (a failed primary); libpq goes on to the second."""
    database = postgres_url.rsplit("/", 1)[1]
    url = f"postgresql://watchdog@127.0.0.1:{free_port()},127.0.0.1:{postgres_server.port}/{database}"
    store = PostgresStateStore(url, password=postgres_server.password)  # the schema made through it
    elector = Elector(url, postgres_server.password, LeaseTiming(6.0, 4.0, 1.0), LeadershipMetrics(CollectorRegistry()),
                      identity="second-host")
    try:
        epoch = await start_and_wait_until_elected(elector, 15)
        store.fence(epoch, elector.identity)
        store.save(ConnectorKey("prod", "orders"), ConnectorState(attempts=1))
        assert store.load(ConnectorKey("prod", "orders")).attempts == 1
    finally:
        await elector.stop(release=True)
        store.close()


async def test_a_replica_whose_first_hosts_do_not_answer_reaches_the_last(
    postgres_server: PostgresServer, postgres_url: str,
) -> None:
    """libpq gives each host connect_timeout (2 s here): two silent ones (a node gone, its packets
    dropped; played by proxies that accept and never answer) cost 4 s before the third. The
    elector bounded the whole connect by one connect_timeout (and a second), and never led."""
    PostgresStateStore(postgres_url, password=postgres_server.password).close()  # the schema
    silent = [SilentProxy(postgres_server.port) for _ in range(2)]
    for proxy in silent:
        proxy.silence()
    database = postgres_url.rsplit("/", 1)[1]
    hosts = ",".join(f"127.0.0.1:{port}" for port in [*(p.port for p in silent), postgres_server.port])
    elector = Elector(f"postgresql://watchdog@{hosts}/{database}?connect_timeout=2", postgres_server.password,
                      LeaseTiming(15.0, 10.0, 2.0), LeadershipMetrics(CollectorRegistry()), identity="third-host")
    try:
        await start_and_wait_until_elected(elector, 20)
        assert elector.leading
    finally:
        await elector.stop(release=False)
        for proxy in silent:
            proxy.close()
