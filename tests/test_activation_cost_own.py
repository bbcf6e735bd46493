"""A replayed test's virtual clock (issue 14): the SDK's stand-ins handed over between
two cassette tests with the transports' patches, dormant in between (before: every
test's clock swapped the SDK's names and put them back)."""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from fresh_process import run_probe

from pytest_llm import VirtualClock
from pytest_llm.transport import _patch


@pytest.fixture
def base_client() -> Any:
    import openai  # noqa: F401 - its modules are what the clock captures

    return sys.modules["openai._base_client"]


def test_the_stand_ins_stay_dormant_between_two_tests_and_the_next_clock_takes_them(
    base_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_random = base_client.random  # the module, or ``from random import random``
    assert base_client.time is time
    _patch.hand_over(True)
    try:
        first = VirtualClock().install()
        stand_in = base_client.time
        assert stand_in is not time
        first.uninstall()
        # kept for the next test (before: the real module back), dormant: real time
        assert base_client.time is stand_in
        slept: list[float] = []
        monkeypatch.setattr(time, "sleep", slept.append)
        stand_in.sleep(0.25)  # a hook's sleep between two tests really sleeps
        assert slept == [0.25]
        assert abs(stand_in.time() - time.time()) < 60
        assert first.sleeps == []
        second = VirtualClock().install()  # taken over: the same stand-in, on this clock
        assert base_client.time is stand_in
        stand_in.sleep(2)
        assert second.sleeps == [2]
        assert slept == [0.25]
        assert stand_in.time() == second.time()
        second.uninstall()
        assert base_client.time is stand_in
    finally:
        _patch.hand_over(False)  # nobody takes them: the real names back
    assert base_client.time is time
    assert base_client.random is real_random


def test_without_a_hand_over_the_real_names_go_back_at_once(base_client: Any) -> None:
    with VirtualClock():
        assert base_client.time is not time
    assert base_client.time is time


def test_a_stand_in_replaced_in_the_gap_is_not_reused(base_client: Any) -> None:
    _patch.hand_over(True)
    theirs = object()
    try:
        VirtualClock().install().uninstall()
        kept = base_client.time
        base_client.time = theirs  # another tool, between the two tests
        clock = VirtualClock().install()
        assert base_client.time is not kept  # swapped anew, around the real module
        assert base_client.time._real is time
        base_client.time.sleep(1)
        assert clock.sleeps == [1]
        clock.uninstall()
    finally:
        _patch.hand_over(False)
    assert base_client.time is time


def test_a_nested_clock_is_not_left_dormant(base_client: Any) -> None:
    _patch.hand_over(True)
    try:
        outer = VirtualClock().install()
        outer_time = base_client.time
        with VirtualClock() as inner:
            base_client.time.sleep(3)
            assert inner.sleeps == [3]
        assert base_client.time is outer_time  # the inner one's names went back
        outer.uninstall()
    finally:
        _patch.hand_over(False)
    assert base_client.time is time


def test_the_session_end_lifts_dormant_stand_ins(base_client: Any) -> None:
    _patch.hand_over(True)
    VirtualClock().install().uninstall()
    assert base_client.time is not time
    _patch.unpatch_http()  # restore_all's part, at the session's end
    assert base_client.time is time


def test_from_random_import_random_draws_on_the_clock_and_really_when_dormant() -> None:
    from pytest_llm._sdk import _Draw, _stand_in

    clock = VirtualClock(seed=7)
    draw = _stand_in("random", random.random, clock)
    assert isinstance(draw, _Draw)
    assert draw() == random.Random(7).random()
    draw._clock = None
    state = random.getstate()
    expected = random.random()
    random.setstate(state)
    assert draw() == expected


REPLAYED = """
import json, sys, pytest
from _pytest import config
config._is_editable_install = lambda dist: True  # rewritten as an editable install is
pytest.main(sys.argv[1:])
print(json.dumps({n: type(m.__loader__).__name__ for n, m in list(sys.modules.items())
                  if n.split(".")[0] == "pytest_llm"}))
"""


def test_what_a_replayed_test_loads_is_compiled_by_python_not_rewritten(
    tmp_path: Path,
) -> None:
    """The modules a session's first replayed test loads went through pytest's assertion
    rewriter (its finder and loader in Python; with bytecode off, a parse to AST objects
    and a compile of those); they are marked not for rewriting, as the start-up ones."""
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_replayed.py").write_text(
        "import openai, pytest\n\n\n@pytest.mark.llm_cassette\ndef test_one():\n    assert openai\n"
    )
    loaders = run_probe(REPLAYED, ["-p", "no:cacheprovider", "-q"], tmp_path, bytecode=False)
    assert "pytest_llm.cassette._session" in loaders, loaders
    assert "pytest_llm._sdk" in loaders
    rewritten = sorted(n for n, loader in loaders.items() if loader == "AssertionRewritingHook")
    assert rewritten == ["pytest_llm", "pytest_llm._lazy"]
