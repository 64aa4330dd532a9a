"""A poll's restart still waiting out a 429 at a stop ends once, there, with what its tries got.

Before, the stopping run logged and counted it `unsent` (tries 1, HTTP 429) and kept it; the next
start ended the same job again, `dropped`, tries 0, HTTP null, "before sending it", and that false
end was what the history and the metrics kept (an outside probe, 2026-12-06)."""

from __future__ import annotations

from pathlib import Path

import structlog

from watchdog.model import Outcome
from watchdog.simulator import Scenario, Simulator
from watchdog.state import SqliteStateStore

from .support import Clock, sim_scenario
from .test_durable import BROKEN, daemon, poll, wait_until


def _counted(d: object, outcome: str) -> float:
    registry = d.metrics.registry  # type: ignore[attr-defined]
    return sum(s.value for metric in registry.collect() for s in metric.samples
               if s.name == "watchdog_restarts_total" and s.labels.get("outcome") == outcome)


async def test_a_poll_s_restart_answered_429_at_a_stop_ends_once_with_its_tries(tmp_path: Path) -> None:
    clock = Clock()
    limited = sim_scenario(BROKEN, faults=[{"match": {"endpoint": "restart"}, "when": {"count": 1},
                                            "action": {"status": 429, "headers": {"Retry-After": "3600"}}}])
    simulator = Simulator(Scenario.model_validate(limited), clock=clock.monotonic)
    first = daemon(tmp_path / "state.db", simulator, clock)
    first.config = first.config.model_copy(update={"queue": first.config.queue.model_copy(update={"shutdown_deadline": 0.2})})
    first.queue.start()
    await first.pollers["prod"].poll()
    await wait_until(lambda: any(c.status_code == 429 for c in simulator.calls), "the first try answered 429")
    with structlog.testing.capture_logs() as stop_logs:
        await first.stop()
    clock.advance(600)  # past the backoff the attempt started (HEAL: 60 s)
    second = daemon(tmp_path / "state.db", simulator, clock)
    with structlog.testing.capture_logs() as start_logs:
        recovered = second.engine.recover()
        second.queue.start()
        await poll(second)  # the first poll decides again: still FAILED, restarted (202)
    dropped = _counted(second, "dropped")
    await second.stop()

    ends = [(e["job"], e["outcome"], e["tries"], e.get("status_code"))
            for e in [*stop_logs, *start_logs] if e["event"] == "restart_finished"]
    (unsent,) = [e for e in stop_logs if e["event"] == "restart_finished"]
    assert [outcome for _, outcome, _, _ in ends] == ["unsent", "accepted"], ends
    assert len({job for job, _, _, _ in ends}) == 2, f"one end per job: {ends}"
    assert (unsent["tries"], unsent["status_code"]) == (1, 429)
    assert "tried once, not accepted (last answer HTTP 429)" in unsent["message"], unsent["message"]
    assert "the next start leaves the connector to its first poll, which decides again" in unsent["message"]
    assert unsent["note"].startswith("ended here, recorded in the history"), unsent["note"]
    assert dropped == 0, "the next start counted no second end"
    assert recovered == (0, 0), "nothing kept for this start to send or end"
    with SqliteStateStore(tmp_path / "state.db") as store:
        assert store.pending() == []
        history = [(r.job_id, r.outcome, r.tries, r.status_code) for r in reversed(store.history())]
        (record,) = [r for r in store.history() if r.outcome is Outcome.UNSENT]
    assert history == [(unsent["job"], Outcome.UNSENT, 1, 429), (ends[1][0], Outcome.ACCEPTED, 1, 202)], history
    assert record.message == unsent["message"]
