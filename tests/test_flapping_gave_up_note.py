"""The `connector_flapping` line of a connector its rule has given up on says so: its note told
the on-call that max_restarts never stops the restarts and that they go on, while the daemon had
stopped restarting it and WatchdogConnectorGaveUp paged (probe of lifecycle, finding 3)."""

from __future__ import annotations

from structlog.testing import capture_logs

from watchdog.engine.flapping import FLAPPING_NOTE

from .support import CLUSTER, CLUSTER_ID, daemon_config, in_process, sim_scenario

RULE = {"name": "heal", "max_restarts": 2, "trigger": {"type": "status", "interval": 5, "confirm_polls": 1},
        "select": {"include": ["*"]}, "backoff": {"base": 1, "cap": 4, "jitter": 0}}
FAILED = {"initial": "FAILED", "recover_after_restarts": "never"}


async def test_the_flapping_line_of_a_connector_given_up_on_says_no_restart_goes() -> None:
    w = in_process(sim_scenario([{"name": "flap-1", "script": FAILED}]), daemon_config([RULE]), fake_time=True)
    assert w.clock is not None
    w.daemon.queue.start()
    try:
        with capture_logs() as logs:
            for poll in range(24):
                if poll >= 8:  # given up by now; it flaps, each healthy poll shorter than its gap
                    w.simulator.set_script(CLUSTER_ID, "flap-1", {"initial": "RUNNING"} if poll % 2 else FAILED)
                await w.daemon.pollers[CLUSTER].poll()
                await w.daemon.queue.join()
                w.clock.advance(5)
    finally:
        await w.daemon.queue.close(0)
    assert len(w.simulator.restarts()) == 2
    gave_up_at = next(i for i, e in enumerate(logs) if e["event"] == "gave_up")
    [flapping] = [e for e in logs if e["event"] == "connector_flapping"]
    assert logs.index(flapping) > gave_up_at
    assert flapping["gave_up"] is True
    note = flapping["note"]
    assert "given up on" in note and "restarted no more until it has stayed healthy" in note, note
    assert "they go on while this does" not in note and note != FLAPPING_NOTE
