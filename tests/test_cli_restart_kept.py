"""A direct `watchdog restart A` (no daemon, the state file only) beside restarts a stopped daemon
kept in the state file: it touches A's request alone and leaves every other one to the next start
of the daemon, as `watchdog status` says it will go (probe_cli F1). Before, the command ran a
start's recovery of every kept restart: with --dry-run it ended another connector's kept real
restart `dry_run` (lost: never sent, the history calling it a dry run); without, it sent them all
and printed only A's outcome. And one interrupted (Ctrl-C, SIGTERM) once its restart's outcome is
known says that outcome (probe_cli F3)."""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from bench.postgres import PostgresServer, take_lease
from watchdog.cli import main
from watchdog.model import ConnectorKey, PendingPhase, RestartRequest, Trigger
from watchdog.signals import REPEATED_SIGNAL_SECONDS
from watchdog.simulator import Scenario, Simulator
from watchdog.state import SqliteStateStore
from watchdog.state.postgres import PostgresStateStore

from .support import CLUSTER_ID, ENVIRONMENT, served, sim_scenario

ALIVE_AGO = timedelta(hours=2)


def _keep(path: Path, *kept: tuple[str, Trigger, str]) -> None:
    """A state file a daemon stopped ALIVE_AGO with these restarts kept (connector, trigger, rule)."""
    alive = datetime.now(UTC) - ALIVE_AGO
    with SqliteStateStore(path) as store:
        for number, (connector, trigger, rule) in enumerate(kept):
            store.add_pending(RestartRequest(
                id=f"req-{number}", key=ConnectorKey("prod", connector), rule=rule, trigger=trigger,
                reason="kept-by-429", requested_at=alive - timedelta(seconds=5)), f"job-{number}", phase=PendingPhase.QUEUED)
        store.mark_alive(alive)


def _config(tmp_path: Path, url: str, state: dict[str, object] | None = None, **more: object) -> Path:
    """One cluster 'prod' against the API at `url`, its state in tmp_path's state.db unless `state`."""
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({
        "api": {"base_url": url},
        "credentials": {"main": {}},
        "clusters": {"prod": {"environment_id": ENVIRONMENT, "kafka_cluster_id": CLUSTER_ID}},
        "state": state or {"path": str(tmp_path / "state.db")},
        **more,
    }))
    return config


async def _restart(tmp_path: Path, simulator: Simulator, *argv: str) -> int:
    async with served(simulator) as url:
        config = _config(tmp_path, url)
        return await asyncio.to_thread(main, ["restart", *argv, "--config", str(config), "--log-level", "ERROR"])


def _kept_and_finished(path: Path) -> tuple[dict[str, str], list[tuple[str, str]]]:
    with SqliteStateStore(path) as store:
        kept = {pending.request.key.connector: pending.request.rule for pending in store.pending()}
        finished = [(record.key.connector, record.outcome.value) for record in store.history(limit=50)]
    return kept, finished


@pytest.mark.parametrize("dry", [True, False], ids=["dry-run", "live"])
async def test_a_direct_restart_leaves_the_other_kept_restarts_to_the_daemon(
    dry: bool, tmp_path: Path, capsys: pytest.CaptureFixture[str], credentials_env: None
) -> None:
    # Before: --dry-run ended orders' kept restart `dry_run` (history: orders dry_run, nothing kept);
    # live, the simulator saw orders restarted too, and stdout named billing alone.
    path = tmp_path / "state.db"
    _keep(path, ("orders", Trigger.MANUAL, "manual"), ("nightly-sink", Trigger.SCHEDULE, "nightly"))
    capsys.readouterr()  # the store's own lines as it was made
    simulator = Simulator(Scenario.model_validate(sim_scenario(
        [{"name": "orders"}, {"name": "billing"}, {"name": "nightly-sink"}])))

    code = await _restart(tmp_path, simulator, "prod", "billing", *(["--dry-run"] if dry else []))

    out = capsys.readouterr().out
    sent = [restart.connector for restart in simulator.restarts(accepted_only=False)]
    kept, finished = _kept_and_finished(path)
    assert code == 0, out
    assert sent == ([] if dry else ["billing"]), sent
    assert kept == {"orders": "manual", "nightly-sink": "nightly"}, (kept, finished)
    assert finished == [("billing", "dry_run" if dry else "accepted")], finished
    assert out.strip().splitlines() == [f"prod/billing: {'dry_run (--dry-run: nothing was sent)' if dry else 'accepted (HTTP 202)'}"]


