"""The world every fault case plays in: two clusters, a few failing connectors, one status rule.

Small on purpose: four connectors that fail and never recover (so their restarts follow the
backoff from the first to the last), healthy ones for manual restarts, and a second cluster to
show that a fault confined to one cluster stays there.
"""

from __future__ import annotations

from typing import Any

from pydantic import SecretStr

from watchdog.config import Config, Credential, build_config

from ..conftest import TEST_API_KEY, TEST_API_SECRET

ENVIRONMENT = "env-faults1"
PROD, SIDE = "prod", "side"
CLUSTER_IDS = {PROD: "lkc-prod01", SIDE: "lkc-side01"}
FAILING = {PROD: ("orders-sink", "payments-sink", "audit-source"), SIDE: ("side-failing",)}
HEALTHY = {PROD: tuple(f"healthy-{i}" for i in range(7)), SIDE: ("side-0", "side-1", "side-2")}

POLL_INTERVAL = 10.0
STATUS_RULE = {
    "name": "heal",
    "trigger": {"type": "status", "interval": POLL_INTERVAL, "confirm_polls": 2},
    "select": {"include": ["*"]},
    # Short gaps so that a run of a few minutes sees many restarts of each failing connector.
    "backoff": {"base": 1, "cap": 30, "jitter": 0.1},
    # No budget: the matrix follows each failing connector's backoff through the whole run.
    "max_restarts": None,
}
RATE_LIMIT: dict[str, Any] = {}  # the defaults: retries, backoff, max_pause, ceiling
# The fleet-wide breaker holds every restart after 30 in 10 minutes; four connectors failing for
# five minutes reach that, and the held restarts would hide what the fault does to the queue.
# The per-cluster breaker stays on (it never opens here: at most 3 of 10 connectors fail).
BREAKER = {"max_restarts": None}


def connectors(cluster: str) -> list[dict[str, Any]]:
    failing = [
        {"name": name, "type": "sink" if name.endswith("sink") else "source",
         "script": {"initial": "FAILED", "recover_after_restarts": "never"}}
        for name in FAILING[cluster]
    ]
    return failing + [{"name": name} for name in HEALTHY[cluster]]


def scenario(faults: list[dict[str, Any]], **settings: Any) -> dict[str, Any]:
    return {
        "seed": 11,
        "api_keys": [{"id": TEST_API_KEY, "secret": TEST_API_SECRET}],
        "environments": [{
            "id": ENVIRONMENT,
            "clusters": [{"id": CLUSTER_IDS[c], "connectors": connectors(c)} for c in (PROD, SIDE)],
        }],
        "restart": {"delay_seconds": 1},
        "faults": faults,
        **settings,
    }


def config(base_url: str = "http://sim", *, rule: dict[str, Any] | None = None, **sections: Any) -> Config:
    data: dict[str, Any] = {
        "api": {"base_url": base_url},
        "credentials": {"main": {}},
        "clusters": {name: {"environment_id": ENVIRONMENT, "kafka_cluster_id": cid} for name, cid in CLUSTER_IDS.items()},
        "server": {"host": "127.0.0.1", "port": 0},
        "state": {"path": ":memory:"},
        "rate_limit": RATE_LIMIT,
        "breaker": BREAKER,
        "rules": [rule or STATUS_RULE],
    }
    for section, values in sections.items():
        data[section] = {**data.get(section, {}), **values}
    credential = Credential(api_key=SecretStr(TEST_API_KEY), api_secret=SecretStr(TEST_API_SECRET))
    return build_config(data, "fault matrix config", secrets={"credentials": {"main": credential}})
