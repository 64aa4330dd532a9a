"""The door of Confluent Cloud's Connect API (connect/v1).

Authentication with an API key (401), the per-key concurrency limit and rate limit (429), then,
after the fault rules, the key's cluster permission (403) and the operation itself (404, 400, 200,
202).
"""

from __future__ import annotations

from dataclasses import replace
from functools import partial
from http import HTTPStatus
from typing import TYPE_CHECKING

from watchdog.simulator.concurrency import InFlight
from watchdog.simulator.credentials import KeyRing
from watchdog.simulator.doors import Admission, ApiRequest
from watchdog.simulator.operations import ApiReply, Operations, error_reply
from watchdog.simulator.ratelimit import KeyBudgets, Verdict, whole_seconds
from watchdog.simulator.routing import Route
from watchdog.simulator.scenario import Scenario
from watchdog.simulator.world import World

if TYPE_CHECKING:
    from watchdog.simulator.discovery_api import ClusterLifecycles

# The budget every key's requests count in, where the scenario's limit is organisation-wide.
ORGANIZATION = "organization"

# Default bodies of injected errors: the spec's example messages where it has one.
_ERROR_MESSAGES = {
    401: "Unauthorized",
    403: "Forbidden",
    404: "resource not found",
    500: "Oops, something went wrong",
}


