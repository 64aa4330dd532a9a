"""A list call answered 200 with an error object instead of the map of connectors (a gateway or an
API fault: `{"error": {"code": 500, "message": "Internal error"}}`) is a failed poll that says the
server's words. Read as a map, it was one connector named `error` that could not be read
(`unusable_entries {"error": "status_missing"}`), the poll failed as "the answer held 1 entries
and none could be read", and "Internal error" was said nowhere (session 70's probe, F4)."""

from __future__ import annotations

from typing import Any

import pytest
from structlog.testing import capture_logs

from .support import sim_scenario
from .test_daemon import restart_times, run_polls, status_rule, world
from .test_hostile_answers import BROKEN, polls


def _list_answers(body: Any, backend: str) -> Any:
    faults = [{"match": {"endpoint": "list"}, "when": {"from": 2, "until": 3}, "action": {"status": 200, "body": body}}]
    return world(BROKEN, [status_rule()], backend=backend,
                 scenario=sim_scenario(BROKEN, backend, restart={"delay_seconds": 2}, faults=faults))


@pytest.mark.parametrize(("body", "words"), [
    ({"error": {"code": 500, "message": "Internal error"}}, "(Internal error)"),
    ({"errors": [{"status": "500", "detail": "oops, the database"}]}, "(oops, the database)"),
    ({"error": None}, '({"error":null})'),
    ({"error_code": 500, "message": "Request processing failed"}, "(Request processing failed)"),
], ids=["error", "errors", "error-null", "error_code"])
async def test_a_list_answered_with_an_error_object_fails_the_poll_with_the_servers_words(
    body: Any, words: str, backend: str
) -> None:
    w = _list_answers(body, backend)

    with capture_logs() as logs:
        await run_polls(w, 5)

    [failed] = [e for e in logs if e["event"] == "poll_failed"]
    assert failed["outcome"] == "server_error", failed
    assert failed["message"] == f"answered 200 with an error in its body {words}, not a list of connectors", failed
    assert [e for e in logs if e["event"] == "unusable_entries"] == [], "an error object is no connector named `error`"
    assert polls(w, "server_error") == 1 and polls(w, "ok") == 4
    assert len(restart_times(w, "broken")) == 1, "the polls around it did not heal the connector"


async def test_a_connector_named_error_is_still_a_connector(backend: str) -> None:
    connectors = [{"name": "error", "script": {"initial": "FAILED", "recover_after_restarts": 1}}]
    w = world(connectors, [status_rule()], backend=backend)

    with capture_logs() as logs:
        await run_polls(w, 3)

    assert [e for e in logs if e["event"] == "poll_failed"] == []
    assert len(restart_times(w, "error")) == 1


async def test_unusable_entries_back_to_none_is_said_at_info_not_as_a_warning() -> None:
    entry = {"status": None, "id": {"id": "lcc-1"}}
    faults = [{"match": {"endpoint": "list"}, "when": {"from": 1, "until": 2},
               "action": {"status": 200, "body": {"broken": entry, "other": entry}}}]
    w = world(BROKEN, [status_rule()], scenario=sim_scenario(BROKEN, restart={"delay_seconds": 2}, faults=faults))

    with capture_logs() as logs:
        await run_polls(w, 4)

    said = [(e["log_level"], e["count"]) for e in logs if e["event"] == "unusable_entries"]
    assert said == [("warning", 2), ("info", 0)], said


def _list_answered(action: dict[str, Any], backend: str) -> Any:
    faults = [{"match": {"endpoint": "list"}, "when": {"from": 2, "until": 3}, "action": action}]
    return world(BROKEN, [status_rule()], backend=backend,
                 scenario=sim_scenario(BROKEN, backend, restart={"delay_seconds": 2}, faults=faults))


async def test_a_list_answered_200_with_an_empty_body_says_so(backend: str) -> None:
    # A gateway or load balancer answering 200 with no body: the poll failed saying only
    # "unreadable response: Expecting value: line 1 column 1 (char 0)" (session 75's probe, F-LOW-4).
    w = _list_answered({"status": 200, "body": "", "headers": {"Content-Type": "application/json"}}, backend)

    with capture_logs() as logs:
        await run_polls(w, 5)

    [failed] = [e for e in logs if e["event"] == "poll_failed"]
    assert failed["outcome"] == "server_error", failed
    assert _list_call_statuses(logs) == [200], "the status the server answered is kept"
    assert failed["message"] == ("answered 200 with an empty body (Content-Type: application/json), "
                                 "not a list of connectors"), failed
    assert polls(w, "server_error") == 1 and polls(w, "ok") == 4
    assert len(restart_times(w, "broken")) == 1


def _list_call_statuses(logs: list[Any]) -> list[Any]:
    return [e.get("status_code") for e in logs if e["event"] == "api_call_failed" and e.get("endpoint") == "list"]


PROBLEM = {"type": "about:blank", "title": "Service Unavailable", "status": 503,
           "detail": "Connect API is in maintenance until 14:00 UTC"}


@pytest.mark.parametrize("content_type", ["application/problem+json", "application/json"])
async def test_a_list_answered_200_with_a_problem_object_says_the_servers_words(content_type: str, backend: str) -> None:
    # RFC 7807's shape: read as a map, it was four connectors named `type`, `title`, `status`
    # and `detail` (`unusable_entries`), "the answer held 4 entries and none could be read", and
    # the server's words said nowhere (session 75's probe, F-LOW-1).
    w = _list_answered({"status": 200, "body": PROBLEM, "headers": {"Content-Type": content_type}}, backend)

    with capture_logs() as logs:
        await run_polls(w, 5)

    [failed] = [e for e in logs if e["event"] == "poll_failed"]
    assert failed["outcome"] == "server_error", failed
    assert failed["message"] == ("answered 200 with an error in its body (Connect API is in maintenance until "
                                 "14:00 UTC), not a list of connectors"), failed
    assert [e for e in logs if e["event"] == "unusable_entries"] == []
    assert polls(w, "server_error") == 1 and polls(w, "ok") == 4


async def test_connectors_named_like_a_problems_fields_are_still_connectors(backend: str) -> None:
    connectors = [{"name": n, "script": {"initial": "FAILED", "recover_after_restarts": 1}} for n in ("title", "detail")]
    w = world(connectors, [status_rule()], backend=backend)

    with capture_logs() as logs:
        await run_polls(w, 3)

    assert [e for e in logs if e["event"] == "poll_failed"] == []
    assert len(restart_times(w, "title")) == 1 and len(restart_times(w, "detail")) == 1


async def test_a_list_answered_200_whose_gzip_body_cannot_be_decoded_keeps_its_status(backend: str) -> None:
    # A proxy labelling plain JSON gzip, or a corrupt stream: the poll was a `network_error` with
    # no status code, sending the operator to the network (session 75's probe, F-LOW-2).
    w = _list_answered({"status": 200, "body": "{}", "headers": {"Content-Encoding": "gzip"}}, backend)

    with capture_logs() as logs:
        await run_polls(w, 5)

    [failed] = [e for e in logs if e["event"] == "poll_failed"]
    assert failed["outcome"] == "server_error", failed
    assert _list_call_statuses(logs) == [200], "the status the server answered is kept"
    assert failed["message"].startswith("unreadable response: its body is labelled gzip but could not be decoded "
                                        "(DecodingError: "), failed
    assert polls(w, "server_error") == 1 and polls(w, "network_error") == 0 and polls(w, "ok") == 4
    assert len(restart_times(w, "broken")) == 1
