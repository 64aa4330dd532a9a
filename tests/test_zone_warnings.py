"""Zone names that are legal but rarely mean what their writer thinks (`EST`: fixed UTC-05:00;
`Etc/GMT-2`: UTC+02:00, the sign inverted) are said at check-config and at start, by the path
they were written at; zones that follow daylight saving time, and UTC's names, are not."""

from pathlib import Path

import pytest
from structlog.testing import capture_logs

from watchdog.cli import main

from .support import daemon_config, in_process, logs_of_reloads, sim_scenario

FIXTURES = Path(__file__).parent / "fixtures" / "configs"

RULES = """\
windows: {blackout: ["Sat 10:00-11:00 Etc/GMT-2"]}
rules:
  - name: utc
    trigger: {type: schedule, cron: "0 3 * * *"}
    select: {connectors: [orders-sink]}
  - name: new-york
    trigger: {type: schedule, cron: "0 9 * * *", timezone: EST}
    select: {connectors: [orders-sink]}
  - name: plus-two
    trigger: {type: schedule, cron: "0 9 * * *", timezone: Etc/GMT-2}
    select: {connectors: [orders-sink]}
    windows: {allowed: ["Mon-Fri 01:00-23:00 Etc/GMT+5", "Sat 06:00-07:00 America/New_York"]}
"""


def test_check_config_says_what_a_fixed_offset_zone_really_is(
    capsys: pytest.CaptureFixture[str], credentials_env: None, tmp_path: Path
) -> None:
    # Both were accepted without a word: `EST` ran New York's 09:00 at 10:00 EDT for eight months
    # of the year, `Etc/GMT-2`'s 09:00 was 07:00 UTC. Still valid (some mean a fixed offset).
    path = tmp_path / "config.yaml"
    path.write_text((FIXTURES / "good" / "minimal.yaml").read_text().split("rules:")[0] + RULES)
    assert main(["check-config", "--config", str(path)]) == 0
    out = capsys.readouterr().out
    assert "valid" in out.splitlines()[0]
    warnings = [line for line in out.splitlines() if line.startswith("warning: ")]
    assert warnings == [
        "warning: windows.blackout[0] 'Sat 10:00-11:00 Etc/GMT-2': 'Etc/GMT-2' is UTC+02:00 (the Etc/GMT sign is "
        "inverted), a fixed offset with no daylight saving time",
        "warning: rules[1].trigger.timezone: 'EST' is a fixed UTC-05:00 with no daylight saving time; for New York "
        "use America/New_York",
        "warning: rules[2].trigger.timezone: 'Etc/GMT-2' is UTC+02:00 (the Etc/GMT sign is inverted), a fixed "
        "offset with no daylight saving time",
        "warning: rules[2].windows.allowed[0] 'Mon-Fri 01:00-23:00 Etc/GMT+5': 'Etc/GMT+5' is UTC-05:00 (the "
        "Etc/GMT sign is inverted), a fixed offset with no daylight saving time",
    ]


async def test_a_start_says_what_a_fixed_offset_zone_really_is_once() -> None:
    rules = [{"name": "new-york", "trigger": {"type": "schedule", "cron": "0 9 * * *", "timezone": "MST"},
              "select": {"connectors": ["a"]}}]
    w = in_process(sim_scenario([{"name": "a"}]), daemon_config(rules))
    with capture_logs() as logs:
        await w.daemon.run_once()
    (line,) = [e for e in logs if e["event"] == "time_zones_not_what_they_seem"]
    assert line["log_level"] == "warning"
    assert line["zones"] == ["rules[0].trigger.timezone: 'MST' is a fixed UTC-07:00 with no daylight saving time; "
                             "for Denver use America/Denver (for Arizona, which has none, America/Phoenix)"]


@pytest.mark.parametrize("name", ["UTC", "Europe/Berlin", "America/New_York", "US/Eastern", "EST5EDT", "CET", "HST",
                                  "Etc/GMT", "Etc/GMT+0", "Etc/GMT-0", "GMT0", "Etc/UTC", "Asia/Kolkata"])
def test_zones_that_mean_what_they_say_are_not_warned_of(name: str) -> None:
    from watchdog.windows.zone_traps import zone_trap

    assert zone_trap(name) is None


async def test_a_start_with_only_such_zones_says_nothing_of_zones() -> None:
    rules = [{"name": "berlin", "trigger": {"type": "schedule", "cron": "0 9 * * *", "timezone": "Europe/Berlin"},
              "select": {"connectors": ["a"]}, "windows": {"allowed": ["Mon-Fri 06:00-22:00 US/Eastern"]}}]
    w = in_process(sim_scenario([{"name": "a"}]), daemon_config(rules))
    with capture_logs() as logs:
        await w.daemon.run_once()
    assert [e for e in logs if e["event"] == "time_zones_not_what_they_seem"] == []


async def test_a_reload_that_brings_such_a_zone_in_says_it_and_one_that_keeps_it_does_not_again() -> None:
    # Said at check-config and at a start only, a zone a SIGHUP brought in was never said.
    berlin = [{"name": "nightly", "trigger": {"type": "schedule", "cron": "0 9 * * *", "timezone": "Europe/Berlin"},
               "select": {"connectors": ["a"]}}]
    est = [{**berlin[0], "trigger": {**berlin[0]["trigger"], "timezone": "EST"}}]  # type: ignore[dict-item]
    # The second reload brings the same zones: not said again.
    logs = await logs_of_reloads(daemon_config(berlin), daemon_config(est), daemon_config(est, dry_run=False))
    said = [e for e in logs if e["event"] == "time_zones_not_what_they_seem"]
    assert [line["zones"] for line in said] == [[
        "rules[0].trigger.timezone: 'EST' is a fixed UTC-05:00 with no daylight saving time; for New York use "
        "America/New_York"]], said
