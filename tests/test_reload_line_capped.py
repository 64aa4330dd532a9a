"""A reload's `config_reloaded` line lists at most NAMES_LOGGED names of each change (the first,
sorted) and says how many there are. Found by a reload probe: a reload to 2,000 rules logged a
line of 25 KB, every rule's name in `rules_added` (and again in `rules_removed` on the way back)."""

from __future__ import annotations

import json
from pathlib import Path

import structlog

from .test_reload import HEAL, write
from .test_reload_safety import reloadable


def many(count: int) -> list[dict[str, object]]:
    return [{**HEAL, "name": f"team-{i:04d}", "select": {"include": [f"team-{i}-*"]}} for i in range(count)]


async def test_a_reload_of_2000_rules_names_the_first_20_of_each_change_and_counts_them(
    tmp_path: Path, credentials_env: None
) -> None:
    path = tmp_path / "config.yaml"
    w = reloadable(path, [HEAL], [{"name": "orders"}])
    lines = []
    for rules in (many(2000), [HEAL]):
        write(path, rules)
        with structlog.testing.capture_logs() as logs:
            assert await w.daemon.reload("file changed") is True
        (line,) = [e for e in logs if e["event"] == "config_reloaded"]
        lines.append(line)
    await w.daemon.stop()

    added, removed = lines[0], lines[1]
    assert added["rules_added"] == [f"team-{i:04d}" for i in range(20)] and added["rules_added_count"] == 2000
    assert added["rules_removed"] == ["heal"] and "rules_removed_count" not in added, "a short list is given whole"
    assert removed["rules_removed"] == [f"team-{i:04d}" for i in range(20)] and removed["rules_removed_count"] == 2000
    assert len(json.dumps(added, default=str)) < 2000, "the line is still as long as the rule list"
