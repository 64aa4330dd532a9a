"""Several organisations' credentials, the mistakes said (a probe's finding, probe_scale 2): a
credential no cluster, discovery or metrics_api uses (in the file, or made only by
`WATCHDOG_CREDENTIALS__<NAME>__*` variables left in the environment) passed check-config and the
start without a word, and the organisation whose clusters were forgotten was watched by nobody;
two names holding one key were said only by the running daemon; a cluster listed by hand under
one key while discovery's key lists it was shown `watched as clusters.X` by check-config
--discover without a word of the credentials differing. Warnings, never refusals (a key kept for
a cluster about to be added is legitimate), and never a key id or secret in what is said."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from structlog.testing import capture_logs

from watchdog.cli import main
from watchdog.config import Config, Credential, build_config, load_config
from watchdog.discovery.preview import discover_once
from watchdog.start_warnings import warn_at_start

# Each organisation's key, as Confluent issues them (16 upper-case letters and digits).
KEYS = {"orga": ("ORGAKEY000000001", "secret-of-org-a-0000000000000001"),
        "orgb": ("ORGBKEY000000002", "secret-of-org-b-0000000000000002"),
        "orgc": ("ORGCKEY000000003", "secret-of-org-c-0000000000000003")}
SECRETS = [part for pair in KEYS.values() for part in pair]

FILE = """\
api: {base_url: "https://api.confluent.cloud"}
state: {path: ":memory:"}
credentials:
  orga: {}
  orgb: {}
clusters:
  a1: {environment_id: env-a0, kafka_cluster_id: lkc-a000, credential: orga}
rules:
  - name: heal
    trigger: {type: status}
    select: {include: ["*"]}
