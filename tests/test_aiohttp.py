"""The openai SDK's aiohttp backend (DefaultAioHttpClient) records and replays too."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import openai
import pytest

import pytest_llm
from loopback import LoopbackServer

pytest.importorskip("aiohttp")


async def _calls(base_url: str) -> dict[str, Any]:
    async with openai.AsyncOpenAI(
        base_url=base_url, http_client=openai.DefaultAioHttpClient()
    ) as client:
        plain = await client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "aio"}]
        )
        stream = await client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "aio stream"}], stream=True
        )
        chunks = [c.model_dump() async for c in stream]
    return {"plain": plain.model_dump(), "chunks": chunks}


def test_aiohttp_backend_records_and_replays(tmp_path: Path, loopback: LoopbackServer) -> None:
    path = tmp_path / "aio.yaml"
    with pytest_llm.use_cassette(path, record="once"):
        live = asyncio.run(_calls(loopback.base_url))
    loopback.stop()
    with pytest_llm.use_cassette(path, check_unused=True) as cassette:
        replayed = asyncio.run(_calls(loopback.base_url))
    assert replayed == live
    assert len(live["chunks"]) > 3
    assert len(loopback.requests) == 2
    assert cassette.interactions[0].data["meta"]["http"].endswith("+aiohttp")


def test_aiohttp_backend_miss_fails_fast(tmp_path: Path, loopback: LoopbackServer) -> None:
    with (
        pytest.raises(pytest_llm.CassetteNotFound),
        pytest_llm.use_cassette(tmp_path / "none.yaml"),
    ):
        asyncio.run(_calls(loopback.base_url))
    assert loopback.requests == []
