"""The webhook and restart API against hostile or careless callers (issue 12): only connectors a
listing showed are acted on, names and labels are bounded, the queue is capped, malformed input
is a 4xx naming the problem, every answer is counted, and a restart the queue cannot take is
never reported as requested."""

from __future__ import annotations

import asyncio
import gc
import json
import random
import string
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from watchdog.alerts import WebhookPayload
from watchdog.api.routes import CONCURRENT_BODIES
from watchdog.api.webhook import ALERT_CHUNK
from watchdog.api_input import MAX_PROBLEMS
from watchdog.config import AlertTrigger, ServerSettings
from watchdog.engine.decisions import ALERTS_JOINED
from watchdog.model import ConnectorKey, Trigger
from watchdog.server import create_app

from .support import CLUSTER, CLUSTER_ID, World, daemon_config, in_process, sim_scenario
from .test_api import AUTH, TOKEN, alert, payload

ALERT_ONLY = [{"name": "on-alert", "trigger": {"type": "alert", "match": {"alertname": "ConnectorStalled"}},
               "select": {"include": ["*"]}, "backoff": {"base": 60, "cap": 600, "jitter": 0}}]
CONNECTORS = [{"name": f"sink-{i}", "id": f"lcc-sink{i}"} for i in range(5)]


def world(rules: list[dict[str, Any]] = ALERT_ONLY, connectors: list[dict[str, Any]] = CONNECTORS,
          **config: Any) -> tuple[World, httpx.AsyncClient]:
    w = in_process(sim_scenario(connectors), daemon_config(rules, token=TOKEN, **config))
    app = create_app(w.daemon.metrics.registry, w.daemon.probes, w.daemon.api_context())
    return w, httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://daemon")


def calls(w: World, endpoint: str) -> int:
    return len([c for c in w.simulator.calls if c.endpoint == endpoint])


def series(w: World, connector: str) -> int:
    return sum(1 for metric in w.daemon.metrics.registry.collect() for s in metric.samples
               if s.labels.get("connector") == connector)


def random_name(rng: random.Random, length: int = 220) -> str:
    return "".join(rng.choice(string.ascii_lowercase) for _ in range(length))


# -- item 1: an empty presented token never authenticates --------------------------------------


async def test_an_empty_bearer_token_never_authenticates_even_against_a_blank_configured_one() -> None:
    w, http = world()
    # The config refuses a blank token; this is the second line of defence if one slips through.
    blank = ServerSettings.model_construct(**{**dict(w.daemon.config.server), "auth_token": SecretStr("")})
    w.daemon.config = w.daemon.config.model_copy(update={"server": blank})
    for headers in ({"Authorization": "Bearer"}, {"Authorization": "Bearer "}, {}):
        assert (await http.get("/v1/connectors", headers=headers)).status_code == 401
        response = await http.post("/v1/restarts", json={"cluster": CLUSTER, "connector": "sink-0"}, headers=headers)
        assert response.status_code == 401
    assert calls(w, "restart") == 0


# -- item 5: names nobody listed -----------------------------------------------------------------


async def test_names_no_listing_showed_are_refused_and_leave_no_trace() -> None:
    w, http = world()  # a cluster covered only by an alert rule: never polled
    rng = random.Random(3)
    w.daemon.queue.start()
    names = [random_name(rng) for _ in range(30)]
    for name in names[:10]:
        response = await http.post("/v1/restarts", json={"cluster": CLUSTER, "connector": name}, headers=AUTH)
        assert response.status_code == 404 and "not found in cluster" in response.json()["error"]
    fake_alerts = [alert(connector=name, fingerprint=f"fp{i}") for i, name in enumerate(names[10:])]
    results = (await http.post("/v1/alertmanager", json=payload(*fake_alerts), headers=AUTH)).json()["alerts"]
    assert {r["result"] for r in results} == {"unmatched"}
    await w.daemon.queue.join()
    assert calls(w, "restart") == 0, "a name nobody listed was sent to the API"
    assert calls(w, "list") == 1, "the cluster is listed once on demand, not once per request"
    assert all(series(w, name) == 0 for name in names), "a name nobody listed got metric series"
    assert w.daemon.state.rows() == [] and w.daemon.state.pending() == []


async def test_a_listed_connector_of_an_unpolled_cluster_is_restarted_after_an_on_demand_listing() -> None:
    w, http = world()
    w.daemon.queue.start()
    result = (await http.post("/v1/alertmanager", json=payload(alert(connector="sink-1")), headers=AUTH)).json()["alerts"][0]
    assert result["result"] == "restart_requested"
    await w.daemon.queue.join()
    assert [c.connector for c in w.simulator.restarts()] == ["sink-1"]
    assert calls(w, "list") == 1
    # Within the listing's freshness no second list call is made.
    await http.post("/v1/alertmanager", json=payload(alert(connector="sink-2", fingerprint="fp2")), headers=AUTH)
    assert calls(w, "list") == 1


