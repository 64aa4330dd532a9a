"""One rate-limit experiment: a backlog of restarts against a key under a given algorithm.

Shared by `python -m bench budget` (the table) and tests/test_ratelimit_property.py (random
draws). A case names the server (algorithm, limit, window, which headers it sends, other tools on
the key, latency) and the backlog; `run_daemon` plays it with the real daemon (`Daemon.run_once`:
one list call, then one restart per connector through the real queue and limiter) and `run_naive`
with a Terraform-style client, both on virtual time against the simulator in process.

The ideal is what the algorithm admits at best: a greedy oracle that knows the server's state
exactly and sends each request the instant it would be admitted, from the moment the client sent
its first request, racing the same other clients. Nothing a real client can do is faster, so
time / ideal >= 1 always; a client's local ceiling (`max_requests_per_second`) is part of the
ideal when it is the tighter bound.
"""

from __future__ import annotations

import asyncio
import math
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx

from watchdog.app import Daemon
from watchdog.config import Config
from watchdog.simulator import Simulator, create_app, serve
from watchdog.simulator.engine import CallRecord
from watchdog.simulator.ratelimit import KeyBudgets, OtherSpec

from . import fixtures, virtualtime
from .clients import NaiveClient

OWN_ENDPOINTS = frozenset({"list", "restart"})


@dataclass(frozen=True)
class Case:
    algorithm: str
    headers: str  # always | on_429 | never
    limit: int
    window: float
    backlog: int
    retry_after: bool = True
    # (steady | bursty, share of the limit), and optionally when that client leaves (seconds)
    others: tuple[OtherSpec, ...] = ()
    latency: tuple[float, float] = (0.05, 0.15)
    arrival: tuple[float, float] = (0.0, 0.0)  # before the server counts a request (out of order)
    reset_format: str = "seconds"  # X-RateLimit-Reset: relative seconds | unix_time
    limit_format: str = "plain"  # X-RateLimit-Limit: the number | quota_policy (Envoy's "N, N;w=W")
    header_names: str = "x_ratelimit"  # X-RateLimit-* | ratelimit (RateLimit-*: the IETF draft's, Kong's)
    # | ratelimit_structured (the draft's later `RateLimit: "default";r=..;t=..` and RateLimit-Policy)
    reserve: int = 0
    max_requests_per_second: float = 1000.0
    max_concurrent_requests: int = 4
    seed: int = 1
    # The server's concurrency limit per key (simulator/concurrency.py): at most this many of our
    # requests in progress at once, more answered 429 (Retry-After: 1, the rate limit's headers as
    # they stand); None: no such limit.
    max_in_flight: int | None = None

    @property
    def shared(self) -> bool:
        return bool(self.others)

    @property
    def header_mode(self) -> str:
        if self.headers != "never":
            return self.headers
        return "never" + ("" if self.retry_after else ", no Retry-After")

    def scenario(self) -> Any:
        rate_limit = {
            "limit": self.limit, "window_seconds": self.window, "algorithm": self.algorithm,
            "headers": self.headers, "retry_after": self.retry_after, "reset_format": self.reset_format,
            "limit_format": self.limit_format, "header_names": self.header_names,
            "other_clients": [
                {"pattern": p, "share": s, "until_seconds": until[0] if until else None} for p, s, *until in self.others
            ],
        }
        concurrency = None if self.max_in_flight is None else {"max_in_flight": self.max_in_flight}
        return fixtures.scenario(
            [backlog_connectors(self.backlog)], latency_seconds=list(self.latency), arrival_delay_seconds=list(self.arrival),
            rate_limit=rate_limit, concurrency_limit=concurrency, seed=self.seed,
        )

    def budgets(self) -> KeyBudgets:
        """A fresh copy of the server's budgets, as the simulator builds them (for the oracle)."""
        return KeyBudgets(self.algorithm, self.limit, self.window, others=list(self.others), seed=self.seed)


@dataclass
class Measured:
    case: Case
    client: str
    sent: int
    admitted: int
    refused: int  # 429s of this client
    lost: int  # restarts that never succeeded
    seconds: float  # first request sent to last admitted
    ideal: float
    use: float  # admitted per window / limit (full windows only)
    use_of_left: float  # admitted per window / what the other clients left of the limit
    other_sent: int = 0
    other_refused: int = 0
    windows: int = 0  # windows the run spanned
    start: float = 0.0  # when its first request went: where the ideal (and even pacing) start
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float:
        return self.seconds / self.ideal if self.ideal > 0 else float("nan")


def run_daemon(case: Case) -> Measured:
    return virtualtime.run(_daemon(case))


def run_naive(case: Case) -> Measured:
    return virtualtime.run(_naive(case))


def _config(case: Case, base_url: str = "http://sim") -> Any:
    return backlog_config(base_url, case.backlog, {
        "reserve": case.reserve, "max_requests_per_second": case.max_requests_per_second,
        "max_concurrent_requests": case.max_concurrent_requests,
    })


