"""Answers that are legal JSON or HTTP but odd enough to break a reader: each ends as a counted
outcome, never as a traceback that no metric or log line records.

Found by probing the daemon with a fake Connect API of our own (2026-12-01): a list nested
100,000 deep, a task id of 1e400, a rate-limit header of 400 digits, a redirect to a Location
that is no URL, a 202 whose gzip body cannot be decoded. Each made the poll or the restart raise
past every caller's handling: the poll ended uncounted and unlogged (and /readyz said 503 for
good, the cluster never having been polled), or a restart the server had accepted ended
`network_error`, or was sent three more times.
"""

from __future__ import annotations

import asyncio
import base64
import html
import io
import json
import re
import time
import urllib.parse
from datetime import UTC, datetime

import httpx
import pytest
from pydantic import SecretStr
from structlog.testing import capture_logs

from bench.postgres import PostgresServer, take_lease
from watchdog.app import Daemon
from watchdog.clients import cloud_client
from watchdog.config import Credential
from watchdog.connect import ConfluentCloudBackend
from watchdog.connect.answers import error_message
from watchdog.connect.kafka_connect import KafkaConnectBackend
from watchdog.connect.metrics_api import MetricsApiClient, _parse_page
from watchdog.logs import configure_logging
from watchdog.metrics import Metrics
from watchdog.model import ConnectorKey, Outcome
from watchdog.ratelimit import parse_headers
from watchdog.ratelimit.headers import MAX_HEADER_INT
from watchdog.redirects import redirect_hook
from watchdog.report import captured_error, history_json, render_history
from watchdog.server import create_app
from watchdog.simulator import Scenario, Simulator
from watchdog.state.postgres import PostgresStateStore

from .conftest import TEST_API_KEY, TEST_API_SECRET
from .support import (
    CLUSTER,
    CLUSTER_ID,
    ENVIRONMENT,
    World,
    cluster_config,
    daemon_config,
    in_process,
    served,
    sim_scenario,
)
from .test_api import AUTH, TOKEN
from .test_daemon import restart_times, run_polls, status_rule, world
from .test_kafka_connect import backend_for, kc_scenario

BROKEN = [{"name": "broken", "script": {"initial": "FAILED", "recover_after_restarts": 1}}]
HUGE = "1" + "0" * 400  # an integer no float holds


def faulty_world(faults: list[dict[str, object]]) -> World:
    return world(BROKEN, [status_rule()], scenario=sim_scenario(BROKEN, restart={"delay_seconds": 2}, faults=faults))


def polls(w: World, result: str) -> float:
    return w.sample("watchdog_polls_total", cluster=CLUSTER, result=result)


async def test_a_list_nested_too_deep_is_a_counted_failed_poll() -> None:
    w = faulty_world([{"match": {"endpoint": "list"}, "when": {"count": 1},
                       "action": {"status": 200, "body": "[" * 100_000}}])

    with capture_logs() as logs:
        await run_polls(w, 4)

    assert polls(w, "server_error") == 1 and polls(w, "ok") == 3
    [failed] = [e for e in logs if e["event"] == "poll_failed"]
    assert "nested too deep" in failed["message"], failed
    assert len(restart_times(w, "broken")) == 1, "the polls after it did not heal the connector"


async def test_a_task_id_beyond_any_number_costs_only_that_id() -> None:
    # 1e400 is legal JSON; Python reads it as inf, and int(inf) raises OverflowError.
    entry = {"status": {"name": "broken", "type": "sink", "connector": {"state": "FAILED", "worker_id": "w"},
                        "tasks": [{"id": 0, "state": "FAILED"}, {"id": "ID", "state": "RUNNING"}]},
             "id": {"id": "lcc-1", "id_type": "ID"}}
    body = json.dumps({"broken": entry}).replace('"ID", "state"', '1e400, "state"')
    w = faulty_world([{"match": {"endpoint": "list"}, "action": {"status": 200, "body": body}}])

    await run_polls(w, 3)

    assert polls(w, "ok") == 3
    assert w.sample("watchdog_unusable_entries_total") == 0
    assert len(restart_times(w, "broken")) == 1


@pytest.mark.parametrize("tasks", [5, True, {"0": {"id": 0, "state": "FAILED"}}, "FAILED"])
async def test_a_tasks_field_that_is_no_list_costs_only_its_connector(tasks: object) -> None:
    # A number raised TypeError, which no reader's `except ValueError` took: the whole cluster's
    # poll crashed (poll_crashed, counted network_error) at every poll, and `broken` was never
    # restarted. A map or a string read as "no tasks" (RUNNING with those: healthy).
    odd = {"status": {"name": "odd", "type": "sink", "connector": {"state": "RUNNING", "worker_id": "w"},
                      "tasks": tasks}, "id": {"id": "lcc-2", "id_type": "ID"}}
    w = faulty_world([{"match": {"endpoint": "list"}, "when": {"count": 1},
                       "action": {"status": 200, "body": {"broken": _failed_entry(), "odd": odd}}}])

    await run_polls(w, 3)

    assert polls(w, "ok") == 3 and polls(w, "network_error") == 0
    assert w.sample("watchdog_unusable_entries_total", cluster=CLUSTER, reason="tasks_not_list") == 1
    assert len(restart_times(w, "broken")) == 1


async def test_kafka_connect_restart_whose_202_body_has_tasks_that_are_no_list_is_accepted() -> None:
    # The restart was done (202); its body raised TypeError past the reader, and the queue ended
    # the job `network_error` with a traceback (restart_job_crashed).
    body = {"name": "billing-sink", "connector": {"state": "RUNNING"}, "tasks": 5}
    backend, simulator = backend_for(kc_scenario(), faults=[{"match": {"endpoint": "restart"},
                                                             "action": {"status": 202, "body": body}}])

    result = await backend.restart("billing-sink")

    assert (result.outcome, result.status_code) == (Outcome.ACCEPTED, 202), result
    assert "tasks is int, not a list" in result.message
    assert len([c for c in simulator.calls if c.endpoint == "restart"]) == 1


@pytest.mark.parametrize("recommendations", [1, "Check the password"])
async def test_recommendations_that_are_no_list_do_not_cost_the_restart(recommendations: object) -> None:
    # Asked for before a failure restart (fetch_recommendations): a number raised TypeError out of
    # the job before its restart went out, which ended `network_error` (restart_job_crashed) with
    # nothing sent; a string was kept as one "recommendation" per character.
    w = world(BROKEN, [status_rule(fetch_recommendations=True)], scenario=sim_scenario(
        BROKEN, restart={"delay_seconds": 2}, faults=[{"match": {"endpoint": "error_recommendations"}, "action": {
            "status": 200, "body": {"recommendations": recommendations}}}]))

    with capture_logs() as logs:
        await run_polls(w, 3)

    assert len(restart_times(w, "broken")) == 1
    assert w.total("watchdog_restarts_total", cluster=CLUSTER, connector="broken", outcome="accepted") == 1
    assert not [e for e in logs if e["event"] == "restart_job_crashed"]
    [record] = w.daemon.state.history()
    assert record.recommendations == ()


async def test_recommendations_of_megabytes_cost_kilobytes_in_the_history() -> None:
    # Kept whole in every history record of the restart (and GET /v1/history returns up to 1000):
    # 30 texts of 100,000 characters made a 3 MB record per restart.
    texts = [f"advice {i}: " + "x" * 100_000 for i in range(30)]
    w = world(BROKEN, [status_rule(fetch_recommendations=True)], scenario=sim_scenario(
        BROKEN, restart={"delay_seconds": 2}, faults=[{"match": {"endpoint": "error_recommendations"}, "action": {
            "status": 200, "body": {"recommendations": texts}}}]))

    await run_polls(w, 3)

    [record] = w.daemon.state.history()
    assert len(record.recommendations) == 10
    assert record.recommendations[0].startswith("advice 0: xxx") and "characters left out" in record.recommendations[0]
    assert sum(len(text) for text in record.recommendations) < 50_000


async def test_a_password_in_a_url_in_a_recommendation_is_kept_nowhere() -> None:
    # Confluent's advice, fetched before the restart, is kept in its history record (GET
    # /v1/history, `watchdog history`) as the failure evidence is; advice quoting the connector's
    # connection URL kept its password, where the evidence had it masked.
    texts = ["Check connection.url jdbc:postgresql://etl:Hunter2-LEAK@db:5432/orders",
             "or jdbc:mysql://db/orders?user=etl&password=Hunter3-LEAK"]
    w = world(BROKEN, [status_rule(fetch_recommendations=True)], scenario=sim_scenario(
        BROKEN, restart={"delay_seconds": 2}, faults=[{"match": {"endpoint": "error_recommendations"}, "action": {
            "status": 200, "body": {"recommendations": texts}}}]))

    await run_polls(w, 3)

    [record] = w.daemon.state.history()
    assert record.recommendations == ("Check connection.url jdbc:postgresql://***@db:5432/orders",
                                      "or jdbc:mysql://db/orders?user=etl&password=***"), record.recommendations


