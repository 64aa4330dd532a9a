"""Self-managed Apache Kafka Connect's REST API (research note §4), as a second backend.

A cluster is reached through one or more worker URLs (`http://worker:8083`, or a prefix such as
`http://127.0.0.1:8080/kafka-connect/onprem` for the simulator). Every worker serves every call:
reads are answered from the worker's own view of the cluster's status and writes are forwarded
to the leader, so when one worker cannot be reached another will do. The worker that answered
last is asked first next time, so a dead worker costs one failed connection, not one per call.

Falling over to the next worker after a network error is safe call by call:

- list and status are reads;
- the restart sends `includeTasks=true&onlyFailed=true` (KIP-745): if the first worker did pass
  it on before the connection broke, the repeat selects only the instances still FAILED, so
  nothing that was restarted is restarted again (at worst a task that failed anew in between
  is restarted, which is what was wanted);
- a restart of every instance (`only_failed=False`) is not safe to repeat, so it only falls
  over when the connection was never made (the request cannot have reached any worker).

- a 503 was not run (a worker starting or stopping, its proxy with no healthy upstream): every
  call goes on to the next worker, the last worker's 503 being the answer. Nor was a 500 saying
  the worker could not connect to the leader to forward the request (the leader just died:
  `forward_never_connected`): it goes on likewise, and the last one is a retryable server error.
  When every worker so answered or refused the connection (the dead leader, still listed), the
  call is that follower's answer, between leaders and not run (`NONE_RAN`), not a network error.

- a restart that may have reached a worker (the request was written, no answer came: a read
  timeout, a connection cut) and is not safe to repeat ends `Outcome.UNCONFIRMED`: it is
  neither sent again nor sent to another worker, and its message says the worker may still run it
  later (a hung worker runs what it read once it resumes) and that a poll cannot show a RUNNING
  connector restarted (answers.WORKER_NOT_SENT_AGAIN). A proxy's 502 page whose worker is found
  down was not run, and goes on to the next worker (proxy_upstream.py).

Answers: 202 with the connector's status (instances being restarted show RESTARTING) is
accepted and carries that status in `ApiResult.value`; 204 and 200 (a restart without flags,
by version) are accepted too, unless the body is an error (`{"error_code": 500, ...}` in a 200, a
gateway's): then `Outcome.UNCONFIRMED`, not sent again (answers.error_in_body). 409 is
`Outcome.CONFLICT` (a rebalance is under way: retry after a short wait); other codes are
classified as for Confluent Cloud. Errors come as
`{"error_code": N, "message": "..."}`, or as plain text from the basic-auth extension.

What real workers showed (Apache Kafka 4.3.1, tests/fixtures/kafka_connect/; see
docs/reliability.md):

- A worker that is starting answers every Connect path with Jetty's own 404 page (text/html)
  for a few seconds, before Connect's resources are registered. That 404 says nothing about the
  connector: the next worker is asked (nothing reached Connect, so this is safe for every call),
  and when no worker serves yet the call is a retryable server error, never `not_found`.
- Kafka Connect before 3.0 ignores `includeTasks` and `onlyFailed` and answers 204 (the restart
  was a `void` method): it restarted the connector instance only, and FAILED tasks stay FAILED.
  A flagged restart answered 204 is therefore completed task by task: the status is read and
  each FAILED task (every task, for `only_failed=False`) is restarted with
  `POST /connectors/{name}/tasks/{id}/restart`. So is one answered 202 with an empty body: a
  3.x/4.x worker passes the restart on to the leader, and a leader before 3.0 (a rolling upgrade
  from 2.x) restarts the connector instance only and answers 204, which that worker sends on as a
  202 naming nothing (2.8.2 behind 3.4.1 and 4.3.1). task_restarts.py does the tasks, and what an
  answer that ran nothing there leads to.
- A worker puts every FAILED instance's stack trace in the expanded list, uncut: a cluster whose
  connectors fail together can pass api.max_response_bytes, and a worker before 2.3 answers
  names only. Either list is read status by status (status_by_status.py), each answer bounded;
  so is a map whose every entry lacks its status (a gateway keeping one value per query key sends
  `?expand=status&expand=info` on as `?expand=info`).
- A worker times a request out after 90 s (its `rest.request.timeout`), and a restart can take
  that long while the herd rebalances: restarts wait at least `RESTART_READ_TIMEOUT` for the
  answer, whatever the configured read timeout.
- Names: every name is sent as one percent-encoded segment (`.` and `..` as `%2E` and `%2E%2E`:
  httpx removes literal dot segments from every URL it sends). Kafka Connect before 4.0 (Jetty
  9.4: 2.8.2, 3.4.1 and 3.9.2 recorded) routes such a segment to the connector of the decoded
  name, `.` and `..` included; from 4.0 (Jetty 12) the worker refuses an encoded `/`, `%`, a
  backslash or a dot segment with a 400 page, reported as `rejected` with its reason. (Refusing
  `.` and `..` here, without a call, left such connectors FAILED for ever on the releases that
  serve them.)
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from typing import Any, TypeVar

import httpx

from ..model import ConnectorStatus, Outcome, Unusable
from .answers import WORKER_NOT_SENT_AGAIN, error_message, not_sent_again, transport_failure
from .backend import MAX_MESSAGE_CHARS, ApiResult, Endpoint
from .entries import parse_expanded_list
from .masking import without_credentials
from .paths import path_segment
from .proxy_upstream import proxy_page, upstream_down
from .status_by_status import parse_names, read_status_by_status
from .statuses import describe_answer, parse_status, restart_answer
from .task_restarts import restart_tasks_one_by_one
from .transfer import DEFAULT_LIMITS, NOT_RUN, CallLimits, ProxyRefused, fetch
from .worker_answers import answer_result, forward_never_connected, not_serving, rebalancing

T = TypeVar("T")

# Kafka Connect reads each `expand` value whole ("status,info" would be one unknown expansion),
# so the two expansions go as repeated parameters.
LIST_EXPANSIONS = (("expand", "status"), ("expand", "info"))
# A worker gives up on a request after 90 s (rest.request.timeout.ms, Kafka Connect's default)
# and answers 500 "Request timed out"; a restart must wait longer than that to hear it.
RESTART_READ_TIMEOUT = 100.0
# Beyond a restart's read timeout, the time its call may take to connect and send.
RESTART_CALL_SLACK_SECONDS = 10.0
# Said of a 500 for a request the worker could not pass on (worker_answers.forward_never_connected).
FORWARD_NOT_MADE = "the worker could not connect to the leader to pass the request on: it was not run"
# How a restart finished task by task begins its message: the worker ignored the flags (before
# 3.0), or it answered 202 naming no instance (its leader, before 3.0, ignored them).
IGNORED_FLAGS = "this Kafka Connect ignored includeTasks/onlyFailed (answered {code})"
LEADER_IGNORED_FLAGS = ("this Kafka Connect answered {code} naming no instance it restarts (a leader before 3.0 "
                        "ignores includeTasks/onlyFailed and restarts the connector instance only)")
# Begins the message of a restart of the failed instances answered 202 naming none RESTARTING.
NOTHING_FAILED = ("restarted nothing: no instance was FAILED when the restart arrived (the connector recovered, or "
                  "was deleted and created again, meanwhile); counted as an attempt all the same")
# Said (list_read_by_status) of a list whose entries all came without their status.
STATUSES_MISSING = ("the list came without the connectors' statuses (a gateway keeping one value of the repeated "
                    "?expand parameter?): read status by status")
# Said of a call every worker refused, or answered that it could not pass on to a leader or ran
# nothing while rebalancing (KafkaConnectBackend._ask): the cluster is between leaders.
NONE_RAN = ("not run, the cluster is between leaders: each worker refused the connection, could not reach the "
            "leader to pass it on, or was rebalancing")

# A call ended on one of these was not served by the worker that gave it (KafkaConnectBackend._ask):
# that worker does not become the one asked first.
_WORKER_FAILED = frozenset({Outcome.SERVER_ERROR, Outcome.UNCONFIRMED, Outcome.NETWORK_ERROR, Outcome.CONFLICT})


class KafkaConnectBackend:
    kind = "kafka_connect"

    def __init__(self, http: httpx.AsyncClient, urls: Sequence[str], limits: CallLimits = DEFAULT_LIMITS) -> None:
        if not urls:
            raise ValueError("a Kafka Connect cluster needs at least one worker URL")
        for url in urls:
            if not httpx.URL(url).is_absolute_url:
                raise ValueError(f"worker URL {url!r} is not absolute (http://host:port[/prefix])")
        self._http = http
        self._limits = limits
        self._urls = [url.rstrip("/") for url in urls]
        self._preferred = 0  # the worker that answered last
        # Calls under way, so that a backend a reload replaced closes its client only once they
        # have ended (aclose), not at once (cut off) nor never (one pool of sockets per reload).
        self._busy = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._closed = False

    @property
    def client(self) -> httpx.AsyncClient:
        return self._http

    async def aclose(self) -> None:
        """Close the client once no call of this backend is under way (a reload replaced it)."""
        await self._idle.wait()
        self._closed = True
        await self._http.aclose()

    async def _in_use(self, endpoint: Endpoint, call: Callable[[], Awaitable[ApiResult[T]]]) -> ApiResult[T]:
        """Run one public call, counted as under way; refused once aclose() closed the client
        (a poll that waited at its lane while a reload replaced this backend: the next one uses
        the new one)."""
        if self._closed:
            return ApiResult(endpoint, Outcome.NETWORK_ERROR, elapsed=0.0, made=(), message=(
                "not sent: a reload redefined this cluster meanwhile; the next call uses its new settings"))
        self._busy += 1
        self._idle.clear()
        try:
            return await call()
        finally:
            self._busy -= 1
            if not self._busy:
                self._idle.set()

    async def list_connectors(self) -> ApiResult[dict[str, ConnectorStatus]]:
        return await self._in_use(Endpoint.LIST, self._list)

    async def _list(self) -> ApiResult[dict[str, ConnectorStatus]]:
        limits = self._limits
        result = await self._call(
            Endpoint.LIST, "GET", "/connectors", lambda data: parse_expanded_list(data, max_listed=limits.max_listed),
            params=LIST_EXPANSIONS)
        if result.too_large:
            # The failed instances' traces made the list too large (status_by_status.py).
            why = (f"the expanded list was larger than {limits.max_bytes} bytes (api.max_response_bytes): "
                   "read status by status")
        elif result.names_only:
            # Every worker asked answered the names only: before 2.3 (KIP-465) a worker ignores
            # ?expand, as does one behind a proxy that drops the query (one such worker among
            # others is passed over: the next answers the map). Each connector's status has been
            # served since 0.10.
            why = ("the workers answered the names only (Kafka Connect before 2.3 ignores ?expand, as does a "
                   "worker behind a proxy dropping the query): read status by status")
        elif (missing := _statuses_missing(result)) is not None:
            # A gateway that keeps one value per query key sends ?expand=status&expand=info on as
            # ?expand=info: a map without a single status, and every poll failed `unusable`. A
            # worker's own map has a status in every entry (it leaves out a connector without
            # one), so the names are there and each status is asked for.
            keys: ApiResult[list[str]] = ApiResult(
                Endpoint.LIST, result.outcome, status_code=result.status_code, request_id=result.request_id,
                headers=result.headers, value=missing, elapsed=result.elapsed, made=result.made)
            return await read_status_by_status(
                STATUSES_MISSING, keys,
                lambda name: self._call(Endpoint.STATUS, "GET", f"{_connector_path(name)}/status", parse_status))
        else:
            return result
        # The names, then each connector's status; every call counted, the list's first.
        names = await self._call(Endpoint.LIST, "GET", "/connectors", parse_names(limits.max_listed))
        listed = replace(names, made=(*result.calls, *names.calls), elapsed=result.elapsed + names.elapsed)
        return await read_status_by_status(
            why, listed, lambda name: self._call(Endpoint.STATUS, "GET", f"{_connector_path(name)}/status", parse_status))

    async def connector_status(self, connector: str) -> ApiResult[ConnectorStatus]:
        return await self._in_use(Endpoint.STATUS, lambda: self._call(
            Endpoint.STATUS, "GET", f"{_connector_path(connector)}/status", parse_status))

    async def restart(self, connector: str, *, only_failed: bool = True) -> ApiResult[Any]:
        """Restart what failed (default), or the connector and every task (`only_failed=False`,
        the only way to restart a connector that is RUNNING but stalled).

        `value` is the ConnectorStatus of a 202 (None after a 204 or 200).
        """
        return await self._in_use(Endpoint.RESTART, lambda: self._restart(connector, only_failed))

    async def _restart(self, connector: str, only_failed: bool) -> ApiResult[Any]:
        params = (("includeTasks", "true"), ("onlyFailed", "true" if only_failed else "false"))
        result = await self._call(
            Endpoint.RESTART,
            "POST",
            f"{_connector_path(connector)}/restart",
            restart_answer,
            params=params,
            repeatable=only_failed,
            body_optional=True,
            read_timeout=RESTART_READ_TIMEOUT,
        )
        if result.ok and result.status_code in (200, 204) and result.value is None:
            # 3.0 and later answer a flagged restart 202 with a body: this worker ignored the
            # flags (before 3.0), so only the connector instance was restarted.
            return await self._restart_tasks_one_by_one(connector, only_failed, result, IGNORED_FLAGS)
        if result.ok and result.status_code == 202 and result.value is None and not result.message:
            # A 202 with an empty body (answer_result gives a body cut short or unreadable a
            # message, an empty one none): a 3.x/4.x worker that passed the restart on to a leader
            # before 3.0, which ignored the flags, restarted the connector instance only and
            # answered 204 (seen with 2.8.2 behind 3.4.1 and 4.3.1). Taken as accepted, the FAILED
            # tasks were never restarted and the daemon gave up on them.
            return await self._restart_tasks_one_by_one(connector, only_failed, result, LEADER_IGNORED_FLAGS)
        if (only_failed and result.ok and result.status_code == 202 and isinstance(result.value, ConnectorStatus)
                and not _restarting(result.value)):
            # The leader marks RESTARTING each instance it restarts (KIP-745's restart plan); with
            # onlyFailed=true, none so marked means none was FAILED when the restart arrived: the
            # connector recovered, or was deleted and created again under its name, meanwhile
            # (s74 probe). Recorded as "202: connector RUNNING; tasks 0 RUNNING", beside the old
            # connector's failure, it read as a failed connector restarted. Still `accepted`, and
            # still an attempt with its backoff: a worker whose status view lags the leader's
            # would otherwise have every poll send a restart that restarts nothing, unpaced.
            said = f"{NOTHING_FAILED}: {describe_answer(result.status_code, result.value)}"
            return replace(result, message=said[:MAX_MESSAGE_CHARS])
        return result

    async def _restart_tasks_one_by_one(
        self, connector: str, only_failed: bool, first: ApiResult[Any], why: str
    ) -> ApiResult[Any]:
        """Finish a restart a pre-3.0 worker (or leader) did only in part (task_restarts.py); `why`
        (with the first answer's status code) begins the message."""
        status = await self.connector_status(connector)
        # Never repeatable: a task restart takes no onlyFailed, and the worker restarts the task
        # whatever its state (Kafka's DistributedHerder.restartTask), so a repeat restarts it again.
        return await restart_tasks_one_by_one(status, lambda task: self._call(
            Endpoint.RESTART, "POST", f"{_connector_path(connector)}/tasks/{task}/restart", restart_answer,
            repeatable=False, body_optional=True, read_timeout=RESTART_READ_TIMEOUT,
        ), only_failed=only_failed, first=first, note=why.format(code=first.status_code))

    async def error_recommendations(self, connector: str) -> ApiResult[list[str]]:
        """Kafka Connect has no such advice: nothing is sent, and the answer says so."""
        return ApiResult(Endpoint.ERROR_RECOMMENDATIONS, Outcome.REJECTED,
                         message="self-managed Kafka Connect offers no error recommendations")

    async def _call(
        self,
        endpoint: Endpoint,
        method: str,
        path: str,
        parse: Callable[[Any], T],
        *,
        params: Sequence[tuple[str, str]] = (),
        repeatable: bool = True,
        body_optional: bool = False,
        read_timeout: float | None = None,
    ) -> ApiResult[T]:
        """`_ask`, every call it made kept with its result (ApiResult.made) and counted one each: a
        worker's 503 or refused connection shows in watchdog_api_requests_total though another
        worker answered (before, one call was counted whatever the workers were asked)."""
        made: list[tuple[Endpoint, int | None]] = []
        result = await self._ask(endpoint, method, path, parse, made, params=params, repeatable=repeatable,
                                 body_optional=body_optional, read_timeout=read_timeout)
        return replace(result, made=tuple(made))

    async def _ask(
        self,
        endpoint: Endpoint,
        method: str,
        path: str,
        parse: Callable[[Any], T],
        made: list[tuple[Endpoint, int | None]],
        *,
        params: Sequence[tuple[str, str]] = (),
        repeatable: bool = True,
        body_optional: bool = False,
        read_timeout: float | None = None,
    ) -> ApiResult[T]:
        """Ask the workers in turn, from the one that answered last (as when this call began),
        each once at most, until one answers; each call made is added to `made` (endpoint, status
        code or None).

        `repeatable`: the call may be sent again after a network error that may have happened
        after the request left. `body_optional`: a 2xx without a readable body is still
        accepted (a restart answered 204, or a 202 whose body was cut short: the restart was
        accepted either way; `_restart` completes a 204 and an empty 202 task by task).
        `read_timeout`: wait at least this long for the answer.
        """
        started = time.perf_counter()
        timeout, limits = self._bounds(read_timeout)
        failures: list[str] = []
        reached = False  # a worker may have run a call of this one (transfer.NOT_RUN)
        # Every worker asked so far proved it ran nothing (refused the connection, served no Connect
        # yet, a 503, a forward that never connected, Connect's 409), and the last such answer that
        # says the cluster is between leaders (a 500 forward_never_connected, a 409 rebalancing).
        none_ran, between = True, None
        # The proxy that refused a worker asked (407: transfer.ProxyRefused; "" if unnamed), and
        # how many it refused: when it refused every one, nothing reached any.
        refused_by, proxy_refusals = "", 0
        count = len(self._urls)
        # The worker asked first, read once: other calls of the cluster run meanwhile and move it
        # (a worker that answered them, or one passed over), and read at each try it made this
        # call ask a hung worker twice and never the healthy one (F1, real 4.3.1 behind a proxy).
        start = self._preferred
        for attempt in range(count):
            index = (start + attempt) % count
            url = self._urls[index]
            try:
                answer = await fetch(self._http, method, f"{url}{path}", limits, params=list(params), timeout=timeout)
            except httpx.HTTPError as exc:
                made.append((endpoint, None))
                failures.append(f"{url}: {transport_failure(exc)}")
                if isinstance(exc, ProxyRefused):
                    refused_by, proxy_refusals = exc.proxy or "", proxy_refusals + 1
                reached = reached or not isinstance(exc, NOT_RUN)
                none_ran = none_ran and isinstance(exc, NOT_RUN)
                if repeatable or isinstance(exc, NOT_RUN):
                    continue
                return ApiResult(endpoint, Outcome.UNCONFIRMED, elapsed=time.perf_counter() - started,
                                 message=not_sent_again(f"no answer from {url} ({type(exc).__name__}) after the "
                                                        "request may have reached it", WORKER_NOT_SENT_AGAIN))
            response = answer.response
            made.append((endpoint, response.status_code))
            if not repeatable and (down := await upstream_down(self._http, url, self._limits, answer)):
                # A proxy's 502 with no worker behind it: not run, the next is asked (proxy_upstream.py).
                failures.append(f"{url}: 502 {error_message(response)}, {down}: the worker behind it is down, not run")
                continue
            reached = True
            if not_serving(answer):
                # Observed: a starting worker answers Jetty's own 404 page for a few seconds. Its
                # Content-Type is the server's text, kept in the history: without our credentials.
                kind = without_credentials(response.headers.get("content-type", ""), response.request.headers)
                failures.append(f"{url}: 404 {kind or 'without a body type'}: "
                                "the worker does not serve Kafka Connect's REST API (yet)")
                continue
            if response.status_code == 503 and attempt + 1 < count:
                # Not run (a worker starting or stopping, its proxy with no healthy upstream), so
                # any call, a restart not safe to repeat too, may go to the next worker. Returned
                # as the answer, that worker stayed the one asked first, and every poll and
                # restart of the cluster failed while the others would have answered.
                failures.append(f"{url}: 503 {error_message(response)}")
                continue
            if rebalancing(answer) and attempt + 1 < count:
                # Kafka Connect's own 409 ran nothing, as a 503 did not: the next worker is asked.
                # One follower that knows no leader, or whose configuration is stale, answers it
                # alone; returned as the answer, that worker stayed the one asked first, and every
                # restart of the cluster was retried against it alone, "between leaders", while
                # the others would have run it (found 2026-12-06 against a fake of three workers).
                failures.append(f"{url}: 409 {error_message(response)}")
                between = answer
                continue
            not_forwarded = forward_never_connected(answer)
            if 500 <= response.status_code < 600 and response.status_code != 503:
                if not repeatable and not not_forwarded:
                    # Kafka Connect answers 500 "Request timed out" when its herder did not finish
                    # in 90 s, and still runs the request (HerderRequestHandler cancels nothing),
                    # and 500 "IO Error trying to forward REST request" after the forward may have
                    # reached the leader (a timeout, a reset); a proxy's 504, or 502 with its worker
                    # up, may come after the worker took it. Such a call is a lost answer: not sent again (a 503,
                    # "still starting up", was not run, and is retried as any 5xx; so is a forward
                    # that could not connect to the leader: the next worker is asked, which may
                    # know the new one, then the queue tries again).
                    if proxy_page(answer) and self._preferred == index:
                        # Kept first, every restart until a poll met it first; moved past it
                        # only while it is still the one asked first (another call may have
                        # moved it to a worker that answered since).
                        self._preferred = (index + 1) % count
                    return ApiResult(endpoint, Outcome.UNCONFIRMED, status_code=response.status_code,
                                     elapsed=time.perf_counter() - started, message=not_sent_again(
                        f"{response.status_code} from {url}: {error_message(response)}; the worker may have run it",
                        WORKER_NOT_SENT_AGAIN))
                if attempt + 1 < count:
                    # One worker's blocked herder (its 500 "Request timed out") says nothing of
                    # the others, which forward to the leader: a call safe to repeat asks the next.
                    failures.append(f"{url}: {response.status_code} {error_message(response)}")
                    if not_forwarded:
                        between = answer
                    else:
                        none_ran = False
                    continue
            result = answer_result(endpoint, answer, self._limits, parse, body_optional, time.perf_counter() - started)
            if not_forwarded:
                # Said, since "IO Error" alone reads as a request that may have been run.
                result = replace(result, message=f"{result.message} ({FORWARD_NOT_MADE})"[:MAX_MESSAGE_CHARS])
            if not_forwarded or rebalancing(answer):
                # Every worker asked said so: the cluster is between leaders (queue/election.py).
                result = replace(result, between_leaders=True, not_run=none_ran)
            if (not body_optional and result.outcome is Outcome.SERVER_ERROR and response.is_success
                    and not result.too_large and attempt + 1 < count):
                # A 2xx that is not Connect's answer (a proxy's or a web UI's HTML page on that
                # worker's address, a body that is no status or list): that worker is broken, not
                # the cluster, and a read may ask the next. Kept as the worker to ask first, it
                # failed every poll while the others would have answered. Not a list too large:
                # every worker lists the same cluster, and asking each read it once per worker.
                failures.append(f"{url}: {result.message}")
                none_ran = False
                continue
            if result.outcome not in _WORKER_FAILED:
                # Only a worker that served the call becomes the one asked first. One whose own
                # failure ended the call (the last worker's 5xx, Connect's 409) stays where it was:
                # made the first, a hung worker that ended a call every worker failed was asked
                # first by every later call, though another worker had answered meanwhile.
                self._preferred = index
                return replace(result, passed_over=tuple(failures)) if failures else result
            if failures:
                # Every worker failed: the call's failure, said (throttled) as one, with each
                # worker's. Not "passed over" (none served it): that warning came at every poll
                # for as long as the cluster was down.
                # The last worker's words first: cut to MAX_MESSAGE_CHARS, they are what is kept.
                result = replace(result, message=f"{result.message} ({url}); other workers: {'; '.join(failures)}"[
                    :MAX_MESSAGE_CHARS])
            return result
        if between is not None and none_ran:
            # A follower's forward to the dead leader refused, and that leader, still listed, refusing
            # the connection itself: nothing was run anywhere. Ended on the refused connection (the
            # worker asked last once the follower that answered became the one asked first), it was
            # a network error that "may have been made": no free try through the election (tries
            # spent rate_limit.max_retries in 5 s, before the new leader answered 10 s after the
            # kill), and the restart by name then refused as recently made (real 4.3.1 workers).
            result = answer_result(endpoint, between, self._limits, parse, body_optional, time.perf_counter() - started)
            return replace(result, between_leaders=True, not_run=True,
                           message=f"{NONE_RAN}: {'; '.join(failures)}"[:MAX_MESSAGE_CHARS])
        result = _none_answered(endpoint, failures, time.perf_counter() - started, not_run=not reached)
        # Every worker asked was refused by the proxy: the lane's restarts wait (refusal.ProxyRefusal).
        return replace(result, proxy_refused=refused_by) if failures and proxy_refusals == len(failures) else result

    def _bounds(self, read_timeout: float | None) -> tuple[httpx.Timeout, CallLimits]:
        """The client's timeouts and the call's limits, widened to wait `read_timeout` at least."""
        timeout, limits = self._http.timeout, self._limits
        if read_timeout is not None and (timeout.read is None or timeout.read < read_timeout):
            timeout = httpx.Timeout(connect=timeout.connect, read=read_timeout, write=timeout.write, pool=timeout.pool)
        if read_timeout is not None and limits.total_seconds < read_timeout + RESTART_CALL_SLACK_SECONDS:
            # The whole-call bound must outlast the worker's own restart timeout too, else a slow
            # restart is cut short and reported unconfirmed although the worker would answer.
            limits = replace(limits, total_seconds=read_timeout + RESTART_CALL_SLACK_SECONDS)
        return timeout, limits


def _none_answered(endpoint: Endpoint, failures: list[str], elapsed: float, *, not_run: bool) -> ApiResult[Any]:
    """The result of a call no worker answered (each worker's failure in `failures`);
    `not_run`: no worker can have run it (none could be connected to: transfer.NOT_RUN)."""
    if failures and all("does not serve" in failure for failure in failures):
        # Every worker is up but none serves Connect yet (all starting): worth a retry.
        return ApiResult(endpoint, Outcome.SERVER_ERROR, status_code=404, elapsed=elapsed,
                         message="; ".join(failures)[:MAX_MESSAGE_CHARS])
    return ApiResult(endpoint, Outcome.NETWORK_ERROR, message="; ".join(failures)[:MAX_MESSAGE_CHARS], elapsed=elapsed,
                     not_run=not_run)


def _statuses_missing(result: ApiResult[dict[str, ConnectorStatus]]) -> list[str] | None:
    """The names of a list read whole whose every entry came without its status; None otherwise."""
    if not result.ok or not result.value:
        return None
    if any(entry.unusable is not Unusable.STATUS_MISSING for entry in result.value.values()):
        return None
    return list(result.value)


def _restarting(status: ConnectorStatus) -> bool:
    """Whether a restart's answer names an instance it restarts (RESTARTING)."""
    return status.state == "RESTARTING" or any(task.state == "RESTARTING" for task in status.tasks)


def _connector_path(connector: str) -> str:
    return f"/connectors/{path_segment(connector)}"

