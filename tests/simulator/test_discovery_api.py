"""The simulated environment and cluster lists (org/v2, cmk/v2): answers valid against
Confluent's specs, paging, errors, clusters appearing and disappearing, per-key access."""

from __future__ import annotations

from typing import Any

import pytest

from watchdog.simulator.discovery_api import PUBLIC_BASE

from .openapi import Spec, assert_valid
from .support import AUTH, NARROW_AUTH, Build, Harness

ENVIRONMENTS = "/org/v2/environments"
CLUSTERS = "/cmk/v2/clusters"


@pytest.fixture(scope="module")
def org() -> Spec:
    return Spec("confluent-org-v2-openapi.yaml")


@pytest.fixture(scope="module")
def cmk() -> Spec:
    return Spec("confluent-cmk-v2-openapi.yaml")


def fleet(clusters: int = 3, **settings: Any) -> dict[str, Any]:
    return {
        "api_keys": [
            {"id": AUTH[0], "secret": AUTH[1]},
            {"id": NARROW_AUTH[0], "secret": NARROW_AUTH[1], "environments": ["env-prod"], "clusters": ["lkc-p000"]},
        ],
        "environments": [
            {"id": "env-prod", "display_name": "production", "clusters": [
                {"id": f"lkc-p{i:03d}", "display_name": f"prod-{i}", "cloud": "GCP", "region": "us-central1"}
                for i in range(clusters)
            ]},
            {"id": "env-dev", "clusters": [
                {"id": "lkc-late", "lifecycle": {"created_at": 100, "provisioning_seconds": 60, "deleted_at": 400}},
                {"id": "lkc-broken", "lifecycle": {"provisioning_seconds": 30, "failed": True}},
            ]},
        ],
        **settings,
    }


async def pages(harness: Harness, path: str, **params: Any) -> list[dict[str, Any]]:
    """Every item, following metadata.next's page token (as the daemon does)."""
    from urllib.parse import parse_qs, urlsplit

    items: list[dict[str, Any]] = []
    token = None
    while True:
        query = {**params, **({"page_token": token} if token else {})}
        answer = await harness.client.get(path, params=query)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        items += body["data"]
        link = body["metadata"].get("next")
        if not link:
            return items
        assert link.startswith(PUBLIC_BASE)
        token = parse_qs(urlsplit(link).query)["page_token"][0]


async def test_every_answer_is_valid_against_the_specs(build: Build, org: Spec, cmk: Spec) -> None:
    harness = build(fleet(clusters=12))
    harness.clock.advance(130)  # lkc-late exists, still PROVISIONING
    environments = await harness.client.get(ENVIRONMENTS)
    assert_valid(org.validator(ENVIRONMENTS, "get", 200), environments.json())
    for environment in ("env-prod", "env-dev"):
        for size in (5, 100):
            answer = await harness.client.get(CLUSTERS, params={"environment": environment, "page_size": size})
            assert answer.status_code == 200
            assert_valid(cmk.validator(CLUSTERS, "get", 200), answer.json())
    cases = [
        (await harness.client.get(CLUSTERS), 400),  # environment is required
        (await harness.client.get(CLUSTERS, params={"environment": "env-prod", "page_size": 101}), 400),
        (await harness.client.get(CLUSTERS, params={"environment": "env-nope"}), 403),
        (await harness.client.get(ENVIRONMENTS, auth=("test-key", "wrong")), 401),
    ]
    for answer, status in cases:
        assert answer.status_code == status, answer.text
        spec = org if answer.request.url.path == ENVIRONMENTS else cmk
        assert_valid(spec.validator(answer.request.url.path, "get", status), answer.json())


async def test_the_recorded_shapes_are_what_the_daemon_reads(build: Build) -> None:
    harness = build(fleet(clusters=1))
    (environment,) = [e for e in (await harness.client.get(ENVIRONMENTS)).json()["data"] if e["id"] == "env-prod"]
    assert environment["display_name"] == "production" and environment["kind"] == "Environment"
    (cluster,) = (await harness.client.get(CLUSTERS, params={"environment": "env-prod"})).json()["data"]
    assert cluster["spec"]["display_name"] == "prod-0"
    assert cluster["spec"]["environment"]["id"] == "env-prod"
    assert cluster["status"] == {"phase": "PROVISIONED"}
    assert cluster["spec"]["cloud"] == "GCP" and cluster["spec"]["region"] == "us-central1"


async def test_pages_follow_the_default_and_asked_sizes_and_are_sorted(build: Build) -> None:
    harness = build(fleet(clusters=25))
    first = (await harness.client.get(CLUSTERS, params={"environment": "env-prod"})).json()
    assert len(first["data"]) == 10 and first["metadata"]["total_size"] == 25, "10: the specs' default page size"
    assert "page_token=" in first["metadata"]["next"] and "environment=env-prod" in first["metadata"]["next"]
    ids = [c["id"] for c in await pages(harness, CLUSTERS, environment="env-prod", page_size=7)]
    assert ids == sorted(f"lkc-p{i:03d}" for i in range(25))
    last = (await harness.client.get(CLUSTERS, params={"environment": "env-prod", "page_size": 25})).json()
    assert "next" not in last["metadata"]


