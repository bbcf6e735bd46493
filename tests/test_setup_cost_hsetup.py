"""A replayed test's setup and teardown, shortened (issue 14, hsetup): each shortcut
gives what the long way gave, and each fails here when its guard is taken away."""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path

import openai
import pytest

import pytest_llm
from loopback import LoopbackServer
from pytest_llm._flow import router
from pytest_llm.cassette._session import Cassette

_KEYWORDS: dict[str, object] = {
    "record": "none",
    "ignore": ["body.user"],
    "allow_playback_repeats": True,
    "replay_timing": "real",
    "check_unused": False,
    "match": "strict",
    "null_as_absent": True,
    "keep_headers": ("date",),
    "model_aliases": {"m": "n"},
    "keep_host": True,
}

_MUTABLE = (list, dict, set, bytearray, type(threading.Lock()))


def test_a_cassette_made_from_a_template_is_what_its_init_makes(tmp_path: Path) -> None:
    proto = Cassette(tmp_path / "a.yaml", test="t::a", rerecord_hint="hint a", **_KEYWORDS)  # type: ignore[arg-type]
    template = proto.template()
    del proto  # the template keeps no cassette alive
    made = Cassette.from_template(
        template, tmp_path / "b.yaml", test="t::b", rerecord_hint="hint b"
    )
    fresh = Cassette(tmp_path / "b.yaml", test="t::b", rerecord_hint="hint b", **_KEYWORDS)  # type: ignore[arg-type]
    assert type(made) is Cassette
    assert made.__dict__.keys() == fresh.__dict__.keys()
    for name, value in made.__dict__.items():
        if isinstance(value, _MUTABLE):  # each cassette its own (set by _start, or copied)
            assert value is not template[name], name
            assert type(value) is type(fresh.__dict__[name]), name
            if not isinstance(value, type(threading.Lock())):
                assert value == fresh.__dict__[name], name
        else:
            assert value == fresh.__dict__[name], name
    made.model_aliases["x"] = "y"
    assert "x" not in template["model_aliases"]
    assert not any(isinstance(value, Cassette) for value in template.values())


def _record_two(path: Path, client: openai.OpenAI) -> None:
    with pytest_llm.use_cassette(path, record="once"):
        for text in ("a", "b"):
            client.chat.completions.create(model="m", messages=[{"role": "user", "content": text}])


def test_unused_lists_what_was_not_replayed_and_nothing_once_all_were(
    tmp_path: Path, loopback: LoopbackServer
) -> None:
    client = openai.OpenAI(base_url=loopback.base_url, api_key="sk-test", max_retries=0)
    path = tmp_path / "two.yaml"
    _record_two(path, client)
    cassette = Cassette(path).open()
    with cassette.active():
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": "b"}])
        assert [n for n, _ in cassette.unused()] == [0]
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": "a"}])
        assert cassette.unused() == []
    assert cassette.close() is None  # nothing recorded: nothing written


def test_a_cassettes_block_enters_its_scopes_and_unwinds_what_the_caller_pushed_first(
    tmp_path: Path,
) -> None:
    seen: list[tuple[str, bool, int]] = []

    def note(what: str) -> None:
        seen.append((what, router.active, router.network_allowed))

    replay = Cassette(tmp_path / "r.yaml")
    with replay.active() as stack:
        assert isinstance(stack, contextlib.ExitStack)
        stack.callback(note, "pushed")
        note("inside")
    note("after")
    assert seen == [("inside", True, 0), ("pushed", True, 0), ("after", False, 0)]

    seen.clear()
    for networked in (
        Cassette(tmp_path / "n.yaml", record="all"),
        Cassette(tmp_path / "a.yaml", allow_network=True),
    ):
        with networked.active():  # recording, or --llm-allow-network: the network's scope too
            note("inside")
        note("after")
    assert seen == [("inside", True, 1), ("after", False, 0)] * 2

    class Scoped(Cassette):
        def scopes(self, stack: contextlib.ExitStack) -> None:
            super().scopes(stack)
            stack.callback(note, "its own scope")

    seen.clear()
    with Scoped(tmp_path / "s.yaml").active():
        note("inside")
    assert seen == [("inside", True, 0), ("its own scope", True, 0)]

    class Failing(Cassette):
        def scopes(self, stack: contextlib.ExitStack) -> None:
            super().scopes(stack)
            raise ValueError("a scope failed")

    with pytest.raises(ValueError, match="a scope failed"), Failing(tmp_path / "f.yaml").active():
        raise AssertionError("not entered")
    assert not router.active
    with pytest.raises(KeyError), replay.active():
        raise KeyError("in the block")
    assert not router.active


SHARED_OPTIONS = """
import os
import pytest

pytestmark = pytest.mark.llm_cassette


def test_1(llm_cassette):
    assert llm_cassette.record == "once" and llm_cassette.record_blocked is None
    os.environ["CI"] = "1"  # for the next test: recording from the environment is refused


def test_2(llm_cassette):
    os.environ.pop("CI")
    assert llm_cassette.record == "none"
    assert llm_cassette.record_blocked.startswith("CI is set and record mode 'once' came from")


def test_3(llm_cassette):
    assert llm_cassette.record == "once" and llm_cassette.record_blocked is None
"""


def test_tests_that_share_their_options_still_see_the_ci_rule_each(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setenv("PYTEST_LLM_RECORD", "once")
    pytester.makepyfile(test_shared=SHARED_OPTIONS)
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=3)
