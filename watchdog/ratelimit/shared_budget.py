"""API keys of one daemon that the server counts in one budget, found from their answers.

Confluent limits requests "both per user and organization-wide" (research note §3.1), and the
daemon keeps one limiter per API key. Where two of its keys are counted in one budget, each
key's limiter sees Remaining fall faster than its own requests explain, takes the other key for
another client, and leaves it its share (share.py). Both do, and the split between them drifts
apart instead of settling: one key took nearly the whole budget and the other a trickle, which
took a minute or more to come back once the first had finished. 200 restarts on each of two keys
under 20 per 2 s for both took 1.46 x the ideal time on a fixed window, 2.70 x on a sliding log
(benchmark 1f, headers on every answer).

Nothing in an answer says which keys share a budget, so it is read from what their answers say.
Each successful answer that says Remaining is compared with earlier answers of this period (sent
out after them, and answered before the earliest end their Reset allows: a whole-second Reset
may have been rounded up by a second), in two tests:

- **The fall**: from an earlier answer of the same key to this one, did Remaining fall by more
  than every request of that key the server may have counted between them (each whose time on
  the way overlaps the span, and those still in flight)? Passed, where the other key had
  requests surely counted in that span (sent after the first answer came back, answered, not
  429, before the second went out). Failed, where it fell by less than the requests of both keys
  surely counted there: the other key's did not count in this budget.
- **The counter**: from an earlier answer of the other key to this one, did Remaining fall by as
  much as one counter spent by both keys would: at least the requests of both surely counted
  between them, at most those that may have been? Failed, where it fell by less. Only where one
  of the other key's requests was surely counted in the span: without one, two counters spent
  alike read the same.

Two keys are **joined** once each test passed at least `JOIN_PASSES` times, the fall at least
twice as often as it failed and the counter four times as often.

Why each test needs the other, and why neither joins keys with budgets of their own:

- A client outside the daemon makes a key's Remaining fall by more than its own requests: the fall
  test alone joined keys beside such clients (tests/test_shared_budget.py). Two counters spent
  alike read as one now and then by chance, and two keys of budgets of their own, each spending
  its own at the same pace, joined on the counter test alone (benchmark 1f's "per key" rows).
  Together: what would join two such keys is a client outside the daemon that takes, on each
  key, what the other key sends, request for request. Then the joined lane paces both keys at
  one budget: slower than the keys allow, never past what either key's answers say it admits.
- A budget that came back within a span (a new window, a token bucket's refill) only makes the
  fall smaller: it can fail a test, never pass one. So on a server that refills as it is spent
  (a sliding log, a sliding counter, a token bucket, a GCRA) the tests pass too seldom, and such
  keys are not joined: spent to its end, the budget's Remaining stays near 0 whoever spends it
  (benchmark 1f: left open).
- Only answers that carry Remaining on success can join keys. With Remaining on 429s only, as
  Confluent documents, nothing is learned here, and each key's limiter keeps to its own pace
  (1.006 to 1.335 x the ideal in benchmark 1f).

A join lasts until the daemon stops: nothing in an answer says when keys stop sharing, and a
lane joined for nothing costs only pace. The joined limiters keep one fresh state (limiter.py,
RateLimiter.start_afresh and share_with), as the clusters of one key do.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from itertools import takewhile

# Answers kept per key: a test spans less than one reset period, which at the rates the limiter
# meets holds far fewer of a key's answers than this.
ANSWERS_KEPT = 256
# A join needs, of each kind of test between two keys, this many passed ...
JOIN_PASSES = 8
# ... and at least this many passes per failed one: a key's Remaining falling by more than its
# own requests (another client can do that too) ...
PASSES_PER_FAIL_FALL = 2
# ... and two keys' Remaining read as one counter, which two counters do now and then by chance.
PASSES_PER_FAIL_COUNTER = 4
# A test spans at most this long (of a longer Reset, its last this many seconds): each answer is
# compared with the answers of this long before it, which bounds the cost of the tests (measured
# on a shared 2-core machine, keys with budgets of their own, so that the tests never stop, 100
# answers a second: 0.17 to 0.20 ms an answer with two keys, 0.55 to 0.65 ms with ten; at the
# default local ceilings, 10 a second per key, under 1 % of a core with two keys, 6 % with ten).
SPAN_MOST_SECONDS = 10.0


@dataclass(frozen=True, slots=True)
class Answered:
    """One request of a key, as far as the sharing tests need it."""

    sent_at: float
    answered_at: float
    counted: bool  # answered, not 429: surely counted by the server
    remaining: int | None  # its X-RateLimit-Remaining, on a successful answer
    period_lasts: float  # its reset period lasts at least until here (-inf: unknown)


@dataclass
class Tally:
    passed: int = 0
    failed: int = 0

    def add(self, verdict: bool | None) -> None:
        if verdict is True:
            self.passed += 1
        elif verdict is False:
            self.failed += 1

    def shows(self, passes_per_fail: int) -> bool:
        return self.passed >= JOIN_PASSES and self.passed >= passes_per_fail * self.failed


class SharedBudgets:
    """The tests between the daemon's keys, and the joins they lead to. `join(lanes, evidence)`
    is called once per join with every lane of the joined group, the first its root: from then
    on their limiters keep one state."""

    def __init__(self, join: Callable[[list[str], dict[str, int]], None]) -> None:
        self._join = join
        self._answers: dict[str, deque[Answered]] = {}
        self._in_flight: defaultdict[str, int] = defaultdict(int)  # sent, not yet ended
        self._longest_reset = 0.0  # the longest Reset any key's answer said
        self._root: dict[str, str] = {}  # lane -> the lane whose group it is in (itself: its own)
        # Tests between two groups of lanes, by their roots in name order: the fall test, the
        # counter test (see the module's docstring).
        self._falls: defaultdict[tuple[str, str], Tally] = defaultdict(Tally)
        self._counters: defaultdict[tuple[str, str], Tally] = defaultdict(Tally)

    def add(self, lane: str) -> None:
        self._answers.setdefault(lane, deque(maxlen=ANSWERS_KEPT))
        self._root.setdefault(lane, lane)

    def root(self, lane: str) -> str:
        while self._root[lane] != lane:
            lane = self._root[lane]
        return lane

    def joined(self, lane: str, other: str) -> bool:
        return self.root(lane) == self.root(other)

    def on_send(self, lane: str) -> None:
        self._in_flight[lane] += 1

    def on_answer(
        self, lane: str, sent_at: float, answered_at: float, *, status: int | None,
        remaining: int | None = None, reset: float | None = None,
    ) -> None:
        """A request of `lane` ended: answered with `status` (None: failed before an answer)."""
        self._in_flight[lane] = max(0, self._in_flight[lane] - 1)
        if len(self._answers) < 2 or lane not in self._answers:
            return
        counted = status is not None and status != 429
        worded = counted and status is not None and 200 <= status < 300 and remaining is not None
        lasts = float("-inf")
        if worded and reset is not None:
            # Whole-second Resets are rounded up: the period may end up to a second before it says.
            lasts = sent_at + reset - 1.0
            self._longest_reset = max(self._longest_reset, reset)
        answer = Answered(sent_at, answered_at, counted, remaining if worded else None, lasts)
        self._answers[lane].append(answer)  # in the order answered
        if worded:
            self._test(lane, answer)

    # -- the tests -------------------------------------------------------------------------------

    def _test(self, lane: str, latest: Answered) -> None:
        # Only answers of the last longest Reset can be in a test with this one: an earlier one's
        # period has surely ended, and a request answered before it went out is in no span (and
        # no span is longer than SPAN_MOST_SECONDS).
        roots = {name: self.root(name) for name in self._answers}
        if len(set(roots.values())) == 1:
            return  # every key already joined: nothing left to tell apart
        since = latest.answered_at - min(self._longest_reset, SPAN_MOST_SECONDS)
        groups: defaultdict[str, list[Answered]] = defaultdict(list)
        in_flight: defaultdict[str, int] = defaultdict(int)
        for name, answers in self._answers.items():
            recent = list(takewhile(lambda a: a.answered_at > since, reversed(answers)))
            groups[roots[name]].extend(reversed(recent))
            in_flight[roots[name]] += self._in_flight[name]
        for recent_of_group in groups.values():
            recent_of_group.sort(key=lambda a: a.answered_at)  # a group of several keys: interleaved
        root = roots[lane]
        for other in sorted(groups.keys() - {root}):
            if not groups[other]:
                continue
            pair = (root, other) if root < other else (other, root)
            span = Span(latest, since, groups[root], groups[other], in_flight[root], in_flight[other])
            self._falls[pair].add(span.fall_test())
            self._counters[pair].add(span.counter_test())
            if self._falls[pair].shows(PASSES_PER_FAIL_FALL) and self._counters[pair].shows(PASSES_PER_FAIL_COUNTER):
                self._merge(pair)
                return  # the groups changed: the next answer tests the rest against them

    def _merge(self, pair: tuple[str, str]) -> None:
        target, moving = pair
        evidence = {"falls_passed": self._falls[pair].passed, "falls_failed": self._falls[pair].failed,
                    "counters_passed": self._counters[pair].passed, "counters_failed": self._counters[pair].failed}
        self._root[moving] = target
        group = [target] + sorted(name for name in self._root if name != target and self.root(name) == target)
        self._join(group, evidence)


@dataclass(frozen=True)
class Span:
    """One answer of a group (`latest`) and the recent answers of that group and of another
    (answered after `since`), in the order answered, with how many of each are still in flight.
    An earlier answer to compare with is one sent after `since`: every request that overlaps the
    span from it to `latest` is then among those recent answers, or in flight."""

    latest: Answered
    since: float
    ours: list[Answered]
    theirs: list[Answered]
    ours_in_flight: int
    theirs_in_flight: int

    def fall_test(self) -> bool | None:
        """Between an earlier answer of this group and `latest`, did Remaining fall by more than
        this group's requests can explain (True), or by less than its and the other group's
        surely counted ones (False)? None: no earlier answer of this period, or none of theirs
        surely counted in between."""
        latest = self.latest
        earliest = next((a for a in self.ours if a.remaining is not None and a.sent_at >= self.since
                         and a.answered_at < latest.sent_at and latest.answered_at < a.period_lasts), None)
        if earliest is None:
            return None
        theirs = _surely_between(self.theirs, earliest, latest)
        if theirs == 0:
            return None
        fall = _fall(earliest, latest)
        if fall > self.ours_in_flight + _maybe_between(self.ours, earliest, latest):
            return True
        if fall < 1 + _surely_between(self.ours, earliest, latest) + theirs:
            return False
        return None

    def counter_test(self) -> bool | None:
        """Do `latest` and an earlier answer of the other group read as one counter, spent by
        both groups' requests between them (True), or can they not (False)? None: no such answer
        of this period with one of theirs surely counted after it, or a fall larger than both
        groups explain (another client, or two counters)."""
        latest = self.latest
        # Their earliest answer of this period with one of their requests surely counted after it
        # and before ours (without one, one counter and two spent alike read the same here): the
        # longest span, the most of both groups' requests to tell one counter from two.
        last_sent = max((b.sent_at for b in self.theirs if b.counted and b.answered_at < latest.sent_at), default=None)
        if last_sent is None:
            return None
        earliest = next((a for a in self.theirs if a.remaining is not None and a.sent_at >= self.since
                         and a.answered_at < last_sent and latest.answered_at < a.period_lasts), None)
        if earliest is None:
            return None
        fall = _fall(earliest, latest)
        if fall < 1 + _surely_between(self.ours, earliest, latest) + _surely_between(self.theirs, earliest, latest):
            return False
        at_most = (self.ours_in_flight + self.theirs_in_flight + _maybe_between(self.ours, earliest, latest)
                   + _maybe_between(self.theirs, earliest, latest))
        return True if fall <= at_most else None


def _fall(earliest: Answered, latest: Answered) -> int:
    assert earliest.remaining is not None and latest.remaining is not None
    return earliest.remaining - latest.remaining


def _within(answer: Answered, earliest: Answered, latest: Answered) -> bool:
    """`answer`'s request was surely counted after `earliest`'s and before `latest`'s: sent after
    the first was answered, answered before the second went out."""
    return answer.sent_at > earliest.answered_at and answer.answered_at < latest.sent_at


def _surely_between(answers: Iterable[Answered], earliest: Answered, latest: Answered) -> int:
    return sum(1 for a in answers if a.counted and _within(a, earliest, latest))


def _maybe_between(answers: Iterable[Answered], earliest: Answered, latest: Answered) -> int:
    """Requests the server may have counted after `earliest` and up to `latest` (`latest`'s own
    included): every one whose time on the way overlaps that span."""
    return sum(1 for a in answers if a is not earliest and a.answered_at > earliest.sent_at and a.sent_at < latest.answered_at)
