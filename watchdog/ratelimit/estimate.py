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
  stretch that did not use the pace, by `DECREASE` alone. But where the creep (climb.py) had taken
  the rate past the best sample so far, it goes back up toward that sample, as far as the new
  sample's own error allows: the creep went too far, not the measurement (_back_toward_best).
  Where the key stayed shut past its own hint before the first sample, that sample is at least
  what the key took at once from rest per the time it stayed shut and the stretch (on_refusal):
  a stretch after such a spell may be a trickle. With no limit in any header, a stretch shorter
  than the window floor reads what got through per that floor (it may have been a window's
  allowance taken in a burst), except, for the pace, once we pace from the server's own hint
  (_paced_sample).

How the rate climbs back up after a decrease, and how far (the creep, its ceiling, the regrow
after a quarter hour without a 429): climb.py, mixed into RateEstimate.
"""

from __future__ import annotations

from dataclasses import dataclass

from .climb import USED_SHARE, Climb
from .stretch import stretch_sample, widened

# After a 429 while pacing: at most this fraction of the rate that was refused.
DECREASE = 0.9
# A 429 met while pacing caps the creep this far below the rate that met it.
CEILING_CUT = 0.05
# A 429 at our pace after a stretch whose own error (a second per resume point: stretch.widened)
# is at most this share caps the creep halfway between the rate refused and what it admitted
# (on_refusal): a stretch of 11 s or more.
MIDWAY_ERROR = 0.1
# A race lost to another client (a 429 although the server's word left room): take this much less.
CONTENTION_DECREASE = 0.8
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
    at_hint: bool = False  # ... that pause ended where the server said (its hint), not our backoff


class RateEstimate(Climb):
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
        # and no caller waiting (on_no_demand), or in which our own backoff held us past the
        # server's hint (on_held_back): what tells a backlog from quiet hours where no pace or
        # no admitted answer can (on_refusal).
        self._no_demand = 0.0
        self._since_rest = 0  # our admitted requests since we last had nothing to send
        self._rest_ended_at: float | None = None  # ... and when the first of them went
        self._first_burst: int | None = None  # ... counted at the first 429: what the key took at once
        self._first_shut = 0.0  # how long the first 429's pause held us (on_refusal: a trickle after it)
        self._paced_refusal = False  # a 429 came while pacing: the ceiling is measured, not guessed
        self.contended = False  # another client was seen racing us (on_contention)
        self._last_429 = 0.0  # when the last 429 (or lost race) came
        self._regrow_steps = 0  # quick regrow steps since then (climb.py, REGROW_MOST)
        self._regrow_held = 0.0  # the rate before the last regrow step, as far as it was admitted; 0: none
        # The last 429 came while our backoff held us past the server's hint (refusals.py): tries
        # refused again and again, another client holding the key. The regrow after it is as
        # out of a trickle, sooner and quick (climb.py).
        self._held_key = False
        # The best rate measured under an earlier X-RateLimit-Limit (on_new_limit): a cut key may
        # be given it back, and with headers on 429 only no answer says so (creep).
        self._best_before_new_limit = 0.0
        # The first sample's ceiling is a guess: it was a trickle under what the headers allow,
        # and the climb reached it with no 429 at our pace (climb.py).
        self._doubted = False
        self._spoken = False  # the last admitted answer carried Remaining and Reset (climb.py)

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
        held_back: bool = False,
        at_hint: bool = False,
    ) -> None:
        """A 429 at `now` (for a request the server refused at `refused_at`, in its frame), after
        which callers resume at `resume_at`; `admitted`: our admitted requests so far. `held_back`:
        our backoff had grown past the server's hint (on_held_back), refused try after try.
        `at_hint`: `resume_at` is where the server said capacity is back (its Retry-After or
        Reset), not a backoff of ours (_paced_sample)."""
        refused_at = now if refused_at is None else refused_at
        last = self._last
        lead = self._lead or 0.0
        if self._first_burst is None:
            self._first_burst = self._since_rest
        if last is None:
            self._first_shut = resume_at - refused_at
        idle, self._idle = self._idle, False
        no_demand, self._no_demand = self._no_demand, 0.0
        held = self._regrow_held  # 0 unless a regrow step came since the last 429
        self._climb_again_from(now)
        self._held_key = held_back
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
            later = resume_at >= last.resume_at
            self._last = _Saturation(max(resume_at, last.resume_at), admitted, at_hint if later else last.at_hint)
            self._lead = None
            return
        self._spell_start = refused_at
        self._spell_after_ours = self._since_rest > 0
        refused_rate: float | None = None  # the rate this 429 refused, where we were pacing
        if self.measured is not None and self._creep_ceiling is not None:
            # Refused at this rate: it is above what the key sustains for us now, so the creep
            # must stay clearly below it from here on (else it would find this 429 again).
            refused_rate = self.measured
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
        # So does a stretch spent mostly held by our own backoff past the server's hint
        # (on_held_back): one try per pause beside a tool that held the key is our pace, not
        # the key's.
        span = resume_at - last.resume_at if last is not None else 0.0
        idle = idle or no_demand > (1.0 - USED_SHARE) * span
        if last is not None and span > 0 and not idle:
            got = admitted - last.admitted
            sample = self._stretch_sample(got, span, limit, reserve)
            paced = self._paced_sample(sample, got, span, last, limit)  # the rate's reading (best: sample)
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
                # Less the time in it we had nothing to send or held ourselves past the server's
                # hint: the span stands for a window (climb.py, _creep_interval), and our own
                # pauses beside a tool that held the key doubled it.
                self._sample_span = span - no_demand
            elif sample > self.best_sample:
                self.best_sample = sample
            # Refused at our pace after a stretch that admitted `sample`: the key's rate lies
            # between the two, and the creep goes no higher than halfway (a bisection), where
            # that is below the cut of CEILING_CUT. Cut by 5% a time, a climb that went 10%
            # past the key found it again: a sliding counter of 20 per 8 s (2.5 per second),
            # headers on 429 only, was refused at 2.86 per second (pace 2.74), the ceiling cut
            # to 2.71 and the pace (2.61) refused 45 s later, 4 429s where
            # tests/test_ratelimit_property.py allows 3; the stretch had admitted 2.30, and
            # halfway the pace is 2.48: 3. Only over a stretch of a window or more (a part of
            # one reads a window's refill) whose own error is small (MIDWAY_ERROR): on a
            # sliding log of 20 per 2 s shared with a tool, a stretch of 4 s read 4.5 per
            # second where our share was 6.7, and halfway the daemon took 0.85 of what the tool
            # left where it took 0.94 (python -m bench budget). Only with the limit known:
            # without it, stretches read low more often (no limit per window to read a
            # stretch with), and alone on a key with no rate header 5,000 restarts took up to
            # 1.13 x the ideal where 1.07 (seven rows of python -m bench budget), though it
            # fixed a token bucket and a GCRA of Retry-After only that met the key three times
            # by the cut alone. Not after a regrow step: that stretch is mostly the rate cut
            # beside another client, far under the key (`held` reads it;
            # tests/test_shared_key_leave.py).
            long_enough = span >= self.window_floor and widened(1.0, span) <= 1.0 + MIDWAY_ERROR
            if refused_rate is not None and limit is not None and not held and long_enough:
                assert self._creep_ceiling is not None
                self._creep_ceiling = min(self._creep_ceiling, (refused_rate + sample) / 2)
            previous_rate = self.measured or 0.0
            if self.measured is None:
                self.measured = sample if from_rest is None else from_rest
            else:
                self.measured = min(paced, self.measured * DECREASE)
            if earlier_best is not None and previous_rate > earlier_best:
                self._back_toward_best(earlier_best, paced, span)
            # A 429 that ends a regrow (climb.py, REGROW_AFTER), quick out of a trickle or not:
            # the stretch since the last 429 is mostly the rate cut there and the climb from it.
            # Where it reads less than what the regrow's last step held for a whole creep
            # interval, with our requests using the pace (creep), that, less DECREASE, is the
            # better reading. `held` is 0 where the 429 ended no regrow. Not only under TRICKLE
            # of it: a sliding log of 60 per 10 s, regrown to 6.2 per second after a runaway left,
            # read 3.0 per second over the stretch, half of what the last step held and just over
            # TRICKLE of it, and the key was used at half its rate for five minutes more.
            if paced < held:
                self.measured = max(self.measured, held * DECREASE)
        elif self.measured is not None:
            self.measured *= DECREASE
        self._last = _Saturation(resume_at, admitted, at_hint)
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

    def _paced_sample(self, sample: float, got: int, span: float, last: _Saturation, limit: int | None) -> float:
        """What a stretch says of the rate to pace at, where that is not `sample`, its reading as a
        sample (_stretch_sample, which the best rate measured keeps): with no limit in any header,
        once we pace (a rate was learned before the stretch began), a stretch that began where the
        server said capacity was back is read over its own span, not the window floor. The floor's
        reading (what got through per floor and span) is for a burst that may have taken a
        window's allowance at once; at a pace ours come one by one, and from the server's own
        hint on, what it admitted is what it gives back now. Read against the floor, a token
        bucket of 18 per 57 s with Retry-After and no rate header, emptied by a regrow after a
        runaway tool left, admitted one of ours in the 2.9 s from its hint to the next 429: one
        per 63 s against the floor of 60 s learned beside the tool, where the key gives one per
        3.2 s. The rate was cut 86-fold for the ten minutes to the next regrow, cycle after cycle,
        and the rest took 5,535 s where the key allowed it in 976 (tests/test_runaway_property.py;
        1,490 s with this). The cut is still at least DECREASE (on_refusal). Not after a backoff
        of ours: it may end before capacity is back, and the stretch then counts a window's
        refill, or none. Nor for the best rate measured, which regrows climb to: one unit back
        right after another (a sliding log's slots age out at the pace they were taken) reads
        far above the key over a short span."""
        if limit is None and self.measured is not None and last.at_hint:
            return max(sample, got / span)  # the burst reading of a first sample stands
        return sample

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
        self._climb_again_from(now)
        self.contended = True
        if pace is None:
            return
        self.measured = pace * CONTENTION_DECREASE if self.measured is None else min(self.measured, pace) * CONTENTION_DECREASE
        # The creep stays below the pace that lost the race, as below one refused at (on_refusal):
        # back at that pace, the race is lost again (a token bucket shared with a steady third was
        # raced 19 times in 5,000 restarts, 5 with this cut). It regrows as every cut does (creep).
        self._creep_ceiling = pace if self._creep_ceiling is None else min(self._creep_ceiling, pace * (1.0 - CEILING_CUT))

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
        self._unasked(since, until)

    def on_held_back(self, since: float, until: float) -> None:
        """From `since` to `until` our own backoff held every request although the server's
        hint said capacity was back (refusals.py): like a time with nothing to send, it does not
        measure the key, and a stretch that is mostly such time is no sample (on_refusal). Unlike
        one, it ends no rest: a backlog was waiting."""
        self._unasked(since, until)

    def _unasked(self, since: float, until: float) -> None:
        """Count the part of `since` to `until` after the last resume point as time in which
        the key was not asked (_no_demand)."""
        if self._last is not None:
            self._no_demand += max(0.0, until - max(since, self._last.resume_at))

    def on_admitted(self) -> None:
        """One of our requests was admitted (an answer that was not a 429)."""
        self._used += 1
        self._since_rest += 1

    def rate(self, limit: int | None, reserve: int, *, share: float | None = None) -> float | None:
        """The sustained rate to pace under (before the safety margin), or None if unknown.
        `share`: our share of the key as the headers show it (budget.py), when they can."""
        rates = [r for r in (self.measured, self.from_headers(limit, reserve), share) if r is not None]
        return min(rates) if rates else None

