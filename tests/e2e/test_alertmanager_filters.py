"""The config's check of `blocking.filters` against the real Alertmanager: every filter it accepts,
Alertmanager parses, and every filter it refuses, Alertmanager refuses too (but for the two rules
where it is stricter on purpose, watchdog/config/matchers.py). A filter that gets past it anyway
is answered 400, and the blocking reason says so with Alertmanager's own words.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from watchdog.blocking import AlertBlocker
from watchdog.config import BlockingSettings
from watchdog.config.matchers import matcher_problem
from watchdog.metrics import Metrics

from ..test_blocking_filters import ACCEPTED, REFUSED
from .harness import Service, start_alertmanager

pytestmark = pytest.mark.e2e

# Refused here, parsed by some Alertmanager: a brace or comma in an unquoted value (it would never
# match what was meant), and (?<name>...) (Go 1.22 and later only).
STRICTER = ("without braces", "the value ends with a brace", "one matcher per entry (entries are ANDed)", "(?P<name>")

# Pieces of regular expressions and of matchers, put together at random: Go's syntax and
# Alertmanager's grammar at their corners, with a fixed seed so that a failure can be run again.
REGEX_PIECES = ["a", "b", ".", "*", "+", "?", "??", "*?", "|", "(", ")", "(?:", "(?i)", "(?i:", "(?P<n>", "(?=", "[",
                "]", "[^", "^", "$", "-", "{2}", "{2,}", "{,3}", "{1,2}", "{0}", "{1001}", "{500}", "\\d", "\\w", "\\b",
                "\\z", "\\Z", "\\A", "\\1", "\\12", "\\0", "\\x41", "\\x{41}", "\\x{110000}", "\\x4", "\\Q", "\\E",
                "\\pL", "\\p{Greek}", "\\pX", "\\p{^L}", "\\PL", "[:alpha:]", "[:foo:]", "[[:alpha:]]", "\\.", "\\-",
                "\\_", "\\e", "\\C", "\\", "(?s)", "(?U)", "(?-i)", "(?i-s:", "(?m)", "{", "}", "z-a", "a-z", "é", "\\é"]
MATCHER_PIECES = ["a", "alertname", "_x", ":y", "9z", '"', '\\"', "\\\\", "\\n", "\\", "=", "!=", "=~", "!~", "==", " ",
                  "\t", "x", ".*", "(", ")", "é", "a.b", "-"]


def sample(seed: int, count: int) -> list[str]:
    rng = random.Random(seed)
    regexes = ["".join(rng.choice(REGEX_PIECES) for _ in range(rng.randint(1, 6))) for _ in range(count)]
    quoted = ['x=~"' + r.replace("\\", "\\\\").replace('"', '\\"') + '"' for r in regexes]
    return quoted + ["".join(rng.choice(MATCHER_PIECES) for _ in range(rng.randint(1, 7))) for _ in range(count)]


@pytest.fixture
async def alertmanager(tmp_path: Path) -> AsyncIterator[Service]:
    service = start_alertmanager(tmp_path, {"route": {"receiver": "nobody"}, "receivers": [{"name": "nobody"}]})
    try:
        await service.ready()
        yield service
    finally:
        service.stop()


async def test_the_filters_the_config_accepts_are_the_ones_alertmanager_parses(alertmanager: Service) -> None:
    filters = ACCEPTED + [text for text, _ in REFUSED] + sample(seed=20261201, count=600)
    disagreements = []
    async with httpx.AsyncClient(base_url=alertmanager.url, timeout=5) as http:
        for text in filters:
            answer = await http.get("/api/v2/alerts", params={"filter": text})
            assert answer.status_code in (200, 400), answer.text
            ours = matcher_problem(text)
            if ours is not None and answer.status_code == 200 and any(rule in ours for rule in STRICTER):
                continue
            if (ours is None) != (answer.status_code == 200):
                disagreements.append((text, ours, answer.text.strip()))
    assert not disagreements, disagreements


async def test_a_filter_alertmanager_refuses_is_named_with_its_reason(alertmanager: Service) -> None:
    valid = BlockingSettings(alertmanager_url=alertmanager.url, filters=['alertname="ConfluentCloudIncident"'])
    # The reviewer's filter, as if the config check had let it through (model_copy does not validate).
    settings = valid.model_copy(update={"filters": ['alertname=~"ConfluentCloudIncident']})
    blocker = AlertBlocker(settings, Metrics())
    try:
        verdict = await blocker.refresh()
    finally:
        await blocker.close()
    assert verdict.blocked
    assert verdict.reason.startswith("Alertmanager refused the query (400 Bad Request; check blocking.filters and "
                                     "blocking.receiver): matcher value contains unescaped double quote"), verdict.reason
    assert "unreachable" not in verdict.reason
