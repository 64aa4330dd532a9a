"""`watchdog history` and the history route: finished restarts, as JSON (and read back from it)
and as a table, with the one line of captured error that says what was wrong."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from ..logs import printable
from ..model import ConnectorKey, HistoryRecord, Outcome, Trigger
from .formatting import (
    distinct_name,
    format_moment,
    format_timestamp,
    parse_timestamp,
    render_table,
    shorten,
)

# The captured error is cut to this many characters in the history table; JSON keeps it whole.
ERROR_WIDTH = 100
# So is the reason a restart was asked for (up to 500 characters, a person's --reason): a column
# wide enough for "INC-4711: lag on orders, asked by alice", no wider, so the error still fits.
REASON_WIDTH = 40


def history_json(records: Iterable[HistoryRecord]) -> dict[str, Any]:
    """The history route of the API and `watchdog history --json`, newest first as given."""
    return {"restarts": [_record_json(record) for record in records]}


def _record_json(record: HistoryRecord) -> dict[str, Any]:
    return {
        "at": format_timestamp(record.at),
        "cluster": record.key.cluster,
        "connector": record.key.connector,
        "job_id": record.job_id,
        "rule": record.rule,
        "trigger": record.trigger.value,
        "triggers": [trigger.value for trigger in record.triggers],
        "outcome": record.outcome.value,
        "status_code": record.status_code,
        "request_id": record.request_id,
        "message": record.message,
        "tries": record.tries,
        "attempt": record.attempt,
        # Derived, for readers that want the one line the table shows; ignored when read back.
        "error": captured_error(record),
        "evidence": record.evidence,
        "recommendations": list(record.recommendations),
        # Who asked and why, whole (model.asked_by): null in a record from before they were kept.
        "reason": record.reason,
        "origin": record.origin,
    }


def history_from_json(document: Mapping[str, Any]) -> list[HistoryRecord]:
    """The inverse of `history_json`."""
    return [_record_from_json(item) for item in document["restarts"]]


def _record_from_json(item: Mapping[str, Any]) -> HistoryRecord:
    return HistoryRecord(
        at=parse_timestamp(item["at"]),
        key=ConnectorKey(item["cluster"], item["connector"]),
        job_id=item["job_id"],
        rule=item["rule"],
        trigger=Trigger(item["trigger"]),
        triggers=tuple(Trigger(value) for value in item["triggers"]),
        outcome=Outcome(item["outcome"]),
        status_code=item["status_code"],
        request_id=item["request_id"],
        message=item["message"],
        tries=item["tries"],
        attempt=item["attempt"],
        evidence=item["evidence"],
        recommendations=tuple(item["recommendations"]),
        reason=item.get("reason"),  # a daemon of an older release does not say
        origin=item.get("origin"),
    )


# -- the captured error --------------------------------------------------------------------------


# Outcomes of a restart that was not sent (or not sent again): what matters is why not.
_HELD_BACK = frozenset({Outcome.DROPPED, Outcome.CANCELLED})
# Outcomes of a restart that may or may not have been made: what matters is that. So is a network
# error whose last call got no answer, which its message says (queue/dispatch.py's NO_ANSWER_NOTE).
_MADE_OR_NOT = frozenset({Outcome.UNCONFIRMED, Outcome.INTERRUPTED})
_NO_ANSWER_SAID = "may have reached the API"
# Begins the message of a restart answered 202 that restarted nothing (connect/kafka_connect.py's
# NOTHING_FAILED): the failure the history captured before it is not what that restart acted on.
_RESTARTED_NOTHING = "restarted nothing:"
_MAY_HAVE_BEEN_MADE = "may have been made: "


def captured_error(record: HistoryRecord) -> str:
    """The one line that says what was wrong: the first line of the connector's trace, else of
    the first failed task's msg or trace (as captured before the restart erased them), else the
    job's own message (the API's error, for a restart that was refused). Empty when none.
    For a restart held back (dropped, cancelled), its message first: why it was not sent. The
    trace shown there read as the reason (`dropped  -  ConnectException: ...` for a connector
    that had healed before its turn), and the reason was in the JSON alone. For one that may or
    may not have been made (unconfirmed, interrupted, a network error whose last call got no
    answer), that first, then its message: the trace hid it (`network_error  ConnectException:
    boom` for a restart whose call timed out after it went), and the message, cut at the column's
    width, may end before it says so. For a restart that restarted nothing (a 202 naming no
    instance), that, not the old failure."""
    said = _first_line(record.message)
    if record.outcome in _HELD_BACK and said:
        return said
    if said.startswith(_RESTARTED_NOTHING):
        # Accepted, yet no instance was FAILED when it arrived (the connector recovered, or was
        # created again): the old trace beside `accepted 202` read as a failure restarted.
        return said
    if said and (record.outcome in _MADE_OR_NOT or (record.outcome is Outcome.NETWORK_ERROR and _NO_ANSWER_SAID in said)):
        return f"{_MAY_HAVE_BEEN_MADE}{said}"
    for text in _error_texts(record.evidence or {}):
        line = _first_line(text)
        if line:
            return line
    return _first_line(record.message)


def _error_texts(evidence: Mapping[str, Any]) -> Iterable[str]:
    # Evidence is stored as captured; read it defensively, an older record may lack a key.
    yield str(evidence.get("trace") or "")
    for task in evidence.get("tasks") or ():
        for field in ("msg", "trace"):
            text = _first_line(str(task.get(field) or ""))
            if text:
                yield f"task {task.get('id', '?')}: {text}"
                break


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


# -- the table -------------------------------------------------------------------------------------

# RULE: which rule's restart it was (the question "why did it restart Y five times?" is often
# "which rule?"); it was in --json alone.
# REASON: why it was asked for (a person's --reason, an alert's summary, `scheduled`): kept in the
# history since 2026-12-04 (before, `-`), it was in the restart_queued log line alone.
HISTORY_HEADER = ("TIME", "CONNECTOR", "RULE", "TRIGGER", "REASON", "OUTCOME", "HTTP", "ERROR")


def render_history(records: Sequence[HistoryRecord], *, now: datetime) -> str:
    if not records:
        return "No restarts recorded."
    body = [_history_cells(record, now) for record in records]
    return render_table(HISTORY_HEADER, body, right_aligned=set())


def _history_cells(record: HistoryRecord, now: datetime) -> tuple[str, ...]:
    triggers = record.triggers or (record.trigger,)
    return (
        format_moment(record.at, now),
        f"{record.key.cluster}/{distinct_name(record.key.connector)}",
        record.rule or "-",
        "+".join(trigger.value for trigger in triggers),
        # On one line (a reason may hold line breaks and tabs, which printable would show as \n),
        # escaped before it is cut, so that an escape (`\x1b`) does not widen the column past its width.
        shorten(printable(" ".join((record.reason or "").split())), REASON_WIDTH) or "-",
        record.outcome.value,
        "-" if record.status_code is None else str(record.status_code),
        shorten(captured_error(record), ERROR_WIDTH) or "-",
    )