def backlog_config(base_url: str, backlog: int, rate_limit: dict[str, Any]) -> Config:
    """A daemon config whose one schedule rule selects every connector of `backlog_connectors`."""
    rule = {"name": "backlog", "trigger": {"type": "schedule", "interval": "1d"}, "select": {"include": ["*"]}}
    # The whole backlog is queued at once: the lane's cap (1,000 by default) is raised to hold it.
    queue = {"max_jobs_per_lane": max(1000, backlog)}
    return fixtures.config(1, [rule], base_url=base_url, breaker=fixtures.NO_BREAKER, rate_limit=rate_limit,
                           queue=queue)


def backlog_connectors(backlog: int) -> list[dict[str, Any]]:
    """The connectors of one cluster that a backlog restarts, in the simulator's scenario."""
    return [{"name": f"conn-{i:05d}"} for i in range(backlog)]


def restart_paths(backlog: int) -> list[str]:
    """The restart path of each of `backlog_connectors`."""
    base = f"/connect/v1/environments/{fixtures.ENVIRONMENT}/clusters/{fixtures.cluster_id(0)}/connectors"
    return [f"{base}/{connector['name']}/restart" for connector in backlog_connectors(backlog)]


async def _daemon(case: Case) -> Measured:
    return (await play_daemon(case))[0]


async def play_daemon(case: Case) -> tuple[Measured, Simulator]:
    """The daemon's run on virtual time (inside virtualtime.run), and the simulator it ran
    against, for a look at every call (bench/leave.py)."""
    simulator = Simulator(case.scenario(), clock=asyncio.get_running_loop().time)
    daemon = fixtures.virtual_daemon(_config(case), simulator, seed=case.seed)
    await daemon.run_once()
    outcomes = restart_outcomes(daemon)
    measured = measure(case, "daemon", simulator, lost=case.backlog - outcomes["accepted"])
    # How each restart ended: a loss is said (rate_limited, counted) or silent (no outcome at all).
    measured.notes["outcomes"] = outcomes
    return measured, simulator


async def run_daemon_real(case: Case) -> Measured:
    """The same on the real clock, the simulator served over loopback sockets."""
    async with _served(case) as (simulator, base_url):
        daemon = Daemon(_config(case, base_url))
        await daemon.run_once()
    return measure(case, "daemon", simulator, lost=case.backlog - restart_outcomes(daemon)["accepted"])


async def run_naive_real(case: Case) -> Measured:
    """The naive client on the real clock, against the simulator over loopback sockets."""
    async with _served(case) as (simulator, base_url):
        async with httpx.AsyncClient(base_url=base_url, auth=fixtures.basic_auth()) as client:
            result = await NaiveClient(client).restart_all(restart_paths(case.backlog))
    return measure(case, "naive", simulator, lost=result.lost)


@asynccontextmanager
async def _served(case: Case) -> AsyncIterator[tuple[Simulator, str]]:
    """A fresh simulator of the case on a free 127.0.0.1 port, and its base URL."""
    simulator = Simulator(case.scenario())
    started, stop = asyncio.Event(), asyncio.Event()
    server = asyncio.create_task(serve(simulator, "127.0.0.1", 0, started=started, stop=stop))
    await started.wait()
    try:
        yield simulator, f"http://127.0.0.1:{simulator.bound_port}"
    finally:
        stop.set()
        await server


def restart_outcomes(daemon: Daemon) -> Counter[str | None]:
    """How many of the daemon's finished restarts ended each way (None: with no outcome)."""
    return Counter(job.outcome.value if job.outcome else None for job in daemon.recorder.finished_jobs)


async def _naive(case: Case) -> Measured:
    simulator = Simulator(case.scenario(), clock=asyncio.get_running_loop().time)
    transport = httpx.ASGITransport(app=create_app(simulator))
    async with httpx.AsyncClient(transport=transport, base_url="http://sim", auth=fixtures.basic_auth()) as client:
        result = await NaiveClient(client).restart_all(restart_paths(case.backlog))
    return measure(case, "naive", simulator, lost=result.lost)


def measure(case: Case, client: str, simulator: Simulator, *, lost: int) -> Measured:
    # The counts below are taken from the call record, which keeps the newest calls only.
    assert simulator.calls_forgotten == 0, f"{simulator.calls_forgotten} calls fell off the record"
    own = own_calls(simulator)
    admitted = [c.t for c in own if c.status_code != 429]
    start, end = min(c.t for c in own), max(admitted)
    budgets = simulator_budgets(simulator)
    others = [o.log for o in budgets.others.get(fixtures.API_KEY, [])] if budgets else []
    use, use_of_left = _uses(case, admitted, [t for log in others for t in log.admitted_at], start, end)
    return Measured(
        case=case, client=client, sent=len(own), admitted=len(admitted),
        refused=sum(1 for c in own if c.status_code == 429), lost=lost,
        seconds=end - start, ideal=ideal_seconds(case, len(admitted), start),
        use=use, use_of_left=use_of_left,
        other_sent=sum(log.sent for log in others), other_refused=sum(log.refused for log in others),
        windows=max(1, math.ceil((end - start) / case.window)),
        start=start,
    )


