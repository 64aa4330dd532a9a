"""Discovery's pure parts: reading org/v2 and cmk/v2 pages, and what the inventory makes of
refreshes (missing, gone, returned, not ready, excluded, static, deselected)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from watchdog.config import DiscoverySettings
from watchdog.discovery.found import (
    FoundCluster,
    FoundEnvironment,
    cluster_parser,
    next_page_token,
    parse_environment,
    parse_page,
)
from watchdog.discovery.inventory import (
    Change,
    ClusterState,
    EnvironmentOutcome,
    EnvironmentResult,
    Inventory,
    Sweep,
)

PROD = FoundEnvironment("env-prod", "production")
DEV = FoundEnvironment("env-dev", "development")
ALL = DiscoverySettings()


def cluster(identifier: str, environment: FoundEnvironment = PROD, name: str | None = None, phase: str = "PROVISIONED") -> FoundCluster:
    return FoundCluster(identifier, environment.id, name or identifier, phase)


def read(environment: FoundEnvironment, *clusters: FoundCluster) -> EnvironmentResult:
    return EnvironmentResult(environment, EnvironmentOutcome.READ, tuple(clusters))


def sweep(*results: EnvironmentResult, listed: tuple[FoundEnvironment, ...] | None = (PROD, DEV)) -> Sweep:
    return Sweep(tuple(results), listed)


_CLOCK = [0.0]


def record(inventory: Inventory, found: Sweep, settings: DiscoverySettings, *, after: float = 300.0) -> list[Any]:
    """One refresh, `after` seconds after the previous one (an interval, by default)."""
    _CLOCK[0] += after
    return inventory.record(found, settings, now=_CLOCK[0])


def changes(events: list[Any]) -> list[tuple[str, str]]:
    return [(e.change.value, e.cluster.id) for e in events]


# -- pages ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("metadata", [None, {}, {"next": None}, {"next": ""}, {"first": "https://x/y", "total_size": 3}])
def test_no_next_link_is_the_last_page(metadata: Any) -> None:
    assert next_page_token(metadata) is None


def test_the_page_token_is_taken_from_the_next_link_and_its_host_ignored() -> None:
    link = "https://elsewhere.example/cmk/v2/clusters?page_token=dyJpZCI6InNh&environment=env-1jrymj"
    assert next_page_token({"next": link}) == "dyJpZCI6InNh"


@pytest.mark.parametrize("metadata", [{"next": "https://api.confluent.cloud/cmk/v2/clusters?environment=env-1"},
                                      {"next": 7}, ["next"]])
def test_a_next_link_without_a_token_fails_the_page_rather_than_ending_the_listing(metadata: Any) -> None:
    with pytest.raises(ValueError):
        next_page_token(metadata)


@pytest.mark.parametrize("body", [[], {}, {"data": None}, {"data": {}}, "text"])
def test_a_page_without_a_data_array_fails(body: Any) -> None:
    with pytest.raises(ValueError, match="data"):
        parse_page(body, parse_environment)


def test_entries_that_cannot_be_read_are_skipped_and_counted() -> None:
    page = parse_page({"data": [
        {"id": "env-1", "display_name": "one"},
        # No display name (optional in org/v2): none is taken. Its id stood in once, which renamed
        # a known environment and dropped its clusters at once under a `names:` selection.
        {"id": "env-2"},
        {"display_name": "no id"},
        {"id": "env/3"},
        "not an object",
    ]}, parse_environment)
    assert page.items == (FoundEnvironment("env-1", "one"), FoundEnvironment("env-2", None))
    assert page.skipped == 3


def test_the_entries_a_cluster_listing_skips_are_named_by_their_ids_where_they_have_one() -> None:
    page = parse_page({"data": [
        {"id": "lkc-a", "spec": {"environment": {"id": "env-1"}}},
        {"id": "lkc-b", "spec": {"environment": {"id": "env-other"}}},  # another environment's
        {"id": None}, {"spec": {}}, "lkc-c", {"id": "lkc-bad!"},  # no id that could be read
    ]}, cluster_parser("env-1"))
    assert [c.id for c in page.items] == ["lkc-a"]
    assert (page.skipped, page.skipped_ids, page.unnamed) == (5, frozenset({"lkc-b"}), 4)


def test_clusters_are_read_from_the_recorded_cmk_shape() -> None:
    parse = cluster_parser("env-1jrymj")
    entry = {  # the Terraform provider's recorded answer, trimmed
        "api_version": "cmk/v2", "id": "lkc-19ynpv", "kind": "Cluster",
        "spec": {"display_name": "TestCluster", "environment": {"id": "env-1jrymj", "kind": "Environment"},
                 "cloud": "GCP", "unknown_field": {"ignored": True}},
        "status": {"phase": "PROVISIONING"},
    }
    assert parse(entry) == FoundCluster("lkc-19ynpv", "env-1jrymj", "TestCluster", "PROVISIONING")
    assert parse({**entry, "status": None}) == FoundCluster("lkc-19ynpv", "env-1jrymj", "TestCluster", "")


@pytest.mark.parametrize("entry", [
    {"id": "LKC-UPPER"},  # its id becomes a name in metrics and the state file: it must be one
    {"id": "lkc-" + "x" * 64},
    {"id": "lkc-other", "spec": {"environment": {"id": "env-someone-else"}}},  # the filter was not applied
    {"spec": {}},
    # The spec's id is a free string: one not of the lkc- shape could take a configured
    # cluster's name (`orders`) and replace it.
    {"id": "orders"},
])
def test_clusters_whose_id_or_environment_cannot_be_trusted_are_skipped(entry: dict[str, Any]) -> None:
    assert cluster_parser("env-1")(entry) is None


def test_display_names_are_made_printable_and_bounded() -> None:
    found = cluster_parser("env-1")({"id": "lkc-1", "spec": {"display_name": "a\x1b[2Jb" + "n" * 300}})
    assert found is not None
    assert found.display_name.startswith("a?[2Jb") and len(found.display_name) == 128


def test_a_cluster_being_deleted_is_read_with_its_deleted_at_not_skipped_as_unreadable() -> None:
    parse = cluster_parser("env-1")
    entry = {"id": "lkc-going", "metadata": {"deleted_at": "2026-11-30T00:00:00Z"}, "status": {"phase": "PROVISIONED"}}
    assert parse_page({"data": [entry]}, parse).skipped == 0, "it was logged as an entry without a usable id"
    going = parse(entry)
    assert going is not None and going.deleted_at == "2026-11-30T00:00:00Z"
    deadline = datetime(2026, 11, 30, tzinfo=UTC).timestamp()
    assert going.deleted_by(deadline) and not going.deleted_by(deadline - 1)
    assert parse({**entry, "metadata": {"deleted_at": "soon"}}).deleted_by(0), "unreadable: going now"  # type: ignore[union-attr]
    assert not parse({**entry, "metadata": {"deleted_at": None}}).deleted_by(deadline)  # type: ignore[union-attr]


# -- the inventory --------------------------------------------------------------------------------


def test_a_cluster_is_watched_from_the_refresh_that_finds_it_provisioned() -> None:
    inventory = Inventory()
    record(inventory, sweep(read(PROD, cluster("lkc-a")), read(DEV)), ALL)
    assert list(inventory.watched(ALL, ())) == ["lkc-a"]


def test_a_cluster_missing_once_stays_watched_and_is_dropped_the_second_time() -> None:
    inventory = Inventory()
    record(inventory, sweep(read(PROD, cluster("lkc-a"), cluster("lkc-b"))), ALL)
    events = record(inventory, sweep(read(PROD, cluster("lkc-a"))), ALL)
    assert changes(events) == [("missing", "lkc-b")]
    assert set(inventory.watched(ALL, ())) == {"lkc-a", "lkc-b"}
    assert inventory.counts(ALL, ())[ClusterState.MISSING] == 1
    record(inventory, sweep(read(PROD, cluster("lkc-a"))), ALL)
    assert set(inventory.watched(ALL, ())) == {"lkc-a"}
    assert "2 refreshes in a row" in inventory.why_not_watched("lkc-b", ALL, ())


def test_a_cluster_listing_that_skipped_an_entry_naming_no_id_counts_no_cluster_missing() -> None:
    # Entries answered with `id: null` (a schema change, a gateway rewriting the answer) read as
    # a listing without them: every known cluster of the environment missing, then dropped (no
    # polls, no restarts) after two refreshes. Any of them may be such an entry: none is missing.
    inventory = Inventory()
    record(inventory, sweep(read(PROD, cluster("lkc-a"), cluster("lkc-b")), read(DEV, cluster("lkc-d", DEV))), ALL)
    unreadable = EnvironmentResult(PROD, EnvironmentOutcome.READ, (cluster("lkc-a"),), unnamed=1)
    assert changes(record(inventory, sweep(unreadable, read(DEV)), ALL)) == [("missing", "lkc-d")], \
        "another environment's listing, read whole, still counts its absences"
    for _ in range(3):
        assert changes(record(inventory, sweep(unreadable, read(DEV)), ALL)) == []
    assert set(inventory.watched(ALL, ())) == {"lkc-a", "lkc-b"}, "kept while an entry of its listing names no id"
    # Read whole again, without it: missing, then dropped, as any cluster no longer listed.
    assert changes(record(inventory, sweep(read(PROD, cluster("lkc-a")), read(DEV)), ALL)) == [("missing", "lkc-b")]
    record(inventory, sweep(read(PROD, cluster("lkc-a")), read(DEV)), ALL)
    assert set(inventory.watched(ALL, ())) == {"lkc-a"}


def test_a_cluster_whose_entry_was_skipped_is_not_counted_missing_but_others_are() -> None:
    # Its entry named it but could not be trusted (its environment answered otherwise): whether it
    # is gone cannot be told from that listing. A cluster no entry names is missing as before.
    inventory = Inventory()
    record(inventory, sweep(read(PROD, cluster("lkc-a"), cluster("lkc-b"), cluster("lkc-c"))), ALL)
    skipped = EnvironmentResult(PROD, EnvironmentOutcome.READ, (cluster("lkc-a"),), skipped_ids=frozenset({"lkc-b"}))
    assert changes(record(inventory, sweep(skipped), ALL)) == [("missing", "lkc-c")]
    record(inventory, sweep(skipped), ALL)
    assert set(inventory.watched(ALL, ())) == {"lkc-a", "lkc-b"}


def test_two_absences_within_much_less_than_an_interval_do_not_drop_a_cluster() -> None:
    # A refresh made early (after a reload, or 30 s after a failed one) must not shorten the grace.
    inventory = Inventory()
    record(inventory, sweep(read(PROD, cluster("lkc-a"), cluster("lkc-b"))), ALL)
    record(inventory, sweep(read(PROD, cluster("lkc-a"))), ALL)
    record(inventory, sweep(read(PROD, cluster("lkc-a"))), ALL, after=30)
    assert "lkc-b" in inventory.watched(ALL, ())
    record(inventory, sweep(read(PROD, cluster("lkc-a"))), ALL, after=270)
    assert "lkc-b" not in inventory.watched(ALL, ()), "absent from every refresh over a whole interval"


def test_a_cluster_listed_again_before_its_second_absence_returns() -> None:
    inventory = Inventory()
    record(inventory, sweep(read(PROD, cluster("lkc-a"))), ALL)
    record(inventory, sweep(read(PROD)), ALL)
    assert changes(record(inventory, sweep(read(PROD, cluster("lkc-a"))), ALL)) == [("returned", "lkc-a")]
    record(inventory, sweep(read(PROD)), ALL)
    assert "lkc-a" in inventory.watched(ALL, ()), "the count started over when it came back"


def test_an_environment_that_could_not_be_read_says_nothing_about_its_clusters() -> None:
    inventory = Inventory()
    record(inventory, sweep(read(PROD, cluster("lkc-a"))), ALL)
    unknown = EnvironmentResult(PROD, EnvironmentOutcome.UNKNOWN, detail="server_error: 503")
    for _ in range(3):
        assert record(inventory, sweep(unknown), ALL) == []
    assert "lkc-a" in inventory.watched(ALL, ())
    record(inventory, Sweep(failure="unauthorized: bad key"), ALL)
    assert "lkc-a" in inventory.watched(ALL, ())


def test_a_forbidden_environment_counts_as_read_and_empty_without_touching_its_neighbour() -> None:
    inventory = Inventory()
    record(inventory, sweep(read(PROD, cluster("lkc-a")), read(DEV, cluster("lkc-d", DEV))), ALL)
    gone = EnvironmentResult(DEV, EnvironmentOutcome.GONE, detail="forbidden: User Access Unauthorized")
    record(inventory, sweep(read(PROD, cluster("lkc-a")), gone), ALL)
    record(inventory, sweep(read(PROD, cluster("lkc-a")), gone), ALL)
    assert list(inventory.watched(ALL, ())) == ["lkc-a"]
    assert "forbidden" in inventory.why_not_watched("lkc-d", ALL, ())


def test_an_environment_no_longer_listed_takes_its_clusters_after_two_refreshes() -> None:
    inventory = Inventory()
    record(inventory, sweep(read(PROD, cluster("lkc-a")), read(DEV, cluster("lkc-d", DEV))), ALL)
    record(inventory, sweep(read(PROD, cluster("lkc-a")), listed=(PROD,)), ALL)
    assert "lkc-d" in inventory.watched(ALL, ())
    record(inventory, sweep(read(PROD, cluster("lkc-a")), listed=(PROD,)), ALL)
    assert list(inventory.watched(ALL, ())) == ["lkc-a"]


def test_a_cluster_not_yet_provisioned_waits_and_once_ready_stays_watched_whatever_its_phase() -> None:
    inventory = Inventory()
    events = record(inventory, sweep(read(PROD, cluster("lkc-new", phase="PROVISIONING"))), ALL)
    assert changes(events) == [("not_ready", "lkc-new")]
    assert inventory.watched(ALL, ()) == {}
    assert inventory.counts(ALL, ())[ClusterState.NOT_READY] == 1
    assert record(inventory, sweep(read(PROD, cluster("lkc-new", phase="PROVISIONING"))), ALL) == []
    record(inventory, sweep(read(PROD, cluster("lkc-new"))), ALL)
    assert "lkc-new" in inventory.watched(ALL, ())
    record(inventory, sweep(read(PROD, cluster("lkc-new", phase="SOMETHING_NEW"))), ALL)
    assert "lkc-new" in inventory.watched(ALL, ())


def test_a_cluster_listed_as_deleted_goes_by_the_missing_path_and_says_why_and_one_set_to_go_later_stays() -> None:
    inventory = Inventory()
    start = datetime(2026, 12, 1, 12, tzinfo=UTC).timestamp()
    deleted = FoundCluster("lkc-a", PROD.id, "lkc-a", "PROVISIONED", deleted_at="2026-12-01T11:00:00Z")
    later = FoundCluster("lkc-b", PROD.id, "lkc-b", "PROVISIONED", deleted_at="2027-01-15T00:00:00Z")
    inventory.record(sweep(read(PROD, cluster("lkc-a"), cluster("lkc-b"))), ALL, now=start)
    events = inventory.record(sweep(read(PROD, deleted, later)), ALL, now=start + 300)
    assert [(e.change.value, e.cluster.id) for e in events] == [("missing", "lkc-a")]
    assert "listed as deleted (metadata.deleted_at 2026-12-01T11:00:00Z)" in events[0].detail
    inventory.record(sweep(read(PROD, deleted, later)), ALL, now=start + 600)
    assert list(inventory.watched(ALL, ())) == ["lkc-b"], "lkc-b is deleted only in January: watched until then"
    assert inventory.why_not_watched("lkc-a", ALL, ()).startswith("listed as deleted (metadata.deleted_at")


def test_a_cluster_listed_in_another_environment_moves_without_being_called_missing() -> None:
    # env-dev is read before env-prod: the cluster was called missing from env-dev ("dropped if
    # the next refresh agrees") and returned in the same refresh; missing once before, dropped.
    for missing_before in (False, True):
        inventory = Inventory()
        record(inventory, sweep(read(DEV, cluster("lkc-a", DEV)), read(PROD)), ALL)
        if missing_before:
            record(inventory, sweep(read(DEV), read(PROD)), ALL)
        events = record(inventory, sweep(read(DEV), read(PROD, cluster("lkc-a"))), ALL)
        assert "missing" not in [e.change.value for e in events]
        assert ("moved", "lkc-a") in changes(events)
        assert not inventory.dropped
        watched = inventory.watched(ALL, ())
        assert list(watched) == ["lkc-a"] and watched["lkc-a"].environment_id == PROD.id


def test_a_cluster_listed_in_two_environments_at_once_stays_where_it_was() -> None:
    # Ids are unique, but an upstream that lists one twice (a gateway mixing answers) made it move
    # there and back at every refresh: two `moved` lines each time, its polls alternating.
    inventory = Inventory()
    record(inventory, sweep(read(PROD, cluster("lkc-a")), read(DEV)), ALL)
    for _ in range(3):
        events = record(inventory, sweep(read(PROD, cluster("lkc-a")), read(DEV, cluster("lkc-a", DEV))), ALL)
        assert changes(events) == [], changes(events)
        assert inventory.watched(ALL, ())["lkc-a"].environment_id == PROD.id
    # New to the inventory, listed twice: the first environment by id, and it stays there.
    fresh = Inventory()
    record(fresh, sweep(read(PROD, cluster("lkc-b")), read(DEV, cluster("lkc-b", DEV))), ALL)
    assert fresh.watched(ALL, ())["lkc-b"].environment_id == DEV.id  # env-dev < env-prod
    assert changes(record(fresh, sweep(read(PROD, cluster("lkc-b")), read(DEV, cluster("lkc-b", DEV))), ALL)) == []
    # Listed in one of them only: it moves as any cluster does.
    assert changes(record(fresh, sweep(read(PROD, cluster("lkc-b")), read(DEV)), ALL)) == [("moved", "lkc-b")]


def test_a_failed_provisioning_is_never_watched() -> None:
    inventory = Inventory()
    record(inventory, sweep(read(PROD, cluster("lkc-broken", phase="FAILED"))), ALL)
    assert inventory.watched(ALL, ()) == {}


def test_globs_on_display_names_and_ids_include_and_exclude() -> None:
    settings = DiscoverySettings.model_validate({"clusters": {"include": ["orders-*", "lkc-keep*"], "exclude": ["*-scratch"]}})
    inventory = Inventory()
    record(inventory, sweep(read(PROD, cluster("lkc-1", name="orders-eu"), cluster("lkc-2", name="orders-scratch"),
                                cluster("lkc-keep9", name="misc"), cluster("lkc-3", name="billing"))), settings)
    assert list(inventory.watched(settings, ())) == ["lkc-1", "lkc-keep9"]
    assert inventory.counts(settings, ())[ClusterState.EXCLUDED] == 2


def test_a_cluster_configured_statically_is_left_to_its_entry() -> None:
    inventory = Inventory()
    record(inventory, sweep(read(PROD, cluster("lkc-a"), cluster("lkc-b"))), ALL)
    assert list(inventory.watched(ALL, {"lkc-a"})) == ["lkc-b"]
    assert inventory.counts(ALL, {"lkc-a"})[ClusterState.STATIC] == 1


def test_a_renamed_cluster_keeps_its_name_and_says_so() -> None:
    inventory = Inventory()
    record(inventory, sweep(read(PROD, cluster("lkc-a", name="orders"))), ALL)
    events = record(inventory, sweep(read(PROD, cluster("lkc-a", name="orders-v2"))), ALL)
    assert changes(events) == [("renamed", "lkc-a")] and events[0].change is Change.RENAMED
    assert inventory.watched(ALL, ())["lkc-a"].display_name == "orders-v2"


def test_environments_selected_by_name_glob_and_by_id() -> None:
    settings = DiscoverySettings.model_validate({"environments": {"names": ["prod*"], "ids": ["env-other"]}})
    other = FoundEnvironment("env-other", "sandbox")
    assert settings.environments.selects(PROD.id, PROD.display_name)
    assert not settings.environments.selects(DEV.id, DEV.display_name)
    assert settings.environments.selects(other.id, None)
    inventory = Inventory()
    record(inventory, sweep(read(PROD, cluster("lkc-a")), read(other, cluster("lkc-o", other)), listed=(PROD, DEV, other)),
                     settings)
    assert list(inventory.watched(settings, ())) == ["lkc-a", "lkc-o"]


def test_clusters_of_an_environment_no_longer_selected_are_forgotten_at_once() -> None:
    inventory = Inventory()
    record(inventory, sweep(read(PROD, cluster("lkc-a")), read(DEV, cluster("lkc-d", DEV))), ALL)
    narrower = DiscoverySettings.model_validate({"environments": {"ids": ["env-prod"]}})
    assert list(inventory.watched(narrower, ())) == ["lkc-a"]
    inventory.prune(narrower)
    assert "not selected" in inventory.why_not_watched("lkc-d", narrower, ())
    assert "lkc-d" not in inventory.clusters


def test_an_environment_answered_without_its_name_keeps_the_name_it_had_and_its_clusters() -> None:
    # display_name is optional in org/v2's Environment. Taken as the id, it renamed `production`
    # to `env-prod`, a `names: [prod*]` selection no longer matched, and every cluster of the
    # environment was dropped at once, with no grace.
    settings = DiscoverySettings.model_validate({"environments": {"names": ["prod*"]}})
    inventory = Inventory()
    record(inventory, sweep(read(PROD, cluster("lkc-a")), listed=(PROD,)), settings)
    assert set(inventory.watched(settings, ())) == {"lkc-a"}

    nameless = FoundEnvironment(PROD.id, None)
    record(inventory, sweep(read(nameless, cluster("lkc-a")), listed=(nameless,)), settings)

    assert set(inventory.watched(settings, ())) == {"lkc-a"} and inventory.dropped == {}
    assert inventory.environment_names[PROD.id] == "production"
