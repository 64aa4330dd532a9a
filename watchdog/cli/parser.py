"""The `watchdog` command line's parser: every command's arguments, their defaults and help, and
the argument types that refuse a value before anything runs (commands.py runs what it parses)."""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Sequence

from .. import release
from .common import DEFAULT_CONFIG

DEFAULT_REASON = "requested from the command line"


# What --log-format and --log-level default to, as each kind of command sets its log up: --help
# said "the config's log.level" of simulate and demo, which read no config, and of check-config,
# whose only log (--discover's failed calls) is WARNING and console whatever the config says, and
# "console on a terminal, else json" of run, whose config's log.format decides first.
_LOG_DEFAULTS = {
    "config": ("default: the config's log.format (auto: console on a terminal, else json)",
               "default: the config's log.level, else INFO"),
    "discover": ("default: console (the log of --discover's failed calls, on stderr)",
                 "default: WARNING (the log of --discover's failed calls)"),
    "none": ("taken as every command takes it; this one writes no log", "taken as every command takes it; this one writes no log"),
    "own": ("default: console on a terminal, else json", "default: INFO"),
}


def _common(parser: argparse.ArgumentParser, *, config: bool = True, log: str = "config") -> None:
    if config:
        parser.add_argument(
            "--config", "-c", metavar="PATH",
            # Empty is unset, as for $WATCHDOG_SECRETS_DIR: `WATCHDOG_CONFIG: ""` (a chart's value
            # left unset) read the working directory, "config path . is not a file".
            default=os.environ.get("WATCHDOG_CONFIG") or DEFAULT_CONFIG,
            help="YAML config file (default: $WATCHDOG_CONFIG or ./config.yaml)",
        )
        parser.add_argument(
            "--secrets-dir", metavar="DIR",
            help="directory of secret files (default: $WATCHDOG_SECRETS_DIR, else /etc/watchdog/secrets if present)",
        )
    format_help, level_help = _LOG_DEFAULTS[log]
    parser.add_argument("--log-format", choices=["json", "console"], type=str.lower, help=format_help)
    parser.add_argument("--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR"], type=str.upper, help=level_help)


class _Version(argparse.Action):
    """--version: the version and the revision the build came from (release.py), found only when
    asked, so that no other command runs git in a source checkout."""

    def __init__(self, option_strings: list[str], dest: str, **kwargs: object) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS,
                         help="print the version and the revision it was built from, then exit")

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: object, option_string: str | None = None) -> None:
        sys.stdout.write(release.build().describe() + "\n")  # stdout, as argparse's own version action
        parser.exit()


class _Parser(argparse.ArgumentParser):
    """The top-level parser, which says an argument no command takes with the command's usage and
    the closest option it has: `watchdog restart prod orders --wiat 5` was answered with the
    top-level usage (`watchdog [-h] [--version] COMMAND ...`) and `watchdog: error: unrecognized
    arguments: --wiat 5`, no word of --wait (found 2026-12-07). argparse collects such arguments
    for the top level, which knows nothing of the command's options."""

    commands: dict[str, argparse.ArgumentParser]

    def parse_args(self, args: Sequence[str] | None = None,  # type: ignore[override]
                   namespace: argparse.Namespace | None = None) -> argparse.Namespace:
        parsed, extras = self.parse_known_args(args, namespace)
        if extras:
            command = getattr(self, "commands", {}).get(getattr(parsed, "command", None) or "")
            said = unrecognized(command or self, extras)
            if getattr(parsed, "command", None) == "history":
                said += _history_hint(parsed, extras)
            (command or self).error(said)
        return parsed


def _history_hint(parsed: argparse.Namespace, extras: list[str]) -> str:
    """The command meant by `watchdog history CLUSTER CONNECTOR`, restart's order, which the
    runbook once printed: history takes one connector and --cluster, and said only `unrecognized
    arguments: CONNECTOR`. Refused still, not taken as cluster and connector: two words may as
    well be two connectors, and a guess answered "No restarts recorded." of the wrong thing."""
    import shlex

    if any(extra.startswith("-") for extra in extras):
        # An option not known (`--limt 5 orders-sink`): the word after it is its value, not a
        # connector ("did you mean ... orders-sink --cluster 5?" beside "did you mean --limit?").
        return ""
    if len(extras) != 1 or parsed.connector is None or parsed.cluster is not None:
        return ""
    words = extras
    meant = shlex.join(["watchdog", "history", words[0], "--cluster", parsed.connector])
    return f" (history takes one connector and its cluster as --cluster: did you mean `{meant}`?)"


