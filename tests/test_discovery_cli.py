"""`watchdog check-config --discover`: one round of list calls against a real loopback server,
shown cluster by cluster; and `watchdog status` placing discovered clusters in their environment."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
import yaml

from watchdog.cli import main
from watchdog.discovery.preview import discover_once
from watchdog.simulator import Scenario, Simulator

from .conftest import TEST_API_KEY, TEST_API_SECRET
from .support import daemon_config, served

if TYPE_CHECKING:
    from watchdog.app import Daemon

SCENARIO = {
    "api_keys": [{"id": TEST_API_KEY, "secret": TEST_API_SECRET, "environments": ["env-prod"]}],
    "discovery": {"unpermitted_environments": "listed"},
    "environments": [
        {"id": "env-prod", "display_name": "production", "clusters": [
            {"id": "lkc-orders", "display_name": "orders", "connectors": [{"name": "orders-sink", "type": "sink"}]},
            {"id": "lkc-scratch", "display_name": "orders-scratch"},
            {"id": "lkc-pay", "display_name": "payments", "connectors": [{"name": "payments-source"}]},
            {"id": "lkc-new", "display_name": "new", "lifecycle": {"provisioning_seconds": None}},
        ]},
        {"id": "env-shut", "display_name": "locked", "clusters": [{"id": "lkc-shut"}]},
    ],
}


def write_config(tmp_path: Path, base_url: str, **extra: Any) -> Path:
    data = {
        "api": {"base_url": base_url},
        "credentials": {"main": {}},
        "clusters": {"payments": {"environment_id": "env-prod", "kafka_cluster_id": "lkc-pay"}},
        "discovery": {"clusters": {"exclude": ["*-scratch"]}},
        "server": {"host": "127.0.0.1", "port": 0},
        "state": {"path": str(tmp_path / "state.db")},
        "rules": [{"name": "heal", "trigger": {"type": "status"}, "select": {"include": ["*"]}}],
        **extra,
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


async def test_check_config_discover_shows_what_would_be_watched_and_calls_nothing_else(
    tmp_path: Path, credentials_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    simulator = Simulator(Scenario.model_validate(SCENARIO))
    async with served(simulator) as url:
        path = write_config(tmp_path, url)
        code = await asyncio.to_thread(main, ["check-config", "--config", str(path), "--discover"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "discovery: every environment the key can see; clusters include *; exclude *-scratch; credential main; every 5m" in out
    lines = [line.split() for line in out.splitlines()]
    assert ["lkc-orders", "orders", "watched,", "as", "lkc-orders"] in lines
    assert ["lkc-scratch", "orders-scratch", "excluded", "by", "discovery.clusters"] in lines
    assert ["lkc-pay", "payments", "watched", "as", "clusters.payments", "(the", "static", "entry", "wins)"] in lines
    assert any(line[:2] == ["lkc-new", "new"] and "PROVISIONING)" in line for line in lines)
    assert any("ENVIRONMENT env-shut (locked): refused (forbidden:" in line for line in out.splitlines())
    assert "would watch 1 discovered cluster(s) and 1 configured one(s)" in out
    assert {call.endpoint for call in simulator.calls} == {"list_environments", "list_clusters"}
    assert not (tmp_path / "state.db").exists(), "nothing else: not even the state file"
    assert TEST_API_SECRET not in out


async def test_check_config_discover_fails_when_the_key_is_refused(
    tmp_path: Path, credentials_env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("WATCHDOG_CREDENTIALS__MAIN__API_SECRET", "not-the-secret-at-all")
    async with served(Simulator(Scenario.model_validate(SCENARIO))) as url:
        path = write_config(tmp_path, url)
        code = await asyncio.to_thread(main, ["check-config", "--config", str(path), "--discover"])
    captured = capsys.readouterr()
    assert code == 1
    assert "the environments could not be listed: unauthorized: Valid authentication credentials must be provided" in captured.out
    assert "not-the-secret-at-all" not in captured.out + captured.err


def test_check_config_discover_without_a_discovery_section_says_so(
    tmp_path: Path, credentials_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_config(tmp_path, "https://api.confluent.cloud")
    data = yaml.safe_load(path.read_text())
    del data["discovery"]
    path.write_text(yaml.safe_dump(data))
    assert main(["check-config", "--config", str(path), "--discover"]) == 2
    assert "no discovery section" in capsys.readouterr().err


@contextlib.asynccontextmanager
async def discovering_daemon(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[tuple[Daemon, str, Path]]:
    """A daemon on 127.0.0.1 over the simulator of SCENARIO, its discovery refreshed and the
    discovered `lkc-orders` polled: (the daemon, its address, its config file)."""
    from watchdog.app import Daemon
    from watchdog.config import load_config

    monkeypatch.setenv("WATCHDOG_SERVER__AUTH_TOKEN", "discovery-token-0123456789")
    async with served(Simulator(Scenario.model_validate(SCENARIO))) as url:
        path = write_config(tmp_path, url)
        daemon = Daemon(load_config(path))
        await daemon.start()
        try:
            await daemon.refresh_discovery()
            await daemon.pollers["lkc-orders"].poll()
            yield daemon, f"http://127.0.0.1:{daemon.bound_port}", path
        finally:
            await daemon.stop()


async def test_status_from_the_daemon_places_discovered_clusters_in_their_environment(
    tmp_path: Path, credentials_env: None, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    async with discovering_daemon(tmp_path, monkeypatch) as (daemon, address, _):
        await daemon.pollers["payments"].poll()
        code = await asyncio.to_thread(main, ["status", "--daemon", address])
        out = capsys.readouterr().out
        assert code == 0
        assert await asyncio.to_thread(main, ["status", "--daemon", address, "--json"]) == 0
        printed = capsys.readouterr().out  # the daemon's own log lines share stdout in this test
        rows = json.loads(printed[printed.index("{\n"):])["connectors"]
    table = out.splitlines()
    table = table[table.index("ENVIRONMENT env-prod (production)"):]
    assert table[:4] == [
        "ENVIRONMENT env-prod (production)",
        "  CLUSTER lkc-orders (orders)",
        "    CONNECTOR        HEALTH   STATE    ATTEMPTS  LAST RESTART  NEXT ALLOWED  GAVE UP",
        "    orders-sink      healthy  RUNNING         0  -             now           no",
    ]
    assert "  CLUSTER payments (lkc-pay)" in out
    (orders,) = [row for row in rows if row["cluster"] == "lkc-orders"]
    assert orders["environment_id"] == "env-prod" and orders["cluster_display_name"] == "orders"


async def test_restart_of_a_discovered_cluster_from_the_command_line(
    tmp_path: Path, credentials_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    simulator = Simulator(Scenario.model_validate(SCENARIO))
    async with served(simulator) as url:
        path = write_config(tmp_path, url)
        code = await asyncio.to_thread(main, ["restart", "lkc-orders", "orders-sink", "--config", str(path), "--log-level", "ERROR"])
        unknown = await asyncio.to_thread(main, ["restart", "lkc-nope", "orders-sink", "--config", str(path), "--log-level", "ERROR"])
    out = capsys.readouterr().out
    assert code == 0 and "lkc-orders/orders-sink: accepted (HTTP 202)" in out
    assert unknown == 1 and "lkc-nope/orders-sink: not restarted (missing)" in out
    assert len(simulator.restarts("lkc-orders")) == 1


async def test_check_config_discover_prints_an_upstreams_phase_as_text() -> None:
    # A cluster's status.phase was printed as it came: terminal escapes in it set the operator's
    # window title and cleared the screen, and a phase of any length went out whole.
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/org/v2/environments":
            return httpx.Response(200, json={"data": [{"id": "env-1", "display_name": "prod"}], "metadata": {}})
        cluster = {"id": "lkc-1", "spec": {"display_name": "orders", "environment": {"id": "env-1"}},
                   "status": {"phase": "\x1b]0;owned\x07\x1b[2J" + "P" * 1000}}
        return httpx.Response(200, json={"data": [cluster], "metadata": {}})

    complete, text = await discover_once(daemon_config([], discovery={}), httpx.MockTransport(answer))

    assert complete
    assert "\x1b" not in text and "\x07" not in text, repr(text)
    [line] = [line for line in text.splitlines() if "lkc-1" in line]
    # A phase the spec does not list is watched, and said (tests/test_discovery_phases.py).
    assert "watched, as lkc-1 (phase '?]0;owned??[2JPPP" in line and len(line) < 250, line


def with_faults(*faults: dict[str, Any], **settings: Any) -> Scenario:
    return Scenario.model_validate({**SCENARIO, "faults": list(faults), **settings})


def refused(endpoint: str, status: int, headers: dict[str, str], count: int | None = 1) -> dict[str, Any]:
    return {"match": {"endpoint": endpoint}, "when": {"count": count} if count else {},
            "action": {"status": status, "headers": headers}}


@pytest.mark.parametrize(("header", "said"), [("Retry-After", "its Retry-After"), ("X-RateLimit-Reset", "its X-RateLimit-Reset")])
async def test_check_config_discover_waits_out_a_429_as_its_answer_asks_then_answers(
    tmp_path: Path, credentials_env: None, capsys: pytest.CaptureFixture[str], header: str, said: str
) -> None:
    # In an incident, on the key the daemon uses too: the first environment listing and the first
    # cluster listing each answered 429. The command failed after that one round (exit 1, "could
    # not be listed: rate_limited"), where a CLI of this kind waits as the answer asks.
    simulator = Simulator(with_faults(refused("list_environments", 429, {header: "1"}),
                                      refused("list_clusters", 429, {header: "1"})))
    async with served(simulator) as url:
        path = write_config(tmp_path, url)
        code = await asyncio.wait_for(asyncio.to_thread(main, ["check-config", "--config", str(path), "--discover"]), 60)
    captured = capsys.readouterr()
    assert code == 0, captured.out + captured.err
    assert "would watch 1 discovered cluster(s) and 1 configured one(s)" in captured.out
    waits = [line for line in captured.err.splitlines() if line.startswith("--discover: ") and "waiting" in line]
    assert len(waits) == 2, captured.err
    assert waits[0].startswith("--discover: the environment list: rate_limited (429); the API asked to wait")
    assert all(said in line and "before asking again" in line for line in waits)
    listings = [call.t for call in simulator.calls if call.endpoint == "list_environments"]
    assert len(listings) == 2 and listings[1] - listings[0] >= 0.9, "asked again only once the wait was over"
    assert "discovery now (5 list call(s), nothing else): ok" in captured.out


async def test_check_config_discover_rides_out_a_key_at_its_limit(
    tmp_path: Path, credentials_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    # One call per 2 s window left to this command (the daemon takes the rest): each listing after
    # the first meets a real 429 and waits for the next window.
    limit = {"limit": 1, "window_seconds": 2, "retry_after": False}
    simulator = Simulator(with_faults(rate_limit=limit))
    async with served(simulator) as url:
        path = write_config(tmp_path, url)
        code = await asyncio.wait_for(asyncio.to_thread(main, ["check-config", "--config", str(path), "--discover"]), 60)
    captured = capsys.readouterr()
    assert code == 0, captured.out + captured.err
    assert "would watch 1 discovered cluster(s) and 1 configured one(s)" in captured.out
    assert "its X-RateLimit-Reset" in captured.err


async def test_check_config_discover_does_not_begin_a_wait_longer_than_its_deadline(
    tmp_path: Path, credentials_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    simulator = Simulator(with_faults(refused("list_environments", 429, {"Retry-After": "600"})))
    async with served(simulator) as url:
        path = write_config(tmp_path, url)
        code = await asyncio.wait_for(asyncio.to_thread(main, ["check-config", "--config", str(path), "--discover"]), 20)
    captured = capsys.readouterr()
    assert code == 1
    assert "the environments could not be listed: rate_limited" in captured.out
    assert ("--discover: the environment list: rate_limited (429); the API asked to wait 600.0 s (its Retry-After), "
            "longer than the 30 s left of the 30 s this command waits in all: not asked again (try again in 600 s)"
            in captured.err)
    assert len([call for call in simulator.calls if call.endpoint == "list_environments"]) == 1


async def test_check_config_discover_stops_asking_after_its_retries_and_shows_what_it_read(
    tmp_path: Path, credentials_env: None, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("watchdog.discovery.preview.FIRST_BACKOFF_SECONDS", 0.05)
    simulator = Simulator(with_faults(refused("list_clusters", 503, {}, count=None)))
    async with served(simulator) as url:
        path = write_config(tmp_path, url)
        code = await asyncio.wait_for(asyncio.to_thread(main, ["check-config", "--config", str(path), "--discover"]), 60)
    captured = capsys.readouterr()
    assert code == 1
    # Every cluster listing answers 503: the first environment's spends the tries again (4 in
    # all, for the whole command), the second is asked once; each is shown unread, never hung on.
    for environment in ("env-prod (production)", "env-shut (locked)"):
        assert f"ENVIRONMENT {environment}: could not be read (server_error" in captured.out
    assert len([line for line in captured.err.splitlines() if "before asking again" in line]) == 4
    assert "not asked again: 4 tries again already made (at most 4)" in captured.err
    assert len([call for call in simulator.calls if call.endpoint == "list_clusters"]) == 5 + 1


async def test_a_discovered_cluster_asked_for_by_its_display_name_is_told_its_lkc_id(
    tmp_path: Path, credentials_env: None, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # `watchdog status` shows `CLUSTER lkc-orders (orders)`, and the console calls it `orders`:
    # `watchdog restart --daemon URL orders orders-sink` was answered `unknown cluster 'orders';
    # configured: lkc-orders, payments` (which id is it?), `history --daemon URL --cluster orders`
    # `unknown cluster 'orders'` alone, and without a daemon `configured: ` and nothing at all.
    async with discovering_daemon(tmp_path, monkeypatch) as (_, address, path):
        capsys.readouterr()
        restart = await asyncio.to_thread(main, ["restart", "--daemon", address, "orders", "orders-sink", "--wait", "0"])
        restart_err = capsys.readouterr().err
        history = await asyncio.to_thread(main, ["history", "--daemon", address, "--cluster", "Orders"])
        history_err = capsys.readouterr().err
        typo = await asyncio.to_thread(main, ["history", "--daemon", address, "--cluster", "ordres"])
        typo_err = capsys.readouterr().err
    offline = main(["restart", "orders", "orders-sink", "--config", str(path), "--log-level", "ERROR"])
    offline_err = capsys.readouterr().err
    from_state = main(["history", "--cluster", "orders", "--config", str(path)])
    state_err = capsys.readouterr().err

    told = "it is the display name of lkc-orders: a discovered cluster is named by its lkc- id"
    assert restart == 1 and (f"orders/orders-sink: refused by the daemon (HTTP 404): unknown cluster 'orders'; {told}; "
                             "configured: lkc-orders, payments") in restart_err, restart_err
    # The history's 404 names the clusters too, as the restart's did (README: `configured: ...`).
    assert history == 1 and f"unknown cluster 'Orders'; {told}; configured: lkc-orders, payments" in history_err, history_err
    how = "a discovered cluster is named by its lkc- id, not its display name"
    assert typo == 1 and f"unknown cluster 'ordres'; {how} (`watchdog status --daemon URL` shows both)" in typo_err, typo_err
    shown_by = "(`watchdog check-config --discover` shows both)"
    assert offline == 1 and f"unknown cluster 'orders'; configured: payments; {how} {shown_by}" in offline_err, offline_err
    assert from_state == 1 and (f"unknown cluster 'orders': neither the config nor the state file knows it; "
                                f"configured: payments; {how} {shown_by}") in state_err, state_err


@pytest.mark.parametrize("command", [["check-config", "--discover"], ["restart", "lkc-orders", "orders-sink"]])
async def test_a_long_pause_met_at_one_environment_is_not_waited_out_at_the_next(
    tmp_path: Path, credentials_env: None, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    # env-prod's cluster list answered 429 with Retry-After: 900. The command said "try again in
    # 900 s" for it, then sent env-shut's listing, which the key's limiter held for the whole
    # pause: 900 s (rate_limit.max_pause) at the terminal, where the command promises 30 s.
    # (max_pause 90 here only so that a regression hangs this test 90 s, not 15 minutes.)
    simulator = Simulator(with_faults(refused("list_clusters", 429, {"Retry-After": "900"})))
    async with served(simulator) as url:
        path = write_config(tmp_path, url, rate_limit={"max_pause": 90})
        started = asyncio.get_running_loop().time()
        code = await asyncio.wait_for(asyncio.to_thread(main, [*command, "--config", str(path), "--log-level", "WARNING"]), 60)
        took = asyncio.get_running_loop().time() - started
    captured = capsys.readouterr()
    assert code == 1, captured.out + captured.err
    assert took < 15, f"{took:.0f} s"
    assert len([call for call in simulator.calls if call.endpoint == "list_clusters"]) == 1, "env-shut not asked"
    assert ("the cluster list of environment env-shut: not asked: the API key is paused for 90 s more, longer than "
            "the 30 s left of the 30 s this command waits in all; the listings after it are not asked either "
            "(try again in 90 s)") in captured.err
    assert "env-shut (rate_limited: not asked: the API key is paused by a 429 for 90 s more)" in captured.out \
        or "ENVIRONMENT env-shut (locked): could not be read (rate_limited: not asked: the API key is paused by a 429 " \
           "for 90 s more)" in captured.out, captured.out


async def test_a_discovered_clusters_listing_is_not_sent_into_a_long_pause_of_its_key(
    tmp_path: Path, credentials_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    # Discovery read env-prod (lkc-orders found), then env-shut's cluster list answered 429 with
    # Retry-After: 900. The restart then listed lkc-orders, and that listing waited out the whole
    # pause (rate_limit.max_pause, 15 minutes) before its first try, saying nothing.
    # (max_pause 90 here only so that a regression hangs this test 90 s, not 15 minutes.)
    simulator = Simulator(with_faults(
        {"match": {"endpoint": "list_clusters"}, "when": {"count": 1}, "action": {"delay_seconds": 0.01}},
        refused("list_clusters", 429, {"Retry-After": "900"})))
    async with served(simulator) as url:
        path = write_config(tmp_path, url, rate_limit={"max_pause": 90})
        started = asyncio.get_running_loop().time()
        code = await asyncio.wait_for(asyncio.to_thread(
            main, ["restart", "lkc-orders", "orders-sink", "--config", str(path), "--log-level", "WARNING"]), 60)
        took = asyncio.get_running_loop().time() - started
    captured = capsys.readouterr()
    assert code == 1, captured.out + captured.err
    assert took < 15, f"{took:.0f} s"
    assert ("lkc-orders/orders-sink: not restarted (missing): cluster lkc-orders was not listed: its API key is paused "
            "by a 429 for 90 s more, longer than the 30 s this command waits: try again then") in captured.out, captured.out
    assert not [call for call in simulator.calls if call.endpoint == "list"], "no listing sent into the pause"
    assert not simulator.restarts("lkc-orders")


async def test_check_config_discover_stars_the_configs_secrets_in_what_it_prints(
    tmp_path: Path, credentials_env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # The daemon stars every secret of its config in what upstream says (connect.masking) and in
    # its log; check-config --discover never gave them to the log, so an answer quoting one the
    # request did not carry (the restart API's token here) was printed, and logged, as it came.
    token = "discover-token-Hq5Tz8cR2wLe0123"
    monkeypatch.setenv("WATCHDOG_SERVER__AUTH_TOKEN", token)
    said = {"match": {"endpoint": "list_environments"}, "action": {
        "status": 500, "body": {"error": {"code": 500, "message": f"backend saw token {token}"}}}}
    async with served(Simulator(with_faults(said))) as url:
        path = write_config(tmp_path, url)
        code = await asyncio.wait_for(asyncio.to_thread(main, ["check-config", "--config", str(path), "--discover"]), 60)
    captured = capsys.readouterr()
    assert code == 1
    assert "backend saw token ***" in captured.out, captured.out
    assert token not in captured.out + captured.err
