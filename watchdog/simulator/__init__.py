"""A faithful fake of the Confluent Cloud Connect API (connect/v1), as an ASGI app.

It stands on its own: nothing here imports the rest of `watchdog`. See `scenario` for the
scenario file, `app` for the control endpoints and `server` for serving it over sockets.
"""

from watchdog.simulator.app import create_app
from watchdog.simulator.connector import ConnectorSnapshot
from watchdog.simulator.engine import CallRecord, Simulator
from watchdog.simulator.scenario import (
    FaultRule,
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
