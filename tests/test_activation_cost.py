"""A handler's activation per test (issue 14): the socket guard's wrappers are made once
per original, the guard's and the handler's blocks are classes; the same behaviour as
the generators they replace (errors in and out of the block, nesting, restoring)."""

from __future__ import annotations

import contextlib
import socket
from typing import Any

import pytest

from pytest_llm import FakeProvider, FaultPlan
from pytest_llm._flow import router
from pytest_llm.transport import _patch, _socket


def _socket_functions() -> tuple[Any, Any, Any]:
    return socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo


def test_the_socket_guards_wrappers_are_made_once_per_original(
    pytester: pytest.Pytester,
) -> None:
    """Without the session's guard (which keeps the socket patched all session), each
    test's handler patches the socket and puts it back: with the same wrappers each
    time, around whatever is the original then (another tool's replacement between
    tests gets a wrapper of its own, checked first, then called; never the old one)."""
    pytester.makepyfile(
        """
        import socket

        import pytest

        from pytest_llm import FakeProvider
        from pytest_llm._errors import NetworkBlocked
        def functions():
            return socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo

        def test_same_wrappers_each_time():
            before = functions()
            seen = []
            for _ in range(3):
                with FakeProvider(check_unused=False):
                    seen.append(functions())
                assert functions() == before
            assert all(hasattr(f, "__pytest_llm_original__") for f in seen[0])
            assert seen[0] == seen[1] == seen[2]
            assert all(w is not b for w, b in zip(seen[0], before))

        def test_another_tools_replacement_gets_its_own(monkeypatch):
            with FakeProvider(check_unused=False):
                first = socket.getaddrinfo
            asked = []
            real = socket.getaddrinfo

            def theirs(host, *args, **kwargs):
                asked.append(host)
                return real(host, *args, **kwargs)

            monkeypatch.setattr(socket, "getaddrinfo", theirs)
            with FakeProvider(check_unused=False):
                second = socket.getaddrinfo
                assert second is not first
                assert second.__pytest_llm_original__ is theirs
                socket.getaddrinfo("127.0.0.1", 80)  # checked (loopback), then theirs
                assert asked == ["127.0.0.1"]
                with pytest.raises(NetworkBlocked):  # the guard's check comes first
                    socket.getaddrinfo("api.openai.com", 443)
                assert asked == ["127.0.0.1"]
            assert socket.getaddrinfo is theirs
            monkeypatch.undo()
            with FakeProvider(check_unused=False):  # the first original's wrapper again
                assert socket.getaddrinfo is first
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-o", "llm_guard=off")
    result.assert_outcomes(passed=2)


def test_the_guards_block_restores_the_previous_guard_nested_and_on_errors() -> None:
    seen: list[str] = []

    def outer(host: str, port: Any) -> None:
        seen.append(f"outer {host}")

    def inner(host: str, port: Any) -> None:
        seen.append(f"inner {host}")

    state = _socket.state
    previous = state.host_guard
    with _socket.guarded(outer):
        assert state.host_guard is outer
        assert "socket" in _patch.patched()
        with pytest.raises(KeyError), _socket.guarded(inner):
            assert state.host_guard is inner
            raise KeyError("in the block")
        assert state.host_guard is outer
        with _socket.guarded(None):  # a cassette's test: no guard, the socket as it was
            assert state.host_guard is None
        assert state.host_guard is outer
    assert state.host_guard is previous


def test_a_guard_that_cannot_patch_leaves_the_previous_guard(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    previous = _socket.state.host_guard

    def failing() -> None:
        raise RuntimeError("cannot patch")

    monkeypatch.setattr(_socket, "acquire", failing)
    with pytest.raises(RuntimeError, match="cannot patch"), _socket.guarded(lambda h, p: None):
        raise AssertionError("not entered")
    assert _socket.state.host_guard is previous


def test_a_handlers_block_unwinds_on_errors_in_its_body_and_its_scopes() -> None:
    fake = FakeProvider(check_unused=False)
    with pytest.raises(KeyError), fake.active() as stack:
        assert isinstance(stack, contextlib.ExitStack)
        assert router.active
        assert "socket" in _patch.patched()
        raise KeyError("in the block")
    assert not router.active
    assert not set(_patch.HTTP_TARGETS) & set(_patch.patched())

    class Failing(FaultPlan):
        def scopes(self, stack: contextlib.ExitStack) -> None:
            super().scopes(stack)  # on the chain, patched ...
            raise ValueError("a scope failed")  # ... then taken off again

    with pytest.raises(ValueError, match="a scope failed"), Failing().active():
        raise AssertionError("not entered")
    assert not router.active
    assert not set(_patch.HTTP_TARGETS) & set(_patch.patched())

    class Suppressing(FaultPlan):
        def scopes(self, stack: contextlib.ExitStack) -> None:
            super().scopes(stack)
            stack.enter_context(contextlib.suppress(KeyError))

    with Suppressing().active():  # what the stack suppresses is suppressed, as before
        raise KeyError("suppressed")
    assert not router.active
