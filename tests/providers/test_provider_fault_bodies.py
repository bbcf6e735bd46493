"""Every body a fault sends to Anthropic or Gemini validates with the SDK's own types.

Strict pydantic (``model_validate``, not ``construct``): Anthropic's error bodies as
``ErrorResponse`` and changed replies as ``Message`` / the ``RawMessageStreamEvent``
union (no field the models do not know); Gemini's changed replies as
``GenerateContentResponse``, which forbids unknown fields, and its error bodies as
``google.rpc.Status`` JSON (``code``, ``message``, ``status``, ``details``), read
back by the SDK's ``APIError``.
"""

from __future__ import annotations

import json
from typing import Any

import httpx2
import pydantic
import pytest
from anthropic.types import Message, RawMessageStreamEvent
from anthropic.types.shared import ErrorResponse
from google.genai import errors, types
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_llm._flow import Exchange, Outcome, Reply, router
from pytest_llm._sse import SSEParser
from pytest_llm.fake import FakeProvider
from pytest_llm.faults import (
    VARIANTS,
    ContentFilter,
    ContextLengthExceeded,
    Fault,
    FaultNotApplicable,
    FaultPlan,
    HTTPError,
    InsufficientQuota,
    MalformedJSON,
    MaxTokens,
    Overloaded,
    RateLimited,
    ServerError,
    StreamError,
    TruncatedStream,
)
from pytest_llm.strategies import faults

EVENT: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(RawMessageStreamEvent)
ERRORS: list[Fault] = [
    RateLimited(retry_after=7),
    RateLimited(retry_after=0.5, limit="tokens"),
    RateLimited(retry_after=7, http_date=True),
    InsufficientQuota(),
    ServerError(500),
    ServerError(502),
    ServerError(503),
    ServerError(504),
    Overloaded(),
    ContextLengthExceeded(),
    HTTPError(401, "invalid x-api-key", type="authentication_error"),
    HTTPError(400, "Invalid request."),
]
CHANGES: list[Fault] = [
    ContentFilter(),
    ContentFilter(keep_chars=7),
    MaxTokens(),
    MaxTokens(keep_chars=3),
    *[MalformedJSON(v) for v in VARIANTS],
]
STREAM_CHANGES: list[Fault] = [
    *CHANGES,
    TruncatedStream(),
    TruncatedStream(after_chunk=3),
    StreamError(),
    StreamError(after_chunk=4, type="overloaded_error", message="Overloaded"),
    StreamError(type="rate_limit_error", message="Slow down."),
]
CONTENT = json.dumps({"label": "bug", "priority": 2, "tags": ["ui", "it's"], "urgent": True})
ANTHROPIC = "https://api.anthropic.com/v1/messages"
GEMINI = "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:"


def exchange(provider: str, stream: bool) -> Exchange:
    if provider == "anthropic":
        body: dict[str, Any] = {
            "model": "claude-haiku-4-5",
            "max_tokens": 100,
            "messages": [{"role": "user", "content": "Label this."}],
            "stream": stream,
        }
        url = ANTHROPIC
    else:
        body = {"contents": [{"role": "user", "parts": [{"text": "Label this."}]}]}
        url = GEMINI + ("streamGenerateContent?alt=sse" if stream else "generateContent")
    return Exchange("POST", url, [("content-type", "application/json")], json.dumps(body).encode())


def outcome_of(fault: Fault, provider: str, stream: bool) -> Outcome:
    fake = FakeProvider(check_unused=False)
    fake.add(CONTENT, tool_calls=[("label", {"name": "bug"})], times=None)
    plan = FaultPlan(fault)
    return plan.handle(exchange(provider, stream), lambda ex: fake.handle(ex, router.dispatch))


def apply(fault: Fault, provider: str, stream: bool) -> Reply:
    outcome = outcome_of(fault, provider, stream)
    assert isinstance(outcome, Reply)
    return outcome


def wire_docs(reply: Reply) -> list[tuple[str | None, Any]]:
    """Each event as the SDK reads it off the wire: (event name, JSON)."""
    parser = SSEParser()
    events = []
    for part in reply.parts():
        events += parser.feed(part.data)
    return [(ev.event, json.loads(ev.data)) for ev in events]


