"""How far apart each cluster's polls really came: the words of an `unconfirmed` decision say when
its confirming poll comes, and a number from the configured interval alone was false while the
key's rate limit held the polls (a storm probe: "in about 10s" with polls 60 s apart)."""

from __future__ import annotations

from datetime import datetime

from ..report import format_span

# Polls further apart than this many times their interval are said to be held, not paced.
HELD_AFTER = 1.5


class PollPace:
    """Each cluster's latest poll, and the gap before it. One entry per cluster polled, kept by
    the cluster's generation (EngineCore.cluster_generation): a poll after a reload forgot the
    cluster is not timed from one before."""

    def __init__(self) -> None:
        self._last: dict[str, tuple[int | None, datetime]] = {}
        self._gap: dict[str, float] = {}

    def polled(self, cluster: str, generation: int | None, now: datetime) -> None:
        before = self._last.get(cluster)
        if before is not None and before[0] == generation and now > before[1]:
            self._gap[cluster] = (now - before[1]).total_seconds()
        else:
            self._gap.pop(cluster, None)
        self._last[cluster] = (generation, now)

    def held(self, cluster: str, step: float) -> float | None:
        """The gap before the cluster's latest poll when it was well beyond `step` (the interval
        its polls come at); None while they come at their pace, or before a gap is known."""
        gap = self._gap.get(cluster)
        return gap if gap is not None and gap > HELD_AFTER * step else None


def next_polls(polls: int, step: float, held: float | None) -> str:
    """When the `polls`-th poll from now comes, as a decision's detail says it: about `polls` x
    `step` at the polls' pace, or when they are held (`held`: the latest gap), their count and
    what holds them, with no time that the rate limit may make false."""
    if held is None:
        return f"in about {format_span(polls * step)}"
    which = "at the next poll" if polls <= 1 else f"at the {polls}th poll from now"
    return (f"{which}; no time said: the latest poll came {format_span(held)} after the one before, not every "
            f"{step:g}s (the key's rate limit or slow answers hold them)")
