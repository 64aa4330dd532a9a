"""A removal of every watched cluster at once, held. Pure: the clusters due to be dropped in, the
ones whose removal waits out, with why.

One answer listing no environment (`200 {"data": []}`: an IAM glitch, a role binding being
re-applied, a gateway's empty cached page), no cluster of an environment, or a 403 on it, read on
two refreshes, dropped every cluster it covered, each refresh counted `ok`: polls and restarts
stopped and nothing paged (found 2026-12-07 by a black-box probe). Such a listing cannot be told
from a real deletion by itself; what tells them apart is time, and what a wrong guess costs: a
deleted cluster kept a while longer costs failing polls, a live one dropped costs its healing.

So when the clusters due to be dropped in one refresh are every watched discovered cluster of
the fleet, or every one (two or more) of one environment, they stay watched (counted `missing`)
until they have been missing for `hold_seconds` (an hour, or three intervals if longer). Clusters
really deleted one by one (others of their environment still listed, or the last one of an
environment while the fleet has others) are dropped by the ordinary rule (inventory.py).

An environment the environment listing still shows, whose cluster list answers 403, is held
whatever its count: the environment is there and the key was refused its clusters (its role
binding removed, or being re-applied), which is no deletion. Before, the only cluster of such an
environment was dropped after two refreshes, each counted `ok`, while the fleet had others (found
2026-12-07). A 404, or an environment no longer listed, says it is gone: the ordinary rule.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

# How long a removal of every watched cluster at once waits, at least: a listing that glitches
# for minutes (the ordinary rule's two refreshes, ten minutes at the default interval) no longer
# unwatches the fleet; one that lasts an hour is taken for what it says.
HOLD_SECONDS = 3600.0
HOLD_INTERVALS = 3
# An environment must have lost this many watched clusters at once to be held: the last cluster
# of an environment deleted on its own is dropped as any other.
MIN_ENVIRONMENT_CLUSTERS = 2


def hold_seconds(interval: float) -> float:
    return max(HOLD_SECONDS, HOLD_INTERVALS * interval)


@dataclass(frozen=True, slots=True)
class Candidate:
    """A watched cluster the ordinary rule would drop now."""

    environment_id: str
    missing_since: float  # Unix seconds: the first refresh in a row that did not list it
    refused: bool = False  # its environment, still listed, answered 403 to its cluster list


def held_removals(
    due: Mapping[str, Candidate], watched: Mapping[str, str], *, now: float, interval: float
) -> dict[str, str]:
    """Of the clusters `due` to be dropped, those whose removal is held, each with why.
    `watched`: every discovered cluster watched before this refresh, with its environment."""
    due_watched = {identifier: c for identifier, c in due.items() if identifier in watched}
    if not due_watched:
        return {}
    bound = hold_seconds(interval)
    whole: dict[str, str] = {}
    if not watched.keys() - due_watched.keys():
        whole = dict.fromkeys(due_watched, f"every watched discovered cluster ({len(watched)}) at once")
    else:
        for environment in sorted({c.environment_id for c in due_watched.values()}):
            of_it = [i for i, e in watched.items() if e == environment]
            if len(of_it) >= MIN_ENVIRONMENT_CLUSTERS and all(i in due_watched for i in of_it):
                whole |= dict.fromkeys(of_it, f"every watched cluster of environment {environment} ({len(of_it)}) at once")
    for identifier, candidate in due_watched.items():
        if candidate.refused and identifier not in whole:
            whole[identifier] = (f"the clusters of environment {candidate.environment_id}, whose cluster list the key "
                                 "was refused (403: its role there removed, or being re-applied)")
    held = {}
    for identifier, what in whole.items():
        since = due_watched[identifier].missing_since
        if now - since < bound:
            until = datetime.fromtimestamp(since + bound, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
            held[identifier] = f"the listings would drop {what}: held, still watched, until {until} unless listed again"
    return held
