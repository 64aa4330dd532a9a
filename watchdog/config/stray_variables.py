"""`WATCHDOG_*` variables that name no setting.

pydantic-settings reads the variables that name a top-level setting and ignores every other one,
so a misspelt `WATCHDOG_DRYRUN=true` (for `WATCHDOG_DRY_RUN`) was dropped without a word and the
daemon sent real restarts; `WATCHDOG_LOG_LEVEL=DEBUG` (one underscore where nesting takes two:
`WATCHDOG_LOG__LEVEL`) likewise. A name below a known setting is already refused by the schema
(`WATCHDOG_RATE_LIMIT__RESERV`: unknown key), so only the first segment needs looking at here.

A stray name that reads as a setting misspelt (a close match, or one underscore for two) is
refused with the name it most likely meant: whoever set it meant to change a setting. Any other
is a warning, not an error, because the environment is not only ours: Kubernetes injects
`<SERVICE>_SERVICE_HOST`, `<SERVICE>_PORT_8080_TCP` and the like for every Service in the
namespace (a Service named `watchdog`, or `watchdog-metrics`, gives `WATCHDOG_*` names), and
systemd sets `WATCHDOG_USEC` and `WATCHDOG_PID` for a unit with `WatchdogSec=`. Those are not
mentioned at all. A service link is told by its name and its value both, so that a setting
misspelt in a link's shape (`WATCHDOG_SERVER_PORT=9464`: a link's `_PORT` is `tcp://ip:port`) is
still refused."""

from __future__ import annotations

import difflib
import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

# Read by the command line (their own meaning), not settings.
OWN_VARIABLES = frozenset({"CONFIG", "SECRETS_DIR"})
# systemd's service watchdog (sd_watchdog_enabled(3)): set for any unit with WatchdogSec=.
SYSTEMD_VARIABLES = frozenset({"USEC", "PID"})
# Kubernetes service links, by name (the Service's name upper-cased, dashes as underscores, then
# these) and the shape of their value (docker's links, which Kubernetes copies):
# https://kubernetes.io/docs/concepts/services-networking/service/#environment-variables
_PROTOCOL = r"(?:TCP|UDP|SCTP)"


def _is_address(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


_SERVICE_LINKS = (
    (re.compile(r"(?:\w+_)?SERVICE_HOST"), _is_address),
    (re.compile(r"(?:\w+_)?SERVICE_PORT(?:_\w+)?"), str.isdigit),
    (re.compile(rf"(?:\w+_)?PORT(?:_[0-9]+_{_PROTOCOL})?"),
     lambda value: re.fullmatch(r"(?:tcp|udp|sctp)://\S+:[0-9]+", value) is not None),
    (re.compile(rf"(?:\w+_)?PORT_[0-9]+_{_PROTOCOL}_PROTO"), lambda value: value in ("tcp", "udp", "sctp")),
    (re.compile(rf"(?:\w+_)?PORT_[0-9]+_{_PROTOCOL}_PORT"), str.isdigit),
    (re.compile(rf"(?:\w+_)?PORT_[0-9]+_{_PROTOCOL}_ADDR"), _is_address),
)
# How alike a name must be to a setting's to be taken for it misspelt: DRYRUN/DRY_RUN is 0.92,
# RATELIMIT/RATE_LIMIT 0.95, CREDENTIAL/CREDENTIALS 0.95; LOGS/LOG 0.86.
CLOSE_MATCH = 0.8


@dataclass(frozen=True, slots=True)
class StrayVariable:
    name: str
    meant: str | None  # the variable it most likely meant, where it reads as a setting misspelt


def stray_variables(environ: Mapping[str, str], prefix: str, settings: Iterable[str]) -> list[StrayVariable]:
    """Variables starting with `prefix` (in any letter case, as pydantic-settings reads them)
    whose first segment names none of `settings`, less the foreign ones (module docstring)."""
    known = {name.upper() for name in settings}
    found = []
    for name in sorted(environ):
        if not name.upper().startswith(prefix.upper()):
            continue
        rest = name[len(prefix):].upper()
        if rest.split("__", 1)[0] in known or rest in OWN_VARIABLES or _foreign(rest, environ[name]):
            continue
        found.append(StrayVariable(name, _meant(rest, known, prefix.upper())))
    return found


def _foreign(rest: str, value: str) -> bool:
    if rest in SYSTEMD_VARIABLES:
        return True
    return any(name.fullmatch(rest) and looks_right(value) for name, looks_right in _SERVICE_LINKS)


def _meant(rest: str, known: set[str], prefix: str) -> str | None:
    first, separator, deeper = rest.partition("__")
    # One underscore where nesting takes two: LOG_LEVEL for LOG__LEVEL, RATE_LIMIT_RESERVE for
    # RATE_LIMIT__RESERVE (the shortest setting that fits: a longer one would have matched as is).
    for at in (m.start() for m in re.finditer("_", first)):
        if first[:at] in known:
            return f"{prefix}{first[:at]}__{first[at + 1:]}{separator}{deeper}"
    close = difflib.get_close_matches(first, sorted(known), n=1, cutoff=CLOSE_MATCH)
    return f"{prefix}{close[0]}{separator}{deeper}" if close else None


def named_twice(environ: Mapping[str, str], prefix: str) -> list[list[str]]:
    """Groups of variables starting with `prefix` that differ only in letter case and hold
    different values (`WATCHDOG_DRY_RUN=true` beside `watchdog_dry_run=false`). pydantic-settings
    reads names in any letter case, and of two such the one later in the process's environment
    won, without a word: which that is, the shell or the orchestrator decides. Values are never
    returned (they may be secrets)."""
    by_name: dict[str, list[str]] = {}
    for name in environ:
        if name.upper().startswith(prefix.upper()):
            by_name.setdefault(name.upper(), []).append(name)
    return [sorted(names) for _, names in sorted(by_name.items())
            if len(names) > 1 and len({environ[name] for name in names}) > 1]

