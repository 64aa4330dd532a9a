"""`watchdog status` and `watchdog history`: exact tables for a fixed `now`, and the JSON shapes the
API and `--json` share."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from watchdog.model import ConnectorKey, ConnectorState, Health, HistoryRecord, Outcome, Trigger
from watchdog.report import (
    ClusterPlace,
    StatusRow,
    captured_error,
    format_timestamp,
    history_from_json,
    history_json,
    parse_timestamp,
    places_from_json,
    render_history,
    render_status,
    status_json,
    status_rows_from_json,
)

NOW = datetime(2026, 3, 29, 12, 0, tzinfo=timezone.utc)
BILLING = ConnectorKey("prod", "billing-sink")
ORDERS = ConnectorKey("prod", "orders-source")
AUDIT = ConnectorKey("staging", "audit")

ROWS = [
    StatusRow(
        BILLING,
        ConnectorState(
            attempts=3, last_restart_at=NOW - timedelta(minutes=3, seconds=20),
            next_allowed_at=NOW + timedelta(minutes=8, seconds=40), health=Health.FAILED,
        ),
        "FAILED",
        NOW,  # one poll stamps every connector of its cluster with the same time
    ),
    StatusRow(
        ORDERS,
        ConnectorState(
            consecutive_failures=4, attempts=12, last_restart_at=NOW - timedelta(hours=2, minutes=5),
            next_allowed_at=NOW - timedelta(minutes=1), gave_up=True, health=Health.FAILED,
        ),
        "FAILED",
        NOW,
    ),
    StatusRow(
        AUDIT,
        ConnectorState(health=Health.HEALTHY, healthy_since=NOW - timedelta(days=1), next_allowed_at=NOW),
        "RUNNING",
        NOW,
    ),
    StatusRow(ConnectorKey("staging", "new-one"), ConnectorState()),
]

JAVA_TRACE = (
    "org.apache.kafka.connect.errors.ConnectException: Failed to connect to database: password "
    'authentication failed for user "etl" (SQLState 28P01)\n\tat io.confluent.Foo.bar(Foo.java:12)'
)

RECORDS = [
    HistoryRecord(
        at=NOW - timedelta(seconds=45), key=BILLING, job_id="j3", rule="heal", trigger=Trigger.STATUS,
        triggers=(Trigger.STATUS, Trigger.ALERT), outcome=Outcome.ACCEPTED, status_code=202, request_id="rq-9",
        tries=1, attempt=3, evidence={"state": "FAILED", "trace": JAVA_TRACE, "tasks": []},
        recommendations=("Check the database password",), reason="failed: connector FAILED", origin="",
    ),
    HistoryRecord(
        at=NOW - timedelta(days=2, hours=3), key=ORDERS, job_id="j2", rule="heal", trigger=Trigger.STATUS,
        triggers=(Trigger.STATUS,), outcome=Outcome.SERVER_ERROR, status_code=503, tries=4, attempt=12,
        evidence={
            "state": "RUNNING", "trace": "",
            "tasks": [{"id": 1, "state": "FAILED", "msg": "", "trace": "\n  java.lang.OutOfMemoryError: heap\n at x"}],
        },
    ),
    HistoryRecord(
        at=NOW - timedelta(days=3), key=AUDIT, job_id="j1", rule="nightly", trigger=Trigger.SCHEDULE,
        triggers=(Trigger.SCHEDULE,), outcome=Outcome.REJECTED, status_code=400, tries=1,
        message="HTTP 400: connector is paused", reason="scheduled", origin="",
    ),
    HistoryRecord(
        at=NOW - timedelta(days=3), key=AUDIT, job_id="j0", rule="nightly", trigger=Trigger.SCHEDULE, triggers=(),
        outcome=Outcome.DRY_RUN,
    ),
]


PLACES = {
    "prod": ClusterPlace("env-abc123", "production", "lkc-prod01"),
    "staging": ClusterPlace("env-def456", None, "lkc-stag01"),
    "lkc-9x7y": ClusterPlace("env-abc123", "production", "lkc-9x7y", display_name="Clickstream EU"),
}


def test_status_table_groups_by_environment_and_cluster() -> None:
    rows = [*ROWS, StatusRow(ConnectorKey("lkc-9x7y", "clicks-sink"), ConnectorState(health=Health.HEALTHY), "RUNNING")]
    assert render_status(rows, now=NOW, places=PLACES) == (
        "ENVIRONMENT env-abc123 (production)\n"
        "  CLUSTER lkc-9x7y (Clickstream EU)\n"
        "    CONNECTOR      HEALTH   STATE    ATTEMPTS  LAST RESTART                      NEXT ALLOWED  GAVE UP\n"
        "    clicks-sink    healthy  RUNNING         0  -                                 now           no\n"
        "  CLUSTER prod (lkc-prod01)\n"
        "    CONNECTOR      HEALTH   STATE    ATTEMPTS  LAST RESTART                      NEXT ALLOWED  GAVE UP\n"
        "    billing-sink   failed   FAILED          3  2026-03-29T11:56:40Z (3m ago)     in 8m         no\n"
        "    orders-source  failed   FAILED         12  2026-03-29T09:55:00Z (2h05m ago)  when healthy  yes\n"
        "\n"
        "ENVIRONMENT env-def456\n"
        "  CLUSTER staging (lkc-stag01)\n"
        "    CONNECTOR      HEALTH   STATE    ATTEMPTS  LAST RESTART                      NEXT ALLOWED  GAVE UP\n"
        "    audit          healthy  RUNNING         0  -                                 now           no\n"
        "    new-one        -        -               0  -                                 now           no"
    )


def test_status_table_without_places_groups_by_cluster_under_an_unknown_environment() -> None:
    text = render_status(ROWS[2:], now=NOW, places={"prod": PLACES["prod"]})
    assert text.splitlines()[:2] == [
        "ENVIRONMENT unknown (not in the config: discovered clusters are placed by `--daemon URL`)",
        "  CLUSTER staging",
    ]


def test_status_json_says_where_each_cluster_is_when_asked() -> None:
    document = status_json(ROWS[:1], PLACES)
    assert {k: document["connectors"][0][k] for k in ("environment_id", "environment_name", "kafka_cluster_id",
                                                     "cluster_display_name", "self_managed")} == {
        "environment_id": "env-abc123", "environment_name": "production", "kafka_cluster_id": "lkc-prod01",
        "cluster_display_name": None, "self_managed": False,
    }
    assert places_from_json(json.loads(json.dumps(document))) == {"prod": PLACES["prod"]}
    assert "environment_id" not in status_json(ROWS[:1])["connectors"][0]


def test_a_connector_the_last_poll_did_not_list_is_shown_gone_with_what_it_was() -> None:
    # Deleted 50 minutes ago: its state is kept (state.forget_vanished_after), and the status
    # table showed it FAILED, as if it still existed and was failing.
    gone = StatusRow(ConnectorKey("prod", "deleted-sink"), ConnectorState(health=Health.FAILED, attempts=2),
                     "FAILED", NOW - timedelta(minutes=50))
    lines = render_status([ROWS[0], gone], now=NOW).splitlines()
    assert lines[3].split()[:3] == ["billing-sink", "failed", "FAILED"]
    assert lines[4].startswith("    deleted-sink  failed  gone (last seen FAILED 50m ago)  "), lines
    # NEXT ALLOWED: nothing is due of a connector that is gone (it said `now`, read as a restart
    # about to go to a connector the watchdog will never restart).
    assert lines[4].split()[-2:] == ["-", "no"], lines[4]
    # Alone in its cluster (or the cluster's poll failing), nothing says the others were listed.
    assert render_status([gone], now=NOW).splitlines()[3].split()[:3] == ["deleted-sink", "failed", "FAILED"]


def test_status_table_when_nothing_is_watched() -> None:
    assert render_status([], now=NOW) == "No watched connectors."


@pytest.mark.parametrize(
    ("ago", "shown"),
    [
        (timedelta(0), "0s ago"),
        (timedelta(seconds=59.9), "59s ago"),
        (timedelta(seconds=60), "1m ago"),
        (timedelta(minutes=59, seconds=59), "59m ago"),
        (timedelta(hours=1), "1h00m ago"),
        (timedelta(hours=23, minutes=59), "23h59m ago"),
        (timedelta(days=1), "1d00h ago"),
        (timedelta(days=400, hours=5), "400d05h ago"),
        (-timedelta(minutes=2), "in 2m"),  # a clock that moved back: say so rather than "-2m ago"
    ],
)
def test_relative_times(ago: timedelta, shown: str) -> None:
    row = StatusRow(BILLING, ConnectorState(last_restart_at=NOW - ago))
    assert f"({shown})" in render_status([row], now=NOW)


def test_history_table() -> None:
    # RULE: the rule whose restart it was ("why did it restart Y five times?" is often "which
    # rule?"); the table showed the trigger alone, the rule was in --json only. REASON: why it was
    # asked for (2026-12-04; before, in the restart_queued log line alone), `-` for a record from
    # before it was kept.
    assert render_history(RECORDS, now=NOW) == (
        "TIME                              CONNECTOR           RULE     TRIGGER       REASON                    "
        "OUTCOME       HTTP  ERROR\n"
        "2026-03-29T11:59:15Z (45s ago)    prod/billing-sink   heal     status+alert  failed: connector FAILED  "
        "accepted      202   "
        "org.apache.kafka.connect.errors.ConnectException: Failed to connect to database: password authent...\n"
        "2026-03-27T09:00:00Z (2d03h ago)  prod/orders-source  heal     status        -                         "
        "server_error  503   task 1: java.lang.OutOfMemoryError: heap\n"
        "2026-03-26T12:00:00Z (3d00h ago)  staging/audit       nightly  schedule      scheduled                 "
        "rejected      400   HTTP 400: connector is paused\n"
        "2026-03-26T12:00:00Z (3d00h ago)  staging/audit       nightly  schedule      -                         "
        "dry_run       -     -"
    )


def test_history_table_when_nothing_happened() -> None:
    assert render_history([], now=NOW) == "No restarts recorded."


@pytest.mark.parametrize(
    ("evidence", "message", "error"),
    [
        ({"trace": "Boom\nat x", "tasks": [{"id": 0, "msg": "task msg"}]}, "HTTP 500", "Boom"),
        ({"trace": "", "tasks": [{"id": 0, "state": "RUNNING"}, {"id": 2, "msg": "Bad creds", "trace": "T"}]}, "", "task 2: Bad creds"),
        ({"trace": "  \n", "tasks": [{"id": 3, "msg": "", "trace": "\nOOM\nat y"}]}, "", "task 3: OOM"),
        ({"state": "FAILED"}, "HTTP 404: not found\nbody", "HTTP 404: not found"),  # older evidence, no keys
        (None, "", ""),
    ],
)
def test_the_captured_error_prefers_the_connector_trace_then_tasks_then_the_message(
    evidence: dict[str, object] | None, message: str, error: str
) -> None:
    record = HistoryRecord(
        at=NOW, key=BILLING, job_id="j", rule="r", trigger=Trigger.STATUS, triggers=(), outcome=Outcome.ACCEPTED,
        message=message, evidence=evidence,
    )
    assert captured_error(record) == error


@pytest.mark.parametrize("outcome", [Outcome.DROPPED, Outcome.CANCELLED])
def test_a_restart_held_back_shows_why_it_was_not_sent(outcome: Outcome) -> None:
    # `watchdog history` showed a restart dropped because its connector had healed before its
    # turn as `dropped  -  org.apache...ConnectException: ...`: the trace read as the reason, and
    # the reason (the job's message) was in --json alone.
    record = HistoryRecord(
        at=NOW - timedelta(seconds=5), key=BILLING, job_id="j", rule="heal", trigger=Trigger.STATUS,
        triggers=(Trigger.STATUS,), outcome=outcome, message="connector healthy again before its turn",
        evidence={"state": "FAILED", "trace": JAVA_TRACE, "tasks": []},
    )
    row = render_history([record], now=NOW).splitlines()[1]
    assert row.endswith(f"{outcome.value}  -     connector healthy again before its turn"), row
    assert history_json([record])["restarts"][0]["error"] == "connector healthy again before its turn"
    withdrawn = replace(record, message="")  # a cancelled job says nothing: the trace, as before
    assert captured_error(withdrawn).startswith("org.apache.kafka.connect.errors.ConnectException")


def test_status_json_shape_and_round_trip() -> None:
    document = status_json(ROWS)
    assert document["connectors"][1] == {
        "cluster": "prod",
        "connector": "orders-source",
        "health": "failed",
        "seen_state": "FAILED",
        "seen_at": "2026-03-29T12:00:00.000000+00:00",
        "gone": False,
        "unwatched": False,
        "cluster_unwatched": False,
        "consecutive_failures": 4,
        "attempts": 12,
        "last_restart_at": "2026-03-29T09:55:00.000000+00:00",
        "next_allowed_at": "2026-03-29T11:59:00.000000+00:00",
        "gave_up": True,
        "healthy_since": None,
        "dry_run": False,
        "last_restart_live": False,
        "held": None,
        "attempts_not_accepted": None,
        "stall_only": False,  # a status rule selects it (a stalled rule alone: only a stall check restarts it)
        "stall": None,  # no stalled rule selects it (56a9351: the stall check's last word where one does)
    }
    assert document["connectors"][3]["health"] is None and document["connectors"][3]["seen_at"] is None
    read = status_rows_from_json(json.loads(json.dumps(document)))
    # Read back, each row says whether it is gone, as the document did (ROWS leave it to seen_at).
    assert [replace(row, gone=None) for row in read] == ROWS
    assert [row.gone for row in read] == [item["gone"] for item in document["connectors"]]


def test_history_json_shape_and_round_trip() -> None:
    document = history_json(RECORDS)
    assert document["restarts"][0] == {
        "at": "2026-03-29T11:59:15.000000+00:00",
        "cluster": "prod",
        "connector": "billing-sink",
        "job_id": "j3",
        "rule": "heal",
        "trigger": "status",
        "triggers": ["status", "alert"],
        "outcome": "accepted",
        "status_code": 202,
        "request_id": "rq-9",
        "message": "",
        "tries": 1,
        "attempt": 3,
        "error": JAVA_TRACE.splitlines()[0],
        "evidence": {"state": "FAILED", "trace": JAVA_TRACE, "tasks": []},
        "recommendations": ["Check the database password"],
        "reason": "failed: connector FAILED",
        "origin": "",
    }
    assert history_from_json(json.loads(json.dumps(document))) == RECORDS
    # A record from before reasons were kept says null; a daemon of an older release says nothing.
    assert document["restarts"][1]["reason"] is None and document["restarts"][1]["origin"] is None
    older = [{k: v for k, v in item.items() if k not in ("reason", "origin")} for item in document["restarts"]]
    assert [r.reason for r in history_from_json({"restarts": older})] == [None] * len(RECORDS)


def test_timestamps_are_fixed_width_utc_and_exact() -> None:
    plus_two = timezone(timedelta(hours=2))
    moment = datetime(2026, 3, 29, 14, 0, 0, 7, tzinfo=plus_two)
    assert format_timestamp(moment) == "2026-03-29T12:00:00.000007+00:00"
    assert format_timestamp(NOW) == "2026-03-29T12:00:00.000000+00:00"
    assert parse_timestamp(format_timestamp(moment)) == moment
    with pytest.raises(ValueError, match="has no time zone"):
        format_timestamp(datetime(2026, 3, 29, 12, 0))
    with pytest.raises(ValueError, match="has no time zone"):
        parse_timestamp("2026-03-29T12:00:00")


# -- terminal escapes from upstream are shown, never obeyed (issue 12, item 16) -------------------

HOSTILE = "\x1b]0;pwned\x07\x1b[2J\x1b[H\u202e"


def test_tables_escape_what_a_terminal_would_obey() -> None:
    key = ConnectorKey("prod", f"sink{HOSTILE}")
    row = StatusRow(key=key, state=ConnectorState(health=Health.FAILED), seen_state=f"FAILED{HOSTILE}", seen_at=NOW)
    record = HistoryRecord(at=NOW, key=key, job_id="j1", rule="heal", trigger=Trigger.STATUS, triggers=(Trigger.STATUS,),
                           outcome=Outcome.ACCEPTED, status_code=202, evidence={"trace": f"boom{HOSTILE}\nline 2", "tasks": []})
    for text in (render_status([row], now=NOW), render_history([record], now=NOW)):
        assert not any(c in text for c in "\x1b\x07\u202e"), "a control character reached the terminal"
        assert "\\x1b]0;pwned\\x07\\x1b[2J" in text, "the escape is shown, not hidden"


def test_a_name_with_spaces_at_its_ends_is_quoted_so_that_it_does_not_look_like_another() -> None:
    # `orders-sink` (healthy) and `orders-sink ` (FAILED) showed as two identical rows, and the
    # history's restart of the second read as one of the first (found by a probe of the CLI).
    rows = [StatusRow(ConnectorKey("prod", name), ConnectorState(health=health), "RUNNING", NOW)
            for name, health in (("orders-sink", Health.HEALTHY), ("orders-sink ", Health.FAILED))]
    table = render_status(rows, now=NOW)
    assert "    orders-sink  " in table and "    'orders-sink '  " in table
    record = HistoryRecord(at=NOW, key=ConnectorKey("prod", "orders-sink "), job_id="j1", rule="heal",
                           trigger=Trigger.STATUS, triggers=(Trigger.STATUS,), outcome=Outcome.ACCEPTED, status_code=202)
    assert "prod/'orders-sink '" in render_history([record], now=NOW)


def test_table_columns_line_up_whatever_script_a_name_is_written_in() -> None:
    # A connector named in Chinese or Japanese, or with an emoji, takes two columns of the terminal
    # per such character, and an accent written as a combining mark none: padded by characters,
    # every column after such a name stood one column further right (or left) per character,
    # `watchdog status` and `watchdog history` alike.
    names = ["orders-sink", "注文-シンク", "sink-😀", "e\u0301clair-sink"]
    # What a terminal shows of each: the wide characters two columns, the combining accent none.
    shown_width = {"orders-sink": 11, "注文-シンク": 11, "sink-😀": 7, "e\u0301clair-sink": 11}
    rows = [StatusRow(ConnectorKey("prod", name), ConnectorState(health=Health.HEALTHY), "RUNNING", NOW) for name in names]
    lines = render_status(rows, now=NOW).splitlines()[3:]
    assert len(lines) == len(names)
    for line in lines:
        name = next(n for n in names if line.startswith(f"    {n} "))
        after = line[4 + len(name):]
        # The HEALTH column begins at the same terminal column on every line.
        assert 4 + shown_width[name] + len(after) - len(after.lstrip(" ")) == 4 + 11 + 2, (line, name)
    records = [HistoryRecord(at=NOW, key=ConnectorKey("prod", name), job_id="j", rule="heal", trigger=Trigger.STATUS,
                             triggers=(Trigger.STATUS,), outcome=Outcome.ACCEPTED, status_code=202) for name in names]
    for line in render_history(records, now=NOW).splitlines()[1:]:
        name = next(n for n in names if f"prod/{n}" in line)
        before, after = line.split(f"prod/{name}")
        assert len(before) + len("prod/") + shown_width[name] + len(after) - len(after.lstrip(" ")) == \
            len(before) + len("prod/") + 11 + 2, line


@pytest.mark.parametrize(("outcome", "message"), [
    (Outcome.UNCONFIRMED, "no answer (ReadTimeout: nothing read within the read timeout (30s)) after the request may "
                          "have reached the API; not sent again; it may still run later (a hung server runs it once "
                          "it resumes). A poll cannot show a restart of a RUNNING connector: `watchdog "
                          "status` shows its state now"),
    (Outcome.INTERRUPTED, "the daemon stopped before the call on the wire was answered; it may or may not have reached "
                          "the API"),
    (Outcome.NETWORK_ERROR, "ReadTimeout: nothing read within the read timeout (30s); the last call got no answer: it "
                            "may have reached the API, and the restart been made"),
])
def test_a_restart_that_may_have_been_made_says_so_first_not_the_trace(outcome: Outcome, message: str) -> None:
    # An upgrade probe: `watchdog history` showed `network_error  -  ConnectException: boom` for a
    # restart whose call timed out after it went, and the table never said it may have been made.
    record = HistoryRecord(
        at=NOW - timedelta(seconds=5), key=BILLING, job_id="j", rule="heal", trigger=Trigger.STATUS,
        triggers=(Trigger.STATUS,), outcome=outcome, message=message,
        evidence={"state": "FAILED", "trace": JAVA_TRACE, "tasks": []},
    )
    row = render_history([record], now=NOW).splitlines()[1]
    assert f"{outcome.value}  -     may have been made: " in row, row
    assert history_json([record])["restarts"][0]["error"] == f"may have been made: {message}"


def test_a_network_error_that_never_reached_the_api_shows_the_connectors_error() -> None:
    record = HistoryRecord(
        at=NOW - timedelta(seconds=5), key=BILLING, job_id="j", rule="heal", trigger=Trigger.STATUS,
        triggers=(Trigger.STATUS,), outcome=Outcome.NETWORK_ERROR, message="ConnectError: connection refused",
        evidence={"state": "FAILED", "trace": JAVA_TRACE, "tasks": []},
    )
    assert captured_error(record).startswith("org.apache.kafka.connect.errors.ConnectException")
