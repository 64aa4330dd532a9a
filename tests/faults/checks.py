"""The five things every fault case must show, whatever the fault:

1. the daemon stays up: /healthz answered 200 every time it was asked, and it still restarts
   a connector when asked after the fault;
2. every restart job it accepted reached exactly one terminal outcome, and none was left unsent;
3. it made no more API calls than its policy allows (no hot loop), never more per second than
   its local ceiling, and never went silent for longer than its longest allowed pause;
4. no connector was restarted before its backoff gap had passed;
5. its metrics account for every call and every outcome, and show the fault itself.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict

from watchdog.config import Rule, StatusTrigger
from watchdog.model import ConnectorKey, Outcome, Trigger
from watchdog.queue import RestartJob
from watchdog.simulator import CallRecord

from .bounds import max_calls_per_second, max_jobs, max_silence, max_tries, restart_gap
from .cases import FaultCase
from .record import FaultRun
from .world import CLUSTER_IDS, FAILING


def check_all(case: FaultCase, run: FaultRun) -> None:
    stays_up(run)
    every_job_ends(run)
    calls_within_policy(case, run)
    restarts_respect_backoff(run)
    metrics_tell_what_happened(case, run)
    if case.expect is not None:
        case.expect(run)
    # What docs/reliability.md says the daemon does under this fault (imported here: claims.py
    # builds on cases.py, which this module's callers import first).
    from .claims import check_claims

    check_claims(case.id, run)


# 1 -----------------------------------------------------------------------------------------------


def stays_up(run: FaultRun) -> None:
    assert run.health, "/healthz was never asked"
    bad = Counter(code for code in run.health if code != 200)
    assert not bad, f"/healthz answered {dict(bad)} out of {len(run.health)} probes"
    assert run.notes.get("after_fault") is Outcome.ACCEPTED, (
        f"a restart asked for after the fault ended as {run.notes.get('after_fault')}, not accepted"
    )


# 2 -----------------------------------------------------------------------------------------------


def every_job_ends(run: FaultRun) -> None:
    unfinished = [job for job in run.jobs if job.outcome is None or not job.done.is_set()]
    assert not unfinished, f"{len(unfinished)} jobs never reached an outcome: {[str(j.key) for j in unfinished]}"
    assert not run.unsent, f"{len(run.unsent)} jobs were still queued at shutdown"
    unsent = [job for job in run.jobs if job.outcome in (Outcome.UNSENT, Outcome.CANCELLED)]
    assert not unsent, f"jobs ended without being tried: {[(str(j.key), j.outcome) for j in unsent]}"


# 3 -----------------------------------------------------------------------------------------------


def calls_within_policy(case: FaultCase, run: FaultRun) -> None:
    settings = run.config.rate_limit
    endpoints = Counter(call.endpoint for call in run.calls)
    assert set(endpoints) <= {"list", "restart"}, f"unexpected endpoints called: {endpoints}"

    lists = Counter(call.cluster for call in run.calls if call.endpoint == "list")
    # APScheduler plans polls on the wall clock, one interval apart, while the run is measured on
    # the simulator's monotonic clock. A step forward of the wall clock makes the poll it brought
    # due run at once (docs/operations.md, "The wall clock"; logged as wall_clock_stepped), so the polls one
    # per interval allows are counted over the wall clock's span: the run plus the steps forward
    # the daemon logged. Counted on the run alone, a 3 s step read "prod: 3 polls in 8s; one per
    # interval allows 2", and nothing in the message said why (the log lines are captured). A pause
    # taken for a step back and then forward (before 91760c1) reads as such a pair of steps here;
    # tests/test_clock_steps.py::test_a_pause_between_reading_the_two_clocks_is_not_taken_for_a_step_of_the_wall_clock guards it.
    due = math.floor((run.elapsed + _forward_clock_steps(run)) / _poll_interval(run)) + 1
    # Besides the polls, a restart a pause of the key held (a restart by name among them) has its
    # cluster listed once after the pause, shared by every restart of the cluster that waited
    # (triggers/turn_listing.py): at most one list call per answer that may have paused the key.
    pauses = sum(1 for call in run.calls if call.status_code == 429 or call.status_code >= 500)
    for cluster, polls in run.polls.items():
        cluster_id = CLUSTER_IDS[cluster]
        # A poll is exactly one list call: failed polls are not retried, they wait for the next.
        # (A poll cut short by stop() may have made its call or not.)
        cut_short = run.polls_cut_short.get(cluster, 0)
        assert polls - cut_short <= lists[cluster_id] <= polls + pauses, (
            f"{cluster}: {lists[cluster_id]} list calls for {polls} polls ({cut_short} cut short at stop) and "
            f"{pauses} answers that may have paused the key"
        )
        assert polls <= due, (
            f"{cluster}: {polls} polls in {run.elapsed:.0f}s; one per interval allows {due} "
            f"({_poll_story(run, cluster)})"
        )

    rule = _status_rule(run)
    tries = max_tries(settings, case.outcomes)
    per_connector = min(max_jobs(run.polling_seconds, rule.backoff), max(run.polls.values()))
    by_connector = Counter(job.key for job in run.jobs if _failure_job(job))
    for key, jobs in by_connector.items():
        assert key.connector in FAILING[key.cluster], f"{key} is healthy and got a failure restart"
        assert jobs <= per_connector, f"{key}: {jobs} failure restarts; the backoff allows {per_connector}"
    failing = sum(len(names) for names in FAILING.values())
    requested = len(run.jobs) - sum(by_connector.values())  # manual requests, made by the test
    bound = (failing * per_connector + requested) * tries
    restarts = endpoints["restart"]
    assert restarts <= bound, f"{restarts} restart calls; the policy allows at most {bound}"
    for job in run.jobs:
        assert job.tries <= tries, f"{job.key}: {job.tries} calls for one job; the policy allows {tries}"

    times = sorted(call.t for call in run.calls)
    ceiling = max_calls_per_second(settings)
    busiest = max((_within(times, i, 1.0) for i in range(len(times))), default=0)
    assert busiest <= ceiling, f"{busiest} calls within one second; the local ceiling allows {ceiling}"
    quiet = max((later - earlier for earlier, later in zip(times, times[1:])), default=0.0)
    allowed = max_silence(settings, _poll_interval(run))
    assert quiet <= allowed, f"no call for {quiet:.0f}s while work was due; the longest pause allowed is {allowed:.0f}s"


def _forward_clock_steps(run: FaultRun) -> float:
    """Seconds the wall clock stepped forward during the run, as the daemon logged them."""
    return sum(max(0.0, float(e["seconds"])) for e in run.logs if e["event"] == "wall_clock_stepped")


def _poll_story(run: FaultRun, cluster: str) -> str:
    """When each poll of `cluster` started, and what the daemon said of its clock and scheduler:
    what a failed count needs to be explained, since the run's log lines are captured."""
    times = ", ".join(f"{t:.2f}" for t in run.poll_times.get(cluster, [])) or "?"
    said = [
        f"wall_clock_stepped seconds={e['seconds']}" if e["event"] == "wall_clock_stepped"
        else f"scheduler_job_event {e['job_id']} {e['job_event']} (due {e['scheduled_run_time']})"
        for e in run.logs if e["event"] in ("wall_clock_stepped", "scheduler_job_event")
    ]
    return f"polls started at t = {times} s; " + (
        "the daemon logged " + "; ".join(said) if said else "no step of the wall clock and no scheduler event logged")


