"""A compressed body decoded a piece at a time, no piece larger than asked for.

httpx decodes each chunk it reads whole: a read of 64 KB of gzip inflates to 66 MB at once
(deflate reaches 1032:1), before a size cap can see any of it, so a 1 MB answer cost 150 MB
whatever api.max_response_bytes, and four polls at once more than a pod's memory; with the
codings stacked (`gzip, gzip`) each layer multiplies, and 478 bytes took 449 MB. zlib can stop at
a given output size (`max_length`, the rest left in `unconsumed_tail`), which httpx does not
use: transfer.fetch reads the raw body and decodes it here.

The codings are httpx's own for gzip and deflate (deflate tried zlib-wrapped, then raw, as
httpx does); a coding httpx would not decode either passes through as it came, as there. Only
these two are offered (ACCEPT_ENCODING), whatever packages are installed beside httpx.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator

import httpx

_WBITS = {"gzip": zlib.MAX_WBITS | 16, "x-gzip": zlib.MAX_WBITS | 16, "deflate": zlib.MAX_WBITS}
# What every client offers (Accept-Encoding): the codings decoded here, and only those. httpx
# offers br and zstd whenever their packages happen to be installed beside it (httpx[brotli], a
# neighbour's dependency in a shared virtualenv), and a server that took the offer had its answer
# passed through here undecoded: every poll failed "unreadable response", nothing was restarted.
ACCEPT_ENCODING = "gzip, deflate"


class Inflater:
    """One body's decoder. `pieces(data, size)` yields what `data` decodes to, `size` bytes at most
    each; raises httpx.DecodingError (as httpx does) for data that is not of its coding."""

    def __init__(self, coding: str, request: httpx.Request) -> None:
        self._coding = coding
        self._request = request
        self._zlib = zlib.decompressobj(_WBITS[coding])
        self._first = True  # deflate: the first data says whether it is zlib-wrapped or raw

    def pieces(self, data: bytes, size: int) -> Iterator[bytes]:
        while data and not self._zlib.eof:
            try:
                piece = self._zlib.decompress(data, size)
            except zlib.error as exc:
                if self._first and self._coding == "deflate":
                    self._zlib, self._first = zlib.decompressobj(-zlib.MAX_WBITS), False
                    continue
                raise httpx.DecodingError(str(exc), request=self._request) from exc
            self._first = False
            if not piece and self._zlib.unconsumed_tail == data:
                return  # no progress (never seen; a guard against spinning on odd input)
            data = self._zlib.unconsumed_tail
            if piece:
                yield piece


def inflater(response: httpx.Response) -> Inflater | None:
    """The decoder the answer's Content-Encoding asks for; None when its body is read as it came.
    DecodingError for a body compressed more than once: no API does it, and it is the way to a
    bomb of gigabytes in a few bytes."""
    named = [c.strip() for c in response.headers.get_list("content-encoding", split_commas=True)]
    decoded = [c.lower() for c in named if c.lower() in _WBITS]
    if len(decoded) > 1:
        # Quoted as they came, not lowercased: the message is starred of the request's credentials
        # (answers.transport_failure), and a server that put our Authorization header there had
        # its Basic token kept lowercased, where no starring recognised it (and from which the
        # key and secret can be recovered, a 4-character group at a time).
        raise httpx.DecodingError(f"content encoded {len(named)} times ({', '.join(named)}): not decoded",
                                  request=response.request)
    return Inflater(decoded[0], response.request) if decoded else None


def decoded_codings(response: httpx.Response) -> list[str]:
    """The codings of the answer's Content-Encoding that are decoded here, lowercased: the only
    ones a message names (any other value is the server's text, and may hold what we sent it)."""
    named = [c.strip().lower() for c in response.headers.get_list("content-encoding", split_commas=True)]
    return [c for c in named if c in _WBITS]


# Codings a server may use although not offered: named in a message as they are. Any other value
# is not quoted (a header is the server's text, and may hold what we sent it).
_KNOWN_UNDECODED = frozenset({"br", "zstd", "compress", "x-compress", "exi", "pack200-gzip", "aes128gcm"})


def undecoded(response: httpx.Response) -> str | None:
    """The Content-Encoding the body came in that `inflater` does not decode (Brotli, zstd from a
    proxy that compresses whatever the request offered), or None."""
    named = [c.strip().lower() for c in response.headers.get_list("content-encoding", split_commas=True)]
    left = [c for c in named if c and c != "identity" and c not in _WBITS]
    if not left:
        return None
    return left[0] if left[0] in _KNOWN_UNDECODED else "not quoted: no coding the daemon knows"
