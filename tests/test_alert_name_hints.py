"""An alert whose connector label differs from a listed name by an invisible character (a trailing
space, a zero-width space) or by letter case: its detail, in the webhook's answer and in the
`webhook_alerts_unmatched` warning, quotes the name escaped, as the restart API does, and both
offer the listed name (probe of a real Alertmanager pair, F2: `prod/sink-016` and a zero-width
space read as `sink-016`, which status showed; `SINK-024` had no "did you mean" anywhere)."""

from __future__ import annotations

from structlog.testing import capture_logs

from watchdog.engine.alert_answers import CLOSE_HINTS_PER_CHUNK

from .test_api import AUTH, CLUSTER, alert, payload, polled, world

ODD = {"orders-sink ": "trailing", "orders-sink\u200b": "zero-width", "ORDERS-SINK": "case"}
SAME_AS_LISTED = ("; did you mean 'orders-sink'? (it differs from the name asked only in letter case, spaces around it "
                  "or invisible characters: connector names are matched exactly, as the Connect API matches them)")


async def test_an_alert_named_with_an_invisible_character_or_another_case_is_quoted_and_hinted() -> None:
    w, http = world()
    await polled(w)
    alerts = [alert(connector=name, fingerprint=fp) for name, fp in ODD.items()]
    with capture_logs() as logs:
        answer = await http.post("/v1/alertmanager", json=payload(*alerts), headers=AUTH)
    assert answer.status_code == 200
    details = [a["detail"] for a in answer.json()["alerts"]]
    assert details == [
        f"connector 'orders-sink ' was not found in cluster '{CLUSTER}' at the last listing{SAME_AS_LISTED}",
        f"connector 'orders-sink\\u200b' was not found in cluster '{CLUSTER}' at the last listing"
        f"{SAME_AS_LISTED}",
        f"connector 'ORDERS-SINK' was not found in cluster '{CLUSTER}' at the last listing{SAME_AS_LISTED}",
    ], details
    [line] = [e for e in logs if e["event"] == "webhook_alerts_unmatched"]
    assert [f["detail"] for f in line["first"]] == details
    assert w.simulator.restarts() == []


async def test_an_alert_of_a_misspelt_name_is_offered_the_closest_as_the_api_is() -> None:
    w, http = world()
    await polled(w)
    answer = await http.post("/v1/alertmanager", json=payload(alert(connector="orders-snik")), headers=AUTH)
    assert answer.json()["alerts"][0]["detail"].endswith("; did you mean 'orders-sink'?")
    answer = await http.post("/v1/alertmanager", json=payload(alert(connector="zzz", fingerprint="z")), headers=AUTH)
    assert "did you mean" not in answer.json()["alerts"][0]["detail"]


async def test_the_closest_names_are_looked_for_for_a_few_alerts_of_a_chunk_only() -> None:
    # difflib runs on the event loop: a webhook of hundreds of misspelt names must stay cheap; the
    # hint of a name that differs only in case or invisible characters costs one look-up, always.
    w, http = world()
    await polled(w)
    misspelt = [alert(connector=f"orders-snik{n}", fingerprint=f"m{n}") for n in range(CLOSE_HINTS_PER_CHUNK + 5)]
    answer = await http.post("/v1/alertmanager", json=payload(*misspelt, alert(connector="Orders-Sink ", fingerprint="c")),
                             headers=AUTH)
    details = [a["detail"] for a in answer.json()["alerts"]]
    assert sum("did you mean" in d for d in details[:-1]) == CLOSE_HINTS_PER_CHUNK
    assert details[-1].endswith(SAME_AS_LISTED)


async def test_a_restart_by_name_of_another_case_or_with_a_space_is_offered_the_listed_name() -> None:
    # The API's difflib put a case change below its cutoff: `SINK-024` got no hint.
    w, http = world()
    await polled(w)
    for name in ("ORDERS-SINK", "orders-sink ", "\u200borders-sink"):
        response = await http.post("/v1/restarts", json={"cluster": CLUSTER, "connector": name}, headers=AUTH)
        assert response.status_code == 404
        assert response.json()["error"] == (f"connector {name!r} was not found in cluster '{CLUSTER}' at the last "
                                             f"listing{SAME_AS_LISTED}")
