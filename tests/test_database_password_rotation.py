"""The database password rotated in the mounted Secret (WATCHDOG_STATE__PASSWORD) is applied at the
reload: the next connection the store and the elector open sends it.

Before, the reload was refused as a change of the whole `state` section (`config_reload_refused
sections: ["state"]`), every later edit of the config was refused with it (an incident's
`dry_run: true` not applied), and the store and the elector went on connecting with the password
fixed at the start: the next database restart left every replica unable to log in, no leader,
nothing sent, and nothing pointing at the cause."""

from __future__ import annotations

import json
import secrets
from typing import Any

import httpx
import structlog
from pydantic import SecretStr

from bench.postgres import PostgresServer
from watchdog.app import Daemon
from watchdog.config import Config, Credential
from watchdog.config.loading import build_config
from watchdog.reload import STATE_PASSWORD_REMOVED, diff_configs
from watchdog.simulator import Scenario, Simulator, create_app

from .support import (
    CLUSTER,
    CLUSTER_ID,
    ENVIRONMENT,
    TEST_API_KEY,
    TEST_API_SECRET,
    sim_scenario,
    until,
)


def _config(url: str, password: str, *, dry_run: bool = False) -> Config:
    data: dict[str, Any] = {
        "api": {"base_url": "http://sim"}, "credentials": {"main": {}},
        "clusters": {CLUSTER: {"environment_id": ENVIRONMENT, "kafka_cluster_id": CLUSTER_ID}},
        "server": {"host": "127.0.0.1", "port": 0},
        "state": {"url": url, "leader_election": {"lease_duration": 6, "renew_deadline": 2, "renew_interval": 0.2}},
        "reload": {"watch": False},
        "dry_run": dry_run,
        "rules": [{"name": "heal", "trigger": {"type": "status", "interval": 30}, "select": {"include": ["*"]}}],
    }
    credential = Credential(api_key=SecretStr(TEST_API_KEY), api_secret=SecretStr(TEST_API_SECRET))
    return build_config(data, "test", secrets={"credentials": {"main": credential},
                                               "state": {"password": SecretStr(password)}})


def _sessions(server: PostgresServer, role: str) -> list[str]:
    with server.connect() as admin:
        rows = admin.execute("SELECT application_name FROM pg_stat_activity WHERE usename = %s", (role,)).fetchall()
    return sorted(row[0].split(" ")[1] for row in rows)


async def test_a_rotated_database_password_is_sent_by_the_next_connection_of_the_store_and_the_elector(
    postgres_server: PostgresServer, postgres_url: str,
) -> None:
    role, old, new = f"rot_{secrets.token_hex(4)}", f"old-{secrets.token_hex(8)}", f"new-{secrets.token_hex(8)}"
    database = postgres_url.rsplit("/", 1)[1]
    with postgres_server.connect() as admin:
        admin.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{old}'")
        admin.execute(f'ALTER DATABASE "{database}" OWNER TO {role}')
    url = f"postgresql://{role}@127.0.0.1:{postgres_server.port}/{database}"
    held = {"password": old, "dry_run": False}
    simulator = Simulator(Scenario.model_validate(sim_scenario([{"name": "orders"}])))
    daemon = Daemon(_config(url, old), reload_config=lambda: _config(url, str(held["password"]), dry_run=bool(held["dry_run"])),
                    transport=httpx.ASGITransport(app=create_app(simulator)))
    await daemon.start(serve_http=False)
    try:
        await until(lambda: daemon.leadership.leading, "the lead")
        # The DBA's order: the role's new password first, then the Secret (with an incident's edit).
        with postgres_server.connect() as admin:
            admin.execute(f"ALTER ROLE {role} PASSWORD '{new}'")
        held.update(password=new, dry_run=True)
        with structlog.testing.capture_logs() as logs:
            assert await daemon.reload("file changed") is True, [e for e in logs if e["event"].startswith("config_reload")]
        (line,) = [e for e in logs if e["event"].startswith("config_reload")]
        assert line["event"] == "config_reloaded"
        assert line["sections_changed"] == ["dry_run", "state.password"]
        assert daemon.config.dry_run is True
        said = json.dumps(logs, default=str)
        assert old not in said and new not in said

        # The database restarts (every session of the role cut): both connect again, with the new one.
        with postgres_server.connect() as admin:
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", (role,))
        await until(lambda: _sessions(postgres_server, role) == [], "the sessions cut")
        await until(lambda: daemon.leadership.leading and daemon.leadership.unreachable is None
                    and "lease" in _sessions(postgres_server, role), "the elector's new session", timeout=20)
        assert daemon.state.pending() == []  # the store's next connection logs in
        assert daemon.state.problem is None
        assert _sessions(postgres_server, role) == ["lease", "store"]
    finally:
        await daemon.stop()


