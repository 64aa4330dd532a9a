"""Record what real Kafka Connect workers answer to the calls the daemon makes.

    python -m tests.e2e.kafka.record        (about a minute; needs Java and Maven)

Starts the real cluster (cluster.py), sets up the connectors of exchanges.py, plays every case
against the first worker and writes the normalised answers to
tests/fixtures/kafka_connect/real-<version>.json. The simulator is compared with that file by
tests/simulator/test_kafka_connect_vs_real.py, which needs no Java. Run this again after changing
exchanges.py or the pinned Kafka version, and commit the new file.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .admin import POISON, Admin, connector_state, good_record, running, task_failed
from .cluster import KafkaCluster
from .exchanges import SINK_CLASS, play

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "kafka_connect"
FOLLOW_SECONDS = 4.0


def fixture_path(version: str) -> Path:
    return FIXTURES / f"real-{version}.json"


async def set_up(admin: Admin) -> None:
    sink = {"connector.class": SINK_CLASS, "tasks.max": "1", "errors.tolerance": "none"}
    await admin.feed("poison-feed", "poison", [good_record("one"), POISON, good_record("two")])
    for name, topic in [("healthy", "quiet"), ("poisoned", "poison"), ("paused", "quiet"), ("stopped", "quiet"),
                        (".", "quiet"), ("..", "quiet")]:
        await admin.create(name, {**sink, "topics": topic, "file": str(admin.files / f"out-{len(name)}-{topic}.txt")})
    await admin.wait_for("poisoned", task_failed, "the poisoned sink's task did not fail")
    for name in ("healthy", "paused", "stopped"):
        await admin.wait_for(name, running, "did not start")
    await admin.pause("paused")
    await admin.stop("stopped")
    await admin.wait_for("paused", lambda s: connector_state(s) == "PAUSED", "did not pause")
    await admin.wait_for("stopped", lambda s: connector_state(s) == "STOPPED", "did not stop")


async def record(cluster: KafkaCluster) -> dict[str, Any]:
    admin = Admin(cluster.urls, cluster.workdir / "files")
    await set_up(admin)
    exchanges = await play(cluster.urls[0], follow_seconds=FOLLOW_SECONDS, settle_timeout=30)
    return {
        "kafka_version": cluster.version,
        "recorded_at": datetime.now(timezone.utc).replace(microsecond=0).isoformat(),
        "command": "python -m tests.e2e.kafka.record",
        "workers": len(cluster.live_workers),
        "follow_seconds": FOLLOW_SECONDS,
        "exchanges": exchanges,
    }


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="watchdog-kafka-record-") as directory:
        cluster = KafkaCluster(Path(directory))
        try:
            cluster.start()
            recording = asyncio.run(record(cluster))
        except BaseException:
            print(cluster.describe(), file=sys.stderr)
            raise
        finally:
            cluster.stop()
    FIXTURES.mkdir(parents=True, exist_ok=True)
    path = fixture_path(recording["kafka_version"])
    path.write_text(json.dumps(recording, indent=1, sort_keys=False) + "\n")
    print(f"wrote {path} ({len(recording['exchanges'])} exchanges)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
