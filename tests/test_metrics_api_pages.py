"""The Metrics API client's paging against answers the spec does not promise: a page token that
is no string, pages that never end. A page left unread is connectors' points missing, which the
stall check reads as "sent nothing": the query must fail rather than answer in part."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from watchdog.connect.metrics_api import MetricsApiClient
from watchdog.model import Outcome

START = datetime(2026, 1, 1, tzinfo=UTC)
SENT = "io.confluent.kafka.connect/sent_records"


def flat(connector_id: str, minutes: int = 3) -> list[dict[str, Any]]:
    return [{"timestamp": (START + timedelta(minutes=m)).strftime("%Y-%m-%dT%H:%M:%SZ"), "value": 100,
             "resource.connector.id": connector_id} for m in range(minutes)]


class TwoPages:
    """Page 1: lcc-a's points and lcc-b's first, with `token` as its next_page_token; page 2:
    lcc-b's last two minutes (what the probe's gateway answered, its token a number)."""

    def __init__(self, token: object) -> None:
        self.token = token
        self.tokens: list[str | None] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.tokens.append(request.url.params.get("page_token"))
        entries = flat("lcc-a") + flat("lcc-b")
        if len(self.tokens) == 1:
            return httpx.Response(200, json={"data": entries[:4], "meta": {"pagination": {
                "page_size": 1, "next_page_token": self.token}}})
        return httpx.Response(200, json={"data": entries[4:], "meta": {"pagination": {"page_size": 1}}})


@pytest.mark.parametrize("token", [2, 2.0, 9007199254740993, True, {"offset": 2}, ["2"]])
async def test_a_page_token_that_is_no_string_fails_the_query_rather_than_ending_it(token: object) -> None:
    # Before: the paging ended at page 1, one request, and the answer was `accepted` with lcc-b's
    # 00:01 and 00:02 points missing: a busy source read as "sent 100, then nothing", stalled.
    server = TwoPages(token)
    http = httpx.AsyncClient(transport=httpx.MockTransport(server), base_url="http://telemetry")

    result = await MetricsApiClient(http).query(SENT, ["lcc-a", "lcc-b"], START, START + timedelta(minutes=3))

    assert result.outcome is Outcome.SERVER_ERROR and result.value is None, result
    assert server.tokens == [None], "a token that is no string is not sent back in any form"
    assert result.message is not None
    assert "next_page_token" in result.message and "is not a string" in result.message, result.message
    assert result.status_code == 200


@pytest.mark.parametrize("meta", [{"pagination": {"page_size": 1, "next_page_token": None}},
                                  {"pagination": {"page_size": 1, "next_page_token": ""}},
                                  {"pagination": {"page_size": 1}}, {}])
async def test_a_page_without_a_token_ends_the_answer(meta: dict[str, Any]) -> None:
    # null, an empty string and no token at all all say "no more pages" (the last as the spec
    # does; an empty string as JSON encoders of protobuf answers do): the answer is read whole.
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"data": flat("lcc-a"), "meta": meta})

    http = httpx.AsyncClient(transport=httpx.MockTransport(answer), base_url="http://telemetry")
    result = await MetricsApiClient(http).query(SENT, ["lcc-a"], START, START + timedelta(minutes=3))

    assert result.ok and result.value is not None
    assert [value for _, value in result.value.points["lcc-a"]] == [100.0, 100.0, 100.0]


class EndlessTokens:
    """Every page the same entries of the ids asked about and a fresh token: a server (or a
    gateway) that does not follow the token, paging for ever."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        asked = [f["value"] for f in _filters(request)]
        entries = [entry for connector_id in asked for entry in flat(connector_id)]
        return httpx.Response(200, json={"data": entries, "meta": {"pagination": {
            "page_size": len(asked), "next_page_token": f"t{self.calls}"}}})


def _filters(request: httpx.Request) -> list[dict[str, Any]]:
    body = json.loads(request.content)
    found = body["filter"]
    return list(found["filters"]) if found.get("op") == "OR" else [found]


@pytest.mark.parametrize(("ids", "batch", "most"), [(2, 100, 3), (10, 100, 11), (250, 100, 101)])
async def test_pages_that_never_end_cost_a_query_no_more_than_its_connectors_can_need(ids: int, batch: int, most: int) -> None:
    # A query's `limit` is its number of ids (one group per connector), so a server keeping to it
    # answers in one page, and one paging below it one group a page, plus a last page that may come
    # empty: ids + 1 pages. Before: 100 requests for any query (3,000 for a check of 10 clusters x 3
    # metrics, against a per-IP limit of 300 a minute).
    server = EndlessTokens()
    http = httpx.AsyncClient(transport=httpx.MockTransport(server), base_url="http://telemetry")
    connector_ids = [f"lcc-{n}" for n in range(ids)]

    result = await MetricsApiClient(http, max_ids_per_query=batch).query(
        SENT, connector_ids, START, START + timedelta(minutes=3))

    assert result.outcome is Outcome.SERVER_ERROR and result.value is None
    assert server.calls == most, "the first batch's pages, then nothing more"
    first = min(ids, batch)
    assert result.message == (f"pagination incomplete: still more after {first + 1} pages, the most an answer "
                              f"about {first} connectors needs (one a page, and a last one)"), result.message


async def test_an_answer_paged_one_connector_a_page_is_read_whole() -> None:
    # The slowest paging the spec allows for `limit` groups: one group a page, and a last page
    # that comes empty with no token: every connector's points are read.
    calls = 0

    def answer(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        asked = sorted(f["value"] for f in _filters(request))
        page = asked[calls - 1 : calls]
        token = {"next_page_token": f"g{calls}"} if calls <= len(asked) else {}
        return httpx.Response(200, json={"data": [e for i in page for e in flat(i)],
                                         "meta": {"pagination": {"page_size": 1, **token}}})

    http = httpx.AsyncClient(transport=httpx.MockTransport(answer), base_url="http://telemetry")
    connector_ids = [f"lcc-{n}" for n in range(5)]
    result = await MetricsApiClient(http).query(SENT, connector_ids, START, START + timedelta(minutes=3))

    assert result.ok and result.value is not None, result.message
    assert calls == 6
    assert {i: len(points) for i, points in result.value.points.items()} == dict.fromkeys(connector_ids, 3)
