"""Test helpers for the assertion helpers.

Until the plugin wires ``matcher_repr_compare`` into its own hook, this conftest
does it for these tests, and ``run_failing`` gives pytester runs the same hook.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from pytest_llm.assertions import matcher_repr_compare

HOOK = """
from pytest_llm.assertions import matcher_repr_compare

def pytest_assertrepr_compare(config, op, left, right):
    return matcher_repr_compare(op, left, right)
"""


def pytest_assertrepr_compare(
    config: pytest.Config, op: str, left: object, right: object
) -> list[str] | None:
    return matcher_repr_compare(op, left, right)


@pytest.fixture
def run_failing(pytester: pytest.Pytester) -> Callable[[str], pytest.RunResult]:
    """Run a test module that must fail once; return the result for line matching."""

    def run(source: str) -> pytest.RunResult:
        pytester.makeconftest(HOOK)
        pytester.makepyfile(test_user=source)
        result = pytester.runpytest("-p", "no:llm", "-p", "no:cacheprovider", "-q")
        result.assert_outcomes(failed=1)
        return result

    return run
