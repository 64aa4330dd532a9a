"""Property-based fuzzing of the daemon's HTTP surface, served by uvicorn on 127.0.0.1: random and
mutated-valid requests (methods, paths, query strings, headers, bodies, framing) sent as raw
bytes, and valid webhooks and restart requests with random content.

What a user relies on, whatever comes: never a 5xx nor an error-level line or traceback in the
log; every refusal a 4xx whose JSON names its reason; a valid request never refused; the token
never sent back; the daemon still serving afterwards; and nothing restarted that the rules do not
select. Bounded (derandomized, a fixed number of examples: a few seconds each); a longer run
looks further: `FUZZ_EXAMPLES=5000 pytest tests/test_fuzz_http.py`.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import socket
from collections.abc import Callable
from typing import Any

import structlog
from hypothesis import given
from hypothesis import strategies as st

from watchdog.asgi_server import start_server, stop_server
from watchdog.server import create_app

from .fuzzing import FUZZ, mutations
from .test_api import RULES, TOKEN, alert, payload, polled, world

# test_api's rules: `heal` (status) and `on-alert` select every connector but tmp-*; paused-sink
# is PAUSED, never restarted.
RESTARTABLE = {"orders-sink", "billing-sink"}
NAMES = ["orders-sink", "billing-sink", "paused-sink", "tmp-sink", "nope", "", "orders-*", "ORDERS-SINK", "orders-sink ",
         "\u00e9", "a" * 300, "lcc-orders1", "x\x00y", "\ud83d"]
CLUSTERS = ["prod", "lkc-prod01", "env-abc123", "PROD", "", "staging", "lkc-*", "prod\n"]

names = st.sampled_from(NAMES)
clusters = st.sampled_from(CLUSTERS)
json_scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=False),
                         st.text(max_size=20), names, clusters)
json_values = st.recursive(json_scalars, lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=8), c, max_size=3),
                           max_leaves=10)


mutated = mutations(json_values)


def maybe_mutated(base: Any) -> st.SearchStrategy[Any]:
    return st.just(base) | mutated(base)


labels = st.fixed_dictionaries({"alertname": st.sampled_from(["ConnectorStalled", "Other"]), "kafka_cluster_id": clusters,
                                "connector": names})
starts = st.sampled_from(["2026-03-01T12:00:00Z", "2026-03-01T12:00:00+14:00", "9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z",
                          "2026-03-01", "1e30", "2026-13-01T00:00:00Z", "-1"])
alerts = st.builds(lambda la, status, at, fp: {**alert(status=status, fingerprint=fp), "labels": la, "startsAt": at},
                   labels, st.sampled_from(["firing", "resolved"]), starts, st.text(max_size=20))
webhooks = st.lists(alerts, max_size=4).map(lambda a: payload(*a)).flatmap(maybe_mutated)
restarts = st.fixed_dictionaries({"cluster": clusters, "connector": names}, optional={"reason": st.text(max_size=40)}
                                 ).flatmap(maybe_mutated)
bodies = st.one_of(
    webhooks.map(lambda v: json.dumps(v).encode()), restarts.map(lambda v: json.dumps(v).encode()),
    json_values.map(lambda v: json.dumps(v).encode()), st.binary(max_size=200),
    st.sampled_from([b"", b"{", b"null", b"1e999", b'{"a":1,"a":2}', b"[" * 5000, b'"\\ud800"', b"\xff\xfe{}", b"NaN"]),
)
ROUTES = {"/v1/alertmanager": "POST", "/v1/restarts": "POST", "/v1/connectors": "GET", "/v1/history": "GET",
          "/metrics": "GET", "/healthz": "GET", "/readyz": "GET", "/v1/restarts/0123456789abcdef": "GET"}
paths = st.one_of(
    st.sampled_from(sorted(ROUTES)), st.sampled_from(sorted(ROUTES)),
    st.sampled_from(["/v1/restarts/", "/v1/alertmanager/", "//v1/restarts", "/v1/%72estarts", "/v1/restarts/%00",
                     "/v1/restarts/../connectors", "/", "*", "/v1//history"]),
    st.text(st.characters(min_codepoint=33, max_codepoint=126, exclude_characters="?# "), max_size=30).map(lambda t: "/" + t),
)
queries = st.just("") | st.lists(st.tuples(st.sampled_from(["limit", "cluster", "connector", "dry_run", "name[]", ""]),
                                           st.sampled_from(["1", "0", "1001", "-1", "²", "prod", "orders-sink", "%00", "%ff", "%", "9" * 30])),
                                 max_size=3).map(lambda kv: "&".join(f"{k}={v}" for k, v in kv))
auths = st.sampled_from([f"Bearer {TOKEN}"] * 4 + [None, "Bearer", f"bearer {TOKEN}", "Bearer wrong", f"Basic {TOKEN}",
                                                   f"Bearer {TOKEN}\u00e9", "x" * 9000])
content_types = st.sampled_from([None, "application/json", "text/plain", "application/json; charset=latin-1",
                                 "multipart/form-data; boundary=x"])
methods = st.sampled_from(["GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "FOO"])
extras = st.just([]) | st.lists(st.sampled_from([
    ("Content-Encoding", "gzip"), ("Transfer-Encoding", "chunked"), ("Accept-Encoding", "gzip"),
    ("Accept", "application/openmetrics-text"), ("Authorization", "Bearer wrong"), ("Expect", "100-continue"),
    ("Host", "evil.example"), ("Content-Length", "-1"), ("Content-Length", "abc")]), max_size=2, unique=True)


def raw_request(port: int, method: str, path: str, query: str, auth: str | None, content_type: str | None,
                extra: list[tuple[str, str]], body: bytes, gzipped: bool) -> bytes:
    lines = [f"{method} {path}{'?' + query if query else ''} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Connection: close"]
    lines += [f"Authorization: {auth}"] if auth is not None else []
    lines += [f"Content-Type: {content_type}"] if content_type is not None else []
    body = gzip.compress(body) if gzipped else body
    lines += [f"{name}: {value}" for name, value in extra]
    if ("Transfer-Encoding", "chunked") in extra:
        body = f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n" if body else b"0\r\n\r\n"
    elif not any(name == "Content-Length" for name, _ in extra):
        lines.append(f"Content-Length: {len(body)}")
    return "\r\n".join(lines).encode("utf-8", "surrogateescape") + b"\r\n\r\n" + body


def exchange(port: int, request: bytes, *, half_close: bool = True) -> bytes:
    """The answer, read until the daemon closes (every request says `Connection: close`).
    `half_close`: shut our side once sent, which ends a request whose framing promises more
    (a Content-Length past the body); asyncio then closes the connection at the EOF, so a
    handler that awaits (a listing, for an alert of a name the last listing lacked) answers
    nobody. Alertmanager never half-closes: valid requests are sent as it sends them."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
        return answer


