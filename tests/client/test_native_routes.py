"""Routes to Anthropic and Gemini through their own SDKs (``Route(provider=...)``), end to
end: the openai-shaped call is translated for the real ``anthropic`` / ``google-genai``
SDK, the fake provider answers in that provider's shapes, faults come in its real error
shapes, and the caller gets openai types back, sync and async.

What the provider received is read at the fake (``llm_fake.requests``: the body the
SDK sent), so a translation that drops or mangles a parameter fails here.

``google.genai`` is imported at the top: pytest-llm turns google-genai's aiohttp
backend off when its fixtures start only if the SDK is imported by then (else an async
Gemini call goes through aiohttp, which interception cannot see).
"""

from __future__ import annotations

import json
from typing import Any

import google.genai  # noqa: F401  (imported before llm_fake: see the module docstring)
import openai
import pytest
from client_helpers import MESSAGES, key_for, route

from pytest_llm import faults
from pytest_llm.client import ClientConfigError, Price, Route, call_info

CLAUDE = "claude-haiku-4-5"
GEMINI = "gemini-2.5-flash"
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
CLAUDE_PRICE = Price(input=1.0, output=5.0)
GEMINI_PRICE = Price(input=0.30, output=2.50)


def claude(**kw: Any) -> Route:
    kw.setdefault("api_key", "sk-ant-test-" + "0" * 20)
    kw.setdefault("price", CLAUDE_PRICE)
    return Route(CLAUDE, provider="anthropic", **kw)


def gemini(**kw: Any) -> Route:
    kw.setdefault("api_key", "gemini-test-key")
    kw.setdefault("price", GEMINI_PRICE)
    return Route(GEMINI, provider="gemini", **kw)


NATIVE = {"anthropic": claude, "gemini": gemini}


@pytest.fixture(params=["anthropic", "gemini"])
def provider(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def chat(mode: Any, client: Any, **kw: Any) -> Any:
    return mode.call(client.chat.completions.create, **kw)


def sent(llm_fake: Any) -> dict[str, Any]:
    """The body the provider's SDK sent for the latest request."""
    return dict(llm_fake.requests.last.json)


# -- plain, streamed ----------------------------------------------------------------------


def test_plain_answer_is_a_chat_completion_with_usage_and_cost(mode, llm_fake, provider):
    llm_fake.add("Paris.")
    client = mode.client(NATIVE[provider]())
    messages = [
        {"role": "system", "content": "Answer in one word."},
        {"role": "user", "content": "Capital of France?"},
        {"role": "assistant", "content": "Paris."},
        {"role": "user", "content": [{"type": "text", "text": "And of Italy?"}]},
    ]
    reply = chat(mode, client, messages=messages, temperature=0.2, max_tokens=50, stop="\n\n")
    assert isinstance(reply, openai.types.chat.ChatCompletion)
    assert reply.choices[0].message.content == "Paris."
    assert reply.choices[0].finish_reason == "stop"
    info = call_info(reply)
    host = "api.anthropic.com" if provider == "anthropic" else "generativelanguage.googleapis.com"
    assert info.route == f"{NATIVE[provider]().model}@{host}"
    assert reply.usage is not None
    assert info.usage is not None
    assert info.usage["input_tokens"] == reply.usage.prompt_tokens > 0
    assert info.usage["output_tokens"] == reply.usage.completion_tokens > 0
    price = CLAUDE_PRICE if provider == "anthropic" else GEMINI_PRICE
    assert info.cost == pytest.approx(price.cost(info.usage))
    assert info.cost > 0
    assert [(a.route, a.cost) for a in info.attempts] == [(info.route, info.cost)]
    body = sent(llm_fake)
    if provider == "anthropic":
        assert body["system"] == "Answer in one word."
        assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]
        assert body["messages"][2]["content"] == [{"type": "text", "text": "And of Italy?"}]
        assert (body["temperature"], body["max_tokens"], body["stop_sequences"]) == (
            0.2,
            50,
            ["\n\n"],
        )
    else:
        assert body["systemInstruction"]["parts"] == [{"text": "Answer in one word."}]
        assert [c["role"] for c in body["contents"]] == ["user", "model", "user"]
        assert body["generationConfig"] == {
            "temperature": 0.2,
            "maxOutputTokens": 50,
            "stopSequences": ["\n\n"],
        }


