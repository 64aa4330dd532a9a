"""A config change applied with the shipped manifests (`kubectl apply -k`) is a live reload of the
running daemon, not a new pod: the ConfigMap keeps its name (so the Deployment does not roll) and
is mounted as a directory (so the kubelet's update reaches the file the daemon reads), and the
daemon refuses a bad file and keeps serving with the config it runs.

Before, kustomize's hash suffix gave every edit a new ConfigMap name, so a new pod, and with
`strategy: Recreate` the good pod stopped first: a config with one bad value left no watchdog at
all (a Kubernetes rollout probe: 32 of 39 webhooks and restart requests refused, CrashLoopBackOff).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Any

import httpx
import yaml

from bench.processes import free_port

from ..support import kubelet_swap
from .live import Budget, start, stop_process
from .tools import DEPLOY, kubectl, run

LIVE = Path("overlays") / "live"


def render(kubernetes: Path) -> dict[str, dict[str, Any]]:
    out = run([kubectl(), "kustomize", str(kubernetes / LIVE)]).stdout
    return {doc["kind"]: doc for doc in yaml.safe_load_all(out) if doc}


def edited_copy(tmp_path: Path, name: str, edit: Any) -> Path:
    """deploy/kubernetes with base/config.yaml changed as an operator would before `apply -k`."""
    copy = tmp_path / name
    shutil.copytree(DEPLOY / "kubernetes", copy)
    config = yaml.safe_load((copy / "base" / "config.yaml").read_text(encoding="utf-8"))
    edit(config)
    (copy / "base" / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return copy


def one_bad_value(config: dict[str, Any]) -> None:
    config["rules"][0]["max_restarts"] = -3  # the probe's edit: refused, `greater than or equal to 1`


def one_good_value(config: dict[str, Any]) -> None:
    config["rules"][0]["max_restarts"] = 12


def test_a_config_edit_applied_with_kustomize_changes_the_configmap_in_place_and_rolls_no_pod(tmp_path: Path) -> None:
    before = render(DEPLOY / "kubernetes")
    after = render(edited_copy(tmp_path, "edited", one_bad_value))
    assert after["ConfigMap"]["data"] != before["ConfigMap"]["data"]
    # The same ConfigMap, updated: no new name for the Deployment to point at.
    assert after["ConfigMap"]["metadata"]["name"] == before["ConfigMap"]["metadata"]["name"]
    # The pod template unchanged: the Deployment does not roll, the running pod stays.
    assert after["Deployment"] == before["Deployment"]


def test_a_bad_config_applied_is_refused_by_the_running_daemon_which_keeps_serving(tmp_path: Path) -> None:
    """The daemon run as the rendered live overlay's pod runs it: the ConfigMap's files where the
    Deployment mounts them (under tmp_path), found through the Deployment's WATCHDOG_CONFIG."""
    budget = Budget(90, "a bad config applied, then a good one")
    rendered = render(DEPLOY / "kubernetes")
    (main,) = rendered["Deployment"]["spec"]["template"]["spec"]["containers"]
    env_of_pod = {item["name"]: item["value"] for item in main["env"] if "value" in item}
    (mount,) = [m for m in main["volumeMounts"] if m["name"] == "config"]
    root = tmp_path / "pod"
    mount_dir = root / mount["mountPath"].lstrip("/")
    kubelet_swap(mount_dir, rendered["ConfigMap"]["data"])
    config_file = root / env_of_pod["WATCHDOG_CONFIG"].lstrip("/")
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    for key in ("WATCHDOG_CREDENTIALS__MAIN__API_KEY", "WATCHDOG_CREDENTIALS__MAIN__API_SECRET",
                "WATCHDOG_SERVER__AUTH_TOKEN"):
        (secrets / key).write_text("placeholder-value-0123456789", encoding="utf-8")
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("WATCHDOG_")}
    env.update(env_of_pod)
    env.update({
        "WATCHDOG_CONFIG": str(config_file),
        "WATCHDOG_SECRETS_DIR": str(secrets),
        "WATCHDOG_STATE__PATH": str(tmp_path / "state.db"),
        "WATCHDOG_SERVER__HOST": "127.0.0.1",
        "WATCHDOG_SERVER__PORT": str(port),
        # Nothing listens there: every poll fails at once, which still makes the pod Ready.
        "WATCHDOG_API__BASE_URL": f"http://127.0.0.1:{free_port()}",
        "WATCHDOG_RELOAD__INTERVAL": "0.2s",
    })
    log = tmp_path / "daemon.log"
    daemon = start([sys.executable, "-m", "watchdog", "run"], log, env=env)
    try:
        def ready() -> bool | None:
            return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200 or None

        def logged(event: str, count: int = 1) -> bool | None:
            return log.read_text(encoding="utf-8").count(f'"event": "{event}"') >= count or None

        budget.wait_until(ready, 30, "the daemon Ready", log=log, alive=daemon)
        kubelet_swap(mount_dir, render(edited_copy(tmp_path, "bad", one_bad_value))["ConfigMap"]["data"])
        budget.wait_until(lambda: logged("config_reload_failed"), 20, "config_reload_failed", log=log, alive=daemon)
        failed = next(line for line in log.read_text(encoding="utf-8").splitlines()
                      if '"event": "config_reload_failed"' in line)
        assert "rules[0].max_restarts" in failed, failed
        assert daemon.poll() is None, "the daemon keeps running"
        assert ready(), "and stays Ready: it keeps the config it runs"
        metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        assert "watchdog_config_last_reload_successful 0.0" in metrics
        # Fixed and applied again: the same daemon takes it.
        kubelet_swap(mount_dir, render(edited_copy(tmp_path, "good", one_good_value))["ConfigMap"]["data"])
        budget.wait_until(lambda: logged("config_reloaded"), 20, "config_reloaded", log=log, alive=daemon)
        assert "watchdog_config_last_reload_successful 1.0" in httpx.get(
            f"http://127.0.0.1:{port}/metrics", timeout=5).text
    finally:
        stop_process(daemon, timeout=30)
    assert daemon.returncode == 0, log.read_text(encoding="utf-8")[-3000:]
