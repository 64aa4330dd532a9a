"""check-config's `state:` line and the `started` line name the schema a PostgreSQL `state.url`
chooses (`options=-csearch_path=NAME`), never a secret.

Found by the runbook probe (2026-12-06): two replicas whose URLs differed only in
`?options=-csearch_path%3Dteam_b` both led (WatchdogSeveralLeaders), and the runbook's check,
`watchdog check-config | grep '^state:'` in each pod, printed the same line for both
(`state: PostgreSQL postgresql://wd@127.0.0.1:27320/postgres ...`): "same database", while each
failing connector was restarted twice per poll."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bench.postgres import PostgresServer
from watchdog.cli import main
from watchdog.state.postgres import PostgresStateStore

from .support import CLUSTER_ID, ENVIRONMENT

BASE = "postgresql://wd@127.0.0.1:5432/postgres"
TEAM_B = f"{BASE}?options=-csearch_path%3Dteam_b&sslmode=prefer&connect_timeout=5"


def _state_line(tmp_path: Path, url: str, capsys: pytest.CaptureFixture[str]) -> str:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({
        "credentials": {"main": {}},
        "clusters": {"prod": {"environment_id": ENVIRONMENT, "kafka_cluster_id": CLUSTER_ID}},
        "state": {"url": url},
    }))
    assert main(["check-config", "--config", str(path)]) == 0
    [line] = [line for line in capsys.readouterr().out.splitlines() if line.startswith("state:")]
    return line


def test_two_replicas_on_different_schemas_print_different_state_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], credentials_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WATCHDOG_STATE__PASSWORD", "PGPASS-CANARY-7")
    public, team_b = _state_line(tmp_path, BASE, capsys), _state_line(tmp_path, TEAM_B, capsys)

    assert public.startswith(f"state: PostgreSQL {BASE}   password: set"), public
    assert team_b.startswith(f"state: PostgreSQL {BASE} (options=-csearch_path=team_b)   password: set"), team_b
    assert "PGPASS-CANARY-7" not in public + team_b
    assert "sslmode" not in team_b, "how it connects is not which data it reaches"


def test_the_started_line_names_the_schema_too(postgres_server: PostgresServer, postgres_url: str) -> None:
    # The `started` line's `state` (and every message of the store) is the store's description.
    import psycopg

    with psycopg.connect(postgres_url, password=postgres_server.password.get_secret_value(), autocommit=True) as conn:
        conn.execute("CREATE SCHEMA team_b")
    url = f"{postgres_url}?options=-csearch_path%3Dteam_b&connect_timeout=5"
    with PostgresStateStore(postgres_url, password=postgres_server.password) as public, \
            PostgresStateStore(url, password=postgres_server.password) as team_b:
        assert public.description == f"PostgreSQL database {postgres_url}"
        assert team_b.description == f"PostgreSQL database {postgres_url} (options=-csearch_path=team_b)"
        assert postgres_server.password.get_secret_value() not in team_b.description
