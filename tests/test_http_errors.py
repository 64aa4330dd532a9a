"""Refusals that come before a handler: ambiguous credentials, paths and methods no route has,
and input Python's own error messages would describe in Python's terms. Each is JSON."""

from __future__ import annotations

import structlog

from .test_api import AUTH, TOKEN, alert, payload, world


async def test_two_authorization_headers_are_refused_whichever_comes_first() -> None:
    w, http = world()
    for first, second in ((f"Bearer {TOKEN}", "Bearer wrong"), ("Bearer wrong", f"Bearer {TOKEN}")):
        response = await http.get("/v1/connectors", headers=[("Authorization", first), ("Authorization", second)])
        assert response.status_code == 400, (first, second)
        assert response.json()["error"] == "more than one Authorization header; send exactly one"
    assert (await http.get("/v1/connectors", headers=AUTH)).status_code == 200


async def test_a_trailing_slash_is_not_redirected_to_a_host_the_caller_names() -> None:
    _, http = world()
    for path in ("/v1/restarts/", "/healthz/", "/v1/connectors/"):
        response = await http.get(path, headers={**AUTH, "Host": "evil.example"})
        assert response.status_code == 404, path
        assert "location" not in response.headers
        assert response.json() == {"error": "no such route"}


async def test_unknown_paths_and_wrong_methods_answer_json() -> None:
    w, http = world()
    missing = await http.get("/nope/" + "x" * 5000, headers=AUTH)
    assert missing.status_code == 404 and missing.json() == {"error": "no such route"}
    wrong = await http.delete("/v1/restarts", headers=AUTH)
    assert wrong.status_code == 405 and wrong.headers["allow"] == "POST"
    assert wrong.json() == {"error": "method not allowed here; allowed: POST"}
    assert w.sample("watchdog_http_requests_total", route="other", status_class="4xx") == 1
    assert w.sample("watchdog_http_requests_total", route="restarts", status_class="4xx") == 1


async def test_a_webhook_posted_to_a_path_no_route_has_is_logged_at_most_once_per_interval() -> None:
    # Alertmanager pointed at /v1/alertmanager/ (or /api/v2/alerts) gets 404 and never sends the
    # group again; before, the daemon's log said nothing had come at all.
    _, http = world()
    with structlog.testing.capture_logs() as logs:
        for _ in range(3):
            response = await http.post("/v1/alertmanager/", json=payload(alert()), headers=AUTH)
            assert response.status_code == 404
        assert (await http.get("/favicon.ico")).status_code == 404  # a browser's: not logged
    lines = [e for e in logs if e["event"] == "http_request_unrouted"]
    assert len(lines) == 1 and lines[0]["log_level"] == "warning", lines
    assert lines[0]["method"] == "POST" and lines[0]["path"] == "/v1/alertmanager/" and lines[0]["status"] == 404
    assert "POST /v1/alertmanager" in lines[0]["note"]


async def test_a_number_with_too_many_digits_is_explained_in_plain_words() -> None:
    _, http = world()
    body = b'{"cluster": "prod", "connector": "orders-sink", "n": ' + b"9" * 5000 + b"}"
    response = await http.post("/v1/restarts", content=body, headers={**AUTH, "Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json()["error"] == "request body is not acceptable JSON: a number has more than 4300 digits"
