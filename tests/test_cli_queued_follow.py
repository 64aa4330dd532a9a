"""`watchdog restart --daemon URL --wait N` of a restart still queued after N s names the commands
that follow it, not only the API's route."""

from __future__ import annotations

import asyncio
import re
import shlex

import pytest

from watchdog.cli import main
from watchdog.simulator import Scenario, Simulator

from .support import CLUSTER, daemon_config, served, sim_scenario, until

TOKEN = "cli-queued-follow-token-5f0a9e3d"


async def test_a_restart_still_queued_names_the_commands_that_follow_it(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Before: `prod/orders: still queued after 0s (...); follow it with GET /v1/restarts/<id>`:
    # a route, where the on-call wants a command to paste.
    from watchdog.app import Daemon

    faults = [{"match": {"endpoint": "restart", "connector": "orders"},
               "action": {"status": 429, "headers": {"Retry-After": "3600"}}}]
    simulator = Simulator(Scenario.model_validate(sim_scenario([{"name": "orders"}], faults=faults)))
    heal = {"name": "heal", "trigger": {"type": "status"}, "select": {"include": ["*"]}}
    monkeypatch.setenv("WATCHDOG_SERVER__AUTH_TOKEN", TOKEN)

    def run(*command: str) -> tuple[int, str]:
        code = main(list(command))
        return code, capsys.readouterr().out

    async with served(simulator) as url:
        daemon = Daemon(daemon_config([heal], base_url=url, token=TOKEN, queue={"shutdown_deadline": 0.2}))
        await daemon.start()
        try:
            await until(lambda: daemon.pollers[CLUSTER].first_poll_done, "a first poll")
            at = f"http://127.0.0.1:{daemon.bound_port}"
            capsys.readouterr()
            code, out = await asyncio.to_thread(run, "restart", CLUSTER, "orders", "--daemon", at, "--wait", "0")
            status = f"watchdog status --daemon {at} --cluster {CLUSTER}"
            history = f"watchdog history orders --daemon {at} --cluster {CLUSTER}"
            pasted = await asyncio.to_thread(run, *shlex.split(status)[1:])
        finally:
            await daemon.stop()
    assert code == 1, out
    line = next(line for line in out.splitlines() if line.startswith(f"{CLUSTER}/orders: still queued after 0s"))
    assert re.search(r"; request [0-9a-f]{16}: ", line), line
    assert f"`{status}` shows it held (queued) until it is sent, `{history}` its outcome once made" in line, line
    assert "(the API: GET /v1/restarts/" in line, line
    # The status command, pasted, shows it so.
    assert pasted[0] == 0 and "held: queued" in pasted[1], pasted
