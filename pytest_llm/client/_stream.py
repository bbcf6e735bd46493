"""Streams: what counts as content, what ends a stream, and the stream the caller gets.

One :class:`Tracker` reads the SDK's own event objects (chat ``ChatCompletionChunk``,
Responses ``ResponseStreamEvent``) for both the sync and the async stream, so the rules
of CONTRACTS D are written once:

* content is text, refusal or tool-call argument deltas; role-only and empty deltas and
  keep-alive comments (which the SDK never yields) are not;
* a stream is complete when a choice carries a ``finish_reason`` (chat) or a
  ``response.completed`` / ``response.incomplete`` event arrives (Responses);
* an error event is a typed error, never content;
* after content has reached the caller nothing is retried: a failure is a
  :class:`StreamInterrupted` carrying the partial text and usage.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from types import SimpleNamespace
from typing import Any, Generic, TypeVar

from .._clock import Clock
from ._errors import (
    DeadlineExceeded,
    FirstTokenTimeout,
    IncompleteStream,
    LLMClientError,
    ProviderStreamError,
    StreamError,
    StreamIdleTimeout,
    StreamInterrupted,
    StreamProtocolError,
)
from ._events import CallInfo, attach_info, scrub_error
from ._timers import TimerFired, race
from ._usage import usage_of

__all__ = ["AsyncResilientStream", "ResilientStream", "Tracker"]

T = TypeVar("T")

_CONTENT_EVENTS = (
    "response.output_text.delta",
    "response.refusal.delta",
    "response.function_call_arguments.delta",
    "response.reasoning_summary_text.delta",
    "response.audio.delta",
    "response.code_interpreter_call_code.delta",
)
_TERMINAL_EVENTS = ("response.completed", "response.incomplete")
_ERROR_EVENTS = ("response.failed", "error")


class Tracker:
    """Reads one stream's events: content, partial text, usage, the end.

    ``Tracker(api, ...)`` is the API's own subclass (:class:`_ChatTracker`,
    :class:`_ResponsesTracker`), whose :meth:`observe` is the API's reader: picked once
    per stream, no dispatch per event, and no bound method kept on the instance (that
    would be a reference cycle, left for the garbage collector with every chunk's text).
    Slotted: its dozen fields set per stream and read per chunk without a ``__dict__``."""

    __slots__ = (
        "_usage",
        "api",
        "clock",
        "complete",
        "events",
        "finish_reason",
        "last_content",
        "last_progress",
        "raw_usage",
        "source",
        "started",
        "text",
        "timed",
    )

    def __new__(cls, api: str, clock: Clock, started: float | None = None) -> Tracker:
        if cls is Tracker:
            cls = _ResponsesTracker if api == "responses" else _ChatTracker
        return object.__new__(cls)

    def __init__(self, api: str, clock: Clock, started: float | None = None) -> None:
        self.api = api
        self.clock = clock
        self.started = clock.monotonic() if started is None else started
        """When the attempt began (the first-token timer counts from it: 22)."""
        self.last_content: float | None = None
        self.last_progress: float | None = None
        """Content, or an event that ends a part of the answer (finish_reason, ``*.done``):
        what resets the idle timer (21); keep-alives and empty deltas do not."""
        self.text: list[str] = []
        self.raw_usage: Any = None
        """The last usage the stream carried, as the SDK built it (read into a dict by
        :attr:`usage` only when asked: a stream that ends well never needs the dict)."""
        self._usage: dict[str, Any] | None = None
        self.complete = False
        self.finish_reason: str | None = None
        self.events = 0
        self.source: Any = None
        """The iterator the stream was opened with (``_drive.open_stream_sync`` and its
        async twin): the stream the caller gets goes on with it. A second ``iter(raw)``
        would be a second SDK generator over the same response, the first left suspended
        (an async one is then closed by a task the event loop schedules, per stream)."""
        self.timed = True
        """Whether content and progress read the clock: only an idle timer needs the times
        (off for a stream without ``chunk`` timeout: one clock reading less per chunk)."""

    def observe(self, event: Any) -> bool:
        """Take one event; True if it is content. Raises on an in-band error event."""
        return self._responses(event) if self.api == "responses" else self._chat(event)

    @property
    def usage(self) -> dict[str, Any] | None:
        """The stream's usage as a dict (the SDK's ``model_dump()``), ``None`` if none came."""
        usage = self._usage
        if usage is None and self.raw_usage is not None:
            raw = self.raw_usage
            usage = self._usage = raw.model_dump() if hasattr(raw, "model_dump") else dict(raw)
        return usage

    def _took_usage(self, usage: Any) -> None:
        self.raw_usage = usage
        self._usage = None

    @property
    def flat_usage(self) -> dict[str, int] | None:
        """The usage in the client's one shape (:func:`usage_of`), read from the SDK's
        own object: the same figures as from :attr:`usage`'s dict, without building it."""
        raw = self.raw_usage
        if raw is None:
            return None
        return usage_of(SimpleNamespace(usage=raw))

    @property
    def has_content(self) -> bool:
        return self.last_content is not None

    @property
    def partial_text(self) -> str:
        return "".join(self.text)

    def _chat(self, event: Any) -> bool:
        # Every read is a plain attribute read (a pydantic model's is slow enough per chunk
        # that getattr's extra call shows), falling back to getattr(..., None) for an
        # object without the attribute: the same values either way.
        self.events += 1
        content = False
        try:
            usage = event.usage
            choices = event.choices
        except AttributeError:
            usage = getattr(event, "usage", None)
            choices = getattr(event, "choices", None)
        if usage is not None:
            self.raw_usage = usage
            self._usage = None
        if choices is None:
            raise StreamProtocolError(
                f"pytest-llm client: a stream chunk without choices ({type(event).__name__}).",
                partial_text=self.partial_text,
                usage=self.usage,
            )
        for choice in choices:
            try:
                delta = choice.delta
            except AttributeError:
                delta = None
            if delta is not None:
                try:
                    text = delta.content
                except AttributeError:
                    text = None
                if text:
                    self.text.append(text)
                    content = True
                elif (
                    getattr(delta, "refusal", None)
                    or getattr(delta, "tool_calls", None)
                    or getattr(delta, "function_call", None)
                ):
                    content = True
            try:
                finish = choice.finish_reason
            except AttributeError:
                finish = None
            if finish:
                self.finish_reason = finish
                self.complete = True
        if content or self.complete:  # one clock reading per event, when timed
            now = self.clock.monotonic() if self.timed else 0.0
            if content:
                self.last_content = now
            self.last_progress = now
        return content

    def _responses(self, event: Any) -> bool:
        self.events += 1
        kind = getattr(event, "type", "")
        if kind in _ERROR_EVENTS:
            response = getattr(event, "response", None)
            error = getattr(response, "error", None) if response is not None else event
            message = getattr(error, "message", None) or "the provider sent an error event"
            code = getattr(error, "code", None)
            raise ProviderStreamError(
                f"pytest-llm client: the stream carried an error event ({kind}): {message}",
                code=str(code) if code else None,
                partial_text=self.partial_text,
                usage=self.usage,
            )
        if kind in _TERMINAL_EVENTS:
            self.complete = True
            response = getattr(event, "response", None)
            usage = getattr(response, "usage", None)
            if usage is not None:
                self._took_usage(usage)
            self.finish_reason = "stop" if kind == "response.completed" else "incomplete"
            return False
        if kind in _CONTENT_EVENTS:
            if kind == "response.output_text.delta":
                self.text.append(getattr(event, "delta", "") or "")
            self.last_content = self.last_progress = self.clock.monotonic() if self.timed else 0.0
            return True
        if kind.endswith(".done"):
            self.last_progress = self.clock.monotonic() if self.timed else 0.0
        return False

    # -- the errors, with what had arrived ----------------------------------------------

    def incomplete(self) -> IncompleteStream:
        what = "[DONE] / finish_reason" if self.api == "chat" else "response.completed"
        return IncompleteStream(
            f"pytest-llm client: the stream closed after {self.events} event(s) without its "
            f"terminal event ({what}); the answer is incomplete.\nFix: nothing on your side; "
            "retry the call (the partial text is on the error).",
            partial_text=self.partial_text,
            usage=self.usage,
        )

    def first_token_timeout(self, seconds: float) -> FirstTokenTimeout:
        return FirstTokenTimeout(
            f"pytest-llm client: no content within first_token_timeout={seconds:g} s of the "
            "attempt's start.",
            partial_text="",
            usage=self.usage,
        )

    def idle_timeout(self, seconds: float) -> StreamIdleTimeout:
        return StreamIdleTimeout(
            f"pytest-llm client: the stream went quiet for more than chunk_timeout={seconds:g} s "
            f"after {len(self.partial_text)} characters.\nFix: raise Timeouts(chunk=...) if the "
            "model legitimately pauses that long.",
            partial_text=self.partial_text,
            usage=self.usage,
        )

    def interrupted(self, error: BaseException) -> StreamInterrupted:
        if isinstance(error, StreamError):
            error.partial_text = error.partial_text or self.partial_text
            error.usage = error.usage or self.usage
            return error if isinstance(error, StreamInterrupted) else _after_output(error)
        return _interrupted_from(error, self)