async def test_a_cluster_that_cannot_be_listed_asks_alertmanager_to_send_again() -> None:
    w, http = world()
    w.simulator.set_faults([{"name": "down", "match": {"endpoint": "list"}, "action": {"status": 503}}])
    response = await http.post("/v1/alertmanager", json=payload(alert(connector="sink-1")), headers=AUTH)
    assert response.status_code == 503 and response.headers["retry-after"]
    result = response.json()["alerts"][0]
    assert result["result"] == "refused" and "could not be listed" in result["detail"]
    restart = await http.post("/v1/restarts", json={"cluster": CLUSTER, "connector": "sink-1"}, headers=AUTH)
    assert restart.status_code == 503 and "could not be listed" in restart.json()["error"]
    assert calls(w, "list") == 1, "a failed listing is remembered for a few seconds, not retried per request"
    assert calls(w, "restart") == 0


async def test_asking_again_for_a_restart_still_queued_does_not_grow_it() -> None:
    # A script asking every second for a restart whose key a 429 pauses (its job queued for up
    # to rate_limit.max_pause): each request joined the job. 5,000 such requests against
    # watchdog run made a job of 5,001 requests, 5,002 state rows and restart_queued lines, and
    # every answer named them all (95 KB each, growing with each request). A request asked for by
    # name (or by a schedule's rule) joins a queued restart that no request of its kind already
    # holds; one that does is answered `duplicate` with that job, whose outcome is its own.
    w, http = world(rules=[{"name": "all", "trigger": {"type": "schedule", "cron": "0 3 * * *"},
                            "select": {"include": ["*"]}}])
    # The queue is not started: the first restart stays queued.
    first = await http.post("/v1/restarts", json={"cluster": CLUSTER, "connector": "sink-1"}, headers=AUTH)
    assert first.status_code == 202 and first.json()["decision"] == "restart"
    again = [await http.post("/v1/restarts", json={"cluster": CLUSTER, "connector": "sink-1", "reason": "retry loop"},
                             headers=AUTH) for _ in range(50)]
    assert {a.status_code for a in again} == {202} and {a.json()["decision"] for a in again} == {"duplicate"}
    job = first.json()["job"]["id"]
    assert {a.json()["job"]["id"] for a in again} == {job}, "each answer follows the queued restart"
    assert all(a.json()["job"]["requests"] == [first.json()["id"]] for a in again)
    assert len(w.daemon.state.pending()) == 1
    followed = await http.get(f"/v1/restarts/{again[-1].json()['id']}", headers=AUTH)
    assert followed.status_code == 200 and followed.json()["job"]["id"] == job
    # A request of another kind still joins it (a schedule's: its own fate; docs/alerts-and-api.md,
    # the restart API).
    pending = w.daemon.queue.pending_job(ConnectorKey(CLUSTER, "sink-1"))
    assert pending is not None
    scheduled = w.daemon.engine.on_request(ConnectorKey(CLUSTER, "sink-1"), None, trigger=Trigger.SCHEDULE, rule="all",
                                           reason="nightly", known_missing=False)
    assert scheduled.decision.value == "duplicate" and len(pending.requests) == 2


