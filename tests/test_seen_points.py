"""SeenPoints' spells: a cluster's metric answering no point at all for ids it had answered points
of keeps them vanished past the windows their last point lies in, until a point returns."""

from datetime import UTC, datetime, timedelta

from watchdog.stall import Windows
from watchdog.triggers.seen_points import SeenPoints

T0 = datetime(2026, 12, 7, 19, 0, tzinfo=UTC)
METRIC = "io.confluent.kafka.connect/sent_records"


def windows_at(minute: int) -> Windows:
    return Windows.ending(T0 + timedelta(minutes=minute), window=60, delay=300)


def test_ids_stay_vanished_past_the_windows_until_a_point_of_the_cluster_returns() -> None:
    seen = SeenPoints()
    first = windows_at(0)
    seen.remember(METRIC, {"lcc-a": [(first.later, 10.0)], "lcc-b": [(first.later, 5.0)]}, T0)
    # Empty answers for 30 checks: three 1-minute windows held the guard for 3 of them before.
    for minute in range(1, 31):
        gone = seen.vanished(METRIC, ["lcc-a", "lcc-b"], {}, windows_at(minute), "c6", T0 + timedelta(minutes=minute))
        assert gone == {"lcc-a", "lcc-b"}, minute
    assert seen.spell_since("c6") == T0 + timedelta(minutes=1)
    assert seen.first_said("c6") is True and seen.first_said("c6") is False, "said once a spell"
    # A point of the cluster returns: the spell ends, and lcc-b (no point) is judged as usual.
    back = windows_at(31)
    assert seen.vanished(METRIC, ["lcc-a", "lcc-b"], {"lcc-a": [(back.later, 3.0)]}, back, "c6", T0) == set()
    assert seen.spell_since("c6") is None and seen.first_said("c6") is True


def test_a_spell_keeps_only_the_ids_still_asked_about() -> None:
    seen = SeenPoints()
    first = windows_at(0)
    seen.remember(METRIC, {"lcc-a": [(first.later, 10.0)]}, T0)
    assert seen.vanished(METRIC, ["lcc-a"], {}, windows_at(1), "c6", T0) == {"lcc-a"}
    assert seen.vanished(METRIC, ["lcc-z"], {}, windows_at(10), "c6", T0) == set(), "lcc-a deleted: forgotten"