async def test_a_kafka_connect_restart_keeps_its_answers_states_not_its_traces() -> None:
    # A worker's 202 carries each failed instance's trace, uncut; the daemon keeps its latest
    # 10,000 to 20,000 finished jobs, each with that answer: 87 KB per restart here, beside the
    # evidence, which holds the same traces cut to 4,096 characters.
    trace = "org.apache.kafka.connect.errors.ConnectException: boom\n" + "\tat com.example.Sink.put(Sink.java:1)\n" * 600
    connectors = [{"name": "broken", "tasks": 4, "script": {"initial": "FAILED", "recover_after_restarts": 1, "trace": trace}}]
    w = world(connectors, [status_rule()], backend="kafka_connect",
              scenario=sim_scenario(connectors, "kafka_connect", restart={"delay_seconds": 2}))

    await run_polls(w, 4)

    [job] = w.daemon.recorder.finished_jobs
    assert job.outcome is Outcome.ACCEPTED and job.answer is not None
    assert [t.state for t in job.answer.tasks] == ["RESTARTING"] * 4
    assert len(repr(job.answer)) < 2_000, "the answer keeps which instances restart, not their traces"
    assert job.message == "202: connector RUNNING; tasks 0 RESTARTING, 1 RESTARTING, 2 RESTARTING, 3 RESTARTING"
    [record] = w.daemon.state.history()
    assert record.evidence is not None and "characters left out" in record.evidence["tasks"][0]["trace"]


async def test_an_error_page_full_of_title_tags_is_read_in_linear_time() -> None:
    # The title search scanned the rest of the body from every `<title>`: 70 KB of them took 3 s
    # of the event loop, 280 KB 74 s, and a 16 MB page (api.max_response_bytes) days, during
    # which nothing else ran (polls, restarts, /healthz, /metrics, the leader's lease).
    w = faulty_world([{"match": {"endpoint": "restart"}, "when": {"count": 1},
                       "action": {"status": 500, "body": "<title>" * 10_000}}])

    # CPU seconds of this process, not wall-clock ones: other processes on a loaded machine
    # stretch the latter, never the former (the three polls' own work is most of the bound).
    started = time.process_time()
    await run_polls(w, 3)

    assert time.process_time() - started < 1.0
    assert [c.status_code for c in w.simulator.calls if c.endpoint == "restart"] == [500, 202]


def test_an_error_pages_title_is_its_message() -> None:
    page = '<html><head><meta charset="utf-8"><TITLE lang="en">\n 502 Bad Gateway\n</TITLE></head><body>nginx</body></html>'
    assert error_message(httpx.Response(502, text=page)) == "502 Bad Gateway"
    assert error_message(httpx.Response(404, text="<html><title>Error 404 Not Found</title>")) == "Error 404 Not Found"


async def test_a_request_id_of_kilobytes_costs_neither_time_nor_log_space() -> None:
    # Every log line of the call carries the request id: a 90 KB one with an `@` in it held the
    # event loop 8 s in the log's URL-credential masking (which tried every letter as a URL
    # scheme's start), and made a 90 KB log line.
    request_id = "a" * 90_000 + "@"
    connectors = BROKEN
    w = world(connectors, [status_rule()], backend="kafka_connect", scenario=sim_scenario(
        connectors, "kafka_connect", restart={"delay_seconds": 2},
        faults=[{"match": {"endpoint": "restart"}, "when": {"count": 1},
                 "action": {"status": 409, "headers": {"X-Request-Id": request_id}}}]))
    stream = io.StringIO()
    configure_logging("INFO", "json", stream)

    started = time.process_time()  # CPU seconds: a loaded machine stretches wall-clock ones
    await run_polls(w, 3)

    assert time.process_time() - started < 2.0
    [failed] = [json.loads(line) for line in stream.getvalue().splitlines() if '"api_call_failed"' in line]
    assert failed["request_id"] == "a" * 128, len(failed["request_id"])
    assert len(restart_times(w, "broken")) == 1


SIGN_IN = "<!DOCTYPE html><html><head><title>Sign in - Corporate SSO</title></head><body><form>...</form></body></html>"


async def test_a_kafka_connect_restart_answered_with_a_proxys_page_is_not_taken_for_a_restart() -> None:
    # Taken for an old worker's bare 200, it was reported "the connector instance was restarted",
    # and the daemon went on to read the status and restart the tasks one by one.
    fault = {"match": {"endpoint": "restart"}, "when": {"count": 1},
             "action": {"status": 200, "body": SIGN_IN, "headers": {"Content-Type": "text/html; charset=utf-8"}}}
    backend, simulator = backend_for(kc_scenario(), faults=[fault])

    result = await backend.restart("billing-sink")

    assert result.outcome is Outcome.UNCONFIRMED, result
    assert "an HTML page ('Sign in - Corporate SSO'), not the API's answer" in result.message
    assert "was restarted" not in result.message
    assert [c.endpoint for c in simulator.calls] == ["restart"]


async def test_a_restart_answered_with_a_proxys_page_is_not_counted_accepted() -> None:
    w = faulty_world([{"match": {"endpoint": "restart"}, "when": {"count": 1},
                       "action": {"status": 200, "body": SIGN_IN, "headers": {"Content-Type": "text/html"}}}])

    with capture_logs() as logs:
        await run_polls(w, 3)

    assert w.total("watchdog_restarts_total", cluster=CLUSTER, connector="broken", outcome="accepted") == 0
    assert w.total("watchdog_restarts_total", cluster=CLUSTER, connector="broken", outcome="unconfirmed") == 1
    [ended] = [e for e in logs if e["event"] == "restart_finished"]
    assert "HTML page ('Sign in - Corporate SSO')" in ended["message"], ended


async def test_a_proxys_page_that_echoes_the_credentials_does_not_get_them_logged() -> None:
    page = f"<html><head><title>Denied for {TEST_API_KEY}:{TEST_API_SECRET}</title></head></html>"
    w = faulty_world([{"match": {"endpoint": "restart"}, "when": {"count": 1},
                       "action": {"status": 200, "body": page, "headers": {"Content-Type": "text/html"}}}])

    with capture_logs() as logs:
        await run_polls(w, 3)

    [ended] = [e for e in logs if e["event"] == "restart_finished"]
    assert "Denied for ***" in ended["message"] and TEST_API_SECRET not in repr(logs), ended


async def test_a_list_answered_with_a_proxys_page_says_so() -> None:
    w = faulty_world([{"match": {"endpoint": "list"}, "when": {"count": 1},
                       "action": {"status": 200, "body": SIGN_IN, "headers": {"Content-Type": "text/html"}}}])

    with capture_logs() as logs:
        await run_polls(w, 1)

    [failed] = [e for e in logs if e["event"] == "poll_failed"]
    assert "answered 200 with an HTML page ('Sign in - Corporate SSO')" in failed["message"], failed


async def test_cookies_an_upstream_sets_are_not_kept_or_sent_back() -> None:
    # Every cookie was kept and sent back: a server setting a new one on each answer made every
    # request carry all of them (35 KB of Cookie header after 2,000 polls, and growing).
    sent: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request.headers.get("cookie", ""))
        return httpx.Response(200, json={}, headers={"Set-Cookie": f"s{len(sent)}=abcdefghij; Path=/"})

    config = daemon_config([])
    http = cloud_client(config, config.credentials["main"], httpx.MockTransport(answer))
    backend = ConfluentCloudBackend(http, ENVIRONMENT, CLUSTER_ID)

    for _ in range(50):
        assert (await backend.list_connectors()).ok

    assert sent == [""] * 50
    assert len(http.cookies.jar) == 0


def _failed_entry() -> dict[str, object]:
    return {"status": {"name": "broken", "type": "sink", "connector": {"state": "FAILED", "worker_id": "w"},
                       "tasks": [{"id": 0, "state": "FAILED"}]}, "id": {"id": "lcc-1", "id_type": "ID"}}


@pytest.mark.parametrize("header", ["X-RateLimit-Limit", "X-RateLimit-Remaining"])
async def test_a_rate_limit_header_beyond_any_number_is_ignored(header: str) -> None:
    w = faulty_world([{"match": {"endpoint": "restart"}, "action": {"status": 202, "headers": {header: HUGE}}}])

    await run_polls(w, 3)

    assert w.total("watchdog_restarts_total", cluster=CLUSTER, connector="broken", outcome="accepted") == 1
    assert w.total("watchdog_api_requests_total", endpoint="restart", status_class="2xx") == 1


def test_header_integers_past_a_floats_exact_range_are_no_information() -> None:
    read = parse_headers({"x-ratelimit-limit": HUGE, "x-ratelimit-remaining": str(MAX_HEADER_INT + 1)})
    assert (read.limit, read.remaining) == (None, None)
    assert parse_headers({"x-ratelimit-remaining": str(MAX_HEADER_INT)}).remaining == MAX_HEADER_INT


