from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_llm._errors import ConfigError
from pytest_llm.assertions import SchemaViolationError, assert_json_schema

ORDER = {
    "title": "Order",
    "type": "object",
    "required": ["items", "customer"],
    "properties": {
        "customer": {"type": "string"},
        "items": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["price"],
                "properties": {
                    "price": {"type": "number", "minimum": 0},
                    "sku": {
                        "anyOf": [{"type": "string", "pattern": "^[A-Z]+$"}, {"type": "integer"}]
                    },
                },
            },
        },
    },
}


def test_valid_data_is_returned() -> None:
    data = {"customer": "ada", "items": [{"price": 3}]}
    assert assert_json_schema(data, ORDER) is data


def test_text_is_parsed_first() -> None:
    text = 'Here: {"customer": "ada", "items": []}'
    assert assert_json_schema(text, ORDER) == {"customer": "ada", "items": []}


def test_violations_are_listed_most_relevant_first() -> None:
    data = {"items": [{"price": -5, "sku": "abc"}]}
    with pytest.raises(SchemaViolationError) as excinfo:
        assert_json_schema(data, ORDER)
    assert str(excinfo.value).splitlines() == [
        "assert_json_schema: 3 violations of schema 'Order'",
        "  $: 'customer' is a required property (schema: required)",
        "  $.items[0].price: -5 is less than the minimum of 0 "
        "(schema: properties.items.items.properties.price.minimum)",
        "  $.items[0].sku: 'abc' does not match '^[A-Z]+$' "
        "(schema: properties.items.items.properties.sku.anyOf.0.pattern)",
    ]
    assert isinstance(excinfo.value, AssertionError)
    assert len(excinfo.value.violations) == 3


def test_violations_are_capped() -> None:
    schema = {"type": "array", "items": {"type": "integer"}}
    with pytest.raises(SchemaViolationError) as excinfo:
        assert_json_schema([str(i) for i in range(13)], schema)
    lines = str(excinfo.value).splitlines()
    assert lines[0] == "assert_json_schema: 13 violations of the schema"
    assert lines[1] == "  $[0]: '0' is not of type 'integer' (schema: items.type)"
    assert len(lines) == 12
    assert lines[-1] == "  ... and 3 more"


def test_schema_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "order.schema.json"
    path.write_text(json.dumps({**ORDER, "title": None} | {"title": "x"}))
    path.write_text(json.dumps({k: v for k, v in ORDER.items() if k != "title"}))
    with pytest.raises(SchemaViolationError) as excinfo:
        assert_json_schema({"customer": 1, "items": []}, path)
    assert str(excinfo.value).splitlines() == [
        "assert_json_schema: 1 violation of schema 'order.schema.json'",
        "  $.customer: 1 is not of type 'string' (schema: properties.customer.type)",
    ]
    yaml_path = tmp_path / "s.yaml"
    yaml_path.write_text("type: integer\n")
    assert assert_json_schema(5, str(yaml_path)) == 5


class TestBrokenSchemas:
    def test_broken_schema_names_the_problem_and_did_you_mean(self) -> None:
        with pytest.raises(ConfigError) as excinfo:
            assert_json_schema({}, {"type": "objekt"})
        assert str(excinfo.value) == (
            "the schema is not a valid JSON Schema (draft 2020-12): at type: 'objekt' is not "
            "valid under any of the given schemas; fix the schema (the data was not checked); "
            "did you mean 'object'?"
        )

    def test_nested_schema_problem(self) -> None:
        with pytest.raises(
            ConfigError, match=r"at properties\.a\.minimum: 'x' is not of type 'number'"
        ):
            assert_json_schema({}, {"properties": {"a": {"minimum": "x"}}})

    def test_draft_is_taken_from_dollar_schema(self) -> None:
        with pytest.raises(ConfigError, match=r"\(draft 7\)"):
            assert_json_schema(
                {}, {"$schema": "http://json-schema.org/draft-07/schema#", "type": 5}
            )

    def test_not_a_schema_at_all(self) -> None:
        with pytest.raises(ConfigError) as excinfo:
            assert_json_schema({}, [1, 2])
        assert str(excinfo.value) == (
            "expected a JSON Schema (dict or bool) or a path to one, got list: [1, 2]"
        )

    def test_missing_and_unreadable_files(self, tmp_path: Path) -> None:
        with pytest.raises(ConfigError, match="does not exist"):
            assert_json_schema({}, tmp_path / "nope.json")
        bad = tmp_path / "bad.json"
        bad.write_text("{nope")
        with pytest.raises(ConfigError, match="is not valid JSON/YAML"):
            assert_json_schema({}, bad)


def test_boolean_schemas() -> None:
    assert assert_json_schema(1, True) == 1
    with pytest.raises(SchemaViolationError, match=r"\$: False schema does not allow 1"):
        assert_json_schema(1, False)


def test_missing_jsonschema_is_a_clear_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "jsonschema", None)
    with pytest.raises(ConfigError) as excinfo:
        assert_json_schema({}, {"type": "object"})
    assert str(excinfo.value) == (
        "JSON Schema checks need the jsonschema package; install it: pip install jsonschema"
    )
