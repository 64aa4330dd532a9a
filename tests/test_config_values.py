"""Values that passed check-config and then stopped `run`: each is refused when the config is
read (exit 2, its path named), and the values users write still pass."""

from pathlib import Path

import pytest

from watchdog.config import ConfigError, load_config

HEAD = """\
credentials: {main: {}}
clusters: {prod: {environment_id: env-abc123, kafka_cluster_id: lkc-xyz789}}
"""


def _load(tmp_path: Path, extra: str) -> object:
    path = tmp_path / "config.yaml"
    path.write_text(HEAD + extra)
    return load_config(path)


def test_server_host_is_an_ip_address_or_a_host_name(tmp_path: Path, credentials_env: None) -> None:
    # "not a host!!" used to pass and then stop `run` with uvicorn's traceback, exit 3.
    for host in ("0.0.0.0", "::", "::1", "127.0.0.1", "localhost", "watchdog-0.watchdog.monitoring.svc.cluster.local"):
        _load(tmp_path, f"server: {{host: '{host}'}}\n")
    for host in ("not a host!!", "", "-watchdog", "under_score", "[::1]", "999.1.1.1", "a" * 64 + ".example"):
        with pytest.raises(ConfigError) as caught:
            _load(tmp_path, f"server: {{host: '{host}'}}\n")
        assert [where for where, _ in caught.value.problems] == ["server.host"], host
