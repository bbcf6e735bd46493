"""Per-test work of the clock's SDK capture, the outcome bookkeeping and the verdicts
(issue 14): cheap for every test, the same behaviour."""

from __future__ import annotations

import textwrap

import pytest

COUNTING = """
import collections
import sys

import pytest

calls = collections.Counter()
# the SDK's reads of the stand-ins and the transports' catch_up during the requests
# (their number depends on the SDK and HTTP library): not the capture's work
USES = {"__getattr__", "sleep", "time", "random", "uniform", "__get__", "catch_up"}


def _count(frame, event, arg):
    if event != "call":
        return
    f = frame  # each Python call goes to the nearest pytest-llm frame (itself or a caller)
    while f is not None and "pytest_llm" not in f.f_code.co_filename:
        f = f.f_back
    if f is not None and f.f_code.co_name not in USES:
        calls[f.f_code.co_filename.rpartition("pytest_llm")[2].lstrip("/\\\\")] += 1


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_protocol(item, nextitem):
    if not item.name.endswith("[2]"):  # the third test: everything warm
        return (yield)
    sys.setprofile(_count)
    try:
        return (yield)
    finally:
        sys.setprofile(None)


def pytest_runtest_call(item):
    from pytest_llm import _sdk

    if item.name.endswith("[2]"):
        print(f"names swapped: {len(_sdk._captures[-1].saved)}")


def pytest_unconfigure(config):
    for name in ("_outcome.py", "_verdicts.py", "_sdk.py"):
        print(f"calls under {name}: {calls[name]}")
"""


def test_a_tests_bookkeeping_clock_capture_and_verdict_watch_stay_cheap(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Python calls made under each module during one test with a fake, the virtual
    clock and the verdicts' watch. They were 49 (three stash entries per test, each
    looked up per report), 38 (two stash entries, pytest's marker iterator for
    ``llm_verdicts``) and 25 for the capture (three calls per SDK name swapped, one per
    provider to ask whether it is imported); now 34, 24-25 and 10 (one per name + 5)."""
    for name in ("PYTEST_LLM_VERDICTS", "CI", "OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    pytester.makeconftest(COUNTING)
    pytester.makepyfile(
        """
        import openai
        import pytest

        @pytest.mark.parametrize("n", range(4))
        def test_ask(llm_fake, llm_clock, n):
            client = openai.OpenAI()
            client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
            )
        """
    )
    # a fresh process: in this one other tests may have imported more SDKs to capture
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-s")
    result.assert_outcomes(passed=4)
    counted = {
        line.split()[2][:-1]: int(line.split()[3])
        for line in result.outlines
        if line.startswith("calls under ")
    }
    assert counted["_outcome.py"] <= 38, counted
    assert counted["_verdicts.py"] <= 28, counted
    swapped = next(int(line.split()[-1]) for line in result.outlines if "names swapped" in line)
    assert counted["_sdk.py"] <= swapped + 7, (counted, swapped)  # was 3 per name + 11


BODY = """
import openai
import pytest
from pytest_llm import faults

MSG = [{"role": "user", "content": "hi"}]


def truncated(llm_faults):
    llm_faults.add(faults.TruncatedStream())
    s = openai.OpenAI().chat.completions.create(model="gpt-4o-mini", messages=MSG, stream=True)
    return "".join(ch.choices[0].delta.content or "" for ch in s if ch.choices)


IGNORE = pytest.mark.llm_verdicts(ignore=["truncated_stream_accepted"])


@pytest.fixture
def ignoring(request):
    request.applymarker(IGNORE)


def test_flagged(llm_fake, llm_faults, llm_clock):
    truncated(llm_faults)


@IGNORE
class TestMarkedClass:
    def test_in_class(self, llm_fake, llm_faults, llm_clock):
        truncated(llm_faults)


def test_marked_by_a_fixture(ignoring, llm_fake, llm_faults, llm_clock):
    truncated(llm_faults)
"""


@pytest.mark.parametrize("module_marker", [False, True])
def test_an_llm_verdicts_marker_counts_on_the_test_its_class_module_or_from_a_fixture(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, module_marker: bool
) -> None:
    """The verdicts read the test's closest ``llm_verdicts`` marker themselves (no
    marker iterator per test): the test's, its class's, its module's, or one a fixture
    applied during setup."""
    for name in ("PYTEST_LLM_VERDICTS", "CI", "OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    body = BODY + ("\npytestmark = IGNORE\n" if module_marker else "")
    pytester.makepyfile(test_app=textwrap.dedent(body))
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)
    flagged = [line for line in result.outlines if line.startswith("test_app.py::")]
    assert flagged == ([] if module_marker else ["test_app.py::test_flagged"])


FUNCTION_IMPORTS = """
import sys

import pytest

seen = set()


def _count(frame, event, arg):
    # a relative import in a function asks the module's spec for its parent package
    # (importlib's ModuleSpec.parent, a Python property) each time it runs
    if event == "call" and frame.f_code.co_name == "parent" and "importlib" in frame.f_code.co_filename:
        caller = frame.f_back
        if caller is not None and "pytest_llm" in caller.f_code.co_filename:
            where = caller.f_code.co_filename.rpartition("pytest_llm")[2].lstrip("/\\\\")
            seen.add(f"{where}:{caller.f_code.co_name}")


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_protocol(item, nextitem):
    if not item.name.endswith("[2]"):  # the third test: everything loaded
        return (yield)
    sys.setprofile(_count)
    try:
        return (yield)
    finally:
        sys.setprofile(None)


def pytest_unconfigure(config):
    print(f"relative imports in functions: {sorted(seen)}")
"""


def test_a_replayed_test_runs_no_relative_import_inside_a_function(
    llm_project: pytest.Pytester,
) -> None:
    """The modules a replayed test needs are imported once: a relative import inside a
    function runs the import machinery each time (~1-2 us: it asks the module's spec for
    its parent package), and a replayed test ran seven (the fixture's body, the cassette
    class, the record mode's check, the clock's SDK capture, the transports' patching,
    the verdicts' watch, twice). The test itself is the same: replayed, on virtual time."""
    llm_project.makeconftest(FUNCTION_IMPORTS)
    llm_project.makepyfile(
        test_app="""
        import os

        import openai
        import pytest

        from pytest_llm import VirtualClock
        from pytest_llm._clock import current_clock

        pytestmark = pytest.mark.llm_cassette
        client = openai.OpenAI(base_url=os.environ["LOOPBACK_URL"], max_retries=0)

        @pytest.mark.parametrize("n", range(4))
        def test_ask(n, llm_cassette):
            reply = client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": f"hi {n}"}]
            )
            assert reply.choices[0].message.content
            assert isinstance(current_clock(), VirtualClock) is not llm_cassette.recording
        """
    )
    llm_project.runpytest_subprocess("-p", "no:cacheprovider", "--llm-record=once").assert_outcomes(
        passed=4
    )
    result = llm_project.runpytest_subprocess("-p", "no:cacheprovider", "-s")
    result.assert_outcomes(passed=4)
    assert "relative imports in functions: []" in result.outlines, result.outlines[-5:]
