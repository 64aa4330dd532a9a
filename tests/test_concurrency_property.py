"""The limiter against a concurrency limit beside the rate limit, over random servers: a property
test on virtual time, as tests/test_ratelimit_property.py (whose draws of a key it shares).

Confluent enforces "request-rate and concurrency limits" (research note §3.1): a server may
refuse a request for the requests of the key already in progress, whatever its rate budget says
(watchdog/simulator/concurrency.py: at most 1 to 3 here, the 429 with `Retry-After: 1` and the
rate limit's headers as they stand). Each example runs a backlog through the real daemon against
such a server, and against the same server without the concurrency limit, and checks:

1. nothing is lost;
2. 429s: at most those of the run without the limit, plus the first burst's (all but one of
   `max_concurrent_requests` refused at once), plus one per try of one more in flight
   (watchdog/ratelimit/inflight.py: after 32, 96 and 224 answers at the cap, at most 3 here);
3. time: within 1.5 x the longer of the run without the limit and the concurrency limit's own
   bound (every admitted request in one of its places for the mean latency and arrival).

Bounded for CI: EXAMPLES examples (default 20, each two runs of at most 200 restarts: about 15 s
on 2 cores), derandomized; WATCHDOG_PROPERTY_EXAMPLES draws more.
"""

from __future__ import annotations

import os
from dataclasses import replace

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from bench import fixtures, ratelab
from bench.ratelab import Case

from .limiter_draws import draw_key

EXAMPLES = int(os.environ.get("WATCHDOG_PROPERTY_EXAMPLES", "20"))
PHASES = [Phase.explicit, Phase.reuse, Phase.generate] + ([Phase.shrink] if os.environ.get("WATCHDOG_PROPERTY_SHRINK") else [])
MAX_BACKLOG = 200
TRIES = 3  # tries of one more in flight within MAX_BACKLOG answers (module docstring)


@st.composite
def servers(draw: st.DrawFn) -> Case:
    key = draw_key(draw, most_per_window=200)
    return Case(
        key.algorithm, key.headers, key.limit, key.window, min(MAX_BACKLOG, max(8 * key.limit, 20)),
        retry_after=key.retry_after, latency=key.latency, arrival=key.arrival,
        max_in_flight=draw(st.integers(1, 3)), max_concurrent_requests=draw(st.sampled_from([4, 16])),
        max_requests_per_second=1000.0, seed=draw(st.integers(0, 2**16)),
    )


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None, phases=PHASES,
          suppress_health_check=list(HealthCheck))
@given(case=servers())
def test_the_limiter_keeps_to_a_concurrency_limit_it_was_not_told_of(case: Case) -> None:
    fixtures.quiet_logs()
    limited = ratelab.run_daemon(case)
    free = ratelab.run_daemon(replace(case, max_in_flight=None))
    assert case.max_in_flight is not None
    where = (
        f"{case.algorithm}, {case.limit} per {case.window:g} s, headers {case.header_mode}, at most "
        f"{case.max_in_flight} in progress, latency {case.latency[0]:.3f}-{case.latency[1]:.3f} s, "
        f"{case.max_concurrent_requests} in flight, backlog {case.backlog}"
    )
    assert limited.lost == 0, f"{limited.lost} restarts lost ({where})"
    most = free.refused + case.max_concurrent_requests - 1 + TRIES
    assert limited.refused <= most, f"{limited.refused} 429s where at most {most} ({where})"
    mean_trip = sum(case.latency) / 2 + sum(case.arrival) / 2
    bound = max(free.seconds, limited.admitted * mean_trip / case.max_in_flight)
    assert limited.seconds <= 1.5 * bound, f"{limited.seconds:.1f} s where at most 1.5 x {bound:.1f} ({where})"
