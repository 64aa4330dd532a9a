"""The `ha` overlay: two replicas sharing a PostgreSQL state store, never on one node, no state
volume, at most one evicted at a time, the database URL and password from a Secret, and a config
the daemon accepts with them."""

from __future__ import annotations

import functools
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from .tools import DEPLOY, RUNBOOK, kubectl, run

OVERLAY = DEPLOY / "kubernetes" / "overlays" / "ha"


@functools.cache
def rendered() -> tuple[dict[str, Any], ...]:
    out = run([kubectl(), "kustomize", str(OVERLAY)]).stdout
    return tuple(doc for doc in yaml.safe_load_all(out) if doc)


def the(kind: str) -> dict[str, Any]:
    (found,) = [doc for doc in rendered() if doc["kind"] == kind]
    return found


def test_two_replicas_on_two_nodes_without_a_volume() -> None:
    kinds = sorted(doc["kind"] for doc in rendered())
    assert kinds == sorted(["ConfigMap", "Deployment", "NetworkPolicy", "PodDisruptionBudget", "PrometheusRule",
                            "Service", "ServiceMonitor"])
    deployment = the("Deployment")["spec"]
    assert deployment["replicas"] == 2
    # Every healthy replica is Ready (the standby too): an ordinary rolling update, one pod at a
    # time, never both gone; no surge pod, which the anti-affinity could not place on two nodes.
    assert deployment["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}}
    pod = deployment["template"]["spec"]
    (required,) = pod["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert required["topologyKey"] == "kubernetes.io/hostname"
    assert required["labelSelector"]["matchLabels"].items() <= deployment["template"]["metadata"]["labels"].items()
    # (As a set: the overlay's patch of the secrets volume puts it first; the order means nothing.)
    assert sorted(v["name"] for v in pod["volumes"]) == ["config", "secrets", "tmp"], "no state volume"
    (container,) = pod["containers"]
    assert "state" not in [m["name"] for m in container["volumeMounts"]]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"


def test_each_replica_mounts_everything_the_single_replica_does_but_the_state_volume() -> None:
    # The patch deleted the state mount by `name`, but a container's volumeMounts merge on
    # `mountPath`: kustomize dropped every mount (config, Secret, /tmp), and a replica found no
    # config file (exit 2), its secret files and writable /tmp gone too.
    live = run([kubectl(), "kustomize", str(DEPLOY / "kubernetes" / "overlays" / "live")]).stdout
    (single,) = [doc for doc in yaml.safe_load_all(live) if doc and doc["kind"] == "Deployment"]
    (single_container,) = single["spec"]["template"]["spec"]["containers"]
    (container,) = the("Deployment")["spec"]["template"]["spec"]["containers"]
    assert container["volumeMounts"] == [mount for mount in single_container["volumeMounts"] if mount["name"] != "state"]
    assert {mount["name"] for mount in container["volumeMounts"]} == {"config", "secrets", "tmp"}


def test_at_most_one_replica_is_evicted_at_a_time() -> None:
    budget = the("PodDisruptionBudget")["spec"]
    assert budget["maxUnavailable"] == 1 and budget["unhealthyPodEvictionPolicy"] == "AlwaysAllow"
    assert budget["selector"]["matchLabels"].items() <= the("Deployment")["spec"]["template"]["metadata"]["labels"].items()


def test_the_database_comes_from_a_secret_and_the_policy_lets_it_through() -> None:
    (container,) = the("Deployment")["spec"]["template"]["spec"]["containers"]
    env = {item["name"]: item for item in container["env"]}
    assert env["WATCHDOG_STATE__URL"]["valueFrom"]["secretKeyRef"] == {"name": "connect-watchdog-database",
                                                                       "key": "WATCHDOG_STATE__URL"}
    assert env["WATCHDOG_DRY_RUN"]["value"] == "false"
    egress = the("NetworkPolicy")["spec"]["egress"]
    assert {"ports": [{"port": 5432, "protocol": "TCP"}]} in egress


# What the runbook rotates live by patching a Secret (docs/runbook.md, "Rotating the database
# password", "Rotating the API key"): each must reach the daemon as a file of the mounted secrets
# directory, which the kubelet updates in place and the file watcher reloads. Given as a variable
# (fixed when the container starts, and winning over the file), the rotated password never
# reached the replicas: after the next database session reset, no leader.
ROTATED_LIVE = ("WATCHDOG_STATE__PASSWORD", "WATCHDOG_CREDENTIALS__", "WATCHDOG_SERVER__AUTH_TOKEN")


def test_what_the_runbook_rotates_live_is_a_mounted_file_no_variable_overrides() -> None:
    pod = the("Deployment")["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert not [item["name"] for item in container.get("env", []) + container.get("envFrom", [])
                if item.get("name", "").startswith(ROTATED_LIVE) or "secretRef" in item]
    (mount,) = [m for m in container["volumeMounts"] if m["mountPath"] == "/etc/watchdog/secrets"]
    assert "subPath" not in mount, "a subPath mount never sees an update"
    (volume,) = [v for v in pod["volumes"] if v["name"] == mount["name"]]
    assert "secret" not in volume, volume
    sources = volume["projected"]["sources"]
    # The API key, secret and token as in the single replica; the password from the HA Secret, as
    # a file beside them (the runbook patches connect-watchdog-database for it).
    assert {"secret": {"name": "connect-watchdog-credentials"}} in sources
    assert {"secret": {"name": "connect-watchdog-database",
                       "items": [{"key": "WATCHDOG_STATE__PASSWORD", "path": "WATCHDOG_STATE__PASSWORD"}]}} in sources
    assert volume["projected"]["defaultMode"] == 0o440


def test_the_runbook_rotates_the_password_in_the_secret_each_deployment_reads() -> None:
    runbook = RUNBOOK.read_text()
    section = runbook[runbook.index("### Rotating the database password"):]
    section = section[:section.index("\n### ", 1)]
    assert "connect-watchdog-database" in section and "overlays/ha" in section


def test_the_config_with_a_database_url_is_valid(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(the("ConfigMap")["data"]["config.yaml"])
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    for name in ("WATCHDOG_CREDENTIALS__MAIN__API_KEY", "WATCHDOG_CREDENTIALS__MAIN__API_SECRET"):
        (secrets / name).write_text("placeholder-value-0123456789\n")
    env = {key: value for key, value in os.environ.items() if not key.startswith("WATCHDOG_")}
    # As the image and the Secret set them: the image's SQLite path stays, the URL wins.
    env.update({"WATCHDOG_STATE__PATH": "/var/lib/watchdog/state.db", "WATCHDOG_DRY_RUN": "false",
                "WATCHDOG_STATE__URL": "postgresql://watchdog@db.example.internal:5432/watchdog?sslmode=verify-full",
                "WATCHDOG_STATE__PASSWORD": "db-password-not-shown-7Tq"})
    done = subprocess.run([sys.executable, "-m", "watchdog", "check-config", "--config", str(config),
                           "--secrets-dir", str(secrets)], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "db-password-not-shown-7Tq" not in done.stdout + done.stderr
    assert "postgresql://watchdog@db.example.internal:5432/watchdog" in done.stdout, done.stdout
