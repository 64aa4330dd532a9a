"""What one stretch between two 429s says of a key's rate: pure arithmetic over how many of our
requests it admitted, how long it lasted, the window floor and the limit where a header says it.
RateEstimate (estimate.py) keeps the state, and decides which stretches count and what a sample
does to the rate.

A stretch runs from one resume point (when the pause after a 429 ended) to the next. Resume points
come from whole-second Retry-After values, each up to a second late, so a sample over a span of s
seconds may be low by up to a factor s / (s - 1): `widened`.
"""

from __future__ import annotations


def widened(sample: float, span: float, lead: float = 0.0) -> float:
    """The highest rate a sample over `span` seconds may stand for: its resume points come from
    whole-second Retry-After values, each up to a second late (module docstring); at most twice
    the sample where the span is under 2 s. `lead`: our first request of the stretch went this
    long after its first resume point (RateEstimate._later_start_bound)."""
    return sample * span / max(span - 1.0 - lead, span / 2)


def stretch_sample(
    got: int, span: float, *, floor: float, limit: int | None, reserve: int, burst_shut_past_hint: int = 0
) -> float:
    """The rate a stretch measured: `got` of our requests admitted in `span` seconds, read against
    `floor` (the server's window is at least this long: RateEstimate.window_floor) and `limit`
    (X-RateLimit-Limit, where a header says it; less `reserve`). `burst_shut_past_hint`: for the
    first sample of a key with no limit in any header that stayed shut past its own hint, what it
    took of ours at once from rest before the first 429; 0 otherwise (RateEstimate._stretch_sample)."""
    sample = got / span
    # With the limit known, a stretch less than a second longer than the floor counts as
    # maybe shorter too: its resume points may each be a second late (module docstring).
    # There the reading below raises a trickle's sample to the limit per floor and span,
    # or caps it at the limit per floor. Without the limit it can only lower the sample,
    # and that was not measured across the property test's servers: left as it was. (For the
    # pace, RateEstimate._paced_sample reads a stretch paced from the server's hint over its
    # own span: there nothing of ours came in a burst.)
    # With no floor at all (no Reset in any answer, no spell shut), nothing says how long a
    # window is: the raw sample stands. A server that sends the limit on its 429s and no Reset
    # made the cap below divide by zero at a stretch under a second (the limiter raised on the
    # answer: tests/test_fuzz_limiter.py).
    if floor > 0 and (span < floor or (limit is not None and span - 1.0 < floor)):
        # Shorter than a window: what got through may be a window's refill taken in a
        # burst (then `got` per window is the rate, not per span), or the trickle of a
        # gradual refill (a sliding counter just after its boundary: then the raw sample
        # is about right). With the limit known, a whole limit per window plus span is
        # the better guess for the trickle; without it, `got` per window plus span is
        # the safe one for the burst.
        if limit is not None:
            sample = max(sample, max(1, limit - reserve) / (floor + span))
            # A sliding log's slots come back at the pace they were taken a window
            # earlier: after a burst, the raw sample mirrors that burst. No algorithm
            # sustains more than its limit per window, and the window is at least `floor`.
            sample = min(sample, max(1, limit - reserve) / floor)
        else:
            sample = got / (floor + span)
    if burst_shut_past_hint:
        # The key stayed shut past its own hint (a try after the pause refused too, with
        # nothing admitted), so the hint does not say when capacity comes back, and this
        # stretch may be the trickle of a previous period ageing out: HAProxy's request rate
        # (a sliding counter that counts the requests it refuses too) with a constant
        # `Retry-After: 1` let one request through per second on a key of 10, and 200
        # restarts behind a real HAProxy took 4.9 x the ideal (benchmark 1d). What the key
        # took at once from rest (the burst that met the first 429), per the time it stayed
        # shut and this stretch, reads it as the limit does where a header says it (above).
        sample = max(sample, burst_shut_past_hint / (floor + span))
    return sample
