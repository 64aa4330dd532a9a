"""Settings that do nothing (config/no_effect.py) are said by path, with why, at check-config (on
stderr, the exit code 0: the config is valid) and at start: a probe's careless configs (regex
globs, an include its own exclude removes, a status rule behind a catch-all, windows that never
open, last year's freeze) each passed with `valid` and not a word, and the rule then did nothing."""

from pathlib import Path

import pytest
from structlog.testing import capture_logs

from watchdog.cli import main

from .support import daemon_config, in_process, logs_of_reloads, sim_scenario

FIXTURES = Path(__file__).parent / "fixtures" / "configs"
HEAD = (FIXTURES / "good" / "minimal.yaml").read_text().split("rules:")[0]

CARELESS = """\
windows: {blackout: ["2025-12-24T00:00:00+01:00-2025-12-27T00:00:00+01:00"]}
rules:
  - name: regexy
    trigger: {type: status}
    select: {include: ["^orders-.*$", "orders-(sink|source)"]}
  - name: self-excluding
    trigger: {type: status}
    select: {include: ["billing-*"], exclude: ["billing-*"]}
  - name: frozen
    trigger: {type: status}
    select: {include: ["payments-*"]}
    windows: {blackout: ["Mon-Sun 00:00-24:00 UTC"]}
  - name: catch-all
    trigger: {type: status}
    select: {include: ["*"]}
    max_restarts: 2
  - name: orders
    trigger: {type: status, interval: 5s}
    select: {include: ["orders-*"]}
    max_restarts: 50
  - name: orders-trial
    trigger: {type: status, interval: 5s}
    select: {include: ["orders-*"]}
    dry_run: true
"""

EXPECTED = [
    "warning: windows.blackout[0] '2025-12-24T00:00:00+01:00-2025-12-27T00:00:00+01:00': ended "
    "2025-12-27T00:00:00+01:00, before now: it holds nothing (dates copied from last year?)",
    "warning: rules[0].select.include[0] '^orders-.*$': looks like a regular expression, but `include` takes globs "
    "(* any text, ? one character), read as written (`.` a dot, `^ $ ( | )` themselves): it selects nothing you "
    "meant; write 'orders-*'",
    "warning: rules[0].select.include[1] 'orders-(sink|source)': looks like a regular expression, but `include` "
    "takes globs (* any text, ? one character), read as written (`.` a dot, `^ $ ( | )` themselves): it selects "
    "nothing you meant; write 'orders-sink', 'orders-source' (one entry each)",
    "warning: rules[1].select: its `exclude` removes everything its `include` and `connectors` select ('billing-*' "
    "by 'billing-*'): the rule selects nothing",
    "warning: rules[2].windows: never open in the next 400 days (with the global windows): rule frozen restarts "
    "nothing; its failures are decided window_closed",
    "warning: rules[4] (orders): never decides: every connector it selects is selected first by rules[3] "
    "(catch-all), and the first enabled status rule that selects a connector is the one that acts on it, so its "
    "max_restarts, backoff and windows are never applied; its interval (5s) still polls the clusters it selects "
    "that often, API calls for nothing; move it above rules[3] or narrow rules[3]",
]


def _check(tmp_path: Path, rules: str, capsys: pytest.CaptureFixture[str]) -> tuple[list[str], str]:
    path = tmp_path / "config.yaml"
    path.write_text(HEAD + rules)
    assert main(["check-config", "--config", str(path)]) == 0  # warnings, not errors
    captured = capsys.readouterr()
    assert "valid" in captured.out.splitlines()[0]
    return [line for line in captured.err.splitlines() if line.startswith("warning: ")], captured.out


def test_check_config_says_each_setting_that_does_nothing_and_why(
    capsys: pytest.CaptureFixture[str], credentials_env: None, tmp_path: Path
) -> None:
    # The dry-run trial behind the live catch-all is not said: a trial owns connectors among
    # trials only, so it does decide.
    warnings, _ = _check(tmp_path, CARELESS, capsys)
    assert warnings == EXPECTED