def test_anthropic_needs_max_tokens_so_a_default_is_sent(mode, llm_fake):
    llm_fake.add("Paris.")
    chat(mode, mode.client(claude()))
    assert sent(llm_fake)["max_tokens"] == 4096
    chat(mode, mode.client(claude()), max_completion_tokens=64)
    assert sent(llm_fake)["max_tokens"] == 64


def test_streamed_answer_is_chunks_with_usage_when_asked(mode, llm_fake, provider):
    llm_fake.add("The capital of France is Paris.", chunks=4, times=2)
    client = mode.client(NATIVE[provider]())
    stream, chunks = mode.stream(
        client.chat.completions.create, stream_options={"include_usage": True}
    )
    assert all(isinstance(c, openai.types.chat.ChatCompletionChunk) for c in chunks)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "The capital of France is Paris."
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    info = call_info(stream)
    assert info.usage is not None
    assert "estimated" not in info.usage
    assert info.usage["input_tokens"] == chunks[-1].usage.prompt_tokens
    assert info.cost > 0
    _, plain = mode.stream(client.chat.completions.create)  # not asked: no usage chunk
    assert all(c.usage is None for c in plain)


# -- tools, multi-turn, JSON ------------------------------------------------------------------


def test_tool_calls_come_back_as_openai_tool_calls(mode, llm_fake, provider):
    llm_fake.add(tool_calls=[{"name": "get_weather", "arguments": {"city": "Paris"}}])
    client = mode.client(NATIVE[provider]())
    reply = chat(mode, client, tools=[WEATHER], tool_choice="required")
    choice = reply.choices[0]
    assert choice.finish_reason == "tool_calls"
    [call] = choice.message.tool_calls
    assert (call.function.name, json.loads(call.function.arguments)) == (
        "get_weather",
        {"city": "Paris"},
    )
    body = sent(llm_fake)
    if provider == "anthropic":
        assert body["tools"] == [
            {
                "name": "get_weather",
                "input_schema": WEATHER["function"]["parameters"],
                "description": "The weather in a city",
            }
        ]
        assert body["tool_choice"] == {"type": "any"}
    else:
        [declaration] = body["tools"][0]["functionDeclarations"]
        assert declaration["name"] == "get_weather"
        # the SDK sends this one field in snake case (the API reads both spellings)
        assert declaration["parameters_json_schema"] == WEATHER["function"]["parameters"]
        assert body["toolConfig"] == {"functionCallingConfig": {"mode": "ANY"}}

    # the conversation goes on with the tool's result, in the provider's shape
    llm_fake.add("It is sunny in Paris.")
    messages = [
        *MESSAGES,
        {"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
        {"role": "tool", "tool_call_id": call.id, "content": '{"sky": "sunny"}'},
    ]
    reply = chat(mode, client, messages=messages, tools=[WEATHER])
    assert reply.choices[0].message.content == "It is sunny in Paris."
    body = sent(llm_fake)
    if provider == "anthropic":
        assert body["messages"][1] == {
            "role": "assistant",
            "content": [
                {
                    "type": "tool_use",
                    "id": call.id,
                    "name": "get_weather",
                    "input": {"city": "Paris"},
                }
            ],
        }
        assert body["messages"][2] == {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": call.id, "content": '{"sky": "sunny"}'}
            ],
        }
    else:
        assert body["contents"][1] == {
            "role": "model",
            "parts": [{"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}],
        }
        assert body["contents"][2] == {
            "role": "user",
            "parts": [{"functionResponse": {"name": "get_weather", "response": {"sky": "sunny"}}}],
        }


def test_streamed_tool_calls(mode, llm_fake, provider):
    llm_fake.add(tool_calls=[{"name": "get_weather", "arguments": {"city": "Rome"}}])
    client = mode.client(NATIVE[provider]())
    _, chunks = mode.stream(client.chat.completions.create, tools=[WEATHER])
    deltas = [t for c in chunks if c.choices for t in c.choices[0].delta.tool_calls or []]
    assert {d.function.name for d in deltas if d.function and d.function.name} == {"get_weather"}
    arguments = "".join(d.function.arguments or "" for d in deltas if d.function)
    assert json.loads(arguments) == {"city": "Rome"}
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "tool_calls"


SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "population": {"type": "integer"}},
    "required": ["city", "population"],
}


