"""The `watchdog` command: run, check-config, restart, status, history, simulate, demo.

Exit codes: 0 success; 1 a restart (or a --once pass) ended in an error outcome, or the daemon
failed at run time; 2 the config or the command line is invalid (nothing was started); 75 with
--daemon, nothing was done and the same command may work later (common.EXIT_TRY_LATER).

This module holds the commands that run the daemon; `parser` the command line they are read from
(every argument, its default and help, the types that refuse a value); `reports` the ones that read
what it did, `daemon_restart` restart --daemon, `daemon` what asking a running daemon takes (its
address, its token, its refusals in words), `summary` check-config's view of a config, `common`
what they share.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import shlex
import signal
import sys
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from ..config import (
    KAFKA_CLUSTER_ID_PREFIX,
    CloudCluster,
    Config,
    ConfigError,
    ignored_variables,
    key_id_clash_warnings,
    no_effect_warnings,
    shared_keys,
)
from ..logs import configure_logging, keep_out_of_logs, log_reader_gone, printable
from .common import (
    DISCOVERY_LISTED_BY,
    EXIT_CONFIG,
    EXIT_FAILED,
    EXIT_OK,
    EXIT_TRY_LATER,
    config_or_exit,
    configure,
    load,
    sigterm_as_ctrl_c,
    starred,
    unusable_environment,
)
from .daemon_restart import restart_via_daemon
from .parser import DEFAULT_REASON, build_parser
from .reports import history_command, status_command
from .summary import summarize

if TYPE_CHECKING:
    from ..once import NotLeader
    from ..queue import RestartJob
    from ..state import StateStore, StateStoreError

EXIT_READER_GONE = 141  # 128 + SIGPIPE, as `yes | head` reports it
EXIT_INTERRUPTED = 130  # 128 + SIGINT
# Commands that run until Ctrl-C, for which it is the ordinary end (restart says its own word).
_STOPPED_BY_CTRL_C = frozenset({"run", "simulate", "demo"})


def _local_address(config: Config) -> str:
    """Where the daemon beside this command listens, by its config: the same host, since it
    holds the same state file. A wildcard address is reached on loopback."""
    host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(config.server.host, config.server.host)
    return f"http://{f'[{host}]' if ':' in host else host}:{config.server.port}"


def main(argv: Sequence[str] | None = None, *, early_signals: list[int] | None = None) -> int:
    """The command; `early_signals`: what watchdog.cli.main noted for `run` before this module was
    imported (hold_early_signals)."""
    _escape_what_the_terminal_cannot_show()
    args = build_parser().parse_args(argv)
    args.early_signals = early_signals
    args.argv = list(sys.argv[1:] if argv is None else argv)  # as typed: a standby's hint repeats it
    handler = {
        "run": _run,
        "check-config": _check_config,
        "restart": _restart,
        "status": status_command,
        "history": history_command,
        "simulate": _simulate,
        "demo": _demo,
    }[args.command]
    try:
        code = handler(args)
        if code == EXIT_OK and log_reader_gone():
            return _reader_gone()  # `watchdog run | head`: the daemon stopped as at SIGTERM
        if sys.stdout is not None:  # None: closed by whoever started us (`>&-`); print() wrote nothing
            sys.stdout.flush()  # here, where a reader gone away is caught, not at the interpreter's exit
        return code
    except KeyboardInterrupt:
        if args.command in _STOPPED_BY_CTRL_C:
            return EXIT_OK
        # A report or a check cut short: exit 0 and no output read as a status, a history or a
        # discovery with nothing in it. As a shell's own tools end (128 + SIGINT), saying so.
        print(f"watchdog {args.command}: interrupted (Ctrl-C) before it finished", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # `watchdog history | head`: the reader stopped reading. It ended in a BrokenPipeError
        # traceback, exit 1 ("a restart failed"). As a shell's own tools end (128 + SIGPIPE).
        return _reader_gone()


def _reader_gone() -> int:
    """Exit 141, with stdout pointed away so that the exit's own flush raises nothing more."""
    if sys.stdout is not None:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return EXIT_READER_GONE


def _escape_what_the_terminal_cannot_show() -> None:
    """A character the output's encoding has no byte for is printed as its escape (`\\u8a02`),
    as printable() shows control characters. Under a locale that is not UTF-8 (LANG=en_US, which
    is ISO-8859-1, or PYTHONIOENCODING=ascii) a connector named in another script ended `history`
    and `status` in a UnicodeEncodeError traceback, and `restart` with exit 1 after the restart
    was accepted; the console log lost the line."""
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(errors="backslashreplace")