def own_calls(simulator: Simulator) -> list[CallRecord]:
    """The client's own calls in the simulator's record (a list and restarts), not other tools'."""
    return [c for c in simulator.calls if c.endpoint in OWN_ENDPOINTS]


def _uses(case: Case, ours: list[float], others: list[float], start: float, end: float) -> tuple[float, float]:
    """Our admitted requests per window / the limit, and / what the other clients left of it
    (the limit less what they had admitted in that window): the mean over the aligned windows
    from `start` to `end`, full windows only (the first and the last hold whatever the run's
    start and end left)."""
    theirs = Counter(math.floor(t / case.window) for t in others)
    counted = Counter(math.floor(t / case.window) for t in ours)
    full = range(math.floor(start / case.window) + 1, math.floor(end / case.window))
    use = _mean([counted[w] / case.limit for w in full])
    use_of_left = _mean([counted[w] / max(1, case.limit - theirs[w]) for w in full])
    return use, use_of_left


def simulator_budgets(simulator: Simulator) -> KeyBudgets | None:
    return simulator.cloud_budgets


def ideal_seconds(case: Case, requests: int, start: float) -> float:
    """When a greedy oracle starting at `start` would have had `requests` admitted (see module doc)."""
    budgets = case.budgets()
    t, done, last = start, 0, start
    while done < requests:
        verdict = budgets.admit(fixtures.API_KEY, t)
        if verdict.allowed:
            done, last = done + 1, t
        else:
            t += max(verdict.wait_exact, 1e-6)
    ceiling = (requests - 1) / case.max_requests_per_second
    return max(last - start, ceiling)


def even_pacing_ratio(measured: Measured) -> float:
    """Time / ideal of the best even pacing for the same requests from the same start: the bound
    of a limiter that spaces its requests evenly where the server does not say there is room
    (state.py, rule 3). Computed only where asked (a missed time target): a search of its own."""
    seconds = even_pacing_seconds(measured.case, measured.admitted, measured.start)
    return seconds / measured.ideal if measured.ideal > 0 else float("nan")


def even_pacing_seconds(case: Case, requests: int, start: float) -> float:
    """First to last of `requests` spaced evenly from `start` at the fastest rate at which the
    algorithm admits them all, found to 0.1% (never above the limit per window, which no algorithm
    sustains). That is a client that knows the key's rate from the start and paces at it with no
    margin: no limiter that spaces requests evenly where the server says nothing is faster. Where
    the ideal bursts a window that comes back whole, it is slower than the ideal."""
    if requests <= 1:
        return 0.0

    def admits_all(rate: float) -> bool:
        budgets = case.budgets()
        return all(budgets.admit(fixtures.API_KEY, start + k / rate).allowed for k in range(requests))

    low, high = 0.0, case.limit / case.window
    if not admits_all(high):
        while high - low > high * 0.001:
            middle = (low + high) / 2
            low, high = (middle, high) if admits_all(middle) else (low, middle)
        high = low
    if high <= 0:
        return math.inf
    return max((requests - 1) / high, (requests - 1) / case.max_requests_per_second)


# Where whole_share_use starts its even pacing, in windows after the run's start: a client that
# cannot see another's use cannot know where its windows fall against that client's clock either.
# From one start only, a pace that divides the window kept an anchored window on the other
# client's clock for the whole run, and that row's bound read 0.75 where the daemon's own pauses
# move its windows.
PHASES = (0.0, 0.25, 0.5, 0.75)


def whole_share_use(measured: Measured) -> float:
    """Of what the other clients left, the use (as `measure` counts it) of the fastest even
    pacing at which neither they nor we are ever refused, the least over starts a quarter of a
    window apart from the run's (PHASES): what a client that cannot see their use, and leaves
    them their share, can be sure to take. Found to 0.1%, computed only where asked (a missed
    use target): a search of its own.

    Where a server's window may hold two bursts of another client (a sliding log or counter, a
    window anchored at our first request), that is the limit less two bursts per window, whatever
    the client learns: such a client's requests do not depend on when the bursts come, so any
    window of ours may be the one before a burst that lands right after another (docs/benchmarks.md 1)."""
    case, requests = measured.case, measured.admitted
    if requests <= 1:
        return float("nan")
    return min(_whole_share_use_from(case, requests, measured.start + phase * case.window) for phase in PHASES)


def _whole_share_use_from(case: Case, requests: int, start: float) -> float:
    def replay(rate: float) -> tuple[bool, float]:
        budgets = case.budgets()
        ours = [start + k / rate for k in range(requests)]
        whole = all(budgets.admit(fixtures.API_KEY, t).allowed for t in ours)
        others = budgets.others.get(fixtures.API_KEY, [])
        whole = whole and not any(o.log.refused for o in others)
        return whole, _uses(case, ours, [t for o in others for t in o.log.admitted_at], start, ours[-1])[1]

    low, high = 0.0, case.limit / case.window
    if not replay(high)[0]:
        while high - low > high * 0.001:
            middle = (low + high) / 2
            low, high = (middle, high) if replay(middle)[0] else (low, middle)
        high = low
    return replay(high)[1] if high > 0 else 0.0


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else float("nan")
