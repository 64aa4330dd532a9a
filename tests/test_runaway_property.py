"""A tool that holds a key and then stops, over random servers: a property test on virtual time.

bench leave plays a runaway tool (a loop that ignores 429s, asking for more than the whole limit,
the simulator's `runaway` client) on two keys and six algorithms; this draws the rest. Each
example draws a server (algorithm, limit, window, latency, headers), a runaway of 1.2 to 4 times
the limit there for 5 to 60 of its windows from the start, and a backlog of restarts waiting from
the start (enough for the tool's time and eight windows more, at most 400), and runs it through
the real daemon (bench/ratelab.py: the real queue, limiter, HTTP client and simulator, in process
on virtual time). It checks what docs/configuration.md promises of such a tool ("Rate limits"):

1. nothing is lost unsaid: every restart ends `accepted` or, refused `max_rate_limited_retries`
   times in a row while the tool holds the key, `rate_limited` (said and counted);
2. the daemon does not hammer the key while the tool holds it: at most RUNAWAY_429S_PER_WINDOW of
   our 429s per window the tool was there, plus RUNAWAY_429S_LEARNING for the first crossings (a
   client that retried at each pause's end would take one per Retry-After, up to ten per window);
3. once the tool stops the key is taken back: the rest goes out within DRAINED_WITHIN seconds
   (ten minutes without a 429 before a regrow, a quick climb, and the slow one past the best rate
   measured) plus DRAIN_PER_IDEAL times what an oracle that knows the server's state takes;
4. and the regrow's probes cost few 429s: at most AFTER_429S plus one per AFTER_429S_EVERY
   seconds of that drain.

The bounds come from 300 random draws of the same kind before this test (a scratch script, the
same draw; docs/benchmarks.md 1, "A held key, 2026-12-05"): at most 2.4 of our 429s per window
there, 6 after, and the rest out at most 2,572 s past three times the oracle's time. They are
looser than `python -m bench leave`'s targets (one 429 per window, 2,700 s) on purpose: that
table misses them on 17 of its 48 rows (docs/benchmarks.md 1c), and this test is what must hold
on every server drawn.

Bounded for CI like tests/test_ratelimit_property.py: EXAMPLES draws (default 40, about 25 s on
2 cores), derandomized; WATCHDOG_PROPERTY_EXAMPLES draws more.

Found by this test, and fixed (2026-12-05); each is in EXPLICIT, run first on every run:

- a key of 1 request per second (a sliding log, a GCRA, an anchored window; headers on 429 only)
  and a runaway there for its first 30 s: a streak of refusals that never ended, one 429 per
  16.4 s pause for good (refusals.py, three clean resumes end a streak: 4 of our 429s after the
  tool stopped, the 23 restarts out at 227 s, where 22 and 394 s);
- its first derandomized draw, a token bucket of 18 per 57 s with Retry-After and no rate
  header, sixteen in flight, a runaway of 1.39 x for 1,197 s: each regrow after the tool left
  emptied the bucket, and the one request admitted in the 2.9 s from the server's hint to the
  next 429 was read against the window floor of 60 s learned beside the tool, a cut to 1/63 per
  second where the key gives 0.32, for the ten minutes to the next regrow. The rest went out
  5,535 s after the tool stopped (the oracle: 976), with 16 of our 429s; now 1,490 s and 6
  (estimate.RateEstimate._paced_sample);
- a sliding counter of 100 per 27 s, headers on 429 only, a runaway of 3.8 x for 972 s (found
  under seeds 1 to 4, a strict xfail until 2026-12-05): our own burst after a pause of 60 s took
  93 of the 100 as a window of the counter opened, 8 of ours in the window before, and for the 23 s
  left of that window the counter gave back one unit per 3.4 s as those 8 weighed off. Each try
  at the server's hint got one in and the next, at our pace, was refused: 8 of our 429s in 23 s,
  each cutting the pace by a tenth, the rest out 350 s after the tool stopped (the oracle: 86).
  After one such clean resume the key's cadence is now kept until the 429's Reset
  (refusals.Refusals._keep_cadence): 2 429s, 224 s.

KNOWN_OPEN lists draws found by the same draw under other seeds (hypothesis's @seed 1 to 4, 300
draws each, in a scratch copy that logs each failure and goes on) that still miss a bound, with
why, each a strict xfail: it is run on every run and must keep failing its check; once its cause
is fixed it passes, the xfail fails, and the draw moves into EXPLICIT.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from bench import fixtures, ratelab, virtualtime
from bench.ratelab import Case

from .limiter_draws import draw_key

EXAMPLES = int(os.environ.get("WATCHDOG_PROPERTY_EXAMPLES", "40"))
PHASES = [Phase.explicit, Phase.reuse, Phase.generate] + ([Phase.shrink] if os.environ.get("WATCHDOG_PROPERTY_SHRINK") else [])
MAX_BACKLOG = 400

RUNAWAY_429S_PER_WINDOW = 3.0
RUNAWAY_429S_LEARNING = 4
DRAINED_WITHIN = 3600.0
DRAIN_PER_IDEAL = 3.0
AFTER_429S = 4
AFTER_429S_EVERY = 600.0


@st.composite
def runaways(draw: st.DrawFn) -> Case:
    # At most 100 per window, so that a draw stays a few seconds of CPU with the tool's own requests.
    key = draw_key(draw, most_per_window=100)
    limit, window = key.limit, key.window
    share = draw(st.floats(1.2, 4.0))
    leaves = max(30.0, draw(st.integers(5, 60)) * window)
    # Enough to outlast the tool by eight windows at the key's rate, at most MAX_BACKLOG.
    backlog = min(MAX_BACKLOG, max(20, int(limit * (leaves / window) / 2) + 8 * limit))
    return Case(
        key.algorithm, key.headers, limit, window, backlog, retry_after=key.retry_after, others=(("runaway", share, leaves),),
        latency=key.latency, arrival=key.arrival, reserve=draw(st.sampled_from([0, 1])), max_requests_per_second=1000.0,
        max_concurrent_requests=draw(st.sampled_from([4, 16])), seed=draw(st.integers(0, 2**16)),
    )


# Draws found failing, since fixed (module docstring): run first on every run.
EXPLICIT = [
    Case(
        "token_bucket", "never", 18, 57.0, 333, retry_after=True, others=(("runaway", 1.39, 1197.0),),
        latency=(0.100, 0.187), arrival=(0.0, 0.0), reserve=1, max_requests_per_second=1000.0,
        max_concurrent_requests=16, seed=5435,
    ),
    Case(
        "fixed_anchored", "on_429", 1, 1.0, 23, retry_after=True, others=(("runaway", 3.52, 30.0),),
        latency=(0.050, 0.050), arrival=(0.0, 0.0), reserve=1, max_requests_per_second=1000.0,
        max_concurrent_requests=16, seed=1943,
    ),
    Case(
        "sliding_counter", "on_429", 100, 27.0, 400, retry_after=True, others=(("runaway", 3.7952786149403748, 972.0),),
        latency=(0.016081200151923193, 0.016081200151923193), arrival=(0.0, 0.01), reserve=1,
        max_requests_per_second=1000.0, max_concurrent_requests=4, seed=440,
    ),
]


def _open(case: Case, why: str) -> object:
    hint = "" if case.retry_after else "-no-retry-after"
    return pytest.param(case, id=f"{case.algorithm}-{case.limit}-per-{case.window:g}s-{case.headers}{hint}",
                        marks=pytest.mark.xfail(strict=True, raises=AssertionError, reason=why))


# Draws found at other seeds that still miss a bound (module docstring), and why.
KNOWN_OPEN = [
    _open(
        Case(
            "gcra", "never", 39, 54.0, 400, retry_after=True, others=(("runaway", 1.5590634336656193, 2916.0),),
            latency=(0.005, 0.007396871041548821), arrival=(0.0, 0.04756167386756399), reserve=0,
            max_requests_per_second=1000.0, max_concurrent_requests=16, seed=39,
        ),
        "6 of our 429s in the 934 s after the tool stopped, where 5.6: the best rate measured is one "
        "unit over 1.1 s (0.90 per second on a key of 0.72), the regrow goes back to it, and the "
        "ceiling, cut 5% below each pace refused, takes four 429s to come down to the key (cut instead "
        "to what a stretch of a window or more admitted, this draw and the next passed, but a sliding "
        "log of 60 per 10 s held by a runaway for five minutes was no longer taken back: "
        "tests/test_shared_key_leave.py; tried and dropped)",
    ),
    _open(
        Case(
            "gcra", "never", 10, 52.0, 340, retry_after=True, others=(("runaway", 3.325007304915065, 2704.0),),
            latency=(0.05, 0.09913300147282111), arrival=(0.0, 1e-06), reserve=0,
            max_requests_per_second=1000.0, max_concurrent_requests=4, seed=453,
        ),
        "9 of our 429s in the 2,183 s after the tool stopped, where 7.6: the first sample, what the "
        "key took at once from rest per a spell shut that the tool made (0.97 per second on a key "
        "of 0.19), is the best rate measured, so the key's own rate reads as a trickle and a quick "
        "regrow overshoots it every ten minutes (reading that burst again over the longest spell "
        "shut as it grows fixed this draw, 5 429s, but slowed 12 of 300 random runaway draws, all "
        "with no hint at all, where that spell is about the window itself: tried and dropped)",
    ),
    _open(
        Case(
            "sliding_counter", "never", 34, 12.0, 400, retry_after=False, others=(("runaway", 2.7464035494346515, 612.0),),
            latency=(0.06159377222522675, 0.12326955144980103), arrival=(0.0, 0.03795977889201973), reserve=0,
            max_requests_per_second=1000.0, max_concurrent_requests=4, seed=9460,
        ),
        "the rest out 4,018 s after the tool stopped, where 4,002 (no hint at all: the regrow's "
        "probes are timed by our own backoff)",
    ),
]


def check_runaway(case: Case) -> None:
    """Run `case` through the daemon and check the four bounds of the module docstring."""
    fixtures.quiet_logs()
    measured, simulator = virtualtime.run(ratelab.play_daemon(case))
    leaves = case.others[0][2]
    own = ratelab.own_calls(simulator)
    refused_there = sum(1 for c in own if c.status_code == 429 and c.t < leaves)
    refused_after = sum(1 for c in own if c.status_code == 429 and c.t >= leaves)
    admitted_after = sorted(c.t for c in own if c.status_code != 429 and c.t >= leaves)
    outcomes = measured.notes["outcomes"]
    where = (
        f"{case.algorithm}, {case.limit} per {case.window:g} s, headers {case.header_mode}, "
        f"latency {case.latency[0]:.3f}-{case.latency[1]:.3f} s, arrival 0-{case.arrival[1]:.3f} s, "
        f"runaway {case.others[0][1]:.2f} x for {leaves:g} s, reserve {case.reserve}, "
        f"{case.max_concurrent_requests} in flight, backlog {case.backlog}, seed {case.seed}"
    )
    said = outcomes.get("accepted", 0) + outcomes.get("rate_limited", 0)
    assert said == case.backlog and set(outcomes) <= {"accepted", "rate_limited"}, f"outcomes {dict(outcomes)} ({where})"
    windows = leaves / case.window
    most_there = RUNAWAY_429S_PER_WINDOW * windows + RUNAWAY_429S_LEARNING
    assert refused_there <= most_there, f"{refused_there} 429s in {windows:g} windows while the tool ran ({where})"
    if not admitted_after:
        return  # the backlog went out while the tool was there
    drain = admitted_after[-1] - leaves
    ideal = ratelab.ideal_seconds(case, len(admitted_after), leaves)
    assert drain <= DRAINED_WITHIN + DRAIN_PER_IDEAL * ideal, f"the rest out {drain:.0f} s after the tool stopped, oracle {ideal:.0f} s ({where})"
    most_after = AFTER_429S + drain / AFTER_429S_EVERY
    assert refused_after <= most_after, f"{refused_after} 429s in the {drain:.0f} s after the tool stopped ({where})"


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None, phases=PHASES,
          suppress_health_check=list(HealthCheck))
@given(case=runaways())
@example(case=EXPLICIT[0])
@example(case=EXPLICIT[1])
@example(case=EXPLICIT[2])
def test_a_tool_that_holds_any_key_and_stops_costs_nothing_unsaid_and_the_key_is_taken_back(case: Case) -> None:
    check_runaway(case)


@pytest.mark.parametrize("case", KNOWN_OPEN)
def test_a_draw_known_to_miss_a_bound_still_does_until_its_cause_is_fixed(case: Case) -> None:
    check_runaway(case)