def _stopped_before_start(args: argparse.Namespace) -> int:
    print("stopped by SIGTERM before the daemon started: nothing was polled or sent", file=sys.stderr)
    return EXIT_FAILED if args.once else EXIT_OK  # --once: a pass that never ran is no success


def _run(args: argparse.Namespace) -> int:
    # Noted by watchdog.cli.main, which puts the handlers back: the very list its handlers append
    # to, empty or not. `args.early_signals or []` took an empty one for none, and every signal
    # from then until the daemon's own handlers (up to a second: the imports, the config, the
    # state store) went into a list nobody read: a SIGTERM was lost until the SIGKILL.
    held = args.early_signals if args.early_signals is not None else []
    from ..app import Daemon
    from ..config.loading import secrets_dir
    from ..listening import CannotListen
    from ..reload import file_fingerprint
    from ..signals import run_once_until_signalled, run_until_signalled
    from ..state import StateStoreError
    from ..state.errors import RECOVERY_LEAD

    try:
        secrets = secrets_dir(args.secrets_dir)  # the directory the config reads its secrets from
    except ConfigError:
        secrets = None  # named and missing: the config is refused just below, saying so
    seen = file_fingerprint(Path(args.config), secrets)  # before the read: an edit after it is reloaded
    config = config_or_exit(args)
    if config is None or unusable_environment():
        return EXIT_CONFIG
    configure(args, config)
    if signal.SIGTERM in held:
        # Before the state store is opened, too: a SIGTERM that came while the config was read
        # made (or migrated) the state file all the same (a re-verification of a k8s probe).
        return _stopped_before_start(args)
    try:
        daemon = Daemon(config, reload_config=lambda: load(args), config_path=Path(args.config), config_seen=seen,
                        secrets_dir=secrets)
    except StateStoreError as exc:
        from ..state_wait import waits_for

        # A PostgreSQL database not reachable yet (a fleet restarted with its database) is waited
        # for, serving /healthz, as a running replica rides out the same outage; not by --once,
        # a job whose scheduler (cron, a Kubernetes Job) tries again, and whose exit 1 says so.
        if args.once or not waits_for(config, exc):
            print(str(exc), file=sys.stderr)
            return EXIT_FAILED
        opened = _wait_for_the_store(config, exc, held)
        if isinstance(opened, int):
            return opened
        daemon = Daemon(config, reload_config=lambda: load(args), config_path=Path(args.config), config_seen=seen,
                        secrets_dir=secrets, state=opened)
    if signal.SIGTERM in held:
        daemon.state.close()
        return _stopped_before_start(args)
    try:
        if args.once:
            # In the try too: the start's reads and its recovery of kept restarts (a full disk, a
            # damaged record) ended `run --once` on a traceback where `run` says one line.
            return asyncio.run(run_once_until_signalled(daemon, held))
        return asyncio.run(run_until_signalled(daemon, held))
    except CannotListen as exc:
        daemon.state.close()
        asked = "server.host, server.port: is another watchdog or a demo using it?" if exc.in_use else "server.host, server.port"
        print(f"{exc} ({asked}); no restart was sent", file=sys.stderr)
        return EXIT_FAILED
    except StateStoreError as exc:  # the restarts the state file kept could not be recovered (a full disk)
        daemon.state.close()
        # Not of a damaged file, whose way out is to move it aside (and its kept restarts with it).
        kept = "" if RECOVERY_LEAD in str(exc) else " The restarts it kept stay in it, unsent, for the next start."
        print(f"{exc}{kept}", file=sys.stderr)
        return EXIT_FAILED


def _wait_for_the_store(config: Config, refused: StateStoreError, held: list[int]) -> StateStore | int:
    """`run` whose PostgreSQL state store could not be reached yet: wait for it (state_wait.py),
    serving /healthz. The store once it opens; else the exit code: 0 at a SIGTERM or Ctrl-C during
    the wait, 1 when a later try is refused for good or the port is taken."""
    from ..listening import CannotListen
    from ..state import StateStoreError
    from ..state_wait import wait_for_store

    stopped = "while it waited for the state database: nothing was polled or sent"
    try:
        store = asyncio.run(wait_for_store(config, refused, held))
    except KeyboardInterrupt:
        print(f"stopped by Ctrl-C (SIGINT) {stopped}", file=sys.stderr)
        return EXIT_OK
    except StateStoreError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_FAILED
    except CannotListen as exc:
        asked = "server.host, server.port: is another watchdog or a demo using it?" if exc.in_use else "server.host, server.port"
        print(f"{exc} ({asked}); no restart was sent", file=sys.stderr)
        return EXIT_FAILED
    if store is None:
        print(f"stopped by SIGTERM {stopped}", file=sys.stderr)
        return EXIT_OK
    return store


