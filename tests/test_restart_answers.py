"""What a restart's answer says, as the user reads it in `watchdog history`, `restart_finished`
and `watchdog_restarts_total`, for answers a server we did not write may give.

Found by probing the daemon with a fake Connect API of our own on loopback (2026-12-02).
"""

from __future__ import annotations

import json

import pytest
from structlog.testing import capture_logs

from .test_daemon import run_polls
from .test_hostile_answers import faulty_world

PROBLEM_JSON = {"Content-Type": "application/problem+json"}


@pytest.mark.parametrize(
    ("problem", "said"),
    [
        ({"type": "about:blank", "title": "Bad Request", "status": 400,
          "detail": "connector orders is PROVISIONING; retry when it is RUNNING"},
         "connector orders is PROVISIONING; retry when it is RUNNING"),
        ({"type": "https://example.com/probs/state", "title": "Connector is provisioning", "status": 400},
         "Connector is provisioning"),
    ],
    ids=["detail", "title-only"],
)
async def test_a_refusal_in_rfc_7807_problem_json_is_recorded_with_the_servers_words(
    problem: dict[str, object], said: str
) -> None:
    # A gateway answering in RFC 7807's application/problem+json (top-level `title` and `detail`)
    # was recorded with only its reason phrase: `rejected 400 Bad Request` in the history, the
    # server's `detail` read by no one.
    w = faulty_world([{"match": {"endpoint": "restart"}, "when": {"count": 1},
                       "action": {"status": 400, "headers": PROBLEM_JSON, "body": json.dumps(problem)}}])

    with capture_logs() as logs:
        await run_polls(w, 3)

    [ended] = [e for e in logs if e["event"] == "restart_finished"]
    assert (ended["outcome"], ended["status_code"], ended["message"]) == ("rejected", 400, said), ended
    [record] = [r for r in w.daemon.state.history(limit=10) if r.status_code == 400]
    assert record.message == said
