"""Benchmark 1c: a key given back. Another tool shares the key for five minutes, then leaves.

While the tool is there the daemon backs its own pace off below what the tool leaves (429s at
our pace cut the ceiling of its climb, and so does a race lost with headers on every answer).
Once the tool is gone nothing in an answer says so: with headers on 429 only no answer shows
anybody's use, and on a server that refills gradually the room in a Remaining is also what our own
cut leaves. Only a probe tells, so the ceiling regrows after a quarter hour without a 429
(watchdog/ratelimit/climb.py, REGROW_AFTER). This measures how long the daemon takes to use
the key again as it does alone, and what the probing costs: 8,000 restarts at 60 per 10 s on
virtual time, a tool sending a third of the limit evenly for the first 300 s.

The baseline is the same daemon alone on the same key, in the same run: its use of the limit.
Targets: within 20 minutes of the tool leaving, a whole minute at 0.9 of the limit or more; at
most a fifth of a 429 per window over the run (issue 10's shared target); nothing lost.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, replace

from . import fixtures, virtualtime
from .budget import LATENCY
from .ratelab import OWN_ENDPOINTS, Case, Measured, play_daemon, run_daemon
from .report import emit, run_cases, table, verdict

LEAVES_AT = 300.0
BACKLOG = 8_000
REGAIN_WITHIN_MINUTES = 20
ALGORITHMS = ("fixed_aligned", "sliding_log", "token_bucket")
HEADERS = ("on_429", "always")


@dataclass(frozen=True)
class Left:
    measured: Measured
    refused_after: int  # our 429s after the tool left
    use_while_shared: float  # ours per full window before it left / what it left of the limit
    per_minute: list[float]  # ours per minute after it left / the limit per minute (whole minutes)
    alone_use: float  # the same daemon alone on the key (the baseline)

    @property
    def regained_after(self) -> int | None:
        """Minutes from the tool leaving to the end of the first minute at 0.9 of the limit."""
        return next((m + 1 for m, use in enumerate(self.per_minute) if use >= 0.9), None)

    @property
    def last_minutes(self) -> float:
        tail = self.per_minute[-5:]
        return sum(tail) / len(tail) if tail else math.nan


def cases() -> list[Case]:
    return [
        Case(algorithm, headers, 60, 10.0, BACKLOG, latency=LATENCY, others=(("steady", 1 / 3, LEAVES_AT),))
        for algorithm in ALGORITHMS for headers in HEADERS
    ]


def leaves_at(case: Case) -> float:
    """When the case's one other client leaves (its third field)."""
    (other,) = case.others
    leaves = other[2] if len(other) == 3 else None
    if leaves is None:
        raise ValueError(f"the other client of {case} never leaves")
    return float(leaves)


def run_case(case: Case) -> Left:
    """The case, whose one other client leaves at some point, and the daemon alone beside it."""
    fixtures.quiet_logs()
    left_at = leaves_at(case)
    measured, simulator = virtualtime.run(play_daemon(case))
    own = [c for c in simulator.calls if c.endpoint in OWN_ENDPOINTS]
    admitted = [c.t for c in own if c.status_code != 429]
    budgets = simulator.cloud_budgets
    assert budgets is not None
    theirs = Counter(math.floor(t / case.window) for o in budgets.others[fixtures.API_KEY] for t in o.log.admitted_at)
    ours = Counter(math.floor(t / case.window) for t in admitted)
    shared = range(math.floor(min(admitted) / case.window) + 1, math.floor(left_at / case.window))
    per_minute_limit = case.limit * 60.0 / case.window
    minutes = math.floor((max(admitted) - left_at) / 60.0)
    ours_per_minute = Counter(math.floor((t - left_at) / 60.0) for t in admitted if t >= left_at)
    per_minute = [ours_per_minute[m] / per_minute_limit for m in range(minutes)]
    alone = run_daemon(replace(case, others=(), backlog=case.backlog // 2))
    return Left(
        measured=measured,
        refused_after=sum(1 for c in own if c.status_code == 429 and c.t >= left_at),
        use_while_shared=sum(ours[w] / max(1, case.limit - theirs[w]) for w in shared) / max(1, len(shared)),
        per_minute=per_minute,
        alone_use=alone.use,
    )


def misses(left: Left) -> list[str]:
    found = []
    m = left.measured
    if m.lost:
        found.append(f"lost {m.lost}")
    regained = left.regained_after
    if regained is None or regained > REGAIN_WITHIN_MINUTES:
        when = "never" if regained is None else f"after {regained} min"
        found.append(f"0.9 of the limit regained {when} (target <= {REGAIN_WITHIN_MINUTES} min)")
    if m.refused > m.windows / 5:
        found.append(f"{m.refused} 429s in {m.windows} windows (target <= a fifth of one per window)")
    return found


NOTES = [
    "429s: the daemon's, over the run (after the tool left). while shared: ours per full window before the",
    "tool left / what it left of the limit. regained: minutes from the tool leaving to the end of the first",
    "whole minute at 0.9 of the limit or more. last 5 min: ours per minute / the limit per minute, against the",
    "same daemon alone on the key (its use of the limit, 4,000 restarts).",
]


def main() -> int:
    rows = run_cases("leave", run_case, cases(), each=", each also alone")
    lines, met = [], 0
    for left in rows:
        c, missed = left.measured.case, misses(left)
        met += not missed
        lines.append([
            c.algorithm, c.header_mode, f"{left.measured.refused} ({left.refused_after})",
            f"{left.use_while_shared:.3f}", left.regained_after if left.regained_after is not None else "never",
            f"{left.last_minutes:.3f} / {left.alone_use:.3f}", verdict(missed),
        ])
    emit(table(
        f"A key given back: another tool sends a third of 60 per 10 s for the first {LEAVES_AT:g} s, then leaves;"
        f" {BACKLOG} restarts, {LATENCY[0]:g}-{LATENCY[1]:g} s latency",
        ["algorithm", "headers", "429s (after it left)", "while shared", "regained (min)", "last 5 min / alone",
         "targets"],
        lines, notes=NOTES,
    ))
    emit(f"Targets: {met} of {len(rows)} rows met.\n")
    return 0 if met == len(rows) else 1
