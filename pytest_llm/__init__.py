"""pytest-llm: record, replay, fault-inject and assert on LLM API traffic in pytest.

The public names are loaded on first use, so that pytest start-up with the plugin
installed costs next to nothing when no test uses it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._lazy import lazy_facade

if TYPE_CHECKING:
    from ._clock import Clock, SystemClock, VirtualClock, WouldHang
    from ._errors import (
        CassetteError,
        CassetteMiss,
        CassetteNotFound,
        ConfigError,
        NetworkBlocked,
        PytestLLMError,
        ReplayInterrupt,
        SecretFound,
    )
    from .assertions import (
        Contains,
        ContainsAll,
        ContainsAny,
        IContains,
        INotContains,
        LLMAssertionError,
        Matches,
        NotContains,
        ToolCall,
        assert_contains,
        assert_contains_all,
        assert_contains_any,
        assert_json,
        assert_json_schema,
        assert_matches,
        assert_model,
        assert_not_contains,
        assert_tool_calls,
        extract_json,
        load_cases,
        parse_tool_calls,
    )
    from .cassette import DEFAULT_IGNORE, Cassette, Redactor, use_cassette
    from .fake import FakeMiss, FakeProvider, FakeRequest
    from .faults import Fault, FaultError, FaultNotApplicable, FaultPlan, UnusedFaults
    from .transport import wrap_transport
    from .transport._server import LLMServer

__all__ = [
    "DEFAULT_IGNORE",
    "Cassette",
    "CassetteError",
    "CassetteMiss",
    "CassetteNotFound",
    "Clock",
    "ConfigError",
    "Contains",
    "ContainsAll",
    "ContainsAny",
    "FakeMiss",
    "FakeProvider",
    "FakeRequest",
    "Fault",
    "FaultError",
    "FaultNotApplicable",
    "FaultPlan",
    "IContains",
    "INotContains",
    "LLMAssertionError",
    "LLMServer",
    "Matches",
    "NetworkBlocked",
    "NotContains",
    "PytestLLMError",
    "Redactor",
    "ReplayInterrupt",
    "SecretFound",
    "SystemClock",
    "ToolCall",
    "UnusedFaults",
    "VirtualClock",
    "WouldHang",
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
    "parse_tool_calls",
    "use_cassette",
    "wrap_transport",
]

_WHERE = {
    "Clock": "._clock",
    "SystemClock": "._clock",
    "VirtualClock": "._clock",
    "WouldHang": "._clock",
    "Fault": ".faults",
    "FaultError": ".faults",
    "FaultNotApplicable": ".faults",
    "FaultPlan": ".faults",
    "UnusedFaults": ".faults",
    "CassetteError": "._errors",
    "CassetteMiss": "._errors",
    "CassetteNotFound": "._errors",
    "ConfigError": "._errors",
    "NetworkBlocked": "._errors",
    "PytestLLMError": "._errors",
    "ReplayInterrupt": "._errors",
    "SecretFound": "._errors",
    "DEFAULT_IGNORE": ".cassette",
    "Cassette": ".cassette",
    "Redactor": ".cassette",
    "use_cassette": ".cassette",
    "wrap_transport": ".transport",
    "FakeProvider": ".fake",
    "FakeRequest": ".fake",
    "FakeMiss": ".fake",
    "LLMServer": ".transport._server",
    "assert_contains": ".assertions",
    "assert_not_contains": ".assertions",
    "assert_contains_any": ".assertions",
    "assert_contains_all": ".assertions",
    "assert_matches": ".assertions",
    "extract_json": ".assertions",
    "assert_json": ".assertions",
    "assert_model": ".assertions",
    "assert_json_schema": ".assertions",
    "assert_tool_calls": ".assertions",
    "parse_tool_calls": ".assertions",
    "load_cases": ".assertions",
    "ToolCall": ".assertions",
    "Contains": ".assertions",
    "IContains": ".assertions",
    "NotContains": ".assertions",
    "INotContains": ".assertions",
    "ContainsAny": ".assertions",
    "ContainsAll": ".assertions",
    "Matches": ".assertions",
    "LLMAssertionError": ".assertions",
}


__getattr__, __dir__ = lazy_facade(__name__, __all__, _WHERE)
