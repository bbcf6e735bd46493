"""Every fake reply validates with the openai SDK's own types, field for field.

The fake is called directly (as an adapter would) and each JSON document it sends
is validated by the SDK model for it: ``ChatCompletion``, ``ChatCompletionChunk``,
``Response``, the ``ResponseStreamEvent`` union, ``CreateEmbeddingResponse``. A field
the SDK does not know fails too, so a misspelt field cannot slip through.
"""

from __future__ import annotations

import base64
import json
import struct
from typing import Any, Literal

import pydantic
import pytest
from fake_helpers import call, unknown_fields, validate

from pytest_llm.fake import FakeProvider


class Analysis(pydantic.BaseModel):
    sentiment: Literal["positive", "negative"]
    score: float


WEATHER = {"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}}
TIME = {"name": "get_time", "arguments": {"tz": "Europe/Paris"}}

KINDS: dict[str, dict[str, Any]] = {
    "text": {"content": "Paris is the capital of France."},
    "empty": {"content": ""},
    "unicode": {"content": "Grüße 👋 — naïve café\nzweite Zeile"},
    "json": {"content": {"answer": 42, "tags": ["a", "b"], "ok": True, "none": None}},
    "pydantic": {"content": Analysis(sentiment="positive", score=0.9)},
    "tool_call": {"tool_calls": [WEATHER]},
    "parallel_tools": {"tool_calls": [WEATHER, TIME]},
    "text_and_tool": {"content": "Let me check.", "tool_calls": [WEATHER]},
    "length": {"content": "The answer is cut", "finish_reason": "length"},
    "content_filter": {"content": "", "finish_reason": "content_filter"},
    "chunked": {"content": "abcdefghij", "chunks": 3},
    "pieces": {"content": "Hello world", "chunks": ["Hel", "lo", " world"]},
}

EXPECTED_TEXT = {
    "json": '{"answer": 42, "tags": ["a", "b"], "ok": true, "none": null}',
    "pydantic": '{"sentiment":"positive","score":0.9}',
}


def _body(api: str, stream: bool, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"model": "gpt-4o-mini", "stream": stream, **extra}
    if api == "chat":
        body["messages"] = [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "What is the capital of France?"},
        ]
    else:
        body["input"] = "What is the capital of France?"
    return body


def _expected_text(kind: str) -> str | None:
    spec = KINDS[kind]
    if kind in EXPECTED_TEXT:
        return EXPECTED_TEXT[kind]
    return spec.get("content")


def _expected_calls(kind: str) -> list[tuple[str, dict[str, Any]]]:
    return [(c["name"], c["arguments"]) for c in KINDS[kind].get("tool_calls", [])]


def _allowed_unknown(models: list[pydantic.BaseModel]) -> list[str]:
    out = []
    for m in models:
        for field in unknown_fields(m):
            # The done event of function-call arguments carries the function name; 2.x
            # requires it, 3.x has no field for it.
            if field == "$.name" and getattr(m, "type", "") == (
                "response.function_call_arguments.done"
            ):
                continue
            out.append(field)
    return out


def _chat_result(models: list[Any], stream: bool) -> tuple[str | None, list[Any], str, Any]:
    if not stream:
        (completion,) = models
        choice = completion.choices[0]
        calls = [
            (c.function.name, json.loads(c.function.arguments))
            for c in choice.message.tool_calls or []
        ]
        return choice.message.content, calls, choice.finish_reason, completion.usage
    text: str | None = None
    args: dict[int, list[str]] = {}
    names: dict[int, str] = {}
    finish = ""
    usage = None
    for chunk in models:
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            delta = choice.delta
            if delta.content is not None:
                text = (text or "") + delta.content
            for tc in delta.tool_calls or []:
                if tc.function.name:
                    names[tc.index] = tc.function.name
                args.setdefault(tc.index, []).append(tc.function.arguments or "")
            if choice.finish_reason:
                finish = choice.finish_reason
    calls = [(names[i], json.loads("".join(args[i]))) for i in sorted(names)]
    return text, calls, finish, usage


