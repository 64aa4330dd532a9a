"""How one simulated connector behaves over time: its script, its definition, and the runtime
changes `POST /_sim/connectors/...` makes (connector.py plays them).

A connector script (all keys optional):

    initial: RUNNING               # RUNNING | PROVISIONING | PAUSED | STOPPED | FAILED | DEGRADED
                                   # | USER_ACTIONABLE_ERROR | CONFIG_ERROR
    provisioning_until: 30         # PROVISIONING ends then (only with initial PROVISIONING);
                                   # omitted: it stays PROVISIONING
    fail_at: 5                     # the failure shows from then on (PROVISIONING, while it
                                   # lasts, hides it)
    flap: {running_seconds: 10, failed_seconds: 5}   # RUNNING and failed in turn, from t = 0
    failure: FAILED                # how the failure shows: FAILED (connector FAILED, tasks
                                   # SYSTEM_ERROR), DEGRADED (one task SYSTEM_ERROR, needs 2+
                                   # tasks), USER_ACTIONABLE_ERROR (connector FAILED, tasks
                                   # USER_ACTIONABLE_ERROR), CONFIG_ERROR (connector FAILED, no
                                   # tasks, "There were some errors with your configuration"
                                   # and validation errors: the spec's own FAILED example);
                                   # default: initial if that is one of these, else FAILED
    failed_task: SYSTEM_ERROR      # the failed task's state in a DEGRADED failure: SYSTEM_ERROR,
                                   # or USER_ACTIONABLE_ERROR (Confluent's status docs: DEGRADED
                                   # is tasks RUNNING or UNASSIGNED beside others UNASSIGNED,
                                   # SYSTEM_ERROR or USER_ACTIONABLE_ERROR); only with DEGRADED
    recover_after_restarts: 1      # the k-th restart made while the failure exists clears it for
                                   # good; `never`: restarts do not help. Restarting a connector
                                   # whose failure has not begun yet counts for nothing.
    refail_after: 4                # after a restart that does not clear the failure the connector
                                   # shows RUNNING this long before failing again; omitted: it
                                   # fails again as soon as the restart ends
    stall_at: 60                   # RUNNING, but its records counter stops and its lag
                                   # grows; a restart ends it (on Kafka Connect a restart of
                                   # every task: onlyFailed=true finds nothing failed)
    idle_at: 90                    # RUNNING, nothing upstream: no records and no lag; a
                                   # restart does not change it
    unassigned: {from: 0, until: 60, tasks: 1}   # tasks awaiting a worker: while the connector
                                   # would be RUNNING it shows DEGRADED, its last `tasks` tasks
                                   # UNASSIGNED and the others RUNNING (Confluent's status docs:
                                   # UNASSIGNED is "awaiting allocation to a cloud worker", and
                                   # DEGRADED covers RUNNING + UNASSIGNED tasks; the Terraform
                                   # provider waits through PROVISIONING -> DEGRADED -> RUNNING).
                                   # until omitted: for good. A restart does not change it.
    trace: "..."                   # the connector trace of the failure (default: realistic text)
    message: "..."                 # the failed tasks' msg (default: realistic text)
"""

from __future__ import annotations

import hashlib
from typing import Literal, cast, get_args

from pydantic import (
    ConfigDict,
    Field,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    model_validator,
)

from watchdog.simulator.spec_model import ConfigValue
from watchdog.simulator.spec_model import SpecModel as _Model

# STOPPED: Kafka Connect 3.5+ (KIP-875), a connector an operator stopped; it has no tasks.
InitialState = Literal[
    "RUNNING", "PROVISIONING", "PAUSED", "STOPPED", "FAILED", "DEGRADED", "USER_ACTIONABLE_ERROR",
    "CONFIG_ERROR",
]
FailureKind = Literal["FAILED", "DEGRADED", "USER_ACTIONABLE_ERROR", "CONFIG_ERROR"]
FAILURE_KINDS: frozenset[str] = frozenset(get_args(FailureKind))
# The connector states a restart can be refused in (the spec's enum less NONE and DELETED,
# which a listed connector never shows).
ConnectorState = Literal["PROVISIONING", "RUNNING", "DEGRADED", "FAILED", "PAUSED"]


class Flap(_Model):
    running_seconds: PositiveFloat
    failed_seconds: PositiveFloat


