"""A Secret half rotated (a new key id beside the old secret, or a new secret beside the old key
id) is said at the reload, by name and by which half, never a value. Found by a reload probe: it
was announced as `credentials_rotated` exactly like a full rotation, then every call was answered
401 with a bare "Unauthorized", nothing saying that a new key had come without its own secret."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import structlog
from pydantic import SecretStr

from watchdog.app import Daemon
from watchdog.config import Config, Credential, build_config

HEAL = {"name": "heal", "trigger": {"type": "status", "interval": 3600}, "select": {"include": ["*"]}}
CLOUD = {"prod": {"environment_id": "env-1", "kafka_cluster_id": "lkc-1", "credential": "main"}}
SELF_MANAGED = {"workers": {"backend": "kafka_connect", "urls": ["http://connect:8083"], "credential": "worker"}}
OLD = {"main": ("KEYOLDMAIN0001", "old-main-secret-7f3a9c2e"), "worker": ("connect-user", "old-worker-password-1b8d")}


def config(pairs: dict[str, tuple[str, str]]) -> Config:
    data: dict[str, Any] = {"api": {"base_url": "http://sim"}, "credentials": {name: {} for name in pairs},
                            "server": {"host": "127.0.0.1", "port": 0}, "state": {"path": ":memory:"},
                            "rules": [HEAL], "clusters": {**CLOUD, **SELF_MANAGED}}
    secrets = {name: Credential(api_key=SecretStr(key), api_secret=SecretStr(secret)) for name, (key, secret) in pairs.items()}
    return build_config(data, "test config", secrets={"credentials": secrets})


async def reloaded(pairs: dict[str, tuple[str, str]]) -> list[dict[str, Any]]:
    loaded = [config(OLD)]
    daemon = Daemon(loaded[0], transport=httpx.MockTransport(lambda request: httpx.Response(200, json={})),
                    reload_config=lambda: loaded[0])
    loaded[0] = config(pairs)
    with structlog.testing.capture_logs() as logs:
        assert await daemon.reload("file changed") is True
    await daemon.stop()
    return logs


@pytest.mark.parametrize(("pair", "changed", "kept"), [
    (("KEYNEWMAIN0002", OLD["main"][1]), "api_key", "api_secret"),
    ((OLD["main"][0], "new-main-secret-2c9e7b1f"), "api_secret", "api_key"),
])
async def test_a_cloud_key_rotated_without_its_secret_or_the_other_way_is_said_by_which_half(
    pair: tuple[str, str], changed: str, kept: str
) -> None:
    logs = await reloaded({**OLD, "main": pair})
    (said,) = [e for e in logs if e["event"] == "credentials_half_rotated"]
    assert said["log_level"] == "warning"
    assert (said["credential"], said["changed"], said["unchanged"]) == ("main", changed, kept)
    assert said["note"].startswith(f"{changed} changed, {kept} did not: a Confluent Cloud key comes with its own secret")
    assert not any(value in str(logs) for value in (*pair, *OLD["main"])), "a key or secret was logged"


async def test_a_full_rotation_and_a_new_self_managed_password_are_not_half_rotations() -> None:
    logs = await reloaded({"main": ("KEYNEWMAIN0002", "new-main-secret-2c9e7b1f"), "worker": ("connect-user", "new-worker-password-9a3f")})
    (line,) = [e for e in logs if e["event"] == "config_reloaded"]
    assert line["credentials_rotated"] == ["main", "worker"]
    assert not [e for e in logs if e["event"] == "credentials_half_rotated"]


def test_the_runbooks_401_after_a_rotation_bullet_names_the_half_rotation_warning() -> None:
    from pathlib import Path

    runbook = (Path(__file__).parent.parent / "docs" / "runbook.md").read_text()
    section = runbook.split("### WatchdogApiKeyRejected", 1)[1].split("\n### ", 1)[0]
    (bullet,) = [b for b in section.split("\n- ") if b.startswith("401 right after a rotation")]
    assert "`credentials_half_rotated`" in bullet
    assert "a Confluent Cloud key comes with its own secret" in " ".join(bullet.split())
