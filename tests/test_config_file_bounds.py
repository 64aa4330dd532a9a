"""The config file is read within bounds: at most 1 MiB, and a document that expands (through
aliases) to at most 250,000 values. Beyond them check-config, `run` and a reload refuse it at once,
naming the file, instead of reading or walking it for seconds to hours."""

import re
from pathlib import Path

import pytest

from watchdog.cli import main
from watchdog.config import ConfigError, load_config

MIB = 1024 * 1024  # the documented limit
HEAD = """\
credentials: {main: {}}
clusters: {prod: {environment_id: env-abc123, kafka_cluster_id: lkc-xyz789}}
"""


def _bomb(levels: int) -> str:
    """Anchors each repeating the one before ten times: a few hundred bytes, 10**levels values."""
    lines = ['    - &l0 ["x", "x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    for level in range(1, levels):
        lines.append(f"    - &l{level} [" + ", ".join([f"*l{level - 1}"] * 10) + "]")
    return "\n".join(lines)


def test_an_alias_bomb_in_a_valid_place_is_refused_naming_the_file_and_shared_lists_still_work(
    tmp_path: Path, credentials_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    # 10**6 connector names from 400 bytes: it used to be validated and accepted (10**9, the
    # audit's, hung check-config for good).
    path = tmp_path / "bomb.yaml"
    path.write_text(HEAD + "rules:\n  - name: heal\n    trigger: {type: status}\n    select:\n      connectors: &all\n"
                    + _bomb(6).replace("    - ", "        - ") + "\n")
    assert path.stat().st_size < 1024
    assert main(["check-config", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert re.search(rf"config file {re.escape(str(path))} expands to more than 250,000 values \(1\.\d+e\+06, "
                     r"counting each use of an alias\)", err)
    assert "Traceback" not in err
    # One list of 5,000 connector names shared by twenty rules: 100,000 values once expanded.
    names = ", ".join(f"sink-{i}" for i in range(5000))
    rules = "".join(f"  - name: r{i}\n    trigger: {{type: status}}\n    select: {{connectors: *sinks}}\n" for i in range(1, 20))
    path.write_text(HEAD + f"rules:\n  - name: r0\n    trigger: {{type: status}}\n    select: {{connectors: &sinks [{names}]}}\n" + rules)
    config = load_config(path)
    assert len(config.rules) == 20 and all(len(rule.select.connectors) == 5000 for rule in config.rules)


@pytest.mark.timeout(30)  # the walk of the expanded values it replaced never ended
def test_a_bomb_of_a_billion_values_is_refused_at_once(tmp_path: Path, credentials_env: None) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_text(HEAD + "rules:\n  - name: heal\n    trigger: {type: status}\n    select:\n      connectors:\n"
                    + _bomb(9).replace("    - ", "        - ") + "\n")
    with pytest.raises(ConfigError, match=r"expands to more than 250,000 values \(1\.\d+e\+09"):
        load_config(path)


def test_an_alias_that_contains_itself_is_refused(tmp_path: Path, credentials_env: None) -> None:
    path = tmp_path / "loop.yaml"
    path.write_text(HEAD + "rules: &rules\n  - *rules\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.problems == [("", f"config file {path}: an alias refers to a node that contains it, so the document never ends")]


def test_a_file_over_one_mebibyte_is_refused_and_one_just_under_is_read(
    tmp_path: Path, credentials_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    # It used to be read (12 MB took 21 s) and accepted: here, comments after a valid config.
    path = tmp_path / "big.yaml"
    padding = "# " + "x" * 97 + "\n"
    path.write_text(HEAD + padding * (MIB // len(padding) + 1))
    assert main(["check-config", "--config", str(path)]) == 2
    size = path.stat().st_size
    assert (f"config file {path} is {size:,} bytes, more than the 1 MiB (1,048,576 bytes) a config may have"
            in capsys.readouterr().err)
    path.write_text(HEAD + padding * ((MIB - len(HEAD)) // len(padding)))
    assert path.stat().st_size <= MIB
    assert load_config(path).clusters


def test_yaml_merge_keys_work_and_a_mappings_own_keys_win(tmp_path: Path, credentials_env: None) -> None:
    # `<<: *defaults` was refused with "could not determine a constructor for the tag
    # 'tag:yaml.org,2002:merge'": the check for duplicate keys built the merge key itself.
    config = tmp_path / "config.yaml"
    config.write_text(
        "credentials:\n  main: {}\n"
        "clusters:\n"
        "  prod: &cluster {environment_id: env-abc123, kafka_cluster_id: lkc-xyz789}\n"
        "  side:\n    <<: *cluster\n    kafka_cluster_id: lkc-other1\n"
    )
    clusters = load_config(config).clusters
    assert {name: (c.environment_id, c.kafka_cluster_id) for name, c in clusters.items()} == {
        "prod": ("env-abc123", "lkc-xyz789"), "side": ("env-abc123", "lkc-other1")}
    config.write_text(config.read_text() + "    kafka_cluster_id: lkc-again1\n")
    with pytest.raises(ConfigError, match="duplicate key 'kafka_cluster_id'"):
        load_config(config)


def test_two_merge_keys_in_one_mapping_are_refused_as_a_duplicate_key(tmp_path: Path, credentials_env: None) -> None:
    # Both were applied, the last one winning without a word: `dr` took staging's environment,
    # not prod's written first. A key written twice is refused like any other.
    config = tmp_path / "config.yaml"
    head = ("credentials:\n  main: {}\n"
            "clusters:\n"
            "  prod: &prod {environment_id: env-prod01, kafka_cluster_id: lkc-prod01}\n"
            "  staging: &staging {environment_id: env-stag01, kafka_cluster_id: lkc-stag01}\n"
            "  dr:\n")
    config.write_text(head + "    <<: *prod\n    <<: *staging\n    kafka_cluster_id: lkc-dr0001\n")
    with pytest.raises(ConfigError) as caught:
        load_config(config)
    assert ("invalid YAML at line 8, column 5: duplicate key '<<' (first at line 7); write one merge key, "
            "with a list of the mappings it merges (`<<: [*first, *second]`)") in str(caught.value), caught.value


def test_of_mappings_merged_by_a_list_the_first_one_listed_wins(tmp_path: Path, credentials_env: None) -> None:
    # YAML's merge key: "keys in mapping nodes earlier in the sequence override keys specified in
    # later mapping nodes". PyYAML 6.0.4 lets the last one win for keys longer than a character
    # (yaml/pyyaml#953): `dr` watched staging's environment.
    config = tmp_path / "config.yaml"
    config.write_text(
        "credentials:\n  main: {}\n"
        "clusters:\n"
        "  prod: &prod {environment_id: env-prod01, kafka_cluster_id: lkc-prod01}\n"
        "  staging: &staging {environment_id: env-stag01, kafka_cluster_id: lkc-stag01, credential: main}\n"
        "  dr:\n    <<: [*prod, *staging]\n    kafka_cluster_id: lkc-dr0001\n"
    )
    dr = load_config(config).clusters["dr"]
    assert (dr.environment_id, dr.kafka_cluster_id, dr.credential) == ("env-prod01", "lkc-dr0001", "main")


def test_a_file_not_in_utf8_is_refused_saying_its_encoding_or_where_it_stops_being_utf8(
    tmp_path: Path, credentials_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    # Windows PowerShell 5's `>` writes UTF-16, and Notepad may save Windows-1252: both were
    # refused with "'utf-8' codec can't decode byte 0xff in position 0: invalid start byte", a
    # byte offset and no word of what the file was.
    text = HEAD + "# owner: Zoë, café team\n"
    path = tmp_path / "config.yaml"
    path.write_bytes(text.encode("utf-16"))
    assert main(["check-config", "--config", str(path)]) == 2
    assert "the config file is UTF-16 text (it starts with UTF-16's byte-order mark); save it as UTF-8" in capsys.readouterr().err
    path.write_bytes(text.encode("cp1252"))
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.problems == [("", "the config file is not UTF-8 text: at line 3, column 12, a byte that UTF-8 does "
                                          "not have there (saved as Latin-1 or Windows-1252?); save it as UTF-8")]
    path.write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode())  # UTF-8 with a BOM and CRLF: read
    assert load_config(path).clusters
