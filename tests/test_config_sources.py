"""Where values come from: a variable (or a secret file) naming an entry of a list by its position
changes that entry of the file's list, and nothing else; one that cannot is refused by name."""

from pathlib import Path

import pytest

from watchdog.cli import main
from watchdog.config import ConfigError, load_config

TWO_RULES = """\
credentials: {main: {}}
clusters:
  prod: {environment_id: env-abc123, kafka_cluster_id: lkc-xyz789}
  onprem: {backend: kafka_connect, urls: ["http://worker-1:8083", "http://worker-2:8083"]}
rules:
  - name: heal
    trigger: {type: status, interval: 30s}
    select: {include: ["*"]}
  - name: nightly
    trigger: {type: schedule, cron: "0 3 * * *"}
    select: {clusters: [prod], connectors: [orders-sink, audit-sink]}
"""


@pytest.fixture
def two_rules(tmp_path: Path) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(TWO_RULES)
    return path


def _problems(path: Path, **kwargs: object) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(path, **kwargs)  # type: ignore[arg-type]
    return [f"{where}: {what}" if where else what for where, what in caught.value.problems]


def test_the_documented_example_puts_the_first_rule_in_dry_run_and_keeps_the_rest_of_the_file(
    two_rules: Path, credentials_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # It used to replace the whole list: every config was refused ("rules: Input should be a valid list").
    monkeypatch.setenv("WATCHDOG_RULES__0__DRY_RUN", "true")
    config = load_config(two_rules)
    assert [(rule.name, rule.dry_run) for rule in config.rules] == [("heal", True), ("nightly", False)]
    assert config.rules[0].trigger.interval == 30  # type: ignore[union-attr]
    assert config.rules[1].select.connectors == ["orders-sink", "audit-sink"]


def test_check_config_shows_the_rule_put_in_dry_run_from_the_environment(
    two_rules: Path, credentials_env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("WATCHDOG_RULES__1__DRY_RUN", "true")
    assert main(["check-config", "--config", str(two_rules)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any("nightly" in line and "[dry-run]" in line for line in lines)
    assert not any("heal " in line and "[dry-run]" in line for line in lines)


def test_entries_of_lists_inside_entries_and_of_nested_lists_can_be_changed(
    two_rules: Path, credentials_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WATCHDOG_RULES__1__SELECT__CONNECTORS__1", "billing-sink")
    monkeypatch.setenv("WATCHDOG_CLUSTERS__ONPREM__URLS__1", "http://worker-9:8083")
    monkeypatch.setenv("WATCHDOG_RULES__0__BACKOFF", '{"base": "5m", "cap": "2h"}')  # a mapping, as JSON
    config = load_config(two_rules)
    assert config.rules[1].select.connectors == ["orders-sink", "billing-sink"]
    assert config.clusters["onprem"].urls == ["http://worker-1:8083", "http://worker-9:8083"]  # type: ignore[union-attr]
    assert (config.rules[0].backoff.base, config.rules[0].backoff.cap) == (300, 7200)


def test_a_secret_file_can_name_an_entry_and_the_environment_still_wins(
    two_rules: Path, credentials_env: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "WATCHDOG_RULES__0__MAX_RESTARTS").write_text("3\n")
    (secrets / "WATCHDOG_RULES__1__ENABLED").write_text("false\n")
    monkeypatch.setenv("WATCHDOG_RULES__0__MAX_RESTARTS", "4")
    config = load_config(two_rules, secrets_dir=secrets)
    assert (config.rules[0].max_restarts, config.rules[1].enabled) == (4, False)


def test_an_entry_the_file_does_not_have_is_refused_naming_each_variable(
    two_rules: Path, credentials_env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("WATCHDOG_RULES__2__DRY_RUN", "true")
    monkeypatch.setenv("WATCHDOG_RULES__NIGHTLY__ENABLED", "false")
    monkeypatch.setenv("WATCHDOG_WINDOWS__BLACKOUT__0", "always")
    assert sorted(_problems(two_rules)) == [
        "WATCHDOG_RULES__2__DRY_RUN: the config file has no rules[2] (rules has 2 entries); "
        "a variable can change an entry of a list, not add one",
        "WATCHDOG_RULES__NIGHTLY__ENABLED: rules is a list: name an entry by its position, from 0 (WATCHDOG_RULES__0__...)",
        "WATCHDOG_WINDOWS__BLACKOUT__0: the config file has no windows.blackout list; "
        "a variable can change an entry of a list the file has, not add one",
    ]
    assert main(["check-config", "--config", str(two_rules)]) == 2
    assert "Traceback" not in capsys.readouterr().err


def test_a_position_with_a_leading_zero_is_refused(
    two_rules: Path, credentials_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # WATCHDOG_RULES__00__DRY_RUN was the entry WATCHDOG_RULES__0__DRY_RUN names: set to another
    # value beside it, one of the two won without a word.
    monkeypatch.setenv("WATCHDOG_RULES__0__DRY_RUN", "true")
    monkeypatch.setenv("WATCHDOG_RULES__00__DRY_RUN", "false")
    assert _problems(two_rules) == [
        "WATCHDOG_RULES__00__DRY_RUN: rules is a list: name an entry by its position, from 0 (WATCHDOG_RULES__0__...)",
    ]


def test_a_whole_list_and_one_of_its_entries_together_are_refused(
    two_rules: Path, credentials_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # pydantic-settings would take the whole list and drop the entry without a word.
    monkeypatch.setenv("WATCHDOG_RULES__1__SELECT__CONNECTORS", '["orders-sink"]')
    monkeypatch.setenv("WATCHDOG_RULES__1__SELECT__CONNECTORS__0", "audit-sink")
    assert _problems(two_rules) == [
        "WATCHDOG_RULES__1__SELECT__CONNECTORS__0: WATCHDOG_RULES__1__SELECT__CONNECTORS is set too, "
        "and sets the whole list: set one or the other"
    ]


def test_a_whole_section_and_one_of_its_keys_together_are_refused(
    two_rules: Path, credentials_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Refused for lists only: WATCHDOG_SERVER='{"port": 1234}' beside WATCHDOG_SERVER__PORT=5555
    # ran on 5555, and a WATCHDOG_CREDENTIALS beside the per-key variables had its secret dropped,
    # each without a word.
    monkeypatch.setenv("WATCHDOG_SERVER", '{"port": 1234}')
    monkeypatch.setenv("WATCHDOG_SERVER__PORT", "5555")
    monkeypatch.setenv("WATCHDOG_CREDENTIALS", '{"main": {"api_key": "k", "api_secret": "from-the-json"}}')
    problems = _problems(two_rules)
    assert sorted(problems) == [
        "WATCHDOG_CREDENTIALS__MAIN__API_KEY: WATCHDOG_CREDENTIALS is set too, and sets the whole section: set one or the other",
        "WATCHDOG_CREDENTIALS__MAIN__API_SECRET: WATCHDOG_CREDENTIALS is set too, and sets the whole section: set one or "
        "the other",
        "WATCHDOG_SERVER__PORT: WATCHDOG_SERVER is set too, and sets the whole section: set one or the other",
    ]
    assert not any("from-the-json" in problem for problem in problems)


def test_a_value_a_whole_section_sets_is_said_to_come_from_that_variable(
    tmp_path: Path, credentials_env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # It was said to come from WATCHDOG_SERVER__PORT, a variable nobody had set.
    path = tmp_path / "config.yaml"
    path.write_text(TWO_RULES + "server: {port: 9000}\n")
    monkeypatch.setenv("WATCHDOG_SERVER", '{"port": 1234}')
    assert main(["check-config", "--config", str(path)]) == 0
    assert "warning: server.port in the file is overridden by WATCHDOG_SERVER\n" in capsys.readouterr().err


def test_a_mapping_inside_an_entry_that_is_not_json_is_named(
    two_rules: Path, credentials_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WATCHDOG_RULES__0__SELECT", "include=*")
    assert _problems(two_rules) == [
        "WATCHDOG_RULES__0__SELECT: not valid JSON (lists and mappings set from the environment must be JSON)"
    ]


def test_a_bad_value_from_the_environment_names_the_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                              credentials_env: None) -> None:
    # `WATCHDOG_DRY_RUN=` (empty) was refused as "dry_run: Input should be a valid boolean" beside
    # a file whose `dry_run: true` was fine: nothing said where to look.
    config = tmp_path / "config.yaml"
    config.write_text("dry_run: true\ncredentials: {main: {}}\nclusters: {prod: {environment_id: env-abc123, "
                      "kafka_cluster_id: lkc-xyz789}}\nrules:\n  - {name: heal, trigger: {type: status}, "
                      "select: {include: ['*']}, max_restarts: 3}\n")
    monkeypatch.setenv("WATCHDOG_DRY_RUN", "")
    monkeypatch.setenv("WATCHDOG_RULES__0__MAX_RESTARTS", "many")
    with pytest.raises(ConfigError) as caught:
        load_config(config)
    assert sorted(caught.value.problems) == [
        ("dry_run", "Input should be a valid boolean, unable to interpret input (from WATCHDOG_DRY_RUN)"),
        ("rules[0].max_restarts",
         "Input should be a valid integer, unable to parse string as an integer (from WATCHDOG_RULES__0__MAX_RESTARTS)"),
    ]
    monkeypatch.delenv("WATCHDOG_DRY_RUN")
    monkeypatch.delenv("WATCHDOG_RULES__0__MAX_RESTARTS")
    config.write_text(config.read_text().replace("max_restarts: 3", "max_restarts: many"))
    with pytest.raises(ConfigError) as caught:
        load_config(config)
    assert caught.value.problems == [("rules[0].max_restarts", "Input should be a valid integer, unable to parse "
                                      "string as an integer")], "a value from the file names no variable"


def test_a_section_set_to_null_from_the_environment_is_null_as_in_the_file(
    tmp_path: Path, credentials_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An overlay's WATCHDOG_DISCOVERY=null (discovery off) was dropped as if unset: discovery
    # stayed on, and nothing said the variable was ignored. WATCHDOG_RULES=null the same.
    path = tmp_path / "config.yaml"
    path.write_text(TWO_RULES + "discovery: {interval: 5m}\nblocking: {alertmanager_url: 'http://am:9093'}\n")
    assert load_config(path).discovery is not None
    monkeypatch.setenv("WATCHDOG_DISCOVERY", "null")
    monkeypatch.setenv("watchdog_blocking", " null ")
    config = load_config(path)
    assert config.discovery is None and config.blocking is None
    assert config.overridden == {"blocking": "WATCHDOG_BLOCKING", "discovery": "WATCHDOG_DISCOVERY"}
    monkeypatch.setenv("WATCHDOG_RULES", "null")
    assert _problems(path) == ["rules: expected a list (`- ` entries, or [a, b]), got nothing (from WATCHDOG_RULES)"]


@pytest.mark.parametrize(("section", "variable", "value"), [
    ("server: 9000", "WATCHDOG_SERVER__AUTH_TOKEN", "token-0123456789abcdef"),
    ("state: postgresql://watchdog@db.example:5432/watchdog", "WATCHDOG_STATE__PASSWORD", "db-password"),
])
def test_a_section_the_file_writes_as_a_value_is_refused_though_a_variable_sets_a_key_of_it(
    tmp_path: Path, credentials_env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    section: str, variable: str, value: str,
) -> None:
    # `server: 9000` (the port, as a value) beside WATCHDOG_SERVER__AUTH_TOKEN, which every
    # deployment sets: the variable's {"auth_token": ...} replaced the file's 9000 without a
    # word, check-config said valid and the daemon listened on 9464. `state:` written as its URL
    # beside the database password was refused as "a database password is set but no `url`".
    monkeypatch.setenv(variable, value)
    path = tmp_path / "config.yaml"
    path.write_text(TWO_RULES + section + "\n")
    name = section.split(":")[0]
    assert _problems(path) == [f"{name}: expected a mapping (its keys indented under it, or {{key: value, ...}}), "
                               f"got {'a number' if name == 'server' else 'text'}"]
    assert main(["check-config", "--config", str(path)]) == 2
    assert value not in capsys.readouterr().err


def test_no_variable_and_no_secret_file_say_nothing_is_overridden(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # A config that needs no secret (a self-managed cluster), no WATCHDOG_ variable at all: each
    # empty layer was taken for a value at the root, and check-config and every start said
    # "secret file WATCHDOG_ is overridden by the variable WATCHDOG_".
    import os

    for name in [name for name in os.environ if name.upper().startswith("WATCHDOG_")]:
        monkeypatch.delenv(name)
    path = tmp_path / "config.yaml"
    path.write_text("clusters:\n  onprem: {backend: kafka_connect, urls: ['http://127.0.0.1:8083']}\nrules: []\n")
    (tmp_path / "secrets").mkdir()
    assert main(["check-config", "--config", str(path), "--secrets-dir", str(tmp_path / "secrets")]) == 0
    assert "overridden" not in capsys.readouterr().err


@pytest.mark.parametrize(("variable", "value", "where", "named"), [
    ("WATCHDOG_RULES__0__TRIGGER", '{"type": "schedule", "cron": "0 3 30 2 *"}', "rules[0].trigger.cron",
     "WATCHDOG_RULES__0__TRIGGER"),
    ("WATCHDOG_RULES", '[{"name": "x", "trigger": {"type": "schedule", "interval": "5s"}, "select": {"include": ["*"]}}]',
     "rules[0].trigger.interval", "WATCHDOG_RULES"),
    # Cross-checked after validation: a cluster's credential no credential has.
    ("WATCHDOG_CLUSTERS", '{"prod": {"environment_id": "env-abc123", "kafka_cluster_id": "lkc-xyz789", '
                          '"credential": "nope"}}', "clusters.prod.credential", "WATCHDOG_CLUSTERS"),
], ids=["entry-json", "section-json", "cross-checked"])
def test_a_bad_value_a_whole_section_variable_set_names_the_variable(
    two_rules: Path, credentials_env: None, monkeypatch: pytest.MonkeyPatch, variable: str, value: str, where: str,
    named: str,
) -> None:
    # A value set by a variable holding JSON for a whole section or entry was refused by its path
    # alone: the operator searched the file for a value (a cron, a credential) that was not there.
    monkeypatch.setenv(variable, value)
    (problem,) = [p for p in _problems(two_rules) if p.startswith(f"{where}:")]
    assert problem.endswith(f"(from {named})"), problem
