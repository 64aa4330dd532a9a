"""The JSON bodies of the Connect API, shaped as the connect/v1 spec and research note §2 show."""

from __future__ import annotations

from typing import Any

from watchdog.simulator.connector import (
    FAILURE_PHASES,
    TASK_ERROR_STATES,
    SimulatedConnector,
    connector_state,
)

# Cloud returns every secret-looking config value masked like this (spec examples, §2.2).
MASK = "****************"
_SECRET_MARKERS = (
    "password",
    "secret",
    "api.key",
    "credentials",
    "access.key",
    "private.key",
    "token",
)


_CUSTOM_CLASSES = {
    "source": "io.confluent.kafka.connect.datagen.DatagenConnector",
    "sink": "com.example.connect.WarehouseSinkConnector",
}


def error_body(status: int, message: str, shape: str) -> dict[str, Any]:
    """`nested` is the spec's ConnectorError; `flat` is the Kafka Connect style also seen (§2.8)."""
    if shape == "flat":
        return {"error_code": status, "message": message}
    return {"error": {"code": status, "message": message}}


def effective_config(connector: SimulatedConnector) -> dict[str, str]:
    """The scenario's config over the keys the spec marks required, secrets masked."""
    spec = connector.spec
    suffix = connector.cluster.removeprefix("lkc-")
    custom: dict[str, str] = {}
    if spec.custom:
        # The Terraform provider's recorded custom connector (a plugin's own Java class).
        custom = {
            "confluent.connector.type": "CUSTOM",
            "confluent.custom.plugin.id": "ccp-" + connector.id.rsplit("-", 1)[-1],
            "connector.class": _CUSTOM_CLASSES[spec.type],
        }
    config = {
        "cloud.environment": "prod",
        "cloud.provider": "aws",
        "connector.class": "DatagenSource" if spec.type == "source" else "S3_SINK",
        **custom,
        "kafka.api.key": MASK,
        "kafka.api.secret": MASK,
        "kafka.endpoint": f"SASL_SSL://pkc-{suffix}.us-west-2.aws.confluent.cloud:9092",
        "kafka.region": "us-west-2",
        **spec.config,
        "name": spec.name,
        "tasks.max": str(spec.tasks),
    }
    return {key: MASK if _is_secret(key) else value for key, value in config.items()}


def _is_secret(key: str) -> bool:
    return any(marker in key.lower() for marker in _SECRET_MARKERS)


def info_body(connector: SimulatedConnector) -> dict[str, Any]:
    """The `info` expansion, which is also the body of GET /connectors/{name}."""
    return {
        "name": connector.name,
        "config": effective_config(connector),
        "tasks": [
            {"connector": connector.name, "task": task} for task in range(connector.spec.tasks)
        ],
        "type": shown_type(connector),
    }


def shown_type(connector: SimulatedConnector) -> str:
    """The `type` status and info show: the real one, or what the scenario says ("unknown")."""
    return connector.spec.shown_type or connector.spec.type


def id_body(connector: SimulatedConnector) -> dict[str, str]:
    return {"id": connector.id, "id_type": "ID"}


def status_body(
    connector: SimulatedConnector, t: float, *, diagnostics: bool, recorded_extras: bool = False
) -> dict[str, Any]:
    """GET /status; with `diagnostics`, failing ones carry Cloud's unpromised extras (§2.3); with
    `recorded_extras`, a custom connector carries three of them in every state."""
    phase = connector.phase_at(t)
    failure = connector.failure
    # worker_id is the connector name on Cloud (§2.2).
    worker = connector.name
    tasks = []
    for task_id, state in enumerate(connector.task_states_at(t)):
        failed = state in TASK_ERROR_STATES
        task: dict[str, Any] = {
            "id": task_id,
            "state": state,
            "worker_id": worker,
            "msg": failure.task_message if failed else "",
        }
        if diagnostics and failed:
            task["trace"] = failure.task_trace
        tasks.append(task)
    trace = failure.connector_trace if connector_state(phase) == "FAILED" else ""
    body: dict[str, Any] = {
        "name": connector.name,
        "connector": {"state": connector_state(phase), "worker_id": worker, "trace": trace},
        "tasks": tasks,
        "type": shown_type(connector),
    }
    if recorded_extras and connector.spec.custom:
        # The Terraform provider's recorded answers: a custom connector's status, RUNNING and
        # PROVISIONING alike, in the list too, carries these three (empty while it is well).
        failing = phase in FAILURE_PHASES
        body |= {
            "errors_from_trace": list(failure.errors_from_trace) if failing else [],
            "validation_errors": list(failure.validation_errors) if failing else [],
            "override_message": "",
        }
    if diagnostics and phase in FAILURE_PHASES:
        body |= {
            "error_summary": failure.summary,
            "validation_errors": list(failure.validation_errors),
            "errors_from_trace": list(failure.errors_from_trace),
            "is_csfle_error": False,
            "error_recommendation_enabled": True,
        }
    return body


def expansion_body(
    connector: SimulatedConnector, t: float, expand: set[str], *, recorded_extras: bool = False
) -> dict[str, Any]:
    """One entry of GET /connectors?expand=...: only the requested keys (with `recorded_extras`
    also `extensions: {}`, as every entry of Confluent's recorded answers has), broken as the
    connector's `list_entry` says (shapes an independent fake of the API answered with)."""
    entry: dict[str, Any] = {}
    if recorded_extras and expand:
        entry["extensions"] = {}
    if "id" in expand:
        entry["id"] = id_body(connector)
    if "info" in expand:
        entry["info"] = info_body(connector)
    if "status" in expand:
        entry["status"] = status_body(connector, t, diagnostics=False, recorded_extras=recorded_extras)
        broken = connector.list_entry
        if broken == "status_null":
            entry["status"] = None
        elif broken == "status_empty":
            entry["status"] = {}
        elif broken == "status_missing":
            del entry["status"]
        elif broken == "connector_null":
            entry["status"]["connector"] = None
    return entry


def recommendations_body(connector: SimulatedConnector, event_time: int) -> dict[str, Any]:
    return {
        "error": None,
        "event_id": f"{connector.id}_{event_time}",
        "recommendations": list(connector.failure.recommendations),
    }
