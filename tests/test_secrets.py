"""Secrets never leak: known secret values, a full daemon run and a bad-config run, and a search
for those values (and the Basic auth header built from them) everywhere a user could see them:
stdout, stderr, logs, /metrics, API responses, the state file, and exception text."""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
import time
import typing
from collections.abc import Iterator
from importlib.resources import files
from pathlib import Path

import httpx
import pytest
import yaml
from pydantic import BaseModel, SecretStr

from .test_process import free_port, wait_for

pytestmark = pytest.mark.process

KEY = "LEAKCHECKKEY7Q2W"
SECRET = "leak-check-secret-Vb93kQ0pXz71mN4s"
TOKEN = "leak-check-token-Hq5Tz8cR2wLe"
WRONG_TOKEN = "leak-check-wrong-Jd7Pq"


def forbidden() -> list[str]:
    basic = base64.b64encode(f"{KEY}:{SECRET}".encode()).decode()
    return [KEY, SECRET, TOKEN, basic, basic[:16]]


def assert_clean(where: str, text: str | bytes) -> None:
    data = text if isinstance(text, bytes) else text.encode()
    for value in forbidden():
        assert value.encode() not in data, f"a secret ({value[:4]}...) appears in {where}"


def demo_scenario() -> dict:
    scenario = yaml.safe_load(files("watchdog.simulator").joinpath("builtin/demo.yaml").read_text())
    scenario["api_keys"] = [{"id": KEY, "secret": SECRET}]
    return scenario


def logged(path: Path, *events: str, timeout: float = 60.0) -> None:
    """Wait until the daemon's log holds every one of `events` (a generous deadline, no fixed sleep)."""
    deadline = time.monotonic() + timeout
    while not all(event in path.read_text() for event in events):
        if time.monotonic() > deadline:
            missing = [event for event in events if event not in path.read_text()]
            raise AssertionError(f"not logged within {timeout} s: {missing}")
        time.sleep(0.1)


