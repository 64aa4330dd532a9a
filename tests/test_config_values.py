"""Values that passed check-config and then stopped `run`: each is refused when the config is
read (exit 2, its path named), and the values users write still pass."""

from pathlib import Path

import pytest
import yaml

from watchdog.config import ConfigError, load_config
from watchdog.config.strict_yaml import StrictLoader

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


def test_credentials_in_a_url_query_are_refused_and_never_shown(
    tmp_path: Path, credentials_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    from watchdog.cli import main

    # Only user:pass@host and `password=` were refused: `sslpassword=`, a token or a key in the
    # query passed, to be printed by check-config and logged.
    fixture = Path(__file__).parent / "fixtures" / "configs" / "bad" / "urls-with-credentials-in-the-query.yaml"
    assert main(["check-config", "--config", str(fixture)]) == 2
    shown = capsys.readouterr()
    assert "(its sslpassword parameter)" in shown.err and "(its api_key parameter)" in shown.err
    assert "hunter2hunter2" not in shown.out + shown.err
    # A URL that is not valid for another reason is not quoted either, when it holds one.
    path = tmp_path / "config.yaml"
    path.write_text(HEAD + "api: {base_url: 'https://api confluent.cloud/?token=hunter2hunter2'}\n")
    assert main(["check-config", "--config", str(path)]) == 2
    shown = capsys.readouterr()
    assert "api.base_url: the URL is not valid: expected an http:// or https:// URL" in shown.err
    assert "hunter2hunter2" not in shown.out + shown.err


def test_numbers_with_a_leading_zero_or_a_colon_are_not_read_as_yaml_1_1_reads_them(tmp_path: Path, credentials_env: None) -> None:
    # YAML 1.1 read `017` as octal (15) and `1:30` as base 60 (90): `interval: 1:30`, meant as an
    # hour and a half, restarted every 90 seconds. As YAML 1.2 reads them: 17, and text.
    rule = "rules: [{name: r, trigger: {type: status, interval: %s}, select: {connectors: [a]}, max_restarts: %s}]\n"
    config = _load(tmp_path, rule % ("0600", "017"))
    assert config.rules[0].trigger.interval == 600 and config.rules[0].max_restarts == 17  # type: ignore[attr-defined]
    for interval, max_restarts, where in (("1:30", "3", "rules[0].trigger.interval"), ("60", "1:30", "rules[0].max_restarts")):
        with pytest.raises(ConfigError) as caught:
            _load(tmp_path, rule % (interval, max_restarts))
        assert [path for path, _ in caught.value.problems] == [where]
    # What users write still reads as before.
    config = _load(tmp_path, rule % ("1.5e+3", "0x10"))
    assert config.rules[0].trigger.interval == 1500 and config.rules[0].max_restarts == 16  # type: ignore[attr-defined]
    # An exponent without a dot or a sign is a number in YAML 1.2 (YAML 1.1 read `1e3` as text,
    # and `max_restarts: 1e3` was refused as "unable to parse string as an integer").
    config = _load(tmp_path, rule % ("6e2", "1e3"))
    assert config.rules[0].trigger.interval == 600 and config.rules[0].max_restarts == 1000  # type: ignore[attr-defined]
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, rule.replace("[a]", "[2e5]") % ("60", "3"))
    assert [(path, "read as a number" in why) for path, why in caught.value.problems] == [("rules[0].select.connectors[0]", True)]


def test_log_level_is_read_in_any_letter_case_as_the_command_line_reads_it(
    tmp_path: Path, credentials_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `log.level: debug` was refused ("Input should be 'DEBUG', ...") while `--log-level debug` worked.
    from watchdog.config import Config

    for written, read in (("debug", "DEBUG"), ("Warning", "WARNING"), ("INFO", "INFO")):
        config = _load(tmp_path, f"log: {{level: {written}}}\n")
        assert isinstance(config, Config) and config.log.level == read
    monkeypatch.setenv("WATCHDOG_LOG__LEVEL", "error")
    config = _load(tmp_path, "")
    assert isinstance(config, Config) and config.log.level == "ERROR"
    monkeypatch.delenv("WATCHDOG_LOG__LEVEL")
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, "log: {level: verbose}\n")
    assert [where for where, _ in caught.value.problems] == ["log.level"]