def _within(times: list[float], start: int, span: float) -> int:
    end = start
    while end < len(times) and times[end] < times[start] + span:
        end += 1
    return end - start


# 4 -----------------------------------------------------------------------------------------------


def restarts_respect_backoff(run: FaultRun) -> None:
    """A failure restart counts as an attempt once sent, whatever the answer: the n+1-th goes
    no sooner than gap(n) after the n-th. The failing connectors never recover, so n is simply
    the number of earlier restarts.

    The times are the simulator's, when each restart arrived, not the daemon's own record of when
    it sent them. A connector's jobs run one at a time, so its calls, in order, are its jobs' tries
    in order: the first call of each job is where that job's restart arrived."""
    backoff = _status_rule(run).backoff
    jobs: dict[ConnectorKey, list[RestartJob]] = defaultdict(list)
    for job in run.jobs:
        jobs[job.key].append(job)
    clusters = {cluster_id: name for name, cluster_id in CLUSTER_IDS.items()}
    for call in run.calls:
        if call.endpoint == "restart" and call.cluster in clusters and call.connector is not None:
            jobs.setdefault(ConnectorKey(clusters[call.cluster], call.connector), [])  # a call no job accounts for
    sent: dict[ConnectorKey, list[float]] = defaultdict(list)
    for key, connector_jobs in jobs.items():
        arrived = sorted(call.t for call in run.calls if call.endpoint == "restart" and (call.cluster, call.connector)
                         == (CLUSTER_IDS[key.cluster], key.connector))
        assert len(arrived) == sum(job.tries for job in connector_jobs), (
            f"{key}: the API saw {len(arrived)} restart calls, the daemon counts {sum(j.tries for j in connector_jobs)} tries"
        )
        position = 0
        for job in sorted(connector_jobs, key=lambda j: j.first_sent_at or 0.0):  # the order, not the times
            if _failure_job(job):
                sent[key].append(arrived[position])
            position += job.tries
    for key, times in sent.items():
        for n, (earlier, later) in enumerate(zip(times, times[1:]), start=1):
            gap = restart_gap(n, backoff)
            # 10 ms: how much longer the first call may have taken than the next to arrive over loopback.
            assert later - earlier >= gap - 0.01, (
                f"{key}: restart {n + 1} came {later - earlier:.2f}s after restart {n}; the backoff gap is {gap:.0f}s"
            )


