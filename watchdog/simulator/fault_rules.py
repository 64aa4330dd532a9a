"""Injected faults: the `faults:` rules of a scenario (faults.py applies them).

A fault rule. Rules are tried in order; the first that matches fires. Rules act after
authentication and the rate limit, so they never answer an unauthenticated request, and every
request they touch is still recorded in `Simulator.calls`.

    name: restart-503              # shown as the call record's `fault`; default "faults[i]"
    match:                         # all optional; an omitted key matches anything
      endpoint: restart            # list | status | read | restart | pause | resume
                                   # | error_recommendations | metrics_query
                                   # | metrics_export | other
      cluster: lkc-demo01          # an lkc- id or a kafka_connect_clusters name
      connector: orders-sink
      api_key: demo-key            # never matches Kafka Connect calls (no API keys there)
    when:                          # all optional
      from: 10                     # active from this time ...
      until: 20                    # ... until this time (exclusive)
      count: 2                     # fire at most this many times
      probability: 0.5             # fire with this probability (seeded)
    action:                        # *required*: one of status, invalid_json, truncated, reset,
                                   # or delay_seconds alone; delay_seconds combines with any
      status: 503                  # answer this instead of the real thing; the request never
                                   # reaches the connector
      body: {...}                  # with status: a JSON object or list, or a string sent as
                                   # is (as UTF-8; a lone surrogate in it plays invalid bytes:
                                   # U+DC80..U+DCFF the byte it stands for, "\udcff" is FF,
                                   # any other its own three bytes, as CESU-8 writes it); default: the API's own error body for 4xx/5xx except
                                   # 429 (connect/v1, Kafka Connect or Metrics API), else empty
      headers: {Retry-After: soon} # with status: the headers sent (besides X-Request-Id); a
                                   # redirect is status 301/307 with a Location header (Confluent's
                                   # compatibility policy says clients must follow them)
      delay_seconds: 30            # answer this much later (real seconds)
      invalid_json: true           # the real answer, its body cut to broken JSON
      truncated: true              # the real answer, Content-Length larger than the bytes sent,
                                   # then the connection closes
      reset: true                  # a TCP reset instead of the real answer
      trickle_seconds: 0.5         # the real answer (with status: the injected one), its body
                                   # sent one byte at a time with this pause between bytes (a
                                   # read timeout never fires)
      pad_to_bytes: 2000000        # the real answer, its JSON body padded with trailing spaces
                                   # (still valid JSON) to at least this size
    # invalid_json, truncated, reset, trickle_seconds and pad_to_bytes act after the operation
    # ran: a restart answered that way did happen. truncated and reset need a real connection (`serve`); in-process (ASGI
    # transport) they raise ConnectionResetError.
"""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, Field, NonNegativeFloat, PositiveInt, model_validator

from watchdog.simulator.routing import EndpointKind
from watchdog.simulator.spec_model import HeaderValue
from watchdog.simulator.spec_model import SpecModel as _Model


class FaultMatch(_Model):
    endpoint: EndpointKind | None = None
    cluster: str | None = None
    connector: str | None = None
    api_key: str | None = None


class FaultWhen(_Model):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_by_name=True)

    from_: NonNegativeFloat = Field(0.0, alias="from")
    until: NonNegativeFloat | None = None
    count: PositiveInt | None = None
    probability: float = Field(1.0, ge=0.0, le=1.0)


class FaultAction(_Model):
    status: int | None = Field(None, ge=100, le=599)
    body: dict[str, Any] | list[Any] | str | None = None
    headers: dict[str, HeaderValue] = {}
    delay_seconds: NonNegativeFloat = 0.0
    invalid_json: bool = False
    truncated: bool = False
    reset: bool = False
    trickle_seconds: NonNegativeFloat = 0.0
    pad_to_bytes: int | None = Field(None, ge=1, le=1_000_000_000)

    @model_validator(mode="after")
    def _one_effect(self) -> FaultAction:
        effects = [
            name
            for name, chosen in (
                ("status", self.status is not None),
                ("invalid_json", self.invalid_json),
                ("truncated", self.truncated),
                ("reset", self.reset),
                ("trickle_seconds", self.trickle_seconds > 0),
                ("pad_to_bytes", self.pad_to_bytes is not None),
            )
            if chosen
        ]
        if self.status is not None and "trickle_seconds" in effects:
            effects.remove("trickle_seconds")  # the injected answer's body, a byte at a time
        if len(effects) > 1:
            raise ValueError(f"choose one of {', '.join(effects)}")
        if not effects and self.delay_seconds == 0:
            raise ValueError(
                "an action needs status, invalid_json, truncated, reset, trickle_seconds, "
                "pad_to_bytes or delay_seconds"
            )
        if self.status is None and (self.body is not None or self.headers):
            raise ValueError("body and headers go with status")
        framing = {"content-length", "transfer-encoding"} & {h.lower() for h in self.headers}
        if framing:
            raise ValueError(f"{', '.join(sorted(framing))} cannot be set: use truncated")
        return self


class FaultRule(_Model):
    name: str | None = None
    match: FaultMatch = FaultMatch()
    when: FaultWhen = FaultWhen.model_validate({})
    action: FaultAction


def check_fault_references(rules: list[FaultRule], clusters: set[str], keys: set[str]) -> None:
    """Reject rules naming clusters or keys that do not exist: such a rule would never fire."""
    for index, rule in enumerate(rules):
        if rule.match.cluster is not None and rule.match.cluster not in clusters:
            raise ValueError(f"faults[{index}].match.cluster: unknown cluster {rule.match.cluster}")
        if rule.match.api_key is not None and rule.match.api_key not in keys:
            raise ValueError(f"faults[{index}].match.api_key: unknown api key {rule.match.api_key}")
