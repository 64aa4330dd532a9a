"""Live reload inside the daemon: a new config validated and built in full, then swapped in.

`ReloadHost` is mixed into `app.Daemon` (reload.py decides what changed and watches the file;
this applies it). Build first, swap last: if any part of the new config cannot be made, nothing
has changed, and the swap itself happens in one step of the event loop, so that no task sees half
of it.

The file is read and validated in a worker thread: a config of 1,000 rules takes about half a
second to check (docs/benchmarks.md, 7), and on the event loop no webhook, probe or restart was
served meanwhile. With an await between reading the file and applying it, two reloads (SIGHUP
while the file watcher's runs) could apply out of order, the older file last; so reloads take
turns from the read to the swap (`_reload_turn`), and each reads the file when its turn comes.
A reload asked for while another still waits for its turn joins that one (`_reload_waiting`): it
reads the file after both were asked for. A storm of SIGHUPs (a reloader sidecar, a loop) made a
reload each, one after another: 30 of them kept a daemon of 3,000 rules reloading the same file
for over a minute, its probes answered in up to 4 s; now at most two run.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from .clients import rotate_credentials, sent_secrets
from .config import Config, ConfigError
from .logs import get_logger, keep_out_of_logs, without_known_secrets
from .plan import poll_intervals
from .reload import (
    SECRETS_REMOVED,
    SETTLE_SECONDS,
    STATE_PASSWORD,
    ConfigDiff,
    Pair,
    credentials_reshaped,
    diff_configs,
    file_fingerprint,
    judge_rotations,
    log_overridden,
)
from .start_warnings import no_effect_to_say, say_no_effect, warn_of_key_id_clashes, warn_of_zones
from .state.postgres_password import rotate_password
from .tasks import cancel_and_wait

if TYPE_CHECKING:
    import httpx
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    from .assembly import BuiltCluster
    from .blocking import AlertBlocker
    from .breaker import Breaker
    from .config import DiscoverySettings
    from .connect import ConnectBackend
    from .discovery.fleet import Fleet
    from .discovery.former_names import FormerNames
    from .engine import Engine, WallClock
    from .leadership.build import Leadership
    from .metrics import Metrics
    from .queue import RestartQueue
    from .state import StateStore
    from .triggers.poller import ClusterPoller

log = get_logger("watchdog.app")

# How long SIGHUP's reload waits at most for a file that keeps changing before it reads it anyway.
SIGHUP_SETTLE_LIMIT = 10.0


class ReloadHost:
    # The daemon's parts this uses (app.Daemon and DiscoveryHost set them).
    config: Config
    metrics: Metrics
    state: StateStore
    leadership: Leadership
    engine: Engine
    breaker: Breaker
    blocker: AlertBlocker | None
    pollers: dict[str, ClusterPoller]
    http: dict[str, httpx.AsyncClient]
    backends: dict[str, ConnectBackend]
    queue: RestartQueue
    fleet: Fleet
    _former_names: FormerNames  # Cloud clusters removed, by their ids: one found again carries its state
    _reload_config: Callable[[], Config] | None
    _scheduler: AsyncIOScheduler | None
    _reload_turn: asyncio.Lock  # one reload at a time from reading the file to the swap
    _reload_waiting: asyncio.Future[bool] | None  # the outcome of the reload waiting for its turn
    _gone_rule_series_left: bool
    _rotated_out: tuple[set[str], set[str]]  # (secrets, users) of credentials a reload rotated out
    _stopping: bool  # from the first moment of Daemon.stop()
    _now: WallClock
    _last_reload: dict[str, str | None] | None = None  # reload_outcome()
    # Each credential's last pair (hashed) that was not half rotated, to judge the next reload's
    # by (reload.judge_rotations); None until a reload rotated one: the running config's pairs.
    _whole_pairs: dict[str, Pair] | None = None
    _settling: asyncio.Task[bool] | None = None  # SIGHUP's reload while it waits for the file to settle
    _config_path: Path | None  # the file a reload reads, and the secrets directory watched with it
    _secrets_dir: Path | None
    _reload_tasks: set[asyncio.Task[bool]]  # reloads run in a task of their own (reload_soon), until they end

    if TYPE_CHECKING:
        def _build_cluster(self, config: Config, name: str) -> BuiltCluster: ...
        def _build_blocker(self, config: Config) -> AlertBlocker | None: ...
        def _install_cluster(self, built: BuiltCluster) -> None: ...
        def _retire_removed_cluster(self, previous: Config, name: str) -> None: ...
        def _preinitialise_clusters(self, clusters: Iterable[str]) -> None: ...
        def _forget_gone_rules(self) -> None: ...
        def _sync_jobs(self, previous: Config | None, changed_clusters: set[str]) -> None: ...
        async def _discovery_reloaded(self, previous: DiscoverySettings | None, started: bool) -> None: ...

    async def reload(self, reason: str) -> bool:
        """Load and validate the config again; apply it only if it is valid as a whole and
        everything it describes could be built. Never raises: whatever goes wrong is logged and
        counted, and the running config stays in effect (this runs from the file watcher and the
        SIGHUP handler, which must survive any reload)."""
        load = self._reload_config
        if load is None:
            return False
        try:
            return await self._reload(reason, load)
        except Exception as exc:
            self._reload_counted(applied=False, error=f"{type(exc).__name__}: {exc}")
            log.exception("config_reload_failed", reason=reason, error=without_known_secrets(f"{type(exc).__name__}: {exc}")[:500],
                          note="the running config stays in effect")
            return False

    def reload_soon(self, reason: str) -> asyncio.Task[bool]:
        """A reload in a task of its own (SIGHUP's), kept until it ends: the stop ends one still
        reading its file (abandon_reloads), which then says so. Left to asyncio.run, cancelled
        after the `stopped` line, it went without a word. It first waits for the file to settle
        (_settle_then_reload); one asked for while another still waits joins it (its read comes
        after both were asked for)."""
        if self._settling is not None and not self._settling.done():
            return self._settling
        task = asyncio.get_running_loop().create_task(self._settle_then_reload(reason), name=f"reload-{reason}")
        self._settling = task
        self._reload_tasks.add(task)
        task.add_done_callback(self._reload_tasks.discard)
        return task

    async def _settle_then_reload(self, reason: str) -> bool:
        """The reload, once the config file (and the secret files watched with it) has stayed the
        same for the file watcher's settle wait: min(reload.interval, SETTLE_SECONDS). Read at
        once, a file a person was still writing in place (a bind mount edited on the host, then
        `docker compose kill -s HUP`) was applied cut: a valid YAML cut dropped the rules after
        it, and their queued restarts ended `dropped`. Bounded by SIGHUP_SETTLE_LIMIT: a file that
        never stops changing (a log given as config) is read then, the reason saying so, rather
        than the SIGHUP lost."""
        try:
            settled = await self._settled_file()
        except asyncio.CancelledError:
            self._say_abandoned(reason, "waited for the file to stop changing")
            raise
        finally:
            self._settling = None
        return await self.reload(reason if settled else f"{reason} (file still changing after {SIGHUP_SETTLE_LIMIT:.0f}s)")

    async def _settled_file(self) -> bool:
        if self._config_path is None:
            return True
        wait = min(self.config.reload.interval, SETTLE_SECONDS)
        seen = file_fingerprint(self._config_path, self._secrets_dir)
        deadline = asyncio.get_running_loop().time() + SIGHUP_SETTLE_LIMIT
        while True:
            # Gone for a moment too (an editor that deletes the file before writing it anew):
            # two looks alike, a wait apart, whatever they saw; the reload then says what it found.
            await asyncio.sleep(wait)
            again = file_fingerprint(self._config_path, self._secrets_dir)
            if again == seen:
                return True
            if asyncio.get_running_loop().time() >= deadline:
                return False
            seen = again

    async def abandon_reloads(self) -> None:
        """At the end of the stop: the reloads still under way (a file of thousands of rules still
        being checked in its thread) are cancelled; one that had not applied its file says
        `config_reload_abandoned`. (The thread itself runs to its end: it cannot be cancelled.)"""
        await cancel_and_wait(list(self._reload_tasks))

    def _say_abandoned(self, reason: str, where: str) -> None:
        """A reload cancelled before it applied anything (the daemon stopped first)."""
        log.warning("config_reload_abandoned", reason=reason,
                    note=f"the {'daemon stopped' if self._stopping else 'reload was cancelled'} while it {where}: "
                         "the file was not applied; the config the daemon ran with stayed in effect to the end")

    async def _reload(self, reason: str, load: Callable[[], Config]) -> bool:
        waiting = self._reload_waiting
        if waiting is not None:
            log.debug("config_reload_joined", reason=reason, note="a reload waiting for its turn reads the file for this one")
            return await asyncio.shield(waiting)
        waiting = self._reload_waiting = asyncio.get_running_loop().create_future()
        applied = False  # for those who joined it, if it ends in an error (reload() says it, once)
        try:
            applied = await self._reload_in_turn(reason, load, waiting)
        finally:
            if self._reload_waiting is waiting:
                self._reload_waiting = None
            waiting.set_result(applied)
        return applied

    async def _reload_in_turn(self, reason: str, load: Callable[[], Config], waiting: asyncio.Future[bool]) -> bool:
        try:
            await self._reload_turn.acquire()
        except asyncio.CancelledError:
            self._say_abandoned(reason, "waited for another reload to end")
            raise
        try:
            if self._reload_waiting is waiting:
                self._reload_waiting = None  # the file is read from here: a reload asked for now needs a turn of its own
            applied = await self._load_and_apply(reason, load)
        finally:
            self._reload_turn.release()
        if applied is None:
            return False
        previous, retired, blocker = applied
        try:
            await self._discovery_reloaded(previous.discovery, started=self._scheduler is not None)
        finally:
            for old in retired:
                await old.close()
        if blocker is not None:
            await blocker.first_check()  # know before the reload returns, not one TTL later
            await self._put_in_service(blocker)
        return True

    async def _put_in_service(self, blocker: AlertBlocker) -> None:
        """The config's new blocker has answered once: it judges restarts from now (unless a later
        reload replaced it meanwhile), and the one that judged until now is closed. Judging at
        once, with no answer yet, it held every restart for its first check as Alertmanager
        unreachable (on_error: block): a restart queued before a reload that only edited a
        filter was dropped, `blocked: no fresh answer from Alertmanager`."""
        if self.blocker is not blocker:
            return
        in_service, self.engine.blocker = self.engine.blocker, blocker
        if in_service is not None and in_service is not blocker:
            await in_service.close()

    async def _load_and_apply(
        self, reason: str, load: Callable[[], Config]
    ) -> tuple[Config, list[AlertBlocker], AlertBlocker | None] | None:
        """Read, check, build and swap in the new config; None if it stays as it was. Returns the
        config it replaced, the blockers it retired and the one it made the config's, if any."""
        try:
            loaded = await asyncio.to_thread(load)
        except asyncio.CancelledError:
            # No Exception: reload() said nothing of it, and the log held `stopping`, `stopped`
            # and no word of the SIGHUP (probe_races F5). Nothing was applied: the swap comes later.
            self._say_abandoned(reason, "read and checked the file")
            raise
        except ConfigError as exc:
            errors = [f"{path}: {message}" if path else message for path, message in exc.problems]
            self._reload_counted(applied=False, error=errors[0] + (f" (and {len(errors) - 1} more)" if len(errors) > 1 else "")
                                 if errors else str(exc))
            log.error("config_reload_failed", reason=reason, source=exc.source,
                      errors=errors,
                      note="the running config stays in effect")
            return None
        if self._stopping:
            # SIGHUP right before SIGTERM: the file was read while the daemon began to stop. Applied,
            # it swapped clusters and rules in the middle of the stop, whose steps had already
            # stopped the old ones (config_reloaded, clusters_added, logged after `stopping`).
            log.info("config_reload_skipped", reason=reason, note="the daemon is stopping: the file is not applied")
            return None
        new, watched = self.fleet.effective(loaded)  # with the discovered clusters `loaded` selects
        diff = diff_configs(self.config, new)
        if diff.restart_required:
            self._reload_counted(applied=False, refused="needs a process restart: " + ", ".join(diff.restart_required))
            why = {"credentials": credentials_reshaped(self.config, new)} if "credentials" in diff.restart_required else {}
            log.error("config_reload_refused", reason=reason, sections=diff.restart_required, **why,
                      not_applied=diff.not_applied(), note=_refusal_note(diff.restart_required))
            return None
        # Build first, swap last: if any part cannot be made, nothing has changed.
        built: list[BuiltCluster] = []
        blocker = self.blocker
        try:
            for name in diff.clusters_added + diff.clusters_changed:
                built.append(self._build_cluster(new, name))
            if new.blocking != self.config.blocking:
                blocker = self._build_blocker(new)
        except BaseException:
            for part in built:
                if part.client is not None:
                    await part.client.aclose()
            raise
        previous = self.config
        self._apply(new, diff, built)
        swapped = previous.blocking != new.blocking
        # In the same step as the config: a reload that overlaps this one (SIGHUP while the file
        # watcher's reload waits on Alertmanager) sees this blocker as the running one.
        retired = self._swap_blocker(blocker) if swapped else []
        self.fleet.settle(loaded, watched)
        self._reload_counted(applied=True)
        log.info("config_reloaded", reason=reason, unchanged=diff.empty, config_digest=self.config.digest(), **diff.logged())
        rotations = judge_rotations(self._whole_pairs, previous, new, diff.credentials_rotated)
        self._whole_pairs = rotations.whole
        for name, (changed, kept) in rotations.halves.items():
            # Said as a rotation alone, it was followed by a bare 401 at every call (reload.judge_rotations).
            log.warning("credentials_half_rotated", credential=name, changed=changed, unchanged=kept,
                        note=f"{changed} changed, {kept} did not: a Confluent Cloud key comes with its own secret; "
                             f"its calls will be refused (401) until the Secret holds the new key's {kept} too")
        for name in rotations.completed:
            log.info("credentials_rotation_completed", credential=name,
                     note="the Secret holds a whole pair again (the new key with its own secret, or the pair from "
                          "before): the half rotation said before is over; a 401 from now on is the pair itself refused")
        log_overridden(loaded)
        # Said at every reload that leaves one: a reload rotating a credential is where a key id
        # pasted beside another key's secret comes in, and config_reloaded said only the rotation.
        warn_of_key_id_clashes(new)
        warn_of_zones(new, before=previous)
        # In a worker thread, as the file was read: it compares the rules with each other, and on the
        # event loop (every rule with every earlier one, then) 2,000 rules held /healthz 9 s.
        say_no_effect(await asyncio.to_thread(no_effect_to_say, new, before=previous))
        # In the reload's turn: the next reload applies after it (a newer prune stops this one).
        await self.engine.prune_unwatched()
        return previous, retired, blocker if swapped else None

    def _apply(self, new: Config, diff: ConfigDiff, built: list[BuiltCluster]) -> None:
        """Swap the config in one step of the event loop: no other task sees half of it. The
        connectors of a removed or redefined cluster keep their state (forget_cluster)."""
        previous = self.config
        self.config = new
        self.metrics.show_config(new.dry_run, new.digest())
        # The previous config's secrets too: a call made with them may still be on its way.
        (secrets, users), (were, were_users) = sent_secrets(new), sent_secrets(previous)
        if diff.credentials_rotated or STATE_PASSWORD in diff.sections_changed:
            # A key rotated out stays masked for good, not only until the next reload: a gateway
            # may still echo it (a call sent before the rotation, an old key revoked later).
            retired, retired_users = previous.secret_values()
            self._rotated_out[0].update(retired)
            self._rotated_out[1].update(retired_users)
        keep_out_of_logs(secrets | were | self._rotated_out[0], users | were_users | self._rotated_out[1])
        # Before anything can send again: every client of a rotated credential (its Cloud lane,
        # which discovery uses too, the Metrics API's, a self-managed cluster's) sends the new
        # pair from its next request. Its lane, limiter and what it learned of the budget stay.
        rotate_credentials(self.http, new, diff.credentials_rotated)
        if STATE_PASSWORD in diff.sections_changed:
            # The next connection the store and the elector open sends it; open sessions go on.
            rotate_password((self.state, self.leadership), new.state.password)
        self.engine.set_config(new)
        self.breaker.settings = new.breaker
        for name in diff.clusters_removed + diff.clusters_changed:
            self.engine.forget_cluster(name)
            self.breaker.forget_cluster(name)
            self.metrics.forget_cluster(name)
            del self.pollers[name]
        for name in diff.clusters_removed + diff.clusters_changed:
            self._retire_removed_cluster(previous, name)
        for name in diff.clusters_removed:
            # Its route stays with the queue while a restart of it is pending (one already queued
            # is still sent), then goes: discovery adds and drops clusters all day.
            self.backends.pop(name, None)
            self.queue.remove_cluster(name)
        for part in built:
            self._install_cluster(part)
        # Renamed in this swap, or removed by an earlier one and back under another name (a listed
        # entry dropped as discovery is turned on: discovery finds it at its next refresh).
        for old, renamed in self._former_names.renames(previous, new, diff):
            self.engine.carry_state(old, renamed)
        # Connectors the new config no longer watches lose their series after the swap, in
        # slices (Engine.prune_unwatched: the caller awaits it).
        self._preinitialise_clusters(new.clusters)
        for name in poll_intervals(previous).keys() - poll_intervals(new).keys():
            if name in new.clusters and name not in diff.clusters_changed:  # the others were forgotten
                self.engine.unpolled(name)
        self._forget_gone_rules()
        if new.log.level != previous.log.level:
            # Only a change of the file's level: `watchdog run --log-level DEBUG` holds until then
            # (set at every reload, the first one, even of an unchanged file, undid the flag).
            logging.getLogger().setLevel(new.log.level)
        if self._scheduler is not None:
            self._sync_jobs(previous, changed_clusters=set(diff.clusters_changed))

    def _reload_counted(self, *, applied: bool, error: str = "", refused: str = "") -> None:
        self.metrics.config_reloads.labels("success" if applied else "error").inc()
        self.metrics.config_last_reload_successful.set(1 if applied else 0)
        # For `watchdog status --daemon` (config_reload of GET /v1/connectors): a reload refused or
        # failed was said only in the log and a gauge, and the person who had just edited the
        # ConfigMap (dry_run: true in an incident) saw the usual table, nothing saying the edit
        # was not in effect. Its first line only, the secrets the log masks masked here too.
        at = self._now().isoformat()
        said = (error or refused).strip().splitlines()
        self._last_reload = {
            "result": "ok" if applied else "refused" if refused else "failed",
            "at": at, "error": without_known_secrets(said[0])[:300] if said else None,
            "config_applied_at": at if applied else (self._last_reload or {}).get("config_applied_at"),
        }

    def reload_outcome(self) -> dict[str, str | None] | None:
        """The last reload's outcome (`result`: ok, failed or refused; `at`; `error`, its first
        line; `config_applied_at`: when the running config was applied, null for the one the
        daemon started with); None before any reload."""
        return self._last_reload

    def _swap_blocker(self, blocker: AlertBlocker | None) -> list[AlertBlocker]:
        """Make `blocker` the config's and start its refresh loop, without an await: the blocker
        started is the one installed, whatever another reload does meanwhile (starting
        `self.blocker` after an await started whichever was current by then, a second time).
        It judges restarts once it has answered (_put_in_service); the one in service judges
        until then. Blocking removed (None) takes effect at once. Returns the blockers to close
        now (their loops and clients): the one replaced, unless it still judges, and with
        blocking removed the one in service."""
        old, self.blocker = self.blocker, blocker
        retired = [] if old is None or old is self.engine.blocker else [old]
        if blocker is None:
            in_service, self.engine.blocker = self.engine.blocker, None
            return retired + ([in_service] if in_service is not None else [])
        blocker.start()
        return retired


def _refusal_note(sections: list[str]) -> str:
    """config_reload_refused's note. A secret the file no longer holds (the token, the database
    password) is refused too, but a process restart is not what applies it: it would start without
    it. "These sections need a process restart" alone sent an operator to restart into the outage
    the refusal had spared (verification of probe_creds 1)."""
    removed = [section.split(" (")[0] for section in sections if section in SECRETS_REMOVED]
    restart = [section for section in sections if section not in SECRETS_REMOVED]
    said = []
    if restart:
        said.append(f"{', '.join(restart)}: need a process restart")
    if removed:
        said.append(f"{', '.join(removed)}: taken away by the file (a key missing from the Secret, an emptied file, a "
                    "variable renamed): put it back and reload; a restart would start without it")
    return ("; ".join(said) + "; the running config stays in effect, and none of the file's other changes "
            "(not_applied) is in effect either")
