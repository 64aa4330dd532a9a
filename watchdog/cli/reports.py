"""`watchdog status`, `watchdog history` and `watchdog restart --daemon`: read from a running
daemon's API, or straight from the state store."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from ..config import ConfigError
from ..config.sections import fits_a_header, secret_text
from ..logs import printable, redact_url_credentials
from .common import EXIT_CONFIG, EXIT_FAILED, EXIT_OK, config_or_exit, load, unusable_proxies

if TYPE_CHECKING:
    import httpx

    from ..model import HistoryRecord
    from ..report import ClusterPlace, StatusRow
    from ..state import StateStore

T = TypeVar("T")


def status_command(args: argparse.Namespace) -> int:
    from ..report import (
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
    from ..report import cluster_places

    try:
        config = load(args)
    except ConfigError:
        return {}
    return cluster_places(config, {}, lambda environment: None)


def history_command(args: argparse.Namespace) -> int:
    from ..report import history_from_json, history_json, render_history

    params: dict[str, str | int] = {"limit": args.limit}
    if args.connector:
        params["connector"] = args.connector
    if args.cluster:
        params["cluster"] = args.cluster

    def from_store(store: StateStore) -> list[HistoryRecord]:
        return store.history(None, args.limit, cluster=args.cluster or None, connector=args.connector or None)

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
        if document is None:
            return None
        try:
            return from_json(document)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            # A 200 of another shape (a proxy's sign-in page, another service on that port, a
            # daemon of another version): a traceback was all the operator got.
            print(f"the answer of {_shown(args.daemon)}{path} is not a watchdog daemon's "
                  f"({type(exc).__name__} reading it): is --daemon the daemon's API address?", file=sys.stderr)
            return None
    store = _open_state(args)
    if store is None:
        return None
    try:
        return from_store(store)
    finally:
        store.close()


def _open_state(args: argparse.Namespace) -> StateStore | None:
    """The state store, read-only: it may be in use by a running daemon. `--state FILE` names a
    SQLite file; otherwise the config's store (its `state.path`, or its PostgreSQL `state.url`)."""
    from ..state import SqliteStateStore, StateStoreError, open_store

    try:
        if args.state is not None:
            return SqliteStateStore(args.state, read_only=True)
        config = config_or_exit(args)
        if config is None:
            return None
        return open_store(config.state, read_only=True)
    except StateStoreError as exc:
        print(str(exc), file=sys.stderr)
        return None


def _from_daemon(args: argparse.Namespace, path: str, params: dict[str, str | int]) -> dict[str, Any] | None:
    import httpx

    try:
        token = _daemon_token(args)
    except UnusableToken as exc:
        print(exc, file=sys.stderr)
        return None
    if unusable_proxies():  # else httpx's InvalidURL for the proxy is taken for --daemon's own
        return None
    try:
        response = httpx.get(f"{args.daemon.rstrip('/')}{path}", params=params, timeout=10.0,
                             headers={"Authorization": f"Bearer {token}"})
    except httpx.InvalidURL:
        print(UNREADABLE_DAEMON_URL, file=sys.stderr)
        return None
    except httpx.HTTPError as exc:
        print(f"cannot reach the daemon at {_shown(args.daemon)}: {exc}", file=sys.stderr)
        return None
    if response.status_code != 200:
        print(f"the daemon answered HTTP {response.status_code}: {error_text(response)}", file=sys.stderr)
        return None
    try:
        document: dict[str, Any] = response.json()
    except ValueError:
        kind = printable(response.headers.get("content-type", "no content type"))[:100]
        print(f"the answer of {_shown(args.daemon)}{path} is not JSON ({kind}): is --daemon the daemon's API address?",
              file=sys.stderr)
        return None
    return document


# httpx's InvalidURL (no HTTPError: it ended the command in a traceback) quotes what it took for
# the port, and a '/', '?' or '#' in a password ends the host there: `http://ops:Pa55/w0rd@host`
# printed "Invalid port: 'Pa55'", half the password. So the URL is never quoted here.
UNREADABLE_DAEMON_URL = (
    "--daemon is not a valid URL: its host or port cannot be read (the port must be a number, and a '/', '?' or "
    "'#' after the scheme ends the host, as in a password); give the daemon's address, e.g. http://watchdog:9464"
)


def _shown(url: str) -> str:
    """--daemon's URL as printed back: without a password in it, nothing a terminal would obey."""
    return printable(redact_url_credentials(url))


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


class UnusableToken(ValueError):
    """No token for the daemon's API, or one that cannot be sent; the message never quotes it."""


def _daemon_token(args: argparse.Namespace) -> str:
    """The daemon's token, from --token-file or WATCHDOG_SERVER__AUTH_TOKEN, stripped as the
    daemon strips its own (a token from a Secret often ends in a newline). One that cannot go
    into a header is refused here: a token of two lines made httpx raise an error quoting the
    header, and this command printed it, token and all; a file that did not exist, a traceback."""
    if args.token_file:
        source = f"--token-file {args.token_file}"
        try:
            text = Path(args.token_file).read_text(encoding="utf-8")
        except OSError as exc:
            raise UnusableToken(f"{source}: cannot be read ({exc.strerror})") from None
        except UnicodeDecodeError:
            raise UnusableToken(f"{source}: is not UTF-8 text") from None
    else:
        source, text = "WATCHDOG_SERVER__AUTH_TOKEN", os.environ.get("WATCHDOG_SERVER__AUTH_TOKEN", "")
    token = secret_text(text)
    if not token:
        raise UnusableToken("no token: set WATCHDOG_SERVER__AUTH_TOKEN or pass --token-file")
    if not fits_a_header(token):
        raise UnusableToken(f"the token from {source} must be printable ASCII without spaces (two lines in the file?)")
    return token


def restart_via_daemon(args: argparse.Namespace) -> int:
    """POST /v1/restarts on a running daemon, then follow GET /v1/restarts/{id} to the outcome."""
    import time

    import httpx

    try:
        token = _daemon_token(args)
    except UnusableToken as exc:
        print(exc, file=sys.stderr)
        return EXIT_CONFIG
    if unusable_proxies():  # else httpx's InvalidURL for the proxy is taken for --daemon's own
        return EXIT_CONFIG
    target = printable(f"{args.cluster}/{args.connector}")
    headers = {"Authorization": f"Bearer {token}"}
    try:
        with httpx.Client(base_url=args.daemon, headers=headers, timeout=10.0) as http:
            response = http.post("/v1/restarts", json={"cluster": args.cluster, "connector": args.connector, "reason": args.reason})
            if response.status_code != 202:
                print(f"{target}: refused by the daemon (HTTP {response.status_code}): {error_text(response)}", file=sys.stderr)
                return EXIT_FAILED
            record = response.json()
            deadline = time.monotonic() + args.wait
            while record["state"] == "pending" and time.monotonic() < deadline:
                time.sleep(0.5)
                record = http.get(f"/v1/restarts/{record['id']}").json()
    except httpx.InvalidURL:
        print(UNREADABLE_DAEMON_URL, file=sys.stderr)
        return EXIT_CONFIG
    except httpx.HTTPError as exc:
        print(f"cannot reach the daemon at {_shown(args.daemon)}: {exc}", file=sys.stderr)
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


def error_text(response: httpx.Response) -> str:
    try:
        return printable(str(response.json().get("error")))
    except (ValueError, AttributeError):
        return printable(response.text[:200])
