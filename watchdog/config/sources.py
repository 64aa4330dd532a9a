"""Where values come from, and how they are layered: the YAML document, then secret files, then
the environment, each overriding the one before.

pydantic-settings merges its sources with a deep update that knows only mappings: a variable that
names an entry of a list (`WATCHDOG_RULES__0__DRY_RUN`) arrives as a mapping {"0": {...}} and
replaced the whole list of the file, so that every config became invalid ("rules: Input should be
a valid list") without a word about the variable. pydantic-settings documents no support for
indexing into lists from the environment (pydantic/pydantic-settings#376 is an open request), so
the sources are layered here instead: an entry named by its position is merged into that entry of
the list below it, and a position the list does not have is an error naming the variable."""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import types
from collections.abc import Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic_settings import BaseSettings, NestedSecretsSettingsSource, PydanticBaseSettingsSource

from .stray_variables import stray_variables

_INDEX = re.compile(r"0|[1-9][0-9]*")  # no leading zeros: `00` and `0` would name one entry twice
# The longest secret file read: no key, token or password comes near it. Longer is refused, not
# read (the file may be anything).
MAX_SECRET_FILE_BYTES = 64 * 1024
_ABSENT: Any = object()

Shape = Literal["list", "mapping", "scalar"]


# Which variable or secret file gave each value of the config last built in this context, by the
# path a ConfigError names it by (`rules[0].dry_run` -> `WATCHDOG_RULES__0__DRY_RUN`): a problem
# with such a value says where it came from. `WATCHDOG_DRY_RUN=` (empty) was refused as
# "dry_run: Input should be a valid boolean" beside a file whose `dry_run: true` was fine.
VALUE_ORIGINS: ContextVar[dict[str, str]] = ContextVar("VALUE_ORIGINS")
# The secret files whose value a variable of the same setting overrides, by the file's name
# ({"WATCHDOG_SERVER__AUTH_TOKEN": "WATCHDOG_SERVER__AUTH_TOKEN"}): a rotated Secret, its file
# updated and SIGHUP sent as the runbook says, changed nothing ("unchanged: true") while a
# variable left in the Deployment held the old token, and nothing said why.
SECRET_FILES_OVERRIDDEN: ContextVar[dict[str, str]] = ContextVar("SECRET_FILES_OVERRIDDEN")


