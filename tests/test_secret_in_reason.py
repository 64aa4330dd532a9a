"""A secret of the config written into a restart's `reason` (a pipeline passing its whole command
line, `--reason "$TOKEN"` by mistake) is starred out before the reason is answered, recorded or
shown: the history is read by whoever reads the state file, without the token.

Before (probe_callers F2): starred in the log only; the 202 answer, GET /v1/restarts/{id}, GET
/v1/history, the state file and `watchdog history` kept it whole.
"""

from __future__ import annotations

from .conftest import TEST_API_SECRET
from .support import CLUSTER_ID
from .test_api import AUTH, TOKEN, alert, payload, polled, world


async def test_the_api_token_and_the_api_secret_in_a_reason_are_starred_everywhere_it_is_kept() -> None:
    w, http = world()
    await polled(w)
    reason = f"deploy by ci, token {TOKEN} secret {TEST_API_SECRET}"
    asked = await http.post("/v1/restarts", json={"cluster": CLUSTER_ID, "connector": "orders-sink", "reason": reason},
                            headers=AUTH)
    assert asked.status_code == 202, asked.text
    await w.daemon.queue.join()
    # Asked again within manual_restart_gap: refused `recently_restarted`, its reason echoed too.
    again = await http.post("/v1/restarts", json={"cluster": CLUSTER_ID, "connector": "orders-sink", "reason": reason},
                            headers=AUTH)
    assert again.json()["decision"] == "recently_restarted", again.text
    followed = await http.get(f"/v1/restarts/{asked.json()['id']}", headers=AUTH)
    history = await http.get("/v1/history?connector=orders-sink", headers=AUTH)
    stored = [r.reason for r in w.daemon.state.history()]
    shown = {
        "202 answer": asked.json()["reason"],
        "recently_restarted answer": again.json()["reason"],
        "GET /v1/restarts/{id}": followed.json()["reason"],
        "GET /v1/history": history.json()["restarts"][0]["reason"],
        "state file": stored[0],
    }
    # Before: every one of them "deploy by ci, token test-token-5d1c0e2a secret test-secret-...".
    assert shown == dict.fromkeys(shown, "deploy by ci, token *** secret ***"), shown
    assert len(stored) == 1
    assert [c.connector for c in w.simulator.restarts()] == ["orders-sink"], "restarted as asked all the same"


async def test_a_reason_without_a_secret_is_kept_as_given() -> None:
    w, http = world()
    await polled(w)
    asked = await http.post("/v1/restarts", json={"cluster": CLUSTER_ID, "connector": "orders-sink",
                                                  "reason": "deploy 4711 by ci: token rotated"}, headers=AUTH)
    assert asked.json()["reason"] == "deploy 4711 by ci: token rotated"


async def test_an_alert_whose_summary_or_fingerprint_holds_the_token_is_kept_without_it() -> None:
    w, http = world()
    await polled(w)
    fired = alert(connector="billing-sink", fingerprint=TOKEN)
    fired["annotations"]["summary"] = f"billing-sink stalled (curl -H 'Bearer {TOKEN}')"
    answer = await http.post("/v1/alertmanager", json=payload(fired), headers=AUTH)
    assert answer.json()["alerts"][0]["result"] == "restart_requested", answer.text
    await w.daemon.queue.join()
    restarts = (await http.get("/v1/history?connector=billing-sink", headers=AUTH)).json()["restarts"]
    # Before: the summary and the fingerprint (`origin`) kept whole.
    assert restarts[0]["reason"] == "alert billing-sink stalled (curl -H 'Bearer ***')", restarts
    assert restarts[0]["origin"].startswith("labels:") and TOKEN not in str(restarts), restarts
