"""The fault matrix: each case is one kind of API failure, injected for a bounded time.

A case says what the simulator does (fault rules and changes to the world), which outcomes a
call can then end in (that sets the retries the policy allows), which metrics must show it, and
anything particular the daemon must do. The checks every case must pass live in checks.py.
docs/reliability.md has the table; a test keeps the two in step.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from watchdog.app import Daemon
from watchdog.model import Outcome
from watchdog.queue import RestartJob
from watchdog.simulator import Simulator

from .record import FaultRun
from .world import CLUSTER_IDS, FAILING, HEALTHY, POLL_INTERVAL, PROD, SIDE

# Virtual-time cases: the fault is on from FAULT_FROM to FAULT_UNTIL; polls are due for
# POLLING_SECONDS; manual restarts are asked for at MANUAL_AT, inside the fault.
FAULT_FROM, FAULT_UNTIL = 20.0, 140.0
POLLING_SECONDS = 300.0
MANUAL_AT = (25.0, 65.0, 105.0)

# Loopback cases (real time, real sockets): shorter, since every second is a real one.
LOOPBACK_FAULT_UNTIL = 7.0
LOOPBACK_SECONDS = 7.5
LOOPBACK_MANUAL_AT = (1.0,)
# The loopback cases' client timeouts: a read timeout the slow answer (1 s) exceeds, and a total
# deadline no hold of the process on a loaded machine reaches. The daemon and the simulator share
# the event loop, and `timeouts.total` cuts a call at its deadline even when its answer is already
# waiting in the socket: at 1 s, a hold of the process as a restart was answered (beside CPU hogs,
# with coverage on) made a restart answered 202 count as failed, and sent it again. Only the
# trickling-answer case is about that deadline, and sets it to 1 s.
LOOPBACK_TIMEOUTS = {"connect": 1.0, "read": 0.3, "write": 1.0, "pool": 1.0, "total": 5.0}


@dataclass(frozen=True)
class Signal:
    """A metric series that must have counted at least `at_least` (or exactly `equals`)."""

    metric: str
    labels: dict[str, str]
    at_least: float = 1.0
    equals: float | None = None


@dataclass(frozen=True)
class WorldChange:
    at: float
    apply: Callable[[Simulator], object]


@dataclass(frozen=True)
class DaemonChange:
    """A fault on the daemon's side rather than the API's (its state file stops taking writes)."""

    at: float
    apply: Callable[[Daemon], object]


@dataclass(frozen=True)
class FaultCase:
    id: str
    injected: str  # what the simulator does, for the docs table
    faults: tuple[dict[str, Any], ...]
    # What a call can end in while the fault lasts: sets the retries each job may make.
    outcomes: frozenset[Outcome]
    signals: tuple[Signal, ...]
    changes: tuple[WorldChange, ...] = ()
    manual: tuple[tuple[float, str, str], ...] = ()  # (time, cluster, connector) restart requests
    expect: Callable[[FaultRun], None] | None = None  # what this fault particularly requires
    connection_faults: frozenset[str] = field(default_factory=frozenset)  # rules that cut answers off
    config: dict[str, dict[str, Any]] = field(default_factory=dict)  # config sections changed for this case
    daemon_changes: tuple[DaemonChange, ...] = ()


def during(action: dict[str, Any], *, endpoint: str | None = None, name: str | None = None,
           start: float = FAULT_FROM, end: float = FAULT_UNTIL, **match: str) -> dict[str, Any]:
    rule: dict[str, Any] = {"when": {"from": start, "until": end}, "action": action}
    if endpoint is not None:
        match = {"endpoint": endpoint, **match}
    if match:
        rule["match"] = match
    if name is not None:
        rule["name"] = name
    return rule


def manual_in_fault(cluster: str = PROD) -> tuple[tuple[float, str, str], ...]:
    """Restarts of healthy connectors asked for while the fault lasts: the restart path is
    exercised even when every list call fails and the status rule cannot decide anything."""
    return tuple((at, cluster, HEALTHY[cluster][i + 1]) for i, at in enumerate(MANUAL_AT))


# -- checks particular to one fault ---------------------------------------------------------------


def status_jobs(run: FaultRun, *, since: float = 0.0, until: float = float("inf"), connector: str | None = None) -> list[RestartJob]:
    return [
        job for job in run.jobs
        if any(r.trigger.value == "status" for r in job.requests)
        and job.first_sent_at is not None and since <= job.first_sent_at < until
        and (connector is None or job.key.connector == connector)
    ]


def heals_after_the_fault(run: FaultRun) -> None:
    later = [job for job in status_jobs(run, since=FAULT_UNTIL) if job.outcome is Outcome.ACCEPTED]
    assert later, "no failing connector was restarted successfully once the fault was over"


def outgrows_a_zero_hint(run: FaultRun) -> None:
    """A key refused again and again with nothing admitted between takes the hint as a floor and
    backs off above it (1 s doubling to the 60 s cap from the second refusal in a row): a
    server answering `Retry-After: 0` to everything sees a handful of calls over the fault's
    120 s, not one per job per retry (11 per job, at the 10/s ceiling, before this rule)."""
    refused = [c for c in run.calls if c.status_code == 429]
    assert 0 < len(refused) <= 12, f"{len(refused)} calls refused during the fault"
    heals_after_the_fault(run)


def honours_the_capped_pause(run: FaultRun) -> None:
    """A pause the server asks for beyond max_pause is cut to max_pause: nothing goes out during
    it, and calls resume when it ends (not when the server's hours have passed)."""
    max_pause = run.config.rate_limit.max_pause
    first_429 = next(c for c in run.calls if c.status_code == 429)
    after = [c.t for c in run.calls if c.t > first_429.t]
    assert after, "nothing was sent after the first 429"
    assert after[0] >= first_429.t + max_pause - 1e-6, f"a call went out {after[0] - first_429.t:.0f}s into a {max_pause:.0f}s pause"
    assert after[0] <= first_429.t + max_pause + POLL_INTERVAL, (
        f"calls resumed {after[0] - first_429.t:.0f}s after the 429; max_pause is {max_pause:.0f}s"
    )
    heals_after_the_fault(run)


def never_uses_a_malformed_hint(run: FaultRun) -> None:
    assert run.sample("watchdog_ratelimit_pauses_total", source="retry_after") == 0
    assert run.sample("watchdog_ratelimit_pauses_total", source="reset") == 0
    heals_after_the_fault(run)


def revoked_key_is_never_retried(run: FaultRun) -> None:
    refused = [job for job in run.jobs if job.outcome is Outcome.UNAUTHORIZED]
    assert all(job.tries == 1 for job in refused), "a 401 was retried"
    assert run.sample("watchdog_polls_total", cluster=PROD, result="unauthorized") >= 1
    heals_after_the_fault(run)


def refused_key_holds_its_restarts(run: FaultRun) -> None:
    """A 401 says the key is refused, not the connector (connect/refusal.py): the restarts asked
    for by name after a poll was answered 401 are held, unsent and no attempt counted, and go
    once a poll with the key succeeds. Before, each was sent into the 401 and ended `unauthorized`."""
    revoked_key_is_never_retried(run)
    revoked = [c for c in run.calls if c.endpoint == "restart" and c.status_code == 401]
    assert revoked == [], f"{len(revoked)} restarts sent with a key already refused"
    in_fault = {connector for _, _, connector in manual_in_fault()}
    asked = [job for job in run.jobs if job.key.connector in in_fault]
    assert sorted((job.outcome, job.tries) for job in asked) == [(Outcome.ACCEPTED, 1)] * len(MANUAL_AT)
    sent = [c.t for c in run.calls if c.endpoint == "restart" and c.connector in {job.key.connector for job in asked}]
    assert len(sent) == len(MANUAL_AT) and min(sent) >= FAULT_UNTIL, "a held restart went while the key was refused"
    assert min(sent) <= FAULT_UNTIL + 2 * POLL_INTERVAL, "the held restarts waited past the first poll that worked"


def deleted_connectors_are_forgotten(run: FaultRun) -> None:
    gone = [job for job in run.jobs if job.key.connector == HEALTHY[PROD][4]]
    assert [job.outcome for job in gone] == [Outcome.NOT_FOUND] and gone[0].tries == 1, "the 404 was not final"
    assert not status_jobs(run, since=DELETE_AT, connector=FAILING[PROD][1]), "a deleted connector was restarted"
    for connector in (FAILING[PROD][1], HEALTHY[PROD][4]):
        # Its series are removed, so a dashboard does not show a connector that no longer exists.
        assert run.registry.get_sample_value("watchdog_connector_backoff_step", {"cluster": PROD, "connector": connector}) is None
    assert run.sample("watchdog_connectors", cluster=PROD, health="failed") == len(FAILING[PROD]) - 1


def refused_states_are_left_alone(run: FaultRun) -> None:
    for connector in (FAILING[PROD][0], FAILING[PROD][2]):
        assert not status_jobs(run, since=REFUSE_AT + POLL_INTERVAL, connector=connector), (
            f"{connector} was restarted by the status rule while PAUSED or PROVISIONING"
        )
    # Asked for by name with the FAILED status seen before: the API refuses, once, and that is final.
    stale = [job for job in run.jobs if job.primary.trigger.value == "manual" and job.key.connector in (FAILING[PROD][0], FAILING[PROD][2])]
    assert sorted((job.key.connector, job.outcome, job.tries) for job in stale) == [
        (FAILING[PROD][2], Outcome.REJECTED, 1), (FAILING[PROD][0], Outcome.REJECTED, 1)
    ]
    refused = status_jobs(run, connector=FAILING[PROD][1], since=FAULT_FROM, until=FAULT_UNTIL)
    assert refused and all(job.outcome is Outcome.REJECTED for job in refused)


def other_clusters_carry_on(run: FaultRun) -> None:
    assert all(code == 200 for code in run.readiness), "a cluster answering 403 took the daemon out of service"
    served = status_jobs(run, since=FAULT_FROM, until=FAULT_UNTIL)
    assert served and all(job.key.cluster == PROD for job in served), "prod was not healed while side answered 403"
    assert not status_jobs(run, since=FAULT_FROM + POLL_INTERVAL, until=FAULT_UNTIL, connector=FAILING[SIDE][0])


def acts_on_no_unreadable_list(run: FaultRun) -> None:
    # Decisions need a list; a list that cannot be read decides nothing (the last restarts
    # decided before the fault may still be sent at its start).
    assert not status_jobs(run, since=FAULT_FROM + POLL_INTERVAL, until=FAULT_UNTIL)
    heals_after_the_fault(run)


def keeps_state_through_unusable_answers(run: FaultRun) -> None:
    """A 200 whose entries are all unusable decides nothing and forgets nothing: no status
    restart during the fault, every failing connector still watched (its series and health
    intact) and, by check 4, its backoff continued where it was rather than starting over."""
    acts_on_no_unreadable_list(run)
    assert run.sample("watchdog_connectors", cluster=PROD, health="failed") == len(FAILING[PROD])
    for connector in FAILING[PROD]:
        assert run.has_series("watchdog_connector_backoff_step", cluster=PROD, connector=connector), (
            f"{connector} lost its series: the unusable answer was taken for an empty cluster"
        )


def neighbours_are_healed_while_entries_are_unusable(run: FaultRun) -> None:
    """One unreadable entry costs only itself: the other failing connectors of its cluster are
    restarted during the fault; the one whose entry is unusable is left alone until it reads."""
    unusable, *others = FAILING[PROD]
    for connector in others:
        assert status_jobs(run, since=FAULT_FROM + POLL_INTERVAL, until=FAULT_UNTIL, connector=connector), (
            f"{connector} was not restarted while a neighbour's entry was unusable"
        )
    assert not status_jobs(run, since=FAULT_FROM + POLL_INTERVAL, until=FAULT_UNTIL, connector=unusable)
    heals_after_the_fault(run)


def a_restart_that_got_no_answer_is_not_sent_again(run: FaultRun) -> None:
    # The simulator acts, then resets the connection or answers late: the restart was made.
    # Retried as a network error, each such restart was made 1 + max_retries times.
    lost = [c for c in run.calls if c.endpoint == "restart" and c.fault is not None]
    unconfirmed = [job for job in run.jobs if job.outcome is Outcome.UNCONFIRMED]
    assert lost and len(unconfirmed) == len(lost), f"{len(lost)} calls got no answer, {len(unconfirmed)} unconfirmed"
    assert all(job.tries == 1 for job in unconfirmed), [(job.key, job.tries) for job in unconfirmed]
    made = Counter(c.connector for c in run.calls if c.endpoint == "restart")
    jobs = Counter(job.key.connector for job in run.jobs if job.outcome is not Outcome.DRY_RUN)
    assert made == jobs, f"restart calls {dict(made)} != restarts decided {dict(jobs)}"


def a_restart_answered_2xx_is_not_sent_again(run: FaultRun) -> None:
    # The 202 status line came, and the body after it did not: the restart happened, and
    # sending it again would restart the connector twice (it was sent three times before).
    cut = [c for c in run.calls if c.endpoint == "restart" and c.fault == "truncated-body-restart"]
    assert cut, "no restart was answered with a cut-off body"
    restarts = [c for c in run.calls if c.endpoint == "restart"]
    assert run.jobs and all(job.outcome is Outcome.ACCEPTED and job.tries == 1 for job in run.jobs), [
        (job.key, job.outcome, job.tries) for job in run.jobs]
    assert len(restarts) == len(run.jobs), f"{len(restarts)} restart calls for {len(run.jobs)} restarts"
    said = [job for job in run.jobs if "cut off after its status line" in job.message]
    assert len(said) == len(cut), [job.message for job in run.jobs]


def oversized_lists_decide_nothing(run: FaultRun) -> None:
    acts_on_no_unreadable_list(run)


def nothing_is_sent_while_decisions_cannot_be_recorded(run: FaultRun) -> None:
    # Polls that could not record their decisions restart nothing (the restart calls at the
    # fault's very start were decided, and recorded, just before it).
    during = [c for c in run.calls if c.endpoint == "restart" and FAULT_FROM + POLL_INTERVAL <= c.t < FAULT_UNTIL]
    assert not during, f"{len(during)} restarts went out while the state file took no writes"
    assert 503 in run.readiness, "/readyz never said that decisions could not be recorded"
    assert run.readiness[-1] == 200, "/readyz did not recover once writes worked again"
    heals_after_the_fault(run)


def a_trickling_answer_ends_at_the_deadline(run: FaultRun) -> None:
    total = run.config.api.timeouts.total
    trickled = [c for c in run.calls if c.endpoint == "list" and c.fault == "trickling-answer-list"]
    assert trickled, "no list call was answered by trickling"
    assert run.sample("watchdog_api_request_duration_seconds_sum", endpoint="list") <= total * (len(trickled) + 1) + 1.0


def _stop_writes(daemon: Daemon) -> None:
    daemon.state._db.execute("PRAGMA query_only = 1")


def _allow_writes(daemon: Daemon) -> None:
    daemon.state._db.execute("PRAGMA query_only = 0")


# -- the matrix -----------------------------------------------------------------------------------

DELETE_AT = 32.0
REFUSE_AT = 32.0

RATE_LIMITED = frozenset({Outcome.RATE_LIMITED})
HEADERS_429 = {"X-RateLimit-Limit": "60", "X-RateLimit-Remaining": "0"}


def _delete(*names: str) -> Callable[[Simulator], None]:
    def apply(simulator: Simulator) -> None:
        for name in names:
            simulator.delete_connector(CLUSTER_IDS[PROD], name)
    return apply


def _list_entries(entries: dict[str, str]) -> Callable[[Simulator], None]:
    def apply(simulator: Simulator) -> None:
        for name, entry in entries.items():
            simulator.change_connector(CLUSTER_IDS[PROD], name, {"list_entry": entry})
    return apply


def _set_states(states: dict[str, str]) -> Callable[[Simulator], None]:
    def apply(simulator: Simulator) -> None:
        for name, state in states.items():
            simulator.set_state(CLUSTER_IDS[PROD], name, state)
    return apply


VIRTUAL_CASES = (
    FaultCase(
        id="server-errors",
        injected="500, then 502, then 503 on every call, 40 s each",
        faults=(
            during({"status": 500}, end=60.0),
            during({"status": 502}, start=60.0, end=100.0),
            during({"status": 503}, start=100.0),
        ),
        outcomes=frozenset({Outcome.SERVER_ERROR}),
        signals=(
            Signal("watchdog_polls_total", {"cluster": PROD, "result": "server_error"}),
            Signal("watchdog_polls_total", {"cluster": SIDE, "result": "server_error"}),
            Signal("watchdog_restarts_total", {"outcome": "server_error"}),
            Signal("watchdog_api_requests_total", {"status_class": "5xx"}),
        ),
        manual=manual_in_fault(),
        expect=heals_after_the_fault,
    ),
    FaultCase(
        id="429-storm-with-headers",
        injected="429 on every call with Retry-After: 5 and X-RateLimit-*",
        faults=(during({"status": 429, "headers": {"Retry-After": "5", "X-RateLimit-Reset": "5", **HEADERS_429}}),),
        outcomes=RATE_LIMITED,
        signals=(
            Signal("watchdog_ratelimit_pauses_total", {"source": "retry_after"}),
            Signal("watchdog_polls_total", {"result": "rate_limited"}),
            Signal("watchdog_api_requests_total", {"status_class": "429"}),
        ),
        manual=manual_in_fault(),
        expect=heals_after_the_fault,
    ),
    FaultCase(
        id="429-storm-without-headers",
        injected="429 on every call, no Retry-After, no X-RateLimit-*",
        faults=(during({"status": 429}),),
        outcomes=RATE_LIMITED,
        signals=(
            Signal("watchdog_ratelimit_pauses_total", {"source": "backoff"}),
            Signal("watchdog_polls_total", {"result": "rate_limited"}),
        ),
        manual=manual_in_fault(),
        expect=heals_after_the_fault,
    ),
    FaultCase(
        id="retry-after-zero",
        injected="429 on every call with Retry-After: 0",
        faults=(during({"status": 429, "headers": {"Retry-After": "0"}}),),
        outcomes=RATE_LIMITED,
        signals=(
            Signal("watchdog_ratelimit_pauses_total", {"source": "retry_after"}),
            # Refused again, the hint becomes a floor under the exponential backoff.
            Signal("watchdog_ratelimit_pauses_total", {"source": "backoff"}),
        ),
        manual=manual_in_fault(),
        expect=outgrows_a_zero_hint,
    ),
    FaultCase(
        id="retry-after-hours",
        injected="429 on every call with Retry-After: 7200 (two hours)",
        faults=(during({"status": 429, "headers": {"Retry-After": "7200", **HEADERS_429}}),),
        outcomes=RATE_LIMITED,
        signals=(
            Signal("watchdog_ratelimit_pauses_total", {"source": "retry_after"}),
            Signal("watchdog_ratelimit_wait_seconds_total", {"reason": "pause"}, at_least=600.0),
        ),
        manual=manual_in_fault(),
        expect=honours_the_capped_pause,
    ),
    FaultCase(
        id="retry-after-malformed",
        injected="429 with Retry-After: soon, then -3, then 1e400",
        faults=(
            during({"status": 429, "headers": {"Retry-After": "soon"}}, end=60.0),
            during({"status": 429, "headers": {"Retry-After": "-3"}}, start=60.0, end=100.0),
            during({"status": 429, "headers": {"Retry-After": "1e400"}}, start=100.0),
        ),
        outcomes=RATE_LIMITED,
        signals=(Signal("watchdog_ratelimit_pauses_total", {"source": "backoff"}),),
        manual=manual_in_fault(),
        expect=never_uses_a_malformed_hint,
    ),
    FaultCase(
        id="ratelimit-reset-negative",
        injected="429 with X-RateLimit-Reset: -5 and no Retry-After",
        faults=(during({"status": 429, "headers": {"X-RateLimit-Reset": "-5", **HEADERS_429}}),),
        outcomes=RATE_LIMITED,
        signals=(Signal("watchdog_ratelimit_pauses_total", {"source": "backoff"}),),
        manual=manual_in_fault(),
        expect=never_uses_a_malformed_hint,
    ),
    FaultCase(
        id="ratelimit-reset-huge",
        injected="429 with X-RateLimit-Reset: 100000000 (three years) and no Retry-After",
        faults=(during({"status": 429, "headers": {"X-RateLimit-Reset": "100000000", **HEADERS_429}}),),
        outcomes=RATE_LIMITED,
        signals=(Signal("watchdog_ratelimit_pauses_total", {"source": "reset"}),),
        manual=manual_in_fault(),
        expect=honours_the_capped_pause,
    ),
    FaultCase(
        id="ratelimit-reset-huge-on-success",
        injected="restarts answered 202 with X-RateLimit-Remaining: 0 and X-RateLimit-Reset: 100000000",
        faults=(during({"status": 202, "headers": {"X-RateLimit-Reset": "100000000", **HEADERS_429}}, endpoint="restart"),),
        outcomes=frozenset({Outcome.ACCEPTED}),
        signals=(Signal("watchdog_ratelimit_wait_seconds_total", {"reason": "budget"}),),
        manual=manual_in_fault(),
        expect=heals_after_the_fault,
    ),
    FaultCase(
        id="key-revoked",
        injected="401 on every call (the key revoked), for 2 minutes",
        faults=(during({"status": 401}),),
        outcomes=frozenset({Outcome.UNAUTHORIZED}),
        signals=(
            Signal("watchdog_polls_total", {"cluster": PROD, "result": "unauthorized"}),
            # Held, not sent into the 401 (before: 3, one per restart asked for by name).
            Signal("watchdog_restarts_total", {"outcome": "unauthorized"}, equals=0),
        ),
        manual=manual_in_fault(),
        expect=refused_key_holds_its_restarts,
    ),
    FaultCase(
        id="connector-deleted",
        injected="a failing and a healthy connector deleted; a restart of the deleted one asked for by name",
        faults=(),
        outcomes=frozenset({Outcome.NOT_FOUND}),
        signals=(Signal("watchdog_api_requests_total", {"endpoint": "restart", "status_class": "4xx"}),),
        changes=(WorldChange(DELETE_AT, _delete(FAILING[PROD][1], HEALTHY[PROD][4])),),
        manual=((DELETE_AT + 1, PROD, HEALTHY[PROD][4]),),
        expect=deleted_connectors_are_forgotten,
    ),
    FaultCase(
        id="restart-refused-400",
        injected="failing connectors turn PAUSED and PROVISIONING; restarts of another answered 400",
        faults=(during({"status": 400}, endpoint="restart", connector=FAILING[PROD][1]),),
        outcomes=frozenset({Outcome.REJECTED}),
        signals=(
            Signal("watchdog_restarts_total", {"outcome": "rejected"}, at_least=3),
            Signal("watchdog_decisions_total", {"cluster": PROD, "decision": "transient"}),
        ),
        changes=(WorldChange(REFUSE_AT, _set_states({FAILING[PROD][0]: "PAUSED", FAILING[PROD][2]: "PROVISIONING"})),),
        manual=((REFUSE_AT + 1, PROD, FAILING[PROD][0]), (REFUSE_AT + 1, PROD, FAILING[PROD][2])),
        # Asked for by name seconds after the status rule restarted them: with the manual gap
        # (tests/test_manual_gap.py) the daemon would refuse them itself, and the API's 400 for a
        # stale status, which this case checks, would never come.
        config={"queue": {"manual_restart_gap": 0}},
        expect=refused_states_are_left_alone,
    ),
    FaultCase(
        id="cluster-forbidden",
        injected="403 on the list call of one of the two clusters",
        faults=(during({"status": 403}, endpoint="list", cluster=CLUSTER_IDS[SIDE]),),
        outcomes=frozenset({Outcome.FORBIDDEN}),
        signals=(
            Signal("watchdog_polls_total", {"cluster": SIDE, "result": "forbidden"}, equals=(FAULT_UNTIL - FAULT_FROM) / POLL_INTERVAL),
            Signal("watchdog_restarts_total", {"cluster": PROD, "outcome": "accepted"}),
        ),
        expect=other_clusters_carry_on,
    ),
    FaultCase(
        id="invalid-json",
        injected="every answer's body cut to invalid JSON (list and restart)",
        faults=(during({"invalid_json": True}),),
        outcomes=frozenset({Outcome.SERVER_ERROR}),
        signals=(
            Signal("watchdog_polls_total", {"cluster": PROD, "result": "server_error"}),
            Signal("watchdog_polls_total", {"cluster": SIDE, "result": "server_error"}),
        ),
        manual=manual_in_fault(),
        expect=acts_on_no_unreadable_list,
    ),
    FaultCase(
        id="answer-without-usable-entries",
        injected='list calls answered 200 `{"message": "Service temporarily unavailable"}`',
        faults=(during({"status": 200, "body": {"message": "Service temporarily unavailable"}}, endpoint="list"),),
        outcomes=frozenset({Outcome.ACCEPTED}),
        signals=(
            Signal("watchdog_polls_total", {"cluster": PROD, "result": "unusable"}),
            Signal("watchdog_polls_total", {"cluster": SIDE, "result": "unusable"}),
            Signal("watchdog_unusable_entries_total", {"reason": "entry_not_object"}),
        ),
        manual=manual_in_fault(),
        expect=keeps_state_through_unusable_answers,
    ),
    FaultCase(
        id="unusable-entries",
        injected="the list entries of a failing and a healthy connector broken (`status: null`, `status: {}`)",
        faults=(),
        outcomes=frozenset({Outcome.ACCEPTED}),
        signals=(
            Signal("watchdog_unusable_entries_total", {"cluster": PROD, "reason": "status_not_object"}),
            Signal("watchdog_unusable_entries_total", {"cluster": PROD, "reason": "connector_state_missing"}),
            Signal("watchdog_polls_total", {"cluster": PROD, "result": "unusable"}, equals=0),
        ),
        changes=(
            WorldChange(FAULT_FROM, _list_entries({FAILING[PROD][0]: "status_null", HEALTHY[PROD][0]: "status_empty"})),
            WorldChange(FAULT_UNTIL, _list_entries({FAILING[PROD][0]: "complete", HEALTHY[PROD][0]: "complete"})),
        ),
        expect=neighbours_are_healed_while_entries_are_unusable,
    ),
    FaultCase(
        id="oversized-list",
        injected="every list answer padded to 2 MB; api.max_response_bytes is 1 MB",
        faults=(during({"pad_to_bytes": 2_000_000}, endpoint="list"),),
        outcomes=frozenset({Outcome.SERVER_ERROR}),
        signals=(
            Signal("watchdog_polls_total", {"cluster": PROD, "result": "server_error"}),
            Signal("watchdog_polls_total", {"cluster": SIDE, "result": "server_error"}),
        ),
        manual=manual_in_fault(),
        expect=oversized_lists_decide_nothing,
        config={"api": {"max_response_bytes": 1_000_000}},
    ),
    FaultCase(
        id="state-file-unwritable",
        injected="the daemon's state file takes no writes for 2 minutes (a full disk)",
        faults=(),
        outcomes=frozenset({Outcome.ACCEPTED}),
        signals=(
            Signal("watchdog_polls_total", {"cluster": PROD, "result": "state_error"}),
            Signal("watchdog_state_store_errors_total", {}),
        ),
        daemon_changes=(DaemonChange(FAULT_FROM, _stop_writes), DaemonChange(FAULT_UNTIL, _allow_writes)),
        expect=nothing_is_sent_while_decisions_cannot_be_recorded,
    ),
)


def _loopback(case_id: str, injected: str, action: dict[str, Any]) -> FaultCase:
    return FaultCase(
        id=case_id,
        injected=injected,
        faults=(
            # The first poll of each cluster, and every restart for the first seconds.
            {"name": f"{case_id}-list", "match": {"endpoint": "list"}, "when": {"count": 2}, "action": action},
            {"name": f"{case_id}-restart", "match": {"endpoint": "restart"}, "when": {"until": LOOPBACK_FAULT_UNTIL}, "action": action},
        ),
        outcomes=frozenset({Outcome.UNCONFIRMED}),
        signals=(
            Signal("watchdog_api_requests_total", {"status_class": "error"}),
            Signal("watchdog_polls_total", {"result": "network_error"}, equals=2),
            Signal("watchdog_restarts_total", {"outcome": "unconfirmed"}),
        ),
        manual=tuple((at, PROD, HEALTHY[PROD][1]) for at in LOOPBACK_MANUAL_AT),
        expect=a_restart_that_got_no_answer_is_not_sent_again,
        connection_faults=frozenset({f"{case_id}-list", f"{case_id}-restart"}),
    )


LOOPBACK_CASES = (
    _loopback("connection-reset", "TCP reset instead of the answer (list, restart)", {"reset": True}),
    FaultCase(
        id="truncated-body",
        injected="Content-Length promises more than is sent, then the connection closes",
        faults=(
            {"name": "truncated-body-list", "match": {"endpoint": "list"}, "when": {"count": 2}, "action": {"truncated": True}},
            {"name": "truncated-body-restart", "match": {"endpoint": "restart"}, "when": {"until": LOOPBACK_FAULT_UNTIL},
             "action": {"truncated": True}},
        ),
        outcomes=frozenset({Outcome.ACCEPTED}),
        signals=(
            Signal("watchdog_api_requests_total", {"endpoint": "list", "status_class": "error"}, equals=2),
            Signal("watchdog_polls_total", {"result": "network_error"}, equals=2),
            Signal("watchdog_restarts_total", {"outcome": "accepted"}),
        ),
        manual=tuple((at, PROD, HEALTHY[PROD][1]) for at in LOOPBACK_MANUAL_AT),
        expect=a_restart_answered_2xx_is_not_sent_again,
        # The list's body never arrives whole: a failed call. A restart's 202 status line does.
        connection_faults=frozenset({"truncated-body-list"}),
    ),
    _loopback("slow-response", "answers 1 s late, the client's read timeout is 0.3 s", {"delay_seconds": 1.0}),
    FaultCase(
        id="trickling-answer",
        injected="list answers sent a byte every 20 ms (each read well within the 0.3 s read timeout); timeouts.total is 1 s",
        faults=({"name": "trickling-answer-list", "match": {"endpoint": "list"}, "when": {"count": 2},
                 "action": {"trickle_seconds": 0.02}},),
        outcomes=frozenset({Outcome.NETWORK_ERROR}),
        signals=(
            Signal("watchdog_api_requests_total", {"endpoint": "list", "status_class": "error"}, equals=2),
            Signal("watchdog_polls_total", {"result": "network_error"}, equals=2),
        ),
        manual=tuple((at, PROD, HEALTHY[PROD][1]) for at in LOOPBACK_MANUAL_AT),
        expect=a_trickling_answer_ends_at_the_deadline,
        connection_faults=frozenset({"trickling-answer-list"}),
        config={"api": {"timeouts": {**LOOPBACK_TIMEOUTS, "total": 1.0}}},
    ),
)

ALL_CASES = VIRTUAL_CASES + LOOPBACK_CASES
