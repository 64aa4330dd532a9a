"""The safety gates' settings: maintenance windows, the breaker, and blocking alerts."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field, SecretStr, field_validator, model_validator

from ..windows import Windows, parse_window
from .matchers import go_regex_problem, matcher_problem
from .secret_values import MaskableSecret, basic_user, header_token
from .sections import MAX_COUNT
from .types import NUMBER, HttpUrl, PositiveDuration, Strict, at_least


def _check_window(text: str) -> str:
    parse_window(text)  # raises WindowError (a ValueError) naming the bad text
    return text


WindowText = Annotated[str, AfterValidator(_check_window)]


def _check_matcher(text: str) -> str:
    # Checked here, not left to Alertmanager: it answers a filter it cannot parse with 400 at every
    # check, and with on_error: block that held every restart (matchers.py says what is accepted).
    problem = matcher_problem(text)
    if problem is not None:
        raise ValueError(problem)
    return text


def _check_receiver(text: str) -> str:
    # Alertmanager reads `receiver` as a regular expression too (anchored, like a =~ matcher).
    problem = go_regex_problem(text)
    if problem is not None:
        raise ValueError(f"{text[:80]!r} is not a valid regular expression (Go RE2 syntax, as Alertmanager "
                         f"compiles the receiver parameter): {problem}")
    return text


AlertMatcher = Annotated[str, AfterValidator(_check_matcher)]
ReceiverPattern = Annotated[str, AfterValidator(_check_receiver)]


class WindowSettings(Strict):
    """When restarts may happen: inside any `allowed` window (all the time if none) and outside
    every `blackout` window. Forms: `Mon-Fri 06:30-20:30 Europe/Berlin`, an ISO-8601 range
    `2026-12-24T00:00:00+01:00-2026-12-27T00:00:00+01:00`, `always`, `never`."""

    allowed: list[WindowText] | None = None
    blackout: list[WindowText] = []

    @field_validator("allowed")
    @classmethod
    def _allowed_is_not_empty(cls, allowed: list[str] | None) -> list[str] | None:
        # `allowed:` left empty (null) is "always", `allowed: []` read as "never": one pair of
        # brackets between a fleet that heals and one that silently never restarts again, while
        # check-config called it valid. Never is said with `never`.
        if allowed == []:
            raise ValueError("an empty list would allow no time at all; write [never] to stop every restart, "
                             "or leave `allowed` out for all the time")
        return allowed

    @property
    def configured(self) -> bool:
        return self.allowed is not None or bool(self.blackout)

    def compile(self) -> Windows:
        allowed = None if self.allowed is None else [parse_window(text) for text in self.allowed]
        return Windows(allowed, [parse_window(text) for text in self.blackout])


MIN_BREAKER_WINDOW = 60.0


class BreakerSettings(Strict):
    """Stop every restart while too much fails at once: a systemic outage is not healed by
    restarting everything, and a storm of restarts can make it worse. Leave a limit out to
    disable it."""

    max_failing_share: Annotated[float, NUMBER, Field(gt=0, le=1)] | None = 0.5  # of a cluster's watched connectors
    min_failing: Annotated[int, NUMBER, Field(ge=1, le=MAX_COUNT)] = 3  # the share only counts from this many failing
    max_restarts: Annotated[int, NUMBER, Field(ge=1, le=MAX_COUNT)] | None = 30  # restarts sent fleet-wide within `window`
    # At least a minute: `window: 10` (meant as minutes, read as seconds) let `max_restarts` out
    # every 10 s instead of every 10 minutes, and an open cluster breaker sent its probe restart
    # at nearly every poll, the storm the breaker is there to stop.
    window: Annotated[PositiveDuration, at_least(MIN_BREAKER_WINDOW, "the fleet limit counts restarts per window and "
                                                 "an open cluster breaker probes once a window; a bare number is seconds "
                                                 "(write 10m)")] = 600.0


BASIC_NEEDS = "auth basic needs `username` and a password (WATCHDOG_BLOCKING__PASSWORD or a secret file of that name)"
BEARER_NEEDS = "auth bearer needs a token (WATCHDOG_BLOCKING__BEARER_TOKEN or a secret file of that name)"


class BlockingSettings(Strict):
    """Before a restart, ask Alertmanager whether a blocking alert (a Confluent incident, a
    cluster outage) is firing; silenced and inhibited alerts do not block."""

    alertmanager_url: HttpUrl
    # Alertmanager matchers, one per entry, ANDed, e.g. 'alertname=~"ConfluentCloudIncident|KafkaClusterDown"'.
    filters: list[AlertMatcher] = []
    receiver: ReceiverPattern | None = None  # a regular expression over receiver names, as Alertmanager reads it
    cache_ttl: PositiveDuration = 30.0
    timeout: PositiveDuration = 5.0  # the whole call, answer included
    on_error: Literal["block", "allow"] = "block"  # fail closed by default, as Kured does
    # How to authenticate to Alertmanager (never with credentials in the URL, which is refused):
    # `basic` with `username` and a password from WATCHDOG_BLOCKING__PASSWORD (or a secret file of
    # that name), `bearer` with a token from WATCHDOG_BLOCKING__BEARER_TOKEN.
    auth: Literal["none", "basic", "bearer"] = "none"
    username: Annotated[str | None, AfterValidator(basic_user)] = None
    password: MaskableSecret | None = None
    bearer_token: Annotated[MaskableSecret | None, AfterValidator(header_token)] = None

    @model_validator(mode="after")
    def _auth_complete(self) -> BlockingSettings:
        # The password and the token are secrets, checked with the Cloud keys by cross_check:
        # `watchdog status` and `history` read the state file and need none of them.
        if self.auth == "basic" and not self.username:
            raise ValueError(BASIC_NEEDS)
        unused = [name for name, value in (("password", self.password), ("bearer_token", self.bearer_token))
                  if value is not None and not (self.auth == "basic" and name == "password")
                  and not (self.auth == "bearer" and name == "bearer_token")]
        if unused:
            raise ValueError(f"{', '.join(unused)} is set but auth is {self.auth!r}: set auth to use it, or unset it")
        return self

    def missing_secret(self) -> str | None:
        """What its `auth` needs and the environment or secrets directory did not give."""
        if self.auth == "basic" and self.password is None:
            return BASIC_NEEDS
        if self.auth == "bearer" and self.bearer_token is None:
            return BEARER_NEEDS
        return None

    def credentials(self) -> tuple[str, SecretStr] | SecretStr | None:
        """(username, password) for basic auth, the token for bearer, None for none."""
        if self.auth == "basic":
            assert self.username is not None and self.password is not None  # validated
            return self.username, self.password
        if self.auth == "bearer":
            return self.bearer_token
        return None
