"""Patches that undo themselves, and one exit rule for every handler."""

from __future__ import annotations

import contextlib
import socket
from pathlib import Path

import httpx
import openai
import pytest

import pytest_llm
from loopback import LoopbackServer
from pytest_llm import FakeProvider, FaultPlan, faults
from pytest_llm._errors import CassetteUnused, PytestLLMError, Unused
from pytest_llm._handler import Handler
from pytest_llm.fake import FakeMiss, FakeUnused
from pytest_llm.transport import _patch


def _originals() -> dict[str, object]:
    return {
        "httpx": httpx.HTTPTransport.handle_request,
        "httpx async": httpx.AsyncHTTPTransport.handle_async_request,
        "connect": socket.socket.connect,
        "getaddrinfo": socket.getaddrinfo,
    }


def _ours(fn: object) -> bool:
    return hasattr(fn, "__pytest_llm_original__")


def test_the_last_handler_out_restores_every_patch() -> None:
    socket_before = (socket.socket.connect, socket.getaddrinfo)  # the session guard's, if on
    with FakeProvider(check_unused=False):
        assert {"httpx", "socket"} <= set(_patch.patched())
        assert _ours(httpx.HTTPTransport.handle_request)
        with FaultPlan():  # a second handler: still patched after it leaves
            pass
        assert _ours(httpx.HTTPTransport.handle_request)
    assert not set(_patch.HTTP_TARGETS) & set(_patch.patched())
    assert not _ours(httpx.HTTPTransport.handle_request)
    assert not _ours(httpx.AsyncHTTPTransport.handle_async_request)
    assert (socket.socket.connect, socket.getaddrinfo) == socket_before


def test_patches_go_with_the_session(pytester: pytest.Pytester) -> None:
    """After pytest_unconfigure, nothing of pytest-llm is left patched."""
    pytester.makepyfile(
        """
        import httpx, socket
        from pytest_llm.transport import _patch

        def test_patched_while_in_use(llm_fake):
            assert "httpx" in _patch.patched() and "socket" in _patch.patched()
        """
    )
    before = _originals()
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    probe = pytester.makepyfile(
        probe="""
        import httpx, socket, pytest
        originals = (httpx.HTTPTransport.handle_request, socket.socket.connect, socket.getaddrinfo)
        assert pytest.main(["-q", "-p", "no:cacheprovider", "test_patches_go_with_the_session.py"]) == 0
        from pytest_llm.transport import _patch
        assert _patch.patched() == [], _patch.patched()
        after = (httpx.HTTPTransport.handle_request, socket.socket.connect, socket.getaddrinfo)
        assert after == originals
        print("all restored")
        """
    )
    run = pytester.run(__import__("sys").executable, str(probe))
    run.stdout.fnmatch_lines(["all restored"])
    assert run.ret == 0
    assert _originals() == before  # the outer session is untouched


# -- one exit rule ---------------------------------------------------------------------


def test_every_unused_error_is_one_family() -> None:
    for cls in (CassetteUnused, faults.UnusedFaults, FakeUnused):
        assert issubclass(cls, Unused)
        assert issubclass(cls, PytestLLMError)
        assert issubclass(cls, AssertionError)
    for handler in (pytest_llm.Cassette, FaultPlan, FakeProvider):
        assert issubclass(handler, Handler)


def _swallow(client: openai.OpenAI) -> None:
    with contextlib.suppress(BaseException):  # the application hides what went wrong
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])


def test_a_swallowed_miss_fails_every_handler_outside_pytest(
    tmp_path: Path, loopback: LoopbackServer
) -> None:
    client = openai.OpenAI(base_url=loopback.base_url, api_key="sk-test", max_retries=0)
    path = tmp_path / "c.yaml"
    with pytest_llm.use_cassette(path, record="once"):
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": "rec"}])
    with pytest.raises(pytest_llm.CassetteMiss) as cassette_miss, pytest_llm.use_cassette(path):
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": "rec"}])
        _swallow(client)
    assert cassette_miss.value.args[0].startswith(
        "pytest-llm: no recorded response matches this request (record mode: none)"
    )
    with pytest.raises(FakeMiss) as fake_miss, FakeProvider(strict=True, check_unused=False):
        _swallow(client)
    assert str(fake_miss.value).startswith("llm_fake has no reply for POST /v1/chat/completions")
    with (
        pytest.raises(faults.FaultNotApplicable) as not_applicable,
        FaultPlan(faults.Stall(after_chunk=5)),
        FakeProvider(check_unused=False),
    ):
        _swallow(client)
    assert "Stall(after_chunk=5)" in str(not_applicable.value)