def test_a_base_url_with_a_query_or_a_fragment_is_refused(tmp_path: Path, credentials_env: None) -> None:
    # Each is a base the daemon adds paths to. With `?team=a` (a gateway's own parameter) a poll
    # went as GET https://gw.example/confluent?expand=... and a restart of `orders` as
    # POST https://gw.example/confluent?team=a/connect/v1/..., to the gateway's base path; a worker
    # URL `http://connect:8083?x` had its restarts sent to `/?includeTasks=...`, no connector named.
    stalled = "rules: [{name: s, trigger: {type: stalled}, select: {include: ['*']}}]\n"
    cases = {
        "api.base_url": HEAD + "api: {base_url: '%s'}\n",
        "clusters.onprem.urls[0]": "credentials: {main: {}}\nclusters: {onprem: {backend: kafka_connect, urls: ['%s']}}\n",
        "metrics_api.base_url": HEAD + stalled + "metrics_api: {base_url: '%s'}\n",
        "blocking.alertmanager_url": HEAD + "blocking: {alertmanager_url: '%s'}\n",
    }
    path = tmp_path / "config.yaml"
    for where, template in cases.items():
        for url in ("https://gw.example/confluent?team=a", "https://gw.example/confluent/#x", "https://gw.example/?"):
            path.write_text(template % url)
            with pytest.raises(ConfigError) as caught:
                load_config(path)
            [(said_where, message)] = caught.value.problems
            assert said_where == where and "takes no query string or fragment" in message, (url, caught.value.problems)
        path.write_text(template % "https://gw.example/confluent/")
        load_config(path)  # a path prefix is fine


@pytest.mark.parametrize(("written", "read"), [
    # YAML 1.2 core schema: decimal (leading zeros and a sign allowed), 0o octal, 0x hex.
    ("017", 17), ("+12", 12), ("-0", 0), ("0o17", 15), ("0x1F", 31), ("0", 0),
    ("1.5", 1.5), ("1.", 1.0), (".5", 0.5), ("-1.5e+3", -1500.0), ("1e3", 1000.0),
    # YAML 1.1's forms that YAML 1.2 reads as text: binary, `_` separators, a signed octal or hex.
    ("0b1010", "0b1010"), ("1_000", "1_000"), ("1_000.5", "1_000.5"), ("-0x10", "-0x10"), ("+0o7", "+0o7"),
    ("1:30", "1:30"), ("0o8", "0o8"), ("0x", "0x"),
])
def test_numbers_are_read_as_the_yaml_1_2_core_schema_reads_them(written: str, read: object) -> None:
    # Documented so ("Numbers are read as YAML 1.2 reads them"), it held in part: `0b1010` and
    # `1_000` were numbers (`interval: 0b1010` ran every 10 s) and `0o17`, YAML 1.2's octal, text.
    value = yaml.load(f"v: {written}\n", StrictLoader)["v"]  # noqa: S506 (the config's own safe loader)
    assert (type(value), value) == (type(read), read)


def test_yaml_1_1_number_forms_are_text_in_a_config(tmp_path: Path, credentials_env: None) -> None:
    rule = "rules: [{name: r, trigger: {type: status, interval: %s}, select: {connectors: [%s]}, max_restarts: 3}]\n"
    config = _load(tmp_path, rule % ("0o17", "0b1010"))
    # 15 s, and a connector named as written (refused before as "read as a number").
    assert config.rules[0].trigger.interval == 15 and config.rules[0].select.connectors == ["0b1010"]  # type: ignore[attr-defined]
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, rule % ("0b1010", "a"))
    assert [path for path, _ in caught.value.problems] == ["rules[0].trigger.interval"]


@pytest.mark.parametrize(("setting", "written"), [
    ("rules[0].max_restarts", "1_000"),  # a count: pydantic read the text "1_000" as 1000
    ("rules[0].trigger.interval", "1_000"),  # a duration: refused already
    ("rules[0].max_restarts", "0b1010"),  # refused already, as text
    ("rate_limit.max_requests_per_second", "1_000.5"),  # a float: read as 1000.5
])
def test_a_yaml_1_1_number_form_is_refused_naming_the_setting_wherever_a_number_goes(
    tmp_path: Path, credentials_env: None, setting: str, written: str
) -> None:
    # config.example.yaml says `0b1010 and 1_000 are text`; a count took `1_000` as 1000 while a
    # duration refused it: the same token valid in one setting and refused in the next.
    rule = "rules: [{name: r, trigger: {type: status, interval: %s}, select: {connectors: [a]}, max_restarts: %s}]\n"
    extra = {
        "rules[0].max_restarts": rule % ("30s", written),
        "rules[0].trigger.interval": rule % (written, "3"),
        "rate_limit.max_requests_per_second": rule % ("30s", "3") + f"rate_limit: {{max_requests_per_second: {written}}}\n",
    }[setting]
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, extra)
    assert [path for path, _ in caught.value.problems] == [setting], caught.value.problems
    said = dict(caught.value.problems)[setting]
    assert repr(written) in said or written in said, said


def test_an_underscore_number_from_the_environment_is_refused_as_from_the_file(
    tmp_path: Path, credentials_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WATCHDOG_SERVER__PORT", "9_464")
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, "rules: [{name: r, trigger: {type: status}, select: {connectors: [a]}}]\n")
    assert [path for path, _ in caught.value.problems] == ["server.port"], caught.value.problems
    assert "'9_464'" in dict(caught.value.problems)["server.port"]
