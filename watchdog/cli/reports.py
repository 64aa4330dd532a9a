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
from .common import EXIT_CONFIG, EXIT_FAILED, EXIT_OK, config_or_exit, load

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
        cluster = _stored_cluster_name(args, args.cluster) if args.cluster else None
        return store.history(None, args.limit, cluster=cluster, connector=args.connector or None)

    records = _read_report(args, "/v1/history", params, history_from_json, from_store)
    if records is None:
        return EXIT_FAILED
    print(json.dumps(history_json(records), indent=2) if args.json else render_history(records, now=_utc_now()))
    return EXIT_OK


def _stored_cluster_name(args: argparse.Namespace, cluster: str) -> str:
    """The name the state file keeps a cluster's rows under: a configured cluster's name when
    `cluster` is its lkc- id (as the daemon's API takes it), when the config can be read. Given
    the id, the state file was searched for rows it never holds: "No restarts recorded."."""
    from ..config import CloudCluster

    try:
        config = load(args)
    except ConfigError:
        return cluster
    by_id = {c.kafka_cluster_id: name for name, c in config.clusters.items() if isinstance(c, CloudCluster)}
    return cluster if cluster in config.clusters else by_id.get(cluster, cluster)


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
        _check_address(args.daemon)
        token = _daemon_token(args)
    except (UnusableAddress, UnusableToken) as exc:
        print(exc, file=sys.stderr)
        return None
    try:
        response = httpx.get(f"{args.daemon.rstrip('/')}{path}", params=params, timeout=10.0,
                             headers={"Authorization": f"Bearer {token}"})
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


def _shown(url: str) -> str:
    """--daemon's URL as printed back: without a password in it, nothing a terminal would obey."""
    return printable(redact_url_credentials(url))


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


class UnusableAddress(ValueError):
    """A --daemon that is no http(s) URL; the message never quotes a password in it."""


def _check_address(url: str) -> None:
    """Refuses a --daemon no request can be sent to, by name and without quoting it: a port
    mistyped (`:94a4`) or an IPv6 bracket left open was an httpx.InvalidURL traceback, and for
    `http://user:pa/ss@host` one that quoted half the password as the port."""
    import httpx

    if "@" in url:
        # Credentials in the URL would also replace the bearer token (httpx sends them as basic auth).
        raise UnusableAddress("--daemon holds an '@' (a user or password?): give the daemon's address as "
                              "http://HOST:PORT; the token comes from $WATCHDOG_SERVER__AUTH_TOKEN or --token-file")
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        parsed = None
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.host:
        raise UnusableAddress("--daemon is not a usable URL (its scheme, host or port cannot be read): give the "
                              "daemon's address as http://HOST:PORT (or https://)")


# The daemon's token: the variable, and the file of that name in a secrets directory.
TOKEN_SETTING = "WATCHDOG_SERVER__AUTH_TOKEN"


class UnusableToken(ValueError):
    """No token for the daemon's API, or one that cannot be sent; the message never quotes it."""


