"""What the docs tell an operator to type, held against what the daemon and its command do: a
runbook step that cannot work is found here, not at 3 a.m."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).parent.parent
RUNBOOK = ROOT / "docs" / "runbook.md"


def test_every_restart_the_runbook_has_typed_in_the_pod_asks_the_running_daemon() -> None:
    # In the pod a daemon always holds the state file, and `watchdog restart` without --daemon
    # refuses beside it (tests/test_cli.py::test_restart_beside_a_running_daemon_says_to_ask_the_daemon):
    # the runbook's "to restart one now" answered "in use by a running watchdog".
    text = RUNBOOK.read_text(encoding="utf-8")
    restarts = re.findall(r"`(?:kubectl[^`]*-- )?(watchdog restart [^`]*)`", text)
    assert len(restarts) >= 4, restarts
    for command in restarts:
        assert "--daemon http://127.0.0.1:9464" in command, command


def test_the_runbooks_table_lists_every_alert_with_its_severity() -> None:
    # The table is where a paged operator looks first; WatchdogCannotRecordDecisions (critical:
    # nothing is restarted) had a section but no row.
    import yaml

    rules = yaml.safe_load((ROOT / "deploy" / "prometheus" / "watchdog-alerts.yaml").read_text(encoding="utf-8"))
    alerts = {r["alert"]: r["labels"]["severity"] for g in rules["groups"] for r in g["rules"] if "alert" in r}
    rows = dict(re.findall(r"^\| \[(\w+)\]\(#\w+\) \| (\w+) \|", RUNBOOK.read_text(encoding="utf-8"), re.MULTILINE))
    assert rows == alerts


async def test_the_fields_readme_shows_of_each_connector_are_the_ones_the_api_answers() -> None:
    # README showed "last_restart" and "next_allowed"; the API answers "last_restart_at" and
    # "next_allowed_at", so `jq .connectors[].last_restart` printed null for every connector.
    from .test_api import AUTH, polled, world

    shown = re.search(r'^# \{"connectors": \[\{(.+?)\}', (ROOT / "README.md").read_text(encoding="utf-8"), re.MULTILINE)
    assert shown, "README no longer shows the /v1/connectors answer"
    fields = set(re.findall(r'"(\w+)"', shown.group(1)))
    w, http = world()
    await polled(w)
    rows = (await http.get("/v1/connectors", headers=AUTH)).json()["connectors"]
    assert rows and fields <= set(rows[0]), fields - set(rows[0])
