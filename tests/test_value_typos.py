"""Values a typo makes mean something else, refused by their path with what to write (a probe's
finding): `interval: 30m30m` (for 30m) was read as an hour and `1s1h` as 3601 s without a word,
and `timezone: "Europe/Berlin "` was refused as unknown with no word of the space."""

from pathlib import Path

import pytest

from watchdog.cli import main

HEAD = (Path(__file__).parent / "fixtures" / "configs" / "good" / "minimal.yaml").read_text().split("rules:")[0]


def _refusal(tmp_path: Path, rule: str, capsys: pytest.CaptureFixture[str]) -> str:
    path = tmp_path / "config.yaml"
    path.write_text(HEAD + "rules:\n  - name: heal\n    select: {include: ['*']}\n" + rule)
    assert main(["check-config", "--config", str(path)]) == 2
    return capsys.readouterr().err


@pytest.mark.parametrize(("interval", "said"), [
    ("30m30m", "'30m30m' gives the unit m twice: write each unit once, e.g. 1h30m"),
    ("1s1h", "'1s1h' gives h after s: write the largest unit first (1h1s?)"),
    ("1h5m1h", "'1h5m1h' gives the unit h twice: write each unit once, e.g. 1h30m"),
])
def test_a_duration_with_a_unit_twice_or_out_of_order_is_refused_by_its_path(
    interval: str, said: str, tmp_path: Path, credentials_env: None, capsys: pytest.CaptureFixture[str],
) -> None:
    err = _refusal(tmp_path, f"    trigger: {{type: status, interval: {interval}}}\n", capsys)
    assert "rules[0].trigger.interval" in err
    assert said in err


def test_a_time_zone_with_a_space_after_it_is_refused_saying_so(
    tmp_path: Path, credentials_env: None, capsys: pytest.CaptureFixture[str],
) -> None:
    err = _refusal(tmp_path, '    trigger: {type: schedule, cron: "0 3 * * *", timezone: "Europe/Berlin "}\n', capsys)
    assert "rules[0].trigger.timezone" in err
    assert ("unknown time zone 'Europe/Berlin ' (did you mean Europe/Berlin? a zone's name holds no space or tab "
            "around it)") in err


def test_durations_written_largest_unit_first_are_read_as_before(
    tmp_path: Path, credentials_env: None, capsys: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(HEAD + "rules:\n  - name: heal\n    select: {include: ['*']}\n"
                    "    trigger: {type: status, interval: 1h30m}\n    backoff: {base: 1m30s500ms, cap: 1d2h}\n")
    assert main(["check-config", "--config", str(path)]) == 0


@pytest.mark.parametrize("age", ["1M", "6M", "1M15d"])
def test_a_capital_m_is_refused_not_read_as_a_minute(
    age: str, tmp_path: Path, credentials_env: None, capsys: pytest.CaptureFixture[str],
) -> None:
    # Left alone in session 71: `1M` was lower-cased and read as one minute, where whoever wrote
    # it (ISO 8601's P1M, Java's M) most likely meant a month: a backoff cap 43,200 times shorter.
    err = _refusal(tmp_path, f"    trigger: {{type: status}}\n    backoff: {{cap: {age}}}\n", capsys)
    assert "rules[0].backoff.cap" in err
    assert f"{age!r}: M is not a unit here (a month? a minute?): write m for minutes, d for days (30d for a month)" in err


def test_capital_units_other_than_m_are_read_as_before(
    tmp_path: Path, credentials_env: None, capsys: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(HEAD + "rules:\n  - name: heal\n    select: {include: ['*']}\n"
                    "    trigger: {type: status, interval: 1H}\n    backoff: {base: 500MS, cap: 30S}\n")
    assert main(["check-config", "--config", str(path)]) == 0, capsys.readouterr().err
