"""pytest-llm: record, replay, fault-inject and assert on LLM API traffic in pytest.

The public names are loaded on first use, so that pytest start-up with the plugin
installed costs next to nothing when no test uses it (PYTEST_DONT_REWRITE: see
:mod:`pytest_llm.plugin`). Type checkers read them, with their types, from the stub
beside this file (``__init__.pyi``).
"""

from ._lazy import lazy_facade, not_rewritten

__version__ = "0.1.0"
"""The one place the version is written (the build reads it from here)."""

# The one table: each public name and the module it loads from, on first use.
_WHERE = {
    name: module
    for module, names in (
        ("._clock", "Clock SystemClock VirtualClock WouldHang"),
        (
            "._errors",
            "CassetteError CassetteMiss CassetteNotFound ConfigError NetworkBlocked "
            "PytestLLMError ReplayInterrupt SecretFound",
        ),
        (
            ".assertions",
            "Contains ContainsAll ContainsAny IContains INotContains LLMAssertionError "
            "Matches NotContains ToolCall assert_contains assert_contains_all "
            "assert_contains_any assert_json assert_json_schema assert_matches assert_model "
            "assert_not_contains assert_tool_calls extract_json load_cases parse_tool_calls",
        ),
        (".cassette", "DEFAULT_IGNORE Cassette Redactor use_cassette"),
        (".fake", "FakeMiss FakeProvider FakeRequest"),
        (".faults", "Fault FaultError FaultNotApplicable FaultPlan UnusedFaults"),
        (".transport", "wrap_transport"),
        (".transport._server", "LLMServer"),
    )
    for name in names.split()
}
__all__, __getattr__, __dir__ = lazy_facade(__name__, _WHERE)

# The modules every pytest start-up loads (tests/test_startup.py): compiled by Python,
# not parsed and compiled again by pytest's assertion rewriter.
not_rewritten(
    __name__,
    [
        ".plugin",
        "._settings",
        "._guard",
        ".transport",
        ".transport._common",
        ".transport._socket",
        "._vcr_shim",
        "._marks",
    ],
)
