"""Logging never shows a secret: tracebacks are rendered without frame locals, and credentials in
URLs are masked wherever they turn up (issue 12, items 3 and 4)."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import pytest

from watchdog.config import load_config
from watchdog.logs import configure_logging, get_logger, redact_url_credentials

from .conftest import TEST_API_KEY, TEST_API_SECRET

TOKEN = "log-check-token-Wq3Rt8Yz1Kp5"


def _fail_with_a_secret_in_a_local() -> None:
    header = f"Bearer {TOKEN}".encode()  # what uvicorn's proxy-headers frame held
    raise RuntimeError(f"boom ({len(header)} bytes)")


@pytest.mark.parametrize("fmt", ["json", "console"])
def test_a_logged_traceback_does_not_show_the_frames_locals(fmt: str) -> None:
    stream = io.StringIO()
    configure_logging("INFO", fmt, stream)  # type: ignore[arg-type]
    try:
        _fail_with_a_secret_in_a_local()
    except RuntimeError:
        get_logger("test").exception("request_failed")
    out = stream.getvalue()
    assert "_fail_with_a_secret_in_a_local" in out and "boom" in out, "the traceback is still there"
    assert TOKEN not in out


def test_json_tracebacks_carry_no_locals_key() -> None:
    stream = io.StringIO()
    configure_logging("INFO", "json", stream)
    try:
        _fail_with_a_secret_in_a_local()
    except RuntimeError:
        get_logger("test").exception("request_failed")
    frames = json.loads(stream.getvalue())["exception"][0]["frames"]
    assert frames and all("locals" not in frame for frame in frames)


@pytest.mark.parametrize("fmt", ["json", "console"])
def test_credentials_in_urls_are_masked_in_every_log_line(fmt: str) -> None:
    stream = io.StringIO()
    configure_logging("INFO", fmt, stream)  # type: ignore[arg-type]
    get_logger("test").warning("call_failed", message="GET https://KEY123:hunter2@api.example.com/x failed",
                               urls=["http://admin:pw@connect:8083"])
    out = stream.getvalue()
    assert "hunter2" not in out and "admin:pw" not in out and "KEY123" not in out
    assert "https://***@api.example.com/x" in out


@pytest.mark.parametrize(("text", "shown"), [
    ("GET http://user:p@ss@proxy:3128/x failed", "GET http://***@proxy:3128/x failed"),
    ("jdbc:postgresql://etl:s3cr@t@db:5432/orders refused", "jdbc:postgresql://***@db:5432/orders refused"),
])
def test_a_password_with_an_unencoded_at_sign_is_masked_whole(text: str, shown: str) -> None:
    # Before, the password's tail after its `@` stayed: `http://***@ss@proxy:3128/x`.
    assert redact_url_credentials(text) == shown


def test_redaction_leaves_other_text_alone() -> None:
    assert redact_url_credentials("mail me at someone@example.com") == "mail me at someone@example.com"
    assert redact_url_credentials("https://u:p@h/a@b") == "https://***@h/a@b"
    assert redact_url_credentials("https://host?email=a@b.com") == "https://host?email=a@b.com"


# What a hostile upstream put in an error message: set the window title, clear the screen, move
# the cursor up a line, and turn the rest of the line right to left. No space in it, so the
# console renderer did not quote it.
TERMINAL_ATTACK = "\x1b]0;owned\x07\x1b[2J\x1b[1A\u202eforged"


def test_the_console_log_shows_terminal_escapes_from_upstream_as_text() -> None:
    stream = io.StringIO()
    configure_logging("INFO", "console", stream)  # not a terminal: no colours of our own either
    get_logger("test").warning("api_call_failed", message=TERMINAL_ATTACK, evidence={"trace": TERMINAL_ATTACK})
    try:
        raise RuntimeError(f"upstream said {TERMINAL_ATTACK}")
    except RuntimeError:
        get_logger("test").exception("request_failed")
    out = stream.getvalue()
    assert "\x1b" not in out and "\x07" not in out and "\u202e" not in out, repr(out)
    assert r"message=\x1b]0;owned\x07\x1b[2J\x1b[1A\u202eforged" in out, out
    assert "Traceback (most recent call last):\n" in out, "a traceback keeps its lines"


def test_masking_takes_linear_time_on_long_words() -> None:
    # Every letter of a word was tried as a URL scheme's start: 64 KB took 4 s, 200 KB 40 s.
    # CPU seconds of this process, not wall-clock ones: other processes on a loaded machine
    # stretch the latter, never the former (a few ms here, linear; quadratic, 40 s).
    started = time.process_time()
    assert redact_url_credentials("a" * 200_000 + "@") == "a" * 200_000 + "@"
    assert redact_url_credentials("x" * 100_000 + "https://u:p@h/") == "x" * 100_000 + "https://***@h/"
    assert time.process_time() - started < 0.5


def test_pydantic_settings_debug_output_never_reaches_the_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, credentials_env: None
) -> None:
    # With PYDANTIC_SETTINGS_DEBUG=1 and the log at DEBUG, a reload logged every source's values,
    # the secrets (a token just rotated, not yet one the log knows to star out) in plain text.
    rotated = "rotated-token-Pq7Zx2Lm9Ww4"
    monkeypatch.setenv("PYDANTIC_SETTINGS_DEBUG", "1")
    monkeypatch.setenv("WATCHDOG_SERVER__AUTH_TOKEN", rotated)
    path = tmp_path / "config.yaml"
    path.write_text("credentials: {main: {}}\nclusters: {prod: {environment_id: env-1, kafka_cluster_id: lkc-1}}\n")
    stream = io.StringIO()
    configure_logging("DEBUG", "json", stream)

    config = load_config(path)

    assert config.server.auth_token is not None and config.server.auth_token.get_secret_value() == rotated
    for secret in (rotated, TEST_API_KEY, TEST_API_SECRET):
        assert secret not in stream.getvalue()


class _ReaderGone(io.StringIO):
    """A log stream whose reader went away: every write is a broken pipe."""

    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")


def test_a_log_whose_reader_went_away_goes_on_on_stderr_masked_and_says_so_once(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # `watchdog run | head`: every line after printed "--- Logging error ---" with a traceback and
    # the line's values as logged, a URL's password unmasked, and nobody was told.
    from watchdog.logs import log_reader_gone, on_log_reader_gone

    configure_logging("INFO", "json", _ReaderGone())
    try:
        told: list[str] = []
        stop_listening = on_log_reader_gone(lambda: told.append("gone"))
        assert not log_reader_gone()
        get_logger("test").warning("call_failed", message="GET https://KEY123:hunter2@api.example.com/x failed")
        get_logger("test").info("stopped")
        stop_listening()
        assert told == ["gone"] and log_reader_gone()
    finally:  # the process's log as the next test expects it: its reader still there
        configure_logging("INFO", "json", io.StringIO())
    err = capsys.readouterr().err
    assert "Logging error" not in err and "hunter2" not in err, err
    assert [json.loads(line)["event"] for line in err.splitlines()] == ["call_failed", "stopped"]
    assert "https://***@api.example.com/x" in err


@pytest.mark.parametrize("fmt", ["json", "console"])
def test_uvicorns_lines_carry_no_colour_codes(fmt: str) -> None:
    # Every start and stop of the daemon logged uvicorn's `color_message` beside its message:
    # `color_message='Started server process [\x1b[36m%d\x1b[0m]'`.
    import logging

    stream = io.StringIO()
    configure_logging("INFO", fmt, stream)  # type: ignore[arg-type]
    # At WARNING: the demo quiets uvicorn.error to it, and an earlier test may have run the demo.
    logging.getLogger("uvicorn.error").warning("Started server process [%d]", 42,
                                               extra={"color_message": "Started server process [\x1b[36m%d\x1b[0m]"})
    out = stream.getvalue()
    assert "Started server process [42]" in out
    assert "color_message" not in out and "x1b" not in out and "\x1b" not in out and "u001b" not in out, out


class _FullDisk(io.StringIO):
    """A log file on a full volume, until `room` is set."""

    room = False

    def write(self, text: str) -> int:
        if not self.room:
            raise OSError(28, "No space left on device")
        return super().write(text)


def test_log_lines_lost_to_a_full_disk_are_said_once_without_their_values(capsys: pytest.CaptureFixture[str]) -> None:
    # `watchdog run > /var/log/watchdog.log` on a full volume: logging's own report printed a
    # traceback and each line's values as logged to stderr, before the masking of credentials.
    stream = _FullDisk()
    configure_logging("INFO", "json", stream)  # type: ignore[arg-type]
    try:
        for _ in range(3):
            get_logger("test").warning("call_failed", message="GET https://KEY123:hunter2@api.example.com/x failed")
        stream.room = True
        get_logger("test").info("written")
        stream.room = False
        get_logger("test").info("lost again")
    finally:
        configure_logging("INFO", "json", io.StringIO())
    err = capsys.readouterr().err
    assert "hunter2" not in err and "Logging error" not in err and "Traceback" not in err, err
    assert err.splitlines() == ["watchdog: log lines are lost: OSError: [Errno 28] No space left on device; "
                                "said once until a line is written again"] * 2, err
    assert json.loads(stream.getvalue())["event"] == "written"


def test_a_short_secret_is_starred_in_the_log_where_it_stands_alone() -> None:
    # Secrets under 6 characters were not looked for at all: a worker's password `kafka`, echoed
    # alone, was logged. Starred now where it is a whole token, and no word holding it is touched.
    from watchdog.logs import keep_out_of_logs

    stream = io.StringIO()
    configure_logging("INFO", "json", stream)
    keep_out_of_logs({"kafka", "ab"})
    try:
        get_logger("test").info("poll_failed", message="wrong password kafka.", cls="org.apache.kafka.connect",
                                backend="kafka_connect", other="a cab about ab")
    finally:
        keep_out_of_logs(())
    [line] = [json.loads(text) for text in stream.getvalue().splitlines()]
    assert line["message"] == "wrong password ***.", line
    assert (line["cls"], line["backend"]) == ("org.apache.kafka.connect", "kafka_connect"), line
    assert line["other"] == "a cab about ab", "shorter than 3 characters: not looked for"
