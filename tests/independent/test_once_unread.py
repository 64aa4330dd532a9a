"""`watchdog run --once` against the independent fake (fake_confluent.py, written from Confluent's
specs): a pass that could not read a cluster, or the environments discovery lists, made no
decision there, and must not exit 0 as if it had."""

from __future__ import annotations

import json
from typing import Any

import pytest
from structlog.testing import capture_logs

from watchdog.app import Daemon

from ..support import CLUSTER, CLUSTER_ID, ENVIRONMENT, Clock, daemon_config
from .fake_confluent import Fake, connect_error, entry, failure, serving

LIST_PATH = f"/connect/v1/environments/{ENVIRONMENT}/clusters/{CLUSTER_ID}/connectors"
STATUS_RULE = {"name": "heal", "trigger": {"type": "status", "interval": 5, "confirm_polls": 1}, "select": {"include": ["*"]}}
NIGHTLY = {"name": "nightly", "trigger": {"type": "schedule", "cron": "0 3 * * *"}, "select": {"connectors": ["b"]}}


def fake_cluster() -> Fake:
    fake = Fake()
    fake.connectors[CLUSTER_ID] = {
        "a": entry("a", "RUNNING", [(0, "RUNNING")], "lcc-a"),
        "b": entry("b", "FAILED", [(0, "SYSTEM_ERROR")], "lcc-b"),
    }
    return fake


def answered(status: int, body: Any) -> tuple[int, bytes, dict[str, str]]:
    return status, json.dumps(body).encode(), {"content-type": "application/json"}


async def once(fake: Fake, rules: list[dict[str, Any]], **settings: Any) -> tuple[int, list[dict[str, Any]]]:
    async with serving(fake) as url:
        daemon = Daemon(daemon_config(rules, base_url=url, **settings))
        with capture_logs() as logs:
            code = await daemon.run_once()
    return code, logs


async def test_a_pass_that_read_every_cluster_exits_0() -> None:
    fake = fake_cluster()
    code, logs = await once(fake, [STATUS_RULE])
    assert code == 0
    assert fake.restarts() == [f"{LIST_PATH}/b/restart"]
    assert not [e for e in logs if e["event"] == "once_incomplete"]


# The list call's answers a pass cannot read: the spec's 401 (a revoked key), 403 and 404 (a
# cluster id that is wrong or gone), a 500, and the names array a server answers when the
# request's `expand` did not reach it.
@pytest.mark.parametrize(("status", "body", "outcome"), [
    (401, connect_error(401, "Unauthorized"), "unauthorized"),
    (403, connect_error(403, "Forbidden"), "forbidden"),
    (404, connect_error(404, "account not found"), "not_found"),
    (500, connect_error(500, "Oops, something went wrong"), "server_error"),
    (200, ["a", "b"], "server_error"),
])
async def test_a_pass_that_could_not_list_a_cluster_exits_1_and_says_which(status: int, body: Any, outcome: str) -> None:
    """A CronJob's `watchdog run --once` with a revoked key exited 0 every night, nothing judged
    and nothing restarted: the pass is not whole, and says which cluster it could not read."""
    fake = fake_cluster()
    fake.overrides[LIST_PATH] = answered(status, body)
    code, logs = await once(fake, [STATUS_RULE])
    assert code == 1
    assert fake.restarts() == []
    [said] = [e for e in logs if e["event"] == "once_incomplete"]
    assert said["log_level"] == "error"
    assert list(said["clusters"]) == [CLUSTER] and said["clusters"][CLUSTER].startswith(f"{outcome}: ")


async def test_a_schedule_pass_whose_cluster_could_not_be_listed_exits_1() -> None:
    """A nightly schedule restart never sent (scheduled_restart_skipped, at error) exited 0."""
    fake = fake_cluster()
    fake.overrides[LIST_PATH] = answered(401, connect_error(401, "Unauthorized"))
    code, logs = await once(fake, [NIGHTLY])
    assert code == 1
    assert [e["event"] for e in logs if e["event"] in ("scheduled_restart_skipped", "once_incomplete")] == [
        "scheduled_restart_skipped", "once_incomplete"]


