"""Requests a leader takes over whose rule its own config does not have, or has disabled (a
rolling update half way, the replica that led before ran a rule this one lacks; a daemon restarted
with a rule taken out): each ends `dropped` at its turn, unsent (rules_gone.py), as this config
says. Said once, at the recovery that takes them, as a warning naming how many and by which rules:
each ended at info alone, and an HA probe's schedule run kept over 150 connectors was ended 145
times by a replica on an older config with nothing above info, each line blaming a reload that
nobody made (2026-12-07; `WatchdogReplicasConfigDiffer` warns 15 minutes later)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from ..config import Config
from ..model import RestartRequest, Trigger
from ..state.backends import is_shared
from .core import log


def say_requests_of_rules_not_here(config: Config, requests: Iterable[RestartRequest]) -> int:
    """Warn of the taken-over requests whose rule this config lacks or disables; returns how many.
    A restart asked for by name has no rule to lack (it goes out whatever the rules say)."""
    rules = {rule.name: rule for rule in config.rules}
    missing: Counter[str] = Counter()
    disabled: Counter[str] = Counter()
    for request in requests:
        if request.trigger is Trigger.MANUAL:
            continue
        rule = rules.get(request.rule)
        if rule is None:
            missing[request.rule] += 1
        elif not rule.enabled:
            disabled[request.rule] += 1
    if not missing and not disabled:
        return 0
    said = []
    if missing:
        said.append(f"this {'replica' if is_shared(config.state) else 'daemon'}'s config has no rule "
                    f"{', '.join(repr(name) for name in sorted(missing))}")
    if disabled:
        said.append(f"it disables rule {', '.join(repr(name) for name in sorted(disabled))}")
    asked_by = ("the replica that led before (or this one before its restart) ran a config with "
                "them: replicas' configs differ, a rolling update half way? Compare watchdog_config_info{digest} "
                "across the replicas" if is_shared(config.state) else
                "the daemon asked for them before its restart under a config that had them")
    count = sum(missing.values()) + sum(disabled.values())
    log.warning("taken_over_requests_of_unknown_rules", requests=count,
                rules=dict(sorted((missing + disabled).items())), config_digest=config.digest(),
                note=f"these kept restarts end dropped at their turn, none sent (unless one is also asked for by name "
                     f"or by a rule of this config), because {' and '.join(said)}; {asked_by}; ask again "
                     "(watchdog restart) for any that must still go out")
    return count
