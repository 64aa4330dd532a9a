"""A key shared with a tool that sends its third of the limit in one burst per window: what a
client that cannot see when the bursts come can take and still leave the tool its share
(bench/ratelab.py `whole_share_use`, shown in `python -m bench budget` where the use target of
issue 10 is missed; docs/benchmarks.md 1).

Where a server's window may hold two bursts (a sliding log, 60 per 10 s, bursts of 20), a window
of ours may be the one before a burst that lands right after another: our requests do not depend
on when they come, so no client that leaves the tool whole takes more than 60 - 2 x 20 per
window, half of the 40 the tool leaves. Where each window holds one burst (a fixed window aligned
on the clock, as the tool's schedule is), it can take all of the 40.
"""

from __future__ import annotations

import pytest

from bench import budget, fixtures
from bench.ratelab import Case, Measured, whole_share_use

BURSTY = (("bursty", 1 / 3),)


def _measured(case: Case, admitted: int = 1000) -> Measured:
    return Measured(case=case, client="daemon", sent=admitted, admitted=admitted, refused=0, lost=0, seconds=1.0,
                    ideal=1.0, use=0.0, use_of_left=0.0, start=0.0)


def _tool_refused(case: Case, per_window: float, requests: int = 1000) -> float:
    """The share of the tool's requests refused beside a client paced evenly at `per_window`."""
    budgets = case.budgets()
    for k in range(requests):
        budgets.admit(fixtures.API_KEY, k * case.window / per_window)
    log = budgets.others[fixtures.API_KEY][0].log
    return log.refused / log.sent


@pytest.mark.parametrize("algorithm", ["sliding_log", "fixed_anchored"])
def test_where_a_window_may_hold_two_bursts_the_tool_is_left_whole_only_at_half_of_what_it_leaves(
    algorithm: str,
) -> None:
    # The anchored window too, wherever ours fall against the tool's clock: paced from t = 0 at a
    # rate that divides the window, ours stayed on the tool's clock and the bound read 0.75.
    case = Case(algorithm, "on_429", 60, 10.0, 1000, others=BURSTY)
    assert 0.48 <= whole_share_use(_measured(case)) <= 0.51


def test_on_a_sliding_log_more_than_that_is_taken_from_the_tool() -> None:
    case = Case("sliding_log", "on_429", 60, 10.0, 1000, others=BURSTY)
    assert _tool_refused(case, 20) == 0
    # 0.9 of the 40 it leaves costs it about a third of its requests: its share, not ours.
    assert _tool_refused(case, 36) > 0.25


def test_where_a_window_holds_one_burst_the_tool_is_left_whole_at_all_it_leaves() -> None:
    case = Case("fixed_aligned", "on_429", 60, 10.0, 1000, others=BURSTY)
    assert whole_share_use(_measured(case)) >= 0.99


def test_the_bench_shows_the_bound_beside_a_missed_use_target() -> None:
    case = Case("sliding_log", "on_429", 60, 10.0, 1000, others=BURSTY)
    daemon = _measured(case)
    daemon.use_of_left, daemon.windows = 0.45, 40
    naive = _measured(case)
    naive.other_refused = 100
    (missed,) = budget.misses(budget.Row(daemon, naive))
    assert missed.startswith("used 0.450 of what the other client left (target >= 0.9;")
    assert "even pacing that never has it refused: 0.50" in missed