class _ChatTracker(Tracker):
    __slots__ = ()
    observe = Tracker._chat


class _ResponsesTracker(Tracker):
    __slots__ = ()
    observe = Tracker._responses


_AFTER_OUTPUT: dict[type[StreamError], type[StreamInterrupted]] = {}


def _after_output(error: StreamError) -> StreamInterrupted:
    """``error`` (an idle timeout, an incomplete stream, an error event, a malformed event)
    raised after content reached the caller: still its own type, and a
    :class:`StreamInterrupted` too, so both ``except`` clauses catch it (21, 24, 26-28)."""
    cls = type(error)
    kind = _AFTER_OUTPUT.get(cls)
    if kind is None:
        body = {"__module__": cls.__module__, "__qualname__": cls.__qualname__}
        kind = _AFTER_OUTPUT[cls] = type(cls.__name__, (StreamInterrupted, cls), body)
    both = kind.__new__(kind, *error.args)
    both.__dict__.update(error.__dict__)
    both.__cause__ = error.__cause__
    return both


def _interrupted_from(error: BaseException, tracker: Tracker) -> StreamInterrupted:
    err = StreamInterrupted(
        f"pytest-llm client: the stream failed after content reached you "
        f"({len(tracker.partial_text)} characters): {type(error).__name__}: {error}. It is not "
        "retried, so no text is duplicated; the partial text and usage are on this error.\n"
        "Fix: handle StreamInterrupted where you consume the stream (show the partial "
        "answer, or ask again).",
        partial_text=tracker.partial_text,
        usage=tracker.usage,
    )
    err.__cause__ = error
    return err


