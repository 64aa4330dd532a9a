"""Benchmark 4: process start to /readyz, and memory when idle, for the daemon and the demo.

Real time, real processes. The daemon (`watchdog run`) polls one simulated cluster of 10
connectors (`watchdog simulate`, started once); /readyz answers 200 once every polled cluster
has been listed. The demo (`watchdog demo`) holds the simulator and the daemon in one process.
Beside them, for scale: a bare interpreter, and one that only imports the daemon's modules.
Each is started RUNS times; the table shows medians.
"""

from __future__ import annotations

import subprocess
import sys
import time

from . import fixtures
from .processes import Processes, daemon_env, free_port, processes, rss_kib, wait_until_ok
from .report import emit, median, progress, table

RUNS = 5
IDLE_SECONDS = 3.0


def _sample(procs: Processes, args: list[str], ready_url: str | None, env: dict[str, str] | None = None) -> tuple[float, float, int]:
    """(seconds to ready, idle RSS in MiB, exit code after SIGTERM) for one start."""
    started = time.monotonic()
    proc = procs.start(*args, log="footprint.log", env=env)
    if ready_url is not None:
        wait_until_ok(ready_url, poll=0.005)
    ready = time.monotonic() - started
    time.sleep(IDLE_SECONDS)
    rss = rss_kib(proc.pid) / 1024
    return ready, rss, procs.stop(proc)


def daemon_runs(procs: Processes) -> list[tuple[float, float, int]]:
    url = procs.simulator(fixtures.scenario_data([[{"name": f"conn-{i}"} for i in range(10)]]))
    rule = {"name": "heal", "trigger": {"type": "status", "interval": 60}, "select": {"include": ["*"]}}
    runs = []
    for _ in range(RUNS):
        port = free_port()
        config = procs.write_config(fixtures.config_data(1, [rule], url, server={"host": "127.0.0.1", "port": port}))
        args = ["watchdog", "run", "--config", str(config), "--log-format", "json", "--log-level", "WARNING"]
        runs.append(_sample(procs, args, f"http://127.0.0.1:{port}/readyz", env=daemon_env(None)))
    return runs


def demo_runs(procs: Processes) -> list[tuple[float, float, int]]:
    runs = []
    for _ in range(RUNS):
        port = free_port()
        runs.append(_sample(procs, ["watchdog", "demo", "--port", str(port)], f"http://127.0.0.1:{port}/readyz"))
    return runs


def interpreter(code: str) -> tuple[float, float]:
    """(seconds to run `code` and exit, RSS in MiB of the same code left idle)."""
    times = []
    for _ in range(RUNS):
        started = time.monotonic()
        subprocess.run([sys.executable, "-c", code], check=True)
        times.append(time.monotonic() - started)
    idle = subprocess.Popen([sys.executable, "-c", f"{code}\nimport time; time.sleep(60)"])
    try:
        time.sleep(IDLE_SECONDS)
        rss = rss_kib(idle.pid) / 1024
    finally:
        idle.kill()
        idle.wait()
    return median(times), rss


def main() -> int:
    progress(f"footprint: daemon and demo, {RUNS} starts each")
    with processes() as procs:
        daemon = daemon_runs(procs)
        demo = demo_runs(procs)
    bare = interpreter("pass")
    imports = interpreter("import watchdog.app, watchdog.cli")
    rows = [
        ["watchdog run (1 cluster, 10 connectors)", f"{median([r[0] for r in daemon]):.2f}",
         f"{median([r[1] for r in daemon]):.1f}", ",".join(str(r[2]) for r in daemon)],
        ["watchdog demo (simulator + daemon)", f"{median([r[0] for r in demo]):.2f}",
         f"{median([r[1] for r in demo]):.1f}", ",".join(str(r[2]) for r in demo)],
        ["python3 -c pass (reference)", f"{bare[0]:.2f} (to exit)", f"{bare[1]:.1f}", ""],
        ["python3 importing the daemon (reference)", f"{imports[0]:.2f} (to exit)", f"{imports[1]:.1f}", ""],
    ]
    emit(table(
        f"Footprint (real time, median of {RUNS} starts)",
        ["process", "start to /readyz s", f"RSS after {IDLE_SECONDS:g} s idle MiB", "exit codes on SIGTERM"],
        rows,
        notes=["Start to /readyz: from spawning the process to the first 200 (polled every 5 ms); it includes",
               "the interpreter, the imports, the config check and the first list call of every cluster."],
    ))
    return 0  # a measurement without a target


if __name__ == "__main__":
    raise SystemExit(main())
