"""`watchdog demo`: the built-in simulator and the daemon, wired together on 127.0.0.1.

`--backend kafka_connect` plays the same connectors on self-managed Kafka Connect clusters (the
simulator's second mode) and points the same rules at them: only the cluster definitions differ.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections import Counter
from importlib.resources import files

import yaml
from pydantic import SecretStr
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from .app import Daemon
from .config import Config, ConfigError, Credential, cross_check
from .demo_story import Sightings, outcome_counts, story
from .logs import get_logger, on_log_reader_gone
from .model import ConnectorKey, ConnectorState
from .signals import stop_then_hurry
from .simulator import Scenario, Simulator, builtin_scenario, serve

log = get_logger("watchdog.demo")

# The simulator's fake demo key (see simulator/builtin/demo.yaml); not a secret of anyone's.
DEMO_KEY, DEMO_SECRET = "demo-key", "demo-secret"


CLOUD, SELF_MANAGED = "confluent_cloud", "kafka_connect"


class DemoConfig(Config):
    """The demo's config takes its own values only: not the WATCHDOG_* variables nor the secrets
    directory of a production daemon. Read through them, `watchdog demo` run where a daemon runs
    (in its pod, or a shell with its variables) loaded the production credentials and failed with
    a traceback, or took its state.url and state.password and joined the production database's
    leader election, its fake connectors and all."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


def demo_config(base_url: str, port: int, backend: str = CLOUD) -> Config:
    data = yaml.safe_load(files("watchdog").joinpath("demo-config.yaml").read_text(encoding="utf-8"))
    data.setdefault("api", {})["base_url"] = base_url
    data.setdefault("server", {})["port"] = port
    if backend == SELF_MANAGED:
        data["clusters"] = {
            name: {"backend": SELF_MANAGED, "urls": [f"{base_url}/kafka-connect/{name}"]} for name in data["clusters"]
        }
        data.pop("discovery")  # Confluent Cloud's environments: nothing to discover on Kafka Connect
    data["credentials"] = {"demo": Credential(api_key=SecretStr(DEMO_KEY), api_secret=SecretStr(DEMO_SECRET))}
    config = DemoConfig(**data)
    problems = cross_check(config)
    if problems:
        raise ConfigError("built-in demo config", problems)
    return config


def demo_scenario(backend: str = CLOUD) -> Scenario:
    """The built-in demo scenario; for self-managed, its clusters become Kafka Connect clusters
    named as the demo config names them (orders, platform)."""
    scenario = builtin_scenario("demo")
    if backend == CLOUD:
        return scenario
    data = scenario.model_dump(mode="json", exclude_none=True, exclude_defaults=True, by_alias=True)
    names = {c.kafka_cluster_id: n for n, c in demo_config("http://x", 0).clusters.items() if hasattr(c, "kafka_cluster_id")}
    data["kafka_connect_clusters"] = [
        {"name": names[cluster["id"]], "connectors": cluster.get("connectors", [])}
        for environment in data.pop("environments") for cluster in environment["clusters"]
        if cluster["id"] in names  # the clusters the config lists; discovered ones stay Cloud's
    ]
    data["environments"] = []
    data.pop("rate_limit", None)  # Kafka Connect has no API rate limit
    return Scenario.model_validate(data)


async def run_demo(duration: float | None = None, port: int = 9464, backend: str = CLOUD) -> int:
    simulator = Simulator(demo_scenario(backend))
    started, stop_simulator = asyncio.Event(), asyncio.Event()
    # Two servers starting and stopping are not part of the story (demo_started says where).
    logging.getLogger("uvicorn.error").setLevel(logging.WARNING)
    simulator_task = asyncio.create_task(serve(simulator, "127.0.0.1", 0, started=started, stop=stop_simulator))
    await started.wait()
    base_url = f"http://127.0.0.1:{simulator.bound_port}"
    daemon = Daemon(demo_config(base_url, port, backend))

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop_then_hurry(stop, daemon))  # Ctrl-C again: the drain ends now
    if duration is not None:
        loop.call_later(duration, stop.set)
    # `watchdog demo | head`: ended as at Ctrl-C, not run on with its log on stderr (signals.py).
    stop_listening = on_log_reader_gone(lambda: loop.call_soon_threadsafe(stop.set))
    sightings = Sightings()
    states: dict[ConnectorKey, ConnectorState] = {}
    watcher: asyncio.Task[None] | None = None
    try:
        await daemon.start()
        log.info(
            "demo_started", simulator=base_url, metrics=f"http://127.0.0.1:{daemon.bound_port}/metrics",
            stop="Ctrl-C" if duration is None else f"after {duration:g}s",
        )
        watcher = asyncio.create_task(_watch(daemon, sightings))
        await stop.wait()
        watcher.cancel()
        sightings.look(daemon.engine.statuses)
        states = dict(daemon.state.items())  # before stop() closes the state file
        await daemon.stop()
        # Stopped: Ctrl-C again (pressed twice) waits for the summary, the demo's point. With
        # the handlers gone, it ended the demo in the simulator's stop, no summary, exit 0.
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, lambda: None)
        stop_simulator.set()
        await simulator_task
        print(summary(daemon, simulator, sightings, states), flush=True)
    finally:
        stop_listening()
        if watcher is not None:
            watcher.cancel()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        stop_simulator.set()
        await simulator_task
    return 0


async def _watch(daemon: Daemon, sightings: Sightings) -> None:
    """What the daemon's polls show, looked at every half second for the story."""
    while True:
        sightings.look(daemon.engine.statuses)
        await asyncio.sleep(0.5)


def summary(
    daemon: Daemon, simulator: Simulator, sightings: Sightings | None = None,
    states: dict[ConnectorKey, ConnectorState] | None = None,
) -> str:
    """What the demo did: per connector what was found, what was done, what came of it; then
    outcomes, decisions and API calls in a few lines."""
    jobs = daemon.recorder.finished_jobs
    decisions: Counter[str] = Counter()
    for metric in daemon.metrics.decisions.collect():
        for sample in metric.samples:
            if sample.name.endswith("_total") and sample.value:
                decisions[sample.labels["decision"]] += int(sample.value)
    rate_limited = sum(1 for c in simulator.calls if c.rate_limited)
    lines = ["", "demo summary", "  what was found, what was done, what came of it:"]
    lines += story(sightings or Sightings(), jobs, states or {}) or ["    nothing was in trouble"]
    lines += [
        f"  restart outcomes:  {_pairs(outcome_counts(jobs)) or 'none'}",
        f"  decisions:         {_pairs(dict(decisions.most_common())) or 'none'}",
        f"  API calls:         {len(simulator.calls)} ({rate_limited} answered 429)",
    ]
    found = sorted(daemon.fleet.watched.values(), key=lambda c: c.id)
    if found:
        lines.append(f"  discovered:        {', '.join(f'{c.id} ({c.display_name}, {c.environment_name})' for c in found)}")
    return "\n".join(lines)


def _pairs(values: dict[str, int]) -> str:
    return ", ".join(f"{key} {count}" for key, count in values.items())