def test_a_failing_block_reports_only_its_own_error(tmp_path: Path) -> None:
    fake = FakeProvider()
    fake.add("never asked")
    with pytest.raises(ZeroDivisionError), fake:
        1 / 0  # noqa: B018
    plan = FaultPlan(faults.RateLimited())
    with pytest.raises(KeyError), plan:
        raise KeyError("x")
    assert fake.unused()  # left unused, and not what the block raised
    assert plan.unused()


def test_unused_recordings_fail_use_cassette_with_the_family_error(
    tmp_path: Path, loopback: LoopbackServer
) -> None:
    client = openai.OpenAI(base_url=loopback.base_url, api_key="sk-test", max_retries=0)
    path = tmp_path / "c.yaml"
    with pytest_llm.use_cassette(path, record="once"):
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": "a"}])
    with pytest.raises(CassetteUnused) as info, pytest_llm.use_cassette(path, check_unused=True):
        pass
    assert str(info.value).splitlines()[0] == (
        f"pytest-llm: 1 recorded interaction in {path} was never used:"
    )


PROFILE_CONFTEST = """
import os, sys, pytest
import pytest_llm

ROOT = os.path.dirname(pytest_llm.__file__) + os.sep
SEEN = set()

def _profile(frame, event, arg):
    if event == "call" and frame.f_code.co_filename.startswith(ROOT):
        SEEN.add(f"{frame.f_code.co_filename[len(ROOT):]}:{frame.f_code.co_name}")

@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item, nextitem):
    sys.setprofile(_profile)
    try:
        return (yield)
    finally:
        sys.setprofile(None)

def pytest_terminal_summary(terminalreporter):
    terminalreporter.write_line(f"pytest-llm code run by tests: {sorted(SEEN)}")
"""


def test_tests_that_do_not_use_the_plugin_run_no_pytest_llm_code(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeconftest(PROFILE_CONFTEST)
    pytester.makepyfile(
        """
        import pytest

        def test_plain():
            assert 1 + 1 == 2

        @pytest.mark.parametrize("n", range(3))
        def test_param(n, tmp_path):
            (tmp_path / "f").write_text(str(n))
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(["pytest-llm code run by tests: []"])


def test_a_test_that_uses_the_plugin_is_served(pytester: pytest.Pytester) -> None:
    """The same probe sees pytest-llm at work once a test asks for it (the probe works)."""
    pytester.makeconftest(PROFILE_CONFTEST)
    pytester.makepyfile(
        """
        def test_fake(llm_fake):
            pass
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["pytest-llm code run by tests: [[]*_outcome.py:serve*"])


LIVE_CONFTEST = """
import gc
import pytest
from pytest_llm._handler import Handler

def pytest_sessionfinish(session):
    gc.collect()
    live = sorted(type(o).__name__ for o in gc.get_objects() if isinstance(o, Handler))
    print(f"\\nhandlers alive at the end: {live}")
"""


def test_a_finished_test_keeps_no_handler_alive(pytester: pytest.Pytester) -> None:
    """pytest keeps every item until the session ends; what a test's fixtures hung on it
    (report annotators, sample listeners) must not keep its cassette, plan or fake."""
    pytester.makeconftest(LIVE_CONFTEST)
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.llm_cassette
        @pytest.mark.parametrize("n", range(3))
        def test_cassette(n):
            pass

        def test_all(llm_cassette, llm_fake, llm_faults):
            pass
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider", "-s")
    result.assert_outcomes(passed=4)
    assert "handlers alive at the end: []" in result.stdout.lines


def test_the_sdk_canary_is_read_once_not_per_test(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test's handler patches the transports anew; the installed SDK's version (a
    package-metadata scan) is looked up for the aiohttp canary once per process."""
    from pytest_llm import _canary
    from pytest_llm.transport import _http

    asked: list[str] = []
    real = _canary.sdk_version

    def counting(*args: object) -> str | None:
        asked.append("sdk_version")
        return real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(_canary, "sdk_version", counting)
    _http._check_aiohttp.cache_clear()
    for _ in range(3):
        with FakeProvider(check_unused=False):
            assert "httpx" in _patch.patched()
    assert asked == ["sdk_version"]


def test_a_replayed_request_leaves_no_reference_cycle(
    tmp_path: Path, loopback: LoopbackServer
) -> None:
    """The chain's ``nxt`` was a closure that named itself: each request made a reference
    cycle holding the handlers, so a test's cassette, its file and replies stayed alive
    until the garbage collector's next full pass. Now they go when the test lets go."""
    import gc
    import weakref

    client = openai.OpenAI(api_key="sk-test", base_url=loopback.base_url, max_retries=0)
    path = tmp_path / "c.yaml"
    with pytest_llm.use_cassette(path, record="once"):
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
    gc.collect()
    gc.disable()
    try:
        with pytest_llm.use_cassette(path) as cassette:
            client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
        gone = weakref.ref(cassette)
        del cassette
        assert gone() is None
    finally:
        gc.enable()