async def test_thousands_of_firing_alerts_for_one_connector_do_not_grow_its_queued_restart() -> None:
    # Per-task alerts, one connector, its restart queued (a 429's pause, up to max_pause): each
    # distinct alert joined the job with a request of its own. 3 webhooks of 3,000 made a job of
    # 9,000 requests, 9,000 state rows and restart_queued lines, a 171 KB answer to GET
    # /v1/restarts/{id} and a restart_finished line naming 9,000 ids. The first ALERTS_JOINED
    # join; the others wait on the job in its `alerts`, each answered with the job.
    w, http = world()
    await w.daemon.pollers[CLUSTER].poll()  # the queue is not started: the restart stays queued

    def per_task(webhook: int, task: int, status: str = "firing") -> dict[str, Any]:
        sent = alert(status=status, connector="sink-1", fingerprint=f"{webhook:02x}{task:014x}")
        sent["labels"]["task"] = f"{webhook}-{task}"
        return sent

    answers = []
    for webhook in range(3):
        sent = await http.post("/v1/alertmanager", json=payload(*[per_task(webhook, t) for t in range(1000)]),
                               headers=AUTH)
        assert sent.status_code == 200
        answers += sent.json()["alerts"]
    job = w.daemon.queue.pending_job(ConnectorKey(CLUSTER, "sink-1"))
    assert job is not None and len(job.alerts) == 3000
    assert len(job.requests) == ALERTS_JOINED and len(w.daemon.state.pending()) == ALERTS_JOINED
    assert [a["result"] for a in answers] == ["restart_requested"] + ["duplicate"] * 2999
    last = await http.get(f"/v1/restarts/{answers[-1]['request_id']}", headers=AUTH)
    assert last.json()["job"]["id"] == job.id and len(last.content) < 3000, "each alert follows the one restart"
    # The job's fate is every alert's: it stays while one of them fires, and goes with the last.
    resolved = [per_task(w_, t, "resolved") for w_ in range(3) for t in range(1000)]
    kept = (await http.post("/v1/alertmanager", json=payload(*resolved[:-1], status="resolved"), headers=AUTH)).json()
    assert {a["result"] for a in kept["alerts"]} == {"resolved"} and w.daemon.queue.pending_job(job.key) is job
    last_one = (await http.post("/v1/alertmanager", json=payload(resolved[-1], status="resolved"), headers=AUTH)).json()
    assert last_one["alerts"][0]["result"] == "cancelled" and w.daemon.queue.pending_job(job.key) is None
    assert len(w.daemon.state.pending()) == 0


async def test_a_query_parameter_a_route_does_not_take_is_refused_not_ignored() -> None:
    # A misspelt filter was ignored: GET /v1/history?conector=orders-source answered every
    # connector's restarts as if they were that one's, /v1/connectors?cluster=platform every
    # cluster's rows, and POST /v1/restarts?dry_run=true was a real restart.
    w, http = world()
    history = await http.get("/v1/history?conector=sink-1&limit=5", headers=AUTH)
    assert history.status_code == 400
    assert history.json()["error"] == ("unknown query parameter 'conector': this route takes cluster, connector, "
                                       "limit; nothing was done")
    # GET /v1/connectors takes cluster= since the soak probe's finding 2: a misspelt one is refused.
    rows = await http.get("/v1/connectors?clusters=" + CLUSTER, headers=AUTH)
    assert rows.status_code == 400 and "'clusters'" in rows.json()["error"]
    assert "takes cluster, problems, gone" in rows.json()["error"]
    restart = await http.post("/v1/restarts?dry_run=true", json={"cluster": CLUSTER, "connector": "sink-1"}, headers=AUTH)
    assert restart.status_code == 400 and "'dry_run'" in restart.json()["error"]
    assert calls(w, "restart") == 0 and len(w.daemon.state.pending()) == 0
    # A hostile name is not quoted back whole or raw.
    odd = await http.get("/v1/history?" + "%1B" + "x" * 5000 + "=1", headers=AUTH)
    assert odd.status_code == 400 and len(odd.content) < 400 and "\\x1bxxx" in odd.json()["error"]
    # The webhook's URL may carry a query of its own (an Alertmanager telling its receivers apart):
    # ignored, as before; the known parameters still work.
    assert (await http.post("/v1/alertmanager?from=am-1", json=payload(), headers=AUTH)).status_code == 200
    assert (await http.get(f"/v1/history?cluster={CLUSTER}&connector=sink-1&limit=5", headers=AUTH)).status_code == 200


async def test_a_query_parameter_given_twice_is_refused_not_read_as_its_last() -> None:
    # GET /v1/history?connector=orders-sink&connector=billing-sink answered billing-sink's
    # restarts alone, and the same two the other way round orders-sink's: the last one was read
    # and the other ignored without a word (a script asking for two connectors' restarts, or a
    # proxy checking the first and the daemon reading the last). Which one was meant is a guess.
    w, http = world()
    for query in ("connector=sink-1&connector=sink-2", f"cluster={CLUSTER}&cluster=other", "limit=5&limit=5"):
        history = await http.get(f"/v1/history?{query}", headers=AUTH)
        assert history.status_code == 400, (query, history.text)
        name = query.split("=")[0]
        assert history.json()["error"] == (f"query parameter '{name}' given 2 times: this route takes each once; "
                                           "nothing was done"), history.json()
    assert (await http.get(f"/v1/history?cluster={CLUSTER}&connector=sink-1&limit=5", headers=AUTH)).status_code == 200


