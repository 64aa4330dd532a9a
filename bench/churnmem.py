"""Benchmark 13: does memory plateau under heavy name churn, at what level, and which caps bind?

The daemon's own objects (poller, engine, queue, rate limiter, heartbeat, the HTTP API) against
the simulator in process, on the virtual-time loop, as in benchmark 8 (longrun.py), with the
churn of the PostgreSQL soak probe (s73 probe_plateau) but a SQLite state file: one cluster of 300
connectors polled every 5 s; before each poll 75 names are deleted and 75 new ones made, a third of
the new ones FAILED (each healed by one restart), and 10 running connectors turned FAILED; every
3 s an Alertmanager webhook with new label values (pod, run, group key, summary; half of them
naming a connector that does not exist), and 1.5 s later a restart asked for through the API with
a 500-character reason. That is about 440 restarts a minute, until RESTARTS have finished.

Python's own allocations are traced (tracemalloc, one frame) from before the daemon is built; a
sample (after gc.collect) is taken every STEP finished restarts, exactly, from the recorder's
`finished`. STEP is a multiple of 1,001, the recorder's trim step (its list of finished jobs is cut
from 11,001 to FINISHED_KEPT = 10,000), so that every sample past the first trim holds the same
number of finished jobs and the saw-tooth does not show as growth. Each sample has the size of
each capped store. The "bound" sample is the first at which every cap this churn reaches (finished
jobs trimmed, the status trigger's remembered requests, retired ids, state-write marks) is full;
the ratio row compares the last sample with it, and the growth sites are tracemalloc's statistics
by line between the two. Manual and alert requests (10,000 each) and unmatched alerts (10,000)
fill at 20 and 10 a minute here: far from full at the end, their bytes each are measured instead.

Every container reachable from the daemon through watchdog objects' attributes (depth 6) is
counted at each sample too: any that grew past the bound sample by more than 10% and 100 entries
is listed, whatever it is. The simulator's memory is traced too: bounded, but its record of the
calls made to it (CALLS_KEPT, 100,000) fills through such a run, about 0.65 KB a call, and shows
among the growth sites. About 70 s of CPU per 3,000 restarts with tracemalloc on (the polls'
judgments of 300 connectors every 5 s, mostly): some 25 minutes for 60,000.
"""

from __future__ import annotations

import asyncio
import collections
import gc
import io
import os
import random
import tempfile
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from watchdog.app import Daemon
from watchdog.config import Config, build_config
from watchdog.engine import REQUEST_MEMORY
from watchdog.engine.alert_answers import UNMATCHED_REMEMBERED
from watchdog.engine.recorder import FINISHED_KEPT
from watchdog.engine.retired_ids import RETIRED_IDS_KEPT
from watchdog.logs import configure_logging
from watchdog.model import Trigger
from watchdog.server import create_app as daemon_app
from watchdog.simulator import Scenario, Simulator, create_app
from watchdog.state.marks import KEPT as MARKS_KEPT

from . import fixtures
from .report import emit, progress, table
from .virtualtime import run as virtual_run

RESTARTS = int(os.environ.get("BENCH_CHURNMEM_RESTARTS", 60_000))
STEP = 3_003  # a multiple of the recorder's trim step (FINISHED_KEPT // 10 + 1)
CONNECTORS, REPLACED, FLIPPED, POLL, SIGNAL_EVERY = 300, 75, 10, 5.0, 3.0
TOKEN = "bench-churnmem-token-0123456789"
FAILED_ONCE = {"initial": "FAILED", "recover_after_restarts": 1}
GREW, GREW_BY = 1.10, 100  # a container listed as growing: more than 10% and 100 entries past the bound sample
WALK_DEPTH = 6
MIB = 1024 * 1024


def _config(state: Path) -> Config:
    rules = [
        {"name": "heal-failed", "trigger": {"type": "status", "interval": POLL, "confirm_polls": 1},
         "select": {"include": ["*"]}, "backoff": {"base": 1, "cap": 30, "jitter": 0.1}, "max_restarts": 5},
        {"name": "restart-on-alert", "trigger": {"type": "alert", "match": {"alertname": "ConnectorStalled"},
                                                 "cluster_label": "kafka_cluster_id", "connector_label": "connector"},
         "select": {"include": ["*"]}, "backoff": {"base": 5, "cap": 60}, "max_restarts": 6},
    ]
    data = fixtures.config_data(1, rules, "http://sim", state=str(state), breaker=fixtures.NO_BREAKER,
                                rate_limit={"max_requests_per_second": 50})
    return build_config(data, "benchmark config", secrets=fixtures.secrets(TOKEN))


