"""`--daemon URL` given by a variable that is unset or half set: refused before anything is read
or sent, never taken for no --daemon or for the scheme's default port."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from watchdog.cli import main
from watchdog.model import ConnectorKey, ConnectorState, Health
from watchdog.simulator import Scenario, Simulator
from watchdog.state import SqliteStateStore

from .support import CLUSTER_ID, ENVIRONMENT, served, sim_scenario


def _config(tmp_path: Path, url: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({
        "api": {"base_url": url},
        "credentials": {"main": {}},
        "clusters": {"prod": {"environment_id": ENVIRONMENT, "kafka_cluster_id": CLUSTER_ID}},
        "state": {"path": str(tmp_path / "state.db")},
    }))
    with SqliteStateStore(tmp_path / "state.db") as store:
        store.observe_status(ConnectorKey("prod", "orders"), "FAILED", datetime.now(UTC), ConnectorState(health=Health.FAILED))
    return path


def _exit_code(argv: list[str]) -> int | str | None:
    """main's exit code, argparse's refusals (SystemExit) included."""
    try:
        return main(argv)
    except SystemExit as exc:
        return exc.code


@pytest.mark.parametrize("address", ["", " ", "http://127.0.0.1:9464 ", " http://127.0.0.1:9464"])
async def test_an_empty_or_blank_daemon_address_is_a_command_line_error_not_no_daemon(
    address: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], credentials_env: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # `watchdog restart --daemon "$WATCHDOG_URL" prod orders` with the variable unset: before,
    # `prod/orders: accepted (HTTP 202)`, exit 0, the restart sent to the API by the command
    # itself, past the daemon's backoff, budget and breaker; `status` and `history` printed the
    # local state file's table, exit 0, as if from the daemon.
    monkeypatch.setenv("WATCHDOG_SERVER__AUTH_TOKEN", "cli-test-token-5f0a9e3d")
    simulator = Simulator(Scenario.model_validate(sim_scenario([{"name": "orders"}])))
    async with served(simulator) as url:
        path = str(_config(tmp_path, url))
        capsys.readouterr()  # the state file's creation, logged
        for command in (["restart", "prod", "orders"], ["status"], ["history"]):
            code = await asyncio.to_thread(_exit_code, [*command, "--daemon", address, "--config", path, "--log-level", "ERROR"])
            said = capsys.readouterr()
            assert code == 2 and said.out == "", (command, said)
            assert "argument --daemon: " in said.err, said.err
            what = "is empty: a variable unset?" if not address.strip() else "begins or ends with a space"
            assert what in said.err and "nothing was read or sent" in said.err, said.err
    assert simulator.restarts() == []


@pytest.mark.parametrize("address", ["http://127.0.0.1:", "https://127.0.0.1:", "http://[::1]:", "http://127.0.0.1:/"])
def test_a_daemon_address_with_no_port_after_its_colon_is_refused_before_anything_is_sent(
    address: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    # `--daemon http://watchdog:$PORT` with PORT unset: before, the request (and its bearer
    # token) went to port 80 or 443, `cannot reach the daemon at http://127.0.0.1:: ... Connection
    # refused`, exit 75, which a pipeline retries for ever.
    import httpx

    sent: list[str] = []

    def send(self: httpx.Client, request: httpx.Request, **kwargs: object) -> httpx.Response:
        sent.append(str(request.url))
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    monkeypatch.setattr(httpx.Client, "send", send)
    monkeypatch.setenv("WATCHDOG_SERVER__AUTH_TOKEN", "cli-test-token-5f0a9e3d")
    for command in (["restart", "prod", "orders"], ["status"], ["history"]):
        code = _exit_code([*command, "--daemon", address])
        err = capsys.readouterr().err
        assert code == 2, (command, err)
        assert err.startswith(f"--daemon {address} has no port after its ':' (a variable unset?): give the daemon's "
                              "address as http://HOST:PORT"), err
    assert sent == []
