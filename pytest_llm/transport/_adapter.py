"""httpx / httpx2 adapter: library requests to :class:`Exchange`, :class:`Reply` to responses.

httpx2 (under the openai SDK 3.x) has the same transport API as httpx (under 1.x and
2.x), so one implementation serves both; ``m`` is the library module.
"""

from __future__ import annotations

import types
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

from .._capture import Capture
from .._clock import current_clock
from .._errors import ReplayInterrupt
from .._exchange import Exchange, Forward, Outcome, Part, Reply, TransportFailure
from .._miss import miss_reply
from ._common import forwarding

__all__ = ["forwarding", "handle_async", "handle_sync", "streams_for"]

_DROP_REPLY_HEADERS = frozenset({"content-length", "content-encoding", "transfer-encoding"})

_FAILURE_EXC = {
    "connect_error": "ConnectError",
    "connect_timeout": "ConnectTimeout",
    "read_timeout": "ReadTimeout",
    "read_error": "ReadError",
    "remote_protocol": "RemoteProtocolError",
}


def to_exchange(request: Any, library: str) -> Exchange:
    headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw]
    return Exchange(request.method, str(request.url), headers, bytes(request.content), library)


def failure_exc(m: types.ModuleType, failure: TransportFailure, request: Any = None) -> Exception:
    cls = getattr(m, _FAILURE_EXC.get(failure.kind, "TransportError"))
    exc: Exception = (
        cls(failure.message, request=request) if request is not None else cls(failure.message)
    )
    return exc


class _Streams:
    """The byte-stream classes for one library, made once per library."""

    def __init__(self, m: types.ModuleType) -> None:
        self.m = m

        class ReplayStream(m.SyncByteStream, m.AsyncByteStream):  # type: ignore[name-defined,misc]
            """Hands back a :class:`Reply`'s parts, waiting on the router's clock."""

            def __init__(
                self,
                reply: Reply,
                read_timeout: float | None = None,
                exchange: Exchange | None = None,
            ) -> None:
                self.reply = reply
                self.read_timeout = read_timeout
                self.exchange = exchange  # where the fake's log sees the body closed (23, 29)
                # One pass over the parts, however often the client iterates: the
                # openai SDK (3.x, async) drains a finished stream a second time.
                self._parts: Iterator[Part] | None = None
                self._ahead: Part | None = None
                self._failed = False

            def _remaining(self) -> Iterator[tuple[Part, bool]]:
                """The parts not sent yet, each with whether it is the body's last."""
                if self._parts is None:
                    self._parts = iter(self.reply.parts())
                    self._ahead = next(self._parts, None)
                while self._ahead is not None:
                    part, self._ahead = self._ahead, next(self._parts, None)
                    yield part, self._ahead is None and self.reply.failure is None

            def _failure(self) -> TransportFailure | None:
                if self.reply.failure is None or self._failed:
                    return None
                self._failed = True
                return self.reply.failure

            def _steps(self) -> Iterator[bytes | float]:
                """The body sans I/O: waits (seconds) and data to hand on, each wait
                checked against the read timeout once it is over."""
                for part, last in self._remaining():
                    if part.delay:
                        yield _bounded(part.delay, self.read_timeout)
                        _check_timeout(m, part.delay, self.read_timeout)
                    if last:
                        self._ended()
                    yield part.data
                failure = self._failure()
                if failure is not None:
                    yield _bounded(failure.delay, self.read_timeout)
                    _check_timeout(m, failure.delay, self.read_timeout)
                    self._ended()
                    raise failure_exc(m, failure)
                self._ended()

            def __iter__(self) -> Iterator[bytes]:
                clock = current_clock()
                for step in self._steps():
                    if isinstance(step, int | float):
                        clock.sleep(step)
                    else:
                        yield step

            async def __aiter__(self) -> AsyncIterator[bytes]:
                clock = current_clock()
                for step in self._steps():
                    if isinstance(step, int | float):
                        await clock.asleep(step)
                    else:
                        yield step

            def _ended(self) -> None:
                if self.exchange is not None and self.exchange.closed_at is None:
                    self.exchange.read_to_end = True

            def close(self) -> None:
                if self.exchange is not None and self.exchange.closed_at is None:
                    self.exchange.closed_at = current_clock().monotonic()

            async def aclose(self) -> None:
                self.close()

        class RecordingStream(m.SyncByteStream, m.AsyncByteStream):  # type: ignore[name-defined,misc]
            """Passes a live body through untouched while capturing it for the cassette."""

            def __init__(self, inner: Any, capture: Capture) -> None:
                self.inner = inner
                self.capture = capture

            def __enter__(self) -> None:
                return None

            def __exit__(self, kind: object, exc: BaseException | None, tb: object) -> None:
                """The body ended (``exc`` None) or the upstream broke off (an
                ``Exception``); a reader that stopped (``GeneratorExit``) is ``close``'s."""
                if exc is None:
                    self.capture.finish()
                elif isinstance(exc, Exception):
                    self.capture.finish(error=exc)

            def __iter__(self) -> Iterator[bytes]:
                with self:
                    for chunk in self.inner:
                        self.capture.feed(chunk)
                        yield chunk

            async def __aiter__(self) -> AsyncIterator[bytes]:
                with self:
                    async for chunk in self.inner:
                        self.capture.feed(chunk)
                        yield chunk

            def close(self) -> None:
                self.capture.finish(closed_early=True)
                self.inner.close()

            async def aclose(self) -> None:
                self.capture.finish(closed_early=True)
                await self.inner.aclose()

        self.ReplayStream = ReplayStream
        self.RecordingStream = RecordingStream

    def response(self, reply: Reply, request: Any, exchange: Exchange | None = None) -> Any:
        headers = [(k, v) for k, v in reply.headers if k.lower() not in _DROP_REPLY_HEADERS]
        if exchange is not None:
            exchange.served_at = current_clock().monotonic()
        if type(reply) is Reply and reply.events is None and reply.failure is None:
            # One plain block (a subclass may send other parts: faults): no stream
            # machinery to go through, and httpx sets the content-length itself.
            if exchange is not None:  # handed over whole: nothing stays open
                exchange.closed_at, exchange.read_to_end = exchange.served_at, True
            return self.m.Response(
                reply.status, headers=headers, content=reply.body, request=request
            )
        return self.m.Response(
            reply.status,
            headers=headers,
            stream=self.ReplayStream(reply, read_timeout_of(request), exchange),
            request=request,
        )


