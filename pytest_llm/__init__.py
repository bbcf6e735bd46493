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
# And those a session's first replayed test loads (tests/test_activation_cost_own.py):
# the same, not through the rewriter's finder and loader; they have no asserts a
# user reads. Only marked here: a session that never uses the plugin loads none of them.
not_rewritten(
    __name__,
    [
        "._aliases",
        "._canary",
        "._capture",
        "._clock",
        "._collect",
        "._drift",
        "._errors",
        "._exchange",
        "._flow",
        "._handler",
        "._hooks",
        "._jsonpath",
        "._miss",
        "._outcome",
        "._providers",
        "._pytest_facts",
        "._report",
        "._resolve",
        "._retry_after",
        "._sdk",
        "._sse",
        "._text",
        "._urls",
        "._values",
        "._verdicts",
        ".cassette",
        ".cassette._build",
        ".cassette._fields",
        ".cassette._fixtures",
        ".cassette._format",
        ".cassette._load",
        ".cassette._match",
        ".cassette._redact",
        ".cassette._session",
        ".cassette._summary",
        ".cassette._vcr",
        ".transport._adapter",
        ".transport._hosts",
        ".transport._http",
        ".transport._patch",
    ],
)
