"""Test helpers for the assertion helpers.

The plugin's own ``pytest_assertrepr_compare`` explains failed matcher comparisons;
``run_failing`` runs a user's module through it and checks it failed once.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest


@pytest.fixture
def run_failing(pytester: pytest.Pytester) -> Callable[[str], pytest.RunResult]:
    """Run a test module that must fail once; return the result for line matching."""

    def run(source: str) -> pytest.RunResult:
        pytester.makepyfile(test_user=source)
        result = pytester.runpytest("-p", "no:cacheprovider", "-q")
        result.assert_outcomes(failed=1)
        return result

    return run
