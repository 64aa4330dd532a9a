"""The state store: what the watchdog remembers per connector.

`MemoryStateStore` keeps it for the life of the process. The store is behind a small protocol so
that a durable store (SQLite) can replace it without touching the engine.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from .model import ConnectorKey, ConnectorState


class StateStore(Protocol):
    def load(self, key: ConnectorKey) -> ConnectorState: ...
    def save(self, key: ConnectorKey, state: ConnectorState) -> None: ...
    def forget(self, key: ConnectorKey) -> None: ...
    def items(self) -> Iterator[tuple[ConnectorKey, ConnectorState]]: ...


class MemoryStateStore:
    def __init__(self) -> None:
        self._states: dict[ConnectorKey, ConnectorState] = {}

    def load(self, key: ConnectorKey) -> ConnectorState:
        return self._states.get(key, ConnectorState())

    def save(self, key: ConnectorKey, state: ConnectorState) -> None:
        self._states[key] = state

    def forget(self, key: ConnectorKey) -> None:
        self._states.pop(key, None)

    def items(self) -> Iterator[tuple[ConnectorKey, ConnectorState]]:
        return iter(list(self._states.items()))
