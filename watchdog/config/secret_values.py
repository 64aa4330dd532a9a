"""The values of secrets: how a key, a secret, a password or a bearer token is read (stripped of
what is never part of one), and which are refused before anything starts: blank, too short to be
kept out of the log, holding a line break, a ':' where HTTP Basic would split it, not printable in
a header, a placeholder copied from the repository's example Secret, or, for a Confluent Cloud
key, a quote or a space (checks.py asks, for the credentials Cloud calls use). No message quotes
the value."""

from __future__ import annotations

import unicodedata
from typing import Annotated, Any

from pydantic import AfterValidator, SecretStr

# The shortest bearer token accepted for the webhook and the restart API: shorter ones can be
# guessed, and an empty one used to switch authentication off.
MIN_TOKEN_CHARS = 16


# How the repository's example Secret marks its values. Applied as it is, its bearer token was
# taken: the restart API's token was a string published in the repository (an operations probe,
# 2026-12-06), and its key and secret passed check-config ("set") to be answered 401 at every call.
PLACEHOLDER_PREFIX = "REPLACE-WITH-"


def secret_text(raw: str) -> str:
    """A secret as read from a variable or a file, without what is never part of one: surrounding
    whitespace (a Secret's trailing newline) and a byte-order mark (a Windows editor's)."""
    return raw.strip().removeprefix("\ufeff").strip()


def not_a_cloud_key(text: str) -> str | None:
    """Why `text` cannot be a Confluent Cloud API key id or secret, or None. Their ids and secrets
    hold letters, digits and a few signs (`+`, `/`), never a quote or a space: a value copied with
    its quotes (an env file's `KEY="..."`, a Deployment's `value:` pasted with them) or a secret
    pasted with a space in it passed check-config and was sent as it was, to be answered 401 at
    every call (a probe). Never quotes the value."""
    quotes = sorted({char for char in text if char in "\"'`"})
    if len(text) >= 2 and text[0] == text[-1] and text[0] in quotes:
        return (f"is wrapped in quotes ({text[0]}...{text[0]}), which no Confluent Cloud key id or secret holds: they "
                "came with the value (an env file, a Deployment's `value:` copied with them); set it without them")
    if quotes:
        return (f"holds a quote ({' '.join(quotes)}), which no Confluent Cloud key id or secret holds: was it copied "
                "with them? Set the value alone")
    if any(char.isspace() for char in text):
        return ("holds a space inside it, which no Confluent Cloud key id or secret holds (pasted with a space, or cut "
                "in two?): every call would be answered 401; set the value alone")
    return None


def fits_a_header(text: str) -> bool:
    """Printable ASCII without spaces: what a token sent as it is in a header may hold (RFC 9110's
    token68 is narrower still)."""
    return all("!" <= char <= "~" for char in text)


def _stripped_secret(value: SecretStr | None) -> SecretStr | None:
    """Surrounding whitespace is never part of a secret: a Kubernetes Secret made from a file
    often ends in a newline, which would otherwise lock everyone out while check-config says
    "set". Nor is a byte-order mark (a file saved by a Windows editor): kept, every call was
    answered 401 while check-config said "set". A secret that is only whitespace is not set at
    all. A control character inside one (a line break: two lines in the file) is refused: no
    credential holds one, and sent in a header it made httpx raise an error that quoted the
    header, secret and all, into the log (the message here never quotes it). Nor is a line or
    paragraph separator (U+2028, U+2029), which str.splitlines takes for a line break: a
    database's error quoting such a password was cut to its first line, inside it, and half of
    it was printed."""
    if value is None:
        return None
    text = secret_text(value.get_secret_value())
    if any(unicodedata.category(char) == "Cc" for char in text):
        raise ValueError("holds a control character (a line break or tab inside it?); a secret file must hold the secret alone")
    if any(unicodedata.category(char) in ("Zl", "Zp") for char in text):
        raise ValueError("holds a line or paragraph separator (U+2028 or U+2029), which no credential holds; "
                         "a secret file must hold the secret alone")
    if text.upper().startswith(PLACEHOLDER_PREFIX):
        raise ValueError(f"is a placeholder ({PLACEHOLDER_PREFIX}...) copied from an example, not a secret: set the real "
                         "value (deploy/kubernetes/secret.example.yaml says how to make the Secret)")
    return SecretStr(text) if text else None