async def test_a_cluster_created_between_two_pages_is_neither_lost_nor_repeated(build: Build) -> None:
    data = fleet(clusters=4)
    data["environments"][0]["clusters"].append({"id": "lkc-p001b", "lifecycle": {"created_at": 10}})
    harness = build(data)
    first = (await harness.client.get(CLUSTERS, params={"environment": "env-prod", "page_size": 2})).json()
    assert [c["id"] for c in first["data"]] == ["lkc-p000", "lkc-p001"]
    harness.clock.advance(20)
    token = first["metadata"]["next"].split("page_token=")[1]
    rest = (await harness.client.get(CLUSTERS, params={"environment": "env-prod", "page_size": 10, "page_token": token})).json()
    assert [c["id"] for c in rest["data"]] == ["lkc-p001b", "lkc-p002", "lkc-p003"]


async def test_a_bad_page_token_is_a_400(build: Build) -> None:
    harness = build(fleet())
    answer = await harness.client.get(ENVIRONMENTS, params={"page_token": "%%%not-a-token"})
    assert answer.status_code == 400 and answer.json()["errors"][0]["code"] == "invalid_page_token"


async def test_clusters_appear_provision_and_disappear_on_the_timeline(build: Build) -> None:
    harness = build(fleet())

    async def dev() -> dict[str, str]:
        answer = await harness.client.get(CLUSTERS, params={"environment": "env-dev"})
        return {c["id"]: c["status"]["phase"] for c in answer.json()["data"]}

    async def connect_status() -> int:
        return (await harness.client.get("/connect/v1/environments/env-dev/clusters/lkc-late/connectors")).status_code

    assert await dev() == {"lkc-broken": "PROVISIONING"}
    assert await connect_status() == 404, "not created yet: its Connect API knows nothing of it"
    harness.clock.advance(120)
    assert await dev() == {"lkc-broken": "FAILED", "lkc-late": "PROVISIONING"}
    assert await connect_status() == 200
    harness.clock.advance(60)
    assert (await dev())["lkc-late"] == "PROVISIONED"
    harness.clock.advance(300)
    assert "lkc-late" not in await dev()
    assert await connect_status() == 404


async def test_an_environment_deleted_is_no_longer_listed_and_its_clusters_answer_404(build: Build) -> None:
    data = fleet()
    data["environments"][0]["deleted_at"] = 50
    harness = build(data)
    harness.clock.advance(60)
    listed = [e["id"] for e in (await harness.client.get(ENVIRONMENTS)).json()["data"]]
    assert listed == ["env-dev"]
    assert (await harness.client.get(CLUSTERS, params={"environment": "env-prod"})).status_code == 403
    assert (await harness.client.get("/connect/v1/environments/env-prod/clusters/lkc-p000/connectors")).status_code == 404


@pytest.mark.parametrize(("unpermitted", "listed"), [("hidden", ["env-prod"]), ("listed", ["env-dev", "env-prod"])])
async def test_a_key_sees_the_environments_and_clusters_it_may(build: Build, unpermitted: str, listed: list[str]) -> None:
    harness = build(fleet(discovery={"unpermitted_environments": unpermitted}), auth=NARROW_AUTH)
    assert [e["id"] for e in (await harness.client.get(ENVIRONMENTS)).json()["data"]] == listed
    clusters = (await harness.client.get(CLUSTERS, params={"environment": "env-prod"})).json()["data"]
    assert [c["id"] for c in clusters] == ["lkc-p000"], "only the clusters the key may use"
    refused = await harness.client.get(CLUSTERS, params={"environment": "env-dev"})
    assert refused.status_code == 403 and refused.json()["errors"][0]["status"] == "403"


async def test_the_rate_limit_is_the_keys_own_shared_with_the_connect_api(build: Build) -> None:
    harness = build(fleet(rate_limit={"limit": 2, "window_seconds": 10}))
    assert (await harness.client.get("/connect/v1/environments/env-prod/clusters/lkc-p000/connectors")).status_code == 200
    assert (await harness.client.get(ENVIRONMENTS)).status_code == 200
    refused = await harness.client.get(CLUSTERS, params={"environment": "env-prod"})
    assert refused.status_code == 429 and refused.content == b""
    assert refused.headers["Retry-After"] == "10" and refused.headers["X-RateLimit-Remaining"] == "0"
    assert refused.headers["X-Request-Id"]


async def test_faults_match_the_discovery_endpoints(build: Build, cmk: Spec) -> None:
    harness = build(fleet(faults=[{"match": {"endpoint": "list_clusters"}, "when": {"count": 1}, "action": {"status": 500}}]))
    failed = await harness.client.get(CLUSTERS, params={"environment": "env-prod"})
    assert failed.status_code == 500
    assert_valid(cmk.validator(CLUSTERS, "get", 500), failed.json())
    assert (await harness.client.get(CLUSTERS, params={"environment": "env-prod"})).status_code == 200
    assert [c.endpoint for c in harness.simulator.calls] == ["list_clusters", "list_clusters"]
    assert all(c.api == "discovery" for c in harness.simulator.calls)


def test_scenario_keys_are_checked() -> None:
    from watchdog.simulator import Scenario

    with pytest.raises(ValueError, match="unknown environments"):
        Scenario.model_validate({**fleet(), "api_keys": [{"id": "k", "secret": "s", "environments": ["env-nope"]}]})
    bad = fleet()
    bad["environments"][1]["clusters"][0]["lifecycle"] = {"created_at": 10, "deleted_at": 5}
    with pytest.raises(ValueError, match="deleted_at comes after created_at"):
        Scenario.model_validate(bad)