def sdk_stream_error(error: BaseException, tracker: Tracker) -> BaseException:
    """The typed error for an exception the SDK raised while iterating a stream."""
    try:
        import openai
    except ImportError:  # pragma: no cover - the client needs the SDK
        return error
    if isinstance(error, openai.APIStatusError | StreamError):
        return error
    if isinstance(error, openai.APIError) and not isinstance(
        error, openai.APIConnectionError
    ):  # an in-band {"error": ...} chunk
        body = getattr(error, "body", None)
        code = body.get("code") if isinstance(body, dict) else None
        err = ProviderStreamError(
            f"pytest-llm client: the stream carried an error event: {error}",
            code=str(code) if code else None,
            partial_text=tracker.partial_text,
            usage=tracker.usage,
        )
        err.__cause__ = error
        return err
    if isinstance(error, ValueError):  # json.JSONDecodeError and pydantic's ValidationError
        err2 = StreamProtocolError(
            f"pytest-llm client: a stream event could not be read: {type(error).__name__}: "
            f"{str(error).splitlines()[0] if str(error) else ''}",
            partial_text=tracker.partial_text,
            usage=tracker.usage,
        )
        err2.__cause__ = error
        return err2
    return error


_BUILD_LOCK = threading.Lock()

OnEnd = Callable[[BaseException | None, CallInfo | None], Any]
"""What a stream calls once when it ends: with the error it ended with (``None``: whole
or closed early) and its :class:`CallInfo`, or ``None`` for a pending one nobody asked
for (the stream then ended whole with its usage): its breaker verdict alone, the
clock's reading returned for the info to end at when built."""


