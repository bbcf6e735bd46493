"""Bad input: invalid configuration fails at construction, naming the field, the value
and the fix (did-you-mean for unknown names), before any request; a request the
provider rejects as invalid never burns retries, the retry budget or the breaker.
Sync and async clients alike.
"""

from __future__ import annotations

import re

import openai
import pytest
from client_helpers import route, seen

from pytest_llm import faults
from pytest_llm._errors import ConfigError
from pytest_llm.client import (
    AsyncResilientClient,
    Backoff,
    CircuitBreaker,
    ClientConfigError,
    Hedge,
    ResilientClient,
    RetryBudget,
    RetryPolicy,
    Route,
    Timeouts,
    call_info,
)


def check_message(err: BaseException, *needles: str) -> None:
    """One line saying what is wrong (with each needle), then a line starting ``Fix:``."""
    text = str(err)
    first, _, rest = text.partition("\n")
    for needle in needles:
        assert needle in first, (needle, text)
    assert rest.startswith("Fix: ") or "\nFix: " in text, text
    assert isinstance(err, ConfigError)
    assert isinstance(err, ValueError)


@pytest.mark.parametrize(
    ("options", "needles"),
    [
        ({"max_retries": -1}, ["max_retries=-1", "negative"]),
        ({"max_retries": "3"}, ["max_retries='3'"]),
        ({"max_retries": True}, ["max_retries=True"]),
        ({"deadline": -1}, ["deadline=-1"]),
        ({"deadline": 0}, ["deadline=0"]),
        ({"deadline": float("nan")}, ["deadline=nan"]),
        ({"timeout": "soon"}, ["'soon'", "not a timeout"]),
        ({"timeouts": 30}, ["timeouts=30", "Timeouts"]),
        ({"tier": "high"}, ["tier='high'"]),
        ({"max_reasks": -2}, ["max_reasks=-2"]),
        ({"hedge": "fast"}, ["hedge='fast'"]),
        ({"retry": RetryPolicy(), "max_retries": 2}, ["max_retries=2", "give one of them"]),
    ],
    ids=lambda v: str(v) if isinstance(v, dict) else "",
)
def test_bad_option_values_fail_at_construction(mode, llm_faults, options, needles):
    with pytest.raises(ClientConfigError) as caught:
        mode.client(route("a"), **options)
    check_message(caught.value, *needles)
    assert seen(llm_faults) == 0


@pytest.mark.parametrize(
    ("name", "suggestion"),
    [("max_retry", "max_retries"), ("dealine", "deadline"), ("timouts", "timeouts")],
)
def test_unknown_option_suggests_the_nearest(mode, name, suggestion):
    with pytest.raises(ClientConfigError) as caught:
        mode.client(route("a"), **{name: 1})
    check_message(caught.value, repr(name), f"did you mean {suggestion!r}")


def test_unknown_option_of_with_options_suggests_the_nearest(mode):
    client = mode.client(route("a"))
    with pytest.raises(ClientConfigError) as caught:
        client.with_options(dedline=5)
    check_message(caught.value, "'dedline'", "did you mean 'deadline'")
    with pytest.raises(ClientConfigError) as caught:
        client.with_options(deadline=-3)
    check_message(caught.value, "deadline=-3")


def test_a_route_list_that_repeats_a_route(mode):
    with pytest.raises(ClientConfigError) as caught:
        mode.client(route("a"), route("b"), route("a"))
    check_message(caught.value, "routes[2]", "'a@llm.test'", "routes[0]")
    assert "name=" in str(caught.value)  # the fix says how to keep both on purpose
    mode.client(route("a"), route("a", name="a-again"))  # distinct names are fine