async def test_a_restart_redirected_to_an_invalid_location_is_a_counted_failed_call() -> None:
    # httpx reads every redirect's Location, followed or not, and takes one that is no URL for
    # a protocol error: a failed call like a broken connection, retried within max_retries.
    w = faulty_world([{"match": {"endpoint": "restart"}, "when": {"count": 1},
                       "action": {"status": 307, "headers": {"Location": "http://h:abc/x"}}}])

    with capture_logs() as logs:
        await run_polls(w, 3)

    assert [c.status_code for c in w.simulator.calls if c.endpoint == "restart"] == [307, 202]
    [failed] = [e for e in logs if e["event"] == "api_call_failed"]
    assert failed["outcome"] == "network_error" and "Invalid URL in location header" in failed["message"], failed
    [ended] = [e for e in logs if e["event"] == "restart_finished"]
    assert (ended["outcome"], ended["tries"]) == ("accepted", 2), ended
    [redirected] = [e for e in logs if e["event"] == "api_redirected"]
    assert (redirected["to"], redirected["followed"]) == ("an invalid Location", False)


async def test_a_list_redirected_to_an_invalid_location_is_a_counted_failed_poll() -> None:
    w = faulty_world([{"match": {"endpoint": "list"}, "when": {"count": 1},
                       "action": {"status": 302, "headers": {"Location": "http://h:abc/x"}}}])

    await run_polls(w, 4)

    assert polls(w, "network_error") == 1 and polls(w, "ok") == 3
    assert w.sample("watchdog_api_redirects_total", credential="main", status_code="302") == 1
    assert len(restart_times(w, "broken")) == 1


async def test_a_202_whose_body_cannot_be_decoded_is_accepted_once() -> None:
    # The status line says the restart was done; the body (never needed) fails to decode.
    # Taken for a lost answer, the restart was sent again, max_retries times.
    w = faulty_world([{"match": {"endpoint": "restart"},
                       "action": {"status": 202, "headers": {"Content-Encoding": "gzip"}, "body": "not gzip"}}])

    with capture_logs() as logs:
        await run_polls(w, 3)

    assert len([c for c in w.simulator.calls if c.endpoint == "restart"]) == 1
    assert w.total("watchdog_restarts_total", cluster=CLUSTER, connector="broken", outcome="accepted") == 1
    [ended] = [e for e in logs if e["event"] == "restart_finished"]
    assert "cut off after its status line (DecodingError" in ended["message"], ended


UNDECODABLE = {"headers": {"Content-Encoding": "gzip"}, "body": "not gzip"}


@pytest.mark.parametrize(("status", "outcome"), [(400, "rejected"), (403, "forbidden"), (404, "not_found")])
async def test_a_refused_restart_whose_body_fails_is_the_refusal_its_status_says(status: int, outcome: str) -> None:
    # Only a read's 2xx needs its body whole. A refusal whose body then failed (undecodable here;
    # cut off, reset or trickling past the deadline alike) was taken for a lost answer: the
    # restart ended `network_error` with no status, or, sent again at once, `accepted`.
    w = faulty_world([{"match": {"endpoint": "restart"}, "when": {"count": 1}, "action": {"status": status, **UNDECODABLE}}])

    with capture_logs() as logs:
        await run_polls(w, 3)

    assert [c.status_code for c in w.simulator.calls if c.endpoint == "restart"] == [status], "sent again"
    [ended] = [e for e in logs if e["event"] == "restart_finished"]
    assert (ended["outcome"], ended["status_code"]) == (outcome, status), ended
    assert ended["message"].startswith("answer body cut off after its status line (DecodingError"), ended


async def test_a_503_whose_body_fails_still_says_when_to_try_again() -> None:
    # Taken for a lost answer, its Retry-After went unheard: retried on our own backoff.
    w = faulty_world([{"match": {"endpoint": "restart"}, "when": {"count": 1},
                       "action": {"status": 503, **UNDECODABLE, "headers": {**UNDECODABLE["headers"], "Retry-After": "1"}}}])

    with capture_logs() as logs:
        await run_polls(w, 2)

    [retry] = [e for e in logs if e["event"] == "restart_retry_scheduled"]
    assert (retry["status_code"], retry["source"], retry["delay_seconds"]) == (503, "retry_after", 1.0), retry
    assert [c.status_code for c in w.simulator.calls if c.endpoint == "restart"] == [503, 202]


@pytest.mark.parametrize(("coding", "named"), [("br", "(br)"), ("zstd", "(zstd)"),
                                              (f"x-{TEST_API_SECRET}", "(not quoted: no coding the daemon knows)")])
async def test_a_list_in_a_coding_the_daemon_does_not_decode_says_so(coding: str, named: str) -> None:
    # A proxy compressing with Brotli whatever the request offered: every poll failed
    # "unreadable response: Expecting value: line 1 column 1 (char 0)", which named no cause.
    w = faulty_world([{"match": {"endpoint": "list"}, "when": {"count": 1},
                       "action": {"status": 200, "body": "\x1b\x03compressed", "headers": {"Content-Encoding": coding}}}])

    with capture_logs() as logs:
        await run_polls(w, 1)

    [failed] = [e for e in logs if e["event"] == "poll_failed"]
    assert failed["message"].startswith(f"unreadable response: its Content-Encoding {named} is not one the daemon "
                                        "decodes (it asks for gzip, deflate only)"), failed
    assert TEST_API_SECRET not in repr(logs)


async def test_a_list_refused_401_whose_body_fails_is_an_unauthorized_poll() -> None:
    w = faulty_world([{"match": {"endpoint": "list"}, "when": {"count": 1}, "action": {"status": 401, **UNDECODABLE}}])

    await run_polls(w, 1)

    assert polls(w, "unauthorized") == 1 and polls(w, "network_error") == 0


async def test_a_restart_refused_with_a_trickling_body_is_sent_once() -> None:
    # The realistic form, over a real socket: a restart of a connector deleted meanwhile answered
    # 404 whose body comes a byte every 0.3 s. It was sent four times, a deadline each (30 s by
    # default: two minutes of its lane), and ended `network_error`.
    connectors = [{"name": "broken", "script": {"initial": "FAILED", "recover_after_restarts": 1}}]
    simulator = Simulator(Scenario.model_validate(
        sim_scenario(connectors, faults=[{"match": {"endpoint": "restart"}, "action": {"trickle_seconds": 0.3}}])))
    async with served(simulator) as url:
        config = daemon_config([status_rule(trigger={"type": "status", "interval": 5, "confirm_polls": 1})], base_url=url,
                               api={"base_url": url, "timeouts": {"total": 1, "connect": 1, "read": 1}},
                               rate_limit={"max_requests_per_second": 1000, "backoff": {"base": 0.1, "cap": 0.2}})
        daemon = Daemon(config)
        daemon.queue.start()
        try:
            await daemon.pollers[CLUSTER].poll()
            simulator.delete_connector(CLUSTER_ID, "broken")
            with capture_logs() as logs:
                await daemon.queue.join()
        finally:
            await daemon.stop()
    assert [c.status_code for c in simulator.calls if c.endpoint == "restart"] == [404]
    [ended] = [e for e in logs if e["event"] == "restart_finished"]
    assert (ended["outcome"], ended["status_code"]) == ("not_found", 404), ended
    assert "cut off after its status line (no whole body within 1s)" in ended["message"], ended


async def test_kafka_connect_restart_whose_202_body_holds_a_task_id_beyond_any_number_is_accepted() -> None:
    body = '{"name": "billing-sink", "connector": {"state": "RUNNING"}, "tasks": [{"id": 1e400, "state": "RESTARTING"}]}'
    backend, _ = backend_for(kc_scenario(), faults=[{"match": {"endpoint": "restart"}, "action": {"status": 202, "body": body}}])

    result = await backend.restart("billing-sink")

    assert (result.outcome, result.status_code) == (Outcome.ACCEPTED, 202)
    assert result.value is not None and [t.state for t in result.value.tasks] == ["RESTARTING"]


async def test_kafka_connect_404_nested_too_deep_is_classified() -> None:
    backend, _ = backend_for(kc_scenario(), faults=[{"match": {"endpoint": "status"},
                                                     "action": {"status": 404, "body": "[" * 100_000}}])

    result = await backend.connector_status("billing-sink")

    # Not Kafka Connect's own error body: a worker not serving the API yet (kafka_connect.py).
    assert (result.outcome, result.status_code) == (Outcome.SERVER_ERROR, 404), result


async def test_kafka_connect_restart_accepted_with_a_body_that_cannot_be_decoded_is_accepted() -> None:
    fault = {"match": {"endpoint": "restart"},
             "action": {"status": 202, "headers": {"Content-Encoding": "gzip"}, "body": "not gzip"}}
    backend, simulator = backend_for(kc_scenario(), faults=[fault])

    result = await backend.restart("billing-sink", only_failed=False)

    assert (result.outcome, result.status_code) == (Outcome.ACCEPTED, 202), result
    assert "cut off after its status line" in result.message
    assert len([c for c in simulator.calls if c.endpoint == "restart"]) == 1


