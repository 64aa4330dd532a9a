"""The secrets directory: only files named like a setting are read. Other files (a Kubernetes
Secret volume may hold a keystore, a CA bundle, its own `..data` links) are left alone, and a file
that names a setting but cannot be read as text stops every command with exit 2 and its path,
never a traceback and never its content."""

import os
from pathlib import Path

import pytest

from watchdog.cli import main
from watchdog.config import ConfigError, load_config

from .conftest import TEST_API_KEY, TEST_API_SECRET

FIXTURES = Path(__file__).parent / "fixtures" / "configs"
MINIMAL = FIXTURES / "good" / "minimal.yaml"


@pytest.fixture
def no_credentials_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("WATCHDOG_CREDENTIALS__MAIN__API_KEY", "WATCHDOG_CREDENTIALS__MAIN__API_SECRET", "WATCHDOG_SECRETS_DIR"):
        monkeypatch.delenv(name, raising=False)


def _kubernetes_secret_volume(directory: Path, files: dict[str, bytes]) -> None:
    """The layout kubelet makes: the files in a timestamped directory, `..data` linking to it, and
    each key a link through `..data`."""
    stamped = directory / "..2026_12_01_05_00_00.000000001"
    stamped.mkdir(parents=True)
    for name, content in files.items():
        (stamped / name).write_bytes(content)
    (directory / "..data").symlink_to(stamped.name)
    for name in files:
        (directory / name).symlink_to(Path("..data") / name)


def test_other_keys_of_a_secret_volume_are_ignored_and_the_settings_read(tmp_path: Path, no_credentials_env: None) -> None:
    # A binary keystore beside the secrets used to stop the daemon with a UnicodeDecodeError
    # traceback (exit 1), and a large file anywhere in the directory with a misleading error.
    _kubernetes_secret_volume(tmp_path, {
        "WATCHDOG_CREDENTIALS__MAIN__API_KEY": f"{TEST_API_KEY}\n".encode(),
        "WATCHDOG_CREDENTIALS__MAIN__API_SECRET": f"{TEST_API_SECRET}\n".encode(),
        "keystore.p12": bytes(range(256)) * 8,
        "ca.crt": b"-----BEGIN CERTIFICATE-----\n",
    })
    (tmp_path / "truststore.jks").write_bytes(b"\xfe\xed\xfe\xed" + b"\x00" * (17 * 1024 * 1024))
    config = load_config(MINIMAL, secrets_dir=tmp_path)
    credential = config.credentials["main"]
    assert credential.api_key is not None and credential.api_key.get_secret_value() == TEST_API_KEY
    assert credential.api_secret is not None and credential.api_secret.get_secret_value() == TEST_API_SECRET


def test_files_naming_settings_that_cannot_be_read_are_refused_together_by_path(
    tmp_path: Path, credentials_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "WATCHDOG_SERVER__AUTH_TOKEN").write_bytes(b"\xff\xfetoken-Zq8xV3nR7tLk2Pw9\x80")
    (tmp_path / "watchdog_state__password").mkdir()
    os.mkfifo(tmp_path / "WATCHDOG_BLOCKING__PASSWORD")  # would block an open for ever
    (tmp_path / "WATCHDOG_LOG__LEVEL").write_text("x" * (65 * 1024))
    with pytest.raises(ConfigError) as caught:
        load_config(MINIMAL, secrets_dir=tmp_path)
    assert sorted(caught.value.problems) == [
        ("", f"secret file {tmp_path / 'WATCHDOG_BLOCKING__PASSWORD'} is not a regular file"),
        ("", f"secret file {tmp_path / 'WATCHDOG_LOG__LEVEL'} is larger than 64 KiB, more than any setting holds; "
             "is it a secret of this daemon?"),
        ("", f"secret file {tmp_path / 'WATCHDOG_SERVER__AUTH_TOKEN'} is not UTF-8 text; files named like a setting "
             "(WATCHDOG_SERVER__AUTH_TOKEN) hold its value as text"),
        ("", f"secret file {tmp_path / 'watchdog_state__password'} cannot be read (Is a directory)"),
    ]
    for command in (["check-config"], ["run", "--once"]):
        assert main([*command, "--config", str(MINIMAL), "--secrets-dir", str(tmp_path)]) == 2
        shown = capsys.readouterr()
        assert f"secret file {tmp_path / 'WATCHDOG_SERVER__AUTH_TOKEN'} is not UTF-8 text" in shown.err
        assert "Traceback" not in shown.err and "Zq8xV3nR7tLk2Pw9" not in shown.out + shown.err