def _alert(rng: random.Random, number: int, name: str) -> dict[str, Any]:
    """A webhook of one firing alert whose labels are new every time, as a pod's or a run's are."""
    token = f"{rng.getrandbits(128):032x}"
    connector = name if number % 2 else f"ghost-{token[:8]}"
    labels = {"alertname": "ConnectorStalled", "severity": "critical", "kafka_cluster_id": fixtures.cluster_id(0),
              "connector": connector, "pod": f"pod-{token}", "run": str(number)}
    return {"version": "4", "groupKey": f'{{}}:{{u="{token}"}}', "truncatedAlerts": 0, "status": "firing",
            "receiver": "watchdog", "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {},
            "externalURL": "http://alertmanager:9093",
            "alerts": [{"status": "firing", "labels": labels, "annotations": {"summary": f"stalled {token}"},
                        "startsAt": "2026-03-01T12:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
                        "generatorURL": "http://prometheus/graph", "fingerprint": token[:16]}]}


def _reason(rng: random.Random, number: int) -> str:
    return (f"bench manual #{number} " + "".join(f"deploy-{rng.getrandbits(128):032x}" for _ in range(12)))[:500]


def _containers(root: object) -> dict[str, int]:
    """The length of every container reachable from `root` through the attributes of watchdog
    objects (and the items of small containers), by its first path."""
    out: dict[str, int] = {}
    seen: set[int] = set()
    stack: list[tuple[object, str, int]] = [(root, "daemon", 0)]
    while stack:
        obj, path, depth = stack.pop()
        if id(obj) in seen or isinstance(obj, (str, bytes, int, float, type)):
            continue
        seen.add(id(obj))
        if isinstance(obj, (dict, list, set, frozenset, collections.deque)):
            out[path] = len(obj)
            if len(obj) <= 20 and depth < WALK_DEPTH:
                items = obj.items() if isinstance(obj, dict) else enumerate(obj)
                stack += [(value, f"{path}[{str(key)[:24]}]", depth + 1) for key, value in items]
            continue
        if depth >= WALK_DEPTH or not type(obj).__module__.startswith(("watchdog", "prometheus_client")):
            continue
        attributes = dict(getattr(obj, "__dict__", {}))
        for cls in type(obj).__mro__:
            for slot in getattr(cls, "__slots__", ()):
                if hasattr(obj, slot):
                    attributes[slot] = getattr(obj, slot)
        stack += [(value, f"{path}.{name}", depth + 1) for name, value in attributes.items()]
    return out


def _stores(daemon: Daemon) -> dict[str, int]:
    engine = daemon.engine
    remembered = engine._remembered
    return {
        "finished_jobs": len(daemon.recorder.finished_jobs),
        "req_status": len(remembered.get(Trigger.STATUS, ())),
        "req_manual": len(remembered.get(Trigger.MANUAL, ())),
        "req_alert": len(remembered.get(Trigger.ALERT, ())),
        "retired_ids": len(engine._retired_ids),
        "write_marks": len(daemon.state.marks._last),
        "unmatched": len(engine._unmatched_said),
        "statuses": len(engine.statuses),
    }


CAPS = {"finished_jobs": FINISHED_KEPT, "req_status": REQUEST_MEMORY, "retired_ids": RETIRED_IDS_KEPT,
        "write_marks": MARKS_KEPT}
FILLING = {"req_manual": REQUEST_MEMORY, "req_alert": REQUEST_MEMORY, "unmatched": UNMATCHED_REMEMBERED}


class Sampler:
    def __init__(self, daemon: Daemon, clock: Callable[[], float]) -> None:
        self.daemon, self.clock = daemon, clock
        self.finished = 0
        self.rows: list[dict[str, Any]] = []
        self.walks: list[dict[str, int]] = []
        self.bound: int | None = None  # the index of the bound sample
        self.snapshots: list[tracemalloc.Snapshot] = []
        self.held: list[tuple[str, int, int]] = []  # what each store held at the end (_held)

    def __call__(self) -> None:
        """One finished restart; a sample every STEP."""
        self.finished += 1
        if self.finished % STEP:
            return
        gc.collect()
        stores = _stores(self.daemon)
        current, _ = tracemalloc.get_traced_memory()
        with open("/proc/self/status", encoding="utf-8") as status:
            rss = next(int(line.split()[1]) for line in status if line.startswith("VmRSS"))
        self.rows.append({"restarts": self.finished, "minutes": self.clock() / 60, "traced_mib": current / MIB,
                          "rss_mib": rss / 1024, **stores})
        self.walks.append(_containers(self.daemon))
        full = self.finished > FINISHED_KEPT + FINISHED_KEPT // 10 and all(
            stores[name] >= cap for name, cap in CAPS.items() if name != "finished_jobs")
        if self.bound is None and (full or not self.snapshots):
            self.snapshots[:] = [tracemalloc.take_snapshot()]  # the first sample's, until the bound one's
            self.bound = len(self.rows) - 1 if full else None
        progress("churnmem: " + ", ".join(f"{k} {v:.1f}" if isinstance(v, float) else f"{k} {v}"
                                          for k, v in self.rows[-1].items()))


