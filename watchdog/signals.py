"""The process's signals: SIGTERM and SIGINT stop the daemon in order, SIGHUP reloads its config;
the log's reader going away (a broken pipe) stops it as SIGTERM does."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from .logs import get_logger, on_log_reader_gone

if TYPE_CHECKING:
    from .app import Daemon

log = get_logger("watchdog.app")


def on_signals(loop: asyncio.AbstractEventLoop, handlers: dict[int, Callable[[], None]]) -> Callable[[], None]:
    """Call each handler on the loop when its signal comes; returns what puts the defaults back.

    Python-level handlers, not loop.add_signal_handler: asyncio learns of a signal only from the
    byte its C handler writes to the loop's wakeup socket, and a burst of signals that fills that
    socket loses the bytes after it. A SIGTERM right after a shell loop's 600 SIGHUPs (a reloader
    sidecar gone wrong) was never seen: the daemon ran on until the orchestrator's SIGKILL cut its
    drain, and each lost byte printed an "Exception ignored ... signal wakeup fd" traceback into
    the JSON log. A Python-level handler runs for every signal the process takes, whatever that
    socket holds: the interpreter keeps a flag per signal, which no burst can overflow (a burst of
    one signal may be merged into one call, as the kernel itself merges them). It runs in the
    main thread between two bytecodes, so it only hands the handler to the loop."""

    pending: set[int] = set()  # signals handed to the loop whose handler has not run yet

    def ran(signum: int) -> None:
        pending.discard(signum)  # first: the same signal while its handler runs is handed over again
        handlers[signum]()

    def handed(signum: int, frame: object) -> None:
        # Runs between two bytecodes of whatever the main thread does, and again, nested, for a
        # signal that comes while it runs: handing each one over, a burst of 10,000 SIGHUPs nested
        # it past the recursion limit, and the RecursionError went into the interrupted code (CI,
        # 2026-12-06). A signal handed over and not yet run takes the next one of its kind into
        # it, as the kernel merges a pending signal, so the nesting stays a level per signal.
        if signum in pending:
            return
        pending.add(signum)
        loop.call_soon_threadsafe(ran, signum)

    for signum in handlers:
        signal.signal(signum, handed)
        # Restart the system calls a signal interrupts (SA_RESTART), as add_signal_handler does:
        # Python retries its own (PEP 475), but a library's call in another thread (SQLite, a
        # driver) may not, and a storm of SIGHUPs would fail it with EINTR.
        signal.siginterrupt(signum, False)

    def put_back() -> None:
        for signum in handlers:
            # What loop.remove_signal_handler put back: Ctrl-C raises KeyboardInterrupt again.
            signal.signal(signum, signal.default_int_handler if signum == signal.SIGINT else signal.SIG_DFL)

    return put_back


# A second stop signal this soon after the first is the same stop delivered twice, not a person
# asking to hurry: coreutils `timeout` signals its command and then its whole process group, and
# supervisors that kill a group and the process alike do the same, a few milliseconds apart. Taken
# as "Ctrl-C again", one `timeout 300 watchdog run` cut the drain of calls on the wire from the
# configured 5 s to 0.4 s (probe_ledger, 2026-12-08). A person pressing Ctrl-C twice within half a
# second can press it again; a hurried stop cannot be taken back.
REPEATED_SIGNAL_SECONDS = 0.5


def stop_then_hurry(stop: asyncio.Event, daemon: Daemon,
                    clock: Callable[[], float] = time.monotonic) -> Callable[[], None]:
    """SIGTERM or SIGINT: the first stops the daemon in order (its queue drains for
    queue.shutdown_deadline); another while it stops cuts the drain short (Daemon.hurry). A
    second Ctrl-C did nothing, and the terminal waited out the deadline and the grace. One within
    REPEATED_SIGNAL_SECONDS of the first is the same stop delivered twice: said, not a hurry."""
    first: list[float] = []

    def signalled() -> None:
        if not stop.is_set():
            first.append(clock())
            stop.set()
        elif first and clock() - first[0] < REPEATED_SIGNAL_SECONDS:
            log.info("stop_signal_repeated", within_seconds=REPEATED_SIGNAL_SECONDS,
                     note="another stop signal right after the first: the same stop delivered twice (a process "
                          "group's signal, as `timeout` sends), not a hurry; the drain goes on. Send it again to "
                          "cut the drain short")
        else:
            daemon.hurry()

    return signalled


async def run_until_signalled(daemon: Daemon, early: Sequence[int] = ()) -> int:
    """Run the daemon until SIGTERM or SIGINT, then shut down in order and return 0; reload on
    SIGHUP. `early`: signals noted before these handlers were in place (cli.hold_early_signals),
    read once they are, so that none is lost: SIGHUPs make one reload, a SIGTERM stops at once."""
    stop = asyncio.Event()
    if signal.SIGTERM in early:
        stop.set()
    loop = asyncio.get_running_loop()

    def reload() -> None:
        # Kept by the daemon until it ends: the stop ends one still reading its file, and it says so.
        daemon.reload_soon("SIGHUP")

    def reader_gone() -> None:
        # The log's pipe is broken (`watchdog run | head`, a restarted journald): a daemon that can
        # no longer show what it does stops as at SIGTERM, keeping what it leaves unsent, and the
        # command exits 141 so that a supervisor starts it again with a stream that works.
        if not stop.is_set():
            log.warning("log_reader_gone", note="the reader of the log went away (a broken pipe): stopping as at "
                        "SIGTERM; the log goes on on stderr while it stops")
            stop.set()

    stopping = stop_then_hurry(stop, daemon)
    put_back = on_signals(loop, {signal.SIGTERM: stopping, signal.SIGINT: stopping, signal.SIGHUP: reload})
    stop_listening = on_log_reader_gone(lambda: loop.call_soon_threadsafe(reader_gone))
    try:
        # The early SIGHUPs are read once the handler above is in place (none is missed), and
        # acted on once the daemon has started (a reload needs what start builds).
        return await daemon.run(stop, on_started=reload if signal.SIGHUP in early else None)
    finally:
        stop_listening()
        put_back()


async def run_once_until_signalled(daemon: Daemon, early: Sequence[int] = ()) -> int:
    """`run --once` with SIGTERM and SIGINT taken as the daemon takes them: the pass ends and its
    queue drains (Daemon.run_once), another signal cuts the drain short. `early`: as for
    run_until_signalled (a SIGHUP changes nothing in a single pass)."""
    stop = asyncio.Event()
    if signal.SIGTERM in early:
        stop.set()
    stopping = stop_then_hurry(stop, daemon)
    put_back = on_signals(asyncio.get_running_loop(), {signal.SIGTERM: stopping, signal.SIGINT: stopping})
    try:
        return await daemon.run_once(stop)
    finally:
        put_back()