def _response_result(models: list[Any], stream: bool) -> tuple[Any, list[str]]:
    if not stream:
        return models[0], []
    types = [m.type for m in models]
    assert [m.sequence_number for m in models] == list(range(len(models)))
    final = models[-1].response
    deltas = "".join(m.delta for m in models if m.type == "response.output_text.delta")
    done = [m.text for m in models if m.type == "response.output_text.done"]
    if done:
        assert deltas == done[0] == final.output_text
    for m in models:
        if m.type == "response.function_call_arguments.done":
            streamed = "".join(
                d.delta
                for d in models
                if d.type == "response.function_call_arguments.delta" and d.item_id == m.item_id
            )
            assert streamed == m.arguments
    return final, types


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("kind", list(KINDS))
def test_chat_replies_validate_as_sdk_types(kind: str, stream: bool) -> None:
    fake = FakeProvider()
    fake.add(**KINDS[kind])
    extra = {"stream_options": {"include_usage": True}} if stream else {}
    models = validate(call(fake, "chat", _body("chat", stream, **extra)), "chat", stream)
    assert _allowed_unknown(models) == []
    text, calls, finish, usage = _chat_result(models, stream)
    expected = _expected_text(kind)
    assert text == expected
    assert calls == _expected_calls(kind)
    assert finish == KINDS[kind].get("finish_reason", "tool_calls" if calls else "stop")
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert usage.prompt_tokens >= 10  # two messages with a few words each
    assert usage.completion_tokens == max(
        -(-len(expected or "") // 4)
        + sum(3 + -(-len(n) // 4) + -(-len(json.dumps(a)) // 4) for n, a in calls),
        1,
    )


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("kind", list(KINDS))
def test_responses_replies_validate_as_sdk_types(kind: str, stream: bool) -> None:
    fake = FakeProvider()
    fake.add(**KINDS[kind])
    models = validate(call(fake, "responses", _body("responses", stream)), "responses", stream)
    assert _allowed_unknown(models) == []
    final, types = _response_result(models, stream)
    expected = _expected_text(kind)
    assert final.output_text == (expected or "")
    calls = [
        (item.name, json.loads(item.arguments))
        for item in final.output
        if item.type == "function_call"
    ]
    assert calls == _expected_calls(kind)
    reason = KINDS[kind].get("finish_reason")
    if reason in ("length", "content_filter"):
        assert final.status == "incomplete"
        assert (
            final.incomplete_details.reason
            == {
                "length": "max_output_tokens",
                "content_filter": "content_filter",
            }[reason]
        )
    else:
        assert final.status == "completed"
        assert final.incomplete_details is None
    assert final.usage.total_tokens == final.usage.input_tokens + final.usage.output_tokens
    if stream:
        closing = (
            "response.incomplete"
            if reason in ("length", "content_filter")
            else ("response.completed")
        )
        assert types[:2] == ["response.created", "response.in_progress"]
        assert types[-1] == closing
        assert models[0].response.status == "in_progress"
        assert models[0].response.output == []


def test_responses_text_stream_has_the_real_event_sequence() -> None:
    fake = FakeProvider()
    fake.add("Hello big world")
    reply = call(fake, "responses", _body("responses", True))
    assert reply.events is not None
    assert [ev.event for ev in reply.events] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    deltas = [json.loads(ev.data)["delta"] for ev in reply.events if ev.event.endswith(".delta")]
    assert deltas == ["Hello", " big", " world"]
    times = [ev.t for ev in reply.events]
    assert times == sorted(times)
    assert 0 < times[0] < times[-1] < 1.0
    assert reply.timing is None  # no waits unless a fault or a replay timing asks for them


def test_chat_stream_ends_with_finish_usage_and_done() -> None:
    fake = FakeProvider()
    fake.add("Hi there")
    body = _body("chat", True, stream_options={"include_usage": True})
    reply = call(fake, "chat", body)
    assert reply.events is not None
    assert reply.header("content-type") == "text/event-stream; charset=utf-8"
    data = [ev.data for ev in reply.events]
    assert data[-1] == "[DONE]"
    docs = [json.loads(d) for d in data[:-1]]
    assert docs[0]["choices"][0]["delta"] == {"role": "assistant", "content": "", "refusal": None}
    assert [d["choices"][0]["delta"].get("content") for d in docs[1:3]] == ["Hi", " there"]
    assert docs[-2]["choices"][0] == {
        "index": 0,
        "delta": {},
        "logprobs": None,
        "finish_reason": "stop",
    }
    assert docs[-1]["choices"] == []
    assert docs[-1]["usage"]["completion_tokens"] == 2  # "Hi there": 8 chars, 4 a token
    assert all(d["usage"] is None for d in docs[:-1])


def test_chat_stream_without_include_usage_has_no_usage_field() -> None:
    fake = FakeProvider()
    reply = call(fake, "chat", _body("chat", True))
    assert reply.events is not None
    docs = [json.loads(ev.data) for ev in reply.events[:-1]]
    assert all("usage" not in d for d in docs)
    assert all(d["choices"] for d in docs)


def test_chat_n_gives_n_choices() -> None:
    fake = FakeProvider()
    fake.add("same", times=2)
    (plain,) = validate(call(fake, "chat", _body("chat", False, n=3)), "chat", False)
    assert [c.index for c in plain.choices] == [0, 1, 2]  # type: ignore[attr-defined]
    assert {c.message.content for c in plain.choices} == {"same"}  # type: ignore[attr-defined]
    chunks = validate(call(fake, "chat", _body("chat", True, n=2)), "chat", True)
    texts: dict[int, str] = {}
    for chunk in chunks:
        for choice in chunk.choices:  # type: ignore[attr-defined]
            texts[choice.index] = texts.get(choice.index, "") + (choice.delta.content or "")
    assert texts == {0: "same", 1: "same"}


def test_embeddings_validate_as_sdk_types() -> None:
    fake = FakeProvider()
    body = {"model": "text-embedding-3-small", "input": ["a", "b"]}
    (emb,) = validate(call(fake, "embeddings", body), "embeddings", False)
    assert unknown_fields(emb) == []
    assert [d.index for d in emb.data] == [0, 1]  # type: ignore[attr-defined]
    assert emb.usage.prompt_tokens == emb.usage.total_tokens == 2  # type: ignore[attr-defined]
    vector = emb.data[0].embedding  # type: ignore[attr-defined]
    assert len(vector) == 1536
    assert abs(sum(x * x for x in vector) - 1.0) < 1e-6


def test_base64_embeddings_are_the_float32_bytes_of_the_same_vectors() -> None:
    # The openai SDK asks for base64 by default and decodes it itself.
    fake = FakeProvider()
    body = {"model": "text-embedding-3-small", "input": ["a", "b"], "dimensions": 16}
    floats = json.loads(call(fake, "embeddings", body).body)["data"]
    encoded = json.loads(call(fake, "embeddings", {**body, "encoding_format": "base64"}).body)
    for plain, packed in zip(floats, encoded["data"], strict=True):
        decoded = struct.unpack("<16f", base64.b64decode(packed["embedding"]))
        assert decoded == pytest.approx(plain["embedding"], abs=1e-7)


def test_replies_carry_the_request_model_and_readable_ids() -> None:
    fake = FakeProvider()
    doc = json.loads(call(fake, "chat", _body("chat", False)).body)
    assert doc["model"] == "gpt-4o-mini"
    assert doc["id"] == "chatcmpl-fake0001"
    doc2 = json.loads(call(fake, "responses", _body("responses", False)).body)
    assert doc2["id"] == "resp_fake0002"
    assert doc2["output"][0]["id"] == "msg_fake0002"
