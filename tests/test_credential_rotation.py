"""An API key rotated in the mounted Secret is applied at the reload, not held back until a restart.

Before, a new key and secret of a credential already named refused the whole reload
(`config_reload_refused sections: ["credentials"]`): the API token rotated in the same Secret
update was dropped with it (Alertmanager's webhooks answered 401 until the pod was restarted), and
every later edit, an incident's `dry_run: true` included, was refused likewise, the refusal naming
none of what it threw away.
"""

from __future__ import annotations

import base64
import json
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog
import yaml

from watchdog.app import Daemon
from watchdog.config import load_config

from .loopback import QuietHandler, serving

OLD = {"main": ("KEYOLDMAIN0001", "old-main-secret-7f3a9c2e"), "worker": ("worker-old", "old-worker-secret-1b8d4e6a")}
NEW = {"main": ("KEYNEWMAIN0002", "new-main-secret-2c9e7b1f"), "worker": ("worker-new", "new-worker-secret-9a3f5d0c")}
OLD_TOKEN, NEW_TOKEN = "old-token-4e8b2a9d1c7f3e6a", "new-token-7d1c3f9a2e8b4c6d"
HEAL = {"name": "heal", "trigger": {"type": "status", "interval": 3600, "confirm_polls": 1}, "select": {"include": ["*"]}}


def basic(pair: tuple[str, str]) -> str:
    return "Basic " + base64.b64encode(f"{pair[0]}:{pair[1]}".encode()).decode()


def use(monkeypatch: pytest.MonkeyPatch, pairs: dict[str, tuple[str, str]], token: str) -> None:
    """The credentials and the token as the mounted Secret (here the environment) holds them."""
    for name, (key, secret) in pairs.items():
        monkeypatch.setenv(f"WATCHDOG_CREDENTIALS__{name.upper()}__API_KEY", key)
        monkeypatch.setenv(f"WATCHDOG_CREDENTIALS__{name.upper()}__API_SECRET", secret)
    monkeypatch.setenv("WATCHDOG_SERVER__AUTH_TOKEN", token)
    monkeypatch.delenv("WATCHDOG_SECRETS_DIR", raising=False)


class Recorder(QuietHandler):
    """Every API the daemon calls, on one loopback port: answers an empty listing and records
    which Authorization header each request carried."""

    seen: list[tuple[str, str | None]] = []
    lock = threading.Lock()

    def do_GET(self) -> None:
        with self.lock:
            self.seen.append((self.path, self.headers.get("Authorization")))
        self.send_body(200, {"data": []} if self.path.startswith("/metrics") else {})

    do_POST = do_GET


def write(path: Path, port: int, **extra: Any) -> None:
    url = f"http://127.0.0.1:{port}"
    path.write_text(yaml.safe_dump({
        "api": {"base_url": url},
        "metrics_api": {"base_url": f"{url}/metrics", "credential": "main"},
        "credentials": {"main": {}, "worker": {}},
        "clusters": {
            "cloud": {"environment_id": "env-abc123", "kafka_cluster_id": "lkc-abc123", "credential": "main"},
            "onprem": {"backend": "kafka_connect", "urls": [f"{url}/onprem"], "credential": "worker"},
        },
        "server": {"host": "127.0.0.1", "port": 0},
        "state": {"path": ":memory:"},
        "reload": {"watch": False},
        "rules": [HEAL],
        **extra,
    }))


def no_secret_in(logs: list[dict[str, Any]]) -> None:
    said = json.dumps(logs, default=str)
    for pairs in (OLD, NEW):
        for key, secret in pairs.values():
            assert key not in said and secret not in said and basic((key, secret)) not in said
    assert OLD_TOKEN not in said and NEW_TOKEN not in said


