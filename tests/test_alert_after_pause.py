"""A restart an alert or a person asked for, held by a pause of its API key (a 429's Retry-After),
is judged on a listing made after the pause, as a poll's is (tests/test_restart_after_pause.py):
the connector may have been paused by its owner, or replaced under its name, meanwhile."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from watchdog.model import Outcome
from watchdog.server import create_app

from .support import CLUSTER, CLUSTER_ID, World, daemon_config, in_process, sim_scenario, until

TOKEN = "test-token-7a1f9c3e"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
PAUSE = {"match": {"endpoint": "restart", "connector": "broken"}, "when": {"count": 1},
         "action": {"status": 429, "headers": {"Retry-After": "1"}}}
# The status rule polls hourly: no poll lists the cluster between the 429 and the restart's turn
# (with the default 60 s polls and a pause of up to max_pause, nothing did either).
RULES = [
    {"name": "heal", "trigger": {"type": "status", "interval": 3600, "confirm_polls": 1},
     "select": {"include": ["*"]}},
    {"name": "on-alert", "trigger": {"type": "alert", "match": {"alertname": "ConnectorDown"},
                                     "cluster_label": "kafka_cluster_id", "connector_label": "connector"},
     "select": {"include": ["*"]}},
]


def _world() -> tuple[World, httpx.AsyncClient]:
    # "broken" runs as far as the poll sees (a poll asks for nothing); its alert says it is down.
    connectors = [{"name": "broken", "id": "lcc-broken1"}, {"name": "fine"}]
    w = in_process(sim_scenario(connectors, faults=[PAUSE]),
                   daemon_config(RULES, token=TOKEN, rate_limit={"max_requests_per_second": 1000}))
    app = create_app(w.daemon.metrics.registry, w.daemon.probes, w.daemon.api_context())
    return w, httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://daemon")


def _alert() -> dict[str, Any]:
    labels = {"alertname": "ConnectorDown", "kafka_cluster_id": CLUSTER_ID, "connector": "broken"}
    return {"version": "4", "status": "firing", "receiver": "watchdog", "groupLabels": {}, "commonLabels": {},
            "commonAnnotations": {}, "externalURL": "http://alertmanager:9093", "groupKey": "{}",
            "alerts": [{"status": "firing", "labels": labels, "annotations": {}, "fingerprint": "fp1",
                        "startsAt": "2026-12-06T23:00:00Z", "endsAt": "0001-01-01T00:00:00Z"}]}


async def _ask(http: httpx.AsyncClient, by: str) -> None:
    if by == "alert":
        answer = (await http.post("/v1/alertmanager", json=_alert(), headers=AUTH)).json()
        assert answer["alerts"][0]["result"] == "restart_requested", answer
    else:
        answer = await http.post("/v1/restarts", json={"cluster": CLUSTER, "connector": "broken"}, headers=AUTH)
        assert answer.status_code == 202, answer.text


async def _through_a_pause(by: str, meanwhile: Any) -> tuple[World, Any]:
    """The alert (or the request by name) asks for the restart; its first call is answered 429
    (1 s); `meanwhile` changes the connector while the key is paused; the job is followed to its end."""
    w, http = _world()
    await w.daemon.pollers[CLUSTER].poll()
    w.daemon.queue.start()
    await _ask(http, by)
    [job] = list(w.daemon.queue._pending.values())
    await until(lambda: job.rate_limited == 1, "the 429")
    meanwhile(w)
    await asyncio.wait_for(job.done.wait(), 30)
    await w.daemon.stop()
    return w, job


def _paused(w: World) -> None:
    w.simulator.set_state(CLUSTER_ID, "broken", "PAUSED")


def _replaced(w: World) -> None:
    w.simulator.delete_connector(CLUSTER_ID, "broken")
    w.simulator.add_connector(CLUSTER_ID, {"name": "broken", "id": "lcc-broken2"})


@pytest.mark.parametrize(("by", "meanwhile", "said"), [
    # Paused by its owner while the key was paused: sent, Confluent answered 400 (`rejected`, an
    # error, counted as the rule's attempt) and Kafka Connect 202 (`accepted`, for a paused connector).
    ("alert", _paused, "transient: connector PAUSED when its turn came"),
    ("name", _paused, "transient: connector PAUSED when its turn came"),
    # Deleted and created again under its name (Terraform replacing it): the new, healthy
    # connector was restarted for the old one's alert, and charged to its budget.
    ("alert", _replaced, "replaced: the connector it was asked for (lcc-broken1) was deleted and created again "
                         "under its name as lcc-broken2 since"),
], ids=["alert-paused", "by-name-paused", "alert-replaced"])
async def test_an_alert_or_by_name_restart_held_by_a_pause_is_judged_on_a_listing_made_after_it(
    by: str, meanwhile: Any, said: str,
) -> None:
    w, job = await _through_a_pause(by, meanwhile)
    assert job.outcome is Outcome.DROPPED and job.message.startswith(said), (job.outcome, job.message)
    restarts = [c.status_code for c in w.simulator.calls if c.endpoint == "restart"]
    assert restarts == [429], "only the refused call: nothing was restarted"
    lists = [c for c in w.simulator.calls if c.endpoint == "list"]
    assert len(lists) == 2, "the poll's listing, and one after the pause"


async def test_a_restart_by_name_held_by_a_pause_still_goes_to_the_connector_created_again_under_it() -> None:
    # A person names the connector, not one lcc- id (docs/alerts-and-api.md): the one under the
    # name when the turn comes is the one meant, as without a pause.
    w, job = await _through_a_pause("name", _replaced)
    assert (job.outcome, job.tries) == (Outcome.ACCEPTED, 2), job.message
    calls = [(c.endpoint, c.status_code) for c in w.simulator.calls]
    assert calls == [("list", 200), ("restart", 429), ("list", 200), ("restart", 202)], calls