def unrecognized(parser: argparse.ArgumentParser, extras: list[str]) -> str:
    """argparse's words for arguments `parser` does not take, with the option closest to each
    that looks like one (`did you mean --wait?`)."""
    import difflib

    options = [option for option in parser._option_string_actions if option.startswith("--")]
    meant = []
    for extra in extras:
        if extra.startswith("--"):
            close = difflib.get_close_matches(extra.split("=", 1)[0], options, n=1, cutoff=0.6)
            meant += [f"{extra.split('=', 1)[0]}: did you mean {close[0]}?"] if close else []
    return f"unrecognized arguments: {' '.join(extras)}" + (f" ({'; '.join(meant)})" if meant else "")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="watchdog", description="Keeps Kafka connectors on Confluent Cloud and self-managed Kafka Connect healthy.")
    parser.add_argument("--version", action=_Version)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="run the daemon")
    _common(run)
    run.add_argument("--dry-run", action="store_true", help="decide, log and count, but send no restart")
    run.add_argument("--once", action="store_true", help="one pass over every rule, drain the queue, exit")

    check = commands.add_parser("check-config", help="validate a config file and print a summary")
    _common(check, log="discover")
    check.add_argument("--discover", action="store_true",
                       help="also list what discovery would watch now (one round of its list calls, nothing else)")

    restart = commands.add_parser("restart", help="restart one connector now, through the rate-limited queue")
    _common(restart)
    restart.add_argument("cluster", type=_text, help="the cluster's name in the config, or its lkc- id")
    restart.add_argument("connector", type=_text, help="the connector's name")
    restart.add_argument("--reason", type=_text, default=DEFAULT_REASON,
                         help="why, logged with the request (restart_queued)")
    restart.add_argument("--dry-run", action="store_true",
                         help="decide through the same guards and say what would happen; send nothing")
    restart.add_argument(
        "--daemon", metavar="URL", type=_address,
        help="ask a running daemon (e.g. http://watchdog:9464) instead of calling the API directly; "
             "the token comes from --token-file, $WATCHDOG_SERVER__AUTH_TOKEN or that file in the secrets directory",
    )
    restart.add_argument("--token-file", metavar="PATH", help="file holding the daemon's bearer token")
    restart.add_argument("--wait", type=_seconds, default=60.0, metavar="SECONDS",
                         help="with --daemon: how long to wait for the outcome, 0 or more (default 60)")

    status = commands.add_parser("status", help="watched connectors: health, attempts, backoff, gave-up")
    _common(status, log="none")
    _report_source(status)
    status.add_argument("--cluster", type=_text, help="only this cluster's connectors (its name in the config, or its lkc- id)")
    status.add_argument("--problems", action="store_true",
                        help="only connectors that are not healthy, are gone or unwatched, are held, were given up on, "
                             "or whose attempts the API accepted none of")

    history = commands.add_parser("history", help="recent restarts with trigger, outcome and the captured error")
    _common(history, log="none")
    _report_source(history)
    history.add_argument("connector", nargs="?", type=_text, help="only this connector (give --cluster when names repeat)")
    history.add_argument("--cluster", type=_text, help="the connector's cluster (its name in the config, or its lkc- id)")
    history.add_argument("--limit", type=_at_least_one, default=50, help="at most this many restarts (default 50)")

    simulate = commands.add_parser("simulate", help="serve the Confluent Cloud simulator over HTTP")
    _common(simulate, config=False, log="own")
    simulate.add_argument("--scenario", metavar="FILE", help="scenario YAML (default: the built-in demo scenario)")
    simulate.add_argument("--host", type=_text, default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    simulate.add_argument("--port", type=_port, default=8080, help="port to listen on (default 8080; 0: any free port)")

    demo = commands.add_parser("demo", help="run the daemon against the built-in simulator")
    _common(demo, config=False, log="own")
    demo.add_argument("--duration", type=_positive_seconds, metavar="SECONDS",
                      help="stop after this long, more than 0 (default: until Ctrl-C)")
    demo.add_argument("--port", type=_port, default=9464, help="the daemon's /metrics port (0: any free port)")
    demo.add_argument("--backend", choices=["confluent_cloud", "kafka_connect"], default="confluent_cloud",
                      help="simulate Confluent Cloud (default) or self-managed Kafka Connect clusters")
    parser.commands = dict(commands.choices)
    return parser


def _text(text: str) -> str:
    """A name, a reason or an address, sent to the API or a daemon as UTF-8: an argument that is not
    UTF-8 text (a name typed in a Latin-1 terminal, or pasted from a file in Windows-1252; Python
    keeps its bytes as lone surrogates) ended `restart` in a UnicodeEncodeError traceback as the
    request was encoded. Refused as a usage error naming the argument; the byte, not the text, is
    said (a reason may hold anything)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        byte = ord(text[exc.start]) - 0xDC00 if 0xDC80 <= ord(text[exc.start]) <= 0xDCFF else None
        what = f"the byte 0x{byte:02x}" if byte is not None else "a character"
        raise argparse.ArgumentTypeError(
            f"not UTF-8 text ({what} at position {exc.start + 1}): give it as UTF-8, as the API and the "
            "daemon take it") from None
    return text


def _address(text: str) -> str:
    """--daemon's URL, refused here when empty or blank: `--daemon "$WATCHDOG_URL"` with the
    variable unset was taken for no --daemon at all, so `restart` called the Cloud API itself,
    past the daemon's backoff, budget and breaker, and `status` and `history` printed the local
    state file's table, each exit 0 without a word (found 2026-12-07). Space around it too (a
    variable or a paste with a space at its end): a leading one was refused only as "not a usable
    URL", a trailing one taken. A command-line error (exit 2), before anything is read or sent."""
    text = _text(text)
    if not text.strip():
        raise argparse.ArgumentTypeError(
            "is empty: a variable unset? give the daemon's address as http://HOST:PORT (nothing was read or sent)")
    if text != text.strip():
        raise argparse.ArgumentTypeError(
            "begins or ends with a space (a variable or a paste?): give the daemon's address as "
            "http://HOST:PORT without it (nothing was read or sent)")
    return text


