"""Faults in Anthropic's real shapes, through the real ``anthropic`` SDK.

The fault kinds are the OpenAI ones; on a Messages API request each is said the way
Anthropic says it: 429 ``rate_limit_error`` with ``retry-after`` and the
``anthropic-ratelimit-*`` headers, 529 ``overloaded_error``, ``event: error`` inside
a stream, ``stop_reason: max_tokens`` / ``refusal``. Every error body validates with
the SDK's ``ErrorResponse`` and the SDK raises its own class for it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from typing import Any

import anthropic
import pytest
from anthropic.types.shared import ErrorResponse

from pytest_llm import VirtualClock
from pytest_llm.fake import FakeProvider
from pytest_llm.faults import (
    ContentFilter,
    ContextLengthExceeded,
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

MODEL = "claude-haiku-4-5"
HELLO: Any = [{"role": "user", "content": "What is the capital of France?"}]
TEXT = "The capital of France is Paris, on the Seine."


def client(**kw: Any) -> anthropic.Anthropic:
    return anthropic.Anthropic(api_key="sk-ant-test", **kw)


def error_body(exc: anthropic.APIStatusError) -> ErrorResponse:
    return ErrorResponse.model_validate(exc.response.json())


def test_rate_limited_sends_anthropics_headers_and_the_sdk_waits_them(
    llm_fake: FakeProvider, llm_clock: VirtualClock
) -> None:
    llm_fake.add(TEXT)
    plan = FaultPlan()
    plan.add(RateLimited(retry_after=7), times=2)
    seen: list[anthropic.RateLimitError] = []
    reset = (llm_clock.now() + dt.timedelta(seconds=7)).strftime("%Y-%m-%dT%H:%M:%SZ")
    with plan:
        with pytest.raises(anthropic.RateLimitError) as info:
            client(max_retries=0).messages.create(model=MODEL, max_tokens=50, messages=HELLO)
        seen.append(info.value)
        message = client(max_retries=2).messages.create(model=MODEL, max_tokens=50, messages=HELLO)
    assert message.content[0].type == "text"
    assert message.content[0].text == TEXT
    assert llm_clock.sleeps == [7.0]  # the SDK honoured retry-after, on virtual time
    response = seen[0].response
    headers = {k: v for k, v in response.headers.items() if k.startswith(("anthropic-", "retry"))}
    assert headers == {
        "retry-after": "7",
        "anthropic-ratelimit-requests-limit": "50",
        "anthropic-ratelimit-requests-remaining": "0",
        "anthropic-ratelimit-requests-reset": reset,  # now + 7 s on the clock, RFC 3339
    }
    body = error_body(seen[0])
    assert body.error.type == "rate_limit_error"
    assert body.error.message.startswith(
        "This request would exceed the rate limit for your organization of 50 requests per minute."
    )
    assert body.request_id == response.headers["request-id"]


def test_a_token_limit_names_the_input_token_headers(llm_fake: FakeProvider) -> None:
    fault = RateLimited(retry_after=None, limit="tokens")
    with FaultPlan(fault), pytest.raises(anthropic.RateLimitError) as info:
        client(max_retries=0).messages.create(model=MODEL, max_tokens=50, messages=HELLO)
    headers = info.value.response.headers
    assert "retry-after" not in headers
    assert headers["anthropic-ratelimit-input-tokens-limit"] == "30000"
    assert headers["anthropic-ratelimit-input-tokens-remaining"] == "0"
    assert headers["anthropic-ratelimit-tokens-remaining"] == "0"
    assert "30,000 input tokens per minute" in error_body(info.value).error.message


@pytest.mark.parametrize(
    ("fault", "status", "error", "kind", "message"),
    [
        (Overloaded(), 529, anthropic.OverloadedError, "overloaded_error", "Overloaded"),
        (
            ServerError(500),
            500,
            anthropic.InternalServerError,
            "api_error",
            "Internal server error",
        ),
        (
            ContextLengthExceeded(limit=200000, tokens=210000),
            400,
            anthropic.BadRequestError,
            "invalid_request_error",
            "prompt is too long: 210000 tokens > 200000 maximum",
        ),
        (
            InsufficientQuota(),
            400,
            anthropic.BadRequestError,
            "invalid_request_error",
            "Your credit balance is too low to access the Anthropic API. Please go to Plans & "
            "Billing to upgrade or purchase credits.",
        ),
        (
            HTTPError(404, "model: claude-x", type="not_found_error"),
            404,
            anthropic.NotFoundError,
            "not_found_error",
            "model: claude-x",
        ),
    ],
    ids=["overloaded", "server_error", "context_length", "insufficient_quota", "http_error"],
)
def test_errors_in_anthropics_shape(
    fault: Any, status: int, error: type[Exception], kind: str, message: str
) -> None:
    with FaultPlan(fault), pytest.raises(anthropic.APIStatusError) as info:
        client(max_retries=0).messages.create(model=MODEL, max_tokens=50, messages=HELLO)
    assert type(info.value) is error
    assert info.value.status_code == status
    body = error_body(info.value)
    assert (body.type, body.error.type, body.error.message) == ("error", kind, message)
    assert body.request_id == info.value.response.headers["request-id"]


def test_an_error_event_inside_the_stream(llm_fake: FakeProvider) -> None:
    llm_fake.add(TEXT)
    seen: list[str] = []
    fault = StreamError(after_chunk=5, type="overloaded_error", message="Overloaded")
    with (
        FaultPlan(fault),
        pytest.raises(anthropic.APIStatusError) as info,
        client(max_retries=0).messages.stream(model=MODEL, max_tokens=50, messages=HELLO) as stream,
    ):
        seen.extend(stream.text_stream)
    assert seen == ["The", " capital"]  # message_start, block start, ping, two deltas
    assert info.value.body == {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "Overloaded"},
    }
    ErrorResponse.model_validate({**info.value.body, "request_id": None})  # type: ignore[dict-item]


def test_a_default_stream_error_is_anthropics_api_error(llm_fake: FakeProvider) -> None:
    llm_fake.add(TEXT)
    with FaultPlan(StreamError()), pytest.raises(anthropic.APIStatusError) as info:
        list(client().messages.create(model=MODEL, max_tokens=50, messages=HELLO, stream=True))
    assert info.value.body == {
        "type": "error",
        "error": {"type": "api_error", "message": "Internal server error"},
    }


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_max_tokens_cuts_the_text_and_says_so(llm_fake: FakeProvider, stream: bool) -> None:
    llm_fake.add(TEXT)
    with FaultPlan(MaxTokens(keep_chars=14)):
        if stream:
            with client().messages.stream(model=MODEL, max_tokens=5, messages=HELLO) as s:
                message = s.get_final_message()
        else:
            message = client().messages.create(model=MODEL, max_tokens=5, messages=HELLO)
    assert message.stop_reason == "max_tokens"
    assert message.content[0].type == "text"
    assert message.content[0].text == "The capital of"


def test_content_filter_is_a_refusal(llm_fake: FakeProvider) -> None:
    llm_fake.add(TEXT)
    with (
        FaultPlan(ContentFilter(keep_chars=3)),
        client().messages.stream(model=MODEL, max_tokens=50, messages=HELLO) as s,
    ):
        message = s.get_final_message()
    assert message.stop_reason == "refusal"
    assert [b.text for b in message.content if b.type == "text"] == ["The"]


def test_a_truncated_stream_has_no_ending(llm_fake: FakeProvider) -> None:
    llm_fake.add(TEXT)
    with FaultPlan(TruncatedStream()):
        events = list(
            client().messages.create(model=MODEL, max_tokens=50, messages=HELLO, stream=True)
        )
    kinds = [e.type for e in events]
    assert kinds[:2] == ["message_start", "content_block_start"]
    assert set(kinds[2:]) == {"content_block_delta"}
    assert "".join(e.delta.text for e in events[2:]) == TEXT  # type: ignore[union-attr]


def test_malformed_json_in_the_message(llm_fake: FakeProvider) -> None:
    llm_fake.add({"city": "Paris", "country": "France"})
    with FaultPlan(MalformedJSON("fenced")):
        message = client().messages.create(model=MODEL, max_tokens=50, messages=HELLO)
    assert message.content[0].type == "text"
    text = message.content[0].text
    assert text.startswith("```json\n")
    assert json.loads(text.removeprefix("```json\n").removesuffix("\n```")) == {
        "city": "Paris",
        "country": "France",
    }


def test_async_overloaded_then_answered(llm_fake: FakeProvider, llm_clock: VirtualClock) -> None:
    llm_fake.add(TEXT)
    plan = FaultPlan()
    plan.add(Overloaded(), times=1)
    aclient = anthropic.AsyncAnthropic(api_key="sk-ant-test", max_retries=2)

    async def main() -> str:
        message = await aclient.messages.create(model=MODEL, max_tokens=50, messages=HELLO)
        block = message.content[0]
        assert block.type == "text"
        return block.text

    with plan:
        assert asyncio.run(main()) == TEXT
    assert len(llm_clock.sleeps) == 1  # one SDK backoff, on virtual time
    assert [a.fault for a in plan.log] == [Overloaded(), None]
