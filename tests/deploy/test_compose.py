"""The compose playground: a valid Compose file (the compose-spec parser, strict), whose every
mounted config is one that CI checks elsewhere, wired consistently (service names, ports, paths),
and running the Prometheus and Alertmanager versions CI tests with."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from watchdog.config import load_config

from . import dockerfile as df
from .tools import (
    ALERTMANAGER_CONFIG,
    DAEMON_CONFIG,
    DAEMON_SECRETS,
    DASHBOARD,
    DEPLOY,
    PROMETHEUS_CONFIG,
    RULES,
    prometheus,
    promtool,
    python_module,
    run,
    tool,
)

COMPOSE_DIR = DEPLOY / "compose"
COMPOSE_FILE = COMPOSE_DIR / "compose.yaml"
GRAFANA = DEPLOY / "grafana"


def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))


def service(name: str) -> dict[str, Any]:
    return compose()["services"][name]


def bind_mounts(name: str) -> dict[str, Path]:
    """container path -> host path of a service's bind mounts (named volumes left out)."""
    mounts = {}
    for volume in service(name).get("volumes", []):
        source, target = volume.split(":")[:2]
        if source.startswith("."):
            mounts[target] = (COMPOSE_DIR / source).resolve()
    return mounts


def test_the_compose_file_is_valid_compose() -> None:
    python_module("compose_spec", package="the compose-spec wheel (the compose_spec parser)")
    from compose_spec import PyCompose

    # PyYAML resolves the `<<: *hardened` merge keys, as Compose does, before the strict parser.
    parsed = PyCompose.from_json(json.dumps(compose()))
    parsed.validate()
    assert parsed.service_names() == ["simulator", "watchdog", "prometheus", "alertmanager", "grafana"]
    declared = set(compose()["volumes"])
    for name, spec in compose()["services"].items():
        for volume in spec.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (COMPOSE_DIR / source).exists(), f"{name}: {source} does not exist"
            else:
                assert source in declared, f"{name}: named volume {source} is not declared"


def test_every_mounted_config_is_one_ci_checks() -> None:
    checked = {
        # the daemon's config and secrets: tests/deploy/test_queries.py runs the daemon with them,
        # test_image.py runs the replayed image with them
        ("watchdog", "/etc/watchdog/config.yaml"): DAEMON_CONFIG,
        ("watchdog", "/etc/watchdog/secrets"): DAEMON_SECRETS,
        # prometheus.yml and the alert rules: promtool, and the live Prometheus of test_queries.py
        ("prometheus", "/etc/prometheus"): PROMETHEUS_CONFIG.parent,
        # amtool check-config
        ("alertmanager", "/etc/alertmanager/alertmanager.yml"): ALERTMANAGER_CONFIG,
        # the dashboard: every query run by test_queries.py; the provisioning: checked below
        ("grafana", "/etc/grafana/provisioning"): GRAFANA / "provisioning",
        ("grafana", "/var/lib/grafana/dashboards"): DASHBOARD.parent,
    }
    mounted = {(name, target): source for name in compose()["services"] for target, source in bind_mounts(name).items()}
    assert mounted == {key: value.resolve() for key, value in checked.items()}
    assert RULES.parent == PROMETHEUS_CONFIG.parent
    assert sorted(p.name for p in DASHBOARD.parent.iterdir()) == [DASHBOARD.name]


def test_services_find_each_other() -> None:
    prometheus_config = yaml.safe_load(PROMETHEUS_CONFIG.read_text(encoding="utf-8"))
    daemon_config = yaml.safe_load(DAEMON_CONFIG.read_text(encoding="utf-8"))
    expose = df.parse().final.one("EXPOSE").text
    # The daemon listens where Prometheus scrapes it and where the port is published.
    (scrape,) = prometheus_config["scrape_configs"]
    assert scrape["static_configs"][0]["targets"] == [f"watchdog:{daemon_config['server']['port']}"]
    assert str(daemon_config["server"]["port"]) == expose
    assert daemon_config["server"]["host"] == "0.0.0.0"
    assert service("watchdog")["ports"] == [f"{expose}:{expose}"]
    # The daemon calls the simulator at the address the simulator serves.
    command = service("simulator")["command"]
    assert command[0] == "simulate"
    assert daemon_config["api"]["base_url"] == f"http://simulator:{command[command.index('--port') + 1]}"
    assert "--port" in command and "8080" in " ".join(service("simulator")["healthcheck"]["test"])
    # Prometheus sends alerts to the Alertmanager service.
    (alertmanagers,) = prometheus_config["alerting"]["alertmanagers"]
    assert alertmanagers["static_configs"][0]["targets"] == ["alertmanager:9093"]
    assert service("alertmanager")["ports"] == ["9093:9093"]
    # Grafana's data source is the Prometheus service.
    (datasource,) = yaml.safe_load((GRAFANA / "provisioning/datasources/prometheus.yaml").read_text())["datasources"]
    assert datasource["url"] == "http://prometheus:9090" and datasource["type"] == "prometheus"
    assert datasource["isDefault"] is True
    assert datasource["jsonData"]["timeInterval"] == prometheus_config["global"]["scrape_interval"]