def status_of(answer: bytes) -> int | None:
    return int(answer[9:12]) if answer.startswith(b"HTTP/1.1 ") else None


def log_problems(logs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in logs if e.get("log_level") in ("error", "critical") or "exc_info" in e or "exception" in e]


async def fuzzed_against_a_served_daemon(check: Callable[[int], None]) -> list[dict[str, Any]]:
    """`check(port)` (a hypothesis test) run in a thread against the daemon of test_api's world,
    polled once and served on 127.0.0.1; the log lines it wrote."""
    # The alert rule's backoff base at 0.5 s: an alert the fuzz sends moments after a restart by
    # name waits for the rule's first backoff gap (queue/deferral.py), and the queue's join below
    # would wait that gap (2 minutes at the base of 60 s) in real time.
    w, _ = world(rules=[{**rule, "backoff": {"base": 0.5, "cap": 60, "jitter": 0}}
                        if rule["trigger"]["type"] == "alert" else rule for rule in RULES])
    await polled(w)
    w.daemon.probes.config_loaded = True  # as start() sets it: /readyz is 200, not the 503 of a daemon starting
    app = create_app(w.daemon.metrics.registry, w.daemon.probes, w.daemon.api_context())
    server, task = await start_server(app, "127.0.0.1", 0, request_timeout=2.0)

    async def heartbeat() -> None:  # as the daemon's own: /healthz says stalled 15 s without it
        while True:
            w.daemon.probes.tick()
            await asyncio.sleep(0.5)

    beating = asyncio.create_task(heartbeat())
    try:
        with structlog.testing.capture_logs() as logs:
            await asyncio.to_thread(check, server.bound_port)
            await w.daemon.queue.join()
            # Still serving.
            assert status_of(await asyncio.to_thread(exchange, server.bound_port, raw_request(
                server.bound_port, "GET", "/healthz", "", None, None, [], b"", False))) == 200
    finally:
        beating.cancel()
        await stop_server(server, task)
    restarted = {c.connector for c in w.simulator.calls if c.endpoint == "restart"}
    assert restarted <= RESTARTABLE, f"restarted what no rule selects: {restarted - RESTARTABLE}"
    return logs


