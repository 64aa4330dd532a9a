"""What `watchdog restart`, `status` and `history` with --daemon exit with, as a script relies on
it: 2 nothing could be sent (the command line, the token), 75 nothing was done and the same
command may work later (the daemon not reached, or answering 429 or 503), 1 refused or failed."""

from __future__ import annotations

import asyncio
import socket

import pytest

from watchdog.cli import main
from watchdog.simulator import Scenario, Simulator

from .support import daemon_config, served, sim_scenario, until

TOKEN = "cli-exit-token-5f0a9e3d"


async def test_a_script_can_tell_a_request_to_send_again_later_from_one_refused(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A deploy pipeline asking for a restart, and asking again a minute later when it may work:
    # the daemon not reached (a rollout), its queue full (429), a daemon that cannot take it now
    # (503) and a connector that does not exist all exited 1, so the pipeline either retried a
    # typo for ever or gave up on a restart a minute would have let through.
    from watchdog.app import Daemon

    faults = [{"match": {"endpoint": "restart", "connector": "orders"},
               "action": {"status": 429, "headers": {"Retry-After": "3600"}}}]
    simulator = Simulator(Scenario.model_validate(sim_scenario([{"name": "orders"}, {"name": "billing"}], faults=faults)))
    heal = {"name": "heal", "trigger": {"type": "status"}, "select": {"include": ["*"]}}
    monkeypatch.setenv("WATCHDOG_SERVER__AUTH_TOKEN", TOKEN)

    def run(*command: str) -> tuple[int, str]:
        code = main(list(command))
        said = capsys.readouterr()
        return code, said.out + said.err

    async with served(simulator) as url:
        daemon = Daemon(daemon_config([heal], base_url=url, token=TOKEN, queue={"max_jobs_per_lane": 1, "shutdown_deadline": 0.2}))
        await daemon.start()
        try:
            await until(lambda: daemon.pollers["prod"].first_poll_done, "a first poll")
            at = f"http://127.0.0.1:{daemon.bound_port}"
            # orders' restart answered 429 for an hour: it holds the lane's one place.
            held = await asyncio.to_thread(run, "restart", "prod", "orders", "--daemon", at, "--wait", "0")
            full = await asyncio.to_thread(run, "restart", "prod", "billing", "--daemon", at)
            unknown = await asyncio.to_thread(run, "restart", "prod", "ordres", "--daemon", at)
            monkeypatch.delenv("WATCHDOG_SERVER__AUTH_TOKEN")
            no_token = [await asyncio.to_thread(run, command, "--daemon", at) for command in ("status", "history")]
            monkeypatch.setenv("WATCHDOG_SERVER__AUTH_TOKEN", TOKEN)
        finally:
            await daemon.stop()
    assert held[0] == 1 and "still queued after 0s" in held[1], held
    assert full == (75, full[1]) and "HTTP 429" in full[1] and "queue is full" in full[1], full
    assert unknown[0] == 1 and "HTTP 404" in unknown[1], unknown
    # No token: nothing can be sent, as `restart --daemon` says it (2); `status` and `history` said 1.
    assert [code for code, _ in no_token] == [2, 2], no_token
    assert all("no token" in err for _, err in no_token), no_token

    with socket.socket() as free:  # where no daemon listens (stopped, or a rollout under way)
        free.bind(("127.0.0.1", 0))
        gone = f"http://127.0.0.1:{free.getsockname()[1]}"
    for command in (["restart", "prod", "orders"], ["status"], ["history"]):
        code, err = run(*command, "--daemon", gone)
        assert code == 75 and "cannot reach the daemon" in err, (command, code, err)



async def test_a_restart_a_daemon_in_dry_run_did_not_send_is_said_so_and_not_taken_for_done(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The runbook's "restart the important connectors by hand" during an incident in dry-run
    # (WATCHDOG_DRY_RUN=true): `watchdog restart --daemon` printed "prod/orders: dry_run; request
    # ...", exit 0, read by an operator and a deploy script alike as done, where nothing was sent.
    from watchdog.app import Daemon

    simulator = Simulator(Scenario.model_validate(sim_scenario([{"name": "orders"}])))
    heal = {"name": "heal", "trigger": {"type": "status"}, "select": {"include": ["*"]}}
    monkeypatch.setenv("WATCHDOG_SERVER__AUTH_TOKEN", TOKEN)
    async with served(simulator) as url:
        daemon = Daemon(daemon_config([heal], base_url=url, token=TOKEN, dry_run=True))
        await daemon.start()
        try:
            await until(lambda: daemon.pollers["prod"].first_poll_done, "a first poll")
            at = f"http://127.0.0.1:{daemon.bound_port}"
            code = await asyncio.to_thread(main, ["restart", "prod", "orders", "--daemon", at])
        finally:
            await daemon.stop()
    out = capsys.readouterr().out
    assert code == 1, out
    assert "prod/orders: dry_run (not sent: the daemon runs in dry-run); request " in out, out
    assert simulator.restarts(accepted_only=False) == []
