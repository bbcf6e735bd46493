"""Every baseline works on the happy path against the fake provider: one request, the
scripted answer back, streamed too where the baseline streams.

    pytest examples/clients/tests -p no:cacheprovider
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import inspect
import re
from typing import Any

import pytest

from examples.clients.check_reports import BASELINES as SIMPLE
from pytest_llm.conformance import Reply, Request, Setup
from pytest_llm.conformance import RouteSpec as R

NEEDS = {"litellm_router": "litellm", "instructor_reask": "instructor", "redis_cache": "fakeredis"}
QUESTION = Request(({"role": "user", "content": "Capital of France?"},), None, {"temperature": 0})


def adapters(name: str) -> list[Any]:
    # find_spec, not importorskip: importing litellm before examples.clients.litellm_router
    # sets LITELLM_LOCAL_MODEL_COST_MAP would fetch its price map (the guard blocks it)
    if name in NEEDS and importlib.util.find_spec(NEEDS[name]) is None:
        pytest.skip(f"{NEEDS[name]} is not installed")
    made = importlib.import_module(f"examples.clients.{name}").adapter()
    return list(made) if isinstance(made, list) else [made]


def run(value: Any) -> Any:
    return asyncio.run(_await(value)) if inspect.isawaitable(value) else value


async def _await(value: Any) -> Any:
    return await value


def close(adapter: Any, client: Any) -> None:
    run(adapter.close(client))


@pytest.mark.parametrize("name", SIMPLE)
def test_a_call_is_answered(name: str, llm_fake: Any, llm_clock: Any) -> None:
    for adapter in adapters(name):
        llm_fake.reset()
        llm_fake.add("Paris.")
        client = adapter.make(Setup(routes=(R("m1"),), clock=llm_clock))
        try:
            reply = run(adapter.call(client, QUESTION))
        finally:
            close(adapter, client)
        assert isinstance(reply, Reply), adapter.name
        assert reply.text == "Paris.", adapter.name
        assert [r.model for r in llm_fake.requests] == ["m1"], adapter.name
        assert llm_clock.sleeps == [], adapter.name


@pytest.mark.parametrize("name", SIMPLE)
def test_a_stream_is_answered(name: str, llm_fake: Any, llm_clock: Any) -> None:
    streaming = [a for a in adapters(name) if a.unsupported("stream") is None]
    if not streaming:
        pytest.skip(f"{name} does not stream")
    for adapter in streaming:
        llm_fake.reset()
        llm_fake.add("Paris is the capital.")
        client = adapter.make(Setup(routes=(R("m1"),), clock=llm_clock))

        async def read(client: Any = client, adapter: Any = adapter) -> str:
            pieces = adapter.stream(client, QUESTION)
            if hasattr(pieces, "__anext__"):
                return "".join([p async for p in pieces])
            return "".join(pieces)

        try:
            text = asyncio.run(read())
        finally:
            close(adapter, client)
        assert text == "Paris is the capital.", adapter.name
        assert len(llm_fake.requests) == 1, adapter.name


def test_the_fallback_loop_moves_on(llm_fake: Any, llm_faults: Any, llm_clock: Any) -> None:
    from pytest_llm.faults import HTTPError

    (adapter,) = adapters("fallback_loop")
    llm_faults.add(HTTPError(status=400), model="m1", times=None)
    llm_fake.add("from m2")
    client = adapter.make(Setup(routes=(R("m1"), R("m2")), clock=llm_clock, max_retries=0))
    reply = adapter.call(client, QUESTION)
    assert reply.text == "from m2"
    assert [r.model for r in llm_fake.requests] == ["m2"]


def test_the_redis_cache_answers_the_second_call(llm_fake: Any, llm_clock: Any) -> None:
    from pytest_llm.conformance import CacheSpec

    (adapter,) = adapters("redis_cache")
    llm_fake.add("Paris.")
    client = adapter.make(Setup(routes=(R("m1"),), clock=llm_clock, cache=CacheSpec()))
    first, second = adapter.call(client, QUESTION), adapter.call(client, QUESTION)
    assert (first.text, second.text, second.cache) == ("Paris.", "Paris.", "hit")
    assert len(llm_fake.requests) == 1


def test_the_sliding_window_waits_on_the_clock(llm_fake: Any, llm_clock: Any) -> None:
    from pytest_llm.conformance import RateLimitSpec

    (adapter,) = adapters("sliding_window")
    llm_fake.add("ok", times=None)
    client = adapter.make(Setup(routes=(R("m1"),), clock=llm_clock, rate_limit=RateLimitSpec(2)))
    for _ in range(3):
        adapter.call(client, QUESTION)
    assert llm_clock.sleeps == [60.0]  # the third call waited for the window, virtually


def test_tenacity_sleeps_on_the_clock(llm_fake: Any, llm_faults: Any, llm_clock: Any) -> None:
    from pytest_llm.faults import HTTPError

    (adapter,) = adapters("tenacity_retry")
    llm_faults.add(HTTPError(status=400), times=1)  # not retried by the SDK, by tenacity yes
    llm_fake.add("Paris.")
    client = adapter.make(Setup(routes=(R("m1"),), clock=llm_clock, backoff_base=0.5))
    assert adapter.call(client, QUESTION).text == "Paris."
    assert llm_clock.sleeps == [0.5]


def _verdict(number: int, adapter: Any, fake: Any, faults: Any, clock: Any) -> str:
    """Run one contract against ``adapter`` as the suite does: its verdict and evidence."""
    from pytest_llm.conformance import CONTRACTS
    from pytest_llm.conformance._context import ContractFailed, Ctx

    ctx = Ctx(adapter, fake=fake, faults=faults, clock=clock)

    async def check() -> None:
        try:
            await CONTRACTS[number].check(ctx)
        finally:
            await ctx.aclose()

    try:
        asyncio.run(check())
    except ContractFailed as exc:
        return f"fail: {exc}"
    return "pass: " + "; ".join(ctx.evidence)


@pytest.mark.parametrize(
    ("variant", "number", "evidence"),
    [
        ("ref-unclosed-stream", 29, "the response was still open after the break"),
        ("ref-pumped-stream", 23, "its response left open 120 s after the cancel"),
    ],
)
def test_a_broken_variant_fails_its_contract(
    variant: str, number: int, evidence: str, llm_fake: Any, llm_faults: Any, llm_clock: Any
) -> None:
    (adapter,) = [a for a in adapters("broken_reference") if a.name == variant]
    verdict = _verdict(number, adapter, llm_fake, llm_faults, llm_clock)
    assert verdict.startswith("fail: ")
    assert evidence in verdict


@pytest.mark.parametrize("factory", ["sync_adapter", "async_adapter"])
@pytest.mark.parametrize("number", [23, 29])
def test_the_reference_client_closes_what_it_opened(
    factory: str, number: int, llm_fake: Any, llm_faults: Any, llm_clock: Any
) -> None:
    from pytest_llm.conformance.adapters import reference

    adapter = getattr(reference, factory)()
    if adapter.unsupported("cancel") and number == 23:
        pytest.skip("contract 23 needs an async adapter")
    verdict = _verdict(number, adapter, llm_fake, llm_faults, llm_clock)
    assert verdict.startswith("pass: ")
    closed = "its response closed 0 s after the cancel" if number == 23 else "closed right after"
    assert closed in verdict
    if number == 29:
        # the prompt's tokens are counted by whichever tokenizer is installed
        assert re.search(r"partial usage recorded: [1-9][0-9]* in, 2 out", verdict), verdict


def test_every_contract_is_broken_by_a_committed_report() -> None:
    """A contract no baseline or broken variant fails would check nothing (issue 11)."""
    from examples.clients.check_reports import breaks_table

    unbroken = [line for line in breaks_table().splitlines() if line.endswith("| **none** |")]
    assert unbroken == []