async def test_no_request_gets_a_5xx_a_traceback_or_the_token_back() -> None:
    @FUZZ
    @given(methods, paths, queries, auths, content_types, extras, bodies, st.integers(0, 9))
    def fuzz(port: int, method: str, path: str, query: str, auth: str | None, content_type: str | None,
             extra: list[tuple[str, str]], body: bytes, roll: int) -> None:
        if roll > 2 and path in ROUTES:
            method = ROUTES[path]  # mostly the route's own method: the handlers are what is fuzzed
        if method in ("GET", "HEAD") and roll % 3:
            body = b""
        answer = exchange(port, raw_request(port, method, path, query, auth, content_type, extra, body, roll == 0))
        status = status_of(answer)
        head, _, text = answer.partition(b"\r\n\r\n")
        assert status is None or status < 500, answer[:500]
        if status is not None and status >= 400 and method != "HEAD" and b"content-type: application/json" in head.lower():
            assert "error" in json.loads(text), text[:300]
        assert TOKEN.encode() not in answer

    logs = await fuzzed_against_a_served_daemon(lambda port: fuzz(port))  # type: ignore[call-arg]
    assert not log_problems(logs), log_problems(logs)[:3]


# -- valid requests with random content ---------------------------------------------------------

any_text = st.text(max_size=30)
reasons = st.text(st.characters(blacklist_categories=["Cc", "Cs"]) | st.sampled_from("\n\t"), max_size=100)
instants = st.sampled_from(["2026-03-01T12:00:00Z", "2026-03-01T12:00:00.123456789Z", "2026-03-01T13:00:00+01:00",
                            "1970-01-02T00:00:00Z", "9998-12-31T23:59:59-12:00", "2026-03-01T12:00:00.5+05:45"])


@st.composite
def valid_alerts(draw: st.DrawFn) -> dict[str, Any]:
    labels = {"alertname": "ConnectorStalled", "kafka_cluster_id": draw(st.sampled_from(["lkc-prod01", "prod"])),
              "connector": draw(st.sampled_from(["orders-sink", "billing-sink", "paused-sink", "tmp-sink", "gone-sink"]))}
    labels |= draw(st.dictionaries(any_text.filter(lambda k: k not in labels), any_text, max_size=3))
    return {**alert(status=draw(st.sampled_from(["firing", "resolved"])), fingerprint=draw(any_text)), "labels": labels,
            "annotations": draw(st.dictionaries(any_text, any_text, max_size=3)), "startsAt": draw(instants),
            "endsAt": draw(st.just("0001-01-01T00:00:00Z") | instants), "generatorURL": draw(any_text),
            **draw(st.dictionaries(st.sampled_from(["silencedBy", "inhibitedBy", "updatedAt", "new_field"]),
                                   st.none() | any_text | st.lists(any_text, max_size=2), max_size=2))}


valid_webhooks = st.builds(lambda alerts, truncated, group, extra: {**payload(*alerts), "truncatedAlerts": truncated,
                                                                     "groupKey": group, **extra},
                           st.lists(valid_alerts(), max_size=5), st.integers(0, 10**9), any_text,
                           st.dictionaries(st.sampled_from(["groupKeyV2", "new_field"]), st.none() | any_text, max_size=1))
valid_restarts = st.fixed_dictionaries({"cluster": st.sampled_from(["prod", "lkc-prod01"]),
                                        "connector": st.sampled_from(["orders-sink", "billing-sink", "paused-sink"])},
                                       optional={"reason": reasons})


async def test_a_valid_request_is_never_refused_and_restarts_only_what_the_rules_select() -> None:
    @FUZZ
    @given(st.one_of(valid_webhooks.map(lambda b: ("/v1/alertmanager", b)), valid_restarts.map(lambda b: ("/v1/restarts", b))),
           st.sampled_from([None, "application/json", "application/json; charset=utf-8"]))
    def fuzz(port: int, request: tuple[str, dict[str, Any]], content_type: str | None) -> None:
        path, body = request
        answer = exchange(port, raw_request(port, "POST", path, "", f"Bearer {TOKEN}", content_type, [],
                                            json.dumps(body).encode(), False), half_close=False)
        # 429: the restart queue full (a lane holds at most so many); a webhook is 200 whatever
        # each alert led to (unmatched, duplicate, backoff...).
        assert status_of(answer) in ({202, 429} if path == "/v1/restarts" else {200}), answer[:600]

    logs = await fuzzed_against_a_served_daemon(lambda port: fuzz(port))  # type: ignore[call-arg]
    assert not log_problems(logs), log_problems(logs)[:3]
