"""SIGHUP's reload waits, as the file watcher does, for the file to stop changing before it reads
it. Found by a reload probe: a Compose user edited the bind-mounted file in place and sent SIGHUP
while the write was still going; the cut file was read at once and applied, a rule removed for a
moment (its queued restarts would end `dropped`), the rest applied by the watcher a second later."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import structlog
import yaml

from watchdog.app import Daemon
from watchdog.config import load_config

from .support import CLUSTER, CLUSTER_ID, ENVIRONMENT


def rules(count: int) -> list[dict[str, Any]]:
    return [{"name": f"r{i}", "trigger": {"type": "status", "interval": 3600}, "select": {"include": [f"c{i}"]}}
            for i in range(count)]


def text(count: int) -> str:
    return yaml.safe_dump({
        "credentials": {"main": {}},
        "clusters": {CLUSTER: {"environment_id": ENVIRONMENT, "kafka_cluster_id": CLUSTER_ID}},
        "server": {"host": "127.0.0.1", "port": 0}, "state": {"path": ":memory:"},
        # The watcher's settle wait is min(reload.interval, 1 s): 0.5 s here, SIGHUP's the same.
        "reload": {"interval": "500ms", "watch": False}, "rules": rules(count),  # last: a cut keeps the rest
    }, sort_keys=False)


def daemon_of(path: Path) -> Daemon:
    return Daemon(load_config(path), transport=httpx.MockTransport(lambda request: httpx.Response(200, json={})),
                  reload_config=lambda: load_config(path), config_path=path)


async def test_a_sighup_during_an_in_place_write_applies_the_whole_file_not_the_cut(tmp_path: Path, credentials_env: None) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(text(3))
    daemon = daemon_of(path)
    whole = text(4)
    cut = whole[:whole.index("- name: r2")]  # valid YAML: r0 and r1 alone
    with structlog.testing.capture_logs() as logs:
        with path.open("r+") as file:  # in place, as an editor on the host writes a bind-mounted file
            file.truncate(0)
            file.write(cut)
            file.flush()
            reloading = daemon.reload_soon("SIGHUP")
            await asyncio.sleep(0.35)
            file.write(whole[len(cut):])
        assert await asyncio.wait_for(reloading, 5) is True
    await daemon.stop()
    reloads = [e for e in logs if e["event"] == "config_reloaded"]
    assert [(e.get("rules_added"), e.get("rules_removed")) for e in reloads] == [(["r3"], None)], reloads
    assert [rule.name for rule in daemon.config.rules] == ["r0", "r1", "r2", "r3"]


async def test_sighups_while_the_file_settles_make_one_reload_and_a_still_file_is_read_within_the_wait(
    tmp_path: Path, credentials_env: None
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(text(1))
    daemon = daemon_of(path)
    path.write_text(text(2))
    loop = asyncio.get_running_loop()
    began = loop.time()
    with structlog.testing.capture_logs() as logs:
        tasks = [daemon.reload_soon("SIGHUP") for _ in range(20)]
        assert all(await asyncio.wait_for(asyncio.gather(*tasks), 5))
    took = loop.time() - began
    await daemon.stop()
    assert len([e for e in logs if e["event"] == "config_reloaded"]) == 1
    assert 0.4 < took < 2.0, took


async def test_a_stop_while_sighups_reload_waits_for_the_file_says_it_was_not_applied(tmp_path: Path, credentials_env: None) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(text(1))
    daemon = daemon_of(path)
    path.write_text(text(2))
    with structlog.testing.capture_logs() as logs:
        daemon.reload_soon("SIGHUP")
        await asyncio.sleep(0.1)
        await asyncio.wait_for(daemon.abandon_reloads(), 5)
    await daemon.stop()
    (said,) = [e for e in logs if e["event"] == "config_reload_abandoned"]
    assert "waited for the file to stop changing" in said["note"]
    assert [rule.name for rule in daemon.config.rules] == ["r0"]