async def test_a_huge_connector_label_is_refused_without_growing_metrics() -> None:
    w, http = world()
    before = len((await http.get("/metrics")).content)
    huge = alert(connector="x" * 900_000)
    results = (await http.post("/v1/alertmanager", json=payload(huge), headers=AUTH)).json()["alerts"]
    assert results[0]["result"] == "unmatched" and "characters long" in results[0]["detail"]
    assert "xxxx" not in results[0]["detail"], "the label is not quoted back"
    assert len((await http.get("/metrics")).content) < before + 10_000


async def test_series_of_a_restarted_connector_go_when_a_listing_no_longer_shows_it() -> None:
    w, http = world()
    w.daemon.queue.start()
    await http.post("/v1/alertmanager", json=payload(alert(connector="sink-1")), headers=AUTH)
    await w.daemon.queue.join()
    assert series(w, "sink-1") > 0
    w.simulator.delete_connector(CLUSTER_ID, "sink-1")
    await w.daemon.pollers[CLUSTER].list()
    assert series(w, "sink-1") == 0


async def test_names_an_upstream_should_never_send_are_ignored() -> None:
    w, http = world(connectors=[{"name": "ok-sink"}, {"name": "y" * 300}])
    statuses = await w.daemon.pollers[CLUSTER].list()
    assert statuses is not None and list(statuses) == ["ok-sink"]


# -- item 5: the queue is capped per lane --------------------------------------------------------


async def test_a_full_lane_refuses_with_429_and_counts_it() -> None:
    w, http = world(queue={"max_jobs_per_lane": 2})  # the queue is not started: jobs stay queued
    answers = [await http.post("/v1/restarts", json={"cluster": CLUSTER, "connector": f"sink-{i}"}, headers=AUTH)
               for i in range(3)]
    assert [a.status_code for a in answers] == [202, 202, 429]
    refused = answers[2].json()
    assert refused["decision"] == "queue_full" and refused["job"] is None and answers[2].headers["retry-after"]
    assert w.sample("watchdog_decisions_total", cluster=CLUSTER, rule="manual", trigger="manual", decision="queue_full") == 1
    assert w.daemon.queue.depth() == 2 and len(w.daemon.state.pending()) == 2
    webhook = await http.post("/v1/alertmanager", json=payload(alert(connector="sink-4")), headers=AUTH)
    assert webhook.status_code == 503, "Alertmanager must send it again once there is room"
    assert webhook.json()["alerts"][0]["decision"] == "queue_full"
    assert webhook.json()["alerts"][0]["result"] == "refused"


# -- a restart decided while the queue is closed ---------------------------------------------------


async def test_a_restart_decided_during_shutdown_is_reported_as_refused_not_requested() -> None:
    w, http = world()
    await w.daemon.pollers[CLUSTER].list()
    await w.daemon.queue.close(0)
    result = w.daemon.engine.on_alerts(payload_model(alert(connector="sink-1"))).alerts[0]
    assert (result.result, result.decision) == ("refused", "shutting_down")
    assert w.sample("watchdog_decisions_total", cluster=CLUSTER, rule="on-alert", trigger="alert", decision="shutting_down") == 1
    assert w.sample("watchdog_decisions_total", cluster=CLUSTER, rule="on-alert", trigger="alert", decision="restart") == 0
    assert w.sample("watchdog_webhook_alerts_total", result="restart_requested") == 0
    assert w.daemon.state.pending() == []


def payload_model(*alerts: dict[str, Any]) -> Any:
    from watchdog.alerts import WebhookPayload

    return WebhookPayload.model_validate(payload(*alerts))


