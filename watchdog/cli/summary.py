"""`watchdog check-config`'s summary: a one-screen view of what a config asks for."""

from __future__ import annotations

from datetime import datetime, timezone

from ..config import (
    AlertTrigger,
    Config,
    KafkaConnectCluster,
    Rule,
    ScheduleTrigger,
    StalledTrigger,
    StatusTrigger,
    TlsSettings,
    WindowSettings,
    zone_warnings,
)
from ..logs import printable, redact_url_credentials
from ..policy import backoff_gap
from ..stall import granularity_for
from ..triggers.cron import CronScheduleTrigger
from ..triggers.scheduler import HELD_RUNS_LOOKED_AT, HeldRuns, held_runs, rule_trigger


def _gaps(rule: Rule) -> str:
    """The waits after the first restarts, up to the cap: `backoff 1m..1h` (base and cap) read
    as a first wait of one minute, where it is two (base x (n^2 + n), policy.backoff_gap)."""
    gaps: list[str] = []
    for attempts in range(1, 4):
        gap = backoff_gap(attempts, rule.backoff)
        gaps.append(duration(gap))
        if gap >= rule.backoff.cap:
            return "gaps " + ", ".join(gaps)
    return "gaps " + ", ".join(gaps) + f" .. {duration(rule.backoff.cap)}"


def _budget(rule: Rule) -> str:
    """What holds a failure rule's restarts back: its backoff, its budget, and whether it restarts
    user errors. Alert and stall rules have them as status rules do (their `max_restarts` 10 by
    default, the connector then given up on): shown for status rules only, an alert rule's
    `max_restarts: 6` was nowhere in the summary, nor that one left out stops at 10."""
    what = f", backoff {_gaps(rule)}"
    what += f", max_restarts {rule.max_restarts or 'unlimited'}"
    return what + (", restarts user errors" if rule.restart_user_errors else "")


