"""How the rate learned from refusals climbs back after a cut (estimate.py).

`Climb` is mixed into `RateEstimate`: the estimate decides what a 429 or a lost race does to the
rate (the decrease), this the increase between them (AIMD's additive increase, and the regrow).

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
first sample is a trickle for sure (shorter than the first 429's pause; on_refusal); so is a
ceiling under a quarter of N per longest Reset (a first sample taken while another tool still held
the key): at the ceiling, while our requests use the pace (USED_SHARE), the ceiling and the rate
rise by GUESS_STEP until a 429 at pace fixes it. Each 429 at our pace, and each race lost to
another client, cuts the ceiling `CEILING_CUT` below the pace it came at (and, with the limit known
and after a stretch of a window and 11 s or more, to halfway between that pace and what the
stretch admitted where that is lower: estimate.py, on_refusal); a quarter hour after the
last one (`REGROW_AFTER`) the rate and a cut ceiling rise again, while our requests use the pace,
since the client that took the difference may have left: by `CREEP_STEP` a step, and, out of a
trickle (under `TRICKLE` of the best rate measured, as beside a tool that took nearly the whole
key; where a header said the limit N and another client raced us, of no less than half N per
longest Reset), ten minutes after it (`TRICKLE_REGROW_AFTER`), 2% the first step and twice as much
each step after, up to half (`REGROW_MOST`), one step per creep interval even where the trickle's
pace sends less than one request per interval. After a 429 met while our backoff held us past
the server's hint (another client holding the key: `_held_key`), the regrow starts ten minutes
after it too, and goes quickly to the best rate measured from whatever rate that client left us,
trickle or not. A regrow once begun goes on, by `CREEP_STEP` a step where it is not quick,
without waiting for the quarter hour. A 429 that ends a regrow is read against what the climb's
last step held for a whole interval wherever the stretch since the last 429, mostly the cut rate,
reads less (estimate.py, on_refusal).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .estimate import _Saturation

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
# Out of a trickle (TRICKLE) the rate rises by CREEP_STEP the first step and by twice the last
# step's share each step after, up to REGROW_MOST (TCP's slow start after idle, clocked by admitted
# answers as it is by ACKs): a daemon whose share beside a tool that took nearly the whole key (a
# loop that ignores 429s) was learned as a trickle of 0.008 per second climbed 2% an answer, one
# answer every two minutes, and 200 restarts (10 per 10 s, no rate header) took up to 6,788 s
# after the tool left, where the key allowed them in 200 s; then at most 3,814 s, 2,040 s where a
# Retry-After comes with each 429 (docs/benchmarks.md 1c; 3,402 and 1,103 s since 2026-12-05).
REGROW_AFTER = 900.0
REGROW_INTERVALS = 20
REGROW_MOST = 0.5
# ... and out of a trickle (TRICKLE) after this long: the gain is most of the key and the cost the
# same 429 or two if the other client is still there (a quick step that meets it is read against
# what the last step held, estimate.on_refusal), so it is tried sooner. Still far more than a
# window: a runaway tool that holds the key for ten minutes sees no probe of ours at all.
TRICKLE_REGROW_AFTER = 600.0
# ... but only out of a trickle: a rate under this share of what the key allows (creep). Above
# it, on a key still shared, the regrow goes by CREEP_STEP as it did: quick steps from a rate cut
# a little there (a tool that bursts once a window) went past the tool's share in steps of 8 to
# 16%, and in the benchmark's rows shared with a bursty tool the tool took up to twice the 429s
# (62 to 118 over 5,000 restarts on a token bucket); with this bound 6 rows of 192 moved, by a
# little (docs/benchmarks.md 1, "One more of 2026-12-04").
TRICKLE = 0.5
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


# Far past any cap: 2 ** 1024 no longer converts to a float, and 1,025 refusals in a row (some
# 13 hours of a key another tool holds whole, at pauses of up to a minute) made every 429 raise
# OverflowError instead of pausing: each call then went out at once and ended in an internal error
# (refusals.py). The quick regrow's steps (_regrow_toward) double the same way.
_MAX_DOUBLINGS = 64


def doubled(times: int) -> float:
    """2 ** times, for a growth that a cap bounds anyway (a backoff, a regrow's step)."""
    return 2.0 ** min(times, _MAX_DOUBLINGS)


class Climb:
    # The estimate's parts this uses (RateEstimate sets them; estimate.py says what each holds).
    measured: float | None
    contended: bool
    _creep_ceiling: float | None
    _sample_span: float
    _last: _Saturation | None
    _later_start_bound: float | None
    _longest_reset: float
    _quiet_since: float
    _used: int
    _idle: bool
    _paced_refusal: bool
    _last_429: float
    _regrow_steps: int
    _regrow_held: float
    _held_key: bool
    best_sample: float | None
    _best_before_new_limit: float
    _doubted: bool
    _spoken: bool

    def _quiet(self, now: float) -> None:
        """A 429, a lost race or a creep step: the next step is a creep interval from now."""
        self._quiet_since = now
        self._used = 0

    def _climb_again_from(self, now: float) -> None:
        """A 429 or a lost race at `now`: the next step is a creep interval away, a regrow waits
        REGROW_AFTER from here, and a quick one starts again at CREEP_STEP with nothing held."""
        self._quiet(now)
        self._last_429, self._regrow_steps, self._regrow_held = now, 0, 0.0
        self._held_key = False  # on_refusal says otherwise where the key was held

    def _pace_was_used(self, now: float, pace: float | None) -> float | None:
        """What of ours was admitted per second since the last step, counted from the end of a
        pause after a 429 (nothing may go before it), if that used the pace (USED_SHARE); else
        None, and the stretch since the last resume point is no sample of the key's rate
        (on_refusal)."""
        since = max(self._quiet_since, self._last.resume_at if self._last is not None else -math.inf)
        elapsed = max(0.0, now - since)
        used = pace is not None and self._used >= USED_SHARE * pace * elapsed
        self._idle = self._idle or not used
        if not used:
            return None
        return self._used / elapsed if elapsed > 0 else pace

    def creep(
        self, now: float, limit: int | None = None, *, pace: float | None = None, words_on_success: bool = False
    ) -> bool:
        """Called after each admitted answer (on_admitted first); True when the rate rose.
        `limit`: X-RateLimit-Limit, if known. `pace`: the rate we send at (requests per second),
        which tells whether our requests use it (USED_SHARE); None: not pacing.
        `words_on_success`: successful answers carry Remaining and Reset (the server describes
        its budget as we spend it), so the climb need not hurry (_creep_interval)."""
        self._spoken = words_on_success
        interval = self._creep_interval(limit, words_on_success)
        if self.measured is None or self._creep_ceiling is None or now - self._quiet_since < interval:
            return False
        # A 429 would answer a probe above the ceiling only if our requests went at the pace.
        achieved = self._pace_was_used(now, pace)
        busy = achieved is not None
        # Whole creep intervals since the last step. At a trickle's pace fewer than one request
        # goes per interval, and a regrow clocked by answers alone stepped once per request:
        # at 0.008 per second, once every two minutes (_regrow_toward).
        intervals = max(1, int((now - self._quiet_since) // interval))
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
        # Out of a trickle, quickly back toward the best rate measured, ten minutes after the last
        # 429 (TRICKLE_REGROW_AFTER, REGROW_MOST); from there, and past the best, by CREEP_STEP, as
        # below. Where a header said the limit and another client was seen racing us, toward no
        # less than TRICKLE of N per longest Reset: beside a tool that held the key from our first
        # request on, the best rate measured was the trickle itself, and no regrow was ever quick.
        # In a random draw of bench/leave.py's runaway (16 per 39 s, a sliding counter, headers on
        # every answer) 400 restarts then waited 27,371 s after the tool left where the key allowed
        # them in 917. Not toward N per longest Reset itself: next to a bursty tool that uses a
        # third of a key, quick steps past the best measured took the tool's share (python -m
        # bench budget, sliding counter of 60 per 10 s: the tool's 429s 76 to 124 over 5,000
        # restarts). Nor where nobody raced us: N per longest Reset is a bound, not a rate, and
        # where only 429s carry the headers a fixed window's 429s come near its end, with a Reset
        # of a second: a key cut to 6 per 10 s and given its 60 back read "60 per second", and the
        # quick regrow toward half that met a 429 twice every quarter hour
        # (tests/test_ratelimit_changes.py). There a first sample far under the headers' rate is
        # a guess instead (_doubted, below).
        best = min(self.best_sample or 0.0, cap)  # N per longest Reset bounds it too (docstring)
        if math.isfinite(cap) and self.contended:
            best = max(best, cap * TRICKLE)
        if achieved is not None and self._regrowing(now, limit):
            # What the key carried of ours over the whole interval just ended, at the rate before
            # this step: a 429 that ends a regrow reads its stretch against it (estimate.py,
            # on_refusal). That stretch began at the trickle: read alone, a fixed window of 6 per
            # second, met at 5.7 per second after the runaway left, read 1.7 per second, and
            # bench leave's first table (headers on 429 only) regained 0.9 of the key 33 minutes
            # after the tool left; 23 with this.
            self._regrow_held = min(self.measured, achieved)
        quick = self.measured < best * TRICKLE
        # Once begun, beside a client that raced us, the quick regrow goes on to `best`, not only
        # out of the trickle: there `best` is the headers' bound, and the steps of CREEP_STEP from
        # half of it left a token bucket of 60 per 10 s used at half its rate for ten minutes
        # after the tool that held it left (bench leave: 0.9 of it regained after 24 minutes; 20
        # with this). And after a 429 met while another client held the key (_held_key), from any
        # rate under `best`: the rate cut at our pace as that client came was no trickle (a
        # sliding log of 60 per 10 s, two thirds of the best measured), and only the quarter-hour
        # regrow by CREEP_STEP took the key back, 23 minutes after the tool left (bench leave; 16
        # with this and estimate.on_refusal's reading of the 429 that ends it). Not from any rate
        # where nothing held the key: a key cut to 6 per 10 s and given its 60 back met 4 429s in
        # the 50 minutes after, where 2 without and the bound of tests/test_ratelimit_changes.py
        # is 3: the quick steps went on past half the best and overshot the key.
        if self.measured < best and (self._held_key or (self.contended and self._regrow_steps > 0)):
            quick = True
        if achieved is not None and quick and self._regrows(now, limit, TRICKLE_REGROW_AFTER):
            return self._regrow_toward(best, ceiling, achieved, intervals)
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
        # A ceiling under a quarter (TRICKLE of TRICKLE) of what the headers allow, with no 429
        # at our pace and no race (below), is a guess too, from then on: a first sample taken
        # while another tool still held the key is a share of it that tool has since given back,
        # and alone a key reads no less than about half its N per longest Reset. Just after a
        # runaway left a token bucket of 60 per 10 s, the first sample read 1.0 per second, and
        # nothing raised the ceiling for a quarter hour. Not under half: where only 429s carry
        # the headers, a fixed window's 429s come late in it, and alone on a key of 20 per 2 s a
        # Reset of 1 s put N per longest Reset at twice the key's rate; the guess's climb then
        # cost one or two more 429s per run (python -m bench budget, alone, 5,000 restarts, the
        # aligned and the anchored window: 4 and 3 where 2).
        self._doubted = self._doubted or ceiling < cap * TRICKLE * TRICKLE
        if (limit is None or self._doubted) and not self._paced_refusal and not self.contended:
            # ... by GUESS_STEP where it is only a guess (no header said the limit, or the first
            # sample was a trickle under it, and no 429 has yet come at our pace), until a 429 at
            # pace fixes it below (on_refusal): one 429 per run buys the key's real rate, where a
            # low guess would cost time for good;
            grow = GUESS_STEP
        elif ceiling < cap and self._regrowing(now, limit):
            grow = CREEP_STEP  # ... by CREEP_STEP where cut by 429s long ago (REGROW_AFTER).
        else:
            return False
        self._creep_ceiling = min(cap, ceiling * (1.0 + grow))
        self.measured = min(self._creep_ceiling, self.measured * (1.0 + grow))
        return True

    def _regrow_toward(self, best: float, ceiling: float, achieved: float, intervals: int) -> bool:
        """A quick step of the regrow toward `best`, the best rate measured (REGROW_MOST): the
        rate, and the ceiling where it reaches it. `achieved`: ours admitted per second over the
        interval just ended, at the rate before this step: what the key is known to have taken
        (estimate.py, on_refusal, reads it if the step finds a 429). `intervals`: whole creep
        intervals since the last step, each one step."""
        assert self.measured is not None
        self._regrow_held = min(self.measured, achieved)
        for done in range(intervals):
            if self.measured >= best:
                # The rest of the steps would leave the rate at `best`: count them, no more.
                # At a trickle of 0.00005 per second, ten answers in 55 hours made 1,666 steps
                # of one call, and 2.0 ** 1,024 raised OverflowError on the answer.
                self._regrow_steps += intervals - done
                break
            grow = min(REGROW_MOST, CREEP_STEP * doubled(self._regrow_steps))
            self._regrow_steps += 1
            self.measured = min(best, self.measured * (1.0 + grow))
        self._creep_ceiling = max(ceiling, self.measured)
        return True

    def _regrowing(self, now: float, limit: int | None) -> bool:
        """The regrow has begun: a quick step was taken, or no 429 came for long enough. Once
        begun it goes on: after a quick regrow out of a trickle stopped at TRICKLE of the best
        rate, the climb waited for REGROW_AFTER before its first CREEP_STEP, five minutes at half
        the key (bench leave, a fixed window given back, headers on 429 only: 0.9 of it regained
        23 minutes after the tool left; 20 with this)."""
        return self._regrow_steps > 0 or self._regrows(now, limit)

    def _regrows(self, now: float, limit: int | None, after: float | None = None) -> bool:
        """A cut ceiling, and the rate with it, may rise while our requests use the pace
        (REGROW_AFTER): it was cut by 429s or races, or set by a first sample under what a header
        says the key allows (a guessed one, no limit said, rises anyway, in creep), and no 429
        has come for long. The first sample may come from a stretch another client still held
        in part: taken just after a runaway tool left (60 per 10 s), it read 1.0 per second, and
        with no 429 at our pace since, the key was used at a sixth of its rate for good."""
        if not (self._paced_refusal or self.contended or limit is not None):
            return False
        if after is None:
            # After a 429 met while another client held the key, as out of a trickle: the wait
            # is what tells a key still held, and ten minutes is many windows of one.
            after = TRICKLE_REGROW_AFTER if self._held_key else REGROW_AFTER
        return now - self._last_429 >= max(after, REGROW_INTERVALS * self._creep_interval(limit))

    def _creep_interval(self, limit: int | None, words_on_success: bool = False) -> float:
        # Quick steps only toward a ceiling the headers cap at N per longest Reset. Without the
        # limit the ceiling is a wide guess (twice the sample over a span of 1 s), and stepping
        # toward it once a window crossed one request per second at the first step, with a sample
        # over two seconds that left the pace at half the key's rate: 2.2 x the ideal, not 1.5.
        quick = limit is not None and not self.contended and not self._paced_refusal
        if not quick:
            # Where every answer carries the headers, the longest Reset seen is about the window
            # (answers at every phase of it), and a first sample's span longer than that is no
            # window: beside a tool that held the key, one of ours got in over two minutes on a
            # key of 60 per 10 s, and the regrow waited 40 minutes and stepped every two. Not
            # where only 429s carry them: there a fixed window's 429s come near its end, with a
            # Reset of a second. Nor for the quick climb below: on a key of 20 per 2 s shared
            # from the start, a step a second took past our share (python -m bench reserve,
            # reserve 1 on a token bucket: the other tool's 429s 4 to 40).
            if limit is not None and self._longest_reset > 0 and self._spoken:
                return max(CREEP_EVERY, min(self._sample_span, self._longest_reset))
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
