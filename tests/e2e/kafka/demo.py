"""The demo on real Apache Kafka Connect: `make demo-kafka` (or python -m tests.e2e.kafka.demo).

Starts the real cluster of the tests (one KRaft broker, two Connect workers on 127.0.0.1; the
jars are fetched with Maven on first use, see jars.py), breaks two connectors for real, and runs
`watchdog run` against both workers with console logs, so you see what it does before you point
it at your own Connect:

    orders-sink   writes into a directory that is not there yet: its task fails, and so does the
                  first restart. After 12 s the directory appears ("the volume is back") and the
                  daemon's next restart heals it.
    billing-sink  reads a record that is not JSON: every restart fails again on it. The daemon
                  backs off (10 s, then 30 s) and gives up after 3 restarts instead of hammering it.

Stop with Ctrl-C or `--duration S`; it prints `watchdog status` and stops the cluster.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from .admin import POISON, Admin, good_record, task_failed
from .cluster import KafkaCluster, free_port

WATCHDOG = [sys.executable, "-m", "watchdog"]


def daemon_config(urls: list[str], state: Path) -> dict[str, object]:
    return {
        "clusters": {"onprem": {"backend": "kafka_connect", "urls": urls}},
        "server": {"host": "127.0.0.1", "port": free_port()},
        "state": {"path": str(state)},
        "rules": [{
            "name": "heal-failed-connectors",
            "trigger": {"type": "status", "interval": "5s", "confirm_polls": 2},
            "select": {"include": ["*-sink"]},
            "backoff": {"base": "5s", "cap": "30s", "jitter": 0},
            "max_restarts": 3,
        }],
    }


async def break_connectors(admin: Admin, volume: Path) -> None:
    await admin.feed("orders-feed", "orders", [good_record(f"order-{i}") for i in range(5)])
    await admin.sink("orders-sink", "orders", file=str(volume / "orders.txt"))
    await admin.feed("billing-feed", "billing", [good_record("invoice-1"), POISON, good_record("invoice-2")])
    await admin.sink("billing-sink", "billing")
    for name in ("orders-sink", "billing-sink"):
        await admin.wait_for(name, task_failed, "did not fail", timeout=60)


async def main(duration: float) -> int:
    with tempfile.TemporaryDirectory(prefix="watchdog-demo-kafka-") as directory:
        work = Path(directory)
        print(f"starting Apache Kafka and two Kafka Connect workers in {work} ...", flush=True)
        cluster = KafkaCluster(work / "cluster")
        daemon: subprocess.Popen[bytes] | None = None
        try:
            cluster.start()
            print(f"Kafka {cluster.version} up in {cluster.timings['total']:.0f}s; workers {', '.join(cluster.urls)}")
            volume = work / "volume"
            admin = Admin(cluster.urls, work / "files")
            await break_connectors(admin, volume)
            print("orders-sink and billing-sink have FAILED tasks; starting the watchdog\n", flush=True)
            config = work / "watchdog.yaml"
            config.write_text(yaml.safe_dump(daemon_config(cluster.urls, work / "state.db")))
            daemon = subprocess.Popen([*WATCHDOG, "run", "--config", str(config), "--log-format", "console"])
            loop = asyncio.get_running_loop()
            started = loop.time()
            fixed = False
            while daemon.poll() is None and loop.time() - started < duration:
                if not fixed and loop.time() - started > 12:
                    volume.mkdir()
                    fixed = True
                    print("\n*** the volume orders-sink writes to is back: its next restart heals it ***\n", flush=True)
                await asyncio.sleep(0.5)
        except KeyboardInterrupt:
            pass
        finally:
            if daemon is not None and daemon.poll() is None:
                daemon.send_signal(signal.SIGTERM)
                daemon.wait(timeout=30)
            if daemon is not None:
                print("\n--- watchdog status ---", flush=True)
                subprocess.run([*WATCHDOG, "status", "--state", str(work / "state.db")], check=False)
            print("stopping the cluster ...", flush=True)
            cluster.stop()
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=float(os.environ.get("DEMO_DURATION", 90)),
                        help="seconds to run the watchdog (default 90)")
    sys.exit(asyncio.run(main(parser.parse_args().duration)))
