"""Streams end to end through the real openai SDK, sync and async, chat and Responses.

CONTRACTS D (24-29) and the stream timers of C (21-22), on the fake provider with faults
in front and the virtual clock: requests are counted where the provider sees them
(``llm_faults.log``), waits on ``llm_clock``.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import pytest
from client_helpers import MESSAGES, Mode, route, seen

from pytest_llm import VirtualClock
from pytest_llm._exchange import Exchange, Next, Outcome, Part
from pytest_llm.client import (
    FirstTokenTimeout,
    IncompleteStream,
    Price,
    ProviderStreamError,
    StreamIdleTimeout,
    StreamInterrupted,
    StreamProtocolError,
    Timeouts,
    call_info,
)
from pytest_llm.faults import (
    ConnectionReset,
    Fault,
    FaultPlan,
    ServerError,
    Stall,
    StreamError,
    TruncatedStream,
)
from pytest_llm.faults._base import Context, scripted_reply

A = route("a")
B = route("b")
PRICED = route("p", price=Price(input=1.0, output=4.0))

CHAT_CLEAN = [("assistant", ""), (None, "Hel"), (None, "lo"), (None, None)]
"""The chat chunks of "Hello" in two deltas: role, text, text, finish (``delta: {}``)."""

RESPONSES_CLEAN = [
    "response.created",
    "response.in_progress",
    "response.output_item.added",
    "response.content_part.added",
    "response.output_text.delta",
    "response.output_text.delta",
    "response.output_text.done",
    "response.content_part.done",
    "response.output_item.done",
    "response.completed",
]
RESPONSES_PREAMBLE = 4
"""Events of a Responses stream before its first text delta."""


# -- custom wire faults (the harness has no kind for these) ---------------------------


@dataclass(frozen=True, repr=False)
class Drip(Fault):
    """Every chunk arrives ``gap`` seconds after the one before: a steady, slow stream."""

    kind: ClassVar[str] = ""
    gap: float = 1.0

    def apply(self, exchange: Exchange, nxt: Next, ctx: Context) -> Outcome:
        reply = self._reply(exchange, nxt)
        parts = [Part(self.gap, p.data) for p in reply.parts()]
        return scripted_reply(reply, parts, reply.failure)


@dataclass(frozen=True, repr=False)
class Filler(Fault):
    """Before chunk ``before``, ``count`` filler events ``every`` seconds apart, that are
    not content: SSE keep-alive comments (``what="comment"``, the SDK never yields them),
    or chat chunks with an empty delta (``"empty"``) or a role-only delta (``"role"``)."""

    kind: ClassVar[str] = ""
    before: int = 1
    count: int = 5
    every: float = 2.0
    what: str = "comment"

    def apply(self, exchange: Exchange, nxt: Next, ctx: Context) -> Outcome:
        reply = self._reply(exchange, nxt)
        parts = list(reply.parts())
        if self.what == "comment":
            data = b": keep-alive\n\n"
        else:
            chunk = json.loads(parts[0].data.decode().removeprefix("data: "))
            delta = {"content": ""} if self.what == "empty" else {"role": "assistant"}
            chunk["choices"][0]["delta"] = delta
            data = f"data: {json.dumps(chunk)}\n\n".encode()
        filler = [Part(self.every, data) for _ in range(self.count)]
        return scripted_reply(reply, parts[: self.before] + filler + parts[self.before :], None)


@dataclass(frozen=True, repr=False)
class BadChunk(Fault):
    """Chunk ``index`` is replaced by an SSE event whose data is not JSON."""

    kind: ClassVar[str] = ""
    index: int = 1

    def apply(self, exchange: Exchange, nxt: Next, ctx: Context) -> Outcome:
        reply = self._reply(exchange, nxt)
        parts = list(reply.parts())
        head = parts[self.index].data.split(b"data: ", 1)[0]
        parts[self.index] = Part(parts[self.index].delay, head + b'data: {"choices": [{"del\n\n')
        return scripted_reply(reply, parts, reply.failure)


@dataclass(frozen=True, repr=False)
class NoDone(Fault):
    """A chat stream that ends after its finish_reason chunk, without ``data: [DONE]``."""

    kind: ClassVar[str] = ""

    def apply(self, exchange: Exchange, nxt: Next, ctx: Context) -> Outcome:
        reply = self._reply(exchange, nxt)
        parts = [p for p in reply.parts() if b"[DONE]" not in p.data]
        return scripted_reply(reply, parts, None)


# -- reading a stream, sync or async ------------------------------------------------------


@dataclass
class Run:
    stream: Any
    events: list[Any]
    error: BaseException | None


def run(
    mode: Mode,
    client: Any,
    api: str = "chat",
    *,
    stop: Callable[[Any], bool] | None = None,
    how: str = "break",
    **kwargs: Any,
) -> Run:
    """Open a stream and read it to its end, its error, or ``stop(event)`` (then leave it
    by ``how``: ``break``, ``with`` or ``close``)."""
    create = client.chat.completions.create if api == "chat" else client.responses.create
    if api == "chat":
        kwargs.setdefault("messages", MESSAGES)
    else:
        kwargs.setdefault("input", "Say hello")
    kwargs["stream"] = True
    out = Run(None, [], None)

    def take(event: Any) -> bool:
        out.events.append(event)
        return stop is not None and stop(event)

    if not mode.is_async:
        try:
            out.stream = create(**kwargs)
            if how == "with":
                with out.stream as stream:
                    for event in stream:
                        if take(event):
                            break
            else:
                for event in out.stream:
                    if take(event):
                        break
                if how == "close":
                    out.stream.close()
        except Exception as exc:
            out.error = exc
        return out

    async def go() -> None:
        try:
            out.stream = await create(**kwargs)
            if how == "with":
                async with out.stream as stream:
                    async for event in stream:
                        if take(event):
                            break
            else:
                async for event in out.stream:
                    if take(event):
                        break
                if how == "close":
                    await out.stream.close()
                elif how == "break":
                    # the event loop finalizes an async generator left by break: let it run
                    for _ in range(3):
                        await asyncio.sleep(0)
        except Exception as exc:
            out.error = exc

    asyncio.run(go())
    return out


def chat_deltas(events: list[Any]) -> list[tuple[str | None, str | None]]:
    return [(c.choices[0].delta.role, c.choices[0].delta.content) for c in events if c.choices]


def types(events: list[Any]) -> list[str]:
    return [e.type for e in events]


def is_content(event: Any) -> bool:
    if hasattr(event, "choices"):
        return bool(event.choices) and bool(
            event.choices[0].delta.content or event.choices[0].delta.tool_calls
        )
    return str(event.type).endswith(".delta")


def script(llm_fake: Any, times: int = 1) -> None:
    llm_fake.add("Hello", chunks=["Hel", "lo"], times=times)


api_param = pytest.mark.parametrize("api", ["chat", "responses"])


# -- 24: nothing is retried after content reached the caller ------------------------------


@api_param
def test_reset_after_content_is_not_retried_and_carries_the_partial_text(
    mode: Mode, llm_fake: Any, llm_faults: FaultPlan, api: str
) -> None:
    script(llm_fake)
    after = 2 if api == "chat" else RESPONSES_PREAMBLE + 1  # the preamble and "Hel"
    llm_faults.add(ConnectionReset(after_chunks=after))
    client = mode.client(A, B, max_retries=2)

    got = run(mode, client, api)

    assert isinstance(got.error, StreamInterrupted)
    assert got.error.partial_text == "Hel"
    assert got.error.usage is None  # nothing had reported usage yet
    if api == "chat":
        assert chat_deltas(got.events) == CHAT_CLEAN[:2]
    else:
        assert types(got.events) == RESPONSES_CLEAN[: RESPONSES_PREAMBLE + 1]
    assert seen(llm_faults) == 1  # neither retried on a nor failed over to b
    info = call_info(got.error)
    assert info is call_info(got.stream)
    assert [(a.route, a.status) for a in info.attempts] == [("a@llm.test", 200)]


@api_param
def test_a_tool_call_delta_is_content_and_is_never_restarted(
    mode: Mode, llm_fake: Any, llm_faults: FaultPlan, api: str
) -> None:
    llm_fake.add(tool_calls=[{"name": "get_weather", "arguments": {"city": "Paris"}}])
    # chat: role, then the tool call's id and name; responses: the preamble up to the
    # function_call item, then the first argument delta
    llm_faults.add(ConnectionReset(after_chunks=2 if api == "chat" else 4))
    client = mode.client(A, B, max_retries=2)

    got = run(mode, client, api)

    assert isinstance(got.error, StreamInterrupted)
    assert got.error.partial_text == ""  # no text, but tool-call content reached the caller
    last = got.events[-1]
    if api == "chat":
        assert last.choices[0].delta.tool_calls[0].function.name == "get_weather"
    else:
        assert last.type == "response.function_call_arguments.delta"
    assert seen(llm_faults) == 1


def test_a_reset_after_the_finish_reason_completes_with_its_usage(
    mode: Mode, llm_fake: Any, llm_faults: FaultPlan
) -> None:
    script(llm_fake)
    # role, "Hel", "lo", finish, usage: then a reset where [DONE] should be
    llm_faults.add(ConnectionReset(after_chunks=5))
    client = mode.client(A, max_retries=2)

    got = run(mode, client, stream_options={"include_usage": True})

    # the terminal event arrived: the answer is whole, the missing [DONE] does not matter (27)
    assert got.error is None
    assert chat_deltas(got.events) == CHAT_CLEAN
    usage = got.events[-1].usage
    assert call_info(got.stream).usage == {
        "input_tokens": usage.prompt_tokens,
        "output_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
        "cached_tokens": 0,
    }
    assert seen(llm_faults) == 1


# -- 25: failures before content are retried with one clean preamble ----------------------


@api_param
def test_reset_before_content_is_retried_and_the_caller_sees_one_preamble(
    mode: Mode, llm_fake: Any, llm_faults: FaultPlan, api: str
) -> None:
    script(llm_fake, times=2)
    # chat: the role chunk; responses: the whole preamble, then the reset
    llm_faults.add(ConnectionReset(after_chunks=1 if api == "chat" else RESPONSES_PREAMBLE))
    client = mode.client(A, B, max_retries=2, seed=7)

    got = run(mode, client, api)

    assert got.error is None
    if api == "chat":
        assert chat_deltas(got.events) == CHAT_CLEAN  # one role chunk, not two
        assert {c.model for c in got.events} == {"a"}
    else:
        assert types(got.events) == RESPONSES_CLEAN  # one response.created
    assert seen(llm_faults, "a") == 2
    assert seen(llm_faults, "b") == 0
    info = call_info(got.stream)
    assert [(a.route, a.kind) for a in info.attempts] == [
        ("a@llm.test", "connection"),
        ("a@llm.test", None),
    ]
    assert mode.clock.sleeps == [info.attempts[0].wait]
    assert info.attempts[0].wait > 0


@api_param
def test_failures_before_content_fail_over_with_one_preamble(
    mode: Mode, llm_fake: Any, llm_faults: FaultPlan, api: str
) -> None:
    script(llm_fake, times=2)
    after = 1 if api == "chat" else RESPONSES_PREAMBLE
    llm_faults.add(StreamError(after_chunk=after, code="server_error"), model="a")
    llm_faults.add(TruncatedStream(after_chunk=after), model="b")
    client = mode.client(A, B, route("c"), max_retries=0)
    llm_fake.add("Hello", chunks=["Hel", "lo"])

    got = run(mode, client, api)

    assert got.error is None
    if api == "chat":
        assert chat_deltas(got.events) == CHAT_CLEAN
        assert {c.model for c in got.events} == {"c"}
    else:
        assert types(got.events) == RESPONSES_CLEAN
        assert "error" not in types(got.events)
    assert [seen(llm_faults, m) for m in "abc"] == [1, 1, 1]
    info = call_info(got.stream)
    assert info.route == "c@llm.test"
    assert [(a.kind, a.reason) for a in info.attempts] == [
        ("stream", "in-band error server_error: retries exhausted (0 of 0)"),
        ("stream", "stream ended without its terminal event: retries exhausted (0 of 0)"),
        (None, None),
    ]


# -- 26: in-band error events are typed and never content --------------------------------


@api_param
def test_in_band_error_after_content_is_typed_and_not_yielded(
    mode: Mode, llm_fake: Any, llm_faults: FaultPlan, api: str
) -> None:
    script(llm_fake)
    after = 2 if api == "chat" else RESPONSES_PREAMBLE + 1
    llm_faults.add(StreamError(after_chunk=after, code="server_error"))
    client = mode.client(A, B, max_retries=2)

    got = run(mode, client, api)

    assert isinstance(got.error, ProviderStreamError)
    assert isinstance(got.error, StreamInterrupted)  # after content: never restarted
    assert got.error.code == "server_error"
    assert got.error.partial_text == "Hel"
    if api == "chat":
        assert chat_deltas(got.events) == CHAT_CLEAN[:2]
    else:
        assert types(got.events) == RESPONSES_CLEAN[: RESPONSES_PREAMBLE + 1]
    assert seen(llm_faults) == 1


@api_param
def test_in_band_error_before_content_exhausts_retries_as_a_typed_error(
    mode: Mode, llm_fake: Any, llm_faults: FaultPlan, api: str
) -> None:
    script(llm_fake, times=3)
    after = 1 if api == "chat" else RESPONSES_PREAMBLE
    llm_faults.add(StreamError(after_chunk=after, code="server_error"), times=3)
    client = mode.client(A, max_retries=2, seed=3)

    got = run(mode, client, api)

    assert isinstance(got.error, ProviderStreamError)
    assert not isinstance(got.error, StreamInterrupted)
    assert got.error.code == "server_error"
    assert got.error.partial_text == ""
    assert got.stream is None  # create() raised: the caller never saw a chunk
    assert seen(llm_faults) == 3
    info = call_info(got.error)
    assert [a.kind for a in info.attempts] == ["stream"] * 3
    assert mode.clock.sleeps == [a.wait for a in info.attempts[:2]]


# -- 27: no terminal event is an incomplete stream --------------------------------------


@api_param
def test_a_stream_without_its_terminal_event_is_incomplete(
    mode: Mode, llm_fake: Any, llm_faults: FaultPlan, api: str
) -> None:
    script(llm_fake)
    llm_faults.add(TruncatedStream())  # all the text, no finish_reason / completed
    client = mode.client(A, B, max_retries=2)

    got = run(mode, client, api)

    assert isinstance(got.error, IncompleteStream)
    assert isinstance(got.error, StreamInterrupted)
    assert got.error.partial_text == "Hello"
    if api == "chat":
        assert chat_deltas(got.events) == CHAT_CLEAN[:3]
    else:
        assert types(got.events) == RESPONSES_CLEAN[: RESPONSES_PREAMBLE + 2]
    assert seen(llm_faults) == 1


def test_finish_reason_without_done_completes(
    mode: Mode, llm_fake: Any, llm_faults: FaultPlan
) -> None:
    script(llm_fake)
    llm_faults.add(NoDone())
    client = mode.client(A, max_retries=2)

    got = run(mode, client)

    assert got.error is None
    assert chat_deltas(got.events) == CHAT_CLEAN
    assert got.events[-1].choices[0].finish_reason == "stop"
    assert seen(llm_faults) == 1


# -- 28: a malformed chunk is a typed protocol error; the client stays healthy ---------


def test_malformed_chunk_after_content_is_a_protocol_error_and_the_client_recovers(
    mode: Mode, llm_fake: Any, llm_faults: FaultPlan
) -> None:
    script(llm_fake, times=2)
    llm_faults.add(BadChunk(index=2))  # role, "Hel", then garbage
    client = mode.client(A, max_retries=2)

    got = run(mode, client)

    assert isinstance(got.error, StreamProtocolError)
    assert isinstance(got.error, StreamInterrupted)
    assert got.error.partial_text == "Hel"
    assert chat_deltas(got.events) == CHAT_CLEAN[:2]
    assert seen(llm_faults) == 1

    again = run(mode, client)

    assert again.error is None
    assert chat_deltas(again.events) == CHAT_CLEAN
    assert seen(llm_faults) == 2
    assert client.breaker.state(A.key) == "closed"


def test_malformed_chunk_before_content_is_retried(
    mode: Mode, llm_fake: Any, llm_faults: FaultPlan
) -> None:
    script(llm_fake, times=2)
    llm_faults.add(BadChunk(index=1))  # role, then garbage instead of "Hel"
    client = mode.client(A, max_retries=2)

    got = run(mode, client)

    assert got.error is None
    assert chat_deltas(got.events) == CHAT_CLEAN
    assert seen(llm_faults) == 2
    info = call_info(got.stream)
    assert [(a.kind, a.reason.split(":")[0] if a.reason else None) for a in info.attempts] == [
        ("stream", "malformed stream event"),
        (None, None),
    ]


# -- 29: leaving early closes the response and records the partial usage -----------------


@pytest.mark.parametrize("how", ["break", "with", "close"])
def test_leaving_early_closes_the_response_and_records_partial_usage(
    mode: Mode, llm_fake: Any, llm_faults: FaultPlan, how: str
) -> None:
    script(llm_fake)
    client = mode.client(PRICED)

    got = run(mode, client, stop=is_content, how=how, stream_options={"include_usage": True})

    assert got.error is None
    assert chat_deltas(got.events) == CHAT_CLEAN[:2]
    assert got.stream.response.is_closed
    info = call_info(got.stream)
    assert info.usage is not None
    assert info.usage["estimated"] == 1  # the usage chunk never came: estimated
    assert info.usage["input_tokens"] > 0
    assert info.usage["output_tokens"] >= 1  # "Hel" reached the caller: it was billed
    assert info.cost == pytest.approx(PRICED.price.cost(info.usage))
    assert info.cost > 0
    assert len(llm_fake.requests) == 1


# -- 21: the chunk idle timeout, on virtual time ------------------------------------------


@api_param
def test_a_stall_after_content_is_an_idle_timeout_on_the_clock(
    mode: Mode, llm_fake: Any, llm_faults: FaultPlan, api: str
) -> None:
    script(llm_fake)
    llm_faults.add(Stall(after_chunk=2 if api == "chat" else RESPONSES_PREAMBLE + 1, seconds=60))
    client = mode.client(A, B, timeouts=Timeouts(chunk=10), max_retries=2)

    got = run(mode, client, api)

    assert isinstance(got.error, StreamIdleTimeout)
    assert isinstance(got.error, StreamInterrupted)
    assert got.error.partial_text == "Hel"
    assert mode.clock.monotonic() == 10.0
    assert seen(llm_faults) == 1


@api_param
def test_a_steady_long_stream_is_never_killed(
    mode: Mode, llm_fake: Any, llm_faults: FaultPlan, api: str
) -> None:
    words = [f"w{i} " for i in range(30)]
    llm_fake.add("".join(words), chunks=words)
    llm_faults.add(Drip(gap=8))  # 8 s between chunks, far longer than 10 s overall
    client = mode.client(A, timeouts=Timeouts(chunk=10, read=60))

    got = run(mode, client, api)

    assert got.error is None
    chunks = len(got.events) + (1 if api == "chat" else 0)  # chat: [DONE] is a chunk too
    assert mode.clock.monotonic() == 8.0 * chunks
    assert mode.clock.monotonic() > 200
    assert seen(llm_faults) == 1


@pytest.mark.parametrize("what", ["comment", "empty", "role"])
def test_keep_alives_and_empty_deltas_do_not_reset_the_idle_timer(
    mode: Mode, llm_fake: Any, llm_faults: FaultPlan, what: str
) -> None:
    script(llm_fake)
    # role, "Hel", then a filler every 4 s for 40 s, then "lo"
    llm_faults.add(Filler(before=2, count=10, every=4, what=what))
    client = mode.client(A, timeouts=Timeouts(chunk=10), max_retries=2)

    got = run(mode, client)

    assert isinstance(got.error, StreamIdleTimeout)
    assert got.error.partial_text == "Hel"
    if mode.is_async:
        assert mode.clock.monotonic() == 10.0  # the timer on the clock fires on time
        # the client's own timers run on the clock but are not waits the app took:
        # only the filler's 4 s gaps are recorded, up to the 10 s the timer allowed
        assert [s for s in mode.clock.sleeps if s != 4.0] == []
    elif what == "comment":
        # the blocking client sees no event until "lo" arrives after 40 s of comments
        assert mode.clock.monotonic() == 40.0
    else:
        assert mode.clock.monotonic() == 12.0  # the first filler event past the 10 s gap
    assert seen(llm_faults) == 1


# -- 22: time to first token, per attempt -------------------------------------------------


@api_param
def test_no_first_token_in_time_fails_over(
    mode: Mode, llm_fake: Any, llm_faults: FaultPlan, api: str
) -> None:
    script(llm_fake, times=2)
    # the preamble (role chunk / created...) arrives at once: it is not content
    llm_faults.add(Stall(after_chunk=1 if api == "chat" else 2, seconds=30), model="a")
    client = mode.client(A, B, timeouts=Timeouts(first_token=5), max_retries=0)

    got = run(mode, client, api)

    assert got.error is None
    if api == "chat":
        assert chat_deltas(got.events) == CHAT_CLEAN
        assert {c.model for c in got.events} == {"b"}
    else:
        assert types(got.events) == RESPONSES_CLEAN
    info = call_info(got.stream)
    assert [(a.route, a.kind) for a in info.attempts] == [
        ("a@llm.test", "first_token_timeout"),
        ("b@llm.test", None),
    ]
    assert info.attempts[1].started == 5.0
    assert mode.clock.monotonic() == 5.0
    assert [seen(llm_faults, m) for m in "ab"] == [1, 1]


def test_the_first_token_clock_starts_at_each_attempt(
    mode: Mode, llm_fake: Any, llm_faults: FaultPlan
) -> None:
    script(llm_fake, times=2)
    llm_faults.add(Stall(after_chunk=1, seconds=30))  # attempt 1: times out at 5 s
    llm_faults.add(Stall(after_chunk=1, seconds=4))  # attempt 2: 4 s < 5 s from its start
    client = mode.client(A, timeouts=Timeouts(first_token=5), max_retries=1, seed=5)

    got = run(mode, client)

    assert got.error is None
    assert chat_deltas(got.events) == CHAT_CLEAN
    info = call_info(got.stream)
    wait = info.attempts[0].wait
    assert wait > 0
    assert [a.kind for a in info.attempts] == ["first_token_timeout", None]
    assert info.attempts[1].started == 5.0 + wait
    # from the call's start the first token came after 9 s and more: only the attempt counts
    assert mode.clock.monotonic() == pytest.approx(5.0 + wait + 4.0)
    assert seen(llm_faults) == 2


@pytest.mark.parametrize("what", ["comment", "empty", "role"])
def test_keep_alives_and_empty_deltas_are_not_a_first_token(
    mode: Mode, llm_fake: Any, llm_faults: FaultPlan, what: str
) -> None:
    script(llm_fake, times=2)
    llm_faults.add(Filler(before=1, count=10, every=2, what=what), model="a")
    client = mode.client(A, B, timeouts=Timeouts(first_token=5), max_retries=0)

    got = run(mode, client)

    assert got.error is None
    assert chat_deltas(got.events) == CHAT_CLEAN  # one preamble: b's
    assert {c.model for c in got.events} == {"b"}
    info = call_info(got.stream)
    assert [a.kind for a in info.attempts] == ["first_token_timeout", None]
    # async: the timer on the clock fires at 5 s. Sync (a blocking read): comments are
    # no event for the SDK and keep its read timeout from firing while bytes arrive, so
    # the first event is the text after 20 s; empty/role deltas are events: the first
    # past 5 s (at 6 s) fails the attempt.
    expected = {"comment": 20.0, "empty": 6.0, "role": 6.0}[what]
    assert info.attempts[1].started == (5.0 if mode.is_async else expected)
    assert [seen(llm_faults, m) for m in "ab"] == [1, 1]


def test_first_token_timeout_everywhere_is_a_typed_pre_output_error(
    mode: Mode, llm_fake: Any, llm_faults: FaultPlan
) -> None:
    script(llm_fake, times=2)
    llm_faults.add(Stall(after_chunk=1, seconds=math.inf), times=2)
    client = mode.client(A, B, timeouts=Timeouts(first_token=5), max_retries=0)

    got = run(mode, client)

    assert isinstance(got.error, FirstTokenTimeout)
    assert got.error.partial_text == ""
    assert got.stream is None
    assert mode.clock.monotonic() == 10.0
    assert [seen(llm_faults, m) for m in "ab"] == [1, 1]


def test_a_503_before_the_stream_is_retried_after_a_wait_on_the_clock(
    mode: Mode, llm_fake: Any, llm_faults: FaultPlan, llm_clock: VirtualClock
) -> None:
    script(llm_fake)
    llm_faults.add(ServerError(503))
    client = mode.client(A, max_retries=1, seed=1)

    got = run(mode, client)

    assert got.error is None
    assert chat_deltas(got.events) == CHAT_CLEAN
    assert seen(llm_faults) == 2
    assert llm_clock.sleeps == [call_info(got.stream).attempts[0].wait]