def summarize(config: Config, source: str, now: datetime | None = None) -> str:
    """A one-screen view of what the daemon would do with this config. Secrets are never shown.
    `now`: when a schedule's coming runs are looked at from (the wall clock's now)."""
    warnings: list[str] = []
    now = now or datetime.now(timezone.utc)
    seen: dict[tuple[object, ...], HeldRuns] = {}  # rules of one trigger and windows are looked at once
    # The digest replicas compare (watchdog_config_info, WatchdogReplicasConfigDiffer): the one
    # this file gives here, with this environment.
    lines = [f"config {source}: valid   digest: {config.digest()}",
             f"api: {redact_url_credentials(config.api.base_url)}   dry_run: {str(config.dry_run).lower()}"]
    lines.append("credentials:")
    for name, cred in sorted(config.credentials.items()):
        lines.append(f"  {name:<16} api_key: {'set' if cred.api_key else 'MISSING'}   api_secret: {'set' if cred.api_secret else 'MISSING'}")
    lines.append("clusters:")
    for name, cluster in sorted(config.clusters.items()):
        if isinstance(cluster, KafkaConnectCluster):
            where = f"Kafka Connect {', '.join(redact_url_credentials(u) for u in cluster.urls)}"
            auth = f"basic auth: {cluster.credential}" if cluster.credential else "no auth"
            tls = "" if cluster.tls == TlsSettings() else "   custom TLS"
            lines.append(f"  {name:<16} {where}   {auth}{tls}")
        else:
            lines.append(f"  {name:<16} {cluster.environment_id}/{cluster.kafka_cluster_id}   credential: {config.credential_for(cluster)}")
    lines.append("rules:")
    for rule in config.rules:
        trigger = rule.trigger
        if isinstance(trigger, StatusTrigger):
            what = f"status every {duration(trigger.interval)}, confirm {trigger.confirm_polls} polls" + _budget(rule)
        elif isinstance(trigger, StalledTrigger):
            # Grace comes before the windows (stall_candidates): a connector's first minutes are never
            # judged; the windows end on a point's boundary, up to a step later (running_seed.judged_from).
            first = trigger.grace + trigger.delay + 3 * trigger.window + granularity_for(trigger.window)[1]
            what = (f"stalled every {duration(trigger.interval)}: three {duration(trigger.window)} windows ending "
                    f"{duration(trigger.delay)} ago, of connectors RUNNING {duration(trigger.grace)} before them "
                    f"(judged from at most {duration(first)} after they start)") + _budget(rule)
        elif isinstance(trigger, AlertTrigger):
            matchers = [f"{k}={v}" for k, v in trigger.match.items()] + [f"{k}=~{v}" for k, v in trigger.match_re.items()]
            what = f"alert {' '.join(matchers)} -> {trigger.cluster_label}/{trigger.connector_label}" + _budget(rule)
        else:
            assert isinstance(trigger, ScheduleTrigger)
            what = f"schedule cron '{trigger.cron}' {trigger.timezone}" if trigger.cron else f"schedule every {duration(trigger.interval or 0)}"
            if trigger.jitter:
                what += f", jitter {duration(trigger.jitter)}"
        flags = "".join([" [disabled]" if not rule.enabled else "", " [dry-run]" if rule.dry_run else ""])
        lines.append(f"  {rule.name:<16} {what}{flags}")
        sel = rule.select
        parts = [f"clusters {','.join(sel.clusters) if sel.clusters else 'all'}"]
        if sel.connectors:
            parts.append(f"connectors {','.join(sel.connectors)}")
        if sel.include:
            parts.append(f"include {','.join(sel.include)}")
        if sel.exclude:
            parts.append(f"exclude {','.join(sel.exclude)}")
        lines.append(f"  {'':<16} select: {'; '.join(parts)}")
        if rule.windows is not None and rule.windows.configured:
            lines.append(f"  {'':<16} windows: {windows_text(rule.windows)}")
        if isinstance(trigger, ScheduleTrigger) and rule.enabled:
            lines.append(f"  {'':<16} {next_runs_text(rule, now)}")
            held, warning = held_runs_text(config, rule, now, seen)
            lines += [f"  {'':<16} {line}" for line in held]
            warnings += warning
    rl = config.rate_limit
    lines.append(
        f"rate_limit: reserve {rl.reserve}, at most {rl.max_requests_per_second:g}/s and {rl.max_concurrent_requests} at once, "
        f"retries {rl.max_retries} (5xx/network) and {rl.max_rate_limited_retries} (429)"
    )
    token = "set" if config.server.auth_token else "not set (the API refuses every request: the webhook, restarts, and status|history --daemon)"
    lines.append(f"server: {config.server.host}:{config.server.port}   auth_token: {token}   shutdown deadline: {duration(config.queue.shutdown_deadline)}")
    # The lane's size the runbook says to raise for a full queue (WatchdogQueueFull): not shown, its operator
    # could not tell which value was in force.
    lines.append(f"queue: at most {config.queue.max_jobs_per_lane} restart jobs per API key's lane (max_jobs_per_lane; more "
                 f"are refused queue_full)   manual_restart_gap: {duration(config.queue.manual_restart_gap)}")
    lines.append(state_summary(config))
    if config.windows.configured:
        lines.append(f"windows: {windows_text(config.windows)}")
    br = config.breaker
    share = f"more than {br.max_failing_share:.0%} of a cluster (at least {br.min_failing})" if br.max_failing_share else "off"
    fleet = f"{br.max_restarts} restarts per {duration(br.window)}" if br.max_restarts else "off"
    lines.append(f"breaker: cluster {share}; fleet {fleet}")
    if config.blocking is not None:
        bl = config.blocking
        auth = {"none": "no auth", "basic": f"basic auth as {bl.username}", "bearer": "bearer token"}[bl.auth]
        lines.append(f"blocking: {redact_url_credentials(bl.alertmanager_url)} ({auth}) filters {bl.filters or 'none'}, "
                     f"cache {duration(bl.cache_ttl)}, on error {bl.on_error}")
    from ..discovery.preview import settings_summary

    lines += settings_summary(config)
    for where, url in config.plaintext_credential_urls():
        lines.append(f"warning: {where} {redact_url_credentials(url)} is plain http://: its credentials travel unencrypted")
    lines += warnings + [f"warning: {zone}" for zone in zone_warnings(config)]
    # Each line made printable on its own: the config's strings (names, globs, matchers) were
    # printed as written, and an escape in one set the terminal's title or cleared it, a line
    # break printed a line the config does not have.
    return "\n".join(printable(line) for line in lines)


NEXT_RUNS_SHOWN = 2


