"""The HTTP patches handed over from one cassette test to the next (issue 14): lifted and
put back between two consecutive tests of one module or class whose first fixture is
their cassette, they were patched and unpatched per test. Everywhere else the last
handler out still lifts them: a test without the plugin, a module's fixture torn down
after its last test, anything after the session see the originals."""

from __future__ import annotations

from typing import Any

import pytest

CONFTEST = """
import os

import openai
import pytest

from pytest_llm.transport import _patch

lifted = []
_unpatch = _patch.unpatch_http


def _counting():
    lifted.append(os.environ.get("PYTEST_CURRENT_TEST", "").rpartition("::")[2])
    _unpatch()


_patch.unpatch_http = _counting
gap_client = openai.OpenAI(base_url=os.environ["LOOPBACK_URL"], max_retries=0)
gap = []


def pytest_runtest_logfinish(nodeid):
    # between two tests, where a hand-over keeps the patches on: a request from a
    # hook goes to the real transport (the patches pass it through, no handler active)
    reply = gap_client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "between"}]
    )
    gap.append(bool(reply.choices[0].message.content))


def pytest_unconfigure(config):
    print(f"lifted after: {lifted}")
    print(f"requests between tests answered: {len(gap)} of {len(gap)} -> {all(gap)}")
"""

TESTS_A = """
import os

import openai
import pytest

from pytest_llm.transport import _patch

client = openai.OpenAI(base_url=os.environ["LOOPBACK_URL"], max_retries=0)


def ours():
    import sys

    mod = sys.modules["httpx2"] if "httpx2" in sys.modules else sys.modules["httpx"]
    return hasattr(mod.HTTPTransport.handle_request, "__pytest_llm_original__")


@pytest.fixture(scope="module")
def module_resource():
    yield
    assert not ours(), "a module fixture's teardown sees the patches"
    assert _patch.patched() == ["socket"] or "httpx" not in _patch.patched()


@pytest.mark.llm_cassette
@pytest.mark.parametrize("n", range(3))
def test_replayed(n, module_resource):
    assert ours()
    assert client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": f"hi {n}"}]
    ).choices[0].message.content


def test_plain_after_them():
    assert not ours(), "a test without the plugin sees the patches"
"""

TESTS_B = """
import os

import openai
import pytest

client = openai.OpenAI(base_url=os.environ["LOOPBACK_URL"], max_retries=0)
pytestmark = pytest.mark.llm_cassette


@pytest.mark.skip(reason="skipped between two cassette tests")
def test_a_skipped_one():
    pass


@pytest.mark.parametrize("n", range(2))
def test_more(n):
    assert client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": f"more {n}"}]
    ).choices[0].message.content


def test_last_of_the_session():
    pass
"""


def test_the_patches_are_handed_over_between_cassette_tests_of_one_module(
    llm_project: pytest.Pytester,
) -> None:
    """Before: lifted after every cassette test (eight times). After: after the last
    cassette test of the first module (its next test is plain), and after the session's
    last test; a test without the plugin, the module fixture's teardown and the session's
    end see the originals; requests made between tests pass through."""
    llm_project.makeconftest(CONFTEST)
    llm_project.makepyfile(test_a=TESTS_A, test_b=TESTS_B)
    llm_project.runpytest_subprocess("-p", "no:cacheprovider", "--llm-record=once").assert_outcomes(
        passed=7, skipped=1
    )
    result = llm_project.runpytest_subprocess("-p", "no:cacheprovider", "-s")
    result.assert_outcomes(passed=7, skipped=1)
    assert (
        "lifted after: ['test_replayed[2] (teardown)', 'test_last_of_the_session (teardown)']"
        in (result.outlines)
    ), result.outlines[-4:]
    assert "requests between tests answered: 8 of 8 -> True" in result.outlines


def test_a_hand_over_nobody_takes_is_lifted() -> None:
    """Held for a next test that never activates: ``hand_over(False)`` lifts it; held
    patches another tool replaced meanwhile are made again by the next user, not reused."""
    import sys

    import openai  # noqa: F401 - loads the SDK's HTTP library (httpx2 for 3.x, else httpx)

    from pytest_llm._flow import router
    from pytest_llm.transport import _patch

    name = "httpx2" if "httpx2" in sys.modules else "httpx"
    httpx: Any = sys.modules[name]
    original = httpx.HTTPTransport.handle_request
    _patch.hand_over(True)
    try:
        _patch.acquire(router)
        _patch.release()
        assert hasattr(httpx.HTTPTransport.handle_request, "__pytest_llm_original__")
        theirs = lambda self, request: None  # noqa: E731
        httpx.HTTPTransport.handle_request = theirs
        _patch.acquire(router)  # not taken over: patched again, around theirs
        assert httpx.HTTPTransport.handle_request.__pytest_llm_original__ is theirs
        _patch.release()
        _patch.hand_over(False)
        assert httpx.HTTPTransport.handle_request is theirs
    finally:
        _patch.hand_over(False)
        httpx.HTTPTransport.handle_request = original
    assert name not in _patch.patched()


def test_an_activation_no_hand_over_may_follow_notes_nothing_for_one() -> None:
    """The modules ``patch_http`` looked for are noted only where a hand-over may follow
    (not for a fake's or a fault plan's test), and taken over only when noted."""
    from pytest_llm import FakeProvider
    from pytest_llm.transport import _patch

    with FakeProvider(check_unused=False):
        assert _patch._seen is None
    _patch.hand_over(True)
    try:
        with FakeProvider(check_unused=False):  # patched where a hand-over may follow
            assert _patch._seen is not None
        assert _patch._kept is not None
        with FakeProvider(check_unused=False):  # taken over
            assert _patch._kept is None
    finally:
        _patch.hand_over(False)
    assert not set(_patch.HTTP_TARGETS) & set(_patch.patched())