def test_json_output_through_response_format(mode, llm_fake, provider):
    llm_fake.add({"city": "Paris", "population": 2100000}, times=2)
    client = mode.client(NATIVE[provider]())
    response_format = {"type": "json_schema", "json_schema": {"name": "city", "schema": SCHEMA}}
    reply = chat(mode, client, response_format=response_format)
    assert json.loads(reply.choices[0].message.content) == {"city": "Paris", "population": 2100000}
    assert reply.choices[0].finish_reason == "stop"
    assert not reply.choices[0].message.tool_calls
    body = sent(llm_fake)
    if provider == "anthropic":  # one forced tool whose input is the answer
        assert [t["name"] for t in body["tools"]] == ["json_answer"]
        assert body["tools"][0]["input_schema"] == SCHEMA
        assert body["tool_choice"] == {"type": "tool", "name": "json_answer"}
    else:
        assert body["generationConfig"]["responseMimeType"] == "application/json"
        assert body["generationConfig"]["responseJsonSchema"] == SCHEMA
    _, chunks = mode.stream(client.chat.completions.create, response_format=response_format)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert json.loads(text) == {"city": "Paris", "population": 2100000}


# -- errors and fallback ------------------------------------------------------------------------


def test_fallback_chain_openai_then_anthropic_then_gemini(mode, llm_fake, llm_faults):
    """OpenAI answers 429 then 503 (retried, then failed over), Anthropic is overloaded
    (529, retried once), and Gemini serves: the waits ran on the virtual clock, and the
    usage and cost are Gemini's."""
    llm_fake.add("Paris, from Gemini.", model=GEMINI)
    llm_faults.add(faults.RateLimited(retry_after=2), model="gpt-4o-mini")
    llm_faults.add(faults.ServerError(503), model="gpt-4o-mini")
    llm_faults.add(faults.Overloaded(), model=CLAUDE, times=2)
    client = mode.client(
        route("gpt-4o-mini", price=Price(input=0.15, output=0.6)),
        claude(),
        gemini(),
        max_retries=1,
        seed=7,
    )
    reply = chat(mode, client)
    assert reply.choices[0].message.content == "Paris, from Gemini."
    info = call_info(reply)
    assert info.route == f"{GEMINI}@generativelanguage.googleapis.com"
    assert [(a.model, a.status, a.kind) for a in info.attempts] == [
        ("gpt-4o-mini", 429, "rate_limit"),
        ("gpt-4o-mini", 503, "server"),
        (CLAUDE, 529, "overloaded"),
        (CLAUDE, 529, "overloaded"),
        (GEMINI, 200, None),
    ]
    assert info.attempts[0].wait == 2.0  # OpenAI's Retry-After
    assert info.attempts[2].wait > 0  # a backoff before Anthropic's retry
    assert sum(mode.clock.sleeps) == pytest.approx(sum(info.waits))
    assert [a.cost for a in info.attempts[:4]] == [0, 0, 0, 0]
    assert info.cost == info.attempts[-1].cost == pytest.approx(GEMINI_PRICE.cost(info.usage))
    assert [r.provider for r in llm_fake.requests] == ["gemini"]


def test_fallback_to_a_local_openai_compatible_model(mode, llm_fake, llm_faults):
    llm_fake.add("from the local model", model="llama3")
    llm_faults.add(faults.ServerError(500), model="gpt-4o-mini", times=None)
    llm_faults.add(faults.Overloaded(), model=CLAUDE, times=None)
    client = mode.client(
        route("gpt-4o-mini"),
        claude(),
        Route("llama3", base_url="http://localhost:8000/v1", api_key="none"),
        max_retries=0,
    )
    reply = chat(mode, client)
    assert reply.choices[0].message.content == "from the local model"
    assert [a.model for a in call_info(reply).attempts] == ["gpt-4o-mini", CLAUDE, "llama3"]


