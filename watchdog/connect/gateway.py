"""Every API call of one rate-limit lane (an API key, a self-managed cluster, or the Metrics API)
passes here: paced, measured, logged."""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from typing import TypeVar

from ..logs import get_logger
from ..metrics import Metrics
from ..model import Outcome
from ..ratelimit import Pause, RateLimiter
from ..ratelimit.state import UNANSWERED_TURN_SECONDS
from .backend import MAX_MESSAGE_CHARS, ApiResult, Endpoint, status_class
from .refusal import (
    CLUSTER_REFUSED_SHORT,
    CONNECTOR_REFUSED_SHORT,
    WRITE_REFUSED_NOTE,
    WRITE_REFUSED_SHORT,
    KeyRefusal,
    ProxyRefusal,
)

T = TypeVar("T")

# The Connect API's own calls: what they meet says whether its restarts can be answered. The
# Metrics API and discovery (org/v2, cmk/v2) are other services.
_CONNECT = frozenset({Endpoint.LIST, Endpoint.STATUS, Endpoint.RESTART, Endpoint.ERROR_RECOMMENDATIONS})

# What a proxy's refusal holds, by lane: a Connect API lane's restarts; the Metrics API lane holds
# no restart (it carries the stall checks' queries only), so its line must not say one waits.
_PROXY_REFUSED_HOLDS = {
    False: "Every restart of the lane stays queued, not sent and no attempt counted, until a call through the proxy "
           "is answered (polls go on at their interval)",
    True: "The stall checks' Metrics API queries through it fail (their clusters unjudged: check_failed) until a "
          "call through the proxy is answered; no restart waits on this lane",
}
_PROXY_ACCEPTED_AGAIN = {
    False: "the restarts held since the proxy refused them go now",
    True: "the stall checks' queries are answered again",
}
# Outcomes of a call that got no answer: a network error, or a restart that may have been made.
_UNANSWERED = frozenset({Outcome.NETWORK_ERROR, Outcome.UNCONFIRMED})

log = get_logger("watchdog.api")

# A call of a cluster on the wire this long without an answer makes the cluster slow: where its
# lane serves other clusters too, the queue sends none of its other restarts until that call ends
# (queue/holding.py, JobHolding._slow). The limiter passes the key's turn on after as long.
SLOW_CALL_SECONDS = UNANSWERED_TURN_SECONDS
# Said of a cluster on which the key is refused while its other clusters take it (refusal.py).
_REFUSED_ON_CLUSTER_NOTE = (
    "the key is refused (401) on this cluster while its other clusters answer it: the key works, its access to "
    "this cluster was withdrawn (a role binding removed?); grant it again, or move the cluster to a key that has "
    "it. Only its own restarts are held: the key's other clusters poll and restart as usual; while this cluster's "
    "listing fails nothing of it is decided (a restart by name or an alert for it is answered 503: its cluster "
    "could not be listed), and a restart of it already queued waits, not sent and no attempt counted, until the "
    "cluster answers again (its next poll), a reload rotates the pair, or 10 minutes pass without a call of it. "
    "Said again every 5 minutes "
    "while it lasts (repeated: the 401s since), and api_key_accepted_on_cluster when it answers")
# A wait for the server's budget this long is said (rate_limit_budget_spent): a window's Reset of
# a few seconds is the limiter's everyday pacing, a minute or more is the key out of reach.
LONG_BUDGET_WAIT_SECONDS = 60.0


