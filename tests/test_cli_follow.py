"""`watchdog restart --daemon` following its request to its outcome, across a daemon replaced."""

from __future__ import annotations

import pytest

from watchdog.cli import main

TOKEN = "cli-follow-token-5f0a9e3d"


def test_restart_follows_its_request_across_a_rollout_of_the_daemon(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # `watchdog restart --daemon URL --wait 60` while the daemon is replaced (a rollout: the old
    # one stops, the port refuses connections for a moment, the new one answers 503 while it
    # recovers the kept restarts, then knows the request): it gave up at the first refused
    # connection, "its outcome could not be followed", exit 1, the restart then made by the new
    # daemon.
    import http.server
    import threading
    import time

    from .loopback import QuietHandler

    request_id = "0123456789abcdef"
    posted = threading.Event()
    asked_of_the_new_one: list[int] = []

    class OldDaemon(QuietHandler):
        def do_POST(self) -> None:  # noqa: N802 (the stdlib's name)
            self.send_body(202, {"id": request_id, "state": "pending", "decision": "restart", "job": None})
            posted.set()

        def do_GET(self) -> None:  # noqa: N802
            self.send_body(200, {"id": request_id, "state": "pending", "decision": "restart", "job": None})

    class NewDaemon(QuietHandler):
        def do_GET(self) -> None:  # noqa: N802
            asked_of_the_new_one.append(1)
            if len(asked_of_the_new_one) == 1:  # starting: recovering the kept restarts first
                self.send_body(503, {"error": "not the leader (the daemon is starting: it recovers the restarts its "
                                              "state kept first); nothing was done; send again later", "standby": True})
                return
            self.send_body(200, {"id": request_id, "state": "finished", "decision": "restart",
                                 "job": {"outcome": "accepted", "status_code": 202}})

    monkeypatch.setenv("WATCHDOG_SERVER__AUTH_TOKEN", TOKEN)
    old = http.server.ThreadingHTTPServer(("127.0.0.1", 0), OldDaemon)
    port = old.server_port
    threading.Thread(target=old.serve_forever, daemon=True).start()
    result: list[int] = []
    command = threading.Thread(target=lambda: result.append(main(
        ["restart", "prod", "orders", "--daemon", f"http://127.0.0.1:{port}", "--wait", "30"])))
    command.start()
    assert posted.wait(10)
    time.sleep(0.7)
    old.shutdown()
    old.server_close()
    time.sleep(1.5)  # nothing listens: the command's asks are refused
    new = http.server.ThreadingHTTPServer(("127.0.0.1", port), NewDaemon)
    threading.Thread(target=new.serve_forever, daemon=True).start()
    try:
        command.join(30)
    finally:
        new.shutdown()
        new.server_close()
    said = capsys.readouterr()
    assert result == [0], said
    assert "prod/orders: accepted (HTTP 202); request 0123456789abcdef" in said.out, said
    assert len(asked_of_the_new_one) == 2


def test_restart_answered_duplicate_follows_the_restart_it_joined_across_a_rollout(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A restart asked for while one of the same connector was already queued is answered
    # `duplicate`: its outcome is the queued one's, and only that one's request is kept in the
    # state. After a rollout the next daemon knew the queued request alone: 404 for this one, and
    # the command said "its outcome could not be followed", exit 1, for the restart the next
    # daemon then made (against watchdog run on the simulator).
    import http.server
    import threading

    from .loopback import QuietHandler

    mine, queued = "0123456789abcdef", "fedcba9876543210"
    asked: list[str] = []

    class Daemon(QuietHandler):
        def do_POST(self) -> None:  # noqa: N802 (the stdlib's name)
            self.send_body(202, {"id": mine, "state": "pending", "decision": "duplicate",
                                 "job": {"id": "1111222233334444", "outcome": None, "requests": [queued]}})

        def do_GET(self) -> None:  # noqa: N802
            asked.append(self.path)
            if self.path == f"/v1/restarts/{queued}":
                self.send_body(200, {"id": queued, "state": "finished", "decision": "restart",
                                     "job": {"outcome": "accepted", "status_code": 202, "requests": [queued]}})
            else:  # the next daemon: the duplicate's id is not in the state it recovered
                self.send_body(404, {"error": f"unknown or expired request id '{mine}'"})

    monkeypatch.setenv("WATCHDOG_SERVER__AUTH_TOKEN", TOKEN)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Daemon)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        code = main(["restart", "prod", "orders", "--daemon", f"http://127.0.0.1:{server.server_port}", "--wait", "10"])
    finally:
        server.shutdown()
        server.server_close()
    said = capsys.readouterr()
    assert code == 0, said
    # Said as joined, not as a restart of its own (two operators at once were each told `accepted`
    # with their own id, nothing saying their reasons went nowhere: probe_cli, 2026-12-08).
    assert (f"prod/orders: accepted (HTTP 202); request {mine}, which joined request {queued} already queued "
            "for it: one restart for both, the first request's reason the one recorded") in said.out, said
    assert asked == [f"/v1/restarts/{mine}", f"/v1/restarts/{queued}"]
