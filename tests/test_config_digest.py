"""Which config each replica runs: `watchdog_config_info{digest}`, and `config_digest` in the
`started` and `config_reloaded` lines. Replicas that each ran a different file over a day
(`max_restarts` 10 and 7, a cluster under two names) showed no difference anywhere until a
failover acted on it (an HA probe, 2026-12-06)."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import structlog
from pydantic import SecretStr

from watchdog.config import Config, Credential, build_config, load_config

from .conftest import TEST_API_KEY, TEST_API_SECRET
from .support import CLUSTER, cluster_config, daemon_config, in_process, sim_scenario

RULE = {"name": "heal", "trigger": {"type": "status", "confirm_polls": 1}, "select": {"include": ["*"]},
        "max_restarts": 10}


def config_with(secret: str = TEST_API_SECRET, **rule: object) -> Config:
    data = {"api": {"base_url": "http://sim"}, "credentials": {"main": {}},
            "clusters": {CLUSTER: cluster_config("confluent_cloud", "http://sim")},
            "state": {"path": ":memory:"}, "rules": [{**copy.deepcopy(RULE), **rule}]}
    credential = Credential(api_key=SecretStr(TEST_API_KEY), api_secret=SecretStr(secret))
    return build_config(data, "test config", secrets={"credentials": {"main": credential}})


def test_the_digest_tells_configs_apart_and_nothing_of_the_secrets() -> None:
    same, again = config_with(), config_with()
    assert same.digest() == again.digest() and len(same.digest()) == 16
    assert config_with(max_restarts=7).digest() != same.digest(), "a rule's budget changed, the digest did not"
    # A rotated secret (applied live) is not a different config, and the digest tells nothing of one.
    assert config_with(secret="another-secret-value").digest() == same.digest()
    # Replicas on one host listen on ports of their own: the same config.
    assert daemon_config([RULE], server={"host": "127.0.0.1", "port": 9465}).digest() == \
        daemon_config([RULE], server={"host": "0.0.0.0", "port": 9466}).digest()


def test_the_example_config_has_a_digest(tmp_path: Path) -> None:
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    for name in ("CREDENTIALS__MAIN__API_KEY", "CREDENTIALS__MAIN__API_SECRET", "SERVER__AUTH_TOKEN"):
        (secrets / f"WATCHDOG_{name}").write_text("a-long-enough-test-value-0123456789")
    config = load_config(Path(__file__).parent.parent / "config.example.yaml", secrets_dir=secrets, calls=False)
    assert len(config.digest()) == 16


async def test_the_metric_and_the_log_name_the_config_in_force() -> None:
    first, second = daemon_config([RULE]), daemon_config([{**RULE, "max_restarts": 7}])
    w = in_process(sim_scenario([{"name": "orders"}]), first)
    daemon = w.daemon
    with structlog.testing.capture_logs() as logs:
        await daemon.start(serve_http=False)
        assert w.sample("watchdog_config_info", digest=first.digest()) == 1
        daemon._reload_config = lambda: second
        assert await daemon.reload("test") is True
        assert daemon.probes.readiness()[1]["config_digest"] == second.digest(), "/readyz names another config"
    [started] = [e for e in logs if e["event"] == "started"]
    assert started["config_digest"] == first.digest()
    assert w.sample("watchdog_config_info", digest=second.digest()) == 1
    assert daemon.metrics.registry.get_sample_value("watchdog_config_info", {"digest": first.digest()}) is None, \
        "the digest of the config replaced is still shown"
    [reloaded] = [e for e in logs if e["event"] == "config_reloaded"]
    assert reloaded["config_digest"] == second.digest()
    await daemon.stop()


def test_check_config_prints_the_digest_the_daemon_would_show(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from watchdog.cli import main
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    for name in ("CREDENTIALS__MAIN__API_KEY", "CREDENTIALS__MAIN__API_SECRET", "SERVER__AUTH_TOKEN"):
        (secrets / f"WATCHDOG_{name}").write_text("a-long-enough-test-value-0123456789")
    example = Path(__file__).parent.parent / "config.example.yaml"
    code = main(["check-config", "--config", str(example), "--secrets-dir", str(secrets)])
    out = capsys.readouterr().out
    digest = load_config(example, secrets_dir=secrets, calls=False).digest()
    assert code == 0 and f": valid   digest: {digest}" in out.splitlines()[0], out[:300]
