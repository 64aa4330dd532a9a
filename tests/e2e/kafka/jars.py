"""The jars of a real Apache Kafka broker and Kafka Connect, fetched once through Maven.

`tests/e2e/kafka/pom.xml` pins the version and lists the artifacts (kafka_2.13, connect-runtime,
connect-file, connect-json and an SLF4J binding); `mvn dependency:copy-dependencies` copies them
with their runtime dependencies (about 55 MB) into a cache directory outside the repository:

    $CONNECT_WATCHDOG_KAFKA_CACHE                      when set, else
    ${XDG_CACHE_HOME:-~/.cache}/connect-watchdog/kafka-<version>

Maven keeps its own copy in ~/.m2 as usual. A directory is used only once it is complete (a
marker holding the pom's digest is written last), so an interrupted fetch is fetched again, and
a changed pom fetches anew. Concurrent test runs take a file lock around the fetch.

`ensure_worker_jars(version)` fetches the Kafka Connect worker of an older release the same way
(`pom-worker.xml` with `-Dkafka.version=...`, about 25 MB each, cached beside the pinned one as
`connect-<version>`, beside the pinned one's directory when $CONNECT_WATCHDOG_KAFKA_CACHE names it): those workers join the pinned broker (test_older_workers.py).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import subprocess
from pathlib import Path

POM = Path(__file__).with_name("pom.xml")
WORKER_POM = Path(__file__).with_name("pom-worker.xml")
CACHE_ENV = "CONNECT_WATCHDOG_KAFKA_CACHE"
_MARKER = ".complete"
# Maven's first run downloads the plugins too; on these machines a cold fetch takes about 30 s.
_FETCH_TIMEOUT = 600


def kafka_version() -> str:
    match = re.search(r"<kafka\.version>([^<]+)</kafka\.version>", POM.read_text())
    if match is None:
        raise RuntimeError(f"{POM} names no <kafka.version>")
    return match.group(1)


def _cache_base() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "connect-watchdog"


def cache_dir() -> Path:
    override = os.environ.get(CACHE_ENV)
    if override:
        return Path(override).expanduser()
    return _cache_base() / f"kafka-{kafka_version()}"


def _pom_digest() -> str:
    return hashlib.sha256(POM.read_bytes()).hexdigest()


def ensure_jars() -> Path:
    """The directory of jars (`java -cp 'DIR/*'`), fetched with Maven on first use."""
    return _fetch(cache_dir(), POM, [], _pom_digest(), f"Apache Kafka {kafka_version()}")


def ensure_worker_jars(version: str) -> Path:
    """The jars of a Kafka Connect worker of Apache Kafka `version` (no broker), fetched on first use."""
    if not re.fullmatch(r"\d+\.\d+\.\d+", version):
        raise ValueError(f"not an Apache Kafka release: {version!r}")
    override = os.environ.get(CACHE_ENV)
    base = Path(override).expanduser().parent if override else _cache_base()
    digest = hashlib.sha256(WORKER_POM.read_bytes() + version.encode()).hexdigest()
    return _fetch(base / f"connect-{version}", WORKER_POM, [f"-Dkafka.version={version}"], digest,
                  f"Kafka Connect {version}")


def _fetch(directory: Path, pom: Path, options: list[str], digest: str, what: str) -> Path:
    lib = directory / "lib"
    marker = directory / _MARKER
    if marker.exists() and marker.read_text().strip() == digest:
        return lib
    mvn = shutil.which("mvn")
    if mvn is None:
        raise RuntimeError(
            "Maven (mvn) is not installed: run scripts/install-test-tools.sh as root (make test does), "
            "or apt-get install maven openjdk-17-jre-headless"
        )
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another run may be fetching: wait for it
        if marker.exists() and marker.read_text().strip() == digest:
            return lib
        shutil.rmtree(lib, ignore_errors=True)
        command = [
            mvn, "--batch-mode", "--quiet", "--file", str(pom), *options, "dependency:copy-dependencies",
            "-DincludeScope=runtime", f"-DoutputDirectory={lib}",
        ]
        done = subprocess.run(command, capture_output=True, text=True, timeout=_FETCH_TIMEOUT)
        if done.returncode != 0:
            raise RuntimeError(
                f"fetching {what} with Maven failed ({' '.join(command)}):\n{(done.stdout + done.stderr)[-3000:]}"
            )
        marker.write_text(digest)
    return lib


if __name__ == "__main__":  # python -m tests.e2e.kafka.jars [2.8.2 ...]: fetch now, print where
    import sys

    print(ensure_jars())
    for release in sys.argv[1:]:
        print(ensure_worker_jars(release))