def test_a_secret_file_named_like_a_setting_misspelt_is_refused_with_the_name_it_meant(
    tmp_path: Path, no_credentials_env: None
) -> None:
    # WATCHDOG_DRYRUN=true as a variable is refused ("did you mean WATCHDOG_DRY_RUN?"); as a file
    # of the secrets directory it was passed over without a word, and the daemon sent real
    # restarts (found 2026-12-06). Names of no setting at all stay none of our business.
    (tmp_path / "WATCHDOG_CREDENTIALS__MAIN__API_KEY").write_text(TEST_API_KEY)
    (tmp_path / "WATCHDOG_CREDENTIALS__MAIN__API_SECRET").write_text(TEST_API_SECRET)
    (tmp_path / "WATCHDOG_DRYRUN").write_text("true")
    (tmp_path / "WATCHDOG_LOG_LEVEL").write_text("DEBUG")
    (tmp_path / "WATCHDOG_KEYSTORE_P12").write_bytes(b"\x00\x01")
    with pytest.raises(ConfigError) as caught:
        load_config(MINIMAL, secrets_dir=tmp_path)
    assert sorted(caught.value.problems) == [
        ("", f"secret file {tmp_path / 'WATCHDOG_DRYRUN'} names no setting, so it would be ignored; did you mean "
             "WATCHDOG_DRY_RUN?"),
        ("", f"secret file {tmp_path / 'WATCHDOG_LOG_LEVEL'} names no setting, so it would be ignored; did you mean "
             "WATCHDOG_LOG__LEVEL?"),
    ]
    (tmp_path / "WATCHDOG_DRYRUN").unlink()
    (tmp_path / "WATCHDOG_LOG_LEVEL").unlink()
    assert load_config(MINIMAL, secrets_dir=tmp_path).dry_run is False


def test_a_byte_order_mark_is_no_part_of_a_secret(tmp_path: Path, no_credentials_env: None) -> None:
    # A file saved by a Windows editor: check-config said "set", and every call was answered 401.
    (tmp_path / "WATCHDOG_CREDENTIALS__MAIN__API_KEY").write_bytes(b"\xef\xbb\xbf" + TEST_API_KEY.encode() + b"\r\n")
    (tmp_path / "WATCHDOG_CREDENTIALS__MAIN__API_SECRET").write_text(TEST_API_SECRET)
    credential = load_config(MINIMAL, secrets_dir=tmp_path).credentials["main"]
    assert credential.api_key is not None and credential.api_key.get_secret_value() == TEST_API_KEY


BLOCKING = """credentials:
  main: {}
clusters:
  prod: {environment_id: env-abc123, kafka_cluster_id: lkc-xyz789}
blocking: {alertmanager_url: "http://127.0.0.1:9093", auth: bearer}
"""


def test_secrets_that_cannot_go_into_a_header_are_refused_by_path_without_their_value(
    tmp_path: Path, credentials_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    # A token of two lines reached httpx, whose error quoted the header, token and all, into
    # every blocking reason and log line; a non-ASCII one passed check-config and never worked.
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "WATCHDOG_BLOCKING__BEARER_TOKEN").write_text("TOPSECRETTOKEN-line1\nTOPSECRET-line2\n")
    (secrets / "WATCHDOG_SERVER__AUTH_TOKEN").write_text("tökentökentökentöken")
    config = tmp_path / "config.yaml"
    config.write_text(BLOCKING)
    with pytest.raises(ConfigError) as caught:
        load_config(config, secrets_dir=secrets)
    assert sorted(caught.value.problems) == [
        ("blocking.bearer_token",
         "holds a control character (a line break or tab inside it?); a secret file must hold the secret alone "
         "(from secret file WATCHDOG_BLOCKING__BEARER_TOKEN)"),
        ("server.auth_token",
         "must be printable ASCII without spaces: it is sent as it is in an HTTP header (e.g. `openssl rand -hex 32`) "
         "(from secret file WATCHDOG_SERVER__AUTH_TOKEN)"),
    ]
    assert main(["check-config", "--config", str(config), "--secrets-dir", str(secrets)]) == 2
    shown = capsys.readouterr()
    assert "TOPSECRET" not in shown.out + shown.err and "töken" not in shown.out + shown.err


