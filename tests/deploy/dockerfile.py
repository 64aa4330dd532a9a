"""A small reader for the repository's Dockerfile and .dockerignore, enough for the deploy checks
to hold the image to what it declares and to replay its steps without a container engine."""

from __future__ import annotations

import json
import os
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from .tools import REPO

DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"
REPLAY_MARKER = "replayed by tests/deploy/test_image.py"


@dataclass
class Instruction:
    keyword: str  # upper case: RUN, ENV, COPY, ...
    text: str  # the arguments, continuation lines joined
    line: int
    comments: list[str] = field(default_factory=list)  # the comment block right above it

    @property
    def flags(self) -> dict[str, str]:
        """Leading --name=value flags (COPY --from=..., HEALTHCHECK --interval=...)."""
        found: dict[str, str] = {}
        for token in self.text.split():
            if not token.startswith("--"):
                break
            name, _, value = token[2:].partition("=")
            found[name] = value
        return found

    @property
    def body(self) -> str:
        """The arguments without the leading flags."""
        tokens = self.text.split(" ")
        while tokens and (tokens[0].startswith("--") or tokens[0] == ""):
            tokens.pop(0)
        return " ".join(tokens).strip()

    def exec_form(self) -> list[str]:
        """The JSON array of ENTRYPOINT/CMD/HEALTHCHECK CMD (exec form only)."""
        body = self.body
        if self.keyword == "HEALTHCHECK":
            assert body.startswith("CMD "), f"line {self.line}: HEALTHCHECK without CMD"
            body = body[len("CMD "):]
        value = json.loads(body)
        assert isinstance(value, list) and all(isinstance(v, str) for v in value), f"line {self.line}: not exec form"
        return value


@dataclass
class Stage:
    name: str
    base: str
    instructions: list[Instruction]

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    def one(self, keyword: str) -> Instruction:
        found = self.all(keyword)
        assert len(found) == 1, f"stage {self.name}: expected one {keyword}, found {len(found)}"
        return found[0]


@dataclass
class Dockerfile:
    global_args: dict[str, str]
    stages: list[Stage]

    def stage(self, name: str) -> Stage:
        for stage in self.stages:
            if stage.name == name:
                return stage
        raise AssertionError(f"no stage {name!r}")

    @property
    def final(self) -> Stage:
        return self.stages[-1]


def parse(text: str | None = None) -> Dockerfile:
    text = DOCKERFILE.read_text(encoding="utf-8") if text is None else text
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    comments: list[str] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if stripped.startswith("#"):
            if not pending:  # comment lines inside a continuation are dropped, as Docker does
                comments.append(stripped.lstrip("#").strip())
            continue
        if not stripped:
            if not pending:
                comments = []
            continue
        if not pending:
            start = number
        if stripped.endswith("\\"):
            pending.append(stripped[:-1].strip())
            continue
        pending.append(stripped)
        joined = " ".join(pending)
        pending = []
        keyword, _, rest = joined.partition(" ")
        instruction = Instruction(keyword.upper(), rest.strip(), start, comments)
        comments = []
        if instruction.keyword == "FROM":
            parts = instruction.text.split()
            name = parts[2] if len(parts) >= 3 and parts[1].upper() == "AS" else str(len(stages))
            stages.append(Stage(name, parts[0], []))
        elif not stages:
            assert instruction.keyword == "ARG", f"line {start}: only ARG may come before FROM"
            key, _, value = instruction.text.partition("=")
            global_args[key] = value
        else:
            stages[-1].instructions.append(instruction)
    assert not pending, "the Dockerfile ends inside a line continuation"
    return Dockerfile(global_args, stages)


def key_values(instruction: Instruction) -> list[tuple[str, str]]:
    """The KEY=value pairs of ENV, ARG and LABEL (quotes removed, $references kept)."""
    pairs = []
    for token in shlex.split(instruction.text, posix=True):
        key, sep, value = token.partition("=")
        if instruction.keyword == "ARG" and not sep:
            pairs.append((key, ""))
            continue
        assert sep, f"line {instruction.line}: {instruction.keyword} {token!r} is not KEY=value"
        pairs.append((key, value))
    return pairs


_REFERENCE = re.compile(r"\$\{(\w+)\}|\$(\w+)")


def substitute(value: str, env: dict[str, str]) -> str:
    """Docker's $VAR / ${VAR} substitution (unset variables become empty)."""
    return _REFERENCE.sub(lambda m: env.get(m.group(1) or m.group(2), ""), value)


# -- .dockerignore -------------------------------------------------------------------------------


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    """Go filepath.Match plus `**`, as Docker's pattern matcher reads .dockerignore lines."""
    out = ""
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**", i):
            out += ".*"
            i += 2
            if i < len(pattern) and pattern[i] == "/":
                i += 1
                out = out[:-2] + "(?:.*/)?"
            continue
        if c == "*":
            out += "[^/]*"
        elif c == "?":
            out += "[^/]"
        elif c == "[":
            end = pattern.index("]", i)
            out += "[" + pattern[i + 1:end].replace("!", "^", 1) + "]"
            i = end
        else:
            out += re.escape(c)
        i += 1
    return re.compile(out)


def ignore_rules() -> list[tuple[bool, str, re.Pattern[str]]]:
    """(negated, pattern, regex) for each line of .dockerignore, in order."""
    rules = []
    for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = (line[1:].strip() if negate else line).strip("/")
        rules.append((negate, pattern, _pattern_regex(pattern)))
    return rules


def build_context(root: Path = REPO) -> set[str]:
    """The files `docker build` would send from `root`: every file not excluded by .dockerignore.
    A pattern matches a path or any of its parent directories; the last matching line wins."""
    rules = ignore_rules()

    def excluded(rel: str) -> bool:
        parts = rel.split("/")
        prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
        result = False
        for negate, _, regex in rules:
            if any(regex.fullmatch(prefix) for prefix in prefixes):
                result = not negate
        return result

    def may_reinclude(rel: str) -> bool:
        """Whether a `!` line could re-include something at or below directory `rel`."""
        for negate, pattern, _ in rules:
            if not negate:
                continue
            literal = re.split(r"[*?\[]", pattern, maxsplit=1)[0]
            if not literal or literal.startswith(rel + "/") or rel == literal or rel.startswith(literal):
                return True
        return False

    kept: set[str] = set()
    for dirpath, dirnames, filenames in os.walk(root):
        base = Path(dirpath).relative_to(root).as_posix()
        base = "" if base == "." else base + "/"
        # An excluded directory nothing can re-include is skipped whole (.git, .venv, ...).
        dirnames[:] = [d for d in dirnames if not excluded(base + d) or may_reinclude(base + d)]
        for name in filenames:
            if not excluded(base + name):
                kept.add(base + name)
    return kept
