"""The door of self-managed Apache Kafka Connect clusters (research note §4).

Each scenario cluster is served under `/kafka-connect/{name}` followed by the worker's REST
paths; `http://host:port/kafka-connect/{name}` stands for a worker URL. Every worker of a real
cluster forwards to the leader, so one prefix serves the whole cluster.

    GET  /connectors                                   names
    GET  /connectors?expand=status&expand=info         name -> {status?, info?}; repeated
                                                       `expand` values only, unknown ignored
    GET  /connectors/{name}                            ConnectorInfo
    GET  /connectors/{name}/status                     ConnectorStateInfo
    GET  /connectors/{name}/tasks/{id}/status          one task's state
    POST /connectors/{name}/restart                    204 (option: 200), the connector
                                                       instance only, synchronously
    POST /connectors/{name}/restart?includeTasks=true&onlyFailed=true
                                                       202 + ConnectorStateInfo, the selected
                                                       instances shown RESTARTING (KIP-745)
    POST /connectors/{name}/tasks/{id}/restart         204, that task, synchronously
    PUT  /connectors/{name}/pause | /resume            202, no body, asynchronous
    PUT  /connectors/{name}/stop                       204, stopped (3.5+, KIP-875): no tasks

Errors are `{"error_code": N, "message": "..."}` with Kafka Connect's own wording: 404 for an
unknown connector or task, 409 on restarts while a scripted rebalance is in progress, and a 401
in plain text when the cluster has basic auth (BasicAuthSecurityRestExtension). No rate limit,
no rate-limit headers, no X-Request-Id.

Checked against real workers (Apache Kafka 4.3.1; tests/fixtures/kafka_connect/ holds their
answers and tests/simulator/test_kafka_connect_vs_real.py compares): every status entry carries
the plugin's `version`; a restart's 202 body shows the selected instances RESTARTING and keeps
the trace of those that were FAILED; a restart of a PAUSED or STOPPED connector is answered 202
(instances shown RESTARTING) and leaves it as it was; a task restart of a STOPPED connector is a
409 (its tasks run nowhere, so no worker can take it); Jetty answers a path with an encoded `/`,
`%`, backslash or dot segment with a 400 HTML page before any routing, and a path no resource
serves with Connect's JSON 404 but no Content-Type; literal `.` and `..` segments reach the
connectors of those names. `ignores_restart_flags` plays a worker before 3.0 (KIP-745): flags
ignored, every restart a bare one.

`kafka_version` plays an older release, as recorded on real workers (2.8.2, 3.4.1, 3.9.2): before
3.0 the restart flags are ignored (as above); before 3.5 there is no `PUT .../stop` (Jersey's 404);
before 4.0 the worker runs Jetty 9.4, which routes `%2F`, `%25`, `%5C` and `%2E` segments to the
connector of the decoded name instead of refusing them; before 4.1 (KIP-891) status entries carry
no plugin `version`.

How a restart meets the connector's script: a restart heals (counts towards
`recover_after_restarts`, ends a stall) when it restarts every failed instance, or every task;
restarting only some of the failed instances changes nothing, because the simulator's failure
belongs to the connector as a whole. So `onlyFailed=true` leaves a stalled (RUNNING, not
failed) connector alone, as it would in Kafka Connect.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from watchdog.simulator import kafka_connect_bodies as bodies
from watchdog.simulator.cloud_api import phrase
from watchdog.simulator.connector import Phase, SimulatedConnector
from watchdog.simulator.credentials import basic_credentials, same_secret
from watchdog.simulator.doors import Admission, ApiRequest
from watchdog.simulator.kafka_connect_bodies import REBALANCE_MESSAGE, Instances
from watchdog.simulator.operations import ApiReply, json_reply
from watchdog.simulator.routing import Route
from watchdog.simulator.scenario import KafkaConnectClusterSpec, Scenario
from watchdog.simulator.world import World

# Jersey's answer for a path no resource serves.
_NO_SUCH_PATH = "HTTP 404 Not Found"
# JaasBasicAuthFilter's answer (apache/kafka connect/basic-auth-extension).
_UNAUTHORIZED = "User cannot access the resource."
_INJECTED_MESSAGES = {404: _NO_SUCH_PATH, 409: REBALANCE_MESSAGE, 500: "Request timed out"}
# Jetty 12's URI compliance (observed: the titles of its 400 pages), checked in this order.
_JETTY_REFUSALS = (
    ("%2f", "Ambiguous URI path separator"),
    ("%25", "Ambiguous URI path encoding"),
    ("%5c", "Suspicious Path Character"),
)
_JETTY_PAGE = (
    '<html>\n<head>\n<meta http-equiv="Content-Type" content="text/html;charset=ISO-8859-1"/>\n'
    "<title>Error 400 {reason}</title>\n</head>\n<body>\n<h2>HTTP ERROR 400 {reason}</h2>\n</body>\n</html>\n"
)


def kafka_connect_error(status: int, message: str) -> ApiReply:
    return json_reply(status, bodies.error_body(status, message))


class KafkaConnectApi:
    def __init__(self, scenario: Scenario, world: World) -> None:
        self._world = world
        self._clusters = {cluster.name: cluster for cluster in scenario.kafka_connect_clusters}
        self._restart_delay = scenario.restart.delay_seconds
        self._pause_delay = scenario.pause_resume.delay_seconds
        self._rebalances = {
            cluster.name: [(r.from_, r.until) for r in cluster.rebalances]
            for cluster in scenario.kafka_connect_clusters
        }
        # (cluster, connector) -> the instances its last restart selected
        self._restarted: dict[tuple[str, str], Instances] = {}

    def start_rebalance(self, cluster: str, now: float, seconds: float) -> None:
        if cluster not in self._clusters:
            raise KeyError(f"no Kafka Connect cluster {cluster}")
        if seconds <= 0:
            raise ValueError("a rebalance lasts a positive number of seconds")
        self._rebalances[cluster].append((now, now + seconds))

    # --- the door -----------------------------------------------------------------------------

    def admit(self, route: Route, request: ApiRequest, t: float) -> Admission:
        cluster = self._clusters.get(route.cluster or "")
        # Jetty 12 (Kafka 4.0 on) refuses ambiguous encodings before any routing; Jetty 9.4 routes them.
        refusal = _jetty_refusal(request.raw_path) if cluster is None or cluster.release >= (4, 0, 0) else None
        if refusal is not None:
            return Admission(None, refusal=refusal)
        if cluster is None:
            return Admission(None, refusal=_no_such_path())
        auth = cluster.basic_auth
        if auth is not None:
            credentials = basic_credentials(request.authorization)
            if (
                credentials is None
                or credentials[0] != auth.username
                or not same_secret(auth.password.get_secret_value(), credentials[1])
            ):
                refusal = ApiReply(401, _UNAUTHORIZED.encode(), {"Content-Type": "text/plain"})
                return Admission(None, refusal=refusal)
        return Admission(None)

    def answer(self, route: Route, request: ApiRequest, admission: Admission, t: float) -> ApiReply:
        cluster = self._clusters[route.cluster or ""]
        connectors = self._world.self_managed_cluster(cluster.name) or {}
        if route.kind == "list":
            return self._list(cluster, connectors, request.query, t)
        connector = connectors.get(route.connector or "")
        if route.kind == "other":
            return _no_such_path()
        if connector is None:
            return kafka_connect_error(404, _unknown_connector(route))
        if route.kind == "read":
            return json_reply(200, bodies.info_body(connector, t))
        if route.kind == "status":
            return self._status(cluster, connector, route.task, t)
        if route.kind == "pause":
            connector.pause(t, self._pause_delay)
            return ApiReply(202)
        if route.kind == "resume":
            connector.resume(t, self._pause_delay)
            return ApiReply(202)
        if route.kind == "stop":
            if cluster.release < (3, 5, 0):
                return _no_such_path()  # KIP-875 came in 3.5 (observed on 3.4.1 and 2.8.2)
            connector.stop(t)
            return ApiReply(204)
        if self._rebalancing(cluster.name, t):
            # Restarts are forwarded to the leader, which is unknown mid-rebalance (§4.1).
            return kafka_connect_error(409, REBALANCE_MESSAGE)
        if route.task is not None:
            return self._restart_task(connector, route.task, t)
        return self._restart(cluster, connector, request.query, t)

    def injected_error(self, status: int) -> ApiReply:
        return kafka_connect_error(status, _INJECTED_MESSAGES.get(status) or phrase(status))

    # --- operations ---------------------------------------------------------------------------

    def _list(
        self,
        cluster: KafkaConnectClusterSpec,
        connectors: dict[str, SimulatedConnector],
        query: tuple[tuple[str, str], ...],
        t: float,
    ) -> ApiReply:
        expansions = [value for key, value in query if key == "expand"]
        if not expansions:
            return json_reply(200, list(connectors))
        # Kafka Connect reads each `expand` value whole: "status,info" is one unknown expansion.
        body = {}
        for name, connector in connectors.items():
            entry = {}
            if "status" in expansions:
                entry["status"] = self._status_body(cluster, connector, t)
            if "info" in expansions:
                entry["info"] = bodies.info_body(connector, t)
            body[name] = entry
        return json_reply(200, body)

    def _status(
        self,
        cluster: KafkaConnectClusterSpec,
        connector: SimulatedConnector,
        task: int | None,
        t: float,
    ) -> ApiReply:
        body = self._status_body(cluster, connector, t)
        if task is None:
            return json_reply(200, body)
        for entry in body["tasks"]:
            if entry["id"] == task:
                return json_reply(200, entry)
        return kafka_connect_error(404, f"No status found for task {connector.name}-{task}")

    def _restart(
        self,
        cluster: KafkaConnectClusterSpec,
        connector: SimulatedConnector,
        query: tuple[tuple[str, str], ...],
        t: float,
    ) -> ApiReply:
        include_tasks, only_failed = _flag(query, "includeTasks"), _flag(query, "onlyFailed")
        if cluster.flags_ignored:
            include_tasks = only_failed = False  # before 3.0 the method took no parameters
        if not include_tasks and not only_failed:
            # The connector instance alone, synchronously: 204 as released (KAFKA-13139), 200
            # in the KIP-745 text and the first 3.0 code.
            self._apply(connector, Instances(connector=True), delay=0.0, t=t)
            return ApiReply(cluster.bare_restart_status)
        failed = bodies.failed_instances(connector, t)
        _, task_states = bodies.states(connector, t, self._restarted.get(_key(connector)))
        selected = Instances(
            connector=not only_failed or failed.connector,
            tasks=frozenset(
                i
                for i in range(len(task_states))
                if include_tasks and (not only_failed or i in failed.tasks)
            ),
        )
        shown = self._apply(connector, selected, delay=self._restart_delay, t=t)
        body = self._status_body(cluster, connector, t, shown_restarting=shown, failed_before=failed)
        return json_reply(202, body)

    def _restart_task(self, connector: SimulatedConnector, task: int, t: float) -> ApiReply:
        if connector.phase_at(t) is Phase.STOPPED:
            # Observed: a stopped connector's tasks run on no worker, none can take the restart.
            return kafka_connect_error(409, REBALANCE_MESSAGE)
        _, task_states = bodies.states(connector, t, self._restarted.get(_key(connector)))
        if not 0 <= task < len(task_states):
            return kafka_connect_error(404, f"Unknown task: {connector.name}-{task}")
        self._apply(connector, Instances(tasks=frozenset({task})), delay=0.0, t=t)
        return ApiReply(204)

    def _apply(
        self, connector: SimulatedConnector, selected: Instances, *, delay: float, t: float
    ) -> Instances:
        """Restart the selected instances; returns those to show RESTARTING in the answer."""
        failed = bodies.failed_instances(connector, t)
        every_task = frozenset(range(connector.spec.tasks))
        if (failed and selected.covers(failed)) or (every_task and every_task <= selected.tasks):
            connector.restart(t, delay)
            self._restarted[_key(connector)] = selected
        return selected

    def _status_body(
        self,
        cluster: KafkaConnectClusterSpec,
        connector: SimulatedConnector,
        t: float,
        *,
        shown_restarting: Instances = bodies.NO_INSTANCES,
        failed_before: Instances = bodies.NO_INSTANCES,
    ) -> dict[str, Any]:
        restarting = self._restarted.get(_key(connector))
        return bodies.status_body(
            connector, t, cluster.workers, restarting, shown_restarting=shown_restarting, failed_before=failed_before,
            versions=not cluster.flags_ignored and cluster.release >= (4, 1, 0),
        )

    def _rebalancing(self, cluster: str, t: float) -> bool:
        return any(start <= t < end for start, end in self._rebalances[cluster])


def _flag(query: tuple[tuple[str, str], ...], name: str) -> bool:
    """A JAX-RS Boolean query parameter: true only for "true", any case; default false."""
    values = [value for key, value in query if key == name]
    return bool(values) and values[-1].lower() == "true"


def _key(connector: SimulatedConnector) -> tuple[str, str]:
    return connector.cluster, connector.name


def _unknown_connector(route: Route) -> str:
    """Kafka Connect's 404 wording, which differs by operation."""
    if route.kind == "status":
        return f"No status found for connector {route.connector}"
    if route.kind == "read":
        return f"Connector {route.connector} not found"
    return f"Unknown connector: {route.connector}"


def _no_such_path() -> ApiReply:
    """Jersey's 404 for a path no resource serves: Connect's JSON body, but no Content-Type
    (observed on 4.3.1)."""
    return ApiReply(404, b'{"error_code":404,"message":"HTTP 404 Not Found"}')


def _jetty_refusal(raw_path: str | None) -> ApiReply | None:
    """Jetty's 400 for a path its URI compliance calls ambiguous, before Connect sees it."""
    if not raw_path:
        return None
    reason = None
    for segment in raw_path.split("?", 1)[0].split("/"):
        lowered = segment.lower()
        reason = next((why for code, why in _JETTY_REFUSALS if code in lowered), None)
        if reason is None and "%" in segment and unquote(segment) in (".", ".."):
            reason = "Ambiguous URI path segment"
        if reason is not None:
            break
    if reason is None:
        return None
    headers = {"Content-Type": "text/html;charset=iso-8859-1", "Cache-Control": "must-revalidate,no-cache,no-store"}
    return ApiReply(400, _JETTY_PAGE.format(reason=reason).encode("latin-1"), headers)