def test_only_the_password_of_state_rotates_the_rest_stays_restart_only() -> None:
    before = _config("postgresql://wd@127.0.0.1:5432/wd", "one")
    assert diff_configs(before, _config("postgresql://wd@127.0.0.1:5432/wd", "two")).restart_required == []
    moved = diff_configs(before, _config("postgresql://wd@127.0.0.1:5433/wd", "two"))
    assert moved.restart_required == ["state"]
    assert moved.not_applied() == {"sections_changed": ["state.password"]}


async def test_a_reload_that_takes_the_database_password_away_is_refused_and_the_password_kept(
    postgres_server: PostgresServer, postgres_url: str,
) -> None:
    # As a reload that takes the API token away (tests/test_reload.py::
    # test_a_reload_that_takes_the_api_token_away_is_refused_and_the_token_kept). Before: applied
    # at info (`sections_changed: ["state.password"]`), and the next session made (a database
    # restart, a failover, hours later) sent no password: every replica refused, no leader.
    role, password = f"keep_{secrets.token_hex(4)}", f"pw-{secrets.token_hex(8)}"
    database = postgres_url.rsplit("/", 1)[1]
    with postgres_server.connect() as admin:
        admin.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'")
        admin.execute(f'ALTER DATABASE "{database}" OWNER TO {role}')
    url = f"postgresql://{role}@127.0.0.1:{postgres_server.port}/{database}"
    running = _config(url, password)
    # The Secret updated without the password's file (an empty file reads as not set too).
    without = running.model_copy(update={"state": running.state.model_copy(update={"password": None}), "dry_run": True})
    simulator = Simulator(Scenario.model_validate(sim_scenario([{"name": "orders"}])))
    daemon = Daemon(running, reload_config=lambda: without, transport=httpx.ASGITransport(app=create_app(simulator)))
    await daemon.start(serve_http=False)
    try:
        await until(lambda: daemon.leadership.leading, "the lead")
        with structlog.testing.capture_logs() as logs:
            assert await daemon.reload("file changed") is False
        (line,) = [e for e in logs if e["event"].startswith("config_reload")]
        assert line["event"] == "config_reload_refused"
        assert line["sections"] == [STATE_PASSWORD_REMOVED]
        # Before: "these sections need a process restart", where a restart would start without it.
        assert line["note"].startswith("state.password: taken away by the file"), line["note"]
        assert "put it back and reload; a restart would start without it" in line["note"], line["note"]
        assert "need a process restart" not in line["note"], line["note"]
        assert line["not_applied"] == {"sections_changed": ["dry_run", "state.password"]}
        assert daemon.config is running and daemon.config.dry_run is False
        assert password not in json.dumps(logs, default=str)

        # The database restarts: both log in again with the running password, and lead.
        with postgres_server.connect() as admin:
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", (role,))
        await until(lambda: _sessions(postgres_server, role) == [], "the sessions cut")
        await until(lambda: daemon.leadership.leading and daemon.leadership.unreachable is None
                    and "lease" in _sessions(postgres_server, role), "the elector's new session", timeout=20)
        assert daemon.state.pending() == []
        assert daemon.state.problem is None
    finally:
        await daemon.stop()


def test_a_password_set_at_a_start_taken_away_needs_a_restart_one_set_where_none_was_does_not() -> None:
    url = "postgresql://wd@127.0.0.1:5432/wd"
    with_password = _config(url, "one")
    without = with_password.model_copy(update={"state": with_password.state.model_copy(update={"password": None})})
    assert diff_configs(with_password, without).restart_required == [STATE_PASSWORD_REMOVED]
    # One put in the Secret where none was (a role given a password, trust auth left) is applied.
    added = diff_configs(without, with_password)
    assert (added.restart_required, added.sections_changed) == ([], ["state.password"])
