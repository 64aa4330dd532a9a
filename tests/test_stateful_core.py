"""A model-based test of the core: random interleavings of what production throws at the engine,
the queue, the limiter and the state store, checked against what the docs promise after every
step.

The daemon's own objects do the work (poller, engine, queue, rate limiter, HTTP client, SQLite
state file) against the simulator through httpx.ASGITransport, on a virtual-time event loop
(bench/virtualtime.py): a day's step or a one-hour Retry-After costs milliseconds. Steps: polls
with connectors changing state (running, failed, paused, stopped, provisioning, user and config
errors), vanishing and coming back; restarts asked for by name, schedule runs, alerts firing and
resolving; the restart endpoint answering 404, 409, 429 with and without headers, 5xx, past the
call's timeout and not at all (a dropped connection); reloads changing the status rule's budget,
backoff and selection, dry run and a global blackout window; time moving by seconds to days; the
daemon stopped, or killed, and started again on the same state file.

Bounded for the suite (derandomized, 5 examples of 30 steps); run it longer with, say,
STATEFUL_EXAMPLES=1000 STATEFUL_STEPS=50 (and pytest's --timeout raised).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import random
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, TypeVar
from unittest import mock

import httpx
import structlog
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule
from pydantic import SecretStr

from bench.virtualtime import VirtualTimeLoop
from watchdog.alerts import Alert
from watchdog.app import Daemon
from watchdog.config import Config, Credential, build_config
from watchdog.engine import MANUAL_RULE
from watchdog.engine.recorder import may_have_restarted
from watchdog.model import ConnectorKey, Outcome, Trigger
from watchdog.queue.job import Phase
from watchdog.simulator import Scenario, Simulator
from watchdog.simulator import create_app as create_simulator_app
from watchdog.state import open_store

from .conftest import TEST_API_KEY, TEST_API_SECRET
from .faults.record import JobLedger

T = TypeVar("T")
EPOCH = datetime(2026, 3, 2, 12, tzinfo=timezone.utc)  # a Monday, noon UTC
ENVIRONMENT, CLUSTER, CLUSTER_ID = "env-state1", "prod", "lkc-state1"
NAMES = ("alpha", "beta", "gamma", "delta")  # delta is never selected by the status rule
SELECTED = ("alpha", "beta", "gamma")
SCHEDULED = ("beta", "delta")  # the schedule rule's
ALERTED = ("gamma", "delta")  # the alert rule's
NEVER_RESTARTED = {"PAUSED", "STOPPED", "PROVISIONING"}
# FAILED thrice: most sequences should have something to restart.
STATES = ("RUNNING", "FAILED", "FAILED", "FAILED", "PAUSED", "STOPPED", "PROVISIONING", "USER_ACTIONABLE_ERROR", "CONFIG_ERROR")

RESTART_ANSWERS: list[dict[str, Any]] = [
    {"status": 404},
    {"status": 409},
    {"status": 429},
    {"status": 429, "headers": {"Retry-After": "30"}},
    {"status": 429, "headers": {"X-RateLimit-Reset": "5", "X-RateLimit-Remaining": "0"}},
    {"status": 500},
    {"status": 503, "headers": {"Retry-After": "3600"}},
    {"delay_seconds": 120.0},  # past the call's total timeout
    {"reset": True},  # the connection dropped: the answer lost
]


def config(path: Path, *, max_restarts: int | None, base: float, dry_run: bool, select: tuple[str, ...],
           blackout: list[str]) -> Config:
    data: dict[str, Any] = {
        "api": {"base_url": "http://sim"},
        "credentials": {"main": {}},
        "clusters": {CLUSTER: {"environment_id": ENVIRONMENT, "kafka_cluster_id": CLUSTER_ID}},
        "server": {"host": "127.0.0.1", "port": 0},
        # History kept longer than any run's virtual time, so that all of it can be checked.
        "state": {"path": str(path), "history": {"max_age": "366d", "max_entries": 100000}},
        "dry_run": dry_run,
        "breaker": {"max_restarts": None, "max_failing_share": None},
        "rules": [{
            "name": "heal",
            "trigger": {"type": "status", "interval": 10, "confirm_polls": 2},
            "select": {"include": list(select)},
            "backoff": {"base": base, "cap": 600, "jitter": 0.1},
            "max_restarts": max_restarts,
        }, {
            # A nightly restart of two connectors, one the status rule watches and one it never does.
            "name": "nightly",
            "trigger": {"type": "schedule", "interval": "24h"},
            "select": {"include": list(SCHEDULED)},
        }, {
            # Restarts on an Alertmanager alert, for two connectors, one the status rule watches.
            "name": "paged",
            "trigger": {"type": "alert", "match": {"alertname": "ConnectorDown"},
                        "cluster_label": "cluster", "connector_label": "connector"},
            "select": {"include": list(ALERTED)},
            "backoff": {"base": 5, "cap": 600, "jitter": 0.1},
            "max_restarts": 2,
        }],
        **({"windows": {"blackout": blackout}} if blackout else {}),
    }
    credential = Credential(api_key=SecretStr(TEST_API_KEY), api_secret=SecretStr(TEST_API_SECRET))
    return build_config(data, "stateful test config", secrets={"credentials": {"main": credential},
                                                               "server": {"auth_token": SecretStr("stateful-test-token-0123")}})


def scenario() -> dict[str, Any]:
    return {
        "seed": 3,
        "api_keys": [{"id": TEST_API_KEY, "secret": TEST_API_SECRET}],
        "environments": [{"id": ENVIRONMENT, "clusters": [{"id": CLUSTER_ID, "connectors": [
            {"name": name, "script": {"initial": "RUNNING", "recover_after_restarts": "never"}} for name in NAMES
        ]}]}],
        "restart": {"delay_seconds": 1},
    }


async def in_line(function: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    return function(*args, **kwargs)


@dataclass(frozen=True)
class SentCall:
    """A restart call as it left the daemon, with what held at that moment."""

    connector: str
    at: datetime
    dry_run: bool  # the config's dry_run then
    blackout: bool  # inside a global blackout window then
    known_state: str | None  # the connector's state as the daemon's last poll showed it
    triggers: frozenset[Trigger]  # of the requests of the job on the wire
    selected: bool  # the status rule selects the connector then


class CoreMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        import tempfile

        self._dir = tempfile.TemporaryDirectory()
        self.path = Path(self._dir.name) / "state.db"
        self.loop = VirtualTimeLoop()
        asyncio.set_event_loop(self.loop)
        # The running loop's clock: a crash (daemon_crashes) leaves its loop for a new one.
        self.simulator = Simulator(Scenario.model_validate(scenario()), clock=lambda: self.loop.time())
        self.settings: dict[str, Any] = {"max_restarts": 3, "base": 5.0, "dry_run": False, "select": SELECTED, "blackout": []}
        self.blackouts: list[tuple[datetime, datetime]] = []
        self.present = set(NAMES)
        self.sent: list[SentCall] = []
        self.ledgers: list[JobLedger] = []
        self._logs = contextlib.ExitStack()
        self.logs: list[MutableMapping[str, Any]] = self._logs.enter_context(structlog.testing.capture_logs())
        self.life_started = 0  # index in self.logs where the running daemon's life began
        # Per connector: when the model last made it healthy (RUNNING, polled) or deleted it, and
        # the rule's settings in force since (the loosest of them: budgets only grow, backoff
        # bases only shrink, so the bound holds whatever a reload changed).
        self.episode: dict[str, float] = {name: 0.0 for name in NAMES}
        self.loosest = {name: self._in_force() for name in NAMES}
        self.daemon = self._new_daemon()

    # -- plumbing ------------------------------------------------------------------------------

    def now(self) -> datetime:
        return EPOCH + timedelta(seconds=self.loop.time())

    def run(self, coroutine: Awaitable[T]) -> T:
        async def bounded() -> T:
            async with asyncio.timeout(7 * 86400):  # virtual seconds: a stuck request fails the run
                return await coroutine
        return self.loop.run_until_complete(bounded())

    def _config(self) -> Config:
        return config(self.path, **self.settings)

    def _new_daemon(self) -> Daemon:
        app = create_simulator_app(self.simulator)
        transport = httpx.ASGITransport(app=app)
        machine = self
        handle = transport.handle_async_request

        async def watched(request: httpx.Request) -> httpx.Response:
            if request.method == "POST" and request.url.path.endswith("/restart"):
                machine.sent.append(machine.sent_call(request.url.path.rsplit("/", 2)[-2]))
            return await handle(request)

        transport.handle_async_request = watched  # type: ignore[method-assign]
        self.life_started = len(self.logs)
        daemon = Daemon(self._config(), transport=transport, clock=self.loop.time, now=self.now,
                        rng=random.Random(7).random, reload_config=self._config)
        self.ledgers.append(JobLedger(daemon.queue))
        self.daemon = daemon
        self.run(daemon._lead_once())
        return daemon

    def sent_call(self, name: str) -> SentCall:
        at, key = self.now(), ConnectorKey(CLUSTER, name)
        listed = self.daemon.engine.statuses.get(key)
        (job,) = [job for job in self.ledgers[-1].jobs if job.key == key and job.phase is Phase.SENDING]
        return SentCall(
            name, at, self.daemon.config.dry_run, any(start <= at < end for start, end in self.blackouts),
            None if listed is None else listed.state.upper(), frozenset(r.trigger for r in job.requests),
            name in self.settings["select"],
        )

    def _settle(self) -> None:
        self.run(self.daemon.queue.join())

    # -- what production throws at it ----------------------------------------------------------

    @rule(name=st.sampled_from(NAMES), state=st.sampled_from(STATES))
    def connector_changes(self, name: str, state: str) -> None:
        if name in self.present:
            self.simulator.set_state(CLUSTER_ID, name, state)
            self.poll()
            if state == "RUNNING":
                self._new_episode(name)

    @rule(name=st.sampled_from(NAMES))
    def connector_vanishes_or_returns(self, name: str) -> None:
        if name in self.present:
            self.simulator.delete_connector(CLUSTER_ID, name)
            self.present.discard(name)
            self._new_episode(name)
        else:
            self.simulator.add_connector(CLUSTER_ID, {"name": name, "script": {"initial": "FAILED", "recover_after_restarts": "never"}})
            self.present.add(name)
        self.poll()

    def _in_force(self) -> tuple[float, float]:
        """The rule's budget (inf for none) and backoff base now."""
        budget = self.settings["max_restarts"]
        return math.inf if budget is None else float(budget), self.settings["base"]

    def _new_episode(self, name: str) -> None:
        self.episode[name] = self.loop.time()
        self.loosest[name] = self._in_force()

    def _note_settings(self) -> None:
        budget, base = self._in_force()
        for name in NAMES:
            before = self.loosest[name]
            self.loosest[name] = (max(before[0], budget), min(before[1], base))

    @rule()
    def poll(self) -> None:
        self.run(self.daemon.pollers[CLUSTER].poll())

    # At most 4 days a step: 60 steps stay within the 366 days of history the check reads.
    @rule(seconds=st.sampled_from([1.0, 5.0, 10.0, 30.0, 120.0, 900.0, 3600.0, 86400.0]), polls=st.integers(1, 4))
    def time_passes(self, seconds: float, polls: int) -> None:
        for _ in range(polls):
            self.run(asyncio.sleep(seconds))
            self.poll()

    @rule(name=st.sampled_from(NAMES))
    def restart_asked_by_name(self, name: str) -> None:
        key = ConnectorKey(CLUSTER, name)
        self.daemon.engine.on_request(key, self.daemon.engine.statuses.get(key), trigger=Trigger.MANUAL, rule=MANUAL_RULE,
                                      reason="stateful", known_missing=False)

    @rule()
    def schedule_fires(self) -> None:
        self.run(self.daemon.run_schedule_rule("nightly"))

    @rule(name=st.sampled_from(NAMES), firing=st.booleans())
    def alert(self, name: str, firing: bool) -> None:
        alert = Alert(status="firing" if firing else "resolved", fingerprint=f"fp-{name}", startsAt=EPOCH,
                      labels={"alertname": "ConnectorDown", "cluster": CLUSTER, "connector": name})
        self.daemon.engine.on_alerts([alert])

    @rule(answer=st.sampled_from(RESTART_ANSWERS), count=st.integers(1, 4))
    def restart_endpoint_misbehaves(self, answer: dict[str, Any], count: int) -> None:
        self.simulator.set_faults([{"match": {"endpoint": "restart"}, "when": {"count": count}, "action": answer}])

    @rule(name=st.sampled_from(NAMES), answer=st.sampled_from(RESTART_ANSWERS), count=st.integers(1, 4))
    def a_failure_meets_a_misbehaving_endpoint(self, name: str, answer: dict[str, Any], count: int) -> None:
        """The restart endpoint misbehaves while a connector fails for the polls that confirm it:
        a restart is sure to meet the answer (apart, the two seldom meet)."""
        self.restart_endpoint_misbehaves(answer, count)
        self.connector_changes(name, "FAILED")
        self.time_passes(10.0, 2)

    @rule()
    def restart_endpoint_heals(self) -> None:
        self.simulator.clear_faults()

    @rule(max_restarts=st.sampled_from([1, 2, 3, 5, None]), base=st.sampled_from([1.0, 5.0, 30.0]),
          dry_run=st.booleans(), select=st.sampled_from([SELECTED, ("alpha",), ("beta", "gamma")]),
          blackout_hours=st.sampled_from([None, 1, 24]))
    def config_reloaded(self, max_restarts: int | None, base: float, dry_run: bool, select: tuple[str, ...],
                        blackout_hours: int | None) -> None:
        blackout: list[str] = []
        window: tuple[datetime, datetime] | None = None
        if blackout_hours is not None:
            # From the next whole second: a call the reload's own awaits let out before it applied
            # the window must not count as one sent inside it.
            start = self.now().replace(microsecond=0) + timedelta(seconds=1)
            window = (start, start + timedelta(hours=blackout_hours))
            blackout = [f"{window[0].isoformat()}-{window[1].isoformat()}"]
        self.settings = {"max_restarts": max_restarts, "base": base, "dry_run": dry_run, "select": select, "blackout": blackout}
        # The reload reads the file in a thread; the virtual clock would jump meanwhile (nothing
        # else to do), so the read runs in line here.
        with mock.patch.object(asyncio, "to_thread", in_line):
                assert self.run(self.daemon.reload("stateful")), "a valid config was not applied"
        # The config's windows replace the old ones: a window no longer configured holds nothing.
        self.blackouts = [] if window is None else [window]
        self._note_settings()

    @rule()
    def daemon_restarted(self) -> None:
        self.run(self.daemon.stop())
        self._check_counted()
        self._new_daemon()

    # -- what the docs promise -----------------------------------------------------------------

    @rule()
    def daemon_crashes(self) -> None:
        """kill -9: nothing more of this daemon runs (its loop is left as it stands, its tasks
        with it); only what it wrote to the state file stays. A new daemon starts on it."""
        self.daemon.state.close()  # the process's file handles go with it; nothing is written
        crashed = self.loop
        for task in asyncio.all_tasks(crashed):
            # Closed where they stand (their cleanup meets a closed state file and writes
            # nothing), so that no coroutine of the dead daemon is left for the collector.
            task._log_destroy_pending = False  # type: ignore[attr-defined]
            with contextlib.suppress(BaseException):
                task.get_coro().close()
        crashed.close()
        self.loop = VirtualTimeLoop(start=crashed.time())
        asyncio.set_event_loop(self.loop)
        self._new_daemon()

    @invariant()
    def never_sent_where_it_must_not_be(self) -> None:
        for call in self.sent:
            assert not call.dry_run, f"{call.connector} restarted at {call.at} in dry run"
            assert not call.blackout, f"{call.connector} restarted at {call.at} in a blackout window"
            assert call.known_state not in NEVER_RESTARTED, f"{call.connector} restarted at {call.at} while {call.known_state}"
            assert (call.selected or Trigger.MANUAL in call.triggers or (Trigger.SCHEDULE in call.triggers and call.connector in SCHEDULED)
                    or (Trigger.ALERT in call.triggers and call.connector in ALERTED)), (
                f"{call.connector} restarted at {call.at} outside the rules' selection")

    @invariant()
    def within_budget_and_backoff(self) -> None:
        """docs/configuration.md: restarts follow gap(n) = min(base * (n^2 + n), cap) after the
        n-th, lengthened by jitter; after `max_restarts` the connector is left alone until it has
        stayed healthy. Checked on the status rule's restarts sent since the model last made the
        connector healthy (or deleted it): a weaker bound than docs/configuration.md's (its count
        resets only after a healthy spell), so any breach is one of docs/configuration.md's too."""
        for name in NAMES:
            since = EPOCH + timedelta(seconds=self.episode[name])
            sent = sorted(job.first_sent_at for ledger in self.ledgers for job in ledger.jobs
                          if job.key.connector == name and job.first_sent_at is not None
                          and any(r.trigger is Trigger.STATUS for r in job.requests)
                          # After it: a restart decided before the healthy poll may go out in
                          # the same instant (the queue sends while that poll is under way).
                          and EPOCH + timedelta(seconds=job.first_sent_at) > since)
            budget, base = self.loosest[name]
            assert len(sent) <= budget, f"{name}: {len(sent)} status restarts sent since t={self.episode[name]:g}, budget {budget}"
            for n, (earlier, later) in enumerate(zip(sent, sent[1:]), start=1):
                gap = min(base * (n * n + n), 600.0)
                assert later - earlier >= gap - 1e-6, f"{name}: restart {n + 1} {later - earlier:g}s after restart {n}, gap {gap:g}s"

    @invariant()
    def restarts_by_name_keep_their_gap(self) -> None:
        """docs/alerts-and-api.md: a restart asked for by name within queue.manual_restart_gap
        (60 s) of the last one made (by name or schedule) is refused `recently_restarted`: two sent
        restarts asked for by name alone are at least the gap apart, counted from the end of the one
        before."""
        for name in NAMES:
            jobs = sorted((job for ledger in self.ledgers for job in ledger.jobs
                           if job.key.connector == name and job.first_sent_at is not None and job.finished_at is not None
                           and not any(r.trigger is Trigger.STATUS for r in job.requests)),
                          key=lambda job: job.first_sent_at or 0.0)
            for earlier, later in zip(jobs, jobs[1:]):
                assert earlier.finished_at is not None and later.first_sent_at is not None
                if may_have_restarted(earlier) and all(r.trigger is Trigger.MANUAL for r in later.requests):
                    assert later.first_sent_at - earlier.finished_at >= 60.0 - 1e-6, (
                        f"{name}: restarted by name {later.first_sent_at - earlier.finished_at:g}s after the restart before")

    def _check_counted(self) -> None:
        """Every job this daemon ended is one restart_finished line and one count of
        watchdog_cluster_restarts_total (the per-connector series go when a connector does)."""
        finished = [e for e in self.logs[self.life_started:] if e["event"] == "restart_finished"]
        counted = 0.0
        for metric in self.daemon.metrics.registry.collect():
            counted += sum(s.value for s in metric.samples if s.name == "watchdog_cluster_restarts_total")
        assert counted == len(finished), f"{counted:g} restarts counted, {len(finished)} restart_finished lines"
        assert sum(self.daemon.recorder.outcomes.values()) == len(finished)

    def teardown(self) -> None:
        try:
            self._settle()
            self.run(self.daemon.stop())
            self._check_counted()
            # Across every life of the daemon: each request queued ends in exactly one outcome
            # (`unsent` at a stop is not an end: the next start sends it or ends it; except a
            # poll's alone, which no start sends: it ends there, once, engine/unsent_end.py).
            queued = {e["request"] for e in self.logs if e["event"] == "restart_queued"}
            ends: dict[str, list[str]] = {}
            for event in self.logs:
                if event["event"] == "restart_finished" and _final(event):
                    for request in event["requests"]:
                        ends.setdefault(request, []).append(event["outcome"])
            for request in queued:
                assert len(ends.get(request, [])) == 1, f"request {request} ended {ends.get(request)}"
            # The history holds each job that ended, once, with the outcome its line said.
            said = [(e["job"], e["outcome"]) for e in self.logs if e["event"] == "restart_finished" and _final(e)]
            store = open_store(self._config().state, now=self.now)
            try:
                kept = [(r.job_id, r.outcome.value) for r in store.history(limit=1_000_000)]
            finally:
                store.close()
            assert sorted(kept) == sorted(said), f"history {sorted(kept)} but the log said {sorted(said)}"
        finally:
            self._logs.close()
            asyncio.set_event_loop(None)
            self.loop.close()

            self._dir.cleanup()


def _final(event: dict[str, Any]) -> bool:
    """Whether a `restart_finished` line is its job's end: every one but an `unsent` one kept for
    the next start (a poll's alone is not kept: it ends at the stop)."""
    return event["outcome"] != Outcome.UNSENT.value or event["triggers"] == [Trigger.STATUS.value]


EXAMPLES = int(os.environ.get("STATEFUL_EXAMPLES", "5"))
CoreMachine.TestCase.settings = settings(
    max_examples=EXAMPLES, stateful_step_count=int(os.environ.get("STATEFUL_STEPS", "30")), deadline=None, derandomize=EXAMPLES <= 5,
    suppress_health_check=list(HealthCheck),
)


def test_core_state_machine() -> None:
    CoreMachine.TestCase().runTest()
