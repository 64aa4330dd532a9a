"""The expanded list read entry by entry, on bodies shaped as Confluent's recorded answers (the
Terraform provider's test fixtures) and as broken answers seen from an independent fake."""

from __future__ import annotations

from typing import Any

import pytest

from watchdog.connect.entries import parse_entry, parse_expanded_list
from watchdog.model import Unusable

# Shaped like terraform-provider-confluent's internal/testdata/connector/managed/read_created_connectors.json.
MANAGED: dict[str, Any] = {
    "status": {"name": "test_connector", "connector": {"state": "RUNNING", "worker_id": "test_connector", "trace": ""},
               "tasks": [{"id": 0, "state": "RUNNING", "worker_id": "test_connector", "msg": ""}], "type": "unknown"},
    "info": {"name": "test_connector", "type": "unknown",
             "config": {"connector.class": "DatagenSourceInternal", "name": "test_connector", "tasks.max": "1"},
             "tasks": [{"connector": "test_connector", "task": 0}]},
    "id": {"id": "lcc-abc123", "id_type": "ID"},
    "extensions": {},
}
# ... and .../custom/read_created_connectors.json (validation_errors in the listed status).
CUSTOM: dict[str, Any] = {
    "status": {"name": "datagen-plugin-name_2", "connector": {"state": "RUNNING", "worker_id": "x", "trace": ""},
               "tasks": [], "type": "source", "errors_from_trace": [], "validation_errors": [], "override_message": ""},
    "info": {"name": "datagen-plugin-name_2", "type": "source",
             "config": {"confluent.connector.type": "CUSTOM", "confluent.custom.plugin.id": "ccp-l57dmn",
                        "connector.class": "io.confluent.kafka.connect.datagen.DatagenConnector"}},
    "id": {"id": "clcc-gkzo3r", "id_type": "ID"},
    "extensions": {},
}


def test_recorded_managed_and_custom_entries() -> None:
    statuses = parse_expanded_list({"test_connector": MANAGED, "datagen-plugin-name_2": CUSTOM})

    managed, custom = statuses["test_connector"], statuses["datagen-plugin-name_2"]
    assert (managed.type, managed.connector_class, managed.custom, managed.resource_id) == (
        "unknown", "DatagenSourceInternal", False, "lcc-abc123")
    assert (custom.type, custom.custom, custom.resource_id, custom.unusable) == ("source", True, "clcc-gkzo3r", None)


def test_info_type_fills_in_an_unknown_status_type() -> None:
    entry = {**MANAGED, "info": {**MANAGED["info"], "type": "source"}}
    assert parse_entry("test_connector", entry).type == "source"


@pytest.mark.parametrize(
    ("entry", "reason"),
    [
        (None, Unusable.ENTRY_NOT_OBJECT),
        ("Service temporarily unavailable", Unusable.ENTRY_NOT_OBJECT),
        ({"id": {"id": "lcc-x"}}, Unusable.STATUS_MISSING),
        ({"status": None}, Unusable.STATUS_NOT_OBJECT),
        ({"status": {}}, Unusable.CONNECTOR_STATE_MISSING),
        ({"status": {"connector": None, "tasks": []}}, Unusable.CONNECTOR_STATE_MISSING),
    ],
)
def test_an_unusable_entry_is_kept_with_its_reason(entry: Any, reason: Unusable) -> None:
    status = parse_entry("c", entry)
    assert (status.name, status.unusable) == ("c", reason)


def test_only_a_non_map_fails_the_whole_answer() -> None:
    with pytest.raises(ValueError, match="not an object"):
        parse_expanded_list(["a", "b"])
    assert parse_expanded_list({}) == {}


def test_an_array_of_names_says_which_workers_answer_so() -> None:
    # Kafka Connect before 2.3 (KIP-465) ignores ?expand and answers with the names alone.
    with pytest.raises(ValueError, match="Kafka Connect before 2.3"):
        parse_expanded_list(["a", "b"])