@pytest.mark.parametrize(
    ("build", "needles"),
    [
        (lambda: Route(""), ["Route(model=''"]),
        (lambda: Route("a", base_url="llm.test/v1"), ["base_url='llm.test/v1'", "http"]),
        (lambda: Route("a", context_window=0), ["context_window=0"]),
        (lambda: Route("a", fallback_on=frozenset({"context"})), ["'context'"]),
        (lambda: RetryPolicy(max_retries=-1), ["max_retries=-1"]),
        (lambda: RetryPolicy(max_retry=2), ["'max_retry'", "did you mean 'max_retries'"]),
        (lambda: Backoff(base=4, max_delay=1), ["max_delay=1", "base=4"]),
        (lambda: RetryBudget(ratio=-0.5), ["ratio=-0.5"]),
        (lambda: Timeouts(read=0), ["read=0"]),
        (lambda: Timeouts(connect=-1), ["connect=-1"]),
        (lambda: Hedge(delay=-1), ["delay=-1"]),
        (lambda: CircuitBreaker(failure_threshold=-1), ["failure_threshold"]),
        (lambda: CircuitBreaker(failure_treshold=3), ["failure_treshold", "failure_threshold"]),
    ],
    ids=lambda v: "" if callable(v) else str(v[0]),
)
def test_bad_parts_fail_where_they_are_written(build, needles):
    with pytest.raises(ClientConfigError) as caught:
        build()
    check_message(caught.value, *needles)


def test_no_routes_and_no_model(mode, llm_faults):
    client = mode.client(base_url="http://llm.test/v1", api_key="sk-test-x")
    with pytest.raises(ClientConfigError) as caught:
        mode.call(client.chat.completions.create)
    check_message(caught.value, "model= is missing")
    assert seen(llm_faults) == 0


@pytest.mark.parametrize("cls", [ResilientClient, AsyncResilientClient])
def test_empty_route_list(cls, llm_clock):
    with pytest.raises(ClientConfigError) as caught:
        cls([], clock=llm_clock)
    check_message(caught.value, "routes=[]")


def test_a_model_that_is_not_a_route_suggests_one(mode, llm_faults):
    client = mode.client(route("gpt-4o-mini"), route("gpt-4o"))
    with pytest.raises(ClientConfigError) as caught:
        mode.call(client.chat.completions.create, model="gpt-4o-mni")
    check_message(caught.value, "'gpt-4o-mni'", "did you mean 'gpt-4o-mini'")
    assert seen(llm_faults) == 0


def test_sync_client_refuses_hedging(llm_clock):
    with pytest.raises(ClientConfigError) as caught:
        ResilientClient([route("a"), route("b")], hedge=1.0, clock=llm_clock)
    check_message(caught.value, "hedge=...", "async")


# -- An invalid request never burns retries -------------------------------------------------


@pytest.mark.parametrize(
    "messages",
    ["Capital of France?", {"role": "user", "content": "hi"}],
    ids=["string", "dict"],
)
def test_a_request_the_provider_rejects_burns_nothing(
    mode, llm_faults, llm_fake, llm_clock, messages
):
    """The provider's own 400 for a malformed request (messages not a list): one
    request, no wait, no retry budget spent, no breaker count, the SDK's error."""
    budget = RetryBudget(ratio=0.0, min_retries_per_window=3, clock=llm_clock)
    breaker = CircuitBreaker(failure_threshold=1, clock=llm_clock)
    client = mode.client(route("a"), max_retries=3, retry_budget=budget, breaker=breaker)
    for _ in range(2):
        err = mode.raises(openai.BadRequestError, client.chat.completions.create, messages=messages)
        assert "messages" in str(err)
    assert seen(llm_faults, "a") == 2
    assert len(llm_fake.requests) == 2  # it reached the provider and was refused there
    assert call_info(err).requests == 1
    assert budget.available() == 3
    assert breaker.state(route("a").key) == "closed"
    assert llm_clock.sleeps == []


def test_an_invalid_request_error_is_sent_once_then_a_valid_one_works(mode, llm_faults, llm_fake):
    """A 400 invalid_request_error (bad parameter) is not retried and does not poison the
    client: the next, valid call goes through on the first try."""
    llm_fake.add("Paris.")
    llm_faults.add(
        faults.HTTPError(
            status=400, message="Invalid value for 'temperature'.", param="temperature"
        ),
        model="a",
        times=1,
    )
    client = mode.client(route("a"), max_retries=3)
    err = mode.raises(openai.BadRequestError, client.chat.completions.create, temperature=9)
    assert seen(llm_faults, "a") == 1
    assert re.search(r"temperature", str(err))
    reply = mode.call(client.chat.completions.create)
    assert reply.choices[0].message.content == "Paris."
    assert seen(llm_faults, "a") == 2
