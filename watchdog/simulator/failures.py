"""What a failing connector says about itself: traces, task messages, diagnostics, advice.

Shapes follow the research note: the connector `trace` and task `msg` of the spec (§2.3), the
configuration-error wording of the spec's own FAILED example, Cloud's extra diagnostic fields
(§2.3) and the error-recommendations strings (§2.7). The texts are illustrative, not copied.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FailureText:
    connector_trace: str
    task_message: str
    task_trace: str
    summary: str
    errors_from_trace: tuple[str, ...]
    validation_errors: tuple[str, ...]
    recommendations: tuple[str, ...]


_SYSTEM_ERROR_TRACE = {
    "source": (
        "org.apache.kafka.connect.errors.ConnectException: java.net.SocketTimeoutException: "
        "Connect timed out\n"
        "\tat io.confluent.connect.jdbc.source.JdbcSourceTask.poll(JdbcSourceTask.java:412)\n"
        "\tat org.apache.kafka.connect.runtime.AbstractWorkerSourceTask.poll"
        "(AbstractWorkerSourceTask.java:488)\n"
        "\tat org.apache.kafka.connect.runtime.WorkerTask.doRun(WorkerTask.java:208)\n"
        "Caused by: java.net.SocketTimeoutException: Connect timed out\n"
    ),
    "sink": (
        "org.apache.kafka.connect.errors.ConnectException: Exiting WorkerSinkTask due to "
        "unrecoverable exception.\n"
        "\tat org.apache.kafka.connect.runtime.WorkerSinkTask.deliverMessages"
        "(WorkerSinkTask.java:632)\n"
        "\tat org.apache.kafka.connect.runtime.WorkerSinkTask.poll(WorkerSinkTask.java:350)\n"
        "\tat org.apache.kafka.connect.runtime.WorkerTask.doRun(WorkerTask.java:208)\n"
        "Caused by: java.net.SocketTimeoutException: Read timed out\n"
    ),
}
_SYSTEM_ERROR_MESSAGE = {
    "source": "Connection to the source system timed out (java.net.SocketTimeoutException)",
    "sink": "Writing to the destination timed out (java.net.SocketTimeoutException)",
}
_USER_ERROR_TRACE = (
    "There were some errors with your configuration:\n"
    "connection.password: Authentication failed for the configured user\n"
)
_USER_ERROR_MESSAGE = (
    "Authentication failed for the configured user: check connection.user and connection.password"
)


# The connect/v1 spec's own FAILED example (list with expansions): no tasks, this trace.
_CONFIG_ERROR_TRACE = (
    "There were some errors with your configuration:\n"
    "topics: Provided Kafka ApiKey is invalid\n"
    "kafka.api.secret: Provided Kafka ApiKey is invalid\n"
)


def failure_text(
    kind: str, connector_type: str, *, trace: str | None = None, message: str | None = None
) -> FailureText:
    """The texts for a failure of `kind` (FAILED, DEGRADED, USER_ACTIONABLE_ERROR, CONFIG_ERROR)."""
    if kind == "CONFIG_ERROR":
        connector_trace = trace if trace is not None else _CONFIG_ERROR_TRACE
        return FailureText(
            connector_trace=connector_trace,
            task_message=message if message is not None else "",
            task_trace="",
            summary="The connector configuration has errors",
            errors_from_trace=(),
            validation_errors=tuple(
                line for line in connector_trace.splitlines()[1:] if ": " in line
            ),
            recommendations=(),  # none: the API answers 400 (operations.py, _recommendations)
        )
    if kind == "USER_ACTIONABLE_ERROR":
        connector_trace = trace if trace is not None else _USER_ERROR_TRACE
        return FailureText(
            connector_trace=connector_trace,
            task_message=message if message is not None else _USER_ERROR_MESSAGE,
            task_trace=connector_trace,
            summary="The connector configuration has errors",
            errors_from_trace=(),
            validation_errors=(
                "connection.password: Authentication failed for the configured user",
            ),
            recommendations=(
                "Verify that the 'connection.user' and 'connection.password' values are correct "
                "and that the user may read the configured tables.",
                "Update the connector configuration with valid credentials, then restart it.",
            ),
        )
    connector_trace = trace if trace is not None else _SYSTEM_ERROR_TRACE[connector_type]
    return FailureText(
        connector_trace=connector_trace,
        task_message=message if message is not None else _SYSTEM_ERROR_MESSAGE[connector_type],
        task_trace=connector_trace,
        summary="The connector lost its connection to the external system",
        errors_from_trace=("SocketTimeoutException: timed out",),
        validation_errors=(),
        recommendations=(
            "Ensure that the external system is reachable from Confluent Cloud and that its "
            "firewall allows the connector's egress IP addresses.",
            "Restart the connector once the external system is available again.",
        ),
    )
