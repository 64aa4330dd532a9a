"""A stalled rule judges a connector only once it has run, unrestarted, through `grace` and the
three windows ending `delay` ago (46 minutes with the defaults): a new daemon, a new connector or
one restarted judges nothing meanwhile. Only a log line said so (`stall_checks_judge_from`, and
only where the state store could not give the times back): a rule whose alert watches metrics
looked silent. `watchdog_stall_connectors_waiting{cluster, rule}` counts them at each check, and
/readyz names each rule and cluster that waits, with when the first of them is judged."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx

from watchdog.server import create_app

from .support import CLUSTER, World
from .test_stalled import CONNECTORS, DELAY, GRACE, run, world

# grace, delay, three windows of 300 s, and a point's step (running_seed.judged_from)
FIRST_JUDGED = GRACE + DELAY + 3 * 300 + 60


# Connectors that never stall: none is restarted, so none waits again after its first wait.
STEADY = [c for c in CONNECTORS if "stall_at" not in c.get("script", {})]


async def _readyz(w: World) -> dict[str, Any]:
    app = create_app(w.daemon.metrics.registry, w.daemon.probes)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://daemon") as http:
        answer: dict[str, Any] = (await http.get("/readyz")).json()
    return answer


def _waiting(w: World) -> float:
    return w.sample("watchdog_stall_connectors_waiting", cluster=CLUSTER, rule="stalled")


async def test_connectors_a_stalled_rule_cannot_judge_yet_are_counted_and_shown_by_readyz() -> None:
    w = world(STEADY)
    start = w.clock.wall()
    await run(w, 600)  # ten checks, none of which may judge a connector yet

    assert _waiting(w) == len(STEADY) == 3, "every RUNNING connector the rule selects waits"
    said_ready = await _readyz(w)
    [said] = said_ready["stall_checks_waiting"]
    assert said["rule"] == "stalled" and said["cluster"] == CLUSTER and said["connectors"] == len(STEADY), said
    first = datetime.fromisoformat(said["judged_from"])
    assert start + timedelta(seconds=FIRST_JUDGED - 60) <= first <= start + timedelta(seconds=FIRST_JUDGED + 60), first
    assert w.total("watchdog_stall_checks_total") == 0, "nothing judged meanwhile"

    await run(w, FIRST_JUDGED)  # past it: each check judges them
    assert _waiting(w) == 0
    assert w.total("watchdog_stall_checks_total") > 0
    assert "stall_checks_waiting" not in await _readyz(w), "said only while a rule waits"
    await w.daemon.stop()


async def test_a_connector_restarted_for_a_stall_waits_again_and_is_counted() -> None:
    w = world()
    await run(w, 1800)  # orders-source and billing-sink stall at 600 s and are restarted
    restarted = {c.connector for c in w.simulator.restarts()}
    assert restarted, "the stalls were restarted"
    # The last check's windows begin before those restarts: they wait for windows after them.
    assert _waiting(w) == len(restarted), (restarted, _waiting(w))
    await w.daemon.stop()
