"""Benchmark 1: the rate limiter against every common limit algorithm, header mode and a shared key.

A schedule rule selecting every connector runs once (`Daemon.run_once`: one list call, then one
restart per connector) against a key limited by each of the six algorithms the simulator plays
(watchdog/simulator/ratelimit.py), with X-RateLimit-* on every answer, on 429 only (as Confluent
documents), or never (with and without Retry-After); alone, or with another tool on the key using
a third of the limit, evenly or in one burst per window. The daemon runs with `reserve: 0` and a
raised local ceiling, so that the server's limit is what binds. The baseline is a naive client
with the policy of Confluent's Terraform provider (bench/clients.py), against a fresh simulator
of the same case.

Every row runs on virtual time (bench/virtualtime.py), 5,000 restarts in seconds; one case runs
again in real time over loopback sockets as a check that virtual time changes nothing that
matters. A last table makes issue 10's own measurement again as it was made: 200 restarts at 20
per 2 s in real time over loopback sockets, the issue's four algorithms and three header modes,
beside the numbers the issue reported. The ideal (bench/ratelab.py) is what the algorithm admits
at best: a greedy oracle that knows the server's state and sends each request the instant it
would be admitted.

Two limits: 60 per 10 s (whole-second Retry-After values are a small error against the window),
and 20 per 2 s, the setting of the independent fake in issue 10, where they are a large one.
`python -m bench budget` exits non-zero when a target is not met.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterable
from dataclasses import dataclass, replace

from watchdog.simulator.ratelimit import ALGORITHMS, OtherSpec

from . import fixtures
from .ratelab import (
    Case,
    Measured,
    even_pacing_ratio,
    run_daemon,
    run_daemon_real,
    run_naive,
    run_naive_real,
    whole_share_use,
)
from .report import emit, run_cases, table, verdict

SETTINGS = ((60, 10.0), (20, 2.0))
BACKLOGS = (200, 5_000)
HEADER_MODES = (("always", True), ("on_429", True), ("never", True), ("never", False))
OTHER: tuple[OtherSpec, ...] = (("steady", 1 / 3),)
# The same share sent in one burst at a random moment of each window, as a cron job or a CI run
# would: any window of a sliding log (or an anchored one) may then hold two of its bursts.
OTHER_BURSTY: tuple[OtherSpec, ...] = (("bursty", 1 / 3),)
LATENCY = (0.05, 0.15)


@dataclass(frozen=True)
class Row:
    daemon: Measured
    naive: Measured


def cases() -> list[Case]:
    found = []
    for limit, window in SETTINGS:
        for algorithm in ALGORITHMS:
            for headers, retry_after in HEADER_MODES:
                base = Case(algorithm, headers, limit, window, BACKLOGS[0], retry_after=retry_after, latency=LATENCY)
                found += [replace(base, backlog=n) for n in BACKLOGS]
                found.append(replace(base, backlog=BACKLOGS[-1], others=OTHER))
                found.append(replace(base, backlog=BACKLOGS[-1], others=OTHER_BURSTY))
    return found


def run_case(case: Case) -> Row:
    fixtures.quiet_logs()
    return Row(run_daemon(case), run_naive(case))


# The case run on both clocks. Not 20 per 2 s: there the one-at-a-time probe (about 10 per
# second at 0.1 s latency) only just reaches the limit, so whether it crosses it at all depends on
# the CPU each request costs, which virtual time does not model (docs/rate-limits.md: a server
# that sustains more than about half a request per round trip may never be crossed).
CHECK = Case("fixed_aligned", "on_429", 60, 10.0, 200, latency=LATENCY)


# Issue 10's own measurement, made again the way it was made: one run of a backlog of 200 against
# a key of 20 requests per 2 s, `reserve: 0`, in real time over loopback sockets with no latency
# added, on the four algorithms of the issue's table and each header mode (with Retry-After), the
# naive client beside the daemon. The issue's numbers, from the daemon before this limiter and an
# independent fake of the API, are printed next to them.
ISSUE_ALGORITHMS = ("fixed_aligned", "fixed_anchored", "sliding_log", "token_bucket")
ISSUE_MODES = ("always", "on_429", "never")
ISSUE_BEFORE = {  # 429s per run in the issue's table, by header mode, and the naive client's
    "fixed_aligned": {"always": "1", "on_429": "2", "never": "17", "naive": "~90"},
    "fixed_anchored": {"always": "0", "on_429": "17 to 29", "never": "not tried", "naive": "~90"},
    "sliding_log": {"always": "18", "on_429": "75", "never": "not tried", "naive": "~90"},
    "token_bucket": {"always": "18", "on_429": "2", "never": "not tried", "naive": "~160"},
}


def issue_cases() -> list[Case]:
    return [Case(algorithm, headers, 20, 2.0, 200, latency=(0.0, 0.0))
            for algorithm in ISSUE_ALGORITHMS for headers in ISSUE_MODES]


def run_issue_case(case: Case) -> Row:
    fixtures.quiet_logs()
    return Row(asyncio.run(run_daemon_real(case)), asyncio.run(run_naive_real(case)))


def issue_table(rows: Iterable[Row]) -> str:
    lines = []
    for row in rows:
        d, n, c = row.daemon, row.naive, row.daemon.case
        before = ISSUE_BEFORE[c.algorithm]
        missed = misses(row)
        lines.append([
            c.algorithm, c.headers, f"{d.refused} / {n.refused}", f"{before[c.headers]} / {before['naive']}",
            f"{d.ratio:.3f} / {n.ratio:.3f}", f"{d.seconds:.1f}", f"{d.lost} / {n.lost}",
            verdict(missed),
        ])
    return table(
        "Issue 10's setting in real time: 200 restarts, 20 requests per 2 s, loopback sockets, daemon / naive",
        ["algorithm", "headers", "429s", "429s in issue 10 (before)", "time / ideal", "seconds", "lost", "targets"],
        lines,
        notes=[
            "The issue's measurement made again as it was made (one run each, the real clock, the simulator served on",
            "127.0.0.1 with no latency added): its numbers came from the daemon before this limiter, against an",
            "independent fake of the API. Targets as in the tables above.",
        ],
    )


def real_time_check() -> tuple[Measured, Measured]:
    """The 200-restart fixed-window case with headers on 429 only, on virtual time and in real
    time over loopback sockets: the two must agree."""
    return run_daemon(CHECK), asyncio.run(run_daemon_real(CHECK))


def misses(row: Row) -> list[str]:
    """The targets of issue 10 (and issue 16's shared-key targets) this row misses."""
    d, n, c = row.daemon, row.naive, row.daemon.case
    found = []
    if d.lost:
        found.append(f"lost {d.lost}")
    if not c.shared:
        if c.headers == "always" and d.refused:
            found.append(f"{d.refused} 429s with headers on every answer (target 0)")
        if c.headers == "on_429" and d.refused > 2:
            found.append(f"{d.refused} 429s with headers on 429 only (target <= 2)")
        if c.headers == "never" and d.refused > n.refused / 10:
            found.append(f"{d.refused} 429s without headers (target <= naive's {n.refused} / 10)")
        if d.ratio > 1.1:
            even = even_pacing_ratio(d)
            found.append(f"time / ideal {d.ratio:.3f} (target <= 1.1; even pacing at the key's rate: {even:.3f})")
        return found
    if c.headers == "always" and d.refused:
        found.append(f"{d.refused} 429s with headers on every answer (target 0)")
    if c.headers != "always" and d.refused > d.windows / 5:
        found.append(f"{d.refused} 429s in {d.windows} windows (target <= a fifth of one per window)")
    if c.headers == "never" and d.refused > n.refused / 10:
        found.append(f"{d.refused} 429s without headers (target <= naive's {n.refused} / 10)")
    if not d.use_of_left >= 0.9:
        whole = whole_share_use(d)
        found.append(f"used {d.use_of_left:.3f} of what the other client left (target >= 0.9;"
                     f" even pacing that never has it refused: {whole:.3f})")
    if d.other_refused >= max(1, n.other_refused):
        found.append(f"other client refused {d.other_refused} times (naive: {n.other_refused})")
    return found


def key_label(case: Case) -> str:
    """alone, or shared with the other client's pattern (steady | bursty)."""
    return "shared, " + case.others[0][0] if case.shared else "alone"


def rows_table(rows: Iterable[Row], limit: int, window: float) -> str:
    lines = []
    for row in rows:
        d, n, c = row.daemon, row.naive, row.daemon.case
        missed = misses(row)
        lines.append([
            c.algorithm, c.header_mode, key_label(c), c.backlog,
            f"{d.refused} / {n.refused}",
            f"{d.use:.3f} / {n.use:.3f}" + (f" ({d.use_of_left:.3f})" if c.shared else ""),
            f"{d.ratio:.3f} / {n.ratio:.3f}", f"{d.lost} / {n.lost}",
            f"{d.other_refused} / {n.other_refused}" if c.shared else "",
            verdict(missed),
        ])
    return table(
        f"Rate-limit budget: {limit} requests per {window:g} s, {LATENCY[0]:g}-{LATENCY[1]:g} s latency, daemon / naive",
        ["algorithm", "headers", "key", "backlog", "429s", "budget used (of what was left)", "time / ideal",
         "lost", "other's 429s", "targets"],
        lines,
    )


NOTES = [
    "429s: the client's refused requests. budget used: its admitted requests per full window / the limit, mean",
    "over every window but the first and last (of what was left: / what the other client left of the limit).",
    "time / ideal: first request to last admitted, against a greedy oracle that knows the server's state and",
    "races the same other client. lost: restarts that never succeeded. other's 429s: the other client's",
    "refused requests, next to the daemon and next to the naive client.",
    "Targets (issue 10): alone, 0 x 429 with headers on every answer, <= 2 with headers on 429 only, <= a tenth",
    "of the naive client's without headers, and time <= 1.1 x ideal; shared, nothing lost, <= a fifth of a",
    "429 per window, >= 0.9 of what the other client leaves, and fewer 429s for the other client than next",
    "to the naive client; with headers on every answer, 0 x 429 (issue 16). A missed time target shows the",
    "time / ideal of even pacing at the key's rate from the first request (no learning, no margin): the best",
    "a limiter that spaces requests evenly where the server says nothing can do (bench/ratelab.py). A missed",
    "use target shows the use of the fastest even pacing at which the other client is never refused (nor are",
    "we), the least from four starts a quarter window apart: where a window may hold two of a bursty client's",
    "bursts, no client that cannot see when they come takes more and leaves it its share (docs/benchmarks.md 1).",
]


def main() -> int:
    fixtures.quiet_logs()
    rows = run_cases("budget", run_case, cases(), each=", each with the daemon and the naive client")
    for limit, window in SETTINGS:
        emit(rows_table([r for r in rows if (r.daemon.case.limit, r.daemon.case.window) == (limit, window)], limit, window))
    issue_rows = run_cases("issue 10's setting", run_issue_case, issue_cases(), each=" in real time, with the naive client")
    emit(issue_table(issue_rows))
    rows += issue_rows
    virtual, real = real_time_check()
    emit(table(
        f"Virtual time against real time ({CHECK.algorithm}, headers on 429 only, {CHECK.limit} per"
        f" {CHECK.window:g} s, {CHECK.backlog} restarts)",
        ["clock", "429s", "time / ideal", "seconds"],
        [["virtual", virtual.refused, f"{virtual.ratio:.3f}", f"{virtual.seconds:.1f}"],
         ["real", real.refused, f"{real.ratio:.3f}", f"{real.seconds:.1f}"]],
        notes=NOTES,
    ))
    missed = [r for r in rows if misses(r)]
    agree = abs(virtual.ratio - real.ratio) <= 0.05 and abs(virtual.refused - real.refused) <= 1
    emit(f"Targets: {len(rows) - len(missed)} of {len(rows)} rows met"
         + ("" if agree else "; virtual and real time DISAGREE") + ".\n")
    return 1 if missed or not agree else 0


if __name__ == "__main__":
    sys.exit(main())

