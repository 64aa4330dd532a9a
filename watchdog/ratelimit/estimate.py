"""Learning the rate a key sustains for us, without knowing the server's algorithm.

Two sources, and the lower one wins:

- **Headers on successful answers** (some servers send X-RateLimit-* on every answer): the limit N
  and the longest X-RateLimit-Reset seen, W. Every common algorithm resets within one window, so
  the longest Reset is the window (rounded up), and N per W is the sustained rate. It is trusted
  only once the budget has been seen spent and then coming back: before that, the longest Reset
  may be the tail of a window we arrived in late, or a token bucket's time to refill the few
  tokens it was missing.
- **Refusals** (the only signal when headers come on 429 only, as Confluent documents, or never):
  each 429 marks a moment the key was saturated, and the pause it imposes ends where capacity has
  come back. What was admitted between two such resume points, divided by the time between them,
  is the rate the key sustained for us over that stretch, whatever the algorithm and whoever else
  used the key meanwhile (their use is simply not ours to have), provided our requests used the
  pace all along (USED_SHARE), or, before the first sample gave a pace, that we had something
  to send (in flight or waiting on the limiter) for at least that share of the time
  (on_no_demand): after quiet hours it is only our demand. A 429 while pacing means
  we went too fast: the rate drops to that sample, and at least by `DECREASE` (the
  multiplicative decrease of AIMD, as TCP and the AWS SDKs' adaptive retry mode do); after a
  stretch that did not use the pace, by `DECREASE` alone. But where the creep (below) had taken
  the rate past the best sample so far, it goes back up toward that sample, as far as the new
  sample's own error allows: the creep went too far, not the measurement (_back_toward_best).
  Where the key stayed shut past its own hint before the first sample, that sample is at least
  what the key took at once from rest per the time it stayed shut and the stretch (on_refusal):
  a stretch after such a spell may be a trickle.

After a decrease the rate creeps back up, so that a share another client gave back is taken
again: `CREEP_GAP` of the way to the creep's ceiling every window or so (`FAST_CREEP_EVERY`
seconds at least with the limit known, `CREEP_EVERY` without) until a 429 comes at our pace or
another client is seen, `CREEP_STEP` of the rate every window and at least `CREEP_EVERY` seconds
after that, so that a key at its limit sees about one 429 per many minutes, not one per window.
The creep never passes the best sample measured so far, widened by that sample's own error (the
resume points it was measured between come from whole-second Retry-After values, each up to a
second late, so a sample over a span of s seconds may be low by up to a factor s / (s - 1); once
the climb held there with no 429, the first sample's stretch is also counted from our first
request after its resume point, as a sliding log counts it: _later_start_bound), and
never passes N per longest Reset: every common algorithm's Reset is at most its window, so no key
sustains more than that. With no X-RateLimit-Limit ever seen, that ceiling is a guess (a sample
taken right after a sliding counter's boundary is a trickle), which starts no lower than what the
key took of ours from rest to the first sample's end (_from_rest), and so does the rate where the
first sample is a trickle for sure (shorter than the first 429's pause; on_refusal): at the
ceiling, while our requests use the pace (USED_SHARE), the ceiling and the rate rise by GUESS_STEP
until a 429 at pace fixes it. Each 429 at our pace, and each race lost to another client, cuts the ceiling `CEILING_CUT`
below the pace it came at; a quarter hour after the last one (`REGROW_AFTER`) a cut ceiling rises
again, while our requests use the pace, since the client that took the difference may have left.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .stretch import stretch_sample, widened

# After a 429 while pacing: at most this fraction of the rate that was refused.
DECREASE = 0.9
# Additive increase while no 429 comes: this fraction of the rate, once per span of the first
# sample (about a window), and no more often than every CREEP_EVERY seconds.
CREEP_STEP = 0.02
CREEP_EVERY = 5.0
# ... but while the creep still closes the gap to its ceiling (CREEP_GAP, below) and the limit is
# known: once per span, and no more often than every FAST_CREEP_EVERY seconds. On a key of a 1 or
# 2 s window, a step every 5 s left a short run at its first, low sample for most of its length.
FAST_CREEP_EVERY = 1.0
# ... or this share of the way to the creep's ceiling when that is more, until a 429 comes at our
# pace or another client is seen on the key: the ceiling is the best evidence of what the key
# sustains, and a short run spends most of its time below it with steps of CREEP_STEP alone.
# After such a 429 the ceiling may still be above the key's rate (it is cut by CEILING_CUT a
# time), and fast steps would find it again and again.
CREEP_GAP = 0.4
# A guessed ceiling (no limit in any header, no 429 yet at our pace), reached while our requests
# use the pace (USED_SHARE), rises by this much per creep interval, and the rate with it, until a
# 429 at our pace fixes it. The first sample may be a trickle: a sliding counter's of 5 per 47 s
# with no hint at all was a fifth of the key's rate, and rising by CREEP_STEP (the ceiling one
# interval, the rate the next) its backlog of 40 took 4.1 x the ideal; by a tenth each interval,
# 2.2. The cost: the one 429 at our pace that fixes the ceiling comes sooner in a run, or in a run
# that ended before it.
GUESS_STEP = 0.1
# A 429 met while pacing caps the creep this far below the rate that met it.
CEILING_CUT = 0.05
# A race lost to another client (a 429 although the server's word left room): take this much less.
CONTENTION_DECREASE = 0.8
# A ceiling cut by 429s is not forever: the client that shared the key may have left, and nothing
# but a probe can tell (with headers on 429 only, an answer shows nobody's use; on a server that
# refills gradually, room in its Remaining is also what our own cut leaves). Once no 429 has come
# for this long (and for at least REGROW_INTERVALS creep intervals), the ceiling and the rate rise
# together by CREEP_STEP per creep interval while our requests use the pace: AIMD's additive
# increase, never stopped. On a key still shared that is a 429 per quarter hour or so (issue 10:
# one per many windows); on a key given back, its whole rate again a few minutes later. Without it,
# a key shared for its first five minutes was used at two thirds of its rate for good (the
# benchmark's "client that leaves" table). A quarter hour, not less: a run alone whose climb
# crossed the limit once (a 429 at our pace) would take one more 429 every such period.
REGROW_AFTER = 900.0
REGROW_INTERVALS = 20
# The ceiling rises (GUESS_STEP, REGROW_AFTER) only while our requests use the pace: what was
# admitted since the last creep step is at least this share of what the pace allowed over that
# time (a pause after a 429 not counted). A rise is a probe, and only traffic at the pace tests
# it: TCP grows its congestion window only while the sender fills it, and takes half of it
# filled as filled (RFC 7661's pipeACK test). A request now and then, or a few at once between
# long quiet spells, says nothing of the key: with a climb on every answer answered within the
# pace interval, four quiet hours of a request a minute took a pace guessed at 0.9/s to 20/s, for
# the next incident's backlog to start at. A stretch between two 429s with an interval that did
# not use the pace is no sample of the key's rate either (on_refusal).
USED_SHARE = 0.5
# A spell of refusals with nothing admitted is read as the key's window (it stayed shut at least
# that long: window_floor) up to this many seconds, the longest window this limiter is built and
# tested for (the property test draws 1 to 60 s). Longer, it is another client holding the key,
# or a quota far longer than any window, and says nothing of the key once the spell ends: a key
# another tool held for ten minutes right after our backlog's first burst was read as a window
# of ten minutes, and the backlog of 200 took 788 to 1,155 s once the key was free, where it
# allowed them in 200 s (an hour's hold: 3,481 to 4,875 s); now 289 to 498 s (an hour's: 291 to
# 501 s). On a key whose window is longer, a reading this short costs a 429 more now and then,
# each paused by the server's word.
LONGEST_DRY_READ = 60.0


@dataclass(frozen=True, slots=True)
class _Saturation:
    resume_at: float  # when the pause after the 429 ended: capacity is back by then
    admitted: int  # our admitted requests up to the 429


class RateEstimate:
    def __init__(self) -> None:
        self.measured: float | None = None  # from refusals
        self.best_sample: float | None = None
        self._creep_ceiling: float | None = None
        self._sample_span = 0.0  # span of the first sample: about a window
        self._last: _Saturation | None = None
        self._lead: float | None = None  # our first request after the last resume point went this much later
        # The first sample's error bound counted from our first request after its first resume
        # point, not from that point: where the climb may go once it held at the first bound.
        # The resume point is the 429's send time and its Retry-After; our next request went
        # later by the 429's way back and the pause's slack (0.15 s at 0.1 s latency). A sliding
        # log gives a slot back a window after it was taken, so its stretch may count only from
        # there: 20 per 2 s, Retry-After only, gave 20 over resume points 3.1 s apart, a bound of
        # 20 per 2.1 s (9.52 per second) under the key's 10, and 5,000 restarts paced 4% under
        # it took 1.101 x the ideal (20 per 1.95 s from our first request: 1.025). Only once the
        # climb held at the first bound with our requests at the pace and no 429 (creep): taken
        # at once, the climb went further before its first 429 beside another tool, which was
        # refused up to twice as often. Only with the limit known: without it the ceiling is a
        # guess the climb goes past anyway (GUESS_STEP).
        self._later_start_bound: float | None = None
        self._longest_reset = 0.0
        self._longest_dry = 0.0  # longest stretch of refusals with nothing admitted
        self._spell_start: float | None = None  # first refusal after the last admission
        self._spell_after_ours = False  # ... and ours were admitted since our last rest before it
        self.spent_seen = False  # an answer said Remaining 0, or a 429 came
        self.refill_seen = False  # ... and a later answer showed the budget coming back
        self._quiet_since = 0.0  # last 429 or last creep step
        self._used = 0  # our admitted requests since then (USED_SHARE)
        # Since the last resume point, a creep interval in which our requests did not use the pace:
        # what is admitted up to the next 429 is our demand, not the key's rate (on_refusal).
        self._idle = False
        # Seconds since the last resume point in which we had nothing to send: nothing in flight
        # and no caller waiting (on_no_demand): what tells a backlog from quiet hours where no
        # pace or no admitted answer can (on_refusal).
        self._no_demand = 0.0
        self._since_rest = 0  # our admitted requests since we last had nothing to send
        self._rest_ended_at: float | None = None  # ... and when the first of them went
        self._first_burst: int | None = None  # ... counted at the first 429: what the key took at once
        self._first_shut = 0.0  # how long the first 429's pause held us (on_refusal: a trickle after it)
        self._paced_refusal = False  # a 429 came while pacing: the ceiling is measured, not guessed
        self.contended = False  # another client was seen racing us (on_contention)
        self._last_429 = 0.0  # when the last 429 (or lost race) came
        # The best rate measured under an earlier X-RateLimit-Limit (on_new_limit): a cut key may
        # be given it back, and with headers on 429 only no answer says so (creep).
        self._best_before_new_limit = 0.0

    # -- headers ---------------------------------------------------------------------------------

    def observe_reset(self, reset: float) -> None:
        self._longest_reset = max(self._longest_reset, reset)

    def on_new_limit(self) -> None:
        """An answer said another X-RateLimit-Limit than before: the key was given a new limit,
        perhaps with a new window. The longest Reset and the longest spell shut were the old
        window's, and they cap the rate at the limit per window: a key moved from 600 per 60 s to
        60 per 10 s, headers on 429 only, was paced at a third of its rate for good (60 per the
        old 60 s bounding every sample and the climb). Learned again from this answer on."""
        self._longest_reset = 0.0
        self._longest_dry = 0.0
        if self.best_sample is not None:
            self._best_before_new_limit = max(self._best_before_new_limit, self.best_sample)

    def from_headers(self, limit: int | None, reserve: int) -> float | None:
        if limit is None or not self.refill_seen or self._longest_reset <= 0:
            return None
        return max(1, limit - reserve) / self._longest_reset

    @property
    def window_floor(self) -> float:
        """The server's window is at least this long: the longest Reset it sent, or the longest
        time it kept refusing us."""
        return max(self._longest_reset, self._longest_dry)

    # -- refusals --------------------------------------------------------------------------------

    def on_refusal(
        self,
        now: float,
        resume_at: float,
        admitted: int,
        *,
        refused_at: float | None = None,
        limit: int | None = None,
        reserve: int = 0,
    ) -> None:
        """A 429 at `now` (for a request the server refused at `refused_at`, in its frame), after
        which callers resume at `resume_at`; `admitted`: our admitted requests so far."""
        refused_at = now if refused_at is None else refused_at
        last = self._last
        lead = self._lead or 0.0
        if self._first_burst is None:
            self._first_burst = self._since_rest
        if last is None:
            self._first_shut = resume_at - refused_at
        idle, self._idle = self._idle, False
        no_demand, self._no_demand = self._no_demand, 0.0
        self._quiet(now)
        self._last_429 = now
        if last is not None and admitted == last.admitted:
            # Nothing got through since the last resume: that pause was too short (a backoff
            # without Retry-After, or several refusals of one burst). Not a sample; capacity
            # comes back later than we thought, and the key has now been shut at least this long,
            # so its window is at least as long. Only where our own requests shut it: a spell
            # that began with nothing of ours admitted since we last had nothing to send is
            # another client's use of the key, as long as that client likes (a key another tool
            # held ten minutes from our start, read as a window, made the first sample after it
            # 10 per 600 s on a key of 10 per 10 s: 200 restarts took 980 to 1,409 s where the
            # key allowed 200 s; tests/test_ratelimit_parts.py). Nor past LONGEST_DRY_READ.
            if self._spell_start is not None and self._spell_after_ours:
                dry = min(LONGEST_DRY_READ, refused_at - self._spell_start)
                self._longest_dry = max(self._longest_dry, dry)
            self._last = _Saturation(max(resume_at, last.resume_at), admitted)
            self._lead = None
            return
        self._spell_start = refused_at
        self._spell_after_ours = self._since_rest > 0
        if self.measured is not None and self._creep_ceiling is not None:
            # Refused at this rate: it is above what the key sustains for us now, so the creep
            # must stay clearly below it from here on (else it would find this 429 again).
            self._creep_ceiling = min(self._creep_ceiling, self.measured * (1.0 - CEILING_CUT))
            self._paced_refusal = True
        # What was admitted between two resume points is the key's rate only if our requests
        # used the pace all along. After quiet hours it is our demand: a request a minute for four
        # hours, then an incident's backlog and a 429, "measured" 0.02 per second on a key of 1,
        # and the backlog of 200 took over half an hour where the key allowed it in 200 s. Such a
        # 429 only says the pace was too fast: the decrease below, not the sample.
        # Time tells too, a stretch with nothing to send for over half of it: before the first
        # sample, where there is no pace to measure use against (_pace_was_used; one 429 at
        # start, four quiet hours, and the incident's backlog of 200 took 8,514 s on a key that
        # allows it in 200 s), and after it, where the stretch may hold no admitted answer after
        # its quiet spell for _pace_was_used to run on: a key that another client held spent
        # when our first request after an hour's quiet went (a Terraform apply beside an
        # incident) read the hour as the key's rate, 429 to 429, and the backlog of 200 behind
        # it took 5,169 s on a sliding counter and 18,809 s on a token bucket where the key
        # allowed 200 s (tests/test_ratelimit_parts.py).
        span = resume_at - last.resume_at if last is not None else 0.0
        idle = idle or no_demand > (1.0 - USED_SHARE) * span
        if last is not None and span > 0 and not idle:
            sample = self._stretch_sample(admitted - last.admitted, span, limit, reserve)
            earlier_best = self.best_sample  # before this one: what the creep may have gone past
            from_rest: float | None = None  # the first rate, where the sample is a trickle (below)
            if self.best_sample is None:
                self.best_sample = sample
                self._creep_ceiling = widened(sample, span)
                if limit is None:
                    rest = self._from_rest(resume_at)
                    if rest > self._creep_ceiling and span < self._first_shut:
                        # A trickle: the key kept us out longer after our burst from rest than
                        # this whole stretch lasted, and took more of ours from rest than the
                        # stretch can stand for, even with its error bound (a sliding counter
                        # right after its boundary, its previous window still weighing). What
                        # it took over the whole time from rest, its pauses included, is the
                        # better first rate as well as the ceiling (_from_rest). Started at the
                        # trickle, a sliding counter of 60 per 10 s with Retry-After and no rate
                        # header (4 s shut, then 4 of ours over 1.6 s: 2.5 per second, 5.5 from
                        # rest) climbed a step every 5 s and took its backlog of 200 in 1.305 x
                        # the ideal; from rest, 1.095. Not after a short first pause: there the
                        # burst from rest may be a token bucket's capacity, above its rate.
                        from_rest = rest
                    self._creep_ceiling = max(self._creep_ceiling, rest)
                if limit is not None:
                    self._later_start_bound = widened(sample, span, lead)
                self._sample_span = span
            elif sample > self.best_sample:
                self.best_sample = sample
            previous_rate = self.measured or 0.0
            if self.measured is None:
                self.measured = sample if from_rest is None else from_rest
            else:
                self.measured = min(sample, self.measured * DECREASE)
            if earlier_best is not None and previous_rate > earlier_best:
                self._back_toward_best(earlier_best, sample, span)
        elif self.measured is not None:
            self.measured *= DECREASE
        self._last = _Saturation(resume_at, admitted)
        self._lead = None

    def _stretch_sample(self, got: int, span: float, limit: int | None, reserve: int) -> float:
        """The rate a stretch between two resume points measured (stretch.stretch_sample). What
        the key took at once from rest counts only for the first sample, with no limit in any
        header, after the key stayed shut past its own hint (_longest_dry): a 429 at that pace
        measures again, and without such a spell a token bucket's hint (a unit's return) holds
        and its burst says nothing of its rate."""
        shut_past_hint = limit is None and self.best_sample is None and self._longest_dry > 0
        return stretch_sample(
            got,
            span,
            floor=self.window_floor,
            limit=limit,
            reserve=reserve,
            burst_shut_past_hint=(self._first_burst or 0) if shut_past_hint else 0,
        )

    def _from_rest(self, resume_at: float) -> float:
        """What the key took of ours from rest (our first request since we last had nothing to
        send) to `resume_at`, per second: where no header says the limit, the first sample's
        ceiling starts no lower. That sample may be a trickle: behind a real HAProxy (a sliding
        counter that counts the requests it refuses too; 20 per 2 s, a constant `Retry-After: 1`,
        no rate header), on a loaded CI machine, one request got through between the first two
        429s, a sample of 0.9 per second on a key of 10, its ceiling twice that, and the climb past
        it by GUESS_STEP every 5 s took 400 restarts over 120 s where the key allowed them in 40
        (tests/e2e/test_real_gateways.py, 2026-12-03). The burst the key took before, with that
        stretch, over the whole time from rest, read 6.5 per second there. Not a sample: a burst
        from rest reads above the rate of a token bucket (its capacity) or of a fixed window our
        burst began late in; the climb toward it then meets a 429 at our pace, which fixes the
        ceiling as the guess's climb past it (GUESS_STEP) does anyway. A fixed window's or a
        sliding log's stretches between 429s are whole windows, and read no more than their
        sample's own bound. Where it moved a row of `python -m bench budget` (5 of the 96 without
        rate headers): docs/benchmarks.md 1, "A fifth look"."""
        if self._rest_ended_at is None or resume_at <= self._rest_ended_at:
            return 0.0
        return self._since_rest / (resume_at - self._rest_ended_at)

    def _back_toward_best(self, best: float, sample: float, span: float) -> None:
        """A 429 met at a rate the creep had taken above `best`, the best sample before this one;
        the rate was just cut to this stretch's `sample` (or by DECREASE).

        It goes back up toward `best`, as far as this sample's own error bound allows (its resume
        points each up to a second late: x span / (span - 1), as for the first sample's ceiling):
        the creep, not the measurement, went too far, and a stretch over which the pace rose
        reads low. Cut to the sample, a key of 20 per 2 s with Retry-After only, at loopback
        latency, was paced at 7.7 per second for the rest of a run of 200 where 9.5 had been
        measured (1.26 x the ideal; now 1.11). Not past that bound: a first sample far above the
        key (a sliding log of 75 per 33 s giving back a burst it took a window earlier: 9.3 per
        second for a key of 2.3) is then what the 429 proved wrong, and going back to it cost
        three more 429s in a run of 400. Nor past the ceiling just cut CEILING_CUT below the pace
        refused: a creep that went only a little past `best` says `best` itself was about the
        key's limit. Where `best` was a little high (a token bucket holds up to a second's refill
        at a resume point rounded up), going back costs one more 429, after which the rate is cut
        as usual: it is then no longer above the best sample."""
        assert self.measured is not None and self._creep_ceiling is not None
        self.measured = max(self.measured, min(best, widened(sample, span), self._creep_ceiling))

    def on_contention(self, now: float, pace: float | None) -> None:
        """A 429 although the server's last word left room: another client took it. Not a
        measurement of the key's rate, but a sign to take less of it (AIMD's decrease), and to
        creep back to no more than just below where we were."""
        self._quiet(now)
        self._last_429 = now
        self.contended = True
        if pace is None:
            return
        self.measured = pace * CONTENTION_DECREASE if self.measured is None else min(self.measured, pace) * CONTENTION_DECREASE
        # The creep stays below the pace that lost the race, as below one refused at (on_refusal):
        # back at that pace, the race is lost again (a token bucket shared with a steady third was
        # raced 19 times in 5,000 restarts, 5 with this cut). It regrows as every cut does (creep).
        self._creep_ceiling = pace if self._creep_ceiling is None else min(self._creep_ceiling, pace * (1.0 - CEILING_CUT))

    def _creep_interval(self, limit: int | None, words_on_success: bool = False) -> float:
        # Quick steps only toward a ceiling the headers cap at N per longest Reset. Without the
        # limit the ceiling is a wide guess (twice the sample over a span of 1 s), and stepping
        # toward it once a window crossed one request per second at the first step, with a sample
        # over two seconds that left the pace at half the key's rate: 2.2 x the ideal, not 1.5.
        quick = limit is not None and not self.contended and not self._paced_refusal
        if not quick:
            return max(CREEP_EVERY, self._sample_span)
        # "About a window": the first sample's span, or, where only 429s carry the headers, the
        # limit at the measured rate when that is shorter. The span is between two 429s, and
        # before the first sample the limiter probes one request at a time: on a key of 20 per
        # 2 s whose rate the probe's latency about matches, that stretch spanned 4 to 8 s, the
        # climb stepped once per 8 s, and 5,000 restarts took 1.102 x the ideal. Not where every
        # answer carries the headers: there the server's own Limit and Reset give the rate, and a
        # quicker climb on a key shared from the start reached past our share before the other
        # client was seen (python -m bench reserve: its 429s went from 3 to 33 next to us).
        window = self._sample_span
        if limit is not None and not words_on_success and self.measured:
            window = min(window, limit / self.measured)
        return max(FAST_CREEP_EVERY, window)

    def on_sent(self, now: float) -> None:
        """One of our requests went out at `now` (for _later_start_bound and _from_rest)."""
        if self._rest_ended_at is None:
            self._rest_ended_at = now
        if self._last is not None and self._lead is None and now >= self._last.resume_at:
            self._lead = now - self._last.resume_at

    def on_no_demand(self, since: float, until: float) -> None:
        """From `since` to `until` we had nothing to send: nothing in flight, no caller waiting."""
        if until > since:
            self._since_rest = 0
            self._rest_ended_at = None
        if self._last is not None:
            self._no_demand += max(0.0, until - max(since, self._last.resume_at))

    def on_admitted(self) -> None:
        """One of our requests was admitted (an answer that was not a 429)."""
        self._used += 1
        self._since_rest += 1

    def _quiet(self, now: float) -> None:
        """A 429, a lost race or a creep step: the next step is a creep interval from now."""
        self._quiet_since = now
        self._used = 0

    def _pace_was_used(self, now: float, pace: float | None) -> bool:
        """Our requests used the pace since the last step (USED_SHARE), counted from the end of
        a pause after a 429 (nothing may go before it). If not, the stretch since the last resume
        point is no sample of the key's rate (on_refusal)."""
        since = max(self._quiet_since, self._last.resume_at if self._last is not None else -math.inf)
        used = pace is not None and self._used >= USED_SHARE * pace * max(0.0, now - since)
        self._idle = self._idle or not used
        return used

    def creep(
        self, now: float, limit: int | None = None, *, pace: float | None = None, words_on_success: bool = False
    ) -> bool:
        """Called after each admitted answer (on_admitted first); True when the rate rose.
        `limit`: X-RateLimit-Limit, if known. `pace`: the rate we send at (requests per second),
        which tells whether our requests use it (USED_SHARE); None: not pacing.
        `words_on_success`: successful answers carry Remaining and Reset (the server describes
        its budget as we spend it), so the climb need not hurry (_creep_interval)."""
        interval = self._creep_interval(limit, words_on_success)
        if self.measured is None or self._creep_ceiling is None or now - self._quiet_since < interval:
            return False
        # A 429 would answer a probe above the ceiling only if our requests went at the pace.
        busy = self._pace_was_used(now, pace)
        self._quiet(now)
        # No key sustains more than N per longest Reset (module docstring).
        cap = limit / self._longest_reset if limit is not None and self._longest_reset > 0 else math.inf
        if not words_on_success and self._best_before_new_limit > cap and self._regrows(now, limit):
            # Where only 429s carry the headers, the limit is what the last 429 said, a quarter
            # hour ago or more: a key cut from the limit it had may have it back, and no answer
            # says so. Held to the cut's limit, a key cut from 60 to 6 per 10 s and then given
            # its 60 back was paced at 0.64 per second for good. The regrow may go back up to
            # the best rate measured under the earlier limit; the 429 it meets, if any, says
            # the limit as it is now.
            cap = self._best_before_new_limit
        ceiling = min(self._creep_ceiling, cap)
        step = self.measured * CREEP_STEP
        if not self.contended and not self._paced_refusal:
            step = max(step, (ceiling - self.measured) * CREEP_GAP)
        raised = min(ceiling, self.measured + step)
        if raised > self.measured:
            self.measured = raised
            return True
        # At the ceiling. It rises, and the rate with it, only while our requests use the pace:
        if not busy:
            return False
        later, self._later_start_bound = self._later_start_bound, None
        if later is not None and later > ceiling and not self._paced_refusal and not self.contended:
            # ... once to the first sample's bound from our first request after its resume point
            # (_later_start_bound), and from there as every climb does;
            self._creep_ceiling = min(cap, later)
            return False
        if limit is None and not self._paced_refusal and not self.contended:
            # ... by GUESS_STEP where it is only a guess (no header said the limit, and no 429
            # has yet come at our pace), until a 429 at pace fixes it below (on_refusal): one 429
            # per run buys the key's real rate, where a low guess would cost time for good;
            grow = GUESS_STEP
        elif ceiling < cap and self._regrows(now, limit):
            grow = CREEP_STEP  # ... by CREEP_STEP where cut by 429s long ago (REGROW_AFTER).
        else:
            return False
        self._creep_ceiling = min(cap, ceiling * (1.0 + grow))
        self.measured = min(self._creep_ceiling, self.measured * (1.0 + grow))
        return True

    def _regrows(self, now: float, limit: int | None) -> bool:
        """The ceiling, reached while our requests use the pace and below N per longest Reset,
        may rise (REGROW_AFTER): it was cut by 429s or races (a guessed one rises anyway, in
        creep), and no 429 has come for long."""
        if not (self._paced_refusal or self.contended):
            return False
        return now - self._last_429 >= max(REGROW_AFTER, REGROW_INTERVALS * self._creep_interval(limit))

    def rate(self, limit: int | None, reserve: int, *, share: float | None = None) -> float | None:
        """The sustained rate to pace under (before the safety margin), or None if unknown.
        `share`: our share of the key as the headers show it (budget.py), when they can."""
        rates = [r for r in (self.measured, self.from_headers(limit, reserve), share) if r is not None]
        return min(rates) if rates else None

