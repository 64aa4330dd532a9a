"""Shapes Confluent's specs allow that our simulator does not play, served by the independent fake
(fake_confluent.py) on 127.0.0.1 and met by the real daemon: found sound, kept so they stay so."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from watchdog.app import Daemon
from watchdog.model import Decision, Outcome

from ..support import CLUSTER, CLUSTER_ID, daemon_config
from .fake_confluent import Fake, entry, serving, spec_example_entries
from .test_once_unread import LIST_PATH, STATUS_RULE


async def test_the_spec_s_own_list_example_restarts_nothing() -> None:
    """connect/v1's example: a FAILED connector with no tasks and the trace of a configuration
    error (a user error: no restart heals it), and a RUNNING one."""
    fake = Fake()
    fake.connectors[CLUSTER_ID] = spec_example_entries()
    async with serving(fake) as url:
        daemon = Daemon(daemon_config([STATUS_RULE], base_url=url))
        assert await daemon.run_once() == 0
    assert fake.restarts() == []


@pytest.mark.parametrize(("status", "body"), [(202, b""), (200, b""), (204, b""), (200, b'{"error":null}')])
async def test_a_restart_answered_as_the_specs_allow_is_accepted(status: int, body: bytes) -> None:
    """202 with no body (Confluent), 200 or 204 (Kafka Connect's), and the `{"error": null}` the
    spec gives a successful DELETE."""
    fake = Fake()
    fake.connectors[CLUSTER_ID] = {"b": entry("b", "FAILED", [(0, "SYSTEM_ERROR")], "lcc-b")}
    fake.restart_answers["b"] = (status, body, {"content-type": "application/json"} if body else {})
    async with serving(fake) as url:
        daemon = Daemon(daemon_config([STATUS_RULE], base_url=url))
        decision, job, detail = await asyncio.wait_for(daemon.restart_now(CLUSTER, "b", reason="test"), 30)
    assert decision is Decision.RESTART and job is not None and job.outcome is Outcome.ACCEPTED, detail
    assert len(fake.restarts()) == 1


async def test_names_that_need_percent_encoding_reach_their_own_connector() -> None:
    names = ["a b/c?d%e#f", "ünï", "x.y", "+:@="]
    fake = Fake()
    fake.connectors[CLUSTER_ID] = {n: entry(n, "FAILED", [(0, "SYSTEM_ERROR")], f"lcc-{i}") for i, n in enumerate(names)}
    # Healthy neighbours: four failing of four would hold the restarts (the breaker's 50%).
    fake.connectors[CLUSTER_ID].update({f"ok{i}": entry(f"ok{i}", "RUNNING", [(0, "RUNNING")]) for i in range(5)})
    async with serving(fake) as url:
        daemon = Daemon(daemon_config([STATUS_RULE], base_url=url))
        assert await daemon.run_once() == 0
    assert sorted(fake.restarts()) == sorted([
        f"{LIST_PATH}/a%20b%2Fc%3Fd%25e%23f/restart", f"{LIST_PATH}/%C3%BCn%C3%AF/restart",
        f"{LIST_PATH}/x.y/restart", f"{LIST_PATH}/%2B%3A%40%3D/restart"])


async def test_discovery_reads_pages_as_the_org_and_cmk_specs_allow() -> None:
    """Pages smaller than asked for (a server may cap page_size), `metadata.next` links that carry
    other parameters, the last page's `next` null, an environment without a display name, and
    clusters whose phase is PROVISIONING (not watched until it is PROVISIONED) or missing (watched:
    only PROVISIONING and FAILED serve nothing yet, found.NOT_READY_PHASES)."""
    fake = Fake(max_page=2, last_next_null=True, next_link_extra={"page_size": "2", "extra": "a+b"})
    fake.environments = [{"id": f"env-{i}", **({"display_name": f"e{i}"} if i else {})} for i in range(5)]

    def cluster(i: int, **status: Any) -> dict[str, Any]:
        return {"id": f"lkc-{i:03d}", "spec": {"display_name": f"c{i}", "environment": {"id": f"env-{i % 5}"}},
                **({"status": status} if status else {})}

    fake.clusters = [cluster(i, phase="PROVISIONED") for i in range(11)] + [cluster(11), cluster(12, phase="PROVISIONING")]
    for c in fake.clusters:
        fake.connectors[c["id"]] = {"b": entry("b", "FAILED", [(0, "SYSTEM_ERROR")], "lcc-" + c["id"])}
    async with serving(fake) as url:
        daemon = Daemon(daemon_config([STATUS_RULE], base_url=url, clusters={}, discovery={"interval": 60}))
        assert await daemon.run_once() == 0
    restarted = sorted(path.split("/")[6] for path in fake.restarts())
    assert restarted == [f"lkc-{i:03d}" for i in range(12)]
    pages = [query for method, path, query in fake.requests if path == "/org/v2/environments"]
    assert len(pages) == 3 and all("page_size=99" in q for q in pages), pages
