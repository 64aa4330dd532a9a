"""Leadership among replicas sharing a PostgreSQL state store: a lease row with a fencing epoch.

    lease.py     the lease row's SQL: acquire, renew, release, read
    elector.py   `Elector`: campaign, step down; `may_send` before every call
    renewal.py   `LeaseRenewal` (a mixin of `Elector`): renewing the lease while leading, taking it
                 back from a database that lost its acquisition, saying a rollback
    sole.py      `SoleLeader`: a daemon with a SQLite file leads alone
    known_leader.py  what a replica can say of who leads (a standby's /readyz and 503)
    build.py     which of the two a config asks for
    host.py      `LeadershipHost` (a mixin of `app.Daemon`): what starts on taking the lead and
                 stops on losing it
    metrics.py   watchdog_leader, watchdog_leader_epoch, watchdog_leadership_changes_total,
                 watchdog_leadership_takeovers_total

The lease's durations and the margin between them are config (config/leadership.py, pure). Only
the leader runs triggers and the restart queue; every state write carries its epoch (see
state/postgres.py) and the queue asks `may_send` right before each call.
"""
