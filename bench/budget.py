"""Benchmark 1: how much of the rate limit a backlog of restarts uses, and at what cost in 429s.

A schedule rule selecting every connector is run once (`Daemon.run_once`: one list call, then
one restart per connector) against a key limited to 60 requests per fixed 10 s window, with
50-150 ms of latency per answer. Cases: 100, 1,000 and 5,000 restarts; X-RateLimit-* on every
answer or on 429 only; alone, or with another client on the same key sending 20 requests per
window (a third of the limit). The naive baseline (bench/clients.py) restarts the same
connectors against a fresh simulator of the same scenario, under the same clock.

Every row runs on virtual time (bench/virtualtime.py): exact, and 5,000 restarts take seconds.
The two 100-restart cases alone are run again in real time over loopback sockets as a check
that virtual time changes nothing that matters.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx

from watchdog.app import Daemon
from watchdog.simulator import CallRecord, Simulator, create_app, serve

from . import fixtures, virtualtime
from .clients import NaiveClient, share_key
from .report import emit, progress, table

LIMIT, WINDOW = 60, 10.0
SHARE = LIMIT // 3
LATENCY = (0.05, 0.15)
BACKLOGS = (100, 1_000, 5_000)
HEADER_MODES = ("always", "on_429")
OWN_ENDPOINTS = frozenset({"list", "restart"})  # the sharing client reads status: not ours


@dataclass(frozen=True)
class Case:
    backlog: int
    headers: str
    shared: bool
    clock: str = "virtual"
    reserve: int = 1  # the daemon's default: requests per window left for other tools


@dataclass
class Measured:
    case: Case
    client: str
    accepted: int
    lost: int
    refused: int
    refused_by_other: int
    use: float  # admitted requests per full window / limit, averaged
    use_of_left: float  # ... / what the other client left of the limit
    seconds: float
    ideal: float
    other_refused: int  # 429s the sharing client got

    def row(self) -> list[object]:
        c = self.case
        shared = f"reserve {c.reserve}" if c.shared else "no"
        return [
            c.backlog, c.headers, shared, c.clock, self.client,
            f"{self.use:.3f}" + (f" ({self.use_of_left:.3f})" if c.shared else ""),
            f"{self.refused}" + (f" ({self.refused_by_other})" if c.shared else ""),
            self.lost, round(self.seconds, 1), round(self.ideal, 1), f"{self.seconds / self.ideal:.3f}",
            self.other_refused if c.shared else "",
        ]


def connectors(n: int) -> list[dict[str, Any]]:
    return [{"name": f"conn-{i:05d}"} for i in range(n)]


def restart_path(name: str) -> str:
    return f"/connect/v1/environments/{fixtures.ENVIRONMENT}/clusters/{fixtures.cluster_id(0)}/connectors/{name}/restart"


def status_path() -> str:
    return f"/connect/v1/environments/{fixtures.ENVIRONMENT}/clusters/{fixtures.cluster_id(0)}/connectors/conn-00000/status"


@contextlib.asynccontextmanager
async def target(case: Case) -> AsyncIterator[tuple[Simulator, dict[str, Any]]]:
    """The simulator of a case, and how an httpx client reaches it (in process or over TCP)."""
    scenario = fixtures.scenario(
        [connectors(case.backlog)],
        latency_seconds=list(LATENCY),
        rate_limit={"limit": LIMIT, "window_seconds": WINDOW, "headers": case.headers},
    )
    if case.clock == "virtual":
        simulator = Simulator(scenario, clock=asyncio.get_running_loop().time)
        yield simulator, {"transport": httpx.ASGITransport(app=create_app(simulator)), "base_url": "http://sim"}
        return
    simulator = Simulator(scenario)
    started, stop = asyncio.Event(), asyncio.Event()
    server = asyncio.create_task(serve(simulator, "127.0.0.1", 0, started=started, stop=stop))
    await started.wait()
    try:
        yield simulator, {"base_url": f"http://127.0.0.1:{simulator.bound_port}"}
    finally:
        stop.set()
        await server


async def with_sharer(case: Case, http: dict[str, Any], work: Any) -> Any:
    """Run `work` (a coroutine), with the other client on the key while it runs if the case says so."""
    if not case.shared:
        return await work
    stop = asyncio.Event()
    async with httpx.AsyncClient(auth=fixtures.basic_auth(), **http) as client:
        sharer = asyncio.create_task(share_key(client, status_path(), SHARE, WINDOW, stop))
        try:
            return await work
        finally:
            stop.set()
            await sharer


async def run_daemon(case: Case) -> Measured:
    async with target(case) as (simulator, http):
        rule = {"name": "backlog", "trigger": {"type": "schedule", "interval": "1d"}, "select": {"include": ["*"]}}
        config = fixtures.config(
            1, [rule], base_url=http["base_url"], breaker=fixtures.NO_BREAKER, rate_limit={"reserve": case.reserve}
        )
        if case.clock == "virtual":
            daemon = fixtures.virtual_daemon(config, simulator)
        else:
            daemon = Daemon(config)
        await with_sharer(case, http, daemon.run_once())
        outcomes = Counter(job.outcome.value for job in daemon.recorder.finished_jobs if job.outcome)
        return measure(case, "daemon", simulator.calls, lost=case.backlog - outcomes["accepted"])


async def run_naive(case: Case) -> Measured:
    async with target(case) as (simulator, http), httpx.AsyncClient(auth=fixtures.basic_auth(), **http) as client:
        paths = [restart_path(c["name"]) for c in connectors(case.backlog)]
        result = await with_sharer(case, http, NaiveClient(client).restart_all(paths))
        return measure(case, "naive", simulator.calls, lost=result.lost)


def measure(case: Case, client: str, calls: list[CallRecord], *, lost: int) -> Measured:
    own = [c for c in calls if c.endpoint in OWN_ENDPOINTS]
    other = [c for c in calls if c.endpoint not in OWN_ENDPOINTS]
    admitted = [c for c in own if c.status_code != 429]
    windows = Counter(math.floor(c.t / WINDOW) for c in admitted)
    others = Counter(math.floor(c.t / WINDOW) for c in other if c.status_code != 429)
    last = max(windows)
    full = range(0, last)  # the last window holds whatever was left: not a full window
    use = _mean([windows[w] / LIMIT for w in full])
    use_of_left = _mean([windows[w] / max(1, LIMIT - others[w]) for w in full])

    refused_by_other = 0
    seen: Counter[int] = Counter()
    for call in own:
        w = math.floor(call.t / WINDOW)
        if call.status_code != 429:
            seen[w] += 1
        elif seen[w] < LIMIT:
            refused_by_other += 1  # alone, this request would have been admitted
    return Measured(
        case=case,
        client=client,
        accepted=sum(1 for c in own if c.endpoint == "restart" and c.status_code == 202),
        lost=lost,
        refused=sum(1 for c in own if c.status_code == 429),
        refused_by_other=refused_by_other,
        use=use,
        use_of_left=use_of_left,
        seconds=max(c.t for c in admitted),
        ideal=ideal_seconds(len(admitted), others),
        other_refused=sum(1 for c in other if c.status_code == 429),
    )


def ideal_seconds(requests: int, others: Counter[int]) -> float:
    """When `requests` would be done if each window's whole limit, less what the other client
    actually used in it, went to them: the best any client could do in this run."""
    window, left = 0, float(requests)
    while left > LIMIT - others[window]:
        left -= LIMIT - others[window]
        window += 1
    return (window + left / max(1, LIMIT - others[window])) * WINDOW


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


def cases() -> list[Case]:
    found = [Case(n, h, s) for n in BACKLOGS for h in HEADER_MODES for s in (False, True)]
    # Sharing with `reserve` set to the other client's share, as an operator would.
    found += [Case(1_000, h, True, reserve=SHARE) for h in HEADER_MODES]
    # The real-time check: the smallest cases alone, over loopback sockets.
    return found + [Case(100, h, False, clock="real") for h in HEADER_MODES]


def run_case(case: Case) -> list[Measured]:
    progress(f"budget: {case.backlog} restarts, headers {case.headers}, shared={case.shared}, {case.clock} time")
    results = []
    for runner in (run_daemon, run_naive):
        if case.clock == "virtual":
            results.append(virtualtime.run(runner(case)))
        else:
            results.append(asyncio.run(runner(case)))
    return results


def targets(results: list[Measured]) -> list[str]:
    notes = []
    for m in results:
        if m.client != "daemon":
            continue
        c = m.case
        where = f"{c.backlog}/{c.headers}/{f'shared, reserve {c.reserve}' if c.shared else 'alone'}/{c.clock}"
        if c.shared:
            ok = m.lost == 0 and m.refused == m.refused_by_other
            notes.append(f"- {where}: lost {m.lost}, 429s {m.refused}, of which caused by the other client {m.refused_by_other}: {'met' if ok else 'NOT met'}")
        elif not math.isnan(m.use):
            floor, most = (0.97, 0) if c.headers == "always" else (0.95, 2)
            ok = m.use >= floor and m.refused <= most and m.lost == 0
            notes.append(f"- {where}: budget used {m.use:.3f} (target >= {floor}), 429s {m.refused} (target <= {most}): {'met' if ok else 'NOT met'}")
    return notes


def main() -> None:
    fixtures.quiet_logs()
    results = [m for case in cases() for m in run_case(case)]
    emit(table(
        f"Rate-limit budget use: {LIMIT} requests per {WINDOW:g} s window, {LATENCY[0]:g}-{LATENCY[1]:g} s latency",
        ["backlog", "headers", "shared", "clock", "client", "budget used (of what was left)", "429s (by other)",
         "lost", "time s", "ideal s", "time/ideal", "other's 429s"],
        [m.row() for m in results],
        notes=[
            "budget used: the client's admitted requests per full window / the limit (mean over every window but",
            "the last); the daemon's include the one list call that built its backlog. ideal: the client's",
            f"admitted requests at exactly the limit ({LIMIT}/{WINDOW:g} s), less what the other client used in each window.",
            "429s (by other): refused requests the client alone would have had admitted. lost: requests that never",
            f"succeeded. shared: another client on the key sends {SHARE} requests per window; reserve: the daemon's",
            "rate_limit.reserve. other's 429s: requests of the other client refused because the window was spent.",
            "Targets:",
            *targets(results),
        ],
    ))


if __name__ == "__main__":
    main()
