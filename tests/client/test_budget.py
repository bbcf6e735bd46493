"""Budget: atomic reserve/settle/release, hour and day buckets, prices.

Every budget test runs on the in-memory state and on a real redis-server (scripts on
the test's virtual clock): one suite for both stores.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import threading

import pytest
from shared_state_helpers import backend, clock, redis_server, run_async, store

from pytest_llm import VirtualClock
from pytest_llm.client import BudgetExceeded, ClientConfigError, Price, Route
from pytest_llm.client._budget import Budget, BudgetLimitExceeded
from pytest_llm.client._prices import DEFAULT_PRICES, PRICES_DATE, PriceTable, cost
from pytest_llm.client._redis import RedisStore

__all__ = ["backend", "clock", "redis_server", "store"]  # fixtures, imported on purpose

ROUTE = "gpt-4o-mini@api.openai.com"


def budget(clock: VirtualClock, store: RedisStore | None, **kw: object) -> Budget:
    return Budget(clock=clock, store=store, **kw)  # type: ignore[arg-type]


# -- concurrency never overshoots ------------------------------------------------------


def test_200_threads_against_a_budget_for_50_admit_exactly_50(
    clock: VirtualClock, store: RedisStore | None
) -> None:
    b = budget(clock, store, hourly=50)
    admitted: list[object] = []
    refused: list[BudgetLimitExceeded] = []
    other: list[BaseException] = []
    start = threading.Barrier(200)

    def one() -> None:
        start.wait()
        try:
            admitted.append(b.reserve(ROUTE, 1))
        except BudgetLimitExceeded as exc:
            refused.append(exc)
        except BaseException as exc:  # pragma: no cover - reported below
            other.append(exc)

    threads = [threading.Thread(target=one) for _ in range(200)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert other == []
    assert (len(admitted), len(refused)) == (50, 150)
    assert {e.limit for e in refused} == {"hourly"}
    assert b.used() == {"hourly": 50.0}


@run_async
async def test_200_tasks_against_a_budget_for_50_admit_at_most_50_and_release_on_failure(
    clock: VirtualClock, store: RedisStore | None
) -> None:
    b = budget(clock, store, daily=5000, unit="tokens")
    sent = 0

    async def one(i: int) -> str:
        nonlocal sent
        try:
            res = b.reserve(ROUTE, 100)  # estimate: 100 tokens each, 50 fit
        except BudgetExceeded:
            return "refused"
        sent += 1
        try:
            await clock.asleep(1 + i % 7)  # the call
            if i % 10 == 0:
                raise ConnectionError("the call failed")
        except ConnectionError:
            res.release()
            return "failed"
        res.settle(60)  # it used less than estimated
        return "ok"

    out = await asyncio.gather(*(one(i) for i in range(200)))
    assert sent == out.count("ok") + out.count("failed")
    assert sent <= 50
    assert out.count("ok") + out.count("failed") == 50  # all reservations at t=0: 50 fit
    assert b.used() == {"daily": 60.0 * out.count("ok")}
    assert b.used()["daily"] <= 5000


# -- reserve, settle, release ----------------------------------------------------------


def test_settle_books_the_actual_and_release_gives_back(
    clock: VirtualClock, store: RedisStore | None
) -> None:
    b = budget(clock, store, hourly=1000)
    first = b.reserve(ROUTE, 800)
    with pytest.raises(BudgetLimitExceeded) as info:
        b.reserve(ROUTE, 300)
    assert info.value.left == 200.0
    first.settle(150)
    second = b.reserve(ROUTE, 300)
    assert b.used() == {"hourly": 450.0}
    second.release()
    second.release()  # idempotent
    second.settle(300)  # after release: nothing
    assert second.done == "released"
    assert b.used() == {"hourly": 150.0}


def test_message_names_the_limit_and_what_is_left(
    clock: VirtualClock, store: RedisStore | None
) -> None:
    clock.advance(10 * 60)
    b = budget(clock, store, hourly=50)
    b.reserve(ROUTE, 40)
    with pytest.raises(BudgetLimitExceeded) as info:
        b.reserve(ROUTE, 25)
    assert str(info.value) == (
        "budget: the hourly limit of 50 tokens (all routes) has 10 tokens left and this "
        f"request on {ROUTE} needs ~25 tokens; not sent (the window resets at "
        "2026-01-01 01:00 UTC).\n"
        "Fix: raise Budget(hourly=...), lower max_tokens, or wait for the reset."
    )
    assert (info.value.limit, info.value.left, info.value.needed) == ("hourly", 10.0, 25)
    assert info.value.resets_at == dt.datetime(2026, 1, 1, 1, tzinfo=dt.UTC)


def test_hour_bucket_resets_at_the_top_of_the_hour_day_bucket_at_midnight(
    clock: VirtualClock, store: RedisStore | None
) -> None:
    b = budget(clock, store, hourly=50, daily=120)
    clock.advance(59 * 60)  # 00:59
    b.reserve(ROUTE, 50).settle(50)
    with pytest.raises(BudgetLimitExceeded, match="hourly"):
        b.reserve(ROUTE, 1)
    clock.advance(60)  # 01:00: a new hour, the same day
    b.reserve(ROUTE, 50).settle(50)
    clock.advance(3600)  # 02:00
    with pytest.raises(BudgetLimitExceeded, match="daily limit of 120 tokens") as info:
        b.reserve(ROUTE, 21)
    assert info.value.left == 20.0
    clock.advance(22 * 3600)  # 00:00 the next day
    assert b.used() == {"hourly": 0.0, "daily": 0.0}
    b.reserve(ROUTE, 50)


def test_per_route_budgets_are_separate(clock: VirtualClock, store: RedisStore | None) -> None:
    b = budget(clock, store, hourly=10, per_route=True)
    b.reserve("a", 10)
    b.reserve("b", 10)
    with pytest.raises(BudgetLimitExceeded, match="route a"):
        b.reserve("a", 1)


def test_per_request_limit_is_checked_before_booking(
    clock: VirtualClock, store: RedisStore | None
) -> None:
    b = budget(clock, store, per_request=100, hourly=1000)
    with pytest.raises(BudgetLimitExceeded, match="over the per_request limit of 100 tokens"):
        b.reserve(ROUTE, 101)
    assert b.used() == {"hourly": 0.0}


def test_money_budget_in_dollars_without_float_drift(
    clock: VirtualClock, store: RedisStore | None
) -> None:
    route = Route("gpt-4o-mini")
    b = budget(clock, store, daily=0.003, unit="usd")
    estimate = b.estimate(route, prompt_tokens=1000, max_tokens=1000)
    assert estimate == pytest.approx((1000 * 0.15 + 1000 * 0.60) / 1e6)  # $0.00075
    held = [b.reserve(route.key, estimate) for _ in range(4)]
    with pytest.raises(BudgetLimitExceeded, match=r"daily limit of \$0.003 .* has \$0 left"):
        b.reserve(route.key, estimate)
    usage = {"input_tokens": 1000, "output_tokens": 200, "cached_tokens": 400}
    actual = b.amount(route, usage)
    assert actual == pytest.approx((600 * 0.15 + 400 * 0.075 + 200 * 0.60) / 1e6)
    for res in held:
        res.settle(actual)
    assert b.used()["daily"] == pytest.approx(4 * actual, abs=1e-9)


# -- prices -------------------------------------------------------------------------------


def test_money_budget_needs_a_price_for_every_route() -> None:
    b = Budget(daily=5.0, unit="usd")
    b.check_routes([Route("gpt-4o"), Route("my-local", price=Price(input=0, output=0))])
    with pytest.raises(ClientConfigError) as info:
        b.check_routes([Route("gpt-4o"), Route("llama3", base_url="http://localhost:8000/v1")])
    text = str(info.value)
    assert "route 'llama3@localhost:8000' (model 'llama3') has no price" in text
    assert f"the shipped table ({PRICES_DATE})" in text
    assert "Fix: Route('llama3', price=Price(input=..., output=...))" in text
    Budget(daily=1000).check_routes([Route("llama3")])  # a token budget needs no price


def test_price_table_defaults_snapshots_and_overrides() -> None:
    table = PriceTable({"gpt-4o": Price(input=1.0, output=2.0), "mine": Price(0.1, 0.2)})
    assert table.get("gpt-4o") == Price(input=1.0, output=2.0)  # overridden
    assert table.get("gpt-4o-mini-2024-07-18") == DEFAULT_PRICES["gpt-4o-mini"]  # snapshot
    assert table.get("gpt-4-0613") is None  # no family price shipped
    assert table.get("mine") == Price(0.1, 0.2)
    assert PriceTable(defaults=False).get("gpt-4o") is None
    usage = {"prompt_tokens": 2_000_000, "completion_tokens": 1_000_000}
    assert cost("gpt-4o", usage) == pytest.approx(2 * 2.50 + 10.00)
    assert cost("unknown-model", usage) == 0.0
    assert cost("gpt-4o", usage, table) == pytest.approx(2 * 1.0 + 2.0)


# -- configuration ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"daily": -1}, "Budget(daily=-1): a budget limit is a finite amount of tokens above 0"),
        ({"hourly": 0}, "Budget(hourly=0): a budget limit is a finite amount of tokens above 0"),
        ({"daily": float("nan"), "unit": "usd"}, "Budget(daily=nan): a budget limit"),
        ({}, "Budget(): no limit given"),
        ({"daily": 5, "unit": "dollars"}, "Budget(unit='dollars'): unknown unit"),
        ({"dayly": 5}, "Budget() got an unknown option 'dayly'; did you mean 'daily'?"),
    ],
)
def test_bad_configuration_is_refused_at_construction(
    kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(ClientConfigError) as info:
        Budget(**kwargs)  # type: ignore[arg-type]
    assert str(info.value).startswith(message)
    assert "\nFix: " in str(info.value)


def test_repr() -> None:
    assert repr(Budget(daily=5.0, unit="usd")) == "Budget(daily=5.0, unit='usd', store=memory)"
