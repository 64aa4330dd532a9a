"""The alert rules: promtool accepts them, their unit tests pass, and every alert is tested both
firing and silent, carries a summary, a description and a runbook link that leads somewhere."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import yaml

from .live import free_port, start, stop_process, wait_until
from .tools import (
    ALERTMANAGER_CONFIG,
    DEPLOY,
    PROMETHEUS_CONFIG,
    REPO,
    RULE_TESTS,
    RULES,
    RUNBOOK,
    amtool,
    promtool,
    run,
    tool,
)

RUNBOOK_URL = "https://github.com/connect-watchdog/connect-watchdog/blob/main/docs/runbook.md#"


def alert_rules() -> list[dict]:
    groups = yaml.safe_load(RULES.read_text(encoding="utf-8"))["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def test_promtool_check_rules_accepts_the_alert_rules() -> None:
    out = run([promtool(), "check", "rules", str(RULES)]).stdout
    assert f"SUCCESS: {len(alert_rules())} rules found" in out


def test_promtool_unit_tests_of_the_alert_rules_pass() -> None:
    out = run([promtool(), "test", "rules", str(RULE_TESTS)], cwd=RULE_TESTS.parent)
    assert "SUCCESS" in out.stdout, out.stdout + out.stderr


def test_every_alert_has_a_firing_and_a_silent_unit_test() -> None:
    cases = yaml.safe_load(RULE_TESTS.read_text(encoding="utf-8"))["tests"]
    firing: set[str] = set()
    silent: set[str] = set()
    for case in cases:
        for check in case.get("alert_rule_test", []):
            (firing if check.get("exp_alerts") else silent).add(check["alertname"])
    names = {rule["alert"] for rule in alert_rules()}
    assert names - firing == set(), "alerts without a test that makes them fire"
    assert names - silent == set(), "alerts without a test that keeps them silent"
    assert (firing | silent) - names == set(), "tests of alerts that do not exist"


def test_the_playground_prometheus_config_and_its_rules_pass_promtool() -> None:
    out = run([promtool(), "check", "config", str(PROMETHEUS_CONFIG)]).stdout
    assert "watchdog-alerts.yaml" in out and "SUCCESS" in out
    config = yaml.safe_load(PROMETHEUS_CONFIG.read_text(encoding="utf-8"))
    assert [job["job_name"] for job in config["scrape_configs"]] == ["connect-watchdog"]


def test_the_playground_alertmanager_config_passes_amtool() -> None:
    out = run([amtool(), "check-config", str(ALERTMANAGER_CONFIG)])
    assert "SUCCESS" in out.stdout + out.stderr


def test_every_alert_explains_itself_and_links_to_its_runbook_section() -> None:
    anchors = {_github_anchor(h) for h in re.findall(r"^#{1,6} (.+)$", RUNBOOK.read_text(encoding="utf-8"), re.M)}
    for rule in alert_rules():
        name = rule["alert"]
        annotations = rule.get("annotations", {})
        assert annotations.get("summary") and annotations.get("description"), name
        assert rule["labels"]["severity"] in {"critical", "warning"}, name
        url = annotations.get("runbook_url", "")
        assert url == RUNBOOK_URL + name.lower(), f"{name}: runbook_url {url!r}"
        assert name.lower() in anchors, f"{name}: docs/runbook.md has no heading '{name}'"
        # The rules select the scrape job the compose config and the ServiceMonitor produce.
        assert 'job="connect-watchdog"' in rule["expr"], name


def _github_anchor(heading: str) -> str:
    """GitHub's anchor for a Markdown heading: lower case, punctuation dropped, spaces to dashes."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _suppressed_by_alertmanager(tmp_path: Path, alerts: list[dict[str, str]]) -> dict[str, str]:
    """The playground's Alertmanager, given these alerts (label sets): each alert's state."""
    binary = tool("prometheus-alertmanager", package="Debian's prometheus-alertmanager package")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = start([binary, f"--config.file={ALERTMANAGER_CONFIG}", f"--storage.path={tmp_path / 'data'}",
                  f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="], tmp_path / "am.log")
    try:
        wait_until(lambda: httpx.get(f"{url}/-/ready", timeout=1).status_code == 200 or None, 15,
                   "Alertmanager to be ready", log=tmp_path / "am.log", alive=proc)
        httpx.post(f"{url}/api/v2/alerts", json=[{"labels": labels} for labels in alerts], timeout=5).raise_for_status()

        def states() -> dict[str, str] | None:
            found = {f"{a['labels']['alertname']}@{a['labels'].get('instance')}": a["status"]["state"]
                     for a in httpx.get(f"{url}/api/v2/alerts", timeout=5).json()}
            # Inhibition is worked out as alerts come in: wait until none is still unprocessed.
            return found if len(found) == len(alerts) and "unprocessed" not in found.values() else None

        return wait_until(states, 15, "Alertmanager to process the alerts", log=tmp_path / "am.log", alive=proc)
    finally:
        stop_process(proc)


def test_one_replica_down_silences_its_own_alerts_not_the_other_replicas(tmp_path: Path) -> None:
    """With two replicas scraped (the HA playground, the ha overlay), the inhibition of
    WatchdogDown matched on `job` alone: the standby down suppressed the leader's page about a
    connector given up on."""
    job = {"job": "connect-watchdog", "severity": "critical"}
    states = _suppressed_by_alertmanager(tmp_path, [
        {"alertname": "WatchdogDown", "instance": "watchdog-b:9464", **job},
        {"alertname": "WatchdogConnectorGaveUp", "instance": "watchdog:9464", "cluster": "orders",
         "connector": "clickstream-sink", **job},
        {"alertname": "WatchdogCannotRecordDecisions", "instance": "watchdog-b:9464", **job},
    ])
    assert states == {"WatchdogDown@watchdog-b:9464": "active", "WatchdogConnectorGaveUp@watchdog:9464": "active",
                      "WatchdogCannotRecordDecisions@watchdog-b:9464": "suppressed"}


def test_every_alert_the_deploy_files_and_docs_name_exists() -> None:
    """The Kubernetes config's comment sent the operator after `WatchdogPollsStale`, which no rule,
    runbook section or Alertmanager shows."""
    names = {rule["alert"] for rule in alert_rules()}
    files = [REPO / "README.md", REPO / "config.example.yaml", *sorted((REPO / "docs").rglob("*.md")),
             *sorted(p for p in DEPLOY.rglob("*") if p.is_file() and p.suffix in {".md", ".yaml", ".yml", ".json"})]
    unknown = {f"{path.relative_to(REPO)}: {name}" for path in files
               for name in re.findall(r"\bWatchdog[A-Z][A-Za-z]+", path.read_text(encoding="utf-8")) if name not in names}
    assert unknown == set(), "alerts named that do not exist"
