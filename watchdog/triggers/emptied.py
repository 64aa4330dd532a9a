"""A listing that drops every connector of a cluster that had some, not believed at once.

`{}` is a legal answer (a cluster without connectors), and one such answer in a one-poll API
glitch made every connector of a cluster vanish at once: each its `connector_vanished` line and
its series dropped, `watchdog_connectors{health="failed"}` down to 0, and a Prometheus alert on
failed connectors resolved (session 70's probe, F5). Now such a listing is a failed poll
(`emptied`) that says so once, the connectors' state and series kept; the next listing confirms
it (empty again: believed, they vanish) or not. A real deletion of every connector is seen one
listing later."""

from __future__ import annotations

# The outcome of a listing held so (watchdog_polls_total{result="emptied"}, poll_failed's outcome).
EMPTIED = "emptied"


class EmptiedListing:
    """Whether a cluster's listing is believed, remembering one that emptied it until the next."""

    def __init__(self) -> None:
        self._held = False

    def held(self, listed_before: set[str] | None, listed_now: int) -> str | None:
        """Why a listing of `listed_now` connectors is not believed yet, when the last one believed
        listed `listed_before` (None: no listing yet); None when it is believed."""
        if listed_now or not listed_before or self._held:
            self._held = False
            return None
        self._held = True
        return (f"the answer listed none of the cluster's {len(listed_before)} connectors; not believed at once (an "
                f"API glitch?): their state and series are kept, and they vanish if the next listing is empty too")
