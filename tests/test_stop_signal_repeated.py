"""A stop signal delivered twice at once is one stop, not "Ctrl-C again".

coreutils `timeout` signals its command and then its whole process group (and supervisors that
kill a group and the process alike do the same), a few milliseconds apart: taken as a hurry, one
`timeout 300 watchdog run` cut the drain of calls on the wire from the configured 5 s to 0.4 s
(probe_ledger, 2026-12-08). A second signal half a second or more after the first still hurries
(tests/test_shutdown_process.py::test_a_second_signal_cuts_the_drain_short runs it on a process)."""

from __future__ import annotations

import asyncio
from typing import Any, cast

from structlog.testing import capture_logs

from watchdog.signals import REPEATED_SIGNAL_SECONDS, stop_then_hurry


class _Daemon:
    def __init__(self) -> None:
        self.hurried = 0

    def hurry(self) -> None:
        self.hurried += 1


async def test_a_signal_repeated_at_once_is_the_same_stop_and_a_later_one_hurries() -> None:
    now = [100.0]
    stop, daemon = asyncio.Event(), _Daemon()
    signalled = stop_then_hurry(stop, cast(Any, daemon), clock=lambda: now[0])
    with capture_logs() as logs:
        signalled()
        assert stop.is_set() and daemon.hurried == 0
        now[0] += 0.004  # the process group's copy of the same SIGTERM
        signalled()
        assert daemon.hurried == 0, "the same stop delivered twice cut the drain short"
        assert [e["event"] for e in logs] == ["stop_signal_repeated"]
        now[0] += REPEATED_SIGNAL_SECONDS  # a person's Ctrl-C again
        signalled()
    assert daemon.hurried == 1


async def test_a_signal_after_a_stop_not_made_by_a_signal_hurries_at_once() -> None:
    # `run --once` sets the stop itself when its pass ends (once.py): a signal then hurries the drain.
    stop, daemon = asyncio.Event(), _Daemon()
    signalled = stop_then_hurry(stop, cast(Any, daemon), clock=lambda: 0.0)
    stop.set()
    signalled()
    assert daemon.hurried == 1
