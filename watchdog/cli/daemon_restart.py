"""`watchdog restart --daemon URL`: ask a running daemon for a restart and follow it to its end,
saying what is known when it cannot be followed (the restart may have been queued)."""

from __future__ import annotations

import argparse
import re
import sys
import time
from typing import TYPE_CHECKING, Any

from ..logs import printable
from .common import EXIT_CONFIG, EXIT_FAILED, EXIT_OK, EXIT_TRY_LATER, TRY_LATER_STATUSES
from .daemon import (
    DAEMON_TIMEOUT_SECONDS,
    STANDBY_PAUSE,
    STANDBY_TRIES,
    Standby,
    daemon_client,
    daemon_headers,
    error_text,
    failure_text,
    is_loopback,
    not_the_daemon,
    proxy_note,
    refusal_text,
    shown_url,
    tls_failure,
)

if TYPE_CHECKING:
    import httpx


def restart_via_daemon(args: argparse.Namespace) -> int:
    """POST /v1/restarts on a running daemon, then follow GET /v1/restarts/{id} to the outcome."""
    import httpx

    from .bounded import AnswerTooLarge

    headers = daemon_headers(args)
    if headers is None:
        return EXIT_CONFIG
    target = printable(f"{args.cluster}/{args.connector}")
    # A standby says it did nothing, so asking again is safe; through a Service the next try may
    # reach the leader. This host's own daemon would answer the same: asked once.
    tries = 1 if is_loopback(args.daemon) else STANDBY_TRIES
    with daemon_client(args.daemon, headers) as http:
        try:
            for tried in range(1, tries + 1):
                response = http.post("/v1/restarts", json={"cluster": args.cluster, "connector": args.connector,
                                                           "reason": args.reason})
                standby = Standby.of(response)
                if standby is None or tried == tries:
                    break
                time.sleep(STANDBY_PAUSE)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            if (tls := tls_failure(exc, args.daemon)) is not None:
                print(f"{target}: not requested: {tls}", file=sys.stderr)
                return EXIT_CONFIG
            print(f"cannot reach the daemon at {shown_url(args.daemon)}{proxy_note(args.daemon)}: {failure_text(exc)}; "
                  "nothing was sent", file=sys.stderr)
            return EXIT_TRY_LATER
        except httpx.HTTPError as exc:
            # Connected, so the request may have arrived and been queued: "cannot reach the
            # daemon" would have the operator believe nothing was asked for.
            came = (f"an answer larger than any daemon's came ({exc}; is --daemon the daemon's API address?)"
                    if isinstance(exc, AnswerTooLarge) else f"no answer came ({failure_text(exc)[:200]})")
            print(f"{target}: sent to the daemon at {shown_url(args.daemon)}{proxy_note(args.daemon)}, but {came}: the "
                  "restart may have been queued; check with `watchdog history` before asking again", file=sys.stderr)
            return EXIT_FAILED
        if standby is not None:
            print(f"{target}: not requested: {standby.explain(args.daemon, tries, getattr(args, 'argv', ()))}", file=sys.stderr)
            # Through a Service, the next try may reach the leader; this host's standby answers
            # the same until it leads: the command is to be run in the leader's pod.
            return EXIT_TRY_LATER if tries > 1 else EXIT_FAILED
        if response.status_code != 202:
            who = not_the_daemon(response, args.daemon)
            # A 2xx or 3xx refuses nothing: said as what it is (a POST answered 200 printed
            # "refused (HTTP 200) by what answers at ...: None").
            verb = "refused" if response.status_code >= 400 else "answered"
            said = f"{verb} by the daemon (HTTP {response.status_code})" if who is None else \
                f"{verb} (HTTP {response.status_code}) by {who}"
            print(f"{target}: {said}: {refusal_text(response, args)}", file=sys.stderr)
            return EXIT_TRY_LATER if response.status_code in TRY_LATER_STATUSES else EXIT_FAILED
        record = _request_record(response)
        if record is None:
            # Accepted (202), so a restart may well be queued: say so rather than "failed".
            print(f"{target}: the daemon answered 202 (accepted) but not with a request of its API: a restart may be "
                  f"queued; check with `watchdog history` (is --daemon the daemon's API address?)", file=sys.stderr)
            return EXIT_FAILED
        joined = _first_other(record) if record.get("decision") == "duplicate" else None
        record, lost = _follow(http, args.daemon, record, args.wait, follow_standby=tries > 1)
    request_id = printable(str(record["id"]))
    if joined is not None:
        # Two operators at once: the second was told `accepted` with its own request id as if the
        # restart were its, and nothing said its reason went nowhere (probe_cli, 2026-12-08).
        request_id += (f", which joined request {printable(joined)} already queued for it: one restart for both, "
                       "the first request's reason the one recorded")
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
        why = f" ({printable(str(job['message']))})" if job.get("message") else ""
        print(f"{target}: still queued after {args.wait:g}s{why}; request {request_id}: {_follow_up(args, request_id)}")
        return EXIT_FAILED
    detail = f" (HTTP {job['status_code']})" if job.get("status_code") else ""
    if job.get("outcome") == "dry_run":
        # Not asked for here (--dry-run with --daemon is refused): the daemon's config made it a
        # dry run. "dry_run", exit 0, read as done, by an operator and a script alike.
        detail = " (not sent: the daemon runs in dry-run)"
    message = f": {printable(str(job['message']))}" if job.get("message") else ""
    print(f"{target}: {printable(str(job.get('outcome')))}{detail}{message}; request {request_id}")
    return EXIT_OK if job.get("outcome") == "accepted" else EXIT_FAILED


