"""The two list calls discovery makes, page by page, each page through the credential's
`Gateway` (its rate limiter, metrics and log, shared with every poll and restart of that key).

    GET /org/v2/environments?page_size=99[&page_token=...]
    GET /cmk/v2/clusters?environment={id}&page_size=99[&page_token=...]

No retries in the daemon: a listing that fails is reported as failed, and the next refresh
(sooner after a failure) asks again. `watchdog check-config --discover` makes one round only, so
it gives a client `patience` (preview.py): a page refused by a failure that passes is asked again
after the wait the answer asked for, within bounds. A listing is whole or failed, never partial:
a cluster missing from a listing cut short must not be taken for a deleted one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Generic, Protocol, TypeVar

import httpx

from ..connect import ApiResult, Endpoint, Gateway
from ..connect.cloud import call_api
from ..connect.transfer import CallLimits
from ..model import Outcome
from ..ratelimit import Pause
from ..triggers.streak import Attempt
from .found import (
    FoundCluster,
    FoundEnvironment,
    Page,
    cluster_parser,
    parse_environment,
    parse_page,
)


class _Entry(Protocol):
    @property
    def id(self) -> str: ...


T = TypeVar("T", bound=_Entry)

ENVIRONMENTS_PATH = "/org/v2/environments"
CLUSTERS_PATH = "/cmk/v2/clusters"
# The specs allow 1..100 per page (default 10). 99, as Confluent's own Terraform provider asks
# for every list: a value the real service is known to take.
PAGE_SIZE = 99
# A listing longer than this many pages is refused as a failure (an upstream handing out page
# tokens for ever must not hold the lane): 9,900 environments, or clusters in one environment.
MAX_PAGES = 100
# The most one list call may take, its answer included (api.timeouts.total if shorter). A page
# answers within a second or two when the API is well; discovery's calls go through the key's lane,
# which on Confluent Cloud sends one call at a time while no rate limit is known, so a cmk/v2 that
# took a call and never answered held every poll and restart of the key for api.timeouts.total
# (30 s), once per environment of each refresh (fleet.sweep also stops asking at the first such).
DISCOVERY_CALL_SECONDS = 10.0
# Gateway.call logs the cluster a call is for; discovery calls are for none.
NO_CLUSTER = "-"

class Patience(Protocol):
    """How long a person at the terminal waits (preview.Patience); the daemon's refreshes have none."""

    async def __call__(self, result: ApiResult[Any], pause: Pause | None, what: str, /) -> bool:
        """Asked when a page could not be read: True once it has waited to ask for that page
        again (`what`: which listing and page, as a person reads it; the pause a 429 imposed)."""

    def may_wait(self, seconds: float, what: str, /) -> bool:
        """Asked before a page is sent while the key is paused for `seconds`: False when that
        wait is longer than the person waits (said to them), and the page is not asked."""


@dataclass(frozen=True, slots=True)
class Listing(Generic[T]):
    items: tuple[T, ...] | None  # None: the listing failed
    outcome: Outcome  # ACCEPTED when whole; else the failing page's outcome
    message: str = ""
    calls: int = 0
    skipped: int = 0  # entries that could not be read (logged, counted)
    foreign: bool = False  # the failing page was answered with an HTML page, not by the API
    cut_off: bool = False  # the failing page's body was cut off: whose answer it was is not known
    skipped_ids: frozenset[str] = frozenset()  # of a whole listing: found.Page's, of every page
    unnamed: int = 0

    @property
    def ok(self) -> bool:
        return self.items is not None

    @property
    def cut_short(self) -> bool:
        """Failed after its first page: what the pages before showed exists, so a 403 or 404
        here (an expired page token, say) says the listing was cut short, not that the
        environment is gone."""
        return self.items is None and self.calls > 1


