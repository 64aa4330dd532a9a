"""Reading the config: the YAML file (strictly: duplicate keys are errors, secrets are refused),
merged with the environment and secret files, validated, then cross-checked. `load_config` is the
only entry point the daemon uses."""

from __future__ import annotations

import codecs
import errno
import os
import re
import stat
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from pydantic_settings import SettingsError

from .checks import cross_check
from .errors import UNKNOWN_KEY, ConfigError, validation_problems
from .key_hints import unknown_key_message
from .root import ENV_PREFIX, LOG_FORMAT_FLAG, Config
from .sections import SECRET_FIELDS
from .sources import SECRET_FILES_OVERRIDDEN, VALUE_ORIGINS, SourceProblems
from .stray_variables import StrayVariable, named_twice, stray_variables
from .strict_yaml import LIBYAML_TOO_DEEP, StrictLoader

DEFAULT_SECRETS_DIR = Path("/etc/watchdog/secrets")
# Deeper nesting than any valid config has; deeper documents are refused before they reach the
# recursive parts of the YAML composer and the validator (RecursionError, a traceback).
MAX_DEPTH = 32
# The largest config file read, and the most values its document may expand to. A config of a
# thousand rules is some 100 KiB and 30,000 values; the bounds are ten times that and more, and
# keep a typo (a log file given as --config) or an alias "bomb" (a few lines of anchors, each
# repeating the one before ten times, which expand to billions of values) from holding
# check-config, or a reload in the running daemon, for minutes. Aliases within the bound work.
MAX_CONFIG_BYTES = 1024 * 1024
MAX_CONFIG_VALUES = 250_000
# Secrets the YAML file must not hold, by section: they come from the environment or the secrets
# directory only (config files end up in git and ConfigMaps).
_BLOCKING_SECRETS = ("password", "bearer_token")


def load_config(path: str | Path, *, secrets_dir: str | Path | None = None, calls: bool = True,
                log_format_flag: str | None = None) -> Config:
    """Read, merge and validate the config, or raise ConfigError naming every bad value.
    `calls=False`: the Cloud keys and the API token may be missing (cross_check).
    `log_format_flag`: `run --log-format`'s value, which wins over `log.format` (build_config)."""
    if not str(path).strip():
        # Path("") is the working directory: `--config ""` was "config path . is not a file".
        raise ConfigError(repr(str(path)), [("", "no config file named: the path given is empty")])
    path = Path(path)
    return build_config(_read_yaml(path), str(path), secrets_dir=secrets_dir, calls=calls, log_format_flag=log_format_flag)


def build_config(
    data: dict[str, Any],
    source: str,
    *,
    secrets_dir: str | Path | None = None,
    secrets: dict[str, Any] | None = None,
    calls: bool = True,
    log_format_flag: str | None = None,
) -> Config:
    """Validate a parsed YAML document. `secrets` (same shape as the config, e.g.
    {"credentials": {"demo": {...}}}) are for callers that hold them in memory, like the demo's
    fake key; everyone else gets them from the environment or secret files. `log_format_flag`:
    `run --log-format`'s value (Config.log_format_given), said as overriding the file's
    `log.format` where the file has one."""
    problems = _top_level_problems(data) + _secrets_in_yaml(data) + _depth_problems(data) + _misspelt_variables()
    problems += _undecodable_variables()
    if problems:
        raise ConfigError(source, problems)
    if secrets:
        data = _deep_merge(data, secrets)
    directory = _secrets_dir(secrets_dir, source)
    origins, files_overridden = VALUE_ORIGINS.set({}), SECRET_FILES_OVERRIDDEN.set({})
    try:
        config = Config(_secrets_dir=directory, **data)  # type: ignore[call-arg]
    except ValidationError as exc:
        given_by = VALUE_ORIGINS.get()
        in_file = _file_paths(data)
        raise ConfigError(source, [
            (where, f"{what} (from {origin})" if (origin := _given_by(where, given_by)) else what + _made_by(where, given_by, in_file))
            for where, what in validation_problems(exc, Config)
        ]) from None
    except RecursionError:
        raise ConfigError(source, [("", f"the config nests too deeply (more than {MAX_DEPTH} levels)")]) from None
    except SourceProblems as exc:
        raise ConfigError(source, exc.problems) from None
    except SettingsError as exc:
        # Raised for an env value that must be JSON (a list or mapping) and is not.
        field_name = re.search(r'field "(\w+)"', str(exc))
        variable = f"{ENV_PREFIX}{field_name.group(1).upper()}" if field_name else "an environment variable"
        raise ConfigError(
            source, [("", f"{variable}: not valid JSON (lists and mappings set from the environment must be JSON)")]
        ) from None
    else:
        # A value the file has and a variable or secret file overrides: an edit of it in the file
        # (dry_run: true, in an incident) changes nothing, and nothing used to say so.
        given_by = VALUE_ORIGINS.get()
        in_file = _file_paths(data)
        config._overridden = {  # a variable may set a whole list or mapping (WATCHDOG_RULES='[...]')
            where: variable for where, variable in sorted(given_by.items())
            if any(path == where or path.startswith((f"{where}.", f"{where}[")) for path in in_file)
        }
        if log_format_flag is not None:
            # The command line wins over the file and the variables alike: the file's line (or a
            # variable's) then does nothing, and a reload editing it changes nothing either.
            config._log_format_given = log_format_flag
            if "log.format" in in_file:
                config._overridden = dict(sorted({**config._overridden, "log.format": LOG_FORMAT_FLAG}.items()))
        config._secret_files_overridden = SECRET_FILES_OVERRIDDEN.get()
        config._credentials_made_by = {
            name: sorted({origin for where, origin in given_by.items() if where.startswith(f"credentials.{name}.")})
            for name in config.credentials
            if not any(path == f"credentials.{name}" or path.startswith(f"credentials.{name}.") for path in in_file)
        }
    finally:
        VALUE_ORIGINS.reset(origins)
        SECRET_FILES_OVERRIDDEN.reset(files_overridden)
    problems = cross_check(config, calls=calls)
    if problems:
        raise ConfigError(source, [
            (where, f"{what} (from {origin})" if (origin := _given_by(where, given_by)) else what)
            for where, what in problems
        ])
    return config


