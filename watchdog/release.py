"""Which build of connect-watchdog is running: its version and the revision it was built from.

Every release so far says `__version__` 0.1.0, so the version alone cannot tell the two replicas
of a rolling update apart, nor confirm that a rollback took. The revision can. It comes from:

- the container image: the Dockerfile's REVISION and CREATED build arguments, written at build
  time into `connect-watchdog.build` at the top of the virtualenv (`sys.prefix`), one
  `key=value` a line;
- else a source checkout (this package beside a pyproject.toml at the top of a git work tree):
  `git describe` of that checkout, with `-dirty` when tracked files differ from the commit;
- else `unknown`.

Read once per process; it never fails and never keeps the daemon from starting: a file that
cannot be read, git missing, slow or refusing (another user's checkout), a value that is not a
plain word (a build argument left empty, or carrying a newline) all give `unknown`.
"""

from __future__ import annotations

import functools
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from . import __version__

BUILD_FILE = "connect-watchdog.build"
UNKNOWN = "unknown"
# A commit id, a tag or a timestamp: what a Prometheus label and a log line can carry as is.
_PLAIN = re.compile(r"[0-9A-Za-z][0-9A-Za-z._:+-]{0,63}")
_GIT_SECONDS = 2.0


@dataclass(frozen=True)
class Build:
    version: str
    revision: str  # `unknown` when neither the image nor a checkout says
    created: str | None  # when the image was built; None outside an image (or not given)

    def describe(self) -> str:
        """`connect-watchdog 0.1.0 (revision 3f2a..., built 2026-12-02T11:00:00Z)`."""
        built = f", built {self.created}" if self.created else ""
        return f"connect-watchdog {self.version} (revision {self.revision}{built})"


def _plain(value: str | None) -> str | None:
    value = (value or "").strip()
    return value if _PLAIN.fullmatch(value) and value != UNKNOWN else None


def read_build_file(prefix: Path) -> dict[str, str]:
    """The plain values of `prefix`/connect-watchdog.build (an empty dict without one)."""
    try:
        text = (prefix / BUILD_FILE).read_text(encoding="utf-8", errors="replace")[:4096]
    except OSError:
        return {}
    found: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        plain = _plain(value) if sep else None
        if plain is not None:
            found.setdefault(key.strip(), plain)
    return found


def git_revision(checkout: Path) -> str | None:
    """`git describe` of the checkout this package sits in, or None (not one, or git failed)."""
    if not ((checkout / "pyproject.toml").is_file() and (checkout / ".git").exists()):
        return None
    # Only this checkout: no GIT_DIR or GIT_WORK_TREE of a caller's hook pointing elsewhere, and
    # no index lock taken (a read-only checkout, or a git command of the user's running meanwhile).
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")} | {"GIT_OPTIONAL_LOCKS": "0"}
    try:
        done = subprocess.run(
            ["git", "-C", str(checkout), "describe", "--always", "--dirty", "--abbrev=40", "--exclude=*"],
            capture_output=True, text=True, timeout=_GIT_SECONDS, env=env, stdin=subprocess.DEVNULL, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return _plain(done.stdout) if done.returncode == 0 else None


@functools.cache
def build() -> Build:
    image = read_build_file(Path(sys.prefix))
    revision = image.get("revision") or git_revision(Path(__file__).resolve().parent.parent) or UNKNOWN
    return Build(version=__version__, revision=revision, created=image.get("created"))