class SourceProblems(Exception):
    """Values the sources could not hand to validation, as (where, message) like ConfigError's."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{where}: {what}" if where else what for where, what in problems))


class Layer:
    """One source, and how to name a value it gave (`WATCHDOG_RULES__0__DRY_RUN`, or the secret
    file of that name) in an error."""

    def __init__(self, source: PydanticBaseSettingsSource, prefix: str | None, kind: str) -> None:
        self.source = source
        self.prefix = prefix  # None: the YAML document, whose values are named by their path
        self.kind = kind

    def name(self, path: tuple[str | int, ...]) -> str:
        if self.prefix is None:
            return _location(path)
        variable = self.prefix + "__".join(str(part).upper() for part in path)
        return variable if self.kind == "environment" else f"secret file {variable}"

    def named_by(self, path: tuple[str | int, ...]) -> str:
        """The variable (or secret file) that gave the value at `path`: a section's own, where
        one set the whole section as JSON. Named by the path alone, `WATCHDOG_SERVER='{"port":
        1234}'` was said to be `WATCHDOG_SERVER__PORT`, a variable nobody had set."""
        names: dict[str, str] | None = getattr(self.source, "env_vars", None)
        if self.prefix is not None and names:
            for cut in range(1, len(path)):
                if (self.prefix + "__".join(str(part) for part in path[:cut])).lower() in names:
                    return self.name(path[:cut])
        return self.name(path)


class LayeredSources(PydanticBaseSettingsSource):
    """The layers, lowest priority last, merged into one mapping for validation."""

    def __init__(self, settings_cls: type[BaseSettings], layers: list[Layer]) -> None:
        super().__init__(settings_cls)
        self.layers = layers

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # not used: __call__ reads the layers themselves

    def __call__(self) -> dict[str, Any]:
        problems: list[tuple[str, str]] = []
        merged: dict[str, Any] = {}
        origins: dict[str, str] = {}
        files_overridden: dict[str, str] = {}
        for layer in reversed(self.layers):
            problems += _whole_and_entry_both_set(self.settings_cls, layer)
            given = {**layer.source(), **_nulls(self.settings_cls, layer)}
            merged = _overlay(self.settings_cls, merged, given, (), layer, problems, in_entry=False)
            if layer.prefix is None:
                continue
            # A later layer's value overrides, and names itself. A layer that gives nothing has no
            # value at all: taken as one at the root, an empty secrets directory beside no WATCHDOG_
            # variable said `secret file WATCHDOG_ is overridden by the variable WATCHDOG_` at every start.
            for leaf in _leaves(given, ()) if given else ():
                where, name = _location(_with_positions(leaf)), layer.named_by(leaf)
                earlier = origins.get(where, "")
                if layer.kind == "environment" and earlier.startswith("secret file "):
                    files_overridden[earlier.removeprefix("secret file ")] = name
                origins[where] = name
        VALUE_ORIGINS.set(origins)
        SECRET_FILES_OVERRIDDEN.set(files_overridden)
        if problems:
            raise SourceProblems(problems)
        return merged


class SecretFiles(NestedSecretsSettingsSource):
    """The secrets directory: a file named like a setting (`WATCHDOG_CREDENTIALS__MAIN__API_KEY`,
    in any letter case) holds its value. Only those files are read. A Kubernetes Secret volume or
    a shared directory may hold other keys (a keystore.p12, a CA bundle, Kubernetes' own `..data`
    links), which are none of our business: pydantic-settings read every file as UTF-8 text, so
    one binary file beside the secrets stopped the daemon with a traceback, and their sizes
    counted against its limit for the directory. A file that does name a setting and cannot be
    read as text is refused by its path, never with its content."""

    def validate_secrets_path(self, path: Path) -> None:
        # Whether the directory exists is checked by the loader, which names it; sizes are
        # checked per file read, below, so that files not read cost nothing.
        pass

    def _load_env_vars(self) -> Mapping[str, str | None]:
        self.env_parse_none_str = None  # as NestedSecretsSettingsSource: a file's text is its value
        fields = {name.lower() for name in self.settings_cls.model_fields}
        prefix = self.secrets_prefix.lower()
        problems: list[tuple[str, str]] = []
        values: dict[str, str | None] = {}
        read_from: dict[str, Path] = {}  # the file each value came from, by the setting it names
        for directory in self.secrets_paths:
            try:
                entries = sorted(directory.iterdir())
            except OSError as exc:
                problems.append(("", f"secrets directory {directory} cannot be listed ({exc.strerror or exc})"))
                continue
            for entry in entries:
                name = entry.name.lower()
                if not name.startswith(prefix):
                    continue
                if name[len(prefix):].split("__")[0] not in fields:
                    # A setting's name misspelt (`WATCHDOG_DRYRUN` for `WATCHDOG_DRY_RUN`) was
                    # passed over without a word, and the daemon sent real restarts; the same
                    # name as a variable is refused. Other names are not ours to judge.
                    for stray in stray_variables({entry.name: ""}, self.secrets_prefix, self.settings_cls.model_fields):
                        if stray.meant is not None:
                            problems.append(("", f"secret file {entry} names no setting, so it would be ignored; did "
                                                 f"you mean {stray.meant}?"))
                    continue
                text = _read_secret_file(directory, entry, problems)
                key = entry.name if self.case_sensitive else name
                if key in read_from and text is not None and values.get(key) != text.strip():
                    # Two files name one setting in another letter case (WATCHDOG_X beside
                    # watchdog_x): whichever sorted last won, without a word.
                    problems.append(("", f"secret files {read_from[key]} and {entry} name the same setting, in another "
                                         "letter case, with different values; keep one"))
                    continue
                if text is not None:
                    values[key] = text.strip()
                    read_from[key] = entry
        if problems:
            raise SourceProblems(problems)
        return values


def regular_file_hash(path: Path, limit: int) -> bytes | None:
    """The sha256 of a regular file's first `limit` bytes, for the file watcher; None when it
    cannot be read or is no regular file. Opened without blocking, then checked, as a secret file
    is read (_read_secret_file): a FIFO swapped in at the path would block the open, on the event
    loop, for good."""
    try:
        with open(os.open(path, os.O_RDONLY | os.O_NONBLOCK), "rb") as stream:
            if not stat.S_ISREG(os.fstat(stream.fileno()).st_mode):
                return None
            return hashlib.sha256(stream.read(limit)).digest()
    except OSError:
        return None


def read_secret_setting(directory: Path, name: str) -> tuple[str | None, list[str]]:
    """The text of the file named `name` (in any letter case) in a secrets directory, read as
    the daemon reads it; None when there is none. Also why it could not be read, if it could not
    (never its content)."""
    problems: list[tuple[str, str]] = []
    directory = directory.resolve()  # as pydantic-settings does: a file's parents are compared with it
    try:
        entries = sorted(directory.iterdir())
    except OSError as exc:
        return None, [f"secrets directory {directory} cannot be listed ({exc.strerror or exc})"]
    for entry in entries:
        if entry.name.lower() == name.lower():
            text = _read_secret_file(directory, entry, problems)
            return text, [message for _, message in problems]
    return None, []


def _read_secret_file(directory: Path, entry: Path, problems: list[tuple[str, str]]) -> str | None:
    where = f"secret file {entry}"
    try:
        resolved = entry.resolve(strict=True)
        if directory not in resolved.parents:
            # pydantic-settings skipped such a file without a word (so that a link cannot make the
            # daemon read a file from anywhere); a setting silently missing is worse than a refusal.
            problems.append(("", f"{where} is a link to {resolved}, outside the secrets directory; "
                                 "put the file itself in the directory"))
            return None
        # Opened without blocking, then checked: a FIFO named like a setting would block the open
        # until someone writes to it, and a device could make the read never end. Opened by its
        # own name, not by `resolved`: the kubelet swaps a Secret's `..data` link and removes the
        # old directory, and a path resolved just before the swap is gone ("cannot be read"; the
        # file watcher, having seen the new contents, did not try again). The name follows the
        # swap; the check above only keeps out links that lead elsewhere.
        with open(os.open(entry, os.O_RDONLY | os.O_NONBLOCK), "rb") as stream:
            if not stat.S_ISREG(os.fstat(stream.fileno()).st_mode):
                problems.append(("", f"{where} is not a regular file"))
                return None
            raw = stream.read(MAX_SECRET_FILE_BYTES + 1)
    except (OSError, RuntimeError) as exc:  # RuntimeError: a loop of links (Python < 3.13)
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "a loop of links"
        problems.append(("", f"{where} cannot be read ({reason})"))
        return None
    if len(raw) > MAX_SECRET_FILE_BYTES:
        problems.append(("", f"{where} is larger than {MAX_SECRET_FILE_BYTES // 1024} KiB, more than any setting holds; "
                             "is it a secret of this daemon?"))
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        # The decoder's message quotes the bytes it could not read: never repeated here.
        problems.append(("", f"{where} is not UTF-8 text; files named like a setting ({entry.name}) hold its value "
                             "as text"))
        return None


def _overlay(
    root: type[BaseModel],
    base: Any,
    over: Any,
    path: tuple[str | int, ...],
    layer: Layer,
    problems: list[tuple[str, str]],
    *,
    in_entry: bool,
) -> Any:
    """`over` laid on `base` as pydantic-settings would (mappings merged key by key, anything
    else replaced), except that a mapping keyed by positions is merged into a list's entries."""
    if layer.prefix is None:
        return over  # the file's own values, laid on nothing: validation says what is wrong with them
    if isinstance(over, dict):
        positions = [key for key in over if _INDEX.fullmatch(str(key))]
        if isinstance(base, list):
            return _overlay_entries(root, base, over, positions, path, layer, problems)
        if base is _ABSENT and over and len(positions) == len(over) and _shape(_annotation_at(root, path)) == "list":
            problems += [(layer.name(leaf), f"the config file has no {_location(path)} list; a variable can change "
                          "an entry of a list the file has, not add one") for leaf in _leaves(over, path)]
            return base
        if base is not _ABSENT and base is not None and not isinstance(base, dict):
            # The file wrote a section as a value (`server: 9000`, `state: postgresql://...`):
            # kept, for validation to refuse by its path. Replaced by the variables' keys (the
            # API token every deployment sets), it was dropped without a word, check-config said
            # valid and the daemon listened on 9464.
            return base
        merged = dict(base) if isinstance(base, dict) else {}
        for key, value in over.items():
            merged[key] = _overlay(root, merged.get(key, _ABSENT), value, (*path, key), layer, problems, in_entry=in_entry)
        return merged
    if in_entry and isinstance(over, str) and (
        isinstance(base, dict | list) or _shape(_annotation_at(root, path)) in ("list", "mapping")
    ):
        # pydantic-settings decodes JSON only where its own walk of the schema reaches, which
        # stops at a list: inside an entry, a list or mapping is decoded here.
        try:
            return json.loads(over)
        except ValueError:
            problems.append((layer.name(path), "not valid JSON (lists and mappings set from the environment must be JSON)"))
            return base
    return over


