"""A key given back: once another tool stops using the key, the daemon takes the key's whole rate
again, even though no answer says the tool left (bench/leave.py, docs/benchmarks.md 1c).

Before the ceiling of the climb regrew (watchdog/ratelimit/climb.py, REGROW_AFTER), a key
shared for its first minutes was used at about two thirds of its rate for the rest of the run.
A slow key (10 per 10 s) keeps the run short in requests while the quarter hour passes on virtual
time.
"""

from __future__ import annotations

import pytest

from bench import leave
from bench.ratelab import Case


@pytest.mark.parametrize("algorithm", ["fixed_aligned", "token_bucket"])
def test_the_daemon_takes_a_key_back_within_twenty_minutes_of_another_tool_leaving(algorithm: str) -> None:
    case = Case(algorithm, "on_429", 10, 10.0, 1_600, others=(("steady", 0.3, 120.0),))
    left = leave.run_case(case)
    assert leave.misses(left) == []
    assert left.regained_after is not None and left.regained_after <= leave.REGAIN_WITHIN_MINUTES
    assert left.last_minutes >= 0.9 * left.alone_use