# -- items 10 and 15: malformed input is a 4xx naming the problem, and counted -------------------


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "expected"),
    [
        ("GET", "/v1/history?limit=%C2%B2", None, 400, "limit must be a whole number"),
        ("POST", "/v1/restarts", b"[" * 100_000, 400, "nested too deeply"),
        ("POST", "/v1/alertmanager", b'{"a":' * 1000 + b"1" + b"}" * 1000, 400, "nested too deeply"),
        ("POST", "/v1/restarts", b'{"cluster": "prod", "connector": "sink-0", "n": ' + b"9" * 5000 + b"}", 400, "not acceptable JSON"),
        ("POST", "/v1/restarts", b'{"cluster": "prod", "connector": "sink\\u001b[2J"}', 422, "control characters"),
        ("POST", "/v1/restarts", b'{"cluster": "prod", "connector": "' + b"s" * 256 + b'"}', 422, "at most 255"),
        ("GET", "/v1/history?connector=%1B%5D0%3Bpwned", None, 400, "control characters"),
        # A NUL or half a surrogate pair became U+FFFD before the name was checked: looked up as a
        # name never sent, a 404 "did you mean 'sink-0'?" (found 2026-12-06).
        ("POST", "/v1/restarts", b'{"cluster": "prod", "connector": "sink-0\\u0000"}', 422, "holds U+FFFD"),
        ("POST", "/v1/restarts", b'{"cluster": "prod", "connector": "sink-0\\ud800"}', 422, "holds U+FFFD"),
        ("POST", "/v1/restarts", b'{"cluster": "pr\\u0000od", "connector": "sink-0"}', 422, "holds U+FFFD"),
        # Given empty (a variable unset), a filter was no filter: every connector's restarts.
        ("GET", "/v1/history?connector=", None, 400, "query parameter 'connector' is empty"),
        ("GET", "/v1/history?cluster=&limit=5", None, 400, "query parameter 'cluster' is empty"),
        # Not UTF-8 once percent-decoded: read with U+FFFD, "no restarts" for a mangled name.
        ("GET", "/v1/history?connector=%ff%fe", None, 400, "not UTF-8 text once percent-decoded"),
        ("GET", "/v1/history?cluster=%c3", None, 400, "not UTF-8 text once percent-decoded"),
    ],
    ids=["superscript-digit", "100k-brackets", "1000-nested-objects", "5000-digit-integer", "escape-in-name",
         "name-too-long", "escape-in-query", "nul-in-name", "surrogate-in-name", "nul-in-cluster", "empty-connector",
         "empty-cluster", "latin1-in-query", "cut-utf8-in-query"],
)
async def test_malformed_input_is_a_4xx_that_names_the_problem_and_is_counted(
    method: str, path: str, body: bytes | None, status: int, expected: str
) -> None:
    w, http = world()
    response = await http.request(method, path, content=body, headers={**AUTH, "Content-Type": "application/json"})
    assert response.status_code == status, response.text
    assert expected in response.json()["error"] + str(response.json().get("problems", ""))
    route = path.split("?")[0].split("/")[2]
    assert w.total("watchdog_http_requests_total", route=route, status_class="4xx") == 1
    assert calls(w, "restart") == 0


async def test_a_key_given_twice_is_refused_not_read_as_its_last_value() -> None:
    # Before: the last value counted, so a body a proxy or policy in front of the daemon read as
    # cluster "staging" (the first) restarted sink-0 in prod; an alert label given twice, alike.
    w, http = world(rules=[*ALERT_ONLY, {"name": "heal", "trigger": {"type": "status"}, "select": {"include": ["*"]}}])
    w.daemon.queue.start()
    await w.daemon.pollers[CLUSTER].poll()
    restart = b'{"cluster": "staging", "connector": "sink-0", "cluster": "prod"}'
    firing = alert(connector="sink-1")
    webhook = httpx.Request("POST", "/", json=payload(firing)).content.replace(
        b'"connector":"sink-1"', b'"connector":"not-watched","connector":"sink-1"')
    assert b'"not-watched"' in webhook
    for path, body, key in (("/v1/restarts", restart, "cluster"), ("/v1/alertmanager", webhook, "connector")):
        response = await http.post(path, content=body, headers={**AUTH, "Content-Type": "application/json"})
        assert response.status_code == 400, response.text
        assert response.json()["error"] == f"request body is not acceptable JSON: the key '{key}' appears twice in one object"
    await w.daemon.queue.join()
    assert calls(w, "restart") == 0


@pytest.mark.parametrize("raw", [False, True], ids=["escaped", "raw-bytes"])
async def test_half_an_emoji_in_an_alert_or_a_reason_is_restarted_and_recorded_not_a_500(raw: bool) -> None:
    # JSON may escape half of a surrogate pair alone ("\\ud83d": a summary cut between an emoji's
    # halves). Before: the request's write to the state file raised UnicodeEncodeError, the
    # webhook answered 500, Alertmanager sent it again, failing alike, and nothing was restarted.
    # `raw`: the half as its own three bytes (ED A0 BD, a CESU-8 or Java "modified UTF-8"
    # sender's), which Python's JSON reader takes unescaped: it passed the check for escapes and
    # failed alike.
    w, http = world()
    w.daemon.queue.start()
    firing = alert(connector="sink-1")
    firing["annotations"]["summary"] = "lag on sink-1 \ud83d"
    webhook = json.dumps(payload(firing), ensure_ascii=not raw).encode("utf-8", "surrogatepass")
    restart = json.dumps({"cluster": "prod", "connector": "sink-0", "reason": "paged \ud83d"},
                         ensure_ascii=not raw).encode("utf-8", "surrogatepass")
    half = b"\xed\xa0\xbd" if raw else b"\\ud83d"
    assert half in webhook and half in restart
    for path, body in (("/v1/alertmanager", webhook), ("/v1/restarts", restart)):
        response = await http.post(path, content=body, headers={**AUTH, "Content-Type": "application/json"})
        assert response.status_code in (200, 202), response.text
    await w.daemon.queue.join()
    assert calls(w, "restart") == 2
    outcomes = {r.key.connector: r.outcome.value for r in w.daemon.state.history()}
    assert outcomes == {"sink-1": "accepted", "sink-0": "accepted"}


