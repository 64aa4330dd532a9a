"""Which state store a config asks for: a SQLite file (`state.path`, one replica) or a PostgreSQL
database (`state.url`, replicas with a leader)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from ..config import StateSettings
from .contract import StateStore
from .store import SqliteStateStore, utc_now


def open_store(settings: StateSettings, *, now: Callable[[], datetime] = utc_now, read_only: bool = False) -> StateStore:
    """Open (and for a writer, migrate) the configured store; raises StateStoreError naming it."""
    if settings.url is not None:
        from .postgres import PostgresStateStore  # psycopg is loaded only by those who use it

        return PostgresStateStore(settings.url, password=settings.password, now=now, read_only=read_only)
    return SqliteStateStore(settings.path, now=now, read_only=read_only)


def is_shared(settings: StateSettings) -> bool:
    """Replicas share the store, so they must elect a leader."""
    return settings.url is not None