def test_grafana_provisions_the_dashboard_as_home() -> None:
    (provider,) = yaml.safe_load((GRAFANA / "provisioning/dashboards/connect-watchdog.yaml").read_text())["providers"]
    mounts = bind_mounts("grafana")
    assert mounts[provider["options"]["path"]] == DASHBOARD.parent.resolve()
    home = service("grafana")["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home == f"{provider['options']['path']}/{DASHBOARD.name}"


def test_the_daemon_runs_hardened_with_its_state_on_a_volume() -> None:
    watchdog = service("watchdog")
    assert watchdog["read_only"] is True
    assert watchdog["cap_drop"] == ["ALL"]
    assert watchdog["security_opt"] == ["no-new-privileges:true"]
    env = dict(pair for instruction in df.parse().final.all("ENV") for pair in df.key_values(instruction))
    assert watchdog["tmpfs"] == [env["TMPDIR"]]
    state_dir = str(Path(env["WATCHDOG_STATE__PATH"]).parent)
    assert f"watchdog-state:{state_dir}" in watchdog["volumes"]
    assert service("simulator")["image"] == watchdog["image"] and "build" in service("simulator")


def test_stop_grace_outlasts_the_drain() -> None:
    config = load_config(DAEMON_CONFIG, secrets_dir=DAEMON_SECRETS)
    grace = service("watchdog")["stop_grace_period"]
    seconds = int(re.fullmatch(r"(\d+)s", grace).group(1))  # type: ignore[union-attr]
    assert seconds > config.queue.shutdown_deadline + config.api.timeouts.connect + config.api.timeouts.read


def test_the_playground_config_passes_check_config_and_really_restarts() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "watchdog", "check-config", "--config", str(DAEMON_CONFIG), "--secrets-dir",
         str(DAEMON_SECRETS)], capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "dry_run: false" in done.stdout


def test_prometheus_and_alertmanager_are_the_versions_ci_tests_with() -> None:
    images = {name: spec["image"] for name, spec in compose()["services"].items()}
    done = run([prometheus(), "--version"])
    prometheus_version = re.search(r"version (\d+\.\d+\.\d+)", done.stdout + done.stderr)
    alertmanager = tool("prometheus-alertmanager", package="Debian's prometheus-alertmanager package")
    done = run([alertmanager, "--version"])
    alertmanager_version = re.search(r"version (\d+\.\d+\.\d+)", done.stdout + done.stderr)
    assert prometheus_version and alertmanager_version
    assert images["prometheus"] == f"prom/prometheus:v{prometheus_version.group(1)}"
    assert images["alertmanager"] == f"prom/alertmanager:v{alertmanager_version.group(1)}"
    assert re.fullmatch(r"grafana/grafana:\d+\.\d+\.\d+", images["grafana"]), "Grafana pinned to a release"


HA_FILE = COMPOSE_DIR / "compose.ha.yaml"


class _Loader(yaml.SafeLoader):
    """Compose's `!override` tag (replace, do not merge, a list of the base file)."""


_Loader.add_constructor("!override", lambda loader, node: loader.construct_sequence(node))  # type: ignore[arg-type]


