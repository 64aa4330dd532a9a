"""A queued restart a reload ends `dropped` says what the reload did: its cluster renamed (and
under which name its next poll decides again), its rule renamed (and which rule selects the
connector now), its cluster removed. Found by a reload probe: a cluster entry renamed during a
backlog ended each queued restart "its rule 'heal' no longer selects prod/conn-8 after a reload",
though the rule had not changed."""

from __future__ import annotations

from pathlib import Path

from watchdog.model import ConnectorKey, Outcome
from watchdog.queue import RestartJob

from .support import CLUSTER, CLUSTER_ID, ENVIRONMENT, World
from .test_reload import HEAL, write
from .test_reload_safety import CLUSTERS, FAILING, reloadable


async def queued_then_reloaded(tmp_path: Path, rules: list[dict[str, object]], **config: object) -> tuple[World, RestartJob]:
    """`orders` failing, its restart queued (the queue not started), then the config reloaded."""
    path = tmp_path / "config.yaml"
    w = reloadable(path, [HEAL], [FAILING])
    await w.daemon.pollers[CLUSTER].poll()
    job = w.daemon.queue.pending_job(ConnectorKey(CLUSTER, "orders"))
    assert job is not None
    write(path, rules, **config)
    assert await w.daemon.reload("test") is True
    w.daemon.queue.start()
    await w.daemon.queue.join()
    await w.daemon.stop()
    assert job.outcome is Outcome.DROPPED
    return w, job


async def test_a_restart_queued_before_its_cluster_is_renamed_says_the_cluster_was_renamed_not_its_rule(
    tmp_path: Path, credentials_env: None
) -> None:
    _, job = await queued_then_reloaded(tmp_path, [HEAL], clusters={"prod-eu": CLUSTERS[CLUSTER]})
    assert "no longer selects" not in job.message, job.message
    assert job.message.startswith(
        f"its cluster {CLUSTER} was renamed prod-eu by a reload, or in the config the daemon restarted with, before "
        f"its turn (the same Kafka cluster, {ENVIRONMENT}/{CLUSTER_ID}): not sent under the old name; prod-eu's next "
        "poll decides again, its connectors' backoff and budget carried"), job.message


async def test_a_restart_queued_before_its_rule_is_renamed_names_the_rule_that_selects_it_now(
    tmp_path: Path, credentials_env: None
) -> None:
    _, job = await queued_then_reloaded(tmp_path, [{**HEAL, "name": "heal-v2"}])
    assert job.message == ("its rule 'heal' was disabled or removed by a reload, or in the config the daemon restarted "
                           "with, before its turn; rule 'heal-v2' selects it now and decides again at its next poll or run")


async def test_a_restart_queued_before_its_cluster_is_removed_says_the_cluster_is_no_longer_configured(
    tmp_path: Path, credentials_env: None
) -> None:
    other = {"other": {"environment_id": ENVIRONMENT, "kafka_cluster_id": "lkc-other9"}}
    _, job = await queued_then_reloaded(tmp_path, [HEAL], clusters=other)
    assert job.message.startswith(f"its cluster {CLUSTER} is no longer configured (removed by a reload"), job.message


async def test_a_restart_queued_before_discovery_takes_its_cluster_over_does_not_say_nothing_restarts_it(
    tmp_path: Path, credentials_env: None
) -> None:
    # The reload that turns discovery on and drops the listed entry (config.example's migration):
    # discovery finds the same cluster at its next refresh, under its lkc- id, with the state
    # carried. The drop said "nothing polls or restarts it now", and 13 of 24 such connectors were
    # restarted under the lkc- id a moment later (a verification run, 2026-12-07).
    _, job = await queued_then_reloaded(tmp_path, [HEAL], clusters={}, discovery={})
    assert "nothing polls or restarts it now" not in job.message, job.message
    assert job.message.startswith(f"its cluster {CLUSTER} is no longer configured (removed by a reload"), job.message
    assert job.message.endswith(
        f"nothing polls or restarts it under that name now; discovery is on: if it finds the same Kafka cluster "
        f"({ENVIRONMENT}/{CLUSTER_ID}), it watches it under its lkc- id, its connectors' backoff and budget carried, "
        "and its next poll decides again"), job.message
