"""An option mistyped after a command is said with that command's usage and the option meant."""

from __future__ import annotations

import pytest

from watchdog.cli import main


@pytest.mark.parametrize(("argv", "meant"), [
    (["restart", "prod", "orders", "--wiat", "5"], "--wiat: did you mean --wait?"),
    (["status", "--problmes"], "--problmes: did you mean --problems?"),
    (["history", "--limt=5"], "--limt: did you mean --limit?"),
])
def test_a_mistyped_option_is_said_with_the_commands_usage_and_the_option_meant(
    argv: list[str], meant: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Before: `usage: watchdog [-h] [--version] COMMAND ...` and `watchdog: error: unrecognized
    # arguments: --wiat 5`: the top level's usage, which lists none of restart's options.
    with pytest.raises(SystemExit) as exited:
        main(argv)
    err = capsys.readouterr().err
    assert exited.value.code == 2
    assert err.startswith(f"usage: watchdog {argv[0]} "), err
    assert f"watchdog {argv[0]}: error: unrecognized arguments: " in err and meant in err, err


def test_an_argument_with_no_close_option_is_said_with_the_commands_usage(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["status", "stray", "--zzzzzz"])
    err = capsys.readouterr().err
    assert exited.value.code == 2 and err.startswith("usage: watchdog status "), err
    assert err.rstrip().endswith("watchdog status: error: unrecognized arguments: stray --zzzzzz"), err


def test_log_format_is_taken_in_any_letter_case_as_log_level_is(
    capsys: pytest.CaptureFixture[str], credentials_env: None
) -> None:
    # The CLI probe: `--log-level debug` was taken (documented "in any letter case"), `--log-format
    # JSON` refused `invalid choice: 'JSON'`.
    from pathlib import Path

    config = Path(__file__).parent / "fixtures" / "configs" / "good" / "minimal.yaml"
    assert main(["check-config", "--config", str(config), "--log-format", "JSON", "--log-level", "debug"]) == 0, \
        capsys.readouterr().err


@pytest.mark.parametrize("argv", [
    ["history", "prod", "clickstream-sink"],
    ["history", "prod", "--limit", "5", "clickstream-sink"],
])
def test_history_given_cluster_and_connector_as_restart_takes_them_says_the_command_meant(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    # The runbook's step after a crashed restart job said `watchdog history CLUSTER CONNECTOR`
    # (restart's order); history takes one connector and --cluster, and answered only
    # `unrecognized arguments: clickstream-sink`, no word of --cluster. Still refused (two words
    # may as well be two connectors), now with the command to type.
    with pytest.raises(SystemExit) as exited:
        main(argv)
    err = capsys.readouterr().err
    assert exited.value.code == 2 and err.startswith("usage: watchdog history "), err
    assert ("watchdog history: error: unrecognized arguments: clickstream-sink (history takes one connector "
            "and its cluster as --cluster: did you mean `watchdog history clickstream-sink --cluster prod`?)") in err, err


def test_history_given_two_words_besides_cluster_says_no_command(capsys: pytest.CaptureFixture[str]) -> None:
    # With --cluster given, a second word is no cluster: no guess is offered.
    with pytest.raises(SystemExit) as exited:
        main(["history", "orders-sink", "payments-sink", "--cluster", "prod"])
    err = capsys.readouterr().err
    assert exited.value.code == 2, err
    assert err.rstrip().endswith("watchdog history: error: unrecognized arguments: payments-sink"), err


def test_history_with_an_option_mistyped_offers_the_option_not_a_cluster(capsys: pytest.CaptureFixture[str]) -> None:
    # `--limt 5 orders-sink`: 5 is the mistyped option's value. It was offered as a cluster as well,
    # "did you mean `watchdog history orders-sink --cluster 5`?" beside "did you mean --limit?".
    with pytest.raises(SystemExit) as exited:
        main(["history", "--limt", "5", "orders-sink"])
    err = capsys.readouterr().err
    assert exited.value.code == 2 and "did you mean --limit?" in err, err
    assert "--cluster 5" not in err and "history takes one connector" not in err, err
