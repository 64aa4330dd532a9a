"""Redirects (issue 11, item 10): Confluent's compatibility policy says clients must follow 301
and 307. Followed and counted; an API key never goes to another host; a restart stays a POST."""

from __future__ import annotations

import base64
import gzip
import io
import tracemalloc
from collections.abc import Callable

import httpx
import pytest
from structlog.testing import capture_logs

from watchdog.connect import ConfluentCloudBackend
from watchdog.connect.transfer import CallLimits, fetch
from watchdog.logs import configure_logging
from watchdog.metrics import Metrics
from watchdog.model import Outcome
from watchdog.redirects import MAX_REDIRECTS, redirect_hook

from .conftest import TEST_API_KEY, TEST_API_SECRET
from .support import CLUSTER, CLUSTER_ID, ENVIRONMENT, World, sim_scenario
from .test_daemon import restart_times, run_polls, status_rule, world
from .test_stall_real_shapes import STALL_AT, restarts, run
from .test_stall_real_shapes import world as stall_world

LIST_PATH = f"/connect/v1/environments/{ENVIRONMENT}/clusters/{CLUSTER_ID}/connectors?expand=info,status,id"
RESTART_PATH = f"/connect/v1/environments/{ENVIRONMENT}/clusters/{CLUSTER_ID}/connectors/broken/restart"
BROKEN = [{"name": "broken", "script": {"initial": "FAILED", "recover_after_restarts": 1}}]


def redirected_restart(status: int, location: str) -> World:
    faults = [{"match": {"endpoint": "restart"}, "when": {"count": 1},
               "action": {"status": status, "headers": {"Location": location}}}]
    return world(BROKEN, [status_rule()], scenario=sim_scenario(BROKEN, restart={"delay_seconds": 2}, faults=faults))


def restart_outcomes(w: World) -> dict[str, float]:
    return {outcome: w.sample("watchdog_restarts_total", cluster=CLUSTER, connector="broken", rule="heal",
                              trigger="status", outcome=outcome) for outcome in ("accepted", "rejected", "not_found")}


async def test_a_poll_answered_with_a_redirect_follows_it() -> None:
    connectors = [{"name": "broken", "script": {"initial": "FAILED", "recover_after_restarts": 1}}]
    faults = [{"match": {"endpoint": "list"}, "when": {"count": 2},
               "action": {"status": 307, "headers": {"Location": LIST_PATH}}}]
    w = world(connectors, [status_rule()], scenario=sim_scenario(connectors, restart={"delay_seconds": 2}, faults=faults))

    await run_polls(w, 3)

    assert w.sample("watchdog_polls_total", cluster=CLUSTER, result="ok") == 3, "a redirected poll failed"
    assert len(restart_times(w, "broken")) == 1
    assert w.sample("watchdog_api_redirects_total", credential="main", status_code="307") == 2
    redirected = [c for c in w.simulator.calls if c.fault is None and c.endpoint == "list"]
    assert all(c.api_key is not None for c in redirected), "the same host got the request without its key"


async def test_a_redirect_not_followed_is_counted_under_a_status_class_the_docs_name() -> None:
    # A 304 (or a 3xx without a Location) ends the call: it was counted as
    # watchdog_api_requests_total{status_class="3xx"}, a series made at 1 (increase() missed
    # it) under a class the metrics table in docs/metrics.md did not give.
    connectors = [{"name": "fine"}]
    faults = [{"match": {"endpoint": "list"}, "when": {"count": 1}, "action": {"status": 304}}]
    w = world(connectors, [status_rule()], scenario=sim_scenario(connectors, faults=faults))
    redirected = {"credential": "main", "endpoint": "list", "status_class": "3xx"}
    assert w.daemon.metrics.registry.get_sample_value("watchdog_api_requests_total", redirected) == 0
    await run_polls(w, 1)
    assert w.sample("watchdog_polls_total", cluster=CLUSTER, result="rejected") == 1
    assert w.daemon.metrics.registry.get_sample_value("watchdog_api_requests_total", redirected) == 1


@pytest.mark.parametrize(("status", "shown"), [(204, "2xx"), (304, "3xx"), (429, "429"), (503, "5xx"), (599, "5xx"),
                                               (600, "5xx"), (999, "5xx"), (None, "error")])
def test_every_status_class_is_one_the_metric_pre_creates(status: int | None, shown: str) -> None:
    # A server answering 600 or 999 (a proxy's own codes) made `6xx` and `9xx` series.
    from watchdog.connect.backend import ApiResult, Endpoint
    from watchdog.lane_metrics import API_STATUS_CLASSES

    result = ApiResult(Endpoint.LIST, Outcome.SERVER_ERROR, status_code=status)
    assert result.status_class == shown and shown in API_STATUS_CLASSES


