"""A restart that a self-managed Connect cluster did not run because it was between leaders.

When the Kafka Connect leader dies (kill -9, a node lost), every follower answers every write 500
"IO Error trying to forward REST request: java.net.ConnectException" until the group has noticed
(`session.timeout.ms`, 10 s by default) and elected another; a rebalance may then answer 409 for
a moment. Such answers prove the restart was not run (ApiResult.between_leaders). Spending
`rate_limit.max_retries` on them (3 by default, full-jitter backoff from 1 s: about 3.5 s in all)
ended most restarts of an election with Kafka's defaults `server_error` 4 s after the leader died,
while the new one led from 12 s on (real 4.3.1 workers): an alert's restart was not asked for
again for hours, a schedule's not until its next run.

So such an answer is tried again without spending max_retries, for at most ELECTION_SECONDS from
the job's first one and ELECTION_TRIES tries, on a backoff of its own (rate_limit.backoff from its
base, each wait at most ELECTION_DELAY_CAP). Past either bound the cluster is taken not to be
electing (a follower that can never reach the leader: a wrong `rest.advertised.host.name`, a
network policy): such answers then spend max_retries like any server error, and the job ends
saying how long it found no leader. The cluster's restart hold (ratelimit/outage.py) still counts
each of them as a failed call, so with many restarts queued during an election one at a time is
tried, not all of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..connect import ApiResult

# Longer than an election with Kafka Connect's defaults (10 s session.timeout.ms, 3 s heartbeats:
# a new leader answered 12 s after kill -9 of the old one, 4.3.1), and than a rebalance after it.
ELECTION_SECONDS = 60.0
# At most this many tries of a job on such answers without spending max_retries, whatever the
# backoff (a small rate_limit.backoff would otherwise try many times a second for the minute).
ELECTION_TRIES = 15
# The longest wait between two such tries (below rate_limit.backoff.cap where that is shorter), so
# that the restart goes within seconds of the new leader's first answer: on the backoff's own
# doubling, the sixth try of an election came 31 s after the fifth, 30 s after the new leader
# answered (real 4.3.1 workers, Kafka's defaults: made 41 s after the kill, the election took 12).
ELECTION_DELAY_CAP = 8.0


@dataclass
class Leaderless:
    """A job's answers that said its cluster was between leaders: since when, and how many tries
    they were given without spending max_retries."""

    since: float
    tries: int = 0


def free_retry(leaderless: Leaderless | None, result: ApiResult[Any], now: float) -> Leaderless | None:
    """The job's Leaderless with this answer's try counted, if the answer is one to try again
    without spending max_retries; None if it spends one (not such an answer, or past the bounds).
    `leaderless`: what the job's earlier answers began (None: none said so yet)."""
    if not result.between_leaders:
        return None
    if leaderless is None:
        leaderless = Leaderless(since=now)
    if leaderless.tries >= ELECTION_TRIES or now - leaderless.since >= ELECTION_SECONDS:
        return None
    leaderless.tries += 1
    return leaderless


def not_elected(leaderless: Leaderless | None, result: ApiResult[Any], now: float) -> str:
    """What a job that ends on such an answer adds to its message, past the bounds (else '')."""
    if leaderless is None or not result.between_leaders:
        return ""
    return (f"; the cluster had no leader to run it for {now - leaderless.since:.0f} s ({leaderless.tries} tries "
            f"while it was elected, then rate_limit.max_retries): check its workers")
