"""`ConfigError`, and pydantic's validation errors said as paths the user wrote
(`rules[2].trigger.cron`) with messages that say what to do."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

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


def validation_problems(exc: ValidationError) -> list[tuple[str, str]]:
    problems = []
    for error in exc.errors(include_url=False, include_input=False):
        loc = tuple(error["loc"])
        message = error["msg"]
        if error["type"] == "extra_forbidden":
            message = "unknown key (check the spelling; see config.example.yaml)"
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
        elif message.startswith("Value error, "):
            message = message.removeprefix("Value error, ")
        problems.append((format_location(loc), message))
    return problems
