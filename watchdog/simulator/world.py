"""Where the connectors live: environments, their clusters, and each cluster's connectors."""

from __future__ import annotations

from collections.abc import Iterator

from watchdog.simulator.connector import SimulatedConnector
from watchdog.simulator.scenario import ConnectorSpec, Scenario


class World:
    def __init__(self, scenario: Scenario, now: float) -> None:
        self._restarting_as = scenario.restart.task_state
        self._environment_of: dict[str, str] = {}
        # cluster id -> connector name -> connector, in scenario order (the list call's order)
        self._clusters: dict[str, dict[str, SimulatedConnector]] = {}
        for environment in scenario.environments:
            for cluster in environment.clusters:
                self._environment_of[cluster.id] = environment.id
                self._clusters[cluster.id] = {}
                for spec in cluster.connectors:
                    self.add(cluster.id, spec, now)

    def cluster(
        self, environment: str | None, cluster: str | None
    ) -> dict[str, SimulatedConnector] | None:
        """The cluster's connectors, or None if the environment does not hold that cluster."""
        if cluster is None or self._environment_of.get(cluster) != environment:
            return None
        return self._clusters[cluster]

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

    def add(self, cluster: str, spec: ConnectorSpec, now: float) -> SimulatedConnector:
        if cluster not in self._clusters:
            raise KeyError(f"unknown cluster {cluster}")
        if spec.name in self._clusters[cluster]:
            raise ValueError(f"connector {spec.name} already exists in cluster {cluster}")
        connector = SimulatedConnector(
            spec,
            environment=self._environment_of[cluster],
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
