"""A stop (SIGTERM: every rollout) while webhooks and restart requests wait for their cluster's
on-demand listing: they are answered 503 `shutting down` with Retry-After, counted and logged like
every answer.

Before (probe_callers F1): the stop cancelled the listing they waited for, the cancellation reached
each of them as a CancelledError, and the server answered a plain-text 500 with an error-level
traceback per request, neither counted nor logged as an answer; `watchdog restart --daemon` then
exited 1 saying the address might not be the daemon's.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
import pytest
from structlog.testing import capture_logs

from watchdog.triggers.poller import ClusterPoller

from .support import CLUSTER, HeldCalls, World, daemon_config, in_process, sim_scenario, until
from .test_api import AUTH, CONNECTORS, RULES, TOKEN, alert, payload

LISTING = "/connectors?"  # the list call's URL (every backend's carries its query)


def _count_waiters(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many callers wait in ClusterPoller.ensure_listed now (it awaits nothing before its wait)."""
    waiting = [0]
    original = ClusterPoller.ensure_listed

    async def counted(self: ClusterPoller, *args: Any, **kwargs: Any) -> str | None:
        waiting[0] += 1
        try:
            return await original(self, *args, **kwargs)
        finally:
            waiting[0] -= 1

    monkeypatch.setattr(ClusterPoller, "ensure_listed", counted)
    return waiting


async def _stop_while_they_wait(w: World, waiting: list[int]) -> tuple[httpx.Response, httpx.Response, list[dict[str, Any]]]:
    """A restart request and a webhook sent, the daemon stopped once both wait for the listing."""
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{w.daemon.bound_port}", timeout=10.0) as http:
        restart = asyncio.create_task(
            http.post("/v1/restarts", json={"cluster": CLUSTER, "connector": "billing-sink"}, headers=AUTH))
        webhook = asyncio.create_task(http.post("/v1/alertmanager", json=payload(alert()), headers=AUTH))
        await until(lambda: waiting[0] >= 2, "both requests waiting for the listing", timeout=5)
        with capture_logs() as logs:
            await asyncio.wait_for(w.daemon.stop(), 10)
            answers = await asyncio.wait_for(asyncio.gather(restart, webhook), 5)
    return answers[0], answers[1], logs


def _assert_shutting_down(w: World, restart: httpx.Response, webhook: httpx.Response, logs: list[dict[str, Any]]) -> None:
    for route, answer in (("restarts", restart), ("alertmanager", webhook)):
        # Before: 500, text/plain "Internal Server Error".
        assert answer.status_code == 503, (route, answer.status_code, answer.text)
        assert "shutting down" in answer.json()["error"], answer.text
        assert answer.headers.get("Retry-After"), "Alertmanager and `watchdog restart --daemon` send again later"
        # Before: not counted, no http_request line (the server never saw an answer).
        assert w.sample("watchdog_http_requests_total", route=route, status_class="5xx") == 1, route
        assert [e["status"] for e in logs if e["event"] == "http_request" and e.get("route") == route] == [503], route
    assert not [e for e in logs if e.get("log_level") == "error"], "no error (a traceback) for a stop"
    assert not w.simulator.restarts(), "nothing was restarted"


async def test_requests_waiting_for_the_first_listing_at_a_stop_are_answered_503_shutting_down(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    waiting = _count_waiters(monkeypatch)
    w = in_process(sim_scenario(CONNECTORS), daemon_config(RULES, token=TOKEN))
    HeldCalls(w, LISTING)  # a slow worker: the first listing never answers before the stop
    await w.daemon.start()
    restart, webhook, logs = await _stop_while_they_wait(w, waiting)
    _assert_shutting_down(w, restart, webhook, logs)


async def test_requests_waiting_for_a_listing_of_a_running_daemon_at_a_stop_are_answered_503_shutting_down(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    waiting = _count_waiters(monkeypatch)
    w = in_process(sim_scenario(CONNECTORS), daemon_config([RULES[1]], token=TOKEN))  # listed on demand only
    await w.daemon.start()
    poller = w.daemon.pollers[CLUSTER]
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{w.daemon.bound_port}", timeout=10.0) as http:
            first = await http.post("/v1/alertmanager", json=payload(alert(connector="tmp-sink")), headers=AUTH)
        assert first.status_code == 200, first.text
        assert poller.listed_at is not None
    except BaseException:
        await w.daemon.stop()
        raise
    # Its last listing two minutes old (a quiet cluster, alerts and requests rare): the next
    # request lists it again, and this listing is slow.
    poller.listed_at -= timedelta(seconds=120)
    HeldCalls(w, LISTING)
    restart, webhook, logs = await _stop_while_they_wait(w, waiting)
    _assert_shutting_down(w, restart, webhook, logs)


async def test_a_closed_pollers_cluster_is_not_listed_again_during_the_stops_drain() -> None:
    # The queue's final drain asks for a listing after a pause (turn_listing) once the pollers are
    # closed: a new listing then went out, competed with the drain's restarts for the key's budget,
    # and nothing cancelled it (the verification of d50d18a). It is refused as a stop's instead.
    w = in_process(sim_scenario(CONNECTORS), daemon_config([RULES[1]], token=TOKEN))  # listed on demand only
    await w.daemon.start()
    poller = w.daemon.pollers[CLUSTER]
    try:
        await poller.close()
        before = len(w.simulator.calls)
        why = await poller.ensure_listed(0.0, wait=1.0)
        await asyncio.sleep(0.2)  # a listing started would have been sent by now
        after = len(w.simulator.calls)
    finally:
        await w.daemon.stop()
    assert why is not None and "stopping" in why, why
    assert poller.listed_at is None, "no listing went out after the poller was closed"
    assert before == after, "a call went out after the poller was closed"
