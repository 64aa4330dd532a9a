"""Property-based fuzzing of the config loader: config.example.yaml and the good fixtures with
values dropped, replaced and added at random, with WATCHDOG_* variables beside them, and a URL
carrying a password malformed every way in every URL setting.

What a user relies on: a config is either loaded, and then a daemon can be built from it (what
check-config accepts, `run` runs), or refused with ConfigError naming the field, never a
traceback or pydantic's internals (`[type=...]`, its URLs), and never quoting a secret.
Bounded (derandomized, a fixed number of examples); `FUZZ_EXAMPLES=5000` looks further.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from watchdog.app import Daemon
from watchdog.config import ConfigError, load_config

from .conftest import TEST_API_KEY, TEST_API_SECRET
from .fuzzing import FUZZ, mutations

ROOT = Path(__file__).parent.parent
BASES = [yaml.safe_load(path.read_text()) for path in
         [ROOT / "config.example.yaml", *sorted((ROOT / "tests/fixtures/configs/good").glob("*.yaml"))]]
TOKEN = "fuzz-token-abcdef0123456789"
PASSWORD = "hunter2-Pw9zzq"
# pydantic's own words where the loader's should be: what a user cannot act on.
INTERNALS = ("[type=", "For further information", "errors.pydantic.dev", "input_value", "ValidationError", "Traceback")

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-2**65, 2**65), st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=20),
    st.sampled_from(["30s", "5m", "1h30m", "0", "-1", "1e400", "0x10", "1:30", "*", "orders-*", "prod", "lkc-abc", "0 * * * *",
                     "*/5 * * * 1-5", "UTC", "Europe/Berlin", "Mars/Olympus", "http://127.0.0.1:1", "status", "schedule",
                     "alert", "stalled", "kafka_connect", "~", "", " ", "\x00", "366d", "367d", "nan", ".inf", "9" * 50, "a" * 300,
                     "[a-", "x{1000000}", "block", "allow", "Mon-Fri 06:30-20:30 Europe/Berlin", "always", "never"]),
)
values = st.recursive(scalars, lambda c: st.lists(c, max_size=3) | st.dictionaries(
    st.text(max_size=8) | st.sampled_from(["name", "type", "cron", "interval", "select", "include", "connectors", "trigger",
                                           "timezone", "jitter", "match", "url", "password", "api_key", "auth_token"]),
    c, max_size=3), max_leaves=8)


# Keys added are mostly a key of the example config misspelt (`rules_`, `serverX`) or a new one.
mutated = mutations(values, st.sampled_from(["rules_", "serverX", "dry_runs", "clusterss", "x", "trigger", "select", "name"]))


variables = st.dictionaries(
    st.sampled_from(["WATCHDOG_DRY_RUN", "WATCHDOG_RULES__0__DRY_RUN", "WATCHDOG_RULES__0__NAME", "WATCHDOG_RULES__00__NAME",
                     "WATCHDOG_RULES__9__NAME", "WATCHDOG_SERVER__PORT", "WATCHDOG_SERVER", "WATCHDOG_RULES", "WATCHDOG_CLUSTERS",
                     "WATCHDOG_CLUSTERS__PROD__KAFKA_CLUSTER_ID", "WATCHDOG_DISCOVERY", "WATCHDOG_RATE_LIMIT__RESERVE",
                     "WATCHDOG_CLUSTERS__NEW__ENVIRONMENT_ID", "WATCHDOG_CREDENTIALS__OTHER__API_KEY", "WATCHDOG_DRYRUN",
                     "WATCHDOG_API__TIMEOUTS__READ", "WATCHDOG_LOG__LEVEL", "WATCHDOG_RULES__0__SELECT__INCLUDE"]),
    st.sampled_from(["true", "1", "no", "null", "[]", "{}", "[1,", '{"a": 1}', '["x"]', "9464", "-1", "", '[{"name": "x"}]',
                     '"\\ud800"', "status", "DEBUG", "30s", "\u00e9"]) | st.text(st.characters(blacklist_categories=["Cs", "Cc"]), max_size=10),
    max_size=2)


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    for name in list(os.environ):
        if name.upper().startswith("WATCHDOG_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("WATCHDOG_CREDENTIALS__MAIN__API_KEY", TEST_API_KEY)
    monkeypatch.setenv("WATCHDOG_CREDENTIALS__MAIN__API_SECRET", TEST_API_SECRET)
    monkeypatch.setenv("WATCHDOG_SERVER__AUTH_TOKEN", TOKEN)
    yield monkeypatch


def loaded_or_refused(path: Path, text: str, secrets_dir: Path, env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> str | None:
    """Write `text` as the config and load it with `env` set: the refusal's text, or None when it
    loaded (and a daemon was built from it). Anything but ConfigError propagates: the failure."""
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    with monkeypatch.context() as scoped:
        for name, value in env.items():
            scoped.setenv(name, value)
        try:
            config = load_config(path, secrets_dir=secrets_dir)
        except ConfigError as exc:
            return str(exc)
    if config.state.url is None:
        Daemon(config.model_copy(update={"state": config.state.model_copy(update={"path": ":memory:"})})).state.close()
    return None


def test_a_config_is_loaded_and_runs_or_is_refused_in_the_users_words(tmp_path: Path, environment: pytest.MonkeyPatch) -> None:
    @FUZZ
    @given(st.sampled_from(range(len(BASES))).flatmap(lambda i: mutated(copy.deepcopy(BASES[i]))), variables)
    def fuzz(data: Any, env: dict[str, str]) -> None:
        if isinstance(data, dict) and isinstance(data.get("state", {}), dict) and "url" not in data.get("state", {}):
            data["state"] = {**data.get("state", {}), "path": str(tmp_path / "state.db")}
        refusal = loaded_or_refused(tmp_path / "config.yaml", yaml.safe_dump(data, allow_unicode=True, sort_keys=False),
                                    tmp_path, env, environment)
        if refusal is not None:
            assert not [word for word in INTERNALS if word in refusal], refusal
            for secret in (TEST_API_SECRET, TOKEN):
                assert secret not in refusal

    fuzz()


url_parts = st.tuples(
    st.sampled_from(["http", "https", "postgresql", "ftp", "HTTP", "", "https:/"]),
    st.sampled_from(["u", "", "u%40x", "user name", "\u00e9"]),
    st.sampled_from(["", "?x", "#", "/", "@", ":", "[", "]", " ", "\u00e9", "%zz"]),
    st.sampled_from(["host", "127.0.0.1", "[::1]", "[::1", "::1", "", "ho st", "h\u00e9", "host,host2", "-h", "1.2.3.4.5"]),
    st.sampled_from(["", ":80", ":99999", ":-1", ":abc", ":", ":5432,h2:5432", ":1:2"]),
    st.sampled_from(["", "/", "/db", "/db?sslmode=x", "?a=b", "#f", "/%", f"/db?password={PASSWORD}"]),
)
URL_SETTINGS = ["api.base_url", "metrics_api.base_url", "blocking.alertmanager_url", "state.url", "clusters.onprem.urls",
                "WATCHDOG_STATE__URL", "WATCHDOG_API__BASE_URL", "WATCHDOG_BLOCKING__ALERTMANAGER_URL", "WATCHDOG_CLUSTERS__ONPREM__URLS"]


def test_a_password_in_a_url_of_any_shape_is_never_quoted(tmp_path: Path, environment: pytest.MonkeyPatch) -> None:
    @FUZZ
    @given(url_parts, st.sampled_from(URL_SETTINGS))
    def fuzz(parts: tuple[str, ...], setting: str) -> None:
        scheme, user, after_password, host, port, rest = parts
        url = f"{scheme + '://' if scheme else ''}{user}:{PASSWORD}{after_password}@{host}{port}{rest}"
        data = copy.deepcopy(BASES[0])
        data["state"] = {"path": str(tmp_path / "state.db")}
        env: dict[str, str] = {}
        if setting.startswith("WATCHDOG_"):
            env[setting] = json.dumps([url]) if setting.endswith("URLS") else url
        else:
            *sections, key = setting.split(".")
            node = data
            for section in sections:
                node = node.setdefault(section, {})
            node[key] = [url] if key == "urls" else url
        refusal = loaded_or_refused(tmp_path / "config.yaml", yaml.safe_dump(data, allow_unicode=True), tmp_path, env, environment)
        assert refusal is not None and "hunter2" not in refusal and "Pw9zzq" not in refusal, refusal

    fuzz()
