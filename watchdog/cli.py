"""The `watchdog` command: run, check-config, restart, status, history, simulate, demo.

Exit codes: 0 success; 1 a restart (or a --once pass) ended in an error outcome, or the daemon
failed at run time; 2 the config or the command line is invalid (nothing was started).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from . import __version__
from .config import (
    KAFKA_CLUSTER_ID_PREFIX,
    AlertTrigger,
    Config,
    ConfigError,
    KafkaConnectCluster,
    ScheduleTrigger,
    StalledTrigger,
    StatusTrigger,
    TlsSettings,
    WindowSettings,
    load_config,
)
from .logs import configure_logging, get_logger, redact_url_credentials

if TYPE_CHECKING:
    import httpx

    from .model import HistoryRecord
    from .report import ClusterPlace, StatusRow
    from .state import StateStore

T = TypeVar("T")

EXIT_OK, EXIT_FAILED, EXIT_CONFIG = 0, 1, 2
DEFAULT_CONFIG = "config.yaml"

log = get_logger("watchdog.cli")


def _common(parser: argparse.ArgumentParser, *, config: bool = True) -> None:
    if config:
        parser.add_argument(
            "--config", "-c", metavar="PATH",
            default=os.environ.get("WATCHDOG_CONFIG", DEFAULT_CONFIG),
            help="YAML config file (default: $WATCHDOG_CONFIG or ./config.yaml)",
        )
        parser.add_argument(
            "--secrets-dir", metavar="DIR",
            help="directory of secret files (default: $WATCHDOG_SECRETS_DIR, else /etc/watchdog/secrets if present)",
        )
    parser.add_argument("--log-format", choices=["json", "console"], help="default: console on a terminal, else json")
    parser.add_argument("--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR"], type=str.upper)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="watchdog", description="Keeps Kafka connectors on Confluent Cloud healthy.")
    parser.add_argument("--version", action="version", version=f"connect-watchdog {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="run the daemon")
    _common(run)
    run.add_argument("--dry-run", action="store_true", help="decide, log and count, but send no restart")
    run.add_argument("--once", action="store_true", help="one pass over every rule, drain the queue, exit")

    check = commands.add_parser("check-config", help="validate a config file and print a summary")
    _common(check)
    check.add_argument("--discover", action="store_true",
                       help="also list what discovery would watch now (one round of its list calls, nothing else)")

    restart = commands.add_parser("restart", help="restart one connector now, through the rate-limited queue")
    _common(restart)
    restart.add_argument("cluster", help="the cluster's name in the config")
    restart.add_argument("connector")
    restart.add_argument("--reason", default="requested from the command line")
    restart.add_argument("--dry-run", action="store_true")
    restart.add_argument(
        "--daemon", metavar="URL",
        help="ask a running daemon (e.g. http://watchdog:9464) instead of calling the API directly; "
             "the token comes from $WATCHDOG_SERVER__AUTH_TOKEN or --token-file",
    )
    restart.add_argument("--token-file", metavar="PATH", help="file holding the daemon's bearer token")
    restart.add_argument("--wait", type=float, default=60.0, metavar="SECONDS",
                         help="with --daemon: how long to wait for the outcome (default 60)")

    status = commands.add_parser("status", help="watched connectors: health, attempts, backoff, gave-up")
    _common(status)
    _report_source(status)

    history = commands.add_parser("history", help="recent restarts with trigger, outcome and the captured error")
    _common(history)
    _report_source(history)
    history.add_argument("connector", nargs="?", help="only this connector (give --cluster when names repeat)")
    history.add_argument("--cluster", help="the connector's cluster (its name in the config)")
    history.add_argument("--limit", type=int, default=50, help="at most this many restarts (default 50)")

    simulate = commands.add_parser("simulate", help="serve the Confluent Cloud simulator over HTTP")
    _common(simulate, config=False)
    simulate.add_argument("--scenario", metavar="FILE", help="scenario YAML (default: the built-in demo scenario)")
    simulate.add_argument("--host", default="127.0.0.1")
    simulate.add_argument("--port", type=int, default=8080)

    demo = commands.add_parser("demo", help="run the daemon against the built-in simulator")
    _common(demo, config=False)
    demo.add_argument("--duration", type=float, metavar="SECONDS", help="stop after this long (default: until Ctrl-C)")
    demo.add_argument("--port", type=int, default=9464, help="the daemon's /metrics port (0: any free port)")
    demo.add_argument("--backend", choices=["confluent_cloud", "kafka_connect"], default="confluent_cloud",
                      help="simulate Confluent Cloud (default) or self-managed Kafka Connect clusters")
    return parser


def _report_source(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--daemon", metavar="URL", help="ask a running daemon's API (token from $WATCHDOG_SERVER__AUTH_TOKEN or --token-file)")
    parser.add_argument("--token-file", metavar="PATH", help="file holding the daemon's bearer token")
    parser.add_argument("--state", metavar="PATH", help="read this state file (default: state.path from --config)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler = {
        "run": _run,
        "check-config": _check_config,
        "restart": _restart,
        "status": _status,
        "history": _history,
        "simulate": _simulate,
        "demo": _demo,
    }[args.command]
    try:
        return handler(args)
    except KeyboardInterrupt:
        return EXIT_OK


def _load(args: argparse.Namespace) -> Config:
    config = load_config(Path(args.config), secrets_dir=args.secrets_dir)
    updates = {}
    if getattr(args, "dry_run", False):
        updates["dry_run"] = True
    return config.model_copy(update=updates) if updates else config


def _configure_logging(args: argparse.Namespace, config: Config | None = None) -> None:
    level = args.log_level or (config.log.level if config else "INFO")
    fmt = args.log_format or (config.log.format if config else "auto")
    configure_logging(level, fmt)


def _config_or_exit(args: argparse.Namespace) -> Config | None:
    try:
        return _load(args)
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return None


def _run(args: argparse.Namespace) -> int:
    from .app import Daemon, run_until_signalled
    from .state import StateStoreError

    config = _config_or_exit(args)
    if config is None:
        return EXIT_CONFIG
    _configure_logging(args, config)
    try:
        daemon = Daemon(config, reload_config=lambda: _load(args), config_path=Path(args.config))
    except StateStoreError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_FAILED
    if args.once:
        return asyncio.run(daemon.run_once())
    return asyncio.run(run_until_signalled(daemon))


def _check_config(args: argparse.Namespace) -> int:
    config = _config_or_exit(args)
    if config is None:
        return EXIT_CONFIG
    print(summarize(config, args.config))
    if not args.discover:
        return EXIT_OK
    if config.discovery is None:
        print("--discover: the config has no discovery section; nothing to discover", file=sys.stderr)
        return EXIT_CONFIG
    from .discovery.preview import discover_once

    # Failed calls are logged (to stderr, apart from the summary) as well as shown.
    configure_logging(args.log_level or "WARNING", args.log_format or "console", stream=sys.stderr)
    complete, text = asyncio.run(discover_once(config))
    print(text)
    return EXIT_OK if complete else EXIT_FAILED


def _restart(args: argparse.Namespace) -> int:
    if args.daemon:
        if args.dry_run:
            print("--dry-run cannot be combined with --daemon: the daemon's config decides", file=sys.stderr)
            return EXIT_CONFIG
        return _restart_via_daemon(args)
    from .app import Daemon
    from .model import Outcome

    config = _config_or_exit(args)
    if config is None:
        return EXIT_CONFIG
    discoverable = config.discovery is not None and args.cluster.startswith(KAFKA_CLUSTER_ID_PREFIX)
    if args.cluster not in config.clusters and not discoverable:
        print(f"unknown cluster {args.cluster!r}; configured: {', '.join(sorted(config.clusters))}", file=sys.stderr)
        return EXIT_CONFIG
    _configure_logging(args, config)
    from .state import StateStoreError

    try:
        daemon = Daemon(config)
    except StateStoreError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_FAILED
    from .report import printable

    decision, job = asyncio.run(daemon.restart_now(args.cluster, args.connector, reason=args.reason))
    target = printable(f"{args.cluster}/{args.connector}")
    if job is None:
        print(f"{target}: not restarted ({decision.value})")
        return EXIT_FAILED
    detail = f" (HTTP {job.status_code})" if job.status_code else ""
    message = f": {printable(job.message)}" if job.message else ""
    print(f"{target}: {job.outcome.value if job.outcome else 'unknown'}{detail}{message}")
    return EXIT_OK if job.outcome in (Outcome.ACCEPTED, Outcome.DRY_RUN) else EXIT_FAILED


def _status(args: argparse.Namespace) -> int:
    from .report import (
        places_from_json,
        render_status,
        status_json,
        status_rows_from_json,
    )

    places: dict[str, ClusterPlace] = {}

    def from_daemon(document: dict[str, Any]) -> list[StatusRow]:
        places.update(places_from_json(document))  # a daemon knows its discovered clusters too
        return status_rows_from_json(document)

    def from_store(store: StateStore) -> list[StatusRow]:
        places.update(_config_places(args))  # configured clusters only: discovery is the daemon's
        return store.rows()

    rows = _read_report(args, "/v1/connectors", {}, from_daemon, from_store)
    if rows is None:
        return EXIT_FAILED
    print(json.dumps(status_json(rows, places or None), indent=2) if args.json
          else render_status(rows, now=_utc_now(), places=places))
    return EXIT_OK


def _config_places(args: argparse.Namespace) -> dict[str, ClusterPlace]:
    """Where the configured clusters are, when the config can be read (status may be run with
    --state alone, on a machine without the daemon's config)."""
    from .report import cluster_places

    try:
        config = _load(args)
    except ConfigError:
        return {}
    return cluster_places(config, {}, lambda environment: None)


def _history(args: argparse.Namespace) -> int:
    from .model import ConnectorKey
    from .report import history_from_json, history_json, render_history

    params: dict[str, str | int] = {"limit": args.limit}
    if args.connector:
        params["connector"] = args.connector
    if args.cluster:
        params["cluster"] = args.cluster

    def from_store(store: StateStore) -> list[HistoryRecord]:
        if args.connector and args.cluster:
            return store.history(ConnectorKey(args.cluster, args.connector), args.limit)
        records = store.history(None, 100_000)
        return [r for r in records if not args.connector or r.key.connector == args.connector][: args.limit]

    records = _read_report(args, "/v1/history", params, history_from_json, from_store)
    if records is None:
        return EXIT_FAILED
    print(json.dumps(history_json(records), indent=2) if args.json else render_history(records, now=_utc_now()))
    return EXIT_OK


def _read_report(
    args: argparse.Namespace,
    path: str,
    params: dict[str, str | int],
    from_json: Callable[[dict[str, Any]], list[T]],
    from_store: Callable[[StateStore], list[T]],
) -> list[T] | None:
    """What `status` and `history` show: from a running daemon's API (--daemon) or straight from
    the state file. None when neither can be read (the reason is already on stderr)."""
    if args.daemon:
        document = _from_daemon(args, path, params)
        return None if document is None else from_json(document)
    store = _open_state(args)
    if store is None:
        return None
    try:
        return from_store(store)
    finally:
        store.close()


def _state_summary(config: Config) -> str:
    state = config.state
    if state.url is None:
        return f"state: SQLite file {state.path} (one replica)"
    from .state.postgres_connection import describe

    lease = state.leader_election
    password = "set" if state.password is not None else "not set"
    return (f"state: PostgreSQL {describe(state.url)}   password: {password}   leader election: lease "
            f"{_duration(lease.lease_duration)}, renew deadline {_duration(lease.renew_deadline)}, "
            f"renew every {_duration(lease.renew_interval)}")


def _open_state(args: argparse.Namespace) -> StateStore | None:
    """The state store, read-only: it may be in use by a running daemon. `--state FILE` names a
    SQLite file; otherwise the config's store (its `state.path`, or its PostgreSQL `state.url`)."""
    from .state import SqliteStateStore, StateStoreError, open_store

    try:
        if args.state is not None:
            return SqliteStateStore(args.state, read_only=True)
        config = _config_or_exit(args)
        if config is None:
            return None
        return open_store(config.state, read_only=True)
    except StateStoreError as exc:
        print(str(exc), file=sys.stderr)
        return None


def _from_daemon(args: argparse.Namespace, path: str, params: dict[str, str | int]) -> dict[str, Any] | None:
    import httpx

    token = _daemon_token(args)
    if not token:
        print("no token: set WATCHDOG_SERVER__AUTH_TOKEN or pass --token-file", file=sys.stderr)
        return None
    try:
        response = httpx.get(f"{args.daemon.rstrip('/')}{path}", params=params, timeout=10.0,
                             headers={"Authorization": f"Bearer {token}"})
    except httpx.HTTPError as exc:
        print(f"cannot reach the daemon at {args.daemon}: {exc}", file=sys.stderr)
        return None
    if response.status_code != 200:
        print(f"the daemon answered HTTP {response.status_code}: {_error_text(response)}", file=sys.stderr)
        return None
    document: dict[str, Any] = response.json()
    return document


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


def _daemon_token(args: argparse.Namespace) -> str | None:
    # Stripped as the daemon strips its own: a token from a Secret often ends in a newline.
    if args.token_file:
        return Path(args.token_file).read_text(encoding="utf-8").strip()
    token = os.environ.get("WATCHDOG_SERVER__AUTH_TOKEN", "").strip()
    return token or None


def _restart_via_daemon(args: argparse.Namespace) -> int:
    """POST /v1/restarts on a running daemon, then follow GET /v1/restarts/{id} to the outcome."""
    import time

    import httpx

    token = _daemon_token(args)
    if not token:
        print("no token: set WATCHDOG_SERVER__AUTH_TOKEN or pass --token-file", file=sys.stderr)
        return EXIT_CONFIG
    from .report import printable

    target = printable(f"{args.cluster}/{args.connector}")
    headers = {"Authorization": f"Bearer {token}"}
    try:
        with httpx.Client(base_url=args.daemon, headers=headers, timeout=10.0) as http:
            response = http.post("/v1/restarts", json={"cluster": args.cluster, "connector": args.connector, "reason": args.reason})
            if response.status_code != 202:
                print(f"{target}: refused by the daemon (HTTP {response.status_code}): {_error_text(response)}", file=sys.stderr)
                return EXIT_FAILED
            record = response.json()
            deadline = time.monotonic() + args.wait
            while record["state"] == "pending" and time.monotonic() < deadline:
                time.sleep(0.5)
                record = http.get(f"/v1/restarts/{record['id']}").json()
    except httpx.HTTPError as exc:
        print(f"cannot reach the daemon at {args.daemon}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    job = record.get("job") or {}
    if record["state"] == "skipped":
        print(f"{target}: not restarted ({record['decision']}); request {record['id']}")
        return EXIT_FAILED
    if record["state"] == "pending":
        print(f"{target}: still queued after {args.wait:g}s; follow it with GET /v1/restarts/{record['id']}")
        return EXIT_FAILED
    detail = f" (HTTP {job['status_code']})" if job.get("status_code") else ""
    message = f": {printable(str(job['message']))}" if job.get("message") else ""
    print(f"{target}: {job.get('outcome')}{detail}{message}; request {record['id']}")
    return EXIT_OK if job.get("outcome") in ("accepted", "dry_run") else EXIT_FAILED


def _error_text(response: httpx.Response) -> str:
    from .report import printable

    try:
        return printable(str(response.json().get("error")))
    except (ValueError, AttributeError):
        return printable(response.text[:200])


def _simulate(args: argparse.Namespace) -> int:
    from .simulator.scenario import ScenarioError
    from .simulator.server import run as run_simulator

    _configure_logging(args)
    try:
        run_simulator(args.scenario, args.host, args.port)
    except ScenarioError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_CONFIG
    return EXIT_OK


def _demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    _configure_logging(args)
    return asyncio.run(run_demo(duration=args.duration, port=args.port, backend=args.backend))


def _duration(seconds: float) -> str:
    for unit, size in (("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def summarize(config: Config, source: str) -> str:
    """A one-screen view of what the daemon would do with this config. Secrets are never shown."""
    lines = [f"config {source}: valid", f"api: {redact_url_credentials(config.api.base_url)}   dry_run: {str(config.dry_run).lower()}"]
    lines.append("credentials:")
    for name, cred in sorted(config.credentials.items()):
        lines.append(f"  {name:<16} api_key: {'set' if cred.api_key else 'MISSING'}   api_secret: {'set' if cred.api_secret else 'MISSING'}")
    lines.append("clusters:")
    for name, cluster in sorted(config.clusters.items()):
        if isinstance(cluster, KafkaConnectCluster):
            where = f"Kafka Connect {', '.join(redact_url_credentials(u) for u in cluster.urls)}"
            auth = f"basic auth: {cluster.credential}" if cluster.credential else "no auth"
            tls = "" if cluster.tls == TlsSettings() else "   custom TLS"
            lines.append(f"  {name:<16} {where}   {auth}{tls}")
        else:
            lines.append(f"  {name:<16} {cluster.environment_id}/{cluster.kafka_cluster_id}   credential: {config.credential_for(cluster)}")
    lines.append("rules:")
    for rule in config.rules:
        trigger = rule.trigger
        if isinstance(trigger, StatusTrigger):
            what = f"status every {_duration(trigger.interval)}, confirm {trigger.confirm_polls} polls"
            what += f", backoff {_duration(rule.backoff.base)}..{_duration(rule.backoff.cap)}"
            what += f", max_restarts {rule.max_restarts or 'unlimited'}"
            if rule.restart_user_errors:
                what += ", restarts user errors"
        elif isinstance(trigger, StalledTrigger):
            what = (f"stalled every {_duration(trigger.interval)}: two {_duration(trigger.window)} windows ending "
                    f"{_duration(trigger.delay)} ago, after {_duration(trigger.grace)} RUNNING")
            what += f", backoff {_duration(rule.backoff.base)}..{_duration(rule.backoff.cap)}"
        elif isinstance(trigger, AlertTrigger):
            matchers = [f"{k}={v}" for k, v in trigger.match.items()] + [f"{k}=~{v}" for k, v in trigger.match_re.items()]
            what = f"alert {' '.join(matchers)} -> {trigger.cluster_label}/{trigger.connector_label}"
            what += f", backoff {_duration(rule.backoff.base)}..{_duration(rule.backoff.cap)}"
        else:
            assert isinstance(trigger, ScheduleTrigger)
            what = f"schedule cron '{trigger.cron}' {trigger.timezone}" if trigger.cron else f"schedule every {_duration(trigger.interval or 0)}"
        flags = "".join([" [disabled]" if not rule.enabled else "", " [dry-run]" if rule.dry_run else ""])
        lines.append(f"  {rule.name:<16} {what}{flags}")
        sel = rule.select
        parts = [f"clusters {','.join(sel.clusters) if sel.clusters else 'all'}"]
        if sel.connectors:
            parts.append(f"connectors {','.join(sel.connectors)}")
        if sel.include:
            parts.append(f"include {','.join(sel.include)}")
        if sel.exclude:
            parts.append(f"exclude {','.join(sel.exclude)}")
        lines.append(f"  {'':<16} select: {'; '.join(parts)}")
        if rule.windows is not None and rule.windows.configured:
            lines.append(f"  {'':<16} windows: {_windows(rule.windows)}")
    rl = config.rate_limit
    lines.append(
        f"rate_limit: reserve {rl.reserve}, at most {rl.max_requests_per_second:g}/s and {rl.max_concurrent_requests} at once, "
        f"retries {rl.max_retries} (5xx/network) and {rl.max_rate_limited_retries} (429)"
    )
    token = "set" if config.server.auth_token else "not set (webhook and restart API refuse every request)"
    lines.append(f"server: {config.server.host}:{config.server.port}   auth_token: {token}   shutdown deadline: {_duration(config.queue.shutdown_deadline)}")
    lines.append(_state_summary(config))
    if config.windows.configured:
        lines.append(f"windows: {_windows(config.windows)}")
    br = config.breaker
    share = f"more than {br.max_failing_share:.0%} of a cluster (at least {br.min_failing})" if br.max_failing_share else "off"
    fleet = f"{br.max_restarts} restarts per {_duration(br.window)}" if br.max_restarts else "off"
    lines.append(f"breaker: cluster {share}; fleet {fleet}")
    if config.blocking is not None:
        bl = config.blocking
        auth = {"none": "no auth", "basic": f"basic auth as {bl.username}", "bearer": "bearer token"}[bl.auth]
        lines.append(f"blocking: {redact_url_credentials(bl.alertmanager_url)} ({auth}) filters {bl.filters or 'none'}, "
                     f"cache {_duration(bl.cache_ttl)}, on error {bl.on_error}")
    from .discovery.preview import settings_summary

    lines += settings_summary(config)
    for where, url in config.plaintext_credential_urls():
        lines.append(f"warning: {where} {redact_url_credentials(url)} is plain http://: its credentials travel unencrypted")
    return "\n".join(lines)


def _windows(windows: WindowSettings) -> str:
    allowed = ", ".join(windows.allowed) if windows.allowed is not None else "always"
    blackout = ", ".join(windows.blackout) or "none"
    return f"allowed {allowed}; blackout {blackout}"
