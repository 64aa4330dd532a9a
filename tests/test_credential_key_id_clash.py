"""Two credentials holding the same API key id with different secrets: Confluent Cloud issues one
secret per key, so one of the two pairs is refused (401) at every call. Passed check-config, the
start and a reload without a word; said now at each, by the credentials' names and the setting
(`api_key`), never a key id or secret (the log and check-config star those out anyway). The
same key with the same secret is one key under two names: said as before (credentials_share_a_key,
one rate-limit lane), and not as this. A self-managed cluster's credential is a basic-auth user
and password: one user with a password per cluster is common, and says nothing."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import structlog

from watchdog.app import Daemon

from .test_credential_half_rotation import CLOUD, config
from .test_credential_warnings import FILE, KEYS, _check, _set_keys, _start_lines

OTHER_SECRET = "other-secret-of-org-a-000000009"  # orga's key id pasted with another secret
CLASH = ("warning: credentials.orga, credentials.orgb: hold the same API key id (api_key) with different secrets "
         "(api_secret): Confluent Cloud issues one secret per key, so the calls of one of them will be refused "
         "(401); put each key's own secret beside it (or each organisation's own key id)")
TWO_CLUSTERS = FILE.replace("rules:", "  b1: {environment_id: env-b0, kafka_cluster_id: lkc-b000, credential: orgb}\nrules:")


def _clashing(monkeypatch: pytest.MonkeyPatch) -> None:
    _set_keys(monkeypatch, orga="orga", orgb="orga")
    monkeypatch.setenv("WATCHDOG_CREDENTIALS__ORGB__API_SECRET", OTHER_SECRET)


def test_check_config_and_the_start_say_two_credentials_holding_one_key_id_with_different_secrets(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _clashing(monkeypatch)
    # Before: no warning at all (exit 0, nothing on stderr), and nothing at start.
    assert _check(tmp_path, TWO_CLUSTERS, capsys) == [CLASH]
    from watchdog.config import load_config

    said = _start_lines(load_config(tmp_path / "config.yaml"))
    assert [(e["event"], e["credentials"]) for e in said] == [("credentials_share_a_key_id", ["orga", "orgb"])]
    assert said[0]["note"] == CLASH.split(": ", 2)[2]
    assert OTHER_SECRET not in repr(said)


def test_the_same_key_and_secret_twice_and_a_self_managed_user_twice_are_no_clash(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # One key under two names: the shared lane is said (credentials_share_a_key), not a 401 to come.
    _set_keys(monkeypatch, orga="orga", orgb="orga")
    assert [line for line in _check(tmp_path, TWO_CLUSTERS, capsys) if "API key id" in line] == []
    # orgb a self-managed cluster's basic-auth user, the same user name with its own password.
    monkeypatch.setenv("WATCHDOG_CREDENTIALS__ORGB__API_SECRET", OTHER_SECRET)
    self_managed = FILE.replace("rules:", "  b1: {backend: kafka_connect, urls: ['https://connect-b:8083'], credential: orgb}\nrules:")
    assert _check(tmp_path, self_managed, capsys) == []
    from watchdog.config import load_config

    assert _start_lines(load_config(tmp_path / "config.yaml")) == []


async def test_a_reload_that_brings_a_key_id_with_another_secret_says_it() -> None:
    clusters = {**CLOUD, "other": {"environment_id": "env-2", "kafka_cluster_id": "lkc-2", "credential": "second"}}
    before = {"main": KEYS["orga"], "second": KEYS["orgb"]}
    loaded = [config(before, clusters=clusters)]
    daemon = Daemon(loaded[0], transport=httpx.MockTransport(lambda request: httpx.Response(200, json={})),
                    reload_config=lambda: loaded[0])
    try:
        for pairs in ({**before, "second": (KEYS["orga"][0], OTHER_SECRET)}, before):
            loaded[0] = config(pairs, clusters=clusters)
            with structlog.testing.capture_logs() as logs:
                assert await daemon.reload("file changed") is True
            said = [e for e in logs if e["event"] == "credentials_share_a_key_id"]
            if pairs is before:  # the Secret put right: nothing more is said
                assert said == [], said
            else:  # before: config_reloaded with credentials_rotated, not a word of the 401 to come
                assert [(e["log_level"], e["credentials"]) for e in said] == [("warning", ["main", "second"])]
            assert not any(value in repr(logs) for pair in pairs.values() for value in pair)
    finally:
        await daemon.stop()
