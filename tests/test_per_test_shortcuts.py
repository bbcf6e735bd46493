"""The shortcuts a replayed test's cassette takes (issue 14) give what the long way
gives: the environment read in one look, the markers walked without pytest's iterators."""

from __future__ import annotations

import os

import pytest

from pytest_llm.cassette._build import environ

NAMES = ("PYTEST_LLM_RECORD", "PYTEST_LLM_UNSET_HERE", "PYTEST_LLM_EMPTY", "PYTEST_LLM_TEXT")


def _plain(names: tuple[str, ...]) -> tuple[str | None, ...]:
    return tuple(map(os.environ.get, names))


def test_environ_tells_apart_what_os_environ_get_tells_apart(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Equal reads give equal keys and different reads different keys, as the options'
    cache needs: set, unset, empty, non-ASCII, changed by the test, then put back."""
    monkeypatch.delenv("PYTEST_LLM_UNSET_HERE", raising=False)
    monkeypatch.setenv("PYTEST_LLM_RECORD", "once")
    monkeypatch.setenv("PYTEST_LLM_EMPTY", "")
    monkeypatch.setenv("PYTEST_LLM_TEXT", "ünïcode")
    states = []
    for change in (None, ("PYTEST_LLM_RECORD", "all"), ("PYTEST_LLM_EMPTY", "x"), None):
        if change is not None:
            monkeypatch.setenv(*change)
        states.append((environ(NAMES), _plain(NAMES)))
        assert environ(NAMES) == states[-1][0]  # the same environment, the same key
    monkeypatch.setenv("PYTEST_LLM_RECORD", "once")
    monkeypatch.setenv("PYTEST_LLM_EMPTY", "")
    states.append((environ(NAMES), _plain(NAMES)))
    for fast_a, plain_a in states:
        for fast_b, plain_b in states:
            assert (fast_a == fast_b) == (plain_a == plain_b)
    assert [fast[1] for fast, _ in states] == [None] * len(states)


def test_environ_asks_a_replaced_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    """A test that swaps ``os.environ`` for a mapping of its own is read through it."""
    monkeypatch.setattr(os, "environ", {"PYTEST_LLM_RECORD": "new"})
    assert environ(NAMES) == ("new", None, None, None)


def test_markers_walk_as_iter_markers_walks(pytester: pytest.Pytester) -> None:
    """Closest first: the test's own, its class's, its module's; and one a fixture adds."""
    pytester.makeconftest(
        """
        import pytest
        from pytest_llm._marks import markers

        @pytest.fixture
        def adds(request):
            request.applymarker(pytest.mark.llm_cassette(record="new"))

        def pytest_runtest_call(item):
            got = [(m.args, m.kwargs) for m in markers(item, "llm_cassette")]
            want = [(m.args, m.kwargs) for m in item.iter_markers("llm_cassette")]
            assert got == want, (got, want)
            print("MARKS", item.name, len(got))
        """
    )
    pytester.makepyfile(
        """
        import pytest

        pytestmark = [pytest.mark.llm_cassette("module.yaml"), pytest.mark.other]

        @pytest.mark.llm_cassette(match="migrate")
        class TestClass:
            @pytest.mark.llm_cassette(record="none")
            @pytest.mark.llm_cassette(allow_playback_repeats=True)
            def test_in_class(self):
                pass

        def test_module_only():
            pass

        def test_added_by_a_fixture(adds):
            pass
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider", "-s")
    result.assert_outcomes(passed=3)
    counts = sorted(line.split("MARKS ", 1)[1] for line in result.outlines if "MARKS " in line)
    assert counts == ["test_added_by_a_fixture 2", "test_in_class 4", "test_module_only 1"]