async def soak(target: int, state: Path) -> Sampler:
    loop = asyncio.get_running_loop()
    rng = random.Random(7)
    configure_logging("WARNING", "json", stream=_Discard())  # info lines cost 12% of the CPU, keep nothing
    simulator = Simulator(Scenario.model_validate(fixtures.scenario_data(
        [[{"name": f"n-{i:07d}"} for i in range(CONNECTORS)]])), clock=loop.time)
    daemon = Daemon(_config(state), transport=httpx.ASGITransport(app=create_app(simulator)), clock=loop.time,
                    now=fixtures.wall_clock(loop), rng=random.Random(1).random)
    await daemon._lead(None)
    if daemon._scheduler is not None:  # APScheduler reads the wall clock: the polls are driven here
        daemon._scheduler.shutdown(wait=False)
        daemon._scheduler = None
    sampler = Sampler(daemon, loop.time)
    finished = daemon.recorder.finished

    def counted(job: Any) -> None:
        finished(job)
        sampler()

    daemon.recorder.finished = counted  # type: ignore[method-assign]
    heartbeat = asyncio.create_task(daemon.heartbeat(), name="heartbeat")
    api = httpx.AsyncClient(transport=httpx.ASGITransport(app=daemon_app(daemon.metrics.registry, daemon.probes,
                                                                          daemon.api_context())),
                            base_url="http://daemon", headers={"Authorization": f"Bearer {TOKEN}"})
    cluster, sim_cluster = fixtures.cluster_name(0), fixtures.cluster_id(0)
    poller = daemon.pollers[cluster]
    polling: asyncio.Task[None] | None = None
    made, tick, alerts = CONNECTORS, 0, 0
    live = [f"n-{i:07d}" for i in range(CONNECTORS)]
    codes: collections.Counter[str] = collections.Counter()
    while sampler.finished < target:
        t = tick * 0.5  # every half second of virtual time
        if t % POLL == 0:
            gone = set(rng.sample(live, REPLACED))
            for name in gone:
                simulator.delete_connector(sim_cluster, name)
            live = [name for name in live if name not in gone]
            for i in range(REPLACED):
                name = f"n-{made:07d}"
                simulator.add_connector(sim_cluster, {"name": name, **({"script": FAILED_ONCE} if i % 3 == 0 else {})})
                live.append(name)
                made += 1
            for name in rng.sample(live[:-REPLACED], FLIPPED):
                simulator.set_script(sim_cluster, name, FAILED_ONCE)
            if polling is None or polling.done():
                polling = asyncio.create_task(poller.poll())
        if t % SIGNAL_EVERY == 0:
            alerts += 1  # half of them name a connector listed, half one that does not exist
            answer = await api.post("/v1/alertmanager", json=_alert(rng, alerts, rng.choice(live)))
            codes[f"alert {answer.status_code}"] += 1
        elif t % SIGNAL_EVERY == SIGNAL_EVERY / 2:
            answer = await api.post("/v1/restarts", json={"cluster": cluster, "connector": rng.choice(live),
                                                          "reason": _reason(rng, tick)})
            codes[f"manual {answer.status_code}"] += 1
        tick += 1
        await asyncio.sleep(0.5)
    sampler.snapshots.append(tracemalloc.take_snapshot())
    sampler.held = _held(daemon)
    progress(f"churnmem: answers {dict(codes)}, {made - CONNECTORS} names replaced")
    heartbeat.cancel()
    await api.aclose()
    await daemon.stop()
    return sampler


def _held(daemon: Daemon) -> list[tuple[str, int, int]]:
    """What each store holds at the end: (store, entries, bytes traced that emptying it gave back),
    emptied in this order (the still-filling ones first), so a store's bytes are those no store
    before it shares."""
    engine, held = daemon.engine, []

    def requests(trigger: Trigger) -> Callable[[], int]:
        def empty() -> int:
            ids = engine._remembered.get(trigger, collections.deque())
            for request_id in ids:
                engine.requests.pop(request_id, None)
            count = len(ids)
            ids.clear()
            return count
        return empty

    def emptied(container: Any) -> Callable[[], int]:
        def empty() -> int:
            count = len(container)
            container.clear()
            return count
        return empty

    for name, empty in (("req_manual", requests(Trigger.MANUAL)), ("req_alert", requests(Trigger.ALERT)),
                        ("unmatched", emptied(engine._unmatched_said)), ("req_status", requests(Trigger.STATUS)),
                        ("finished_jobs", emptied(daemon.recorder.finished_jobs)),
                        ("retired_ids", emptied(engine._retired_ids)), ("write_marks", emptied(daemon.state.marks._last))):
        gc.collect()
        before, _ = tracemalloc.get_traced_memory()
        count = empty()
        gc.collect()
        after, _ = tracemalloc.get_traced_memory()
        held.append((name, count, before - after))
    return held