@pytest.mark.parametrize("windows", ['{allowed: ["never"]}', '{blackout: ["always"]}'])
def test_check_config_says_a_failure_rules_windows_never_open(
    windows: str, capsys: pytest.CaptureFixture[str], credentials_env: None, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rules = f"rules:\n  - name: heal\n    trigger: {{type: alert, match: {{alertname: ConnectorDown}}}}\n    select: {{include: ['*']}}\n    windows: {windows}\n"
    monkeypatch.setenv("WATCHDOG_SERVER__AUTH_TOKEN", "a-token-of-at-least-32-characters-long")  # alert rules need it
    warnings, _ = _check(tmp_path, rules, capsys)
    assert warnings == ["warning: rules[0].windows: never open in the next 400 days (with the global windows): rule "
                        "heal restarts nothing; its failures are decided window_closed"]


CAREFUL = """\
windows: {blackout: ["2099-12-24T00:00:00+01:00-2099-12-27T00:00:00+01:00", "Sat 02:00-04:00 Europe/Berlin"]}
rules:
  - name: orders-first
    trigger: {type: status, interval: 5s}
    select: {include: ["orders-*"], exclude: ["orders-*-canary"], connectors: [payments-sink]}
    max_restarts: 50
    windows: {allowed: ["Mon-Fri 06:00-22:00 Europe/Berlin"]}
  - name: catch-all
    trigger: {type: status}
    select: {include: ["*"], exclude: ["*-test"]}
  - name: test-ones
    trigger: {type: status}
    select: {include: ["*-test"]}
  - name: trial
    trigger: {type: status}
    select: {include: ["billing-*"]}
    dry_run: true
  - name: nightly
    trigger: {type: schedule, cron: "0 3 * * *", timezone: Europe/Berlin}
    select: {include: ["orders-*"], connectors: ["orders.sink"]}
"""


def test_a_config_whose_settings_each_do_something_says_nothing_of_them(
    capsys: pytest.CaptureFixture[str], credentials_env: None, tmp_path: Path
) -> None:
    # A narrow rule before the catch-all, one after it for what the catch-all excludes, a trial
    # behind live rules, a dotted exact name, a freeze to come: none does nothing.
    warnings, _ = _check(tmp_path, CAREFUL, capsys)
    assert warnings == []


async def test_a_start_says_the_settings_that_do_nothing_once() -> None:
    rules = [{"name": "catch-all", "trigger": {"type": "status"}, "select": {"include": ["*"]}},
             {"name": "regexy", "trigger": {"type": "status", "interval": "5s"}, "select": {"include": ["^a$"]}}]
    w = in_process(sim_scenario([{"name": "a"}]), daemon_config(rules))
    with capture_logs() as logs:
        await w.daemon.run_once()
    (line,) = [e for e in logs if e["event"] == "settings_with_no_effect"]
    assert line["log_level"] == "warning"
    assert line["settings"] == [
        "rules[1].select.include[0] '^a$': looks like a regular expression, but `include` takes globs (* any text, "
        "? one character), read as written (`.` a dot, `^ $ ( | )` themselves): it selects nothing you meant; "
        "write 'a'",
        "rules[1] (regexy): never decides: every connector it selects is selected first by rules[0] (catch-all), and "
        "the first enabled status rule that selects a connector is the one that acts on it, so its max_restarts, "
        "backoff and windows are never applied; its interval (5s) still polls the clusters it selects that often, "
        "API calls for nothing; move it above rules[0] or narrow rules[0]",
    ]


async def test_a_reload_that_brings_such_a_setting_in_says_it() -> None:
    heal = [{"name": "heal", "trigger": {"type": "status"}, "select": {"include": ["*"]}}]
    shadowed = [*heal, {"name": "late", "trigger": {"type": "status"}, "select": {"connectors": ["a"]}}]
    # The second reload brings the same warnings: not said again.
    logs = await logs_of_reloads(daemon_config(heal), daemon_config(shadowed), daemon_config(shadowed, dry_run=False))
    said = [e["settings"] for e in logs if e["event"] == "settings_with_no_effect"]
    assert [[s.split(":")[0] for s in settings] for settings in said] == [["rules[1] (late)"]]


NO_RULES = ("rules: no rule: nothing is watched or restarted (no status poll, alert or schedule acts; only a restart "
            "asked for by hand, `watchdog restart`, is sent)")


@pytest.mark.parametrize("rules", ["", "rules: []\n"], ids=["no rules key", "rules: []"])
def test_check_config_says_a_config_without_rules_watches_nothing(
    rules: str, capsys: pytest.CaptureFixture[str], credentials_env: None, tmp_path: Path
) -> None:
    # A probe: the end state of a ConfigMap generated with an empty list, or of a file cut before
    # `rules:`, passed with `valid`, an empty `rules:` heading and not a word; the daemon then ran
    # and restarted nothing.
    warnings, _ = _check(tmp_path, rules, capsys)
    assert warnings == [f"warning: {NO_RULES}"]


async def test_a_start_and_a_reload_to_a_config_without_rules_say_it_watches_nothing() -> None:
    w = in_process(sim_scenario([{"name": "a"}]), daemon_config([]))
    with capture_logs() as logs:
        await w.daemon.run_once()
    assert [e["settings"] for e in logs if e["event"] == "settings_with_no_effect"] == [[NO_RULES]]
    heal = [{"name": "heal", "trigger": {"type": "status"}, "select": {"include": ["*"]}}]
    logs = await logs_of_reloads(daemon_config(heal), daemon_config([]))
    said = [(e["log_level"], e["settings"]) for e in logs if e["event"] == "settings_with_no_effect"]
    assert said == [("warning", [NO_RULES])]


ALL_DISABLED = ("rules: every rule is `enabled: false`: nothing is watched or restarted (no status poll, alert or "
                "schedule acts; only a restart asked for by hand, `watchdog restart`, is sent); set `enabled: true` "
                "on the rules that should act, or `dry_run: true` to try them")


def test_check_config_says_a_config_whose_rules_are_all_disabled_watches_nothing(
    capsys: pytest.CaptureFixture[str], credentials_env: None, tmp_path: Path
) -> None:
    # Left alone in session 71: every rule switched off during an incident and the file left so
    # passed with `valid` and not a word, as `rules: []` did before; the daemon watched nothing.
    rules = ("rules:\n  - {name: heal, enabled: false, trigger: {type: status}, select: {include: ['*']}}\n"
             "  - {name: nightly, enabled: false, trigger: {type: schedule, cron: '0 3 * * *'}, "
             "select: {connectors: [a]}}\n")
    warnings, _ = _check(tmp_path, rules, capsys)
    assert warnings == [f"warning: {ALL_DISABLED}"]
    # One rule left on (here on trial) is something watched: no such warning.
    warnings, _ = _check(tmp_path, rules.replace("{name: heal, enabled: false,", "{name: heal, dry_run: true,"), capsys)
    assert f"warning: {ALL_DISABLED}" not in warnings
