"""The `watchdog` command line. One job per file:

    parser.py          every command's arguments, defaults and help (argparse)
    commands.py        what each command runs, and its exit code
    common.py          what every command shares: exit codes, loading the config, logging set-up
    daemon.py          asking a running daemon (`--daemon URL`): its address, its token, its refusals
    standby_hint.py    the command a standby's answer says to run in the leader's pod (`kubectl -n NS exec`)
    bounded.py         each call to --daemon bounded as a whole: its time, its answer's size
    daemon_restart.py  `watchdog restart --daemon URL`, followed to its end
    reports.py         `watchdog status` and `watchdog history`
    reload_note.py     `watchdog status --daemon`'s note on a reload that failed or was refused
    history_names.py   `watchdog history CONNECTOR` of a name nothing knows: said, with the close names
    summary.py         `watchdog check-config`'s summary

This module imports nothing heavy, so that `watchdog run` notes SIGHUP and SIGTERM from its
first moment (hold_early_signals): importing the commands' modules takes half a second and more,
and the daemon's about as much again.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Sequence
from typing import Any

__all__ = ["build_parser", "hold_early_signals", "main", "summarize"]


def main(argv: Sequence[str] | None = None) -> int:
    given = list(sys.argv[1:] if argv is None else argv)
    try:
        return _main(argv, given)
    except KeyboardInterrupt:
        # Ctrl-C while the commands' modules are still imported (a second or two on a busy
        # machine: wrong command, wrong cluster) ended in a Python traceback. Once a command
        # runs, commands.py says what was cut short; here nothing has begun.
        return _interrupted_before_start(given[0] if given[:1] and given[0] in _COMMANDS else "")


# Exit codes as in commands.py (not imported from there: that import is what was cut short).
_EXIT_OK = 0
_EXIT_INTERRUPTED = 130  # 128 + SIGINT
_STOPPED_BY_CTRL_C = frozenset({"run", "simulate", "demo"})
_COMMANDS = frozenset({"run", "check-config", "restart", "status", "history", "simulate", "demo"})


def _interrupted_before_start(command: str) -> int:
    if command in _STOPPED_BY_CTRL_C:
        print(f"watchdog {command}: stopped by Ctrl-C (SIGINT) before it started: nothing was polled or sent",
              file=sys.stderr)
        return _EXIT_OK
    done = "nothing was sent" if command == "restart" else "nothing was done"
    print(f"watchdog{' ' + command if command else ''}: interrupted (Ctrl-C) before it started: {done}",
          file=sys.stderr)
    return _EXIT_INTERRUPTED


def _main(argv: Sequence[str] | None, given: list[str]) -> int:
    if given[:1] != ["run"] or threading.current_thread() is not threading.main_thread():
        from .commands import main as command

        return command(argv)
    # The handlers found are put back when `run` returns (an embedding process, a test suite:
    # a SIGTERM noted for a daemon that is gone would be a SIGTERM ignored).
    previous = {signum: signal.getsignal(signum) for signum in (signal.SIGHUP, signal.SIGTERM)}
    held = hold_early_signals()
    try:
        from .commands import main as command

        return command(argv, early_signals=held)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def hold_early_signals() -> list[int]:
    """Until the daemon's own handlers are in place, SIGHUP (a reload asked for) and SIGTERM are
    noted. SIGHUP's default action ends the process, and a config management tool that sent one
    right after starting the daemon killed it without a line of log (exit 129: they were held only
    once the daemon's modules were imported, up to 1.5 s on a busy machine); SIGTERM's is ignored
    in PID 1 of a container, so a stop then waited for the engine's SIGKILL. The list collects
    them: a SIGTERM held ends `run` before the daemon starts (exit 0), SIGHUPs make one reload
    once it has started, since the file may have changed after it was read (signals.py). In the
    main thread only (signals can be handled nowhere else)."""
    held: list[int] = []
    for signum in (signal.SIGHUP, signal.SIGTERM):
        signal.signal(signum, lambda signum, frame: held.append(signum))
    return held


def __getattr__(name: str) -> Any:
    # Imported when first asked for, not with this module (see above).
    if name == "build_parser":
        from .commands import build_parser

        return build_parser
    if name == "summarize":
        from .summary import summarize

        return summarize
    raise AttributeError(name)
