import pytest

# Fake, test-only values: a test that finds them anywhere it should not has found a leak.
TEST_API_KEY = "TESTKEY0123456789"
TEST_API_SECRET = "test-secret-Zq8xV3nR7tLk2Pw9"


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
