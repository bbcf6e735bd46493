"""Faults over the fake provider: the fake answers behind the faults (order 300 after 100)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from faults_support import STREAM_TIMEOUT, chat, stream_chunks, text_of

from pytest_llm import VirtualClock
from pytest_llm.faults import FaultPlan, MalformedJSON, RateLimited, Stall, malform

pytestmark = pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])


def test_rate_limits_then_the_fakes_answer(
    llm_faults: FaultPlan, llm_clock: VirtualClock, llm_fake: Any, is_async: bool
) -> None:
    llm_fake.add('{"category": "billing"}')
    llm_faults.add(RateLimited(retry_after=7), times=2)
    assert chat(is_async).choices[0].message.content == '{"category": "billing"}'
    assert llm_clock.sleeps == [7.0, 7.0]
    assert len(llm_fake.requests) == 1


def test_malformed_json_over_the_fakes_stream(
    llm_faults: FaultPlan, llm_fake: Any, is_async: bool
) -> None:
    doc = {"category": "billing", "urgent": True}
    llm_fake.add(json.dumps(doc))
    llm_faults.add(MalformedJSON("single_quotes"))
    assert text_of(stream_chunks(is_async)) == malform(json.dumps(doc), "single_quotes")


@pytest.mark.parametrize("api", ["chat", "responses"])
def test_stall_after_chunk_3_of_the_fakes_stream(
    llm_faults: FaultPlan, llm_clock: VirtualClock, llm_fake: Any, is_async: bool, api: str
) -> None:
    llm_fake.add("one two three four five six seven eight nine ten")
    llm_faults.add(Stall(after_chunk=3, seconds=60))
    with pytest.raises(STREAM_TIMEOUT) as info:
        stream_chunks(is_async, api, timeout=10)
    assert len(info.value.chunks) == 3  # type: ignore[attr-defined]
    assert llm_clock.sleeps == [10.0]
