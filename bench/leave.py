"""Benchmark 1c: a key given back. Another tool shares the key for five minutes, then leaves.

While the tool is there the daemon backs its own pace off below what the tool leaves (429s at
our pace cut the ceiling of its climb, and so does a race lost with headers on every answer).
Once the tool is gone nothing in an answer says so: with headers on 429 only no answer shows
anybody's use, and on a server that refills gradually the room in a Remaining is also what our own
cut leaves. Only a probe tells, so the ceiling regrows after a quarter hour without a 429
(watchdog/ratelimit/climb.py, REGROW_AFTER). This measures how long the daemon takes to use
the key again as it does alone, and what the probing costs: 8,000 restarts at 60 per 10 s on
virtual time, a tool sending a third of the limit evenly for the first 300 s, or a runaway loop
asking for four times the limit (it takes nearly the whole key, and the daemon's share beside it
is learned as a trickle, from which the regrow climbs back quickly to the best rate measured).

The baseline is the same daemon alone on the same key, in the same run: its use of the limit.
Targets: within 20 minutes of the tool leaving, a whole minute at 0.9 of the limit or more; at
most a fifth of a 429 per window over the run (issue 10's shared target); nothing lost.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, replace

from watchdog.simulator.ratelimit import ALGORITHMS as SIMULATED
from watchdog.simulator.ratelimit import Pattern

from . import fixtures, virtualtime
from .budget import LATENCY
from .ratelab import Case, Measured, ideal_seconds, own_calls, play_daemon, run_daemon
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


# The tool: a steady third of the limit, or a retry loop that ignores 429s and asks for four
# times the limit (the simulator's runaway client: it takes nearly every unit the moment it frees).
TOOLS: tuple[tuple[Pattern, float], ...] = (("steady", 1 / 3), ("runaway", 4.0))


def cases() -> list[Case]:
    return [
        Case(algorithm, headers, 60, 10.0, BACKLOG, latency=LATENCY, others=((pattern, share, LEAVES_AT),))
        for pattern, share in TOOLS for algorithm in ALGORITHMS for headers in HEADERS
    ]


def tool(case: Case) -> str:
    pattern, share, *_ = case.others[0]
    return f"{pattern}, {share:.2g} x the limit"


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
    own = own_calls(simulator)
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
    "tool: steady, evenly spread; runaway, a loop that ignores 429s, asking for more than the whole limit",
    "(it takes nearly every unit the moment it comes free, and what it leaves is about nothing).",
    "429s: the daemon's, over the run (after the tool left). while shared: ours per full window before the",
    "tool left / what it left of the limit. regained: minutes from the tool leaving to the end of the first",
    "whole minute at 0.9 of the limit or more. last 5 min: ours per minute / the limit per minute, against the",
    "same daemon alone on the key (its use of the limit, 4,000 restarts).",
]


# The second table: a backlog of 200 waiting behind a runaway tool for ten minutes, on two keys
# (DRAIN_KEYS), every algorithm and header mode. The baseline is the oracle (ratelab.ideal_seconds) for what the
# daemon sent after the tool stopped, from the moment it stopped, in the same run.
RUNAWAY_FOR = 600.0
DRAIN_BACKLOG = 200
DRAIN_MODES = (("always", True), ("on_429", True), ("never", True), ("never", False))
# Two keys: a slow one (10 per 10 s), and one whose window's burst is large against the trickle
# learned beside the tool (60 per 60 s): there a burst the server allowed once the tool was gone,
# counted by our pacer at that trickle, held the next request for hours (watchdog/ratelimit/pacer.py).
DRAIN_KEYS = ((10, 10.0), (60, 60.0))
# Targets: while the tool runs, at most one 429 per window (each holds every call for the
# server's word, and the next try is one request: a client that tried again the moment each pause
# ended would take one per Retry-After, up to ten per window on a token bucket); once it stops,
# the rest out within three quarters of an hour (a quarter hour without a 429, REGROW_AFTER, and
# the quick climb out of the trickle); nothing lost without being said.
REFUSED_PER_WINDOW_WHILE_THERE = 1.0
DRAINED_WITHIN = 2_700.0


@dataclass(frozen=True)
class Drained:
    case: Case
    refused_while_there: int
    refused_after: int
    ended_rate_limited: int  # restarts ended `rate_limited` (max_rate_limited_retries 429s), said
    lost_unsaid: int  # restarts not accepted that ended with no outcome at all
    after: int  # ours admitted after the tool stopped
    seconds_after: float  # from the tool stopping to our last admitted
    ideal_after: float


def drain_cases() -> list[Case]:
    return [
        Case(algorithm, headers, limit, window, DRAIN_BACKLOG, retry_after=retry_after, others=(("runaway", 4.0, RUNAWAY_FOR),))
        for limit, window in DRAIN_KEYS for algorithm in SIMULATED for headers, retry_after in DRAIN_MODES
    ]


def run_drain(case: Case) -> Drained:
    fixtures.quiet_logs()
    measured, simulator = virtualtime.run(play_daemon(case))
    own = own_calls(simulator)
    after = sorted(c.t for c in own if c.status_code != 429 and c.t >= RUNAWAY_FOR)
    rate_limited = measured.notes["outcomes"].get("rate_limited", 0)
    return Drained(
        case=case,
        refused_while_there=sum(1 for c in own if c.status_code == 429 and c.t < RUNAWAY_FOR),
        refused_after=sum(1 for c in own if c.status_code == 429 and c.t >= RUNAWAY_FOR),
        ended_rate_limited=rate_limited,
        lost_unsaid=measured.lost - rate_limited,
        after=len(after),
        seconds_after=(after[-1] - RUNAWAY_FOR) if after else 0.0,
        ideal_after=ideal_seconds(case, len(after), RUNAWAY_FOR) if after else 0.0,
    )


def drain_misses(drained: Drained) -> list[str]:
    found = []
    windows = RUNAWAY_FOR / drained.case.window
    if drained.refused_while_there > windows * REFUSED_PER_WINDOW_WHILE_THERE:
        found.append(f"{drained.refused_while_there} 429s in {windows:g} windows while it ran (target <= one per window)")
    if drained.lost_unsaid:
        found.append(f"{drained.lost_unsaid} restarts lost without an outcome")
    if drained.seconds_after > DRAINED_WITHIN:
        found.append(f"the rest out {drained.seconds_after:.0f} s after it stopped (target <= {DRAINED_WITHIN:g} s)")
    return found


DRAIN_NOTES = [
    "429s: the daemon's while the tool ran (after it stopped). ended rate_limited: restarts refused",
    "max_rate_limited_retries (10) times in a row, ended and counted as such (the daemon's only loss, said;",
    "a restart not accepted that ended with no outcome at all would miss the targets).",
    "after it stopped: seconds from then to the last restart accepted, and the oracle's time for as many",
    "(ratelab.ideal_seconds from that moment: it knows the server's state), with the ratio.",
]


def drain_table(rows: list[Drained]) -> tuple[list[list[object]], int]:
    lines: list[list[object]] = []
    met = 0
    for drained in rows:
        missed = drain_misses(drained)
        met += not missed
        ratio = drained.seconds_after / drained.ideal_after if drained.ideal_after else float("nan")
        lines.append([
            f"{drained.case.limit} per {drained.case.window:g} s", drained.case.algorithm, drained.case.header_mode,
            f"{drained.refused_while_there} ({drained.refused_after})", drained.ended_rate_limited,
            f"{drained.seconds_after:.0f} / {drained.ideal_after:.0f} ({ratio:.1f} x)", verdict(missed),
        ])
    return lines, met


def main() -> int:
    rows = run_cases("leave", run_case, cases(), each=", each also alone")
    lines, met = [], 0
    for left in rows:
        c, missed = left.measured.case, misses(left)
        met += not missed
        lines.append([
            tool(c), c.algorithm, c.header_mode, f"{left.measured.refused} ({left.refused_after})",
            f"{left.use_while_shared:.3f}", left.regained_after if left.regained_after is not None else "never",
            f"{left.last_minutes:.3f} / {left.alone_use:.3f}", verdict(missed),
        ])
    emit(table(
        f"A key given back: another tool uses 60 per 10 s for the first {LEAVES_AT:g} s, then leaves;"
        f" {BACKLOG} restarts, {LATENCY[0]:g}-{LATENCY[1]:g} s latency",
        ["tool", "algorithm", "headers", "429s (after it left)", "while shared", "regained (min)",
         "last 5 min / alone", "targets"],
        lines, notes=NOTES,
    ))
    emit(f"Targets: {met} of {len(rows)} rows met.\n")
    drained = run_cases("leave (a runaway tool)", run_drain, drain_cases())
    drain_lines, drain_met = drain_table(drained)
    emit(table(
        f"A runaway tool stops: a loop asking for 4 x the limit for the first {RUNAWAY_FOR:g} s, then nothing;"
        f" {DRAIN_BACKLOG} restarts waiting from the start",
        ["key", "algorithm", "headers", "429s (after it stopped)", "ended rate_limited", "after it stopped: s / oracle",
         "targets"],
        drain_lines, notes=DRAIN_NOTES,
    ))
    emit(f"Targets: {drain_met} of {len(drained)} rows met.\n")
    return 0 if met == len(rows) and drain_met == len(drained) else 1