def test_metrics_points_beyond_any_number_are_skipped() -> None:
    body = ('{"data": [{"resource.connector.id": "lcc-1", "timestamp": "2026-12-01T00:00:00Z", "value": 1e400},'
            ' {"resource.connector.id": "lcc-1", "timestamp": "2026-12-01T00:01:00Z", "value": ' + HUGE + '},'
            ' {"resource.connector.id": "lcc-1", "timestamp": "2026-12-01T00:02:00Z", "value": 5}]}')
    readings, token = _parse_page(json.loads(body))
    assert [value for _, value in readings.points["lcc-1"]] == [5.0] and token is None
    # Named as unread, so that the stall check does not judge the connector on what is left.
    assert readings.unreadable["lcc-1"] == ["value inf is not finite", "value is an integer beyond any float"]


async def test_a_redirect_after_a_hop_to_another_host_is_not_said_to_carry_the_key() -> None:
    # httpx drops Authorization for the rest of a chain once a hop leaves the origin.
    hook = redirect_hook("main", Metrics())
    stripped = httpx.Request("GET", "https://mirror.example/a")
    carrying = httpx.Request("GET", "https://mirror.example/a", headers={"Authorization": "Basic eDp5"})
    with capture_logs() as logs:
        for request in (stripped, carrying):
            await hook(httpx.Response(307, headers={"Location": "/b"}, request=request))
    assert [e["credentials_sent"] for e in logs if e["event"] == "api_redirected"] == [False, True]



async def test_a_server_that_echoes_the_credentials_does_not_get_them_logged_or_kept() -> None:
    token = base64.b64encode(f"{TEST_API_KEY}:{TEST_API_SECRET}".encode()).decode()
    echo = f"bad credentials {TEST_API_KEY}:{TEST_API_SECRET} (Authorization: Basic {token}); secret {TEST_API_SECRET}"
    w = faulty_world([{"match": {"endpoint": "restart"},
                       "action": {"status": 400, "body": {"error": {"code": 400, "message": echo}}}}])

    with capture_logs() as logs:
        await run_polls(w, 3)

    [ended] = [e for e in logs if e["event"] == "restart_finished"]
    assert ended["outcome"] == "rejected"
    assert ended["message"] == "bad credentials *** (Authorization: Basic ***); secret ***", ended
    kept = json.dumps([record.message for record in w.daemon.state.history(limit=10)])
    assert TEST_API_SECRET not in str(logs) + kept and token not in str(logs) + kept
    assert "bad credentials ***" in kept


async def test_a_server_that_echoes_the_key_id_does_not_get_it_logged_or_kept() -> None:
    # The key id is kept as a secret (check-config shows only "set"); a server naming it in its
    # reason put it in restart_finished and the history.
    w = faulty_world([{"match": {"endpoint": "restart"},
                       "action": {"status": 401, "body": {"error": {"code": 401, "message": f"unknown API key {TEST_API_KEY}"}}}}])

    with capture_logs() as logs:
        await run_polls(w, 3)

    [ended] = [e for e in logs if e["event"] == "restart_finished"]
    assert ended["outcome"] == "unauthorized" and ended["message"] == "unknown API key ***", ended
    kept = json.dumps([record.message for record in w.daemon.state.history(limit=10)])
    assert TEST_API_KEY not in str(logs) + kept and "unknown API key ***" in kept


async def test_a_server_that_sends_the_credentials_back_as_its_request_id_does_not_get_them_logged_or_kept() -> None:
    # The request id is logged with every call and kept in the history (/v1/history, `watchdog
    # history`); one holding the Authorization header we sent put the Basic token (user and
    # password) there. A Kafka Connect worker here: the simulator's Confluent answers carry its own.
    token = base64.b64encode(f"{TEST_API_KEY}:{TEST_API_SECRET}".encode()).decode()
    w = world(BROKEN, [status_rule()], backend="kafka_connect", scenario=sim_scenario(
        BROKEN, "kafka_connect", faults=[{"match": {"endpoint": "restart"},
                                          "action": {"status": 400, "headers": {"X-Request-Id": f"req-1 Basic {token}"}}}]),
              clusters={CLUSTER: {**cluster_config("kafka_connect", "http://sim"), "credential": "main"}})

    with capture_logs() as logs:
        await run_polls(w, 3)

    [ended] = [e for e in logs if e["event"] == "restart_finished"]
    assert ended["outcome"] == "rejected" and ended["request_id"] == "req-1 Basic ***", ended
    kept = [record.request_id for record in w.daemon.state.history(limit=10)]
    assert "req-1 Basic ***" in kept, kept
    assert token not in str(logs) + str(kept) and TEST_API_SECRET not in str(logs) + str(kept)


async def test_a_worker_that_sends_the_credentials_back_as_its_content_type_does_not_get_them_kept() -> None:
    # A 404 that is not Kafka Connect's own is said with its Content-Type ("the worker does not
    # serve ... (yet)"), a message kept in the history and the restart API's answers: one holding
    # the Authorization header we sent kept the worker's Basic token (user and password).
    token = base64.b64encode(f"{TEST_API_KEY}:{TEST_API_SECRET}".encode()).decode()

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(404, headers={"Content-Type": f"text/html; {request.headers['authorization']}"}, text="no")

    async with httpx.AsyncClient(auth=httpx.BasicAuth(TEST_API_KEY, TEST_API_SECRET),
                                 transport=httpx.MockTransport(answer)) as http:
        result = await KafkaConnectBackend(http, ["http://worker-1:8083"]).list_connectors()

    assert result.message == ("http://worker-1:8083: 404 text/html; Basic ***: the worker does not serve Kafka "
                              "Connect's REST API (yet)"), result.message
    assert token not in result.message


async def test_a_server_that_sends_the_credentials_back_as_its_content_encoding_does_not_get_them_kept() -> None:
    # A body encoded more than once is refused naming its codings, and they were named lowercased:
    # our Basic token sent back there was kept lowercased in the failed call's message (the log,
    # the history), where no starring recognised it, and the key and secret can be recovered from
    # it a 4-character group at a time.
    token = base64.b64encode(f"{TEST_API_KEY}:{TEST_API_SECRET}".encode()).decode()

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"Content-Encoding": f"gzip, gzip, {request.headers['authorization']}"},
                              content=b"x")

    async with httpx.AsyncClient(base_url="https://api.example", auth=httpx.BasicAuth(TEST_API_KEY, TEST_API_SECRET),
                                 transport=httpx.MockTransport(answer)) as http:
        result = await ConfluentCloudBackend(http, ENVIRONMENT, CLUSTER_ID).list_connectors()

    # A 200 whose body is not decoded is an unreadable answer, its status kept (session 75, F-LOW-2).
    assert (result.outcome.value, result.status_code) == ("server_error", 200), result
    assert result.message == ("unreadable response: its body is labelled gzip, gzip but could not be decoded "
                              "(DecodingError: content encoded 3 times (gzip, gzip, Basic ***): not decoded)"), result
    assert token.lower() not in result.message.lower()


# A worker's basic-auth pair chosen so that every form below differs from the others: its Basic
# token has `=` padding and a `+` or `/` (URL-safe base64 differs), the password a `/` (JSON's
# `\/`), a `+` and a space (quote and quote_plus differ), and `&` and `<` (HTML).
FORM_KEY = "FORMKEY0123456789"
FORM_SECRET = "cflt/Form+Secret &Zq8<xV3nR7tLk2>x"
FORM_TOKEN = base64.b64encode(f"{FORM_KEY}:{FORM_SECRET}".encode()).decode()
ENCODED_FORMS = {
    "base64 without padding": FORM_TOKEN.rstrip("="),
    "url-safe base64": base64.urlsafe_b64encode(f"{FORM_KEY}:{FORM_SECRET}".encode()).decode(),
    "url-safe base64 without padding": base64.urlsafe_b64encode(f"{FORM_KEY}:{FORM_SECRET}".encode()).decode().rstrip("="),
    "the token url-encoded": urllib.parse.quote(FORM_TOKEN, safe=""),
    "the password url-encoded": urllib.parse.quote(FORM_SECRET, safe=""),
    "the password url-encoded, lowercase hex": re.sub("%[0-9A-F]{2}", lambda hex_: hex_.group().lower(),
                                                    urllib.parse.quote(FORM_SECRET, safe="")),
    "the password url-encoded as a form": urllib.parse.quote_plus(FORM_SECRET),
    "the password json-escaped": FORM_SECRET.replace("/", "\\/"),
    "the password html-escaped": html.escape(FORM_SECRET),
    "the password escaped as an XML writer does": FORM_SECRET.replace("&", "&amp;").replace("<", "&lt;").replace("/", "&#x2F;"),
}


