"""A connector's trace quoting its settings keeps no secret (session 70's probe, F6): before,
only URLs' credentials were masked, and `Connection failed; password=hunter2`,
`connection.password=...`, `{"connection.password": "..."}`, JAAS `password="..."`,
`aws.secret.access.key=...` and `Authorization: Bearer ...` were kept whole in the history, GET
/v1/history and `watchdog history`. Ordinary words that name a secret stay as they are."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import httpx
import pytest

from watchdog.connect.masking import upstream_text
from watchdog.report import render_history
from watchdog.server import create_app

from .support import sim_scenario
from .test_api import AUTH, TOKEN
from .test_daemon import run_polls, status_rule, world

SECRETS_QUOTED = [
    ("Connection failed; password=Hunter2-LEAK", "Connection failed; password=***"),
    ("connection.password=Hunter3-LEAK", "connection.password=***"),
    ('config {"connection.password": "Hunter4-LEAK"}', 'config {"connection.password": "***"}'),
    ('PlainLoginModule required username="KEY" password="Hunter5-LEAK";',
     'PlainLoginModule required username="KEY" password="***";'),
    ("aws.secret.access.key=Hunter6-LEAK", "aws.secret.access.key=***"),
    ("Authorization: Bearer eyJHunter7-LEAK.def", "Authorization: Bearer ***"),
    ("Authorization: Basic SHVudGVyOC1MRUFL", "Authorization: Basic ***"),
    ("oauth client_secret=Hunter9-LEAK&scope=x", "oauth client_secret=***&scope=x"),
    ("ssl.key.password = 'Hunter10-LEAK'", "ssl.key.password = '***'"),
]
WORDS_KEPT = [
    'FATAL: password authentication failed for user "etl"',
    "Basic authentication failed",
    "Bearer token expired",
    "Invalid password: check the connector's config",
    "sasl.oauthbearer.token.endpoint.url=https://idp.example.com/token",
    "tokenizer=standard bypass=true tokens=3 key.converter=io.confluent.connect.avro.AvroConverter",
    "The secret was rotated; errors.tolerance=all",
]


@pytest.mark.parametrize(("quoted", "masked"), SECRETS_QUOTED)
def test_a_setting_that_names_a_secret_is_starred(quoted: str, masked: str) -> None:
    assert upstream_text(quoted) == masked


@pytest.mark.parametrize("words", WORDS_KEPT)
def test_ordinary_words_that_name_a_secret_are_kept(words: str) -> None:
    assert upstream_text(words) == words


async def test_secrets_a_trace_quotes_are_kept_nowhere_and_its_words_are() -> None:
    trace = "\n".join(["org.apache.kafka.connect.errors.ConnectException: " + SECRETS_QUOTED[0][0],
                       *(f"Caused by: {quoted}" for quoted, _ in SECRETS_QUOTED[1:]),
                       *(f"Caused by: {words}" for words in WORDS_KEPT), "\tat x.y.Z.f(Z.java:1)"])
    connectors = [{"name": "broken", "script": {"initial": "FAILED", "recover_after_restarts": 1, "trace": trace,
                                                "message": SECRETS_QUOTED[0][0]}}]
    w = world(connectors, [status_rule()], token=TOKEN, scenario=sim_scenario(connectors, restart={"delay_seconds": 2}))
    app = create_app(w.daemon.metrics.registry, w.daemon.probes, w.daemon.api_context())

    await run_polls(w, 3)

    [record] = w.daemon.state.history(None, 10)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://daemon") as http:
        served = (await http.get("/v1/history", headers=AUTH)).json()
    shown = {"the history row": json.dumps(record.evidence), "GET /v1/history": json.dumps(served),
             "watchdog history": render_history([record], now=datetime.now(UTC))}
    for where, text in shown.items():
        assert "LEAK" not in text and "SHVudGVyOC1MRUFL" not in text, (where, text[:800])
    kept = json.loads(shown["GET /v1/history"])
    evidence = json.dumps(kept)
    for _, masked in SECRETS_QUOTED:
        assert json.dumps(masked)[1:-1] in evidence, masked
    for words in WORDS_KEPT:
        assert json.dumps(words)[1:-1] in evidence, words
    assert "Connection failed; password=***" in shown["watchdog history"], shown["watchdog history"]