def test_the_ha_playground_runs_two_daemons_on_postgresql() -> None:
    ha = yaml.load(HA_FILE.read_text(encoding="utf-8"), Loader=_Loader)  # noqa: S506 - a SafeLoader with one tag
    python_module("compose_spec", package="the compose-spec wheel (the compose_spec parser)")
    from compose_spec import PyCompose

    merged = compose()
    merged["services"] = {**merged["services"], **{name: {**merged["services"].get(name, {}), **spec}
                                                    for name, spec in ha["services"].items()}}
    merged["volumes"] = {**merged["volumes"], **ha["volumes"]}
    PyCompose.from_json(json.dumps({k: v for k, v in merged.items() if not k.startswith("x-")})).validate()
    replicas = [name for name, spec in merged["services"].items() if spec.get("image") == "connect-watchdog:local"
                and spec.get("command") is None]
    assert replicas == ["watchdog", "watchdog-b"]
    for name in replicas:
        spec = merged["services"][name]
        assert spec["environment"]["WATCHDOG_STATE__URL"].startswith("postgresql://watchdog@postgres:5432/")
        assert "watchdog-state:/var/lib/watchdog" not in spec["volumes"], "no state volume"
        assert spec["depends_on"]["postgres"] == {"condition": "service_healthy"}
    secrets = COMPOSE_DIR / "watchdog" / "secrets-ha"
    assert (secrets / "WATCHDOG_STATE__PASSWORD").read_text() == (COMPOSE_DIR / "postgres" / "password").read_text()
    env = {key: value for key, value in __import__("os").environ.items() if not key.startswith("WATCHDOG_")}
    env["WATCHDOG_STATE__URL"] = merged["services"]["watchdog"]["environment"]["WATCHDOG_STATE__URL"]
    done = subprocess.run([sys.executable, "-m", "watchdog", "check-config", "--config", str(DAEMON_CONFIG),
                           "--secrets-dir", str(secrets)], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "state: PostgreSQL postgresql://watchdog@postgres:5432/watchdog   password: set" in done.stdout


def test_the_ha_playgrounds_prometheus_scrapes_every_replica() -> None:
    """Only `watchdog` was scraped: once watchdog-b led, the one replica Prometheus saw was the
    standby (watchdog_leader 0) and WatchdogNoLeader paged for ever on a healthy pair."""
    ha = yaml.load(HA_FILE.read_text(encoding="utf-8"), Loader=_Loader)  # noqa: S506 - a SafeLoader with one tag
    services = {**compose()["services"], **{name: {**compose()["services"].get(name, {}), **spec}
                                             for name, spec in ha["services"].items()}}
    replicas = [name for name, spec in services.items() if spec.get("image") == "connect-watchdog:local"
                and spec.get("command") is None]
    flag = next(arg for arg in services["prometheus"]["command"] if arg.startswith("--config.file="))
    mounted = bind_mounts("prometheus")
    path = Path(flag.split("=", 1)[1])
    config_file = mounted[str(path.parent)] / path.name
    out = run([promtool(), "check", "config", str(config_file)]).stdout
    assert "SUCCESS" in out
    config = yaml.safe_load(config_file.read_text(encoding="utf-8"))
    port = yaml.safe_load(DAEMON_CONFIG.read_text(encoding="utf-8"))["server"]["port"]
    (job,) = config["scrape_configs"]
    assert job["job_name"] == "connect-watchdog"
    assert sorted(job["static_configs"][0]["targets"]) == sorted(f"{name}:{port}" for name in replicas)
    # The rest is the single-daemon playground's config.
    single = yaml.safe_load(PROMETHEUS_CONFIG.read_text(encoding="utf-8"))
    job["static_configs"] = single["scrape_configs"][0]["static_configs"]
    assert config == single


def test_the_simulators_healthcheck_asks_it_directly_whatever_proxy_docker_gives_the_container(tmp_path: Path) -> None:
    # Docker hands the proxies of ~/.docker/config.json (a corporate proxy, usually with
    # NO_PROXY=localhost) to every container compose creates. The simulator's check opened
    # 127.0.0.1 with urllib's default opener, which sent it to that proxy: the check failed, the
    # simulator never became healthy, and `docker compose up` stopped with "dependency failed to
    # start" before the daemon (depends_on: service_healthy) ever ran.
    from .live import free_port, start_simulator, stop_process

    test = service("simulator")["healthcheck"]["test"]
    assert test[:3] == ["CMD", "python", "-c"], test
    simulator, url = start_simulator(tmp_path / "simulator.log")
    try:
        code = test[3].replace("http://127.0.0.1:8080/", f"{url}/")
        assert code != test[3], "the check asks the simulator's port 8080 (compose.yaml's --port)"
        proxy = f"http://127.0.0.1:{free_port()}"  # nothing listens there
        given = {"HTTP_PROXY": proxy, "http_proxy": proxy, "HTTPS_PROXY": proxy, "NO_PROXY": "localhost"}
        checked = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30,
                                 env={"PATH": "/usr/bin:/bin", **given})
        assert checked.returncode == 0, checked.stderr[-2000:]
    finally:
        stop_process(simulator)