def test_two_secret_files_naming_one_setting_in_another_letter_case_are_refused(
    tmp_path: Path, no_credentials_env: None
) -> None:
    # Files are read in any letter case: beside WATCHDOG_..._API_KEY, a stale watchdog_..._api_key
    # with another value won (it sorts last), and nothing said which key was in use.
    (tmp_path / "WATCHDOG_CREDENTIALS__MAIN__API_KEY").write_text(f"{TEST_API_KEY}\n")
    (tmp_path / "watchdog_credentials__main__api_key").write_text("OLDKEY0123456789\n")
    (tmp_path / "WATCHDOG_CREDENTIALS__MAIN__API_SECRET").write_text(f"{TEST_API_SECRET}\n")
    with pytest.raises(ConfigError) as caught:
        load_config(MINIMAL, secrets_dir=tmp_path)
    assert caught.value.problems == [
        ("", f"secret files {tmp_path / 'WATCHDOG_CREDENTIALS__MAIN__API_KEY'} and "
             f"{tmp_path / 'watchdog_credentials__main__api_key'} name the same setting, in another letter case, "
             "with different values; keep one"),
    ]
    (tmp_path / "watchdog_credentials__main__api_key").write_text(f"{TEST_API_KEY}")  # the same value: no doubt
    assert load_config(MINIMAL, secrets_dir=tmp_path).credentials["main"].api_key is not None


def test_a_user_name_holding_a_colon_is_refused_without_quoting_it(
    tmp_path: Path, no_credentials_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    # The pair KEY:SECRET put in the key's file (as some tools print a key): check-config said
    # "api_key: set" and every call was answered 401, since HTTP Basic splits user:password at the
    # first ':'. A worker's user and Alertmanager's username likewise.
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "WATCHDOG_CREDENTIALS__MAIN__API_KEY").write_text("PAIRKEY0123:pair-secret-Zq8xV3nR7\n")
    (secrets / "WATCHDOG_CREDENTIALS__MAIN__API_SECRET").write_text("pair-secret-Zq8xV3nR7\n")
    config = tmp_path / "config.yaml"
    config.write_text(MINIMAL.read_text() + "blocking: {alertmanager_url: 'http://am:9093', auth: basic, username: 'am:user'}\n")
    (secrets / "WATCHDOG_BLOCKING__PASSWORD").write_text("am-password-0123\n")
    with pytest.raises(ConfigError) as caught:
        load_config(config, secrets_dir=secrets)
    assert sorted(where for where, _ in caught.value.problems) == ["blocking.username", "credentials.main.api_key"]
    assert all(what.startswith("holds a ':', which no user name sent with HTTP Basic can") for _, what in caught.value.problems)
    assert main(["check-config", "--config", str(config), "--secrets-dir", str(secrets)]) == 2
    shown = capsys.readouterr()
    assert "credentials.main.api_key: holds a ':'" in shown.err and "(from secret file WATCHDOG_CREDENTIALS__MAIN__API_KEY)" in shown.err
    assert "PAIRKEY" not in shown.out + shown.err and "pair-secret" not in shown.out + shown.err


