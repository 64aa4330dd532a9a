"""What every benchmark builds: a simulated Confluent Cloud, a daemon config pointing at it, and
a daemon wired to one clock with the simulator (virtual time) or to loopback sockets (real)."""

from __future__ import annotations

import asyncio
import io
import random
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
from pydantic import SecretStr

from watchdog.app import Daemon
from watchdog.config import Config, Credential, build_config
from watchdog.logs import configure_logging
from watchdog.simulator import Scenario, Simulator, create_app

# A fake key known only to the benchmark's own simulator.
API_KEY, API_SECRET = "BENCHKEY00000001", "bench-secret-not-a-real-one"
ENVIRONMENT = "env-bench01"
EPOCH = datetime(2026, 3, 1, 12, tzinfo=timezone.utc)
# The breakers hold restarts when much fails at once or after 30 restarts in 10 minutes: right
# in production, but a backlog benchmark measures the queue and the rate limiter, so they are
# off where a table says so.
NO_BREAKER = {"max_failing_share": None, "max_restarts": None}


def cluster_id(index: int) -> str:
    return f"lkc-bench{index:03d}"


def cluster_name(index: int) -> str:
    return f"c{index:03d}"


def scenario(clusters: list[list[dict[str, Any]]], **settings: Any) -> Scenario:
    """One environment; `clusters[i]` is the list of connectors of cluster i."""
    return Scenario.model_validate(scenario_data(clusters, **settings))


def scenario_data(clusters: list[list[dict[str, Any]]], **settings: Any) -> dict[str, Any]:
    """The same, as the YAML document `watchdog simulate --scenario` reads."""
    return {
        "seed": 1,
        "api_keys": [{"id": API_KEY, "secret": API_SECRET}],
        "environments": [{
            "id": ENVIRONMENT,
            "display_name": "bench",
            "clusters": [{"id": cluster_id(i), "display_name": cluster_name(i), "connectors": connectors}
                         for i, connectors in enumerate(clusters)],
        }],
        **settings,
    }


def config(clusters: int, rules: list[dict[str, Any]], base_url: str = "http://sim", **sections: Any) -> Config:
    return build_config(config_data(clusters, rules, base_url, **sections), "benchmark config", secrets=secrets())


def config_data(
    clusters: int, rules: list[dict[str, Any]], base_url: str, *, state: str = ":memory:", **sections: Any
) -> dict[str, Any]:
    """The YAML document of a daemon config (credentials come from the environment). `state`:
    the state file (kept in memory unless a benchmark measures the daemon as deployed), or a
    PostgreSQL URL (its password from WATCHDOG_STATE__PASSWORD)."""
    return {
        "state": {"url": state} if state.startswith("postgresql://") else {"path": state},
        "api": {"base_url": base_url},
        "credentials": {"main": {}},
        "clusters": {cluster_name(i): {"environment_id": ENVIRONMENT, "kafka_cluster_id": cluster_id(i)} for i in range(clusters)},
        "server": {"host": "127.0.0.1", "port": 0},
        "rules": rules,
        **sections,
    }


def discovered_config(rules: list[dict[str, Any]], base_url: str, **sections: Any) -> Config:
    """The same daemon config with no cluster listed: discovery finds them (every environment the
    key sees, every cluster)."""
    data = config_data(0, rules, base_url, **sections)
    del data["clusters"]
    data["discovery"] = {}
    return build_config(data, "benchmark config", secrets=secrets())


def secrets(token: str | None = None) -> dict[str, Any]:
    values: dict[str, Any] = {"credentials": {"main": Credential(api_key=SecretStr(API_KEY), api_secret=SecretStr(API_SECRET))}}
    if token is not None:
        values["server"] = {"auth_token": SecretStr(token)}
    return values


def virtual_daemon(config: Config, simulator: Simulator, seed: int = 1) -> Daemon:
    """A daemon on the running (virtual-time) loop's clock, talking to `simulator` in process.
    The simulator must have been built with the same clock."""
    loop = asyncio.get_running_loop()
    return Daemon(
        config,
        transport=httpx.ASGITransport(app=create_app(simulator)),
        clock=loop.time,
        now=wall_clock(loop),
        rng=random.Random(seed).random,
    )


def wall_clock(loop: asyncio.AbstractEventLoop) -> Callable[[], datetime]:
    return lambda: EPOCH + timedelta(seconds=loop.time())


def basic_auth() -> httpx.BasicAuth:
    return httpx.BasicAuth(API_KEY, API_SECRET)


def quiet_logs() -> None:
    """The daemon logs every restart; a benchmark of thousands would print nothing else."""
    configure_logging("ERROR", "json", stream=io.StringIO())
