"""Clients for the Connect APIs, behind one small protocol.

Rules and the queue only see `ConnectBackend`: a second backend (self-managed Kafka Connect)
plugs in by implementing the same three calls. Backends do not retry and do not pace; the
`Gateway` does both for every call made with one credential.
"""

from .backend import ApiResult, ConnectBackend, Endpoint
from .cloud import ConfluentCloudBackend
from .gateway import Gateway

__all__ = ["ApiResult", "ConnectBackend", "ConfluentCloudBackend", "Endpoint", "Gateway"]