_STREAMS: dict[str, _Streams] = {}


def streams_for(m: types.ModuleType) -> _Streams:
    s = _STREAMS.get(m.__name__)
    if s is None:
        s = _STREAMS[m.__name__] = _Streams(m)
    return s


def read_timeout_of(request: Any) -> float | None:
    """The client's read timeout for this request, as httpx/httpx2 pass it to transports."""
    timeout = request.extensions.get("timeout") if request is not None else None
    value = timeout.get("read") if isinstance(timeout, dict) else None
    return float(value) if value is not None else None


def _bounded(delay: float, read_timeout: float | None) -> float:
    return delay if read_timeout is None else min(delay, read_timeout)


def _check_timeout(m: types.ModuleType, delay: float, read_timeout: float | None) -> None:
    """A wait longer than the read timeout is what a real socket turns into ReadTimeout."""
    if read_timeout is not None and delay > read_timeout:
        raise m.ReadTimeout(f"no data for {read_timeout:g} s (read timeout)")


def _respond(
    m: types.ModuleType,
    request: Any,
    outcome: Reply | TransportFailure,
    exchange: Exchange | None = None,
) -> Any:
    if isinstance(outcome, TransportFailure):
        raise failure_exc(m, outcome, request)
    return streams_for(m).response(outcome, request, exchange)


def _answer_miss(m: types.ModuleType, request: Any, exc: ReplayInterrupt) -> Any:
    """The library's response for a miss: the one answer every SDK gives up on at once."""
    return _respond(m, request, miss_reply(exc))


def _capture(m: types.ModuleType, response: Any, t0: float, fwd: Forward) -> Any:
    if fwd.on_reply is None:
        return response
    s = streams_for(m)
    headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in response.headers.raw]
    cap = Capture(int(response.status_code), headers, fwd.on_reply, t0)
    return m.Response(
        response.status_code,
        headers=response.headers,
        stream=s.RecordingStream(response.stream, cap),
        extensions=response.extensions,
        request=request_of(response),
    )


def request_of(response: Any) -> Any:
    try:
        return response.request
    except RuntimeError:
        return None


Dispatch = Callable[[Exchange], Outcome]


class _Turn:
    """One request's way through the chain, sans I/O: the sync and async handlers do
    only the sending (``forward``) or the waiting (``wait``) it asks for."""

    __slots__ = (
        "answer",
        "exchange",
        "forward",
        "m",
        "outcome",
        "request",
        "t0",
        "timeout",
        "token",
        "wait",
    )

    def __init__(self, dispatch: Dispatch, m: types.ModuleType, library: str, request: Any) -> None:
        self.m = m
        self.request = request
        self.exchange = exchange = to_exchange(request, library)
        self.answer: Any = None
        self.forward: Forward | None = None
        self.wait: float | None = None
        try:
            outcome = dispatch(exchange)
        except ReplayInterrupt as exc:
            self.answer = _answer_miss(m, request, exc)
            return
        if isinstance(outcome, Forward):
            self.forward = outcome
            return
        self.outcome = outcome
        if outcome.delay:
            self.timeout = read_timeout_of(request)
            self.wait = _bounded(outcome.delay, self.timeout)

    def __enter__(self) -> None:
        """Around forwarding to the network: the start of the recording's timing."""
        self.t0 = current_clock().monotonic()
        self.token = forwarding.set(True)

    def __exit__(self, *exc: object) -> None:
        forwarding.reset(self.token)

    def captured(self, response: Any) -> Any:
        assert self.forward is not None
        return _capture(self.m, response, self.t0, self.forward)

    def miss(self, exc: ReplayInterrupt) -> Any:
        """The answer when the wait turned out to be forever (``WouldHang``)."""
        return _answer_miss(self.m, self.request, exc)

    def respond(self) -> Any:
        if self.answer is not None:
            return self.answer
        if self.wait is not None:
            _check_timeout(self.m, self.outcome.delay, self.timeout)
        return _respond(self.m, self.request, self.outcome, self.exchange)


def handle_sync(
    dispatch: Dispatch, m: types.ModuleType, library: str, send: Callable[[Any], Any], request: Any
) -> Any:
    request.read()
    turn = _Turn(dispatch, m, library, request)
    if turn.forward is not None:
        with turn:
            response = send(request)
        return turn.captured(response)
    if turn.wait is not None:
        try:
            current_clock().sleep(turn.wait)
        except ReplayInterrupt as exc:
            return turn.miss(exc)
    return turn.respond()


async def handle_async(
    dispatch: Dispatch,
    m: types.ModuleType,
    library: str,
    send: Callable[[Any], Awaitable[Any]],
    request: Any,
) -> Any:
    await request.aread()
    turn = _Turn(dispatch, m, library, request)
    if turn.forward is not None:
        with turn:
            response = await send(request)
        return turn.captured(response)
    if turn.wait is not None:
        try:
            await current_clock().asleep(turn.wait)
        except ReplayInterrupt as exc:
            return turn.miss(exc)
    return turn.respond()
