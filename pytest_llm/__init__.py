"""pytest-llm: record, replay, fault-inject and assert on LLM API traffic in pytest.

The public names are loaded on first use, so that pytest start-up with the plugin
installed costs next to nothing when no test uses it (PYTEST_DONT_REWRITE: see
:mod:`pytest_llm.plugin`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._lazy import lazy_facade

__version__ = "0.1.0"
"""The one place the version is written (the build reads it from here)."""

if TYPE_CHECKING:
    from ._clock import (
        Clock as Clock,
    )
    from ._clock import (
        SystemClock as SystemClock,
    )
    from ._clock import (
        VirtualClock as VirtualClock,
    )
    from ._clock import (
        WouldHang as WouldHang,
    )
    from ._errors import (
        CassetteError as CassetteError,
    )
    from ._errors import (
        CassetteMiss as CassetteMiss,
    )
    from ._errors import (
        CassetteNotFound as CassetteNotFound,
    )
    from ._errors import (
        ConfigError as ConfigError,
    )
    from ._errors import (
        NetworkBlocked as NetworkBlocked,
    )
    from ._errors import (
        PytestLLMError as PytestLLMError,
    )
    from ._errors import (
        ReplayInterrupt as ReplayInterrupt,
    )
    from ._errors import (
        SecretFound as SecretFound,
    )
    from .assertions import (
        Contains as Contains,
    )
    from .assertions import (
        ContainsAll as ContainsAll,
    )
    from .assertions import (
        ContainsAny as ContainsAny,
    )
    from .assertions import (
        IContains as IContains,
    )
    from .assertions import (
        INotContains as INotContains,
    )
    from .assertions import (
        LLMAssertionError as LLMAssertionError,
    )
    from .assertions import (
        Matches as Matches,
    )
    from .assertions import (
        NotContains as NotContains,
    )
    from .assertions import (
        ToolCall as ToolCall,
    )
    from .assertions import (
        assert_contains as assert_contains,
    )
    from .assertions import (
        assert_contains_all as assert_contains_all,
    )
    from .assertions import (
        assert_contains_any as assert_contains_any,
    )
    from .assertions import (
        assert_json as assert_json,
    )
    from .assertions import (
        assert_json_schema as assert_json_schema,
    )
    from .assertions import (
        assert_matches as assert_matches,
    )
    from .assertions import (
        assert_model as assert_model,
    )
    from .assertions import (
        assert_not_contains as assert_not_contains,
    )
    from .assertions import (
        assert_tool_calls as assert_tool_calls,
    )
    from .assertions import (
        extract_json as extract_json,
    )
    from .assertions import (
        load_cases as load_cases,
    )
    from .assertions import (
        parse_tool_calls as parse_tool_calls,
    )
    from .cassette import (
        DEFAULT_IGNORE as DEFAULT_IGNORE,
    )
    from .cassette import (
        Cassette as Cassette,
    )
    from .cassette import (
        Redactor as Redactor,
    )
    from .cassette import (
        use_cassette as use_cassette,
    )
    from .fake import (
        FakeMiss as FakeMiss,
    )
    from .fake import (
        FakeProvider as FakeProvider,
    )
    from .fake import (
        FakeRequest as FakeRequest,
    )
    from .faults import (
        Fault as Fault,
    )
    from .faults import (
        FaultError as FaultError,
    )
    from .faults import (
        FaultNotApplicable as FaultNotApplicable,
    )
    from .faults import (
        FaultPlan as FaultPlan,
    )
    from .faults import (
        UnusedFaults as UnusedFaults,
    )
    from .transport import (
        wrap_transport as wrap_transport,
    )
    from .transport._server import (
        LLMServer as LLMServer,
    )

# The one table: each public name and the module it loads from, on first use.
_WHERE = {
    "Clock": "._clock",
    "SystemClock": "._clock",
    "VirtualClock": "._clock",
    "WouldHang": "._clock",
    "CassetteError": "._errors",
    "CassetteMiss": "._errors",
    "CassetteNotFound": "._errors",
    "ConfigError": "._errors",
    "NetworkBlocked": "._errors",
    "PytestLLMError": "._errors",
    "ReplayInterrupt": "._errors",
    "SecretFound": "._errors",
    "Contains": ".assertions",
    "ContainsAll": ".assertions",
    "ContainsAny": ".assertions",
    "IContains": ".assertions",
    "INotContains": ".assertions",
    "LLMAssertionError": ".assertions",
    "Matches": ".assertions",
    "NotContains": ".assertions",
    "ToolCall": ".assertions",
    "assert_contains": ".assertions",
    "assert_contains_all": ".assertions",
    "assert_contains_any": ".assertions",
    "assert_json": ".assertions",
    "assert_json_schema": ".assertions",
    "assert_matches": ".assertions",
    "assert_model": ".assertions",
    "assert_not_contains": ".assertions",
    "assert_tool_calls": ".assertions",
    "extract_json": ".assertions",
    "load_cases": ".assertions",
    "parse_tool_calls": ".assertions",
    "DEFAULT_IGNORE": ".cassette",
    "Cassette": ".cassette",
    "Redactor": ".cassette",
    "use_cassette": ".cassette",
    "FakeMiss": ".fake",
    "FakeProvider": ".fake",
    "FakeRequest": ".fake",
    "Fault": ".faults",
    "FaultError": ".faults",
    "FaultNotApplicable": ".faults",
    "FaultPlan": ".faults",
    "UnusedFaults": ".faults",
    "wrap_transport": ".transport",
    "LLMServer": ".transport._server",
}
__all__, __getattr__, __dir__ = lazy_facade(__name__, _WHERE)
