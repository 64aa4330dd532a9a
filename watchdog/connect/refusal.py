"""A lane's key the API refused (401): its restarts are held, queued, until the key works again.

A 401 says the key is refused, not the connector: every restart queued behind it would be
answered 401 too. Before, they all went (17 calls in 0.7 s, a probe, 2026-12-07), each ended
`unauthorized` and each counted an attempt with its backoff, so after the key was fixed the
connectors waited out their backoff, and a longer outage spent their `max_restarts` without one
restart made. Now the call answered 401 ends `unauthorized` as before, and the lane's other
restarts wait (queue/dispatch.py parks them, no call, no attempt) until a call with the key is
answered other than 401 (the next poll, which goes on at its interval: it is the probe), or a
reload gives the lane's client another pair; a key no call has used for PROBE_SECONDS lets them
go, and the first answer decides. A 403 is a role on one cluster, not the key: it holds nothing
here.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone

# What a restart held by a refused key says, before when and what it waits for (queue/dispatch.py
# clears it once the restart goes again).
REFUSED_PREFIX = "held: its API key was refused (401)"
# How often held restarts look at the refusal again without any call (a local check): a reload
# that rotated the pair, or moved the cluster to another key, is taken within this.
RECHECK_SECONDS = 5.0
# A key no call has used for this long (nothing polls its clusters: alert or schedule rules only)
# lets its held restarts go: the first answer says whether it works again (a 401 holds the rest
# again). Without it, such a key's restarts were held until a reload or a restart of the daemon.
PROBE_SECONDS = 600.0


class KeyRefusal:
    """Whether the lane's key stands refused, since when, and with which pair.

    `pair`: the credentials object the lane's client sends now (set by the composition root);
    a reload that rotates the key gives the client a new one, which ends the refusal: the new
    pair has not been refused."""

    def __init__(self, pair: Callable[[], object] | None = None) -> None:
        self.pair = pair
        self.since: datetime | None = None
        self._refused_pair: object = None
        self.ended_by = ""  # why the last refusal ended: "answer" or "rotated"
        self._last_call = 0.0  # when a call with the key last ended (the lane's clock)
        self._probing = False  # PROBE_SECONDS without a call: restarts go until the next answer

    def on_answer(self, status: int | None, now: float) -> str | None:
        """A call of the lane was answered `status` (None: no answer). Returns "began" when this
        401 begins a refusal, "ended" when this answer ends one, else None. A 429 or a 5xx says
        nothing of the key (a gateway may answer them before it looks at the key); any other
        answer does: the key was taken."""
        self._last_call, self._probing = now, False
        if status == 401:
            first = self.since is None
            if first:
                self.since = datetime.now(timezone.utc)
            self._refused_pair = self._pair_now()
            return "began" if first else None
        if self.since is None or status is None or status == 429 or status >= 500:
            return None
        self._end("answer")
        return "ended"

    def holds(self, now: float) -> bool:
        """Whether restarts of the lane wait now. A pair rotated in since the 401 ends it (said by
        the caller through `ended_by`); PROBE_SECONDS with no call lets them go until an answer."""
        if self.since is None:
            return False
        if self._pair_now() is not self._refused_pair:
            self._end("rotated")
            return False
        if now - self._last_call >= PROBE_SECONDS:
            self._probing = True
        return not self._probing

    def note(self) -> str:
        """What a restart held by the refusal says (GET /v1/restarts/{id}, `watchdog status --daemon`)."""
        at = self.since.strftime("%H:%M:%S UTC") if self.since is not None else "?"
        return (f"{REFUSED_PREFIX} at {at}; it stays queued, not sent and no attempt counted, until a call "
                "with the key succeeds (the next poll of its clusters) or a reload rotates the key's pair "
                "(see the api_key_refused line)")

    def _pair_now(self) -> object:
        return self.pair() if self.pair is not None else None

    def _end(self, why: str) -> None:
        self.since = None
        self._refused_pair = None
        self.ended_by = why


def refused_note(message: str) -> bool:
    """Whether a job's message is the refusal's (cleared when the job goes again)."""
    return message.startswith(REFUSED_PREFIX)
