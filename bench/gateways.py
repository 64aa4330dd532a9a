"""Benchmark 1d: the daemon behind real rate-limiting gateways (nginx, HAProxy), not our simulator.

Issue 10 asks the limiter to hold against any server. The simulator plays six algorithms as we
understood them; here the limiter meets two limiters we did not write, as deployed in front of
APIs (bench/real_gateways.py says what each does): nginx's `limit_req` (a leaky bucket) and
HAProxy's stick-table request rate (a sliding counter that also counts the requests it refuses),
with a bare 429, with a constant `Retry-After: 1` added by the configuration (as many deployments
do), and, for HAProxy, with `X-RateLimit-Limit` and `X-RateLimit-Reset` added to its 429s too.

Issue 10's setting in real time: 200 restarts through `Daemon.run_once` (a schedule rule selecting
every connector), `reserve: 0`, the local ceiling raised; the naive client (Terraform-style)
through the same gateway. The daemon runs RUNS times per row (the real clock on a shared machine):
the table gives the median time / ideal and the range, and the most 429s of any run. The 429s are
counted from the gateway's own log. The ideal is approximate: the key's burst at once, then its
rate (for HAProxy's sliding counter, about what a client that knew its phase could do).

Targets are issue 10's for a key alone: nothing lost; without rate headers at most a tenth of the
naive client's 429s, with them on 429 only at most 2; time at most 1.1 x the ideal.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from . import fixtures
from .clients import NAIVE_RETRIES
from .real_gateways import Gateway, HaproxyRate, NginxLimitReq, Run, run_daemon, run_naive
from .report import emit, median, progress, table, verdict

BACKLOG = 200
RUNS = 3


@dataclass(frozen=True)
class GatewayCase:
    gateway: str
    answer: str  # what its 429 carries
    headers: str  # on_429 | never: as the targets read it
    make: Callable[[], Gateway]


CASES = (
    GatewayCase("nginx limit_req, 10 r/s, burst 10", "nothing", "never", lambda: NginxLimitReq(10, 10)),
    GatewayCase("nginx limit_req, 10 r/s, burst 10", "Retry-After: 1", "never",
                lambda: NginxLimitReq(10, 10, retry_after=True)),
    GatewayCase("HAProxy http_req_rate, 20 per 2 s", "nothing", "never", lambda: HaproxyRate(20, 2)),
    GatewayCase("HAProxy http_req_rate, 20 per 2 s", "Retry-After: 1", "never",
                lambda: HaproxyRate(20, 2, retry_after=True)),
    GatewayCase("HAProxy http_req_rate, 20 per 2 s", "Retry-After: 1, X-RateLimit-Limit: 20, -Reset: 2", "on_429",
                lambda: HaproxyRate(20, 2, retry_after=True, limit_header=True)),
)


def misses(case: GatewayCase, daemon: list[Run], naive: Run) -> list[str]:
    found = []
    lost = max(run.lost for run in daemon)
    refused = max(run.refused for run in daemon)
    ratio = median([run.ratio for run in daemon])
    if lost:
        found.append(f"lost {lost}")
    if case.headers == "never" and refused > naive.refused / 10:
        found.append(f"{refused} 429s without rate headers (target <= naive's {naive.refused} / 10)")
    if case.headers == "on_429" and refused > 2:
        found.append(f"{refused} 429s with headers on 429 only (target <= 2)")
    if ratio > 1.1:
        found.append(f"time / ideal {ratio:.3f} (target <= 1.1)")
    return found


def main() -> int:
    fixtures.quiet_logs()
    lines, verdicts = [], []
    for case in CASES:
        progress(f"gateways: {case.gateway}, 429 with {case.answer}: the daemon {RUNS} times, the naive client once")
        daemon = [asyncio.run(run_daemon(case.make(), BACKLOG)) for _ in range(RUNS)]
        naive = asyncio.run(run_naive(case.make(), BACKLOG))
        missed = misses(case, daemon, naive)
        verdicts.append(not missed)
        ratios = [run.ratio for run in daemon]
        lines.append([
            case.gateway, case.answer, f"{max(r.refused for r in daemon)} / {naive.refused}",
            f"{median(ratios):.3f} ({min(ratios):.2f}-{max(ratios):.2f}) / {naive.ratio:.3f}",
            f"{max(r.lost for r in daemon)} / {naive.lost}", verdict(missed),
        ])
    emit(table(
        f"Behind real gateways: {BACKLOG} restarts, real time over loopback, daemon ({RUNS} runs) / naive",
        ["gateway", "its 429 carries", "429s", "time / ideal: median (range)", "lost", "targets"],
        lines,
        notes=[
            "The gateway is the only limiter (the simulator behind it has none); 429s are counted from its log.",
            f"The daemon's 429s are the most of its runs; the naive client retries each 429 up to {NAIVE_RETRIES} times.",
        ],
    ))
    emit(f"Targets: {sum(verdicts)} of {len(verdicts)} rows met.\n")
    return 0 if all(verdicts) else 1
