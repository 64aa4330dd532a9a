"""Sample records the state-store tests share: the SQLite file's own tests (test_state.py) and
the contract both stores keep (test_state_contract.py)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

from watchdog.model import (
    ConnectorKey,
    ConnectorState,
    Health,
    HistoryRecord,
    Outcome,
    RestartRequest,
    Trigger,
)

T0 = datetime(2026, 3, 29, 10, 0, tzinfo=timezone.utc)
ORDERS = ConnectorKey("prod", "orders-source")
BILLING = ConnectorKey("prod", "billing-sink")
AUDIT = ConnectorKey("staging", "audit-sink")

FULL_STATE = ConnectorState(
    consecutive_failures=2,
    attempts=3,
    last_restart_at=T0 + timedelta(microseconds=123456),
    next_allowed_at=T0 + timedelta(minutes=12),
    gave_up=True,
    health=Health.FAILED,
    healthy_since=None,
)


class Clock:
    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def request(request_id: str, key: ConnectorKey = ORDERS, *, at: datetime = T0, **changes: object) -> RestartRequest:
    base = RestartRequest(
        id=request_id, key=key, rule="heal", trigger=Trigger.STATUS, reason="failed: connector FAILED",
        requested_at=at,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def record(job_id: str, key: ConnectorKey = ORDERS, *, at: datetime = T0, **changes: object) -> HistoryRecord:
    base = HistoryRecord(
        at=at, key=key, job_id=job_id, rule="heal", trigger=Trigger.STATUS, triggers=(Trigger.STATUS,),
        outcome=Outcome.ACCEPTED, status_code=202, request_id="rq-1", tries=1, attempt=1,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


# What a release before 3941d9e (2026-12-02) kept of a connector after two dry-run restarts, as
# d34752b's daemon wrote it in dry-run against the simulator (max_restarts 2): the attempts in the
# state, its last restart at the very time of the second dry-run record, gave-up (tests/test_upgrade.py).
OLDER_DRY_RUN_AT = T0 + timedelta(seconds=5, microseconds=433157)
OLDER_DRY_RUN_STATE = ConnectorState(
    consecutive_failures=6, attempts=2, last_restart_at=OLDER_DRY_RUN_AT,
    next_allowed_at=OLDER_DRY_RUN_AT + timedelta(seconds=2), gave_up=True, health=Health.FAILED,
)
OLDER_DRY_RUN_RECORDS = (
    record("dry-1", at=T0, outcome=Outcome.DRY_RUN, status_code=None, request_id=None, tries=0, attempt=1),
    record("dry-2", at=OLDER_DRY_RUN_AT, outcome=Outcome.DRY_RUN, status_code=None, request_id=None, tries=0, attempt=2),
)

# A history record as releases before 2026-12-02 kept it: the connector's trace quoted its
# connection URLs with their passwords (masked as they arrive since, but not in what was kept).
OLDER_LEAKY_TRACE = ("org.apache.kafka.connect.errors.ConnectException: cannot connect to "
                     "jdbc:mysql://db.internal/orders?user=etl&password=Hunter2Secret99 and "
                     "jdbc:postgresql://etl:Pgpass4242@db2/x; connection.password=Conn9Secret, "
                     '{"aws.secret.access.key": "AwsKey7Secret"} Authorization: Bearer eyJhbGci.Tok3n.sig')
OLDER_LEAKY_RECORD = record(
    "leaky-1", message=f"restart failed: {OLDER_LEAKY_TRACE}",
    evidence={"state": "FAILED", "trace": OLDER_LEAKY_TRACE, "tasks": [{"id": 0, "state": "FAILED", "trace": OLDER_LEAKY_TRACE}]},
    recommendations=(f"Check {OLDER_LEAKY_TRACE}",),
)
