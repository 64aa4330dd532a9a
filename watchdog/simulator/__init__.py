"""A faithful fake of Confluent Cloud's Connect API (connect/v1), as an ASGI app, with the
Metrics API's query and export endpoints, the org/v2 and cmk/v2 lists discovery reads, and
self-managed Apache Kafka Connect clusters beside it.

It stands on its own: of the rest of `watchdog` it imports only `asgi_server` (server.py), which
runs an ASGI app, and the `logs` that one sets up; no daemon logic (the import-linter contract
`simulator` in pyproject.toml holds it there). One job per file:

    scenario.py        the scenario file (YAML): the world played, its keys and their checks,
                       with spec_model.py (what every model shares), connector_script.py (one
                       connector over time) and discovery_scenario.py (discovery's keys)
    world.py           environments, clusters and their connectors
    connector.py       one connector played at a time t: its state, the calls it received
    throughput.py      a connector's records moved and lag, over time
    failures.py        what a failing connector says: traces, task messages, advice
    engine.py          `Simulator`: a request through its door, the fault rules, the call record
    routing.py         which API, and which operation of it, a request addresses
    doors.py           what every API's door has in common (admit, then answer)
    cloud_api.py, operations.py, bodies.py
                       Confluent Cloud's Connect API: its door, its operations, its JSON bodies
    kafka_connect_api.py, kafka_connect_bodies.py
                       self-managed Kafka Connect: its door, its JSON bodies
    discovery_api.py   the org/v2 environments and cmk/v2 clusters lists
    metrics_api.py     the Metrics API's door, with metrics_catalog.py (the metrics served),
                       metrics_query.py (the request), metrics_series.py (the query's answer)
                       and metrics_export.py (the export's answer)
    credentials.py     HTTP Basic credentials: API keys, a worker's basic-auth user
    ratelimit.py       request budgets per API key: six rate-limit algorithms
    concurrency.py     a concurrency limit per API key: at most N requests in progress at once
    fault_rules.py, faults.py   the scenario's `faults:` rules, and which fired how often
    strict.py          what a strict server refuses (scenario `strict_requests: true`)
    app.py             the ASGI app: the APIs, and /_sim/ for control and inspection
    server.py          serving it over sockets: embedded in an event loop, or from the CLI
"""

from watchdog.simulator.app import create_app
from watchdog.simulator.connector import ConnectorSnapshot
from watchdog.simulator.engine import CallRecord, Simulator
from watchdog.simulator.fault_rules import FaultRule
from watchdog.simulator.scenario import (
    Scenario,
    ScenarioError,
    builtin_scenario,
    load_scenario,
)
from watchdog.simulator.server import run, serve

__all__ = [
    "CallRecord",
    "ConnectorSnapshot",
    "FaultRule",
    "Scenario",
    "ScenarioError",
    "Simulator",
    "builtin_scenario",
    "create_app",
    "load_scenario",
    "run",
    "serve",
]
