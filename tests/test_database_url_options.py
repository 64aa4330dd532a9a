"""Parameters of state.url that libpq reads and the daemon relies on too: `connect_timeout`.

conninfo gives every parameter as text; the elector adds a second to the connect timeout for its
own bound, so `?connect_timeout=10` (an operator's natural setting for a database far away) made
`'10' + 1` a TypeError in the election loop, which ended it without a word: the replica never led,
logged nothing, and its /readyz said 'the database has not been reached yet' for good."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from bench.postgres import PostgresServer
from watchdog.cli import main
from watchdog.config.leadership import LeaseTiming
from watchdog.leadership.elector import Elector
from watchdog.leadership.metrics import LeadershipMetrics
from watchdog.state.postgres import PostgresStateStore

from .support import start_and_wait_until_elected


async def test_a_replica_whose_database_url_sets_connect_timeout_leads(
    postgres_server: PostgresServer, postgres_url: str,
) -> None:
    url = f"{postgres_url}?connect_timeout=10"
    with PostgresStateStore(url, password=postgres_server.password):
        pass  # the store reads the same URL (and made the schema)
    elector = Elector(url, postgres_server.password, LeaseTiming(6.0, 4.0, 1.0), LeadershipMetrics(CollectorRegistry()),
                      identity="far-away")
    try:
        assert await start_and_wait_until_elected(elector, 15) >= 1
        assert elector.leading and elector.unreachable is None
    finally:
        await elector.stop(release=True)


@pytest.mark.parametrize("value", ["0", "-5", "ten", "2.5", ""])
def test_a_connect_timeout_that_is_no_bound_or_no_whole_number_is_refused(
    value: str, credentials_env: None, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("credentials: {main: {}}\nclusters: {prod: {environment_id: env-abc123, kafka_cluster_id: lkc-xyz789}}\n"
                    f"state: {{url: 'postgresql://watchdog@db:5432/watchdog?connect_timeout={value}'}}\n")
    assert main(["check-config", "--config", str(path)]) == 2
    assert "state.url: the database URL's connect_timeout must be a whole number of seconds" in capsys.readouterr().err


def test_a_whole_connect_timeout_is_accepted(credentials_env: None, tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("credentials: {main: {}}\nclusters: {prod: {environment_id: env-abc123, kafka_cluster_id: lkc-xyz789}}\n"
                    "state: {url: 'postgresql://watchdog@db:5432/watchdog?connect_timeout=10&sslmode=require'}\n")
    assert main(["check-config", "--config", str(path)]) == 0


@pytest.mark.parametrize("command", [["check-config"], ["run", "--once"]])
def test_a_database_url_parameter_libpq_does_not_know_is_refused_as_an_invalid_config(
    command: list[str], credentials_env: None, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    # `?sslmod=require` (sslmode misspelt): check-config said `config ...: valid`, exit 0 (the
    # runbook's check before a deploy), and `run` then stopped at once, exit 1, `PostgreSQL database
    # ... cannot be used (invalid URI query parameter: "sslmod")`: both replicas of the `ha`
    # overlay crash-looped on a config its check had passed. libpq reads the URL without
    # connecting, so the config is refused as invalid (exit 2) by every command, naming it.
    path = tmp_path / "config.yaml"
    path.write_text("credentials: {main: {}}\nclusters: {prod: {environment_id: env-abc123, kafka_cluster_id: lkc-xyz789}}\n"
                    "state: {url: 'postgresql://watchdog@127.0.0.1:9/watchdog?sslmod=require'}\n")
    assert main([*command, "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"invalid config {path}:" in err, err
    assert 'state.url: libpq cannot read it (invalid URI query parameter: "sslmod")' in err, err
    assert "libpq-connect.html" in err, "where the parameters are listed"
