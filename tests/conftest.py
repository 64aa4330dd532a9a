import gc
import os
from collections.abc import Iterator

import pytest

# Every server the tests talk to is on loopback, and the daemon honours HTTPS_PROXY and the rest
# (watchdog/clients.py): a proxy set on the machine for package downloads must not route them.
# Loopback is added to NO_PROXY (not the proxies removed), so what does go out keeps its proxy;
# the daemons and tools the tests start inherit it. tests/test_proxy.py sets its own.
LOOPBACK = "127.0.0.1,localhost,::1"
for _name in ("NO_PROXY", "no_proxy"):
    os.environ[_name] = ",".join(filter(None, [os.environ.get(_name, ""), LOOPBACK]))

# The daemon's settings read WATCHDOG_* variables (pydantic-settings), and so does every config a
# test builds, and every daemon a test starts inherits them. A developer's shell that exports one
# (a token for `watchdog status --daemon`, a secrets dir, a dry-run) changed what tests saw: with
# WATCHDOG_SERVER__AUTH_TOKEN set, three of tests/test_docs.py failed with 401s. The suite's own
# knobs (WATCHDOG_PROPERTY_EXAMPLES, WATCHDOG_PROPERTY_SHRINK) are kept; tests that need a
# variable set it themselves (monkeypatch.setenv, or a subprocess's env).
for _name in [name for name in os.environ if name.upper().startswith("WATCHDOG_")]:
    if not _name.upper().startswith("WATCHDOG_PROPERTY_"):
        del os.environ[_name]

# Fake, test-only values: a test that finds them anywhere it should not has found a leak.
TEST_API_KEY = "TESTKEY0123456789"
TEST_API_SECRET = "test-secret-Zq8xV3nR7tLk2Pw9"


@pytest.fixture(autouse=True)
def earlier_tests_heap_frozen() -> Iterator[None]:
    """Leave what earlier tests left alive out of the garbage collector's full passes.

    A full pass walks every object the process holds, and late in the suite most of them are
    earlier tests' (module fixtures, caches, interned data): with gc.callbacks, passes of 0.2 s
    after some 600 tests and of 0.30 to 0.43 s after 1,500 were measured, landing inside the
    tests that run then. On the real clock that is a stall no daemon has: one failed a webhook's
    0.5 s bound (test_api_bounds.py), another the 0.3 s timeout a healthy Kafka Connect worker
    answers within (test_kafka_connect.py), each once in several CI runs. So before each test what
    earlier ones left is collected and then frozen (never walked again); what the test itself
    allocates is collected as usual, full passes included. Freezing only ever holds objects that
    were alive at a test's start; garbage is still freed by reference counting, and only a cycle
    among them that dies later stays for the session."""
    gc.collect()
    gc.freeze()
    yield


@pytest.fixture
def credentials_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The `main` credential, from the environment as in production."""
    monkeypatch.setenv("WATCHDOG_CREDENTIALS__MAIN__API_KEY", TEST_API_KEY)
    monkeypatch.setenv("WATCHDOG_CREDENTIALS__MAIN__API_SECRET", TEST_API_SECRET)
    monkeypatch.delenv("WATCHDOG_SECRETS_DIR", raising=False)


@pytest.fixture(params=["confluent_cloud", "kafka_connect"], ids=["cloud", "self-managed"])
def backend(request: pytest.FixtureRequest) -> str:
    """Tests of rules and guards take this fixture: they run against both backends."""
    return str(request.param)


@pytest.fixture(scope="session")
def postgres_server():  # type: ignore[no-untyped-def]
    """One real PostgreSQL for the session (bench/postgres.py); each test takes a database of it."""
    from bench.postgres import PostgresServer

    server = PostgresServer()
    server.start()
    try:
        yield server
    finally:
        server.destroy()


@pytest.fixture
def postgres_url(postgres_server):  # type: ignore[no-untyped-def]
    """A fresh, empty database on the session's server: its URL (the password is the server's)."""
    url = postgres_server.database()
    yield url
    postgres_server.drop(url)
