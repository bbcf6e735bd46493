"""What the app's client does when the provider misbehaves, on the app's own calls.

The model's answers are the real recordings of ``test_triage.py`` (each test names the
cassette it replays); ``llm_faults`` puts a 429, a dead server or a broken stream in
front of them, and ``llm_clock`` makes every wait virtual: the client honours a
60-second deadline and 7-second Retry-Afters, and the tests still take milliseconds.
``call_info(result or error)`` tells what the client did.
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit

import openai
import pytest
from openai.types.chat import ParsedChatCompletion
from pytest_llm import FaultPlan, VirtualClock, faults
from pytest_llm.client import (
    RateLimitWaitTooLong,
    StreamIdleTimeout,
    StreamInterrupted,
    call_info,
)

import triage as app
from triage import Triage, arequest_triage, draft_reply, request_triage

DOUBLE_CHARGE = "I was charged twice for my March subscription. Please refund the second charge."
LABELLED = [
    ("I was charged twice for my March subscription. Please refund the second charge.", "billing"),
    ("The app crashes every time I click Export to PDF on the reports page.", "bug"),
    ("I cannot log in to my account: the password reset email never arrives.", "account"),
]


@pytest.fixture(autouse=True)
def _replay_only(request: pytest.FixtureRequest) -> None:
    # With faults in front, a recording run would write 429s and cut streams into
    # test_triage.py's cassettes: these tests only ever replay.
    mode = request.config.getoption("--llm-record") or os.environ.get("PYTEST_LLM_RECORD")
    if mode not in (None, "", "none"):
        pytest.skip("replays the recordings of test_triage.py; nothing to record here")


def parsed(completion: ParsedChatCompletion[Triage]) -> Triage:
    result = completion.choices[0].message.parsed
    assert result is not None
    return result


def recorded(test: str) -> pytest.MarkDecorator:
    """Replay the cassette ``test_triage.py::<test>`` recorded. It is borrowed: a test
    here replays what it needs of another test's recording (three of the four labelled
    tickets, say), so what it leaves unused is no finding (``check_unused=False``)."""
    return pytest.mark.llm_cassette(f"tests/test_triage/{test}.yaml", check_unused=False)


# -- rate limits --------------------------------------------------------------------------


@recorded("test_triage_returns_a_valid_triage[double-charge]")
def test_a_rate_limit_is_waited_out_as_the_provider_asks(
    llm_faults: FaultPlan, llm_clock: VirtualClock
) -> None:
    llm_faults.add(faults.RateLimited(retry_after=7))
    client = app.make_client(clock=llm_clock, seed=1)

    completion = request_triage(DOUBLE_CHARGE, client)

    assert parsed(completion).category == "billing"
    info = call_info(completion)
    assert [a.status for a in info.attempts] == [429, 200]
    assert info.attempts[0].retry_after == 7.0
    assert info.waits == [7.0]  # exactly the Retry-After: no jitter on a server's wait
    assert llm_clock.sleeps == [7.0]  # on the virtual clock: the test took no 7 s


def test_a_retry_after_longer_than_the_app_will_wait_fails_at_once(
    llm_faults: FaultPlan, llm_clock: VirtualClock
) -> None:
    # RETRY has max_retry_after=10: a ticket is not held for a minute. With no standby
    # to serve it, the call fails at once, saying how long the provider asked for.
    llm_faults.add(faults.RateLimited(retry_after=60))
    client = app.make_client(clock=llm_clock)

    with pytest.raises(RateLimitWaitTooLong) as caught:
        request_triage(DOUBLE_CHARGE, client)

    assert caught.value.retry_after == 60.0
    assert llm_clock.sleeps == []
    assert call_info(caught.value).requests == 1


def test_rate_limits_that_outlast_the_retries_raise_the_sdks_error(
    llm_faults: FaultPlan, llm_clock: VirtualClock
) -> None:
    # Three tries (max_retries=2), then openai's own exception: code that catches
    # openai.RateLimitError keeps working.
    llm_faults.add(faults.RateLimited(retry_after=2), times=3)
    client = app.make_client(clock=llm_clock)

    with pytest.raises(openai.RateLimitError) as caught:
        request_triage(DOUBLE_CHARGE, client)

    assert llm_clock.sleeps == [2.0, 2.0]
    assert [a.status for a in call_info(caught.value).attempts] == [429, 429, 429]


# -- fallback -----------------------------------------------------------------------------


@recorded("test_triage_returns_a_valid_triage[double-charge]")
def test_a_dead_primary_fails_over_to_the_standby(
    monkeypatch: pytest.MonkeyPatch, llm_faults: FaultPlan, llm_clock: VirtualClock
) -> None:
    monkeypatch.setenv("TRIAGE_STANDBY_BASE_URL", "http://standby.internal:8080/v1")
    llm_faults.add(faults.ConnectError(), times=3)  # the primary refuses every try
    client = app.make_client(clock=llm_clock, seed=1)

    completion = request_triage(DOUBLE_CHARGE, client)

    assert parsed(completion).category == "billing"
    info = call_info(completion)
    assert info.route == "standby"
    assert [(a.route, a.kind) for a in info.attempts] == [
        ("primary", "connect"),
        ("primary", "connect"),
        ("primary", "connect"),
        ("standby", None),
    ]
    assert len(info.waits) == 2  # backoff between the primary's tries, none before the standby
    assert llm_clock.sleeps == info.waits
    assert llm_faults.log[-1].url.startswith("http://standby.internal:8080/v1/")


@recorded("test_triage_agrees_with_human_labels_often_enough")
def test_once_the_primary_breaker_opens_tickets_go_straight_to_the_standby(
    monkeypatch: pytest.MonkeyPatch, llm_faults: FaultPlan, llm_clock: VirtualClock
) -> None:
    monkeypatch.setenv("TRIAGE_STANDBY_BASE_URL", "http://standby.internal:8080/v1")
    refused = faults.ConnectError()
    # Requests in the order they come: the primary refuses each one, the standby
    # (None) answers. The breaker opens at the primary's fifth failure.
    llm_faults.sequence(refused, refused, refused, None, refused, refused, None, None)
    client = app.make_client(clock=llm_clock, seed=1)
    tickets = [ticket for ticket, _ in LABELLED[:3]]

    infos = [call_info(request_triage(ticket, client)) for ticket in tickets]

    assert [info.route for info in infos] == ["standby"] * 3
    assert [info.requests for info in infos] == [4, 3, 1]  # 3 + 2 tries on the primary
    skipped = infos[2].attempts[0]
    assert (skipped.route, skipped.skipped, skipped.breaker) == ("primary", True, "open")
    hosts = [urlsplit(applied.url).hostname for applied in llm_faults.log]
    assert hosts[-1] == "standby.internal"  # the third ticket cost the primary nothing
    assert len(hosts) == 8


@pytest.mark.anyio
@recorded("test_atriage_returns_a_valid_triage[asyncio]")
async def test_async_triage_waits_out_a_rate_limit(
    llm_faults: FaultPlan, llm_clock: VirtualClock
) -> None:
    llm_faults.add(faults.RateLimited(retry_after=7))
    client = app.make_async_client(clock=llm_clock, seed=1)

    completion = await arequest_triage(DOUBLE_CHARGE, client)

    assert parsed(completion).category == "billing"
    assert call_info(completion).waits == [7.0]
    assert llm_clock.monotonic() == 7.0  # the call took 7 virtual seconds, nothing more


# -- streams ------------------------------------------------------------------------------


@recorded("test_draft_reply_streams_text[double-charge]")
def test_a_stream_that_fails_before_any_text_is_retried(
    llm_faults: FaultPlan, llm_clock: VirtualClock
) -> None:
    llm_faults.add(faults.ServerError(503))
    client = app.make_client(clock=llm_clock, seed=1)

    pieces = list(draft_reply(DOUBLE_CHARGE, client))

    assert len(pieces) > 1
    assert len(llm_clock.sleeps) == 1  # one backoff, then the whole reply


@recorded("test_draft_reply_streams_text[double-charge]")
def test_a_stream_cut_mid_reply_raises_with_the_text_so_far(
    llm_faults: FaultPlan, llm_clock: VirtualClock
) -> None:
    # Six SSE events reach the app (the role chunk, then text), then the connection
    # drops. The customer has seen the start of the reply: the client does not retry
    # (the reply would start over), it raises with what arrived.
    llm_faults.add(faults.ConnectionReset(after_chunks=6))
    client = app.make_client(clock=llm_clock)

    pieces: list[str] = []
    with pytest.raises(StreamInterrupted) as caught:
        pieces.extend(draft_reply(DOUBLE_CHARGE, client))  # keeps what came before the error

    assert pieces
    assert caught.value.partial_text == "".join(pieces)
    assert call_info(caught.value).requests == 1


@recorded("test_draft_reply_streams_text[double-charge]")
def test_a_stream_that_goes_quiet_is_given_up_after_the_chunk_timeout(
    llm_faults: FaultPlan, llm_clock: VirtualClock
) -> None:
    # The server stops sending for a minute after the 4th event; TIMEOUTS.chunk is 10 s.
    llm_faults.add(faults.Stall(after_chunk=4, seconds=60))
    client = app.make_client(clock=llm_clock)

    pieces: list[str] = []
    with pytest.raises(StreamIdleTimeout) as caught:
        pieces.extend(draft_reply(DOUBLE_CHARGE, client))  # keeps what came before the error

    assert caught.value.partial_text == "".join(pieces)
    assert llm_clock.monotonic() == pytest.approx(10.0)
