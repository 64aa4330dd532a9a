"""`watchdog status` and `watchdog history`: read from a running daemon's API, or straight from
the state store."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, TypeVar

from ..config import ConfigError
from ..logs import printable
from .common import (
    DISCOVERY_LISTED_BY,
    EXIT_CONFIG,
    EXIT_FAILED,
    EXIT_OK,
    EXIT_TRY_LATER,
    TRY_LATER_STATUSES,
    config_or_exit,
    load,
)
from .daemon import (
    daemon_client,
    daemon_headers,
    daemon_unknown_cluster,
    failure_text,
    get_past_standby,
    not_the_daemon,
    proxy_note,
    refusal_text,
    shown_url,
    tls_failure,
)
from .reload_note import reload_note

if TYPE_CHECKING:

    from ..config import Config
    from ..model import HistoryRecord
    from ..report import ClusterPlace, StatusRow
    from ..state import StateStore

T = TypeVar("T")


def status_command(args: argparse.Namespace) -> int:
    from ..model import Outcome
    from ..report import (
        places_from_json,
        render_status,
        rows_shown,
        status_json,
        status_rows_from_json,
        unwatched_rows,
        with_attempts_notes,
        with_gone,
    )

    places: dict[str, ClusterPlace] = {}
    failing: list[dict[str, Any]] = []  # the clusters the daemon cannot list now
    paused: list[dict[str, Any]] = []  # the clusters whose polls a pause of their key holds now
    store = ["ok"]  # the daemon's state store: "ok", or why it takes no write (and no restart is sent)
    unknown = [""]  # --cluster's, when the state file and the config know no such cluster: as history says it
    left_out: dict[str, Any] = {}  # the daemon's rows past its cap (absent from a daemon before 2026-12-07)
    reload: dict[str, Any] = {}  # the daemon's last reload (absent from a daemon before 2026-12-08)

    def from_daemon(document: dict[str, Any]) -> list[StatusRow]:
        places.update(places_from_json(document))  # a daemon knows its discovered clusters too
        failing.extend(document.get("polls_failing", []))  # absent from a daemon before 2026-12-03
        paused.extend(document.get("polls_paused", []))  # absent from a daemon before 2026-12-04
        store[0] = str(document.get("state_store", "ok"))  # absent from a daemon before 2026-12-06
        said = document.get("left_out")
        if isinstance(said, dict) and said.get("note"):
            left_out.update(said)
        if isinstance(document.get("config_reload"), dict):
            reload.update(document["config_reload"])
        return status_rows_from_json(document)

    def from_store(store: StateStore) -> list[StatusRow]:
        config = _config_or_none(args)
        places.update(_config_places(config))  # configured clusters only: discovery is the daemon's
        set_in_config = config is not None and (config.dry_run or any(rule.dry_run for rule in config.rules))
        # `run --dry-run` leaves the config live: its dry_run restarts in the history say it.
        newest = [] if set_in_config else store.history(None, 1)
        if set_in_config or (newest and newest[0].outcome is Outcome.DRY_RUN):
            # The dry run's attempts and backoff live in the daemon's memory only: from the file,
            # the table showed attempts 0, next allowed "now", while the gauges and the log
            # showed the dry run's cadence, and nothing said why.
            why = _dry_run_set(config) if config is not None and set_in_config else "the state file's newest restart is a dry run's"
            print(f"note: {why}: the dry run's would-be attempts and backoff are in the "
                  "daemon's memory only; this table, read from the state file, shows the live state "
                  "(`watchdog status --daemon URL` shows the dry run's)", file=sys.stderr)
        if args.cluster is not None:
            unknown[0] = _unknown_stored_cluster(args.cluster, store, config)
        rows = store.rows() if config is None else unwatched_rows(store.rows(), config)
        return with_attempts_notes(_with_kept_requests(store, rows, config),
                                   lambda key, limit: store.history(key, limit))

    rows = _read_report(args, "/v1/connectors", {}, from_daemon, from_store)
    if isinstance(rows, int):
        return rows
    if left_out:
        # The daemon lists the newest GONE_ROWS_LISTED rows of deleted connectors and removed
        # clusters (report/row_select.py): the rest said, never left out without a word.
        print(printable(f"note: {left_out.get('gone', 0)} row(s) of deleted connectors and "
                        f"{left_out.get('cluster_unwatched', 0)} of clusters no longer watched not listed by the "
                        f"daemon: {left_out['note']}"), file=sys.stderr)
    if (note := reload_note(reload, _utc_now())) is not None:
        print(printable(note), file=sys.stderr)
    if args.cluster is not None and not any(rows_shown(rows, places, cluster=args.cluster)):
        known = sorted({row.key.cluster for row in rows})
        # A cluster nothing knows is said as `history --cluster` says it ("unknown cluster"); one
        # known with no watched connector, so. Both said "no watched connector" before.
        said = (daemon_unknown_cluster(args) if args.daemon else unknown[0]) or \
            f"no watched connector of cluster {args.cluster!r}"
        print(printable(f"{said}; clusters shown: {', '.join(known) or 'none'}"), file=sys.stderr)
        return EXIT_FAILED
    # `gone` said by each row before --problems chooses: worked out on the rows it kept, a
    # deleted connector's row (the newest of its cluster there) read as live (probe soak F1).
    rows = with_gone(rows_shown(rows, places, cluster=args.cluster))
    watched = len(rows)
    not_shown = sorted({row.key.cluster for row in rows if row.cluster_unwatched}) if args.problems else []
    rows = rows_shown(rows, places, problems=args.problems)
    document = status_json(rows, places or None)
    if args.daemon:
        document["polls_failing"] = failing
        document["polls_paused"] = paused
        document["state_store"] = store[0]
        if reload:
            document["config_reload"] = reload
    print(json.dumps(document, indent=2) if args.json
          else render_status(rows, now=_utc_now(), places=places, failing=failing, paused=paused, store=store[0],
                             watched=watched if args.problems else None, not_shown=not_shown))
    return EXIT_OK


def _unknown_stored_cluster(cluster: str, store: StateStore, config: Config | None) -> str:
    """"unknown cluster 'C': ..." as `history --cluster` says it from the state file, when
    neither the config (a configured cluster by its name or lkc- id) nor the state file knows
    `cluster`; else ""."""
    from ..config import CloudCluster
    from ..name_hints import cluster_name_hint

    configured = None if config is None else set(config.clusters)
    name = cluster
    if config is not None:
        by_id = {c.kafka_cluster_id: n for n, c in config.clusters.items() if isinstance(c, CloudCluster)}
        name = by_id.get(cluster, cluster)
    if _known_cluster(store, name, configured):
        return ""
    known = f"; configured: {', '.join(sorted(configured))}" if configured else ""
    hint = "" if config is None else cluster_name_hint(
        cluster, {}, discovery=config.discovery is not None, listed_by=DISCOVERY_LISTED_BY)
    return f"unknown cluster {cluster!r}: neither the config nor the state file knows it{known}{hint}"


def _dry_run_set(config: Config) -> str:
    """What of the config sets dry-run: "the config sets dry-run" read as the whole daemon's
    when one rule of many was on trial."""
    if config.dry_run:
        return "the config sets dry-run"
    names = [rule.name for rule in config.rules if rule.dry_run]
    shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
    return f"the config's rule{'s' if len(names) > 1 else ''} {shown} {'are' if len(names) > 1 else 'is'} dry-run"


def _with_kept_requests(store: StateStore, rows: list[StatusRow], config: Config | None) -> list[StatusRow]:
    """The rows with the restart requests the store keeps (queued or on the wire when its daemon
    stopped) as their `held`: what the next start does with each (report/kept.py)."""
    from ..report import kept_holds, with_kept
    from ..triggers.scheduler import SCHEDULE_MISFIRE_GRACE_SECONDS

    now = _utc_now()
    holds = kept_holds(store.pending(), now=now, last_alive=store.last_alive(now), grace=SCHEDULE_MISFIRE_GRACE_SECONDS,
                       clusters=None if config is None else set(config.clusters),
                       discovery=config is not None and config.discovery is not None)
    return with_kept(rows, holds)


def _config_or_none(args: argparse.Namespace) -> Config | None:
    """The config, when it can be read (status may be run with --state alone, on a machine
    without the daemon's config)."""
    try:
        return load(args, calls=False)
    except ConfigError:
        return None


def _config_places(config: Config | None) -> dict[str, ClusterPlace]:
    """Where the configured clusters are, when the config could be read."""
    from ..report import cluster_places

    return {} if config is None else cluster_places(config, {}, lambda environment: None)


def history_command(args: argparse.Namespace) -> int:
    from ..model import MAX_HISTORY_SERVED
    from ..name_hints import cluster_name_hint
    from ..report import history_from_json, history_json, render_history
    from .history_names import daemon_names, store_names, unknown_connector_line

    # A daemon answers at most MAX_HISTORY_SERVED restarts (its 400 refuses a larger `limit`):
    # `--limit 5000` was sent as given and answered `HTTP 400`, exit 1, nothing shown, where
    # README says a daemon serves at most 1,000. Ask it for those, and say so below.
    params: dict[str, str | int] = {"limit": min(args.limit, MAX_HISTORY_SERVED)}
    if args.connector:
        params["connector"] = args.connector
    if args.cluster:
        params["cluster"] = args.cluster

    def from_store(store: StateStore) -> list[HistoryRecord] | None:
        cluster, config = _stored_cluster_name(args, args.cluster) if args.cluster else (None, None)
        configured = None if config is None else set(config.clusters)
        records = store.history(None, args.limit, cluster=cluster, connector=args.connector or None)
        if cluster is not None and not records and not _known_cluster(store, cluster, configured):
            # As the daemon's 404 does: a mistyped name printed "No restarts recorded.", exit 0,
            # which read as "the watchdog never restarted anything there".
            known = f"; configured: {', '.join(sorted(configured))}" if configured else ""
            hint = "" if config is None else cluster_name_hint(
                args.cluster, {}, discovery=config.discovery is not None, listed_by=DISCOVERY_LISTED_BY)
            print(f"unknown cluster {args.cluster!r}: neither the config nor the state file "
                  f"knows it{known}{hint}", file=sys.stderr)
            return None
        if args.connector and not records and (line := unknown_connector_line(
                args.connector, store_names(store), "the state file")) is not None:
            print(line, file=sys.stderr)
        return records

    records = _read_report(args, "/v1/history", params, history_from_json, from_store)
    if isinstance(records, int):
        return records
    if args.daemon and args.connector and not records:
        known = daemon_names(args)
        if known is not None and (line := unknown_connector_line(args.connector, known, "the daemon")) is not None:
            print(line, file=sys.stderr)
    print(json.dumps(history_json(records), indent=2) if args.json else render_history(records, now=_utc_now()))
    if args.daemon and args.limit > MAX_HISTORY_SERVED and len(records) >= MAX_HISTORY_SERVED:
        print(f"note: the daemon serves at most {MAX_HISTORY_SERVED} restarts: these are the newest "
              f"{MAX_HISTORY_SERVED}; the state file holds the rest (`watchdog history --state FILE`, "
              "or without --daemon where the daemon runs)", file=sys.stderr)
    return EXIT_OK


def _stored_cluster_name(args: argparse.Namespace, cluster: str) -> tuple[str, Config | None]:
    """The name the state file keeps a cluster's rows under: a configured cluster's name when
    `cluster` is its lkc- id (as the daemon's API takes it), when the config can be read. Given
    the id, the state file was searched for rows it never holds: "No restarts recorded.".
    With it, the config (None when it cannot be read)."""
    from ..config import CloudCluster

    try:
        config = load(args, calls=False)
    except ConfigError:
        return cluster, None
    by_id = {c.kafka_cluster_id: name for name, c in config.clusters.items() if isinstance(c, CloudCluster)}
    name = cluster if cluster in config.clusters else by_id.get(cluster, cluster)
    return name, config


def _known_cluster(store: StateStore, cluster: str, configured: set[str] | None) -> bool:
    """A cluster the config names, or one the state file holds connectors or restarts of (a
    discovered cluster, named by its lkc- id, or one since removed from the config)."""
    if configured is not None and cluster in configured:
        return True
    return any(row.key.cluster == cluster for row in store.rows()) or bool(store.history(None, 1, cluster=cluster))


def _read_report(
    args: argparse.Namespace,
    path: str,
    params: dict[str, str | int],
    from_json: Callable[[dict[str, Any]], list[T]],
    from_store: Callable[[StateStore], list[T] | None],
) -> list[T] | int:
    """What `status` and `history` show: from a running daemon's API (--daemon) or straight from
    the state file. An exit code when neither can be read (the reason is already on stderr)."""
    if args.daemon:
        document = _from_daemon(args, path, params)
        if isinstance(document, int):
            return document
        try:
            return from_json(document)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            # A 200 of another shape (a proxy's sign-in page, another service on that port, a
            # daemon of another version): a traceback was all the operator got.
            print(f"the answer of {shown_url(args.daemon)}{path} is not a watchdog daemon's "
                  f"({type(exc).__name__} reading it): is --daemon the daemon's API address?", file=sys.stderr)
            return EXIT_FAILED
    from ..state import StateStoreError

    store = _open_state(args)
    if isinstance(store, int):
        return store
    try:
        shown = from_store(store)
    except StateStoreError as exc:
        # Damage met in the read itself (a page or a record the checks at opening cannot see):
        # said as a refusal at opening is, not as a traceback.
        print(str(exc), file=sys.stderr)
        return EXIT_FAILED
    finally:
        store.close()
    return EXIT_FAILED if shown is None else shown


def _open_state(args: argparse.Namespace) -> StateStore | int:
    """The state store, read-only: it may be in use by a running daemon. `--state FILE` names a
    SQLite file; otherwise the config's store (its `state.path`, or its PostgreSQL `state.url`).
    Else the exit code: 2 for a config that is invalid (as every command says it), 1 for a store
    that cannot be used."""
    from ..state import SqliteStateStore, StateFileMissing, StateStoreError, open_store

    config = None
    try:
        if args.state is not None:
            return SqliteStateStore(args.state, read_only=True)
        config = config_or_exit(args, calls=False)
        if config is None:
            return EXIT_CONFIG
        return open_store(config.state, read_only=True)
    except StateFileMissing as exc:
        # A daemon whose file was moved away still answers from what it holds: "no daemon" alone
        # sent its operator looking for a daemon that was running.
        where = "URL" if config is None else f"http://127.0.0.1:{config.server.port}"
        print(f"{exc} A daemon running there answers itself: watchdog {args.command} --daemon {where}", file=sys.stderr)
        return EXIT_FAILED
    except StateStoreError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_FAILED


def _from_daemon(args: argparse.Namespace, path: str, params: dict[str, str | int]) -> dict[str, Any] | int:
    """The daemon's JSON answer, or the exit code after saying why there is none: 2 when no call
    can go (the address, the token: as `restart --daemon` says it), 75 when the daemon could not
    be reached or answered that it cannot answer now (EXIT_TRY_LATER), else 1."""
    import httpx

    from .bounded import AnswerTooLarge, DeadlinePassed

    headers = daemon_headers(args)
    if headers is None:
        return EXIT_CONFIG
    try:
        with daemon_client(args.daemon, headers) as http:
            response, standby, tries = get_past_standby(http, args.daemon, f"{args.daemon.rstrip('/')}{path}", params)
    except (DeadlinePassed, AnswerTooLarge) as exc:
        # Something answered: not "cannot reach". Too slow may pass (75); too large is no daemon's (1).
        print(f"the answer of {shown_url(args.daemon)}{path}{proxy_note(args.daemon)}: {exc}"
              + ("; is --daemon the daemon's API address?" if isinstance(exc, AnswerTooLarge) else
                 "; a proxy or port-forward in trouble, or not the daemon's API address? try again later"),
              file=sys.stderr)
        return EXIT_FAILED if isinstance(exc, AnswerTooLarge) else EXIT_TRY_LATER
    except httpx.HTTPError as exc:
        if (tls := tls_failure(exc, args.daemon)) is not None:
            print(tls, file=sys.stderr)
            return EXIT_CONFIG
        print(f"cannot reach the daemon at {shown_url(args.daemon)}{proxy_note(args.daemon)}: {failure_text(exc)}",
              file=sys.stderr)
        return EXIT_TRY_LATER
    if standby is not None:
        # Only the leader shows the connectors as it polls them (docs/high-availability.md).
        print(standby.explain(args.daemon, tries, getattr(args, "argv", ())), file=sys.stderr)
        return EXIT_TRY_LATER if tries > 1 else EXIT_FAILED  # this host's standby: ask the leader's pod
    if response.status_code != 200:
        who = not_the_daemon(response, args.daemon)
        said = f"the daemon answered HTTP {response.status_code}" if who is None else \
            f"refused (HTTP {response.status_code}) by {who}"
        print(f"{said}: {refusal_text(response, args)}", file=sys.stderr)
        return EXIT_TRY_LATER if response.status_code in TRY_LATER_STATUSES else EXIT_FAILED
    try:
        document: dict[str, Any] = response.json()
    except ValueError:
        from ..connect.masking import without_credentials

        # The server's text, printed: without the token, should what answers repeat it.
        kind = printable(without_credentials(response.headers.get("content-type", "no content type"),
                                             response.request.headers))[:100]
        print(f"the answer of {shown_url(args.daemon)}{path} is not JSON ({kind}): is --daemon the daemon's API address?",
              file=sys.stderr)
        return EXIT_FAILED
    return document


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)
