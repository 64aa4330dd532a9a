"""The process's signals: SIGTERM and SIGINT stop the daemon in order, SIGHUP reloads its config."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .app import Daemon


async def run_until_signalled(daemon: Daemon, early_reloads: Sequence[int] = ()) -> int:
    """Run the daemon until SIGTERM or SIGINT, then shut down in order and return 0; reload on
    SIGHUP. `early_reloads`: SIGHUPs noted before this handler was in place (cli._hold_sighup),
    checked once it is, so that none is lost: then one reload."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    reloads: set[asyncio.Task[bool]] = set()

    def reload() -> None:
        task = loop.create_task(daemon.reload("SIGHUP"))
        reloads.add(task)
        task.add_done_callback(reloads.discard)

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGHUP, reload)
    try:
        # The early SIGHUPs are read once the handler above is in place (none is missed), and
        # acted on once the daemon has started (a reload needs what start builds).
        return await daemon.run(stop, on_started=reload if early_reloads else None)
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.remove_signal_handler(sig)
