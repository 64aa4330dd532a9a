"""Which Kafka cluster a configured cluster name stands for, as kept with its last listing in the
state store (state/running.py, `cluster_listed.identity`): a start that finds another identity
there (the name redefined while no daemon ran: another kafka_cluster_id, other Connect workers)
takes none of the kept times, as a reload that redefines it does. Pure."""

from __future__ import annotations

from urllib.parse import urlsplit

from ..config import CloudCluster, KafkaConnectCluster

_DEFAULT_PORTS = {"http": 80, "https": 443}


def cluster_identity(cluster: CloudCluster | KafkaConnectCluster | None) -> str | None:
    """Confluent Cloud: its environment and lkc- id. Kafka Connect: its set of worker URLs
    (scheme, host in any letter case, port written or not, path). A worker added or moved reads
    as another cluster: its times are then not taken and the count starts from the first poll,
    the safe side (a Connect cluster has no id of its own this daemon can read); None: not
    configured."""
    if cluster is None:
        return None
    if isinstance(cluster, CloudCluster):
        return f"confluent_cloud {cluster.environment_id}/{cluster.kafka_cluster_id}"
    return "kafka_connect " + " ".join(sorted({_worker(str(url)) for url in cluster.urls}))


def _worker(url: str) -> str:
    parts = urlsplit(url)
    port = parts.port or _DEFAULT_PORTS.get(parts.scheme.lower())
    return f"{parts.scheme.lower()}://{(parts.hostname or '').lower()}:{port}{parts.path.rstrip('/')}"
