"""A lane's key the API refused (401): its restarts are held, queued, until the key works again.

A 401 says the key is refused, not the connector: every restart queued behind it would be
answered 401 too. Before, they all went (17 calls in 0.7 s, a probe, 2026-12-07), each ended
`unauthorized` and each counted an attempt with its backoff, so after the key was fixed the
connectors waited out their backoff, and a longer outage spent their `max_restarts` without one
restart made. Now the call answered 401 ends `unauthorized` as before, and the lane's other
restarts wait (queue/holding.py parks them, no call, no attempt) until a call with the key is
answered other than 401 (the next poll, which goes on at its interval: it is the probe), or a
reload gives the lane's client another pair; a key no call has used for PROBE_SECONDS lets them
go, and the first answer decides. A 403 is a role on one cluster, not the key: it holds nothing
here.

A key accepted for reads and refused for restarts (a worker's proxy that lets a read-only user
GET and answers 401 to every POST: nginx's `limit_except GET { auth_basic ...; }`) is no refused
key either: the user may not restart. Its first restart's 401 cannot tell it from a revoked key
and holds as above; but once a read ended that refusal (the next poll was answered) and a restart
is answered 401 again with no read refused between, the lane's restarts are refused for restarts
only (`write_refused_since`): said once, and nothing is held (a hold would end at every poll: a
refused/accepted pair of lines per restart, for ever, telling an operator to rotate a password
that is right); each restart ends `unauthorized` saying why, and counts an attempt, as a 403
does. A restart answered otherwise ends it; a read answered 401 makes it a refused key again.
Assumed where the real world may differ: a key revoked between a poll that ended a refusal and
the next restart is taken for refused for restarts until the next poll's 401, which holds again.

Restarts of a key refused for restarts that are then accepted for other connectors (a proxy's
rule per path, a 401 tied to some connectors' resources) show the key may restart: from then on
(`_writes_mixed`) a restart's 401 is its connector's (`connector_refused`): it ends `unauthorized`
saying so, counts an attempt, and nothing is held or said of the key. Before, each accepted restart
ended "refused for restarts" and the next 401 was said at error as a refused key, holding every
restart of the key until the next poll, again at every accepted restart (a probe, 2026-12-08).
Only a read's 401 ends it (the key is refused: held as above). Assumed where the real world may
differ: a key revoked meanwhile has its restarts' 401s taken for their connectors' until the
next poll's 401 (a poll interval's restarts, each one attempt).

A key refused on ONE of its clusters while its other clusters take it (access to that cluster
withdrawn: a role binding removed, which the real Cloud may answer 401 or 403 there alone) is no
refused key either. Before, each poll of that cluster began a refusal (`api_key_refused` at
error, every restart of the key held) and the next poll of another cluster ended it
(`api_key_accepted_again`): a pair of lines at every poll, 720 error lines an hour at 5 s, saying
that every restart of the key waited (a probe, 2026-12-07). Now the clusters whose reads (polls)
were answered 401 in a refusal are remembered (a restart's 401 may be a key refused for restarts
only, above: no cluster's); an answer with the key from a cluster that did not answer 401 in it
contradicts it: the key works, so the refusal ends (its held restarts go) and those clusters are
refused alone (`alone`): said once each, then at most every REPEAT_SECONDS with how many 401s
since, and once when the cluster answers again. The restarts of such a cluster are held, queued
(queue/holding.py asks `holds_cluster`), as a refused key's are, until a call with the key on it
is answered (its next poll), a reload rotates the pair, or no call of it for PROBE_SECONDS lets
them go; nothing of the key's other clusters is held. While its listing fails nothing of it is
decided (a restart by name or an alert needs its listing: answered 503); what can be queued is a
restart asked before its 401, a retry, a schedule's: before, each was sent into the 401, ended
`unauthorized` and counted an attempt with its backoff. A 401 of another cluster begins a refusal of
the key again, as before. Assumed where the real world may differ: a revoked key is answered 401
on every cluster (Confluent checks the key before the cluster), so a 401 contradicted by another
cluster's answer is that cluster's; an answer to a call sent before the key was revoked and
answered after another cluster's 401 may contradict it wrongly, until the next 401 of another
cluster begins the key's refusal again (a poll interval, a restart or so spent).

An egress proxy that refuses the daemon's credentials (407: transfer.ProxyRefused) is the same
kind of refusal, of every call through it: `ProxyRefusal` holds the lane's restarts the same way
until a call through it is answered (or PROBE_SECONDS pass without a call). A reload rotating the
key's pair does not end it: the proxy's credentials come from the environment, read at start.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone

# What a restart held by a refused key says, before when and what it waits for (queue/holding.py
# clears it once the restart goes again).
REFUSED_PREFIX = "held: its API key was refused (401)"
# Said (api_key_refused_for_restarts, and in each restart's message) of a key refused for restarts only.
WRITE_REFUSED_NOTE = ("the key is accepted for reads (polls are answered) but refused for restarts (401 to the "
                      "restart's POST): its user lacks the right to write (a role, or a proxy's rule for POST), the "
                      "key itself is right; give it write access. Restarts are not held for it: each ends "
                      "unauthorized and counts an attempt, as a 403 does")
# What a restart refused (401) for its connector alone says (restarts of the key are accepted for others).
CONNECTOR_REFUSED_SHORT = ("the key's restarts of other connectors are accepted: this connector's restart alone is "
                           "refused (401), its user lacks write access to it")
# What such a restart's own message adds (kept short: a job's message is cut at 300 characters).
WRITE_REFUSED_SHORT = ("the key is accepted for reads but refused for restarts: its user lacks write access "
                       "(see api_key_refused_for_restarts)")
# How often held restarts look at the refusal again without any call (a local check): a reload
# that rotated the pair, or moved the cluster to another key, is taken within this.
RECHECK_SECONDS = 5.0
# A key no call has used for this long (nothing polls its clusters: alert or schedule rules only)
# lets its held restarts go: the first answer says whether it works again (a 401 holds the rest
# again). Without it, such a key's restarts were held until a reload or a restart of the daemon.
PROBE_SECONDS = 600.0
# A cluster refused alone is said again at most this often, with how many 401s since
# (triggers/streak.py says a repeating failure every 5 minutes likewise).
REPEAT_SECONDS = 300.0
# What a restart of a cluster refused alone adds to its message (see api_key_refused_on_cluster).
CLUSTER_REFUSED_SHORT = ("the key is refused (401) on this cluster alone, its other clusters take it: its access "
                         "to this cluster was withdrawn (see api_key_refused_on_cluster)")


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


class _Refusal:
    """What a refused key and a refusing proxy share: since when (wall time, only ever shown:
    `wall` is injected for tests), when a call of the lane last ended (the lane's clock), and the
    probe that lets held restarts go after PROBE_SECONDS without a call."""

    def __init__(self, wall: Callable[[], datetime] = _utc_now) -> None:
        self.since: datetime | None = None
        self._wall = wall
        self._last_call = 0.0  # when a call of the lane last ended (the lane's clock)
        self._probing = False  # PROBE_SECONDS without a call: restarts go until the next answer

    def _called(self, now: float) -> None:
        self._last_call, self._probing = now, False

    def _begin(self) -> bool:
        """The refusal begins now, if it had not: whether this call began it."""
        first = self.since is None
        if first:
            self.since = self._wall()
        return first

    def _waits(self, now: float) -> bool:
        """A refusal under way holds restarts, unless no call has ended for PROBE_SECONDS."""
        if now - self._last_call >= PROBE_SECONDS:
            self._probing = True
        return not self._probing

    def _since_said(self) -> str:
        return self.since.strftime("%H:%M:%S UTC") if self.since is not None else "?"


class ClusterAlone:
    """A cluster on which the key is refused (401) while its other clusters take it."""

    def __init__(self, since: datetime, pair: object, now: float) -> None:
        self.since = since  # its first 401 (wall time, only ever shown)
        self.pair = pair  # the pair refused: a rotated one has not been
        self.said_at = now  # when it was last said (the lane's clock)
        self.unsaid = 0  # 401s since it was last said
        self.last_call = now  # when a call of it last ended: PROBE_SECONDS without one lets its restarts go

    def since_said(self) -> str:
        return self.since.strftime("%H:%M:%S UTC")


class KeyRefusal(_Refusal):
    """Whether the lane's key stands refused, since when, and with which pair.

    `pair`: the credentials object the lane's client sends now (set by the composition root);
    a reload that rotates the key gives the client a new one, which ends the refusal: the new
    pair has not been refused."""

    def __init__(self, pair: Callable[[], object] | None = None, wall: Callable[[], datetime] = _utc_now) -> None:
        super().__init__(wall)
        self.pair = pair
        self._refused_pair: object = None
        self.ended_by = ""  # why the last refusal ended: "answer" or "rotated"
        # Restarts alone refused (see the module's docstring): since when, None when not.
        self.write_refused_since: datetime | None = None
        self._began_on_write = False  # the refusal under way began with a restart's 401
        # A read ended a refusal that a restart's 401 began, and no call has said otherwise since:
        # the next restart answered 401 means the key is refused for restarts only.
        self._reads_taken = False
        # Restarts with the key refused (401) and accepted side by side while reads are taken
        # (see the module's docstring): a restart's 401 is its connector's, until a read's 401.
        self._writes_mixed = False
        # The clusters whose 401s the refusal under way holds (each with its first 401's time).
        self._refused_on: dict[str, datetime] = {}
        # Clusters refused alone (see the module's docstring).
        self.alone: dict[str, ClusterAlone] = {}
        # What the last answer changed for its cluster alone: "refused_again" (a 401, REPEAT_SECONDS
        # since it was said: say it again), "accepted" (answered other than 401), else None.
        self.cluster_change: str | None = None
        # The clusters the last "narrowed" made refused alone.
        self.narrowed_to: list[str] = []

    def on_answer(self, status: int | None, now: float, *, write: bool = False, cluster: str = "") -> str | None:
        """A call of the lane was answered `status` (None: no answer); `write`: it was a restart.
        Returns "began" when this 401 begins a refusal, "ended" when this answer ends one,
        "write_refused" when this restart's 401 shows the key refused for restarts only (once),
        "write_accepted" when this restart's answer ends that, "connector_refused" when this
        restart's 401 is its connector's alone (restarts of the key refused and accepted side by
        side), else None. A 429 or a 5xx says
        nothing of the key (a gateway may answer them before it looks at the key); any other
        answer does: the key was taken. `cluster`: the call's; "narrowed" when this answer, from a
        cluster that did not answer 401 in the refusal under way, ends it and makes the clusters
        that did refused alone (`narrowed_to`); what it changed for its cluster alone is in
        `cluster_change`."""
        self._called(now)
        self.cluster_change = None
        alone = self.alone.get(cluster)
        if alone is not None and alone.pair is not self._pair_now():
            del self.alone[cluster]  # a rotated pair has not been refused there: a 401 says so afresh
            alone = None
        if status == 401 and alone is not None:
            # The cluster refused alone again: nothing new of the key, said every REPEAT_SECONDS.
            alone.unsaid += 1
            alone.last_call = now
            if now - alone.said_at >= REPEAT_SECONDS:
                self.cluster_change = "refused_again"
            return None
        if status == 401:
            if write and self.since is None and self._writes_mixed:
                return "connector_refused"
            # A rotation's end not said yet (rotation_unsaid) is not said at all: this pair is refused too.
            self.ended_by = "" if self.ended_by == "rotated" else self.ended_by
            if write and self.since is None and (self._reads_taken or self.write_refused_since is not None):
                first = self.write_refused_since is None
                if first:
                    self.write_refused_since = self._wall()
                return "write_refused" if first else None
            # A read refused too (or nothing says reads are taken): the key is refused.
            self._reads_taken, self.write_refused_since, self._writes_mixed = False, None, False
            first = self._begin()
            if first:
                self._began_on_write = write
            if not write:  # a restart's 401 may be a key refused for restarts only: no cluster's
                self._refused_on.setdefault(cluster, self._wall())
            self._refused_pair = self._pair_now()
            return "began" if first else None
        if status is None or status == 429 or status >= 500:
            return None
        if alone is not None:
            del self.alone[cluster]
            self.cluster_change = "accepted"
        if self.since is not None and self._refused_on and cluster not in self._refused_on:
            # The key works on this cluster, after reads of others were refused: they are refused alone.
            self.narrowed_to = sorted(self._refused_on)
            for each, since in self._refused_on.items():
                self.alone[each] = ClusterAlone(since, self._refused_pair, now)
            self._reads_taken = self._began_on_write and not write
            self._end("answer")
            return "narrowed"
        if write:
            self._reads_taken = False
            if self.write_refused_since is not None and self.since is None:
                self.write_refused_since = None
                self._writes_mixed = True
                return "write_accepted"
        if self.since is None:
            return None
        self._reads_taken = self._began_on_write and not write
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
        return self._waits(now)

    def rotation_unsaid(self) -> bool:
        """Whether a reload rotated the pair since the 401 and no line said the refusal's end yet
        (ended here if `holds` had not: the heartbeat's breaker asks it every second and ends it
        without a word). The caller says it at the first call the new pair gets answered."""
        if self.since is not None and self._pair_now() is not self._refused_pair:
            self._end("rotated")
        return self.ended_by == "rotated"

    def note(self) -> str:
        """What a restart held by the refusal says (GET /v1/restarts/{id}, `watchdog status --daemon`)."""
        return (f"{REFUSED_PREFIX} at {self._since_said()}; it stays queued, not sent and no attempt counted, until a call "
                "with the key succeeds (the next poll of its clusters) or a reload rotates the key's pair "
                "(see the api_key_refused line)")

    def holds_cluster(self, cluster: str, now: float) -> bool:
        """Whether the restarts of `cluster`, refused alone, wait now: not once the pair was
        rotated (it has not been refused there), nor once no call of it ended for PROBE_SECONDS
        (nothing polls it: the first restart's answer decides)."""
        alone = self.alone.get(cluster)
        return alone is not None and alone.pair is self._pair_now() and now - alone.last_call < PROBE_SECONDS

    def cluster_note(self, cluster: str) -> str:
        """What a restart held because its cluster is refused alone says."""
        return (f"{REFUSED_PREFIX} on this cluster alone at {self.alone[cluster].since_said()} (its other clusters "
                "take it: its access to this cluster was withdrawn); it stays queued, not sent and no attempt counted, "
                "until a call with the key on this cluster succeeds (its next poll) or a reload rotates the key's pair "
                "(see the api_key_refused_on_cluster line)")

    def _pair_now(self) -> object:
        return self.pair() if self.pair is not None else None

    def said_alone(self, cluster: str, now: float) -> int:
        """The cluster refused alone is said now: how many 401s it had since it was last said."""
        alone = self.alone[cluster]
        unsaid, alone.unsaid, alone.said_at = alone.unsaid, 0, now
        return unsaid

    def _end(self, why: str) -> None:
        self._refused_on = {}
        self.since = None
        self._began_on_write = False
        self._refused_pair = None
        self.ended_by = why


# What a restart held by a proxy's refusal says, before the proxy, when and what it waits for.
PROXY_REFUSED_PREFIX = "held: the egress proxy refused its calls (407)"


class ProxyRefusal(_Refusal):
    """Whether the lane's calls stand refused by its egress proxy (407), since when, by which."""

    def __init__(self, wall: Callable[[], datetime] = _utc_now) -> None:
        super().__init__(wall)
        self.proxy = ""  # as proxy_auth.proxy_named says it; "" where the environment names none

    def on_call(self, refused_by: str | None, answered: bool, now: float) -> str | None:
        """A call of the lane ended: refused by the proxy `refused_by` (None: not refused), with
        an answer (`answered`: a status came back, so the proxy forwarded it) or without one.
        Returns "began" when this refusal begins one, "ended" when this answer ends one, else None.
        A call with no answer (a timeout, a refused connection) says nothing of the proxy's word."""
        self._called(now)
        if refused_by is not None:
            first = self._begin()
            self.proxy = refused_by
            return "began" if first else None
        if self.since is None or not answered:
            return None
        self.since = None
        return "ended"

    def holds(self, now: float) -> bool:
        """Whether restarts of the lane wait now; PROBE_SECONDS with no call lets them go until an answer."""
        return self.since is not None and self._waits(now)

    def note(self) -> str:
        """What a restart held by the refusal says (GET /v1/restarts/{id}, `watchdog status --daemon`)."""
        at = self._since_said()
        proxy = f" {self.proxy}" if self.proxy else ""
        return (f"{PROXY_REFUSED_PREFIX}{proxy} at {at}: nothing was forwarded; it stays queued, not sent and no "
                "attempt counted, until a call through the proxy is answered (the next poll of its clusters) "
                "(see the proxy_refused line)")


def refused_note(message: str) -> bool:
    """Whether a job's message is a refusal's, the key's or the proxy's (cleared when the job goes again)."""
    return message.startswith((REFUSED_PREFIX, PROXY_REFUSED_PREFIX))
