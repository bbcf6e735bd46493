"""Helpers for the fake provider tests: call the fake directly, validate with SDK types."""

from __future__ import annotations

import json
from typing import Any

import openai
import pydantic
from openai.types import CreateEmbeddingResponse
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from openai.types.responses import Response, ResponseStreamEvent

from pytest_llm._flow import Exchange, Outcome, Reply
from pytest_llm.fake import FakeProvider

OPENAI_MAJOR = int(openai.__version__.split(".")[0])
PATHS = {
    "chat": "/v1/chat/completions",
    "responses": "/v1/responses",
    "embeddings": "/v1/embeddings",
}
STREAM_EVENT: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(ResponseStreamEvent)


def _blocked(exchange: Exchange) -> Outcome:
    raise AssertionError(f"the fake passed {exchange!r} on")


def call(fake: FakeProvider, api: str, body: dict[str, Any]) -> Reply:
    """One request straight into the fake's handle(), as an adapter would send it."""
    exchange = Exchange(
        "POST",
        f"https://api.openai.com{PATHS[api]}",
        [("content-type", "application/json")],
        json.dumps(body).encode(),
        "test",
    )
    outcome = fake.handle(exchange, _blocked)
    assert isinstance(outcome, Reply)
    return outcome


def unknown_fields(value: Any, path: str = "$") -> list[str]:
    """Fields the SDK's models do not know: a misspelt or invented field shows up here."""
    out: list[str] = []
    if isinstance(value, pydantic.BaseModel):
        out += [f"{path}.{k}" for k in value.model_extra or {}]
        for name in type(value).model_fields:
            out += unknown_fields(getattr(value, name), f"{path}.{name}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += unknown_fields(v, f"{path}[{i}]")
    return out


def validate(reply: Reply, api: str, stream: bool) -> list[pydantic.BaseModel]:
    """Every JSON document of the reply, validated by the SDK's own model for it."""
    assert reply.status == 200, reply.body
    if not stream:
        assert reply.events is None
        doc = json.loads(reply.body)
        model = {
            "chat": ChatCompletion,
            "responses": Response,
            "embeddings": CreateEmbeddingResponse,
        }[api]
        return [model.model_validate(doc)]
    assert reply.events is not None
    out: list[pydantic.BaseModel] = []
    for ev in reply.events:
        if api == "chat":
            assert ev.event is None
            if ev.data == "[DONE]":
                continue
            out.append(ChatCompletionChunk.model_validate_json(ev.data))
        else:
            parsed = STREAM_EVENT.validate_json(ev.data)
            assert ev.event == parsed.type
            out.append(parsed)
    return out