def _check_config(args: argparse.Namespace) -> int:
    config = config_or_exit(args)
    if config is None or unusable_environment():
        return EXIT_CONFIG
    now = datetime.now(timezone.utc)
    # A value equal to a secret (an alert rule's label, a paste slip) starred as the log has it.
    print(starred(summarize(config, args.config, now), args, config))
    # Valid, so warnings (the exit code stays 0): each accepted without a word before, and the
    # rule or window then did nothing (config/no_effect.py). Names holding one key come first
    # (the start says them as credentials_share_a_key): only names, never the key. Then names
    # holding one key id with different secrets, one of which will be refused (401).
    for setting in shared_keys(config) + key_id_clash_warnings(config) + no_effect_warnings(config, now):
        print(starred(printable(f"warning: {setting}"), args, config), file=sys.stderr)
    if config.state.url is None:
        from ..state.opening import unusable_here

        if (problem := unusable_here(Path(config.state.path))) is not None:
            print(f"warning: {problem} (as seen from this machine, by this user: `run` here would exit 1)", file=sys.stderr)
    for name in ignored_variables():
        print(f"warning: {name} names no setting of connect-watchdog; it is ignored", file=sys.stderr)
    for where, given_by in config.overridden.items():
        print(f"warning: {where} in the file is overridden by {given_by}", file=sys.stderr)
    for name, variable in config.secret_files_overridden.items():
        print(f"warning: secret file {name} is overridden by the variable {variable}: a new value put in the file "
              "(a rotated Secret) changes nothing while the variable is set", file=sys.stderr)
    if not args.discover:
        return EXIT_OK
    if config.discovery is None:
        print("--discover: the config has no discovery section; nothing to discover", file=sys.stderr)
        return EXIT_CONFIG
    from ..clients import sent_secrets
    from ..discovery.preview import discover_once

    # Failed calls are logged (to stderr, apart from the summary) as well as shown.
    configure_logging(args.log_level or "WARNING", args.log_format or "console", stream=sys.stderr)
    # And the config's secrets starred out of both, as the daemon does (connect.masking stars
    # what the log keeps out): never given here, an answer quoting one its request did not carry
    # (the restart API's token) was printed and logged as it came.
    keep_out_of_logs(*sent_secrets(config))
    # A 429 (the key is the daemon's too) or a 5xx is waited out within bounds, each wait said.
    complete, text = asyncio.run(discover_once(config, say=lambda line: print(f"--discover: {line}", file=sys.stderr)))
    print(text)
    return EXIT_OK if complete else EXIT_FAILED


def _restart(args: argparse.Namespace) -> int:
    try:
        with sigterm_as_ctrl_c():  # `timeout 30 watchdog restart ...`: said as Ctrl-C is
            return _restart_connector(args)
    except KeyboardInterrupt:
        # main() reads Ctrl-C as a clean stop (exit 0), right for `run`; here the restart asked
        # for may not have gone out, and a script must not take that for success.
        print(f"{printable(f'{args.cluster}/{args.connector}')}: interrupted before the restart's outcome was known; "
              "it may or may not have been sent: check with `watchdog history`", file=sys.stderr)
        return EXIT_FAILED


