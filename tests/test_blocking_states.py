"""Which alerts block: active and unprocessed ones do, suppressed (silenced or inhibited) ones do
not, whatever the answer holds (tests/test_blocking.py covers the ordinary answers)."""

from __future__ import annotations

import httpx
import pytest

from .test_blocking import FakeAlertmanager, blocker


def am_alert(state: str, *, silenced_by: list[str] | None = None, inhibited_by: list[str] | None = None) -> dict:
    return {"labels": {"alertname": "Incident"}, "annotations": {}, "receivers": [{"name": "null"}], "fingerprint": "f1",
            "startsAt": "2026-03-01T12:00:00Z", "updatedAt": "2026-03-01T12:00:00Z", "endsAt": "2026-03-01T12:05:00Z",
            "status": {"state": state, "silencedBy": silenced_by or [], "inhibitedBy": inhibited_by or []}}


class FilteringAlertmanager(FakeAlertmanager):
    """Honours the query as Alertmanager does: each state is listed only when its flag (default
    true) is not false."""

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        params = request.url.params

        def shown(alert: dict) -> bool:
            status = alert["status"]
            if status["state"] == "unprocessed":
                return params.get("unprocessed", "true") != "false"
            if status["state"] == "active":
                return params.get("active", "true") != "false"
            return (params.get("silenced", "true") != "false" or not status["silencedBy"]) and (
                params.get("inhibited", "true") != "false" or not status["inhibitedBy"])

        return httpx.Response(200, json=[a for a in self.alerts if shown(a)])


@pytest.mark.parametrize("state", ["active", "unprocessed"])
async def test_an_active_or_unprocessed_alert_blocks(state: str) -> None:
    # Unprocessed: Alertmanager received it but has not yet matched it against silences; it is
    # taken as firing (the safe side) rather than waited out.
    fake = FilteringAlertmanager()
    fake.alerts = [am_alert(state)]
    b, _ = blocker(fake)
    verdict = await b.refresh()
    assert verdict.blocked and "Incident" in verdict.reason


@pytest.mark.parametrize(
    "alert",
    [am_alert("suppressed", silenced_by=["7f3c"]), am_alert("suppressed", inhibited_by=["f2"]), am_alert("suppressed"),
     am_alert("active", silenced_by=["7f3c"])],
    ids=["silenced", "inhibited", "suppressed", "active-but-silenced"],
)
async def test_a_suppressed_alert_does_not_block_even_when_the_answer_holds_it(alert: dict) -> None:
    # A proxy or an old Alertmanager that ignores silenced=false and inhibited=false: a silence
    # must still lift the block, as docs/alerts-and-api.md promises.
    fake = FakeAlertmanager()  # answers everything, whatever the query says
    fake.alerts = [alert]
    b, metrics = blocker(fake)
    verdict = await b.refresh()
    assert not verdict.blocked and verdict.reason == "no blocking alert firing"
    assert metrics.registry.get_sample_value("watchdog_blocking_checks_total", {"result": "clear"}) == 1


async def test_a_suppressed_alert_next_to_an_active_one_is_not_named() -> None:
    fake = FakeAlertmanager()
    silenced = am_alert("suppressed", silenced_by=["7f3c"])
    outage = am_alert("active")
    outage["labels"] = {"alertname": "Outage"}
    fake.alerts = [silenced, outage]
    b, _ = blocker(fake)
    assert (await b.refresh()).reason == "blocking alert firing: Outage"


async def test_an_unknown_state_is_an_unreadable_answer() -> None:
    fake = FakeAlertmanager()
    fake.alerts = [am_alert("sleeping")]
    b, metrics = blocker(fake, on_error="block")
    verdict = await b.refresh()
    assert verdict.blocked and "unreadable answer" in verdict.reason and "status.state" in verdict.reason
    assert metrics.registry.get_sample_value("watchdog_blocking_checks_total", {"result": "error_blocked"}) == 1
