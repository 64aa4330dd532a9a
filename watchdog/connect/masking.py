"""Upstream text (a server's message, a connector's trace) with the credentials in it starred out:
those the request carried, the egress proxies', and any URL's."""

from __future__ import annotations

import base64
from typing import Any

import httpx

from ..logs import redact_url_credentials, scrubbed, without_known_secrets
from .proxy_auth import scrub_with_proxies


def without_credentials(text: str, sent: httpx.Headers) -> str:
    """`text` with the credentials a request carried (its headers: `sent`) starred out. A server's reason is its own
    text, and one that echoes what it was sent (`Invalid credentials: key:secret`) put the
    secret into `api_call_failed`, `restart_finished` and the state file's history; the secret
    is known here from the request's own Authorization header (Basic: the decoded pair, its
    password and its user, and the encoded token; any other scheme: its token). The user is an
    API key's id (or a Kafka Connect worker's basic-auth user), kept as a secret like its
    password: `Invalid API key KEYID` put it in every poll_failed line and restart API answer.
    The user is starred only where it stands alone: a worker's user named `connect` must not
    turn `org.apache.kafka.connect` or `connector` into stars."""
    scheme, _, token = sent.get("authorization", "").partition(" ")
    secrets = [token.strip()]
    users = []
    if scheme.lower() == "basic":
        try:
            pair = base64.b64decode(token.strip(), validate=True).decode()
        except (ValueError, UnicodeDecodeError):
            pair = ""
        user, _, password = pair.partition(":")
        secrets += [pair, password]
        users.append(user)
    # And the proxy's, which httpcore sends below these headers (proxy_auth.py).
    return scrubbed(text, scrub_with_proxies(secrets, users))


def upstream_text(value: Any) -> str:
    """A message or trace from upstream (a connector's status, an error's reason, Confluent's
    advice), without the credentials of any URL in it (`jdbc:postgresql://etl:pw@db/...`: a
    connector's error often quotes its connection URL) and without the secrets the log keeps out
    (logs.keep_out_of_logs: the config's, in every form they are sent in). Masked here, as it
    arrives, so that every reader gets it masked: the log masked them, but the history (state
    file, GET /v1/history, `watchdog history`) kept them, and a trace cut short for the log
    before the `@` kept part of the password in the log too. A managed connector using the
    daemon's own service-account key (or a worker's basic-auth pair) quoting it in its trace kept
    the key's secret, the pair and the Basic token in the history."""
    text = str(value or "")
    return without_known_secrets(redact_url_credentials(text))