def _overlay_entries(
    root: type[BaseModel],
    base: list[Any],
    over: dict[Any, Any],
    positions: list[Any],
    path: tuple[str | int, ...],
    layer: Layer,
    problems: list[tuple[str, str]],
) -> list[Any]:
    merged = list(base)
    for key in over:
        if key not in positions:
            problems += [(layer.name(leaf), f"{_location(path)} is a list: name an entry by its position, from 0 "
                          f"({layer.name((*path, 0))}__...)") for leaf in _leaves(over[key], (*path, key))]
    for key in positions:
        index = int(key)
        if index >= len(base):
            entries = f"{len(base)} entries" if len(base) != 1 else "1 entry"
            problems += [(layer.name(leaf), f"the config file has no {_location((*path, index))} ({_location(path)} "
                          f"has {entries}); a variable can change an entry of a list, not add one")
                         for leaf in _leaves(over[key], (*path, index))]
            continue
        merged[index] = _overlay(root, base[index], over[key], (*path, index), layer, problems, in_entry=True)
    return merged


def _nulls(root: type[BaseModel], layer: Layer) -> dict[str, None]:
    """The sections a variable (or secret file) sets to JSON `null`, as the file's `null` does
    (`WATCHDOG_DISCOVERY=null`: no discovery). pydantic-settings decodes the null and then drops
    the variable as if it were unset: discovery stayed on, and nothing said the variable was
    ignored. Inside a list's entry, _overlay decodes the null itself."""
    names: dict[str, str | None] | None = getattr(layer.source, "env_vars", None)
    if layer.prefix is None or not names:
        return {}
    prefix = layer.prefix.lower()
    return {
        name[len(prefix):]: None for name, value in names.items()
        if name.startswith(prefix) and value is not None and value.strip() == "null"
        and name[len(prefix):] in root.model_fields and _shape(_annotation_at(root, (name[len(prefix):],))) != "scalar"
    }


