"""`watchdog check-config`'s summary: a one-screen view of what a config asks for."""

from __future__ import annotations

from ..config import (
    AlertTrigger,
    Config,
    KafkaConnectCluster,
    ScheduleTrigger,
    StalledTrigger,
    StatusTrigger,
    TlsSettings,
    WindowSettings,
)
from ..logs import printable, redact_url_credentials


def summarize(config: Config, source: str) -> str:
    """A one-screen view of what the daemon would do with this config. Secrets are never shown."""
    lines = [f"config {source}: valid", f"api: {redact_url_credentials(config.api.base_url)}   dry_run: {str(config.dry_run).lower()}"]
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
            what = f"status every {duration(trigger.interval)}, confirm {trigger.confirm_polls} polls"
            what += f", backoff {duration(rule.backoff.base)}..{duration(rule.backoff.cap)}"
            what += f", max_restarts {rule.max_restarts or 'unlimited'}"
            if rule.restart_user_errors:
                what += ", restarts user errors"
        elif isinstance(trigger, StalledTrigger):
            what = (f"stalled every {duration(trigger.interval)}: three {duration(trigger.window)} windows ending "
                    f"{duration(trigger.delay)} ago, after {duration(trigger.grace)} RUNNING")
            what += f", backoff {duration(rule.backoff.base)}..{duration(rule.backoff.cap)}"
        elif isinstance(trigger, AlertTrigger):
            matchers = [f"{k}={v}" for k, v in trigger.match.items()] + [f"{k}=~{v}" for k, v in trigger.match_re.items()]
            what = f"alert {' '.join(matchers)} -> {trigger.cluster_label}/{trigger.connector_label}"
            what += f", backoff {duration(rule.backoff.base)}..{duration(rule.backoff.cap)}"
        else:
            assert isinstance(trigger, ScheduleTrigger)
            what = f"schedule cron '{trigger.cron}' {trigger.timezone}" if trigger.cron else f"schedule every {duration(trigger.interval or 0)}"
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
    rl = config.rate_limit
    lines.append(
        f"rate_limit: reserve {rl.reserve}, at most {rl.max_requests_per_second:g}/s and {rl.max_concurrent_requests} at once, "
        f"retries {rl.max_retries} (5xx/network) and {rl.max_rate_limited_retries} (429)"
    )
    token = "set" if config.server.auth_token else "not set (webhook and restart API refuse every request)"
    lines.append(f"server: {config.server.host}:{config.server.port}   auth_token: {token}   shutdown deadline: {duration(config.queue.shutdown_deadline)}")
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
    # Each line made printable on its own: the config's strings (names, globs, matchers) were
    # printed as written, and an escape in one set the terminal's title or cleared it, a line
    # break printed a line the config does not have.
    return "\n".join(printable(line) for line in lines)


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
    for unit, size in (("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def windows_text(windows: WindowSettings) -> str:
    allowed = ", ".join(windows.allowed) if windows.allowed is not None else "always"
    blackout = ", ".join(windows.blackout) or "none"
    return f"allowed {allowed}; blackout {blackout}"
