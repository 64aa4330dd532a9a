"""When the next request of one rate-limit lane may go: the pure decision core of the rate limiter.

Confluent Cloud limits requests per key and organisation-wide, publishes neither its numbers nor
its algorithm, and documents X-RateLimit-Limit, -Remaining, -Reset (relative seconds) and
Retry-After on 429 answers only. The limiter therefore assumes no algorithm. What it relies on,
and why each holds against any of the common ones (simulator/ratelimit.py plays all six):

1. **A 429 holds every caller** of the credential, not only the refused one, for Retry-After,
   else X-RateLimit-Reset, else a capped exponential backoff with jitter (at most `max_pause`);
   refused again and again, for a backoff that grows above the hint, and that one admitted try
   between refusals shortens by one step only (refusals.py).
2. **X-RateLimit-Remaining is an upper bound on what may go now**, less the requests we sent after
   the answer that said it and those sent before it that it may not have counted (concurrent
   requests reach a real server in any order), and only until its Reset: never a promise that the
   whole limit comes back at Reset (a token bucket refills gradually, a sliding log one request at
   a time, a sliding counter's previous window still weighs on the next). After Reset the budget is
   unknown again. `reserve` units of it are left to other clients; on a server that refills only
   at its Reset, of each period as a whole: at most the limit less `reserve` is ours in a period
   whose count of ours is known (_track_period), whatever others already took of it.
3. **Once the sustained rate is known, requests are spaced evenly below it** (pacer.py, with a
   margin of at least 1/limit) whenever no Remaining says there is room: even spacing below the
   rate is the one pattern every algorithm admits. A Remaining with room is spent at once (what a
   server says it admits now it admits, and the pacer counts the burst), except once another
   client was seen on the key (shared): then at the pace, which leaves it its share. The rate is
   learned from the headers when answers carry them, else from what was admitted between 429s
   while our requests used the pace (estimate.py), and adapts when another client takes part of
   the key. On a server seen to refill before its Reset, a spent Remaining is looked at again at
   our next paced slot: one request at a time, or with one answer still out when the pace is the
   server's own Limit per Reset and no other client was seen (the unit is back by then; waiting
   for every answer would space requests by the latency, not by the pace).
4. **While nothing is known, one request at a time**, so that crossing an unknown limit costs one
   429, not one per concurrent request. While the rate is not yet trusted and no `reserve` is
   set, the last unit of a Remaining is kept in hand: spending it before knowing when capacity
   returns is how a sliding counter is overrun.
5. **A local ceiling** (`max_requests_per_second`, a token bucket) always holds.

`RateLimitState` takes the monotonic time in every method and does no I/O: the asyncio wrapper is
limiter.py. Relative seconds in headers are taken as "after this long", never earlier: servers
send whole seconds and must round up for that to hold.
"""

from __future__ import annotations

import math
import random
from collections import deque
from collections.abc import Callable

from ..config import RateLimitSettings
from .budget import ServerBudget, Word
from .estimate import RateEstimate
from .headers import Pause, RateLimitHeaders
from .inflight import InFlightCap
from .outage import Outage
from .pacer import Pacer
from .refusals import Refusals
from .share import KeyShare
from .words import ServerWords

# Recent words kept as baselines for telling a gradual refill (_baseline): a few windows' worth
# of answers at the rates the limiter meets, bounded so that each answer's search stays cheap.
SAID_KEPT = 64
# Answer times kept for counting ours in a reset period (_track_period): more than a period holds
# at the limits the limiter meets; a period with more answers than this is left unknown.
ANSWERS_KEPT = 1024
# A request unanswered this long no longer holds the turn of one request at a time (delay): a
# round trip to the Connect API takes well under a second, and its answer, not a call hung on a
# slow upstream until `timeouts.total`, is what the next request waits for to cross an unknown
# limit at one 429. One restart hung for 30 s held every call of the key behind it, each poll of
# every cluster on the key included (a poll skipped, a manual restart answered 503).
UNANSWERED_TURN_SECONDS = 5.0
# Times this close count as reached: float rounding (8.9e-16 s has been seen) must neither leave a
# caller waiting on a clock that cannot represent the difference nor let a pause that is over in
# all but rounding skip the checks that follow it (every caller then went out at once).
ROUNDING_SECONDS = 1e-6
# Pauses after a 429 in a row whose first try was admitted, and whose next try was refused within
# the server's hint after it, after which a streak of refusals ends (on_response): the key is
# ours again, and what refused the tries that followed was our own second request of a window.
CLEAN_RESUMES_END_STREAK = 3


