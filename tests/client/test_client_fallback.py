"""Fallback across routes and tiers, end to end through the real openai SDK (CONTRACTS
E 30-33, A 5-6, and ``with_options(tier=N)``), sync and async.

Which route served is read at the provider: faults target routes by ``model=``, and
``llm_faults.log`` / ``llm_fake.requests`` say which model each request named.
"""

from __future__ import annotations

import logging

import openai
import pytest
from client_helpers import MESSAGES, reached, route, seen

from pytest_llm import faults
from pytest_llm.client import (
    CircuitBreaker,
    CircuitOpenError,
    ClientConfigError,
    Price,
    call_info,
)

CONTENT_POLICY = faults.HTTPError(
    status=400,
    message="Your request was rejected as a result of our safety system.",
    type="invalid_request_error",
    code="content_policy_violation",
)


def chat(mode, client, **kw):
    return mode.call(client.chat.completions.create, **kw)


def chat_error(mode, client, error, **kw):
    return mode.raises(error, client.chat.completions.create, **kw)


def models_seen(llm_faults) -> list[str]:
    return [a.model for a in llm_faults.log]


# -- 30. Order, allowances, no repeats ------------------------------------------------------


def test_candidates_in_order_each_within_its_own_retries(mode, llm_faults, llm_fake):
    """30: a and b fail persistently: R+1 requests each, in order, then c serves once."""
    llm_fake.add("from c", model="c")
    llm_faults.add(faults.ServerError(503), model="a", times=None)
    llm_faults.add(faults.ServerError(502), model="b", times=None)
    client = mode.client(route("a"), route("b"), route("c"), max_retries=1)
    reply = chat(mode, client)
    assert reply.choices[0].message.content == "from c"
    assert models_seen(llm_faults) == ["a", "a", "b", "b", "c"]
    assert reached(llm_fake) == 1
    assert [(a.model, a.status) for a in call_info(reply).attempts] == [
        ("a", 503),
        ("a", 503),
        ("b", 502),
        ("b", 502),
        ("c", 200),
    ]


def test_no_route_is_visited_twice_and_the_last_error_is_raised(mode, llm_faults):
    """30: every route fails: each is tried within its allowance once, the SDK's error
    of the last route is raised (drop-in: except openai.APIStatusError still works)."""
    llm_faults.add(faults.ServerError(503), model="a", times=None)
    llm_faults.add(faults.Overloaded(), model="b", times=None)
    client = mode.client(route("a"), route("b"), max_retries=2)
    err = chat_error(mode, client, openai.InternalServerError)
    assert err.status_code == 529
    assert models_seen(llm_faults) == ["a"] * 3 + ["b"] * 3
    assert call_info(err).route is None


def test_the_model_named_by_the_caller_goes_first(mode, llm_faults, llm_fake):
    """30: model="b" starts at b; the others follow in configured order."""
    llm_fake.add("from a", model="a")
    llm_faults.add(faults.ServerError(503), model="b", times=None)
    client = mode.client(route("a"), route("b"), max_retries=0)
    reply = chat(mode, client, model="b")
    assert models_seen(llm_faults) == ["b", "a"]
    assert reply.choices[0].message.content == "from a"


def test_a_client_error_does_not_fail_over(mode, llm_faults):
    """30 + 1: a 400 on the first route is the caller's mistake: b is never asked."""
    llm_faults.add(faults.HTTPError(status=400), model="a", times=None)
    client = mode.client(route("a"), route("b"))
    chat_error(mode, client, openai.BadRequestError)
    assert models_seen(llm_faults) == ["a"]


# -- 31. Who served it ----------------------------------------------------------------------


def test_result_names_the_serving_model_and_costs_it_there(mode, llm_faults, llm_fake):
    """31: model, provider (route) and base_url of the route that answered; usage and
    cost at that route's price; the failed attempt on a costs nothing."""
    llm_fake.add("Paris.", model="b", usage={"prompt_tokens": 1000, "completion_tokens": 500})
    llm_faults.add(faults.ServerError(500), model="a", times=None)
    a = route("a", price=Price(input=1.0, output=2.0))
    b = route("b", base_url="http://other.test/v1", price=Price(input=10.0, output=20.0))
    client = mode.client(a, b, max_retries=0)
    reply = chat(mode, client)
    info = call_info(reply)
    assert (info.model, info.route, info.base_url) == ("b", b.key, "http://other.test/v1")
    assert reply.model == "b"
    assert llm_fake.requests.last.url.startswith("http://other.test/v1/")
    assert info.usage is not None
    assert (info.usage["input_tokens"], info.usage["output_tokens"]) == (1000, 500)
    assert info.cost == pytest.approx((1000 * 10.0 + 500 * 20.0) / 1e6)
    assert [(x.model, x.cost) for x in info.attempts] == [("a", 0.0), ("b", info.cost)]