async def test_a_redirect_to_another_host_does_not_carry_the_key() -> None:
    w = stall_world([{"name": "orders-source", "records_per_second": 10, "script": {"stall_at": STALL_AT}}])
    w.simulator.set_faults([{"match": {"endpoint": "metrics_query"}, "when": {"count": 1},
                             "action": {"status": 307, "headers": {"Location": "http://mirror.example:8443/v2/metrics/cloud/query"}}}])

    with capture_logs() as logs:
        await run(w, 1800)

    # The query is a POST: not sent to another host at all (redirects.py), with or without the key.
    queries = [c for c in w.simulator.calls if c.endpoint == "metrics_query"]
    assert queries[0].fault is not None and queries[0].status_code == 307
    assert all(c.api_key is not None and c.fault is None for c in queries[1:]), "a query went to another host"
    assert w.sample("watchdog_api_redirects_total", credential="metrics-api", status_code="307") == 1
    [event] = [e for e in logs if e["event"] == "api_redirected"]
    assert event["to"] == "http://mirror.example:8443/v2/metrics/cloud/query"
    assert event["followed"] is False and event["credentials_sent"] is False
    assert len(restarts(w, "orders-source")) == 1, "stall checks did not carry on after the redirect"


@pytest.mark.parametrize("status", [301, 302, 307, 308])
async def test_a_restart_answered_with_a_redirect_is_sent_again_as_a_post(status: int) -> None:
    # httpx re-sends a POST answered 301 or 302 as a GET, as browsers do: the GET of .../restart
    # was answered 404 and the job ended not_found with nothing restarted.
    w = redirected_restart(status, RESTART_PATH)

    with capture_logs() as logs:
        await run_polls(w, 3)

    calls = [(c.method, c.status_code) for c in w.simulator.calls if c.endpoint != "list"]
    assert calls == [("POST", status), ("POST", 202)], calls
    assert len(restart_times(w, "broken")) == 1
    assert restart_outcomes(w) == {"accepted": 1, "rejected": 0, "not_found": 0}
    assert w.sample("watchdog_api_redirects_total", credential="main", status_code=str(status)) == 1
    [event] = [e for e in logs if e["event"] == "api_redirected"]
    assert event["method"] == "POST" and event["followed"] is True and event["credentials_sent"] is True


async def test_a_restart_answered_303_is_not_followed_and_says_why() -> None:
    # 303 See Other: the server says it handled the POST and its result is elsewhere; a GET there
    # is not a restart's answer, so the job ends rejected (not retried) with the reason.
    w = redirected_restart(303, RESTART_PATH)

    with capture_logs() as logs:
        await run_polls(w, 3)

    assert [(c.method, c.status_code) for c in w.simulator.calls if c.endpoint != "list"] == [("POST", 303)]
    assert restart_outcomes(w)["rejected"] == 1
    [ended] = [e for e in logs if e["event"] == "restart_finished"]
    assert ended["outcome"] == "rejected" and ended["status_code"] == 303
    assert ended["message"].startswith(f"303 redirect to http://sim{RESTART_PATH}, not followed: a 303 says"), ended


async def test_a_restart_redirected_to_another_host_is_not_sent_there() -> None:
    w = redirected_restart(307, "https://mirror.example" + RESTART_PATH + "?token=secret-in-query")

    with capture_logs() as logs:
        await run_polls(w, 3)

    assert [(c.method, c.status_code) for c in w.simulator.calls if c.endpoint != "list"] == [("POST", 307)], \
        "the restart went to another host"
    assert restart_outcomes(w)["rejected"] == 1
    [ended] = [e for e in logs if e["event"] == "restart_finished"]
    assert ended["outcome"] == "rejected" and "307 redirect to https://mirror.example/" in ended["message"]
    assert "another host" in ended["message"] and "secret-in-query" not in str(logs)
    [event] = [e for e in logs if e["event"] == "api_redirected"]
    assert event["followed"] is False and event["credentials_sent"] is False


