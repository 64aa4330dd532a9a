"""Triggers gather facts (connector statuses, clock ticks) and hand them to the engine.

They never call the restart endpoint themselves. One job per file:

    poller.py     one list call per cluster: every connector's status, and a listing on demand
    listing_wait.py  why a listing a request waited for was late: the key's budget, the API, the state store
    emptied.py    a listing that drops every connector of a cluster that had some, believed once confirmed
    turn_listing.py  the cluster listed again for a restart that a pause of its key held
    stall.py      the stalled trigger: the Metrics API read for RUNNING connectors
    stall_verdicts.py  what a stall check makes of one cluster's answers: verdicts, or why none
    seen_points.py  the Metrics API's points seen before: an answer that leaves them out
    scheduler.py  APScheduler's jobs: status polls per cluster and schedule rules
    executor.py   APScheduler's executor: running jobs left to their owner at shutdown, and the
                  runs a coalesced run stands for counted as missed
    cron.py       a schedule rule's cron as cron reads it (cronsim), with its jitter
    stepped_runs.py  runs a forward step of the wall clock jumped over, said as that
    streak.py     a failure that repeats, logged when it starts, now and then, and when it ends
    host.py       `SchedulerHost` (a mixin of `app.Daemon`): the jobs kept in step with the config
"""