async def test_a_pass_whose_discovery_could_not_read_the_environments_exits_1() -> None:
    """With discovery, the environment list refused (org/v2's own error body) left the pass no
    discovered cluster to look at, and it exited 0."""
    fake = fake_cluster()
    fake.environments = [{"id": ENVIRONMENT, "display_name": "prod"}]
    fake.clusters = [{"id": CLUSTER_ID, "spec": {"display_name": "orders", "environment": {"id": ENVIRONMENT}},
                      "status": {"phase": "PROVISIONED"}}]
    fake.overrides["/org/v2/environments"] = answered(401, failure(401, "The API key is invalid"))
    code, logs = await once(fake, [STATUS_RULE], clusters={}, discovery={"interval": 60})
    assert code == 1
    [said] = [e for e in logs if e["event"] == "once_incomplete"]
    assert "environments" in said["discovery"]


async def test_a_pass_whose_discovery_read_everything_exits_0() -> None:
    fake = fake_cluster()
    fake.environments = [{"id": ENVIRONMENT, "display_name": "prod"}]
    fake.clusters = [{"id": CLUSTER_ID, "spec": {"display_name": "orders", "environment": {"id": ENVIRONMENT}},
                      "status": {"phase": "PROVISIONED"}}]
    code, logs = await once(fake, [STATUS_RULE], clusters={}, discovery={"interval": 60})
    assert code == 0
    assert fake.restarts() == [f"{LIST_PATH}/b/restart"]


async def test_a_pass_whose_stall_check_could_not_query_the_metrics_api_exits_1() -> None:
    """A stalled rule's check whose Metrics API query was refused (401, the Metrics API's own
    `{"errors": [...]}`) gave no verdict (stall_check_failed) and the pass exited 0."""
    stalled = {"name": "stalled", "select": {"include": ["*"]},
               "trigger": {"type": "stalled", "interval": 60, "grace": 120, "window": 300, "delay": 300}}
    fake = Fake()
    fake.connectors[CLUSTER_ID] = {"src": entry("src", "RUNNING", [(0, "RUNNING")], "lcc-src")}
    fake.overrides["/v2/metrics/cloud/query"] = answered(401, {"errors": [{"detail": "Unauthorized"}]})
    clock = Clock()
    async with serving(fake) as url:
        daemon = Daemon(daemon_config([STATUS_RULE, stalled], base_url=url, metrics_api={"base_url": url}), now=clock.wall)
        # Seen RUNNING now, and through grace before the three windows and through them by then
        # (grace + delay + 3 windows + a point's step: 1380 s; 1300 s before grace came first, 4602304).
        await daemon.pollers[CLUSTER].poll()
        clock.advance(1400)
        with capture_logs() as logs:
            code = await daemon.run_once()
    assert [e["event"] for e in logs if e["event"] == "stall_check_failed"]
    assert code == 1
    [said] = [e for e in logs if e["event"] == "once_incomplete"]
    assert list(said["metrics_api"]) == [CLUSTER] and said["metrics_api"][CLUSTER].startswith("unauthorized: ")


async def test_a_schedule_pass_whose_listing_failed_once_and_was_read_again_exits_0() -> None:
    """A schedule run asks again for a listing refused by a 429 (scheduled_listing_retried): the
    pass read the cluster in the end, made its restart, and is whole."""
    from starlette.requests import Request
    from starlette.responses import Response

    fake = fake_cluster()
    left = [1]

    def hook(request: Request) -> Response | None:
        if request.url.path == LIST_PATH and left[0] > 0:
            left[0] -= 1
            return Response(b"", 429, {"Retry-After": "1", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "1"})
        return None

    fake.hook = hook
    code, logs = await once(fake, [NIGHTLY])
    assert [e["event"] for e in logs if e["event"].startswith("scheduled_")] == ["scheduled_listing_retried"]
    assert fake.restarts() == [f"{LIST_PATH}/b/restart"]
    assert code == 0
    assert not [e for e in logs if e["event"] == "once_incomplete"]