async def test_a_restart_redirected_to_https_on_the_same_host_is_sent_there() -> None:
    # A Kafka Connect worker (or a gateway) configured as http:// behind an ingress that
    # redirects every request to https:// on the same host: its polls (GETs) followed the upgrade
    # with their credentials, as httpx does, but every restart ended `rejected`, "not followed:
    # another host", and the FAILED connectors it was meant for stayed FAILED.
    w = redirected_restart(308, "https://sim" + RESTART_PATH)

    with capture_logs() as logs:
        await run_polls(w, 3)

    assert [(c.method, c.status_code) for c in w.simulator.calls if c.endpoint != "list"] == [("POST", 308), ("POST", 202)]
    assert restart_outcomes(w) == {"accepted": 1, "rejected": 0, "not_found": 0}
    [event] = [e for e in logs if e["event"] == "api_redirected"]
    assert event["followed"] is True and event["credentials_sent"] is True


@pytest.mark.parametrize("location", ["http://sim:8443" + RESTART_PATH, "https://sim:8443" + RESTART_PATH])
async def test_a_restart_redirected_to_another_port_of_the_host_is_not_sent_there_and_says_so(location: str) -> None:
    w = redirected_restart(307, location)

    with capture_logs() as logs:
        await run_polls(w, 3)

    assert [(c.method, c.status_code) for c in w.simulator.calls if c.endpoint != "list"] == [("POST", 307)]
    [ended] = [e for e in logs if e["event"] == "restart_finished"]
    assert ended["outcome"] == "rejected" and "another host" not in ended["message"], ended
    assert "another port or scheme of the host configured" in ended["message"], ended


# -- a GET's redirects are followed by transfer.fetch, their bodies never read --------------------


# Where _cloud's list is moved to, under another prefix: a redirect must name the same resource
# (redirects.py) to be followed, so the tests of what following does move it there.
MOVED_LIST = "/moved/connect/v1/environments/env-1/clusters/lkc-1/connectors"


def _cloud(handler: Callable[[httpx.Request], httpx.Response]) -> ConfluentCloudBackend:
    http = httpx.AsyncClient(transport=httpx.MockTransport(handler), base_url="https://api.example", auth=("key", "secret"))
    return ConfluentCloudBackend(http, "env-1", "lkc-1", CallLimits(max_bytes=1_000_000))


async def test_a_redirects_body_is_not_read_at_all() -> None:
    # httpx reads a redirect's whole body before following it, decompressed and past
    # api.max_response_bytes: this 302 of 97 KB cost 215 MB (one of 1 MB, two gigabytes).
    bomb = gzip.compress(b"0" * 100_000_000, 9)

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == MOVED_LIST:
            return httpx.Response(200, stream=httpx.ByteStream(b"{}"))
        return httpx.Response(302, stream=httpx.ByteStream(bomb), headers={"Content-Encoding": "gzip", "Location": MOVED_LIST})

    backend = _cloud(answer)
    tracemalloc.start()
    try:
        result = await backend.list_connectors()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert result.ok and result.value == {}
    assert peak < 5_000_000, f"{peak / 1e6:.0f} MB for a redirect"


