"""`ConfigError`, and pydantic's validation errors said as paths the user wrote
(`rules[2].trigger.cron`) with messages that say what to do."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ValidationError

from .key_hints import unknown_key_message
from .rules import TRIGGER_TYPES
from .sections import BACKENDS


class ConfigError(Exception):
    """A config that must not be run. `problems` is a list of (path, message)."""

    def __init__(self, source: str, problems: list[tuple[str, str]]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(str(self))

    def __str__(self) -> str:
        lines = [f"invalid config {self.source}:"]
        lines += [f"  {path}: {message}" if path else f"  {message}" for path, message in self.problems]
        return "\n".join(lines)


def format_location(loc: tuple[Any, ...]) -> str:
    """('rules', 2, 'trigger', 'schedule', 'cron') -> 'rules[2].trigger.cron'."""
    out = ""
    previous: Any = None
    for index, part in enumerate(loc):
        if previous == "trigger" and part in TRIGGER_TYPES:
            continue  # pydantic puts the union's tag in the path; users never wrote it
        if index >= 2 and loc[index - 2] == "clusters" and part in BACKENDS:
            continue  # the same for a cluster's backend
        if part == "[key]":
            continue  # a mapping's key failed: the path up to it already names the key
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
        previous = part
    return out


# What YAML made of an unquoted scalar where text was expected, by the type it made, and how it
# is written. A connector `no`, a cluster key `on:`, a label value `500` or a time zone left empty
# were refused as "Input should be a valid string", and a key at a list position (`clusters[0]`)
# the file does not have: pydantic names a mapping's key by its value, and False is 0.
_READ_AS = (
    (bool, "a boolean, not text (YAML reads an unquoted yes, no, on, off, true or false so)", "'no'"),
    (type(None), "no value, not text (YAML reads an unquoted null or ~, or nothing at all, so)", "'null'"),
    ((int, float), "a number, not text (YAML reads 500, 0x10 or 1.5 unquoted so)", "'500'"),
    ((date, datetime), "a date, not text (YAML reads an unquoted 2026-12-02 so)", "'2026-12-02'"),
)


def _read_as(value: Any) -> tuple[str, str] | None:
    for kind, said, example in _READ_AS:
        if isinstance(value, kind):
            return said, example
    return None


# pydantic's words for a value of the wrong shape ("Input should be a valid dictionary or object
# to extract fields from", for `trigger: status`) said in YAML's terms, with what was written.
_WANTED = {
    "model_type": "a mapping (its keys indented under it, or {key: value, ...})",
    "model_attributes_type": "a mapping (its keys indented under it, or {key: value, ...})",
    "dict_type": "a mapping (its keys indented under it, or {key: value, ...})",
    "list_type": "a list (`- ` entries, or [a, b])",
}
_WRITTEN = ((dict, "a mapping"), (list, "a list"), (bool, "true or false"), (str, "text"), ((int, float), "a number"),
            (type(None), "nothing"))


def _shape_problem(error_type: str, value: Any) -> str | None:
    wanted = _WANTED.get(error_type)
    written = next((said for kind, said in _WRITTEN if isinstance(value, kind)), None)
    if wanted is None or written is None:
        return None
    message = f"expected {wanted}, got {written}"
    if error_type == "dict_type" and isinstance(value, list):
        # clusters:, credentials: as `- name: prod` entries, as many tools write them.
        message += "; its entries go under their names (`prod:` with its keys indented under it), not `- name: prod`"
    return message


def _key_name(key: Any) -> str:
    """A mapping key YAML did not read as text, as the path names it: never a list position."""
    if key is None:
        return "null"
    return str(key).lower() if isinstance(key, bool) else str(key)


UNKNOWN_KEY = "unknown key (check the spelling; see config.example.yaml)"


def validation_problems(exc: ValidationError, schema: type[BaseModel] | None = None) -> list[tuple[str, str]]:
    """`schema`: the model validated, whose shape says where an unknown key belongs (key_hints)."""
    problems = []
    # The input is looked at only for its type (_read_as) and never shown: it may be a secret.
    for error in exc.errors(include_url=False, include_input=True):
        loc = tuple(error["loc"])
        message = error["msg"]
        is_key = error["type"] == "invalid_key" or loc[-1:] == ("[key]",)
        read_as = _read_as(error.get("input")) if error["type"] in ("string_type", "invalid_key") else None
        if is_key:  # the input is the key itself; pydantic's path holds False as 0
            at = len(loc) - (1 if error["type"] == "invalid_key" else 2)
            loc = (*loc[:at], _key_name(error.get("input")), *loc[at + 1:])
        if read_as is not None:
            said, example = read_as
            message = f"this key is read as {said}: quote it, e.g. {example}:" if is_key else \
                f"read as {said}: quote it, e.g. {example}"
        if error["type"] == "extra_forbidden":
            message = UNKNOWN_KEY if schema is None else unknown_key_message(schema, loc, UNKNOWN_KEY)
        elif error["type"] == "missing":
            message = "required"
        elif error["type"] == "union_tag_invalid" and loc[:1] == ("clusters",):
            loc = (*loc, "backend")
            message = f"unknown backend {error['ctx']['tag']}; expected one of {', '.join(BACKENDS)}"
        elif error["type"] == "union_tag_invalid":
            loc = (*loc, "type")
            message = f"unknown trigger type {error['ctx']['tag']}; expected one of {', '.join(TRIGGER_TYPES)}"
        elif error["type"] == "union_tag_not_found":
            loc = (*loc, "type")
            message = f"required; one of {', '.join(TRIGGER_TYPES)}"
        elif (shape := _shape_problem(error["type"], error.get("input"))) is not None:
            message = shape
        elif message.startswith("Value error, "):
            message = message.removeprefix("Value error, ")
        problems.append((format_location(loc), message))
    return problems