def _restart_connector(args: argparse.Namespace) -> int:
    if args.daemon:
        if args.dry_run:
            print("--dry-run cannot be combined with --daemon: the daemon's config decides", file=sys.stderr)
            return EXIT_CONFIG
        return restart_via_daemon(args)
    if not _a_request_the_daemon_takes(args):
        return EXIT_FAILED
    from ..app import Daemon

    config = config_or_exit(args)
    if config is None or unusable_environment():
        return EXIT_CONFIG
    # A configured cluster by its lkc- id too, as the daemon's API takes it (an alert's
    # kafka_cluster_id label): refused as unknown, or with discovery, looked for among the
    # discovered clusters, which never include a configured one ("missing").
    by_id = {c.kafka_cluster_id: name for name, c in config.clusters.items() if isinstance(c, CloudCluster)}
    if args.cluster not in config.clusters:
        args.cluster = by_id.get(args.cluster, args.cluster)
    discoverable = config.discovery is not None and args.cluster.startswith(KAFKA_CLUSTER_ID_PREFIX)
    if args.cluster not in config.clusters and not discoverable:
        # Exit 1, as a daemon's 404 for it (--daemon) and a restart not made: the config is
        # valid (2 says it is not), the cluster named is not one of it.
        from ..name_hints import cluster_name_hint

        hint = cluster_name_hint(args.cluster, {}, discovery=config.discovery is not None, listed_by=DISCOVERY_LISTED_BY)
        print(f"unknown cluster {args.cluster!r}; configured: {', '.join(sorted(config.clusters)) or 'none'}{hint}",
              file=sys.stderr)
        return EXIT_FAILED
    # The log on stderr: stdout is the answer (`out=$(watchdog restart ...)`), which the log's
    # lines (JSON, off a terminal) came before, six lines for one.
    configure(args, config, stream=sys.stderr)
    from ..state import StateFileInUse, StateStoreError

    try:
        daemon = Daemon(config)
    except StateFileInUse as exc:
        holder = exc.holder
        if holder is not None and holder.command and not holder.is_daemon:
            # Another one-shot command (a second person's `watchdog restart`, a CronJob's `run
            # --once`) holds it, and ends on its own: no daemon listens to be asked. Before, this
            # was said to be "a running watchdog" with a `--daemon` command that could not connect.
            print(f"State file {exc.path} is in use by another {holder.said()}, not a daemon: nothing was sent; "
                  "it ends on its own: run this command again once it has (in a few seconds; "
                  "`watchdog history` then shows what it did)", file=sys.stderr)
            return EXIT_TRY_LATER
        # A daemon runs on this state file: the restart is its to make. (The lock's own advice,
        # another state.path, would restart beside it without its backoff and budget.)
        # The command to paste, whole: "http://HOST:PORT" was refused as no usable URL, and the
        # --reason typed was left out, so the history recorded none.
        if args.dry_run:
            # Not the command to ask it: the daemon makes no dry run of one restart (--dry-run
            # with --daemon is refused), so the command pasted restarted for real.
            print(f"State file {exc.path} is in use by a running watchdog: no dry run was made (the state file "
                  f"is the daemon's); watchdog status --daemon {_local_address(config)} shows the connector's "
                  "backoff and last restart; watchdog restart --daemon (which takes no --dry-run) would restart "
                  "it for real, unless the daemon runs in dry-run", file=sys.stderr)
            return EXIT_FAILED
        reason = "" if args.reason == DEFAULT_REASON else f" --reason {shlex.quote(args.reason)}"
        command = (f"watchdog restart --daemon {_local_address(config)} "
                   f"{shlex.quote(args.cluster)} {shlex.quote(args.connector)}{reason}")
        print(f"State file {exc.path} is in use by a running watchdog: ask it to restart the connector: "
              f"{printable(command)}", file=sys.stderr)
        return EXIT_FAILED
    except StateStoreError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_FAILED
    from ..once import NotLeader

    target = printable(f"{args.cluster}/{args.connector}")
    try:
        decision, job, why = asyncio.run(daemon.restart_now(args.cluster, args.connector, reason=args.reason))
    except NotLeader as exc:
        print(f"{target}: not restarted (not_leader): {_ask_the_leader(args, config, exc)}")
        return EXIT_FAILED
    except KeyboardInterrupt:
        # Ctrl-C or SIGTERM: the stop drains the job (a call on the wire is waited for, one not
        # sent ends `unsent`, kept for the next start). Its outcome known, it is said as without
        # the signal, and exits by it: "may or may not have been sent", exit 1, followed a 202
        # the log had just said, and a script asked again (probe_cli F3). Unknown (no job yet,
        # or a second signal cut the drain short): _restart says so.
        done = daemon.restart_job
        if done is None or done.outcome is None:
            raise
        from ..model import Outcome

        # Ended `interrupted`, its call on the wire was not waited out (a second signal cut the
        # drain short, or queue.in_flight_grace ended): "the stop waited for its outcome" was said
        # then too (verification, 2026-12-08).
        stop = ("the stop ended its call on the wire unanswered (a second signal, or queue.in_flight_grace); the "
                "outcome that leaves" if done.outcome is Outcome.INTERRUPTED else "the stop waited for its outcome")
        print(f"{target}: interrupted after the restart was queued; {stop}, said on stdout", file=sys.stderr)
        return _said(args, target, done)
    if job is None:
        print(f"{target}: not restarted ({decision.value}){f': {printable(why)}' if why else ''}")
        return EXIT_FAILED
    return _said(args, target, job)


