"""Where each cluster is, for grouping the status table and for the `environment_id`,
`kafka_cluster_id`, ... fields of GET /v1/connectors' rows (and read back from them)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..config import CloudCluster, Config


@dataclass(frozen=True, slots=True)
class ClusterPlace:
    """Where a cluster is, for grouping the status table: its environment (id and display name)
    and its Kafka cluster id and display name, where known. Self-managed Kafka Connect clusters
    have no environment."""

    environment_id: str | None = None
    environment_name: str | None = None
    kafka_cluster_id: str | None = None
    display_name: str | None = None
    self_managed: bool = False


def cluster_places(
    config: Config, display_names: Mapping[str, Any], environment_name: Callable[[str], str | None]
) -> dict[str, ClusterPlace]:
    """Every cluster of `config`: configured ones from their entry, discovered ones (in
    `display_names`, by name: objects with a `display_name`) with what discovery saw."""
    places = {}
    for name, cluster in config.clusters.items():
        if not isinstance(cluster, CloudCluster):
            places[name] = ClusterPlace(self_managed=True)
            continue
        found = display_names.get(name)
        places[name] = ClusterPlace(
            environment_id=cluster.environment_id,
            environment_name=environment_name(cluster.environment_id),
            kafka_cluster_id=cluster.kafka_cluster_id,
            display_name=getattr(found, "display_name", None),
        )
    return places


def place_json(place: ClusterPlace | None) -> dict[str, Any]:
    place = place or ClusterPlace()
    return {
        "environment_id": place.environment_id,
        "environment_name": place.environment_name,
        "kafka_cluster_id": place.kafka_cluster_id,
        "cluster_display_name": place.display_name,
        "self_managed": place.self_managed,
    }


def places_from_json(document: Mapping[str, Any]) -> dict[str, ClusterPlace]:
    """The clusters' places in a `status_json` document made with them (none otherwise)."""
    places = {}
    for item in document["connectors"]:
        if "environment_id" in item:
            places[item["cluster"]] = ClusterPlace(
                environment_id=item["environment_id"], environment_name=item["environment_name"],
                kafka_cluster_id=item["kafka_cluster_id"], display_name=item["cluster_display_name"],
                self_managed=bool(item["self_managed"]),
            )
    return places