def _short(filename: str) -> str:
    """A traced file's name from its package on (site-packages and the standard library cut off)."""
    for marker in ("site-packages/", "lib/python3.11/", f"{os.getcwd()}/"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return filename


class _Discard(io.StringIO):
    def write(self, text: str) -> int:
        return len(text)


COLUMNS = ("restarts", "minutes", "traced_mib", "rss_mib", *CAPS, *FILLING, "statuses")


def main() -> int:
    progress(f"churnmem: until {RESTARTS} restarts have finished (virtual time), tracemalloc on")
    tracemalloc.start(1)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            sampler = virtual_run(soak(RESTARTS, Path(tmp) / "state.db"))
    finally:
        tracemalloc.stop()
    rows = sampler.rows
    if sampler.bound is None:
        emit(f"churnmem: the caps never all bound within {sampler.finished} restarts: compared with the first sample")
    bound_at = 0 if sampler.bound is None else sampler.bound
    bound, last = rows[bound_at], rows[-1]
    body: list[list[object]] = [[row[c] for c in COLUMNS] for row in rows]
    body.append(["last / bound", *(last[c] / bound[c] if bound[c] else float("nan") for c in COLUMNS[1:])])
    restarts = last["restarts"] - bound["restarts"]
    grown = (last["traced_mib"] - bound["traced_mib"]) * MIB
    # What the stores still filling took between the two samples, at their bytes each (below).
    filling = {name: last[name] - bound[name] for name in FILLING}
    early = rows[0]
    per_restart = (bound["traced_mib"] - early["traced_mib"]) * MIB / max(bound["restarts"] - early["restarts"], 1)
    notes = [
        f"Bound sample: {bound['restarts']} restarts ({bound['minutes']:.0f} virtual minutes), the first with "
        f"every cap this churn reaches full ({', '.join(f'{n} {c:,}' for n, c in CAPS.items())}; the finished "
        f"jobs' list is trimmed at {FINISHED_KEPT + FINISHED_KEPT // 10:,}). From it to the end: "
        f"{grown / 1024:+.0f} KiB traced over {restarts:,} restarts ({grown / max(restarts, 1):+.0f} B a restart), "
        f"while the stores still filling gained {', '.join(f'{n} {v:+,}' for n, v in filling.items())}. "
        f"Before it (first sample to bound): {per_restart:,.0f} B a finished restart, every store filling.",
        "RSS holds the simulator and tracemalloc's own tables too; `traced_mib` is Python's allocations since "
        "before the daemon was built.",
    ]
    emit(table(f"Heavy name churn: {CONNECTORS} connectors, {REPLACED} names replaced every {POLL:.0f} s, an alert "
               f"and a manual restart every {SIGNAL_EVERY:.0f} s (virtual time, tracemalloc)", COLUMNS, body, notes))
    start, end = sampler.snapshots
    sites = end.compare_to(start, "lineno")[:10]
    emit(table("Top growth sites, bound sample to the end (tracemalloc, by line)", ["site", "KiB", "blocks"],
               [[f"{_short(s.traceback[0].filename)}:{s.traceback[0].lineno}", s.size_diff / 1024,
                 s.count_diff] for s in sites]))
    emit(table("What each store held at the end: the bytes traced that emptying it gave back, in this order",
               ["store", "entries", "MiB", "bytes each"],
               [[name, count, size / MIB, size / count if count else float("nan")] for name, count, size in sampler.held]
               + [["all of them", sum(c for _, c, _ in sampler.held), sum(s for _, _, s in sampler.held) / MIB, ""]]))
    walk_start, walk_end = sampler.walks[bound_at], sampler.walks[-1]
    growing = [[path, walk_start.get(path, 0), size] for path, size in walk_end.items()
               if size > walk_start.get(path, 0) * GREW + GREW_BY]
    emit(table("Containers reachable from the daemon that grew past the bound sample (>10% and >100 entries)",
               ["path", "at bound", "at end"], sorted(growing) or [["(none)", "", ""]]))
    return 0 if sampler.bound is not None else 1


if __name__ == "__main__":
    raise SystemExit(main())
