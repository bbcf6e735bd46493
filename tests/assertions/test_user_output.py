"""What a user sees in pytest's report when each helper fails: the exact lines."""

from __future__ import annotations

from collections.abc import Callable

import pytest

Run = Callable[[str], pytest.RunResult]


def test_assert_contains(run_failing: Run) -> None:
    result = run_failing(
        """
from pytest_llm.assertions import assert_contains

def test_answer():
    assert_contains("The capital of France is paris.", "Paris")
"""
    )
    result.stdout.fnmatch_lines(
        [
            '>       assert_contains("The capital of France is paris.", "Paris")',
            "E       pytest_llm.assertions.TextAssertionError: assert_contains: 'Paris' not found in the output",
            "E         output (31 chars): 'The capital of France is paris.'",
            "E         hint: found 'paris' at offset 25 with ignore_case=True",
        ],
        consecutive=True,
    )


def test_assert_not_contains(run_failing: Run) -> None:
    result = run_failing(
        """
from pytest_llm.assertions import assert_not_contains

def test_answer():
    assert_not_contains("Paris. Not Berlin!", "berlin", ignore_case=True)
"""
    )
    result.stdout.fnmatch_lines(
        [
            "E       pytest_llm.assertions.TextAssertionError: assert_not_contains: forbidden 'berlin' found at offset 11 (ignore_case)",
            "E         output (18 chars): 'Paris. Not Berlin!'",
            "E         offset 11: 'Paris. Not Berlin!'",
            "E                                ^^^^^^",
        ],
        consecutive=True,
    )


def test_assert_contains_any_and_all(run_failing: Run) -> None:
    result = run_failing(
        """
from pytest_llm.assertions import assert_contains_all

def test_answer():
    assert_contains_all("Paris and Lyon", ["Paris", "Nice", "Lille"])
"""
    )
    result.stdout.fnmatch_lines(
        [
            "E       pytest_llm.assertions.TextAssertionError: assert_contains_all: 2 of 3 needles missing from the output: 'Nice', 'Lille'",
            "E         output (14 chars): 'Paris and Lyon'",
            "E         found: 'Paris' at offset 0",
        ],
        consecutive=True,
    )


def test_assert_matches(run_failing: Run) -> None:
    result = run_failing(
        r"""
from pytest_llm.assertions import assert_matches

def test_answer():
    assert_matches("Total: 12 EUR", r"\d+ USD")
"""
    )
    result.stdout.fnmatch_lines(
        [
            r"E       pytest_llm.assertions.TextAssertionError: assert_matches: /\d+ USD/ (search) does not match the output",
            "E         output (13 chars): 'Total: 12 EUR'",
        ],
        consecutive=True,
    )


def test_extract_json(run_failing: Run) -> None:
    result = run_failing(
        """
from pytest_llm.assertions import extract_json

def test_answer():
    extract_json('Sure! {"city": "Paris", "population": 21')
"""
    )
    result.stdout.fnmatch_lines(
        [
            "E       pytest_llm.assertions.JSONNotFoundError: extract_json: no JSON found in the output (40 chars)",
            'E         output: \'Sure! {"city": "Paris", "population": 21\'',
            "E         tried the whole message: Expecting value: line 1 column 1 (char 0)",
            "E         tried the prose: no '{' or '[' starts a valid JSON value",
            "E         hint: repair=True would recover it from the prose, chars 6..40 (fixes: truncation)",
        ],
        consecutive=True,
    )


def test_assert_json(run_failing: Run) -> None:
    result = run_failing(
        """
from pytest_llm.assertions import assert_json

def test_answer():
    assert_json('```json\\n{"city": "Lyon", "tags": []}\\n```', {"city": "Paris", "tags": []})
"""
    )
    result.stdout.fnmatch_lines(
        [
            "E       pytest_llm.assertions.JSONMismatchError: assert_json: the JSON from a ```json fence, chars 8..36 differs from expected in 1 place",
            'E         $.city: got "Lyon", expected "Paris"',
        ],
        consecutive=True,
    )


def test_assert_model(run_failing: Run) -> None:
    result = run_failing(
        """
import pydantic
from pytest_llm.assertions import assert_model

class City(pydantic.BaseModel):
    name: str
    population: int = pydantic.Field(gt=0)

def test_answer():
    assert_model('{"population": -1}', City)
"""
    )
    result.stdout.fnmatch_lines(
        [
            "E       pytest_llm.assertions.ModelAssertionError: assert_model: 2 validation errors for City (JSON from the whole message, chars 0..18)",
            "E         $.name: Field required",
            "E         $.population: Input should be greater than 0 (got -1)",
        ],
        consecutive=True,
    )


def test_assert_json_schema(run_failing: Run) -> None:
    result = run_failing(
        """
from pytest_llm.assertions import assert_json_schema

SCHEMA = {
    "type": "object",
    "properties": {
        "items": {
            "type": "array",
            "items": {"properties": {"price": {"type": "number", "minimum": 0}}},
        }
    },
}

def test_answer():
    assert_json_schema({"items": [{"price": -5}]}, SCHEMA)
"""
    )
    result.stdout.fnmatch_lines(
        [
            "E       pytest_llm.assertions.SchemaViolationError: assert_json_schema: 1 violation of the schema",
            "E         $.items[0].price: -5 is less than the minimum of 0 (schema: properties.items.items.properties.price.minimum)",
        ],
        consecutive=True,
    )


def test_assert_tool_calls(run_failing: Run) -> None:
    result = run_failing(
        """
from pytest_llm.assertions import ToolCall, assert_tool_calls

RESPONSE = {"choices": [{"message": {"role": "assistant", "content": None, "tool_calls": [
    {"id": "c1", "type": "function",
     "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}]}}]}

def test_answer():
    assert_tool_calls(RESPONSE, [ToolCall("get_weather", {"city": "Lyon"})])
"""
    )
    result.stdout.fnmatch_lines(
        [
            "E       pytest_llm.assertions.ToolCallAssertionError: assert_tool_calls: 1 problem (order='exact', args='partial')",
            "E         actual:",
            'E           [0] get_weather({"city": "Paris"})',
            "E         expected:",
            'E           [0] get_weather({"city": "Lyon"})',
            "E         problems:",
            'E           call [0] get_weather: $.city: got "Paris", expected "Lyon"',
        ],
        consecutive=True,
    )


def test_bad_input_raises_config_error_not_an_assertion(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
from pytest_llm.assertions import assert_json_schema

def test_answer():
    assert_json_schema({}, {"type": "objekt"})
"""
    )
    result = pytester.runpytest("-p", "no:llm", "-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            '>       assert_json_schema({}, {"type": "objekt"})',
            "E       pytest_llm._errors.ConfigError: the schema is not a valid JSON Schema (draft 2020-12): "
            "at type: 'objekt' is not valid under any of the given schemas; fix the schema "
            "(the data was not checked); did you mean 'object'?",
        ],
        consecutive=True,
    )