def _given_by(where: str, given_by: dict[str, str]) -> str | None:
    """The variable or secret file that gave the value at `where`: recorded at that path, or at
    the longest recorded path that holds it. A variable holding JSON is recorded at the section or
    entry it sets (`rules[1].trigger` for WATCHDOG_RULES__1__TRIGGER='{...}'), and a bad value
    inside it was refused by its path alone: the operator searched the file for a cron or a
    credential that was not there."""
    path = where
    while path:
        if path in given_by:
            return given_by[path]
        cut = max(path.rfind("."), path.rfind("["))
        if cut <= 0:
            return None
        path = path[:cut]
    return None


def _made_by(where: str, given_by: dict[str, str], in_file: list[str]) -> str:
    """For a value missing from an entry that only variables or secret files made (a cluster's
    name misspelt in WATCHDOG_CLUSTERS__PORD__KAFKA_CLUSTER_ID): which made it. It was said only as
    "clusters.pord.environment_id: required", of a cluster the file does not have."""
    entry = where.rpartition(".")[0]
    made = sorted(variable for path, variable in given_by.items() if entry and path.startswith(f"{entry}."))
    if not made or any(path == entry or path.startswith((f"{entry}.", f"{entry}[")) for path in in_file):
        return ""
    named = ", ".join(made[:3]) + (f" and {len(made) - 3} more" if len(made) > 3 else "")
    return f" ({entry} is not in the file: made by {named})"


def _file_paths(data: Any) -> list[str]:
    """The path of every value the file gives (`rules[0].dry_run`), as errors and VALUE_ORIGINS
    name them."""
    paths: list[str] = []
    stack: list[tuple[Any, str]] = [(data, "")]
    while stack:
        value, where = stack.pop()
        if isinstance(value, dict) and value:
            stack += [(child, f"{where}.{key}" if where else str(key)) for key, child in value.items()]
        elif isinstance(value, list) and value:
            stack += [(child, f"{where}[{index}]") for index, child in enumerate(value)]
        else:
            paths.append(where)
    return sorted(paths)


def stray_environment() -> list[StrayVariable]:
    """WATCHDOG_* variables in our environment that name no setting (stray_variables.py)."""
    return stray_variables(os.environ, ENV_PREFIX, Config.model_fields)


def ignored_variables() -> list[str]:
    """The stray variables that are not refused: ignored, and worth a warning (check-config, the
    daemon's start)."""
    return [stray.name for stray in stray_environment() if stray.meant is None]


def _misspelt_variables() -> list[tuple[str, str]]:
    return [
        (stray.name, f"names no setting, so it would be ignored; did you mean {stray.meant}?")
        for stray in stray_environment() if stray.meant is not None
    ] + [
        (" and ".join(names), "set one setting (names are read in any letter case) to different values, and which "
                              "one wins is not defined; keep one")
        for names in named_twice(os.environ, ENV_PREFIX)
    ]


