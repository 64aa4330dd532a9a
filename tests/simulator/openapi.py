"""Reading the OpenAPI specs in specs/ as JSON Schema, for the conformance tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SPECS = Path(__file__).parent / "specs"


def _openapi_to_json_schema(node: Any) -> Any:
    if isinstance(node, list):
        return [_openapi_to_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    converted = {
        key: _openapi_to_json_schema(value) for key, value in node.items() if key != "nullable"
    }
    if node.get("nullable") is True:
        if "type" in converted:
            converted["type"] = [converted["type"], "null"]
        else:
            converted = {"anyOf": [converted, {"type": "null"}]}
    return converted


class Spec:
    def __init__(self, file: str) -> None:
        with (SPECS / file).open(encoding="utf-8") as handle:
            self.document = _openapi_to_json_schema(yaml.load(handle, Loader=yaml.CSafeLoader))
        self._uri = f"urn:spec:{file}"
        resource = Resource.from_contents(self.document, default_specification=DRAFT202012)
        self._registry = Registry().with_resource(self._uri, resource)

    def operation(self, spec_path: str, method: str) -> dict[str, Any]:
        operation: dict[str, Any] = self.document["paths"][spec_path][method]
        return operation

    def response(self, spec_path: str, method: str, status: int) -> dict[str, Any]:
        """The response object, with a components/responses $ref followed."""
        response: dict[str, Any] = self.operation(spec_path, method)["responses"][str(status)]
        if "$ref" in response:
            name = response["$ref"].rsplit("/", 1)[-1]
            response = self.document["components"]["responses"][name]
        return response

    def validator(self, spec_path: str, method: str, status: int) -> Draft202012Validator:
        """A validator for the JSON body of that response ($refs are followed when validating)."""
        response = self.operation(spec_path, method)["responses"][str(status)]
        escaped = [p.replace("~", "~0").replace("/", "~1") for p in ("paths", spec_path, method)]
        pointer = response.get("$ref") or "#/" + "/".join([*escaped, "responses", str(status)])
        return self._validator(f"{pointer}/content/application~1json/schema")

    def schema_validator(self, name: str) -> Draft202012Validator:
        return self._validator(f"#/components/schemas/{name}")

    def _validator(self, pointer: str) -> Draft202012Validator:
        return Draft202012Validator({"$ref": f"{self._uri}{pointer}"}, registry=self._registry)


def assert_valid(validator: Draft202012Validator, body: Any) -> None:
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(body)]
    assert errors == []