def _strings(value: object) -> list[str]:
    """Every string in a JSON value: what a reader of it gets, whatever escaping its text used."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for key, item in value.items() for s in [key, *_strings(item)]]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    return []


@pytest.mark.parametrize("form", list(ENCODED_FORMS), ids=list(ENCODED_FORMS))
async def test_a_worker_that_echoes_its_credentials_encoded_does_not_get_them_logged_or_kept(form: str) -> None:
    # Only the exact secret, its Basic token as sent and a repr were looked for: a worker echoing
    # the token without its `=` padding had the whole pair logged (poll_failed), answered by GET
    # /v1/connectors (polls_failing) and kept in the history (restart_finished's message), and a
    # Confluent secret (which holds `/` and `+`) came back URL-encoded, JSON-escaped as `\/` or
    # HTML-escaped alike.
    said = ENCODED_FORMS[form]
    assert said not in (FORM_SECRET, FORM_TOKEN) and len(set(ENCODED_FORMS.values())) == len(ENCODED_FORMS)
    echo = {"error_code": 401, "message": f"rejected credentials {said} (see logs)"}
    scenario = sim_scenario(BROKEN, "kafka_connect", restart={"delay_seconds": 2}, faults=[
        {"match": {"endpoint": "list"}, "when": {"count": 1}, "action": {"status": 401, "body": echo}},
        {"match": {"endpoint": "restart"}, "action": {"status": 400, "body": {**echo, "error_code": 400}}}])
    scenario["api_keys"] = [{"id": FORM_KEY, "secret": FORM_SECRET}]
    config = daemon_config([status_rule()], backend="kafka_connect", token=TOKEN, rate_limit={"max_requests_per_second": 10000},
                           clusters={CLUSTER: {**cluster_config("kafka_connect", "http://sim"), "credential": "main"}})
    config = config.model_copy(update={"credentials": {"main": Credential(api_key=SecretStr(FORM_KEY),
                                                                          api_secret=SecretStr(FORM_SECRET))}})
    w = in_process(scenario, config, fake_time=True, rng=0.5)
    w.daemon.queue.start()
    stream = io.StringIO()
    configure_logging("DEBUG", "json", stream)
    app = create_app(w.daemon.metrics.registry, w.daemon.probes, w.daemon.api_context())

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://daemon") as http:
        await run_polls(w, 1)
        failing = (await http.get("/v1/connectors", headers=AUTH)).json()
        await run_polls(w, 4)
        served_history = (await http.get("/v1/history", headers=AUTH)).json()

    assert polls(w, "unauthorized") == 1 and failing["polls_failing"], failing
    [record] = w.daemon.state.history(limit=10)
    assert record.outcome is Outcome.REJECTED and record.message == "rejected credentials *** (see logs)", record.message
    logged = [json.loads(line) for line in stream.getvalue().splitlines()]
    shown = {"the log": _strings(logged), "GET /v1/connectors": _strings(failing), "GET /v1/history": _strings(served_history),
             "history --json": _strings(history_json([record])), "history": [render_history([record], now=datetime.now(UTC))]}
    assert any("rejected credentials *** (see logs)" in text for text in shown["the log"])
    for where, texts in shown.items():
        assert not [text for text in texts if said in text], where


def test_a_basic_auth_user_is_starred_only_where_it_stands_alone() -> None:
    # A worker's user named `connect` must not turn Kafka Connect's class names into stars.
    from watchdog.connect.masking import without_credentials

    sent = httpx.Headers({"Authorization": "Basic " + base64.b64encode(b"connect:worker-password-1").decode()})
    said = "org.apache.kafka.connect.errors.ConnectException: connector orders: user connect may not restart it"
    assert without_credentials(said, sent) == (
        "org.apache.kafka.connect.errors.ConnectException: connector orders: user *** may not restart it")


async def test_a_short_worker_password_echoed_by_the_worker_is_starred_where_it_stands_alone() -> None:
    # Kafka Connect passwords are not the user's to choose; one of 5 characters was not looked for
    # (every short word would have been starred), and a worker naming it in its refusal had it
    # in poll_failed, the history and the restart API's answers. Starred now where it is a whole
    # token; inside a longer word or a dotted name it is left alone.
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, json={"error_code": 401, "message": "Invalid password pw123. Tried: 'pw123', "
                                         "pw123456, org.pw123.auth, pw123-old"})

    async with httpx.AsyncClient(auth=httpx.BasicAuth("etl", "pw123"), transport=httpx.MockTransport(answer)) as http:
        result = await KafkaConnectBackend(http, ["http://worker-1:8083"]).list_connectors()

    assert result.outcome is Outcome.UNAUTHORIZED
    assert result.message.endswith("Invalid password ***. Tried: '***', pw123456, org.pw123.auth, pw123-old"), result.message


async def test_a_poll_that_crashes_on_a_bug_is_counted_and_the_cluster_is_ready() -> None:
    # Whatever the next unforeseen answer breaks: the poll ends counted and logged, and /readyz
    # does not wait for good on a cluster "never polled".
    w = faulty_world([])
    poller = w.daemon.pollers[CLUSTER]

    async def broken() -> object:
        raise OverflowError("int too large to convert to float")

    real, poller._backend.list_connectors = poller._backend.list_connectors, broken  # type: ignore[method-assign]
    with capture_logs() as logs:
        await run_polls(w, 1)
    poller._backend.list_connectors = real  # type: ignore[method-assign]
    await run_polls(w, 3)

    assert poller.first_poll_done
    assert polls(w, "network_error") == 1 and polls(w, "ok") == 3
    [failed] = [e for e in logs if e["event"] == "poll_failed"]
    assert failed["message"] == "internal error: OverflowError: int too large to convert to float", failed
    assert [e["log_level"] for e in logs if e["event"] == "poll_crashed"] == ["error"]
    assert len(restart_times(w, "broken")) == 1


async def test_terminal_escapes_in_an_error_message_reach_the_console_log_as_text() -> None:
    # An upstream's 500 whose message sets the terminal's title and clears its screen: the
    # console log (`--log-format console`, or any terminal) printed it raw.
    attack = "\x1b]0;owned\x07\x1b[2J\x1b[1A\u202eforged"
    body = json.dumps({"error": {"code": 500, "message": attack}})
    w = faulty_world([{"match": {"endpoint": "restart"}, "action": {"status": 500, "body": body}}])
    stream = io.StringIO()
    configure_logging("INFO", "console", stream)

    await run_polls(w, 2)

    out = stream.getvalue()
    assert "restart_finished" in out and "outcome=server_error" in out, out
    assert "\x1b" not in out and "\x07" not in out and "\u202e" not in out, repr(out)
    assert r"message=\x1b]0;owned\x07\x1b[2J\x1b[1A\u202eforged" in out, out


async def test_a_trace_of_megabytes_costs_kilobytes_in_the_log_and_the_history() -> None:
    # Each restart decision logs the evidence and each history record keeps it: a 2 MB trace
    # made a 2 MB log line (which log shippers drop or split) and 2 MB of state file per restart.
    trace = ("org.apache.kafka.connect.errors.ConnectException: boom\n" + "\tat x.y.Z.f(Z.java:1)\n" * 100_000
             + "Caused by: java.net.SocketTimeoutException: the root cause\n")
    connectors = [{"name": "broken", "script": {"initial": "FAILED", "recover_after_restarts": 1, "trace": trace}}]
    w = world(connectors, [status_rule()], scenario=sim_scenario(connectors, restart={"delay_seconds": 2}))

    with capture_logs() as logs:
        await run_polls(w, 3)

    [decided] = [e for e in logs if e["event"] == "decision" and e["decision"] == "restart"]
    [record] = w.daemon.state.history(None, 10)
    for evidence in (decided["evidence"], record.evidence):
        assert evidence is not None
        assert len(json.dumps(evidence)) < 10_000, len(json.dumps(evidence))
        kept = evidence["trace"]
        assert kept.startswith("org.apache.kafka.connect.errors.ConnectException: boom\n"), "the exception is kept"
        assert kept.endswith("Caused by: java.net.SocketTimeoutException: the root cause\n"), "and the root cause"
        assert "characters left out" in kept, "and it says it was cut"
    assert captured_error(record) == "org.apache.kafka.connect.errors.ConnectException: boom"


async def test_a_state_of_a_megabyte_costs_no_megabyte_log_line_or_state_row() -> None:
    # A state was said whole wherever its connector was: a connector state and a task state of a
    # megabyte each made a 3 MB `unknown_state` warning, a 1 MB `decision` line at every poll,
    # and a 1 MB last seen state written to the state file at every poll. They are cut, said cut,
    # and still no state any API reports (transient, never restarted on).
    huge = "QUIESCED" + "X" * 1_000_000
    body = {"odd": {"status": {"name": "odd", "type": "sink", "connector": {"state": huge, "worker_id": "w"},
                               "tasks": [{"id": 0, "state": huge}]}},
            "broken": {"status": {"name": "broken", "type": "sink", "connector": {"state": "RUNNING", "worker_id": "w"},
                                  "tasks": [{"id": 0, "state": "FAILED"}, {"id": 1, "state": huge}]}}}
    w = faulty_world([{"match": {"endpoint": "list"}, "action": {"status": 200, "body": body}}])

    with capture_logs() as logs:
        await run_polls(w, 3)

    sizes = {e["event"]: max(len(json.dumps(x, default=str)) for x in logs if x["event"] == e["event"]) for e in logs}
    assert max(sizes.values()) < 10_000, sizes
    [said] = [e for e in logs if e["event"] == "unknown_state" and e["connector"] == "odd"]
    assert said["states"] == ["QUIESCED" + "X" * 56 + "... (1000008 characters)"], said["states"]
    [row] = [r for r in w.daemon.state.rows() if r.key.connector == "odd"]
    assert row.seen_state is not None and len(row.seen_state) < 100, len(row.seen_state or "")
    assert w.sample("watchdog_connectors", cluster=CLUSTER, health="transient") == 1
    assert restart_times(w, "odd") == [] and len(restart_times(w, "broken")) == 1
    [record] = w.daemon.state.history(None, 10)
    assert len(json.dumps(record.evidence)) < 10_000


async def test_a_connector_of_20000_tasks_costs_no_log_line_of_hundreds_of_kilobytes() -> None:
    # `unknown_state` and `degraded_too_long` named every task: a connector listed with 50,000
    # tasks (a 3 MB answer, well within api.max_response_bytes) made warnings of 1.4 MB and 1.1 MB;
    # 20,000, of 0.4 and 0.45 MB.
    # They name 20, those in an unknown state first, and count the rest.
    many = [{"id": i, "state": "RUNNING"} for i in range(20_000)]
    body = {"odd": {"status": {"name": "odd", "type": "sink", "connector": {"state": "RUNNING", "worker_id": "w"},
                               "tasks": [*many, *({"id": 20_000 + i, "state": f"QUIESCED-{i}"} for i in range(30))]}},
            "waiting": {"status": {"name": "waiting", "type": "sink", "connector": {"state": "DEGRADED", "worker_id": "w"},
                                   "tasks": [{"id": i, "state": "UNASSIGNED"} for i in range(20_000)]}}}
    connectors = [{"name": "odd"}, {"name": "waiting"}]
    faults = [{"match": {"endpoint": "list"}, "action": {"status": 200, "body": body}}]
    rule = status_rule(trigger={"type": "status", "interval": 5, "confirm_polls": 2, "degraded_report_after": "1s"})
    w = world(connectors, [rule], scenario=sim_scenario(connectors, faults=faults))

    with capture_logs() as logs:
        await run_polls(w, 2)

    [unknown] = [e for e in logs if e["event"] == "unknown_state"]
    [degraded] = [e for e in logs if e["event"] == "degraded_too_long"]
    for line in (unknown, degraded):
        assert len(json.dumps(line, default=str)) < 10_000, (line["event"], len(json.dumps(line, default=str)))
    assert len(unknown["states"]) == 20 and unknown["states_not_shown"] == 10
    assert all(state.startswith("QUIESCED-") for state in unknown["tasks"].values()), "those in an unknown state first"
    assert unknown["tasks_not_shown"] == 20_010 and degraded["tasks_not_shown"] == 19_980


@pytest.mark.parametrize("backend", ["confluent_cloud", "kafka_connect"])
async def test_a_list_of_100000_tiny_entries_is_a_failed_poll_not_100000_connectors(backend: str) -> None:
    # 100,000 entries of 58 bytes (5.9 MB, well within api.max_response_bytes) were taken for
    # 100,000 connectors: 300,000 metric series, 100,000 state rows, 325 MB kept and a poll of a
    # minute, and 16 MB fit 280,000. More than api.max_listed_connectors (20,000) is a failed
    # poll, read no further, that wipes nothing.
    body = json.dumps({f"c{i}": {"status": {"connector": {"state": "RUNNING"}}} for i in range(100_000)})
    w = world(BROKEN, [status_rule()], backend=backend, scenario=sim_scenario(
        BROKEN, backend, restart={"delay_seconds": 2},
        faults=[{"match": {"endpoint": "list"}, "when": {"from": 2}, "action": {"status": 200, "body": body}}]))
    await run_polls(w, 2)
    before = sum(len(m.samples) for m in w.daemon.metrics.registry.collect())

    with capture_logs() as logs:
        await run_polls(w, 1)

    [failed] = [e for e in logs if e["event"] == "poll_failed"]
    assert failed["message"] == ("unreadable response: the list holds 100000 connectors, more than "
                                 "api.max_listed_connectors (20000); not read (raise the setting if the cluster has that many)")
    assert polls(w, "server_error") == 1
    assert sum(len(m.samples) for m in w.daemon.metrics.registry.collect()) <= before + 10
    assert [r.key.connector for r in w.daemon.state.rows()] == ["broken"], "nothing recorded, nothing wiped"
    assert w.total("watchdog_connectors", cluster=CLUSTER) == 1, "the last listing stands"


async def test_a_password_in_a_connectors_trace_is_kept_nowhere() -> None:
    # A connector's error often quotes its connection URL, password and all. The log masked it;
    # the history (the state file, GET /v1/history, `watchdog history`) kept it as it came.
    trace = ("org.apache.kafka.connect.errors.ConnectException: jdbc:postgresql://etl:Hunter2-LEAK@db:5432/orders refused\n"
             + "\tat x.y.Z.f(Z.java:1)\n" * 300 + "Caused by: cannot reach http://etl:Hunter2-LEAK@db:5432/\n")
    connectors = [{"name": "broken", "script": {"initial": "FAILED", "recover_after_restarts": 1, "trace": trace}}]
    w = world(connectors, [status_rule()], scenario=sim_scenario(connectors, restart={"delay_seconds": 2}))

    await run_polls(w, 3)

    [record] = w.daemon.state.history(None, 10)
    kept = json.dumps(record.evidence)
    assert "Hunter2" not in kept, kept[:300]
    assert "jdbc:postgresql://***@db:5432/orders refused" in kept and "http://***@db:5432/" in kept


def _daemons_own_credentials() -> list[str]:
    """The forms of the daemon's own key a connector or Confluent's advice may quote: the secret,
    the pair, the Basic token and the key id."""
    token = base64.b64encode(f"{TEST_API_KEY}:{TEST_API_SECRET}".encode()).decode()
    return [TEST_API_SECRET, f"{TEST_API_KEY}:{TEST_API_SECRET}", token, TEST_API_KEY]


@pytest.mark.parametrize("backend", ["confluent_cloud", "kafka_connect"])
async def test_the_daemons_own_credentials_in_a_trace_or_advice_are_kept_nowhere(backend: str) -> None:
    # A managed connector using the daemon's service-account key (or a worker's basic-auth user and
    # password) can quote it in its trace, its tasks' messages, and Confluent's advice. The log
    # starred it; the history rows, GET /v1/history, `watchdog history` (its ERROR column showed
    # the Basic token's start) and GET /v1/connectors kept it as it came: only URLs' credentials
    # were masked where the text entered.
    token = base64.b64encode(f"{TEST_API_KEY}:{TEST_API_SECRET}".encode()).decode()
    said = f"Authorization: Basic {token} for {TEST_API_KEY}:{TEST_API_SECRET} (secret {TEST_API_SECRET}, key {TEST_API_KEY})"
    connectors = [{"name": "broken", "script": {"initial": "FAILED", "recover_after_restarts": 1,
                                                "trace": f"ConnectException: {said}\n\tat x.y.Z.f(Z.java:1)\n",
                                                "message": f"task failed: {said}"}}]
    faults = [{"match": {"endpoint": "error_recommendations"}, "action": {"status": 200, "body": {"recommendations": [said]}}}]
    clusters = {CLUSTER: {**cluster_config(backend, "http://sim"), "credential": "main"}} if backend == "kafka_connect" else None
    w = world(connectors, [status_rule(fetch_recommendations=backend == "confluent_cloud")], backend=backend, token=TOKEN,
              scenario=sim_scenario(connectors, backend, restart={"delay_seconds": 2}, faults=faults),
              **({"clusters": clusters} if clusters else {}))
    stream = io.StringIO()
    configure_logging("DEBUG", "json", stream)
    app = create_app(w.daemon.metrics.registry, w.daemon.probes, w.daemon.api_context())

    await run_polls(w, 3)

    [record] = w.daemon.state.history(None, 10)
    assert record.evidence is not None
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://daemon") as http:
        served_history = (await http.get("/v1/history", headers=AUTH)).text
        served_connectors = (await http.get("/v1/connectors", headers=AUTH)).text
    shown = {"the history rows": json.dumps([record.evidence, record.recommendations, record.message]),
             "GET /v1/history": served_history, "GET /v1/connectors": served_connectors,
             "history --json": json.dumps(history_json([record])),
             "history": render_history([record], now=datetime.now(UTC)), "the log": stream.getvalue()}
    for where, text in shown.items():
        for secret in _daemons_own_credentials():
            assert secret not in text, (where, secret[:4], text[:600])
        assert token[:12] not in text, where  # the table's ERROR column is cut: its start was shown
    assert "ConnectException: Authorization: Basic *** for *** (secret ***, key ***)" in json.dumps(record.evidence), record.evidence
    if backend == "confluent_cloud":
        assert record.recommendations == ("Authorization: Basic *** for *** (secret ***, key ***)",), record.recommendations


async def test_a_password_in_a_urls_parameters_in_a_connectors_trace_is_kept_nowhere() -> None:
    # MySQL's and SQL Server's JDBC URLs carry the password as a parameter, not as user:pass@:
    # docs/configuration.md said the credentials of any URL in a trace were masked, and these were
    # kept in the log (restart_evidence) and the history as they came.
    trace = ("java.sql.SQLException: Cannot create PoolableConnectionFactory "
             "(url=jdbc:mysql://db:3306/orders?user=etl&password=Hunter2-LEAK&useSSL=true)\n"
             "Caused by: jdbc:sqlserver://db:1433;databaseName=orders;user=etl;password=Hunter3-LEAK;encrypt=true\n"
             "Caused by: POST https://hooks.example.com/notify?access_token=Hunter4-LEAK refused\n")
    connectors = [{"name": "broken", "script": {"initial": "FAILED", "recover_after_restarts": 1, "trace": trace}}]
    w = world(connectors, [status_rule()], scenario=sim_scenario(connectors, restart={"delay_seconds": 2}))
    stream = io.StringIO()
    configure_logging("DEBUG", "json", stream)

    await run_polls(w, 3)

    [record] = w.daemon.state.history(None, 10)
    kept = json.dumps(record.evidence) + stream.getvalue()
    assert "LEAK" not in kept, kept[:600]
    assert "orders?user=etl&password=***&useSSL=true" in kept and "user=etl;password=***;encrypt=true" in kept
    assert "notify?access_token=*** refused" in kept


async def test_a_password_in_a_url_in_an_error_message_is_kept_nowhere() -> None:
    # The log masked it; the history (and the restart API's answers) kept the message as it came.
    said = "Failed to validate jdbc:mysql://etl:Hunter2-LEAK@db:3306/orders"
    w = faulty_world([{"match": {"endpoint": "restart"}, "action": {"status": 400, "body": {"error": {"code": 400, "message": said}}}}])

    await run_polls(w, 3)

    [record] = w.daemon.state.history(limit=10)
    assert record.message == "Failed to validate jdbc:mysql://***@db:3306/orders", record.message


# Half of a UTF-16 surrogate pair, escaped alone: legal JSON, what a Java server writes for a
# message cut between an emoji's two halves, and a str no encoder (SQLite's among them) takes.
HALF_EMOJI = "\\ud83d"
# Half an emoji as JSON escapes it, and as its own three bytes (ED A0 BD), as a CESU-8 or Java
# "modified UTF-8" encoder writes it: not UTF-8, but Python's JSON reader takes it (the simulator
# sends a text body's lone surrogate so). Unescaped, it passed the check for escapes, and a state
# holding one crashed every poll of its cluster (UnicodeEncodeError writing the state).
HALF_EMOJI_FORMS = pytest.mark.parametrize("half", [HALF_EMOJI, "\ud83d"], ids=["escaped", "raw-bytes"])


@HALF_EMOJI_FORMS
async def test_a_refusal_whose_message_holds_half_an_emoji_is_recorded_in_the_history(half: str) -> None:
    body = '{"error": {"code": 400, "message": "cannot restart ' + half + '"}}'
    w = faulty_world([{"match": {"endpoint": "restart"}, "when": {"count": 1}, "action": {"status": 400, "body": body}}])

    with capture_logs() as logs:
        await run_polls(w, 4)

    assert [e for e in logs if e["event"] == "restart_job_crashed"] == []
    [record] = w.daemon.state.history(limit=10)
    assert (record.outcome, record.status_code, record.message) == (Outcome.REJECTED, 400, "cannot restart \ufffd")


@HALF_EMOJI_FORMS
async def test_a_state_holding_half_an_emoji_costs_no_poll(half: str) -> None:
    body = ('{"odd": {"status": {"name": "odd", "type": "source", "tasks": [],'
            ' "connector": {"state": "FAILED' + half + '", "worker_id": "odd"}}},'
            ' "broken": {"status": {"name": "broken", "type": "source", "tasks": [],'
            ' "connector": {"state": "FAILED", "worker_id": "broken", "trace": "boom ' + half + '"}}}}')
    w = faulty_world([{"match": {"endpoint": "list"}, "when": {"count": 3}, "action": {"status": 200, "body": body}}])

    await run_polls(w, 3)

    assert polls(w, "ok") == 3
    assert len(restart_times(w, "broken")) == 1, "the FAILED neighbour was not restarted"
    [record] = w.daemon.state.history(limit=10)
    assert record.evidence is not None and record.evidence["trace"] == "boom \ufffd"


@HALF_EMOJI_FORMS
async def test_a_connector_name_holding_half_an_emoji_is_ignored_and_its_neighbours_polled(half: str) -> None:
    body = ('{"odd' + half + '": {"status": {"name": "odd", "type": "source", "tasks": [],'
            ' "connector": {"state": "FAILED", "worker_id": "odd"}}},'
            ' "broken": {"status": {"name": "broken", "type": "source", "tasks": [],'
            ' "connector": {"state": "FAILED", "worker_id": "broken"}}}}')
    w = faulty_world([{"match": {"endpoint": "list"}, "when": {"count": 3}, "action": {"status": 200, "body": body}}])

    with capture_logs() as logs:
        await run_polls(w, 3)

    assert polls(w, "ok") == 3
    assert [c.connector for c in w.simulator.restarts(accepted_only=False)] == ["broken"]
    assert {e["count"] for e in logs if e["event"] == "unusable_connector_names_ignored"} == {1}
    # Said once at warning, not at each of the three polls; and when the listing no longer has it.
    said = [(e["log_level"], e["count"]) for e in logs if e["event"] == "unusable_connector_names_ignored"]
    assert [s for s in said if s[0] != "debug"] == [("warning", 1)]
    with capture_logs() as logs:
        await run_polls(w, 1)  # the simulator's own listing: no such name
    said = [(e["log_level"], e["count"]) for e in logs if e["event"] == "unusable_connector_names_ignored"]
    assert said == [("info", 0)]


async def test_a_byte_that_is_not_utf8_costs_no_poll() -> None:
    # One Latin-1 `é` (the byte E9; the simulator plays it as "\udce9") in one connector's trace
    # failed every poll of the cluster: "unreadable response: 'utf-8' codec can't decode byte 0xe9",
    # and its FAILED connector was never restarted. Read as U+FFFD; a name holding such a byte
    # (no URL can address it) is ignored like any name that is not valid Unicode.
    body = ('{"odd\udce9": {"status": {"name": "odd", "type": "source", "tasks": [],'
            ' "connector": {"state": "FAILED", "worker_id": "odd"}}},'
            ' "broken": {"status": {"name": "broken", "type": "source", "tasks": [],'
            ' "connector": {"state": "FAILED", "worker_id": "broken", "trace": "caf\udce9 boom"}}}}')
    w = faulty_world([{"match": {"endpoint": "list"}, "when": {"count": 3}, "action": {"status": 200, "body": body}}])

    with capture_logs() as logs:
        await run_polls(w, 3)

    assert polls(w, "ok") == 3
    assert [c.connector for c in w.simulator.restarts(accepted_only=False)] == ["broken"]
    [record] = w.daemon.state.history(limit=10)
    assert record.evidence is not None and record.evidence["trace"] == "caf\ufffd boom"
    assert {e["count"] for e in logs if e["event"] == "unusable_connector_names_ignored"} == {1}


async def test_a_raw_control_character_in_one_trace_costs_no_poll() -> None:
    # JSON wants control characters escaped inside strings; a proxy or a hand-built answer that
    # passes one raw (an ESC of a coloured log line, a tab, a NUL) broke the strict reader, and
    # with it every poll of the cluster: "unreadable response", its FAILED connectors never
    # restarted (a probe, session 65). Read as the characters they are; a NUL, which no store
    # takes, as U+FFFD.
    body = ('{"broken": {"status": {"name": "broken", "type": "source", "tasks": [],'
            ' "connector": {"state": "FAILED", "worker_id": "broken",'
            ' "trace": "boom \x1b[31mred\x1b[0m\ttab\nline\x00nul"}}}}')
    w = faulty_world([{"match": {"endpoint": "list"}, "when": {"count": 3}, "action": {"status": 200, "body": body}}])

    await run_polls(w, 3)

    assert polls(w, "ok") == 3
    assert [c.connector for c in w.simulator.restarts(accepted_only=False)] == ["broken"]
    [record] = w.daemon.state.history(limit=10)
    assert record.evidence is not None
    assert record.evidence["trace"] == "boom \x1b[31mred\x1b[0m\ttab\nline\ufffdnul"
    # `history` prints it escaped: no terminal takes the ESC as a colour.
    shown = render_history([record], now=datetime.now(UTC))
    assert "\x1b" not in shown and "boom \\x1b[31mred" in shown, shown


def test_a_raw_nul_in_a_state_is_recorded_by_postgresql(postgres_server: PostgresServer, postgres_url: str) -> None:
    body = '{"odd": {"status": {"name": "odd", "type": "source", "tasks": [], "connector": {"state": "FAILED\x00", "worker_id": "odd"}}}}'
    http = httpx.AsyncClient(transport=httpx.MockTransport(lambda r: httpx.Response(200, content=body.encode())),
                             base_url="http://t")
    listed = asyncio.run(ConfluentCloudBackend(http, ENVIRONMENT, CLUSTER_ID).list_connectors())
    assert listed.value is not None and listed.value["odd"].state == "FAILED\ufffd"

    with PostgresStateStore(postgres_url, password=postgres_server.password) as store:
        store.fence(take_lease(postgres_server, postgres_url), "test-replica")
        store.observe_status(ConnectorKey(CLUSTER, "odd"), listed.value["odd"].state, datetime.now(UTC))


def test_a_state_holding_a_nul_is_recorded_by_postgresql(postgres_server: PostgresServer, postgres_url: str) -> None:
    # PostgreSQL's text refuses NUL: the cluster's every poll ended "could not record a
    # connector's status", and the store was counted failing, for one odd state of one entry.
    body = '{"odd": {"status": {"name": "odd", "type": "source", "tasks": [], "connector": {"state": "FAILED\\u0000", "worker_id": "odd"}}}}'
    http = httpx.AsyncClient(transport=httpx.MockTransport(lambda r: httpx.Response(200, content=body.encode())),
                             base_url="http://t")
    listed = asyncio.run(ConfluentCloudBackend(http, ENVIRONMENT, CLUSTER_ID).list_connectors())
    assert listed.value is not None

    with PostgresStateStore(postgres_url, password=postgres_server.password) as store:
        store.fence(take_lease(postgres_server, postgres_url), "test-replica")
        store.observe_status(ConnectorKey(CLUSTER, "odd"), listed.value["odd"].state, datetime.now(UTC))
        assert store.problem is None


async def _echo_server(answer: bytes) -> asyncio.Server:
    """A server on 127.0.0.1 that answers any request with `answer`, in which `AUTH` stands for
    the request's own Authorization line: no HTTP, so httpx raises an error quoting it."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        [auth] = [line for line in head.split(b"\r\n") if line.lower().startswith(b"authorization:")]
        writer.write(answer.replace(b"AUTH", auth))
        await writer.drain()
        writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0)


