"""`blocking.filters` and `blocking.receiver`: refused when the config is loaded if Alertmanager
could not parse them (it answers such a query 400 at every check, which with on_error: block held
every restart), and a 400 that comes anyway is named as what it is, with Alertmanager's own reason.

The grammar is checked against the real Alertmanager in tests/e2e/test_alertmanager_filters.py.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import structlog
from pydantic import ValidationError

from watchdog.cli import main
from watchdog.config import BlockingSettings
from watchdog.config.matchers import go_regex_problem, matcher_problem

from .test_blocking import blocker

ACCEPTED = [
    'alertname="ConfluentCloudIncident"',
    'alertname=~"ConfluentCloudIncident|KafkaClusterDown"',
    "alertname=~ConfluentCloudIncident|KafkaClusterDown",  # unquoted: no space, comma or quote in it
    ' severity != "info" ',
    'cluster!~"lkc-(test|dev).*"',
    'team=""',  # matches alerts without the label
    "a=",
    'summary="She said: \\"Hi, all\\""',  # escaped quotes inside a quoted value
    'job="a,b"',  # a comma inside quotes is part of the value
    'alertname=~"\\\\d+"',  # \\ in quotes is one backslash: the regex \d+
    'alertname=~"\\d+"',  # a backslash before anything else is itself
    'x=~"(?i)incident"',
    'x=~"(?P<kind>cloud|kafka)"',
    'x=~"[[:upper:]][a-z]+\\\\pL?\\\\p{Greek}*"',
    'x=~"\\\\x{1F525}|\\\\Q.*\\\\E|\\\\z"',
    'x=~"a{2,1000}"',
    'x=~"(a{10}){100}"',
    'x=~"a)|(b"',  # Alertmanager compiles ^(?:a)|(b)$: valid, as Go sees it
    'x=~"日本"',
]

REFUSED = [
    ('alertname=~"ConfluentCloudIncident', "the value opens a double quote that is never closed"),
    ('alertname="Confluent"Cloud"', "the value holds an unescaped double quote"),
    ("alertname=Confluent\"Cloud", "the value holds an unescaped double quote"),
    ('{alertname="X"}', "one matcher per entry, without braces"),
    ("alertname=X}", "the value ends with a brace"),
    ("alertname=X,severity=critical", "one matcher per entry (entries are ANDed)"),
    ('"alert.name"="X"', "is not a matcher"),
    ('alert-name="X"', "is not a matcher"),
    ("alertname", "is not a matcher"),
    ('alertname=~"(?=Incident)"', "invalid perl operator: (?="),
    ('alertname=~"(?<!x)y"', "invalid perl operator: (?<!"),
    ('alertname=~"(?>x)"', "invalid perl operator: (?>"),
    ('alertname=~"(x)\\\\1"', "invalid escape sequence: \\1"),
    ('alertname=~"a**"', "bad repetition operator: **"),
    ('alertname=~"a++"', "bad repetition operator: ++"),
    ('alertname=~"*Incident"', "no argument for repetition operator: *"),
    ('alertname=~"x{1001}"', "invalid repetition size: {1001}"),
    ('alertname=~"(x{100}){11}"', "invalid repetition size: {11}"),
    ('alertname=~"x{3,2}"', "invalid repetition size: {3,2}"),
    ('alertname=~"(Incident"', "missing ): (Incident"),
    ('alertname=~"[Incident"', "missing ]: [Incident"),
    ('alertname=~"[z-a]"', "invalid character class range: z-a"),
    ('alertname=~"[[:letter:]]"', "invalid character class range: [:letter:]"),
    ('alertname=~"\\\\pX"', "invalid character class range: \\pX"),
    ('alertname=~"\\\\Z"', "invalid escape sequence: \\Z"),
    ('alertname=~"\\\\C"', "invalid escape sequence: `\\C`"),
    ('alertname=~"x\\\\"', "trailing \\"),  # a last backslash escapes nothing (wrapped, ^(?:x\)$ misses its ")")
    ('alertname=~"(?x)y"', "invalid perl operator: (?x"),
    ('alertname=~"(?<name>x)"', "write (?P<name>...) rather than (?<name>...)"),
]


@pytest.mark.parametrize("text", ACCEPTED)
def test_matchers_alertmanager_parses_are_accepted(text: str) -> None:
    assert matcher_problem(text) is None
    assert BlockingSettings(alertmanager_url="http://am:9093", filters=[text]).filters == [text]


@pytest.mark.parametrize(("text", "problem"), REFUSED, ids=[text for text, _ in REFUSED])
def test_matchers_alertmanager_would_refuse_are_refused_saying_what_is_wrong(text: str, problem: str) -> None:
    found = matcher_problem(text)
    assert found is not None and problem in found, found
    assert found.startswith(repr(text)), "the error quotes the filter, so that it can be found in the file"


def test_a_bad_filter_is_refused_by_check_config_naming_the_entry(
    tmp_path: Path, credentials_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    # The reviewer's case: check-config said valid, and every restart was then blocked with a
    # reason blaming the network.
    path = tmp_path / "config.yaml"
    path.write_text("credentials: {main: {}}\nclusters: {prod: {environment_id: env-abc123, kafka_cluster_id: lkc-xyz789}}\n"
                    "blocking: {alertmanager_url: 'http://127.0.0.1:19094', "
                    "filters: ['severity=\"critical\"', 'alertname=~\"ConfluentCloudIncident']}\n")
    assert main(["check-config", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert "blocking.filters[1]: 'alertname=~\"ConfluentCloudIncident': the value opens a double quote that is never closed" in err
    assert "filters[0]" not in err


def test_the_receiver_is_checked_as_the_regular_expression_alertmanager_reads() -> None:
    assert BlockingSettings(alertmanager_url="http://am:9093", receiver="pager|oncall-.*").receiver == "pager|oncall-.*"
    with pytest.raises(ValidationError, match=r"receiver\n.*'pager\[' is not a valid regular expression .*missing \]"):
        BlockingSettings(alertmanager_url="http://am:9093", receiver="pager[")
    assert go_regex_problem("a)|(b") is None, "compiled as ^(?:a)|(b)$, as Alertmanager does"


def am_refuses(reason: str, status: int = 400):  # type: ignore[no-untyped-def]
    """Alertmanager's answer to a query it cannot parse: the parser's message as a JSON string."""
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json=reason)
    return answer


@pytest.mark.parametrize(("on_error", "blocked", "result"), [("block", True, "error_blocked"), ("allow", False, "error_allowed")])
async def test_a_400_from_alertmanager_is_named_a_refused_query_with_its_own_reason(
    on_error: str, blocked: bool, result: str
) -> None:
    # A filter this config check lets through and some Alertmanager does not (a newer grammar, a
    # proxy's own rules): the reason says the query was refused and why, not "unreachable".
    b, metrics = blocker(am_refuses('matcher value contains unescaped double quote: "ConfluentCloudIncident'),  # type: ignore[arg-type]
                         on_error=on_error)
    with structlog.testing.capture_logs() as logs:
        for _ in range(3):
            verdict = await b.refresh()
    assert verdict.blocked is blocked
    assert verdict.reason.startswith("Alertmanager refused the query (400 Bad Request; check blocking.filters and "
                                     "blocking.receiver): matcher value contains unescaped double quote: "
                                     '"ConfluentCloudIncident;')
    assert "unreachable" not in verdict.reason and "HTTPStatusError" not in verdict.reason
    assert metrics.registry.get_sample_value("watchdog_blocking_checks_total", {"result": result}) == 3
    errors = [e for e in logs if e["log_level"] == "error"]
    assert [e["event"] for e in errors] == ["blocking_query_refused"], "logged once while it persists"
    await b.close()


async def test_a_400_reason_is_one_short_line_whatever_the_body() -> None:
    b, _ = blocker(lambda request: httpx.Response(400, text="bad\nrequest\x1b[31m" + "x" * 5000))  # type: ignore[arg-type]
    reason = (await b.refresh()).reason
    assert "\n" not in reason and "\x1b" not in reason and len(reason) < 400
    await b.close()


async def test_other_error_statuses_are_named_by_their_status() -> None:
    b, _ = blocker(am_refuses("down for maintenance", 503))  # type: ignore[arg-type]
    assert (await b.refresh()).reason.startswith("Alertmanager answered 503 Service Unavailable;")
    await b.close()


def test_a_filter_with_a_long_run_of_spaces_is_checked_at_once() -> None:
    # The parser's pattern, (.*?) then trailing whitespace, backtracked quadratically in a run of
    # spaces inside the value: 2 s for 32,000, half an hour for a filter filling a 1 MiB config,
    # check-config (or a reload, and with it the daemon) held all that while.
    import time

    # CPU seconds of this process, not wall-clock ones: other processes on a loaded machine
    # stretch the latter, never the former (a few ms here, linear; quadratic, seconds).
    started = time.process_time()
    assert matcher_problem("a=x" + " " * 30_000 + "x") is None  # Alertmanager reads spaces inside a value
    assert matcher_problem('a="x' + " " * 30_000 + 'x"   ') is None
    assert matcher_problem('a="x' + " " * 30_000 + '" "') is not None
    assert time.process_time() - started < 0.5
