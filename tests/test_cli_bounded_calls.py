"""`watchdog status/history/restart --daemon` end each call within its deadline, and read no
answer past a size no daemon's reaches (session 70's probe, F3): against an endpoint that
trickled its answer a byte a second each command ran 120 s, though a 10 s end was promised, and
against a 250 MB answer `status` took 1.58 GB of memory. Against real loopback servers."""

from __future__ import annotations

import json
import threading
import time

import pytest

from watchdog.cli import main

from .loopback import QuietHandler, serving

DEADLINE = 1.0  # DAEMON_TIMEOUT_SECONDS in these tests (10 s in the product)
TRICKLE_SECONDS = 8.0  # how long the endpoint goes on trickling if nothing stops the command


def _trickle(handler: QuietHandler) -> None:
    """200, a Content-Length of 100,000 and then a byte every 0.1 s for TRICKLE_SECONDS."""
    handler.send_response(200)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", "100000")
    handler.end_headers()
    for _ in range(int(TRICKLE_SECONDS / 0.1)):
        try:
            handler.wfile.write(b" ")
            handler.wfile.flush()
        except OSError:
            return  # the command hung up
        time.sleep(0.1)


class Trickles(QuietHandler):
    def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
        _trickle(self)

    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers["Content-Length"]))
        _trickle(self)


@pytest.fixture
def daemon_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("watchdog.cli.daemon.DAEMON_TIMEOUT_SECONDS", DEADLINE)
    monkeypatch.setenv("WATCHDOG_SERVER__AUTH_TOKEN", "cli-test-token")


@pytest.mark.parametrize("command", [["status"], ["history"]])
def test_a_trickling_answer_ends_the_command_at_its_deadline(
    daemon_env: None, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    with serving(Trickles, threaded=True) as server:
        started = time.monotonic()
        code = main([*command, "--daemon", f"http://127.0.0.1:{server.server_port}"])
        took = time.monotonic() - started
    err = capsys.readouterr().err
    assert took < DEADLINE + 1.5, f"ran {took:.1f} s against a deadline of {DEADLINE:g} s"
    assert code == 75, err
    assert f"no whole answer within {DEADLINE:g}s (the call's deadline;" in err, err
    assert "try again later" in err and "cannot reach the daemon" not in err, err


def test_a_restart_answered_by_a_trickle_ends_at_its_deadline_and_says_it_may_have_been_queued(
    daemon_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    with serving(Trickles, threaded=True) as server:
        started = time.monotonic()
        code = main(["restart", "prod", "orders", "--daemon", f"http://127.0.0.1:{server.server_port}", "--wait", "5"])
        took = time.monotonic() - started
    err = capsys.readouterr().err
    assert took < DEADLINE + 1.5, f"ran {took:.1f} s against a deadline of {DEADLINE:g} s"
    assert code == 1, err
    assert "prod/orders: sent to the daemon at http://127.0.0.1:" in err, err
    assert f"but no answer came (DeadlinePassed: no whole answer within {DEADLINE:g}s" in err, err
    assert "the restart may have been queued" in err, err


def test_an_answer_larger_than_any_daemons_is_not_read_further(
    daemon_env: None, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("watchdog.cli.bounded.MAX_ANSWER_BYTES", 1024 * 1024)
    monkeypatch.setattr("watchdog.cli.daemon.DAEMON_TIMEOUT_SECONDS", 30.0)
    sent = [0]
    done = threading.Event()

    class Huge(QuietHandler):
        def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            row = b'{"cluster":"prod","connector":"' + b"x" * 100 + b'"},'
            chunk = b'{"connectors":[' + row * 10_000
            try:
                for _ in range(200):  # 200 MB in all
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    sent[0] += len(chunk)
                self.wfile.write(b"0\r\n\r\n")
            except OSError:
                pass  # the command hung up
            finally:
                done.set()

    with serving(Huge, threaded=True) as server:
        code = main(["status", "--daemon", f"http://127.0.0.1:{server.server_port}"])
        done.wait(10)
    err = capsys.readouterr().err
    assert code == 1, err
    assert "an answer larger than 1 MiB, more than any daemon's: not read further" in err, err
    assert "is --daemon the daemon's API address?" in err, err
    assert sent[0] < 20 * 1024 * 1024, f"{sent[0]} bytes were read of an answer past the limit"


def test_a_restart_answered_200_without_an_error_is_not_said_refused_with_none(
    daemon_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    class Ok(QuietHandler):
        def do_POST(self) -> None:  # noqa: N802 (the stdlib's name)
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_body(200, {"ok": True})

    with serving(Ok) as server:
        code = main(["restart", "prod", "orders", "--daemon", f"http://127.0.0.1:{server.server_port}"])
    err = capsys.readouterr().err
    assert code == 1, err
    assert "None" not in err and "refused" not in err, err
    assert f"prod/orders: answered (HTTP 200) by what answers at http://127.0.0.1:{server.server_port}, not by the daemon" \
        in err, err
    assert err.rstrip().endswith(json.dumps({"ok": True})), err
