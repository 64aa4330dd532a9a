"""A faithful fake of Confluent Cloud's Connect API (connect/v1), as an ASGI app, with the
Metrics API's query and export endpoints and self-managed Apache Kafka Connect clusters beside it.

It stands on its own: nothing here imports the rest of `watchdog`. See `scenario` for the
scenario file, `routing` for which paths serve which API, `app` for the control endpoints and
`server` for serving it over sockets.
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
