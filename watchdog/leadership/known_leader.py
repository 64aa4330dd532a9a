"""What a replica can say of who leads: the lease's holder while it knows the lease is held, else
what it knows and why it cannot say more. A standby's /readyz, its 503 and `watchdog status
--daemon` asked there say it.

With the database down, a standby went on naming the holder it had last read, a replica that had
stepped down since ("another replica leads (vm/17809/7e806b27, pod vm); run the command in the
leader's pod"), and a replica that knew of none said "one is elected within a lease: 17 s by
default", with a lease of 6 s configured and no election possible while the database is down (a
runbook probe, WatchdogNoLeader, 2026-12-06)."""

from __future__ import annotations


def leader_now(holder: str | None, read_ago: float | None, lease_duration: float, unreachable: str | None) -> str | None:
    """The holder, while this replica knows it holds the lease: read less than a lease ago (a
    lease not renewed within its duration expires) and the database reached since."""
    if holder is None or read_ago is None or unreachable is not None or read_ago >= lease_duration:
        return None
    return holder


def no_leader_note(last_holder: str | None, read_ago: float | None, lease_duration: float,
                   unreachable: str | None, identity: str) -> str:
    """Why no leader is named, in words: the last holder seen and how long ago, whether the lease
    can be read, and the configured lease (state.leader_election.lease_duration)."""
    lease = f"{lease_duration:g} s (state.leader_election.lease_duration)"
    if last_holder is None or read_ago is None:
        last = "no holder of the lease seen yet"
    elif last_holder == identity:
        last = f"the last holder seen was this replica, {read_ago:.0f} s ago"
    else:
        last = f"the last holder seen was {last_holder} (pod {last_holder.split('/')[0]}), {read_ago:.0f} s ago"
    if unreachable is not None:
        return (f"the lease cannot be read: {unreachable}; {last}, and whether it still leads cannot be known from "
                f"here; no replica can take the lease while the database does not answer, one does within the lease "
                f"({lease}) once it answers")
    if last_holder is not None and read_ago is not None and read_ago >= lease_duration:
        return f"{last}, longer ago than the lease ({lease}): its lease may have expired since"
    return f"no replica holds the lease now ({last}); one takes it within the lease ({lease})"