def test_anthropic_retry_after_is_honoured(mode, llm_fake, llm_faults):
    llm_fake.add("Paris.")
    llm_faults.add(faults.RateLimited(retry_after=7), model=CLAUDE)
    client = mode.client(claude(), max_retries=2)
    reply = chat(mode, client)
    info = call_info(reply)
    assert [(a.status, a.retry_after, a.wait) for a in info.attempts] == [
        (429, 7.0, 7.0),
        (200, None, 0.0),
    ]
    assert mode.clock.sleeps == [7.0]


def test_gemini_retry_info_is_honoured(mode, llm_fake, llm_faults):
    llm_fake.add("Paris.")
    llm_faults.add(faults.RateLimited(retry_after_ms=1500, retry_after=None), model=GEMINI)
    client = mode.client(gemini(), max_retries=2)
    info = call_info(chat(mode, client))
    assert [(a.status, a.retry_after) for a in info.attempts] == [(429, 1.5), (200, None)]
    assert mode.clock.sleeps == [1.5]


def test_the_callers_except_clause_holds_for_native_routes(mode, llm_faults, provider):
    """A provider's error reaches the caller as the openai SDK's, as from an OpenAI route."""
    llm_faults.add(faults.RateLimited(retry_after=1), model=NATIVE[provider]().model, times=None)
    error = mode.raises(
        openai.RateLimitError,
        mode.client(NATIVE[provider](), max_retries=0).chat.completions.create,
    )
    assert error.status_code == 429
    assert error.response.headers["retry-after"] == "1"
    assert error.message.startswith(
        "Error code: 429 - " + ("Anthropic" if provider == "anthropic" else "Gemini")
    )


def test_a_bad_request_is_not_retried_nor_failed_over(mode, llm_faults, llm_fake, provider):
    bad = faults.HTTPError(
        status=400, message="messages: field required", type="invalid_request_error"
    )
    first = NATIVE[provider]()
    llm_faults.add(bad, model=first.model)
    other = Route("gpt-4o-mini", base_url="http://llm.test/v1", api_key=key_for("gpt-4o-mini"))
    client = mode.client(first, other, max_retries=3)
    error = mode.raises(openai.BadRequestError, client.chat.completions.create)
    assert [a.kind for a in call_info(error).attempts] == ["client"]
    assert len(llm_faults.log) == 1


def test_gemini_safety_block_is_a_content_policy_failure(mode, llm_fake, llm_faults):
    llm_fake.add("Paris.", times=None)
    llm_faults.add(faults.ContentFilter(), model=GEMINI, times=None)
    alone = mode.client(gemini(), claude(), max_retries=2)
    error = mode.raises(openai.ContentFilterFinishReasonError, alone.chat.completions.create)
    assert "finishReason: SAFETY" in str(error)
    attempts = call_info(error).attempts
    assert [(a.model, a.kind, a.skipped) for a in attempts] == [
        (GEMINI, "content_policy", False),
        (CLAUDE, None, True),  # no opt-in: another provider's policy is not asked
    ]

    opted_in = mode.client(gemini(), claude(fallback_on={"content_policy"}), max_retries=2)
    reply = chat(mode, opted_in)
    assert [(a.model, a.kind) for a in call_info(reply).attempts] == [
        (GEMINI, "content_policy"),
        (CLAUDE, None),
    ]
    stream_client = mode.client(gemini(), claude(fallback_on={"content_policy"}))
    stream, chunks = mode.stream(stream_client.chat.completions.create)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Paris."
    assert call_info(stream).route == f"{CLAUDE}@api.anthropic.com"


