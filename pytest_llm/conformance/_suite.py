"""The conformance suite as pytest collects it: one test per contract and adapter.

``--llm-conformance=MODULE:FACTORY`` adds this file to the session; the adapters come
from the factory (see ``_plugin.py``)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from ._context import ContractFailed, Ctx, NotApplicable
from ._contracts import CONTRACTS, Contract
from ._plugin import RECORD_KEY, adapters_of
from ._protocol import Adapter
from ._redis_server import RedisServer, redis_available


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "contract" not in metafunc.fixturenames:
        return
    cases = [(c, a) for a in adapters_of(metafunc.config) for c in CONTRACTS.values()]
    metafunc.parametrize(("contract", "adapter"), cases, ids=[f"{c.id}-{a.name}" for c, a in cases])


def test_contract(
    contract: Contract,
    adapter: Adapter,
    llm_fake: Any,
    llm_faults: Any,
    llm_clock: Any,
    request: pytest.FixtureRequest,
) -> None:
    ctx = Ctx(
        adapter,
        fake=llm_fake,
        faults=llm_faults,
        clock=llm_clock,
        redis=RedisServer if redis_available() else None,
    )
    record: dict[str, Any] = {
        "contract": contract.number,
        "family": contract.family,
        "title": contract.title,
        "adapter": adapter.name,
        "verdict": "fail",
        "evidence": "",
    }
    request.node.stash[RECORD_KEY] = record

    async def run() -> None:
        try:
            await contract.check(ctx)
        finally:
            await ctx.aclose()

    try:
        asyncio.run(run())
    except NotApplicable as exc:
        record.update(verdict="not applicable", evidence=str(exc))
        pytest.skip(f"not applicable: {exc}")
    except ContractFailed as exc:
        record["evidence"] = str(exc)
        raise
    except BaseException as exc:  # FakeMiss, WouldHang... are BaseExceptions
        done = "; ".join(ctx.evidence)
        record["evidence"] = f"{done + '; ' if done else ''}error: {type(exc).__name__}: {exc}"
        raise
    record.update(verdict="pass", evidence="; ".join(ctx.evidence))