@pytest.mark.parametrize("answer", [b"AUTH\r\n\r\n", b"HTTP/1.1 500 Oops\r\nX-Echo AUTH\r\n\r\n"],
                         ids=["status-line", "header-line"])
@pytest.mark.parametrize("client", ["confluent_cloud", "kafka_connect", "metrics_api"])
async def test_a_server_that_sends_the_request_back_as_no_http_gets_no_credential_logged_or_kept(
        client: str, answer: bytes) -> None:
    # h11 quotes what it could not read (`illegal status line: bytearray(b'Authorization: Basic
    # ...')`); the message of the failed call, logged and kept in the history, held the key's
    # Basic token: key id and secret, base64 encoded.
    token = base64.b64encode(f"{TEST_API_KEY}:{TEST_API_SECRET}".encode()).decode()
    server = await _echo_server(answer)
    base = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    http = httpx.AsyncClient(base_url=base, auth=httpx.BasicAuth(TEST_API_KEY, TEST_API_SECRET))
    try:
        if client == "confluent_cloud":
            result = await ConfluentCloudBackend(http, ENVIRONMENT, CLUSTER_ID).list_connectors()
        elif client == "kafka_connect":
            result = await KafkaConnectBackend(http, [base]).list_connectors()
        else:
            now = datetime.now(UTC)
            result = await MetricsApiClient(http).query("io.confluent.kafka.connect/sent_records", ["lcc-1"],
                                                        now.replace(hour=0), now.replace(hour=1))
    finally:
        await http.aclose()
        server.close()

    assert result.outcome is Outcome.NETWORK_ERROR and "RemoteProtocolError: illegal" in result.message, result
    assert "Authorization" in result.message and "Basic ***" in result.message, "it still says what came back"
    for secret in (token, TEST_API_SECRET, TEST_API_KEY):
        assert secret not in result.message, result.message