def _follow_up(args: argparse.Namespace, request_id: str) -> str:
    """The commands to paste to follow a restart still queued: "follow it with GET
    /v1/restarts/<id>" named a route, not what to type (no command follows a request by its id;
    status shows it held, history its outcome), found 2026-12-07."""
    import shlex

    where = f"--daemon {shlex.quote(args.daemon)} --cluster {shlex.quote(args.cluster)}"
    status = f"watchdog status {where}"
    history = f"watchdog history {shlex.quote(args.connector)} {where}"
    return printable(f"`{status}` shows it held (queued) until it is sent, `{history}` its outcome once made "
                     f"(the API: GET /v1/restarts/{request_id})")


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


def _follow(http: httpx.Client, url: str, record: dict[str, Any], wait: float,
            follow_standby: bool = False) -> tuple[dict[str, Any], str | None]:
    """GET /v1/restarts/{id} until the request is no longer pending or `wait` seconds passed:
    the last record seen, and why following it stopped short (None when it did not). With
    `follow_standby` (a Service in front of the replicas), a standby's 503 is passed over: the
    next try, on a new connection, may reach the leader that took the request.

    A daemon not reached, or answering 503 (starting: it recovers its kept restarts first), is
    asked again until `wait` has passed: a rollout replaces the daemon, and the next one knows
    the request the state kept and sends it. The first refused connection ended the following
    with `--wait` barely begun, "its outcome could not be followed"."""
    import httpx

    deadline = time.monotonic() + wait
    problem: str | None = None  # why the last ask got no record, while the daemon may come back
    own = asked = record["id"]
    while record["state"] == "pending" and time.monotonic() < deadline:
        time.sleep(0.5)
        # No ask outlasts `wait`: one begun just before it ended waited the client's whole
        # timeout (10 s) on a daemon that took it and never answered, --wait 1 taking 11 s.
        left = max(0.1, deadline - time.monotonic())
        try:
            response = http.get(f"/v1/restarts/{asked}", timeout=min(DAEMON_TIMEOUT_SECONDS, left))
        except httpx.HTTPError as exc:
            problem = f"the daemon could not be reached ({failure_text(exc)[:200]})"
            continue
        if follow_standby and Standby.of(response) is not None:
            continue
        if response.status_code != 200:
            who = not_the_daemon(response, url)
            said = f"the daemon answered HTTP {response.status_code}" if who is None else \
                f"refused (HTTP {response.status_code}) by {who}"
            problem = f"{said}: {error_text(response)}"
            if response.status_code == 503:
                continue
            joined = _joined(record, asked)
            if response.status_code == 404 and joined is not None:
                # A request answered `duplicate` shares the queued restart of another, and only that
                # one is kept in the state: the next daemon knows it alone. Its outcome is ours.
                asked = joined
                continue
            return record, problem
        followed = _request_record(response)
        if followed is None:
            return record, "the daemon's answer is not a request of its API"
        record, problem = {**followed, "id": own}, None
    return record, problem


def _joined(record: dict[str, Any], asked: str) -> str | None:
    """The request whose restart this one joined (the first of its job's, when not the one
    asked about and not this one), or None."""
    requests = (record.get("job") or {}).get("requests")
    if not isinstance(requests, list) or record["id"] in requests:
        return None
    other = next((r for r in requests if isinstance(r, str) and r != asked), None)
    return other if other is not None and _REQUEST_ID.fullmatch(other) else None


def _first_other(record: dict[str, Any]) -> str | None:
    """The first request of the restart this one shares (answered `duplicate`: it joined a restart
    already queued), or None."""
    requests = (record.get("job") or {}).get("requests")
    if not isinstance(requests, list):
        return None
    return next((r for r in requests if isinstance(r, str) and r != record["id"] and _REQUEST_ID.fullmatch(r)), None)


_REQUEST_ID = re.compile(r"[0-9a-f]{16}")  # as the daemon hands them out: anything else is not asked about