# -- 32. The fallback gets the original request ---------------------------------------------


def test_fallback_receives_the_original_request(mode, llm_faults, llm_fake):
    """32: b's request is a's, byte for byte, except the model; the caller's dict is
    untouched."""
    llm_faults.add(faults.ServerError(503), model="a", times=None)
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Capital of France?"},
    ]
    before = [dict(m) for m in messages]
    client = mode.client(route("a"), route("b"), max_retries=0)
    chat(mode, client, messages=messages, temperature=0, max_tokens=20)
    assert messages == before
    assert models_seen(llm_faults) == ["a", "b"]
    sent = llm_fake.requests.last.json
    assert sent.pop("model") == "b"
    assert sent == {"messages": before, "temperature": 0, "max_tokens": 20}


def test_fallback_checks_its_own_context_window(mode, llm_faults, llm_fake):
    """32: a route the request cannot fit is skipped without I/O; the next one serves."""
    llm_fake.add("from c", model="c")
    llm_faults.add(faults.ServerError(503), model="a", times=None)
    long = [{"role": "user", "content": "word " * 2000}]  # ~2500 tokens
    client = mode.client(
        route("a"),
        route("b", context_window=1000),
        route("c", context_window=100_000),
        max_retries=0,
    )
    reply = chat(mode, client, messages=long)
    assert models_seen(llm_faults) == ["a", "c"]
    skipped = [x for x in call_info(reply).attempts if x.skipped]
    assert [(x.model, "context window" in (x.reason or "")) for x in skipped] == [("b", True)]
    assert reply.choices[0].message.content == "from c"


# -- 33. Open circuits are skipped without I/O ----------------------------------------------


def test_open_breaker_is_skipped_without_io_and_logged(mode, llm_faults, llm_fake, caplog):
    """33: once a's circuit is open, calls go straight to b: a sees no request, the
    skip is an attempt record and a log event."""
    llm_fake.add("from b", model="b", times=None)
    llm_faults.add(faults.ServerError(503), model="a", times=None)
    breaker = CircuitBreaker(failure_threshold=1, reset_timeout=30, clock=mode.clock)
    client = mode.client(route("a"), route("b"), max_retries=0, breaker=breaker)
    chat(mode, client)
    assert breaker.state(route("a").key) == "open"
    caplog.set_level(logging.DEBUG, logger="pytest_llm.client")
    for _ in range(3):
        reply = chat(mode, client)
        assert reply.choices[0].message.content == "from b"
    assert seen(llm_faults, "a") == 1
    assert seen(llm_faults, "b") == 4
    first = call_info(reply).attempts[0]
    assert (first.model, first.skipped, first.breaker) == ("a", True, "open")
    assert "circuit open" in (first.reason or "")
    skips = [r for r in caplog.records if getattr(r, "llm", {}).get("outcome") == "skipped"]
    assert len(skips) == 3
    assert all(r.llm["route"] == route("a").key for r in skips)


def test_every_breaker_open_fails_fast_with_no_io(mode, llm_faults, llm_clock):
    """33 + 35: all routes open: CircuitOpenError, nothing sent, nothing waited."""
    llm_faults.add(faults.ServerError(503), times=None)
    breaker = CircuitBreaker(failure_threshold=1, clock=llm_clock)
    client = mode.client(route("a"), route("b"), max_retries=0, breaker=breaker)
    chat_error(mode, client, openai.InternalServerError)
    assert seen(llm_faults) == 2
    err = chat_error(mode, client, CircuitOpenError)
    assert seen(llm_faults) == 2
    assert [x.skipped for x in call_info(err).attempts] == [True, True]


# -- 5, 6. Non-transient failures only go where they are welcome ----------------------------


