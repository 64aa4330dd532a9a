"""A firing alert's restart that a reload drops because it renamed the alert rule (or the cluster
entry, where only alert rules select it) says truthfully what comes next: an alert rule decides
only when Alertmanager sends the alert again (for one already answered, at its repeat_interval,
hours), not "at its next poll or run", which an alert rule never makes; said at warning, with how
to restart it now. Found by a races probe: `on-alert` renamed `on-alert-v2` while the alert's
restart waited out a 429; the drop promised a new decision "at its next poll or run", and the
failed connector stayed failed."""

from __future__ import annotations

from typing import Any

import httpx
import structlog

from watchdog.app import Daemon
from watchdog.config import Config
from watchdog.model import ConnectorKey, Outcome
from watchdog.server import create_app
from watchdog.simulator import Scenario, Simulator
from watchdog.simulator import create_app as simulator_app

from .support import CLUSTER, CLUSTER_ID, ENVIRONMENT, cluster_config, daemon_config, sim_scenario

TOKEN = "alert-renamed-token-7d2f"
HEAL = {"name": "heal", "trigger": {"type": "status", "interval": 30}, "select": {"include": ["*"]}}


def alert_rule(name: str = "on-alert") -> dict[str, Any]:
    return {"name": name, "trigger": {"type": "alert", "match": {"alertname": "ConnectorDown"},
                                      "cluster_label": "kafka_cluster_id", "connector_label": "connector"},
            "select": {"include": ["*"]}}


async def alert_queued_then_reloaded(before: list[dict[str, Any]], **after: Any) -> tuple[Simulator, Any, list[Any]]:
    """An alert for prod/orders (FAILED) is taken and its restart queued (the queue not started);
    then a reload applies `after` (rules=..., clusters=...)."""
    held: dict[str, Config] = {"config": daemon_config(before, token=TOKEN)}
    failing = {"initial": "FAILED", "recover_after_restarts": "never"}
    simulator = Simulator(Scenario.model_validate(sim_scenario([{"name": "orders", "script": failing}, {"name": "ok"}])))
    daemon = Daemon(held["config"], transport=httpx.ASGITransport(app=simulator_app(simulator)),
                    reload_config=lambda: held["config"])
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(
        daemon.metrics.registry, daemon.probes, daemon.api_context())), base_url="http://daemon")
    body = {"version": "4", "status": "firing", "alerts": [{
        "status": "firing", "startsAt": "2026-12-07T09:00:00Z",
        "labels": {"alertname": "ConnectorDown", "kafka_cluster_id": CLUSTER_ID, "connector": "orders"}}]}
    answer = (await http.post("/v1/alertmanager", json=body, headers={"Authorization": f"Bearer {TOKEN}"})).json()
    assert answer["alerts"][0]["result"] == "restart_requested", answer
    job = daemon.queue.pending_job(ConnectorKey(CLUSTER, "orders"))
    assert job is not None
    held["config"] = daemon_config(after.pop("rules", before), token=TOKEN, **after)
    with structlog.testing.capture_logs() as logs:
        assert await daemon.reload("test") is True
        daemon.queue.start()
        await daemon.queue.join()
    await daemon.stop()
    await http.aclose()
    assert job.outcome is Outcome.DROPPED, (job.outcome, job.message)
    return simulator, job, logs


def finished(logs: list[Any]) -> dict[str, Any]:
    (line,) = [e for e in logs if e["event"] == "restart_finished"]
    return dict(line)


async def test_an_alert_rule_renamed_says_alertmanager_decides_again_not_a_poll(credentials_env: None) -> None:
    _, job, logs = await alert_queued_then_reloaded([alert_rule()], rules=[alert_rule("on-alert-v2")])
    # Before: "rule 'on-alert-v2' selects it now and decides again at its next poll or run", at info.
    assert "next poll or run" not in job.message, job.message
    assert job.message.startswith(
        "its rule 'on-alert' was disabled or removed by a reload, or in the config the daemon restarted with, before "
        "its turn; alert rule 'on-alert-v2' selects it now, but decides again only when Alertmanager sends an alert for "
        "it again (for one still firing, at its route's repeat_interval, 4h by default): nothing restarts it before "
        f"then; to restart it now: watchdog restart {CLUSTER} orders --daemon URL"), job.message
    line = finished(logs)
    assert line["log_level"] == "warning" and line["outcome"] == "dropped", line


async def test_an_alert_rule_renamed_beside_a_status_rule_names_both_and_stays_at_info(credentials_env: None) -> None:
    # A status rule selects it too: its next poll decides again, so nothing is left for hours.
    _, job, logs = await alert_queued_then_reloaded([HEAL, alert_rule()], rules=[HEAL, alert_rule("on-alert-v2")])
    assert job.message.endswith(
        "; rule 'heal' selects it now and decides again at its next poll or run; alert rule 'on-alert-v2' too, when "
        "Alertmanager sends an alert for it again"), job.message
    assert finished(logs)["log_level"] == "info"


async def test_a_cluster_renamed_where_only_an_alert_rule_selects_it_does_not_promise_a_poll(credentials_env: None) -> None:
    renamed = {"prod-eu": cluster_config("confluent_cloud", "http://sim")}
    _, job, logs = await alert_queued_then_reloaded([alert_rule()], clusters=renamed)
    # Before: "prod-eu's next poll decides again", and nothing polls prod-eu.
    assert "next poll" not in job.message, job.message
    assert job.message.startswith(
        f"its cluster {CLUSTER} was renamed prod-eu by a reload, or in the config the daemon restarted with, before its "
        f"turn (the same Kafka cluster, {ENVIRONMENT}/{CLUSTER_ID}): not sent under the old name; its connectors' "
        "backoff and budget carried; no rule polls prod-eu: alert rule 'on-alert' selects it there, but decides again "
        "only when Alertmanager sends an alert for it again (for one still firing, at its route's repeat_interval, 4h by "
        "default): nothing restarts it before then; to restart it now: watchdog restart prod-eu orders --daemon URL "
        f"(an alert whose cluster label says {CLUSTER} matches no cluster now: prod-eu or {CLUSTER_ID} does)"), job.message
    assert finished(logs)["log_level"] == "warning"
