"""HTTP Basic credentials: Confluent's API keys (Connect and Metrics APIs share them) and a
Kafka Connect worker's optional basic-auth user."""

from __future__ import annotations

import base64
import hmac

from watchdog.simulator.scenario import ApiKeySpec


def basic_credentials(authorization: str | None) -> tuple[str, str] | None:
    """(user, password) from an `Authorization: Basic ...` header, or None if there is none."""
    scheme, _, encoded = (authorization or "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
    except ValueError:  # binascii.Error and UnicodeDecodeError are ValueErrors
        return None
    user, colon, password = decoded.partition(":")
    return (user, password) if colon else None


def same_secret(expected: str, given: str) -> bool:
    return hmac.compare_digest(expected.encode(), given.encode())


class KeyRing:
    """The scenario's API keys."""

    def __init__(self, keys: list[ApiKeySpec]) -> None:
        self._keys = {key.id: key for key in keys}

    @property
    def ids(self) -> set[str]:
        return set(self._keys)

    def authenticate(self, authorization: str | None) -> tuple[str | None, ApiKeySpec | None]:
        """(the scenario key id the request names, the key if its secret matches).

        The first element is None unless it names a scenario key, so that call records never
        show a made-up user name (which could be someone's secret typed into the wrong field).
        """
        credentials = basic_credentials(authorization)
        if credentials is None:
            return None, None
        key_id, secret = credentials
        key = self._keys.get(key_id)
        if key is None:
            return None, None
        if not same_secret(key.secret.get_secret_value(), secret):
            return key_id, None
        return key_id, key