def test_anthropic_refusal_is_a_content_policy_failure(mode, llm_fake, llm_faults):
    llm_fake.add("Paris.", times=2)
    llm_faults.add(faults.ContentFilter(), model=CLAUDE)
    client = mode.client(claude(), gemini(fallback_on={"content_policy"}))
    reply = chat(mode, client)
    assert [(a.model, a.kind) for a in call_info(reply).attempts] == [
        (CLAUDE, "content_policy"),
        (GEMINI, None),
    ]


def test_context_length_errors_fall_over_to_routes_that_opt_in(
    mode, llm_fake, llm_faults, provider
):
    llm_fake.add("Paris.", model="gpt-4.1")
    first = NATIVE[provider]()
    llm_faults.add(faults.ContextLengthExceeded(limit=200000, tokens=250000), model=first.model)
    big = route("gpt-4.1", fallback_on={"context_length"})
    reply = chat(mode, mode.client(first, big))
    assert [(a.model, a.kind) for a in call_info(reply).attempts] == [
        (first.model, "context_length"),
        ("gpt-4.1", None),
    ]


def test_a_stream_error_event_before_content_is_retried(mode, llm_fake, llm_faults, provider):
    llm_fake.add("The capital of France is Paris.", chunks=4, times=2)
    fault = faults.StreamError(after_chunk=0, type="overloaded_error", message="Overloaded")
    llm_faults.add(fault, model=NATIVE[provider]().model)
    stream, chunks = mode.stream(
        mode.client(NATIVE[provider](), max_retries=1).chat.completions.create
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == (
        "The capital of France is Paris."
    )
    assert [a.kind for a in call_info(stream).attempts] == ["stream", None]


# -- what cannot be translated --------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"n": 2}, "n=2"),
        ({"logprobs": True}, "logprobs=True"),
        ({"frequency_penalty": 0.5}, "frequency_penalty=0.5"),
        (
            {
                "response_format": {"type": "json_schema", "json_schema": {"schema": SCHEMA}},
                "tools": [WEATHER],
            },
            "response_format= together with tools=",
        ),
    ],
)
def test_what_anthropic_cannot_take_is_refused_not_dropped(mode, llm_fake, kwargs, named):
    client = mode.client(claude())
    error = mode.raises(ClientConfigError, client.chat.completions.create, **kwargs)
    assert str(error).startswith(
        f"route '{CLAUDE}@api.anthropic.com' (provider='anthropic'): {named} has no translation"
    )
    assert "\nFix: " in str(error)
    assert len(llm_fake.requests) == 0


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"n": 3}, "n=3"),
        ({"user": "u-1"}, "user='u-1'"),
        ({"logit_bias": {"1": 2}}, "logit_bias"),
        ({"parallel_tool_calls": False}, "parallel_tool_calls=False"),
    ],
)
def test_what_gemini_cannot_take_is_refused_not_dropped(mode, llm_fake, kwargs, named):
    error = mode.raises(ClientConfigError, mode.client(gemini()).chat.completions.create, **kwargs)
    assert f"(provider='gemini'): {named}" in str(error)
    assert len(llm_fake.requests) == 0


def test_responses_and_embeddings_are_refused_on_a_native_route(mode, provider):
    client = mode.client(NATIVE[provider]())
    error = mode.raises(ClientConfigError, client.embeddings.create, input="hi")
    assert "embeddings (client.embeddings.create) has no translation" in str(error)
    error = mode.raises(ClientConfigError, client.responses.create, input="hi")
    assert "the Responses API (client.responses.create) has no translation" in str(error)


def test_the_provider_is_checked_with_did_you_mean():
    with pytest.raises(ClientConfigError) as info:
        Route("claude-haiku-4-5", provider="antropic")
    assert str(info.value).splitlines() == [
        "Route('claude-haiku-4-5', provider='antropic'): unknown provider; did you mean "
        "'anthropic'?",
        "Fix: use one of openai, anthropic, gemini (an OpenAI-compatible server, local ones "
        'included, is "openai" with its base_url=).',
    ]
    assert repr(Route(GEMINI, provider="gemini")) == "Route('gemini-2.5-flash', provider='gemini')"


