"""The state contract (watchdog/state/contract.py) for an answer that proves a restart call ran
nothing (a 429): `mark_queued` with the connector's state puts the request back to `queued` and
takes back the attempt counted at `mark_sending`, in one transaction, on both stores; and the
recorder does so, so that a successor reading the store judges the connector as if only made
attempts counted (before, the attempt stayed: a successor held a FAILED connector nothing had
restarted in backoff for minutes, an HA probe under load, 2026-12-07)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from watchdog.engine.unmade_attempts import undone
from watchdog.model import ConnectorState, Health, PendingPhase
from watchdog.state import StateStore, StateStoreError

from .state_samples import ORDERS, T0, request
from .test_state_contract import (  # noqa: F401  (fixtures: both stores)
    FailOn,
    Reopen,
    backend_of_store,
    fail_on,
    reopened,
    store,
)

BEFORE = ConnectorState(consecutive_failures=2, health=Health.FAILED)
COUNTED = ConnectorState(attempts=1, last_restart_at=T0, next_allowed_at=T0 + timedelta(minutes=2), health=Health.FAILED)


def test_an_answer_that_proves_nothing_ran_takes_the_attempt_back_with_the_request_queued(
    store: StateStore, reopened: Reopen,  # noqa: F811
) -> None:
    store.save(ORDERS, BEFORE)
    store.add_pending(request("r1"), "job-1")
    store.mark_sending("job-1", ORDERS, COUNTED)
    store.mark_queued("job-1", ORDERS, undone(store.load(ORDERS), BEFORE, COUNTED))
    with reopened() as successor:  # another replica taking over, or the next start
        assert [(p.request.id, p.phase) for p in successor.pending()] == [("r1", PendingPhase.QUEUED)]
        assert successor.load(ORDERS) == BEFORE, "as if the refused call had not been made"
    store.mark_sending("job-1", ORDERS, COUNTED)  # the retry goes out: counted once again
    with reopened() as successor:
        assert successor.load(ORDERS) == COUNTED


def test_taking_the_attempt_back_is_all_or_nothing(
    store: StateStore, reopened: Reopen, fail_on: FailOn,  # noqa: F811
) -> None:
    store.save(ORDERS, BEFORE)
    store.add_pending(request("r1"), "job-1")
    store.mark_sending("job-1", ORDERS, COUNTED)
    fail_on("connector_state", "INSERT")  # after the phase flip
    with pytest.raises(StateStoreError, match="could not mark a restart as queued again: disk on fire"):
        store.mark_queued("job-1", ORDERS, BEFORE)
    with reopened() as successor:
        assert [p.phase for p in successor.pending()] == [PendingPhase.SENDING], "left possibly sent"
        assert successor.load(ORDERS) == COUNTED, "its attempt left counted with it: the backoff errs long"


def test_what_changed_since_the_charge_stays_and_failed_polls_add_up() -> None:
    # A poll that saw it failing once more while the call waited: counted on top of the two before.
    seen_again = ConnectorState(attempts=1, last_restart_at=T0, next_allowed_at=T0 + timedelta(minutes=2),
                                health=Health.FAILED, consecutive_failures=1)
    assert undone(seen_again, BEFORE, COUNTED) == ConnectorState(consecutive_failures=3, health=Health.FAILED)
    # A poll that found it healthy meanwhile: healthy it stays, no failed poll counted.
    healthy = ConnectorState(attempts=1, last_restart_at=T0, next_allowed_at=T0 + timedelta(minutes=2),
                             health=Health.HEALTHY, healthy_since=T0 + timedelta(seconds=5))
    assert undone(healthy, BEFORE, COUNTED) == ConnectorState(health=Health.HEALTHY, healthy_since=T0 + timedelta(seconds=5))
