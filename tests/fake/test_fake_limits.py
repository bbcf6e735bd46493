"""Quotas: ``llm_fake.limits(...)`` counts on the virtual clock and says so the way each
provider does, through the real openai, anthropic and google-genai SDKs.

A client under a quota of 2 requests per minute sees the provider's headers with what
is left, gets the provider's 429 once the quota is spent, and waits exactly the true
time on ``llm_clock`` (30 s: one request's worth of refill), with no extra request.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from typing import Any

import anthropic
import openai
import pytest
from google import genai
from google.genai import errors, types

from pytest_llm import ConfigError, VirtualClock
from pytest_llm.client import AsyncResilientClient, Backoff, ResilientClient, RetryPolicy, call_info
from pytest_llm.fake import FakeProvider
from pytest_llm.transport import LLMServer

HELLO = [{"role": "user", "content": "Say hello"}]
CLAUDE = "claude-haiku-4-5"
GEMINI = "gemini-2.5-flash"


def _openai_headers(raw: Any) -> dict[str, str]:
    return {k: v for k, v in raw.headers.items() if k.startswith("x-ratelimit-")}


def test_openai_sdk_sees_headers_and_waits_the_true_time(
    llm_fake: FakeProvider, llm_clock: VirtualClock
) -> None:
    llm_fake.limits(rpm=2)
    client = openai.OpenAI(api_key="sk-test")  # the SDK's own 2 retries
    seen = []
    for _ in range(3):
        raw = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=HELLO)
        seen.append(_openai_headers(raw))
        assert raw.parse().choices[0].message.content
    assert seen == [
        {
            "x-ratelimit-limit-requests": "2",
            "x-ratelimit-remaining-requests": "1",
            "x-ratelimit-reset-requests": "30s",
        },
        {
            "x-ratelimit-limit-requests": "2",
            "x-ratelimit-remaining-requests": "0",
            "x-ratelimit-reset-requests": "1m0s",
        },
        {  # after the 30 s wait: one request's worth came back, and went again
            "x-ratelimit-limit-requests": "2",
            "x-ratelimit-remaining-requests": "0",
            "x-ratelimit-reset-requests": "1m0s",
        },
    ]
    assert llm_clock.sleeps == [30.0]
    assert [r.status for r in llm_fake.requests] == [200, 200, 429, 200]


def test_openai_429_body_and_headers_say_the_wait(
    llm_fake: FakeProvider, llm_clock: VirtualClock
) -> None:
    llm_fake.limits(rpm=2, model="gpt-4o-mini")
    client = openai.OpenAI(api_key="sk-test", max_retries=0)
    for _ in range(2):
        client.chat.completions.create(model="gpt-4o-mini", messages=HELLO)
    llm_clock.advance(12)
    with pytest.raises(openai.RateLimitError) as info:
        client.chat.completions.create(model="gpt-4o-mini", messages=HELLO)
    error = info.value
    assert error.code == "rate_limit_exceeded"
    assert isinstance(error.body, dict)
    assert error.body["message"] == (
        "Rate limit reached for gpt-4o-mini in organization org-pytestllm on requests per min "
        "(RPM): Limit 2, Used 2, Requested 1. Please try again in 18s. Visit "
        "https://platform.openai.com/account/rate-limits to learn more."
    )
    headers = error.response.headers
    assert (headers["retry-after"], headers["retry-after-ms"]) == ("18", "18000")
    assert headers["x-ratelimit-remaining-requests"] == "0"
    assert headers["x-ratelimit-reset-requests"] == "48s"
    # another model is not counted by this quota
    assert client.chat.completions.create(model="gpt-4o", messages=HELLO).choices
    llm_clock.advance(18)
    assert client.chat.completions.create(model="gpt-4o-mini", messages=HELLO).choices


def test_openai_async_sdk_waits_the_true_time(
    llm_fake: FakeProvider, llm_clock: VirtualClock
) -> None:
    llm_fake.limits(rpm=2)
    client = openai.AsyncOpenAI(api_key="sk-test")

    async def main() -> list[str]:
        out = []
        for _ in range(4):
            raw = await client.chat.completions.with_raw_response.create(
                model="gpt-4o-mini", messages=HELLO
            )
            out.append(raw.headers["x-ratelimit-remaining-requests"])
        return out

    assert asyncio.run(main()) == ["1", "0", "0", "0"]
    assert llm_clock.sleeps == [30.0, 30.0]
    assert [r.status for r in llm_fake.requests] == [200, 200, 429, 200, 429, 200]


def test_tokens_per_minute_count_input_and_output(
    llm_fake: FakeProvider, llm_clock: VirtualClock
) -> None:
    llm_fake.add("word " * 40, usage={"completion_tokens": 40}, times=None)
    llm_fake.limits(tpm=100)
    client = openai.OpenAI(api_key="sk-test", max_retries=0)
    first = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=HELLO)
    usage = first.parse().usage
    assert usage is not None
    spent = usage.prompt_tokens + usage.completion_tokens
    assert first.headers["x-ratelimit-limit-tokens"] == "100"
    assert first.headers["x-ratelimit-remaining-tokens"] == str(100 - spent)
    client.chat.completions.create(model="gpt-4o-mini", messages=HELLO)
    with pytest.raises(openai.RateLimitError) as info:
        client.chat.completions.create(model="gpt-4o-mini", messages=HELLO)
    assert "on tokens per min (TPM): Limit 100" in info.value.message
    wait = float(info.value.response.headers["retry-after-ms"]) / 1000
    left = 100 - 2 * spent
    assert wait == pytest.approx((usage.prompt_tokens - left) * 60 / 100, abs=0.001)
    llm_clock.advance(wait)
    assert client.chat.completions.create(model="gpt-4o-mini", messages=HELLO).choices


def test_a_request_larger_than_the_limit_never_passes(llm_fake: FakeProvider) -> None:
    llm_fake.limits(tpm=5)
    client = openai.OpenAI(api_key="sk-test", max_retries=0)
    with pytest.raises(openai.RateLimitError) as info:
        client.chat.completions.create(model="gpt-4o-mini", messages=HELLO * 5)
    assert "Request too large for gpt-4o-mini" in info.value.message
    assert "retry-after" not in info.value.response.headers


def test_resilient_client_waits_the_true_time(
    llm_fake: FakeProvider, llm_clock: VirtualClock
) -> None:
    llm_fake.limits(rpm=2)
    client = ResilientClient(
        ["gpt-4o-mini"],
        clock=llm_clock,
        retry=RetryPolicy(max_retries=2, backoff=Backoff(jitter="none")),
    )
    replies = [client.chat.completions.create(messages=HELLO) for _ in range(3)]
    attempts = [[(a.status, a.wait) for a in call_info(r).attempts] for r in replies]
    assert attempts == [[(200, 0.0)], [(200, 0.0)], [(429, 30.0), (200, 0.0)]]
    assert llm_clock.sleeps == [30.0]
    assert len(llm_fake.requests) == 4


def test_async_resilient_client_waits_the_true_time(
    llm_fake: FakeProvider, llm_clock: VirtualClock
) -> None:
    llm_fake.limits(rpm=2)

    async def main() -> list[list[tuple[int | None, float]]]:
        client = AsyncResilientClient(
            ["gpt-4o-mini"],
            clock=llm_clock,
            retry=RetryPolicy(max_retries=2, backoff=Backoff(jitter="none")),
        )
        out = []
        for _ in range(3):
            reply = await client.chat.completions.create(messages=HELLO)
            out.append([(a.status, a.wait) for a in call_info(reply).attempts])
        return out

    assert asyncio.run(main()) == [[(200, 0.0)], [(200, 0.0)], [(429, 30.0), (200, 0.0)]]
    assert llm_clock.sleeps == [30.0]
    assert len(llm_fake.requests) == 4


def _anthropic_limits(headers: Any) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k.startswith("anthropic-ratelimit-")}


def test_anthropic_sdk_sees_its_headers_and_waits_the_true_time(
    llm_fake: FakeProvider, llm_clock: VirtualClock
) -> None:
    llm_fake.limits(rpm=2, itpm=1000, otpm=500)
    client = anthropic.Anthropic(api_key="test-key")
    start = llm_clock.now()

    def at(seconds: float) -> str:
        return (start + dt.timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")

    seen = []
    for _ in range(3):
        raw = client.messages.with_raw_response.create(model=CLAUDE, max_tokens=64, messages=HELLO)
        message = raw.parse()
        seen.append((_anthropic_limits(raw.headers), message.usage))
    first, usage = seen[0]
    assert first["anthropic-ratelimit-requests-limit"] == "2"
    assert first["anthropic-ratelimit-requests-remaining"] == "1"
    assert first["anthropic-ratelimit-requests-reset"] == at(30)
    assert first["anthropic-ratelimit-input-tokens-limit"] == "1000"
    assert first["anthropic-ratelimit-input-tokens-remaining"] == str(1000 - usage.input_tokens)
    assert first["anthropic-ratelimit-output-tokens-remaining"] == str(500 - usage.output_tokens)
    assert first["anthropic-ratelimit-tokens-remaining"] == str(500 - usage.output_tokens)
    assert seen[1][0]["anthropic-ratelimit-requests-remaining"] == "0"
    third = seen[2][0]
    assert third["anthropic-ratelimit-requests-remaining"] == "0"
    assert third["anthropic-ratelimit-requests-reset"] == at(30 + 60)
    assert llm_clock.sleeps == [30.0]
    assert [r.status for r in llm_fake.requests] == [200, 200, 429, 200]


def test_anthropic_429_is_rate_limit_error_with_retry_after(
    llm_fake: FakeProvider, llm_clock: VirtualClock
) -> None:
    llm_fake.limits(rpm=2)
    client = anthropic.AsyncAnthropic(api_key="test-key", max_retries=0)

    async def main() -> anthropic.RateLimitError:
        for _ in range(2):
            await client.messages.create(model=CLAUDE, max_tokens=64, messages=HELLO)
        llm_clock.advance(10)
        with pytest.raises(anthropic.RateLimitError) as info:
            await client.messages.create(model=CLAUDE, max_tokens=64, messages=HELLO)
        return info.value

    error = asyncio.run(main())
    assert error.response.headers["retry-after"] == "20"
    assert isinstance(error.body, dict)
    assert error.body["error"] == {
        "type": "rate_limit_error",
        "message": (
            "This request would exceed the rate limit for your organization of 2 requests per "
            "minute. For details, refer to: https://docs.claude.com/en/api/rate-limits. You can "
            "see the response headers for current usage. Please reduce the prompt length or the "
            "maximum tokens requested, or try again later."
        ),
    }


def test_anthropic_async_sdk_waits_the_true_time(
    llm_fake: FakeProvider, llm_clock: VirtualClock
) -> None:
    llm_fake.limits(rpm=2)
    client = anthropic.AsyncAnthropic(api_key="test-key")

    async def main() -> None:
        for _ in range(3):
            async with client.messages.stream(
                model=CLAUDE, max_tokens=64, messages=HELLO
            ) as stream:
                assert await stream.get_final_text()

    asyncio.run(main())
    assert llm_clock.sleeps == [30.0]
    assert [r.status for r in llm_fake.requests] == [200, 200, 429, 200]


def test_gemini_429_has_quota_failure_and_the_true_retry_delay(
    llm_fake: FakeProvider, llm_clock: VirtualClock
) -> None:
    llm_fake.limits(rpm=2, provider="gemini")
    client = genai.Client(api_key="gemini-test-key")
    for _ in range(2):
        reply = client.models.generate_content(model=GEMINI, contents="Say hello")
        assert reply.sdk_http_response is not None
        headers = reply.sdk_http_response.headers or {}
        assert not [k for k in headers if "ratelimit" in k.lower()]  # Gemini sends none
    llm_clock.advance(6)
    with pytest.raises(errors.ClientError) as info:
        client.models.generate_content(model=GEMINI, contents="Say hello")
    assert (info.value.code, info.value.status) == (429, "RESOURCE_EXHAUSTED")
    details = info.value.details["error"]["details"]
    assert details[0]["violations"][0]["quotaValue"] == "2"
    assert details[0]["violations"][0]["quotaId"] == "GenerateRequestsPerMinutePerProjectPerModel"
    assert details[-1] == {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "24s"}
    llm_clock.advance(24)
    assert client.models.generate_content(model=GEMINI, contents="Say hello").text
    # the OpenAI API is not counted by a quota kept to Gemini
    openai.OpenAI(api_key="sk-test", max_retries=0).chat.completions.create(
        model="gpt-4o-mini", messages=HELLO
    )


def test_gemini_async_stream_under_a_quota(llm_fake: FakeProvider, llm_clock: VirtualClock) -> None:
    llm_fake.limits(rpm=1)
    client = genai.Client(api_key="gemini-test-key")

    async def main() -> int:
        chunks = await client.aio.models.generate_content_stream(model=GEMINI, contents="Hi")
        n = len([c async for c in chunks])
        try:
            again = await client.aio.models.generate_content_stream(model=GEMINI, contents="Hi")
            [c async for c in again]
        except errors.ClientError as exc:
            delay = exc.details["error"]["details"][-1]["retryDelay"]
            assert delay == "60s"
        else:
            raise AssertionError("the second request was not refused")
        return n

    assert asyncio.run(main()) > 0


def test_google_genai_retries_under_a_quota_on_the_clock(
    llm_fake: FakeProvider, llm_clock: VirtualClock
) -> None:
    """google-genai reads no RetryInfo: its own backoff retries until the window frees."""
    llm_fake.limits(rpm=2)
    client = genai.Client(
        api_key="gemini-test-key",
        http_options=types.HttpOptions(retry_options=types.HttpRetryOptions(attempts=8)),
    )
    for _ in range(3):
        assert client.models.generate_content(model=GEMINI, contents="Say hello").text
    assert sum(llm_clock.sleeps) >= 30.0
    refused = [r for r in llm_fake.requests if r.status == 429]
    assert len(refused) == len(llm_clock.sleeps)


def test_headers_on_streams(llm_fake: FakeProvider, llm_clock: VirtualClock) -> None:
    llm_fake.limits(rpm=10, tpm=10_000)
    client = openai.OpenAI(api_key="sk-test")
    with client.chat.completions.with_streaming_response.create(
        model="gpt-4o-mini", messages=HELLO, stream=True
    ) as raw:
        assert raw.headers["x-ratelimit-remaining-requests"] == "9"
        assert int(raw.headers["x-ratelimit-remaining-tokens"]) < 10_000
        assert "".join(raw.iter_lines())


def test_limits_take_only_limits(llm_fake: FakeProvider) -> None:
    with pytest.raises(ConfigError) as info:
        llm_fake.limits(rmp=2)  # type: ignore[call-arg]
    assert str(info.value).splitlines()[0] == (
        "llm_fake.limits() got an unknown limit 'rmp' (did you mean 'rpm'?)."
    )
    with pytest.raises(ConfigError, match=r"rpm=0 is not a limit"):
        llm_fake.limits(rpm=0)
    with pytest.raises(ConfigError, match=r"no limit given"):
        llm_fake.limits(model="gpt-4o-mini")
    with pytest.raises(ConfigError, match=r"did you mean 'gemini'"):
        llm_fake.limits(rpm=1, provider="gemeni")
    quota = llm_fake.limits(rpm=3, model="gpt-4o")
    assert repr(quota) == "<Quota rpm=3, model='gpt-4o'>"
    assert llm_fake.quotas == [quota]
    llm_fake.reset()
    assert llm_fake.quotas == []


def test_count_tokens_is_not_counted(llm_fake: FakeProvider) -> None:
    llm_fake.limits(rpm=1)
    client = anthropic.Anthropic(api_key="test-key", max_retries=0)
    for _ in range(3):
        client.messages.count_tokens(model=CLAUDE, messages=HELLO)
    assert client.messages.create(model=CLAUDE, max_tokens=8, messages=HELLO).content
    assert json.loads(llm_fake.requests.last.exchange.body)["model"] == CLAUDE


def test_concurrent_requests_share_the_quota(
    llm_fake: FakeProvider, llm_clock: VirtualClock
) -> None:
    llm_fake.limits(rpm=2)
    client = openai.AsyncOpenAI(api_key="sk-test")

    async def one() -> str | None:
        reply = await client.chat.completions.create(model="gpt-4o-mini", messages=HELLO)
        return reply.choices[0].message.content

    async def main() -> list[str | None]:
        return list(await asyncio.gather(one(), one(), one()))

    assert all(asyncio.run(main()))
    assert llm_clock.sleeps == [30.0]
    assert sorted(r.status or 0 for r in llm_fake.requests) == [200, 200, 200, 429]


def test_quota_through_llm_server(
    llm_server: LLMServer, llm_fake: FakeProvider, llm_clock: VirtualClock
) -> None:
    """A client in another process (here: plain HTTP to the loopback) sees the same."""
    import httpx

    llm_fake.limits(rpm=1)
    url = f"{llm_server.base_url}/chat/completions"
    body = {"model": "gpt-4o-mini", "messages": HELLO}
    with httpx.Client() as http:
        first = http.post(url, json=body)
        second = http.post(url, json=body)
    assert first.status_code == 200
    assert first.headers["x-ratelimit-remaining-requests"] == "0"
    assert second.status_code == 429
    assert second.headers["retry-after-ms"] == "60000"


def test_limits_as_an_option(llm_clock: VirtualClock) -> None:
    """``llm_fake_config`` / ``FakeProvider(limits=...)``: a quota for a directory of tests."""
    quotas = [{"rpm": 1, "model": "gpt-4o-mini"}, {"rpm": 5, "provider": "openai"}]
    with FakeProvider(limits=quotas) as fake:
        assert [q.describe() for q in fake.quotas] == [
            "rpm=1, model='gpt-4o-mini'",
            "rpm=5, provider='openai'",
        ]
        raw = openai.OpenAI(api_key="sk-test").chat.completions.with_raw_response.create(
            model="gpt-4o-mini", messages=HELLO
        )
        assert raw.headers["x-ratelimit-remaining-requests"] == "0"  # the tighter one
    with pytest.raises(ConfigError, match=r"limits=3 is not a quota"):
        FakeProvider(limits=3)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"FakeProvider\(\) limits got an unknown limit 'rps'"):
        FakeProvider(limits={"rps": 3})
