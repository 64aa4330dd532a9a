"""The settings of a shared state store: the PostgreSQL URL (its password never in it) and the
leader election's lease, renew deadline and renew interval."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated
from urllib.parse import SplitResult, parse_qs, urlsplit

from pydantic import AfterValidator, model_validator

from .types import NUMBER, PositiveDuration, Strict, credential_parameters, split_url

DATABASE_SCHEMES = ("postgresql", "postgres")


def _check_database_url(url: str) -> str:
    """A postgresql:// URL without a password in it: the URL is printed by check-config and
    logged, so the password comes from WATCHDOG_STATE__PASSWORD or a secret file of that name.
    Never quoted in an error: it may hold one."""
    if any(ord(char) < 32 or ord(char) == 127 for char in url):
        # A NUL cut the host short at connect time (`db\0x` reached `db`), and an escape reached the
        # terminal raw in `run`'s "cannot be used" message: check-config had called both valid.
        raise ValueError("the database URL holds a control character (a NUL, an escape, ...), which no URL can carry")
    parts = _split_hosts(url)
    if parts.scheme not in DATABASE_SCHEMES or not parts.hostname:
        raise ValueError("expected a URL like postgresql://USER@HOST:5432/DATABASE")
    found = credential_parameters(parts.query)
    if parts.password is not None or "password" in {name.lower() for name in found}:
        raise ValueError(
            "the database URL must not carry a password (it would be shown by check-config and in logs); "
            "set WATCHDOG_STATE__PASSWORD or put it in a file of that name in the secrets directory"
        )
    if found:
        # sslpassword (a client key's passphrase) and the like: as much a secret as the password.
        raise ValueError(
            f"the database URL must not carry credentials (its {', '.join(found)} parameter): it would be shown by "
            "check-config and in logs; only the user's password has a place of its own (WATCHDOG_STATE__PASSWORD "
            "or a file of that name in the secrets directory)"
        )
    timeout = parse_qs(parts.query, keep_blank_values=True).get("connect_timeout")
    if timeout is not None and not (timeout[-1].isascii() and timeout[-1].isdigit() and int(timeout[-1]) >= 1):
        # 0 or less is no bound to libpq (psycopg then waits 130 s, and the store connects on the
        # event loop); a word psycopg cannot read ('ten') passed check-config and failed at run.
        # libpq documents a decimal integer.
        raise ValueError("the database URL's connect_timeout must be a whole number of seconds, 1 or more "
                         "(0 or less is no bound: the daemon would wait 130 s); leave it out for the daemon's 3")
    return url


def _split_hosts(url: str) -> SplitResult:
    """The URL's parts, its first host standing for all: libpq's URL may name several hosts, each
    with its port (postgresql://USER@pg1:5432,pg2:5432/DB?target_session_attrs=read-write, how
    libpq follows a failover without a virtual IP), which urlsplit read as one port, `5432,pg2:5432`:
    refused, "its host or port cannot be read". Each host and port is checked as one URL's would be
    (split_url: never quoted); an empty one (`pg1,,pg2`) leaves no host, refused as such."""
    try:
        whole = urlsplit(url)
    except ValueError:
        return split_url(url, "the database URL")  # raises, quoting nothing
    userinfo, at, hosts = whole.netloc.rpartition("@")
    first: SplitResult | None = None
    for host in hosts.split(","):
        one = split_url(f"{whole.scheme}://{userinfo}{at}{host}", "the database URL")
        if not one.hostname:
            return one  # refused by the caller, as a URL without a host
        first = first or one
    assert first is not None
    return whole._replace(netloc=first.netloc)


DatabaseUrl = Annotated[str, AfterValidator(_check_database_url)]


# The lease's three durations and what follows from them (pure: no clock is read here).
#
#     renew_interval < renew_deadline < lease_duration
#
# - The leader renews every `renew_interval`: expires_at = (database's clock at the renewal) +
#   `lease_duration`.
# - It sends nothing once `renew_deadline` has passed since the START of its last successful renewal
#   (measured on its own monotonic clock), and steps down. That moment precedes the expiry the
#   database recorded by at least `margin` = lease_duration - renew_deadline, since the renewal
#   cannot have reached the database before it started.
# - A standby takes the lease only once the database's clock is past expires_at.
#
# Only the database's clock decides expiry, so for the lease the replicas' wall clocks need not
# agree at all (backoff and budget times are another matter: each replica writes them by its own
# clock, docs/high-availability.md "Failover"). What
# `margin` must cover is the leader's monotonic clock running slower than the database's over one
# lease (clock rate drift: parts per million, i.e. microseconds) and, mostly, the time between the
# leader's check and its request reaching the Connect API (scheduling, a GC pause). Defaults as
# controller-runtime's leader election: 15 s lease, 10 s renew deadline (a 5 s margin), a try every
# 2 s.
@dataclass(frozen=True)
class LeaseTiming:
    lease_duration: Annotated[float, NUMBER] = 15.0
    renew_deadline: Annotated[float, NUMBER] = 10.0
    renew_interval: Annotated[float, NUMBER] = 2.0

    @property
    def margin(self) -> float:
        return self.lease_duration - self.renew_deadline

    def send_deadline(self, renewal_started: float) -> float:
        """Until when (monotonic) a leader whose last successful renewal started at
        `renewal_started` may send."""
        return renewal_started + self.renew_deadline

    def problems(self) -> list[str]:
        found = []
        if not 0 < self.renew_interval < self.renew_deadline < self.lease_duration:
            found.append("needs 0 < renew_interval < renew_deadline < lease_duration")
        elif self.renew_deadline < 2 * self.renew_interval:
            found.append("renew_deadline must leave room for at least two renewals (>= 2 x renew_interval)")
        elif self.margin < max(1.0, 0.2 * self.lease_duration):
            found.append(f"lease_duration - renew_deadline (the margin for clock drift and pauses, now "
                         f"{self.margin:g}s) must be at least 1s and 20% of lease_duration")
        return found


class LeaderElectionSettings(Strict):
    """Used with `state.url` (PostgreSQL): replicas compete for a lease in the database; the holder
    runs triggers and the queue. See `LeaseTiming` above and docs/high-availability.md for why the
    defaults (controller-runtime's) are safe."""

    lease_duration: PositiveDuration = 15.0
    renew_deadline: PositiveDuration = 10.0
    renew_interval: PositiveDuration = 2.0

    @model_validator(mode="after")
    def _consistent(self) -> LeaderElectionSettings:
        problems = self.timing().problems()
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def timing(self) -> LeaseTiming:
        return LeaseTiming(self.lease_duration, self.renew_deadline, self.renew_interval)
