"""Every fault kind, through the real openai SDK, sync and async: what the application sees.

Each test runs the SDK with its default client (httpx2 under openai 3.x, httpx under
1.x/2.x) and its default retries unless it says otherwise, on the ``llm_clock``, with
the upstream answering whatever the plan lets through.
"""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest
from faults_support import (
    STREAM_RESET,
    STREAM_TIMEOUT,
    TEXT,
    Upstream,
    chat,
    run,
    stream_chunks,
    text_of,
)

from pytest_llm import VirtualClock
from pytest_llm.faults import (
    VARIANTS,
    ConnectError,
    ConnectionReset,
    ContentFilter,
    ContextLengthExceeded,
    FaultPlan,
    HTTPError,
    InsufficientQuota,
    MalformedJSON,
    MaxTokens,
    Overloaded,
    RateLimited,
    ReadTimeout,
    ServerError,
    Slow,
    Stall,
    StreamError,
    TruncatedStream,
    malform,
)

pytestmark = pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])


def backoffs(sleeps: list[float]) -> bool:
    """The SDK's own backoff: 0.5 s doubling, less up to 25 % jitter."""
    return all(0.375 * 2**i <= s <= 0.5 * 2**i for i, s in enumerate(sleeps))


# -- rate limits ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "header", "waits"),
    [
        (RateLimited(retry_after=7), ("retry-after", "7"), [7.0, 7.0]),
        (RateLimited(retry_after=1.5), ("retry-after", "1.5"), [1.5, 1.5]),
        (
            RateLimited(retry_after=7, http_date=True),
            ("retry-after", "Thu, 01 Jan 2026 00:00:07 GMT"),
            [7.0, 7.0],
        ),
        (
            RateLimited(retry_after=None, retry_after_ms=250),
            ("retry-after-ms", "250"),
            [0.25, 0.25],
        ),
    ],
    ids=["seconds", "float", "http-date", "ms"],
)
def test_two_rate_limits_then_the_answer_waits_what_retry_after_said(
    llm_faults: FaultPlan,
    llm_clock: VirtualClock,
    up: Upstream,
    is_async: bool,
    fault: RateLimited,
    header: tuple[str, str],
    waits: list[float],
) -> None:
    llm_faults.add(fault, times=2)
    answer = chat(is_async)
    assert answer.choices[0].message.content == TEXT
    assert llm_clock.sleeps == waits
    assert len(up.served) == 1


def test_rate_limit_headers_and_body_are_what_openai_sends(
    llm_faults: FaultPlan, llm_clock: VirtualClock, is_async: bool
) -> None:
    llm_faults.add(RateLimited(retry_after=7), times=None)
    with pytest.raises(openai.RateLimitError) as info:
        chat(is_async)
    err = info.value
    assert err.status_code == 429
    assert (err.code, err.type, err.param) == ("rate_limit_exceeded", "requests", None)
    assert err.body == {
        "message": "Rate limit reached for gpt-4o-mini in organization org-pytestllm on requests "
        "per min (RPM): Limit 500, Used 500, Requested 1. Please try again in 7s. Visit "
        "https://platform.openai.com/account/rate-limits to learn more.",
        "type": "requests",
        "param": None,
        "code": "rate_limit_exceeded",
    }
    headers = err.response.headers
    assert headers["retry-after"] == "7"
    assert headers["x-ratelimit-remaining-requests"] == "0"
    assert headers["x-ratelimit-reset-requests"] == "7s"
    assert err.request_id is not None
    assert err.request_id.startswith("req_")
    assert llm_clock.sleeps == [7.0, 7.0]  # three tries, then the SDK gives up


def test_insufficient_quota_is_a_rate_limit_error_with_its_own_code(
    llm_faults: FaultPlan, llm_clock: VirtualClock, is_async: bool
) -> None:
    llm_faults.add(InsufficientQuota(should_retry=False), times=None)
    with pytest.raises(openai.RateLimitError) as info:
        chat(is_async)
    assert (info.value.code, info.value.type) == ("insufficient_quota", "insufficient_quota")
    assert "You exceeded your current quota" in info.value.message
    assert llm_clock.sleeps == []  # x-should-retry: false, so no retry