def next_runs_text(rule: Rule, now: datetime) -> str:
    """A schedule rule's next runs after `now`, on its zone's clock with the weekday: an interval
    runs on a grid from 1970-01-01 UTC (`7d`: Thursdays; `366d` written in December first ran in
    February) and a cron in its zone, which nothing showed. Drawn without the jitter (a run is
    drawn when it is planned), which is said after."""
    trigger = rule.trigger
    assert isinstance(trigger, ScheduleTrigger)
    plain = CronScheduleTrigger(trigger.cron, trigger.timezone) if trigger.cron is not None else rule_trigger(rule)
    runs: list[datetime] = []
    for _ in range(NEXT_RUNS_SHOWN):
        # As the scheduler asks: the first from now on, then each after the one before.
        run = plain.get_next_fire_time(runs[-1] if runs else None, now)
        if run is None:
            break
        runs.append(run)
    if not runs:
        return "next runs: none (the cron names no time that comes)"
    zone = trigger.timezone if trigger.cron is not None else "UTC"

    # To the second when a run falls off the minute (an interval of 20.5 s read "14:06, 14:06").
    clock = "%H:%M:%S" if any(run.second or run.microsecond for run in runs) else "%H:%M"

    def shown(run: datetime) -> str:
        # Each with its offset outside UTC: two runs either side of a DST change differ in it.
        offset = "" if zone == "UTC" else f" {run:%z}"[:-2] + ":" + f"{run:%z}"[-2:]
        return f"{run:%a %Y-%m-%d} {run.strftime(clock)}{offset}"

    text = f"next runs: {', '.join(shown(run) for run in runs)} ({zone})"
    return text + (f", each up to {duration(trigger.jitter)} later (jitter)" if trigger.jitter else "")


def held_runs_text(config: Config, rule: Rule, now: datetime,
                   seen: dict[tuple[object, ...], HeldRuns]) -> tuple[list[str], list[str]]:
    """A schedule rule's runs of the coming year that its windows (its own and the global ones)
    hold, held and not made later: the summary's line, and a warning when they hold every one. A
    cron in UTC beside a window in Europe/Berlin held every run, or those of half the year, and
    check-config said valid."""
    windows = [settings.compile() for settings in (config.windows, rule.windows) if settings is not None and settings.configured]
    if not windows:
        return [], []
    combined = windows[0] if len(windows) == 1 else windows[0].intersect(windows[1])
    trigger = rule.trigger
    assert isinstance(trigger, ScheduleTrigger)
    # A few tens of milliseconds a rule: a config of many rules alike (one cron, one window) costs one.
    key = (trigger.cron, trigger.timezone, trigger.interval, combined)
    if key not in seen:
        seen[key] = held_runs(rule_trigger(rule), combined, now)
    runs = seen[key]
    if runs.runs == 0:
        return [], []
    span = "in the next year" if runs.runs < HELD_RUNS_LOOKED_AT else f"to {runs.until.isoformat()}"
    line = f"runs {span}: {runs.runs}, {runs.held} of them while its windows are closed (held, not made later)"
    if runs.first_held is not None:
        line += f", the first {runs.first_held.isoformat()}"
    if runs.any_open:
        return [line], []
    return [line], [f"warning: rule {rule.name}: every run in the next year falls while its windows (with the global "
                    "ones) are closed: it restarts nothing; a cron is read in its timezone, each window in its own"]


def state_summary(config: Config) -> str:
    state = config.state
    if state.url is None:
        return f"state: SQLite file {state.path} (one replica)"
    from ..state.postgres_connection import describe

    lease = state.leader_election
    password = "set" if state.password is not None else "not set"
    return (f"state: PostgreSQL {describe(state.url)}   password: {password}   leader election: lease "
            f"{duration(lease.lease_duration)}, renew deadline {duration(lease.renew_deadline)}, "
            f"renew every {duration(lease.renew_interval)}")


def duration(seconds: float) -> str:
    """In the largest whole unit: `366d` written was shown `8784h`, `7d` `168h`."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def windows_text(windows: WindowSettings) -> str:
    allowed = ", ".join(windows.allowed) if windows.allowed is not None else "always"
    blackout = ", ".join(windows.blackout) or "none"
    return f"allowed {allowed}; blackout {blackout}"
