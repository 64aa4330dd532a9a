"""Answers legal per Confluent's OpenAPI specs, drawn at random from their JSON schemas.

A small walker over the schema (no library draws from OpenAPI 3.0 with `nullable`,
`x-extensible-enum` and `readOnly` as the specs use them): optional properties come or not,
arrays are empty or not, nullable values are sometimes null, objects sometimes carry properties
the schema does not name, strings are sometimes long or hold what JSON allows and readers trip
on (an emoji, half of one: `\\ud83d` alone), and an `x-extensible-enum` sometimes holds a value
the spec does not list yet (it says others may come). Deterministic per seed.
"""

from __future__ import annotations

import functools
import random
import string
from pathlib import Path
from typing import Any

import yaml

SPECS = Path(__file__).parent / "simulator" / "specs"
# Half of a UTF-16 surrogate pair, which JSON may escape alone; and an emoji.
_WORDS = [*string.ascii_letters, *string.digits, *"-_. /%é", "\U0001f600", "\ud83d"]


@functools.cache
def spec(file: str) -> Any:
    with (SPECS / file).open(encoding="utf-8") as handle:
        return yaml.load(handle, Loader=yaml.CSafeLoader)


class Drawer:
    def __init__(self, file: str, seed: int) -> None:
        self.document = spec(file)
        self.rng = random.Random(seed)

    def resolve(self, node: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node:
            target: Any = self.document
            for part in node["$ref"].lstrip("#/").split("/"):
                target = target[part.replace("~1", "/").replace("~0", "~")]
            node = target
        return node

    def schema(self, name: str) -> dict[str, Any]:
        return self.resolve({"$ref": f"#/components/schemas/{name}"})

    def response_schema(self, path: str, method: str, status: int) -> dict[str, Any]:
        response = self.resolve(self.document["paths"][path][method]["responses"][str(status)])
        return self.resolve(response["content"]["application/json"]["schema"])

    def merge(self, first: dict[str, Any], second: dict[str, Any]) -> dict[str, Any]:
        """Two schemas an `allOf` names, as one: properties and items merged alike, the
        required ones of both, any other keyword from whichever sets it (the later wins)."""
        first, second = self.resolve(first), self.resolve(second)
        if "allOf" in second:
            for part in second["allOf"]:
                first = self.merge(first, part)
            second = {k: v for k, v in second.items() if k != "allOf"}
        merged = {**first, **second}
        merged["required"] = [*first.get("required", []), *second.get("required", [])]
        properties = dict(first.get("properties", {}))
        for key, sub in second.get("properties", {}).items():
            properties[key] = self.merge(properties[key], sub) if key in properties else sub
        merged["properties"] = properties
        if "items" in first and "items" in second:
            merged["items"] = self.merge(first["items"], second["items"])
        return merged

    def draw(self, node: dict[str, Any], depth: int = 0) -> Any:
        node = self.resolve(node)
        rng = self.rng
        if node.get("nullable") and rng.random() < 0.15:
            return None
        if "allOf" in node:
            merged: dict[str, Any] = {}
            for part in node["allOf"]:
                merged = self.merge(merged, part)
            return self.draw(merged, depth)
        if "oneOf" in node or "anyOf" in node:
            return self.draw(rng.choice(node.get("oneOf") or node["anyOf"]), depth)
        if "enum" in node:
            return rng.choice(node["enum"])
        kind = node.get("type") or ("object" if "properties" in node else "string")
        if kind == "object":
            return self._object(node, depth)
        if kind == "array":
            count = 0 if depth > 4 or rng.random() < 0.25 else rng.randint(1, 4)
            return [self.draw(node.get("items", {}), depth + 1) for _ in range(count)]
        if kind == "integer":
            return rng.choice([0, 1, 7, 2**31 - 1, rng.randint(-5, 10**6)])
        if kind == "number":
            return rng.choice([0, 0.5, 1, 1e9, rng.uniform(0, 1000)])
        if kind == "boolean":
            return rng.random() < 0.5
        return self._string(node)

    def _object(self, node: dict[str, Any], depth: int) -> dict[str, Any]:
        rng = self.rng
        required = set(node.get("required", []))
        value: dict[str, Any] = {}
        for key, sub in node.get("properties", {}).items():
            if key in required or rng.random() < 0.6:
                value[key] = self.draw(sub, depth + 1)
        extra = node.get("additionalProperties")
        if isinstance(extra, dict) and extra:
            for _ in range(0 if depth > 3 else rng.randint(0, 3)):
                value[self._word()] = self.draw(extra, depth + 1)
        elif rng.random() < 0.3:
            value[f"x_{self._word()}"] = self._word()  # a field a newer API version adds
        return value

    def _string(self, node: dict[str, Any]) -> str:
        rng = self.rng
        extensible = node.get("x-extensible-enum")
        if extensible:
            return rng.choice([*extensible, "NEW_" + self._word().upper()]) if rng.random() < 0.2 else rng.choice(extensible)
        if node.get("format") == "uri" and isinstance(node.get("example"), str):
            return node["example"]
        if node.get("format") == "date-time":
            return rng.choice(["2026-12-02T03:04:05Z", "2026-12-02T03:04:05.123456Z", "2026-12-02T03:04:05+01:00"])
        if "example" in node and isinstance(node["example"], str) and rng.random() < 0.5:
            return node["example"]
        limit = node.get("maxLength", 5000)
        text = self._word() if rng.random() < 0.9 else "".join(rng.choice(_WORDS) for _ in range(4000))
        return text[: max(1, limit)]

    def _word(self) -> str:
        return "".join(self.rng.choice(_WORDS) for _ in range(self.rng.randint(1, 12)))
