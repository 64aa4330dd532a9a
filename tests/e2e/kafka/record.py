"""Record what real Kafka Connect workers answer to the calls the daemon makes.

    python -m tests.e2e.kafka.record          (about a minute; needs Java and Maven)
    python -m tests.e2e.kafka.record 3.4.1    (two workers of an older release, pinned broker)

Starts the real cluster (cluster.py), sets up the connectors of exchanges.py, plays every case
against the first worker and writes the normalised answers to
tests/fixtures/kafka_connect/real-<version>.json. A release before 3.5 cannot stop a connector
(`PUT .../stop` is KIP-875): its `stopped` connector stays RUNNING, and the recording keeps the
answer the stop got (`stop_answer`). The simulator is compared with that file by
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

from .admin import POISON, Admin, connector_state, good_record, running, task_failed, task_states
from .cluster import KafkaCluster
from .exchanges import SINK_CLASS, can_stop, normalise, play

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "kafka_connect"
FOLLOW_SECONDS = 4.0


def fixture_path(version: str) -> Path:
    return FIXTURES / f"real-{version}.json"


async def set_up(admin: Admin, version: str) -> dict[str, Any]:
    """The connectors of exchanges.py; returns the normalised answer of the stop."""
    sink = {"connector.class": SINK_CLASS, "tasks.max": "1", "errors.tolerance": "none"}
    await admin.feed("poison-feed", "poison", [good_record("one"), POISON, good_record("two")])
    for name, topic in [("healthy", "quiet"), ("poisoned", "poison"), ("paused", "quiet"), ("stopped", "quiet"),
                        (".", "quiet"), ("..", "quiet")]:
        await admin.create(name, {**sink, "topics": topic, "file": str(admin.files / f"out-{len(name)}-{topic}.txt")})
    await admin.wait_for("poisoned", task_failed, "the poisoned sink's task did not fail")
    for name in ("healthy", "paused", "stopped"):
        await admin.wait_for(name, running, "did not start")
    await admin.pause("paused")
    stopped = await admin.call("PUT", "/connectors/stopped/stop")
    answer = {"status": stopped.status_code, "headers": {k.lower(): v for k, v in stopped.headers.items()},
              "body": stopped.text}
    assert stopped.status_code == (204 if can_stop(version) else 404), f"stop on {version}: {answer}"
    # Connector and tasks alike: a worker shows the connector PAUSED (or STOPPED) a moment before
    # its tasks (observed on 3.4.1 and 3.9.2), and the recording is of the settled states.
    await admin.wait_for("paused", lambda s: connector_state(s) == "PAUSED" and task_states(s) == ["PAUSED"],
                         "did not pause")
    if can_stop(version):
        await admin.wait_for("stopped", lambda s: connector_state(s) == "STOPPED" and not s["tasks"], "did not stop")
    return normalise(answer)


async def record(cluster: KafkaCluster, version: str) -> dict[str, Any]:
    workers = [w for w in cluster.older_workers if w.alive] if version != cluster.version else cluster.live_workers
    urls = [w.url for w in workers]
    admin = Admin(urls, cluster.workdir / "files")
    stop_answer = await set_up(admin, version)
    exchanges = await play(urls[0], follow_seconds=FOLLOW_SECONDS, settle_timeout=30, kafka_version=version)
    return {
        "kafka_version": version,
        "recorded_at": datetime.now(timezone.utc).replace(microsecond=0).isoformat(),
        "command": "python -m tests.e2e.kafka.record" + ("" if version == cluster.version else f" {version}"),
        "workers": len(workers),
        "follow_seconds": FOLLOW_SECONDS,
        "stop_answer": stop_answer,
        "exchanges": exchanges,
    }


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="watchdog-kafka-record-") as directory:
        cluster = KafkaCluster(Path(directory))
        version = sys.argv[1] if len(sys.argv) > 1 else cluster.version
        try:
            if version == cluster.version:
                cluster.start()
            else:
                cluster.start(workers=0)
                for worker in [cluster.add_older_worker(version, wait=False) for _ in range(2)]:
                    cluster.wait_ready(worker)
            recording = asyncio.run(record(cluster, version))
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
