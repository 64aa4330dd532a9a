"""One real Kafka cluster for every real-Kafka test of the session (started by the first test
that asks for it, stopped at the end). Never skipped: without Java or Maven the fixture fails
with what to install (scripts/install-test-tools.sh does it)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from .cluster import KafkaCluster


@pytest.fixture(scope="session")
def kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaCluster]:
    if shutil.which("java") is None:
        raise AssertionError("java is not installed: run scripts/install-test-tools.sh as root (make test does)")
    cluster = KafkaCluster(tmp_path_factory.mktemp("kafka"))
    cluster.start()
    print(f"real Kafka {cluster.version} started: {({k: round(v, 1) for k, v in cluster.timings.items()})}")
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """A failed real-Kafka test shows where the cluster's logs are and how they end."""
    outcome = yield
    report = outcome.get_result()
    cluster = item.funcargs.get("kafka") if hasattr(item, "funcargs") else None
    if report.failed and isinstance(cluster, KafkaCluster):
        report.sections.append(("real Kafka cluster", cluster.describe(tail=2500)))
