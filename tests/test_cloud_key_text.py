"""A Confluent Cloud key id or secret holding what none holds (quotes, a space) is refused by its
field at check-config and at start, never quoted: a probe's `WATCHDOG_CREDENTIALS__MAIN__API_KEY`
set with its quotes (an env file, a Deployment's `value:` copied with them) and a secret pasted
with a space in it passed check-config, and the API received the key with its quotes: every call
could only be answered 401. A self-managed worker's password may hold anything: not refused."""

from pathlib import Path

import pytest

from watchdog.cli import main
from watchdog.config import ConfigError, load_config

from .conftest import TEST_API_KEY, TEST_API_SECRET

MINIMAL = Path(__file__).parent / "fixtures" / "configs" / "good" / "minimal.yaml"
KEY, SECRET = "WATCHDOG_CREDENTIALS__MAIN__API_KEY", "WATCHDOG_CREDENTIALS__MAIN__API_SECRET"
QUOTED = ("is wrapped in quotes ({q}...{q}), which no Confluent Cloud key id or secret holds: they came with the "
          "value (an env file, a Deployment's `value:` copied with them); set it without them")
SPACE = ("holds a space inside it, which no Confluent Cloud key id or secret holds (pasted with a space, or cut in "
         "two?): every call would be answered 401; set the value alone")


# Each value came from its variable, and says so (as a value validation refuses does).
FROM_KEY, FROM_SECRET = f" (from {KEY})", f" (from {SECRET})"


@pytest.mark.parametrize(("key", "secret", "expected"), [
    (f'"{TEST_API_KEY}"', f"'{TEST_API_SECRET}'",
     [("credentials.main.api_key", QUOTED.format(q='"') + FROM_KEY),
      ("credentials.main.api_secret", QUOTED.format(q="'") + FROM_SECRET)]),
    (TEST_API_KEY, f"{TEST_API_SECRET[:4]} {TEST_API_SECRET[4:]}", [("credentials.main.api_secret", SPACE + FROM_SECRET)]),
    (f'{TEST_API_KEY}"', TEST_API_SECRET,
     [("credentials.main.api_key", "holds a quote (\"), which no Confluent Cloud key id or secret holds: was it "
                                   "copied with them? Set the value alone" + FROM_KEY)]),
], ids=["quoted from the environment", "a space inside the secret", "a stray quote"])
def test_a_cloud_key_or_secret_holding_quotes_or_a_space_is_refused_by_field(
    key: str, secret: str, expected: list[tuple[str, str]], monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv(KEY, key)
    monkeypatch.setenv(SECRET, secret)
    with pytest.raises(ConfigError) as caught:
        load_config(MINIMAL)  # as `run` loads it at start
    assert sorted(caught.value.problems) == expected
    assert main(["check-config", "--config", str(MINIMAL)]) == 2
    err = capsys.readouterr().err
    for path, message in expected:
        assert path in err and message in err
    assert TEST_API_SECRET[4:] not in err and TEST_API_KEY not in err  # never the value


def test_a_self_managed_workers_password_with_a_space_or_quotes_is_taken(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("credentials:\n  workers: {}\nclusters:\n  onprem:\n    backend: kafka_connect\n"
                      "    urls: [\"https://connect.example:8083\"]\n    credential: workers\n"
                      "rules:\n  - name: heal\n    trigger: {type: status}\n    select: {include: [\"*\"]}\n")
    monkeypatch.setenv("WATCHDOG_CREDENTIALS__WORKERS__API_KEY", "connect-admin")
    monkeypatch.setenv("WATCHDOG_CREDENTIALS__WORKERS__API_SECRET", 'pass "phrase" with spaces')
    loaded = load_config(config)
    assert loaded.credentials["workers"].api_secret is not None
    assert loaded.credentials["workers"].api_secret.get_secret_value() == 'pass "phrase" with spaces'
