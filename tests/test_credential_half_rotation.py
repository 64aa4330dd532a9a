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


def config(pairs: dict[str, tuple[str, str]], **changed: Any) -> Config:
    data: dict[str, Any] = {"api": {"base_url": "http://sim"}, "credentials": {name: {} for name in pairs},
                            "server": {"host": "127.0.0.1", "port": 0}, "state": {"path": ":memory:"},
                            "rules": [HEAL], "clusters": {**CLOUD, **SELF_MANAGED}, **changed}
    secrets = {name: Credential(api_key=SecretStr(key), api_secret=SecretStr(secret)) for name, (key, secret) in pairs.items()}
    return build_config(data, "test config", secrets={"credentials": secrets})


async def reloaded(pairs: dict[str, tuple[str, str]], old: dict[str, tuple[str, str]] = OLD, **changed: Any) -> list[dict[str, Any]]:
    loaded = [config(old, **changed)]
    daemon = Daemon(loaded[0], transport=httpx.MockTransport(lambda request: httpx.Response(200, json={})),
                    reload_config=lambda: loaded[0])
    loaded[0] = config(pairs, **changed)
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


ONLY_SELF_MANAGED = {"workers": {"backend": "kafka_connect", "urls": ["http://connect:8083"], "credential": "onprem"}}
STALLED = {"name": "stuck", "trigger": {"type": "stalled", "interval": 60, "grace": 120, "window": 300, "delay": 300},
           "select": {"include": ["*"]}}


@pytest.mark.parametrize("pair", [("connect-user", "new-worker-password-9a3f"), ("connect-user-2", "old-worker-password-1b8d")])
async def test_the_only_credential_of_a_self_managed_only_config_is_no_cloud_key(pair: tuple[str, str]) -> None:
    # Found by a credentials probe: with one credential, the Metrics API's (the only one, by
    # default) counted as a Cloud use though no `stalled` rule calls the Metrics API, and a
    # worker's new password (same user) was announced as a half-rotated Confluent Cloud key that
    # "will be refused (401)": an operator told to roll back a correct rotation.
    logs = await reloaded({"onprem": pair}, old={"onprem": OLD["worker"]}, clusters=ONLY_SELF_MANAGED)
    (line,) = [e for e in logs if e["event"] == "config_reloaded"]
    assert line["credentials_rotated"] == ["onprem"]
    assert not [e for e in logs if e["event"] == "credentials_half_rotated"]


@pytest.mark.parametrize("changed", [{"rules": [HEAL, STALLED]}, {"metrics_api": {"credential": "onprem"}}],
                         ids=["a stalled rule", "metrics_api.credential"])
async def test_the_metrics_apis_credential_is_a_cloud_key_when_a_stalled_rule_or_the_file_names_it(changed: dict[str, Any]) -> None:
    # The same lone credential, used by the Metrics API: by an enabled stalled rule (the only
    # credential, by default), or named as its credential in the file. A half rotation is said.
    old = {"onprem": ("KEYOLDMETRICS01", "old-metrics-secret-4e1a")}
    logs = await reloaded({"onprem": ("KEYOLDMETRICS01", "new-metrics-secret-6b2d")}, old=old,
                          clusters=ONLY_SELF_MANAGED, **changed)
    (said,) = [e for e in logs if e["event"] == "credentials_half_rotated"]
    assert (said["credential"], said["changed"]) == ("onprem", "api_secret")


def test_the_runbooks_401_after_a_rotation_bullet_names_the_half_rotation_warning() -> None:
    from pathlib import Path

    runbook = (Path(__file__).parent.parent / "docs" / "runbook.md").read_text()
    section = runbook.split("### WatchdogApiKeyRejected", 1)[1].split("\n### ", 1)[0]
    (bullet,) = [b for b in section.split("\n- ") if b.startswith("401 right after a rotation")]
    assert "`credentials_half_rotated`" in bullet
    assert "a Confluent Cloud key comes with its own secret" in " ".join(bullet.split())


async def reloaded_in_steps(*steps: dict[str, tuple[str, str]]) -> list[list[dict[str, Any]]]:
    """The daemon started with OLD, then reloaded to each step in turn: each reload's log lines."""
    loaded = [config(OLD)]
    daemon = Daemon(loaded[0], transport=httpx.MockTransport(lambda request: httpx.Response(200, json={})),
                    reload_config=lambda: loaded[0])
    said = []
    for pairs in steps:
        loaded[0] = config(pairs)
        with structlog.testing.capture_logs() as logs:
            assert await daemon.reload("file changed") is True
        said.append(logs)
    await daemon.stop()
    return said


NEW_KEY, NEW_SECRET = "KEYNEWMAIN0002", "new-main-secret-2c9e7b1f"


@pytest.mark.parametrize(("first", "second"), [
    ((NEW_KEY, OLD["main"][1]), (NEW_KEY, NEW_SECRET)),
    ((OLD["main"][0], NEW_SECRET), (NEW_KEY, NEW_SECRET)),
    (("KEYWRONGMAIN03", OLD["main"][1]), OLD["main"]),
], ids=["key then secret", "secret then key", "key id put back"])
async def test_a_half_rotation_completed_or_undone_by_the_next_reload_is_said_so_not_as_a_new_half(
    first: tuple[str, str], second: tuple[str, str]
) -> None:
    # Found by a reload probe: the Secret's key file edited, then its secret file (Compose's
    # bind mount, two `kubectl patch`): the second reload, which made the pair whole, was said as a
    # new half rotation ("api_secret changed, api_key did not: ... will be refused (401)") while
    # every call was accepted; a key id put back likewise. The halves were judged against the
    # previous config, itself half rotated.
    halfway, completed = await reloaded_in_steps({**OLD, "main": first}, {**OLD, "main": second})
    assert [e["credential"] for e in halfway if e["event"] == "credentials_half_rotated"] == ["main"]
    assert not [e for e in completed if e["event"] == "credentials_half_rotated"], completed
    (done,) = [e for e in completed if e["event"] == "credentials_rotation_completed"]
    assert done["log_level"] == "info" and done["credential"] == "main"
    assert not any(value in str(halfway + completed) for value in (*first, *second, *OLD["main"])), "a value was logged"


async def test_a_second_half_still_beside_the_old_pair_is_still_a_half_rotation() -> None:
    # A new key id, then another new key id, the secret untouched: still half of a pair.
    halfway, again = await reloaded_in_steps({**OLD, "main": (NEW_KEY, OLD["main"][1])},
                                             {**OLD, "main": ("KEYOTHERMAIN04", OLD["main"][1])})
    (said,) = [e for e in again if e["event"] == "credentials_half_rotated"]
    assert (said["changed"], said["unchanged"]) == ("api_key", "api_secret")
    assert not [e for e in again if e["event"] == "credentials_rotation_completed"]
