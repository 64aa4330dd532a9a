"""Two API keys of one organisation under one rate budget (Confluent limits "both per user and
organization-wide", research note §3.1): the daemon keeps one limiter per credential, so each
key sees the other's use as another client's (benchmark 1f, `python -m bench organization`).

What holds, on virtual time, 200 restarts on each of two clusters, each on its own key, a limit of
20 per 2 s for both keys together: nothing is lost; with headers on 429 only, as Confluent
documents them, a few 429s per key and within 1.25 x the time the limit allows both at its rate.
With headers on every answer nothing is lost either; on a fixed window the daemon finds the keys
counted in one budget and paces them as one (tests/test_shared_budget.py), and on the refilling
algorithms the two limiters leave each other room and the run takes 1.4 to 4.4 x that time
(docs/benchmarks.md 1f: not met, left open)."""

from __future__ import annotations

import pytest

from bench.organization import KEYS, OrgCase, run_case


@pytest.mark.parametrize("algorithm", ["fixed_aligned", "sliding_log", "token_bucket"])
def test_two_keys_of_one_organisation_lose_nothing_and_share_its_limit(algorithm: str) -> None:
    measured = run_case(OrgCase(algorithm, "on_429", "organization"))
    assert measured.lost == 0
    for key, _ in KEYS:
        assert measured.refused[key] <= 5, measured.refused  # the crossing, the measure, a race or two
    assert measured.seconds <= 1.25 * measured.ideal, (measured.seconds, measured.ideal)


def test_two_keys_of_one_organisation_with_headers_on_every_answer_lose_nothing() -> None:
    measured = run_case(OrgCase("sliding_counter", "always", "organization"))
    assert measured.lost == 0 and sum(measured.refused.values()) <= 10, measured.refused