StrippedSecret = Annotated[SecretStr, AfterValidator(_stripped_secret)]

# A secret shorter than this is refused: it cannot be told apart from ordinary text (every `a`,
# `no` or `12` of every line would be starred), so it could not be kept out of the log, the
# history and the API's answers, which look for no secret shorter (logs.MIN_TOKEN_CHARS, which
# this equals: the config imports no logging). A worker password `pw` echoed in its refusal
# was kept as it came (`F3_secret=pw`) while the docs said a short secret was starred.
MIN_SECRET_CHARS = 3


def _maskable(value: SecretStr | None) -> SecretStr | None:
    """A secret long enough to be starred wherever it is said (MIN_SECRET_CHARS); never quoted."""
    if value is not None and len(value.get_secret_value()) < MIN_SECRET_CHARS:
        raise ValueError(
            f"is {len(value.get_secret_value())} characters long; a secret shorter than {MIN_SECRET_CHARS} "
            "cannot be told apart from ordinary text, so it could not be kept out of the log and the "
            "history: use a longer one"
        )
    return value


# A password or token: stripped (StrippedSecret), and long enough to be starred wherever it is said.
MaskableSecret = Annotated[SecretStr, AfterValidator(_stripped_secret), AfterValidator(_maskable)]


BASIC_USER_COLON = ("holds a ':', which no user name sent with HTTP Basic can (the server takes what follows it for the "
                    "password, and every call is answered 401): is it the pair KEY:SECRET? The key's id goes here, its "
                    "secret in the setting of its own")


def basic_user(value: Any) -> Any:
    """A user name sent with HTTP Basic (an API key's id, a worker's or Alertmanager's user):
    `user:password` is split at the first ':' (RFC 7617), so one holding a ':' can never
    authenticate. A key file holding the pair `KEY:SECRET` passed check-config ("api_key: set")
    and every poll was answered 401. Never quoted: it may hold a secret."""
    text = value.get_secret_value() if isinstance(value, SecretStr) else value
    if isinstance(text, str) and ":" in text:
        raise ValueError(BASIC_USER_COLON)
    return value


def check_token(value: SecretStr | None) -> SecretStr | None:
    """Stripped like every secret; then refused when blank or short. A blank token used to turn
    authentication off (an empty `Bearer` matched it); the message never quotes the token."""
    if value is None:
        return None
    stripped = _stripped_secret(value)
    text = "" if stripped is None else stripped.get_secret_value()
    if not text:
        raise ValueError(
            "is empty or only whitespace; set a random token of at least "
            f"{MIN_TOKEN_CHARS} characters (e.g. `openssl rand -hex 32`), or unset it to turn the API off"
        )
    if len(text) < MIN_TOKEN_CHARS:
        raise ValueError(
            f"is {len(text)} characters long; at least {MIN_TOKEN_CHARS} are required (e.g. `openssl rand -hex 32`)"
        )
    return header_token(SecretStr(text))


def header_token(value: SecretStr | None) -> SecretStr | None:
    """A token sent as it is in an Authorization header (fits_a_header). A non-ASCII one passed
    check-config and could not be used: the daemon compared the Latin-1 bytes a client sent, and
    the CLI crashed encoding it."""
    if value is None:
        return None
    if not fits_a_header(value.get_secret_value()):
        raise ValueError("must be printable ASCII without spaces: it is sent as it is in an HTTP header "
                         "(e.g. `openssl rand -hex 32`)")
    return value
