"""WATCHDOG_* variables that name no setting: refused where they read as a setting misspelt (a
misspelt WATCHDOG_DRY_RUN used to be dropped without a word, and the daemon restarted for real),
said once where they do not, and not mentioned where another tool set them (Kubernetes' service
links, systemd's watchdog)."""

from pathlib import Path

import pytest

from watchdog.cli import main
from watchdog.config import ConfigError, load_config
from watchdog.config.stray_variables import stray_variables

SETTINGS = ("dry_run", "log", "rate_limit", "server", "rules", "state", "metrics_api")
CONFIG = """\
credentials: {main: {}}
clusters:
  prod: {environment_id: env-abc123, kafka_cluster_id: lkc-xyz789}
rules:
  - name: nightly
    trigger: {type: schedule, cron: "0 3 * * *"}
    select: {connectors: [orders-sink]}
"""


def _strays(environ: dict[str, str]) -> dict[str, str | None]:
    return {stray.name: stray.meant for stray in stray_variables(environ, "WATCHDOG_", SETTINGS)}


@pytest.mark.parametrize(("name", "meant"), [
    ("WATCHDOG_DRYRUN", "WATCHDOG_DRY_RUN"),
    ("watchdog_dryrun", "WATCHDOG_DRY_RUN"),  # read in any letter case, as the settings are
    ("WATCHDOG_DRY_RUNS", "WATCHDOG_DRY_RUN"),
    ("WATCHDOG_LOG_LEVEL", "WATCHDOG_LOG__LEVEL"),  # one underscore where nesting takes two
    ("WATCHDOG_RATE_LIMIT_RESERVE", "WATCHDOG_RATE_LIMIT__RESERVE"),
    ("WATCHDOG_RATELIMIT__RESERVE", "WATCHDOG_RATE_LIMIT__RESERVE"),
    ("WATCHDOG_METRICS_API_URL", "WATCHDOG_METRICS_API__URL"),
    ("WATCHDOG_RULE__0__DRY_RUN", "WATCHDOG_RULES__0__DRY_RUN"),
    # A link's _PORT is tcp://address:port, never a bare number: this is a setting misspelt.
    ("WATCHDOG_SERVER_PORT", "WATCHDOG_SERVER__PORT"),
])
def test_a_setting_misspelt_is_found_with_the_name_it_meant(name: str, meant: str) -> None:
    assert _strays({name: "9464", "PATH": "/bin"}) == {name: meant}


def test_a_name_like_no_setting_is_stray_without_a_guess() -> None:
    assert _strays({"WATCHDOG_IMAGE_TAG": "v1", "WATCHDOG_": "x"}) == {"WATCHDOG_": None, "WATCHDOG_IMAGE_TAG": None}


def test_settings_the_command_line_and_other_tools_own_are_not_stray() -> None:
    environ = {
        "WATCHDOG_DRY_RUN": "true", "WATCHDOG_RULES__0__DRY_RUN": "true", "watchdog_log__level": "DEBUG",
        "WATCHDOG_CONFIG": "/etc/watchdog/config.yaml", "WATCHDOG_SECRETS_DIR": "/etc/watchdog/secrets",
        # Kubernetes' links to a Service named `watchdog` and one named `watchdog-metrics`
        "WATCHDOG_SERVICE_HOST": "10.96.0.12", "WATCHDOG_SERVICE_PORT": "9464", "WATCHDOG_SERVICE_PORT_HTTP": "9464",
        "WATCHDOG_PORT": "tcp://10.96.0.12:9464", "WATCHDOG_PORT_9464_TCP": "tcp://10.96.0.12:9464",
        "WATCHDOG_PORT_9464_TCP_PROTO": "tcp", "WATCHDOG_PORT_9464_TCP_PORT": "9464",
        "WATCHDOG_PORT_9464_TCP_ADDR": "10.96.0.12", "WATCHDOG_METRICS_SERVICE_HOST": "fd00::12",
        # systemd's service watchdog (WatchdogSec=)
        "WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "4242",
    }
    assert _strays(environ) == {}


def test_a_link_shaped_name_with_a_value_no_link_has_is_still_stray() -> None:
    assert _strays({"WATCHDOG_SERVICE_HOST": "not-an-address", "WATCHDOG_PORT": "80"}) == {
        "WATCHDOG_PORT": None, "WATCHDOG_SERVICE_HOST": None,
    }


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG)
    return path


def test_a_misspelt_dry_run_refuses_the_config_naming_the_variable_and_what_it_meant(
    config_file: Path, credentials_env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("WATCHDOG_DRYRUN", "true")
    with pytest.raises(ConfigError) as caught:
        load_config(config_file)
    assert caught.value.problems == [
        ("WATCHDOG_DRYRUN", "names no setting, so it would be ignored; did you mean WATCHDOG_DRY_RUN?"),
    ]
    assert main(["check-config", "--config", str(config_file)]) == 2
    assert "WATCHDOG_DRYRUN: names no setting" in capsys.readouterr().err


def test_check_config_warns_of_a_variable_it_ignores_and_passes(
    config_file: Path, credentials_env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("WATCHDOG_IMAGE_TAG", "v1")
    monkeypatch.setenv("WATCHDOG_SERVICE_HOST", "10.96.0.12")
    assert main(["check-config", "--config", str(config_file)]) == 0
    err = capsys.readouterr().err
    assert "warning: WATCHDOG_IMAGE_TAG names no setting of connect-watchdog; it is ignored" in err
    assert "SERVICE_HOST" not in err



def test_one_setting_named_twice_in_another_letter_case_with_different_values_is_refused(
    config_file: Path, credentials_env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # WATCHDOG_DRY_RUN=true in the manifest beside watchdog_dry_run=false from an old env file:
    # both name dry_run, and the one later in the environment won, without a word.
    monkeypatch.setenv("WATCHDOG_DRY_RUN", "true")
    monkeypatch.setenv("watchdog_dry_run", "false")
    with pytest.raises(ConfigError) as caught:
        load_config(config_file)
    assert caught.value.problems == [
        ("WATCHDOG_DRY_RUN and watchdog_dry_run", "set one setting (names are read in any letter case) to different "
                                                  "values, and which one wins is not defined; keep one"),
    ]
    assert main(["check-config", "--config", str(config_file)]) == 2
    err = capsys.readouterr().err
    assert "WATCHDOG_DRY_RUN and watchdog_dry_run: set one setting" in err and "false" not in err


def test_one_setting_named_twice_with_one_value_is_taken(
    config_file: Path, credentials_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WATCHDOG_DRY_RUN", "true")
    monkeypatch.setenv("watchdog_dry_run", "true")
    assert load_config(config_file).dry_run is True
