"""Test support for faults: an upstream that answers behind the faults, and SDK helpers.

The fake provider (``llm_fake``) is the real thing for users; these tests keep their
own small upstream so that a fault's test fails only for the fault's own reasons.
It answers chat completions and the Responses API, plain and streamed, with the
shapes the OpenAI API sends, and counts what it served.
"""

from __future__ import annotations

import asyncio
import importlib
import json
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import openai

from pytest_llm._flow import Exchange, Next, Outcome, Reply, router
from pytest_llm._sse import SSEEvent

OPENAI_MAJOR = int(openai.__version__.split(".")[0])
HTTP = importlib.import_module("httpx2" if OPENAI_MAJOR >= 3 else "httpx")
"""The HTTP library under the installed SDK's default client."""

# openai 3.x wraps transport errors raised while a stream is read; 1.x/2.x let the
# HTTP library's own exception through.
STREAM_TIMEOUT: type[Exception] = openai.APITimeoutError if OPENAI_MAJOR >= 3 else HTTP.ReadTimeout
STREAM_RESET: type[Exception] = openai.APIConnectionError if OPENAI_MAJOR >= 3 else HTTP.ReadError

BASE_URL = "http://llm.test/v1"
ANALYSIS = {"sentiment": "positive", "score": 0.9, "topics": ["billing", "refund"]}
TEXT = json.dumps(ANALYSIS)
T = TypeVar("T")


def pieces(text: str, n: int = 6) -> list[str]:
    """``text`` in ``n`` pieces of nearly equal size (never empty for long enough text)."""
    size, extra = divmod(len(text), n)
    out, pos = [], 0
    for i in range(n):
        step = size + (1 if i < extra else 0)
        out.append(text[pos : pos + step])
        pos += step
    return out


def chat_body(text: str, model: str = "gpt-4o-mini") -> dict[str, Any]:
    return {
        "id": "chatcmpl-upstream",
        "object": "chat.completion",
        "created": 1767225600,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text, "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 12, "completion_tokens": 9, "total_tokens": 21},
        "system_fingerprint": "fp_upstream",
    }


