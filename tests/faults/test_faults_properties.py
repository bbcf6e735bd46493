"""Property tests with ``pytest_llm.strategies``: the example users copy, and the strategies' own
promises (what they draw always applies; they find the bug a client has)."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any, Literal

import openai
import pydantic
import pytest
from faults_support import ANALYSIS, BASE_URL, Upstream, upstream
from hypothesis import HealthCheck, find, given, settings
from hypothesis import strategies as st

from pytest_llm import VirtualClock, WouldHang
from pytest_llm._flow import Exchange, Reply, TransportFailure
from pytest_llm.faults import (
    FaultError,
    FaultPlan,
    ReadTimeout,
    Stall,
)
from pytest_llm.strategies import (
    DEFAULT_KINDS,
    fault_plans,
    fault_schedules,
    faults,
    malformed_json,
    malformed_outputs,
)

# -- the application under test ------------------------------------------------------------


class Analysis(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid", strict=True)

    sentiment: Literal["positive", "negative", "neutral"]
    score: float
    topics: list[str]


class AnalysisError(Exception):
    """The one error type the application promises to raise."""


ATTEMPTS = 2
SDK_TRIES = 3  # the SDK's default: one try and two retries
READ_TIMEOUT = 20.0
MAX_RETRY_AFTER = 120  # the most the SDK waits when a server tells it to
CLIENT = openai.OpenAI(api_key="sk-test", base_url=BASE_URL, timeout=READ_TIMEOUT)
ACLIENT = openai.AsyncOpenAI(api_key="sk-test", base_url=BASE_URL, timeout=READ_TIMEOUT)


def parse(content: str | None) -> Analysis:
    """Lenient about wrapping (fences, prose), strict about the document."""
    match = re.search(r"\{.*\}", content or "", re.S)
    if match is None:
        raise ValueError(f"no JSON object in {content!r}")
    return Analysis.model_validate(json.loads(match.group(0)))


def check(response: Any) -> Analysis:
    choice = response.choices[0]
    if choice.finish_reason == "content_filter":
        raise AnalysisError("the provider filtered the answer")
    return parse(choice.message.content)


FATAL = ("insufficient_quota", "context_length_exceeded")


def give_up(exc: openai.APIError) -> bool:
    status = getattr(exc, "status_code", None)
    return exc.code in FATAL or (status is not None and 400 <= status < 500 and status != 429)


def analyse(text: str) -> Analysis:
    last: Exception | None = None
    for _ in range(ATTEMPTS):
        try:
            return check(
                CLIENT.chat.completions.create(
                    model="gpt-4o-mini", messages=[{"role": "user", "content": text}]
                )
            )
        except openai.APIError as exc:
            if give_up(exc):
                raise AnalysisError(str(exc)) from exc
            last = exc
        except (ValueError, pydantic.ValidationError) as exc:
            last = exc
    raise AnalysisError(f"no valid analysis after {ATTEMPTS} attempts") from last


async def aanalyse(text: str) -> Analysis:
    last: Exception | None = None
    for _ in range(ATTEMPTS):
        try:
            return check(
                await ACLIENT.chat.completions.create(
                    model="gpt-4o-mini", messages=[{"role": "user", "content": text}]
                )
            )
        except openai.APIError as exc:
            if give_up(exc):
                raise AnalysisError(str(exc)) from exc
            last = exc
        except (ValueError, pydantic.ValidationError) as exc:
            last = exc
    raise AnalysisError(f"no valid analysis after {ATTEMPTS} attempts") from last


# -- the property users write ---------------------------------------------------------------

MOST_REQUESTS = ATTEMPTS * SDK_TRIES
MOST_SECONDS = MOST_REQUESTS * READ_TIMEOUT + (MOST_REQUESTS - 1) * MAX_RETRY_AFTER


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plan=fault_plans(max_faults=MOST_REQUESTS, max_wait=300))
def test_whatever_the_provider_does_analyse_returns_an_analysis_or_a_typed_error(
    plan: FaultPlan,
) -> None:
    with VirtualClock() as clock, plan, upstream():
        try:
            result: Analysis | None = analyse("The refund arrived, thanks!")
        except AnalysisError:
            result = None
    if result is not None:
        assert result == Analysis.model_validate(ANALYSIS)
    assert len(plan.log) <= MOST_REQUESTS  # within N attempts
    assert clock.monotonic() <= MOST_SECONDS  # and it never hung


@settings(max_examples=40, deadline=None)
@given(plan=fault_plans(max_faults=MOST_REQUESTS, max_wait=300))
def test_the_async_client_keeps_the_same_promise(plan: FaultPlan) -> None:
    with VirtualClock() as clock, plan, upstream():
        try:
            result: Analysis | None = asyncio.run(aanalyse("The refund arrived, thanks!"))
        except AnalysisError:
            result = None
    assert result is None or result == Analysis.model_validate(ANALYSIS)
    assert len(plan.log) <= MOST_REQUESTS
    assert clock.monotonic() <= MOST_SECONDS


def test_the_property_finds_a_client_that_would_hang() -> None:
    """A client with no read timeout: the smallest schedule that shows it is one read timeout."""
    naive = openai.OpenAI(api_key="sk-test", base_url=BASE_URL, timeout=None, max_retries=0)

    def hangs(schedule: list[Any]) -> bool:
        with VirtualClock(), FaultPlan() as plan, upstream():
            plan.sequence(*schedule, required=False)
            try:
                naive.chat.completions.create(
                    model="m", messages=[{"role": "user", "content": "x"}]
                )
            except WouldHang:
                return True
            except (openai.APIError, ValueError):
                pass
        return False

    # shrinking ends on one fault that never answers: a read timeout or an endless stall
    # (both are minimal; which one hypothesis lands on depends on its search)
    (found,) = find(fault_schedules(max_faults=3), hangs)
    assert found == ReadTimeout() or (isinstance(found, Stall) and found.seconds == float("inf"))


@settings(max_examples=100, deadline=None)
@given(
    text=malformed_outputs(
        st.builds(
            dict,
            sentiment=st.sampled_from(["positive", "negative", "neutral"]),
            score=st.floats(0, 1),
            topics=st.lists(st.text(min_size=1, max_size=8), min_size=1, max_size=3),
        ),
        variants=[
            "trailing_comma",
            "single_quotes",
            "truncated",
            "wrong_types",
            "missing_field",
            "extra_field",
        ],
    )
)
def test_malformed_outputs_never_parse_as_the_model(text: str) -> None:
    with pytest.raises((ValueError, pydantic.ValidationError)):
        parse(text)


# -- the strategies' own promises ------------------------------------------------------------


def apply(fault: Any, stream: bool, path: str) -> Any:
    body = json.dumps({"model": "m", "stream": stream}).encode()
    exchange = Exchange("POST", BASE_URL + path, [], body)
    return FaultPlan(fault).handle(exchange, lambda ex: Upstream().handle(ex, None))  # type: ignore[arg-type]


@settings(max_examples=300, deadline=None)
@given(
    fault=faults(kinds=[k for k in DEFAULT_KINDS if k != "malformed_json"], chunks=9),
    path=st.sampled_from(["/chat/completions", "/responses"]),
)
def test_faults_drawn_for_n_chunks_apply_to_any_stream_that_long(fault: Any, path: str) -> None:
    with VirtualClock():
        outcome = apply(fault, True, path)  # chat streams have 9 chunks, responses 14
    assert isinstance(outcome, Reply | TransportFailure)  # answered here, never the network


@settings(max_examples=200, deadline=None)
@given(fault=faults(), path=st.sampled_from(["/chat/completions", "/responses"]))
def test_faults_drawn_for_plain_replies_apply_to_plain_replies(fault: Any, path: str) -> None:
    with VirtualClock():
        outcome = apply(fault, False, path)
    assert not isinstance(outcome, Reply) or outcome.events is None


@given(fault=malformed_json(fields=["score", "topics"]))
def test_malformed_json_faults_touch_the_fields_asked_for(fault: Any) -> None:
    assert fault.field in (None, "score", "topics")
    assert fault.field is None or fault.variant in ("wrong_types", "missing_field", "extra_field")


@given(schedule=fault_schedules(max_faults=4, kinds=["rate_limited"], passes=False))
def test_schedules_hold_only_the_kinds_asked_for(schedule: list[Any]) -> None:
    assert len(schedule) <= 4
    assert all(type(f).__name__ == "RateLimited" for f in schedule)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda: faults(kinds=["rate_limted"]),
            "faults(kinds=...): unknown fault kind 'rate_limted'. Did you mean 'rate_limited'?",
        ),
        (
            lambda: faults(kinds=["stream_error"]),
            "faults(): no kind left to draw (the stream-only kinds need chunks=).",
        ),
        (
            lambda: faults(chunks=0),
            "chunks= is the least number of chunks of the streamed reply (1 or more), got 0.",
        ),
        (
            lambda: faults(max_wait=float("inf")),
            "faults(max_wait=inf): the longest wait is a finite number of seconds.",
        ),
        (
            lambda: fault_schedules(max_faults=-1),
            "fault_schedules(max_faults=-1): a schedule length is 0 or more.",
        ),
        (
            lambda: malformed_json(variants=["fencd"]),
            "MalformedJSON(variant='fencd'): unknown variant 'fencd' (did you mean 'fenced'?).",
        ),
    ],
)
def test_strategy_arguments_are_checked(call: Any, message: str) -> None:
    with pytest.raises(FaultError) as info:
        call()
    assert str(info.value).splitlines()[0] == message