@pytest.mark.parametrize(
    ("fault", "opt_in"),
    [
        (faults.ContextLengthExceeded(limit=8192), "context_length"),
        (CONTENT_POLICY, "content_policy"),
    ],
    ids=["context-length", "content-policy"],
)
def test_non_transient_failure_goes_only_to_an_opted_in_route(
    mode, llm_faults, llm_fake, fault, opt_in
):
    """5, 6: never retried on the same model; a route without the opt-in is skipped
    (no I/O); the one that opted in gets the original request."""
    llm_fake.add("from c", model="c")
    llm_faults.add(fault, model="a", times=None)
    client = mode.client(
        route("a"), route("b"), route("c", fallback_on=frozenset({opt_in})), max_retries=3
    )
    reply = chat(mode, client)
    assert reply.choices[0].message.content == "from c"
    assert models_seen(llm_faults) == ["a", "c"]
    attempts = call_info(reply).attempts
    assert [(x.model, x.kind, x.skipped) for x in attempts] == [
        ("a", opt_in, False),
        ("b", None, True),
        ("c", None, False),
    ]
    assert llm_fake.requests.last.json["messages"] == MESSAGES


@pytest.mark.parametrize(
    ("fault", "kind"),
    [(faults.ContextLengthExceeded(), "context_length"), (CONTENT_POLICY, "content_policy")],
    ids=["context-length", "content-policy"],
)
def test_non_transient_failure_without_a_taker_raises_after_one_request(
    mode, llm_faults, fault, kind
):
    """5, 6: no route opted in: one request in all, the SDK's BadRequestError."""
    llm_faults.add(fault, model="a", times=None)
    client = mode.client(route("a"), route("b"), max_retries=3)
    err = chat_error(mode, client, openai.BadRequestError)
    assert models_seen(llm_faults) == ["a"]
    assert call_info(err).attempts[0].kind == kind
    assert mode.clock.sleeps == []


# -- Tiers ----------------------------------------------------------------------------------


def tiered(mode, **options):
    return mode.client(
        route("top", tier=2, price=Price(input=10, output=30)),
        route("mid-dear", tier=1, price=Price(input=3, output=9)),
        route("cheap", tier=0, price=Price(input=0.1, output=0.4)),
        route("mid", tier=1, price=Price(input=1, output=3)),
        **options,
    )


def test_tier_picks_the_cheapest_route_at_or_above_it(mode, llm_faults, llm_fake):
    """tier=1: the cheapest route of tier >= 1 serves (not the cheaper tier-0 one)."""
    llm_fake.add("ok", times=None)
    client = tiered(mode).with_options(tier=1)
    reply = chat(mode, client)
    assert models_seen(llm_faults) == ["mid"]
    assert call_info(reply).model == "mid"
    chat(mode, tiered(mode).with_options(tier=2))
    assert models_seen(llm_faults) == ["mid", "top"]
    chat(mode, tiered(mode).with_options(tier=0))
    assert models_seen(llm_faults) == ["mid", "top", "cheap"]


def test_tier_fails_over_by_price_within_the_tier(mode, llm_faults, llm_fake):
    """tier=1: fallback order is by price among tiers >= 1; tier 0 is never used."""
    llm_fake.add("from top", model="top")
    llm_faults.add(faults.ServerError(503), model="mid", times=None)
    llm_faults.add(faults.ServerError(503), model="mid-dear", times=None)
    client = tiered(mode, max_retries=0).with_options(tier=1)
    reply = chat(mode, client)
    assert models_seen(llm_faults) == ["mid", "mid-dear", "top"]
    assert reply.choices[0].message.content == "from top"


def test_with_options_tier_shares_the_breaker(mode, llm_faults, llm_fake, llm_clock):
    """A tiered copy shares breakers with its parent (state is per route, not per copy)."""
    llm_fake.add("ok", times=None)
    llm_faults.add(faults.ServerError(503), model="mid", times=None)
    breaker = CircuitBreaker(failure_threshold=1, clock=llm_clock)
    parent = tiered(mode, max_retries=0, breaker=breaker)
    chat(mode, parent.with_options(tier=1))
    assert breaker.state(route("mid").key) == "open"
    reply = chat(mode, parent, model="mid")
    # the parent's own order after the named route: top, mid-dear, ...; mid is skipped
    assert models_seen(llm_faults) == ["mid", "mid-dear", "top"]
    assert call_info(reply).attempts[0].skipped


def test_unknown_tier_fails_naming_the_tiers(mode):
    """A tier no route has is a configuration error naming the tiers there are."""
    with pytest.raises(ClientConfigError, match=r"tier=3.*tiers: \[0, 1, 2\]"):
        mode.call(tiered(mode).with_options(tier=3).chat.completions.create)