async def test_once_a_redirect_left_the_host_the_key_does_not_come_back() -> None:
    sent: list[tuple[str, bool]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append((str(request.url.copy_with(query=None)), "authorization" in request.headers))
        if request.url.host == "mirror.example":
            return httpx.Response(302, headers={"Location": "https://api.example/back" + MOVED_LIST})
        if request.url.path.startswith("/back/"):
            return httpx.Response(401)
        return httpx.Response(307, headers={"Location": "https://mirror.example" + MOVED_LIST})

    result = await _cloud(answer).list_connectors()

    assert result.outcome is Outcome.UNAUTHORIZED
    assert [carried for _, carried in sent] == [True, False, False], sent
    assert result.message.startswith("answered by api.example, where a redirect took the call without the key"), result


@pytest.mark.parametrize("status", [401, 403])
async def test_a_refusal_from_the_host_a_redirect_took_the_call_to_says_it_is_not_the_keys(status: int) -> None:
    # `unauthorized: bad key` (the other host's words) sent the operator to rotate a key that was
    # fine: the key never went there (found 2026-12-06 against a fake cmk/v2 redirecting away).
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.host == "mirror.example":
            return httpx.Response(status, json={"errors": [{"detail": "bad key"}]})
        return httpx.Response(307, headers={"Location": "https://mirror.example" + MOVED_LIST})

    result = await _cloud(answer).list_connectors()

    assert result.message == ("answered by mirror.example, where a redirect took the call without the key (the API's "
                              "address moved, or a proxy sends it elsewhere: see api_redirected); not the API's word: "
                              "bad key"), result.message


async def test_a_refusal_of_the_key_itself_says_nothing_of_redirects() -> None:
    result = await _cloud(lambda request: httpx.Response(401, json={"errors": [{"detail": "bad key"}]})).list_connectors()
    assert (result.outcome, result.message) == (Outcome.UNAUTHORIZED, "bad key")


async def test_more_redirects_in_a_row_than_allowed_fail_the_call() -> None:
    hops: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        hops.append(request.url.path)
        return httpx.Response(302, headers={"Location": f"/hop-{len(hops)}" + MOVED_LIST})

    result = await _cloud(answer).list_connectors()

    assert result.outcome is Outcome.NETWORK_ERROR and "TooManyRedirects" in result.message, result
    assert len(hops) == MAX_REDIRECTS + 1


async def test_a_token_in_the_clients_default_headers_does_not_follow_a_redirect_to_another_host() -> None:
    # The blocker sends Alertmanager's bearer token as a default header, not through httpx's auth:
    # leaving the origin must drop the header itself, as httpx does, whatever set it.
    sent: list[tuple[str, str | None]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append((request.url.host, request.headers.get("authorization")))
        if request.url.host == "alertmanager.example":
            return httpx.Response(302, headers={"Location": "https://elsewhere.example/api/v2/alerts"})
        return httpx.Response(200, json=[])

    http = httpx.AsyncClient(transport=httpx.MockTransport(answer), base_url="https://alertmanager.example",
                             headers={"Authorization": "Bearer am-token-0123456789"})
    answer_ = await fetch(http, "GET", "/api/v2/alerts", CallLimits())

    assert answer_.response.status_code == 200
    assert sent == [("alertmanager.example", "Bearer am-token-0123456789"), ("elsewhere.example", None)]


async def test_a_redirect_to_a_huge_location_is_logged_in_a_line_of_bounded_size() -> None:
    location = "/moved/" + "x" * 60_000 + MOVED_LIST  # httpx takes URLs up to 64 KB

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith("/moved/"):
            return httpx.Response(200, json={})
        return httpx.Response(302, headers={"Location": location})

    http = httpx.AsyncClient(transport=httpx.MockTransport(answer), base_url="https://api.example",
                             event_hooks={"response": [redirect_hook("main", Metrics())]})
    with capture_logs() as logs:
        result = await ConfluentCloudBackend(http, "env-1", "lkc-1").list_connectors()

    assert result.ok
    [event] = [e for e in logs if e["event"] == "api_redirected"]
    assert event["to"].startswith("https://api.example/moved/xxx") and len(event["to"]) < 400, len(event["to"])


async def test_a_redirect_whose_location_holds_the_credentials_does_not_get_them_logged() -> None:
    # api_redirected logs where a redirect points; a server that put the request's Authorization
    # header in its Location had the key's Basic token (key id and secret) in that line, and in
    # the next hop's `path`, which no longer carried the key to recognise it by.
    token = base64.b64encode(f"{TEST_API_KEY}:{TEST_API_SECRET}".encode()).decode()
    faults = [{"match": {"endpoint": "list"}, "when": {"count": 1},
               "action": {"status": 302, "headers": {"Location": f"https://sso.example/login/Basic {token}/{TEST_API_KEY}"}}}]
    w = world(BROKEN, [status_rule()], scenario=sim_scenario(BROKEN, faults=faults))
    stream = io.StringIO()
    configure_logging("DEBUG", "json", stream)

    await run_polls(w, 2)

    logged = stream.getvalue()
    assert '"to": "https://sso.example/login/Basic ***/***"' in logged, logged
    assert token not in logged and TEST_API_SECRET not in logged and TEST_API_KEY not in logged


async def test_a_long_location_cut_inside_the_credentials_keeps_no_part_of_them() -> None:
    # Where a redirect points is cut to 300 characters; a Location holding the Authorization
    # header we sent, cut inside it, kept its first part in api_redirected and in the restart's
    # message (history): base64 that decodes to the key id.
    token = base64.b64encode(f"{TEST_API_KEY}:{TEST_API_SECRET}".encode()).decode()
    location = "https://elsewhere.example/" + "p" * 240 + f"/Basic {token}"
    w = redirected_restart(307, location)
    stream = io.StringIO()
    configure_logging("INFO", "json", stream)

    await run_polls(w, 3)

    kept = " ".join(record.message for record in w.daemon.state.history(limit=10))
    logged = stream.getvalue()
    assert "/Basic ***" in kept and "/Basic ***" in logged, (kept, logged)
    assert token[:8] not in kept + logged, "a part of the Basic token (the key id) was kept"
