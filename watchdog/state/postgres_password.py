"""A database password rotated at a reload (`state.password`: WATCHDOG_STATE__PASSWORD, or the
secret file of that name swapped in the mounted Secret).

The store and the elector each hold the keyword arguments they connect with (`parameters`), and
every connection they open, the first and each one after a drop, is made from them: the new
password set there is the one the next connection sends. The connections already open stay as
they are (PostgreSQL checks a password only when a session starts). Refused as a change of the
whole `state` section instead, the password fixed at the start stayed in use: the next database
restart left every replica unable to log in, with no leader and nothing pointing at the cause,
and every later edit of the config was refused until the pods were restarted.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import SecretStr


def rotate_password(holders: Iterable[object], password: SecretStr | None) -> int:
    """Set `password` (None: send none) in the connection parameters of each holder that has
    them (a PostgreSQL store, an elector; a SQLite store or a sole leader has none). Returns how
    many took it."""
    took = 0
    for holder in holders:
        parameters: Any = getattr(holder, "parameters", None)
        if not isinstance(parameters, dict) or "conninfo" not in parameters:
            continue
        if password is None:
            parameters.pop("password", None)
        else:
            parameters["password"] = password.get_secret_value()
        took += 1
    return took