def unknown_fields(value: Any, path: str = "$") -> list[str]:
    out: list[str] = []
    if isinstance(value, pydantic.BaseModel):
        out += [f"{path}.{k}" for k in value.model_extra or {}]
        for name in type(value).model_fields:
            out += unknown_fields(getattr(value, name), f"{path}.{name}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += unknown_fields(v, f"{path}[{i}]")
    return out


@pytest.mark.parametrize("fault", ERRORS, ids=repr)
def test_anthropic_error_bodies(fault: Fault) -> None:
    reply = apply(fault, "anthropic", False)
    error = ErrorResponse.model_validate_json(reply.body)
    assert unknown_fields(error) == []
    assert error.request_id == reply.header("request-id")
    assert reply.header("content-type") == "application/json"


@pytest.mark.parametrize("fault", ERRORS, ids=repr)
def test_gemini_error_bodies(fault: Fault) -> None:
    reply = apply(fault, "gemini", False)
    doc = json.loads(reply.body)
    assert set(doc) == {"error"}
    assert set(doc["error"]) <= {"code", "message", "status", "details"}
    assert doc["error"]["code"] == reply.status
    response = httpx2.Response(reply.status, json=doc)
    with pytest.raises(errors.APIError) as info:
        errors.APIError.raise_for_response(response)
    assert (info.value.code, info.value.status) == (reply.status, doc["error"]["status"])
    assert info.value.message == doc["error"]["message"]


@pytest.mark.parametrize("fault", CHANGES, ids=repr)
def test_anthropic_changed_messages(fault: Fault) -> None:
    message = Message.model_validate_json(apply(fault, "anthropic", False).body)
    assert unknown_fields(message) == []


@pytest.mark.parametrize("fault", STREAM_CHANGES, ids=repr)
def test_anthropic_changed_streams(fault: Fault) -> None:
    for name, doc in wire_docs(apply(fault, "anthropic", True)):
        if name == "ping":
            continue
        if name == "error":
            assert unknown_fields(ErrorResponse.model_validate({**doc, "request_id": None})) == []
            continue
        event = EVENT.validate_python(doc)
        assert name == event.type
        assert unknown_fields(event) == []


@pytest.mark.parametrize("fault", CHANGES, ids=repr)
def test_gemini_changed_responses(fault: Fault) -> None:
    types.GenerateContentResponse.model_validate_json(apply(fault, "gemini", False).body)


@pytest.mark.parametrize("fault", STREAM_CHANGES, ids=repr)
def test_gemini_changed_streams(fault: Fault) -> None:
    docs = [doc for _, doc in wire_docs(apply(fault, "gemini", True))]
    assert docs
    for doc in docs:
        if "error" in doc:
            assert set(doc["error"]) == {"code", "message", "status"}
            continue
        types.GenerateContentResponse.model_validate(doc)


def check_reply(provider: str, stream: bool, outcome: object) -> None:
    """Whatever a fault sends validates: errors as the provider's error body, replies
    (or what of them gets out before a failure) as the SDK's types."""
    if not isinstance(outcome, Reply):
        return  # a transport failure: no body at all
    if outcome.status != 200:
        if provider == "anthropic":
            ErrorResponse.model_validate_json(outcome.body)
        else:
            assert set(json.loads(outcome.body)["error"]) <= {
                "code",
                "message",
                "status",
                "details",
            }
        return
    if not stream:
        data = b"".join(p.data for p in outcome.parts())
        if outcome.failure is None:
            if provider == "anthropic":
                Message.model_validate_json(data)
            else:
                types.GenerateContentResponse.model_validate_json(data)
        return
    for name, doc in wire_docs(outcome):
        if name == "ping":
            continue
        if provider == "anthropic":
            if name == "error":
                ErrorResponse.model_validate({**doc, "request_id": None})
            else:
                assert EVENT.validate_python(doc).type == name
        elif "error" not in doc:
            types.GenerateContentResponse.model_validate(doc)


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize("provider", ["anthropic", "gemini"])
@given(data=st.data())
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_any_fault_sends_valid_bodies(provider: str, stream: bool, data: st.DataObject) -> None:
    fault = data.draw(faults(chunks=6 if stream else None, max_wait=5), label="fault")
    try:
        outcome = outcome_of(fault, provider, stream)
    except FaultNotApplicable as exc:
        refused = str(exc)
    else:
        check_reply(provider, stream, outcome)
        return
    # only an index past the end of this reply: every kind knows both providers' shapes
    assert "past the end" in refused, refused


@pytest.mark.parametrize(
    "status", [400, 401, 402, 403, 404, 409, 413, 422, 429, 500, 503, 504, 529]
)
def test_any_http_error_status_is_an_anthropic_error_type(status: int) -> None:
    reply = apply(HTTPError(status, "Nope.", type="no_such_type"), "anthropic", False)
    assert unknown_fields(ErrorResponse.model_validate_json(reply.body)) == []
