"""A firing alert for a connector its cluster's last listing lacked (created since) lists the
cluster again before it is decided, at most every few seconds.

Answered `unmatched` from the old listing, a 200 that Alertmanager takes as delivered, the alert
of a connector created moments before waited for its repeat_interval (1 h in the docs' example,
4 h by default) to be acted on (a probe with a real Alertmanager pair, 2026-12-06).
"""

from __future__ import annotations

import asyncio

from watchdog.simulator import Simulator

from .support import CLUSTER_ID
from .test_api import AUTH, RULES, alert, payload, world

ALERT_ONLY = [RULES[1]]  # no status rule: the cluster is listed only on demand (60 s fresh)


def lists(simulator: Simulator) -> int:
    return len([c for c in simulator.calls if c.endpoint == "list"])


async def test_an_alert_for_a_connector_created_since_the_last_listing_lists_again_and_restarts_it() -> None:
    w, http = world(rules=ALERT_ONLY, fake_time=True)
    assert w.clock is not None
    w.daemon.queue.start()
    first = (await http.post("/v1/alertmanager", json=payload(alert()), headers=AUTH)).json()["alerts"][0]
    assert first["result"] == "restart_requested"
    assert lists(w.simulator) == 1
    w.simulator.add_connector(CLUSTER_ID, {"name": "new-sink", "id": "lcc-new1"})
    w.clock.advance(10)  # within the 60 s the listing counts as fresh for, past the few seconds
    answer = await http.post("/v1/alertmanager", json=payload(alert(connector="new-sink", fingerprint="fp2")), headers=AUTH)
    await w.daemon.queue.join()
    result = answer.json()["alerts"][0]
    # Before: 200 `unmatched`, "prod/new-sink was not found in its cluster at the last listing".
    assert (answer.status_code, result["result"], result["connector"]) == (200, "restart_requested", "new-sink")
    assert lists(w.simulator) == 2, "listed once more, for the alert"
    assert [c.connector for c in w.simulator.restarts()] == ["orders-sink", "new-sink"]


async def test_alerts_for_a_connector_that_does_not_exist_list_again_at_most_every_few_seconds() -> None:
    w, http = world(rules=ALERT_ONLY, fake_time=True)
    assert w.clock is not None
    w.daemon.queue.start()
    await http.post("/v1/alertmanager", json=payload(alert()), headers=AUTH)
    assert lists(w.simulator) == 1
    w.clock.advance(10)

    async def ghost(n: int) -> tuple[int, str, str]:
        body = payload(alert(connector="ghost-sink", fingerprint=f"g{n}"))
        answer = await http.post("/v1/alertmanager", json=body, headers=AUTH)
        result = answer.json()["alerts"][0]
        return answer.status_code, result["result"], result["detail"]

    # A flood, side by side: one listing for all of them.
    flood = await asyncio.gather(*(ghost(n) for n in range(20)))
    assert set(flood) == {(200, "unmatched", "connector 'ghost-sink' was not found in cluster 'prod', listed again just now to look for it")}
    assert lists(w.simulator) == 2
    # Within the few seconds: the listing just made stands, and the answer says "the last listing".
    w.clock.advance(2)
    assert await ghost(21) == (200, "unmatched", "connector 'ghost-sink' was not found in cluster 'prod' at the last listing")
    assert lists(w.simulator) == 2
    w.clock.advance(4)
    assert (await ghost(22))[2].endswith("listed again just now to look for it")
    assert lists(w.simulator) == 3
    # Said once as unmatched, as before: nothing was restarted.
    assert w.simulator.restarts(connector="ghost-sink") == []


async def test_a_failed_listing_again_refuses_only_the_alert_it_was_for_with_a_503_that_is_sent_again() -> None:
    w, http = world(rules=ALERT_ONLY, fake_time=True)
    assert w.clock is not None
    w.daemon.queue.start()
    await http.post("/v1/alertmanager", json=payload(alert()), headers=AUTH)
    await w.daemon.queue.join()
    w.simulator.add_connector(CLUSTER_ID, {"name": "new-sink", "id": "lcc-new1"})
    w.simulator.set_faults([{"match": {"endpoint": "list"}, "action": {"status": 403}}])
    w.clock.advance(10)
    body = payload(alert(fingerprint="fp1", connector="billing-sink"), alert(connector="new-sink", fingerprint="fp2"))
    answer = await http.post("/v1/alertmanager", json=body, headers=AUTH)
    assert answer.status_code == 503, "Alertmanager sends the group again soon, not after its repeat_interval"
    known, new = answer.json()["alerts"]
    assert known["result"] == "restart_requested", "the listing it had was fresh enough for the connector it showed"
    assert (new["result"], new["connector"]) == ("refused", "new-sink")
    assert new["detail"].startswith("connector 'new-sink' was not found in cluster 'prod' at the last listing, and listing it "
                                    "again failed (forbidden")
    assert new["detail"].endswith("; send again later")
    assert answer.headers["Retry-After"] == "30"
    # Sent again once the listing works: found, restarted.
    w.simulator.clear_faults()
    w.clock.advance(30)
    again = (await http.post("/v1/alertmanager", json=body, headers=AUTH)).json()["alerts"]
    await w.daemon.queue.join()
    assert (again[1]["result"], again[1]["connector"]) == ("restart_requested", "new-sink")
    assert [c.connector for c in w.simulator.restarts(connector="new-sink")] == ["new-sink"]
