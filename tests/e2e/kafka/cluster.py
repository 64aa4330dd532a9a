"""A real Apache Kafka cluster on 127.0.0.1: one KRaft broker (broker and controller in one
process) and distributed Kafka Connect workers, each a JVM started from the cached jars.

No container engine: `java -cp 'LIB/*' kafka.Kafka server.properties` after
`kafka.tools.StorageTool format`, and `org.apache.kafka.connect.cli.ConnectDistributed
worker.properties` per worker. Every process gets a free loopback port, its own directory and
log file under the cluster's work directory; `describe()` prints where they are and the tail of
each log, for failure messages.

Workers of older releases (`add_older_worker("2.8.2")`, jars from jars.ensure_worker_jars) join
the same broker, each release a Connect cluster of its own (its own group and internal topics),
kept apart from `workers`; so do the workers of `add_group`, of the pinned release.

Tuned for tests on 2 shared cores: small heaps, C1 only (faster start), one partition for
internal topics, replication factor 1, offsets flushed every second, and a 3 s
`scheduled.rebalance.max.delay.ms` (the default 5 minutes would keep a dead worker's tasks
unassigned that long).
"""

from __future__ import annotations

import base64
import os
import re
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import httpx

from bench.processes import free_port

from .jars import ensure_jars, ensure_worker_jars, kafka_version

JAVA_OPTIONS = [
    "-Xms64m", "-Xmx384m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Xss512k",
    "-Djava.awt.headless=true", "-Djava.net.preferIPv4Stack=true",
]
# How long a worker may take to answer GET /connectors with 200 (started and joined its group).
WORKER_START_SECONDS = 90.0
BROKER_START_SECONDS = 60.0
REBALANCE_DELAY_MS = 3000
GROUP = "watchdog-e2e"
_LOG4J = """\
status = warn
appender.out.type = Console
appender.out.name = OUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = OUT
logger.noisy1.name = org.apache.kafka.clients
logger.noisy1.level = WARN
logger.noisy2.name = org.apache.kafka.common.utils.AppInfoParser
logger.noisy2.level = WARN
logger.noisy3.name = org.apache.kafka.common.config.AbstractConfig
logger.noisy3.level = WARN
"""
# Kafka before 4.0 logs to log4j 1 (reload4j, see pom-worker.xml), configured by another file.
_LOG4J1 = """\
log4j.rootLogger=INFO, out
log4j.appender.out=org.apache.log4j.ConsoleAppender
log4j.appender.out.layout=org.apache.log4j.PatternLayout
log4j.appender.out.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.org.apache.kafka.clients=WARN
log4j.logger.org.apache.kafka.common.utils.AppInfoParser=WARN
log4j.logger.org.apache.kafka.common.config.AbstractConfig=WARN
log4j.logger.org.reflections=ERROR
"""


def _properties(path: Path, values: dict[str, Any]) -> Path:
    path.write_text("".join(f"{key}={value}\n" for key, value in values.items()))
    return path


class JavaProcess:
    """One JVM with its log file; stopped by its own pid only."""

    def __init__(self, name: str, workdir: Path, lib: Path, main: str, args: list[str]) -> None:
        self.name = name
        self.workdir = workdir
        self.log_path = workdir / f"{name}.log"
        self._log: IO[bytes] = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        command = ["java", *JAVA_OPTIONS, f"-Dlog4j2.configurationFile={workdir.parent / 'log4j2.properties'}",
                   f"-Dlog4j.configuration=file:{workdir.parent / 'log4j.properties'}", "-cp", f"{lib}/*", main, *args]
        self.process = subprocess.Popen(command, stdout=self._log, stderr=subprocess.STDOUT, cwd=workdir,
                                        stdin=subprocess.DEVNULL)
        self.started_at = time.monotonic()

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError as exc:
            return f"(no log: {exc})"

    def kill(self) -> None:
        """kill -9: no shutdown hook runs, the worker leaves its group only by timing out."""
        if self.alive:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()
        self._log.close()

    def stop(self, timeout: float = 20.0) -> None:
        if self.alive:
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


