"""Bad input to faults and plans: an error that names the fault, the value and the fix."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from faults_support import BASE_URL, Upstream

from pytest_llm._flow import Exchange
from pytest_llm.faults import (
    ConnectionReset,
    ContextLengthExceeded,
    FaultError,
    FaultNotApplicable,
    FaultPlan,
    HTTPError,
    MalformedJSON,
    RateLimited,
    ServerError,
    Slow,
    Stall,
    TruncatedStream,
)

KINDS = (
    "broken_tool_call, connect_error, connection_reset, content_filter, "
    "context_length_exceeded, corrupt_event, http_error, insufficient_quota, malformed_json, "
    "max_tokens, overloaded, pass, rate_limited, read_timeout, server_error, slow, stall, "
    "stream_error, truncated_stream"
)

BAD: list[tuple[str, Callable[[], Any], list[str]]] = [
    (
        "negative retry_after",
        lambda: RateLimited(retry_after=-1),
        [
            "RateLimited(retry_after=-1): retry_after is a wait in seconds and cannot be negative (got -1).",
            "Fix: pass retry_after=0 or more, e.g. retry_after=1.",
        ],
    ),
    (
        "negative stall",
        lambda: Stall(after_chunk=3, seconds=-2),
        [
            "Stall(after_chunk=3, seconds=-2): seconds is a wait in seconds and cannot be negative (got -2).",
            "Fix: pass seconds=0 or more, e.g. seconds=2.",
        ],
    ),
    (
        "negative chunk index",
        lambda: Stall(after_chunk=-1),
        [
            "Stall(after_chunk=-1): after_chunk counts chunks and must be a whole number 0 or more, got -1.",
            "Fix: pass e.g. after_chunk=3.",
        ],
    ),
    (
        "not a number",
        lambda: Slow(seconds=float("nan")),
        [
            "Slow(seconds=nan): seconds is a number of seconds, got nan.",
            "Fix: pass e.g. seconds=7.",
        ],
    ),
    (
        "both reset points",
        lambda: ConnectionReset(after_chunks=1, after_bytes=2),
        [
            "ConnectionReset(after_chunks=1, after_bytes=2): give after_chunks or after_bytes, not both.",
            "Fix: pass ConnectionReset(after_chunks=1) or ConnectionReset(after_bytes=2).",
        ],
    ),
    (
        "server error that is not 5xx",
        lambda: ServerError(404),
        [
            "ServerError(status=404): a server error has a 5xx status, got 404.",
            "Fix: pass status=500, 502 or 503; for a 404 use HTTPError(status=404, ...).",
        ],
    ),
    (
        "not an error status",
        lambda: HTTPError(200),
        [
            "HTTPError(status=200): status 200 is not an error status (400-599).",
            "Fix: pass a 4xx or 5xx status, e.g. status=400.",
        ],
    ),
    (
        "unknown variant",
        lambda: MalformedJSON("fenc"),
        [
            "MalformedJSON(variant='fenc'): unknown variant 'fenc' (did you mean 'fenced'?).",
            "Fix: pass variant= one of fenced, prose, trailing_comma, single_quotes, truncated, "
            "wrong_types, missing_field, extra_field.",
        ],
    ),
    (
        "field on a text variant",
        lambda: MalformedJSON("fenced", field="x"),
        [
            "MalformedJSON(variant='fenced', field='x'): field= only applies to extra_field, "
            "missing_field, wrong_types.",
            "Fix: drop field=, or use one of those variants.",
        ],
    ),
    (
        "zero tokens",
        lambda: ContextLengthExceeded(limit=0),
        [
            "ContextLengthExceeded(limit=0): limit is a number of tokens (1 or more), got 0.",
            "Fix: pass e.g. limit=128000.",
        ],
    ),
    (
        "unknown kind",
        lambda: FaultPlan().add("rate_limted"),
        [
            "unknown fault kind 'rate_limted'. Did you mean 'rate_limited'?",
            f"Fix: use one of {KINDS}.",
        ],
    ),
    (
        "unknown parameter",
        lambda: FaultPlan().add("rate_limited", retry_afer=7),
        [
            "fault kind 'rate_limited' has no parameter 'retry_afer'. Did you mean 'retry_after'?",
            "Fix: RateLimited takes retry_after, retry_after_ms, http_date, limit, should_retry.",
        ],
    ),
    (
        "missing parameter",
        lambda: FaultPlan().add("stall"),
        ["fault kind 'stall' needs after_chunk.", "Fix: pass e.g. add('stall', after_chunk=...)."],
    ),
    (
        "parameters for a built fault",
        lambda: FaultPlan().add(RateLimited(), retry_after=3),
        [
            "add(RateLimited(), retry_after=3): parameters go to the fault itself when it is already built.",
            "Fix: pass RateLimited(..., retry_after=...), or the kind's name: add('rate_limited', ...).",
        ],
    ),
    (
        "not a fault",
        lambda: FaultPlan().add(42),  # type: ignore[arg-type]
        [
            "42 is not a fault.",
            f"Fix: pass a fault such as RateLimited(retry_after=7), or a kind's name: {KINDS}.",
        ],
    ),
    (
        "zero times",
        lambda: FaultPlan().add(RateLimited(), times=0),
        [
            "RateLimited(): times is how many requests get the fault (1 or more, or None for all "
            "of them), got 0.",
            "Fix: pass e.g. times=2, or times=None.",
        ],
    ),
    (
        "probability above 1",
        lambda: FaultPlan().add(RateLimited(), probability=2),
        [
            "RateLimited(): probability is a chance between 0 and 1, got 2.",
            "Fix: pass e.g. probability=0.3.",
        ],
    ),
    (
        "seed that is a string",
        lambda: FaultPlan(seed="12"),  # type: ignore[arg-type]
        [
            "FaultPlan(seed='12'): the seed must be an int, got '12' (str).",
            "Fix: pass a whole number, e.g. seed=1234 (or PYTEST_LLM_SEED=1234).",
        ],
    ),
    (
        "seed that is a float",
        lambda: setattr(FaultPlan(), "seed", 1.5),
        [
            "llm_faults.seed = 1.5: the seed must be an int, got 1.5 (float).",
            "Fix: pass a whole number, e.g. seed=1234 (or PYTEST_LLM_SEED=1234).",
        ],
    ),
    (
        "target that is not a string",
        lambda: FaultPlan().add(RateLimited(), path=3),  # type: ignore[arg-type]
        [
            "path= is a string or a compiled regex, got 3.",
            "Fix: pass e.g. path='/chat/completions'.",
        ],
    ),
]


@pytest.mark.parametrize(("case", "build", "lines"), BAD, ids=[c[0] for c in BAD])
def test_impossible_faults_fail_where_they_are_written(
    case: str, build: Callable[[], Any], lines: list[str]
) -> None:
    with pytest.raises(FaultError) as info:
        build()
    assert str(info.value).splitlines() == lines
    assert isinstance(info.value, ValueError)  # and a ConfigError, like every bad argument


def applied(fault: Any, *, stream: bool = True, path: str = "/chat/completions") -> str:
    exchange = Exchange(
        "POST", BASE_URL + path, [], json.dumps({"model": "m", "stream": stream}).encode()
    )
    with pytest.raises(FaultNotApplicable) as info:
        FaultPlan(fault).handle(exchange, lambda ex: Upstream().handle(ex, None))  # type: ignore[arg-type]
    return str(info.value)


def test_a_chunk_index_past_the_end_is_caught_when_applied() -> None:
    assert applied(ConnectionReset(after_chunks=99)).splitlines() == [
        f"ConnectionReset(after_chunks=99) cannot apply to POST {BASE_URL}/chat/completions: "
        "after_chunks=99 is past the end; the reply has 9 chunks (valid: after_chunks=0..8).",
        "Fix: pass after_chunks=8 or less, or target a longer reply.",
    ]
    assert applied(TruncatedStream(after_chunk=99)).splitlines() == [
        f"TruncatedStream(after_chunk=99) cannot apply to POST {BASE_URL}/chat/completions: "
        "after_chunk=99 is past the end of the content; the stream has 7 chunks before its "
        "ending (valid: after_chunk=0..7).",
        "Fix: pass after_chunk=7 or less, or leave it out to cut just the ending.",
    ]
    assert applied(ConnectionReset(after_bytes=5000), stream=False).splitlines() == [
        f"ConnectionReset(after_bytes=5000) cannot apply to POST {BASE_URL}/chat/completions: "
        "after_bytes=5000 is past the end; the reply has 426 bytes (valid: after_bytes=0..425).",
        "Fix: pass after_bytes=425 or less, or target a longer reply.",
    ]


def test_a_stream_fault_on_a_plain_reply_says_to_target_a_stream() -> None:
    assert applied(TruncatedStream(), stream=False).splitlines() == [
        f"TruncatedStream() changes a streamed reply, but the reply to POST {BASE_URL}/chat/"
        "completions is not a stream (status 200).",
        "Fix: target the fault at a request made with stream=True (path=/model=), or use a kind "
        "for plain replies such as ConnectionReset(after_bytes=...).",
    ]


def test_a_content_fault_on_a_reply_without_content_says_so() -> None:
    assert applied(MalformedJSON("fenced"), path="/embeddings").splitlines() == [
        f"MalformedJSON(variant='fenced') cannot apply to POST {BASE_URL}/embeddings: the reply "
        "(status 200) is not a chat completion, Responses API response, Anthropic message or "
        "Gemini response, plain or streamed, so there is no message content to change.",
        "Fix: target the fault at a chat completions, responses, messages or generateContent "
        "request (path=...).",
    ]


def test_a_random_plan_puts_its_seed_in_the_error() -> None:
    plan = FaultPlan(seed=77)
    plan.add(Stall(after_chunk=99), probability=1.0)
    exchange = Exchange("POST", BASE_URL + "/chat/completions", [], b'{"model": "m"}')
    with pytest.raises(FaultNotApplicable) as info:
        plan.handle(exchange, lambda ex: Upstream().handle(ex, None))  # type: ignore[arg-type]
    assert str(info.value).splitlines()[-1] == (
        "fault plan seed: 77 (rerun with PYTEST_LLM_SEED=77 for the same faults)"
    )