def test_parse_works_on_a_native_route(mode, llm_fake, provider):
    import pydantic

    class City(pydantic.BaseModel):
        city: str
        population: int

    llm_fake.add({"city": "Paris", "population": 2100000})
    client = mode.client(NATIVE[provider]())
    result = mode.call(client.chat.completions.parse, response_format=City)
    assert result.choices[0].message.parsed == City(city="Paris", population=2100000)


def test_close_closes_the_provider_sdks(mode, provider):
    client = mode.client(NATIVE[provider]())
    sdk = client._sdk(client._routes[0])
    mode.call(lambda **kw: client.close())
    inner = sdk._adapter.client
    if provider == "anthropic":
        assert inner._client.is_closed
    assert client._sdk_clients == {}


# -- transport failures, streams cut short, limits ------------------------------------------------


def test_a_connect_error_is_retried(mode, llm_fake, llm_faults, provider):
    llm_fake.add("Paris.")
    llm_faults.add(faults.ConnectError(), model=NATIVE[provider]().model)
    reply = chat(mode, mode.client(NATIVE[provider](), max_retries=1))
    assert reply.choices[0].message.content == "Paris."
    assert [a.kind for a in call_info(reply).attempts] == ["connect", None]


def test_a_read_timeout_is_retried_only_when_allowed(mode, llm_fake, llm_faults, provider):
    """As on an OpenAI route: the request may have been processed, so only
    ``RetryPolicy(timeout_retries=...)`` retries it; the SDK's timeout runs on the clock."""
    from pytest_llm.client import RetryPolicy

    llm_fake.add("Paris.")
    llm_faults.add(faults.ReadTimeout(), model=NATIVE[provider]().model, times=2)
    client = mode.client(NATIVE[provider](), timeout=20)
    error = mode.raises(openai.APITimeoutError, client.chat.completions.create)
    assert [a.kind for a in call_info(error).attempts] == ["read_timeout"]
    retrying = mode.client(NATIVE[provider](), retry=RetryPolicy(timeout_retries=1))
    reply = chat(mode, retrying)
    assert [a.kind for a in call_info(reply).attempts] == ["read_timeout", None]


def test_a_stream_cut_after_content_is_interrupted_not_retried(
    mode, llm_fake, llm_faults, provider
):
    from pytest_llm.client import StreamInterrupted

    llm_fake.add("The capital of France is Paris.", chunks=4, times=None)
    # Anthropic's first events (message_start, content_block_start, ping) carry no text
    after = 5 if provider == "anthropic" else 3
    llm_faults.add(faults.ConnectionReset(after_chunks=after), model=NATIVE[provider]().model)
    client = mode.client(NATIVE[provider](), max_retries=2)
    with pytest.raises(StreamInterrupted) as info:
        mode.stream(client.chat.completions.create)
    assert info.value.partial_text
    assert "The capital of France is Paris.".startswith(info.value.partial_text)
    assert len(llm_faults.log) == 1  # content had reached the caller: never asked again


@pytest.mark.llm_verdicts(ignore=["truncated_stream_accepted"])  # IncompleteStream is asserted
def test_a_stream_without_its_end_is_incomplete(mode, llm_fake, llm_faults, provider):
    from pytest_llm.client import IncompleteStream

    llm_fake.add("The capital of France is Paris.", chunks=4)
    llm_faults.add(faults.TruncatedStream(), model=NATIVE[provider]().model)
    with pytest.raises(IncompleteStream):
        mode.stream(mode.client(NATIVE[provider](), max_retries=0).chat.completions.create)


def test_max_tokens_is_finish_reason_length(mode, llm_fake, llm_faults, provider):
    llm_fake.add("The capital of France is Paris, on the Seine.", times=2)
    llm_faults.add(faults.MaxTokens(), model=NATIVE[provider]().model, times=2)
    client = mode.client(NATIVE[provider]())
    reply = chat(mode, client, max_tokens=5)
    assert reply.choices[0].finish_reason == "length"
    _, chunks = mode.stream(client.chat.completions.create, max_tokens=5)
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "length"


