"""Connector names a Kafka Connect worker cannot route: a taskless one said once
(`connector_name_unroutable`), and a restart its web server refused for the name alone not made
again at each backoff gap (`refused_for_its_name`).

A worker that is not the leader forwards a connector's task configs to the leader with the name
in the path unencoded (Kafka Connect's own forwarding, whatever our call encoded), so on a
cluster of more than one worker a name with `/` (a path separator there), `;` (Jetty cuts the
path at it: "Connector semi not found" in the worker's log, real 4.3.1), `%` (a percent-escape
the leader decodes or refuses) or a backslash (Jetty 12 refuses it) gets no task unless the
connector runs on the leader itself (`%` and a backslash seen so in the verification of that fix): the
connector reads RUNNING with no task, which is `healthy`, and nothing said so (probe of real
Kafka, F3). The daemon cannot tell how many workers stand behind one URL (a load balancer), nor
a connector with no task by design (rare: one whose taskConfigs is empty), so the line says what
becomes of it on a cluster of more than one worker, and only once such a connector has stayed
taskless for its rule's `degraded_report_after`.
"""

from __future__ import annotations

import re
from datetime import datetime

from ..model import ConnectorKey, ConnectorStatus

# Characters that a worker forwarding to the leader does not encode and the leader's Jetty
# reads as path syntax, decodes, or refuses.
UNROUTABLE_CHARS = ("/", ";", "%", "\\")


def unroutable_chars(name: str) -> list[str]:
    """The characters of `name` a worker cannot forward to the leader (none: an empty list)."""
    return [char for char in UNROUTABLE_CHARS if char in name]


def unroutable_note(name: str) -> str:
    chars = " and ".join(f"'{char}'" for char in unroutable_chars(name))
    return (f"RUNNING with no task, and its name holds {chars}: on a cluster of more than one worker a worker "
            "forwards its task configs to the leader with the name unencoded, which the leader cannot route, so "
            "no task is ever created (the workers' log says \"Error forwarding REST request\"); it moves no data "
            "though its health reads healthy. Create it again under a name without '/', ';', '%' or '\\' (rename "
            "it), or run it on a cluster of one worker")


class UnroutableNames:
    """Since when each watched connector of a self-managed cluster with such a name has been
    listed with no task, and those said. Memory only, as degraded_since: after a restart of the
    daemon it is said again once it has stayed so, never early."""

    def __init__(self) -> None:
        self._since: dict[ConnectorKey, datetime] = {}
        self._said: set[ConnectorKey] = set()

    def seen(self, key: ConnectorKey, status: ConnectorStatus, now: datetime, report_after: float) -> bool:
        """A poll's view of a self-managed cluster's connector: True when it is to be said now."""
        if status.unusable is not None or status.tasks or not unroutable_chars(key.connector):
            self.forget(key)  # said again should it lose its tasks later
            return False
        since = self._since.setdefault(key, now)
        if key in self._said or (now - since).total_seconds() < report_after:
            return False
        self._said.add(key)
        return True

    def forget(self, key: ConnectorKey) -> None:
        self._since.pop(key, None)
        self._said.discard(key)

    def forget_cluster(self, cluster: str) -> None:
        for key in [key for key in self._since if key.cluster == cluster]:
            self.forget(key)

    def clear(self) -> None:
        self._since.clear()
        self._said.clear()


# The titles of the 400 pages Jetty 12 (Kafka Connect 4.x) answers, before Connect sees the
# request, for a path its URI compliance refuses: a name with `%`, `\`, `/`, or `.`/`..` alone.
# The page depends on the name alone, so every later call for it is answered alike. Matched on
# these words only: a 400 of Connect's own, or Confluent's (PROVISIONING, PAUSED), is not one,
# and a worker whose Jetty is configured otherwise serves the name (the hold then lasts until
# a restart by name is accepted). Seen on 4.3.1: "Ambiguous URI path
# encoding", "Ambiguous URI path segment", "Ambiguous URI path separator", "Suspicious Path
# Character"; Jetty's other violations ("Ambiguous URI empty segment", ...) share the prefix.
_JETTY_REFUSAL = re.compile(r"\b(Ambiguous URI |Suspicious Path Character)", re.IGNORECASE)


# Characters (and names) Jetty 12's URI compliance has a violation for, once percent-encoded as
# we send them: `%` (%25), `\` (%5C), `/` (%2F), `;` (a path parameter), a name `.` or `..`: the
# same characters a worker cannot forward to the leader.
# Only such names can be refused for the name alone, so only theirs are looked up: the look-up
# is a read of the state store, made at each failure restart decided. Should a later Jetty refuse
# another character, the cost of missing it is the old behaviour (a restart per backoff gap).
_SUSPECT_CHARS = frozenset(UNROUTABLE_CHARS)


def may_be_refused_for_its_name(name: str) -> bool:
    """Whether a Kafka Connect worker's web server could refuse a call for `name` by its path."""
    return name in (".", "..") or any(char in _SUSPECT_CHARS for char in name)


def refused_for_its_name(status_code: int | None, message: str) -> bool:
    """Whether a restart's answer is Jetty's 400 for the connector's name itself."""
    return status_code == 400 and _JETTY_REFUSAL.search(message or "") is not None


def refused_name_detail(message: str) -> str:
    """What a failure restart held by its name's last refusal says (decision `unaddressable`)."""
    return (f"its last restart was answered \"{message}\" (HTTP 400 from the worker's web server, for the name "
            "itself): every restart of it would be answered so, so no status, alert or stall rule restarts it; the "
            "workers refuse every REST call of this name (even DELETE), a restart by hand through them too: create it "
            "again under a name without '%', '\\', '/' or ';', and not '.' or '..' (watchdog restart still asks, and "
            "an answer other than this lifts the hold)")
