"""Why a listing that an alert or a restart request waited for did not finish in time, from what
is known of that wait: the key's lane waiting for budget (or a pause), the list call out and not
answered yet, or the state database holding the event loop (store calls are synchronous on it).

Before, every such wait was said as "its API key, main, may be waiting for rate-limit budget":
with the leader's event loop held by store statements waiting on a lock on a state table, the
503 sent its reader to the key's budget and to the other tools sharing the key, not to the
database (an HA probe under load, 2026-12-07)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")

# The share of the wait that store calls must have held the event loop to be named a cause (a
# poll's writes take milliseconds, a lock or a slow statement seconds); and the share the loop was
# free for the listing's own wait (its key's budget, the API) to be named beside it.
SHARE = 0.2


@dataclass(frozen=True)
class ListingWait:
    """What the listing was doing when the wait ran out, and what held the wait."""

    waited: float  # the configured wait, seconds
    elapsed: float  # how long the wait took in fact: longer when the event loop was held past its end
    credential: str
    for_budget: bool  # its call waited for the key's budget (or a pause of the key)
    on_the_wire: bool  # its call went out and had no answer yet
    store_seconds: float  # how long state store calls held the event loop meanwhile
    store: str  # the store in words: "state database", "state file"

    def reason(self) -> str:
        causes = []
        slow_store = self.store_seconds >= SHARE * self.waited
        if slow_store:
            causes.append(f"the {self.store} was slow: its calls held this replica's event loop "
                          f"{self.store_seconds:.1f} s of the {self.elapsed:.1f} s waited (a lock on its "
                          "tables? a slow statement?)")
        if not slow_store or self.elapsed - self.store_seconds >= SHARE * self.waited:
            if self.for_budget:
                causes.append(f"its API key, {self.credential}, was waiting for rate-limit budget")
            elif self.on_the_wire:
                causes.append("the list call went out and had no answer yet (a slow API?)")
        if len(causes) > 1:
            causes[-1] += ": either may be the cause"
        said = "; ".join(causes) if causes else "its list call had not ended"
        return f"the listing did not finish within {self.waited:g} s ({said}); it goes on"


class ListingCalls:
    """A cluster's list calls (ClusterPoller._fetch) now: how many wait for the key's budget (the
    rate-limit lane's permit: its pace, its concurrency, a pause), and how many are out."""

    def __init__(self) -> None:
        self.for_budget = 0
        self.on_the_wire = 0

    @contextmanager
    def asked(self, call: Callable[[], Awaitable[T]]) -> Iterator[Callable[[], Awaitable[T]]]:
        """`call`, counted as waiting for budget until the lane runs it, then as out until it ends."""
        sent = False
        self.for_budget += 1

        async def send() -> T:
            nonlocal sent
            sent = True
            self.for_budget -= 1
            self.on_the_wire += 1
            try:
                return await call()
            finally:
                self.on_the_wire -= 1

        try:
            yield send
        finally:
            if not sent:
                self.for_budget -= 1