# -- server errors and x-should-retry -----------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "status", "type_", "code"),
    [
        (ServerError(), 500, "server_error", None),
        (ServerError(502), 502, "cf_bad_gateway", None),
        (ServerError(503), 503, "server_error", None),
        (Overloaded(), 529, "overloaded_error", None),
    ],
    ids=["500", "502", "503", "529"],
)
def test_server_errors_are_retried_with_backoff_then_raised(
    llm_faults: FaultPlan,
    llm_clock: VirtualClock,
    up: Upstream,
    is_async: bool,
    fault: Any,
    status: int,
    type_: str,
    code: str | None,
) -> None:
    llm_faults.add(fault, times=3)
    with pytest.raises(openai.InternalServerError) as info:
        chat(is_async)
    err = info.value
    assert (err.status_code, err.type, err.code) == (status, type_, code)
    assert len(llm_clock.sleeps) == 2
    assert backoffs(llm_clock.sleeps)
    assert up.served == []
    llm_faults.add(fault)
    assert chat(is_async).choices[0].message.content == TEXT  # one failure, then the retry answers


def test_should_retry_false_stops_the_sdk_retrying_a_500(
    llm_faults: FaultPlan, llm_clock: VirtualClock, up: Upstream, is_async: bool
) -> None:
    llm_faults.add(ServerError(should_retry=False))
    with pytest.raises(openai.InternalServerError) as info:
        chat(is_async)
    assert info.value.response.headers["x-should-retry"] == "false"
    assert llm_clock.sleeps == []
    assert up.served == []


def test_should_retry_true_makes_the_sdk_retry_a_400(
    llm_faults: FaultPlan, llm_clock: VirtualClock, up: Upstream, is_async: bool
) -> None:
    llm_faults.add(HTTPError(400, "Try again.", should_retry=True))
    assert chat(is_async).choices[0].message.content == TEXT
    assert len(llm_clock.sleeps) == 1
    assert backoffs(llm_clock.sleeps)


@pytest.mark.parametrize("api", ["chat", "responses"])
def test_context_length_exceeded_is_a_bad_request_with_its_code(
    llm_faults: FaultPlan, llm_clock: VirtualClock, is_async: bool, api: str
) -> None:
    llm_faults.add(ContextLengthExceeded(limit=8192), times=None)

    def call(c: Any) -> Any:
        if api == "chat":
            return c.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "x" * 400}]
            )
        return c.responses.create(model="gpt-4o-mini", input="x" * 400)

    with pytest.raises(openai.BadRequestError) as info:
        run(is_async, call)
    err = info.value
    assert (err.code, err.type) == ("context_length_exceeded", "invalid_request_error")
    if api == "chat":
        assert err.param == "messages"
        assert "maximum context length is 8192 tokens. However, your messages resulted in" in (
            err.message
        )
    else:
        assert err.param == "input"
        assert "exceeds the context window of this model" in err.message
    assert llm_clock.sleeps == []  # a 400 is not retried


# -- the transport fails ---------------------------------------------------------------------


def test_read_timeout_waits_the_clients_read_timeout_on_the_clock(
    llm_faults: FaultPlan, llm_clock: VirtualClock, up: Upstream, is_async: bool
) -> None:
    llm_faults.add(ReadTimeout(), times=3)
    with pytest.raises(openai.APITimeoutError):
        chat(is_async, timeout=10)
    # three tries, each cut at the read timeout, with the SDK's backoff between
    assert llm_clock.sleeps[0::2] == [10.0, 10.0, 10.0]
    assert backoffs(llm_clock.sleeps[1::2])
    llm_faults.add(ReadTimeout())
    assert chat(is_async, timeout=10).choices[0].message.content == TEXT


def test_read_timeout_against_a_client_without_timeout_says_it_would_hang(
    llm_faults: FaultPlan, is_async: bool
) -> None:
    llm_faults.add(ReadTimeout())
    # answered with an error no SDK retries (pytest_llm._miss), naming the hang
    with pytest.raises(openai.APIStatusError) as info:
        chat(is_async, timeout=None)
    assert info.value.body["message"].splitlines() == [  # type: ignore[index]
        "pytest-llm: a wait of inf seconds: the application would hang forever here (a read "
        "timeout or stall fault against a client that has no read timeout).",
        "Fix: give the client a timeout, e.g. openai.OpenAI(timeout=30) or "
        "httpx.Client(timeout=30), or give the fault a finite number of seconds.",
    ]


@pytest.mark.parametrize("fault", [ConnectError(), ConnectionReset()], ids=["refused", "reset"])
def test_connection_failures_before_the_response_are_connection_errors(
    llm_faults: FaultPlan, llm_clock: VirtualClock, up: Upstream, is_async: bool, fault: Any
) -> None:
    llm_faults.add(fault, times=3)
    with pytest.raises(openai.APIConnectionError) as info:
        chat(is_async)
    assert not isinstance(info.value, openai.APITimeoutError)
    assert len(llm_clock.sleeps) == 2
    llm_faults.add(fault)
    assert chat(is_async).choices[0].message.content == TEXT


