"""GET /v1/connectors is bounded by the fleet, not by name churn (report/row_select.py): the rows of
connectors deleted (kept for state.forget_vanished_after) and of clusters no longer watched are
listed newest first up to GONE_ROWS_LISTED, the rest counted in `left_out`; `cluster=`,
`problems=true` and `gone=false` narrow it on the daemon. A soak probe's answer grew to 11,400 rows
(6.3 MB, /healthz waiting 0.4 to 0.6 s at each read) for 600 connectors that existed."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from watchdog.model import ConnectorKey, ConnectorState, Health
from watchdog.report import GONE_ROWS_LISTED, ClusterPlace, RowQuery, StatusRow, select_rows

from .support import CLUSTER, CLUSTER_ID
from .test_api import AUTH, polled, world

DELETED = GONE_ROWS_LISTED + 50
SEEN = datetime(2026, 3, 1, 11, 0, tzinfo=timezone.utc)


def _deleted(n: int) -> str:
    return f"auto-deploy-{n:05d}"


async def _a_churned_daemon():  # type: ignore[no-untyped-def]
    """The test_api world after a poll, with DELETED connectors deleted since (each seen once, the
    higher the number the later), as a pipeline creating a connector per deploy leaves them."""
    w, http = world()
    await polled(w)
    with w.daemon.state.batch():
        for n in range(DELETED):
            w.daemon.state.observe_status(ConnectorKey(CLUSTER, _deleted(n)), "RUNNING", SEEN + timedelta(seconds=n),
                                          ConnectorState(health=Health.HEALTHY))
    return w, http


async def test_the_rows_of_deleted_connectors_are_listed_newest_first_up_to_a_cap_the_rest_counted() -> None:
    w, http = await _a_churned_daemon()
    answer = (await http.get("/v1/connectors", headers=AUTH)).json()
    names = {row["connector"] for row in answer["connectors"]}
    assert {"orders-sink", "billing-sink", "paused-sink"} <= names, "every connector that exists is listed"
    gone = [row for row in answer["connectors"] if row["gone"]]
    assert len(gone) == GONE_ROWS_LISTED
    assert _deleted(DELETED - 1) in names and _deleted(49) not in names and _deleted(50) in names, "the newest kept"
    left_out = answer["left_out"]
    assert (left_out["gone"], left_out["cluster_unwatched"]) == (50, 0)
    assert left_out["note"].startswith(f"only the {GONE_ROWS_LISTED} most recently seen rows of deleted connectors")
    assert answer["rows_selected"] == DELETED + 3
    assert {"polls_failing", "polls_paused", "state_store"} <= set(answer), "the fields the CLI reads stay"


async def test_cluster_problems_and_gone_narrow_the_rows_on_the_daemon() -> None:
    w, http = await _a_churned_daemon()

    async def rows(query: str) -> list[str]:
        response = await http.get("/v1/connectors?" + query, headers=AUTH)
        assert response.status_code == 200, response.text
        return sorted(row["connector"] for row in response.json()["connectors"])

    assert await rows("gone=false") == ["billing-sink", "orders-sink", "paused-sink"]
    # As `watchdog status --problems`: not healthy (paused-sink is transient), or gone.
    problems = await rows("problems=true")
    assert "paused-sink" in problems and "orders-sink" not in problems and len(problems) == 1 + GONE_ROWS_LISTED
    assert await rows("problems=true&gone=false") == ["paused-sink"]
    assert await rows(f"cluster={CLUSTER_ID}&gone=false") == await rows(f"cluster={CLUSTER}&gone=false")
    assert await rows(f"cluster={CLUSTER}&gone=false") == ["billing-sink", "orders-sink", "paused-sink"]


async def test_a_query_it_cannot_take_is_refused_with_why() -> None:
    w, http = world()
    await polled(w)
    for query, status, said in [
        ("problems=yes", 400, "problems must be true or false, not 'yes'"),
        ("gone=0", 400, "gone must be true or false, not '0'"),
        ("cluster=%1Bprod", 400, "cluster "),
        ("cluster=prdo", 404, "unknown cluster 'prdo'"),
    ]:
        response = await http.get("/v1/connectors?" + query, headers=AUTH)
        assert (response.status_code, response.json()["error"][:len(said)]) == (status, said), query
    assert (await http.get("/v1/connectors?cluster=prdo", headers=AUTH)).json()["known"] == [CLUSTER]


def test_a_row_of_a_cluster_not_polled_yet_is_judged_gone_on_every_row_not_on_the_chosen_ones() -> None:
    # Before the cluster's first poll here the rows do not say gone: it is worked out from the
    # cluster's newest `seen_at`. Worked out on the problem rows alone, the newest of them was
    # taken for the cluster's last poll, and the deleted connector read as existing.
    now = SEEN
    live = StatusRow(ConnectorKey("c", "live"), ConnectorState(health=Health.HEALTHY), "RUNNING", now)
    failed = StatusRow(ConnectorKey("c", "failed"), ConnectorState(health=Health.FAILED), "FAILED", now)
    deleted = StatusRow(ConnectorKey("c", "deleted"), ConnectorState(health=Health.FAILED), "FAILED",
                        now - timedelta(minutes=5))
    removed = StatusRow(ConnectorKey("old", "x"), ConnectorState(health=Health.FAILED), "FAILED", now,
                        gone=False, unwatched=True, cluster_unwatched=True)
    places: dict[str, ClusterPlace] = {}
    chosen, extra = select_rows([live, failed, deleted, removed], places, RowQuery(problems=True))
    assert [(row.key.connector, row.gone) for row in chosen] == [("failed", False), ("deleted", True)]
    assert extra["clusters_unwatched"] == ["old"] and extra["rows_selected"] == 4
    chosen, extra = select_rows([live, failed, deleted, removed], places, RowQuery(cap=1))
    assert [row.key.connector for row in chosen] == ["live", "failed", "x"], "the newest of the two kept"
    assert (extra["left_out"]["gone"], extra["left_out"]["cluster_unwatched"]) == (1, 0)