def _ask_the_leader(args: argparse.Namespace, config: Config, exc: NotLeader) -> str:
    """What to do when another replica leads (PostgreSQL): the restart is the leader's to make,
    through its API, in its pod (the replicas run one config, so it listens where this config
    says), the command whole as a standby's answer gives it (standby_hint.py). With --dry-run,
    which the daemon does not take, what shows the connector there instead."""
    from .standby_hint import in_pod

    if exc.holder is not None:
        pod = printable(exc.holder.split("/")[0])[:253]
        text = f"another replica leads ({printable(exc.holder)[:300]}, pod {pod})"
    else:
        pod = "POD"
        text = f"this command could not take the lead, and knows of no leader now ({printable(exc.note)[:800]})"
    where = ("in the leader's pod" if exc.holder is not None else
             'once a replica leads (its /readyz says "role": "leader"), in its pod')
    address = _local_address(config)
    if args.dry_run:
        # The daemon makes no dry run of one restart: a `restart --daemon` pasted would restart it for real.
        return (f"{text}; no dry run was made (the restart is the leader's to make, and the daemon makes no dry run of "
                f"one); its backoff and last restart, {where}: "
                f"{in_pod(pod, ['status', '--daemon', address, '--cluster', args.cluster])}")
    reason = [] if args.reason == DEFAULT_REASON else ["--reason", args.reason]
    return f"{text}; ask it {where}: {in_pod(pod, ['restart', '--daemon', address, args.cluster, args.connector, *reason])}"


def _said(args: argparse.Namespace, target: str, job: RestartJob) -> int:
    """The outcome of the restart's job on stdout, and the exit code it means."""
    from ..model import Outcome

    detail = f" (HTTP {job.status_code})" if job.status_code else ""
    asked_dry = job.outcome is Outcome.DRY_RUN and args.dry_run
    if job.outcome is Outcome.DRY_RUN:  # a dry run the config made is no restart done (exit 1)
        detail = " (--dry-run: nothing was sent)" if asked_dry else " (not sent: the config sets dry-run)"
    message = f": {printable(job.message)}" if job.message else ""
    print(f"{target}: {job.outcome.value if job.outcome else 'not finished'}{detail}{message}")
    if job.outcome is Outcome.CANCELLED:
        # Withdrawn, not sent, because the API asked to wait longer than this command waits
        # (restart_wait.py): the same command may work later.
        return EXIT_TRY_LATER
    return EXIT_OK if job.outcome is Outcome.ACCEPTED or asked_dry else EXIT_FAILED


def _a_request_the_daemon_takes(args: argparse.Namespace) -> bool:
    """The daemon's own rules for a restart request (api_input.RestartBody): a --reason of 5,000
    characters was refused by a daemon (422, exit 1) but sent, and kept whole, without one.
    Refused as the daemon refuses it, exit 1 too, before anything is read or sent."""
    from pydantic import ValidationError

    from ..api_input import RestartBody
    from ..config.errors import validation_problems
    from ..logs import printable

    try:
        RestartBody(cluster=args.cluster, connector=args.connector, reason=args.reason)
    except ValidationError as exc:
        problems = "; ".join(f"{where}: {what}" for where, what in validation_problems(exc))
        print(f"{printable(f'{args.cluster}/{args.connector}')}: refused (as the daemon's API refuses it): "
              f"{printable(problems)}", file=sys.stderr)
        return False
    return True


def _simulate(args: argparse.Namespace) -> int:
    from ..simulator.scenario import ScenarioError
    from ..simulator.server import run as run_simulator

    configure(args)
    try:
        run_simulator(args.scenario, args.host, args.port)
    except ScenarioError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_CONFIG
    except OSError as exc:  # the port taken: a traceback said it before
        print(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc} (--port)", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def _demo(args: argparse.Namespace) -> int:
    from ..demo import run_demo
    from ..listening import CannotListen

    if unusable_environment():
        return EXIT_CONFIG
    configure(args)
    try:
        return asyncio.run(run_demo(duration=args.duration, port=args.port, backend=args.backend))
    except CannotListen as exc:
        print(f"{exc} (--port; --port 0 takes any free one)", file=sys.stderr)
        return EXIT_FAILED
