"""Discovery's list calls go through the key's lane with every poll and restart, and on Confluent
Cloud that lane sends one call at a time while no rate limit is known (ratelimit/state.py): a
cmk/v2 that took the calls and never answered (the control plane slow while the Connect API was
well) held every poll and restart of the key for api.timeouts.total (30 s) per environment, at
every 30-second retry (found 2026-12-03 against a fake Confluent on loopback: with two
environments, no poll for 60 s of every 70 s, 48 `max_instances` warnings in four minutes).

On virtual time (bench/virtualtime.py): the hanging answer waits an hour of the loop's clock,
and only the daemon's own waiting takes time."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import httpx
import structlog

from bench import virtualtime
from bench.fixtures import wall_clock
from watchdog.discovery.client import DISCOVERY_CALL_SECONDS

from .test_discovery import config_data, make_config

ENVIRONMENTS = ["env-a", "env-b", "env-c", "env-d"]


class FakeCloud:
    """Confluent Cloud as a bare handler: four environments, one PROVISIONED cluster in each
    listed ones' `clusters`, every connector list empty; the cluster lists of `hanging`
    environments take the call and never answer."""

    def __init__(self) -> None:
        self.clusters: dict[str, list[str]] = {e: [f"lkc-{e[-1]}1"] for e in ENVIRONMENTS}
        self.hanging: set[str] = set()
        self.asked: list[str] = []

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/org/v2/environments":
            return httpx.Response(200, json={"metadata": {}, "data": [{"id": e, "display_name": e} for e in ENVIRONMENTS]})
        if path == "/cmk/v2/clusters":
            environment = request.url.params["environment"]
            self.asked.append(environment)
            if environment in self.hanging:
                await asyncio.sleep(3600)
            return httpx.Response(200, json={"metadata": {"next": None}, "data": [
                {"id": c, "spec": {"display_name": c, "environment": {"id": environment}}, "status": {"phase": "PROVISIONED"}}
                for c in self.clusters[environment]]})
        return httpx.Response(200, json={})


def _daemon(cloud: FakeCloud) -> Any:
    from watchdog.app import Daemon

    loop = asyncio.get_running_loop()
    return Daemon(make_config(config_data({})), transport=httpx.MockTransport(cloud), clock=loop.time,
                  now=wall_clock(loop), rng=random.Random(1).random)


async def _a_cmk_that_never_answers() -> tuple[float, float, list[str], Any, list[Any]]:
    loop = asyncio.get_running_loop()
    cloud = FakeCloud()
    daemon = _daemon(cloud)
    assert await daemon.refresh_discovery() is True
    assert sorted(daemon.fleet.watched) == ["lkc-a1", "lkc-b1", "lkc-c1", "lkc-d1"]
    cloud.hanging = set(ENVIRONMENTS)
    cloud.asked.clear()
    with structlog.testing.capture_logs() as logs:
        began = loop.time()
        refresh = asyncio.create_task(daemon.refresh_discovery())
        await asyncio.sleep(1)  # the refresh's first list call is out
        await daemon.pollers["lkc-a1"].poll()  # a poll due meanwhile
        polled = loop.time() - began
        assert await refresh is False
        refreshed = loop.time() - began
    last = daemon.fleet.last
    await daemon.stop()
    return polled, refreshed, cloud.asked, last, logs


def test_a_cluster_list_that_never_answers_holds_the_keys_polls_only_briefly() -> None:
    polled, refreshed, asked, last, logs = virtualtime.run(_a_cmk_that_never_answers())
    assert polled <= DISCOVERY_CALL_SECONDS + 1, f"the poll waited {polled:.0f} s behind discovery's list calls"
    assert refreshed <= DISCOVERY_CALL_SECONDS + 1, f"the refresh held the key's lane {refreshed:.0f} s"
    assert asked == ["env-a"], "the environments after one that got no answer are not asked this refresh"
    # Nothing is dropped or forgotten: every environment is unread, every cluster stays.
    assert last.result == "failed"
    assert {r.environment.id: r.outcome.value for r in last.sweep.results} == dict.fromkeys(ENVIRONMENTS, "unknown")
    assert [r.detail for r in last.sweep.results if r.environment.id == "env-b"][0].startswith(
        "not asked: the cluster list of env-a got no answer")
    unreadable = [e for e in logs if e["event"] == "discovery_environment_unreadable" and e["log_level"] == "warning"]
    assert [e["environment"] for e in unreadable] == ["env-a"], "said once, for the one that hung"
    assert f"within {DISCOVERY_CALL_SECONDS:g}s" in unreadable[0]["message"]


async def _one_environment_that_never_answers() -> list[tuple[list[str], list[str]]]:
    cloud = FakeCloud()
    daemon = _daemon(cloud)
    assert await daemon.refresh_discovery() is True
    cloud.hanging = {"env-a"}
    rounds = []
    for new in ("lkc-b2", "lkc-c2", "lkc-d2"):  # a cluster created in env-b, then in env-c, then env-d
        cloud.clusters[f"env-{new[4]}"].append(new)
        cloud.asked.clear()
        assert await daemon.refresh_discovery() is False
        rounds.append((cloud.asked[:], sorted(daemon.fleet.watched)))
    await daemon.stop()
    return rounds


def test_an_environment_whose_list_never_answers_is_asked_last_and_starves_no_other() -> None:
    rounds = virtualtime.run(_one_environment_that_never_answers())
    # The first refresh after it began to hang met it first (environments go in id order).
    assert rounds[0][0] == ["env-a"]
    # From then on it is asked after every other: each refresh reads the rest, finds what is new.
    assert rounds[1][0] == ["env-b", "env-c", "env-d", "env-a"]
    assert rounds[2][0] == ["env-b", "env-c", "env-d", "env-a"]
    assert rounds[2][1] == ["lkc-a1", "lkc-b1", "lkc-b2", "lkc-c1", "lkc-c2", "lkc-d1", "lkc-d2"]
