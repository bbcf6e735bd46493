"""Faults in Gemini's real shapes, through the real ``google-genai`` SDK.

The fault kinds are the OpenAI ones; on a ``generateContent`` request each is said the
way Gemini says it: 429 ``RESOURCE_EXHAUSTED`` with a ``QuotaFailure`` and a
``RetryInfo`` whose ``retryDelay`` is the wait (no ``retry-after`` header), 503
``UNAVAILABLE``, ``finishReason: SAFETY`` with the rating that blocked it, an
``{"error": ...}`` chunk inside a stream, a stream cut mid-way. The SDK raises its own
``ClientError`` / ``ServerError`` with the code and status.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx2
import pytest
from google import genai
from google.genai import errors, types

from pytest_llm import VirtualClock
from pytest_llm.fake import FakeProvider
from pytest_llm.faults import (
    ConnectionReset,
    ContentFilter,
    ContextLengthExceeded,
    FaultPlan,
    InsufficientQuota,
    MalformedJSON,
    MaxTokens,
    Overloaded,
    RateLimited,
    ServerError,
    StreamError,
    TruncatedStream,
)

MODEL = "gemini-2.5-flash"
QUESTION = "What is the capital of France?"
TEXT = "The capital of France is Paris, on the Seine."


@pytest.fixture
def client() -> genai.Client:
    return genai.Client(api_key="gemini-test-key")


def test_rate_limited_is_resource_exhausted_with_retry_info(client: genai.Client) -> None:
    with FaultPlan(RateLimited(retry_after=7)), pytest.raises(errors.ClientError) as info:
        client.models.generate_content(model=MODEL, contents=QUESTION)
    error = info.value
    assert (error.code, error.status) == (429, "RESOURCE_EXHAUSTED")
    assert error.message is not None
    assert error.message.endswith(f"model: {MODEL}\nPlease retry in 7s.")
    detail = error.details["error"]["details"]
    assert [d["@type"].rsplit(".", 1)[-1] for d in detail] == ["QuotaFailure", "Help", "RetryInfo"]
    assert detail[2]["retryDelay"] == "7s"
    assert detail[0]["violations"][0]["quotaDimensions"] == {"location": "global", "model": MODEL}
    assert error.response is not None
    assert "retry-after" not in error.response.headers


def test_retry_delay_keeps_fractions(client: genai.Client) -> None:
    fault = RateLimited(retry_after=None, retry_after_ms=1500, limit="tokens")
    with FaultPlan(fault), pytest.raises(errors.ClientError) as info:
        client.models.generate_content(model=MODEL, contents=QUESTION)
    detail = info.value.details["error"]["details"]
    assert detail[2] == {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "1.5s"}
    assert "input_token_count" in detail[0]["violations"][0]["quotaMetric"]


@pytest.mark.parametrize(
    ("fault", "code", "status", "message"),
    [
        (Overloaded(), 503, "UNAVAILABLE", "The model is overloaded. Please try again later."),
        (ServerError(503), 503, "UNAVAILABLE", "The model is overloaded. Please try again later."),
        (
            ServerError(500),
            500,
            "INTERNAL",
            "An internal error has occurred. Please retry or report in "
            "https://developers.generativeai.google/guide/troubleshooting",
        ),
        (ServerError(504), 504, "DEADLINE_EXCEEDED", "The request timed out. Please try again."),
        (
            ContextLengthExceeded(limit=1048576, tokens=1200000),
            400,
            "INVALID_ARGUMENT",
            "The input token count (1200000) exceeds the maximum number of tokens allowed "
            "(1048576).",
        ),
        (
            InsufficientQuota(),
            429,
            "RESOURCE_EXHAUSTED",
            "You exceeded your current quota, please check your plan and billing details. For "
            "more information on this error, head to: "
            "https://ai.google.dev/gemini-api/docs/rate-limits.",
        ),
    ],
    ids=["overloaded", "503", "500", "504", "context_length", "insufficient_quota"],
)
def test_errors_in_geminis_shape(
    client: genai.Client, fault: Any, code: int, status: str, message: str
) -> None:
    with FaultPlan(fault), pytest.raises(errors.APIError) as info:
        client.models.generate_content(model=MODEL, contents=QUESTION)
    expected = errors.ServerError if code >= 500 else errors.ClientError
    assert type(info.value) is expected
    assert (info.value.code, info.value.status, info.value.message) == (code, status, message)
    assert set(info.value.details["error"]) <= {"code", "message", "status", "details"}


def test_the_sdks_retries_wait_on_the_virtual_clock(
    llm_fake: FakeProvider, llm_clock: VirtualClock
) -> None:
    llm_fake.add(TEXT)
    client = genai.Client(
        api_key="gemini-test-key",
        http_options=types.HttpOptions(retry_options=types.HttpRetryOptions(attempts=3)),
    )
    plan = FaultPlan()
    plan.add(Overloaded(), times=2)
    with plan:
        response = client.models.generate_content(model=MODEL, contents=QUESTION)
    assert response.text == TEXT
    assert len(llm_clock.sleeps) == 2  # tenacity's two backoffs, on virtual time


def test_a_safety_block(llm_fake: FakeProvider, client: genai.Client) -> None:
    llm_fake.add(TEXT, times=2)
    with FaultPlan(ContentFilter()):
        response = client.models.generate_content(model=MODEL, contents=QUESTION)
    assert response.text is None
    assert response.candidates is not None
    [candidate] = response.candidates
    assert candidate.finish_reason == types.FinishReason.SAFETY
    assert candidate.content is None
    blocked = [r for r in candidate.safety_ratings or [] if r.blocked]
    assert [(r.category, r.probability) for r in blocked] == [
        (types.HarmCategory.HARM_CATEGORY_DANGEROUS_CONTENT, types.HarmProbability.HIGH)
    ]
    with FaultPlan(ContentFilter(keep_chars=14)):
        chunks = list(client.models.generate_content_stream(model=MODEL, contents=QUESTION))
    assert "".join(c.text or "" for c in chunks) == "The capital of"
    last = chunks[-1].candidates
    assert last is not None
    assert last[0].finish_reason == types.FinishReason.SAFETY


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_max_tokens(llm_fake: FakeProvider, client: genai.Client, stream: bool) -> None:
    llm_fake.add(TEXT)
    with FaultPlan(MaxTokens()):
        if stream:
            chunks = list(client.models.generate_content_stream(model=MODEL, contents=QUESTION))
        else:
            chunks = [client.models.generate_content(model=MODEL, contents=QUESTION)]
    assert "".join(c.text or "" for c in chunks) == TEXT[: len(TEXT) // 2]
    last = chunks[-1].candidates
    assert last is not None
    assert last[0].finish_reason == types.FinishReason.MAX_TOKENS


def test_a_stream_cut_mid_way(llm_fake: FakeProvider, client: genai.Client) -> None:
    llm_fake.add(TEXT, times=2)
    got: list[str | None] = []
    with FaultPlan(ConnectionReset(after_chunks=3)), pytest.raises(httpx2.ReadError):
        for chunk in client.models.generate_content_stream(model=MODEL, contents=QUESTION):
            got.append(chunk.text)
    assert got == ["The", " capital", " of"]
    with FaultPlan(TruncatedStream()):
        chunks = list(client.models.generate_content_stream(model=MODEL, contents=QUESTION))
    assert "".join(c.text or "" for c in chunks) == TEXT  # all the text, and no finishReason
    assert all(c.candidates and c.candidates[0].finish_reason is None for c in chunks)
    assert chunks[-1].usage_metadata is not None
    assert chunks[-1].usage_metadata.candidates_token_count is None


def test_an_error_chunk_inside_the_stream(llm_fake: FakeProvider, client: genai.Client) -> None:
    llm_fake.add(TEXT)
    got: list[str | None] = []
    fault = StreamError(after_chunk=2, type="overloaded_error", message="The model is overloaded.")
    with FaultPlan(fault), pytest.raises(errors.ServerError) as info:
        for chunk in client.models.generate_content_stream(model=MODEL, contents=QUESTION):
            got.append(chunk.text)
    assert got == ["The", " capital"]
    assert (info.value.code, info.value.status, info.value.message) == (
        503,
        "UNAVAILABLE",
        "The model is overloaded.",
    )


def test_malformed_json(llm_fake: FakeProvider, client: genai.Client) -> None:
    llm_fake.add({"city": "Paris", "population": 2100000})
    with FaultPlan(MalformedJSON("wrong_types", field="population")):
        response = client.models.generate_content(model=MODEL, contents=QUESTION)
    assert json.loads(response.text or "") == {"city": "Paris", "population": "2100000"}


def test_async_rate_limited(client: genai.Client) -> None:
    async def main() -> None:
        await client.aio.models.generate_content(model=MODEL, contents=QUESTION)

    with FaultPlan(RateLimited(retry_after=3)), pytest.raises(errors.ClientError) as info:
        asyncio.run(main())
    assert info.value.details["error"]["details"][2]["retryDelay"] == "3s"


def test_model_targets_the_model_in_the_path(llm_fake: FakeProvider, client: genai.Client) -> None:
    llm_fake.add(TEXT)
    plan = FaultPlan()
    plan.add(Overloaded(), model="gemini-2.5-pro", required=False)
    with plan:
        response = client.models.generate_content(model=MODEL, contents=QUESTION)
    assert response.text == TEXT
    assert [(a.model, a.fault) for a in plan.log] == [(MODEL, None)]
