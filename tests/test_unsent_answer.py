"""A restart left unsent at a stop says the answer its last try got: its `restart_finished` line
said `"status_code": null, "tries": 1` for a try answered 429 (an outside audit, 2026-12-06),
which read as "never answered"; only the `rate_limited` line before it had the 429."""

from __future__ import annotations

import structlog

from watchdog.model import Outcome

from .support import daemon_config, in_process, sim_scenario, until
from .test_queue import FAST_RETRIES, request


async def test_a_restart_unsent_at_a_stop_keeps_the_429_its_try_got() -> None:
    faults = [{"match": {"endpoint": "restart"}, "when": {"count": 1},
               "action": {"status": 429, "headers": {"Retry-After": "3600"}}}]
    w = in_process(sim_scenario([{"name": "orders"}], faults=faults), daemon_config([], rate_limit=FAST_RETRIES))
    job, _ = w.daemon.queue.submit(request("orders"))
    with structlog.testing.capture_logs() as logs:
        w.daemon.queue.start()
        await until(lambda: any(c.status_code == 429 for c in w.simulator.calls), "the first try answered 429")
        await w.daemon.queue.close(0)
    assert job.outcome is Outcome.UNSENT
    [finished] = [e for e in logs if e["event"] == "restart_finished"]
    assert (finished["outcome"], finished["tries"], finished["status_code"]) == ("unsent", 1, 429), finished
