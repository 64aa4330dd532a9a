"""Discovery's paging against servers that do not page as the specs say: one that answers every
page_token with the first page again, under a fresh token each time (a gateway or a cache that
drops the query's token, a server that ignores it), was asked 100 pages at every refresh, each
the same, before the listing failed as 'more than 100 pages' (found 2026-12-03 against a fake
Confluent on loopback: 100 calls, 9.5 s of the key's lane, at every 30-second retry)."""

from __future__ import annotations

import httpx
import pytest

from watchdog.connect import Gateway
from watchdog.connect.transfer import CallLimits
from watchdog.discovery.client import DiscoveryClient
from watchdog.metrics import Metrics
from watchdog.ratelimit import RateLimiter

from .test_discovery import config_data, make_config


def _environments(page: int) -> list[dict[str, str]]:
    return [{"id": f"env-{page}{i:02d}", "display_name": f"e{page}-{i}"} for i in range(99)]


@pytest.mark.parametrize("cluster_list", [False, True])
async def test_a_server_answering_every_page_token_with_the_first_page_again_fails_the_listing_at_once(
    cluster_list: bool,
) -> None:
    asked: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        token = request.url.params.get("page_token")
        asked.append(token)
        fresh = f"t{len(asked)}"
        if cluster_list:
            data = [{"id": f"lkc-{i:03d}", "spec": {"environment": {"id": "env-a"}}, "status": {"phase": "PROVISIONED"}}
                    for i in range(99)]
        else:
            data = _environments(0)  # the first page, whatever the token
        return httpx.Response(200, json={"metadata": {"next": f"https://api.confluent.cloud/x?page_token={fresh}"},
                                         "data": data})

    config = make_config(config_data({}))
    metrics = Metrics()
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler), base_url="http://sim") as http:
        limiter = RateLimiter("main", config.rate_limit.model_copy(update={"max_requests_per_second": 1000}))
        client = DiscoveryClient(http, Gateway(limiter, metrics), CallLimits())
        listing = await (client.clusters("env-a") if cluster_list else client.environments())
    assert listing.items is None, "a listing that cannot be read whole fails"
    assert asked == [None, "t1"], f"asked {len(asked)} pages"
    assert "page 2 lists the very entries of page 1" in listing.message


async def test_pages_that_follow_one_another_are_read_whole() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        page = int(request.url.params.get("page_token", "0"))
        nxt = f"/org/v2/environments?page_token={page + 1}" if page < 2 else None
        return httpx.Response(200, json={"metadata": {"next": nxt}, "data": _environments(page)})

    config = make_config(config_data({}))
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler), base_url="http://sim") as http:
        limiter = RateLimiter("main", config.rate_limit.model_copy(update={"max_requests_per_second": 1000}))
        listing = await DiscoveryClient(http, Gateway(limiter, Metrics()), CallLimits()).environments()
    assert listing.items is not None and len(listing.items) == 297


async def test_entries_that_cannot_be_read_are_said_when_their_count_changes_not_at_every_refresh() -> None:
    """A gateway or cache that ignores the `environment` filter lists every environment's
    clusters under each: the entries of other environments are skipped (rightly), and were said
    in a discovery_entries_unreadable warning per environment at every refresh (six environments:
    72 warnings an hour at the default interval, 720 while a refresh keeps being partial)."""
    from watchdog.app import Daemon

    environments = ["env-a", "env-b", "env-c"]
    every = [{"id": f"lkc-{e[-1]}1", "spec": {"environment": {"id": e}}, "status": {"phase": "PROVISIONED"}}
             for e in environments]

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/org/v2/environments":
            return httpx.Response(200, json={"metadata": {}, "data": [{"id": e, "display_name": e} for e in environments]})
        if request.url.path == "/cmk/v2/clusters":
            return httpx.Response(200, json={"metadata": {}, "data": every})  # the filter not applied
        return httpx.Response(200, json={})

    import structlog

    daemon = Daemon(make_config(config_data({})), transport=httpx.MockTransport(handler))
    with structlog.testing.capture_logs() as logs:
        for _ in range(3):
            assert await daemon.refresh_discovery() is True
        every.append({"id": "lkc-a2", "spec": {"environment": {"id": "env-a"}}, "status": {"phase": "PROVISIONED"}})
        assert await daemon.refresh_discovery() is True
    assert sorted(daemon.fleet.watched) == ["lkc-a1", "lkc-a2", "lkc-b1", "lkc-c1"]
    warned = [(e["environment"], e["count"]) for e in logs
              if e["event"] == "discovery_entries_unreadable" and e["log_level"] == "warning"]
    # Once per listing, then again for those whose count changed (env-b and env-c skip one more).
    assert warned == [("env-a", 2), ("env-b", 2), ("env-c", 2), ("env-b", 3), ("env-c", 3)]
    await daemon.stop()
