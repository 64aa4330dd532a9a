"""Config loading: every good fixture loads, every bad one is refused with its exact error.

Each file in fixtures/configs/bad/ starts with `# error: <the problem as reported>`, one line per
problem it holds, and may set (`# env: NAME=value`) or remove (`# unset: NAME`) environment
variables first. docs/configuration.md promises that all problems are reported at once: a file with
several errors must report every one of them.
"""

from pathlib import Path

import pytest

from watchdog.cli import main
from watchdog.config import ConfigError, load_config

from .conftest import TEST_API_SECRET

FIXTURES = Path(__file__).parent / "fixtures" / "configs"
ROOT = Path(__file__).parent.parent


def _headers(path: Path) -> dict[str, list[str]]:
    headers: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        if not line.startswith("# ") or ":" not in line:
            break
        name, _, value = line[2:].partition(": ")
        headers.setdefault(name, []).append(value)
    return headers


def _apply_env(path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Set the fixture's environment; return the problems it must be refused with."""
    headers = _headers(path)
    for assignment in headers.get("env", []):
        name, _, value = assignment.partition("=")
        monkeypatch.setenv(name, value)
    for name in headers.get("unset", []):
        monkeypatch.delenv(name, raising=False)
    return headers.get("error", [])


@pytest.mark.parametrize("path", sorted((FIXTURES / "good").glob("*.yaml")), ids=lambda p: p.stem)
def test_good_configs_load(path: Path, credentials_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    _apply_env(path, monkeypatch)
    config = load_config(path)
    assert config.clusters or config.discovery is not None


def test_the_example_config_is_valid(credentials_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WATCHDOG_SERVER__AUTH_TOKEN", "example-token-0123456789")
    config = load_config(ROOT / "config.example.yaml")
    assert config.dry_run is True
    assert [rule.name for rule in config.rules] == ["heal-failed", "restart-on-alert", "restart-stalled-connectors", "nightly-jdbc"]
    assert config.clusters["onprem"].backend == "kafka_connect"


@pytest.mark.parametrize("path", sorted((FIXTURES / "bad").glob("*.yaml")), ids=lambda p: p.stem)
def test_bad_configs_are_refused_with_the_path_of_the_bad_value(
    path: Path, credentials_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = _apply_env(path, monkeypatch)
    assert expected, f"{path.name} must start with '# error: ...'"
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    problems = [f"{where}: {what}" if where else what for where, what in caught.value.problems]
    missing = [problem for problem in expected if problem not in problems]
    assert not missing, f"not reported: {missing}; got {problems}"
    if len(expected) > 1:  # a file made to hold several errors reports those and nothing else
        assert sorted(problems) == sorted(expected)


def test_the_bad_config_corpus_has_files_with_several_errors_in_each_stage_of_checking() -> None:
    """The loader checks in stages (keys read before anything else, then shapes and values, then
    names across sections); each stage must report all of its problems at once."""
    several = {path.stem: _headers(path)["error"] for path in sorted((FIXTURES / "bad").glob("*.yaml"))
               if len(_headers(path)["error"]) >= 3}
    assert {"several-top-level-keys-wrong-at-once", "several-values-wrong-at-once",
            "several-references-wrong-at-once"} <= set(several)
    sections = {problem.split(".")[0].split("[")[0].split(":")[0] for problem in several["several-values-wrong-at-once"]}
    assert {"clusters", "server", "windows", "rules"} <= sections


def test_the_bad_config_corpus_covers_every_section() -> None:
    corpus = sorted((FIXTURES / "bad").glob("*.yaml"))
    assert len(corpus) >= 60
    errors = " ".join(" ".join(_headers(path)["error"]) for path in corpus)
    for section in ("api.", "credentials", "clusters", "rate_limit.", "server.", "queue.", "log.", "reload.",
                    "windows.", "breaker.", "blocking.", "rules[0].trigger", "rules[0].select", "rules[0].backoff",
                    "invalid YAML", "config file is empty", "at the top level", "duplicate rule name", "unknown cluster",
                    "missing (unset", "bad cron expression", "invalid window", "discovery.", "state.url", "state.leader_election"):
        assert section in errors, f"no bad config exercises {section}"


@pytest.mark.parametrize("path", sorted((FIXTURES / "bad").glob("*.yaml")), ids=lambda p: p.stem)
def test_bad_configs_stop_every_command_with_exit_code_2_before_any_network_call(
    path: Path, credentials_env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import httpx

    _apply_env(path, monkeypatch)

    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("a network call was made with an invalid config")

    monkeypatch.setattr(httpx.AsyncClient, "send", no_network)
    monkeypatch.setattr(httpx.Client, "send", no_network)
    for command in (["run"], ["run", "--once"], ["check-config"], ["restart", "prod", "orders"]):
        assert main([*command, "--config", str(path)]) == 2, command
    assert "invalid config" in capsys.readouterr().err


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"config file .*nowhere.yaml does not exist"):
        load_config(tmp_path / "nowhere.yaml")


def test_environment_overrides_a_nested_yaml_value(credentials_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WATCHDOG_RATE_LIMIT__RESERVE", "7")
    monkeypatch.setenv("WATCHDOG_DRY_RUN", "true")
    config = load_config(FIXTURES / "good" / "minimal.yaml")
    assert config.rate_limit.reserve == 7
    assert config.dry_run is True
    assert config.rate_limit.max_concurrent_requests == 4  # untouched defaults stay


def test_secrets_come_from_files_named_like_the_environment_variables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("WATCHDOG_CREDENTIALS__MAIN__API_KEY", "WATCHDOG_CREDENTIALS__MAIN__API_SECRET"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "watchdog_credentials__main__api_key").write_text("file-key\n")
    (tmp_path / "WATCHDOG_CREDENTIALS__MAIN__API_SECRET").write_text("file-secret\n")
    config = load_config(FIXTURES / "good" / "minimal.yaml", secrets_dir=tmp_path)
    assert config.credentials["main"].api_key.get_secret_value() == "file-key"
    assert config.credentials["main"].api_secret.get_secret_value() == "file-secret"


def test_a_missing_secrets_directory_that_was_asked_for_is_an_error(credentials_env: None, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="secrets directory .*absent does not exist"):
        load_config(FIXTURES / "good" / "minimal.yaml", secrets_dir=tmp_path / "absent")


def test_a_secrets_directory_that_is_a_file_is_named_so(
    credentials_env: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A Secret mounted with subPath: one file where the directory should be. "does not exist" sent
    # the reader to look for a path that was there.
    (tmp_path / "secrets").write_text("TESTKEY0123456789\n")
    with pytest.raises(ConfigError, match="secrets directory .*secrets is not a directory"):
        load_config(FIXTURES / "good" / "minimal.yaml", secrets_dir=tmp_path / "secrets")
    # At the default path, nothing was said, and every secret was reported missing.
    import watchdog.config.loading as loading

    monkeypatch.setattr(loading, "DEFAULT_SECRETS_DIR", tmp_path / "secrets")
    monkeypatch.delenv("WATCHDOG_SECRETS_DIR", raising=False)
    with pytest.raises(ConfigError, match="secrets directory .*secrets is not a directory"):
        load_config(FIXTURES / "good" / "minimal.yaml")


def test_secrets_do_not_appear_in_repr(credentials_env: None) -> None:
    config = load_config(FIXTURES / "good" / "minimal.yaml")
    assert TEST_API_SECRET not in repr(config)
    assert TEST_API_SECRET not in config.model_dump_json()


def test_check_config_exits_2_on_a_bad_file(capsys: pytest.CaptureFixture[str], credentials_env: None) -> None:
    assert main(["check-config", "--config", str(FIXTURES / "bad" / "cron-bad-minute.yaml")]) == 2
    assert "rules[0].trigger.cron" in capsys.readouterr().err


def test_check_config_summarises_without_secrets(
    capsys: pytest.CaptureFixture[str], credentials_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WATCHDOG_SERVER__AUTH_TOKEN", "example-token-b7f3-4e9a1c")
    assert main(["check-config", "--config", str(ROOT / "config.example.yaml")]) == 0
    out = capsys.readouterr().out
    assert "heal-failed" in out and "nightly-jdbc" in out and "env-abc123/lkc-xyz789" in out
    assert "api_key: set" in out and "auth_token: set" in out
    assert "restart-on-alert alert alertname=ConnectorStalled" in out
    assert "breaker: cluster more than 50% of a cluster (at least 3); fleet 30 restarts per 10m" in out
    assert TEST_API_SECRET not in out and "example-token-b7f3-4e9a1c" not in out


def test_check_config_prints_names_with_terminal_escapes_and_line_breaks_as_text(
    capsys: pytest.CaptureFixture[str], credentials_env: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # The summary printed the config's strings as they were: an alert matcher's escapes set the
    # terminal's title and cleared it, and a line break in one printed a line of
    # its own, here a `rules:` heading the config does not have.
    monkeypatch.setenv("WATCHDOG_SERVER__AUTH_TOKEN", "example-token-b7f3-4e9a1c")
    path = tmp_path / "config.yaml"
    path.write_text((FIXTURES / "good" / "minimal.yaml").read_text() + """\
  - name: alerted
    trigger: {type: alert, match: {alertname: "x\\e]0;owned\\a\\e[2J", summary: "a\\nrules:\\n  fake"}}
    select: {include: ["\\u202eevil"]}
""")
    assert main(["check-config", "--config", str(path)]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\a" not in out and "\u202e" not in out
    assert [line for line in out.splitlines() if line.startswith("rules:")] == ["rules:"]
    assert "alertname=x\\x1b]0;owned\\x07\\x1b[2J" in out and "summary=a\\nrules:\\n  fake" in out


# -- secrets are stripped, blank ones refused (issue 12, items 1 and 4) ---------------------------


def test_a_token_with_a_trailing_newline_is_stripped(credentials_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    # A Kubernetes Secret made from a file often ends in a newline; the daemon used to expect it
    # in the Authorization header, locking everyone out while check-config said "set".
    monkeypatch.setenv("WATCHDOG_SERVER__AUTH_TOKEN", "  token-from-a-secret-0123\n")
    config = load_config(FIXTURES / "good" / "minimal.yaml")
    assert config.server.auth_token is not None
    assert config.server.auth_token.get_secret_value() == "token-from-a-secret-0123"


def test_a_secret_file_holding_only_whitespace_is_refused(
    credentials_env: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "WATCHDOG_SERVER__AUTH_TOKEN").write_text(" \n\t\n")
    with pytest.raises(ConfigError) as caught:
        load_config(FIXTURES / "good" / "minimal.yaml", secrets_dir=tmp_path)
    assert [path for path, _ in caught.value.problems] == ["server.auth_token"]
    assert main(["check-config", "--config", str(FIXTURES / "good" / "minimal.yaml"), "--secrets-dir", str(tmp_path)]) == 2
    assert "server.auth_token: is empty" in capsys.readouterr().err


def test_credentials_are_stripped_and_blank_ones_are_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WATCHDOG_CREDENTIALS__MAIN__API_KEY", "KEY0123456789\n")
    monkeypatch.setenv("WATCHDOG_CREDENTIALS__MAIN__API_SECRET", "   ")
    monkeypatch.delenv("WATCHDOG_SECRETS_DIR", raising=False)
    with pytest.raises(ConfigError) as caught:
        load_config(FIXTURES / "good" / "minimal.yaml")
    assert [path for path, _ in caught.value.problems] == ["credentials.main.api_secret"]
    monkeypatch.setenv("WATCHDOG_CREDENTIALS__MAIN__API_SECRET", "secret\n")
    credential = load_config(FIXTURES / "good" / "minimal.yaml").credentials["main"]
    assert credential.api_key is not None and credential.api_key.get_secret_value() == "KEY0123456789"


def test_an_empty_secret_file_is_reported_as_possibly_empty_not_only_missing(
    credentials_env: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A Kubernetes Secret made from an unset shell variable: the file is there, empty. "missing;
    # put it in a file of that name" sent the reader to look for a file that was right there.
    monkeypatch.delenv("WATCHDOG_CREDENTIALS__MAIN__API_SECRET")
    (tmp_path / "WATCHDOG_CREDENTIALS__MAIN__API_SECRET").write_text("\n")
    with pytest.raises(ConfigError) as caught:
        load_config(FIXTURES / "good" / "minimal.yaml", secrets_dir=tmp_path)
    [(path, message)] = caught.value.problems
    assert path == "credentials.main.api_secret" and "empty" in message


def test_blocking_credentials_come_from_the_environment(credentials_env: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "config.yaml"
    path.write_text((FIXTURES / "good" / "minimal.yaml").read_text()
                    + "blocking: {alertmanager_url: 'https://alertmanager:9093', auth: basic, username: watchdog}\n")
    monkeypatch.setenv("WATCHDOG_BLOCKING__PASSWORD", "am-password-Qx7\n")
    blocking = load_config(path).blocking
    assert blocking is not None
    user, password = blocking.credentials()  # type: ignore[misc]
    assert user == "watchdog" and password.get_secret_value() == "am-password-Qx7"


@pytest.mark.parametrize("url", ["postgresql://watchdog:hunter2hunter2@db:5432/watchdog",
                                 "postgresql://watchdog@db:5432/watchdog?password=hunter2hunter2"])
def test_a_password_in_the_database_url_is_refused_without_being_repeated(
    url: str, credentials_env: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("credentials: {main: {}}\nclusters: {prod: {environment_id: env-abc123, kafka_cluster_id: lkc-xyz789}}\n"
                    f"state: {{url: '{url}'}}\n")
    assert main(["check-config", "--config", str(path)]) == 2
    shown = capsys.readouterr()
    assert "state.url: the database URL must not carry a password" in shown.err
    assert "hunter2hunter2" not in shown.out + shown.err


def test_a_stalled_rule_leaves_the_metrics_apis_five_minutes_by_default() -> None:
    # The spec: data points are typically available within 5 minutes. A rule without `delay`
    # must not read minutes the API may not have yet (missing minutes read as "sent nothing").
    from watchdog.config import StalledTrigger

    assert StalledTrigger.model_validate({"type": "stalled"}).delay == 300
    assert StalledTrigger.model_validate({"type": "stalled", "delay": "5m"}).delay == 300


def test_an_unknown_key_anywhere_in_the_example_is_refused_with_its_path_never_a_traceback(
    tmp_path: Path, credentials_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Where an unknown key belongs is worked out from the schema (config/key_hints.py): a key
    # put in any section of config.example.yaml, spelt as none, as one of another section, or
    # as one of its own misspelt, is refused with its path and a message, whatever the section.
    import yaml

    monkeypatch.setenv("WATCHDOG_SERVER__AUTH_TOKEN", "example-token-0123456789")
    example = yaml.safe_load((ROOT / "config.example.yaml").read_text(encoding="utf-8"))

    def mappings(node: object, path: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        found = [path] if isinstance(node, dict) else []
        children = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else []
        for key, child in children:
            found += mappings(child, (*path, key))
        return found

    # Not the mappings whose keys are names the user chooses (a credential, a cluster, a label).
    places = [p for p in mappings(example) if p[-1:] not in (("credentials",), ("clusters",), ("match",), ("match_re",))]
    assert len(places) >= 30, places
    for place in places:
        for key in ("zz_not_a_setting", "max_restarts", "intervall"):
            document = yaml.safe_load((ROOT / "config.example.yaml").read_text(encoding="utf-8"))
            target = document
            for part in place:
                target = target[part]
            if key in target:
                continue
            target[key] = 1
            path = tmp_path / "config.yaml"
            path.write_text(yaml.safe_dump(document), encoding="utf-8")
            try:
                load_config(path)
            except ConfigError as exc:
                where = ".".join(str(part) for part in (*place, key))
                messages = [what for at, what in exc.problems if at.replace("[", ".").replace("]", "") == where]
                # A schedule rule's max_restarts is a rule's key that does nothing there: refused by its path too.
                inert = key == "max_restarts" and target.get("trigger", {}).get("type") == "schedule"
                expected = "does nothing on a schedule rule" if inert else "unknown key"
                assert messages and messages[0].startswith(expected), (where, exc.problems)
            else:
                assert key == "max_restarts", f"{place} took {key}"  # a rule's own, left at its default there
