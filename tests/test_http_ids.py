"""GET /v1/restarts/{id}: ids not of the daemon's shape are refused without being quoted back."""

from __future__ import annotations

import re

from watchdog.engine import new_request_id

from .test_api import AUTH, world


async def test_an_id_not_of_the_daemons_shape_is_404_without_being_echoed() -> None:
    _, http = world()
    for request_id in ["x" * 8000, "A" * 16, "0123456789abcdef0", "<script>alert(1)", "9f2c..."]:
        response = await http.get(f"/v1/restarts/{request_id}", headers=AUTH)
        assert response.status_code == 404
        assert request_id not in response.text and len(response.content) < 200, request_id[:20]
        assert "16 lowercase hexadecimal" in response.json()["error"]
    # An id of the right shape that this daemon does not know (or no longer remembers) is named.
    request_id = new_request_id()
    assert re.fullmatch(r"[0-9a-f]{16}", request_id), "the API's id check must match the ids it hands out"
    response = await http.get(f"/v1/restarts/{request_id}", headers=AUTH)
    assert response.status_code == 404 and request_id in response.json()["error"]
