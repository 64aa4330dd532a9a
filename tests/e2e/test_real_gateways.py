"""The limiter behind real rate-limiting gateways, not our simulator: nginx's `limit_req` (a leaky
bucket) and HAProxy's stick-table request rate (a sliding counter that also counts the requests it
refuses), each in front of a simulator with no limit of its own, on loopback (bench/real_gateways.py
starts them from Debian's nginx and haproxy packages, installed by scripts/install-test-tools.sh).

Their 429s carry what such gateways send: nothing, a constant `Retry-After: 1` added by the
configuration, or (HAProxy) constant `X-RateLimit-Limit` and `-Reset` added as well. What a user
relies on must hold whatever the gateway: no restart is lost, and crossing a limit we were never
told costs a few 429s, not one per request as a client that retries on 429 pays. The time against
each, and its targets, are benchmark 1d (`python -m bench gateways`, docs/benchmarks.md).
"""

from __future__ import annotations

import pytest

from bench.real_gateways import HaproxyRate, NginxLimitReq, run_daemon, run_naive

from ..test_ratelimit_property import ALONE_429S

pytestmark = pytest.mark.gateways


@pytest.mark.parametrize("retry_after", [False, True], ids=["bare 429", "Retry-After 1"])
async def test_behind_nginx_limit_req_nothing_is_lost_at_a_tenth_of_the_naive_clients_429s(retry_after: bool) -> None:
    daemon = await run_daemon(NginxLimitReq(10, 10, retry_after=retry_after), 100)
    naive = await run_naive(NginxLimitReq(10, 10, retry_after=retry_after), 100)
    assert daemon.lost == 0
    assert naive.refused >= 20, f"the naive client met the limit only {naive.refused} times: no limit to learn"
    # Issue 10's target without rate headers: at most a tenth of the naive client's 429s.
    assert daemon.refused <= naive.refused / 10, (daemon.refused, naive.refused)
    # A leaky bucket refills at its rate from the first refusal: pacing at what was admitted
    # between two 429s is its rate (1.03 x the ideal over 200 restarts, docs/benchmarks.md 1d).
    assert daemon.ratio <= 1.5, f"{daemon.seconds:.1f} s where the key allows {daemon.ideal:.1f} s"


@pytest.mark.parametrize(
    ("retry_after", "mode"), [(False, "never, no Retry-After"), (True, "never")], ids=["bare 429", "Retry-After 1"]
)
async def test_behind_haproxy_request_rate_nothing_is_lost_and_429s_are_few(retry_after: bool, mode: str) -> None:
    run = await run_daemon(HaproxyRate(20, 2, retry_after=retry_after), 60)
    assert run.lost == 0
    # The property test's bounds for a key alone without rate headers (tests/test_ratelimit_property.py).
    assert run.refused <= ALONE_429S[mode], run.refused


async def test_behind_haproxy_that_says_its_limit_on_429_the_backlog_goes_near_the_keys_rate() -> None:
    """The remedy the README gives for a gateway whose 429s say nothing: let them say the limit.
    With a constant `Retry-After: 1` alone, the daemon's first measure of HAProxy's sliding counter
    is the trickle right after the first crossing (one request per second on a key of ten), and
    200 restarts took 4.9 x the ideal (docs/benchmarks.md 1d)."""
    run = await run_daemon(HaproxyRate(20, 2, retry_after=True, limit_header=True), 160)
    assert run.lost == 0
    assert run.refused <= ALONE_429S["on_429"], run.refused
    # The property test's bound for a key alone with any hint, over a backlog of 8 windows.
    assert run.ratio <= 1.5, f"{run.seconds:.1f} s where the key allows {run.ideal:.1f} s"
