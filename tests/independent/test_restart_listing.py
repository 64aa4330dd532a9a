"""`watchdog restart CLUSTER CONNECTOR` (Daemon.restart_now) lists the cluster first. Against the
independent fake (fake_confluent.py, written from Confluent's specs): a listing answered with the
spec's 429 (RateLimitError: headers only, no body) or a 5xx is tried again within a bound, as a
schedule run's is, rather than refusing the restart as if the connector were not there."""

from __future__ import annotations

import asyncio
import re
import time

import pytest
from starlette.requests import Request
from starlette.responses import Response
from structlog.testing import capture_logs

from watchdog.app import Daemon
from watchdog.model import Decision
from watchdog.triggers.poller import REQUEST_LISTING_SECONDS

from ..support import CLUSTER, CLUSTER_ID, ENVIRONMENT, daemon_config
from .fake_confluent import Fake, connect_error, serving
from .test_once_unread import LIST_PATH, STATUS_RULE, answered, fake_cluster


def refuse_lists(fake: Fake, times: int, answer: Response) -> None:
    left = [times]

    def hook(request: Request) -> Response | None:
        if request.url.path == LIST_PATH and left[0] > 0:
            left[0] -= 1
            return answer
        return None

    fake.hook = hook


def rate_limited(retry_after: int) -> Response:
    """The spec's RateLimitError: X-Request-Id, the X-RateLimit-* headers and Retry-After, no body."""
    return Response(b"", 429, {"X-Request-Id": "req-429", "X-RateLimit-Limit": "10", "X-RateLimit-Remaining": "0",
                               "X-RateLimit-Reset": str(retry_after), "Retry-After": str(retry_after)})


async def restart_b(fake: Fake) -> tuple[Decision, str, list[dict[str, object]], float]:
    async with serving(fake) as url:
        daemon = Daemon(daemon_config([STATUS_RULE], base_url=url, rate_limit={"backoff": {"base": 0.01, "cap": 0.01}}))
        started = time.monotonic()
        with capture_logs() as logs:
            decision, _, detail = await asyncio.wait_for(daemon.restart_now(CLUSTER, "b", reason="test"), 60)
    return decision, detail, logs, time.monotonic() - started


async def test_a_listing_answered_429_is_asked_again_after_its_retry_after_and_the_restart_made() -> None:
    """It was refused at once: `prod/b: not restarted (missing): cluster prod could not be listed
    (rate_limited: Too Many Requests)`, exit 1, though the 429 asked to wait 2 s."""
    fake = fake_cluster()
    refuse_lists(fake, 1, rate_limited(2))
    decision, detail, logs, took = await restart_b(fake)
    assert decision is Decision.RESTART, detail
    assert fake.restarts() == [f"{LIST_PATH}/b/restart"]
    assert 2 <= took < 10
    [retried] = [e for e in logs if e["event"] == "restart_listing_retried"]
    assert retried["cluster"] == CLUSTER and str(retried["reason"]).startswith("rate_limited")


async def test_a_listing_answered_500_twice_is_asked_again_and_the_restart_made() -> None:
    fake = fake_cluster()
    body = answered(500, connect_error(500, "Oops, something went wrong"))
    refuse_lists(fake, 2, Response(body[1], body[0], body[2]))
    decision, detail, logs, _ = await restart_b(fake)
    assert decision is Decision.RESTART, detail
    assert fake.restarts() == [f"{LIST_PATH}/b/restart"]
    assert len([e for e in logs if e["event"] == "restart_listing_retried"]) == 2


async def test_a_429_asking_for_longer_than_a_person_waits_says_how_long_at_once() -> None:
    """No wait is begun that cannot end within REQUEST_LISTING_SECONDS: the answer says when the
    key may be used again instead."""
    fake = fake_cluster()
    refuse_lists(fake, 1, rate_limited(600))
    decision, detail, logs, took = await restart_b(fake)
    assert decision is Decision.MISSING and took < 5
    assert "rate_limited" in detail and re.search(r"paused by a 429 for 60\d s more: try again then", detail), detail
    assert fake.restarts() == []
    assert REQUEST_LISTING_SECONDS < 600


async def test_a_listing_refused_401_is_not_asked_again() -> None:
    fake = fake_cluster()
    fake.overrides[LIST_PATH] = answered(401, connect_error(401, "Unauthorized"))
    decision, detail, logs, took = await restart_b(fake)
    assert decision is Decision.MISSING and "unauthorized" in detail and took < 5
    assert [r for r in fake.requests if r[1] == LIST_PATH] == [("GET", LIST_PATH, "expand=info%2Cstatus%2Cid")]
    assert not [e for e in logs if e["event"] == "restart_listing_retried"]


def discovered(fake: Fake) -> None:
    fake.environments = [{"id": ENVIRONMENT, "display_name": "prod"}]
    fake.clusters = [{"id": CLUSTER_ID, "spec": {"display_name": "orders", "environment": {"id": ENVIRONMENT}},
                      "status": {"phase": "PROVISIONED"}}]


@pytest.mark.parametrize("path", ["/org/v2/environments", "/cmk/v2/clusters"])
async def test_a_discovered_cluster_whose_discovery_listing_is_answered_429_is_restarted_after_its_retry_after(
    path: str,
) -> None:
    """`watchdog restart lkc-... NAME`, the way to restart by hand with discovery (a discovered
    cluster is named by its lkc- id), refused the restart at one 429 on the environment or cluster
    list: `not restarted (missing): discovery could not list the environments (rate_limited: Too
    Many Requests); try again`. Pages are asked for again as `check-config --discover` asks."""
    fake = fake_cluster()
    discovered(fake)
    left = [1]

    def hook(request: Request) -> Response | None:
        if request.url.path == path and left[0] > 0:
            left[0] -= 1
            return rate_limited(1)
        return None

    fake.hook = hook
    async with serving(fake) as url:
        daemon = Daemon(daemon_config([STATUS_RULE], base_url=url, clusters={}, discovery={"interval": 60}))
        with capture_logs() as logs:
            decision, _, detail = await asyncio.wait_for(daemon.restart_now(CLUSTER_ID, "b", reason="test"), 60)
    assert decision is Decision.RESTART, detail
    assert fake.restarts() == [f"{LIST_PATH}/b/restart"]
    [retried] = [e for e in logs if e["event"] == "restart_discovery_retried"]
    assert "rate_limited (429)" in str(retried["detail"]) and "waiting" in str(retried["detail"])