def test_a_secret_swapped_by_the_kubelet_while_it_is_read_is_read_new(
    tmp_path: Path, no_credentials_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The kubelet rotates a Secret volume by writing a new timestamped directory, pointing `..data`
    # at it and removing the old one. A read that had resolved a key's link just before the swap
    # opened the path inside the removed directory: "cannot be read (No such file or directory)".
    # The file watcher had already taken the new fingerprint, so it never tried again: the rotated
    # key or token stayed unapplied (401s) until someone sent SIGHUP.
    import shutil

    key = "WATCHDOG_CREDENTIALS__MAIN__API_KEY"
    _kubernetes_secret_volume(tmp_path, {key: b"old-key-0123456789\n",
                                         "WATCHDOG_CREDENTIALS__MAIN__API_SECRET": f"{TEST_API_SECRET}\n".encode()})
    real_resolve = Path.resolve

    def resolve_then_swap(self: Path, strict: bool = False) -> Path:
        resolved = real_resolve(self, strict=strict)
        if self.name == key and not (tmp_path / "..2026_12_02_05_00_00.000000001").exists():
            old = real_resolve(tmp_path / "..data")
            new = tmp_path / "..2026_12_02_05_00_00.000000001"
            shutil.copytree(old, new)
            (new / key).write_bytes(b"new-key-0123456789\n")
            (tmp_path / "..data_tmp").symlink_to(new.name)
            os.replace(tmp_path / "..data_tmp", tmp_path / "..data")
            shutil.rmtree(old)
        return resolved

    monkeypatch.setattr(Path, "resolve", resolve_then_swap)
    credential = load_config(MINIMAL, secrets_dir=tmp_path).credentials["main"]
    assert credential.api_key is not None and credential.api_key.get_secret_value() == "new-key-0123456789"


@pytest.mark.parametrize("separator", ["\u2028", "\u2029"], ids=["U+2028", "U+2029"])
def test_a_secret_holding_a_line_separator_is_refused_by_path_without_its_value(
    tmp_path: Path, credentials_env: None, capsys: pytest.CaptureFixture[str], separator: str
) -> None:
    # str.splitlines breaks a line there: a database's error quoting such a password was cut to
    # its first line, inside the password, and its first part was printed by `run`, `status`
    # and `history` and answered by /readyz (tests/test_database_secrets.py). No credential holds one.
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "WATCHDOG_STATE__PASSWORD").write_text(f"TOPSECRET-part1{separator}TOPSECRET-part2\n")
    config = tmp_path / "config.yaml"
    config.write_text(MINIMAL.read_text() + "state: {url: \"postgresql://watchdog@db.example:5432/watchdog\"}\n")
    with pytest.raises(ConfigError) as caught:
        load_config(config, secrets_dir=secrets)
    assert caught.value.problems == [
        ("state.password", "holds a line or paragraph separator (U+2028 or U+2029), which no credential holds; "
                           "a secret file must hold the secret alone (from secret file WATCHDOG_STATE__PASSWORD)"),
    ]
    assert main(["check-config", "--config", str(config), "--secrets-dir", str(secrets)]) == 2
    shown = capsys.readouterr()
    assert "TOPSECRET" not in shown.out + shown.err


def test_a_secret_too_short_to_be_starred_is_refused_by_path_without_its_value(
    tmp_path: Path, no_credentials_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    # Shorter than 3 characters, a secret is not looked for in the log, the history or the API's
    # answers (every `a` or `12` would be starred): a worker password `pw` echoed in its refusal
    # was kept as it came (`F3_secret=pw`), while the docs said a shorter secret was starred where
    # it stands alone. Refused, as the config's other secrets that could not be kept out are.
    from watchdog.config.secret_values import MIN_SECRET_CHARS
    from watchdog.logs import MIN_TOKEN_CHARS

    assert MIN_SECRET_CHARS == MIN_TOKEN_CHARS  # what the config refuses, the log would not star
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "WATCHDOG_CREDENTIALS__MAIN__API_KEY").write_text(TEST_API_KEY)
    (secrets / "WATCHDOG_CREDENTIALS__MAIN__API_SECRET").write_text("Qz\n")
    (secrets / "WATCHDOG_STATE__PASSWORD").write_text("Q")
    (secrets / "WATCHDOG_BLOCKING__BEARER_TOKEN").write_text("Qy")
    config = tmp_path / "config.yaml"
    config.write_text(BLOCKING + "state: {url: \"postgresql://watchdog@db.example:5432/watchdog\"}\n")
    with pytest.raises(ConfigError) as caught:
        load_config(config, secrets_dir=secrets)
    refused = ("characters long; a secret shorter than 3 cannot be told apart from ordinary text, so it could not be "
               "kept out of the log and the history: use a longer one")
    assert sorted(caught.value.problems) == [
        ("blocking.bearer_token", f"is 2 {refused} (from secret file WATCHDOG_BLOCKING__BEARER_TOKEN)"),
        ("credentials.main.api_secret", f"is 2 {refused} (from secret file WATCHDOG_CREDENTIALS__MAIN__API_SECRET)"),
        ("state.password", f"is 1 {refused} (from secret file WATCHDOG_STATE__PASSWORD)"),
    ]
    assert main(["check-config", "--config", str(config), "--secrets-dir", str(secrets)]) == 2
    shown = capsys.readouterr()
    assert "Qz" not in shown.out + shown.err and "Qy" not in shown.out + shown.err