class DiscoveryClient:
    def __init__(self, http: httpx.AsyncClient, gateway: Gateway, limits: CallLimits,
                 patience: Patience | None = None) -> None:
        self._http = http
        self._gateway = gateway
        self._limits = limits if limits.total_seconds <= DISCOVERY_CALL_SECONDS else replace(
            limits, total_seconds=DISCOVERY_CALL_SECONDS, total_named="discovery's bound on a list call")
        self._patience = patience
        self.calls_again = 0  # pages asked for again (patience): calls a Listing's count leaves out

    @property
    def lane(self) -> str:
        return self._gateway.credential

    async def environments(self, attempt: Attempt | None = None) -> Listing[FoundEnvironment]:
        return await self._pages(Endpoint.LIST_ENVIRONMENTS, ENVIRONMENTS_PATH, {}, parse_environment, attempt)

    async def clusters(self, environment_id: str, attempt: Attempt | None = None) -> Listing[FoundCluster]:
        return await self._pages(Endpoint.LIST_CLUSTERS, CLUSTERS_PATH, {"environment": environment_id},
                                 cluster_parser(environment_id), attempt)

    async def _pages(
        self, endpoint: Endpoint, path: str, filters: dict[str, str], parse_item: Callable[[Any], T | None],
        attempt: Attempt | None = None,
    ) -> Listing[T]:
        """`attempt`: the listing's streak (triggers/streak.py), which says whether a failed
        page's `api_call_failed` is logged as a warning or at debug."""
        items: list[T] = []
        skipped = 0
        skipped_ids: set[str] = set()
        unnamed = 0
        token: str | None = None
        tokens_seen: set[str] = set()
        first: set[str] = set()  # the ids of the first page's entries

        def parse(data: Any) -> Page[T]:
            return parse_page(data, parse_item)

        for page in range(1, MAX_PAGES + 1):
            params = {**filters, "page_size": str(PAGE_SIZE)}
            if token is not None:
                params["page_token"] = token

            async def call(params: dict[str, str] = params) -> Any:
                return await call_api(self._http, self._limits, endpoint, "GET", path, parse, params)

            on_failure = attempt.failed if attempt is not None else None
            held = self._held(endpoint, filters, page)
            if held is not None:
                return Listing(None, held[0], held[1], page - 1, skipped)
            while True:
                result, pause = await self._gateway.call(NO_CLUSTER, call, on_failure, page=page, **filters)
                if result.ok and result.value is not None:
                    break
                if self._patience is None or not await self._patience(result, pause, _what(endpoint, filters, page)):
                    return Listing(None, result.outcome, result.message, page, skipped, result.foreign, result.cut_off)
                self.calls_again += 1
            ids = {item.id for item in result.value.items}
            if page == 1:
                first = ids
            elif ids and ids == first:
                # A server (or a gateway, a cache) that answers every token with the first page
                # again, under a fresh token each time: asked MAX_PAGES times at every refresh
                # before, the same page each time. The listing cannot be read whole.
                return Listing(None, Outcome.SERVER_ERROR, f"page {page} lists the very entries of page 1 (the page token "
                               "was not followed?); not read further", page, skipped)
            items += result.value.items
            skipped += result.value.skipped
            skipped_ids |= result.value.skipped_ids
            unnamed += result.value.unnamed
            token = result.value.next_token
            if token is None:
                return Listing(tuple(items), Outcome.ACCEPTED, "", page, skipped, skipped_ids=frozenset(skipped_ids),
                               unnamed=unnamed)
            if token in tokens_seen:
                return Listing(None, Outcome.SERVER_ERROR, f"page {page} handed out a page token already used", page, skipped)
            tokens_seen.add(token)
        return Listing(None, Outcome.SERVER_ERROR, f"more than {MAX_PAGES} pages; not read further", MAX_PAGES, skipped)

    def _held(self, endpoint: Endpoint, filters: dict[str, str], page: int) -> tuple[Outcome, str] | None:
        """Why a page is not sent: the key is paused (a 429's Retry-After, an outage) for longer
        than the person at the terminal waits. The gateway would hold the call for the whole
        pause (up to rate_limit.max_pause, 15 minutes): after the patience had declined one
        environment's 900 s `Retry-After` ("try again in 900 s"), `watchdog restart` and
        `check-config --discover` still waited it out at the next environment's listing.
        Without patience (the daemon's refreshes: nobody waits on them) the call waits its turn."""
        limiter = self._gateway.limiter
        paused = limiter.paused_for()
        if self._patience is None or paused <= 0 or self._patience.may_wait(paused, _what(endpoint, filters, page)):
            return None
        outcome = Outcome.SERVER_ERROR if limiter.state.pause_reason == "outage" else Outcome.RATE_LIMITED
        return outcome, f"not asked: the API key is paused by {limiter.paused_by()} for {paused:.0f} s more"


def _what(endpoint: Endpoint, filters: dict[str, str], page: int) -> str:
    listing = "the environment list" if endpoint is Endpoint.LIST_ENVIRONMENTS else \
        f"the cluster list of environment {filters.get('environment', '?')}"
    return listing if page == 1 else f"{listing} (page {page})"
