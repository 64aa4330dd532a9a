"""Which status rules a poll judges each connector by: the live rule that owns it (the first
enabled live status rule that selects it) and, beside it, the rule on trial (`dry_run: true`)
that owns it among the rules on trial. One ownership across both let a trial rule placed above a
live catch-all take its connectors from it (left FAILED, never restarted for real), and a trial
placed below decide nothing, without a word, where the docs invite trials "beside live ones"
(probe of rules, finding 1). With the whole config in dry-run every rule is on trial: one
ownership, as before."""

from __future__ import annotations

from ..config import Config, Rule, StatusTrigger
from ..rules import StatusOwners


class RunOwners:
    """The live owner and the trial owner of each connector, for one config's rules."""

    def __init__(self, config: Config) -> None:
        status_rules = [r for r in config.rules if r.enabled and isinstance(r.trigger, StatusTrigger)]
        trials = [r for r in status_rules if r.dry_run]
        if config.dry_run or not trials:
            self._live = StatusOwners(status_rules)
            self._trial: StatusOwners | None = None
        else:
            self._live = StatusOwners([r for r in status_rules if not r.dry_run])
            self._trial = StatusOwners(trials)

    def owners(self, cluster: str, connector: str) -> tuple[Rule | None, Rule | None]:
        """(the rule that decides on it, a rule on trial judged beside a live one). The first is
        the live owner, or the trial owner where no live rule selects it (it acts alone then, as
        any rule in dry-run does); the second only where both select it."""
        live = self._live.rule_for(cluster, connector)
        trial = self._trial.rule_for(cluster, connector) if self._trial is not None else None
        if live is None:
            return trial, None
        return live, trial
