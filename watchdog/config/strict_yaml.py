"""The YAML the config is read with: libyaml's parser, strict (a key written twice is an error,
a value an explicit tag cannot read is invalid YAML), numbers read as YAML 1.2 reads them, and
merge keys as YAML's merge key says."""

from __future__ import annotations

import re
from typing import Any

import yaml

__all__ = ["LIBYAML_TOO_DEEP", "MERGE_TAG", "StrictLoader"]

# libyaml's parser where PyYAML was built with it (its wheels are): the pure-Python one took 1.7
# of the 2.1 s a config of 1,000 rules took to load, on the event loop for a reload (webhooks,
# probes and the queue all waited); with libyaml, 0.7 s. Its nesting is bounded by libyaml itself
# (1,000 levels: "exceeded maximum nesting depth"), so no document overflows the C stack; MAX_DEPTH
# is checked on the values afterwards, as before.
_SAFE_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
LIBYAML_TOO_DEEP = "exceeded maximum nesting depth"


class StrictLoader(_SAFE_LOADER):  # type: ignore[valid-type,misc]
    """SafeLoader that refuses duplicate keys: PyYAML keeps the last one silently, so a rule or a
    cluster written twice would lose its first definition without a word."""

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        # A value an explicit tag's constructor cannot read (`!!bool maybe`, `!!int abc`,
        # `!!timestamp nope`) raised KeyError, ValueError or AttributeError out of PyYAML: a
        # traceback from check-config (exit 1), no line named. Refused as invalid YAML instead.
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, KeyError, AttributeError, TypeError, OverflowError):
            shown = repr(node.value) if isinstance(node, yaml.ScalarNode) else "this value"
            raise yaml.constructor.ConstructorError(
                None, None, f"{shown[:80]} cannot be read as {node.tag}", node.start_mark
            ) from None

    def flatten_mapping(self, node: yaml.MappingNode) -> None:
        """`<<: [*first, *second]` as YAML's merge key says: "keys in mapping nodes earlier in the
        sequence override keys specified in later mapping nodes". PyYAML 6.0.4 lets the last one
        win for keys longer than a character, the first for one-character keys (yaml/pyyaml#953,
        its fix #954 not released): a cluster merging [*prod, *staging] watched staging's
        environment. Merged here in reverse order, so that the first one listed is applied last
        (a mapping's own keys still win: they follow the merged ones); each merged key node kept
        once, as PyYAML 6.0.4 does against merges that repeat one alias (its #897)."""
        merged: list[tuple[yaml.Node, yaml.Node]] = []
        merged_keys: set[int] = set()
        own: list[tuple[yaml.Node, yaml.Node]] = []
        for key_node, value_node in node.value:
            if key_node.tag != MERGE_TAG:
                own.append((key_node, value_node))
                continue
            sources = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
            for source in reversed(sources):
                if not isinstance(source, yaml.MappingNode):
                    raise yaml.constructor.ConstructorError(
                        "while constructing a mapping", node.start_mark,
                        f"expected a mapping or list of mappings for merging, but found {source.id}", source.start_mark)
                self.flatten_mapping(source)
                for pair in source.value:
                    if id(pair[0]) not in merged_keys:
                        merged_keys.add(id(pair[0]))
                        merged.append(pair)
        for key_node, _ in own:
            if key_node.tag == "tag:yaml.org,2002:value":  # as PyYAML: `=` is read as a string
                key_node.tag = "tag:yaml.org,2002:str"
        node.value = merged + own


# YAML 1.1, which PyYAML reads, takes `1:30` for a number in base 60 (90) and `017` for an octal
# one (15): `interval: 1:30`, meant as an hour and a half, restarted every 90 seconds, and
# check-config called it valid. Read as YAML 1.2's core schema reads them instead, exactly (its
# spec, 10.3.2): decimal (`017` is 17), `0o` octal, `0x` hex; no `0b`, no `_` separators, no sign
# on `0o`/`0x` (PyYAML's `0b1010` and `1_000` were numbers, so `interval: 0b1010` ran every 10 s,
# and `0o17` was text): those are text, refused as a duration, read by a count as pydantic reads
# text. `1:30` is text (refused as a duration or a count, by its path).
_INT_PATTERN = re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$")
_NUMBER_PATTERNS = {
    "tag:yaml.org,2002:int": _INT_PATTERN,
    # YAML 1.2's floats: an exponent needs no dot and no sign (`1e3`, read as the text "1e3" by
    # YAML 1.1, so that `max_restarts: 1e3` was refused as "unable to parse string"). Less the
    # plain integers, which YAML 1.2 resolves as int first: PyYAML asks the float pattern first.
    "tag:yaml.org,2002:float": re.compile(
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+\.[0-9]*)(?:[eE][-+]?[0-9]+)?|[-+]?[0-9]+[eE][-+]?[0-9]+"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
}
StrictLoader.yaml_implicit_resolvers = {
    first: [(tag, _NUMBER_PATTERNS.get(tag, pattern)) for tag, pattern in resolvers]
    for first, resolvers in _SAFE_LOADER.yaml_implicit_resolvers.items()
}


def _yaml_1_2_int(loader: StrictLoader, node: yaml.ScalarNode) -> int:
    """An int as YAML 1.2 reads it: PyYAML's constructor reads a leading `0` as octal (`017`
    15) and fails on `0o17`. Also for `!!int`: a value of another form is refused (construct_object)."""
    value = loader.construct_scalar(node)
    if not _INT_PATTERN.match(value):
        raise ValueError(value)
    if value.startswith(("0o", "0x")):
        return int(value[2:], 8 if value[1] == "o" else 16)
    return int(value, 10)


StrictLoader.add_constructor("tag:yaml.org,2002:int", _yaml_1_2_int)

MERGE_TAG = "tag:yaml.org,2002:merge"


def _mapping_without_duplicates(loader: StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: dict[Any, yaml.Node] = {}
    for key_node, _ in node.value:
        if key_node.tag == MERGE_TAG:
            # `<<: *defaults`: merged by construct_mapping below, where the mapping's own keys
            # win over merged ones, as YAML's merge key says. Constructed here it was refused as
            # "could not determine a constructor for the tag 'tag:yaml.org,2002:merge'".
            # Written twice, it is a key written twice: PyYAML applied both, the last winning.
            if MERGE_TAG in seen:
                raise _duplicate(node, "<<", seen[MERGE_TAG], key_node,
                                 "; write one merge key, with a list of the mappings it merges (`<<: [*first, *second]`)")
            seen[MERGE_TAG] = key_node
            continue
        key = loader.construct_object(key_node, deep=deep)
        if isinstance(key, str) and key in seen:
            raise _duplicate(node, key, seen[key], key_node)
        if isinstance(key, str):
            seen[key] = key_node
    return loader.construct_mapping(node, deep=deep)


def _duplicate(
    mapping: yaml.MappingNode, key: str, first: yaml.Node, again: yaml.Node, advice: str = ""
) -> yaml.constructor.ConstructorError:
    return yaml.constructor.ConstructorError(
        f"while reading the mapping that starts at line {mapping.start_mark.line + 1}", None,
        f"duplicate key {key!r} (first at line {first.start_mark.line + 1}){advice}", again.start_mark,
    )


StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_without_duplicates)
