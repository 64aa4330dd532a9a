"""Upstream text (a server's message, a connector's trace) with the credentials in it starred out:
those the request carried, the egress proxies', any URL's, and any setting's that names a secret."""

from __future__ import annotations

import base64
import re
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
    return without_known_secrets(without_secret_settings(redact_url_credentials(text)))


# A setting's name that says its value is a secret, at the end of the name (`connection.password`,
# `aws.secret.access.key`, `client_secret`, `accessToken`, JAAS's `password`): not a name that
# only holds such a word (`sasl.oauthbearer.token.endpoint.url` is a URL, `tokenizer` a word).
# `pass` and `pwd` only as a whole part of the name (`bypass=true` is none). Said as lookbehinds at
# the name's end: the name is read from its start only (the lookbehind before it), up to 64
# characters and never given back (possessive), so a trace costs one look per word, in C; a
# Python callback per `name=value` took 0.3 s for a 1 MB trace of them.
_ENDS = ("password", "passwd", "secret", "token", "credential", "credentials", "apikey", "api[_.-]key",
         "accesskey", "access[_.-]key", "privatekey", "private[_.-]key", "[_.-]pass", "[_.-]pwd")
_SECRET_NAME = rf"(?:[\w.-]{{1,64}}+(?:{'|'.join(f'(?<={end})' for end in _ENDS)})|(?:pass|pwd))"
_SECRET_WORDS = ("pass", "pwd", "secret", "token", "credential", "key")
# `name=value`, `name = "value"` (JAAS: `password="..."`), and JSON's `"name": "value"`: the value
# starred, the name, what is between and the quotes kept, so the trace still says which setting it was.
_SECRET_SETTING = re.compile(
    rf"""(?<![\w.-])({_SECRET_NAME}\s*=\s*)(?:"[^"\n]*"|'[^'\n]*'|[^\s;,&'"<>(){{}}\[\]]+)"""
    rf'|("{_SECRET_NAME}"\s*:\s*)"[^"\n]*"',
    re.IGNORECASE,
)
# An HTTP credential quoted with its scheme (`Authorization: Bearer eyJ...`, `Basic dXNlcjpw...`).
_SCHEME_TOKEN = re.compile(r"\b(Bearer|Basic)(\s+)([A-Za-z0-9._~+/-]+=*)", re.IGNORECASE)
_TOKEN_SIGNS = re.compile(r"[0-9._~+/=-]|.[A-Z]")


def without_secret_settings(text: str) -> str:
    """`text` with the values of settings that name a secret, and HTTP credentials, starred out:
    `connection.password=***`, `{"connection.password": "***"}`, JAAS `password="***"`,
    `aws.secret.access.key=***`, `Authorization: Bearer ***`. A connector's trace quoting its
    config (`Connection failed; password=hunter2`) kept it whole in the history, `GET /v1/history`
    and `watchdog history`: only URLs' credentials were masked. Ordinary words stay: `Basic
    authentication failed`, `Bearer token expired`, `password authentication failed`."""
    lowered = text.lower()  # a look for the words first: ~1 ms a MB, where the patterns take ~60
    if ("=" in text or ":" in text) and any(word in lowered for word in _SECRET_WORDS):
        text = _SECRET_SETTING.sub(_starred_setting, text)
    if "bearer" in lowered or "basic" in lowered:
        text = _SCHEME_TOKEN.sub(_starred_token, text)
    return text


def _starred_setting(match: re.Match[str]) -> str:
    if match.group(1) is not None:
        value = match.group(0)[len(match.group(1)):]
        quote = value[0] if value[0] in ("'", '"') else ""
        return f"{match.group(1)}{quote}***{quote}"
    return f'{match.group(2)}"***"'


def _starred_token(match: re.Match[str]) -> str:
    """A scheme's credential starred; a plain word after `Basic` or `Bearer` (no digit, no sign, no
    capital after its first letter: `authentication`, `token`) is no credential, and stays."""
    token = match.group(3)
    if len(token) < 8 or not _TOKEN_SIGNS.search(token):
        return match.group(0)
    return f"{match.group(1)}{match.group(2)}***"
