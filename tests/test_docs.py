"""What the docs tell an operator to type, held against what the daemon and its command do: a
runbook step that cannot work is found here, not at 3 a.m."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
RUNBOOK = ROOT / "docs" / "runbook.md"
# What a user reads to set the daemon up: README and the pages it sends them to for each subject
# (docs/runbook.md, benchmarks.md and the other pages about the project are read on their own).
USER_DOCS = [ROOT / "README.md", *(ROOT / "docs" / name for name in (
    "configuration.md", "self-managed-connect.md", "alerts-and-api.md", "operations.md", "high-availability.md",
    "metrics.md"))]


def user_docs() -> str:
    return "\n".join(path.read_text(encoding="utf-8") for path in USER_DOCS)


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


async def test_the_fields_the_docs_show_of_each_connector_are_the_ones_the_api_answers() -> None:
    # The docs showed "last_restart" and "next_allowed"; the API answers "last_restart_at" and
    # "next_allowed_at", so `jq .connectors[].last_restart` printed null for every connector.
    from .test_api import AUTH, polled, world

    shown = re.search(r'^# \{"connectors": \[\{(.+?)\}', user_docs(), re.MULTILINE)
    assert shown, "the docs no longer show the /v1/connectors answer"
    fields = set(re.findall(r'"(\w+)"', shown.group(1)))
    w, http = world()
    await polled(w)
    rows = (await http.get("/v1/connectors", headers=AUTH)).json()["connectors"]
    assert rows and fields <= set(rows[0]), fields - set(rows[0])


def _models_in(annotation: object, kind: type | None = None) -> list[type]:
    """The classes of `kind` (pydantic models by default) an annotation holds, through unions,
    containers and Annotated."""
    import typing

    from pydantic import BaseModel

    if isinstance(annotation, type) and issubclass(annotation, kind or BaseModel):
        return [annotation]
    return [m for a in typing.get_args(annotation) for m in _models_in(a, kind)]


def test_config_example_names_every_setting_in_its_section() -> None:
    # "every option, with its default and why": blocking.receiver, a rule's fetch_recommendations
    # and windows, metrics_api.timeouts and tls.verify were settings the example never named.
    from pydantic import SecretStr

    from watchdog.config import Config

    text = (ROOT / "config.example.yaml").read_text(encoding="utf-8")
    missing: list[str] = []

    def walk(model: type, path: str, section: str, seen: set[type]) -> None:
        for name, field in model.model_fields.items():  # type: ignore[attr-defined]
            here = f"{path}.{name}"
            if _models_in(field.annotation, SecretStr):  # never in the file: named by its variable
                if f"__{name.upper()}" not in text:
                    missing.append(here)
            elif not re.search(rf"^\s*#?\s*(- )?{name}:|[{{,]\s*{name}:", section, re.MULTILINE):
                missing.append(here)
            for sub in _models_in(field.annotation):
                if sub not in seen:
                    walk(sub, here, section, seen | {sub})

    for name, field in Config.model_fields.items():
        block = re.search(rf"^{name}:.*?(?=^[a-z_]+:|\Z)", text, re.MULTILINE | re.DOTALL)
        if block is None:
            missing.append(name)
            continue
        for model in _models_in(field.annotation):
            walk(model, name, block.group(0), {model})
    assert not missing, f"config.example.yaml does not show: {missing}"


def test_readme_says_which_commands_take_a_config() -> None:
    # README said every command takes --config and --secrets-dir: `watchdog demo --config ...`
    # was refused as an unrecognized argument.
    import argparse

    from watchdog.cli.commands import build_parser

    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    without = {name for name, sub in commands.items() if "--config" not in sub._option_string_actions}
    sentence = re.search(r"Every command takes (.+?)\.\n", (ROOT / "README.md").read_text(encoding="utf-8"), re.DOTALL)
    assert sentence, "README no longer says which options every command takes"
    named = set(re.findall(r"`(\w+)`", re.search(r"but (.+?) \(", sentence.group(1), re.DOTALL).group(1)))  # type: ignore[union-attr]
    assert without and named == without, (named, without)


def test_the_limits_table_names_the_setting_and_default_of_every_call_bound() -> None:
    # The table said an Alertmanager call was bounded at 30 s (its default is 5 s) and gave
    # api.timeouts.total for Metrics API calls, which metrics_api.timeouts.total bounds.
    from watchdog.config import BlockingSettings, Config

    row = next(line for line in user_docs().splitlines() if line.startswith("| A Connect API, Metrics API or Alertmanager call"))
    _, bound, settings = (cell.strip() for cell in row.strip("|").split(" | "))
    for setting, default in (("api.timeouts.total", Config().api.timeouts.total),
                             ("metrics_api.timeouts.total", Config().metrics_api.timeouts.total),
                             ("blocking.timeout", BlockingSettings(alertmanager_url="http://am:9093").timeout)):
        assert f"`{setting}`" in settings, setting
        assert f"{default:g} s" in bound, (setting, default)


def test_the_runbook_says_what_becomes_of_a_connector_that_fails_for_good() -> None:
    # It said such a connector "would be restarted about 25 times a day", which only a rule
    # without max_restarts does: with the default it is given up on after 10 (README).
    from watchdog.config import Rule

    section = RUNBOOK.read_text(encoding="utf-8").split("### WatchdogConnectorRestartedTooOften")[1].split("\n### ")[0]
    default = Rule.model_fields["max_restarts"].default
    assert f"`max_restarts` times (default {default}," in section and "WatchdogConnectorGaveUp" in section
    assert "25 times a day" not in section


def test_the_runbooks_history_of_one_connector_finds_it_in_a_busy_fleet(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The runbook filtered `watchdog history --json` with jq's select(.connector==...): over the
    # fleet's newest 50 restarts only, so in an incident it showed nothing for the connector paged.
    import json
    import shlex
    from datetime import datetime, timedelta, timezone

    from watchdog.cli import main
    from watchdog.model import ConnectorKey, ConnectorState, HistoryRecord, Outcome, Trigger
    from watchdog.state import SqliteStateStore

    path = tmp_path / "state.db"
    start = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
    with SqliteStateStore(path) as store:
        for minute, connector in enumerate(["clickstream-sink", "orders-sink"] + [f"other-{n}" for n in range(60)]):
            key = ConnectorKey("prod", connector)
            store.finish(f"job-{minute}", key, ConnectorState(attempts=1), HistoryRecord(
                at=start + timedelta(minutes=minute), key=key, job_id=f"job-{minute}", rule="heal",
                trigger=Trigger.STATUS, triggers=(Trigger.STATUS,), outcome=Outcome.ACCEPTED, status_code=202,
                tries=1, attempt=1))
    capsys.readouterr()
    lines = RUNBOOK.read_text(encoding="utf-8").replace("\\\n", " ").splitlines()
    asked = [(line.split("-- ", 1)[1].split("|")[0], name) for line in lines if "-- watchdog history" in line
             for name in ("clickstream-sink", "orders-sink") if name in line]
    assert len(asked) >= 3, asked
    for command, connector in asked:
        assert main([*shlex.split(command)[1:], "--state", str(path)]) == 0, command
        shown = {r["connector"] for r in json.loads(capsys.readouterr().out)["restarts"]}
        assert connector in shown, command
    assert 'select(.connector==' not in RUNBOOK.read_text(encoding="utf-8")


def test_every_option_of_every_command_says_what_it_does_in_help() -> None:
    # `watchdog restart --help` listed --reason, --dry-run and the connector with no word about
    # them, and every command's --log-level without its default.
    import argparse

    from watchdog.cli.commands import build_parser

    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    silent = [f"{name} {action.option_strings or action.dest}" for name, sub in commands.items()
              for action in sub._actions if not action.help and not isinstance(action, argparse._HelpAction)]
    assert not silent, silent


def test_the_docs_name_every_section_a_reload_cannot_change() -> None:
    # config.example.yaml left out metrics_api, reload and log.format: an edit of one of them with
    # a rule refused the whole reload, the rule's change too, where the example said nothing.
    from watchdog.reload import RESTART_ONLY_SECTIONS

    sections = {*RESTART_ONLY_SECTIONS, "log.format"}
    example = re.search(r"^# Live reload:(.*?)^reload:", (ROOT / "config.example.yaml").read_text(encoding="utf-8"),
                        re.MULTILINE | re.DOTALL)
    docs = re.search(r"Changes to (.*?) need\s+a\s+process\s+restart", user_docs(), re.DOTALL)
    assert example and docs
    assert set(re.findall(r"\b([a-z_]+(?:\.format)?)\b", example.group(1))) >= sections
    assert set(re.findall(r"`([a-z_.]+)`", docs.group(1))) == sections


def test_the_runbooks_local_config_check_passes_on_the_shipped_config_and_quotes_the_real_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Run as written, without the Secret's values in the shell, the check said "invalid config:
    # credentials.main.api_key: missing" of a config that was fine; and the runbook told to look
    # for `config ... invalid`, which no line says.
    import shlex

    from watchdog.cli import main

    for name in ("WATCHDOG_CREDENTIALS__MAIN__API_KEY", "WATCHDOG_CREDENTIALS__MAIN__API_SECRET",
                 "WATCHDOG_SERVER__AUTH_TOKEN", "WATCHDOG_SECRETS_DIR"):
        monkeypatch.delenv(name, raising=False)
    text = RUNBOOK.read_text(encoding="utf-8")
    line = re.search(r"`((?:\w+=\S+ )*)watchdog (check-config --config deploy/kubernetes/base/config\.yaml)`", text)
    assert line, "the runbook no longer checks the shipped config locally"
    for assignment in shlex.split(line.group(1)):
        monkeypatch.setenv(*assignment.split("=", 1))
    monkeypatch.chdir(ROOT)
    assert main(shlex.split(line.group(2))) == 0, capsys.readouterr().err
    quoted = re.search(r"the log says `([^`]+)`", text)
    bad = tmp_path / "config.yaml"
    bad.write_text("dry_run: maybe\n")
    capsys.readouterr()
    assert main(["check-config", "--config", str(bad)]) == 2
    # The path the shipped Deployment gives (WATCHDOG_CONFIG, in the ConfigMap's directory mount).
    assert quoted and quoted.group(1).replace("/etc/watchdog/config/config.yaml", str(bad)) in capsys.readouterr().err


def test_every_file_the_docs_send_a_reader_to_exists() -> None:
    # docs/reliability.md sent readers to watchdog/ratelimit.py, since split into watchdog/ratelimit/.
    # (docs/benchmarks.md's change log names files as they were when each change was measured.)
    docs = [ROOT / "README.md", ROOT / "config.example.yaml", ROOT / "deploy" / "README.md",
            *(p for p in (ROOT / "docs").glob("*.md") if p.name != "benchmarks.md")]
    named = {m for doc in docs for m in re.findall(
        r"(?<![\w/.-])((?:tests|watchdog|bench|scripts|docs|deploy)/[\w./-]*\w)", doc.read_text(encoding="utf-8"))}
    assert len(named) > 40
    named.discard("deploy/connect-watchdog")  # kubectl's name for the Deployment, not a path
    missing = sorted(p for p in named if not (ROOT / p).exists())
    assert not missing, missing


def _heading_anchors(text: str) -> set[str]:
    """The anchors GitHub gives a Markdown file's headings: lower case, punctuation dropped, spaces
    as hyphens (code fences skipped: a `# comment` in a snippet is no heading)."""
    anchors, fenced = set(), False
    for line in text.splitlines():
        fenced ^= line.startswith("```")
        heading = None if fenced else re.match(r"#{1,6} (.+)", line)
        if heading:
            anchors.add(re.sub(r"[^\w\- ]", "", heading.group(1).lower()).replace(" ", "-"))
    return anchors


def test_every_link_between_the_docs_reaches_a_page_and_a_heading_that_exist() -> None:
    # README's long sections moved to pages of their own under docs/ (configuration, alerts and
    # the API, operations, high availability, metrics): a link left pointing at README's anchor
    # for a section now elsewhere, or written relative to the repository from inside docs/,
    # opens a page without the section the reader was sent to.
    docs = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    checked, broken = 0, []
    for doc in docs:
        for target in re.findall(r"\]\(([^)\s]+)\)", doc.read_text(encoding="utf-8")):
            if re.match(r"[a-z]+:", target):
                continue  # a web address
            path, _, anchor = target.partition("#")
            page = (doc.parent / path).resolve() if path else doc
            checked += 1
            if not page.exists():
                broken.append(f"{doc.name}: {target} (no such file)")
            elif anchor and page.suffix == ".md" and anchor not in _heading_anchors(page.read_text(encoding="utf-8")):
                broken.append(f"{doc.name}: {target} (no such heading)")
    assert checked > 20
    assert not broken, broken

def test_the_runbooks_dry_run_switch_says_the_stopping_pod_still_sends_its_queue() -> None:
    # It said "nothing is sent, neither the restarts already queued ...": the old pod, stopping for
    # the new one, sent its whole queue for up to queue.shutdown_deadline (a SIGTERM drains it:
    # tests/test_queue.py::test_shutdown_deadline_leaves_the_rest_unsent_and_counted), and what
    # it leaves unsent ends dry_run in a dry-run start
    # (tests/test_reload_safety.py::test_restarts_kept_at_shutdown_obey_dry_run_at_the_next_start).
    text = RUNBOOK.read_text(encoding="utf-8")
    section = text.split("**Now, for an open-ended time**")[1].split("- **Stop it entirely**")[0]
    assert "nothing is sent, neither the restarts already queued" not in section
    assert "`queue.shutdown_deadline`" in section and "--grace-period=1" in section


def test_every_metric_the_docs_list_is_exported_with_the_labels_they_give() -> None:
    # `watchdog_connector_backoff_step`, `_gave_up` read as watchdog_connector_backoff_gave_up,
    # which does not exist (the gauge is watchdog_connector_gave_up): a query of it finds nothing.
    from prometheus_client import CollectorRegistry

    from watchdog.discovery.metrics import DiscoveryMetrics
    from watchdog.leadership.metrics import LeadershipMetrics
    from watchdog.metrics import Metrics

    registry = CollectorRegistry()
    Metrics(registry)
    DiscoveryMetrics(registry)
    LeadershipMetrics(registry)
    exported: dict[str, set[str]] = {}
    for family in registry.collect():
        name = family.name + ("_total" if family.type == "counter" else "")
        exported[name] = {label for sample in family.samples for label in sample.labels
                          if label not in ("le",)}
    # Label sets from the families' own definitions, where no sample exists yet.
    for collector in list(registry._collector_to_names):  # noqa: SLF001 (no public way to read them)
        for name in registry._collector_to_names[collector]:  # noqa: SLF001
            labels = set(getattr(collector, "_labelnames", ()))
            for exported_name in (name, f"{name}_total"):
                if exported_name in exported:
                    exported[exported_name] |= labels
    rows = [line for line in user_docs().splitlines() if line.startswith("| `watchdog_")]
    assert len(rows) > 30
    listed: set[str] = set()
    for row in rows:
        names_cell, labels_cell = (cell.strip() for cell in row.split("|")[1:3])
        names = re.findall(r"`(\w+)`", names_cell)
        full = [names[0]] + [names[0].rsplit("_", 1)[0] + n if n.startswith("_") else n for n in names[1:]]
        labels = {label.strip() for label in labels_cell.split(",") if label.strip()}
        for name in full:
            assert name in exported, f"the docs list {name}, which is not exported"
            assert labels == exported[name], (name, labels, exported[name])
            listed.add(name)
    # And the other way: a metric the table leaves out is one a dashboard author never finds.
    assert not set(exported) - listed, sorted(set(exported) - listed)


async def test_every_series_metrics_serves_belongs_to_a_metric_the_docs_list() -> None:
    # prometheus-client served a `_created` twin of every counter and histogram series
    # (watchdog_restarts_created, watchdog_decisions_created, ...): 226 of a small daemon's 492
    # series, under 22 names the table never gave. Read here as a scraper reads them.
    from prometheus_client.parser import text_string_to_metric_families

    from .test_api import AUTH, CLUSTER, polled, world

    listed = set()
    for row in user_docs().splitlines():
        if row.startswith("| `watchdog_"):
            names = re.findall(r"`(\w+)`", row.split("|")[1])
            listed |= {names[0]} | {names[0].rsplit("_", 1)[0] + n for n in names[1:] if n.startswith("_")}
            listed |= {n for n in names[1:] if not n.startswith("_")}
    w, http = world()
    await polled(w)
    await http.post("/v1/restarts", json={"cluster": CLUSTER, "connector": "orders-sink"}, headers=AUTH)
    await w.daemon.queue.join()
    served = {sample.name for family in text_string_to_metric_families((await http.get("/metrics")).text)
              for sample in family.samples}
    histogram_parts = re.compile(r"_(bucket|sum|count)$")
    unlisted = {name for name in served if name not in listed and histogram_parts.sub("", name) not in listed}
    assert "watchdog_restarts_total" in served and not unlisted, sorted(unlisted)


def _log_events() -> dict[str, str]:
    """Every event name the daemon logs (`log.info("name", ...)`, and the names a variable level
    or a conditional passes), with a file that logs it; the simulator's own are not the daemon's."""
    import ast

    levels = {"debug", "info", "warning", "error", "exception", "critical"}

    def names(node: ast.expr) -> list[str]:
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and re.fullmatch(r"[a-z]+(_[a-z]+)+", node.value):
            return [node.value]
        return names(node.body) + names(node.orelse) if isinstance(node, ast.IfExp) else []

    events: dict[str, str] = {}
    for path in sorted((ROOT / "watchdog").rglob("*.py")):
        if "simulator" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            called = node.func
            logs = (isinstance(called, ast.Attribute) and called.attr in levels and isinstance(called.value, ast.Name)
                    and called.value.id == "log") or isinstance(called, (ast.IfExp, ast.BoolOp)) or (
                isinstance(called, ast.Name) and called.id in {"level", "report"})
            for name in names(node.args[0]) if logs else []:
                events.setdefault(name, str(path.relative_to(ROOT)))
    return events


def test_every_event_the_daemon_logs_is_named_in_the_docs() -> None:
    # 46 events (restart_outcome_not_recorded, restart_left_to_leader, http_request_not_recorded,
    # standing_by...) were named nowhere: an operator met them at 3 a.m. with no word of what
    # they meant or what to do.
    docs = "\n".join(path.read_text(encoding="utf-8") for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))])
    events = _log_events()
    assert len(events) > 90, "the events are no longer found in the code"
    unnamed = {name: where for name, where in events.items() if not re.search(rf"(?<![\w-]){name}(?![\w-])", docs)}
    assert not unnamed, unnamed


def test_the_docs_give_every_label_value_a_metric_can_take() -> None:
    # `watchdog_scheduler_job_events_total` was described as "jobs missed, failed, or skipped as
    # still running": `{event="failed"}` matches nothing (the values are error and max_instances).
    from watchdog import lane_metrics, metrics
    from watchdog.model import Decision, Outcome, Unusable
    from watchdog.stall import Unjudged

    values = {
        "watchdog_decisions_total": {d.value for d in Decision},
        "watchdog_restarts_total": {o.value for o in Outcome},
        "watchdog_unusable_entries_total": {u.value for u in Unusable},
        "watchdog_stall_unjudged_total": {u.value for u in Unjudged},
        "watchdog_webhook_alerts_total": set(metrics.WEBHOOK_RESULTS),
        "watchdog_blocking_checks_total": set(metrics.BLOCKING_RESULTS),
        "watchdog_scheduler_job_events_total": set(metrics.SCHEDULER_EVENTS),
        "watchdog_stall_checks_total": set(metrics.STALL_VERDICTS),
        "watchdog_stall_check_reads_total": set(metrics.STALL_READS),
        "watchdog_ratelimit_wait_seconds_total": set(lane_metrics.WAIT_REASONS),
        "watchdog_ratelimit_pauses_total": set(lane_metrics.PAUSE_SOURCES),
        "watchdog_config_reloads_total": set(metrics.RELOAD_RESULTS),
        "watchdog_http_requests_total": set(metrics.SERVED_ROUTES),
        "watchdog_api_requests_total": set(lane_metrics.API_STATUS_CLASSES) | set(lane_metrics.ENDPOINTS),
    }
    lines = user_docs().splitlines()
    for name, expected in values.items():
        row = next(line for line in lines if line.startswith(f"| `{name}`"))
        meaning = row.split("|")[3]
        missing = {v for v in expected if not re.search(rf"(?<![\w-]){v}(?![\w-])", meaning)}
        assert not missing, (name, missing)


def test_the_runbook_makes_and_lists_cloud_api_keys() -> None:
    # Its key rotation created `confluent api-key create --resource lkc-xyz789`: a Kafka cluster
    # key, which the Confluent Cloud APIs the daemon calls do not take (research/confluent-api.md:
    # "auth = Cloud API key"; the CLI's reference: "Use \"cloud\" for a Cloud API key").
    commands = re.findall(r"confluent api-key (?:create|list)[^`\n]*", RUNBOOK.read_text(encoding="utf-8"))
    assert len(commands) >= 2
    for command in commands:
        assert "--resource cloud" in command, command


def test_the_runbook_says_what_a_second_replica_on_the_state_file_meets() -> None:
    # It said two daemons "would both restart every failing connector"; the second is refused by
    # the state file's lock (tests/test_durable.py::test_a_second_daemon_on_the_same_state_file_is_refused),
    # so an operator who scaled to 2 by mistake looked for double restarts, not a crash loop.
    section = RUNBOOK.read_text(encoding="utf-8").split("- **Stop it entirely**")[1].split("\n\n")[0]
    assert "would both restart" not in section
    assert "in use by another watchdog process" in section and "`ha` overlay" in section


def _docs_yaml_snippets() -> list[str]:
    return re.findall(r"```yaml\n(.*?)```", user_docs(), re.S)


def test_every_config_snippet_the_docs_show_loads_as_printed(
    tmp_path: Path, credentials_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The YAML snippets of README and its pages (USER_DOCS) are what a new user copies into
    # config.yaml; none was ever loaded, so a renamed key or a value the checks came to refuse
    # would be found by the reader. Each
    # is loaded with only what it leans on and does not show: the `main` key, a cluster `prod`,
    # the API token its alert rule needs, and the TLS files its self-managed cluster names.
    import trustme
    import yaml

    from watchdog.config import load_config

    monkeypatch.setenv("WATCHDOG_SERVER__AUTH_TOKEN", "snippet-token-0123456789")
    monkeypatch.setenv("WATCHDOG_CREDENTIALS__ONPREM_CONNECT__API_KEY", "connect-user")
    monkeypatch.setenv("WATCHDOG_CREDENTIALS__ONPREM_CONNECT__API_SECRET", "connect-password")
    ca = trustme.CA()
    leaf = ca.issue_cert("watchdog.example")
    files = {"/etc/watchdog/tls/ca.pem": ca.cert_pem, "/etc/watchdog/tls/client.pem": leaf.cert_chain_pems[0],
             "/etc/watchdog/tls/client.key": leaf.private_key_pem}
    for name, blob in files.items():
        blob.write_to_path(str(tmp_path / Path(name).name))
    snippets = [s for s in _docs_yaml_snippets() if not s.startswith("# alertmanager.yml")]
    assert len(snippets) >= 4, snippets
    for snippet in snippets:
        for name in files:
            snippet = snippet.replace(name, str(tmp_path / Path(name).name))
        data = yaml.safe_load(snippet)
        credentials = {"main": {}, **({"onprem_connect": {}} if "onprem_connect" in snippet else {})}
        clusters = {"prod": {"environment_id": "env-abc123", "kafka_cluster_id": "lkc-xyz789", "credential": "main"}}
        base = {"credentials": credentials, "clusters": clusters, "state": {"path": ":memory:"}}
        path = tmp_path / "config.yaml"
        path.write_text(yaml.safe_dump({**base, **data, "clusters": {**clusters, **data.get("clusters", {})}}))
        load_config(path)  # a ConfigError names the snippet's bad value


def test_the_docs_alertmanager_receiver_passes_amtool(tmp_path: Path) -> None:
    # The receiver and route docs/alerts-and-api.md tells Alertmanager users to add, in a file
    # whose route tree keeps its own default receiver (the snippet shows only what it adds), as
    # amtool checks it.
    import subprocess

    import yaml

    from .deploy.tools import amtool

    (snippet,) = [s for s in _docs_yaml_snippets() if s.startswith("# alertmanager.yml")]
    config = yaml.safe_load(snippet)
    config["route"]["receiver"] = "default"
    config["receivers"].append({"name": "default"})
    path = tmp_path / "alertmanager.yml"
    path.write_text(yaml.safe_dump(config))
    done = subprocess.run([amtool(), "check-config", str(path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


async def test_the_docs_webhook_try_out_is_taken_as_it_says() -> None:
    # The curl docs/alerts-and-api.md gives for trying an alert rule without Alertmanager: its
    # body, posted to the daemon's API, is taken (no 422 for a field Alertmanager always sends), restarts the
    # connector it names, and is answered with the fields it quotes.
    import json

    from .test_api import AUTH, polled, world

    block = re.search(r"```sh\n(curl [^\n]*/v1/alertmanager -d '.*?)```", user_docs(), re.S)
    assert block, "the docs no longer show how to try an alert rule"
    body = json.loads(block.group(1).split("-d '", 1)[1].split("'\n", 1)[0])
    quoted = json.loads(re.sub(r', \.\.\.\}', "}", block.group(1).split("\n# ", 1)[1].strip()))["alerts"][0]
    w, http = world()
    await polled(w)
    answer = await http.post("/v1/alertmanager", json=body, headers=AUTH)
    assert answer.status_code == 200, answer.text
    (alert,) = answer.json()["alerts"]
    assert set(quoted) <= set(alert), (quoted, alert)
    assert {k: alert[k] for k in ("status", "result", "cluster", "connector", "decision")} == {
        k: quoted[k] for k in ("status", "result", "cluster", "connector", "decision")}
    assert alert["fingerprint"].startswith(quoted["fingerprint"].removesuffix("..."))
    for bad, field in (("ConnectorStaled", None), (None, "startsAt")):
        tried = json.loads(json.dumps(body))
        if bad:
            tried["alerts"][0]["labels"]["alertname"] = bad
        else:
            del tried["alerts"][0][field]
        answer = await http.post("/v1/alertmanager", json=tried, headers=AUTH)
        said = json.dumps(answer.json())
        assert (f"alertname '{bad}'" if bad else f"alerts[0].{field}") in said, said


def test_readmes_row_of_each_command_names_every_option_it_takes() -> None:
    # `watchdog simulate --host` (where the simulator listens, 127.0.0.1 unless told) and
    # `watchdog demo --backend` were in --help and in no row of README's command table, nor
    # `--token-file` in the rows of `status` and `history`, which take it as `restart` does.
    import argparse

    from watchdog.cli.commands import build_parser

    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    every = re.search(r"Every command takes (.+?`--secrets-dir)", text, re.DOTALL)
    assert every, "README no longer says which options every command takes"
    common = set(re.findall(r"`(--[a-z-]+)", every.group(1))) | {"-h", "--help", "-c"}
    unnamed = []
    for name, command in commands.items():
        row = re.search(rf"^\| `watchdog {name}[ `].*$", text, re.MULTILINE)
        assert row, f"README's command table has no row for {name}"
        unnamed += [f"{name} {option}" for option in command._option_string_actions
                    if option not in common and not re.search(rf"{option}(?![\w-])", row.group(0))]
    assert not unnamed, unnamed


def test_the_playgrounds_config_quotes_the_demo_scenarios_rate_limit() -> None:
    # The compose playground's config said the demo scenario "allows 6 calls per 10 s window";
    # it allows 10 since the scenario's key was shared with discovery.
    import yaml

    scenario = yaml.safe_load((ROOT / "watchdog" / "simulator" / "builtin" / "demo.yaml").read_text(encoding="utf-8"))
    text = (ROOT / "deploy" / "compose" / "watchdog" / "config.yaml").read_text(encoding="utf-8")
    quoted = re.search(r"allows (\d+) calls per (\d+) s window", text)
    assert quoted, "the playground's config no longer says what the demo scenario allows"
    limit = scenario["rate_limit"]
    assert (int(quoted.group(1)), int(quoted.group(2))) == (limit["limit"], limit["window_seconds"])


def test_a_dashboard_panel_that_lists_the_values_of_its_series_lists_them_all() -> None:
    # "Restarts by trigger" said "status (a failure seen by a poll), schedule, alert, manual": its
    # series also show `stalled`, a trigger the dashboard's reader then had no word for; "Polls by
    # result" named six of its twelve results. A description that lists a label's values gives
    # every one, or says `...`.
    import json

    from watchdog import metrics
    from watchdog.discovery.inventory import ClusterState
    from watchdog.model import Outcome, Trigger

    # The values each (metric, label) a panel groups by can take.
    values = {
        ("watchdog_cluster_restarts_total", "trigger"): {t.value for t in Trigger},
        ("watchdog_cluster_restarts_total", "outcome"): {o.value for o in Outcome},
        ("watchdog_polls_total", "result"): set(metrics.POLL_RESULTS),
        ("watchdog_webhook_alerts_total", "result"): set(metrics.WEBHOOK_RESULTS),
        ("watchdog_stall_checks_total", "verdict"): set(metrics.STALL_VERDICTS),
        ("watchdog_blocking_checks_total", "result"): set(metrics.BLOCKING_RESULTS),
        ("watchdog_config_reloads_total", "result"): set(metrics.RELOAD_RESULTS),
        ("watchdog_discovery_clusters", "state"): {s.value for s in ClusterState},
    }
    dashboard = json.loads((ROOT / "deploy" / "grafana" / "dashboards" / "connect-watchdog.json").read_text(encoding="utf-8"))

    def panels(within: list[dict[str, object]]) -> list[dict[str, object]]:
        return [p for panel in within for p in [panel, *panels(panel.get("panels", []))]]  # type: ignore[arg-type]

    short: list[tuple[object, list[str]]] = []
    checked: set[tuple[str, str]] = set()
    for panel in panels(dashboard["panels"]):
        description = str(panel.get("description", ""))
        for target in panel.get("targets", []):  # type: ignore[attr-defined]
            grouped = re.search(r"sum by \(([\w, ]+)\) \((?:increase\()?(watchdog_\w+)", target["expr"])
            if grouped is None:
                continue
            labels, metric = grouped.groups()
            for label in (x.strip() for x in labels.split(",")):
                expected = values.get((metric, label), set())
                named = {v for v in expected if re.search(rf"(?<![\w-]){v}(?![\w-])", description)}
                if named:
                    checked.add((metric, label))
                    if "..." not in description and named != expected:
                        short.append((panel["title"], sorted(expected - named)))
    # Every panel above lists its values (Restarts by outcome says `...`): none was left unchecked.
    assert checked >= set(values) - {("watchdog_cluster_restarts_total", "outcome")}, set(values) - checked
    assert not short, short


def test_an_alert_names_every_outcome_it_counts() -> None:
    # WatchdogRestartsFailing counts rejected, conflict, rate_limited, server_error, network_error
    # and unconfirmed restarts, and its description said "(rejected, rate-limited, server or network
    # errors, after retries)": paged for three `unconfirmed` restarts (answered 2xx with an error
    # in the body) or a self-managed cluster's 409s, the reader was told of none of them.
    import yaml

    rules = yaml.safe_load((ROOT / "deploy" / "prometheus" / "watchdog-alerts.yaml").read_text(encoding="utf-8"))
    unnamed = []
    for rule in (r for group in rules["groups"] for r in group["rules"] if "alert" in r):
        description = rule["annotations"]["description"]
        for matcher in re.findall(r'\b(?:outcome|result)=~"([\w|]+)"', rule["expr"]):
            unnamed += [(rule["alert"], value) for value in matcher.split("|")
                        if not re.search(rf"(?<![\w-]){value}(?![\w-])", description)]
    assert not unnamed, unnamed


def test_config_example_names_every_route_the_token_guards() -> None:
    # config.example.yaml's `server` section listed the routes a bearer token opens, and not
    # GET /v1/history, which `watchdog history --daemon` reads and which refuses a request
    # without the token like the others.
    from types import SimpleNamespace

    from watchdog.api import api_routes

    comment = re.search(r"^# One port for (.*?)^server:", (ROOT / "config.example.yaml").read_text(encoding="utf-8"),
                        re.MULTILINE | re.DOTALL)
    assert comment, "config.example.yaml no longer says what its port serves"
    said = re.sub(r"\s*\n#\s*", " ", comment.group(1))
    routes = [(method, route.path.replace("{request_id}", "{id}")) for route in api_routes(SimpleNamespace(metrics=None))
              for method in sorted(route.methods or ()) if method != "HEAD"]
    assert len(routes) == 5
    assert not [f"{m} {p}" for m, p in routes if f"{m} {p}" not in said], said


def test_the_docs_say_to_point_alertmanager_at_the_service_not_at_each_replica() -> None:
    # Pointed at each replica's URL (one webhook_configs entry per pod, a headless Service's pod
    # names), Alertmanager's every notification to the standby was answered 503, retried and
    # given up on, at every group_interval, its failed counter rising for good, and neither page
    # said not to (probe of a real Alertmanager, F3).
    ha = (ROOT / "docs" / "high-availability.md").read_text(encoding="utf-8")
    wiring = (ROOT / "docs" / "alerts-and-api.md").read_text(encoding="utf-8").split("## Wiring Alertmanager")[1]
    wiring = wiring.split("\n## ")[0]
    for text in (ha, wiring):
        assert "each replica's" in text and "alertmanager_notifications_failed_total" in text
        assert "one Service address" in text, text[:200]
