"""A cluster listed by hand under another key than discovery's, which lists it, refused (401 or
403) at its polls: the running daemon's poll_failed line asks whether its `credential` is right,
as `check-config --discover` does (often another organisation's key written by mistake), once,
not at every line that says the failure again. Before, only check-config --discover said it: the
daemon's line was a bare 403, the cluster's FAILED connectors waiting."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
from structlog.testing import capture_logs

from watchdog.app import Daemon

from .test_credential_warnings import SECRETS, _cloud, _discovering

HINT = ("discovery's key 'orga' lists this cluster and clusters.orders-prod uses 'orgb': is `credential: orgb` "
        "right? (a key of another organisation is refused, 401 or 403, at every poll)")


def _answers(status: int) -> httpx.MockTransport:
    def answer(request: httpx.Request) -> httpx.Response:
        if "/connect/v1/" in request.url.path:
            if "lkc-a000" in request.url.path:  # orders-prod, polled with org B's key
                return httpx.Response(status, json={"error": {"code": status, "message": "Forbidden"}})
            return httpx.Response(200, json={})
        return _cloud(request)
    return httpx.MockTransport(answer)


@pytest.mark.parametrize("status", [401, 403])
async def test_a_poll_refused_under_another_key_than_discoverys_gives_the_hint_once(status: int) -> None:
    wall = [datetime(2026, 12, 8, 2, 0, tzinfo=timezone.utc)]
    daemon = Daemon(_discovering("orgb"), transport=_answers(status), now=lambda: wall[0])
    try:
        assert await daemon.refresh_discovery()
        lines: list[dict[str, Any]] = []
        for _ in range(3):  # the first failure, then the streak said again 5 minutes on, twice
            with capture_logs() as logs:
                await daemon.pollers["orders-prod"].poll()
            lines += [e for e in logs if e["event"] == "poll_failed" and e["log_level"] == "warning"]
            wall[0] += timedelta(minutes=6)
        assert len(lines) == 3, lines
        # Before: no `hint` on any line.
        assert [e.get("hint") for e in lines] == [HINT, None, None], lines
        with capture_logs() as logs:
            await daemon.pollers["other"].poll()  # discovery's own key: nothing to ask
        assert not [e for e in logs if "hint" in e], logs
        assert not any(secret in repr(lines) for secret in SECRETS)
    finally:
        await daemon.stop()


async def test_no_hint_when_the_entry_holds_discoverys_key() -> None:
    # orgb holds org A's key: one key under two names (Config.lane_of), refused for another reason.
    daemon = Daemon(_discovering("orga"), transport=_answers(403))
    try:
        assert await daemon.refresh_discovery()
        with capture_logs() as logs:
            await daemon.pollers["orders-prod"].poll()
        (line,) = [e for e in logs if e["event"] == "poll_failed"]
        assert "hint" not in line, line
    finally:
        await daemon.stop()
