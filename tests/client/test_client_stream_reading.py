"""How a stream reads what the SDK hands it: once, and without dumping its usage.

Issue 7's streamed overhead: the stream the caller gets goes on with the SDK iterator
its first chunks were read from (``Tracker.source``), and a stream that ends well reads
its usage from the SDK's own object (``Tracker.flat_usage``) instead of a dump of it.
"""

from __future__ import annotations

import asyncio
import sys
from types import SimpleNamespace
from typing import Any

import openai
import pytest
from client_helpers import MESSAGES, Mode, route

from pytest_llm.client import StreamError, call_info
from pytest_llm.client._stream import Tracker
from pytest_llm.client._usage import usage_of

# -- one SDK iterator per stream -------------------------------------------------------------


def spy_iterators(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every SDK stream iterator made (the SDK's own, counted on the way through)."""
    made: list[str] = []
    sync_iter, async_iter = openai.Stream.__iter__, openai.AsyncStream.__aiter__

    def counted_iter(self: Any) -> Any:
        made.append("sync")
        return sync_iter(self)

    def counted_aiter(self: Any) -> Any:
        made.append("async")
        return async_iter(self)

    monkeypatch.setattr(openai.Stream, "__iter__", counted_iter)
    monkeypatch.setattr(openai.AsyncStream, "__aiter__", counted_aiter)
    return made


@pytest.mark.parametrize("calls", [1, 3])
def test_a_stream_reads_the_sdk_response_through_one_iterator(
    mode: Mode, llm_fake: Any, monkeypatch: pytest.MonkeyPatch, calls: int
) -> None:
    """The chunks read before the hand-over (up to the first content) and the rest come
    from one SDK iterator: a second one over the same response was made and left
    suspended per stream (an async one then closed by a task of the event loop)."""
    llm_fake.add("Paris is the capital.", chunks=["Paris", " is", " the capital."], times=calls)
    client = mode.client(route("a"))
    made = spy_iterators(monkeypatch)

    for _ in range(calls):
        stream, events = mode.stream(
            client.chat.completions.create, stream_options={"include_usage": True}
        )
        text = "".join(e.choices[0].delta.content or "" for e in events if e.choices)
        assert text == "Paris is the capital."
        assert call_info(stream).usage is not None

    assert made == [mode.name] * calls


def test_an_async_stream_leaves_the_event_loop_what_the_sdk_stream_leaves(
    llm_fake: Any, llm_clock: Any
) -> None:
    """The event loop's async-generator finalizer (a task per generator left suspended)
    is called for the same generators under the client's stream as under the bare SDK's
    stream read to its end: none of the client's own."""
    llm_fake.add("Paris is the capital.", chunks=["Paris", " is", " the capital."], times=4)
    a = route("a")
    sdk = openai.AsyncOpenAI(api_key=a.api_key, base_url=a.base_url, max_retries=0)
    client = Mode(is_async=True, clock=llm_clock).client(a)

    def finalized_by(create: Any) -> list[str]:
        names: list[str] = []

        async def go() -> None:
            hooks = sys.get_asyncgen_hooks()
            assert hooks.finalizer is not None
            finalize = hooks.finalizer

            def finalizer(agen: Any) -> None:
                names.append(agen.__qualname__)
                finalize(agen)

            sys.set_asyncgen_hooks(firstiter=hooks.firstiter, finalizer=finalizer)
            for _ in range(2):
                stream = await create(model="a", messages=MESSAGES, stream=True)
                text = "".join(
                    [e.choices[0].delta.content or "" async for e in stream if e.choices]
                )
                assert text == "Paris is the capital."
            for _ in range(3):
                await asyncio.sleep(0)

        asyncio.run(go())
        return sorted(names)

    assert finalized_by(client.chat.completions.create) == finalized_by(sdk.chat.completions.create)


# -- the usage, read from the SDK's object instead of its dump ---------------------------


USAGES = [
    None,
    openai.types.CompletionUsage(prompt_tokens=38, completion_tokens=31, total_tokens=69),
    openai.types.CompletionUsage(
        prompt_tokens=38,
        completion_tokens=31,
        total_tokens=69,
        prompt_tokens_details={"cached_tokens": 12, "audio_tokens": 0},
        completion_tokens_details={"reasoning_tokens": 5},
    ),
    openai.types.CompletionUsage.construct(prompt_tokens=7, completion_tokens=3),
    openai.types.CompletionUsage.model_validate(
        {"prompt_tokens": 9, "completion_tokens": 2, "total_tokens": 11, "cost": 0.5}
    ),
    openai.types.responses.ResponseUsage.construct(  # as the SDK builds a stream's events
        input_tokens=20,
        output_tokens=4,
        total_tokens=24,
        input_tokens_details={"cached_tokens": 8},
        output_tokens_details={"reasoning_tokens": 0},
    ),
    {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6},
]


def tracker() -> Tracker:
    return Tracker("chat", clock=SimpleNamespace(monotonic=lambda: 0.0), started=0.0)  # type: ignore[arg-type]


@pytest.mark.parametrize("usage", USAGES, ids=lambda u: type(u).__name__)
def test_the_flat_usage_is_the_one_of_the_usage_dump(usage: Any) -> None:
    """``Tracker.flat_usage`` (the end of every stream) reads the SDK's usage object; it
    gives what the usage dict (``Tracker.usage``, what errors carry) gave before."""
    t = tracker()
    if usage is not None:
        t._took_usage(usage)
    dumped = t.usage
    expected = None if dumped is None else usage_of(SimpleNamespace(usage=dumped))
    assert t.flat_usage == expected
    if usage is not None:
        assert expected is not None
        assert expected["input_tokens"] > 0
        assert t.usage is dumped  # dumped once


def test_an_error_carries_the_dump_of_the_last_usage() -> None:
    t = tracker()
    first, last = USAGES[1], USAGES[2]
    assert isinstance(first, openai.types.CompletionUsage)
    assert isinstance(last, openai.types.CompletionUsage)
    t._took_usage(first)
    assert t.usage == first.model_dump()
    t._took_usage(last)
    error = t.incomplete()
    assert isinstance(error, StreamError)
    assert error.usage == last.model_dump()


# -- a chat chunk read with plain attribute reads ------------------------------------------


def _read_with_getattr(t: Tracker, event: Any) -> bool:
    """The chat reader as it was, every read a ``getattr(..., None)``: the reference."""
    t.events += 1
    content = False
    usage = getattr(event, "usage", None)
    if usage is not None:
        t._took_usage(usage)
    choices = getattr(event, "choices", None)
    if choices is None:
        raise StreamError("no choices")
    for choice in choices:
        delta = getattr(choice, "delta", None)
        if delta is not None:
            text = getattr(delta, "content", None)
            if text:
                t.text.append(text)
                content = True
            elif (
                getattr(delta, "refusal", None)
                or getattr(delta, "tool_calls", None)
                or getattr(delta, "function_call", None)
            ):
                content = True
        if getattr(choice, "finish_reason", None):
            t.finish_reason = choice.finish_reason
            t.complete = True
    if content or t.complete:
        t.last_progress = 0.0
        if content:
            t.last_content = 0.0
    return content


_Chunk = openai.types.chat.ChatCompletionChunk
_CHUNK = {"id": "c", "created": 1, "model": "m", "object": "chat.completion.chunk"}


def _chunk(choices: list[Any], usage: Any = None) -> Any:
    return _Chunk.construct(**_CHUNK, choices=choices, usage=usage)


def _choice(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {"index": 0, "delta": delta, "finish_reason": finish}


NS = SimpleNamespace
CHUNKS = {
    "role": _Chunk(**_CHUNK, choices=[_choice({"role": "assistant", "content": ""})]),
    "text": _Chunk(**_CHUNK, choices=[_choice({"content": "Paris"})]),
    "refusal": _Chunk(**_CHUNK, choices=[_choice({"refusal": "no"})]),
    "tool call": _Chunk(
        **_CHUNK,
        choices=[_choice({"tool_calls": [{"index": 0, "function": {"arguments": "{"}}]})],
    ),
    "finish": _Chunk(**_CHUNK, choices=[_choice({}, "stop")]),
    "usage": _Chunk(**_CHUNK, choices=[], usage=USAGES[1]),
    "two choices": _Chunk(
        **_CHUNK, choices=[_choice({"content": "a"}), _choice({"content": "b"}, "length")]
    ),
    "constructed": _chunk([_choice({"content": "x"})], usage=USAGES[3]),
    "no usage attribute": NS(choices=[NS(delta=NS(content="hi"), finish_reason=None)]),
    "no delta attribute": NS(usage=None, choices=[NS(finish_reason="stop")]),
    "no finish attribute": NS(usage=None, choices=[NS(delta=NS(content="hi"))]),
    "no content attribute": NS(usage=None, choices=[NS(delta=NS(refusal="no"))]),
    "delta None": NS(usage=None, choices=[NS(delta=None, finish_reason=None)]),
    "choices None": NS(usage=USAGES[1], choices=None),
    "no choices attribute": NS(usage=USAGES[2]),
    "nothing": NS(),
}


def _state(t: Tracker) -> tuple[Any, ...]:
    return (
        t.events,
        list(t.text),
        t.complete,
        t.finish_reason,
        t.raw_usage,
        t.last_content,
        t.last_progress,
    )


@pytest.mark.parametrize("name", list(CHUNKS))
def test_a_chat_chunk_reads_as_with_getattr(name: str) -> None:
    """The chat reader reads each field with a plain attribute read (a getattr call per
    field of every chunk cost more than the read), falling back to ``getattr(..., None)``
    for an object without it: what it takes from a chunk (content or not, text,
    completion, usage, the error for a chunk without choices) is what getattr gave."""
    event = CHUNKS[name]
    fast, slow = tracker(), tracker()
    for t in (fast, slow):
        t.timed = True
        t._took_usage(USAGES[2])  # an earlier usage, kept unless the chunk has one
    try:
        expected: Any = _read_with_getattr(slow, event)
    except StreamError:
        expected = StreamError
    try:
        got: Any = fast.observe(event)
    except StreamError:
        got = StreamError
    assert got == expected
    assert _state(fast) == _state(slow)
