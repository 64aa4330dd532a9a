"""What the daemon keeps in memory of each restart it finished, and how many it keeps: under name
churn (a soak probe: a connector created per deploy, 150 replaced per poll) its RSS rose 2 MB
every 30 s and had not levelled off after 5,000 restarts. It was these stores filling: the latest
finished jobs (engine/recorder.py FINISHED_KEPT, for summaries, up to twice as many kept at the
peak) and the requests the API answers for (REQUEST_MEMORY per trigger), each holding its job:
3.3 KB a job (a __dict__ of 1.6 KB), some 65 MB at 20,000."""

from __future__ import annotations

import tracemalloc
from datetime import datetime, timezone

import pytest

from watchdog.engine import recorder
from watchdog.model import ConnectorKey, Outcome, RestartRequest, Trigger
from watchdog.queue import Phase, RestartJob, new_job_id

from .test_daemon import run_polls, status_rule, world

JOBS = 2000


def _finished(i: int) -> RestartJob:
    key = ConnectorKey("prod", f"auto-lkc-prod-{i:08d}-4ad75b")
    request = RestartRequest(new_job_id(), key, "heal-failed", Trigger.ALERT, "alert ConnectorFailed: orders stopped",
                             datetime.now(timezone.utc), origin=f"{i:016x}", resource_id=f"lcc-{i:06d}",
                             cluster_address="env-p/lkc-prod")
    job = RestartJob(id=new_job_id(), key=key, credential="main", requests=[request], enqueued_at=1.0,
                     alerts={request.origin})
    job.outcome, job.phase, job.status_code, job.finished_at = Outcome.ACCEPTED, Phase.DONE, 202, 2.0
    job.done.set()
    return job


async def test_a_finished_restart_takes_under_2_kb_of_memory_with_its_request() -> None:
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        jobs = [_finished(i) for i in range(JOBS)]
        each = (tracemalloc.get_traced_memory()[0] - before) / JOBS
    finally:
        tracemalloc.stop()
    assert len(jobs) == JOBS
    assert each < 2000, f"{each:.0f} bytes per finished job"


async def test_a_long_running_daemon_keeps_at_most_a_tenth_more_finished_jobs_than_it_keeps(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(recorder, "FINISHED_KEPT", 10)
    w = world([{"name": "flaky", "script": {"initial": "FAILED", "recover_after_restarts": "never", "refail_after": 1}}],
              [status_rule(backoff={"base": 1, "cap": 2, "jitter": 0.1}, max_restarts=100)])
    most = 0
    finished = w.daemon.recorder.finished

    def counted(job: RestartJob) -> None:
        nonlocal most
        finished(job)
        most = max(most, len(w.daemon.recorder.finished_jobs))

    w.daemon.queue._observer.finished = counted  # type: ignore[method-assign]
    await run_polls(w, 120)
    assert sum(w.daemon.recorder.outcomes.values()) > 25, "enough restarts to fill it twice"
    assert most <= 11, f"{most} finished jobs kept at the peak for FINISHED_KEPT 10"
