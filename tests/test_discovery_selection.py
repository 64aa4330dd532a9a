"""What discovery can tell of a config that selects other than the user meant, said.

`discovery.environments.names` globs that select no environment the key can see (a display
name written in another case, an environment's id written where its name goes, a typo) are said,
by the daemon and by `check-config --discover`: before, the daemon watched nothing of them, its
refreshes `ok`, and nothing said why (found 2026-12-03 against a fake Confluent on loopback:
`names: [env-a, Prod-b]` for environments prod-a (env-a) and prod-b, 'would watch 0 discovered
cluster(s)' and no word more)."""

from __future__ import annotations

from typing import Any

import httpx
import structlog

from watchdog.discovery.preview import discover_once

from .test_discovery import config_data, make_config

NAMES = ["Production", "env-stage", "qa-*", "staging"]


class FakeCloud:
    def __init__(self) -> None:
        self.environments = {"env-prod": "production", "env-stage": "staging"}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/org/v2/environments":
            return httpx.Response(200, json={"metadata": {}, "data": [
                {"id": e, "display_name": name} for e, name in self.environments.items()]})
        if path == "/cmk/v2/clusters":
            environment = request.url.params["environment"]
            return httpx.Response(200, json={"metadata": {"next": None}, "data": [
                {"id": f"lkc-{environment[4:]}", "spec": {"display_name": "c", "environment": {"id": environment}},
                 "status": {"phase": "PROVISIONED"}}]})
        return httpx.Response(200, json={})


def _lines(logs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in logs if e["event"].startswith("discovery_environment_names")]


async def test_names_globs_that_select_no_environment_are_said_once_with_why() -> None:
    from watchdog.app import Daemon

    cloud = FakeCloud()
    daemon = Daemon(make_config(config_data({"environments": {"names": NAMES}})), transport=httpx.MockTransport(cloud))
    with structlog.testing.capture_logs() as logs:
        assert await daemon.refresh_discovery() is True
        assert await daemon.refresh_discovery() is True
    assert sorted(daemon.fleet.watched) == ["lkc-stage"]
    said = _lines(logs)
    assert [(e["event"], e["log_level"]) for e in said] == [("discovery_environment_names_unmatched", "warning")], \
        "said once, not at every refresh"
    assert said[0]["globs"] == {
        "Production": "matches production (env-prod) but for the case: globs are case-sensitive",
        "env-stage": "matches the id of staging (env-stage): ids go in discovery.environments.ids",
        "qa-*": "matches none of the 2 environment(s) the key can see",
    }
    # The environments change: said again when the globs left unmatched change, and once all match.
    cloud.environments.update({"env-p2": "Production", "env-qa": "qa-east"})
    with structlog.testing.capture_logs() as logs:
        assert await daemon.refresh_discovery() is True
    assert [e["globs"] for e in _lines(logs)] == [
        {"env-stage": "matches the id of staging (env-stage): ids go in discovery.environments.ids"}]
    cloud.environments["env-x"] = "env-stage"  # an environment named like that after all
    with structlog.testing.capture_logs() as logs:
        assert await daemon.refresh_discovery() is True
    assert [(e["event"], e["log_level"]) for e in _lines(logs)] == [("discovery_environment_names_matched", "info")]
    await daemon.stop()


async def test_check_config_discover_says_which_names_globs_select_nothing() -> None:
    config = make_config(config_data({"environments": {"names": NAMES}}))
    ok, text = await discover_once(config, httpx.MockTransport(FakeCloud()))
    assert ok
    assert "  names glob 'Production' selects no environment: matches production (env-prod) but for the case: " \
           "globs are case-sensitive" in text.splitlines()
    assert "  names glob 'qa-*' selects no environment: matches none of the 2 environment(s) the key can see" in text
    assert "would watch 1 discovered cluster(s)" in text


# A `clusters:` entry naming a cluster discovery lists in another environment (an environment_id
# typo): the static entry wins, so its polls went to the environment written and failed (404)
# at every poll, its FAILED connectors never restarted, while discovery knew where the cluster is
# and said nothing; check-config --discover showed it 'watched as clusters.orders' under the
# environment it is really in.
STATIC_ELSEWHERE = {"orders": {"environment_id": "env-stage", "kafka_cluster_id": "lkc-prod"}}
ELSEWHERE = "clusters.orders names environment env-stage, but discovery lists lkc-prod in env-prod (production)"


async def test_a_static_entry_naming_a_cluster_discovery_lists_in_another_environment_is_said() -> None:
    from watchdog.app import Daemon

    daemon = Daemon(make_config(config_data({}, clusters=STATIC_ELSEWHERE)), transport=httpx.MockTransport(FakeCloud()))
    with structlog.testing.capture_logs() as logs:
        assert await daemon.refresh_discovery() is True
        assert await daemon.refresh_discovery() is True
    said = [e for e in logs if e["event"] == "discovery_static_cluster_elsewhere"]
    assert [(e["log_level"], e["clusters"]) for e in said] == [("warning", {"orders": ELSEWHERE})], "said once"
    await daemon.stop()


async def test_check_config_discover_says_a_static_entry_names_another_environment() -> None:
    config = make_config(config_data({}, clusters=STATIC_ELSEWHERE))
    _, text = await discover_once(config, httpx.MockTransport(FakeCloud()))
    line = next(line for line in text.splitlines() if line.strip().startswith("lkc-prod"))
    assert line.endswith(f"watched as clusters.orders (the static entry wins); {ELSEWHERE}: its polls go to env-stage"), line


# A key with no role on any environment (a new service account without its role binding) sees an
# empty environment list: the daemon watched nothing, ready, its refreshes `ok`, with nothing but
# zero counts in its first discovery_refreshed line (at info) to show it.
def _no_environment(request: httpx.Request) -> httpx.Response:
    if request.url.path == "/org/v2/environments":
        return httpx.Response(200, json={"api_version": "org/v2", "kind": "EnvironmentList", "metadata": {}, "data": []})
    return httpx.Response(200, json={})


async def test_a_key_that_sees_no_environment_is_said_once() -> None:
    from watchdog.app import Daemon

    daemon = Daemon(make_config(config_data({})), transport=httpx.MockTransport(_no_environment))
    with structlog.testing.capture_logs() as logs:
        assert await daemon.refresh_discovery() is True
        assert await daemon.refresh_discovery() is True
    said = [e for e in logs if e["event"] == "discovery_no_environment_listed"]
    assert [e["log_level"] for e in said] == ["warning"], "said once"
    await daemon.stop()
    _, text = await discover_once(make_config(config_data({})), httpx.MockTransport(_no_environment))
    assert "  the key sees no environment: it has no role on any (Operator, or EnvironmentAdmin on each)" in text