class UnassignedSpell(_Model):
    """Tasks awaiting allocation to a worker (connector DEGRADED, no task in error)."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_by_name=True)

    from_: NonNegativeFloat = Field(0.0, alias="from")
    until: NonNegativeFloat | None = None
    tasks: PositiveInt = 1

    @model_validator(mode="after")
    def _ordered(self) -> UnassignedSpell:
        if self.until is not None and self.until <= self.from_:
            raise ValueError("unassigned ends after it starts: until > from")
        return self


class Script(_Model):
    initial: InitialState = "RUNNING"
    provisioning_until: NonNegativeFloat | None = None
    fail_at: NonNegativeFloat | None = None
    flap: Flap | None = None
    failure: FailureKind | None = None
    failed_task: Literal["SYSTEM_ERROR", "USER_ACTIONABLE_ERROR"] = "SYSTEM_ERROR"
    recover_after_restarts: PositiveInt | Literal["never"] = 1
    refail_after: NonNegativeFloat | None = None
    stall_at: NonNegativeFloat | None = None
    idle_at: NonNegativeFloat | None = None
    unassigned: UnassignedSpell | None = None
    trace: str | None = None
    message: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Script:
        starts_failed = self.initial in FAILURE_KINDS
        if self.provisioning_until is not None and self.initial != "PROVISIONING":
            raise ValueError("provisioning_until needs initial: PROVISIONING")
        if self.fail_at is not None and self.flap is not None:
            raise ValueError("fail_at and flap exclude each other")
        if starts_failed and (self.fail_at is not None or self.flap is not None):
            raise ValueError(f"fail_at and flap have no effect: initial {self.initial} is failed")
        if starts_failed and self.failure not in (None, self.initial):
            raise ValueError(f"failure {self.failure} contradicts initial {self.initial}")
        if self.failed_task != "SYSTEM_ERROR" and self.failure_kind != "DEGRADED":
            raise ValueError("failed_task needs a DEGRADED failure (failure or initial: DEGRADED)")
        if self.refail_after is not None and self.recover_after_restarts == 1:
            raise ValueError(
                "refail_after has no effect when the first restart recovers: "
                "set recover_after_restarts to 2 or more, or never"
            )
        return self

    @property
    def failure_kind(self) -> FailureKind:
        if self.failure is not None:
            return self.failure
        if self.initial in FAILURE_KINDS:
            return cast(FailureKind, self.initial)
        return "FAILED"

    @property
    def failure_begins_at(self) -> float | None:
        """When the failure first shows (script time), or None if it never does."""
        if self.initial in FAILURE_KINDS:
            return 0.0
        if self.fail_at is not None:
            return self.fail_at
        if self.flap is not None:
            return self.flap.running_seconds
        return None


ListEntry = Literal["complete", "status_null", "status_empty", "status_missing", "connector_null"]


class ConnectorDefinition(_Model):
    """A connector without its name (the name comes from the list or from the URL)."""

    type: Literal["source", "sink"] = "source"
    shown_type: Literal["source", "sink", "unknown"] | None = None
    tasks: PositiveInt = 1
    id: str | None = Field(None, pattern=r"^c?lcc-[a-z0-9]+$")
    custom: bool = False
    config: dict[str, ConfigValue] = {}
    records_per_second: NonNegativeFloat = 10.0
    record_bytes: PositiveInt = 512
    list_entry: ListEntry = "complete"
    script: Script = Script()

    @model_validator(mode="after")
    def _degraded_needs_a_running_task(self) -> ConnectorDefinition:
        if self.script.failure_kind == "DEGRADED" and self.tasks < 2:
            raise ValueError("a DEGRADED connector needs tasks: 2 or more (one fails)")
        spell = self.script.unassigned
        if spell is not None and spell.tasks > self.tasks:
            raise ValueError(f"unassigned.tasks ({spell.tasks}) exceeds the connector's tasks ({self.tasks})")
        return self

    def resource_id(self, cluster: str, name: str) -> str:
        """The lcc- id (clcc- for a custom connector): the given one, or one derived from
        cluster and name (stable)."""
        if self.id is not None:
            return self.id
        digest = hashlib.sha256(f"{cluster}/{name}".encode()).digest()
        return ("clcc-" if self.custom else "lcc-") + _base36(int.from_bytes(digest[:8], "big"))


class ConnectorSpec(ConnectorDefinition):
    # Any name: Confluent Cloud paths carry it percent-encoded (see `routing`).
    name: str = Field(min_length=1)


class ConnectorChange(_Model):
    """A runtime change to one connector (the body of POST /_sim/connectors/{cluster}/{name})."""

    create: ConnectorDefinition | None = None
    delete: bool = False
    script: Script | None = None
    state: InitialState | None = None
    stalled: bool | None = None
    idle: bool | None = None
    unassigned: NonNegativeInt | None = None  # tasks awaiting a worker from now on; 0 ends it
    list_entry: ListEntry | None = None  # how its expanded-list entry looks from now on

    @model_validator(mode="after")
    def _something_to_do(self) -> ConnectorChange:
        wanted = self.model_fields_set - ({"delete"} if not self.delete else set())
        if not wanted:
            raise ValueError("give one of create, delete, script, state, stalled, idle, unassigned, list_entry")
        if wanted & {"create", "delete"} and len(wanted) > 1:
            raise ValueError("create and delete go alone")
        return self


def _base36(number: int, width: int = 6) -> str:
    """The last `width` base-36 digits of `number`, lower case like Cloud ids."""
    alphabet = "0123456789abcdefghijklmnopqrstuvwxyz"
    digits = []
    for _ in range(width):
        number, digit = divmod(number, 36)
        digits.append(alphabet[digit])
    return "".join(reversed(digits))