class Gateway:
    """Status polls and restarts share one gateway per rate-limit lane: Confluent limits per key,
    so Cloud clusters on one key share one (config.Config.lane_for)."""

    def __init__(self, limiter: RateLimiter, metrics: Metrics, *, restart_slots: int | None = None) -> None:
        self.limiter = limiter
        self.credential = limiter.credential
        # How many of the lane's concurrent calls restarts may hold at once (the queue runs that
        # many workers for it); None: all of them.
        self.restart_slots = restart_slots
        self._metrics = metrics
        self._shared = False  # last told: another client seen on the key (rate_limit_shared)
        self._in_flight_cut: int | None = None  # last told: rate_limit_in_flight_capped
        self._spent_told: float | None = None  # the end of the last long wait told: rate_limit_budget_spent
        self._hold_listeners: list[Callable[[str | None], None]] = []
        # The key refused (401): the lane's restarts wait, queued (refusal.py). Its `pair` is set
        # by the composition root (cluster_host.py): the credentials the lane's client sends.
        self.refusal = KeyRefusal()
        # The lane's egress proxy refused its calls (407): its restarts wait likewise (refusal.py).
        self.proxy_refusal = ProxyRefusal()
        # Cluster -> its calls on the wire (a number each -> when it was sent).
        self._on_wire: dict[str, dict[int, float]] = {}
        self._call_numbers = itertools.count()

    async def call(
        self, cluster: str, call: Callable[[], Awaitable[ApiResult[T]]],
        on_failure: Callable[[str], Mapping[str, object] | None] | None = None, /, **context: object,
    ) -> tuple[ApiResult[T], Pause | None]:
        """Wait for budget, make the call, feed the answer back to the limiter.

        Returns the result and the pause a 429 imposed on every caller (None otherwise), so the
        caller can report how long it will wait. `on_failure`, given a failed call's outcome,
        returns the fields its `api_call_failed` line adds, or None for a line at debug: a
        failure that repeats is said by its caller every few minutes (triggers/streak.py).
        """
        async with self.limiter.permit() as permit:
            number = self._on_the_wire(cluster)
            try:
                result = await call()
            finally:
                self._off_the_wire(cluster, number)
            pause = None
            if result.status_code is not None:
                pause = self.limiter.observe(permit, result.status_code, result.headers, cluster=cluster)
        self._tell_if_shared()
        self._tell_if_in_flight_capped()
        self._tell_if_budget_spent_for_long()
        for endpoint, code in result.calls:  # each HTTP call, not one per call of the gateway
            self._metrics.api_requests.labels(self.credential, endpoint.value, status_class(code)).inc()
        self._metrics.api_latency.labels(result.endpoint.value).observe(result.elapsed)
        fields = {
            "credential": self.credential,
            "cluster": cluster,
            "endpoint": result.endpoint.value,
            "status_code": result.status_code,
            "outcome": result.outcome.value,
            "request_id": result.request_id,
            "elapsed_ms": round(result.elapsed * 1000, 1),
            **context,
        }
        if result.message and not result.ok:
            fields["message"] = result.message
        if pause is not None:
            fields["pause_seconds"] = round(pause.seconds, 3)
            fields["pause_source"] = pause.source
            if pause.capped_from is not None:
                fields["server_asked_seconds"] = round(pause.capped_from, 3)
        if pause is not None and result.status_code == 429:
            log.warning("rate_limited", **fields)
        elif pause is not None:
            # A 5xx with Retry-After holds every call of the key (ratelimit/state.py): said each
            # time, as a 429 is, whatever the caller's streak would say.
            log.warning("api_call_failed", **fields)
        elif result.ok and result.endpoint is Endpoint.LIST and result.message:
            # A list read another way than asked (a self-managed cluster's list too large for
            # its traces, or names only: read status by status, connect/status_by_status.py):
            # said each poll, since each such poll is one call per connector.
            log.info("list_read_by_status", **fields, message=result.message)
        elif result.ok:
            log.debug("api_call", **fields)
        else:
            said = on_failure(result.outcome.value) if on_failure is not None else {}
            if said is None:
                log.debug("api_call_failed", **fields)
            else:
                log.warning("api_call_failed", **fields, **said)
        if result.passed_over:
            # Said each time: the worker that answered is asked first from now on, so a worker
            # that hangs or refuses is passed over once per change of the worker asked first.
            log.warning("connect_workers_passed_over", credential=self.credential, cluster=cluster,
                        endpoint=result.endpoint.value, passed_over=list(result.passed_over), **context)
        self._track_outage(cluster, result, context.get("connector"), context.get("job"))
        result = self._track_refusal(cluster, result)
        self._track_proxy_refusal(cluster, result)
        return result, pause

    def _track_proxy_refusal(self, cluster: str, result: ApiResult[T]) -> None:
        """Feed the proxy's refusal (refusal.ProxyRefusal) and say when one begins (once, at
        error, naming the proxy and its variable, never its password) and ends."""
        change = self.proxy_refusal.on_call(result.proxy_refused, result.status_code is not None, self.limiter.now())
        if change == "began":
            proxy = result.proxy_refused or "(not one the environment names: a transparent proxy?)"
            log.error("proxy_refused", credential=self.credential, cluster=cluster, endpoint=result.endpoint.value,
                      proxy=proxy, message=result.message,
                      note="the egress proxy answered 407 Proxy Authentication Required and forwarded nothing: its "
                           "user and password in that variable are not the ones it takes (its password rotated on the "
                           "proxy? the daemon reads its environment only at start: a rollout with the new one fixes "
                           "it). " + _PROXY_REFUSED_HOLDS[result.endpoint is Endpoint.METRICS_QUERY])
        elif change == "ended":
            log.info("proxy_accepted_again", credential=self.credential, cluster=cluster,
                     answered_by=result.endpoint.value,
                     note=_PROXY_ACCEPTED_AGAIN[result.endpoint is Endpoint.METRICS_QUERY])
            for listener in self._hold_listeners:
                listener(None)  # the queue: every held restart of the lane goes again

    def _track_refusal(self, cluster: str, result: ApiResult[T]) -> ApiResult[T]:
        """Feed the key's refusal (refusal.py) and say when one begins (once, at error) and ends,
        and when a cluster is refused alone (another cluster answered the key after its 401).
        The Metrics API's answers are another service's: its lane holds no restarts. Returns the
        result, a restart's 401 while the key is refused for restarts only saying so."""
        if result.endpoint is Endpoint.METRICS_QUERY:
            return result
        write = result.endpoint is Endpoint.RESTART
        now = self.limiter.now()
        alone = self.refusal.alone.get(cluster)
        # A reload rotated the pair since the 401: its end is said at the first call answered with
        # the new pair (below), a poll's too. Said only at a held restart's turn (refused_note)
        # before, the log kept an open api_key_refused, for hours, where no restart was queued.
        rotated = self.refusal.rotation_unsaid()
        change = self.refusal.on_answer(result.status_code, now, write=write, cluster=cluster)
        if self.refusal.cluster_change == "refused_again":
            refused = self.refusal.alone[cluster]
            log.error("api_key_refused_on_cluster", credential=self.credential, cluster=cluster,
                      endpoint=result.endpoint.value, status_code=result.status_code, message=result.message,
                      refused_since=refused.since_said(), repeated=self.refusal.said_alone(cluster, now),
                      note=_REFUSED_ON_CLUSTER_NOTE)
        elif self.refusal.cluster_change == "accepted" and alone is not None:
            log.info("api_key_accepted_on_cluster", credential=self.credential, cluster=cluster,
                     answered_by=result.endpoint.value, status_code=result.status_code,
                     refused_since=alone.since_said(), note="a call with the key on this cluster was answered "
                     "other than 401: its access to the cluster is back, and its held restarts go")
            for listener in self._hold_listeners:
                listener(cluster)  # the queue: the cluster's held restarts go again
        if change == "write_refused":
            log.error("api_key_refused_for_restarts", credential=self.credential, cluster=cluster,
                      endpoint=result.endpoint.value, status_code=result.status_code, message=result.message,
                      note=WRITE_REFUSED_NOTE)
        elif change == "write_accepted":
            log.info("api_key_restarts_accepted", credential=self.credential, cluster=cluster,
                     status_code=result.status_code, note="a restart with the key was answered other than 401: "
                     "the key is no longer refused for restarts")
        if write and result.status_code == 401 and self.refusal.write_refused_since is not None:
            # The server's words first, cut so that what they mean is said whole after them.
            said = f"{result.message[:MAX_MESSAGE_CHARS - len(WRITE_REFUSED_SHORT) - 2]}; " if result.message else ""
            result = replace(result, message=f"{said}{WRITE_REFUSED_SHORT}")
        elif change == "connector_refused":
            said = f"{result.message[:MAX_MESSAGE_CHARS - len(CONNECTOR_REFUSED_SHORT) - 2]}; " if result.message else ""
            result = replace(result, message=f"{said}{CONNECTOR_REFUSED_SHORT}")
        elif write and result.status_code == 401 and cluster in self.refusal.alone:
            said = f"{result.message[:MAX_MESSAGE_CHARS - len(CLUSTER_REFUSED_SHORT) - 2]}; " if result.message else ""
            result = replace(result, message=f"{said}{CLUSTER_REFUSED_SHORT}")
        if change == "began":
            log.error("api_key_refused", credential=self.credential, cluster=cluster, endpoint=result.endpoint.value,
                      status_code=result.status_code, message=result.message,
                      note="the API refused the key (401), not a connector: every restart of the key's clusters "
                           "stays queued, not sent and no attempt counted, until a call with the key succeeds (polls "
                           "go on at their interval) or a reload rotates the key's pair; restarts already on the wire "
                           "end unauthorized. Where another of its clusters answers, the key works: the refusal is "
                           "this cluster's alone (api_key_refused_on_cluster) and the held restarts go")
        elif change == "ended" or (rotated and self.refusal.ended_by == "rotated" and _answered(result.status_code)):
            self._refusal_ended(cluster, result.endpoint.value)
        elif change == "narrowed":
            self._refusal_ended(cluster, result.endpoint.value, on_another=True)
            for each in self.refusal.narrowed_to:
                refused = self.refusal.alone[each]
                self.refusal.said_alone(each, now)
                log.error("api_key_refused_on_cluster", credential=self.credential, cluster=each,
                          answered_on=cluster, refused_since=refused.since_said(), note=_REFUSED_ON_CLUSTER_NOTE)
        return result

    def refused_note(self, cluster: str | None = None) -> str | None:
        """Why the lane's restarts wait now because its key, or its egress proxy (407), refused
        them, or (`cluster` given) because the key is refused on that cluster alone (None: they
        do not).

        Not a pure query: when a reload rotated the key's pair since the 401, the refusal ends
        here (no call has answered yet to end it), so this says `api_key_accepted_again` and lets
        the key's held restarts go, once (with none held, the first call answered with the new
        pair says it: _track_refusal). The queue asks it at each held restart's turn and every
        RECHECK_SECONDS (queue/holding.py), which is what makes a rotation take effect."""
        if self.refusal.holds(self.limiter.now()):
            return self.refusal.note()
        if self.refusal.ended_by == "rotated":
            self._refusal_ended(None, None)
        if self.proxy_refusal.holds(self.limiter.now()):
            return self.proxy_refusal.note()
        if cluster is not None and self.refusal.holds_cluster(cluster, self.limiter.now()):
            return self.refusal.cluster_note(cluster)
        return None

    def _refusal_ended(self, cluster: str | None, answered_by: str | None, *, on_another: bool = False) -> None:
        how = self.refusal.ended_by
        self.refusal.ended_by = ""
        ended_by = "a call with the key answered" if how == "answer" else "a reload rotated the key's pair"
        if on_another:
            ended_by = ("a call with the key answered on another cluster than those that refused it: they are "
                        "refused alone (api_key_refused_on_cluster)")
        log.info("api_key_accepted_again", credential=self.credential, cluster=cluster, answered_by=answered_by,
                 ended_by=ended_by,
                 note="the restarts held since the key was refused go now")
        for listener in self._hold_listeners:
            listener(None)  # the queue: every held restart of the key goes again

    def unanswered_for(self, cluster: str) -> float:
        """Seconds the oldest call of `cluster` still on the wire has waited for its answer (0:
        none is on the wire)."""
        calls = self._on_wire.get(cluster)
        return self.limiter.now() - min(calls.values()) if calls else 0.0

    def _on_the_wire(self, cluster: str) -> int:
        number = next(self._call_numbers)
        self._on_wire.setdefault(cluster, {})[number] = self.limiter.now()
        return number

    def _off_the_wire(self, cluster: str, number: int) -> None:
        calls = self._on_wire.get(cluster, {})
        slow = calls.pop(number, None)
        if not calls:
            self._on_wire.pop(cluster, None)
        if slow is not None and self.limiter.now() - slow >= SLOW_CALL_SECONDS:
            # The restarts of the cluster that waited for this call (JobHolding._slow) may go.
            for listener in self._hold_listeners:
                listener(cluster)

    def on_hold_change(self, listener: Callable[[str | None], None]) -> None:
        """Call `listener(cluster)` each time a cluster's restart hold begins, grows or ends
        (`listener(None)`: the whole key's), and when a call of the cluster that went unanswered
        for SLOW_CALL_SECONDS ends."""
        if listener not in self._hold_listeners:
            self._hold_listeners.append(listener)

    def _track_outage(self, cluster: str, result: ApiResult[T], connector: object = None, job: object = None) -> None:
        """Feed the restart hold (ratelimit/outage.py) and say when one begins and ends.
        `connector`, `job`: a restart's (its retries count once; its answer ends its turn)."""
        if result.endpoint not in _CONNECT or result.proxy_refused is not None:
            # A proxy's refusal says nothing of the API: the proxy's own hold has it (ProxyRefusal).
            return
        code = result.status_code
        if code is not None and code >= 500 and result.headers.retry_after is not None:
            return  # the service said when: the key's pause (Outage) holds every call for that
        # No answer counts, whatever the outcome it made: a restart that may have reached Confluent
        # Cloud and got none ends `unconfirmed` (cloud.call_api), and is the outage's sign as much.
        failed = (code is None and result.outcome in _UNANSWERED) or (code is not None and code >= 500)
        hold = self.limiter.restart_hold
        changes = hold.on_call(cluster, restart=result.endpoint is Endpoint.RESTART, failed=failed,
                               connector=connector if isinstance(connector, str) else None,
                               caller=job if isinstance(job, str) else None)
        key_changed = {change.kind for scope, change in changes if scope is None}
        for scope, change in changes:
            # Said once: a cluster's own hold that begins or ends with the key's, or while the
            # key's holds it anyway, is at debug (one cluster on a key: both always move together).
            said = scope is None or (change.kind not in key_changed and not hold.key_held())
            fields: dict[str, object] = {
                "credential": self.credential, "cluster": cluster,
                "held": "every cluster of the credential" if scope is None else "this cluster",
            }
            if change.kind == "held":
                fields.update(failed_calls_in_a_row=change.failures, next_try_in_seconds=round(change.pause, 3))
            if change.kind == "held" and change.first and said:
                log.warning("restarts_held", **fields, last_outcome=result.outcome.value, last_status_code=code,
                            # "These restarts" was said when the failures were five polls' and no
                            # restart was queued (a probe, 2026-12-06): the hold is for any to come.
                            note="restarts of it stay queued, those queued now and any asked for meanwhile; one "
                                 "is tried after each pause, which doubles while they fail (up to "
                                 "rate_limit.backoff.cap); polls go on")
            elif change.kind == "held":
                log.debug("restarts_held", **fields)
            else:
                (log.info if said else log.debug)(
                    "restarts_resumed", **fields, held_seconds=round(change.held_seconds, 3),
                    failed_calls=change.failures, answered_by=result.endpoint.value, status_code=code)
            for listener in self._hold_listeners:
                listener(scope)  # the queue: its held restarts go again, or later

    def _tell_if_in_flight_capped(self) -> None:
        """Log each change of how many calls may be in flight at once, where 429s that were not
        the rate budget's cut it (a concurrency limit, or another client: inflight.py): calls then
        wait for an answer (wait reason `concurrency`), and this says why."""
        cut = self.limiter.state.inflight_cap.cap
        if cut == self._in_flight_cut:
            return
        self._in_flight_cut = cut
        log.info(
            "rate_limit_in_flight_capped",
            credential=self.credential,
            most_in_flight=cut if cut is not None else self.limiter.state.inflight_cap.configured,
            capped=cut is not None,
        )

    def budget_spent_for(self) -> float:
        """Seconds for which every call of the key waits for the server's budget, when that wait
        is a long one (LONG_BUDGET_WAIT_SECONDS or more: an answer's `Remaining: 0` with a long
        `Reset`); 0 otherwise (none, or the limiter's everyday pacing)."""
        waits = self.budget_waits_for()
        return waits if waits >= LONG_BUDGET_WAIT_SECONDS else 0.0

    def budget_waits_for(self) -> float:
        """Seconds until the server's budget comes back where its last word says it is spent
        (the limiter sends no call of the key before then); 0 where it is not spent."""
        now = self.limiter.now()
        until = self.limiter.state.spent_until(now)
        return max(0.0, until - now) if until is not None else 0.0

    def _tell_if_budget_spent_for_long(self) -> None:
        """Log a wait of every call of the key of a minute or more that the server's word sets
        (a successful answer's `Remaining: 0` with a long `Reset`), once per word: a 429's pause
        is said (`rate_limited`), and this one held every call of the key for `max_pause` (15
        minutes) with no line saying why (found 2026-12-06 against a fake answering `Reset:
        3600`). Where the Reset was capped, what the server said is there too."""
        state = self.limiter.state
        now = self.limiter.now()
        until = state.spent_until(now)
        if until is None or until - now < LONG_BUDGET_WAIT_SECONDS or until == self._spent_told:
            return
        self._spent_told = until
        word = state.budget.word
        fields: dict[str, object] = {"credential": self.credential, "wait_seconds": round(until - now, 1),
                                     "remaining": word.remaining if word is not None else None}
        if state.reset_capped_from is not None:
            fields["server_said_reset_seconds"] = round(state.reset_capped_from, 1)
        log.warning("rate_limit_budget_spent", **fields,
                    note="the server's answer says the key's budget is spent until its Reset (at most "
                         "rate_limit.max_pause): every call of the key waits until then; restarts stay queued")

    def _tell_if_shared(self) -> None:
        """Log when another client is first seen on the key, and when it is no longer: from then
        the daemon spends a Remaining at its pace and leaves that client its share, so restarts
        go slower, and this says why (docs/rate-limits.md)."""
        state = self.limiter.state
        shared = state.shared
        if shared == self._shared:
            return
        self._shared = shared
        log.info(
            "rate_limit_shared",
            credential=self.credential,
            shared=shared,
            others_per_second=round(state.others_per_second, 3),
        )


def _answered(status: int | None) -> bool:
    """An answer that says the key was taken (refusal.KeyRefusal.on_answer's reading): not a 401,
    and not a 429 or a 5xx, which a gateway may give before it looks at the key."""
    return status is not None and status != 401 and status != 429 and status < 500
