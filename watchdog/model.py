"""The vocabulary shared by every module (see DESIGN.md, "Vocabulary").

Plain value types only: no I/O, no clock. The words here are the words in metrics, logs and docs.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class Trigger(StrEnum):
    SCHEDULE = "schedule"
    STATUS = "status"
    ALERT = "alert"
    STALLED = "stalled"  # RUNNING, but the Metrics API shows no data moving
    MANUAL = "manual"


# The rule name recorded for restarts asked for by name (the API, the CLI), which no rule decided;
# reserved: a config rule may not take it (config/checks.py).
MANUAL_RULE = "manual"
# The fleet-wide breaker's scope (watchdog_breaker_open{scope}, beside each cluster's name); reserved
# as a cluster name likewise.
FLEET = "fleet"


class Health(StrEnum):
    HEALTHY = "healthy"
    # Not actionable now: provisioning, paused, restarting, unassigned, unknown states.
    TRANSIENT = "transient"
    FAILED = "failed"
    # USER_ACTIONABLE_ERROR: a restart will not fix bad config or bad data.
    USER_ERROR = "user_error"


class Decision(StrEnum):
    """What the rules decided for one connector: `restart`, or the reason it was skipped."""

    RESTART = "restart"
    HEALTHY = "healthy"
    TRANSIENT = "transient"
    UNCONFIRMED = "unconfirmed"  # failure seen on fewer polls than the rule asks for
    USER_ERROR = "user_error"  # reported, not restarted (the rule did not opt in)
    BACKOFF = "backoff"
    BUDGET_SPENT = "budget_spent"  # max_restarts reached: the connector is marked gave-up
    DUPLICATE = "duplicate"  # a restart for it is already queued or in flight
    # Asked for by name (API, CLI) within queue.manual_restart_gap of its last restart.
    RECENTLY_RESTARTED = "recently_restarted"
    MISSING = "missing"  # named by a rule but not present in the cluster
    WINDOW_CLOSED = "window_closed"
    BREAKER_OPEN = "breaker_open"
    BLOCKED = "blocked"
    # Its name has `/`-separated `.` or `..` parts: a server that decodes %2F before routing
    # would send the call to another resource, so no call is made for it.
    UNADDRESSABLE = "unaddressable"
    # The restart was decided but the queue could not take it: nothing was queued.
    QUEUE_FULL = "queue_full"  # its lane holds queue.max_jobs_per_lane jobs already
    SHUTTING_DOWN = "shutting_down"  # the daemon is stopping and takes no new restarts


class Outcome(StrEnum):
    """The single terminal outcome of a restart job."""

    ACCEPTED = "accepted"  # 202
    REJECTED = "rejected"  # 400 (PROVISIONING, PAUSED) and other non-retryable 4xx
    UNAUTHORIZED = "unauthorized"  # 401
    FORBIDDEN = "forbidden"  # 403
    NOT_FOUND = "not_found"  # 404
    # 409 from self-managed Kafka Connect: a rebalance is under way (no known leader) or the
    # config is stale; worth retrying after a short wait. Confluent Cloud's 409 stays REJECTED.
    CONFLICT = "conflict"
    RATE_LIMITED = "rate_limited"  # still 429 after the allowed retries
    SERVER_ERROR = "server_error"  # 5xx (or a malformed answer) after the allowed retries
    NETWORK_ERROR = "network_error"  # timeouts, resets, refused connections after retries
    DRY_RUN = "dry_run"  # decided, logged and counted; no call sent
    DROPPED = "dropped"  # a status-triggered restart whose connector was healthy at its turn
    UNSENT = "unsent"  # still queued when the shutdown deadline passed
    CANCELLED = "cancelled"  # withdrawn before it was sent (a resolved alert)
    # The daemon stopped (a crash, kill -9) while the call was on the wire: it may or may not
    # have reached the API. Reported rather than sent again, so one request never restarts a
    # connector twice.
    INTERRUPTED = "interrupted"
    # The restart call may have reached the server (its answer never came: a read timeout, a
    # connection cut after the request was written) and was not safe to send again (a restart
    # of every instance). Not sent again; the next status poll judges what became of it.
    UNCONFIRMED = "unconfirmed"


# Outcomes that mean "the watchdog could not do what it was asked": --once exits non-zero on them.
ERROR_OUTCOMES = frozenset(
    {
        Outcome.REJECTED,
        Outcome.UNAUTHORIZED,
        Outcome.FORBIDDEN,
        Outcome.NOT_FOUND,
        Outcome.CONFLICT,
        Outcome.RATE_LIMITED,
        Outcome.SERVER_ERROR,
        Outcome.NETWORK_ERROR,
        Outcome.UNSENT,
        Outcome.INTERRUPTED,
        # Not a success either: nobody saw the restart accepted. --once says so with its exit code.
        Outcome.UNCONFIRMED,
    }
)

class Unusable(StrEnum):
    """Why an entry of a list answer could not be read (connect/entries.py); a metric label."""

    ENTRY_NOT_OBJECT = "entry_not_object"  # the entry is null, a string, a list...
    STATUS_MISSING = "status_missing"  # no `status` key (a connector being deleted may lose it)
    STATUS_NOT_OBJECT = "status_not_object"  # `status: null`, or not an object
    CONNECTOR_STATE_MISSING = "connector_state_missing"  # `status: {}`, `connector: null`, no state
    TASKS_NOT_LIST = "tasks_not_list"  # `tasks: 5`, `tasks: {...}`: no list of tasks to read
    # A self-managed connector's own status, read status by status (connect/status_by_status.py),
    # not read: larger than api.max_response_bytes (its traces), or refused 400 (Kafka Connect 4.x
    # routes no name with `/`, `%`, `\`, nor `.` or `..`)
    STATUS_NOT_READ = "status_not_read"
    # A name no connector can have (connector_name_problem: empty, over 255 characters, control
    # characters, not valid Unicode): ignored by the engine (StatusIntake.on_listing), counted here,
    # never put in a label. Only a warning said them, and `watchdog_connectors` left them out.
    CONNECTOR_NAME_UNUSABLE = "connector_name_unusable"


# Half of a UTF-16 surrogate pair alone: a str no encoder takes (JSON can carry one, escaped).
LONE_SURROGATE = re.compile("[\ud800-\udfff]")

# A JSON escape of a UTF-16 surrogate (paired or not: after reading, a pair is one character),
# or of NUL; or a surrogate's own three bytes (ED A0..BF xx), as a CESU-8 or Java "modified UTF-8"
# encoder writes one: not UTF-8, yet Python's JSON reader decodes bytes with `surrogatepass` and
# takes them, unescaped, into a str no store takes (a state holding one crashed every poll of
# its cluster with UnicodeEncodeError, and nothing of the cluster was judged); or a raw NUL
# byte, which the reader takes inside a string (lenient_json.read_json reads with strict=False).
UNSTORABLE_ESCAPE = re.compile(rb"\\u(?:[dD][89a-fA-F][0-9a-fA-F]{2}|0000)|\xed[\xa0-\xbf]|\x00")
# What no store takes: half of a surrogate pair alone, or NUL.
UNSTORABLE = re.compile("[\ud800-\udfff\x00]")


def whole_unicode(data: Any) -> Any:
    """`data` (JSON read from outside: an upstream answer, a webhook or API request body) with
    every unpaired surrogate and NUL in its string values replaced by U+FFFD: no store and no
    UTF-8 encoder takes them. Object keys are left as they came. Iterative: a body nested as deep
    as the JSON reader allows must not overflow the stack."""
    if isinstance(data, str):
        return UNSTORABLE.sub("\ufffd", data)
    pending = [data] if isinstance(data, dict | list) else []
    while pending:
        node = pending.pop()
        entries = list(node.items()) if isinstance(node, dict) else list(enumerate(node))
        for key, value in entries:
            if isinstance(value, str):
                if UNSTORABLE.search(value):
                    node[key] = UNSTORABLE.sub("\ufffd", value)
            elif isinstance(value, dict | list):
                pending.append(value)
    return data


# What whole_unicode leaves of a NUL or half a surrogate pair, which no name holds, and what a
# character lost on the way (a Latin-1 byte read as UTF-8) becomes: a name holding it cannot be
# told from a mangled one. The restart API refuses such a name (422) and the webhook's label is
# `unmatched` (AlertIntake._alert_target) with these words, rather than looked up as a name the
# caller never sent ("did you mean 'orders-sink'?", "not found in its cluster").
REPLACED_CHAR = "\ufffd"
REPLACED_PROBLEM = ("holds U+FFFD, what a NUL, half a surrogate pair or a character lost on the way becomes: "
                    "send the name as UTF-8 text")

# Kafka Connect and Confluent Cloud take names up to this long (the restart API's own limit).
MAX_CONNECTOR_NAME_CHARS = 255

# The most restarts one `GET /v1/history` answers (its `limit`, 1..1000); `watchdog history
# --daemon` asks for no more than this, whatever its --limit (cli/reports.py).
MAX_HISTORY_SERVED = 1000


def connector_name_problem(name: str) -> str | None:
    """Why a name cannot be a connector's (None when it can): empty, longer than 255 characters,
    holding control characters (which no Connect API accepts, and which would reach URLs,
    logs and terminals), or not valid Unicode (an unpaired surrogate, which a JSON answer may
    escape: no URL can address it, and the state store cannot keep it). Names are never quoted
    back: they may be huge or hostile."""
    if not name:
        return "is empty"
    if len(name) > MAX_CONNECTOR_NAME_CHARS:
        return f"is {len(name)} characters long; connector names have at most {MAX_CONNECTOR_NAME_CHARS}"
    if any(ord(c) < 32 or 127 <= ord(c) < 160 for c in name):
        return "contains control characters"
    if LONE_SURROGATE.search(name):
        return "is not valid Unicode (an unpaired surrogate)"
    return None


@dataclass(frozen=True, slots=True)
class ConnectorKey:
    cluster: str  # the cluster's name in the config, not its lkc- id
    connector: str

    def __str__(self) -> str:
        return f"{self.cluster}/{self.connector}"


@dataclass(frozen=True, slots=True)
class TaskStatus:
    id: int
    state: str
    msg: str = ""
    trace: str = ""


@dataclass(frozen=True, slots=True)
class ConnectorStatus:
    """One connector as the Connect API reported it. Unknown fields are dropped on parse."""

    name: str
    state: str
    type: str = "unknown"
    trace: str = ""
    tasks: tuple[TaskStatus, ...] = ()
    resource_id: str | None = None  # the lcc- id, only from the list call's `expand=id`
    # Why its list entry could not be read, if it could not: such a connector is listed, so its
    # remembered state is kept, but nothing is known about its health.
    unusable: Unusable | None = None
    # Confluent Cloud's `validation_errors` ("field: message"), an extra of failing statuses that
    # the spec does not promise (research note §2.3).
    validation_errors: tuple[str, ...] = ()
    # From the list call's `info` expansion: `connector.class`, and whether `info.config` says
    # `confluent.connector.type: CUSTOM` (a custom connector: its metrics are in another dataset).
    connector_class: str = ""
    custom: bool = False

    def failure_evidence(self) -> dict[str, Any]:
        """The connector and task messages a restart will erase, for logs and history: each text
        cut to EVIDENCE_TEXT_CHARS, and at most EVIDENCE_TASKS tasks (see `evidence_text`)."""
        # Tasks in error first: listed in order, twelve awaiting a worker before the one FAILED
        # task of fifty filled the ten kept, and the trace that explained the restart was lost.
        failed = sorted((t for t in self.tasks if t.state != "RUNNING"),
                        key=lambda t: t.state.upper() not in _TASK_ERROR_STATES)
        evidence: dict[str, Any] = {
            "state": self.state,
            "trace": evidence_text(self.trace),
            "tasks": [
                {"id": t.id, "state": t.state, "msg": evidence_text(t.msg), "trace": evidence_text(t.trace)}
                for t in failed[:EVIDENCE_TASKS]
            ],
        }
        if len(failed) > EVIDENCE_TASKS:
            evidence["tasks_left_out"] = len(failed) - EVIDENCE_TASKS
        if self.validation_errors:
            evidence["validation_errors"] = [evidence_text(e) for e in self.validation_errors[:EVIDENCE_TASKS]]
        return evidence


# Evidence goes into a log line per restart decision and into each history record (up to
# state.history.max_entries per connector, and GET /v1/history returns up to 1000): a trace of
# megabytes from upstream made a log line of megabytes (which log shippers drop or split) and
# megabytes of state file per restart. A Java trace's head names the exception and its tail the
# root cause ("Caused by: ..."): both are kept.
EVIDENCE_TEXT_CHARS = 4096
EVIDENCE_TEXT_TAIL_CHARS = 1024
EVIDENCE_TASKS = 10
# The task states of a failure (rules.classify), whose messages an evidence keeps first.
_TASK_ERROR_STATES = frozenset({"FAILED", "SYSTEM_ERROR", "USER_ACTIONABLE_ERROR"})


def evidence_text(text: str) -> str:
    """`text` whole if it fits EVIDENCE_TEXT_CHARS, else its head and its tail around a line
    saying how much was left out."""
    if len(text) <= EVIDENCE_TEXT_CHARS:
        return text
    head = EVIDENCE_TEXT_CHARS - EVIDENCE_TEXT_TAIL_CHARS
    left_out = len(text) - EVIDENCE_TEXT_CHARS
    return f"{text[:head]}\n... ({left_out} characters left out) ...\n{text[-EVIDENCE_TEXT_TAIL_CHARS:]}"


@dataclass(frozen=True, slots=True)
class RestartRequest:
    """One ask to restart one connector, from one rule and trigger."""

    id: str
    key: ConnectorKey
    rule: str
    trigger: Trigger
    reason: str
    requested_at: datetime
    dry_run: bool = False
    origin: str = ""  # what asked: an alert's fingerprint, so that its resolution can withdraw it
    # The lcc- id its connector was listed with when a failure trigger (a poll, an alert, a stall
    # check) decided the restart: the failure was that connector's. Deleted and created again under
    # its name before the restart's turn (Terraform replacing it), the name is another connector's,
    # which nobody judged (gates.replaced_since_asked). "" for a restart asked for by name (a
    # person, a schedule: the connector under the name is the one meant), where no id was listed
    # (Kafka Connect has none), and for one recovered from the state file, which does not keep it.
    resource_id: str = field(default="", compare=False)
    # Which Kafka cluster its cluster's name stood for when it was asked (CloudCluster.address:
    # "env-1/lkc-1"). A reload that points the name at another cluster before the restart's turn
    # (a typo fixed, a cluster moved) must not send it there: the connector of that name there is
    # another one, nobody judged it, and its first listing may come after the queue's turn
    # (gates.repointed_since_asked). "" for self-managed Kafka Connect (nothing to compare) and
    # for a request recovered from the state file, which does not keep it.
    cluster_address: str = field(default="", compare=False)


@dataclass(frozen=True, slots=True)
class ConnectorState:
    """What the watchdog remembers about one connector between polls (and, later, restarts)."""

    consecutive_failures: int = 0  # polls in a row that saw it failed (transient polls are neutral)
    attempts: int = 0  # restarts since the counter last reset: n in Strimzi's gap(n)
    last_restart_at: datetime | None = None
    next_allowed_at: datetime | None = None
    gave_up: bool = False
    health: Health | None = None
    healthy_since: datetime | None = None
    # The last failure restart came from an alert or a stall check: the status API cannot see
    # that failure (a stalled connector is RUNNING), so health seen by polling resets the backoff
    # only after that signal has cleared.
    awaiting_resolution: bool = False


@dataclass(frozen=True, slots=True)
class HistoryRecord:
    """One finished restart job, as `watchdog history` shows it and the state store keeps it."""

    at: datetime  # when the job ended
    key: ConnectorKey
    job_id: str
    rule: str
    trigger: Trigger  # of the first request; `triggers` lists every request the job served
    triggers: tuple[Trigger, ...]
    outcome: Outcome
    status_code: int | None = None
    request_id: str | None = None  # Confluent's X-Request-Id of the last call
    message: str = ""
    tries: int = 0
    attempt: int | None = None  # the connector's restart count after this job (failure triggers)
    # The connector and task state, trace and msg captured before the restart erased them.
    evidence: dict[str, Any] | None = None
    recommendations: tuple[str, ...] = ()  # Confluent's error-recommendations, when asked for
    # Who asked and why: the reason and origin (an alert's fingerprint, "" for the others) of the
    # request the job served that `asked_by` picks. None in a record written before they were kept
    # (or by an older release after a rollback): its reason is not known. Kept only in the
    # pending request, they went with it when the job ended: `watchdog history` could not say who
    # restarted a connector at 02:14, and why, though a person had typed it (`--reason`).
    reason: str | None = None
    origin: str | None = None


def asked_by(requests: Sequence[RestartRequest]) -> RestartRequest:
    """The request whose reason and origin a job's history record keeps, of those it served: the
    first a person asked for by name (`watchdog restart`, POST /v1/restart), whose words nothing
    else keeps, else the first (the job's primary request). A person's restart that joined a
    schedule's is remembered by the person's reason; the other requests are in `triggers`, and
    each one's reason in its `restart_queued` line."""
    return next((r for r in requests if r.trigger is Trigger.MANUAL), requests[0])


class PendingPhase(StrEnum):
    QUEUED = "queued"  # accepted, not yet sent
    SENDING = "sending"  # the call may have gone out: the attempt is already counted


@dataclass(frozen=True, slots=True)
class PendingRequest:
    """A restart request accepted but not finished, persisted so a crash cannot lose it."""

    request: RestartRequest
    job_id: str
    phase: PendingPhase = PendingPhase.QUEUED
