"""A schedule rule over several clusters: one broken cluster must not hold the others' run.

Five clusters, as a fleet has them on a bad night: `a` on a revoked key (401), `b` on a key
answering 429 with `Retry-After: 3600`, `c` whose Connect API takes every call and never answers,
`d` on a key of its own and `e` sharing `d`'s key, both healthy. The rule's run must restart
`d`'s and `e`'s connectors at its time, whatever the broken ones do meanwhile.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pydantic import SecretStr
from structlog.testing import capture_logs

from watchdog.config import Credential, build_config

from .support import ENVIRONMENT, HeldCalls, in_process, until

KEYS = {"ka": "lkc-a", "kb": "lkc-b", "kc": "lkc-c", "kd": None}
CLUSTERS = {"a": "ka", "b": "kb", "c": "kc", "d": "kd", "e": "kd"}  # cluster -> its credential


def fleet(faults: list[dict[str, Any]], *, revoked: str = "ka") -> Any:
    scenario = {
        "api_keys": [{"id": key, "secret": f"secret-{key}"} for key in KEYS],
        "environments": [{"id": ENVIRONMENT, "clusters": [
            {"id": f"lkc-{name}", "connectors": [{"name": f"{name}-sink"}]} for name in CLUSTERS
        ]}],
        "restart": {"delay_seconds": 0},
        "faults": faults,
    }
    nightly = {"name": "nightly", "trigger": {"type": "schedule", "cron": "0 3 * * *"}, "select": {"include": ["*"]}}
    data = {
        "api": {"base_url": "http://sim"},
        "credentials": {key: {} for key in KEYS},
        "clusters": {name: {"environment_id": ENVIRONMENT, "kafka_cluster_id": f"lkc-{name}", "credential": key}
                     for name, key in CLUSTERS.items()},
        "server": {"host": "127.0.0.1", "port": 0},
        "state": {"path": ":memory:"},
        "rules": [nightly],
    }
    secrets = {"credentials": {
        key: Credential(api_key=SecretStr(key), api_secret=SecretStr("wrong" if key == revoked else f"secret-{key}"))
        for key in KEYS
    }}
    w = in_process(scenario, build_config(data, "test config", secrets=secrets))
    w.daemon.queue.start()
    return w


@pytest.mark.parametrize("broken", ["429 with Retry-After 3600", "listing that never answers"])
async def test_a_schedule_run_restarts_the_healthy_clusters_while_a_broken_ones_listing_waits(broken: str) -> None:
    # Before, the run listed its clusters one after the other: `b`'s listing waited out its key's
    # 429 pause (rate_limit.max_pause, 15 minutes), then was tried again until the 5-minute grace
    # of the run, then `c`'s took its 30 s timeout, and only then were `d` and `e` listed: their
    # nightly restarts went out more than 15 minutes late (a maintenance window closed by then),
    # and the next run of a rule every few minutes was skipped as still running.
    faults = [{"name": "c-hangs", "match": {"api_key": "kc"}, "action": {"delay_seconds": 3600}}]
    if broken.startswith("429"):
        faults.append({"name": "b-429", "match": {"api_key": "kb"},
                       "action": {"status": 429, "headers": {"Retry-After": "3600"}}})
    w = fleet(faults)
    held = HeldCalls(w, "lkc-b") if broken.startswith("listing") else None
    run = asyncio.create_task(w.daemon.run_schedule_rule("nightly"))
    try:
        with capture_logs() as logs:
            await until(lambda: {c.connector for c in w.simulator.restarts()} >= {"d-sink", "e-sink"},
                        "the healthy clusters' scheduled restarts sent", timeout=10)
        assert not run.done(), "the run still waits for the broken clusters' listings"
        assert {c.connector for c in w.simulator.restarts()} == {"d-sink", "e-sink"}
        skipped = [e for e in logs if e["event"] == "scheduled_restart_skipped"]
        assert [e["cluster"] for e in skipped] == ["a"] and "unauthorized" in skipped[0]["reason"], skipped
    finally:
        if held is not None:
            held.release()
        run.cancel()
        await asyncio.gather(run, return_exceptions=True)
        await w.daemon.stop()