async def test_a_key_rotated_at_a_reload_is_sent_by_every_client_of_it_from_its_next_call_with_the_token_of_the_same_update(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from watchdog.server import create_app as daemon_app

    Recorder.seen = []
    with serving(Recorder, threaded=True) as server:
        path = tmp_path / "config.yaml"
        write(path, server.server_port)
        use(monkeypatch, OLD, OLD_TOKEN)
        daemon = Daemon(load_config(path), reload_config=lambda: load_config(path), config_path=path)
        daemon._ensure_metrics_lane()  # the Metrics API's client, as the first stalled rule makes it
        lanes = {lane: daemon.gateways[lane].limiter for lane in daemon.gateways}
        try:
            await daemon.pollers["cloud"].poll()
            await daemon.pollers["onprem"].poll()
            await daemon.http["metrics-api"].get("/v2/metrics/cloud/query")
            before = list(Recorder.seen)
            assert {auth for _, auth in before} == {basic(OLD["main"]), basic(OLD["worker"])}

            use(monkeypatch, NEW, NEW_TOKEN)  # one Secret update: both keys and the token
            with structlog.testing.capture_logs() as logs:
                assert await daemon.reload("file changed") is True
            (line,) = [e for e in logs if e["event"].startswith("config_reload")]
            assert line["event"] == "config_reloaded"
            assert line["sections_changed"] == ["server.auth_token", "credentials"]
            assert line["credentials_rotated"] == ["main", "worker"]
            no_secret_in(logs)

            await daemon.pollers["cloud"].poll()
            await daemon.pollers["onprem"].poll()
            await daemon.http["metrics-api"].get("/v2/metrics/cloud/query")
            after = Recorder.seen[len(before):]
            by_path = {p.split("?")[0]: auth for p, auth in after}
            assert by_path == {
                "/connect/v1/environments/env-abc123/clusters/lkc-abc123/connectors": basic(NEW["main"]),
                "/onprem/connectors": basic(NEW["worker"]),
                "/metrics/v2/metrics/cloud/query": basic(NEW["main"]),
            }, after
            # The lanes stay, with their limiters (what they learned of the budget).
            assert {lane: daemon.gateways[lane].limiter for lane in daemon.gateways} == lanes

            app = daemon_app(daemon.metrics.registry, daemon.probes, daemon.api_context())
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://d") as http:
                answers = [(await http.get("/v1/connectors", headers={"Authorization": f"Bearer {token}"})).status_code
                           for token in (OLD_TOKEN, NEW_TOKEN)]
            assert answers == [401, 200], "the token of the same Secret update is the one in force"
        finally:
            await daemon.stop()


async def test_a_refused_reload_names_every_change_it_discards_and_no_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with serving(Recorder, threaded=True) as server:
        path = tmp_path / "config.yaml"
        write(path, server.server_port)
        use(monkeypatch, OLD, OLD_TOKEN)
        daemon = Daemon(load_config(path), reload_config=lambda: load_config(path), config_path=path)
        try:
            # An incident's edit (dry_run, a rule) beside a rate_limit change, with the Secret's
            # token and keys rotated: none of it is applied, and the line says so, by name.
            use(monkeypatch, NEW, NEW_TOKEN)
            write(path, server.server_port, dry_run=True, rate_limit={"reserve": 2},
                  rules=[HEAL, {**HEAL, "name": "heal_more"}])
            with structlog.testing.capture_logs() as logs:
                assert await daemon.reload("file changed") is False
            (line,) = [e for e in logs if e["event"].startswith("config_reload")]
            assert (line["event"], line["sections"]) == ("config_reload_refused", ["rate_limit"])
            assert line["not_applied"] == {
                "rules_added": ["heal_more"],
                "sections_changed": ["dry_run", "server.auth_token", "credentials"],
                "credentials_rotated": ["main", "worker"],
            }
            no_secret_in(logs)
            assert daemon.config.dry_run is False

            # A credential added is still for a restart: named, and the rest named as discarded.
            write(path, server.server_port, credentials={"main": {}, "worker": {}, "spare": {}})
            monkeypatch.setenv("WATCHDOG_CREDENTIALS__SPARE__API_KEY", "KEYSPARE0003")
            monkeypatch.setenv("WATCHDOG_CREDENTIALS__SPARE__API_SECRET", "spare-secret-5e1a7c3b")
            with structlog.testing.capture_logs() as logs:
                assert await daemon.reload("SIGHUP") is False
            (line,) = [e for e in logs if e["event"].startswith("config_reload")]
            assert (line["event"], line["sections"]) == ("config_reload_refused", ["credentials"])
            assert line["credentials"].startswith("added: spare (")
            assert line["not_applied"] == {"sections_changed": ["server.auth_token", "credentials"],
                                           "credentials_rotated": ["main", "worker"]}
            no_secret_in(logs)
            assert "spare-secret" not in json.dumps(logs, default=str)
        finally:
            await daemon.stop()


async def test_two_names_of_one_key_rotated_apart_are_refused_as_a_change_of_lanes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `a` and `b` hold one key, so their clusters share one lane (Confluent limits per key):
    # rotating `b` alone would make it a lane of its own, which only a start makes.
    with serving(Recorder, threaded=True) as server:
        path = tmp_path / "config.yaml"
        url = f"http://127.0.0.1:{server.server_port}"
        path.write_text(yaml.safe_dump({
            "api": {"base_url": url}, "credentials": {"a": {}, "b": {}},
            "clusters": {"one": {"environment_id": "env-1", "kafka_cluster_id": "lkc-1", "credential": "a"},
                         "two": {"environment_id": "env-2", "kafka_cluster_id": "lkc-2", "credential": "b"}},
            "server": {"host": "127.0.0.1", "port": 0}, "state": {"path": ":memory:"}, "rules": [HEAL]}))
        use(monkeypatch, {"a": OLD["main"], "b": OLD["main"]}, OLD_TOKEN)
        daemon = Daemon(load_config(path), reload_config=lambda: load_config(path), config_path=path)
        try:
            use(monkeypatch, {"b": NEW["main"]}, OLD_TOKEN)
            with structlog.testing.capture_logs() as logs:
                assert await daemon.reload("SIGHUP") is False
            (line,) = [e for e in logs if e["event"].startswith("config_reload")]
            assert (line["event"], line["sections"]) == ("config_reload_refused", ["credentials"])
            assert line["credentials"].startswith("now sharing a key differently: b (")
            no_secret_in(logs)
            use(monkeypatch, {"a": NEW["main"], "b": NEW["main"]}, OLD_TOKEN)  # both: the same lane
            assert await daemon.reload("SIGHUP") is True
            assert daemon.http["a"].auth is not None
            request = daemon.http["a"].build_request("GET", "/")
            assert next(daemon.http["a"].auth.auth_flow(request)).headers["Authorization"] == basic(NEW["main"])
        finally:
            await daemon.stop()
