"""Property-based fuzzing of the Connect API clients (Confluent Cloud and self-managed Kafka
Connect) with mutated answers: statuses, rate-limit and other headers of every shape (bytes past
ASCII, HTTP-dates, numbers past any float, lists), and list, status, restart and error bodies
with fields dropped, replaced and added.

What a user relies on: a call never raises (each answer ends as an outcome the caller counts and
logs), and a healthy connector's entry with unknown fields added stays healthy, never restarted.
Bounded (derandomized, a fixed number of examples); `FUZZ_EXAMPLES=5000` looks further.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import httpx
from hypothesis import example, given
from hypothesis import strategies as st

from watchdog.clients import cloud_client, kafka_connect_client
from watchdog.connect import ConfluentCloudBackend
from watchdog.connect.backend import ApiResult
from watchdog.connect.kafka_connect import KafkaConnectBackend
from watchdog.model import Health
from watchdog.rules import classify

from .fuzzing import FUZZ, mutations
from .support import CLUSTER, CLUSTER_ID, ENVIRONMENT, daemon_config

CLOUD_CONFIG = daemon_config([])
KC_CONFIG = daemon_config([], base_url="http://worker-1:8083", backend="kafka_connect")

HEALTHY = {"status": {"name": "ok", "type": "sink", "connector": {"state": "RUNNING", "worker_id": "w", "trace": ""},
                      "tasks": [{"id": 0, "state": "RUNNING", "worker_id": "w"}]},
           "id": {"id": "lcc-1", "id_type": "ID"}, "info": {"config": {"connector.class": "X"}, "name": "ok", "type": "sink"}}
FAILED = {"status": {"name": "bad", "type": "sink", "connector": {"state": "RUNNING", "worker_id": "w"},
                     "tasks": [{"id": 0, "state": "FAILED", "trace": "boom"}]}, "id": {"id": "lcc-2", "id_type": "ID"}}
STATES = ["RUNNING", "FAILED", "PAUSED", "UNASSIGNED", "SYSTEM_ERROR", "USER_ACTIONABLE_ERROR", "running", "DELETED",
          "STOPPED", "NEW_STATE", ""]

scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**80, 2**80), st.floats(allow_nan=False), st.text(max_size=12),
                    st.sampled_from(STATES))
values = st.recursive(scalars, lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=8), c, max_size=3),
                      max_leaves=8)


mutated = mutations(values, st.text(max_size=8))


@st.composite
def with_unknown_fields(draw: st.DrawFn, base: Any) -> Any:
    """`base` with fields of unknown names added at every level: its meaning unchanged."""
    if isinstance(base, dict):
        out = {key: draw(with_unknown_fields(value)) for key, value in base.items()}
        return out | draw(st.dictionaries(st.text(max_size=8).filter(lambda k: k not in base), values, max_size=2))
    if isinstance(base, list):
        return [draw(with_unknown_fields(value)) for value in base]
    return base


HEADER_NAMES = ["X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset", "Retry-After", "Date", "X-Request-Id",
                "Content-Type", "Content-Encoding", "Location", "Set-Cookie", "WWW-Authenticate"]
header_values = st.one_of(
    st.sampled_from(["0", "-1", "1e400", "nan", "1" + "0" * 400, "10, 10;w=1", "2000000000", "2000000000000",
                     "Sun, 06 Nov 1994 08:49:37 GMT", "Sun Nov  6 08:49:37 1994", "Sun, 06 Nov 1994 99999999999999999999:49:37 GMT",
                     "Sun, 06 Nov 1994 08:49:37 -99999999999999999999", "Mon, 31 Feb 2026 00:00:00 GMT", "text/html",
                     "application/json; charset=latin-1", "gzip", "br", "identity, gzip", "http://[::1", "/elsewhere", "",
                     "caf\u00e9-42", "a" * 5000, "1,", ";", "1_000"]),
    st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=30),
    st.text(st.characters(min_codepoint=32, max_codepoint=0x2FFF, blacklist_categories=["Cs", "Cc"]), max_size=12),
)
# A value past ASCII goes as UTF-8 or, where it can, Latin-1 (HTTP allows either byte).
header_lines = st.lists(st.tuples(st.sampled_from(HEADER_NAMES), header_values, st.booleans()), max_size=4).map(
    lambda lines: [(name.encode(), value.encode("latin-1") if latin1 and value.isascii() is False and max(map(ord, value)) < 256
                    else value.encode()) for name, value, latin1 in lines])
statuses = st.sampled_from([200, 202, 204, 400, 401, 403, 404, 409, 429, 500, 503, 301, 302, 307, 418, 599])
ENDPOINTS = ("list", "status", "restart", "recommendations")
BASES: dict[str, Any] = {"list": {"ok": HEALTHY, "bad": FAILED}, "status": HEALTHY["status"],
                         "restart": {"error": {"code": 429, "message": "slow down"}},
                         "recommendations": {"error_code": 500, "message": "x"}}


def body_for(endpoint: str) -> st.SearchStrategy[bytes]:
    return st.one_of(st.binary(max_size=60), values.map(lambda v: json.dumps(v).encode()),
                     mutated(copy.deepcopy(BASES[endpoint])).map(lambda v: json.dumps(v).encode()))


async def answered(backend: str, endpoint: str, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> ApiResult[Any]:
    """What the client of `backend` makes of one call of `endpoint` answered so."""
    transport = httpx.MockTransport(lambda request: httpx.Response(status, headers=headers, content=body))
    if backend == "cloud":
        http = cloud_client(CLOUD_CONFIG, CLOUD_CONFIG.credentials["main"], transport)
        client: Any = ConfluentCloudBackend(http, ENVIRONMENT, CLUSTER_ID)
    else:
        cluster = KC_CONFIG.clusters[CLUSTER]
        http = kafka_connect_client(KC_CONFIG, cluster, transport)
        client = KafkaConnectBackend(http, [str(url) for url in cluster.urls])  # type: ignore[union-attr]
    async with http:
        if endpoint == "list":
            return await client.list_connectors()  # type: ignore[no-any-return]
        if endpoint == "status":
            return await client.connector_status("ok")  # type: ignore[no-any-return]
        if endpoint == "restart":
            return await client.restart("ok")  # type: ignore[no-any-return]
        return await client.error_recommendations("ok")  # type: ignore[no-any-return]


@FUZZ
@given(st.sampled_from(["cloud", "kafka_connect"]), st.sampled_from(ENDPOINTS).flatmap(
    lambda endpoint: st.tuples(st.just(endpoint), statuses, header_lines, body_for(endpoint))))
# Those it found before (each raised out of every call so answered), kept whatever it draws.
@example("cloud", ("list", 200, [(b"X-Request-Id", "caf\u00e9-42".encode())], b"{}"))
@example("kafka_connect", ("restart", 429, [(b"Retry-After", b"Sun, 06 Nov 1994 99999999999999999999:49:37 GMT")], b""))
def test_no_answer_makes_a_call_raise(backend: str, call: tuple[str, int, list[tuple[bytes, bytes]], bytes]) -> None:
    import asyncio

    endpoint, status, headers, body = call
    result = asyncio.run(answered(backend, endpoint, status, headers, body))  # raising is the failure
    if endpoint == "list" and result.value:
        for connector in result.value.values():
            classify(connector)


@FUZZ
@given(st.sampled_from(["cloud", "kafka_connect"]), with_unknown_fields(copy.deepcopy(HEALTHY)))
def test_a_healthy_entry_with_unknown_fields_added_stays_healthy(backend: str, entry: dict[str, Any]) -> None:
    import asyncio

    body = json.dumps({"ok": entry}).encode()
    result = asyncio.run(answered(backend, "list", 200, [(b"Content-Type", b"application/json")], body))
    assert result.value is not None, result
    assert classify(result.value["ok"]) is Health.HEALTHY
