"""The secrets the environment and the secrets directory hold, read without building a config.

What `run` and `check-config` print of a config that is refused (its errors, check-config's
summary and warnings) must star them as the daemon's log does at a reload: a secret pasted where
a credential's name, a zone or a rule's name goes was printed in clear at the start, when no
config existed yet to take them from (cli/common.py `starred`)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .loading import secrets_dir as resolve_secrets_dir
from .root import ENV_PREFIX
from .sources import read_secret_setting

# The settings whose values are secrets (Config.secret_values), by the last part of a variable's
# or secret file's name; the API key's id is sent as a user (starred where it stands alone).
_SECRET_LEAVES = frozenset({"api_secret", "auth_token", "password", "bearer_token"})
_USER_LEAVES = frozenset({"api_key"})


def configured_secrets(secrets_dir: str | Path | None = None) -> tuple[set[str], set[str]]:
    """(secrets, users) the environment and the secrets directory hold, read without building a
    config: what `run` and check-config print of a config that is refused must star them as the
    daemon's log does at a reload (a secret pasted where a credential's name, a zone or a rule's
    name goes was printed in clear at the start). A whole-section JSON variable
    (WATCHDOG_CREDENTIALS='{...}') is read for them too. Never raises: an unreadable directory or
    file is the config's error to say, not this one's."""
    secrets: set[str] = set()
    users: set[str] = set()

    def take(name: str, value: Any) -> None:
        leaf = name.lower().rsplit("__", 1)[-1]
        if isinstance(value, dict):
            for key, item in value.items():
                take(str(key), item)
        elif isinstance(value, list):
            for item in value:
                take(name, item)
        elif isinstance(value, str) and value.strip() and not any("\udc80" <= char <= "\udcff" for char in value):
            # (A value that is not UTF-8 is refused by name, never quoted: _undecodable_variables.)
            if leaf in _SECRET_LEAVES:
                secrets.add(value.strip())
            elif leaf in _USER_LEAVES:
                users.add(value.strip())

    prefix = ENV_PREFIX.lower()
    found: dict[str, str] = {}
    try:
        directory = resolve_secrets_dir(secrets_dir)
    except ConfigError:
        directory = None
    if directory is not None:
        try:
            entries = sorted(directory.iterdir())
        except OSError:
            entries = []
        for entry in entries:
            if entry.name.lower().startswith(prefix) and entry.name.lower().rsplit("__", 1)[-1] in _SECRET_LEAVES | _USER_LEAVES:
                text, _ = read_secret_setting(directory, entry.name)
                if text is not None:
                    found[entry.name] = text
    found.update((name, value) for name, value in os.environ.items() if name.lower().startswith(prefix))
    for name, value in found.items():
        try:
            parsed = json.loads(value) if value.lstrip().startswith(("{", "[")) else value
        except ValueError:
            parsed = value
        take(name, parsed)
    return secrets, users
