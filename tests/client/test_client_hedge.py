"""Hedging end to end (async only), through the real openai SDK on the virtual clock.

``AsyncResilientClient(routes=[a, b], hedge=Hedge(delay=2))``: when a has not answered
after 2 s (virtual), the same request starts on b; the first complete answer wins, the
other request is cancelled, and both are recorded and costed in ``call_info``. The sync
client refuses ``hedge=``: a blocking call cannot be overtaken.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from client_helpers import MESSAGES, route, seen

from pytest_llm import VirtualClock
from pytest_llm.client import (
    AsyncResilientClient,
    ClientConfigError,
    DeadlineExceeded,
    Hedge,
    Price,
    ResilientClient,
    call_info,
)
from pytest_llm.client._usage import estimate_request_tokens
from pytest_llm.faults import FaultPlan, ServerError, Slow

A = route("a", price=Price(input=1.0, output=2.0))
B = route("b", price=Price(input=3.0, output=4.0))
C = route("c")


def ask(client: AsyncResilientClient, **kwargs: Any) -> Any:
    kwargs.setdefault("messages", MESSAGES)
    return asyncio.run(client.chat.completions.create(**kwargs))


def prompt_cost(price: Price, request: dict[str, Any] | None = None) -> float:
    tokens = estimate_request_tokens(request or {"messages": MESSAGES})
    return price.cost({"input_tokens": tokens, "output_tokens": 0, "total_tokens": tokens})


@pytest.mark.parametrize("api", ["chat", "responses"])
def test_a_slow_primary_is_overtaken_by_the_hedge_after_the_delay(
    llm_fake: Any, llm_faults: FaultPlan, llm_clock: VirtualClock, api: str
) -> None:
    llm_fake.add("Paris", times=2)
    llm_faults.add(Slow(seconds=30), model="a")
    client = AsyncResilientClient([A, B], hedge=Hedge(delay=2), clock=llm_clock)

    if api == "chat":
        reply = ask(client)
        assert reply.choices[0].message.content == "Paris"
    else:
        reply = asyncio.run(client.responses.create(input="Capital of France?"))
        assert reply.output_text == "Paris"
    assert reply.model == "b"

    assert llm_clock.monotonic() == 2.0  # the hedge answered at once, 2 s in; a never did
    assert llm_clock.sleeps == [30.0]  # a's slow reply, cut (the hedge timer is no wait)
    assert [seen(llm_faults, m) for m in "ab"] == [1, 1]
    info = call_info(reply)
    primary, hedge = info.attempts
    assert (primary.route, primary.hedge, primary.kind, primary.reason) == (
        "a@llm.test",
        False,
        "cancelled",
        "hedge won: cancelled",
    )
    assert (primary.started, primary.ended) == (0.0, 2.0)
    assert (hedge.route, hedge.hedge, hedge.status, hedge.started) == ("b@llm.test", True, 200, 2.0)
    assert info.route == "b@llm.test"
    assert info.usage == hedge.usage
    # both requests were sent, both are costed: b on its usage, a on its prompt (estimated)
    assert hedge.cost == pytest.approx(B.price.cost(hedge.usage))
    assert hedge.cost > 0
    assert primary.usage is not None
    assert primary.usage["estimated"] == 1
    request = {"messages": MESSAGES} if api == "chat" else {"input": "Capital of France?"}
    assert primary.cost == pytest.approx(prompt_cost(A.price, request))
    assert primary.cost > 0
    assert info.cost == pytest.approx(primary.cost + hedge.cost)
    assert client.breaker.state(A.key) == "closed"  # a cancelled race is no failure (37)


def test_a_hedged_stream_hands_over_the_winners_stream_with_one_preamble(
    llm_fake: Any, llm_faults: FaultPlan, llm_clock: VirtualClock
) -> None:
    llm_fake.add("Hello", chunks=["Hel", "lo"], times=2)
    llm_faults.add(Slow(seconds=30), model="a")
    client = AsyncResilientClient([A, B], hedge=Hedge(delay=2), clock=llm_clock)

    async def main() -> tuple[Any, list[Any]]:
        stream = await client.chat.completions.create(messages=MESSAGES, stream=True)
        return stream, [chunk async for chunk in stream]

    stream, chunks = asyncio.run(main())

    deltas = [(c.choices[0].delta.role, c.choices[0].delta.content) for c in chunks]
    assert deltas == [("assistant", ""), (None, "Hel"), (None, "lo"), (None, None)]
    assert {c.model for c in chunks} == {"b"}
    assert llm_clock.monotonic() == 2.0
    info = call_info(stream)
    assert [(a.route, a.hedge, a.reason) for a in info.attempts] == [
        ("a@llm.test", False, "hedge won: cancelled"),
        ("b@llm.test", True, None),
    ]
    assert [seen(llm_faults, m) for m in "ab"] == [1, 1]


def test_no_hedge_when_the_primary_answers_in_time(
    llm_fake: Any, llm_faults: FaultPlan, llm_clock: VirtualClock
) -> None:
    llm_fake.add("Paris")
    llm_faults.add(Slow(seconds=1.5), model="a")
    client = AsyncResilientClient([A, B], hedge=Hedge(delay=2), clock=llm_clock)

    reply = ask(client)

    assert reply.model == "a"
    assert llm_clock.monotonic() == 1.5
    assert [seen(llm_faults, m) for m in "ab"] == [1, 0]
    info = call_info(reply)
    assert [(a.route, a.hedge, a.status) for a in info.attempts] == [("a@llm.test", False, 200)]
    assert info.cost == pytest.approx(A.price.cost(info.usage))


def test_the_primary_wins_when_the_hedge_is_slower(
    llm_fake: Any, llm_faults: FaultPlan, llm_clock: VirtualClock
) -> None:
    llm_fake.add("Paris", times=2)
    llm_faults.add(Slow(seconds=5), model="a")
    llm_faults.add(Slow(seconds=30), model="b")
    client = AsyncResilientClient([A, B], hedge=Hedge(delay=2), clock=llm_clock)

    reply = ask(client)

    assert reply.model == "a"
    assert llm_clock.monotonic() == 5.0
    info = call_info(reply)
    primary, hedge = info.attempts
    assert (primary.route, primary.status) == ("a@llm.test", 200)
    assert (hedge.route, hedge.hedge, hedge.kind, hedge.reason) == (
        "b@llm.test",
        True,
        "cancelled",
        "hedge lost: cancelled",
    )
    assert (hedge.started, hedge.ended) == (2.0, 5.0)
    assert hedge.cost == pytest.approx(prompt_cost(B.price))
    assert info.route == "a@llm.test"
    assert info.cost == pytest.approx(primary.cost + hedge.cost)
    assert [seen(llm_faults, m) for m in "ab"] == [1, 1]


def test_a_failed_hedge_leaves_the_race_to_the_primary(
    llm_fake: Any, llm_faults: FaultPlan, llm_clock: VirtualClock
) -> None:
    llm_fake.add("Paris")
    llm_faults.add(Slow(seconds=6), model="a")
    llm_faults.add(ServerError(503), model="b")
    client = AsyncResilientClient([A, B], hedge=Hedge(delay=2), clock=llm_clock)

    reply = ask(client)

    assert reply.model == "a"
    assert llm_clock.monotonic() == 6.0
    info = call_info(reply)
    assert [(a.route, a.hedge, a.status) for a in info.attempts] == [
        ("a@llm.test", False, 200),
        ("b@llm.test", True, 503),
    ]
    assert [seen(llm_faults, m) for m in "ab"] == [1, 1]


def test_a_primary_that_fails_before_the_delay_fails_over_without_a_hedge(
    llm_fake: Any, llm_faults: FaultPlan, llm_clock: VirtualClock
) -> None:
    llm_fake.add("Paris")
    llm_faults.add(ServerError(503), model="a")
    client = AsyncResilientClient([A, B], hedge=Hedge(delay=2), max_retries=0, clock=llm_clock)

    reply = ask(client)

    assert reply.model == "b"
    assert llm_clock.monotonic() == 0.0  # nothing waited: no hedge timer ran out
    info = call_info(reply)
    assert [(a.route, a.hedge, a.status) for a in info.attempts] == [
        ("a@llm.test", False, 503),
        ("b@llm.test", False, 200),
    ]
    assert [seen(llm_faults, m) for m in "ab"] == [1, 1]


def test_hedge_at_a_percentile_once_enough_latencies_are_in(
    llm_fake: Any, llm_faults: FaultPlan, llm_clock: VirtualClock
) -> None:
    llm_fake.add("Paris", times=5)
    for seconds in (1, 3, 2):  # three samples of a's latency: median 2 s
        llm_faults.add(Slow(seconds=seconds), model="a")
    llm_faults.add(Slow(seconds=30), model="a")
    hedge = Hedge(delay=100, percentile=50, min_samples=3)
    client = AsyncResilientClient([A, B], hedge=hedge, clock=llm_clock)

    async def main() -> list[Any]:
        # one event loop: the race of the fourth call runs on the same clock
        return [await client.chat.completions.create(messages=MESSAGES) for _ in range(4)]

    replies = asyncio.run(main())

    # the first three: fewer than min_samples, so the 100 s delay: no hedge for 1-3 s
    assert [r.model for r in replies] == ["a", "a", "a", "b"]
    assert [len(call_info(r).attempts) for r in replies[:3]] == [1, 1, 1]
    last = call_info(replies[3])
    start = 1.0 + 3.0 + 2.0
    assert [(a.route, a.hedge, a.started) for a in last.attempts] == [
        ("a@llm.test", False, start),
        ("b@llm.test", True, start + 2.0),  # the median of a's latencies, not 100 s
    ]
    assert llm_clock.monotonic() == start + 2.0
    assert [seen(llm_faults, m) for m in "ab"] == [4, 1]


def test_only_the_next_route_is_a_hedge(
    llm_fake: Any, llm_faults: FaultPlan, llm_clock: VirtualClock
) -> None:
    llm_fake.add("Paris", times=2)
    llm_faults.add(Slow(seconds=30), model="a")
    llm_faults.add(Slow(seconds=30), model="b")
    client = AsyncResilientClient([A, B, C], hedge=Hedge(delay=2), clock=llm_clock)

    reply = ask(client)

    # a and b race; c is never started as a third request
    assert reply.model == "a"
    assert llm_clock.monotonic() == 30.0
    assert [seen(llm_faults, m) for m in "abc"] == [1, 1, 0]


# -- configuration ------------------------------------------------------------------------


def test_the_sync_client_refuses_hedging(llm_clock: VirtualClock) -> None:
    with pytest.raises(ClientConfigError) as caught:
        ResilientClient([A, B], hedge=Hedge(delay=2), clock=llm_clock)
    message = str(caught.value)
    assert "ResilientClient(hedge=...)" in message
    assert "Fix: use AsyncResilientClient(hedge=...)" in message

    client = ResilientClient([A, B], clock=llm_clock)
    with pytest.raises(ClientConfigError, match="needs the async client"):
        client.with_options(hedge=2)


@pytest.mark.parametrize(
    ("options", "needle"),
    [
        ({"hedge": Hedge(delay=2), "routes": [A]}, "there are 1 route(s)"),
        ({"hedge": "fast"}, "expected Hedge(...) or a delay in seconds"),
    ],
)
def test_bad_hedge_configuration(options: dict[str, Any], needle: str) -> None:
    routes = options.pop("routes", [A, B])
    with pytest.raises(ClientConfigError) as caught:
        AsyncResilientClient(routes, **options)
    assert needle in str(caught.value)


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [({"delay": -1}, "Hedge(delay=-1)"), ({"percentile": 100}, "Hedge(percentile=100)")],
)
def test_bad_hedge_values(kwargs: dict[str, Any], needle: str) -> None:
    with pytest.raises(ClientConfigError, match=needle.replace("(", r"\(").replace(")", r"\)")):
        Hedge(**kwargs)


def test_a_failed_hedge_and_a_slow_primary_end_at_the_deadline(
    llm_fake: Any, llm_faults: FaultPlan, llm_clock: VirtualClock
) -> None:
    llm_fake.add("Paris")
    llm_faults.add(Slow(seconds=30), model="a")
    llm_faults.add(ServerError(503), model="b")
    # a bare number is a Hedge(delay=...)
    client = AsyncResilientClient([A, B], hedge=1.5, max_retries=0, deadline=10, clock=llm_clock)

    with pytest.raises(DeadlineExceeded) as caught:
        ask(client)

    assert llm_clock.monotonic() == 10.0
    info = call_info(caught.value)
    assert [(a.route, a.hedge, a.status, a.started) for a in info.attempts] == [
        ("a@llm.test", False, None, 0.0),
        ("b@llm.test", True, 503, 1.5),
    ]
    assert [seen(llm_faults, m) for m in "ab"] == [1, 1]