def with_header(w: World, name: bytes, value: bytes) -> None:
    """Every answer the daemon's client gets carries `name: value` (in place of its own), as the raw
    bytes given."""
    transport = w.daemon._transport
    assert transport is not None
    handle = transport.handle_async_request

    async def added(request: httpx.Request) -> httpx.Response:
        response = await handle(request)
        kept = [(n, v) for n, v in response.headers.raw if n.lower() != name.lower()]
        return httpx.Response(response.status_code, headers=[*kept, (name, value)],
                              stream=response.stream, extensions=response.extensions)

    transport.handle_async_request = added  # type: ignore[method-assign]


@pytest.mark.parametrize("value", ["café-42".encode(), "café-42".encode("latin-1")], ids=["utf-8", "latin-1"])
async def test_an_answer_with_a_header_past_ascii_is_read(value: bytes) -> None:
    # HTTP allows bytes past ASCII in a field value (obs-text), and a gateway or a proxy may send
    # one (`X-Request-Id: café-42`). The answer, kept with its headers decoded to text and built
    # again, raised UnicodeEncodeError out of every call: against `watchdog run`, each poll of
    # the cluster was `poll_crashed` (never polled again while the header came), and a restart
    # the API answered 202 ended `network_error`, "internal error: UnicodeEncodeError".
    w = world(BROKEN, [status_rule()])
    with_header(w, b"X-Request-Id", value)

    with capture_logs() as logs:
        await run_polls(w, 3)

    assert polls(w, "ok") == 3 and polls(w, "network_error") == 0
    assert len(restart_times(w, "broken")) == 1
    assert w.total("watchdog_restarts_total", cluster=CLUSTER, connector="broken", outcome="accepted") == 1
    assert not [e for e in logs if e["event"] in ("poll_crashed", "restart_job_crashed")]
    [ended] = [e for e in logs if e["event"] == "restart_finished"]
    assert ended["request_id"] == "café-42", ended


