"""Assertions on what a model said: text, JSON, JSON Schema, pydantic, tool calls, eval cases.

Re-exports only; the implementation lives in the private modules beside this one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_facade

if TYPE_CHECKING:
    from ._base import (
        CaseFailedError as CaseFailedError,
    )
    from ._base import (
        JSONMismatchError as JSONMismatchError,
    )
    from ._base import (
        JSONNotFoundError as JSONNotFoundError,
    )
    from ._base import (
        LLMAssertionError as LLMAssertionError,
    )
    from ._base import (
        ModelAssertionError as ModelAssertionError,
    )
    from ._base import (
        SchemaViolationError as SchemaViolationError,
    )
    from ._base import (
        TextAssertionError as TextAssertionError,
    )
    from ._base import (
        ToolCallAssertionError as ToolCallAssertionError,
    )
    from ._cases import (
        Case as Case,
    )
    from ._cases import (
        CaseResult as CaseResult,
    )
    from ._cases import (
        Check as Check,
    )
    from ._cases import (
        CheckResult as CheckResult,
    )
    from ._cases import (
        assert_case as assert_case,
    )
    from ._cases import (
        load_cases as load_cases,
    )
    from ._cases import (
        read_cases as read_cases,
    )
    from ._json import (
        JSONCandidate as JSONCandidate,
    )
    from ._json import (
        JSONMatch as JSONMatch,
    )
    from ._json import (
        assert_json as assert_json,
    )
    from ._json import (
        extract_json as extract_json,
    )
    from ._matchers import (
        AllOf as AllOf,
    )
    from ._matchers import (
        AnyOf as AnyOf,
    )
    from ._matchers import (
        Contains as Contains,
    )
    from ._matchers import (
        ContainsAll as ContainsAll,
    )
    from ._matchers import (
        ContainsAny as ContainsAny,
    )
    from ._matchers import (
        IContains as IContains,
    )
    from ._matchers import (
        INotContains as INotContains,
    )
    from ._matchers import (
        Matcher as Matcher,
    )
    from ._matchers import (
        Matches as Matches,
    )
    from ._matchers import (
        Not as Not,
    )
    from ._matchers import (
        NotContains as NotContains,
    )
    from ._matchers import (
        matcher_repr_compare as matcher_repr_compare,
    )
    from ._model import (
        assert_model as assert_model,
    )
    from ._reading import (
        ToolCall as ToolCall,
    )
    from ._reading import (
        parse_tool_calls as parse_tool_calls,
    )
    from ._samples import (
        SamplesFailed as SamplesFailed,
    )
    from ._samples import (
        SamplesResult as SamplesResult,
    )
    from ._samples import (
        SamplesSpec as SamplesSpec,
    )
    from ._samples import (
        pass_at_k as pass_at_k,
    )
    from ._samples import (
        wilson_interval as wilson_interval,
    )
    from ._schema import (
        assert_json_schema as assert_json_schema,
    )
    from ._text import (
        assert_contains as assert_contains,
    )
    from ._text import (
        assert_contains_all as assert_contains_all,
    )
    from ._text import (
        assert_contains_any as assert_contains_any,
    )
    from ._text import (
        assert_matches as assert_matches,
    )
    from ._text import (
        assert_not_contains as assert_not_contains,
    )
    from ._tools import (
        assert_tool_calls as assert_tool_calls,
    )

# The one table: each public name and the module it loads from, on first use.
_WHERE = {
    "CaseFailedError": "._base",
    "JSONMismatchError": "._base",
    "JSONNotFoundError": "._base",
    "LLMAssertionError": "._base",
    "ModelAssertionError": "._base",
    "SchemaViolationError": "._base",
    "TextAssertionError": "._base",
    "ToolCallAssertionError": "._base",
    "Case": "._cases",
    "CaseResult": "._cases",
    "Check": "._cases",
    "CheckResult": "._cases",
    "assert_case": "._cases",
    "load_cases": "._cases",
    "read_cases": "._cases",
    "JSONCandidate": "._json",
    "JSONMatch": "._json",
    "assert_json": "._json",
    "extract_json": "._json",
    "AllOf": "._matchers",
    "AnyOf": "._matchers",
    "Contains": "._matchers",
    "ContainsAll": "._matchers",
    "ContainsAny": "._matchers",
    "IContains": "._matchers",
    "INotContains": "._matchers",
    "Matcher": "._matchers",
    "Matches": "._matchers",
    "Not": "._matchers",
    "NotContains": "._matchers",
    "matcher_repr_compare": "._matchers",
    "assert_model": "._model",
    "SamplesFailed": "._samples",
    "SamplesResult": "._samples",
    "SamplesSpec": "._samples",
    "pass_at_k": "._samples",
    "wilson_interval": "._samples",
    "assert_json_schema": "._schema",
    "assert_contains": "._text",
    "assert_contains_all": "._text",
    "assert_contains_any": "._text",
    "assert_matches": "._text",
    "assert_not_contains": "._text",
    "ToolCall": "._reading",
    "assert_tool_calls": "._tools",
    "parse_tool_calls": "._reading",
}
_HELPERS = frozenset({"matcher_repr_compare"})
"""Importable from here, but helpers, not part of the public surface."""
__all__, __getattr__, __dir__ = lazy_facade(__name__, _WHERE, hidden=_HELPERS)