def test_reset_after_bytes_of_a_plain_body_is_retried(
    llm_faults: FaultPlan, llm_clock: VirtualClock, up: Upstream, is_async: bool
) -> None:
    llm_faults.add(ConnectionReset(after_bytes=40))
    assert chat(is_async).choices[0].message.content == TEXT
    assert len(up.served) == 2  # the first answer was cut, the retry got a whole one
    assert len(llm_clock.sleeps) == 1


@pytest.mark.parametrize("api", ["chat", "responses"])
def test_reset_after_three_chunks_gives_three_chunks_then_the_error(
    llm_faults: FaultPlan, up: Upstream, is_async: bool, api: str
) -> None:
    llm_faults.add(ConnectionReset(after_chunks=3))
    with pytest.raises(STREAM_RESET) as info:
        stream_chunks(is_async, api)
    assert len(info.value.chunks) == 3  # type: ignore[attr-defined]


# -- timing -----------------------------------------------------------------------------------


def test_slow_reply_within_the_read_timeout_arrives_late(
    llm_faults: FaultPlan, llm_clock: VirtualClock, up: Upstream, is_async: bool
) -> None:
    llm_faults.add(Slow(seconds=8))
    assert chat(is_async, timeout=10).choices[0].message.content == TEXT
    assert llm_clock.sleeps == [8.0]
    assert llm_clock.monotonic() == 8.0


def test_slow_reply_past_the_read_timeout_times_out(
    llm_faults: FaultPlan, llm_clock: VirtualClock, up: Upstream, is_async: bool
) -> None:
    llm_faults.add(Slow(seconds=30))
    with pytest.raises(openai.APITimeoutError):
        chat(is_async, timeout=10, max_retries=0)
    assert llm_clock.sleeps == [10.0]


@pytest.mark.parametrize("api", ["chat", "responses"])
def test_stall_after_chunk_3_against_the_read_timeout_gives_3_chunks_then_the_timeout(
    llm_faults: FaultPlan, llm_clock: VirtualClock, up: Upstream, is_async: bool, api: str
) -> None:
    llm_faults.add(Stall(after_chunk=3, seconds=60))
    with pytest.raises(STREAM_TIMEOUT) as info:
        stream_chunks(is_async, api, timeout=10)
    assert len(info.value.chunks) == 3  # type: ignore[attr-defined]
    assert llm_clock.sleeps == [10.0]  # cut at the read timeout, on virtual time


def test_stall_shorter_than_the_read_timeout_only_delays(
    llm_faults: FaultPlan, llm_clock: VirtualClock, up: Upstream, is_async: bool
) -> None:
    llm_faults.add(Stall(after_chunk=3, seconds=9))
    chunks = stream_chunks(is_async, timeout=10)
    assert text_of(chunks) == TEXT
    assert llm_clock.sleeps == [9.0]


# -- streams that end badly --------------------------------------------------------------------


@pytest.mark.parametrize("api", ["chat", "responses"])
def test_truncated_stream_ends_quietly_without_its_ending(
    llm_faults: FaultPlan, up: Upstream, is_async: bool, api: str
) -> None:
    llm_faults.add(TruncatedStream())
    chunks = stream_chunks(is_async, api)
    assert text_of(chunks, api) == TEXT  # all the text came...
    if api == "chat":
        assert [c.choices[0].finish_reason for c in chunks] == [None] * len(chunks)  # ...no end
    else:
        assert chunks[-1].type == "response.output_text.delta"
        assert "response.completed" not in [c.type for c in chunks]


def test_truncated_stream_after_chunk_k_keeps_k_chunks(
    llm_faults: FaultPlan, up: Upstream, is_async: bool
) -> None:
    llm_faults.add(TruncatedStream(after_chunk=2))
    chunks = stream_chunks(is_async)
    assert len(chunks) == 2
    assert text_of(chunks) == TEXT[: len(text_of(chunks))]


def test_stream_error_in_a_chat_stream_raises_the_sdks_api_error(
    llm_faults: FaultPlan, up: Upstream, is_async: bool
) -> None:
    llm_faults.add(StreamError(after_chunk=3, message="Internal error in the model.", code="boom"))
    with pytest.raises(openai.APIError) as info:
        stream_chunks(is_async)
    assert info.value.message == "Internal error in the model."
    assert info.value.body == {
        "message": "Internal error in the model.",
        "type": "server_error",
        "param": None,
        "code": "boom",
    }
    assert len(info.value.chunks) == 3  # type: ignore[attr-defined]