def chat_events(text: str, model: str = "gpt-4o-mini") -> list[SSEEvent]:
    base = {
        "id": "chatcmpl-upstream",
        "object": "chat.completion.chunk",
        "created": 1767225600,
        "model": model,
        "system_fingerprint": "fp_upstream",
    }

    def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
        doc = {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
        return json.dumps(doc, separators=(",", ":"))

    datas = [chunk({"role": "assistant", "content": ""})]
    datas += [chunk({"content": p}) for p in pieces(text)]
    datas.append(chunk({}, "stop"))
    datas.append("[DONE]")
    return [SSEEvent(data=d, t=round(0.05 * i, 4)) for i, d in enumerate(datas)]


def response_body(
    text: str, model: str = "gpt-4o-mini", status: str = "completed"
) -> dict[str, Any]:
    return {
        "id": "resp_upstream",
        "object": "response",
        "created_at": 1767225600,
        "status": status,
        "model": model,
        "output": [
            {
                "type": "message",
                "id": "msg_upstream",
                "status": "completed",
                "role": "assistant",
                "content": [{"type": "output_text", "text": text, "annotations": []}],
            }
        ]
        if text or status == "completed"
        else [],
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "usage": {
            "input_tokens": 12,
            "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
            "output_tokens": 9,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": 21,
        },
    }


def response_events(text: str, model: str = "gpt-4o-mini") -> list[SSEEvent]:
    out: list[SSEEvent] = []

    def add(kind: str, **payload: Any) -> None:
        doc = {"type": kind, "sequence_number": len(out), **payload}
        out.append(
            SSEEvent(data=json.dumps(doc, separators=(",", ":")), event=kind, t=0.05 * len(out))
        )

    start = response_body("", model, status="in_progress") | {"usage": None}
    item = {"type": "message", "id": "msg_upstream", "status": "in_progress", "role": "assistant"}
    where = {"item_id": "msg_upstream", "output_index": 0, "content_index": 0}
    add("response.created", response=start)
    add("response.in_progress", response=start)
    add("response.output_item.added", output_index=0, item=item | {"content": []})
    add(
        "response.content_part.added",
        **where,
        part={"type": "output_text", "text": "", "annotations": []},
    )
    for p in pieces(text):
        add("response.output_text.delta", **where, delta=p, logprobs=[])
    add("response.output_text.done", **where, text=text, logprobs=[])
    add(
        "response.content_part.done",
        **where,
        part={"type": "output_text", "text": text, "annotations": []},
    )
    done_item = item | {
        "status": "completed",
        "content": [{"type": "output_text", "text": text, "annotations": []}],
    }
    add("response.output_item.done", output_index=0, item=done_item)
    add("response.completed", response=response_body(text, model))
    return out


class Upstream:
    """Answers every chat completions and responses request; stands where the fake would."""

    order = 300

    def __init__(self, text: str = TEXT) -> None:
        self.text = text
        self.served: list[Exchange] = []

    def handle(self, exchange: Exchange, nxt: Next) -> Outcome:
        self.served.append(exchange)
        body = exchange.json if isinstance(exchange.json, dict) else {}
        model = str(body.get("model", "gpt-4o-mini"))
        sse = [("content-type", "text/event-stream; charset=utf-8")]
        js = [("content-type", "application/json"), ("x-request-id", "req_upstream")]
        if exchange.path.endswith("/embeddings"):
            doc = {
                "object": "list",
                "data": [{"object": "embedding", "index": 0, "embedding": [0.1, -0.2, 0.3]}],
                "model": model,
                "usage": {"prompt_tokens": 3, "total_tokens": 3},
            }
            return Reply(200, js, json.dumps(doc).encode())
        if exchange.path.endswith("/responses"):
            if body.get("stream"):
                return Reply(200, sse, events=response_events(self.text, model))
            return Reply(200, js, json.dumps(response_body(self.text, model)).encode())
        if body.get("stream"):
            return Reply(200, sse, events=chat_events(self.text, model))
        return Reply(200, js, json.dumps(chat_body(self.text, model)).encode())


@contextmanager
def upstream(text: str = TEXT) -> Iterator[Upstream]:
    handler = Upstream(text)
    with router.activate(handler):
        yield handler


# -- the SDK, sync or async, one call ----------------------------------------------------


def client(is_async: bool, **kwargs: Any) -> Any:
    kwargs.setdefault("api_key", "sk-test")
    kwargs.setdefault("base_url", BASE_URL)
    return openai.AsyncOpenAI(**kwargs) if is_async else openai.OpenAI(**kwargs)


def run(is_async: bool, call: Callable[[Any], Any], **kwargs: Any) -> Any:
    """``call(client)`` on a sync client, or awaited on an async one in a fresh loop."""
    c = client(is_async, **kwargs)
    if not is_async:
        return call(c)

    async def main() -> Any:
        result = call(c)
        return await result if isinstance(result, Awaitable) else result

    return asyncio.run(main())


def chat(is_async: bool, **kwargs: Any) -> Any:
    """One chat completion: the message content (or the SDK's exception)."""
    return run(
        is_async,
        lambda c: c.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "analyse this"}]
        ),
        **kwargs,
    )


def stream_chunks(is_async: bool, api: str = "chat", **kwargs: Any) -> list[Any]:
    """Every chunk of a streamed answer, as SDK objects; on an error, it is raised with
    ``.chunks`` set to those received before it."""
    got: list[Any] = []

    def sync_call(c: Any) -> list[Any]:
        try:
            for chunk in _open(c, api):
                got.append(chunk)
        except BaseException as exc:
            exc.chunks = got  # type: ignore[attr-defined]
            raise
        return got

    async def async_call(c: Any) -> list[Any]:
        try:
            async for chunk in await _open(c, api):
                got.append(chunk)
        except BaseException as exc:
            exc.chunks = got  # type: ignore[attr-defined]
            raise
        return got

    return run(is_async, async_call if is_async else sync_call, **kwargs)  # type: ignore[arg-type]


def _open(c: Any, api: str) -> Any:
    if api == "chat":
        return c.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "analyse this"}], stream=True
        )
    return c.responses.create(model="gpt-4o-mini", input="analyse this", stream=True)


def text_of(chunks: list[Any], api: str = "chat") -> str:
    if api == "chat":
        return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    return "".join(c.delta for c in chunks if c.type == "response.output_text.delta")
