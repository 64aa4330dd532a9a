"""The listing a restart is judged on once a pause of its API key held it.

A 429's Retry-After (or a 503's) holds every call of the key, the polls too, for up to
rate_limit.max_pause. The restarts queued before it went as it ended, on the listing from before
it: a connector deleted and created again meanwhile under its name (healthy, a new lcc- id) was
restarted, as was one that had recovered by itself, and one deleted got a 404 (a probe of
2026-12-06: the poll after the pause came 10 ms after the restart). Such a restart now waits for
its cluster to be listed again (one listing, shared by every restart of the cluster that waited:
ClusterPoller.ensure_listed), and the gates at its next try judge it on that listing
(engine/recorder.py, JobRecorder.drop_reason, and the gates): healthy, transient or no longer
listed, it is dropped, and the next poll decides again.

Every restart waits for it, not only a poll's (a probe of 2026-12-06): an alert's restart held by
a 40 s pause went to the healthy connector created again under its name meanwhile, and restarts by
alert and by name into connectors the operator paused meanwhile. The gates judge every restart on
the listing (PAUSED, STOPPED or PROVISIONING by its owner; a failure's lcc- id replaced), while
only a poll's is dropped for healthy, transient or gone: someone asked for the others. A
schedule's restarts alone do not wait for it (JobDispatch._paused_while_waiting): a planned backlog.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..logs import get_logger
from ..model import ConnectorKey
from .poller import ClusterPoller

log = get_logger("watchdog.triggers")

# How long a restart waits for that listing. A list call answers in well under a second; one that
# does not within this (a huge cluster, a slow API) goes on, and the restart goes on what was known.
LISTING_AFTER_PAUSE_WAIT_SECONDS = 30.0


async def list_after_pause(pollers: Mapping[str, ClusterPoller], key: ConnectorKey, ended_ago: float) -> None:
    """List `key`'s cluster unless it was listed since the pause that ended `ended_ago` seconds
    ago. When it cannot be, that is said, and the restart goes on the older listing."""
    poller = pollers.get(key.cluster)
    if poller is None:
        return  # the cluster was removed meanwhile: the gates drop the restart
    if poller.paused_for() > 0:
        return  # paused again meanwhile: the restart's next try waits it out, and asks again then
    problem = await poller.ensure_listed(ended_ago, LISTING_AFTER_PAUSE_WAIT_SECONDS, after_failure=True)
    if problem is not None:
        log.info("restart_not_judged_on_a_new_listing", cluster=key.cluster, connector=key.connector, reason=problem,
                 note="its API key was paused while it waited; it goes on the listing from before the pause")
