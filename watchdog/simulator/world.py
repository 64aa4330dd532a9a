"""Where the connectors live: Confluent Cloud environments and their clusters, and self-managed
Kafka Connect clusters, each with its connectors."""

from __future__ import annotations

from collections.abc import Iterator

from watchdog.simulator.connector import SimulatedConnector
from watchdog.simulator.connector_script import ConnectorSpec
from watchdog.simulator.scenario import Scenario


class World:
    def __init__(self, scenario: Scenario, now: float) -> None:
        self._restarting_as = scenario.restart.task_state
        # cluster -> its environment id; None for a self-managed Kafka Connect cluster
        self._environment_of: dict[str, str | None] = {}
        # cluster -> connector name -> connector, in scenario order (the list call's order)
        self._clusters: dict[str, dict[str, SimulatedConnector]] = {}
        for environment in scenario.environments:
            for cluster in environment.clusters:
                self._environment_of[cluster.id] = environment.id
                self._clusters[cluster.id] = {}
                for spec in cluster.connectors:
                    self.add(cluster.id, spec, now)
        for self_managed in scenario.kafka_connect_clusters:
            self._environment_of[self_managed.name] = None
            self._clusters[self_managed.name] = {}
            for spec in self_managed.connectors:
                self.add(self_managed.name, spec, now)

    def cluster(
        self, environment: str | None, cluster: str | None
    ) -> dict[str, SimulatedConnector] | None:
        """A Confluent Cloud cluster's connectors, or None if the environment has no such cluster."""
        if environment is None or cluster is None:
            return None
        if cluster not in self._clusters or self._environment_of[cluster] != environment:
            return None
        return self._clusters[cluster]

    def is_cloud_cluster(self, cluster: str) -> bool:
        return self._environment_of.get(cluster) is not None

    def self_managed_cluster(self, name: str | None) -> dict[str, SimulatedConnector] | None:
        """A self-managed Kafka Connect cluster's connectors, or None if there is none so named."""
        if name is None or name not in self._clusters or self._environment_of[name] is not None:
            return None
        return self._clusters[name]

    def connector(self, cluster: str, name: str) -> SimulatedConnector:
        """The connector; KeyError names what is missing."""
        if cluster not in self._clusters:
            raise KeyError(f"unknown cluster {cluster}")
        try:
            return self._clusters[cluster][name]
        except KeyError:
            raise KeyError(f"no connector {name} in cluster {cluster}") from None

    def connectors(self) -> Iterator[SimulatedConnector]:
        for connectors in self._clusters.values():
            yield from connectors.values()

    def cloud_connector(self, resource_id: str) -> SimulatedConnector | None:
        """The Confluent Cloud connector with this lcc- id (the Metrics API's resource id)."""
        for cluster, connectors in self._clusters.items():
            if self._environment_of[cluster] is None:
                continue  # self-managed connectors have no lcc- id and no Confluent metrics
            for connector in connectors.values():
                if connector.id == resource_id:
                    return connector
        return None

    def add(self, cluster: str, spec: ConnectorSpec, now: float) -> SimulatedConnector:
        if cluster not in self._clusters:
            raise KeyError(f"unknown cluster {cluster}")
        if spec.name in self._clusters[cluster]:
            raise ValueError(f"connector {spec.name} already exists in cluster {cluster}")
        connector = SimulatedConnector(
            spec,
            environment=self._environment_of[cluster] or "",
            cluster=cluster,
            created_at=now,
            restarting_as=self._restarting_as,
        )
        if any(other.id == connector.id for other in self.connectors()):
            raise ValueError(f"connector id {connector.id} is already taken")
        self._clusters[cluster][spec.name] = connector
        return connector

    def remove(self, cluster: str, name: str) -> None:
        self.connector(cluster, name)
        del self._clusters[cluster][name]
