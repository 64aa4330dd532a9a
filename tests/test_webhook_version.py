"""A webhook whose `version` is not the documented "4" is read where its shape is readable, its
alerts acted on, and said once per version (a few at most). Refused 422, a future Alertmanager
that changed only its version would have had every notification dropped: Alertmanager does not
send a 4xx again within a notification."""

from __future__ import annotations

import structlog

from .test_api import AUTH, alert, payload, polled, restart_calls, world


def _said(logs: list[dict[str, object]]) -> list[object]:
    return [e["version"] for e in logs if e["event"] == "webhook_version_unknown" and e["log_level"] == "warning"]


async def test_a_webhook_of_another_version_is_acted_on_and_said_once() -> None:
    w, http = world()
    await polled(w)
    with structlog.testing.capture_logs() as logs:
        response = await http.post("/v1/alertmanager", json={**payload(alert()), "version": "5"}, headers=AUTH)
        again = await http.post("/v1/alertmanager", json={**payload(alert()), "version": "5"}, headers=AUTH)
    assert response.status_code == 200 and response.json()["alerts"][0]["result"] == "restart_requested"
    assert again.status_code == 200 and again.json()["alerts"][0]["result"] == "duplicate"
    await w.daemon.queue.join()
    assert restart_calls(w) == 1
    assert _said(logs) == ["5"]
    warning = next(e for e in logs if e["event"] == "webhook_version_unknown")
    assert warning["documented"] == "4" and "read all the same" in warning["note"]


async def test_the_documented_version_says_nothing_and_other_versions_are_said_a_few_at_most() -> None:
    _, http = world()
    with structlog.testing.capture_logs() as logs:
        await http.post("/v1/alertmanager", json=payload(alert("resolved"), status="resolved"), headers=AUTH)
        for version in ["3", "5", "6", "7", "8" * 100, "9", "10"]:
            body = {**payload(alert("resolved"), status="resolved"), "version": version}
            assert (await http.post("/v1/alertmanager", json=body, headers=AUTH)).status_code == 200
    assert _said(logs) == ["3", "5", "6", "7", "8" * 20]


async def test_a_webhook_of_another_version_that_cannot_be_read_is_still_refused() -> None:
    w, http = world()
    await polled(w)
    for body in [{**payload(alert()), "version": "5", "alerts": {"not": "a list"}},
                 {**payload({**alert(), "startsAt": "yesterday"}), "version": "5"},
                 {key: value for key, value in payload(alert()).items() if key != "version"}]:
        response = await http.post("/v1/alertmanager", json=body, headers=AUTH)
        assert response.status_code == 422, body
    assert restart_calls(w) == 0
