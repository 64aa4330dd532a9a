"""What docs/reliability.md says the daemon does under each fault, checked against the run.

Each claim is a phrase of the case's row (quoted exactly as the table has it) and a check of
the run that fails if the phrase stops being true. check_all() runs every claim of a case with
its other checks; tests/faults/test_reliability_doc.py makes sure that each phrase is in the
table and that every number, outcome and log field the table states is inside a checked phrase
or is a metric series the case's signals check.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from watchdog.model import Outcome

from .cases import (
    FAULT_FROM,
    FAULT_UNTIL,
    a_restart_that_got_no_answer_is_not_sent_again,
    a_trickling_answer_ends_at_the_deadline,
    deleted_connectors_are_forgotten,
    other_clusters_carry_on,
    refused_key_holds_its_restarts,
    refused_states_are_left_alone,
    revoked_key_is_never_retried,
)
from .record import FaultRun
from .world import CLUSTER_IDS, POLL_INTERVAL, SIDE


@dataclass(frozen=True)
class Claim:
    text: str  # exactly as in the case's row of docs/reliability.md
    check: Callable[[FaultRun], None]


def _jobs(run: FaultRun, outcome: Outcome) -> list:
    jobs = [job for job in run.jobs if job.outcome is outcome]
    assert jobs, f"no restart ended {outcome.value}"
    return jobs


def _calls_in_fault(run: FaultRun) -> list[float]:
    return sorted(c.t for c in run.calls if FAULT_FROM <= c.t < FAULT_UNTIL)


def _retried(times: int) -> Callable[[FaultRun], None]:
    def check(run: FaultRun) -> None:
        assert run.config.rate_limit.max_retries == times
        for job in _jobs(run, Outcome.SERVER_ERROR):
            assert job.tries == 1 + times, f"{job.key}: {job.tries} calls, not 1 + {times} retries"
    return check


def _pauses_after_each_429(seconds: float) -> Callable[[FaultRun], None]:
    def check(run: FaultRun) -> None:
        calls = sorted(run.calls, key=lambda c: c.t)
        refused = [(c, nxt) for c, nxt in zip(calls, calls[1:]) if c.status_code == 429]
        assert refused, "no 429"
        for call, following in refused:
            assert following.t - call.t >= seconds - 1e-6, (
                f"a call {following.t - call.t:.2f}s after a 429 that asked for {seconds:.0f}s (one probe per pause)"
            )
    return check


def _backoff_between(base: float, cap: float) -> Callable[[FaultRun], None]:
    def check(run: FaultRun) -> None:
        backoff = run.config.rate_limit.backoff
        assert (backoff.base, backoff.cap) == (base, cap)
        times = _calls_in_fault(run)
        longest = max(later - earlier for earlier, later in zip(times, times[1:]))
        # A pause is at most the cap; the next call comes by the next poll after it.
        assert longest <= cap + POLL_INTERVAL, f"{longest:.0f}s without a call; pauses are capped at {cap:.0f}s"
    return check


def _first_pause_at_most(seconds: float) -> Callable[[FaultRun], None]:
    def check(run: FaultRun) -> None:
        calls = sorted(run.calls, key=lambda c: c.t)
        first = next(i for i, c in enumerate(calls) if c.status_code == 429)
        assert calls[first + 1].t - calls[first].t <= seconds, "the first Retry-After: 0 was not taken at its word"
    return check


def _grows_after_repeated_429s(base: float, cap: float) -> Callable[[FaultRun], None]:
    """The k-th 429 in a row (k >= 2) is followed by at least min(cap, base * 2^(k-2)) seconds
    of silence: the hint (0) is a floor, the backoff grows above it."""
    def check(run: FaultRun) -> None:
        backoff = run.config.rate_limit.backoff
        assert (backoff.base, backoff.cap) == (base, cap)
        calls = sorted(run.calls, key=lambda c: c.t)
        in_a_row = 0
        for call, following in zip(calls, calls[1:]):
            in_a_row = in_a_row + 1 if call.status_code == 429 else 0
            if in_a_row >= 2:
                floor = min(cap, base * 2 ** (in_a_row - 2))
                assert following.t - call.t >= floor - 1e-6, (
                    f"{following.t - call.t:.2f}s after 429 number {in_a_row} in a row; the backoff is {floor:.0f}s"
                )
        refused = sum(1 for c in calls if c.status_code == 429)
        assert refused <= 2 + math.ceil(math.log2(cap / base)) + (FAULT_UNTIL - FAULT_FROM) / cap, (
            f"{refused} calls refused in a two-minute storm"
        )
    return check


def _every_job_succeeds(run: FaultRun) -> None:
    not_accepted = [job for job in run.jobs if job.outcome is not Outcome.ACCEPTED]
    assert not not_accepted, f"jobs that did not succeed: {[(str(j.key), j.outcome) for j in not_accepted]}"


def _max_pause_is(seconds: float) -> Callable[[FaultRun], None]:
    def check(run: FaultRun) -> None:
        assert run.config.rate_limit.max_pause == seconds
    return check


def _resumes_at(at: float) -> Callable[[FaultRun], None]:
    def check(run: FaultRun) -> None:
        first_429 = min(c.t for c in run.calls if c.status_code == 429)
        after = [c.t for c in run.calls if c.t > first_429]
        assert after and at - 1e-6 <= after[0] <= at + POLL_INTERVAL, f"calls resumed at t = {after[0] if after else None}"
        _every_job_succeeds(run)
    return check


def _logged(event: str, **fields: object) -> Callable[[FaultRun], None]:
    def check(run: FaultRun) -> None:
        lines = [e for e in run.logs if e["event"] == event]
        assert lines, f"no {event} line was logged"
        for name, value in fields.items():
            matching = [e for e in lines if name in e and (value is None or value in str(e[name]))]
            assert matching, f"no {event} line carries {name}" + (f" with {value!r}" if value is not None else "")
    return check


def _restarts_accepted_during_the_fault(run: FaultRun) -> None:
    sent = [job for job in run.jobs if job.first_sent_at is not None and FAULT_FROM <= job.first_sent_at < FAULT_UNTIL]
    assert sent and all(job.outcome is Outcome.ACCEPTED for job in sent), (
        f"restarts sent during the fault ended {[j.outcome for j in sent]}"
    )


def _forbidden_once_per_interval(run: FaultRun) -> None:
    due = (FAULT_UNTIL - FAULT_FROM) / POLL_INTERVAL
    assert run.sample("watchdog_polls_total", cluster=SIDE, result="forbidden") == due
    assert not [c for c in run.calls if c.endpoint == "restart" and c.cluster == CLUSTER_IDS[SIDE]
                and FAULT_FROM + POLL_INTERVAL <= c.t < FAULT_UNTIL]


def _readiness_stays(code: int) -> Callable[[FaultRun], None]:
    def check(run: FaultRun) -> None:
        assert run.readiness and set(run.readiness) == {code}, f"/readyz answered {sorted(set(run.readiness))}"
    return check


def _readiness_says(code: int) -> Callable[[FaultRun], None]:
    def check(run: FaultRun) -> None:
        assert code in run.readiness, f"/readyz never answered {code}"
    return check


def _state_errors_not_ok(run: FaultRun) -> None:
    for cluster in CLUSTER_IDS:
        errors = run.sample("watchdog_polls_total", cluster=cluster, result="state_error")
        ok = run.sample("watchdog_polls_total", cluster=cluster, result="ok")
        assert errors >= (FAULT_UNTIL - FAULT_FROM) / POLL_INTERVAL - 1, f"{cluster}: {errors} polls counted state_error"
        assert ok + errors == run.sample("watchdog_polls_total", cluster=cluster), f"{cluster}: polls counted otherwise"


def _writable_went_to_zero_and_back(run: FaultRun) -> None:
    scraped = run.notes["state_store_writable"]
    assert isinstance(scraped, list) and 0.0 in scraped, "watchdog_state_store_writable never read 0"
    assert scraped[0] == scraped[-1] == 1.0, f"watchdog_state_store_writable read {scraped[0]} first, {scraped[-1]} last"


def _deadline_is(seconds: float) -> Callable[[FaultRun], None]:
    def check(run: FaultRun) -> None:
        assert run.config.api.timeouts.total == seconds
        a_trickling_answer_ends_at_the_deadline(run)
    return check


CLAIMS: dict[str, tuple[Claim, ...]] = {
    "server-errors": (
        Claim("restarts are retried 3 times with capped, jittered backoff, then end `server_error`", _retried(3)),
    ),
    "429-storm-with-headers": (
        Claim("every queued call pauses 5 s after each 429, one probe per pause", _pauses_after_each_429(5.0)),
    ),
    "429-storm-without-headers": (
        Claim("exponential pauses with equal jitter (1 s doubling to 60 s)", _backoff_between(1.0, 60.0)),
    ),
    "retry-after-zero": (
        Claim("honours the first 0", _first_pause_at_most(1.0)),
        Claim("backs off exponentially above it (1 s doubling to 60 s), so a key it cannot use sees a 429 from it "
              "ever more rarely", _grows_after_repeated_429s(1.0, 60.0)),
        Claim("every job succeeds once the storm ends", _every_job_succeeds),
    ),
    "retry-after-hours": (
        Claim("pauses `max_pause` (900 s), not two hours", _max_pause_is(900.0)),
        Claim("calls resume at t = 920 s and every job succeeds", _resumes_at(FAULT_FROM + 900.0)),
        Claim("the `rate_limited` log line carries `server_asked_seconds`",
              _logged("rate_limited", server_asked_seconds=None)),
    ),
    "ratelimit-reset-huge": (
        Claim("pauses `max_pause`, then tries again", _resumes_at(FAULT_FROM + 900.0)),
    ),
    "ratelimit-reset-huge-on-success": (
        Claim("waits for budget at most `max_pause`, then goes on", _max_pause_is(900.0)),
    ),
    "key-revoked": (
        Claim("never retries a 401", revoked_key_is_never_retried),
        Claim("restarts are held, queued: none is sent with the refused key nor counted as an attempt",
              refused_key_holds_its_restarts),
        Claim("they go once a poll with the key succeeds", refused_key_holds_its_restarts),
    ),
    "connector-deleted": (
        Claim("the 404 is final (one call, `not_found`)", deleted_connectors_are_forgotten),
        Claim("the failing one is never restarted again", deleted_connectors_are_forgotten),
        Claim('`watchdog_connectors{health="failed"}` drops by one', deleted_connectors_are_forgotten),
    ),
    "restart-refused-400": (
        Claim("a restart asked for with a stale status ends `rejected` after one call", refused_states_are_left_alone),
        # Check 4 (restarts_respect_backoff) holds the gaps between the rejected restarts.
        Claim("a 400 counts as an attempt, so the backoff holds", refused_states_are_left_alone),
    ),
    "cluster-forbidden": (
        Claim("that cluster's polls end `forbidden` one per interval", _forbidden_once_per_interval),
        Claim("`/readyz` stays 200", _readiness_stays(200)),
        Claim("the other cluster is healed as usual", other_clusters_carry_on),
    ),
    "invalid-json": (
        Claim("a restart's 202 needs no body and is accepted", _restarts_accepted_during_the_fault),
    ),
    "oversized-list": (
        Claim("restarts (202, no body) are unaffected", _restarts_accepted_during_the_fault),
        Claim("the `api_call_failed` line says `answer larger than 1000000 bytes`",
              _logged("api_call_failed", message="answer larger than 1000000 bytes")),
    ),
    "state-file-unwritable": (
        Claim("each is counted `state_error`, not `ok`", _state_errors_not_ok),
        Claim("`/readyz` answers 503 naming the state file", _readiness_says(503)),
        Claim("`watchdog_state_store_writable` = 0", _writable_went_to_zero_and_back),
    ),
    "connection-reset": (
        Claim("a restart is `unconfirmed` at its one call, not sent again", a_restart_that_got_no_answer_is_not_sent_again),
    ),
    "trickling-answer": (
        Claim("the call ends at its 1 s deadline as `network_error`", _deadline_is(1.0)),
    ),
}


def check_claims(case_id: str, run: FaultRun) -> None:
    for claim in CLAIMS.get(case_id, ()):
        try:
            claim.check(run)
        except AssertionError as exc:
            raise AssertionError(f"docs/reliability.md says {claim.text!r}, but: {exc}") from exc
