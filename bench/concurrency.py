"""Benchmark 1e: a concurrency limit beside the rate limit.

Confluent "enforces multiple kinds of limits, including request-rate and concurrency limits"
(research note §3.1) and publishes the numbers of neither. A concurrency limit refuses a request
while too many of the key's requests are in progress, whatever the rate budget says, so its 429
may come with Remaining > 0 (watchdog/simulator/concurrency.py). This runs the daemon's backlog
of 200 restarts (as benchmark 1) on virtual time against a key of 60 per 10 s under each of the
six algorithms and each header mode, with at most 1 or 2 requests in progress allowed, answers
taking 0.05 to 0.15 s or 0.5 to 1.5 s, and the daemon allowed 4 in flight (the default
`max_concurrent_requests`); the naive client (Terraform-style retries, 4 workers) beside it.

The bound: the longer of what the rate limit admits at best (benchmark 1's ideal) and what the
concurrency limit does (the requests, one after another in each place, at the mean latency). The
daemon without the concurrency limit, in the same run, is the baseline for its cost.

Targets: nothing lost; with headers on every answer, at most 6 429s (the first burst of a
Remaining, up to 3 of its 4 refused at once, and a try of one more in flight per doubling:
inflight.py) and time within 1.25 x the bound. Without headers on successful answers the one-at-a-time probe (and
then the pace learned from it) keeps the requests in progress under such a limit; there the
daemon's time is the same as without the limit, and the table shows it beside the baseline.
"""

from __future__ import annotations

from dataclasses import replace

from watchdog.simulator.ratelimit import ALGORITHMS

from . import fixtures
from .ratelab import Case, Measured, run_daemon, run_naive
from .report import emit, run_cases, table, verdict

LIMIT, WINDOW, BACKLOG = 60, 10.0, 200
LATENCIES = ((0.05, 0.15), (0.5, 1.5))
IN_FLIGHT = (1, 2)
HEADER_MODES = (("always", True), ("on_429", True), ("never", True))
OURS_IN_FLIGHT = 4
MOST_429S_WITH_HEADERS = 6


def cases() -> list[Case]:
    found = []
    for latency in LATENCIES:
        for algorithm in ALGORITHMS:
            for headers, retry_after in HEADER_MODES:
                base = Case(algorithm, headers, LIMIT, WINDOW, BACKLOG, retry_after=retry_after, latency=latency,
                            max_concurrent_requests=OURS_IN_FLIGHT)
                found += [replace(base, max_in_flight=most) for most in IN_FLIGHT]
    return found


def run_case(case: Case) -> tuple[Measured, Measured, Measured]:
    """The daemon and the naive client against the limit, and the daemon without it."""
    fixtures.quiet_logs()
    return run_daemon(case), run_naive(case), run_daemon(replace(case, max_in_flight=None))


def bound_seconds(measured: Measured) -> float:
    """The longer of the rate limit's ideal and the concurrency limit's: every admitted request in
    one of `max_in_flight` places for the mean latency."""
    case = measured.case
    assert case.max_in_flight is not None
    mean_latency = sum(case.latency) / 2
    return max(measured.ideal, measured.admitted * mean_latency / case.max_in_flight)


def misses(daemon: Measured) -> list[str]:
    found = []
    if daemon.lost:
        found.append(f"{daemon.lost} lost")
    if daemon.case.headers == "always":
        if daemon.refused > MOST_429S_WITH_HEADERS:
            found.append(f"{daemon.refused} 429s (target <= {MOST_429S_WITH_HEADERS})")
        ratio = daemon.seconds / bound_seconds(daemon)
        if ratio > 1.25:
            found.append(f"time / bound {ratio:.3f} (target <= 1.25)")
    return found


def main() -> int:
    measured = run_cases("concurrency", run_case, cases())
    lines, verdicts = [], []
    for daemon, naive, alone in measured:
        case = daemon.case
        missed = misses(daemon)
        verdicts.append(not missed)
        bound = bound_seconds(daemon)
        lines.append([
            f"{case.latency[0]:g}-{case.latency[1]:g} s", case.algorithm, case.header_mode, case.max_in_flight,
            f"{daemon.refused} / {naive.refused}", f"{daemon.lost} / {naive.lost}", f"{bound:.0f}",
            f"{daemon.seconds / bound:.3f} / {naive.seconds / bound:.3f}", f"{alone.seconds / bound:.3f}", verdict(missed),
        ])
    emit(table(
        f"A concurrency limit beside a rate limit of {LIMIT} per {WINDOW:g} s: {BACKLOG} restarts, the daemon "
        f"allowed {OURS_IN_FLIGHT} in flight, daemon / naive",
        ["latency", "algorithm", "headers", "in progress allowed", "429s", "lost", "bound s", "time / bound",
         "daemon without the limit", "targets"],
        lines, notes=NOTES,
    ))
    emit(f"Targets: {sum(verdicts)} of {len(verdicts)} rows met.\n")
    return 0 if all(verdicts) else 1


NOTES = (
    "in progress allowed: the server's concurrency limit per key (more is answered 429 at once, Retry-After: 1,",
    "the rate limit's headers as the last admitted request left them). bound: the longer of the rate limit's",
    "ideal and every request in one of those places for the mean latency. daemon without the limit: the same",
    "run with no concurrency limit, time over the same bound (what the limit costs, measured in the same run).",
)


if __name__ == "__main__":
    raise SystemExit(main())
