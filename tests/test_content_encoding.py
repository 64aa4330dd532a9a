"""A request body sent compressed (`Content-Encoding: gzip`, from a proxy or a hand-made sender;
Alertmanager does not compress) is refused 415 naming the encoding, before its body is read.

Before (probe_callers F4): read as JSON, it was answered 400 "request body is not valid JSON:
'utf-8' codec can't decode byte 0x8b", which named a byte, not the cause.
"""

from __future__ import annotations

import gzip
import json

import pytest

from .support import CLUSTER_ID
from .test_api import AUTH, alert, payload, world

BODIES = {
    "/v1/alertmanager": payload(alert()),
    "/v1/restarts": {"cluster": CLUSTER_ID, "connector": "orders-sink"},
}


@pytest.mark.parametrize("path", sorted(BODIES))
@pytest.mark.parametrize("encoding", ["gzip", "br", "deflate, gzip"])
async def test_a_compressed_body_is_refused_415_naming_its_content_encoding(path: str, encoding: str) -> None:
    w, http = world()
    body = gzip.compress(json.dumps(BODIES[path]).encode())
    answer = await http.post(path, content=body, headers={**AUTH, "Content-Type": "application/json",
                                                        "Content-Encoding": encoding})
    assert answer.status_code == 415, answer.text
    error = answer.json()["error"]
    assert f"Content-Encoding: {encoding}" in error and "uncompressed" in error and "nothing was done" in error, error
    assert answer.headers["Accept-Encoding"] == "identity", "RFC 9110 15.5.16: the codings it takes"
    assert not w.simulator.restarts()


async def test_identity_is_no_encoding() -> None:
    w, http = world()
    answer = await http.post("/v1/alertmanager", json=payload(alert()), headers={**AUTH, "Content-Encoding": "identity"})
    assert answer.status_code == 200, answer.text