def _at_least_one(text: str) -> int:
    """A count of 1 or more: --limit 0 printed "No restarts recorded." over a history that had
    some, and a negative one (SQLite's "no limit") printed all of it."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is below 1")
    # "At most" this many: a number past SQLite's largest integer (--limit 99999999999999999999)
    # ended the read of the state file in an OverflowError traceback; no history is that long.
    return min(value, _LARGEST_COUNT)


_LARGEST_COUNT = 2**63 - 1  # SQLite's and PostgreSQL's largest integer


def _seconds(text: str) -> float:
    """A length of time, 0 or more: --wait -5 sent the restart and returned at once, never
    following it, without a word (nan the same; inf followed it for ever)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"{text} is not a number of seconds of 0 or more")
    return value


def _positive_seconds(text: str) -> float:
    """More than 0 seconds: `demo --duration -5` stopped before the first poll and said "nothing
    was in trouble", exit 0."""
    value = _seconds(text)
    if value == 0:
        raise argparse.ArgumentTypeError(f"{text} is not more than 0 seconds")
    return value


def _port(text: str) -> int:
    """A TCP port, 0 to 65535: `demo --port 70000` ended in a pydantic traceback, exit 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is not a port (0 to 65535; 0: any free port)")
    return value


def _state_file(text: str) -> str:
    """--state's SQLite file. A PostgreSQL URL given there was taken for a file's name, and printed
    back, password and all: "State file /home/me/postgresql:/watchdog:PASSWORD@db:5432/watchdog
    does not exist". Refused, never quoted (argparse's own message would quote it)."""
    from ..config.sections import is_url

    if is_url(text):
        raise argparse.ArgumentTypeError(
            "takes a SQLite file's path, not a URL; a PostgreSQL database is read through the config: leave --state "
            "out and give --config, whose state.url names it (its password in WATCHDOG_STATE__PASSWORD or a secret "
            "file of that name); not quoted, since a URL may hold a password")
    return text


def _report_source(parser: argparse.ArgumentParser) -> None:
    # One source or the other: given both, --state was passed over without a word, and the
    # daemon's view read as the state file's.
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--daemon", metavar="URL", type=_address, help="ask a running daemon's API (token from --token-file, $WATCHDOG_SERVER__AUTH_TOKEN or that file in the secrets directory)")
    source.add_argument("--state", metavar="PATH", type=_state_file,
                        help="read this SQLite state file (default: the config's state.path, or its state.url)")
    parser.add_argument("--token-file", metavar="PATH", help="file holding the daemon's bearer token")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
