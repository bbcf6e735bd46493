"""The per-test report hook calls only what a report can use (issue 14): the cassette's
annotator looks at a test's teardown report only and the verdicts judge its call report
only, but each was called on all three reports of every test."""

from __future__ import annotations

import pytest

PROBE = """
import collections

from pytest_llm import _verdicts
from pytest_llm.cassette import _fixtures

seen = collections.Counter()
_annotate = _fixtures._Annotator.__call__
_judge = _verdicts.Verdicts.judge


def _annotating(self, rep):
    seen[f"annotator {rep.when}"] += 1
    return _annotate(self, rep)


def _judging(self, item, rep):
    seen[f"judge {rep.when}"] += 1
    return _judge(self, item, rep)


_fixtures._Annotator.__call__ = _annotating
_verdicts.Verdicts.judge = _judging


def pytest_unconfigure(config):
    print(f"calls: {sorted(seen.items())}")
"""

TESTS = """
import os

import openai
import pytest

pytestmark = pytest.mark.llm_cassette

client = openai.OpenAI(base_url=os.environ["LOOPBACK_URL"], max_retries=0)


@pytest.mark.parametrize("n", range(3))
def test_ask(n):
    assert client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": f"hi {n}"}]
    ).choices[0].message.content
"""


def test_each_part_gets_only_the_report_it_uses(llm_project: pytest.Pytester) -> None:
    """Before: the annotator and the judge each called on 9 reports (3 tests). After: the
    annotator on the 3 teardown reports (what the cassette wrote still reaches the
    summary), the judge on the 3 call reports."""
    llm_project.makeconftest(PROBE)
    llm_project.makepyfile(test_app=TESTS)
    recorded = llm_project.runpytest_subprocess("-p", "no:cacheprovider", "--llm-record=once")
    recorded.assert_outcomes(passed=3)
    assert "recorded 3 interactions into 3 cassettes:" in recorded.outlines
    result = llm_project.runpytest_subprocess("-p", "no:cacheprovider", "-s")
    result.assert_outcomes(passed=3)
    assert "calls: [('annotator teardown', 3), ('judge call', 3)]" in result.outlines