class CloudApi:
    def __init__(
        self, scenario: Scenario, world: World, keys: KeyRing, epoch: float, lifecycles: ClusterLifecycles | None = None
    ) -> None:
        self._scenario = scenario
        self._lifecycles = lifecycles  # clusters created or deleted on a timeline (discovery_api.py)
        self._keys = keys
        self._operations = Operations(world, scenario, epoch_at_start=epoch)
        self._epoch = epoch
        limit = scenario.rate_limit
        self._limiter = (
            None
            if limit is None
            else KeyBudgets(
                limit.algorithm, limit.limit, limit.window_seconds, seed=scenario.seed or 0,
                others=[(other.pattern, other.share, other.until_seconds) for other in limit.other_clients],
            )
        )
        # Every key's requests in one budget where the limit is organisation-wide.
        self._organization_wide = limit is not None and limit.scope == "organization"
        concurrency = scenario.concurrency_limit
        self._in_flight = None if concurrency is None else InFlight(concurrency.max_in_flight)
        # Each key's last admitted verdict and when, kept only beside a concurrency limit: what its
        # 429 says of the rate limit.
        self._last_verdicts: dict[str, tuple[float, Verdict]] = {}

    @property
    def budgets(self) -> KeyBudgets | None:
        """The per-key budgets, for inspection (other clients' use) by tests and benchmarks."""
        return self._limiter

    def admit(self, route: Route, request: ApiRequest, t: float) -> Admission:
        principal, key = self._keys.authenticate(request.authorization)
        if key is None:
            return Admission(principal, refusal=self._error(401, "Unauthorized"))
        hold = None
        if self._in_flight is not None:
            if self._in_flight.full(key.id, t):
                return Admission(principal, key, self._too_busy(key.id, t), rate_limited=True)
            hold = partial(self._in_flight.hold, key.id)
        if self._limiter is None:
            return Admission(principal, key, on_answered=hold)
        verdict = self._limiter.admit(ORGANIZATION if self._organization_wide else key.id, t)
        if not verdict.allowed:
            return Admission(principal, key, self._too_many_requests(verdict, t), rate_limited=True)
        if hold is not None:
            self._last_verdicts[key.id] = (t, verdict)
        return Admission(principal, key, verdicts=[verdict], on_answered=hold)

    def answer(self, route: Route, request: ApiRequest, admission: Admission, t: float) -> ApiReply:
        assert admission.key is not None  # admit() refuses every request without a key
        if route.cluster is not None and not admission.key.may_use(route.cluster):
            reply = self._error(403, "Forbidden")
        elif route.cluster is not None and self._lifecycles is not None and not self._lifecycles.exists(route.cluster, t):
            reply = self._operations.answer(Route("other", route.environment, route.cluster), (), t)  # 404
        else:
            reply = self._operations.answer(route, request.query, t)
        self.add_success_headers(reply, admission, t)
        return reply

    def add_success_headers(self, reply: ApiReply, admission: Admission, t: float) -> None:
        """X-RateLimit-* on an admitted request's answer, where the scenario sends them always
        (this API's and discovery's answers alike)."""
        settings = self._scenario.rate_limit
        if settings is not None and settings.headers == "always":
            for verdict in admission.verdicts:
                reply.headers.update(self._rate_limit_headers(verdict, t))

    def _rate_limit_headers(self, verdict: Verdict, t: float) -> dict[str, str]:
        """The documented RateLimitError headers (research note §3.1). X-RateLimit-Reset is
        relative seconds, or (scenario reset_format: unix_time) the Unix time the period ends;
        both rounded up, so that waiting until then is always enough. X-RateLimit-Limit is the
        limit, or (limit_format: quota_policy) the limit and its window as Envoy sends them. Named
        RateLimit-* instead (header_names: ratelimit), as the IETF draft and Kong's gateway do, or
        as the draft's structured `RateLimit` and `RateLimit-Policy` (ratelimit_structured)."""
        settings = self._scenario.rate_limit
        if settings is not None and settings.reset_format == "unix_time":
            reset = whole_seconds(self._epoch + t + verdict.reset)
        else:
            reset = verdict.reset_seconds
        limit = str(verdict.limit)
        if settings is not None and settings.limit_format == "quota_policy":
            limit = f"{limit}, {limit};w={settings.window_seconds:g}"
        if settings is not None and settings.header_names == "ratelimit_structured":
            # The draft's later form (-08 on): one policy, what remains of it and when it resets.
            return {"RateLimit": f'"default";r={verdict.remaining};t={reset}',
                    "RateLimit-Policy": f'"default";q={verdict.limit};w={settings.window_seconds:g}'}
        family = "RateLimit-" if settings is not None and settings.header_names == "ratelimit" else "X-RateLimit-"
        return {
            f"{family}Limit": limit,
            f"{family}Remaining": str(verdict.remaining),
            f"{family}Reset": str(reset),
        }

    def injected_error(self, status: int) -> ApiReply:
        return self._error(status, _ERROR_MESSAGES.get(status) or phrase(status))

    def _error(self, status: int, message: str) -> ApiReply:
        return error_reply(status, message, self._scenario.error_shape)

    def _too_many_requests(self, verdict: Verdict, t: float) -> ApiReply:
        settings = self._scenario.rate_limit
        reply = self._429()
        if settings is None or settings.headers != "never":
            reply.headers.update(self._rate_limit_headers(verdict, t))
        if settings is None or settings.retry_after:
            reply.headers["Retry-After"] = str(verdict.retry_after)
        return reply

    def _too_busy(self, key: str, t: float) -> ApiReply:
        """A 429 for a request over the key's concurrency limit (concurrency.py): its rate-limit
        headers, if any, are the key's as its last admitted request left them, Reset counted
        down since; Remaining is not spent by this refusal."""
        concurrency = self._scenario.concurrency_limit
        assert concurrency is not None
        reply = self._429()
        settings, last = self._scenario.rate_limit, self._last_verdicts.get(key)
        if concurrency.rate_headers and settings is not None and settings.headers != "never" and last is not None:
            at, verdict = last
            reply.headers.update(self._rate_limit_headers(replace(verdict, reset=max(0.0, verdict.reset - (t - at))), t))
        if concurrency.retry_after is not None:
            reply.headers["Retry-After"] = str(concurrency.retry_after)
        return reply

    def _429(self) -> ApiReply:
        # The spec declares no 429 body (research note §3.1); the error body is an option.
        settings = self._scenario.rate_limit
        if settings is not None and settings.body == "error":
            return self._error(429, "Too Many Requests")
        return ApiReply(429)


def phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"
