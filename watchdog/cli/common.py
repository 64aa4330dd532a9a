"""What every `watchdog` command shares: exit codes, loading the config, logging set-up."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import IO

from ..config import Config, ConfigError, load_config
from ..logs import configure_logging, keep_out_of_logs

EXIT_OK, EXIT_FAILED, EXIT_CONFIG = 0, 1, 2
# Nothing was done, and the same command may well work if run again later (sysexits' EX_TEMPFAIL):
# the daemon at --daemon could not be reached (no connection: nothing was sent), or it answered
# that it cannot take the request now (429: its queue is full; 503: it shuts down, the cluster
# could not be listed, the leader may not send, only standbys answered through a Service).
# With 1 for these as for a connector that does not exist, a deploy pipeline could not tell a
# request worth sending again in a minute from one that never will be.
EXIT_TRY_LATER = 75
TRY_LATER_STATUSES = frozenset({429, 503})
# What shows discovered clusters with their display names, for a command without a daemon told
# of a cluster asked for by a name that is no cluster's (name_hints.cluster_name_hint).
DISCOVERY_LISTED_BY = "`watchdog check-config --discover`"
DEFAULT_CONFIG = "config.yaml"


def load(args: argparse.Namespace, *, calls: bool = True) -> Config:
    """The config of --config. `calls=False` for status and history, which read the state file
    only: a shell without the daemon's Cloud keys (they are the daemon's) reads it all the same."""
    # `run --log-format` wins over the file's log.format (a reload's edit of that line then changes
    # nothing, and is said so rather than refused); other commands' flag sets only their own log.
    flag = args.log_format if getattr(args, "command", None) == "run" else None
    config = load_config(args.config, secrets_dir=args.secrets_dir, calls=calls, log_format_flag=flag)
    if config.state.url is not None:
        # libpq's own reading of the URL, which the pure config check cannot ask (it imports no
        # driver): `?sslmod=require` passed check-config, then stopped `run` at once, exit 1.
        from ..state.postgres_connection import LIBPQ_PARAMETERS, unreadable_url

        unreadable = unreadable_url(config.state.url)
        if unreadable is not None:
            raise ConfigError(str(args.config), [("state.url", f"libpq cannot read it ({unreadable}): {LIBPQ_PARAMETERS}")])
    updates = {}
    if getattr(args, "dry_run", False):
        updates["dry_run"] = True
    return config.model_copy(update=updates) if updates else config


def configure(args: argparse.Namespace, config: Config | None = None, *, stream: IO[str] | None = None) -> None:
    """The log as the config and the command line ask; `stream`: where to (default stdout, the
    daemon's; stderr for a command whose stdout is its answer)."""
    level = args.log_level or (config.log.level if config else "INFO")
    fmt = args.log_format or (config.log.format if config else "auto")
    configure_logging(level, fmt, stream=stream)
    if config is not None:
        from ..clients import sent_secrets

        keep_out_of_logs(*sent_secrets(config))


def config_or_exit(args: argparse.Namespace, *, calls: bool = True) -> Config | None:
    try:
        return load(args, calls=calls)
    except ConfigError as exc:
        # Starred as a reload's refusal is logged: a secret pasted where a name goes (a
        # credential's, a zone's, a rule's) was printed here in clear, to the container's log.
        print(starred(str(exc), args), file=sys.stderr)
        return None


def starred(text: str, args: argparse.Namespace, config: Config | None = None) -> str:
    """`text` with the secrets the environment and the secrets directory hold (and those of
    `config`, when there is one, and of the environment's proxy URLs) starred out, as every log
    line has them: for what a command prints of a config, refused or not."""
    from ..clients import proxy_credentials, sent_secrets
    from ..config.given_secrets import configured_secrets
    from ..logs import scrub_of, scrubbed

    secrets, users = configured_secrets(getattr(args, "secrets_dir", None))
    more, more_users = sent_secrets(config) if config is not None else proxy_credentials()
    return scrubbed(text, scrub_of(secrets | more, users | more_users))


def unusable_environment() -> bool:
    """Says so, and True, if the environment names a proxy or a CA bundle (SSL_CERT_FILE) httpx
    cannot use. Every client a command builds reads them, and failed with a traceback (quoting part
    of such a proxy's password, clients.unusable_proxies) while check-config said valid: refused
    before anything starts."""
    from ..clients import unusable_environment as problems

    found = problems()
    for problem in found:
        print(f"invalid environment: {problem}", file=sys.stderr)
    return bool(found)


@contextmanager
def sigterm_as_ctrl_c() -> Iterator[None]:
    """SIGTERM taken as Ctrl-C is, by whatever handles SIGINT at that moment (asyncio's, which
    cancels the call under way, or Python's KeyboardInterrupt). `timeout 30 watchdog restart ...`
    killed the command where it stood, exit 143 and not a word, where Ctrl-C says the restart
    may or may not have been sent. In the main thread only (signals are handled nowhere else)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def as_ctrl_c(signum: int, frame: FrameType | None) -> None:
        handler = signal.getsignal(signal.SIGINT)
        # SIGINT ignored (a shell's background job) or left to the system: Python's own Ctrl-C.
        (handler if callable(handler) else signal.default_int_handler)(signal.SIGINT, frame)

    previous = signal.signal(signal.SIGTERM, as_ctrl_c)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)