async def test_a_direct_restart_of_a_connector_with_a_kept_restart_makes_that_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], credentials_env: None
) -> None:
    # Its own kept request is the command's to end: one restart sent, for both, none left for
    # the next start to send again.
    path = tmp_path / "state.db"
    _keep(path, ("orders", Trigger.MANUAL, "manual"), ("billing", Trigger.MANUAL, "manual"))
    simulator = Simulator(Scenario.model_validate(sim_scenario([{"name": "orders"}, {"name": "billing"}])))

    code = await _restart(tmp_path, simulator, "prod", "billing")

    out = capsys.readouterr().out
    kept, finished = _kept_and_finished(path)
    assert code == 0 and "prod/billing: accepted (HTTP 202)" in out, out
    assert [restart.connector for restart in simulator.restarts(accepted_only=False)] == ["billing"]
    assert kept == {"orders": "manual"}, (kept, finished)


async def test_a_dry_run_restart_leaves_the_connector_s_own_kept_restart_unsent_and_kept(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], credentials_env: None
) -> None:
    # A real request is never ended `dry_run` by a command that was asked to send nothing.
    path = tmp_path / "state.db"
    _keep(path, ("billing", Trigger.MANUAL, "manual"))
    simulator = Simulator(Scenario.model_validate(sim_scenario([{"name": "billing"}])))

    code = await _restart(tmp_path, simulator, "prod", "billing", "--dry-run")

    kept, finished = _kept_and_finished(path)
    assert code == 0, capsys.readouterr()
    assert simulator.restarts(accepted_only=False) == []
    assert kept == {"billing": "manual"} and finished == [("billing", "dry_run")], (kept, finished)


@contextmanager
def _served_in_a_thread(simulator: Simulator) -> Iterator[str]:
    """The simulator served from a thread of its own: `run` takes its signals in the main thread."""
    ready: queue.Queue[str] = queue.Queue()
    done = threading.Event()

    async def serve() -> None:
        async with served(simulator) as url:
            ready.put(url)
            while not done.is_set():
                await asyncio.sleep(0.02)

    thread = threading.Thread(target=asyncio.run, args=(serve(),), daemon=True)
    thread.start()
    try:
        yield ready.get(timeout=10)
    finally:
        done.set()
        thread.join(10)


@pytest.mark.parametrize("dry", [True, False], ids=["dry-run", "live"])
def test_run_once_sends_the_kept_restarts_live_and_leaves_them_kept_in_dry_run(
    dry: bool, tmp_path: Path, capsys: pytest.CaptureFixture[str], credentials_env: None
) -> None:
    # A live pass is a start (README: its start recovers the kept restarts); `--once --dry-run`,
    # a preview, ended the person's kept restart `dry_run` before: lost, never sent.
    path = tmp_path / "state.db"
    _keep(path, ("orders", Trigger.MANUAL, "manual"))
    simulator = Simulator(Scenario.model_validate(sim_scenario([{"name": "orders"}])))
    with _served_in_a_thread(simulator) as url:
        config = _config(tmp_path, url, {"path": str(path)})
        code = main(["run", "--once", *(["--dry-run"] if dry else []), "--config", str(config), "--log-level", "ERROR"])

    kept, finished = _kept_and_finished(path)
    sent = [restart.connector for restart in simulator.restarts(accepted_only=False)]
    assert code == 0, capsys.readouterr()
    if dry:
        assert (sent, kept, finished) == ([], {"orders": "manual"}, []), (sent, kept, finished)
    else:
        assert (sent, kept, finished) == (["orders"], {}, [("orders", "accepted")]), (sent, kept, finished)


