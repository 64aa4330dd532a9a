"""`check-config --discover` says how many entries of a listing it could not read. Before, an
environment whose cluster list held an entry without an id and one naming another environment
showed only the readable clusters: a user checking what would be watched before going live did
not learn the answer had entries it could not read (found 2026-12-07 by a black-box probe; the
daemon says them, `discovery_entries_unreadable`)."""

from __future__ import annotations

import httpx

from watchdog.discovery.preview import discover_once

from .support import daemon_config


def cmk_entry(identifier: str | None, environment: str = "env-a") -> dict[str, object]:
    return {"id": identifier, "spec": {"display_name": identifier or "?", "environment": {"id": environment}},
            "status": {"phase": "PROVISIONED"}}


async def test_check_config_discover_says_how_many_entries_of_each_listing_it_skipped() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/org/v2/environments":
            return httpx.Response(200, json={"metadata": {}, "data": [
                {"id": "env-a", "display_name": "prod-a"}, {"id": "env-b", "display_name": "prod-b"}, {"id": None}]})
        if request.url.params["environment"] == "env-a":
            return httpx.Response(200, json={"metadata": {}, "data": [
                cmk_entry("lkc-a1"), cmk_entry("lkc-a2"), cmk_entry(None), cmk_entry("lkc-x", "env-other")]})
        return httpx.Response(200, json={"metadata": {}, "data": [cmk_entry("lkc-b1", "env-b")]})

    complete, text = await discover_once(daemon_config([], discovery={}), httpx.MockTransport(answer))

    assert complete, text
    lines = text.splitlines()
    assert ("  ENVIRONMENT env-a (prod-a): 2 cluster(s), and 2 entries it could not read, skipped "
            "(no usable lkc- id, or another environment's)") in lines, text
    assert "  ENVIRONMENT env-b (prod-b): 1 cluster(s)" in lines, "a listing that skipped nothing says nothing more"
    assert "  the environment list had 1 entry it could not read, skipped (no usable id)" in lines, text
    assert lines[-1] == "would watch 3 discovered cluster(s) and 1 configured one(s)"