def test_no_secret_appears_anywhere_in_a_demo_run(tmp_path: Path) -> None:
    sim_port, daemon_port = free_port(), free_port()
    (tmp_path / "scenario.yaml").write_text(yaml.safe_dump(demo_scenario()))
    config = yaml.safe_load(files("watchdog").joinpath("demo-config.yaml").read_text())
    config["api"] = {"base_url": f"http://127.0.0.1:{sim_port}"}
    config["server"] = {"host": "127.0.0.1", "port": daemon_port}
    config["state"] = {"path": str(tmp_path / "state.db")}
    config["log"] = {"level": "DEBUG", "format": "json"}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    env = {**os.environ, "WATCHDOG_CREDENTIALS__DEMO__API_KEY": KEY, "WATCHDOG_CREDENTIALS__DEMO__API_SECRET": SECRET,
           "WATCHDOG_SERVER__AUTH_TOKEN": TOKEN}
    simulator = subprocess.Popen([sys.executable, "-m", "watchdog", "simulate", "--scenario", str(tmp_path / "scenario.yaml"),
                                  "--port", str(sim_port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    out, err = open(tmp_path / "stdout", "wb"), open(tmp_path / "stderr", "wb")
    daemon = subprocess.Popen([sys.executable, "-m", "watchdog", "run", "--config", str(tmp_path / "config.yaml")],
                              stdout=out, stderr=err, env=env)
    answers: list[str] = []
    try:
        wait_for(f"http://127.0.0.1:{daemon_port}/readyz")
        base = f"http://127.0.0.1:{daemon_port}"
        auth = {"Authorization": f"Bearer {TOKEN}"}
        # Restarts, and a 429 from the demo's tight limit (its headers and the pause are logged).
        logged(tmp_path / "stdout", '"event": "restart_finished"', '"event": "rate_limited"')
        answers.append(httpx.post(f"{base}/v1/restarts", json={"cluster": "orders", "connector": "orders-source"}, headers=auth).text)
        answers.append(httpx.get(f"{base}/v1/connectors", headers=auth).text)
        answers.append(httpx.get(f"{base}/v1/history", headers=auth).text)
        answers.append(httpx.get(f"{base}/v1/connectors", headers={"Authorization": f"Bearer {WRONG_TOKEN}"}).text)
        answers.append(httpx.get(f"{base}/healthz").text)
        # Exception text: the Connect API goes away under the daemon, calls fail with network errors.
        simulator.send_signal(signal.SIGTERM)
        simulator.wait(timeout=10)
        logged(tmp_path / "stdout", '"outcome": "network_error"')
        answers.append(httpx.get(f"{base}/metrics").text)
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=30) == 0
    finally:
        for process in (daemon, simulator):
            if process.poll() is None:
                process.kill()
        out.close()
        err.close()

    stdout = (tmp_path / "stdout").read_text()
    assert '"event": "restart_finished"' in stdout and "network_error" in stdout, "the run exercised restarts and failures"
    assert WRONG_TOKEN not in stdout, "not even a wrong token is logged"
    assert_clean("stdout", stdout)
    assert_clean("stderr", (tmp_path / "stderr").read_bytes())
    for answer in answers:
        assert_clean("an HTTP answer", answer)
    assert "watchdog_restarts_total" in answers[-1]
    for state_file in tmp_path.glob("state.db*"):
        assert_clean(state_file.name, state_file.read_bytes())


@pytest.mark.parametrize(
    "bad",
    [
        {"server": {"port": "nine"}},  # a validation error
        {"rules": [{"name": "x", "trigger": {"type": "schedule", "cron": "0 3 * * 8"}, "select": {"connectors": ["a"]}}]},
        {"credentials": {"main": {"api_secret": SECRET}}},  # a secret pasted into the file
        # A secret pasted where a name goes: each was printed as it came by `run` and check-config,
        # while the same file at a reload was logged starred.
        {"clusters": {"prod": {"environment_id": "env-1", "kafka_cluster_id": "lkc-1", "credential": SECRET}}},
        {"rules": [{"name": "x", "trigger": {"type": "schedule", "cron": "0 3 * * *", "timezone": TOKEN},
                    "select": {"connectors": ["a"]}}]},
        {"rules": [{"name": SECRET, "trigger": {"type": "schedule", "cron": "0 3 * * *"}, "select": {"connectors": ["a"]}}]},
        {"api": {TOKEN: 1}},  # an unknown key
        {"clusters": {"prod": {"environment_id": "env-1", "kafka_cluster_id": KEY}}, "rules": "x"},  # the key's id
    ],
    ids=["bad-type", "bad-cron", "secret-in-yaml", "secret-as-credential", "token-as-zone", "secret-as-rule-name",
         "token-as-key", "key-id-in-a-bad-config"],
)
def test_no_secret_appears_in_a_bad_config_run(tmp_path: Path, bad: dict) -> None:
    config = {"credentials": {"main": {}}, "clusters": {"prod": {"environment_id": "env-1", "kafka_cluster_id": "lkc-1"}},
              **bad}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    env = {**os.environ, "WATCHDOG_CREDENTIALS__MAIN__API_KEY": KEY, "WATCHDOG_CREDENTIALS__MAIN__API_SECRET": SECRET,
           "WATCHDOG_SERVER__AUTH_TOKEN": TOKEN}
    for command in (["run"], ["check-config"], ["restart", "prod", "orders"]):
        result = subprocess.run([sys.executable, "-m", "watchdog", *command, "--config", str(tmp_path / "config.yaml")],
                                capture_output=True, env=env, timeout=30)
        assert result.returncode == 2
        assert b"invalid config" in result.stderr
        assert_clean(f"{command[0]} stdout", result.stdout)
        assert_clean(f"{command[0]} stderr", result.stderr)


def test_check_config_shows_that_secrets_are_set_without_showing_them(tmp_path: Path) -> None:
    config = {"credentials": {"main": {}}, "clusters": {"prod": {"environment_id": "env-1", "kafka_cluster_id": "lkc-1"}}}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    env = {**os.environ, "WATCHDOG_CREDENTIALS__MAIN__API_KEY": KEY, "WATCHDOG_CREDENTIALS__MAIN__API_SECRET": SECRET,
           "WATCHDOG_SERVER__AUTH_TOKEN": TOKEN}
    result = subprocess.run([sys.executable, "-m", "watchdog", "check-config", "--config", str(tmp_path / "config.yaml")],
                            capture_output=True, env=env, timeout=30)
    assert result.returncode == 0 and b"api_secret: set" in result.stdout and b"auth_token: set" in result.stdout
    assert_clean("check-config", result.stdout + result.stderr)


def test_check_config_stars_a_secret_that_a_valid_value_equals(tmp_path: Path) -> None:
    # An alert rule's label, a cluster id: values the summary quotes. Equal to a secret (a paste
    # slip), they were printed in clear, where the daemon's log stars them.
    label_token = "leak_check_token_Hq5Tz8cR2wLe"  # a token that is a valid label name too
    config = {"credentials": {"main": {}},
              "clusters": {"prod": {"environment_id": "env-1", "kafka_cluster_id": "lkc-1"}},
              "rules": [{"name": "alerts", "trigger": {"type": "alert", "connector_label": label_token,
                                                          "match": {"alertname": "ConnectorFailed"}},
                         "select": {"connectors": ["a"]}}]}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    env = {**os.environ, "WATCHDOG_CREDENTIALS__MAIN__API_KEY": KEY, "WATCHDOG_CREDENTIALS__MAIN__API_SECRET": SECRET,
           "WATCHDOG_SERVER__AUTH_TOKEN": label_token}
    result = subprocess.run([sys.executable, "-m", "watchdog", "check-config", "--config", str(tmp_path / "config.yaml")],
                            capture_output=True, env=env, timeout=30)
    assert result.returncode == 0, result.stderr
    assert b"***" in result.stdout
    assert label_token.encode() not in result.stdout + result.stderr
    assert_clean("check-config", result.stdout + result.stderr)


@pytest.mark.parametrize(
    ("variable", "url", "pieces"),
    [
        ("WATCHDOG_STATE__URL", "postgresql://watchdog:Pa55Leak9/w0rdLeak7@db.internal:5432/watchdog", ["Pa55Leak9", "w0rdLeak7"]),
        ("WATCHDOG_API__BASE_URL", "https://user:Sec4Leak?ret5Leak@api.example.com", ["Sec4Leak", "ret5Leak"]),
    ],
    ids=["database", "api"],
)
def test_a_password_in_a_url_that_cannot_be_read_is_not_quoted(tmp_path: Path, variable: str, url: str,
                                                               pieces: list[str]) -> None:
    # A '/' or '?' in the password ends the URL's host there, and urlsplit's own message quoted
    # what it took for the port: half the password.
    config = {"credentials": {"main": {}}, "clusters": {"prod": {"environment_id": "env-1", "kafka_cluster_id": "lkc-1"}}}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    env = {**os.environ, "WATCHDOG_CREDENTIALS__MAIN__API_KEY": KEY, "WATCHDOG_CREDENTIALS__MAIN__API_SECRET": SECRET,
           variable: url}
    result = subprocess.run([sys.executable, "-m", "watchdog", "check-config", "--config", str(tmp_path / "config.yaml")],
                            capture_output=True, env=env, timeout=30)
    assert result.returncode == 2 and b"its host or port cannot be read" in result.stderr, result.stderr
    for piece in pieces:
        assert piece.encode() not in result.stdout + result.stderr, f"{piece} was printed"


def test_a_database_url_given_as_the_state_path_is_refused_without_quoting_it(tmp_path: Path) -> None:
    # Before: check-config printed "state: SQLite file postgresql://watchdog:Pa55Leak9@db...", and
    # `run` quoted it again in "Cannot create state file ...".
    config = {"credentials": {"main": {}}, "clusters": {"prod": {"environment_id": "env-1", "kafka_cluster_id": "lkc-1"}}}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    env = {**os.environ, "WATCHDOG_CREDENTIALS__MAIN__API_KEY": KEY, "WATCHDOG_CREDENTIALS__MAIN__API_SECRET": SECRET,
           "WATCHDOG_STATE__PATH": "postgresql://watchdog:Pa55Leak9@db.internal:5432/watchdog"}
    for command in (["check-config"], ["run"]):
        result = subprocess.run([sys.executable, "-m", "watchdog", *command, "--config", str(tmp_path / "config.yaml")],
                                capture_output=True, env=env, timeout=30)
        assert result.returncode == 2 and b"state.path: is a file's path, not a URL" in result.stderr, result.stderr
        assert b"Pa55Leak9" not in result.stdout + result.stderr


@pytest.mark.parametrize(
    "variable", ["WATCHDOG_CREDENTIALS__MAIN__API_SECRET", "WATCHDOG_STATE__PASSWORD", "WATCHDOG_API__BASE_URL"],
    ids=["api-secret", "database-password", "a-url"],
)
def test_a_variable_that_is_not_utf8_is_refused_by_name_before_anything_starts(tmp_path: Path, variable: str) -> None:
    # A value written in Latin-1 or Windows-1252 (a Secret made from a file saved so): Python reads
    # the byte UTF-8 has no character for as a lone surrogate. check-config said "valid", and `run`
    # ended in a UnicodeEncodeError traceback quoting that byte of the secret ("can't encode
    # character '\udce9' in position 32"), where a secret file so written is refused by name.
    config = {"credentials": {"main": {}}, "clusters": {"prod": {"environment_id": "env-1", "kafka_cluster_id": "lkc-1"}},
              "state": {"path": str(tmp_path / "state.db")}}
    value = {"WATCHDOG_STATE__PASSWORD": "Pa55-Latin1-\udce9t\udce9", "WATCHDOG_API__BASE_URL": "https://api.example/caf\udce9"}
    if variable == "WATCHDOG_STATE__PASSWORD":
        config["state"] = {"url": "postgresql://watchdog@127.0.0.1:1/watchdog"}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    env = {**os.environ, "WATCHDOG_CREDENTIALS__MAIN__API_KEY": KEY, "WATCHDOG_CREDENTIALS__MAIN__API_SECRET": SECRET,
           variable: value.get(variable, "leak-check-secret-Latin1-\udce9t\udce9")}
    for command in (["check-config"], ["run"], ["status"]):
        # subprocess writes the surrogates back as the bytes they stand for (0xe9).
        result = subprocess.run([sys.executable, "-m", "watchdog", *command, "--config", str(tmp_path / "config.yaml")],
                                capture_output=True, env=env, timeout=30)
        assert result.returncode == 2, (command, result.stderr[-600:])
        assert f"{variable}: its value is not UTF-8 text".encode() in result.stderr, result.stderr
        assert b"Traceback" not in result.stderr
        assert b"Latin1" not in result.stdout + result.stderr and b"caf" not in result.stderr and b"\xe9" not in result.stderr


def _secret_field_names(model: type, seen: set[type] | None = None) -> set[str]:
    """The names of every field of the config's schema whose value is a secret (a SecretStr)."""
    seen = seen if seen is not None else set()
    names: set[str] = set()
    if model in seen:
        return names
    seen.add(model)

    def kinds(annotation: object) -> Iterator[object]:
        yield annotation
        for arg in typing.get_args(annotation):
            yield from kinds(arg)

    for name, field in model.model_fields.items():  # type: ignore[attr-defined]
        for kind in kinds(field.annotation):
            if isinstance(kind, type) and issubclass(kind, SecretStr):
                names.add(name)
            elif isinstance(kind, type) and issubclass(kind, BaseModel):
                names |= _secret_field_names(kind, seen)
    return names


def test_every_secret_setting_of_the_schema_is_starred_in_what_run_prints_of_a_refused_config() -> None:
    # given_secrets.py names the secret settings by hand (no config is built when it is read): a
    # secret setting added to the schema and not there would be printed in clear by `run` and
    # check-config when it sits in a wrong value.
    from watchdog.config import Config
    from watchdog.config.given_secrets import _SECRET_LEAVES, _USER_LEAVES
    schema = _secret_field_names(Config)
    assert schema and schema <= _SECRET_LEAVES | _USER_LEAVES, schema - (_SECRET_LEAVES | _USER_LEAVES)