class _Base(Generic[T]):
    def __init__(
        self,
        raw: Any,
        tracker: Tracker,
        buffered: list[T],
        info: CallInfo | None,
        chunk_timeout: float | None,
        on_end: OnEnd,
        pending: tuple[Callable[[Any, Any], CallInfo], Any] | None = None,
    ) -> None:
        self._raw = raw
        self._tracker = tracker
        tracker.timed = chunk_timeout is not None  # no idle timer: the times go unread
        self._buffered = buffered
        self._chunk_timeout = chunk_timeout
        self._on_end = on_end
        self._ended = False
        self._info = info
        self._pending = pending
        """Without ``info``: the function that builds it from this stream, and its facts
        (a quiet plain stream's, ``_client._Core._plain_stream``)."""
        self._ended_at: float | None = None
        """When a stream whose info was pending ended (the clock's reading ``on_end``
        gave), for the info built later."""

    @property
    def info(self) -> CallInfo:
        """What the client did for the call (:func:`~._events.call_info` of the stream)."""
        info = self._info
        if info is None:
            with _BUILD_LOCK:  # built once
                info = self._info
                if info is None:
                    assert self._pending is not None
                    build, facts = self._pending
                    info = self._info = build(self, facts)
        return info

    @property
    def response(self) -> Any:
        """The HTTP response of the attempt that is being streamed (as the SDK's stream)."""
        return getattr(self._raw, "response", None)

    @property
    def partial_text(self) -> str:
        return self._tracker.partial_text

    def _finish(self, error: BaseException | None) -> None:
        if error is not None:
            scrub_error(error)
            attach_info(error, self.info)
            if isinstance(error, LLMClientError) and error.info is None:
                error.info = self.info
        if not self._ended:
            self._ended = True
            usage = self._tracker.raw_usage
            if self._info is None and (isinstance(usage, dict) or hasattr(usage, "model_dump")):
                # pending, ended with a usage flat_usage reads (nothing to estimate from
                # the request): the verdict now, the records when someone asks
                self._ended_at = self._on_end(None, None)
                return
            info = self.info
            self._end_records(info)
            self._on_end(error, info)

    def _end_records(self, info: CallInfo) -> None:
        """What the stream's end records in its ``info``: its usage and streamed text."""
        info.usage = self._tracker.flat_usage or info.usage
        info.extra["streamed_chars"] = len(self._tracker.partial_text)

    def _check_idle(self) -> None:
        tracker = self._tracker
        if (
            self._chunk_timeout is not None
            and tracker.last_progress is not None
            and not tracker.complete
            and tracker.clock.monotonic() - tracker.last_progress > self._chunk_timeout
        ):
            raise tracker.idle_timeout(self._chunk_timeout)