async def test_a_refused_request_is_logged_with_its_reason() -> None:
    # Alertmanager does not send a refused group again and nobody reads the answer: before, the
    # log said `http_request status=422` and not why.
    import structlog

    _, http = world()
    body = {**payload(alert()), "version": 4}  # not a string ("3" is read: tests/test_webhook_version.py)
    with structlog.testing.capture_logs() as logs:
        assert (await http.post("/v1/alertmanager", json=body, headers=AUTH)).status_code == 422
        assert (await http.post("/v1/restarts", json={"cluster": "nope", "connector": "x"}, headers=AUTH)).status_code == 404
    webhook, restart = [e for e in logs if e["event"] == "http_request"]
    assert webhook["status"] == 422 and webhook["error"] == "request body does not match the expected shape"
    assert webhook["problems"] == [{"field": "version", "problem": "Input should be a valid string"}]
    assert restart["status"] == 404 and restart["error"] == "unknown cluster 'nope'" and "problems" not in restart


async def test_a_422_names_the_first_problems_and_counts_the_rest() -> None:
    # One alert whose labels hold 100,000 non-strings (a 0.9 MB body) got a 7.8 MB 422.
    w, http = world()
    labels = ",".join(f'"{i}":1' for i in range(100_000))
    body = ('{"version":"4","status":"firing","alerts":[{"status":"firing","startsAt":"2026-03-01T12:00:00Z",'
            '"labels":{' + labels + "}}]}").encode()
    response = await http.post("/v1/alertmanager", content=body, headers={**AUTH, "Content-Type": "application/json"})
    assert response.status_code == 422
    answer = response.json()
    assert len(response.content) < 5_000
    assert len(answer["problems"]) == MAX_PROBLEMS == 20 and answer["problems_not_shown"] == 100_000 - 20
    assert answer["problems"][0] == {"field": "alerts[0].labels.0", "problem": "Input should be a valid string"}
    # A body with few problems names them all, with no count of the rest.
    few = await http.post("/v1/restarts", json={"cluster": 1, "connector": 2}, headers=AUTH)
    assert few.status_code == 422 and "problems_not_shown" not in few.json()
    assert sorted(p["field"] for p in few.json()["problems"]) == ["cluster", "connector"]


async def test_a_422_does_not_quote_back_a_long_key_the_caller_chose() -> None:
    # The field a 422 names is the caller's own key where it is a label or an unknown field: a
    # 900 KB key was sent back whole, and written whole into the warning line that logs the
    # refusal (a 900 KB log line, which log shippers split or drop), once per request.
    import structlog

    w, http = world()
    key = "\x1b[2J" + "k" * 900_000
    alert_body = {"version": "4", "status": "firing", "alerts": [
        {"status": "firing", "startsAt": "2026-03-01T12:00:00Z", "labels": {"alertname": "ConnectorStalled", key: 1}}]}
    with structlog.testing.capture_logs() as logs:
        webhook = await http.post("/v1/alertmanager", json=alert_body, headers=AUTH)
        restart = await http.post("/v1/restarts", json={"cluster": "c", "connector": "x", key: 1}, headers=AUTH)
    for response, prefix in ((webhook, "alerts[0].labels."), (restart, "")):
        assert response.status_code == 422
        assert len(response.content) < 1_000, len(response.content)
        (problem,) = response.json()["problems"]
        # Still recognisable: where it is, how it starts, and that it was cut.
        assert problem["field"].startswith(prefix + "\\x1b[2Jkkk") and problem["field"].endswith("...")
    lines = [e for e in logs if e["event"] == "http_request"]
    assert len(lines) == 2 and all(len(json.dumps(e)) < 1_000 for e in lines)


