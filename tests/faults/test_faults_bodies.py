"""Every body a fault sends validates with the openai SDK's own types (strict pydantic, not
``construct``): error bodies as ``ErrorObject``, changed replies as ``ChatCompletion``,
``ChatCompletionChunk``, ``Response`` and the ``ResponseStreamEvent`` union."""

from __future__ import annotations

import json
from typing import Any

import pydantic
import pytest
from faults_support import BASE_URL, Upstream
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from openai.types.responses import Response, ResponseStreamEvent
from openai.types.shared import ErrorObject

from pytest_llm import VirtualClock
from pytest_llm._flow import Exchange, Reply
from pytest_llm._sse import SSEParser
from pytest_llm.faults import (
    VARIANTS,
    ConnectionReset,
    ContentFilter,
    ContextLengthExceeded,
    Fault,
    FaultPlan,
    HTTPError,
    InsufficientQuota,
    MalformedJSON,
    Overloaded,
    RateLimited,
    ServerError,
    Slow,
    Stall,
    StreamError,
    TruncatedStream,
)

STREAM_EVENT = pydantic.TypeAdapter(ResponseStreamEvent)

ERRORS = [
    RateLimited(retry_after=7),
    RateLimited(retry_after=7, http_date=True, limit="tokens"),
    InsufficientQuota(),
    ServerError(500),
    ServerError(502),
    ServerError(503),
    ServerError(504),
    Overloaded(),
    ContextLengthExceeded(),
    HTTPError(
        401, "Incorrect API key provided.", type="invalid_request_error", code="invalid_api_key"
    ),
]
CHANGES: list[Fault] = [
    Slow(seconds=3),
    ContentFilter(),
    ContentFilter(keep_chars=7),
    *[MalformedJSON(v) for v in VARIANTS],
]
STREAM_ONLY: list[Fault] = [
    Stall(after_chunk=2, seconds=5),
    ConnectionReset(after_chunks=3),
    ConnectionReset(after_bytes=600),
    TruncatedStream(),
    TruncatedStream(after_chunk=2),
    StreamError(),
    StreamError(after_chunk=1, code="overloaded"),
]
APIS = ["chat", "chat-stream", "responses", "responses-stream"]


def reply_for(fault: Fault, api: str) -> Reply:
    path = "/responses" if api.startswith("responses") else "/chat/completions"
    body = {"model": "gpt-4o-mini", "stream": api.endswith("stream"), "input": "x" * 40}
    exchange = Exchange("POST", BASE_URL + path, [], json.dumps(body).encode())
    with VirtualClock():
        outcome = FaultPlan(fault).handle(exchange, lambda ex: Upstream().handle(ex, None))  # type: ignore[arg-type]
    assert isinstance(outcome, Reply)
    return outcome


def events_of(reply: Reply) -> list[Any]:
    """What a client parses off the wire: complete events only (a reset cuts the last one)."""
    parser = SSEParser()
    out = []
    for part in reply.parts():
        out += parser.feed(part.data)
    return out


def validate(reply: Reply, api: str) -> int:
    """Validate every document of the reply; returns how many were checked."""
    if reply.status >= 400:
        doc = json.loads(reply.body)
        assert list(doc) == ["error"]
        assert list(doc["error"]) == ["message", "type", "param", "code"]
        ErrorObject.model_validate(doc["error"], strict=True)
        return 1
    if not api.endswith("stream"):
        body = b"".join(p.data for p in reply.parts())
        model = ChatCompletion if api == "chat" else Response
        model.model_validate(json.loads(body))
        return 1
    n = 0
    for ev in events_of(reply):
        if ev.data == "[DONE]":
            continue
        doc = json.loads(ev.data)
        if api == "chat-stream":
            if "error" in doc:
                ErrorObject.model_validate(doc["error"])
            else:
                ChatCompletionChunk.model_validate(doc)
        else:
            parsed = STREAM_EVENT.validate_python(doc)
            assert parsed.type == ev.event
        n += 1
    return n


@pytest.mark.parametrize("fault", ERRORS, ids=repr)
def test_error_bodies_are_openai_error_objects(fault: Fault) -> None:
    assert validate(reply_for(fault, "chat"), "chat") == 1


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("fault", CHANGES, ids=repr)
def test_changed_replies_validate_as_sdk_models(fault: Fault, api: str) -> None:
    assert validate(reply_for(fault, api), api) >= 1


@pytest.mark.parametrize("api", ["chat-stream", "responses-stream"])
@pytest.mark.parametrize("fault", STREAM_ONLY, ids=repr)
def test_changed_streams_validate_as_sdk_events(fault: Fault, api: str) -> None:
    assert validate(reply_for(fault, api), api) >= 1


@pytest.mark.parametrize("api", APIS)
def test_the_upstream_alone_validates_too(api: str) -> None:
    """The baseline the changes start from is already in the SDK's shapes."""
    path = "/responses" if api.startswith("responses") else "/chat/completions"
    body = json.dumps({"model": "m", "stream": api.endswith("stream")}).encode()
    reply = Upstream().handle(Exchange("POST", BASE_URL + path, [], body), None)  # type: ignore[arg-type]
    assert isinstance(reply, Reply)
    assert validate(reply, api) >= 1
