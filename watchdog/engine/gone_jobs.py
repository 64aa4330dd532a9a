"""Restarts still queued for connectors a complete listing of their cluster no longer shows: ended
`dropped` there, once, naming that listing. Sent, each went out up to minutes after the daemon had
logged `connector_vanished`, was answered 404 and logged at error (`not_found`), and spent a call of
the key's budget (a soak probe: 36 of 17,529 restarts under name churn)."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timezone

from ..model import ConnectorKey, Outcome
from ..queue import Phase, RestartQueue


def drop_jobs_of_unlisted(queue: RestartQueue, cluster: str, listed: Collection[str], began: datetime,
                          by: str) -> list[ConnectorKey]:
    """End the jobs of `cluster` whose connector `listed` (the names of a listing that worked,
    begun at `began`; `by`: "poll" or "listing") lacks; the connectors whose job ended.

    Only a job each of whose requests was asked before the listing began: a connector created
    and asked for while the call was out (an alert's listing on demand found it) is not proved
    gone by an answer that may predate it. Not a job on the wire, nor one whose last call got no
    answer (it may have reached the API: its end is the API's to say). Not a job the status
    polls alone asked for: the gates end those at their turn (`vanished: ...`), as before.
    Failed, unusable or emptied listings never come here (ClusterPoller._fetch refuses them)."""
    present = listed if isinstance(listed, (set, frozenset, dict)) else set(listed)
    doomed = [job for job in queue.pending_jobs()
              if job.key.cluster == cluster and job.key.connector not in present and not job.polls_only
              and job.phase in (Phase.QUEUED, Phase.WAITING) and not job.maybe_sent
              and all(request.requested_at <= began for request in job.requests)]
    at = began.astimezone(timezone.utc).strftime("%H:%M:%S")
    reason = (f"the {by} at {at} UTC no longer lists it: deleted since it was asked; not sent (a call would be "
              "answered 404)")
    return [job.key for job in doomed
            if queue.withdraw(job.key, lambda _: True, message=reason, outcome=Outcome.DROPPED)]