"""
UNUSED_ORGB = ("warning: credentials.orgb: no cluster, discovery or metrics_api uses it: no call is made with "
               "its key, so if clusters of its organisation were meant to be watched, none is; name it in those "
               "clusters' `credential` (or in discovery's), or remove it if it is kept for a cluster not added yet")
UNUSED_ORGC = ("warning: credentials.orgc (not in the file: made by WATCHDOG_CREDENTIALS__ORGC__API_KEY, "
               "WATCHDOG_CREDENTIALS__ORGC__API_SECRET): no cluster, discovery or metrics_api uses it: no call is "
               "made with its key, so if clusters of its organisation were meant to be watched, none is; name it "
               "in those clusters' `credential` (or in discovery's), or unset those variables if it is kept for a cluster not "
               "added yet")


def _set_keys(monkeypatch: pytest.MonkeyPatch, **names: str) -> None:
    """WATCHDOG_CREDENTIALS__<NAME>__* for each name, holding the key of the organisation given."""
    monkeypatch.delenv("WATCHDOG_SECRETS_DIR", raising=False)
    for name, organisation in names.items():
        key, secret = KEYS[organisation]
        monkeypatch.setenv(f"WATCHDOG_CREDENTIALS__{name.upper()}__API_KEY", key)
        monkeypatch.setenv(f"WATCHDOG_CREDENTIALS__{name.upper()}__API_SECRET", secret)


def _check(tmp_path: Path, text: str, capsys: pytest.CaptureFixture[str]) -> list[str]:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    assert main(["check-config", "--config", str(path)]) == 0  # warnings, not refusals
    captured = capsys.readouterr()
    assert "valid" in captured.out.splitlines()[0]
    for secret in SECRETS:
        assert secret not in captured.out + captured.err, "no key id or secret is ever printed"
    return [line for line in captured.err.splitlines() if line.startswith("warning: ")]


def _start_lines(config: Config) -> list[dict[str, Any]]:
    with capture_logs() as logs:
        warn_at_start(config)
    for secret in SECRETS:
        assert secret not in repr(logs), "no key id or secret is ever logged"
    return [e for e in logs if e["log_level"] == "warning"]


def test_check_config_and_the_start_say_a_credential_no_cluster_uses(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # orgb in the file with no cluster; orgc made only by variables left in the environment.
    _set_keys(monkeypatch, orga="orga", orgb="orgb", orgc="orgc")
    assert _check(tmp_path, FILE, capsys) == [UNUSED_ORGB, UNUSED_ORGC]
    said = _start_lines(load_config(tmp_path / "config.yaml"))
    assert [(e["event"], e["settings"]) for e in said] == [
        ("settings_with_no_effect", [UNUSED_ORGB.removeprefix("warning: "), UNUSED_ORGC.removeprefix("warning: ")])]


async def test_check_config_says_two_credentials_holding_one_key_and_the_start_says_it_once(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # orgb's variables hold org A's key (a copy-paste slip): both used, one organisation watched twice.
    _set_keys(monkeypatch, orga="orga", orgb="orga")
    text = FILE.replace("rules:", "  b1: {environment_id: env-b0, kafka_cluster_id: lkc-b000, credential: orgb}\nrules:")
    assert _check(tmp_path, text, capsys) == [
        "warning: credentials.orga, credentials.orgb: hold the same API key and secret: Confluent limits per key, so "
        "their clusters share one rate-limit lane (orga's; the daemon says credentials_share_a_key at start); if "
        "each was meant to be its own organisation's key, one of them holds another's"]
    from watchdog.app import Daemon

    with capture_logs() as logs:
        daemon = Daemon(load_config(tmp_path / "config.yaml"))
    await daemon.stop()
    said = [e for e in logs if e["event"] == "credentials_share_a_key"]
    assert [(e["log_level"], e["credentials"], e["lane"]) for e in said] == [("warning", ["orga", "orgb"], "orga")]
    for secret in SECRETS:
        assert secret not in repr(logs)


def test_a_correct_several_organisation_config_says_nothing_of_its_credentials(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _set_keys(monkeypatch, orga="orga", orgb="orgb", orgc="orgc")
    text = FILE.replace("  orgb: {}\n", "  orgb: {}\n  orgc: {}\n").replace("rules:", (
        "  b1: {environment_id: env-b0, kafka_cluster_id: lkc-b000, credential: orgb}\n"
        "  c1: {backend: kafka_connect, urls: ['https://connect-c:8083'], credential: orgc}\n"
        "metrics_api: {credential: orga}\n"
        "rules:"))
    assert _check(tmp_path, text, capsys) == []
    assert _start_lines(load_config(tmp_path / "config.yaml")) == []


# --discover: lkc-a000 is org A's, listed by discovery's key (orga), and written by hand under
# org B's key: its polls are refused (403) and its FAILED connectors never restarted.
def _cloud(request: httpx.Request) -> httpx.Response:
    if request.url.path == "/org/v2/environments":
        return httpx.Response(200, json={"metadata": {}, "data": [{"id": "env-a0", "display_name": "prod"}]})
    if request.url.path == "/cmk/v2/clusters":
        return httpx.Response(200, json={"metadata": {"next": None}, "data": [
            {"id": cluster, "spec": {"display_name": f"{cluster}-dn", "environment": {"id": "env-a0"}},
             "status": {"phase": "PROVISIONED"}} for cluster in ("lkc-a000", "lkc-a001")]})
    return httpx.Response(404, json={})


def _discovering(orgb: str) -> Config:
    data = {"api": {"base_url": "https://api.confluent.cloud"}, "credentials": {"orga": {}, "orgb": {}},
            "discovery": {"credential": "orga"},
            "clusters": {"orders-prod": {"environment_id": "env-a0", "kafka_cluster_id": "lkc-a000", "credential": "orgb"},
                         "other": {"environment_id": "env-a0", "kafka_cluster_id": "lkc-a001", "credential": "orga"}},
            "rules": [{"name": "heal", "trigger": {"type": "status"}, "select": {"include": ["*"]}}]}
    secrets = {"credentials": {name: Credential(api_key=SecretStr(KEYS[org][0]), api_secret=SecretStr(KEYS[org][1]))
                               for name, org in (("orga", "orga"), ("orgb", orgb))}}
    return build_config(data, "test config", secrets=secrets)


async def test_check_config_discover_says_a_static_entry_under_another_key_than_discoverys() -> None:
    _, text = await discover_once(_discovering("orgb"), httpx.MockTransport(_cloud))
    lines = {line.split()[0]: line for line in text.splitlines() if line.strip().startswith("lkc-")}
    assert lines["lkc-a000"].endswith(
        "watched as clusters.orders-prod (the static entry wins); discovery's key 'orga' lists this cluster and "
        "clusters.orders-prod uses 'orgb': is `credential: orgb` right? (a key of another organisation is refused, "
        "401 or 403, at every poll)"), lines["lkc-a000"]
    assert lines["lkc-a001"].endswith("watched as clusters.other (the static entry wins)"), "same credential: no note"
    for secret in SECRETS:
        assert secret not in text


async def test_check_config_discover_says_nothing_when_both_names_hold_discoverys_key() -> None:
    _, text = await discover_once(_discovering("orga"), httpx.MockTransport(_cloud))
    line = next(line for line in text.splitlines() if line.strip().startswith("lkc-a000"))
    assert line.endswith("watched as clusters.orders-prod (the static entry wins)"), line