@pytest.mark.parametrize("signum", ["SIGINT", "SIGTERM", "SIGINT twice"])
def test_a_restart_interrupted_while_its_call_is_on_the_wire_says_the_outcome_the_stop_waited_for(
    signum: str, tmp_path: Path, credentials_env: None
) -> None:
    # probe_cli F3. Before: the stop waited for the call, the log said `accepted`, and the command
    # said "interrupted before the restart's outcome was known; it may or may not have been sent",
    # exit 1: a wrapper script asked again and restarted the connector a second time.
    import signal
    import subprocess
    import sys
    import time

    simulator = Simulator(Scenario.model_validate(sim_scenario([{"name": "orders"}], latency_seconds=2)))
    with _served_in_a_thread(simulator) as url:
        config = _config(tmp_path, url)
        # Ctrl-C's own handling in the child (a background job's SIGINT is ignored: see test_cli.py).
        process = subprocess.Popen([sys.executable, "-m", "watchdog", "restart", "prod", "orders", "--config", str(config),
                                    "--log-level", "ERROR"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                   preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        try:
            deadline = time.monotonic() + 30
            while not simulator.restarts(accepted_only=False) and time.monotonic() < deadline:
                time.sleep(0.02)
            assert simulator.restarts(accepted_only=False), "the restart call never reached the API"
            process.send_signal(getattr(signal, signum.split()[0]))  # the answer is 2 s away
            if signum.endswith("twice"):  # Ctrl-C again, past the repeated-signal window: the drain cut short
                time.sleep(REPEATED_SIGNAL_SECONDS + 0.2)
                process.send_signal(signal.SIGINT)
            out, err = process.communicate(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
    if signum.endswith("twice"):
        # The call on the wire not waited out: its outcome is unknown, and the stop is not said to have waited.
        assert process.returncode == 1 and out.startswith("prod/orders: interrupted"), (out, err)
        assert "the stop waited" not in err and "the stop ended its call on the wire unanswered" in err, err
        return
    assert (process.returncode, out.strip()) == (0, "prod/orders: accepted (HTTP 202)"), (out, err)
    assert "may or may not have been sent" not in err and "Traceback" not in err, err
    assert "prod/orders: interrupted after the restart was queued; the stop waited for its outcome, said on stdout" in err, err


@pytest.mark.parametrize("dry", [False, True], ids=["live", "dry-run"])
def test_a_direct_restart_while_another_replica_leads_names_the_leader_and_the_command_to_run_there(
    dry: bool, tmp_path: Path, capsys: pytest.CaptureFixture[str], credentials_env: None,
    postgres_server: PostgresServer, postgres_url: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    # probe_cli F6. Before: `prod/orders: not restarted (missing): another replica leads (or the
    # database cannot be reached): ask it with --daemon URL`: "missing" read as "no such
    # connector", and no leader named, where the lease names it.
    with PostgresStateStore(postgres_url, password=postgres_server.password):
        pass  # the schema, and the lease's row
    take_lease(postgres_server, postgres_url, "leader-pod-7/4242/0a1b2c3d")
    monkeypatch.setenv("WATCHDOG_STATE__PASSWORD", postgres_server.password.get_secret_value())
    monkeypatch.setenv("POD_NAMESPACE", "watchdog-ns")
    simulator = Simulator(Scenario.model_validate(sim_scenario([{"name": "orders"}])))
    with _served_in_a_thread(simulator) as url:
        config = _config(tmp_path, url, {
            "url": postgres_url, "leader_election": {"lease_duration": 3, "renew_deadline": 2, "renew_interval": 0.5}},
            server={"port": 19464})
        capsys.readouterr()
        code = main(["restart", "prod", "orders", "--reason", "deploy 42", *(["--dry-run"] if dry else []),
                     "--config", str(config), "--log-level", "ERROR"])
    out = capsys.readouterr().out
    assert code == 1, out
    assert simulator.restarts(accepted_only=False) == []
    assert "missing" not in out, out
    said = "prod/orders: not restarted (not_leader): another replica leads (leader-pod-7/4242/0a1b2c3d, pod leader-pod-7)"
    assert out.startswith(said), out
    if dry:
        assert "no dry run was made" in out and "kubectl -n watchdog-ns exec leader-pod-7 -- watchdog status --daemon " \
            "http://127.0.0.1:19464 --cluster prod" in out, out
    else:
        assert "kubectl -n watchdog-ns exec leader-pod-7 -- watchdog restart --daemon http://127.0.0.1:19464 prod orders " \
            "--reason 'deploy 42'" in out, out
