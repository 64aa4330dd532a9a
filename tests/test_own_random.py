"""The daemon draws its jitters from a generator of its own, never from the `random` module's
shared one: a library or test harness that seeds that one (hypothesis does, and watches it while
it draws) must neither make replicas jitter alike nor see its own draws shift under the daemon."""

from __future__ import annotations

import random

from tests.support import daemon_config, in_process, sim_scenario
from tests.test_api import CLUSTER

JITTERED = [{"name": "heal", "trigger": {"type": "status", "confirm_polls": 1}, "select": {"include": ["*"]},
             "backoff": {"base": 60, "cap": 600, "jitter": 0.5}}]


async def test_a_daemon_restarting_with_jitter_leaves_the_shared_random_generator_alone() -> None:
    w = in_process(sim_scenario([{"name": "orders-sink", "script": {"initial": "FAILED"}}]), daemon_config(JITTERED))
    random.seed(1234)
    before = random.getstate()
    w.daemon.queue.start()
    await w.daemon.pollers[CLUSTER].poll()
    await w.daemon.queue.join()
    assert [c.connector for c in w.simulator.calls if c.endpoint == "restart"] == ["orders-sink"]
    assert random.getstate() == before, "the daemon drew from the random module's shared generator"
    await w.daemon.stop()