def _undecodable_variables() -> list[tuple[str, str]]:
    """The setting variables whose value is not UTF-8 text (written in Latin-1 or Windows-1252: a
    Secret made from a file saved so). Python reads a byte UTF-8 has no character for as a lone
    surrogate, which no encoder takes: check-config said "valid", and `run` ended in a
    UnicodeEncodeError traceback quoting that byte of the secret (as the Basic pair was encoded,
    or libpq's connection string), where a secret file so written is refused by name. Never
    quoted: the value may be a secret. Only the settings' variables: WATCHDOG_CONFIG and
    WATCHDOG_SECRETS_DIR name paths, which may be any bytes."""
    settings = {name.lower() for name in Config.model_fields}
    prefix = ENV_PREFIX.lower()
    return [
        (name, "its value is not UTF-8 text (a byte UTF-8 has no character for: written in Latin-1 or Windows-1252?); "
               "every setting is read as UTF-8; not quoted, since it may be a secret")
        for name, value in sorted(os.environ.items())
        if name.lower().startswith(prefix) and name[len(prefix):].split("__")[0].lower() in settings
        and any("\udc80" <= char <= "\udcff" for char in value)
    ]


def _deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def read_config_head(path: Path) -> tuple[bytes, int]:
    """At most MAX_CONFIG_BYTES and one more byte of a config file (never more: the file may be
    anything), and its size. The loader refuses a file over the bound; the reload watcher
    (reload.file_fingerprint) hashes the same bytes. Raises OSError, also for anything but a
    regular file, checked before the open: the watcher reads it on the event loop, and a FIFO put
    in the config file's place held the open, and the whole daemon (probes, webhooks, restarts)
    with it, until someone wrote to it."""
    if not stat.S_ISREG(path.stat().st_mode):
        raise OSError(errno.EINVAL, "not a regular file", str(path))
    with path.open("rb") as stream:
        head = stream.read(MAX_CONFIG_BYTES + 1)
        return head, max(len(head), os.fstat(stream.fileno()).st_size)


def _read_yaml(path: Path) -> dict[str, Any]:
    source = str(path)
    if not path.exists():
        raise ConfigError(source, [("", f"config file {source} does not exist")])
    if not path.is_file():
        raise ConfigError(source, [("", f"config path {source} is not a file")])
    try:
        raw, size = read_config_head(path)
        if len(raw) > MAX_CONFIG_BYTES:
            raise ConfigError(source, [("", f"config file {source} is {size:,} bytes, more than the 1 MiB "
                                            f"({MAX_CONFIG_BYTES:,} bytes) a config may have; is it the right file?")])
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(source, [("", _not_utf8(raw, exc))]) from None
    except OSError as exc:
        raise ConfigError(source, [("", f"cannot read config file: {exc}")]) from None
    too_deep = f"invalid YAML: nested too deeply (a config needs at most {MAX_DEPTH} levels)"
    try:
        data = _load_bounded(text, source)
    except yaml.YAMLError as exc:
        if getattr(exc, "problem", None) == LIBYAML_TOO_DEEP:
            raise ConfigError(source, [("", too_deep)]) from None
        raise ConfigError(source, [("", _describe_yaml_error(exc, text))]) from None
    except RecursionError:
        raise ConfigError(source, [("", too_deep)]) from None
    if data is None:
        raise ConfigError(source, [("", "config file is empty")])
    if not isinstance(data, dict):
        raise ConfigError(
            source, [("", f"config must be a mapping at the top level, got {type(data).__name__}")]
        )
    for key in data:
        if not isinstance(key, str):
            # PyYAML turns `on:`/`yes:`/`no:` into booleans (YAML 1.1).
            raise ConfigError(source, [(repr(key), "keys must be strings; quote it")])
    return data


# Byte-order marks of the encodings an editor or a shell may save in instead of UTF-8 (Windows
# PowerShell 5's `>` writes UTF-16 LE), longest first: UTF-32 LE's begins with UTF-16 LE's.
_OTHER_BOMS = ((codecs.BOM_UTF32_LE, "UTF-32"), (codecs.BOM_UTF32_BE, "UTF-32"),
               (codecs.BOM_UTF16_LE, "UTF-16"), (codecs.BOM_UTF16_BE, "UTF-16"))