async def test_an_exception_in_a_handler_is_a_counted_logged_500() -> None:
    import structlog

    w, http = world()

    async def broken(query: Any) -> dict[str, Any]:
        raise RuntimeError("a bug")

    w.daemon.connector_reading = broken  # type: ignore[method-assign]  # what the API reads with since s73
    app = create_app(w.daemon.metrics.registry, w.daemon.probes, w.daemon.api_context())
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app, raise_app_exceptions=False), base_url="http://daemon")
    with structlog.testing.capture_logs() as logs:
        response = await http.get("/v1/connectors", headers=AUTH)
    assert response.status_code == 500 and "log" in response.json()["error"]
    assert w.sample("watchdog_http_requests_total", route="connectors", status_class="5xx") == 1
    assert any(e["event"] == "http_request_failed" and e["log_level"] == "error" for e in logs)


async def test_every_answer_is_counted_including_unknown_paths() -> None:
    w, http = world()
    await http.get("/nope")
    await http.get("/healthz")
    assert w.sample("watchdog_http_requests_total", route="other", status_class="4xx") == 1
    assert w.sample("watchdog_http_requests_total", route="healthz", status_class="2xx") == 1


# -- item 8: a large webhook does not block the event loop --------------------------------------


async def test_a_group_that_a_raised_body_limit_lets_in_is_acted_on_whatever_its_count() -> None:
    # The advice of docs/alerts-and-api.md for a group larger than max_body_bytes is to raise the
    # limit; before, a group of more than 10,000 alerts was then a 422, every time: its connectors
    # never restarted.
    w, http = world(server={"max_body_bytes": 8 * 1024 * 1024})
    w.daemon.queue.start()
    ghosts = [alert(connector=f"ghost-{i}", fingerprint=f"{i:016x}") for i in range(10_000)]
    response = await http.post("/v1/alertmanager", json=payload(*ghosts, alert(connector="sink-3")), headers=AUTH)
    assert response.status_code == 200, response.text[:300]
    assert response.json()["alerts"][-1]["result"] == "restart_requested"
    await w.daemon.queue.join()
    assert calls(w, "restart") == 1


async def _post_counting_turns(http: httpx.AsyncClient, alerts: list[dict[str, Any]], counts: list[int]) -> httpx.Response:
    """Posts the alerts while another task starts a new count in `counts` at each turn of the
    event loop: what the webhook counts there with no other task let run lands in one count."""
    done = asyncio.Event()

    async def heartbeat() -> None:
        while not done.is_set():
            await asyncio.sleep(0)  # a turn each time the webhook lets the loop go
            counts.append(0)

    beating = asyncio.create_task(heartbeat())
    await asyncio.sleep(0)
    response = await http.post("/v1/alertmanager", json=payload(*alerts), headers=AUTH)
    done.set()
    await beating
    return response


async def test_a_webhook_of_thousands_of_alerts_does_not_stall_healthz(monkeypatch: pytest.MonkeyPatch) -> None:
    # Before, the loop was held for the whole request: /healthz, the queue and the polls waited
    # while 7,000 alerts were decided. Counted, not timed: the alerts decided with no other task
    # let run. The longest gap of a 5 ms heartbeat, bounded in seconds, was the machine's as much
    # as the code's (a garbage collection landing in the webhook once made a 0.57 s "stall").
    connectors = [{"name": f"c-{i}"} for i in range(100)]
    w, http = world(connectors=connectors, breaker={"max_restarts": None}, server={"max_body_bytes": 8 * 1024 * 1024})
    await w.daemon.pollers[CLUSTER].list()
    alerts = [alert(connector=f"c-{i % 100}", fingerprint=f"fp{i}") for i in range(7000)]
    decided_in_turn: list[int] = [0]  # alerts decided since the event loop last ran another task
    on_alerts = w.daemon.engine.on_alerts

    def counted(batch: Any, *args: Any, **kwargs: Any) -> Any:
        decided_in_turn[-1] += len(batch)
        return on_alerts(batch, *args, **kwargs)

    monkeypatch.setattr(w.daemon.engine, "on_alerts", counted)
    response = await _post_counting_turns(http, alerts, decided_in_turn)
    assert response.status_code == 200 and len(response.json()["alerts"]) == 7000
    assert sum(decided_in_turn) == 7000
    # Parsing the body is one step; deciding 7,000 alerts is 70 steps with yields between them.
    assert max(decided_in_turn) <= ALERT_CHUNK, f"{max(decided_in_turn)} alerts decided with the event loop held"


