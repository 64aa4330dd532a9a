"""Turns facts from triggers into decisions, and decisions into queued restarts.

Triggers (status polls, schedules, alerts, API and CLI requests) gather facts and hand them here;
the pure functions of rules.py and policy.py decide; the safety gates (maintenance windows, the
global breaker, blocking alerts) may still hold a restart; the engine records each decision
(metric and log event), keeps the per-connector state, and submits restarts to the queue.
`JobRecorder` closes the loop when a restart job is sent and when it ends.

One job per file (`Engine` is one object made of these parts):

    core.py             what the parts share: collaborators, config, what the polls listed
    status_intake.py    the status trigger: polls judged
    poll_watch.py       what a poll says once for a person to look at: an unknown state, a connector
                        awaiting a worker too long, an unroutable name, a rule's names not listed
    name_shown.py       names no connector can have, shown escaped and cut short in a log line
    trial_owners.py     `RunOwners`: a poll's live owner of each connector, and the rule on trial
                        judged beside it
    flapping.py         connectors that keep failing and coming back, said (`connector_flapping`)
    stuck.py            connectors transient too long for a reason nobody chose (PROVISIONING for
                        good, an unknown state), said (`transient_too_long`)
    unroutable.py       connector names a Kafka Connect worker cannot forward to its leader (`/`, `;`):
                        a taskless one said (`connector_name_unroutable`)
    poll_pace.py        how far apart each cluster's polls came: when an unconfirmed failure's
                        confirming poll comes, said without a time the rate limit makes false
    forgetting.py       what is forgotten: unwatched and vanished connectors (their state after
                        state.forget_vanished_after), a cluster removed, all of it at a standby
    schedule_intake.py  the schedule trigger
    manual_intake.py    restarts asked for by name (API, CLI); `MANUAL_RULE`
    alert_intake.py     the alert trigger (Alertmanager's webhook)
    alert_answers.py    what the webhook answers of each alert; alerts that matched nothing, said
    truncation.py       webhooks Alertmanager cut to `max_alerts`: counted, said once per group an hour
    alert_holds.py      `AlertHolds`: the holds alerts made, which no poll decides again: kept across
                        a reload while wanted, dropped when the alert resolves
    stall_intake.py     the stalled trigger: candidates and verdicts
    stall_rows.py       the connectors stalled rules watch, shown as watched (their listed state), and
                        the stall check's last word on each, for status and GET /v1/connectors
    stall_waits.py      why a stall check skips a connector now (not RUNNING), as its row says it
    running_memory.py   since when each connector runs: taken back at a first listing, noted at each, kept in
                        the store for the next leader, and when stalled rules judge where none was taken
    running_seed.py     since when a new leader takes a connector as running: the store's time when
                        its last listing is recent enough, else now (state/running.py)
    cluster_identity.py which Kafka cluster a cluster's name stands for, kept with its last listing:
                        one redefined while no daemon ran takes none of the kept times
    gates.py            windows, breaker, blocking: at decision time and at dispatch time
    restart_gap.py      the gap between two rules' restarts of one connector (queue.manual_restart_gap)
    skip_words.py       why a rule's restart is skipped, and what comes next, in a decision's words
    decisions.py        each decision recorded, each restart submitted; `RequestRecord`
    recovery.py         requests kept in the state file, after a restart of the daemon
    dry_takeover.py     requests asked for live that a leader in dry run takes over: said once
    unknown_rules.py    requests taken over whose rule this config lacks or disables: said once
    recorder.py         `JobRecorder`, the queue's observer
    unmade_attempts.py  an attempt taken back when the answer proves its call ran nothing (a 429)
    fleet_count.py      what the fleet breaker's window counts of a failure restart: its call
                        made (or maybe made), taken back when the answer proves it ran nothing
    rules_gone.py       why a queued restart's rules no longer ask for it at its turn (a rule or
                        its cluster removed, renamed or narrowed by a reload, a schedule rule
                        made a rule of another trigger), and what comes next; whether a
                        schedule run under way still has a schedule rule to go on under
    unrecorded.py       outcomes the state store did not take, written later; what a failover
                        of the state database lost, written again
    unsent_end.py       a poll's restart left `unsent` at a stop: ended there, once, with its tries
    gone_jobs.py        restarts still queued for connectors a listing no longer shows: ended
                        `dropped` there, naming that listing
    store_probe.py      `StoreProbe`: a failed state database tried again while restarts wait for it
    retired_ids.py      the lcc- ids of connectors deleted or replaced, for their alerts' resolutions
    repeated_ids.py     lcc- ids a listing gives more than one connector: judged by none of them,
                        said once (`connector_ids_repeated`)
    facade.py           `Engine`, the parts put together
"""

from ..model import MANUAL_RULE
from .alert_answers import AlertResult, WebhookResult
from .core import FAILURE_TRIGGERS, REQUEST_MEMORY, SIGNAL_TRIGGERS, WallClock, utc_now
from .decisions import RequestRecord, new_request_id
from .facade import Engine
from .recorder import JobRecorder

__all__ = [
    "FAILURE_TRIGGERS",
    "MANUAL_RULE",
    "REQUEST_MEMORY",
    "SIGNAL_TRIGGERS",
    "AlertResult",
    "Engine",
    "JobRecorder",
    "RequestRecord",
    "WallClock",
    "WebhookResult",
    "new_request_id",
    "utc_now",
]