def _not_utf8(raw: bytes, exc: UnicodeDecodeError) -> str:
    """Why the file is not UTF-8, said with the line and column of the first byte that is not
    (as YAML errors are), never the bytes themselves. It was "'utf-8' codec can't decode byte
    0xff in position 0": a byte offset, and for a UTF-16 file no word of its encoding."""
    for bom, encoding in _OTHER_BOMS:
        if raw.startswith(bom):
            return f"the config file is {encoding} text (it starts with {encoding}'s byte-order mark); save it as UTF-8"
    before = raw[:exc.start]
    line = before.count(b"\n") + 1
    column = len(before[before.rfind(b"\n") + 1:].decode("utf-8", errors="replace")) + 1
    return (f"the config file is not UTF-8 text: at line {line}, column {column}, a byte that UTF-8 does not "
            "have there (saved as Latin-1 or Windows-1252?); save it as UTF-8")


def _load_bounded(text: str, source: str) -> Any:
    """yaml.load, with the composed document's size checked before it is built into values. An
    alias is one node of the composed graph however often it is used, and the values built from
    it are shared too; but everything that reads the values afterwards (the checks below,
    validation) walks each use again, so the document is measured as it expands."""
    loader = StrictLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        values = _expanded_values(node)
        if values is None:
            raise ConfigError(source, [("", f"config file {source}: an alias refers to a node that contains it, "
                                            "so the document never ends")])
        if values > MAX_CONFIG_VALUES:
            raise ConfigError(source, [("", f"config file {source} expands to more than {MAX_CONFIG_VALUES:,} values "
                                            f"({values:.3g}, counting each use of an alias), more than any config "
                                            "needs; is an alias repeating a large part many times?")])
        return loader.construct_document(node)
    finally:
        loader.dispose()


def _expanded_values(root: yaml.Node) -> int | None:
    """How many nodes the document has once every alias is replaced by what it refers to, or None
    if an alias refers to one of its own ancestors. Each node is counted once and its count
    reused (an alias is the very node it refers to), so this costs the size of the file, not of
    the expansion; and it walks without recursion, so no nesting can overflow the stack."""
    sizes: dict[int, int] = {}
    ancestors: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        children = _children(node)
        if children_done:
            sizes[key] = 1 + sum(sizes[id(child)] for child in children)
            ancestors.discard(key)
        elif key not in sizes:
            if key in ancestors:
                return None
            ancestors.add(key)
            stack.append((node, True))
            stack.extend((child, False) for child in children if id(child) not in sizes)
    return sizes[id(root)]


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _describe_yaml_error(exc: yaml.YAMLError, document: str = "") -> str:
    def at(mark: yaml.Mark | None) -> str:
        return f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""

    if isinstance(exc, yaml.reader.ReaderError) and isinstance(exc.character, int):
        return _character_not_allowed(exc.character, document)
    problem = getattr(exc, "problem", None) or str(exc)
    mark = getattr(exc, "problem_mark", None)
    lines = document.split("\n")
    if problem == "found character that cannot start any token" and mark is not None and mark.line < len(lines) and \
            lines[mark.line][mark.column:mark.column + 1] == "\t":
        # A tab an editor put in the indentation: the parser names it "character", not tab.
        problem = "found a tab, and YAML indents with spaces only"
    text = f"invalid YAML{at(mark)}: {problem}"
    context = getattr(exc, "context", None)
    if context:
        text += f" ({context}{at(getattr(exc, 'context_mark', None))})"
    return text


_CHARACTER_NAMES = {0x00: "a NUL", 0x07: "a bell", 0x08: "a backspace", 0x1B: "an escape", 0x7F: "a delete"}


def _character_not_allowed(code: int, document: str) -> str:
    """A character YAML refuses in its text (a control character, such as the escape of a
    terminal's colour codes copied with a value, or a NUL): said with its line and column, as
    other YAML errors are, and its code point, never the character itself. The reader said
    'unacceptable character #x001b: control characters are not allowed', then, on a line of its
    own, 'in "<unicode string>", position 551', a count of UTF-8 bytes from the file's start
    (libyaml's). The first such character in the text is the one refused: the reader stops there."""
    at = document.find(chr(code))
    where = ""
    if at >= 0:
        line_start = document.rfind("\n", 0, at) + 1
        where = f" at line {document.count(chr(10), 0, at) + 1}, column {at - line_start + 1}"
    named = _CHARACTER_NAMES.get(code)
    if code < 0x20 or 0x7F <= code <= 0x9F:
        character = f"a control character, U+{code:04X}{f' ({named})' if named else ''},"
    else:
        character = f"the character U+{code:04X}"
    text = f"invalid YAML{where}: {character} is not allowed in YAML text: remove it"
    return text + (" (a terminal's colour codes, copied with a value?)" if code == 0x1B else "")


