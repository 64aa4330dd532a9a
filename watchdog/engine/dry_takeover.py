"""Requests asked for live that a leader in dry run takes over (a rolling update that turned
`dry_run` on, one replica at a time; a daemon restarted into dry run): each ends `dry_run` at its
turn, unsent, as this leader's config says. Said once, at the recovery that takes them, as a
warning naming how many and by which rules: each ended at info alone, and an HA probe's
`nightly` run over 200 connectors, its leader killed 18 restarts in, ended the other 183 so
with nothing saying they had been asked for live (2026-12-07; `WatchdogReplicasConfigDiffer`
warns 15 minutes later)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from ..config import Config
from ..model import RestartRequest
from .core import log


def say_live_requests_ended_dry(config: Config, requests: Iterable[RestartRequest]) -> int:
    """Warn of the requests asked for live that this config ends `dry_run`; returns how many."""
    rules = {rule.name: rule for rule in config.rules}
    ended: Counter[str] = Counter()
    for request in requests:
        rule = rules.get(request.rule)
        if not request.dry_run and (config.dry_run or (rule is not None and rule.dry_run)):
            ended[request.rule] += 1
    if not ended:
        return 0
    by = ("this replica's config sets dry_run: true" if config.dry_run else
          f"this replica's config sets dry_run: true on rule {', '.join(repr(name) for name in sorted(ended))}")
    log.warning("taken_over_live_requests_in_dry_run", requests=sum(ended.values()), rules=dict(sorted(ended.items())),
                dry_run_by=by,
                note="these restarts were asked for live (by the replica that led before, or by this daemon before "
                     f"its restart) and end dry_run here, none sent, because {by}: a rolling update that turned "
                     "dry_run on? Compare watchdog_config_info{digest} across the replicas; ask again (watchdog "
                     "restart) for any that must still go out")
    return sum(ended.values())