def _daemon_token(args: argparse.Namespace) -> str:
    """The daemon's token, from --token-file, WATCHDOG_SERVER__AUTH_TOKEN or the file of that name
    in the secrets directory the daemon reads (as `run` would: --secrets-dir was taken and
    ignored here, so in the daemon's own pod the token had to be found by hand), stripped as the
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
    elif secret_text(os.environ.get(TOKEN_SETTING, "")):
        source, text = TOKEN_SETTING, os.environ[TOKEN_SETTING]
    else:
        # Where the daemon beside it reads its own: in its pod, the mounted Secret.
        source, text = _token_from_secrets_dir(args)
    token = secret_text(text)
    if not token:
        raise UnusableToken(f"no token: set {TOKEN_SETTING}, pass --token-file, or give --secrets-dir a "
                            f"directory holding a file {TOKEN_SETTING}")
    if not fits_a_header(token):
        raise UnusableToken(f"the token from {source} must be printable ASCII without spaces (two lines in the file?)")
    return token


def _token_from_secrets_dir(args: argparse.Namespace) -> tuple[str, str]:
    """(where, text) of the token file in the secrets directory the daemon would read
    (--secrets-dir, $WATCHDOG_SECRETS_DIR, /etc/watchdog/secrets); text "" when there is none."""
    from ..config.loading import secrets_dir
    from ..config.sources import read_secret_setting

    try:
        directory = secrets_dir(getattr(args, "secrets_dir", None))
    except ConfigError as exc:
        raise UnusableToken(str(exc)) from None
    if directory is None:
        return "", ""
    text, problems = read_secret_setting(directory, TOKEN_SETTING)
    if problems:
        raise UnusableToken("; ".join(problems))
    return f"secret file {TOKEN_SETTING} in {directory}", text or ""


def restart_via_daemon(args: argparse.Namespace) -> int:
    """POST /v1/restarts on a running daemon, then follow GET /v1/restarts/{id} to the outcome."""
    import httpx

    try:
        _check_address(args.daemon)
        token = _daemon_token(args)
    except (UnusableAddress, UnusableToken) as exc:
        print(exc, file=sys.stderr)
        return EXIT_CONFIG
    target = printable(f"{args.cluster}/{args.connector}")
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=args.daemon, headers=headers, timeout=10.0) as http:
        try:
            response = http.post("/v1/restarts", json={"cluster": args.cluster, "connector": args.connector, "reason": args.reason})
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            print(f"cannot reach the daemon at {_shown(args.daemon)}: {exc}", file=sys.stderr)
            return EXIT_FAILED
        except httpx.HTTPError as exc:
            # Connected, so the request may have arrived and been queued: "cannot reach the
            # daemon" would have the operator believe nothing was asked for.
            print(f"{target}: sent to the daemon at {_shown(args.daemon)}, but no answer came ({type(exc).__name__}: "
                  f"{printable(str(exc))[:200]}): the restart may have been queued; check with `watchdog history` "
                  "before asking again", file=sys.stderr)
            return EXIT_FAILED
        if response.status_code != 202:
            print(f"{target}: refused by the daemon (HTTP {response.status_code}): {error_text(response)}", file=sys.stderr)
            return EXIT_FAILED
        record = _request_record(response)
        if record is None:
            # Accepted (202), so a restart may well be queued: say so rather than "failed".
            print(f"{target}: the daemon answered 202 (accepted) but not with a request of its API: a restart may be "
                  f"queued; check with `watchdog history` (is --daemon the daemon's API address?)", file=sys.stderr)
            return EXIT_FAILED
        record, lost = _follow(http, record, args.wait)
    request_id = printable(str(record["id"]))
    if lost is not None:
        # The restart was accepted: a daemon restarted or replaced meanwhile (a rollout, another
        # replica taking the lead) no longer knows the request, but may well have sent it.
        print(f"{target}: requested (request {request_id}, {printable(str(record['state']))} when last seen), but its "
              f"outcome could not be followed: {lost}; check with `watchdog history`", file=sys.stderr)
        return EXIT_FAILED
    job = record.get("job") or {}
    if record["state"] == "skipped":
        detail = f": {printable(str(record['detail']))}" if record.get("detail") else ""
        print(f"{target}: not restarted ({printable(str(record['decision']))}){detail}; request {request_id}")
        return EXIT_FAILED
    if record["state"] == "pending":
        print(f"{target}: still queued after {args.wait:g}s; follow it with GET /v1/restarts/{request_id}")
        return EXIT_FAILED
    detail = f" (HTTP {job['status_code']})" if job.get("status_code") else ""
    message = f": {printable(str(job['message']))}" if job.get("message") else ""
    print(f"{target}: {printable(str(job.get('outcome')))}{detail}{message}; request {request_id}")
    return EXIT_OK if job.get("outcome") in ("accepted", "dry_run") else EXIT_FAILED


def _request_record(response: httpx.Response) -> dict[str, Any] | None:
    """The request an answer of POST or GET /v1/restarts describes, or None for another shape."""
    try:
        record = response.json()
    except ValueError:
        return None
    if not isinstance(record, dict) or not isinstance(record.get("id"), str) or not isinstance(record.get("state"), str):
        return None
    if not isinstance(record.get("job") or {}, dict):
        return None
    return record


def _follow(http: httpx.Client, record: dict[str, Any], wait: float) -> tuple[dict[str, Any], str | None]:
    """GET /v1/restarts/{id} until the request is no longer pending or `wait` seconds passed:
    the last record seen, and why following it stopped short (None when it did not)."""
    import time

    import httpx

    deadline = time.monotonic() + wait
    while record["state"] == "pending" and time.monotonic() < deadline:
        time.sleep(0.5)
        try:
            response = http.get(f"/v1/restarts/{record['id']}")
        except httpx.HTTPError as exc:
            return record, f"the daemon could not be reached ({type(exc).__name__}: {printable(str(exc))[:200]})"
        if response.status_code != 200:
            return record, f"the daemon answered HTTP {response.status_code}: {error_text(response)}"
        followed = _request_record(response)
        if followed is None:
            return record, "the daemon's answer is not a request of its API"
        record = followed
    return record, None


def error_text(response: httpx.Response) -> str:
    """The daemon's `error`, with the fields its 422 names (`reason: String should have at most
    500 characters`): without them, a --reason too long or a name with a control character was
    refused as "request body does not match the expected shape", and which part was not said."""
    try:
        document = response.json()
        text = str(document.get("error"))
    except (ValueError, AttributeError):
        return printable(response.text[:200])
    problems = document.get("problems")
    if isinstance(problems, list) and problems:
        named = [f"{p.get('field')}: {p.get('problem')}" if isinstance(p, dict) else str(p) for p in problems[:5]]
        text += ": " + "; ".join(named)
        not_shown = document.get("problems_not_shown")
        left_out = len(problems) - len(named) + (not_shown if isinstance(not_shown, int) else 0)
        if left_out > 0:
            text += f"; and {left_out} more"
    return printable(text[:1000])