def test_quota_is_not_retried_but_fails_over(mode, llm_fake, llm_faults, provider):
    first = NATIVE[provider]()
    llm_fake.add("from OpenAI", model="gpt-4o-mini")
    if provider == "anthropic":
        quota = faults.HTTPError(
            status=402, message="Your credit balance is too low.", type="billing_error"
        )
    else:
        quota = faults.InsufficientQuota()
    llm_faults.add(quota, model=first.model)
    reply = chat(mode, mode.client(first, route("gpt-4o-mini"), max_retries=3))
    assert [(a.model, a.kind) for a in call_info(reply).attempts] == [
        (first.model, "quota"),
        ("gpt-4o-mini", None),
    ]


def test_a_per_call_timeout_reaches_the_provider_sdk(mode, llm_fake, provider):
    llm_fake.add("Paris.", times=2)
    client = mode.client(NATIVE[provider]())
    assert chat(mode, client, timeout=12).choices[0].message.content == "Paris."
    assert chat(mode, client.with_options(deadline=30)).choices[0].message.content == "Paris."


def test_the_price_table_knows_the_default_models():
    from pytest_llm.client import PriceTable

    table = PriceTable()
    assert table.for_route(Route(CLAUDE, provider="anthropic")) == Price(1.0, 5.0, 0.10)
    assert table.for_route(Route(GEMINI, provider="gemini")) == Price(0.30, 2.50, 0.03)


def test_a_missing_key_fails_at_construction(mode, monkeypatch, provider):
    for name in ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "GEMINI_API_KEY", "GOOGLE_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ClientConfigError) as info:
        mode.client(NATIVE[provider](api_key=None))
    variable = "ANTHROPIC_API_KEY" if provider == "anthropic" else "GEMINI_API_KEY"
    assert str(info.value).startswith(f"route '{NATIVE[provider]().key}' (provider='{provider}')")
    assert str(info.value).splitlines()[-1].endswith(f"or set {variable}.")


def test_hedging_races_a_native_route(llm_fake, llm_faults, llm_clock):
    """The async client's hedge starts the next route when the first is slow; the
    loser, a native request, is cancelled and costed on an estimate."""
    import asyncio

    from pytest_llm.client import AsyncResilientClient, Hedge

    llm_fake.add("slow OpenAI", model="gpt-4o-mini")
    llm_fake.add("Paris, from Claude.", model=CLAUDE)
    llm_faults.add(faults.Slow(seconds=10), model="gpt-4o-mini")
    client = AsyncResilientClient(
        [route("gpt-4o-mini"), claude()], hedge=Hedge(delay=1.0), clock=llm_clock
    )
    reply = asyncio.run(client.chat.completions.create(messages=MESSAGES))
    assert reply.choices[0].message.content == "Paris, from Claude."
    info = call_info(reply)
    assert info.route == f"{CLAUDE}@api.anthropic.com"
    assert info.cost == pytest.approx(CLAUDE_PRICE.cost(info.usage))


def test_gemini_takes_seed_and_penalties(mode, llm_fake):
    llm_fake.add("Paris.")
    kwargs = {"seed": 7, "presence_penalty": 0.5, "frequency_penalty": 0.25, "top_p": 0.9}
    kwargs |= {"n": 1, "logprobs": False, "parallel_tool_calls": True}  # defaults: no-ops
    chat(mode, mode.client(gemini()), **kwargs)
    assert sent(llm_fake)["generationConfig"] == {
        "seed": 7,
        "presencePenalty": 0.5,
        "frequencyPenalty": 0.25,
        "topP": 0.9,
    }


def test_anthropic_sampling_user_and_parallel_tool_calls(mode, llm_fake):
    llm_fake.add("Paris.")
    chat(
        mode,
        mode.client(claude()),
        top_p=0.9,
        user="user-42",
        tools=[WEATHER],
        parallel_tool_calls=False,
    )
    body = sent(llm_fake)
    assert (body["top_p"], body["metadata"]) == (0.9, {"user_id": "user-42"})
    assert body["tool_choice"] == {"type": "auto", "disable_parallel_tool_use": True}
