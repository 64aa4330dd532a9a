"""The limiter's promises, over random servers: a property test on virtual time.

Each example draws a server (one of the six algorithms of watchdog/simulator/ratelimit.py, a limit
N and window W, a latency range, which headers it sends, and maybe another client on the key) and
runs a backlog of restarts through the real daemon (`Daemon.run_once`: the real queue, limiter,
HTTP client and simulator, in process on virtual time; bench/ratelab.py). It checks:

1. nothing is lost: every restart ends `accepted`;
2. 429s, alone on the key: none with X-RateLimit-* on every answer; at most 3 with headers on
   429 only (the first crossing of the unknown limit, the second that measures the rate, and at
   most one more if creeping toward the measurement's error bound finds the limit); at most 5
   without headers but with Retry-After; at most 12 with no hint at all (backoff pauses that are
   too short cost one each until the window is known);
3. shared with another client: at most a fifth of a 429 per window, plus 8 for learning (the rate,
   the other client's share, its first races for the last unit of a Remaining): these runs are a
   few windows long, where the learning dominates; `python -m bench budget` checks the fifth per
   window alone over runs of a hundred windows and more;
4. time, alone, when the backlog is at least 8 windows' worth: within 1.5 x the ideal (what a
   greedy oracle that knows the server's state would take) with any hint, and within 4 x
   with none (after a refusal with no hint, the pause is the longest the key was seen shut:
   safe, but slow against a server that refills gradually).

The domain is bounded where the limiter is documented not to reach the limit: a server that
sustains more than half of one request per round trip (N / W > 0.5 / latency) is never crossed by
the one-at-a-time probe, and then the probe's pace, not the server, is the bound (docs/configuration.md,
"Rate limits"). Limits run from 1 to 500 (from 5 for a sliding counter, see `servers`), windows from
1 s to 60 s, latency from 5 ms to 250 ms, another client's share up to a third of the limit. The benchmark (`python -m bench budget`) reports the same runs against the tighter
targets of issue 10 at two fixed settings.

Bounded for CI: EXAMPLES examples (default 40: about 20 s alone on 2 cores, well within the
suite's 120 s per test), derandomized so that every run checks the same servers; set
WATCHDOG_PROPERTY_EXAMPLES to draw more (a counterexample is shrunk to the smallest server that
still breaks a promise, and printed with WATCHDOG_PROPERTY_SHRINK=1).

Each server also delays each request by up to 50 ms on its way in, drawn per request, so that
concurrent requests are counted out of the order they were sent in, as over a real network.
Found with more examples, fixed, and kept as explicit examples where noted:

- a GCRA of 32 per 32 s at 6.3 x the ideal (200 examples): requests counted between two answers
  out of order were taken for another client's use, and the pace fell to 5% of the key;
- a token bucket of 28 per 9 s, headers on every answer, four in flight, 38 ms of jitter, at
  1.53 x (600 examples): the bucket's return hid in the doubt over which requests each answer
  counted, so it was taken for a fixed window and every burst waited out its time until full.
  Now a Reset whose end moves later within its period is a gradual refill: 1.17 (kept);
- a sliding counter of 42 per 42 s, headers on every answer, 16 in flight counted in another
  order than sent, at 9.7 x (1,200 examples, counterexamples logged rather than raised): the
  first answer's Remaining counted fifteen requests sent with it, which passed for another
  client taking most of the key. Now others' use is measured once every request that may have
  been counted between two answers has answered: 1.04 (kept);
- a sliding log of 20 per 20 s, headers on every answer, 16 in flight, 30 ms of jitter: one 429
  (1,200 examples, logged). An answer's Reset of 1 s (the oldest request ageing out, with 17
  left) was kept as the end of the period after later answers said 20 s, as two Resets of one
  fixed window would be; the look at 1 s found that slot spent by our own burst. An earlier
  bound is now kept only where the later answer's own Reset allows it: 0 429s (kept).

Still failing after those fixes, all without rate headers, reported rather than excluded:

- a token bucket of 31 per 38 s, Retry-After only, a reserve of 1: 6 429s against the bound of 5
  (the creep toward its ceiling finds the key's rate three times, each cut 5% under the refused
  pace; a deeper cut after a second refusal fixed it, and cost 5 to 8% more time in about 25 of
  the benchmark's 144 rows, most on a shared key);
- one request per second (a GCRA, an anchored window, a sliding log), Retry-After only: 1.51 to
  1.61 x against 1.5 (each whole-second Retry-After is the whole window). A floor under the
  decrease at what was admitted from the last resume point to the 429 brought them to 1.32 to
  1.44, but in the benchmark took one to three more 429s on twelve rows (one or two fewer on
  six), most on a token bucket or GCRA: a resume point rounded up by up to a second finds a
  bucket holding up to a second's refill, so what followed it is no proof of the key's rate.
  Not landed. They pass since a 429 that the creep meets above the best sample sends the rate
  back toward that sample, not down to the stretch it ended (estimate.py, _back_toward_best):
  1.13 to 1.37 at 5 to 200 ms of latency, 3 429s each, where they took 1.27 to 1.52; over 400
  and 600 draws of this test the failing draws went from 1 to 0, the 429s up by 2%;
- a sliding counter of 5 per 43 s with no hint at all: 4.05 x against 4 (of the kind fixed below,
  its draw not kept, so not replayed);
- an anchored window of 205 per 53 s shared with a bursty client, no hint at all: 9 429s in 4
  windows against 8.

A later 1,200-example run (a logging copy of this test, whose other source drew other servers)
found more of the same kinds, all failing alike on the code before it (checked one by one), and
all but one without rate headers on successful answers: shared windows with no hint at all, 10
or 11 429s in 6 to 13 windows against 9 or 10; a sliding counter of 34 per 60 s with
Retry-After only and a reserve of 1, 6 429s against 5; one request per second on a token bucket,
1.60 x; a sliding counter of 5 per 1 s with no rate headers, 1.53 x; and with headers on every
answer, a sliding counter of 2 per 1 s at 1.52 x against 1.5 (at two per window, as `servers`
notes, its weighted count admits the second only in the window's second half; drawn because the
probe's reach capped that limit below 5). Sliding counters of 5 or 6 per 1 s with headers on
429 only, 1.81 to 3.34 x, failed there too; they pass since the change below (21 of that run's
26 failing draws fail now, none of them new).

A sliding counter of 5 per 1 s, headers on 429 only, 5 ms latency (drawn by
WATCHDOG_PROPERTY_EXAMPLES=200 before the arrival draw was added) took 3.3 x the ideal against the
bound of 1.5. Right after the first crossing, the previous window's five still weigh in full,
one request goes and the next is refused with a whole-second Retry-After: the sample was 1 per
1.06 s, and its ceiling (twice that, the error of a whole-second hint) bound the creep, one step
every 5 s. With the limit known (from the 429's headers), a stretch less than a second longer
than the window is now read as maybe shorter than it (limit per window and span, 5 per 2.06 s),
and while the creep closes the gap to its ceiling it steps once a window: 1.32 (kept as an
explicit example).

Two 1,200-example runs drawn with other seeds (2026-12-01, logged) failed in the same kinds as
above and in one more: a sliding counter of 5 per 1 s with Retry-After only (no rate headers),
5 to 50 ms latency, 1.67 to 3.33 x against 1.5. It is the kind fixed above for headers on 429
only, without the limit to read the trickle with: after the first crossing one request goes, the
next is refused with Retry-After: 1, and the sample is 1 per 1.06 s. Still failing. Behind a
real HAProxy (benchmark 1d) the same trickle follows a spell in which the key stayed shut past its
own hint; there the burst the key took at once reads it (estimate.py, on_refusal), and those runs
took 1.35 x where they took 4.9. Here nothing is refused twice, and the burst alone does not tell
this key from a token bucket whose hint holds.

A sliding counter of 5 per 47 s with no hint at all took 4.10 x the ideal against the bound of 4
(1,200 examples, logged). The first sample was a trickle, a fifth of the key's rate; no header
said the limit, so its ceiling was only a guess, and at that ceiling the rate rose 2% every other
creep interval. It now rises a tenth each interval until a 429 at our pace fixes the ceiling
(GUESS_STEP in climb.py): 2.2 x (kept as an explicit example). The sliding counter of 5 per
43 s listed above is of the same kind.

Found and fixed this way too: a sliding counter of 5 per 42 s with headers on every answer took
one 429, because the first paced look came right after the burst the pace was learned in (the pacer
now starts an interval after our last request; kept as an explicit example); a sliding log
of 134 per 55 s took 4 429s before its rate samples were capped at the limit per shortest
possible window (now 3).

Three runs drawn with other seeds on 2026-12-04 (600 draws with seed 52, 2,000 each with seeds
5201 and 5202; a logging copy of this test under `hypothesis.seed`, derandomize off, the same
`servers`): 22 of the 4,600 draws failed, none with seed 52, 20 of them of the kinds above: shared
with no hint at all, 9 to 12 429s against 8.8 to 10.8 (10 draws); a token bucket or GCRA with
Retry-After only, 6 429s against 5, with a reserve of 0 as well as 1 (6); a sliding counter of 2
per 1 s, 1.51 x against 1.5 (2). Two kinds are new:

- alone, headers on 429 only, 4 429s against 3 (a fixed window of 13 per 4 s at 0.11 to 0.15 s,
  four in flight; a sliding counter of 20 per 8 s at 0.15 s, sixteen in flight). The first is a
  first sample read high: a stretch of 3.1 s, a window's refill in it, gave 4.17 per second for a
  key of 3.25; the 429 our pace then met cut the rate to that stretch's sample (2.95) and sent it
  back toward the best sample as far as the sample's own error allows (_back_toward_best: 3.81),
  still above the key, so a second 429 at pace came before the rate fell below it. The
  second is the climb toward the first sample's error bound: it went 10% past the key, and the
  ceiling, cut CEILING_CUT below the rate refused, still let the pace 4% above it. A deeper cut
  after a second refusal, tried for the token bucket above, cost time across the benchmark.
  The second passes since 2026-12-05 (kept as an explicit example): a 429 at our pace after a
  stretch of a window and 11 s or more, where a header said the limit, caps the climb halfway
  between the rate refused and what that stretch admitted, where that is below the 5% cut
  (estimate.py, on_refusal): the climb refused at 2.86 per second after a stretch that admitted
  2.30 now stays under 2.58 (pace 2.48, on a key of 2.5), and 3 429s. Only with the limit known:
  without it the same cap fixed the
  token bucket and GCRA draws with Retry-After only above (6 429s where 5), but alone on a key
  with no rate header, 5,000 restarts took up to 1.13 x the ideal where 1.07 (seven rows of
  `python -m bench budget`). The first is still open;
- shared with a bursty client, headers on every answer, sixteen in flight: 13 429s in the first
  second (a token bucket of 93 per 27 s). The other client's burst landed while our sixteen spent
  the last of a Remaining, before any answer showed another client: one pause, thirteen refusals.
  With the default four in flight such a collision costs at most four.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from bench import fixtures, ratelab
from bench.ratelab import Case

from .limiter_draws import draw_key

EXAMPLES = int(os.environ.get("WATCHDOG_PROPERTY_EXAMPLES", "40"))
# Shrinking a counterexample replays servers for minutes: on when asked for (WATCHDOG_PROPERTY_SHRINK=1),
# off in CI, where the failing server is printed as drawn.
PHASES = [Phase.explicit, Phase.reuse, Phase.generate] + ([Phase.shrink] if os.environ.get("WATCHDOG_PROPERTY_SHRINK") else [])
MAX_BACKLOG = 400

ALONE_429S = {"always": 0, "on_429": 3, "never": 5, "never, no Retry-After": 12}


@st.composite
def servers(draw: st.DrawFn) -> Case:
    key = draw_key(draw, most_per_window=500)
    limit = key.limit
    others: tuple[tuple[str, float], ...] = ()
    if limit >= 3 and draw(st.booleans()):
        pattern = draw(st.sampled_from(["steady", "bursty"]))
        # Up to a third of the limit, issue 10's sharing scenario (a key another tool uses whole
        # is a key nobody can share; heavier sharing is in the benchmark, not a CI bound).
        share = draw(st.floats(0.1, 1 / 3).filter(lambda s: 1 <= round(s * limit) <= limit // 3))
        others = ((pattern, share),)
    return Case(
        key.algorithm, key.headers, limit, key.window, min(MAX_BACKLOG, max(8 * limit, 20)), retry_after=key.retry_after,
        others=others, latency=key.latency, arrival=key.arrival, reserve=draw(st.sampled_from([0, 1])),
        max_requests_per_second=1000.0, max_concurrent_requests=draw(st.sampled_from([4, 16])),
        seed=draw(st.integers(0, 2**16)),
    )


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None, phases=PHASES,
          suppress_health_check=list(HealthCheck))
@given(case=servers())
# Counterexamples found with WATCHDOG_PROPERTY_EXAMPLES=200, fixed, and kept as regression cases:
# the first paced look on a sliding counter came right after the burst it was learned in.
@example(case=Case("sliding_counter", "always", 5, 42.0, 40, latency=(0.05707933542938069, 0.11415867085876139),
                   max_concurrent_requests=16, seed=504))
# Requests counted out of order taken for another client (module docstring).
@example(case=Case("sliding_counter", "always", 42, 42.0, 336, latency=(0.03277741175368761, 0.06555482350737522),
                   arrival=(0.0, 2.178788703230523e-211), max_concurrent_requests=16, seed=220))
# A token bucket's return hidden by requests counted out of order (module docstring).
@example(case=Case("token_bucket", "always", 28, 9.0, 224, latency=(0.05, 0.09855633436043285),
                   arrival=(0.0, 0.037835842157459235), max_concurrent_requests=4, seed=9))
# A sliding log's Reset of 1 s (its oldest request ageing out) kept as its period's end after
# later answers named a later one: a look at a spent budget, one 429 (module docstring).
@example(case=Case("sliding_log", "always", 20, 20.0, 160, latency=(0.10792278700331213, 0.20404584762051536),
                   arrival=(0.0, 0.03030168617134594), max_concurrent_requests=16, seed=325))
# A sliding counter's trickle right after its boundary taken for its rate (module docstring).
@example(case=Case("sliding_counter", "on_429", 5, 1.0, 40, latency=(0.005, 0.005), max_concurrent_requests=16, seed=151))
# A guessed ceiling from a trickle's sample, with no hint at all, rising too slowly (module docstring).
@example(case=Case("sliding_counter", "never", 5, 47.0, 40, retry_after=False, latency=(0.005, 0.06941439942945757),
                   max_concurrent_requests=16, seed=39587))
# One request per second with Retry-After only, cut below what it had measured by a 429 its creep
# met: 1.51 x the ideal (module docstring).
@example(case=Case("sliding_log", "never", 1, 1.0, 20, latency=(0.04944155447926665, 0.0988831089585333),
                   arrival=(0.0, 0.04944155447926665), max_concurrent_requests=4, seed=1))
# A climb 10% past the key, cut 5% below the rate refused, refused again: 4 429s where 3 (seed
# 5201; module docstring).
@example(case=Case("sliding_counter", "on_429", 20, 8.0, 160, latency=(0.15, 0.1500001192092896),
                   arrival=(0.0, 0.03786653247505746), max_concurrent_requests=16, seed=15933))
def test_the_limiter_keeps_its_promises_against_any_server(case: Case) -> None:
    fixtures.quiet_logs()
    run = ratelab.run_daemon(case)
    where = (
        f"{case.algorithm}, {case.limit} per {case.window:g} s, headers {case.header_mode}, "
        f"latency {case.latency[0]:.3f}-{case.latency[1]:.3f} s, arrival 0-{case.arrival[1]:.3f} s, others {case.others or 'none'}, "
        f"reserve {case.reserve}, {case.max_concurrent_requests} in flight, backlog {case.backlog}"
    )
    assert run.lost == 0, f"{run.lost} restarts lost ({where})"
    if case.shared:
        most = 8 + run.windows // 5
        assert run.refused <= most, f"{run.refused} 429s in {run.windows} windows ({where})"
        return
    assert run.refused <= ALONE_429S[case.header_mode], f"{run.refused} 429s ({where})"
    if case.backlog >= 8 * case.limit and case.reserve == 0:  # the ideal spends the reserve too
        bound = 4.0 if case.header_mode == "never, no Retry-After" else 1.5
        assert run.ratio <= bound, f"time {run.ratio:.3f} x the ideal ({where})"
