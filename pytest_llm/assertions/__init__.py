"""Assertions on what a model said: text, JSON, JSON Schema, pydantic, tool calls, eval cases.

Re-exports only; the implementation lives in the private modules beside this one.
"""

from __future__ import annotations

from ._base import (
    CaseFailedError,
    JSONMismatchError,
    JSONNotFoundError,
    LLMAssertionError,
    ModelAssertionError,
    SchemaViolationError,
    TextAssertionError,
    ToolCallAssertionError,
)
from ._cases import (
    Case,
    CaseResult,
    Check,
    CheckResult,
    assert_case,
    load_cases,
    read_cases,
)
from ._json import JSONCandidate, JSONMatch, assert_json, extract_json
from ._matchers import (
    AllOf,
    AnyOf,
    Contains,
    ContainsAll,
    ContainsAny,
    IContains,
    INotContains,
    Matcher,
    Matches,
    Not,
    NotContains,
    matcher_repr_compare,
)
from ._model import assert_model
from ._samples import SamplesFailed, SamplesResult, SamplesSpec, pass_at_k, wilson_interval
from ._schema import assert_json_schema
from ._text import (
    assert_contains,
    assert_contains_all,
    assert_contains_any,
    assert_matches,
    assert_not_contains,
)
from ._tools import ToolCall, assert_tool_calls, parse_tool_calls

__all__ = [
    "AllOf",
    "AnyOf",
    "Case",
    "CaseFailedError",
    "CaseResult",
    "Check",
    "CheckResult",
    "Contains",
    "ContainsAll",
    "ContainsAny",
    "IContains",
    "INotContains",
    "JSONCandidate",
    "JSONMatch",
    "JSONMismatchError",
    "JSONNotFoundError",
    "LLMAssertionError",
    "Matcher",
    "Matches",
    "ModelAssertionError",
    "Not",
    "NotContains",
    "SamplesFailed",
    "SamplesResult",
    "SamplesSpec",
    "SchemaViolationError",
    "TextAssertionError",
    "ToolCall",
    "ToolCallAssertionError",
    "assert_case",
    "assert_contains",
    "assert_contains_all",
    "assert_contains_any",
    "assert_json",
    "assert_json_schema",
    "assert_matches",
    "assert_model",
    "assert_not_contains",
    "assert_tool_calls",
    "extract_json",
    "load_cases",
    "matcher_repr_compare",
    "parse_tool_calls",
    "pass_at_k",
    "read_cases",
    "wilson_interval",
]