async def test_a_webhook_does_not_match_every_alert_against_every_alert_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    # 1,500 team alert rules ({alertname: ConnectorStalled, team: team-N}) and a group of 3,000
    # alerts (about the default 1 MiB): finding the clusters to list matched every alert against
    # every rule before the first chunk, 4.5 M matches and 4.5 s with the event loop held (the
    # liveness probe's timeout is 3 s); deciding then cost 1.3 ms an alert. Counted per turn of
    # the event loop: the matches the webhook made with no other task let run.
    teams = 500  # 500 rules and 2,000 alerts keep the count without the index at 1 M
    rules = [{"name": f"team-{i}", "trigger": {"type": "alert", "match": {"alertname": "ConnectorStalled", "team": f"team-{i}"}},
              "select": {"include": [f"team-{i}-*"]}} for i in range(teams)]
    w, http = world(rules=rules, connectors=[{"name": f"team-{i}-sink"} for i in range(teams)],
                    breaker={"max_restarts": None})
    await w.daemon.pollers[CLUSTER].list()
    alerts = []
    for i in range(2000):
        sent = alert(connector=f"team-{i % teams}-sink", fingerprint=f"{i:016x}")
        sent["labels"]["team"] = f"team-{i % teams}"
        alerts.append(sent)
    matched_in_turn: list[int] = [0]
    matches = AlertTrigger.matches

    def counted(self: AlertTrigger, labels: dict[str, str]) -> bool:
        matched_in_turn[-1] += 1
        return matches(self, labels)

    monkeypatch.setattr(AlertTrigger, "matches", counted)
    response = await _post_counting_turns(http, alerts, matched_in_turn)
    results = response.json()["alerts"]
    assert response.status_code == 200 and [r["result"] for r in results[:teams]] == ["restart_requested"] * teams
    assert {r["rule"] for r in results[:teams]} == {f"team-{i}" for i in range(teams)}, "each alert found its team's rule"
    # One match an alert to find the clusters, then the first chunk's, in one turn.
    assert max(matched_in_turn) <= len(alerts) + ALERT_CHUNK, f"{max(matched_in_turn)} matches with the event loop held"
    assert sum(matched_in_turn) <= 2 * len(alerts)


async def test_at_most_four_request_bodies_are_parsed_and_decided_at_once() -> None:
    # Each 1 MiB webhook costs about 10 MiB parsed: with max_connections of them at once, memory
    # would be the connection cap times that. The listing a webhook may need first is awaited
    # outside the slots and without the parsed body (it may sit behind a 429 pause of its key:
    # test_api_lanes.py), so here all twelve wait for it at once while no body stays parsed.
    w, _ = world()
    ctx = w.daemon.api_context()
    alerts_each = 2 * ALERT_CHUNK + 50  # decided in three chunks, with yields between them
    listing = listing_peak = deciding_peak = 0
    parsed_while_listing: list[int] = []
    deciding: set[str] = set()
    # Every webhook leaves the listing once all twelve wait in it: then all twelve want a slot at
    # once, however slowly a loaded machine parsed them (a fixed sleep let them trickle in, and
    # only three were ever deciding together).
    all_listing = asyncio.Event()

    async def slow_listing(clusters: Any) -> dict[str, str]:
        nonlocal listing, listing_peak
        listing += 1
        listing_peak = max(listing_peak, listing)
        if listing == 12:
            all_listing.set()
        await asyncio.wait_for(all_listing.wait(), 10)  # raises if they never all wait at once
        if not parsed_while_listing:
            parsed_while_listing.append(sum(isinstance(o, WebhookPayload) for o in gc.get_objects()))
        listing -= 1
        return {}

    decide = w.daemon.engine.on_alerts

    def on_alerts(alerts: Any, **kwargs: Any) -> Any:
        nonlocal deciding_peak
        webhook = alerts[0].fingerprint.split("-")[0]
        deciding.add(webhook)
        deciding_peak = max(deciding_peak, len(deciding))
        if alerts[-1].fingerprint == f"{webhook}-{alerts_each - 1}":
            deciding.discard(webhook)
        return decide(alerts, **kwargs)

    w.daemon.engine.on_alerts = on_alerts  # type: ignore[method-assign]
    ctx.ensure_listed = slow_listing
    app = create_app(w.daemon.metrics.registry, w.daemon.probes, ctx)
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://daemon")
    webhooks = [payload(*(alert(fingerprint=f"w{i}-{j}") for j in range(alerts_each))) for i in range(12)]
    answers = await asyncio.gather(*(http.post("/v1/alertmanager", json=body, headers=AUTH) for body in webhooks))
    assert all(a.status_code == 200 for a in answers)
    assert all(len(a.json()["alerts"]) == alerts_each for a in answers)
    assert deciding_peak == CONCURRENT_BODIES == 4, "at most four webhooks parsed and decided at once"
    assert listing_peak == 12, "a webhook waiting for its cluster's listing holds no slot"
    assert parsed_while_listing[0] <= CONCURRENT_BODIES, "a webhook waiting for a listing keeps its parsed body"
