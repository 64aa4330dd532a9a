"""A key the API refuses (401) holds its lane's restarts, queued, until it works again
(connect/refusal.py, queue/dispatch.py), on virtual time through the real queue, lane and
limiter against the simulator.

Found by a probe (2026-12-07): 20 FAILED connectors' restarts queued on one key, the key revoked
(its rotation deleted the old key before the kubelet wrote the new Secret): the 17 restarts
still queued all went within 0.7 s, each was answered 401, ended `unauthorized` and counted an
attempt with its backoff, so once the key was fixed the connectors waited out their backoff, and
a longer outage spent their `max_restarts` without one restart made."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import structlog

from bench import fixtures, virtualtime
from watchdog.app import Daemon
from watchdog.clients import rotate_credentials
from watchdog.model import ConnectorKey, Outcome, Trigger
from watchdog.queue import RestartJob
from watchdog.simulator import Simulator

from .test_queue_lanes import request

BACKLOG = 20
REVOKED_AT, FIXED_AT = 4.5, 60.0
CLUSTER = fixtures.cluster_name(0)
HEAL = {"name": "heal", "trigger": {"type": "status", "interval": 30, "confirm_polls": 1},
        "select": {"include": ["*"]}}
# Restarts one at a time, one a second: the key is revoked in the middle of the backlog.
PACE = {"max_concurrent_requests": 1, "max_requests_per_second": 1}
HELD = re.compile(r"^held: its API key was refused \(401\) at \d\d:\d\d:\d\d UTC; it stays queued, not sent and no "
                  r"attempt counted, until a call with the key succeeds \(the next poll of its clusters\) or a "
                  r"reload rotates the key's pair")


def _daemon(faults: list[dict[str, Any]]) -> tuple[Daemon, Simulator]:
    connectors = [{"name": f"conn-{i:02d}", "script": {"initial": "FAILED"}} for i in range(BACKLOG)]
    simulator = Simulator(fixtures.scenario([connectors], faults=faults), clock=asyncio.get_running_loop().time)
    config = fixtures.config(1, [HEAL], breaker=fixtures.NO_BREAKER, rate_limit=PACE)
    return fixtures.virtual_daemon(config, simulator), simulator


def _revoked(until: float = FIXED_AT) -> list[dict[str, Any]]:
    """Every call answered 401 from REVOKED_AT (the key deleted) until `until`."""
    return [{"when": {"from": REVOKED_AT, "until": until}, "action": {"status": 401}}]


def _restarts(simulator: Simulator, status: int | None = None) -> list[Any]:
    return [c for c in simulator.calls if c.endpoint == "restart" and (status is None or c.status_code == status)]


def _held(daemon: Daemon) -> list[RestartJob]:
    return [job for job in daemon.queue.pending_jobs() if job.tries == 0]


def test_a_401_holds_the_keys_other_restarts_until_a_poll_with_the_key_succeeds() -> None:
    """One restart answered 401 (it ends `unauthorized`, as before); the 14 behind it wait,
    unsent, no attempt counted, saying why; the poll during the refusal (401 too) goes at its
    interval and holds nothing more; the first poll that works sends them all, each once."""

    async def run() -> dict[str, Any]:
        daemon, simulator = _daemon(_revoked())
        daemon.queue.start()
        poller = daemon.pollers[CLUSTER]
        seen: dict[str, Any] = {}
        with structlog.testing.capture_logs() as logs:
            await poller.poll()  # t=0: 20 FAILED, 20 restarts queued
            await asyncio.sleep(30 - asyncio.get_running_loop().time())
            await poller.poll()  # t=30: answered 401 as well
            held = _held(daemon)
            seen["held"] = [job.key.connector for job in held]
            seen["messages"] = [job.message for job in held]
            seen["status_line"] = daemon._queued(held[0].key) if held else None  # `watchdog status --daemon`
            seen["attempts_while_held"] = [daemon.state.load(job.key).attempts for job in held]
            seen["restarts_at_30"] = len(_restarts(simulator))
            await asyncio.sleep(FIXED_AT + 5 - asyncio.get_running_loop().time())
            await poller.poll()  # t=65: the key works again
            await asyncio.wait_for(daemon.queue.join(), 120)
        seen["outcomes"] = {job.key.connector: (job.outcome, job.tries) for job in daemon.recorder.finished_jobs}
        seen["attempts"] = {c: daemon.state.load(ConnectorKey(CLUSTER, c)).attempts for c in seen["held"]}
        seen["logs"] = logs
        seen["refused"] = _restarts(simulator, 401)
        seen["sent_after"] = [c.t for c in _restarts(simulator) if c.connector in seen["held"]]
        await daemon.queue.close(0)
        return seen

    seen = virtualtime.run(run())
    assert len(seen["refused"]) == 1, f"{len(seen['refused'])} restarts sent with a key already refused (before: every one still queued)"
    # A few accepted before the key was revoked (one a second from the poll's), one answered 401,
    # and nothing more went while the key was refused.
    assert seen["restarts_at_30"] in (5, 6) and len(seen["held"]) == BACKLOG - seen["restarts_at_30"]
    assert all(HELD.match(message) for message in seen["messages"]), seen["messages"][0]
    decision, line, _ = seen["status_line"]
    assert decision == "queued" and "its restart is queued, not sent yet; held: its API key was refused (401)" in line
    assert seen["attempts_while_held"] == [0] * len(seen["held"]), "an attempt charged to a restart never sent"
    # Once the key works: every held restart sent once, accepted, one attempt each.
    assert {c: seen["outcomes"][c] for c in seen["held"]} == {c: (Outcome.ACCEPTED, 1) for c in seen["held"]}
    assert seen["attempts"] == {c: 1 for c in seen["held"]}
    assert len(seen["sent_after"]) == len(seen["held"]) and min(seen["sent_after"]) >= FIXED_AT + 5
    refused_job = [c for c, (outcome, _) in seen["outcomes"].items() if outcome is Outcome.UNAUTHORIZED]
    assert len(refused_job) == 1, "the restart whose own call got the 401 ends unauthorized, as before"
    said = [e for e in seen["logs"] if e["event"] == "api_key_refused"]
    assert len(said) == 1 and said[0]["log_level"] == "error" and said[0]["endpoint"] == "restart", (
        "said once, at error, though the poll at 30 s was refused too")
    again = [e for e in seen["logs"] if e["event"] == "api_key_accepted_again"]
    assert [(e["answered_by"], e["ended_by"]) for e in again] == [("list", "a call with the key answered")]


def test_a_reload_that_rotates_the_key_sends_the_held_restarts_without_waiting_for_a_poll() -> None:
    """The new pair has not been refused: the held restarts go within RECHECK_SECONDS of the
    rotation (connect/refusal.py), not at the next poll (30 s here)."""

    async def run() -> tuple[float, list[float], list[dict[str, Any]]]:
        daemon, simulator = _daemon(_revoked(until=20.0))
        daemon.queue.start()
        with structlog.testing.capture_logs() as logs:
            await daemon.pollers[CLUSTER].poll()
            await asyncio.sleep(20 - asyncio.get_running_loop().time())
            held = {job.key.connector for job in _held(daemon)}
            rotate_credentials(daemon.http, daemon.config, ["main"])  # what a reload does (reloading.py)
            rotated = asyncio.get_running_loop().time()
            await asyncio.wait_for(daemon.queue.join(), 60)
        sent = [c.t for c in _restarts(simulator, 202) if c.connector in held]
        await daemon.queue.close(0)
        return rotated, sent, logs

    rotated, sent, logs = virtualtime.run(run())
    assert sent and min(sent) - rotated <= 5.5, f"the first held restart went {min(sent) - rotated:.1f} s after the rotation"
    again = [e for e in logs if e["event"] == "api_key_accepted_again"]
    assert [e["ended_by"] for e in again] == ["a reload rotated the key's pair"]



def _refusal_lines_of_polls_around_a_rotation(rotated_to: str) -> list[tuple[float, str, Any, Any, Any]]:
    """The runbook's rotation on a cluster whose connectors all run (one restarted before: no
    restart queued, none held): a reload (the daemon's own, SIGHUP's) at 10 s rotates the secret
    to one the API refuses (401); at 30 s one rotates it to `rotated_to`, and to the right one at
    50 s if that is not.
    Polled "every 10 s" from 10 s to 70 s (on the real clock, one poll after the other: the
    reload reads its config in a thread, which virtual time cannot wait for). The refusal's
    lines, each with the poll it came at, cluster, endpoint, ended_by."""
    from pydantic import SecretStr

    from watchdog.config import Credential, build_config

    def config(secret: str) -> Any:
        values = {"credentials": {"main": Credential(api_key=SecretStr(fixtures.API_KEY), api_secret=SecretStr(secret))}}
        return build_config(fixtures.config_data(1, [HEAL], "http://sim"), "test config", secrets=values)

    async def run() -> list[tuple[float, str, Any, Any, Any]]:
        connectors = [{"name": "conn-00", "script": {"initial": "FAILED"}}, {"name": "conn-01"}]
        simulator = Simulator(fixtures.scenario([connectors]), clock=asyncio.get_running_loop().time)
        daemon = fixtures.virtual_daemon(config(fixtures.API_SECRET), simulator)  # its breaker as deployed
        daemon.queue.start()
        await daemon.pollers[CLUSTER].poll()  # conn-00 restarted: the breaker's window holds a restart
        await asyncio.wait_for(daemon.queue.join(), 10)
        said: list[tuple[float, str, Any, Any, Any]] = []
        with structlog.testing.capture_logs() as logs:
            for at in range(10, 80, 10):
                if at in (10, 30) or (at == 50 and rotated_to != fixtures.API_SECRET):
                    secret = {10: "wrong-secret", 30: rotated_to, 50: fixtures.API_SECRET}[at]
                    daemon._reload_config = lambda secret=secret: config(secret)  # type: ignore[misc]
                    assert await daemon.reload("SIGHUP") is True
                daemon.engine.refresh_breaker()  # the daemon's heartbeat, every second between polls
                seen = len(logs)
                await daemon.pollers[CLUSTER].poll()
                said += [(at, e["event"], e.get("cluster"), e.get("answered_by") or e.get("endpoint"), e.get("ended_by"))
                         for e in logs[seen:] if e["event"].startswith("api_key_")]
        assert len(_restarts(simulator)) == 1, "none restarted after the first: no restart was ever held"
        await daemon.queue.close(0)
        return said

    return asyncio.run(asyncio.wait_for(run(), 20))


def test_a_rotation_that_fixes_the_key_is_said_ended_at_the_first_answered_call_with_no_restart_held() -> None:
    # Found following the runbook's rotation: the secret made wrong, then put back. The polls
    # recovered, but api_key_accepted_again came only when a restart was next queued (it was said
    # when a held restart asked for the refusal): with none, the log kept an open api_key_refused
    # error, for hours, while the key worked.
    said = _refusal_lines_of_polls_around_a_rotation(rotated_to=fixtures.API_SECRET)
    assert said == [(10, "api_key_refused", CLUSTER, "list", None),
                    (30, "api_key_accepted_again", CLUSTER, "list", "a reload rotated the key's pair")], said


def test_a_rotation_to_a_pair_refused_too_is_said_ended_only_once_a_call_is_answered() -> None:
    # The rotated pair refused as well (the new Secret wrong too): no end line for the rotation;
    # the refusal is said again, and its end once a poll is answered, once.
    said = _refusal_lines_of_polls_around_a_rotation(rotated_to="wrong-too")
    assert said == [(10, "api_key_refused", CLUSTER, "list", None),
                    (30, "api_key_refused", CLUSTER, "list", None),
                    (50, "api_key_accepted_again", CLUSTER, "list", "a reload rotated the key's pair")], said


def test_a_403_holds_nothing_it_is_a_role_on_one_cluster_not_the_key() -> None:
    async def run() -> tuple[list[Any], dict[Outcome | None, int]]:
        faults = [{"match": {"endpoint": "restart", "connector": "conn-01"}, "action": {"status": 403}}]
        daemon, simulator = _daemon(faults)
        daemon.queue.start()
        await daemon.pollers[CLUSTER].poll()
        await asyncio.wait_for(daemon.queue.join(), 60)
        outcomes: dict[Outcome | None, int] = {}
        for job in daemon.recorder.finished_jobs:
            outcomes[job.outcome] = outcomes.get(job.outcome, 0) + 1
        await daemon.queue.close(0)
        return _restarts(simulator), outcomes

    restarts, outcomes = virtualtime.run(run())
    assert len(restarts) == BACKLOG
    assert outcomes == {Outcome.ACCEPTED: BACKLOG - 1, Outcome.FORBIDDEN: 1}


def test_restarts_still_held_at_the_shutdown_deadline_end_unsent_and_say_the_key_was_refused() -> None:
    async def run() -> tuple[list[RestartJob], list[RestartJob]]:
        daemon, _ = _daemon(_revoked(until=3600.0))
        daemon.queue.start()
        asked = daemon.queue.submit(request(CLUSTER, "conn-19", Trigger.MANUAL))[0]
        await daemon.pollers[CLUSTER].poll()
        await asyncio.sleep(20 - asyncio.get_running_loop().time())
        held = _held(daemon)
        unsent = await daemon.queue.close(1.0)
        assert asked in held or asked.outcome is not None
        return held, unsent

    held, unsent = virtualtime.run(run())
    assert held and set(held) <= set(unsent), "every held restart ends, none lost without a word"
    assert all(job.outcome is Outcome.UNSENT and job.message.startswith(
        "still held when the shutdown deadline passed (held: its API key was refused (401)") for job in held)


def test_a_key_nothing_polls_is_tried_again_by_one_restart_every_ten_minutes_not_held_for_good() -> None:
    """Clusters watched by alert or schedule rules alone are never polled: no call would end the
    refusal, and their restarts were held until a reload. With no call for PROBE_SECONDS (600 s),
    the held restarts go; the first answered 401 holds the rest again, the first accepted ends it."""
    from watchdog.connect.refusal import PROBE_SECONDS

    async def run() -> tuple[list[tuple[float, int]], dict[str, tuple[Outcome | None, int]]]:
        daemon, simulator = _daemon([{"match": {"endpoint": "restart"}, "when": {"until": 1000.0},
                                      "action": {"status": 401}}])
        daemon.queue.start()
        for i in range(5):
            daemon.queue.submit(request(CLUSTER, f"conn-{i:02d}", Trigger.MANUAL))
        await asyncio.wait_for(daemon.queue.join(), 3 * PROBE_SECONDS)
        calls = [(round(c.t), c.status_code) for c in _restarts(simulator)]
        outcomes = {job.key.connector: (job.outcome, job.tries) for job in daemon.recorder.finished_jobs}
        await daemon.queue.close(0)
        return calls, outcomes

    calls, outcomes = virtualtime.run(run())
    refused = [t for t, status in calls if status == 401]
    assert len(refused) == 2 and refused[1] - refused[0] >= PROBE_SECONDS, calls  # at the start, then one probe
    accepted = [t for t, status in calls if status == 202]
    assert len(accepted) == 3 and min(accepted) >= 2 * PROBE_SECONDS, calls
    assert sorted(outcomes.values()) == [(Outcome.ACCEPTED, 1)] * 3 + [(Outcome.UNAUTHORIZED, 1)] * 2


def test_a_key_refused_for_restarts_only_is_said_once_as_such_not_refused_and_accepted_at_every_restart() -> None:
    """A worker's proxy that lets the user read but answers 401 to every POST (a read-only user,
    nginx's `limit_except GET`): the key is not refused, the user may not restart. Before, each
    restart said at error that the API refused the key and the next poll that it was accepted
    again, for ever (s74 probe F6: 3 pairs in 50 s). The first 401 cannot tell (it holds, as for a
    revoked key); once a poll with the key is answered and a restart is refused again, that is
    said once, and the restarts are no longer held: each ends `unauthorized` saying why."""

    async def run() -> dict[str, Any]:
        daemon, simulator = _daemon([{"match": {"endpoint": "restart"}, "action": {"status": 401}}])
        daemon.queue.start()
        poller = daemon.pollers[CLUSTER]
        with structlog.testing.capture_logs() as logs:
            for at in (0, 30, 60, 90, 120):
                await asyncio.sleep(at - asyncio.get_running_loop().time())
                await poller.poll()
            await asyncio.sleep(200 - asyncio.get_running_loop().time())  # the last poll's restarts end
        finished = list(daemon.recorder.finished_jobs)
        await daemon.queue.close(0)
        return {"logs": logs, "finished": finished, "refused": _restarts(simulator, 401)}

    seen = virtualtime.run(run())
    events = [e["event"] for e in seen["logs"]]
    assert events.count("api_key_refused") == 1, events.count("api_key_refused")
    assert events.count("api_key_accepted_again") == 1, events.count("api_key_accepted_again")
    [said] = [e for e in seen["logs"] if e["event"] == "api_key_refused_for_restarts"]
    assert said["log_level"] == "error" and "accepted for reads" in said["note"] and "write" in said["note"]
    # Not held: every connector's restart was made (and refused), none left queued for good.
    assert {c.connector for c in seen["refused"]} == {f"conn-{i:02d}" for i in range(BACKLOG)}
    assert {job.outcome for job in seen["finished"]} == {Outcome.UNAUTHORIZED}
    told = [job.message for job in seen["finished"] if "refused for restarts" in job.message]
    assert len(told) >= BACKLOG - 1, [job.message for job in seen["finished"]][:3]


def test_refused_for_restarts_only_needs_a_read_taken_after_a_restarts_401_and_ends_on_a_read_refused() -> None:
    from watchdog.connect.refusal import KeyRefusal

    refusal = KeyRefusal()
    assert refusal.on_answer(200, 0.0) is None
    # The first restart's 401 cannot tell a revoked key: it holds (s73), a poll's 200 ends it.
    assert refusal.on_answer(401, 1.0, write=True) == "began" and refusal.holds(1.0)
    assert refusal.on_answer(200, 2.0) == "ended"
    # A restart refused again, reads taken since: refused for restarts only, said once, nothing held.
    assert refusal.on_answer(401, 3.0, write=True) == "write_refused" and not refusal.holds(3.0)
    assert refusal.on_answer(200, 4.0) is None and refusal.on_answer(401, 5.0, write=True) is None
    # A read refused too: the key is refused, restarts held, as before.
    assert refusal.on_answer(401, 6.0) == "began" and refusal.holds(6.0) and refusal.write_refused_since is None
    assert refusal.on_answer(200, 7.0) == "ended"
    assert refusal.on_answer(401, 8.0, write=True) == "began", "a refusal a read began says nothing of writes"
    assert refusal.on_answer(202, 9.0, write=True) == "ended"
    # Refused for restarts, then a restart answered: that ends it.
    assert refusal.on_answer(401, 10.0, write=True) == "began" and refusal.on_answer(200, 11.0) == "ended"
    assert refusal.on_answer(401, 12.0, write=True) == "write_refused"
    assert refusal.on_answer(202, 13.0, write=True) == "write_accepted" and refusal.write_refused_since is None


def test_a_refusal_says_since_when_by_the_wall_clock_it_is_given_and_both_kinds_let_restarts_go_after_the_probe_time() -> None:
    from datetime import datetime, timezone

    from watchdog.connect.refusal import PROBE_SECONDS, KeyRefusal, ProxyRefusal

    wall = lambda: datetime(2026, 12, 7, 3, 4, 5, tzinfo=timezone.utc)  # noqa: E731
    key, proxy = KeyRefusal(wall=wall), ProxyRefusal(wall=wall)
    assert key.on_answer(401, now=10.0) == "began"
    assert proxy.on_call("http://proxy:3128 (HTTP_PROXY)", answered=True, now=10.0) == "began"
    assert "at 03:04:05 UTC" in key.note() and "http://proxy:3128 (HTTP_PROXY) at 03:04:05 UTC" in proxy.note()
    assert key.holds(10.0 + PROBE_SECONDS - 1) and proxy.holds(10.0 + PROBE_SECONDS - 1)
    assert not key.holds(10.0 + PROBE_SECONDS) and not proxy.holds(10.0 + PROBE_SECONDS)


def _three_clusters(faults: list[dict[str, Any]]) -> tuple[Daemon, Simulator]:
    """One key, three clusters (c000, c001, c002) of two RUNNING connectors each."""
    connectors = [[{"name": f"conn-{c}{i}"} for i in range(2)] for c in range(3)]
    simulator = Simulator(fixtures.scenario(connectors, faults=faults), clock=asyncio.get_running_loop().time)
    config = fixtures.config(3, [HEAL], breaker=fixtures.NO_BREAKER)
    return fixtures.virtual_daemon(config, simulator), simulator


async def _poll_rounds(
    daemon: Daemon, rounds: int, *, manual_at_round: int | None = None, manual_of: int = 2,
) -> RestartJob | None:
    """Every 5 s: c000 polled, 3 s later c001 and c002 (between them a restart queued of
    `conn-{manual_of}0`, at `manual_at_round`: asked while c000's 401 is the key's last word)."""
    loop = asyncio.get_running_loop()
    asked = None
    for n in range(rounds):
        await asyncio.sleep(5 * n - loop.time())
        await daemon.pollers[fixtures.cluster_name(0)].poll()
        if n == manual_at_round:
            await asyncio.sleep(1)
            asked = daemon.queue.submit(request(fixtures.cluster_name(manual_of), f"conn-{manual_of}0", Trigger.MANUAL))[0]
        await asyncio.sleep(5 * n + 3 - loop.time())
        for c in (1, 2):
            await daemon.pollers[fixtures.cluster_name(c)].poll()
    return asked


def test_a_key_refused_on_one_cluster_of_three_is_said_once_for_that_cluster_and_holds_nothing_of_the_others() -> None:
    """A key whose access to one cluster was withdrawn (401 there, its other clusters answer):
    before, each poll of that cluster began a refusal of the whole key (api_key_refused at error,
    every restart of the key held) and the next poll of another cluster ended it (80 of each in
    400 s at 5 s, s76 probe F1). Now the first pair narrows it to that cluster: said once at
    error, again every 5 minutes with `repeated`, and a restart by name of another cluster asked
    right after one of its 401s goes at once."""
    from watchdog.connect.refusal import REPEAT_SECONDS

    async def run() -> dict[str, Any]:
        refused = fixtures.cluster_name(0)
        daemon, simulator = _three_clusters([{"match": {"cluster": fixtures.cluster_id(0)}, "when": {"until": 400.0},
                                              "action": {"status": 401}}])
        daemon.queue.start()
        with structlog.testing.capture_logs() as logs:
            asked = await _poll_rounds(daemon, 80, manual_at_round=40)
            await asyncio.sleep(410 - asyncio.get_running_loop().time())
            await daemon.pollers[refused].poll()  # its access is back
            await asyncio.wait_for(daemon.queue.join(), 30)
        sent = [c.t for c in _restarts(simulator) if c.connector == "conn-20"]
        await daemon.queue.close(0)
        return {"logs": logs, "asked": asked, "sent": sent}

    seen = virtualtime.run(run())
    logs = seen["logs"]
    events = [e["event"] for e in logs]
    errors = [e for e in logs if e["log_level"] == "error"]
    assert len(errors) <= 4, f"{len(errors)} error lines in 400 s (before: 80 api_key_refused)"
    assert events.count("api_key_refused") == 1 and events.count("api_key_accepted_again") == 1, (
        events.count("api_key_refused"), events.count("api_key_accepted_again"))
    on_cluster = [e for e in logs if e["event"] == "api_key_refused_on_cluster"]
    assert {e["cluster"] for e in on_cluster} == {"c000"} and on_cluster[0]["log_level"] == "error"
    assert "repeated" not in on_cluster[0] and "withdrawn" in on_cluster[0]["note"]
    # What it says of a restart of that cluster already queued is what happens to it (f685b5b).
    assert "a restart of it already queued waits, not sent" in on_cluster[0]["note"], on_cluster[0]["note"]
    # Then every REPEAT_SECONDS (300 s) at most, with how many 401s since: one in 400 s.
    repeated = [e.get("repeated") for e in on_cluster[1:]]
    assert len(repeated) == 1 and abs(repeated[0] - REPEAT_SECONDS / 5) <= 1, repeated
    [back] = [e for e in logs if e["event"] == "api_key_accepted_on_cluster"]
    assert back["cluster"] == "c000"
    # The restart by name of c002, asked 1 s after a 401 of c000 and 2 s before the next poll of
    # c002: not held (before: it waited for that poll).
    asked = seen["asked"]
    assert asked is not None and asked.outcome is Outcome.ACCEPTED, (asked.outcome, asked.message)
    assert len(seen["sent"]) == 1 and seen["sent"][0] - 201.0 < 0.5, seen["sent"]


def test_a_restart_queued_of_a_cluster_refused_alone_waits_for_its_access_not_sent_into_the_401() -> None:
    """A restart queued of the cluster the key is refused on alone (one queued before its 401, a
    retry, a schedule's): before, it was sent into the 401, ended `unauthorized` and counted an
    attempt with its backoff; now it waits, queued, saying why, until a call with the key on that
    cluster is answered (its next poll), and then goes. The key's other clusters hold nothing."""

    async def run() -> dict[str, Any]:
        daemon, simulator = _three_clusters([{"match": {"cluster": fixtures.cluster_id(0)}, "when": {"until": 100.0},
                                              "action": {"status": 401}}])
        daemon.queue.start()
        asked = await _poll_rounds(daemon, 12, manual_at_round=10, manual_of=0)
        assert asked is not None
        await asyncio.sleep(1)
        waiting = asked.outcome, asked.message
        other = daemon.queue.submit(request(fixtures.cluster_name(1), "conn-10", Trigger.MANUAL))[0]
        await asyncio.sleep(105 - asyncio.get_running_loop().time())
        await daemon.pollers[fixtures.cluster_name(0)].poll()  # its access is back
        await asyncio.wait_for(daemon.queue.join(), 30)
        sent = [(c.t, c.status_code) for c in _restarts(simulator) if c.connector == "conn-00"]
        await daemon.queue.close(0)
        return {"asked": asked, "waiting": waiting, "sent": sent, "other": other}

    seen = virtualtime.run(run())
    outcome, message = seen["waiting"]
    assert outcome is None, (outcome, message)
    assert message.startswith("held: its API key was refused (401) on this cluster alone at "), message
    assert "api_key_refused_on_cluster" in message
    assert seen["sent"] and all(t >= 100.0 and code == 202 for t, code in seen["sent"]), seen["sent"]
    assert seen["asked"].outcome is Outcome.ACCEPTED and seen["asked"].tries == 1
    assert seen["other"].outcome is Outcome.ACCEPTED, "another cluster of the key is not held"


def test_a_key_refused_on_all_its_clusters_holds_every_restart_as_before() -> None:
    """Every cluster of the key answers 401 (a revoked key): one api_key_refused line, no cluster
    refused alone, a restart by name held until a poll with the key is answered."""

    async def run() -> dict[str, Any]:
        daemon, simulator = _three_clusters([{"when": {"until": 100.0}, "action": {"status": 401}}])
        daemon.queue.start()
        with structlog.testing.capture_logs() as logs:
            asked = await _poll_rounds(daemon, 24, manual_at_round=4)
            await asyncio.wait_for(daemon.queue.join(), 30)
        sent = [(c.t, c.status_code) for c in _restarts(simulator) if c.connector == "conn-20"]
        await daemon.queue.close(0)
        return {"logs": logs, "asked": asked, "sent": sent}

    seen = virtualtime.run(run())
    events = [e["event"] for e in seen["logs"]]
    assert events.count("api_key_refused") == 1 and events.count("api_key_accepted_again") == 1
    assert "api_key_refused_on_cluster" not in events
    # Asked at 21 s, held (not sent) until the first poll answered after 100 s.
    assert seen["sent"] and all(t >= 100.0 for t, _ in seen["sent"]), seen["sent"]
    assert seen["asked"].outcome is Outcome.ACCEPTED


def test_a_401_another_cluster_contradicts_is_that_clusters_alone_until_it_answers() -> None:
    from watchdog.connect.refusal import PROBE_SECONDS, REPEAT_SECONDS, KeyRefusal

    refusal = KeyRefusal()
    # Refused on two clusters, then answered on one of them: the key works again, as before.
    assert refusal.on_answer(401, 0.0, cluster="a") == "began"
    assert refusal.on_answer(401, 1.0, cluster="b") is None and refusal.holds(1.0)
    assert refusal.on_answer(200, 2.0, cluster="a") == "ended" and not refusal.alone
    # Refused on a, answered on c: a is refused alone, nothing held, said again after REPEAT_SECONDS.
    assert refusal.on_answer(401, 3.0, cluster="a") == "began"
    assert refusal.on_answer(200, 4.0, cluster="c") == "narrowed" and refusal.narrowed_to == ["a"]
    assert not refusal.holds(4.0) and set(refusal.alone) == {"a"}
    # Its own restarts wait (not the key's others'), until PROBE_SECONDS pass without a call of it.
    assert refusal.holds_cluster("a", 4.0) and not refusal.holds_cluster("c", 4.0)
    assert not refusal.holds_cluster("a", 4.0 + PROBE_SECONDS), "no call of it since it was found refused alone at 4 s"
    assert refusal.on_answer(401, 5.0, cluster="a") is None and refusal.cluster_change is None and not refusal.holds(5.0)
    assert refusal.holds_cluster("a", 4.0 + PROBE_SECONDS), "its 401 at 5 s renewed it"
    assert refusal.on_answer(401, 4.0 + REPEAT_SECONDS, cluster="a") is None and refusal.cluster_change == "refused_again"
    assert refusal.said_alone("a", 4.0 + REPEAT_SECONDS) == 2
    # A 401 of another cluster is the key's again: held, and ended by that cluster's answer.
    assert refusal.on_answer(401, 400.0, cluster="b") == "began" and refusal.holds(400.0)
    assert refusal.on_answer(200, 401.0, cluster="b") == "ended"
    # a answers: its refusal ends.
    assert refusal.on_answer(200, 402.0, cluster="a") is None and refusal.cluster_change == "accepted"
    assert not refusal.alone
    # A rotated pair has not been refused on a: its 401 there is the key's again.
    pairs = iter([object(), object()])
    pair = [next(pairs)]
    rotated = KeyRefusal(pair=lambda: pair[0])
    assert rotated.on_answer(401, 0.0, cluster="a") == "began" and rotated.on_answer(200, 1.0, cluster="c") == "narrowed"
    assert rotated.holds_cluster("a", 1.0)
    pair[0] = next(pairs)
    assert not rotated.holds_cluster("a", 1.5), "the new pair was not refused on a"
    assert rotated.on_answer(401, 2.0, cluster="a") == "began" and rotated.holds(2.0)


def test_restarts_refused_for_some_connectors_and_accepted_for_others_do_not_make_the_key_refused_again() -> None:
    """401 to two connectors' restarts and 202 to the others' (a proxy's per-path rule), polls
    answered: before, each accepted restart ended "refused for restarts", and the next 401 was said
    at error as a refused key and held every restart of the key until the next poll, again and
    again (ledger probe, 2026-12-08). Now, once restarts were refused and accepted side by side,
    a restart's 401 is that connector's: it ends `unauthorized` saying so, nothing is held."""

    async def run() -> dict[str, Any]:
        refused = [{"match": {"endpoint": "restart", "connector": name}, "action": {"status": 401}}
                   for name in ("conn-00", "conn-01")]
        daemon, simulator = _daemon(refused)
        daemon.queue.start()
        poller = daemon.pollers[CLUSTER]
        with structlog.testing.capture_logs() as logs:
            for at in range(0, 1200, 30):
                await asyncio.sleep(at - asyncio.get_running_loop().time())
                await poller.poll()
            await asyncio.sleep(1230 - asyncio.get_running_loop().time())
        finished = list(daemon.recorder.finished_jobs)
        await daemon.queue.close(0)
        return {"logs": logs, "finished": finished, "refused": _restarts(simulator, 401)}

    seen = virtualtime.run(run())
    events = [e["event"] for e in seen["logs"]]
    assert len(seen["refused"]) >= 4, "the two connectors' restarts were tried again, by the rule's backoff"
    assert events.count("api_key_refused") == 1, events.count("api_key_refused")
    assert events.count("api_key_refused_for_restarts") <= 1, events.count("api_key_refused_for_restarts")
    late = [job for job in seen["finished"] if job.outcome is Outcome.UNAUTHORIZED][2:]
    assert late and all("this connector" in job.message for job in late), [job.message for job in late]