OVERFLOWING_DATE = "Sun, 06 Nov 1994 99999999999999999999:49:37 GMT"  # an hour of more digits than a C long


@pytest.mark.parametrize(("status", "headers", "calls"), [
    (429, {"Retry-After": OVERFLOWING_DATE}, [429, 202]),
    (202, {"Date": OVERFLOWING_DATE, "X-RateLimit-Reset": str(int(time.time()) + 1)}, [202]),  # a Unix-time Reset
], ids=["429-retry-after", "202-date"])
async def test_an_http_date_beyond_any_number_is_no_information(status: int, headers: dict[str, str], calls: list[int]) -> None:
    # An HTTP-date whose field has more digits than a C long raised OverflowError out of the
    # header reader: against `watchdog run`, a restart answered 429 so ended `network_error`
    # ("internal error: OverflowError"), never tried again; one answered 202 so (its Date read
    # for a Unix-time X-RateLimit-Reset), `network_error` though made. Such a date is no
    # information, as any other malformed one.
    w = faulty_world([{"match": {"endpoint": "restart"}, "when": {"count": 1},
                       "action": {"status": status, "headers": headers,
                                  "body": {"error": {"code": 429, "message": "Too Many Requests"}} if status == 429 else None}}])

    with capture_logs() as logs:
        await run_polls(w, 3)

    assert [c.status_code for c in w.simulator.calls if c.endpoint == "restart"] == calls
    assert w.total("watchdog_restarts_total", cluster=CLUSTER, connector="broken", outcome="accepted") == 1
    assert not [e for e in logs if e["event"] == "restart_job_crashed"]


@pytest.mark.parametrize(("window", "said"), [(3600.0, True), (20.0, False)])
async def test_a_successful_answer_that_spends_the_budget_for_long_is_said(window: float, said: bool) -> None:
    # `X-RateLimit-Remaining: 0` with `X-RateLimit-Reset: 3600` on a 200 held every call of the
    # key for rate_limit.max_pause (15 minutes), restarts queued, and no line said why: a 429's
    # pause is said (`rate_limited`), this wait was not (found 2026-12-06 against an independent
    # fake). A Reset of a few seconds is everyday pacing, not said.
    scenario = sim_scenario([{"name": "orders"}],
                            rate_limit={"limit": 1, "window_seconds": window, "headers": "always"})
    w = in_process(scenario, daemon_config([status_rule()], rate_limit={"max_requests_per_second": 1000}))
    with capture_logs() as logs:
        await w.daemon.pollers[CLUSTER].poll()  # its answer spends the budget: said at once
    assert ConnectorKey(CLUSTER, "orders") in w.daemon.engine.statuses
    spent = [e for e in logs if e["event"] == "rate_limit_budget_spent"]
    if not said:
        assert spent == []
        return
    [line] = spent
    assert line["log_level"] == "warning" and line["remaining"] == 0 and line["credential"] == "main"
    assert 890 <= line["wait_seconds"] <= 900, "capped at max_pause"
    assert 3590 <= line["server_said_reset_seconds"] <= 3600
    # And status says the cluster's polls wait (`polls_paused`, "Polls paused"): it said `[]`, and
    # the table showed a view minutes old as the present (a probe, 2026-12-06).
    paused = w.daemon.pollers[CLUSTER].paused()
    assert paused is not None and 890 <= float(paused["paused_seconds"]) <= 900, paused  # type: ignore[arg-type]
    assert str(paused["paused_by"]).startswith("the key's budget: an answer said Remaining 0 until its Reset"), paused
