"""What the limiter's property tests (tests/test_ratelimit_property.py, tests/test_runaway_property.py)
draw alike: a server's key (its algorithm, limit, window and header mode) and the network to it.

A plain function of hypothesis's `draw`, not a strategy of its own, so that each test's composite
draws exactly the values it drew before this was shared: the same derandomized examples."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import strategies as st

from watchdog.simulator.ratelimit import ALGORITHMS


@dataclass(frozen=True)
class DrawnKey:
    algorithm: str
    limit: int
    window: float
    headers: str
    retry_after: bool
    latency: tuple[float, float]
    arrival: tuple[float, float]


def draw_key(draw: st.DrawFn, most_per_window: int) -> DrawnKey:
    """A key of at most `most_per_window` requests per window of 1 to 60 s, any algorithm the
    simulator plays and any header mode, and the latency and arrival jitter to it."""
    algorithm = draw(st.sampled_from(ALGORITHMS))
    window = float(draw(st.integers(1, 60)))
    # At least 5 ms: zero latency puts every request exactly on the server's whole-second
    # boundaries, a precision no network has.
    low = draw(st.floats(0.005, 0.15))
    high = low + draw(st.floats(0.0, 0.1))
    # Up to 50 ms more on the way in, drawn per request: concurrent requests reach the server
    # out of the order they were sent in, as over a real network.
    arrival = (0.0, draw(st.floats(0.0, 0.05)))
    # Within reach of the one-at-a-time probe (tests/test_ratelimit_property.py's docstring).
    fastest = max(1, min(most_per_window, int(0.5 / max(high, 0.02) * window)))
    # A sliding counter's weighted count admits N per window only to a client that knows its
    # phase when N is tiny (at 2 per window, the second only in the window's second half): from
    # 5 per window, as any real API key has; the other algorithms from 1.
    smallest = 5 if algorithm == "sliding_counter" else 1
    limit = draw(st.integers(min(smallest, fastest), fastest))
    headers = draw(st.sampled_from(["always", "on_429", "never"]))
    retry_after = True if headers != "never" else draw(st.booleans())
    return DrawnKey(algorithm, limit, window, headers, retry_after, (low, high), arrival)
