"""Context management: truncation and chunks at token and character boundaries, and a
conversation trimmed to a context window with its older turns summarised through the
client itself (retried, cached, recorded: one test replays a real model's summary)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import openai
import pytest
from client_helpers import route

from pytest_llm import faults
from pytest_llm.client import AsyncResilientClient, ClientConfigError, ResilientClient, Route
from pytest_llm.client._context import (
    SUMMARY_INSTRUCTIONS,
    SUMMARY_PREFIX,
    ContextBudgetError,
    _whole_start,
    atrim_conversation,
    chunk,
    plan_trim,
    trim_conversation,
    truncate,
)
from pytest_llm.client._tokens import count_request_tokens, count_tokens, tokenizer_for

MULTI = "Zürich 🎉👍🏽 日本語のテキスト 👨‍👩‍👧‍👦 and more text après."


# -- truncate ----------------------------------------------------------------------


def test_naive_token_slicing_breaks_characters_truncate_does_not():
    """The seed's ``decode(tokens[:n])`` leaves U+FFFD where a token holds part of an
    emoji; truncate never does, and it keeps the longest prefix that fits."""
    tok = tokenizer_for("gpt-4")
    ids = tok.encode(MULTI)
    broken = [n for n in range(len(ids)) if "\ufffd" in tok.decode(ids[:n])]
    assert broken  # the corpus does split characters: the test can fail
    for n in range(len(ids) + 2):
        out = truncate(MULTI, n, model="gpt-4")
        assert "\ufffd" not in out
        assert MULTI.startswith(out)
        assert count_tokens(out, "gpt-4") <= n
        # cut at the last token boundary (at most n) that is also a character boundary
        k = max(k for k in range(min(n, len(ids)) + 1) if _valid(tok.decode_bytes(ids[:k])))
        cut = tok.decode_bytes(ids[:k]).decode()
        assert out == _whole_start(MULTI, cut)  # and no half of a skin-toned emoji


def _valid(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def test_truncate_keeping_the_end():
    for n in range(0, 30):
        out = truncate(MULTI, n, model="gpt-4o", keep="end")
        assert MULTI.endswith(out)
        assert "\ufffd" not in out
        assert count_tokens(out, "gpt-4o") <= n
    assert truncate(MULTI, 0, model="gpt-4o") == ""


@pytest.mark.parametrize("keep", ["start", "end"])
def test_emoji_modifiers_and_zwj_sequences_stay_whole(keep):
    text = "ab 👍🏽 👨\u200d👩\u200d👧\u200d👦 e\u0301"  # skin tone, a ZWJ family, e + accent
    wholes = {"ab", "👍🏽", "👨\u200d👩\u200d👧\u200d👦", "e\u0301"}
    for n in range(25):
        out = truncate(text, n, model="gpt-4o", keep=keep)
        rest = text[len(out) :] if keep == "start" else text[: len(text) - len(out)]
        assert "\u200d" not in (out[-1:] if keep == "start" else out[:1])
        # the cut falls between two of the user-perceived characters
        pieces = out.split(" ") + rest.split(" ")
        assert all(p in wholes or p == "" or set(p) <= set("ab") for p in pieces), (n, out)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_tokens": -1}, r"max_tokens=-1: a token budget is a whole number"),
        ({"max_tokens": 10, "keep": "middle"}, r'(?s)keep=\'middle\'.*Fix: keep="end"'),
    ],
)
def test_truncate_bad_input(kwargs, message):
    with pytest.raises(ClientConfigError, match=message):
        truncate("text", **kwargs)


# -- chunk -------------------------------------------------------------------------

DOC = Path("/work/shared/seeds/004_e38db57033fbbfd6.txt").read_text()[:6000] + " ".join(
    f"{MULTI} #{i}" for i in range(20)
)


@pytest.mark.parametrize("overlap", [0, 16])
def test_chunks_fit_cover_the_text_and_overlap(overlap):
    pieces = chunk(DOC, 100, overlap=overlap, model="gpt-4o")
    assert len(pieces) > 10
    assert all(count_tokens(p, "gpt-4o") <= 100 and "\ufffd" not in p for p in pieces)
    pos = 0
    for i, piece in enumerate(pieces):
        start = DOC.index(piece, max(0, pos - len(piece)))
        assert start <= pos  # no gap: each piece starts at or before where the last ended
        if i and overlap:
            shared = pos - start
            assert shared > 0  # neighbours share text
            assert count_tokens(DOC[start:pos], "gpt-4o") <= overlap + 2
        pos = start + len(piece)
    assert pos == len(DOC)
    if overlap == 0:
        assert "".join(pieces) == DOC


def test_a_character_wider_than_the_window_is_kept_whole():
    family = "👨‍👩‍👧‍👦"
    pieces = chunk(family * 3, 1, model="gpt-4")
    assert "".join(pieces) == family * 3
    assert all("\ufffd" not in p for p in pieces)


@pytest.mark.parametrize(
    ("max_tokens", "overlap", "message"),
    [
        (100, 100, r"(?s)overlap=100\): the overlap is 0 or more and below max_tokens.*overlap=10"),
        (100, -1, r"overlap=-1"),
        (0, 0, r"max_tokens=0"),
    ],
)
def test_chunk_bad_input(max_tokens, overlap, message):
    with pytest.raises(ClientConfigError, match=message):
        chunk("text", max_tokens, overlap=overlap)


# -- conversations -----------------------------------------------------------------

SYSTEM = {"role": "system", "content": "You are the support assistant of Acme. Be brief."}


def conversation(turns: int) -> list[dict]:
    msgs = [SYSTEM]
    for i in range(turns):
        msgs.append(
            {"role": "user", "content": f"Question {i}: my order #{1000 + i} is late, where is it?"}
        )
        msgs.append(
            {"role": "assistant", "content": f"Order #{1000 + i} ships tomorrow from Lyon."}
        )
    return msgs


def test_a_conversation_that_fits_is_unchanged_and_costs_no_call(llm_fake):
    client = ResilientClient(routes=[route("gpt-4o-mini")])
    msgs = conversation(3)
    assert (
        trim_conversation(
            client, msgs, model="gpt-4o-mini", context_window=8000, max_output_tokens=500
        )
        == msgs
    )
    assert len(llm_fake.requests) == 0


def test_older_turns_are_summarised_through_the_client(llm_fake, llm_faults, llm_clock):
    """The summary call goes through the resilient client: a 503 is retried after the
    backoff on the virtual clock; the result fits the window; the system prompt stays
    first and the summary comes back as delimited user content, not as a system message."""
    llm_faults.add(faults.ServerError(503), times=1)
    llm_fake.add("Orders #1000-#1014 were late; all ship from Lyon.", contains="<transcript>")
    client = ResilientClient(routes=[route("gpt-4o-mini")], max_retries=2, seed=1)
    msgs = conversation(20)
    window, out = 400, 100
    trimmed = trim_conversation(
        client,
        msgs,
        model="gpt-4o-mini",
        context_window=window,
        max_output_tokens=out,
        summary_tokens=60,
    )
    assert count_request_tokens({"model": "gpt-4o-mini", "messages": msgs}) > window - out
    assert count_request_tokens({"model": "gpt-4o-mini", "messages": trimmed}) <= window - out
    assert trimmed[0] == SYSTEM
    assert trimmed[1]["role"] == "user"
    assert trimmed[1]["content"].startswith(SUMMARY_PREFIX)
    assert "Orders #1000-#1014 were late" in trimmed[1]["content"]
    assert trimmed[-2:] == msgs[-2:]
    assert [m for m in trimmed if m["role"] == "system"] == [SYSTEM]
    kept = trimmed[2:]
    assert kept == msgs[len(msgs) - len(kept) :]  # the most recent turns, in order
    # the summary request: instructions + the older turns as a delimited transcript
    sent = llm_fake.requests.last.json
    assert sent["messages"][0] == {"role": "system", "content": SUMMARY_INSTRUCTIONS}
    transcript = sent["messages"][1]["content"]
    older = len(msgs) - len(kept) - 1  # messages summarised
    last_older = msgs[older]["content"]
    assert transcript.startswith("<transcript>\n")
    assert transcript.endswith(f"{last_older}\n</transcript>")
    # the summary request fits the window too: the oldest turns were cut from it
    assert count_request_tokens(sent) + 60 <= window
    assert "Question 0:" not in transcript
    assert (sent["max_tokens"], sent["temperature"]) == (60, 0)
    assert (len(llm_faults.log), len(llm_clock.sleeps)) == (2, 1)  # retried once


def test_the_summary_call_is_cached_like_any_other(llm_fake):
    llm_fake.add("Earlier: late orders.", contains="<transcript>", times=1)
    client = ResilientClient(routes=[route("gpt-4o-mini")], cache=True)
    msgs = conversation(20)
    kw = dict(model="gpt-4o-mini", context_window=400, max_output_tokens=100, summary_tokens=60)
    first = trim_conversation(client, msgs, **kw)
    second = trim_conversation(client, msgs, **kw)
    assert first == second
    assert len(llm_fake.requests) == 1


def test_a_tool_result_stays_with_its_call():
    msgs = conversation(10)
    msgs += [
        {"role": "user", "content": "Weather in Lyon?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "c1",
                    "type": "function",
                    "function": {"name": "weather", "arguments": '{"city": "Lyon"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "12 C, rain " * 30},
    ]
    for window in range(150, 600, 10):
        try:
            plan = plan_trim(
                msgs, model="gpt-4o", context_window=window, max_output_tokens=20, summary_tokens=30
            )
        except ContextBudgetError:
            continue
        assert not plan.recent or plan.recent[0]["role"] != "tool"


def test_a_budget_below_the_system_prompt_names_both_sizes():
    big = {"role": "system", "content": "Rule. " * 300}
    with pytest.raises(ContextBudgetError) as err:
        plan_trim(
            [big, {"role": "user", "content": "hi"}],
            model="gpt-4o",
            context_window=400,
            max_output_tokens=100,
        )
    size = count_request_tokens({"model": "gpt-4o", "messages": [big]})
    assert str(err.value).splitlines()[0] == (
        f"the token budget 300 (context_window=400 minus max_output_tokens=100) is below "
        f"the system prompt's {size} tokens."
    )
    assert "Fix: shorten the system prompt" in str(err.value)


def test_a_last_message_too_big_for_the_budget_is_an_error():
    msgs = [SYSTEM, {"role": "user", "content": "long " * 500}]
    with pytest.raises(
        ContextBudgetError, match=r"(?s)the last message alone \(\d+ tokens\).*Fix: truncate\(\)"
    ):
        plan_trim(msgs, model="gpt-4o", context_window=400, max_output_tokens=100)


def test_async_trim(llm_fake, llm_clock):
    llm_fake.add("Earlier: late orders.", contains="<transcript>")
    client = AsyncResilientClient(routes=[route("gpt-4o-mini")])
    msgs = conversation(20)
    trimmed = asyncio.run(
        atrim_conversation(
            client,
            msgs,
            model="gpt-4o-mini",
            context_window=400,
            max_output_tokens=100,
            summary_tokens=60,
        )
    )
    assert trimmed[1]["content"].endswith("<summary>\nEarlier: late orders.\n</summary>")
    assert len(llm_fake.requests) == 1


# -- a real model's summary, replayed ------------------------------------------------

REAL_URL = os.environ.get("REAL_LLM_URL", "http://127.0.0.1:18080/v1")


@pytest.mark.llm_cassette(check_unused=True)
def test_summary_replayed_from_a_real_model(llm_cassette):
    """Recorded from SmolLM2-135M (``REAL_LLM_URL=http://127.0.0.1:8765/v1 pytest
    tests/client/test_context.py -k real --llm-record=once``); CI replays it offline."""
    client = ResilientClient(
        routes=[Route("smollm2", base_url=REAL_URL, api_key="sk-local")], max_retries=0
    )
    msgs = [
        {"role": "system", "content": "You are a helpful travel assistant."},
        {"role": "user", "content": "I want to visit Paris in May with my two children."},
        {"role": "assistant", "content": "May is a good time. Do you prefer museums or parks?"},
        {"role": "user", "content": "Parks, and our budget is 2000 euros for one week."},
        {
            "role": "assistant",
            "content": "Then stay near the Luxembourg Gardens; hotels there fit that budget.",
        },
        {"role": "user", "content": "Which day should we go to the Eiffel Tower?"},
    ]
    trimmed = trim_conversation(
        client, msgs, model="smollm2", context_window=200, max_output_tokens=80, summary_tokens=30
    )
    assert (trimmed[0], trimmed[-1]) == (msgs[0], msgs[-1])
    assert trimmed[1]["content"].startswith(SUMMARY_PREFIX)
    summary = trimmed[1]["content"].split("<summary>\n", 1)[1].rsplit("\n</summary>", 1)[0]
    assert summary.strip()  # the model wrote something
    recorded = llm_cassette.interactions[0].data
    assert recorded["request"]["json"]["messages"][0]["content"] == SUMMARY_INSTRUCTIONS
    reply = recorded["response"]["json"]["choices"][0]["message"]["content"]
    assert summary == reply.strip()
    assert recorded["meta"]["model"]
    assert isinstance(openai.__version__, str)
