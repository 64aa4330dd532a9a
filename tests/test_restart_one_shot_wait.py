"""`watchdog restart` without a daemon, whose restart call the API asks to wait for (a 429 or a
503 with a Retry-After of minutes): it waits at most 30 s (restart_wait.py), then withdraws the
restart, says why and for how long the API asked to wait, keeps nothing in the state file, and
exits 75. Before, it waited the key's pause out, up to rate_limit.max_pause (15 minutes) per
answer, saying nothing on stdout; cut short it said the restart "may or may not have been sent",
and the state file kept the request for whichever daemon started on it next (a probe,
2026-12-06)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import yaml

from watchdog.cli import main
from watchdog.engine import MANUAL_RULE
from watchdog.model import ConnectorKey, Outcome, Trigger
from watchdog.simulator import Scenario, Simulator
from watchdog.state import SqliteStateStore

from .support import (
    CLUSTER,
    CLUSTER_ID,
    ENVIRONMENT,
    daemon_config,
    in_process,
    served,
    sim_scenario,
    until,
)


def _config(tmp_path: Path, url: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({
        "api": {"base_url": url},
        "credentials": {"main": {}},
        "clusters": {"prod": {"environment_id": ENVIRONMENT, "kafka_cluster_id": CLUSTER_ID}},
        "state": {"path": str(tmp_path / "state.db")},
        "queue": {"shutdown_deadline": "20s"},
    }))
    return path


@pytest.mark.parametrize("answer", [
    {"status": 429, "headers": {"Retry-After": "600"}},
    {"status": 503, "headers": {"Retry-After": "120"}, "body": {"error": {"code": 503, "message": "maintenance"}}},
])
async def test_a_restart_the_api_asks_to_wait_minutes_for_is_withdrawn_said_and_not_kept(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], credentials_env: None, answer: dict[str, object]
) -> None:
    faults = [{"match": {"endpoint": "restart"}, "action": answer}]
    simulator = Simulator(Scenario.model_validate(sim_scenario([{"name": "orders"}], faults=faults)))
    loop = asyncio.get_running_loop()
    async with served(simulator) as url:
        path = _config(tmp_path, url)
        began = loop.time()
        code = await asyncio.to_thread(main, ["restart", "prod", "orders", "--config", str(path), "--log-level", "ERROR"])
        took = loop.time() - began
    out = capsys.readouterr().out
    assert code == 75, out  # nothing was done, and the same command may work later
    # A wait that cannot end within the 30 s is not begun: withdrawn at the answer.
    assert took < 15, f"waited {took:.0f} s; the API asked for {answer['headers']}"
    assert "prod/orders: cancelled" in out and "not sent:" in out, out
    assert "this command waits at most 30 s and keeps nothing, the pause included: run it again once that wait has passed" in out, out
    if answer["status"] == 429:
        assert "it would wait 6" in out and "paused by a 429" in out, out  # and for how long
    else:
        assert "it would wait 120 s more (waiting for its next try, 120 s after the last one was answered HTTP 503" \
               " (maintenance) (its Retry-After" in out, out
    assert "may or may not have been sent" not in out
    with SqliteStateStore(tmp_path / "state.db") as store:
        assert store.pending() == [], "nothing is kept for the next daemon started on the file"
    assert [c.endpoint for c in simulator.calls].count("restart") == 1, "one call, answered: not sent again"


async def test_a_daemons_restart_waiting_for_a_retry_the_api_asked_for_says_so_with_the_apis_words() -> None:
    # GET /v1/restarts/{id} said `"message": ""` and status "queued, not sent yet" for a restart a
    # 503's Retry-After held for 15 minutes: only an info log line said it waited.
    faults = [{"match": {"endpoint": "restart"}, "when": {"count": 1},
               "action": {"status": 503, "headers": {"Retry-After": "2"}, "body": {"error": {"code": 503, "message": "maintenance"}}}}]
    heal = {"name": "heal", "trigger": {"type": "status"}, "select": {"include": ["*"]}}
    w = in_process(sim_scenario([{"name": "orders"}], faults=faults), daemon_config([heal]))
    await w.daemon.pollers[CLUSTER].poll()
    w.daemon.queue.start()
    key = ConnectorKey(CLUSTER, "orders")
    record = w.daemon.engine.on_request(key, w.daemon.engine.statuses[key], trigger=Trigger.MANUAL, rule=MANUAL_RULE,
                                        reason="by hand")
    assert record.job is not None
    await until(lambda: record.job is not None and record.job.tries == 1 and record.job.retry_due is not None,
                "the first call answered 503")
    assert record.job.message == ("waiting for its next try, 2 s after the last one was answered HTTP 503 (maintenance) "
                                  "(its Retry-After, capped at rate_limit.max_pause)"), record.job.message
    assert 0 < w.daemon.queue.retry_in(record.job) <= 2
    await asyncio.wait_for(record.job.done.wait(), 10)
    assert record.job.outcome is Outcome.ACCEPTED and not record.job.message.startswith("waiting"), record.job.message
    await w.daemon.queue.close(1.0)
