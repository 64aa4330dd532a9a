"""A self-managed cluster's TLS settings: the CA bundle, the client certificate and its key, each
file proven loadable when the config is read, and what of their content a reload compares.

A cluster's client holds the files as they were when it was built (its SSL context). The files'
bytes are part of the settings' equality (`contents`), so a reload after a CA, certificate or key
rotated under the same path (cert-manager or trust-manager renewing a mounted Secret) counts the
cluster as changed and builds its client anew; compared by path alone, the new CA was never read,
every poll failed CERTIFICATE_VERIFY_FAILED, and SIGHUP said `unchanged: true`. The file watcher
hashes the same files (reload.tls_digests) and reloads when they change.
"""

from __future__ import annotations

import hashlib
import ssl
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, PrivateAttr, model_validator

from .sources import regular_file_hash
from .types import ReadableFile, Strict

# Far above any CA bundle or PEM key (a public CA bundle is about 200 KB): only this much is hashed.
MAX_TLS_FILE_BYTES = 4 * 1024 * 1024


def files_digest(paths: Iterable[Path]) -> str:
    """A hash of each file's path and bytes; one that cannot be read, or is no regular file,
    counts by its path alone (regular_file_hash: opened on the event loop at every look of the
    watcher, a FIFO swapped in at the path would have blocked it for good)."""
    digest = hashlib.sha256()
    for path in paths:
        digest.update(str(path).encode() + b"\0")
        digest.update(regular_file_hash(path, MAX_TLS_FILE_BYTES) or b"unreadable")
    return digest.hexdigest()


def _check_ca_file(path: Path | None) -> Path | None:
    # Built now, not when the first client is made: a file that is not a PEM CA bundle must stop
    # check-config (and a reload), not crash `run` with a traceback.
    if path is not None:
        try:
            ssl.create_default_context(cafile=str(path))
        except (ssl.SSLError, OSError, ValueError) as exc:
            raise ValueError(f"{path} is not a readable PEM CA bundle ({_ssl_reason(exc)})") from None
    return path


def _ssl_reason(exc: Exception) -> str:
    # OpenSSL's reason code (NO_CERTIFICATE_OR_CRL_FOUND, KEY_VALUES_MISMATCH...) when it gives
    # one; its message otherwise carries a C source line that differs between builds.
    reason = getattr(exc, "reason", None)
    if reason:
        return str(reason)
    if isinstance(exc, OSError) and not isinstance(exc, ssl.SSLError) and exc.strerror:
        return exc.strerror
    return "not PEM"


class EncryptedKey(Exception):
    """Raised in place of OpenSSL's passphrase prompt (see `_no_passphrase`)."""


def _no_passphrase() -> bytes:
    """The password callback for load_cert_chain. Without one, OpenSSL asks for an encrypted
    key's passphrase on the terminal: check-config (and `run`, and each reload) hung at "Enter PEM
    pass phrase:". An encrypted key is refused instead; the daemon takes unencrypted keys only."""
    raise EncryptedKey


def load_client_certificate(context: ssl.SSLContext, cert_file: Path, key_file: Path) -> None:
    context.load_cert_chain(str(cert_file), str(key_file), password=_no_passphrase)


class TlsSettings(Strict):
    ca_file: Annotated[ReadableFile | None, AfterValidator(_check_ca_file)] = None  # CA bundle for the workers' certificates
    cert_file: ReadableFile | None = None  # client certificate (mutual TLS) ...
    key_file: ReadableFile | None = None  # ... and its key
    verify: bool = True
    # The files' bytes as read with the settings (files_digest): part of the settings' equality.
    _contents: str = PrivateAttr(default="")

    @property
    def files(self) -> list[Path]:
        return [path for path in (self.ca_file, self.cert_file, self.key_file) if path is not None]

    @property
    def contents(self) -> str:
        return self._contents

    @model_validator(mode="after")
    def _cert_and_key_together(self) -> TlsSettings:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file go together (mutual TLS needs both)")
        if self.cert_file is not None and self.key_file is not None:
            try:
                load_client_certificate(ssl.create_default_context(), self.cert_file, self.key_file)
            except EncryptedKey:
                raise ValueError(
                    f"key_file {self.key_file} is encrypted (it needs a passphrase); give the key unencrypted, "
                    "e.g. `openssl pkey -in KEY -out KEY.unencrypted`, in a file only the daemon can read"
                ) from None
            except (ssl.SSLError, OSError, ValueError) as exc:
                raise ValueError(
                    f"cert_file {self.cert_file} and key_file {self.key_file} are not a PEM certificate "
                    f"and its unencrypted private key ({_ssl_reason(exc)})"
                ) from None
        self._contents = files_digest(self.files) if self.files else ""
        return self

    def context(self) -> ssl.SSLContext | bool:
        """What httpx's `verify` takes: the files were proven loadable when the config was read.
        `verify: false` with a client certificate still presents it (a worker with a self-signed
        certificate that requires client auth, `ssl.client.auth=required`): httpx's `False` is a
        context without one, and every call failed with a bare ReadError."""
        if not self.verify and self.cert_file is None:
            return False
        if self.ca_file is None and self.cert_file is None:
            return True
        context = ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)
        if not self.verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if self.cert_file is not None and self.key_file is not None:
            load_client_certificate(context, self.cert_file, self.key_file)
        return context
