"""The protocol every Connect backend implements, and the result every call returns."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Generic, Protocol, TypeVar

from ..model import ConnectorStatus, Outcome
from ..ratelimit import RateLimitHeaders

T = TypeVar("T")

MAX_MESSAGE_CHARS = 300


class Endpoint(StrEnum):
    LIST = "list"
    STATUS = "status"
    RESTART = "restart"
    ERROR_RECOMMENDATIONS = "error_recommendations"
    METRICS_QUERY = "metrics_query"  # the Metrics API's POST /v2/metrics/cloud/query
    LIST_ENVIRONMENTS = "list_environments"  # discovery: GET /org/v2/environments
    LIST_CLUSTERS = "list_clusters"  # discovery: GET /cmk/v2/clusters?environment=...


@dataclass(frozen=True, slots=True)
class ApiResult(Generic[T]):
    endpoint: Endpoint
    outcome: Outcome  # ACCEPTED for any 2xx
    status_code: int | None = None  # None when no answer arrived
    request_id: str | None = None
    headers: RateLimitHeaders = RateLimitHeaders()
    message: str = ""
    value: T | None = None
    elapsed: float = 0.0
    # The answer was an HTML page (`html_page`: a proxy's or a gateway's), not the API's own, or
    # (cloud.call_api) an error from a host a redirect took the call to without the key: its
    # status says what that server thought, nothing about the key or the resource.
    foreign: bool = False
    # An error answer whose body was cut off (transfer.fetch keeps its status): whose page it was
    # cannot be told, so it says nothing certain of the resource either.
    cut_off: bool = False
    # Every HTTP call this result took, each (endpoint, status code or None), where that is more
    # than the one `endpoint` and `status_code` describe (None): a self-managed call passed on to
    # the next worker, a restart a worker before 3.0 needed the status and each task's restart
    # for. Counted each (Gateway.call).
    made: tuple[tuple[Endpoint, int | None], ...] | None = None
    # Self-managed Kafka Connect said the request was not run because the cluster has no leader
    # it can reach (a follower's forward to a dead leader was refused) or is rebalancing (its
    # 409s): true only of such answers (kafka_connect.py), so never of Confluent Cloud's. The
    # queue tries such a restart again while a new leader is elected, without spending its
    # max_retries (queue/election.py).
    between_leaders: bool = False
    # A 2xx read whose body was larger than api.max_response_bytes (not cut off: whole, and too
    # large). Said of self-managed Kafka Connect's answers (kafka_connect.py), whose list is then
    # read status by status.
    too_large: bool = False
    # A 2xx list answered with an array of names, not the expanded map (entries.NamesOnly): a
    # self-managed worker before 2.3 ignores ?expand (kafka_connect.py reads it status by status).
    names_only: bool = False
    # Self-managed Kafka Connect: why each worker asked before the one that answered was passed
    # over ("url: 503 ..."), said by the gateway (`connect_workers_passed_over`): a worker that
    # hangs or refuses is otherwise seen only as slower calls, whichever worker then answered.
    passed_over: tuple[str, ...] = ()
    # No answer came, and the API cannot have run the call (transfer.NOT_RUN: no connection was
    # made, a proxy refused the tunnel, a redirect httpx could not read). False where it may
    # have: a restart job that ends on such a call says so, and holds as one that may have been made.
    # Also true of a self-managed call every worker refused or answered as between leaders
    # (kafka_connect.py: a follower's forward refused, the dead leader's own connection refused).
    not_run: bool = False
    # A proxy refused the call (407: transfer.ProxyRefused), so nothing was forwarded: the proxy,
    # as proxy_auth.proxy_named says it ("" where the environment names none); None otherwise.
    # The lane's restarts wait, queued, until a call through it is answered (refusal.ProxyRefusal).
    proxy_refused: str | None = None

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.ACCEPTED

    @property
    def status_class(self) -> str:
        return status_class(self.status_code)

    @property
    def calls(self) -> tuple[tuple[Endpoint, int | None], ...]:
        """Every HTTP call this result took (`made`)."""
        return ((self.endpoint, self.status_code),) if self.made is None else self.made


def status_class(status_code: int | None) -> str:
    """A bounded label for metrics (lane_metrics.API_STATUS_CLASSES): 2xx, 3xx (a redirect not
    followed), 4xx, 429, 5xx, or error when no answer came. A code past 599 is a 5xx, as
    classify_status judges it: as `6xx` or `9xx` it made series no table names."""
    if status_code is None:
        return "error"
    if status_code == 429:
        return "429"
    return f"{min(status_code // 100, 5)}xx"


class ConnectBackend(Protocol):
    """One cluster's Connect API. Implementations classify answers; they never retry or wait."""

    kind: str

    async def list_connectors(self) -> ApiResult[dict[str, ConnectorStatus]]:
        """Every connector of the cluster with its status, in one call."""

    async def connector_status(self, connector: str) -> ApiResult[ConnectorStatus]: ...

    async def restart(self, connector: str, *, only_failed: bool = True) -> ApiResult[Any]:
        """Restart the connector; `only_failed` restarts only its failed instances where the API
        can (Kafka Connect's onlyFailed); Confluent Cloud always restarts all of them."""

    async def error_recommendations(self, connector: str) -> ApiResult[list[str]]:
        """Advice on a failed connector, where the backend offers it (REJECTED where not)."""
