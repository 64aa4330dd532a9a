"""The IETF draft's structured rate-limit fields, read as the X-RateLimit-* triple.

draft-ietf-httpapi-ratelimit-headers up to -06 named three fields (`RateLimit-Limit`,
`-Remaining`, `-Reset`: headers.py reads them). Its later revisions name two, each an RFC 9651
structured field:

- draft-07 (2023): `RateLimit: limit=100, remaining=50, reset=5`, a Dictionary;
- draft-08 to -11 (2024 to 2026): `RateLimit: "burst";r=50;t=30, "day";r=900;t=3600`, a List of
  the quota policies in force, each with what remains of it (`r`) and the seconds until it
  resets (`t`); `RateLimit-Policy: "burst";q=100;w=60, "day";q=1000;w=86400` names each policy's
  quota (`q`), its window (`w`) and its unit (`qu`, "requests" unless said).

A key behind a gateway that speaks only these (a newer Kong, Envoy, a proxy of its own) was paced
as one that never says its budget. These fields are read only where neither X-RateLimit-* nor the
three older RateLimit-* fields are there (headers.py), so a server that speaks Confluent's names
is read as before.

Several policies: the one with the least remaining binds, its `t` says when that changes and its
`q` (RateLimit-Policy, matched by name) is the limit; a policy counted in another unit than
requests (`qu="content-bytes"`) says nothing of how many calls may go, and is left out. A field
that does not parse, or a policy whose `r` cannot be read, is no reading at all: a list we cannot
read whole may hide the value that binds (the same rule as headers.py's lists).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import http_sf

FIELDS = ("limit", "remaining", "reset")


def structured_fields(headers: Mapping[str, str]) -> dict[str, str | None]:
    """{limit, remaining, reset} as texts headers.py's readers take (None where not said), from
    the `RateLimit` and `RateLimit-Policy` fields."""
    none: dict[str, str | None] = dict.fromkeys(FIELDS)
    field = headers.get("ratelimit")
    if field is None:
        return none
    policies = _parsed(field, "list")
    if policies is None:
        dictionary = _parsed(field, "dictionary")  # draft-07's form
        if dictionary is None:
            return none
        return {name: _integer_text(dictionary[name][0]) if name in dictionary else None for name in FIELDS}
    return _binding_policy(policies, _quotas(headers.get("ratelimit-policy")))


def _parsed(field: str, kind: str) -> Any:
    try:
        return http_sf.parse(field.encode("ascii"), tltype=kind)
    except (ValueError, UnicodeEncodeError):  # http_sf.StructuredFieldError is a ValueError
        return None


def _integer_text(value: Any) -> str | None:
    """An Integer's text; None for anything else (a Boolean is an int in Python: `r=?1` is no count)."""
    return str(value) if type(value) is int else None


def _quotas(field: str | None) -> dict[str, str | None]:
    """Each request-counted policy's quota by name; a policy in another unit maps to None."""
    policies = _parsed(field, "list") if field is not None else None
    quotas: dict[str, str | None] = {}
    for name, parameters in policies or []:
        unit = parameters.get("qu", "requests")
        quotas[str(name)] = _integer_text(parameters.get("q")) if unit == "requests" else None
    return quotas


def _binding_policy(policies: list[Any], quotas: dict[str, str | None]) -> dict[str, str | None]:
    counted = [(str(name), parameters) for name, parameters in policies
               if str(name) not in quotas or quotas[str(name)] is not None]
    remaining = [_integer_text(parameters.get("r")) for _, parameters in counted]
    if not counted or any(r is None for r in remaining):
        return dict.fromkeys(FIELDS)
    # The least remaining binds; of policies as low, the one that resets last.
    name, parameters = min(counted, key=lambda policy: (policy[1]["r"], -_seconds(policy[1].get("t"))))
    return {"limit": quotas.get(name), "remaining": str(parameters["r"]), "reset": _integer_text(parameters.get("t"))}


def _seconds(value: Any) -> int:
    return value if type(value) is int else 0
