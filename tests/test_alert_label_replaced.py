"""A webhook's connector (or cluster) label holding a NUL or half a surrogate pair, which the body's
reading makes U+FFFD, is `unmatched` saying so, as the restart API refuses such a name (422), and
lists nothing again for it.

Before (probe_callers F6): looked up as the name the sender never sent, it was answered "prod/
orders-sink\\ufffd was not found in its cluster at the last listing", and a listing older than a
few seconds was made again to look for it.
"""

from __future__ import annotations

import json

import pytest

from .support import CLUSTER_ID
from .test_alert_new_connector import lists
from .test_api import AUTH, alert, payload, polled, world

ESCAPES = ["\\u0000", "\\ud83d"]  # as JSON carries them: a NUL, half of an emoji


@pytest.mark.parametrize("escape", ESCAPES)
async def test_a_connector_label_with_a_nul_or_half_a_surrogate_pair_says_so(escape: str) -> None:
    w, http = world(fake_time=True)
    assert w.clock is not None
    await polled(w)
    listed = lists(w.simulator)
    w.clock.advance(10)  # the listing older than the few seconds after which a lacking name lists again
    body = json.dumps(payload(alert(connector="orders-sink"))).replace('"orders-sink"', f'"orders-sink{escape}"')
    assert escape in body
    answer = await http.post("/v1/alertmanager", content=body, headers={**AUTH, "Content-Type": "application/json"})
    assert answer.status_code == 200, answer.text
    result = answer.json()["alerts"][0]
    assert result["result"] == "unmatched", result
    # Before: "prod/orders-sink\ufffd was not found in its cluster at the last listing".
    assert result["detail"].startswith("the connector label 'connector' holds U+FFFD, what a NUL, half a surrogate "
                                       "pair or a character lost on the way becomes"), result
    assert lists(w.simulator) == listed, "nothing listed again to look for a name nobody sent"
    assert not w.simulator.restarts()


async def test_a_cluster_label_with_a_nul_says_so() -> None:
    w, http = world()
    await polled(w)
    body = json.dumps(payload(alert())).replace(f'"{CLUSTER_ID}"', f'"{CLUSTER_ID}\\u0000"')
    answer = await http.post("/v1/alertmanager", content=body, headers={**AUTH, "Content-Type": "application/json"})
    result = answer.json()["alerts"][0]
    # Before: "cluster 'lkc-...\ufffd' is not configured".
    assert result["result"] == "unmatched" and "holds U+FFFD" in result["detail"], result
