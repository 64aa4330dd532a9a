"""What a start says once, before anything acts: settings the config allows but its author may
not have meant (credentials over http://, Cloud credentials holding one key id with different
secrets, WATCHDOG_* variables that name no setting, secret files
a variable overrides, zones such as `EST`, settings that do nothing: a regex-looking glob, a status
rule behind one that selects all it selects, windows that never open, a credential nothing uses) and that the daemon, or some of its rules, only pretend (dry-run).

Its own module so that `run`, `run --once` and a new leader say the same, and app.py (the
composition root) keeps to building and ordering the parts."""

from __future__ import annotations

from datetime import datetime, timezone

from .config import (
    KEY_ID_CLASH,
    Config,
    ignored_variables,
    key_id_clashes,
    no_effect_warnings,
    zone_warnings,
)
from .logs import get_logger
from .reload import log_overridden

log = get_logger("watchdog.app")  # the logger these lines always came from

DRY_RUN_NOTE = "DRY-RUN: decisions are logged and counted, no restart is sent"
DRY_RUN_RULES_NOTE = "DRY-RUN for these rules: their decisions are logged and counted, none of their restarts is sent"


def warn_at_start(config: Config) -> None:
    """Once at start, what the config allows but its author may not have meant."""
    found = config.plaintext_credential_urls()
    if found:
        # A key sent over http:// can be read by anyone on the path.
        log.warning("credentials_over_plain_http", settings=[where for where, _ in found],
                    urls=sorted({url for _, url in found}),
                    note="these URLs are http://: the credentials sent to them travel unencrypted; use https://")
    ignored = ignored_variables()
    if ignored:
        # Misspelt settings are refused at load (config/stray_variables.py); these read as
        # none, and may be another tool's (a Service's links are not listed).
        log.warning("environment_variables_ignored", variables=ignored,
                    note="these WATCHDOG_* variables name no setting; they change nothing")
    log_overridden(config)
    warn_of_key_id_clashes(config)
    warn_of_zones(config)
    warn_of_no_effect(config)
    # Before anything acts: `run --once --dry-run` never said it, a start only once its kept
    # restarts had ended dry_run.
    trial = [] if config.dry_run else config.rules_on_trial()
    if config.dry_run or trial:
        log.warning("dry_run", **({"rules": trial} if trial else {}), note=DRY_RUN_RULES_NOTE if trial else DRY_RUN_NOTE)


def warn_of_key_id_clashes(config: Config) -> None:
    """Say each group of Cloud credentials holding one key id with different secrets (at a start,
    and at every reload that leaves one: unlike a zone, it is no choice but a 401 at every call of
    one of them, the refusal's line not saying why). By names only."""
    for names in key_id_clashes(config):
        log.warning("credentials_share_a_key_id", credentials=names, note=KEY_ID_CLASH)


def warn_of_zones(config: Config, *, before: Config | None = None) -> None:
    """Say the zones that are not what they seem (at a start; at a reload, `before` the config it
    replaces, only when the list changed: a reload that brought `EST` in said nothing before)."""
    zones = zone_warnings(config)
    if zones and (before is None or zones != zone_warnings(before)):
        # Legal, and read as written: `EST` in New York ran an hour late from March to November.
        log.warning("time_zones_not_what_they_seem", zones=zones,
                    note="these zones are read as written (check-config says the same); name the region's zone "
                         "if that is what you meant")


NO_EFFECT_NOTE = ("these settings are accepted but do nothing, each said with why (check-config says the same); "
                  "the daemon runs as configured")


def warn_of_no_effect(config: Config, *, before: Config | None = None) -> None:
    """Say the settings that do nothing (config/no_effect.py): at a start, and at a reload when
    the list changed (`before`: the config it replaces)."""
    say_no_effect(no_effect_to_say(config, before=before))


def no_effect_to_say(config: Config, *, before: Config | None = None) -> list[str]:
    """What warn_of_no_effect says, worked out without saying it: a reload works it out in a
    worker thread (reloading.py), as it reads the file, and says it on the event loop."""
    now = datetime.now(timezone.utc)
    found = no_effect_warnings(config, now)
    if found and (before is None or found != no_effect_warnings(before, now)):
        return found
    return []


def say_no_effect(found: list[str]) -> None:
    if found:
        # Accepted without a word, a rule of `^orders-.*$` watched nothing, and one behind a
        # catch-all never decided while its 5 s interval paced the cluster's polls.
        log.warning("settings_with_no_effect", settings=found, note=NO_EFFECT_NOTE)
