"""Scenario files: loading, the built-in demo, and errors that name the offending field."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from watchdog.simulator import Scenario, ScenarioError, Simulator, builtin_scenario, load_scenario
from watchdog.simulator.scenario import parse_scenario

from .support import CLUSTER, scenario


def _error(data: dict[str, Any]) -> str:
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(data, "test.yaml")
    return str(caught.value)


def test_demo_scenario_has_the_promised_cast() -> None:
    demo = builtin_scenario("demo")
    simulator = Simulator(demo, clock=lambda: 0.0)

    states = {c.name: (c.cluster, c.state, c.tasks) for c in simulator.connectors()}
    assert [k.id for k in demo.api_keys] == ["demo-key"]
    assert [e.id for e in demo.environments] == ["env-demo01", "env-demo02"]
    listed = {name: state for name, state in states.items() if state[0] in ("lkc-demo01", "lkc-demo02")}
    assert len(listed) == 13
    # The environment the demo discovers: named analytics, one cluster created at t=3, one excluded.
    analytics = demo.environments[1]
    assert analytics.display_name == "analytics"
    assert {c.id: c.display_name for c in analytics.clusters} == {
        "lkc-demo03": "clickstream", "lkc-demo04": "reporting", "lkc-demo05": "scratch-sandbox"}
    assert analytics.clusters[1].lifecycle.created_at == 3
    assert states["events-sink"][:2] == ("lkc-demo03", "RUNNING")
    assert states["inventory-sink"][1:] == ("DEGRADED", ("RUNNING", "UNASSIGNED"))
    assert states["warehouse-sink"][1:] == ("FAILED", ())
    assert states["crm-source"][1] == "PROVISIONING"
    assert states["audit-sink"][1] == "PAUSED"
    assert states["metrics-sink"][1:] == ("DEGRADED", ("RUNNING", "RUNNING", "SYSTEM_ERROR"))
    assert states["users-source"][1:] == ("FAILED", ("USER_ACTIONABLE_ERROR",))
    assert states["clickstream-sink"][1] == "FAILED"
    assert states["billing-sink"][1] == "RUNNING"
    assert demo.rate_limit is not None and demo.rate_limit.window_seconds <= 10
    assert demo.restart.delay_seconds == 3


def test_load_scenario_reads_yaml(tmp_path: Path) -> None:
    file = tmp_path / "s.yaml"
    file.write_text(yaml.safe_dump(scenario()))

    loaded = load_scenario(file)

    assert isinstance(loaded, Scenario)
    assert [c.name for c in loaded.environments[0].clusters[0].connectors] == [
        "orders-source",
        "billing-sink",
    ]


def test_missing_file_is_a_scenario_error(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="cannot read scenario"):
        load_scenario(tmp_path / "absent.yaml")


def test_broken_yaml_is_a_scenario_error(tmp_path: Path) -> None:
    file = tmp_path / "s.yaml"
    file.write_text("api_keys: [\n")
    with pytest.raises(ScenarioError, match="not valid YAML"):
        load_scenario(file)


def test_a_scenario_must_be_a_mapping() -> None:
    with pytest.raises(ScenarioError, match="a scenario is a mapping, not list"):
        parse_scenario([1, 2], "test.yaml")


def test_unknown_builtin_lists_the_available_ones() -> None:
    with pytest.raises(ScenarioError, match=r"no built-in scenario 'nope'; available: .*demo"):
        builtin_scenario("nope")


def test_unknown_key_is_named_with_its_path() -> None:
    data = scenario([{"name": "orders-source", "scirpt": {"initial": "FAILED"}}])

    message = _error(data)

    assert "test.yaml: invalid scenario" in message
    assert (
        "environments.0.clusters.0.connectors.0.scirpt: Extra inputs are not permitted" in message
    )


def test_unknown_top_level_key_is_named() -> None:
    assert "rate_limits: Extra inputs are not permitted" in _error(scenario(rate_limits={}))


@pytest.mark.parametrize(
    ("script", "complaint"),
    [
        ({"provisioning_until": 5}, "provisioning_until needs initial: PROVISIONING"),
        ({"fail_at": 5, "flap": {"running_seconds": 1, "failed_seconds": 1}}, "exclude each other"),
        ({"initial": "FAILED", "fail_at": 5}, "initial FAILED is failed"),
        ({"initial": "FAILED", "failure": "DEGRADED"}, "contradicts initial FAILED"),
        ({"initial": "FAILED", "refail_after": 2}, "refail_after has no effect"),
        ({"initial": "SLEEPING"}, "initial: Input should be"),
        ({"recover_after_restarts": 0}, "recover_after_restarts"),
    ],
)
def test_inconsistent_scripts_are_rejected(script: dict[str, Any], complaint: str) -> None:
    message = _error(scenario([{"name": "c", "tasks": 2, "script": script}]))
    assert "connectors.0.script" in message
    assert complaint in message


@pytest.mark.parametrize(
    ("data", "complaint"),
    [
        (scenario([{"name": "c", "script": {"initial": "DEGRADED"}}]), "needs tasks: 2 or more"),
        (scenario([{"name": "c"}, {"name": "c"}]), "duplicate connector name: c"),
        (
            scenario([{"name": "a", "id": "lcc-x1"}, {"name": "b", "id": "lcc-x1"}]),
            "duplicate connector id",
        ),
        (scenario([{"name": "c", "id": "connector-1"}]), "connectors.0.id"),
        (scenario([{"name": ""}]), "connectors.0.name"),
        # Confluent Cloud names may hold '/' (routed percent-encoded); Kafka Connect refuses them.
        (scenario(kafka_connect_clusters=[{"name": "k", "connectors": [{"name": "a/b"}]}]), "refuses '/' in names"),
        (scenario(routing={"encoded_slash": "mangle"}), "routing.encoded_slash"),
        (scenario([{"name": "c", "type": "both"}]), "connectors.0.type"),
        (
            scenario(api_keys=[{"id": "k", "secret": "s", "clusters": ["lkc-nope"]}]),
            "unknown clusters",
        ),
        (scenario(api_keys=[]), "api_keys: List should have at least 1 item"),
        (scenario(restart={"rejected_states": ["ASLEEP"]}), "restart.rejected_states.0"),
        (scenario(rate_limit={"limit": 0, "window_seconds": 5}), "rate_limit.limit"),
        (
            scenario(rate_limit={"limit": 1, "window_seconds": 5, "headers": "sometimes"}),
            "rate_limit.headers",
        ),
        (scenario(latency_seconds=[1]), "latency_seconds"),
        (scenario(arrival_delay_seconds=-1), "arrival_delay_seconds"),
        (scenario(metrics_api={"export_sample_seconds": 0}), "metrics_api.export_sample_seconds"),
        (scenario(metrics_api={"zero_points": "skip"}), "metrics_api.zero_points"),
        (scenario(metrics_api={"rate_limit": {"limit": 0}}), "metrics_api.rate_limit.limit"),
        (scenario(metrics_api={"delay": 3}), "metrics_api.delay"),
        (scenario([{"name": "c", "script": {"idle_at": -1}}]), "script.idle_at"),
        (
            scenario(kafka_connect_clusters=[{"name": "k", "bare_restart_status": 202}]),
            "kafka_connect_clusters.0.bare_restart_status",
        ),
        (scenario(kafka_connect_clusters=[{"name": "k", "kafka_version": "3.x"}]), "kafka_connect_clusters.0.kafka_version"),
        (
            scenario(
                kafka_connect_clusters=[
                    {"name": "k", "basic_auth": {"username": "a:b", "password": "p"}}
                ]
            ),
            "kafka_connect_clusters.0.basic_auth.username",
        ),
        (
            scenario(
                kafka_connect_clusters=[{"name": "k"}],
                api_keys=[{"id": "x", "secret": "s", "clusters": ["k"]}],
            ),
            "api key x: unknown clusters ['k']",
        ),
    ],
)
def test_invalid_worlds_are_rejected(data: dict[str, Any], complaint: str) -> None:
    assert complaint in _error(data)


def test_duplicate_cluster_ids_are_rejected() -> None:
    data = scenario()
    data["environments"].append({"id": "env-test02", "clusters": [{"id": CLUSTER}]})
    assert "duplicate cluster id: lkc-test01" in _error(data)


@pytest.mark.parametrize(
    ("fault", "complaint"),
    [
        ({"action": {}}, "an action needs status"),
        ({"action": {"status": 500, "truncated": True}}, "choose one of status, truncated"),
        ({"action": {"reset": True, "headers": {"A": "b"}}}, "body and headers go with status"),
        ({"action": {"status": 200, "headers": {"Content-Length": "9"}}}, "use truncated"),
        ({"action": {"status": 99}}, "faults.0.action.status"),
        ({"action": {"status": 500}, "when": {"probability": 2}}, "faults.0.when.probability"),
        ({"action": {"status": 500}, "match": {"endpoint": "delete"}}, "faults.0.match.endpoint"),
        ({"action": {"status": 500}, "match": {"cluster": "lkc-nope"}}, "unknown cluster lkc-nope"),
        ({"action": {"status": 500}, "match": {"api_key": "nobody"}}, "unknown api key nobody"),
        ({"action": {"status": 500}, "when": {"start": 3}}, "faults.0.when.start"),
    ],
)
def test_invalid_fault_rules_are_rejected(fault: dict[str, Any], complaint: str) -> None:
    assert complaint in _error(scenario(faults=[fault]))


def test_config_values_become_strings_and_secrets_are_kept_out_of_reprs() -> None:
    loaded = Scenario.model_validate(
        scenario([{"name": "c", "config": {"batch.size": 500, "enabled": True, "ratio": 0.5}}])
    )
    config = loaded.environments[0].clusters[0].connectors[0].config

    assert config == {"batch.size": "500", "enabled": "true", "ratio": "0.5"}
    assert "test-secret" not in repr(loaded)


def test_derived_connector_ids_are_stable_and_shaped_like_cloud_ids() -> None:
    first = Simulator(Scenario.model_validate(scenario()), clock=lambda: 0.0)
    second = Simulator(Scenario.model_validate(scenario()), clock=lambda: 0.0)

    ids = [c.id for c in first.connectors()]
    assert ids == [c.id for c in second.connectors()]
    assert all(re.fullmatch(r"lcc-[a-z0-9]{6}", i) for i in ids)
    assert len(set(ids)) == len(ids)


def test_a_scenario_may_hold_only_kafka_connect_clusters() -> None:
    loaded = Scenario.model_validate(
        {
            "api_keys": [{"id": "k", "secret": "s"}],
            "environments": [],
            "kafka_connect_clusters": [{"name": "onprem", "connectors": [{"name": "c"}]}],
            "faults": [{"match": {"cluster": "onprem"}, "action": {"status": 409}}],
        }
    )

    assert loaded.cluster_ids == {"onprem"}
    assert loaded.metrics_api.rate_limit is not None and loaded.metrics_api.rate_limit.limit == 300
    assert [c.cluster for c in Simulator(loaded, clock=lambda: 0.0).connectors()] == ["onprem"]
