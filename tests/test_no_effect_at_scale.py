"""The "never decides" check (config/shadowing.py, said by config/no_effect.py) at a fleet's size:
compared every status rule with every earlier one, on the event loop, a reload of 2,000 team
rules left /healthz unanswered 9 s and a start of 5,000 took longer than the startupProbe's 60 s
(a probe's finding). Counted, not timed (tests/test_event_loop_lag.py says why): the glob matches
the check makes, and those made on the event loop's thread with no other task let run."""

from __future__ import annotations

import importlib
import random
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from fnmatch import fnmatchcase
from types import SimpleNamespace
from typing import Any

import pytest

from bench.never_decides import pair_by_pair, said_never_decides
from watchdog.config import no_effect_warnings
from watchdog.engine import core

from .support import ENVIRONMENT, daemon_config, in_process, sim_scenario
from .test_event_loop_lag import MAX_LAG, WorkClock, longest_stall, team_rules

NOW = datetime(2026, 12, 7, tzinfo=UTC)
# The modules that compare rules' selectors (shadowing.py is where the comparison moved).
CHECK_MODULES = [name for name in ("watchdog.config.no_effect", "watchdog.config.shadowing")
                 if importlib.util.find_spec(name) is not None]


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> WorkClock:
    """test_event_loop_lag's `work`: the engine's slices measured by the WorkClock."""
    work = WorkClock()
    monkeypatch.setattr(core, "time", SimpleNamespace(monotonic=work.monotonic))
    return work


class GlobMatches:
    """Counts each glob match the check makes; charges those made on the event loop's thread to
    the WorkClock (a worker thread's leave the loop free: /healthz is answered meanwhile)."""

    COST = 0.0001  # as test_event_loop_lag.RuleMatches: 4,000 matches in one go are 0.4 s

    def __init__(self, monkeypatch: pytest.MonkeyPatch, work: WorkClock | None = None) -> None:
        self.count = 0
        self.on_loop = 0
        loop_thread = threading.get_ident()

        def counted(name: str, pattern: str) -> bool:
            self.count += 1
            if threading.get_ident() == loop_thread and work is not None:
                self.on_loop += 1
                work.spend(self.COST)
            return fnmatchcase(name, pattern)

        for name in CHECK_MODULES:
            monkeypatch.setattr(importlib.import_module(name), "fnmatchcase", counted)


async def test_a_reload_of_2000_team_rules_checks_what_does_nothing_off_the_event_loop(
        monkeypatch: pytest.MonkeyPatch, clock: WorkClock) -> None:
    # The probe's fleet: a status rule per team (two names and a glob each), a catch-all last,
    # and a reload of the same rules plus one. Every rule compared with every earlier one on the
    # event loop was about 6 million glob matches with nothing else let run.
    w = in_process(sim_scenario([]), daemon_config(team_rules(2000)))
    daemon = w.daemon
    daemon._reload_config = lambda: daemon_config(team_rules(2001))
    matches = GlobMatches(monkeypatch, clock)
    try:
        stalled = await longest_stall(daemon.reload("test"), clock)
        assert matches.on_loop * GlobMatches.COST <= MAX_LAG, (
            f"the reload made {matches.on_loop} glob matches of the check on the event loop")
        assert stalled <= MAX_LAG, f"the reload held the event loop {stalled:.2f} s of counted work at once"
        assert len(daemon.config.rules) == 2002
    finally:
        await daemon.stop()


@pytest.mark.parametrize("shape", ["team-{i}-*", "*-team-{i}"], ids=["prefix", "suffix"])
def test_the_check_costs_a_few_glob_matches_a_rule_not_one_per_pair_of_rules(
        monkeypatch: pytest.MonkeyPatch, shape: str) -> None:
    # 2,000 team rules, a catch-all, and a rule written again under a team's (it never decides):
    # compared pair by pair, 2 million glob matches (8.7 s at each reload and start).
    rules: list[dict[str, Any]] = [
        {"name": f"team-{i}", "trigger": {"type": "status"}, "select": {"include": [shape.format(i=i)]}}
        for i in range(2000)]
    rules += [{"name": "late", "trigger": {"type": "status", "interval": 5}, "select": {"include": [shape.format(i=7)]}},
              {"name": "heal", "trigger": {"type": "status"}, "select": {"include": ["*"]}}]
    config = daemon_config(rules)
    matches = GlobMatches(monkeypatch)
    found = no_effect_warnings(config, NOW)
    assert matches.count <= 10 * len(rules), f"{matches.count} glob matches for {len(rules)} rules"
    assert found == [
        "rules[2000] (late): never decides: every connector it selects is selected first by rules[7] (team-7), and the "
        "first enabled status rule that selects a connector is the one that acts on it, so its max_restarts, backoff "
        "and windows are never applied; its interval (5s) still polls the clusters it selects that often, API calls "
        "for nothing; move it above rules[7] or narrow rules[7]"]


# -- the same rule named as by comparing every rule with every earlier one (bench/never_decides.py)

def random_rules(seed: int, count: int) -> Iterator[dict[str, Any]]:
    pick = random.Random(seed)
    names = ["orders-sink", "orders-source", "audit-sink", "ab", "x", "team-1-sink", "team-11-sink"]
    globs = ["*", "orders-*", "*-sink", "*sink*", "orders-s*", "o*s-*", "team-1*", "team-1-*", "team-?-sink",
             "orders-[st]*", "[ot]*", "*-test", "a[[]b]", "a[b]", "ab", "orders-sink", "x", "*rde*"]
    for i in range(count):
        select: dict[str, Any] = {}
        if pick.random() < 0.5:
            select["connectors"] = pick.sample(names, pick.randint(1, 2))
        if "connectors" not in select or pick.random() < 0.5:
            select["include"] = pick.sample(globs, pick.randint(1, 2))
        if pick.random() < 0.3:
            select["exclude"] = pick.sample(globs, 1)
        if pick.random() < 0.3:
            select["clusters"] = pick.sample(["prod-*", "prod-a", "dev", "*"], 1)
        trigger = {"type": "status"} if pick.random() < 0.85 else {"type": "alert", "match": {"alertname": "X"}}
        yield {"name": f"r{i}", "trigger": trigger, "select": select,
               "enabled": pick.random() < 0.9, "dry_run": pick.random() < 0.2}


@pytest.mark.parametrize("seed", range(6))
def test_the_index_names_the_rule_comparing_every_pair_names(seed: int) -> None:
    clusters = {name: {"environment_id": ENVIRONMENT, "kafka_cluster_id": f"lkc-{name[-1]}0{seed}"}
                for name in ("prod-a", "prod-b", "dev")}
    config = daemon_config(list(random_rules(seed, 120)), token="a-token-of-at-least-16-chars", clusters=clusters)
    expected = pair_by_pair(config)
    assert expected, "the seed makes no rule that never decides: it tests nothing"
    assert said_never_decides(no_effect_warnings(config, NOW)) == expected