def _top_level_problems(data: dict[str, Any]) -> list[tuple[str, str]]:
    """Top-level keys are checked by name before anything else sees them. pydantic-settings
    matches them without regard to letter case (so `CREDENTIALS:` or `Server:` would slip past
    the checks below and `dry_run` next to `DRY_RUN` would be decided by their order), and takes
    keys starting with `_` as instructions to itself (`_env_prefix` would silently turn off every
    WATCHDOG_* variable, `_env_file` read a dotenv file, `_cli_parse_args` read the command line)."""
    problems: list[tuple[str, str]] = []
    fields = set(Config.model_fields)
    spellings: dict[str, list[str]] = {}
    for key in data:
        spellings.setdefault(str(key).lower(), []).append(str(key))
    for key in data:
        key = str(key)
        lower = key.lower()
        if key.startswith("_"):
            problems.append((key, "keys starting with '_' are not config options"))
        elif len(spellings[lower]) > 1 and key != lower:
            others = ", ".join(k for k in spellings[lower] if k != key)
            problems.append((key, f"duplicate of {others} (keys are compared without regard to letter case)"))
        elif key not in fields and lower in fields:
            problems.append((key, f"config keys are lower-case: write {lower!r}"))
        elif key not in fields:
            problems.append((key, unknown_key_message(Config, (key,), UNKNOWN_KEY)))
    return problems


def _secrets_in_yaml(data: dict[str, Any]) -> list[tuple[str, str]]:
    """Secrets written in the file, found whatever the letter case of the keys on their path
    (which is how pydantic-settings would have matched them)."""

    def section(mapping: Any, name: str) -> list[tuple[str, Any]]:
        if not isinstance(mapping, dict):
            return []
        return [(str(key), value) for key, value in mapping.items() if str(key).lower() == name]

    def refused(path: str, variable: str) -> tuple[str, str]:
        return (path, f"secrets are not read from the config file; set {ENV_PREFIX}{variable} "
                      "or put it in a file of that name in the secrets directory")

    problems = []
    for server_key, server in section(data, "server"):
        for token_key, _ in section(server, "auth_token"):
            problems.append(refused(f"{server_key}.{token_key}", "SERVER__AUTH_TOKEN"))
    for credentials_key, credentials in section(data, "credentials"):
        if not isinstance(credentials, dict):
            continue
        for name, body in credentials.items():
            for secret in SECRET_FIELDS:
                for secret_key, _ in section(body, secret):
                    problems.append(refused(f"{credentials_key}.{name}.{secret_key}",
                                            f"CREDENTIALS__{str(name).upper()}__{secret.upper()}"))
    for state_key, state in section(data, "state"):
        for password_key, _ in section(state, "password"):
            problems.append(refused(f"{state_key}.{password_key}", "STATE__PASSWORD"))
    for blocking_key, blocking in section(data, "blocking"):
        for secret in _BLOCKING_SECRETS:
            for secret_key, _ in section(blocking, secret):
                problems.append(refused(f"{blocking_key}.{secret_key}", f"BLOCKING__{secret.upper()}"))
    return problems


def _depth_problems(data: dict[str, Any]) -> list[tuple[str, str]]:
    """Walked without recursion, so that the check itself cannot overflow the stack."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_DEPTH:
            return [("", f"the config nests deeper than {MAX_DEPTH} levels; no option needs that")]
        children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
        stack.extend((child, depth + 1) for child in children)
    return []


def secrets_dir(explicit: str | Path | None) -> Path | None:
    """The secrets directory the daemon would read: `explicit` (--secrets-dir), else
    $WATCHDOG_SECRETS_DIR, else /etc/watchdog/secrets when present. ConfigError if one named
    does not exist."""
    return _secrets_dir(explicit, "--secrets-dir")


def _secrets_dir(explicit: str | Path | None, source: str) -> Path | None:
    chosen = explicit or os.environ.get(f"{ENV_PREFIX}SECRETS_DIR")
    path = Path(chosen) if chosen else DEFAULT_SECRETS_DIR
    if path.is_dir():
        return path
    if path.exists():
        # A Secret mounted with subPath: one file where the directory should be. Said so, not
        # "does not exist" (or, at the default path, nothing, and every secret "missing").
        raise ConfigError(source, [("", f"secrets directory {path} is not a directory (a file? mount the Secret as a directory)")])
    if chosen:
        raise ConfigError(source, [("", f"secrets directory {path} does not exist")])
    return None
