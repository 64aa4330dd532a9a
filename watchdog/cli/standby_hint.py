"""The command a standby's answer tells the operator to run in the leader's pod, whole and ready to
paste: `kubectl -n NAMESPACE exec POD -- watchdog <the command as typed>`. It read `kubectl exec vm
-- watchdog ... --daemon URL`: a literal `...`, and no namespace, so that outside the default
namespace kubectl answered "pods not found" (a runbook probe, 2026-12-06)."""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Sequence

from ..logs import printable, redact_url_credentials

# The pod's namespace, from the downward API (deploy/kubernetes/base/deployment.yaml sets it): the
# CLI run with `kubectl exec` into a pod has the pod's environment.
NAMESPACE_VARIABLE = "POD_NAMESPACE"
_NAMESPACE = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")


def namespace() -> str:
    """The pod's namespace when this process knows it, else a placeholder to fill in."""
    given = os.environ.get(NAMESPACE_VARIABLE, "")
    return given if _NAMESPACE.fullmatch(given) else "<namespace>"


def in_pod(pod: str, argv: Sequence[str]) -> str:
    """`argv` (the command as typed, after `watchdog`) to run in `pod`. A password in a --daemon
    URL is starred out, and nothing a terminal would obey is printed."""
    shown: list[str] = []
    after_daemon = False
    for word in argv:
        if after_daemon:
            word = redact_url_credentials(word)
        elif word.startswith("--daemon="):
            word = "--daemon=" + redact_url_credentials(word.removeprefix("--daemon="))
        after_daemon = word == "--daemon"
        shown.append(printable(word))
    return f"kubectl -n {namespace()} exec {pod} -- watchdog {shlex.join(shown) if shown else '...'}"