def _release(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


class Worker(JavaProcess):
    """A distributed worker of `version` (the pinned one unless said) in the group `group`; each
    group is a Connect cluster of its own, with its own internal topics, on the shared broker."""

    def __init__(self, name: str, workdir: Path, lib: Path, bootstrap: str, port: int,
                 version: str | None = None, group: str = GROUP, settings: dict[str, Any] | None = None) -> None:
        self.port = port
        self.version = version or kafka_version()
        self.url = f"http://127.0.0.1:{port}"
        self.worker_id = f"127.0.0.1:{port}"  # what the status API shows as worker_id
        discovery = {"plugin.discovery": "service_load"} if _release(self.version) >= (3, 6) else {}
        config = _properties(workdir / "worker.properties", {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "listeners": f"http://127.0.0.1:{port}",
            "rest.advertised.host.name": "127.0.0.1",
            "rest.advertised.port": port,
            "key.converter": "org.apache.kafka.connect.storage.StringConverter",
            # A sink reading a record that is not a JSON envelope fails its task: the poison record.
            "value.converter": "org.apache.kafka.connect.json.JsonConverter",
            "value.converter.schemas.enable": "true",
            "config.storage.topic": f"{group}-configs",
            "offset.storage.topic": f"{group}-offsets",
            "status.storage.topic": f"{group}-status",
            "config.storage.replication.factor": 1,
            "offset.storage.replication.factor": 1,
            "status.storage.replication.factor": 1,
            "offset.storage.partitions": 1,
            "status.storage.partitions": 1,
            "offset.flush.interval.ms": 1000,
            "scheduled.rebalance.max.delay.ms": REBALANCE_DELAY_MS,
            # The broker's minimum; a killed worker leaves the group after this long.
            "session.timeout.ms": 6000,
            "heartbeat.interval.ms": 1000,
            # connect-file is on the class path: its ServiceLoader manifests are enough, and
            # skipping the reflective scan of every jar saves seconds per start (3.6+, KIP-898).
            **discovery,
            "task.shutdown.graceful.timeout.ms": 2000,
            **(settings or {}),
        })
        super().__init__(name, workdir, lib, "org.apache.kafka.connect.cli.ConnectDistributed", [str(config)])

    def ready(self) -> bool:
        """Started, joined and serving: GET /connectors answers 200 (503 while starting)."""
        try:
            return httpx.get(f"{self.url}/connectors", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False


class KafkaCluster:
    def __init__(self, workdir: Path, lib: Path | None = None) -> None:
        self.workdir = workdir
        self.lib = lib or ensure_jars()
        self.version = kafka_version()
        self.broker: JavaProcess | None = None
        self.broker_port = free_port()
        self.controller_port = free_port()
        self.bootstrap = f"127.0.0.1:{self.broker_port}"
        self.workers: list[Worker] = []  # every worker started, dead or alive
        # Workers of older releases, each release a Connect cluster of its own (add_older_worker):
        # never among `workers`, whose URLs the tests of the pinned release use.
        self.older_workers: list[Worker] = []
        # Connect clusters of the pinned release apart from the session's (add_group): a test
        # may kill their leader without the session's tests losing a worker they address.
        self.group_workers: list[Worker] = []
        self.timings: dict[str, float] = {}
        workdir.mkdir(parents=True, exist_ok=True)
        (workdir / "log4j2.properties").write_text(_LOG4J)
        (workdir / "log4j.properties").write_text(_LOG4J1)

    # --- lifecycle ------------------------------------------------------------------------------

    def start(self, workers: int = 2) -> KafkaCluster:
        started = time.monotonic()
        try:
            self._start_broker()
            self.timings["broker"] = time.monotonic() - started
            new = [self.add_worker(wait=False) for _ in range(workers)]
            for worker in new:
                self.wait_ready(worker)
            self.timings["total"] = time.monotonic() - started
        except BaseException:
            self.stop()
            raise
        return self

    def _start_broker(self) -> None:
        directory = self.workdir / "broker"
        directory.mkdir()
        config = _properties(directory / "server.properties", {
            "process.roles": "broker,controller",
            "node.id": 1,
            "controller.quorum.voters": f"1@127.0.0.1:{self.controller_port}",
            "listeners": f"PLAINTEXT://127.0.0.1:{self.broker_port},CONTROLLER://127.0.0.1:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.broker_port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": directory / "data",
            "num.partitions": 1,
            "offsets.topic.num.partitions": 1,
            "offsets.topic.replication.factor": 1,
            "transaction.state.log.replication.factor": 1,
            "transaction.state.log.min.isr": 1,
            "share.coordinator.state.topic.replication.factor": 1,
            "share.coordinator.state.topic.min.isr": 1,
            "group.initial.rebalance.delay.ms": 0,
            "auto.create.topics.enable": "true",
        })
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        formatted = subprocess.run(
            ["java", *JAVA_OPTIONS, "-cp", f"{self.lib}/*", "kafka.tools.StorageTool", "format",
             # One argument: a random id may begin with '-', which argparse takes for an option.
             f"--cluster-id={cluster_id}", f"--config={config}"],
            capture_output=True, text=True, timeout=60, cwd=directory,
        )
        if formatted.returncode != 0:
            raise RuntimeError(f"kafka-storage format failed:\n{formatted.stdout}{formatted.stderr}")
        self.broker = JavaProcess("broker", directory, self.lib, "kafka.Kafka", [str(config)])
        self._wait(lambda: _port_open(self.broker_port), BROKER_START_SECONDS, "the broker did not listen", self.broker)

    def add_worker(self, *, wait: bool = True) -> Worker:
        index = len(self.workers) + 1
        directory = self.workdir / f"worker-{index}"
        directory.mkdir()
        worker = Worker(f"worker-{index}", directory, self.lib, self.bootstrap, free_port())
        self.workers.append(worker)
        if wait:
            self.wait_ready(worker)
        return worker

    def add_older_worker(self, version: str, *, wait: bool = True) -> Worker:
        """A worker of Apache Kafka `version`, alone in a group of its own (`watchdog-e2e-2-8-2`),
        joined to this broker. Stopped with the cluster, or by the test (`stop_older_workers`)."""
        lib = ensure_worker_jars(version)
        name = f"connect-{version}-{len(self.older_workers) + 1}"
        directory = self.workdir / name
        directory.mkdir()
        group = f"{GROUP}-{version.replace('.', '-')}"
        worker = Worker(name, directory, lib, self.bootstrap, free_port(), version=version, group=group)
        self.older_workers.append(worker)
        if wait:
            self.wait_ready(worker)
        return worker

    def add_group(self, name: str, count: int = 2, settings: dict[str, Any] | None = None) -> list[Worker]:
        """`count` workers of the pinned release in a Connect cluster of their own (the group
        `watchdog-e2e-NAME`), started side by side; `settings` override worker properties (such
        as Kafka's default session.timeout.ms). Stopped with the cluster, or by the test."""
        group = f"{GROUP}-{name}"
        new = []
        for index in range(count):
            directory = self.workdir / f"{name}-{index + 1}"
            directory.mkdir()
            new.append(Worker(f"{name}-{index + 1}", directory, self.lib, self.bootstrap, free_port(), group=group,
                              settings=settings))
        self.group_workers += new
        for worker in new:
            self.wait_ready(worker)
        return new

    def add_rolling_upgrade(self, name: str, versions: tuple[str | None, ...]) -> list[Worker]:
        """Workers of `versions` (None: the pinned release) in one group `watchdog-e2e-NAME`, a
        Connect cluster mid rolling upgrade, started one after another so that the first (the
        oldest, as it usually is) leads. Stopped with the cluster, or by the test."""
        group = f"{GROUP}-{name}"
        new = []
        for index, version in enumerate(versions):
            directory = self.workdir / f"{name}-{index + 1}"
            directory.mkdir()
            lib = ensure_worker_jars(version) if version else self.lib
            worker = Worker(f"{name}-{index + 1}", directory, lib, self.bootstrap, free_port(), version=version,
                            group=group)
            self.group_workers.append(worker)
            new.append(worker)
            self.wait_ready(worker)
        return new

    @staticmethod
    def leader(workers: list[Worker], timeout: float = 30.0) -> Worker | None:
        """The group's leader once the group has settled: each worker's log shows the same last
        generation joined (`Joined group at generation N ... leaderUrl='http://...'`: Connect's
        REST API does not say) and no rebalance begun since. None if it did not settle within
        `timeout`. A leader read while a rebalance was under way (the follow-up rebalance of an
        incremental assignment, a worker late with its heartbeat on a loaded machine) may be
        replaced at its end: killed then, it was no longer the one a follower forwards to, and
        the restart meant to meet a dead leader was answered 202."""
        deadline = time.monotonic() + timeout
        while True:
            seen = {_last_join(worker.log_path.read_text(errors="replace")) for worker in workers}
            joined = seen.pop() if len(seen) == 1 else None
            if joined is not None:
                return next((w for w in workers if w.url == joined[1]), None)
            if time.monotonic() > deadline:
                return None
            time.sleep(0.25)

    def stop_older_workers(self) -> None:
        for worker in self.older_workers:
            if worker.alive:
                worker.process.terminate()
        for worker in self.older_workers:
            worker.stop()

    def wait_ready(self, worker: Worker, timeout: float = WORKER_START_SECONDS) -> None:
        self._wait(worker.ready, timeout, f"{worker.name} did not start", worker)
        self.timings[worker.name] = time.monotonic() - worker.started_at

    def stop(self) -> None:
        self.stop_older_workers()
        for worker in self.group_workers:
            worker.stop()
        for worker in self.workers:
            if worker.alive:
                worker.process.terminate()  # all at once: each takes a few seconds to leave
        for worker in self.workers:
            worker.stop()
        if self.broker is not None:
            self.broker.stop()

    @property
    def live_workers(self) -> list[Worker]:
        return [w for w in self.workers if w.alive]

    @property
    def urls(self) -> list[str]:
        return [w.url for w in self.live_workers]

    # --- diagnostics ----------------------------------------------------------------------------

    def describe(self, tail: int = 1500) -> str:
        lines = [f"Apache Kafka {self.version} in {self.workdir} (jars: {self.lib})"]
        for process in [self.broker, *self.workers, *self.older_workers]:
            if process is None:
                continue
            state = "running" if process.alive else f"exited {process.process.returncode}"
            lines.append(f"--- {process.name} ({state}), log {process.log_path}, last {tail} chars:")
            lines.append(process.tail(tail))
        return "\n".join(lines)

    def _wait(self, check: Callable[[], bool], timeout: float, message: str, process: JavaProcess) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            if not process.alive:
                raise RuntimeError(f"{message}: {process.name} exited {process.process.returncode}\n{self.describe()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{message} within {timeout:g}s\n{self.describe()}")
            time.sleep(0.25)


_JOINED = re.compile(r"Joined group at generation (\d+) .*?leaderUrl='([^']*)'")
_REBALANCING = "Rebalance started"


def _last_join(log: str) -> tuple[int, str] | None:
    """The generation and leader URL a worker's log last joined, None if a rebalance began after
    it (or it joined none)."""
    joins = list(_JOINED.finditer(log))
    if not joins or log.rfind(_REBALANCING) > joins[-1].start():
        return None
    return int(joins[-1].group(1)), joins[-1].group(2).rstrip("/")


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


if __name__ == "__main__":  # python -m tests.e2e.kafka.cluster DIR: start, report the timings, stop
    import sys
    import tempfile

    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="kafka-"))
    cluster = KafkaCluster(target)
    try:
        cluster.start()
        print({name: round(seconds, 1) for name, seconds in cluster.timings.items()}, cluster.urls)
        if os.environ.get("KEEP"):
            input("running; press Enter to stop ")
    finally:
        cluster.stop()