class RateLimitState(ServerWords, Refusals, KeyShare):
    """What we know about one lane's budget (an API key's, mostly), and when the next request may go.

    Three parts live in mixins of their own: reading the server's words against our requests
    (words.py), what a 429 does (refusals.py), and our share of the key with the pace kept at it
    (share.py); this class holds the state they share and decides, from it, when the next
    request may go."""

    def __init__(
        self, settings: RateLimitSettings, *, rng: Callable[[], float] = random.random, discover_limit: bool = True
    ) -> None:
        self.settings = settings
        self._rng = rng
        # False for an API with no limit of its own to discover (self-managed Kafka Connect): no
        # probing one request at a time while nothing is known (rule 4), which there is forever.
        self.discover_limit = discover_limit
        self.limit: int | None = None
        self.paused_until = 0.0
        # What holds every call until paused_until, as the wait is counted (delay): `pause`, a
        # 429's; `outage`, the Retry-After of 5xx answers in a row (_unavailable). Counted as a
        # 429's, a maintenance of 503s fired WatchdogRateLimited, which no 429 had earned.
        self.pause_reason = "pause"
        self.consecutive_429 = 0  # fresh tries refused in a row, nothing admitted between
        # ... and refused with at most one answer admitted between any two, each such answer
        # taking one off: how far a pause grows above the server's hint (_pause_for).
        self.refusal_streak = 0
        self._admitted_since_429 = False  # an answer admitted since the last 429 (refusal_streak)
        self._resumed_at = 0.0  # when the last 429 was answered: requests sent before it share its refusal
        # Pauses in a row whose first try was admitted and whose next was refused within the
        # hint after it (refusal_streak, Refusals._on_429); and when the first try sent after the
        # last 429 was answered, admitted (None: none yet since that 429).
        self._clean_resumes = 0
        self._first_in_at: float | None = None
        # (cycle, until): after a clean resume, the key's cadence for the rest of its budget period,
        # no two of our requests closer than `cycle` seconds until `until` (Refusals._keep_cadence).
        self.cadence: tuple[float, float] | None = None
        self._admitted_at_429 = 0  # _admitted at the last 429: one more since, and a clean resume is a cadence
        self.outage = Outage(settings, rng)  # 5xx answers in a row (_unavailable)
        self.pacer = Pacer()
        self.estimate = RateEstimate()
        # Requests are numbered (tickets) in send order. An answer's Remaining counts every request
        # answered before it went out, none sent after it, and maybe some in flight with it (Word).
        self._tickets = 0
        # In flight: ticket -> the oldest ticket still unanswered when it went out (every ticket
        # below that one was answered, hence counted, before it was sent).
        self._inflight: dict[int, int] = {}
        self._sent_at: dict[int, float] = {}  # in flight: ticket -> when it went out
        # In flight: ticket -> the most of ours in flight at once while it was, itself included
        # (its crowd), and the most that might be when it went; and the most that may be now,
        # learned from 429s (inflight.py).
        self._crowds: dict[int, tuple[int, int]] = {}
        self.inflight_cap = InFlightCap(settings.max_concurrent_requests)
        self._refused: set[int] = set()  # refused tickets after the server's word: they did not count
        self._unanswered: set[int] = set()  # tickets after the word that failed: counted or not
        self._said: deque[Word] = deque(maxlen=SAID_KEPT)  # recent words: baselines (_baseline)
        self._told: dict[int, int] = {}  # ticket -> the Remaining its answer said (recent ones)
        # The Reset the last word adopted said, where it was over max_pause and capped (words.py).
        self.reset_capped_from: float | None = None
        # Pairs of successive words of one period whose fall of Remaining is ours and others' use,
        # waiting for every request that may have been counted between them to answer
        # (_learn_settled); bounded, should one request hang until its timeout (the oldest pairs
        # are then dropped, unlearned).
        self._unsettled: deque[tuple[Word, Word]] = deque(maxlen=SAID_KEPT)
        # Words whose reading of other clients' use per period waits for every request of ours
        # that may have been counted with them to answer (_learn_settled): period, word, ours.
        self._unread: deque[tuple[object, Word, int]] = deque(maxlen=SAID_KEPT)
        self._admitted = 0  # answers that were not 429
        self._free_since: float | None = None  # when the last request in flight was answered
        # For `reserve` on a server that refills only at its Reset (_available): when recent
        # answers that may have been counted arrived (refused ones cannot have been), and, when
        # the current word's reset period opened, how many of ours it may have counted and how
        # many tickets had been sent (None: unknown; _period_ours).
        self._counted_answers: deque[float] = deque(maxlen=ANSWERS_KEPT)
        self._period_opened: tuple[int, int] | None = None
        self._period_ends_after = -math.inf  # the earliest end of the last word's period, by every word of it
        self._period_surely_through = -math.inf  # the last answer past that end surely counted in it
        self.budget = ServerBudget()
        # Local ceiling: a token bucket holding up to one second's worth of requests.
        self._tokens = max(1.0, settings.max_requests_per_second)
        self._tokens_at = 0.0

    # -- reading ---------------------------------------------------------------------------------

    @property
    def inflight(self) -> int:
        return len(self._inflight)

    @property
    def pacing_rate(self) -> float | None:
        """Requests per second the limiter paces at when the server says nothing; None: unknown."""
        return self.pacer.rate

    def remaining_estimate(self, now: float) -> int | None:
        word = self.budget.live(now)
        return None if word is None else max(0, self._available(word, now))

    def seconds_to_reset(self, now: float) -> float | None:
        word = self.budget.live(now)
        return None if word is None else max(0.0, word.until - now)

    def spent_until(self, now: float) -> float | None:
        """When the budget comes back where the server's last word says it is spent (as far as we
        spend it), so that no call of the key goes before then; None where it is not."""
        word = self.budget.live(now)
        if word is None or self._available(word, now) > self._held_back():
            return None
        return word.until

    def delay(self, now: float) -> tuple[float, str]:
        """Seconds until a request may be sent (math.inf: until an answer arrives), and why."""
        reached = now + ROUNDING_SECONDS  # a time at or before this has come (ROUNDING_SECONDS)
        if reached < self.paused_until:
            return self.paused_until - now, self.pause_reason
        crowded = self._crowded_until(reached)
        if crowded is not None:
            return crowded - now, "concurrency"
        if self.cadence is not None and self.pacer.last_sent >= self.paused_until:
            # The first try after a pause goes at its end (the hint: a unit is back), the next a
            # cycle after it (Refusals._keep_cadence).
            cycle, until = self.cadence
            next_at = min(until, self.pacer.last_sent + cycle)
            if next_at > reached:
                return next_at - now, "pace"
        word = self.budget.live(now)
        paced = self.pacer.rate is not None
        if word is not None:
            if self._available(word, now) > self._held_back():
                # The server said it can take this one now, so it goes: what a server admits at
                # once it admits, whatever its algorithm, and the pacer counts the burst (the
                # next paced slot moves back as far as the burst used the rate). Except once
                # another client shares the key (shared): then the Remaining is spent at our
                # pace. Paced always, a sliding log's whole window came back at once and went
                # out at 6 per second: 1.15 x the ideal where bursting it is 1.05.
                ready = self.pacer.ready_at() if paced and self.shared else -math.inf
                if ready > reached:
                    return ready - now, "pace"
                return self._ceiling_delay(now)
            # Spent, as far as the server's last word goes. It comes back by that word's Reset;
            # on a server seen to refill before its Reset (a token bucket, a sliding counter),
            # possibly earlier: then our next paced slot, never before, is when to look.
            early = paced and self.budget.refills_early
            wake = min(word.until, self.pacer.ready_at()) if early else word.until
            returning = None if paced else self.budget.return_rate  # set only with refills_early
            if returning is not None and self.inflight == 0:
                # Not paced yet, but budget was seen coming back while we spent it (a bucket's
                # refill): one request at a time, a unit's return after our last request.
                wake = min(wake, self.pacer.last_sent + 1.0 / returning)
            if wake > reached:
                return wake - now, "budget"
            if early and self._pace_from_headers() and self.inflight <= 1:
                # Our paced slot has come, and the pace is the server's own limit per window
                # (less the margin): at that pace a gradual server has the unit back by now
                # whatever its last word said, so the slot is kept with one answer still out.
                # Waiting for every answer instead (the probe below) spaced requests by the
                # latency, not the pace: 9.0 where 9.5 per second was due. Not once another
                # client was seen racing us: then its use, not our pace, decides.
                return self._ceiling_delay(now)
        elif self.budget.late_reset and self.budget.word is not None and reached < self._reopens(self.budget.word):
            # This server refused a look right at a spent word's Reset before (a sliding
            # counter's previous window still weighs in full there): look a paced slot later.
            return self._reopens(self.budget.word) - now, "budget"
        elif paced and (self.budget.refills_early or not self.budget.spoken):
            # Between words (none yet, or the last one's Reset has passed): our own pace, except
            # on a server that sends Remaining and refills only at its Reset: there the budget
            # is back whole, and the next answer will say how much.
            ready = self.pacer.ready_at()
            if ready > reached:
                return ready - now, "pace"
            return self._ceiling_delay(now)
        if self.inflight > 0 and (self.discover_limit or self.limit is not None):
            # Nothing known about what may go: one request at a time, so that crossing an unknown
            # limit (or looking again after a spent budget) costs one 429, not one per caller.
            # Not where no limit is to be found: a Kafka Connect worker answers a restart only
            # after 30 to 90 s while its leader or broker is stuck, and every poll and restart of
            # the cluster waited behind that answer (a poll for 297 s, measured on 4.3.1). Nor
            # behind a request unanswered for UNANSWERED_TURN_SECONDS: the turn passes to the
            # next one (at most max_concurrent_requests in flight, as always), so a hung call
            # costs the key seconds, not its whole timeout.
            turn_ends = max(self._sent_at.values()) + UNANSWERED_TURN_SECONDS
            if turn_ends > reached:
                return turn_ends - now, "unknown_limit" if self.limit is None else "probe"
        return self._ceiling_delay(now)

    # -- writing ---------------------------------------------------------------------------------

    def on_send(self, now: float, *, queued_at: float | None = None) -> int:
        """Count a request going out; returns its ticket, to hand back with its answer.
        `queued_at`: when its caller asked to send. From the last answer to then, with nothing in
        flight, we had nothing to send (estimate.py, on_no_demand); None: not known, taken as no
        gap."""
        if queued_at is not None and not self._inflight and self._free_since is not None:
            self.estimate.on_no_demand(self._free_since, min(now, queued_at))
        self._refill(now)
        self._tokens -= 1.0
        self._tickets += 1
        self._inflight[self._tickets] = min(self._inflight, default=self._tickets)
        self._sent_at[self._tickets] = now
        crowd = len(self._inflight)
        self._crowds[self._tickets] = (crowd, self.inflight_cap.most)
        for ticket, (most_seen, most_at_send) in self._crowds.items():
            self._crowds[ticket] = (max(most_seen, crowd), most_at_send)
        self.pacer.on_send(now, owed_at_most=self._burst_owed_at_most())
        self.estimate.on_sent(now)
        return self._tickets

    def on_response(
        self, sent_at: float, now: float, status: int, headers: RateLimitHeaders, *, ticket: int | None = None,
        cluster: str | None = None,
    ) -> Pause | None:
        """Learn from an answer. Returns the pause every caller must now respect, if any.

        `ticket` (from on_send) says which request this answers; without it the oldest request
        in flight is taken to be the one answered. `cluster`: whose call it was (outage.py).
        """
        ticket, oldest_unanswered = self._settle(ticket, now)
        crowd, most_at_send = self._crowds.pop(ticket, (1, self.inflight_cap.most))
        if headers.remaining is not None:
            self._told[ticket] = headers.remaining
        if headers.limit is not None:
            if self.limit is not None and headers.limit != self.limit:
                # The key was given another limit (Confluent may change it, unannounced): its
                # window may have changed with it, and what was learned of the old one must not
                # cap the new (estimate.py, on_new_limit).
                self.estimate.on_new_limit()
            self.limit = headers.limit
        if status == 429:
            pause = self._on_429(sent_at, now, headers, ticket, crowd=crowd, most_at_send=most_at_send)
            self._forget_unread_tickets()
            return pause
        self._counted_answers.append(now)
        self.consecutive_429 = 0
        # One admitted answer between refusals gives back one step of the streak above a hint,
        # not all of it (a retry quota's refund, as in the AWS SDKs: a refusal costs more than a
        # success pays back); a second in a row ends it, the key taking us again. Beside a tool
        # that holds nearly the whole key, one try in many gets in; each used to start the
        # backoff over at the server's Retry-After of 1 s, and the next seven tries were refused
        # within a minute: 48 of our 429s in ten windows of 60 s, where now 17. Ended only by
        # two in a row, not by time: a key held an hour and then given back still paused each
        # of the few 429s that learn its rate again for a minute (tests/test_ratelimit_parts.py,
        # a key held right after our own burst: 722 s where the key allowed 190). Ended too after
        # CLEAN_RESUMES_END_STREAK pauses in a row whose first try got in and whose next, ours
        # too, was refused within the server's hint after it (Refusals._on_429): where one
        # request per window is all a key allows (1 per 1 s), the second of ours after each pause
        # is refused in the same window whoever else is there. There one admitted try between
        # refusals kept the streak where it was, each pause was the longest window seen (16 s, a
        # runaway's dry spell), every stretch between 429s was mostly that pause and so no
        # sample, nothing was paced, and the cycle never ended: one 429 per pause, 23 restarts
        # out at 394 s where the key allowed them in 23, long after the runaway had gone. A key
        # another tool holds admits one try in many, not each first one, and takes the room a
        # later try finds: counted without the hint's bound (three first tries in a row that got
        # in), 300 random runaway draws took 56 more of our 429s beside tools that left a little.
        if sent_at >= self._resumed_at and self._first_in_at is None:
            self._first_in_at = now  # the pause's first try got in (Refusals._on_429 reads it)
        ended = self._admitted_since_429 or self._clean_resumes >= CLEAN_RESUMES_END_STREAK
        self.refusal_streak = 0 if ended else max(0, self.refusal_streak - 1)
        self._admitted_since_429 = True
        self._admitted += 1
        self.inflight_cap.on_admitted(crowd)
        if headers.remaining is not None and headers.remaining > 0:
            self.cadence = None  # the server says there is room again: the trickle is over
        if headers.remaining is not None and headers.reset is not None:
            self._adopt_word(ticket, oldest_unanswered, headers.remaining, headers.reset, sent_at, now)
        elif 200 <= status < 300:
            # A successful answer that says nothing: the server no longer describes its budget
            # as we spend it (a gateway that stopped passing the headers on, say), so no answer
            # will say what came back at a Reset either. Kept as having spoken, the key was sent
            # one unpaced request at a time once the last word's Reset had passed, and met a 429
            # in every window for good. (An error may come from a proxy that never sends them.)
            self.budget.spoken = False
        self._learn_settled()
        self.estimate.on_admitted()
        self.estimate.creep(now, self.limit, pace=self.pacer.rate, words_on_success=self.budget.spoken)
        self._repace(now)
        return self._unavailable(sent_at, now, status, headers, cluster)

    def _unavailable(self, sent_at: float, now: float, status: int, headers: RateLimitHeaders,
                     cluster: str | None) -> Pause | None:
        """A 5xx that says the service is out holds every caller of the key (outage.py)."""
        pause = self.outage.on_answer(sent_at, now, status, headers, cluster)
        if pause is not None:
            if now + pause.seconds > self.paused_until:
                self.pause_reason = "outage"
            self.paused_until = max(self.paused_until, now + pause.seconds)
        return pause

    def on_no_response(self, now: float, ticket: int | None = None) -> None:
        """The request failed before an answer (timeout, reset): it may or may not have counted
        (for a period's count of ours, _track_period, as if counted when it failed)."""
        ticket, _ = self._settle(ticket, now)
        self._crowds.pop(ticket, None)
        self._unanswered.add(ticket)
        self._counted_answers.append(now)  # failed on the way back, maybe: counted or not
        self._learn_settled()
        self._forget_unread_tickets()

    # -- internals -------------------------------------------------------------------------------

    def _forget_unread_tickets(self) -> None:
        """While no word of the server's is held, drop the tickets no reader can reach: a word
        adopted later measures only from requests in flight when it went out. Only a word's
        adoption pruned them (_adopt_word), so where none comes (a Kafka Connect worker, which
        sends no X-RateLimit-*; Confluent, which sends them on 429 only) every failed call and
        429 stayed for good: about 70 bytes each, 6 MB a month for a cluster polled every 30 s."""
        if self._said or self._unsettled or self.budget.word is not None:
            return
        oldest = min(self._inflight.values(), default=self._tickets + 1)
        if any(t < oldest for t in self._unanswered) or any(t < oldest for t in self._refused):
            self._refused = {t for t in self._refused if t >= oldest}
            self._unanswered = {t for t in self._unanswered if t >= oldest}
            self._told = {t: left for t, left in self._told.items() if t >= oldest}

    def _settle(self, ticket: int | None, now: float) -> tuple[int, int]:
        """The ticket answered at `now`, and the oldest ticket unanswered when it was sent."""
        if ticket is None or ticket not in self._inflight:
            ticket = min(self._inflight) if self._inflight else self._tickets
        oldest_unanswered = self._inflight.pop(ticket, ticket)
        self._sent_at.pop(ticket, None)
        if not self._inflight:
            self._free_since = now
        return ticket, oldest_unanswered

    def _crowded_until(self, reached: float) -> float | None:
        """Where a 429 cut how many of ours may be in flight at once (inflight.py) and that many
        are: until the oldest of them no longer holds its place (an answer wakes the caller
        sooner). A request unanswered for UNANSWERED_TURN_SECONDS does not, as for the turn of
        one request at a time (delay): one hung call must not hold the key for its whole timeout."""
        cap = self.inflight_cap.cap
        if cap is None:
            return None
        # In send order already (tickets, and times, only grow): no sort on this path, which every
        # caller's turn takes while a cap holds.
        holding = [sent for sent in self._sent_at.values() if sent + UNANSWERED_TURN_SECONDS > reached]
        if len(holding) < cap:
            return None
        return holding[len(holding) - cap] + UNANSWERED_TURN_SECONDS

    def _refill(self, now: float) -> None:
        rate = self.settings.max_requests_per_second
        capacity = max(1.0, rate)
        self._tokens = min(capacity, self._tokens + (now - self._tokens_at) * rate)
        self._tokens_at = now

    def _ceiling_delay(self, now: float) -> tuple[float, str]:
        self._refill(now)
        if self._tokens >= 1.0 - 1e-9:  # float rounding must not leave a caller waiting forever
            return 0.0, ""
        return (1.0 - self._tokens) / self.settings.max_requests_per_second, "ceiling"
