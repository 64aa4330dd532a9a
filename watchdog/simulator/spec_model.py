"""What every part of a scenario's schema shares: strict frozen models, Java-style string values."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field


class SpecModel(BaseModel):
    """A part of a scenario: unknown keys are refused (a typo must not silently do nothing)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _java_string(value: Any) -> Any:
    # Connector configs are string maps in the spec; YAML turns `tasks.max: 1` into an int and
    # `enabled: true` into a bool, which Kafka Connect would spell "1" and "true".
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return value


ConfigValue = Annotated[str, BeforeValidator(_java_string)]
HeaderValue = Annotated[str, BeforeValidator(_java_string), Field(pattern=r"^[\x20-\x7e]*$")]