def test_stream_error_in_a_responses_stream_is_an_error_event(
    llm_faults: FaultPlan, up: Upstream, is_async: bool
) -> None:
    llm_faults.add(StreamError(message="Internal error in the model."))
    chunks = stream_chunks(is_async, "responses")
    last = chunks[-1]
    assert type(last).__name__ == "ResponseErrorEvent"
    assert (last.code, last.message) == ("server_error", "Internal error in the model.")
    assert last.sequence_number == chunks[-2].sequence_number + 1
    assert text_of(chunks, "responses") == TEXT


# -- what the model said -----------------------------------------------------------------------


def test_content_filter_on_a_chat_completion(
    llm_faults: FaultPlan, up: Upstream, is_async: bool
) -> None:
    llm_faults.add(ContentFilter(keep_chars=10))
    choice = chat(is_async).choices[0]
    assert choice.finish_reason == "content_filter"
    assert choice.message.content == TEXT[:10]


def test_content_filter_on_a_chat_stream(
    llm_faults: FaultPlan, up: Upstream, is_async: bool
) -> None:
    llm_faults.add(ContentFilter())
    chunks = stream_chunks(is_async)
    assert text_of(chunks) == ""
    assert chunks[-1].choices[0].finish_reason == "content_filter"


def test_content_filter_on_a_response(llm_faults: FaultPlan, up: Upstream, is_async: bool) -> None:
    llm_faults.add(ContentFilter(keep_chars=5))
    resp = run(is_async, lambda c: c.responses.create(model="gpt-4o-mini", input="hi"))
    assert resp.status == "incomplete"
    assert resp.incomplete_details.reason == "content_filter"
    assert resp.output_text == TEXT[:5]


def test_content_filter_on_a_responses_stream(
    llm_faults: FaultPlan, up: Upstream, is_async: bool
) -> None:
    llm_faults.add(ContentFilter(keep_chars=5))
    chunks = stream_chunks(is_async, "responses")
    assert text_of(chunks, "responses") == TEXT[:5]
    assert chunks[-1].type == "response.incomplete"
    assert chunks[-1].response.incomplete_details.reason == "content_filter"


def test_max_tokens_on_a_chat_completion_and_its_stream(
    llm_faults: FaultPlan, up: Upstream, is_async: bool
) -> None:
    llm_faults.add(MaxTokens(keep_chars=10))
    choice = chat(is_async).choices[0]
    assert (choice.finish_reason, choice.message.content) == ("length", TEXT[:10])
    llm_faults.add(MaxTokens())
    chunks = stream_chunks(is_async)
    assert text_of(chunks) == TEXT[: len(TEXT) // 2]
    assert chunks[-1].choices[0].finish_reason == "length"


def test_max_tokens_on_a_response_and_its_stream(
    llm_faults: FaultPlan, up: Upstream, is_async: bool
) -> None:
    llm_faults.add(MaxTokens(keep_chars=5))
    resp = run(is_async, lambda c: c.responses.create(model="gpt-4o-mini", input="hi"))
    assert (resp.status, resp.incomplete_details.reason) == ("incomplete", "max_output_tokens")
    assert resp.output_text == TEXT[:5]
    llm_faults.add(MaxTokens(keep_chars=5))
    chunks = stream_chunks(is_async, "responses")
    assert text_of(chunks, "responses") == TEXT[:5]
    assert chunks[-1].type == "response.incomplete"
    assert chunks[-1].response.incomplete_details.reason == "max_output_tokens"


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("api", ["chat", "chat-stream", "responses", "responses-stream"])
def test_malformed_json_reaches_the_app_as_the_message_content(
    llm_faults: FaultPlan, up: Upstream, is_async: bool, api: str, variant: str
) -> None:
    llm_faults.add(MalformedJSON(variant))
    if api == "chat":
        content = chat(is_async).choices[0].message.content
    elif api == "responses":
        content = run(
            is_async, lambda c: c.responses.create(model="gpt-4o-mini", input="hi")
        ).output_text
    else:
        which = api.removesuffix("-stream")
        content = text_of(stream_chunks(is_async, which), which)
    assert content == malform(TEXT, variant)
    assert content != TEXT
    if variant in ("wrong_types", "missing_field", "extra_field"):
        assert json.loads(content) != json.loads(TEXT)  # valid JSON, wrong shape
    else:
        with pytest.raises(json.JSONDecodeError):
            json.loads(content)
