"""Where an unknown key of the config belongs, for its error.

The most common mistake in a YAML file is a key one level too deep or too shallow: `max_restarts`
under a rule's `trigger:`, `interval` beside `trigger:` instead of in it, `blackout` at the top
instead of under `windows:`. Each was refused as `unknown key (check the spelling; see
config.example.yaml)`, of a key spelt right, and the user looked for a typo that was not there.
The schema knows where each key goes: a key that the sections around its place have is named
with its place there (`unknown key here; it belongs at rules[0].max_restarts`), one of another
kind of trigger or cluster with that kind (`unknown key with type: status; it is a key with type:
schedule`), a misspelt one with the key it is closest to (`did you mean interval?`).
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Iterator
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, Tag

# As close as `WATCHDOG_*` variables are held to the settings they may mean.
from .stray_variables import CLOSE_MATCH

# Places named for a key found in several sections nearby, at most.
MAX_PLACES = 3
# How many sections below the key's own a key is looked for in (a rule's trigger: 1; a rule's
# trigger from the top level, through `rules[N]`: 2).
DEPTH_BELOW = 2

Path = tuple[str | int, ...]
ANY_ENTRY = "[N]"  # a list's entry, in a place below the key's own (`rules[N].max_restarts`)


def unknown_key_message(root: type[BaseModel], loc: tuple[Any, ...], fallback: str) -> str:
    """The error for the unknown key at `loc` (pydantic's location: union tags included) of a
    config whose schema is `root`; `fallback` when the schema says nothing better."""
    key = loc[-1]
    chain = _models_along(root, loc[:-1])
    if not chain or not isinstance(key, str):
        return fallback
    own = chain[-1][1]
    others = [m for m in _union_at(root, loc[:-1]) if m not in own and key in m.model_fields]
    if len(own) == 1 and others and _tag_field(own[0]):
        field = _tag_field(own[0])
        tags = " or ".join(f"{field}: {_tag(m)}" for m in others)
        return f"unknown key with {field}: {_tag(own[0])}; it is a key with {tags} (see config.example.yaml)"
    places = _places_nearby(chain, key)
    if places:
        shown = " or ".join(_shown(path) for path in places[:MAX_PLACES])
        return f"unknown key here; it belongs at {shown} (see config.example.yaml)"
    names = sorted({name for model in own for name in model.model_fields})
    close = difflib.get_close_matches(key, names, n=1, cutoff=CLOSE_MATCH)
    if close:
        return f"unknown key; did you mean {close[0]}? (see config.example.yaml)"
    return fallback


def _models_along(root: type[BaseModel], parents: tuple[Any, ...]) -> list[tuple[Path, list[type[BaseModel]]]]:
    """The sections `parents` walks through, each with its path as the user wrote it (list
    positions and mapping keys kept, union tags left out) and the models it may be (a
    discriminated union's member named by its tag is one). Empty when the walk leaves the schema."""
    chain: list[tuple[Path, list[type[BaseModel]]]] = [((), [root])]
    annotation: Any = root
    path: Path = ()
    for part in parents:
        annotation, consumed = _step(annotation, part)
        if annotation is None:
            return []
        if consumed:
            path = (*path, part)
        models = _models(annotation)
        if models and _is_section(annotation):
            if chain[-1][0] == path:
                # A union's member named by its tag: the same section, now of one model (a status
                # trigger's `cron` is no key of the section a schedule trigger would be).
                chain[-1] = (path, models)
            else:
                chain.append((path, models))
    return chain


def _union_at(root: type[BaseModel], parents: tuple[Any, ...]) -> list[type[BaseModel]]:
    """The members of the discriminated union whose tag is the last of `parents` (a trigger's,
    a cluster's), or [] when it ends otherwise."""
    if not parents or not isinstance(parents[-1], str):
        return []
    annotation: Any = root
    for part in parents[:-1]:
        annotation, _ = _step(annotation, part)
        if annotation is None:
            return []
    bare = _bare(annotation)
    if get_origin(bare) not in (Union, types.UnionType):
        return []
    members = [m for m in get_args(bare) if m is not type(None)]
    if not any(_tag(m) == parents[-1] for m in members):
        return []
    return [model for member in members for model in _models(member)]


def _tag_field(model: type[BaseModel]) -> str | None:
    """The key that says which of a union's models a section is (a trigger's `type`, a
    cluster's `backend`)."""
    return next((name for name in ("type", "backend") if name in model.model_fields), None)


def _step(annotation: Any, part: Any) -> tuple[Any, bool]:
    """The annotation one part of a location further, and whether the part is the user's (not a
    union's tag)."""
    annotation = _bare(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        field = annotation.model_fields.get(part) if isinstance(part, str) else None
        return (None, True) if field is None else (field.annotation, True)
    origin = get_origin(annotation)
    if origin in (list, tuple, set, frozenset):
        return (get_args(annotation)[0], True) if isinstance(part, int) else (None, True)
    if origin is dict:
        return get_args(annotation)[1], True
    if origin in (Union, types.UnionType):
        members = [m for m in get_args(annotation) if m is not type(None)]
        if len(members) == 1:
            return _step(members[0], part)
        tagged = [m for m in members if _tag(m) == part]
        if tagged:
            return tagged[0], False
        # Not a tag: an undiscriminated union (a model or None, a model or a list), walked member
        # by member; the first that takes the part.
        for member in members:
            stepped, consumed = _step(member, part)
            if stepped is not None:
                return stepped, consumed
    return None, True


def _bare(annotation: Any) -> Any:
    while get_origin(annotation) is typing.Annotated:
        annotation = get_args(annotation)[0]
    return annotation


def _tag(member: Any) -> str | None:
    """A discriminated union member's tag: its `Tag(...)`, or its `type: Literal[...]` (or
    `backend:`) field."""
    if get_origin(member) is typing.Annotated:
        for meta in get_args(member)[1:]:
            if isinstance(meta, Tag):
                return meta.tag
    bare = _bare(member)
    field = _tag_field(bare) if isinstance(bare, type) and issubclass(bare, BaseModel) else None
    if field is not None:
        literal = bare.model_fields[field].annotation
        if get_origin(literal) is Literal:
            return str(get_args(literal)[0])
    return None


def _models(annotation: Any) -> list[type[BaseModel]]:
    """The models an annotation may hold, directly or as a union's members (not inside a list or
    a mapping: those are walked by position or key)."""
    bare = _bare(annotation)
    if isinstance(bare, type) and issubclass(bare, BaseModel):
        return [bare]
    if get_origin(bare) in (Union, types.UnionType):
        return [model for member in get_args(bare) for model in _models(member)]
    return []


def _is_section(annotation: Any) -> bool:
    """A model or a union of models (with None): a section, not a list or mapping of them."""
    bare = _bare(annotation)
    return get_origin(bare) not in (list, tuple, set, frozenset, dict)


def _places_nearby(chain: list[tuple[Path, list[type[BaseModel]]]], key: str) -> list[Path]:
    """Where `key` is a setting: in a section around the key's (its own last), nearest first:
    the sections it is in, from the closest outwards, then those below its own."""
    for path, models in reversed(chain[:-1]):
        if any(key in model.model_fields for model in models):
            return [(*path, key)]
    own_path, own = chain[-1]
    for depth in range(1, DEPTH_BELOW + 1):
        found = sorted({(*place, key) for place, model in _below(own_path, own, depth) if key in model.model_fields},
                       key=lambda path: tuple(str(part) for part in path))
        if found:
            return found
    return []


def _below(path: Path, models: list[type[BaseModel]], depth: int) -> Iterator[tuple[Path, type[BaseModel]]]:
    """The sections `depth` levels below those of `models`, each with its path (a list's entry
    shown as `[N]`, a mapping's as `.NAME`)."""
    for model in models:
        for name, field in model.model_fields.items():
            for place, child in _children((*path, name), field.annotation):
                if depth == 1:
                    yield place, child
                else:
                    yield from _below(place, [child], depth - 1)


def _children(path: Path, annotation: Any) -> Iterator[tuple[Path, type[BaseModel]]]:
    bare = _bare(annotation)
    origin = get_origin(bare)
    if origin in (list, tuple, set, frozenset):
        yield from _children((*path, ANY_ENTRY), get_args(bare)[0])
    elif origin is dict:
        yield from _children((*path, "NAME"), get_args(bare)[1])
    else:
        for model in _models(bare):
            yield path, model


def _shown(path: Path) -> str:
    """('rules', 0, 'max_restarts') -> 'rules[0].max_restarts'; any entry of a list `[N]`."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part == ANY_ENTRY:
            out += part
        else:
            out += f".{part}" if out else part
    return out