def _whole_and_entry_both_set(root: type[BaseModel], layer: Layer) -> list[tuple[str, str]]:
    """`WATCHDOG_RULES` (the whole list, as JSON) and `WATCHDOG_RULES__0__DRY_RUN` together:
    pydantic-settings takes the first and silently drops the second. So for a mapping:
    `WATCHDOG_SERVER='{"port": 1234}'` beside `WATCHDOG_SERVER__PORT=5555` ran on 5555, and
    `WATCHDOG_CREDENTIALS` beside `WATCHDOG_CREDENTIALS__MAIN__API_SECRET` took the second's secret,
    the JSON's dropped without a word (found 2026-12-06)."""
    names: dict[str, str] | None = getattr(layer.source, "env_vars", None)
    if layer.prefix is None or not names:
        return []
    prefix = layer.prefix.lower()
    found = []
    for name in names:
        if not name.startswith(prefix):
            continue
        parts = name[len(prefix):].split("__")
        for cut in range(1, len(parts)):
            whole = prefix + "__".join(parts[:cut])
            if whole not in names:
                continue
            shape = _shape(_annotation_at(root, tuple(parts[:cut])))
            if (shape == "list" and _INDEX.fullmatch(parts[cut])) or shape == "mapping":
                what = "list" if shape == "list" else "section"
                found.append((layer.name(tuple(parts)), f"{layer.name(tuple(parts[:cut]))} is set too, and sets the whole "
                              f"{what}: set one or the other"))
                break
    return found


def _leaves(value: Any, path: tuple[str | int, ...]) -> list[tuple[str | int, ...]]:
    """The paths of the values a source's mapping holds: one per variable or secret file."""
    if isinstance(value, dict) and value:
        return [leaf for key, child in value.items() for leaf in _leaves(child, (*path, key))]
    return [path]


def _with_positions(path: tuple[str | int, ...]) -> tuple[str | int, ...]:
    """A source's path with its list positions as numbers ('0' -> 0), as validation gives them."""
    return tuple(int(part) if isinstance(part, str) and _INDEX.fullmatch(part) else part for part in path)


def _location(path: tuple[str | int, ...]) -> str:
    """('rules', 0, 'dry_run') -> 'rules[0].dry_run', as ConfigError names values."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


def _members(annotation: Any) -> list[Any]:
    """The types an annotation may hold: Annotated and Optional unwrapped, unions split."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _members(get_args(annotation)[0])
    if origin is Union or origin is types.UnionType:
        return [member for arg in get_args(annotation) if arg is not type(None) for member in _members(arg)]
    return [annotation]


def _annotation_at(root: type[BaseModel], path: tuple[str | int, ...]) -> Any:
    """The schema's type at a path of keys and positions, or None where the schema does not say."""
    current: Any = root
    for key in path:
        step = None
        for member in _members(current):
            origin = get_origin(member)
            if origin is list and _INDEX.fullmatch(str(key)):
                step = get_args(member)[0]
            elif origin is dict:
                step = get_args(member)[1]
            elif isinstance(member, type) and issubclass(member, BaseModel) and key in member.model_fields:
                step = member.model_fields[str(key)].annotation
            if step is not None:
                break
        if step is None:
            return None
        current = step
    return current


def _shape(annotation: Any) -> Shape | None:
    if annotation is None:
        return None
    members = _members(annotation)
    if any(get_origin(member) is list for member in members):
        return "list"
    if any(get_origin(member) is dict or (isinstance(member, type) and issubclass(member, BaseModel)) for member in members):
        return "mapping"
    return "scalar"