# 5 -----------------------------------------------------------------------------------------------


def metrics_tell_what_happened(case: FaultCase, run: FaultRun) -> None:
    seen = {key: float(n) for key, n in Counter((c.endpoint, _status_class(c, case)) for c in run.calls).items()}
    counted = {
        (endpoint, status_class): run.sample("watchdog_api_requests_total", endpoint=endpoint, status_class=status_class)
        for endpoint, status_class in seen
    }
    assert counted == seen, f"API calls counted by the daemon {dict(counted)} != seen by the API {dict(seen)}"
    assert run.sample("watchdog_api_requests_total") == len(run.calls)

    # A deleted connector's series are removed (bounded cardinality); every other job is counted.
    outcomes = Counter(job.outcome.value for job in run.jobs if job.outcome and job.key.connector not in run.gone)
    for connector in run.gone:
        assert not run.has_series("watchdog_restarts_total", connector=connector), f"{connector} is gone but keeps its series"
    for outcome in Outcome:
        assert run.sample("watchdog_restarts_total", outcome=outcome.value) == outcomes.get(outcome.value, 0), (
            f"watchdog_restarts_total{{outcome={outcome.value}}} does not match the jobs"
        )

    for signal in case.signals:
        value = run.sample(signal.metric, **signal.labels)
        if signal.equals is not None:
            assert math.isclose(value, signal.equals), f"{signal.metric}{signal.labels} = {value}, expected {signal.equals}"
        else:
            assert value >= signal.at_least, f"{signal.metric}{signal.labels} = {value}: the fault does not show"


def _status_class(call: CallRecord, case: FaultCase) -> str:
    if call.fault in case.connection_faults:
        return "error"  # the answer never arrived whole
    if call.status_code == 429:
        return "429"
    return f"{call.status_code // 100}xx"


# -- helpers --------------------------------------------------------------------------------------


def _status_rule(run: FaultRun) -> Rule:
    return next(rule for rule in run.config.rules if isinstance(rule.trigger, StatusTrigger))


def _poll_interval(run: FaultRun) -> float:
    trigger = _status_rule(run).trigger
    assert isinstance(trigger, StatusTrigger)
    return trigger.interval


def _failure_job(job: RestartJob) -> bool:
    return any(request.trigger in (Trigger.STATUS, Trigger.ALERT) for request in job.requests)