class ResilientStream(_Base[T]):
    """The stream the caller iterates: the SDK's own chunk/event objects, one clean
    preamble, and the rules of CONTRACTS D. Use it as the SDK's ``Stream``: iterate it,
    ``with`` it, ``close()`` it early."""

    def __iter__(self) -> Iterator[T]:
        tracker = self._tracker
        try:
            while self._buffered:
                yield self._buffered.pop(0)
            iterator = tracker.source if tracker.source is not None else iter(self._raw)
            while True:
                try:
                    event = next(iterator)
                except StopIteration:
                    break
                except Exception as exc:
                    if tracker.complete:  # the terminal event is in: only [DONE] was lost (27)
                        break
                    mapped = sdk_stream_error(exc, tracker)
                    if _is_read_timeout(exc) and self._chunk_timeout is not None:
                        mapped = tracker.idle_timeout(self._chunk_timeout)
                    raise tracker.interrupted(mapped) from exc
                if self._chunk_timeout is not None:
                    self._check_idle_or_interrupt()
                try:
                    tracker.observe(event)
                except StreamError as exc:
                    raise tracker.interrupted(exc) from None
                yield event
            if not tracker.complete:
                raise tracker.interrupted(tracker.incomplete())
        except GeneratorExit:
            self.close()
            raise
        except BaseException as exc:
            self._close_raw()
            self._finish(exc)
            raise
        self._finish(None)

    def _check_idle_or_interrupt(self) -> None:
        try:
            self._check_idle()
        except StreamError as exc:
            self._close_raw()
            raise self._tracker.interrupted(exc) from None

    def _close_raw(self) -> None:
        with contextlib.suppress(Exception):
            self._raw.close()

    def close(self) -> None:
        """Close the response early (29): the connection is released, partial usage kept."""
        self._close_raw()
        self._finish(None)

    def __enter__(self) -> ResilientStream[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncResilientStream(_Base[T]):
    """The async twin of :class:`ResilientStream`; chunk gaps are timed on the clock."""

    def __init__(self, *args: Any, deadline_at: float | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline_at = deadline_at
        self._iterator: AsyncIterator[T] | None = None

    def __aiter__(self) -> AsyncIterator[T]:
        return self._events()

    async def _events(self) -> AsyncIterator[T]:
        tracker = self._tracker
        # no chunk timer and no deadline: no limit to compute, no timer to race per chunk
        timed = self._chunk_timeout is not None or self._deadline_at is not None
        try:
            while self._buffered:
                yield self._buffered.pop(0)
            iterator = tracker.source
            if iterator is None:
                iterator = self._raw.__aiter__()
            while True:
                try:
                    if not timed:
                        event = await iterator.__anext__()
                    else:
                        event = await race(iterator.__anext__(), self._limit(), tracker.clock)
                except StopAsyncIteration:
                    break
                except TimerFired:
                    raise tracker.interrupted(self._timeout_error()) from None
                except Exception as exc:
                    if tracker.complete:  # the terminal event is in: only [DONE] was lost (27)
                        break
                    mapped = sdk_stream_error(exc, tracker)
                    if _is_read_timeout(exc) and self._chunk_timeout is not None:
                        mapped = tracker.idle_timeout(self._chunk_timeout)  # a tie with our timer
                    raise tracker.interrupted(mapped) from exc
                try:
                    tracker.observe(event)
                except StreamError as exc:
                    raise tracker.interrupted(exc) from None
                yield event
            if not tracker.complete:
                raise tracker.interrupted(tracker.incomplete())
        except (GeneratorExit, asyncio.CancelledError) as exc:
            await self._aclose_raw()
            self._finish(exc if isinstance(exc, asyncio.CancelledError) else None)
            raise
        except BaseException as exc:
            await self._aclose_raw()
            self._finish(exc)
            raise
        self._finish(None)

    def _limit(self) -> float | None:
        if self._chunk_timeout is None and self._deadline_at is None:
            return None
        tracker = self._tracker
        now = tracker.clock.monotonic()
        limits = []
        # after the terminal event only [DONE] / usage is left: no idle limit then
        if (
            self._chunk_timeout is not None
            and tracker.last_progress is not None
            and not tracker.complete
        ):
            limits.append(tracker.last_progress + self._chunk_timeout - now)
        if self._deadline_at is not None:
            limits.append(self._deadline_at - now)
        return max(0.0, min(limits)) if limits else None

    def _timeout_error(self) -> StreamError:
        tracker = self._tracker
        now = tracker.clock.monotonic()
        if self._deadline_at is not None and now >= self._deadline_at:
            err = DeadlineExceeded(
                "pytest-llm client: the call's deadline ran out while streaming.", info=self.info
            )
            return _interrupted_from(err, tracker)
        assert self._chunk_timeout is not None
        return tracker.idle_timeout(self._chunk_timeout)

    async def _aclose_raw(self) -> None:
        with contextlib.suppress(Exception):
            await self._raw.close()

    async def close(self) -> None:
        await self._aclose_raw()
        self._finish(None)

    async def __aenter__(self) -> AsyncResilientStream[T]:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


def _is_read_timeout(error: BaseException) -> bool:
    name = type(error).__name__
    cause = error.__cause__ or error.__context__
    return name in ("ReadTimeout", "APITimeoutError") or (
        cause is not None and type(cause).__name__ == "ReadTimeout"
    )
