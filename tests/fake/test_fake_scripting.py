"""Scripting: order, matchers, times, the default reply, strict mode, the request log."""

from __future__ import annotations

import contextlib
import json
import threading
from typing import Any

import openai
import pytest
from fake_helpers import call

from pytest_llm import FakeMiss, FakeProvider
from pytest_llm._flow import Exchange, Outcome, Reply
from pytest_llm.fake import DEFAULT_REPLY, FakeScriptError, FakeUnused


def _chat(user: str = "hi", model: str = "gpt-4o-mini", **extra: Any) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": user}], **extra}


def _text(reply: Reply) -> str:
    doc = json.loads(reply.body)
    if "choices" in doc:
        return str(doc["choices"][0]["message"]["content"])
    return "".join(
        part["text"]
        for item in doc["output"]
        if item["type"] == "message"
        for part in item["content"]
    )


def test_scripts_answer_in_the_order_they_were_added_then_the_default() -> None:
    fake = FakeProvider()
    fake.add("first")
    fake.add("second")
    assert [_text(call(fake, "chat", _chat())) for _ in range(3)] == [
        "first",
        "second",
        DEFAULT_REPLY,
    ]


def test_a_script_serves_either_generative_api() -> None:
    fake = FakeProvider()
    fake.add("to chat")
    fake.add("to responses")
    assert _text(call(fake, "responses", {"model": "m", "input": "x"})) == "to chat"
    assert _text(call(fake, "chat", _chat())) == "to responses"


def test_matchers_pick_by_model_substring_api_and_predicate() -> None:
    fake = FakeProvider()
    by_model = fake.add("from gpt-4o", model="gpt-4o")
    by_text = fake.add("about weather", contains="weather")
    by_api = fake.add("responses only", api="responses")
    by_pred = fake.add("streamed", match=lambda r: r.stream)
    assert _text(call(fake, "responses", {"model": "m", "input": "hello"})) == "responses only"
    assert _text(call(fake, "chat", _chat("what's the weather?"))) == "about weather"
    assert _text(call(fake, "chat", _chat(model="gpt-4o"))) == "from gpt-4o"
    reply = call(fake, "chat", _chat(stream=True))
    assert reply.events is not None
    assert "streamed" in "".join(ev.data for ev in reply.events)
    assert [s.calls for s in (by_model, by_text, by_api, by_pred)] == [1, 1, 1, 1]
    assert fake.unused() == []


def test_first_added_match_wins_and_a_skipped_script_waits_for_its_request() -> None:
    fake = FakeProvider()
    fake.add("anything")
    fake.add("for gpt-4o", model="gpt-4o")
    assert _text(call(fake, "chat", _chat(model="gpt-4o"))) == "anything"
    assert _text(call(fake, "chat", _chat(model="other"))) == DEFAULT_REPLY
    assert _text(call(fake, "chat", _chat(model="gpt-4o"))) == "for gpt-4o"


def test_contains_looks_at_the_last_user_message_only() -> None:
    fake = FakeProvider(check_unused=False)
    fake.add("matched", contains="needle")
    body = {
        "model": "m",
        "messages": [
            {"role": "system", "content": "needle in the system prompt"},
            {"role": "user", "content": "needle?"},
            {"role": "assistant", "content": "..."},
            {"role": "user", "content": [{"type": "text", "text": "no match here"}]},
        ],
    }
    assert _text(call(fake, "chat", body)) == DEFAULT_REPLY
    body["messages"][-1]["content"].append({"type": "text", "text": "a needle"})
    assert _text(call(fake, "chat", body)) == "matched"
    responses_body = {
        "model": "m",
        "input": [{"role": "user", "content": [{"type": "input_text", "text": "needle"}]}],
    }
    fake.add("again", contains="needle")
    assert _text(call(fake, "responses", responses_body)) == "again"


def test_times_counts_uses_and_none_means_every_time() -> None:
    fake = FakeProvider()
    twice = fake.add("twice", times=2)
    always = fake.add("always", times=None)
    assert [_text(call(fake, "chat", _chat())) for _ in range(4)] == [
        "twice",
        "twice",
        "always",
        "always",
    ]
    assert (twice.calls, twice.exhausted, always.calls, always.exhausted) == (2, True, 2, False)


def test_default_reply_is_configurable_and_may_be_json() -> None:
    fake = FakeProvider(default={"ok": True})
    assert _text(call(fake, "chat", _chat())) == '{"ok": true}'
    fake.configure(default="plain")
    assert _text(call(fake, "responses", {"model": "m", "input": "x"})) == "plain"


def test_strict_miss_lists_every_script_and_why_it_did_not_match() -> None:
    fake = FakeProvider(strict=True)
    fake.add("used", times=1)
    fake.add("gpt-4o only", model="gpt-4o")
    fake.add("weather only", contains="weather")
    fake.add("responses only", api="responses")

    def streaming(request: Any) -> bool:
        return bool(request.stream)

    fake.add("streams only", match=streaming)
    call(fake, "chat", _chat())
    with pytest.raises(FakeMiss) as info:
        call(fake, "chat", _chat("What is the capital of France?"))
    assert str(info.value).splitlines() == [
        "llm_fake has no reply for POST /v1/chat/completions (chat, model 'gpt-4o-mini', last "
        "user message 'What is the capital of France?'): no scripted reply matches and strict "
        "mode is on.",
        "Scripted replies:",
        "  #1 text 'used', used 1 of 1: used up (1 of 1)",
        "  #2 text 'gpt-4o only' [model='gpt-4o'], used 0 of 1: model is 'gpt-4o-mini', not 'gpt-4o'",
        "  #3 text 'weather only' [contains='weather'], used 0 of 1: the last user message has no "
        "'weather'",
        "  #4 text 'responses only' [api='responses'], used 0 of 1: answers responses, this is chat",
        "  #5 text 'streams only' [match=streaming], used 0 of 1: match=streaming returned false",
        "Fix: script it with llm_fake.add('...') (optionally api=, model=, contains=, match=, "
        "times=), or turn strict mode off to get the default reply.",
    ]
    assert fake.misses == [str(info.value)]


def test_strict_miss_with_nothing_scripted() -> None:
    fake = FakeProvider(default=None)
    with pytest.raises(FakeMiss) as info:
        call(fake, "responses", {"model": "m", "input": "hi"})
    assert str(info.value).splitlines() == [
        "llm_fake has no reply for POST /v1/responses (responses, model 'm', last user message "
        "'hi'): no scripted reply matches and the default reply is off (default=None).",
        "Nothing is scripted.",
        "Fix: script it with llm_fake.add('...') (optionally api=, model=, contains=, match=, "
        "times=), or turn strict mode off to get the default reply.",
    ]


def test_strict_miss_goes_through_the_sdk_retry_loop_untouched() -> None:
    # A plain exception would become a retried APIConnectionError with real sleeps.
    client = openai.OpenAI(api_key="sk-test")  # default: 2 retries
    with FakeProvider(strict=True, check_unused=False) as fake:
        # answered with an error no SDK retries (pytest_llm._miss), naming the miss
        with pytest.raises(openai.APIStatusError) as info:
            client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
        assert len(fake.requests) == 1
        assert info.value.status_code == 418
        assert info.value.body["message"] == fake.misses[0]  # type: ignore[index]
        fake.misses.clear()


def test_predicate_errors_name_the_script_and_the_request() -> None:
    fake = FakeProvider()
    fake.add("x", match=lambda r: r.json["metadata"]["tenant"] == "a")
    with pytest.raises(FakeScriptError) as info:
        call(fake, "chat", _chat())
    assert str(info.value).splitlines() == [
        "llm_fake: the match= predicate of script #1 text 'x' [match=<lambda>], used 0 of 1 "
        "raised KeyError: 'metadata' on request #1 (chat, model 'gpt-4o-mini').",
        "Fix: make the predicate return False for requests it does not handle (e.g. use "
        "request.json.get(...) rather than request.json[...]).",
    ]


def test_request_log_keeps_parsed_requests_and_the_script_that_answered() -> None:
    fake = FakeProvider()
    script = fake.add("hello")
    call(fake, "chat", _chat("first question", temperature=0.2))
    call(fake, "responses", {"model": "gpt-4.1", "input": "second", "stream": True})
    call(fake, "embeddings", {"model": "text-embedding-3-small", "input": "third"})
    log = fake.requests
    assert len(log) == 3
    first, second, third = log
    assert (first.api, first.model, first.stream, first.number) == ("chat", "gpt-4o-mini", False, 1)
    assert first.json["temperature"] == 0.2
    assert first.last_user_message == "first question"
    assert first.script is script
    assert first.header("content-type") == "application/json"
    assert (second.api, second.stream, second.script) == ("responses", True, None)
    assert third.api == "embeddings"
    assert log.last is third is fake.last
    assert log[-2:] == [second, third]
    assert repr(first) == "<FakeRequest #1 chat model='gpt-4o-mini' 'first question'>"
    assert repr(second) == "<FakeRequest #2 responses model='gpt-4.1' stream 'second'>"


def test_last_with_no_request_explains_itself() -> None:
    fake = FakeProvider()
    with pytest.raises(AssertionError) as info:
        _ = fake.requests.last
    assert str(info.value).splitlines()[0] == (
        "llm_fake.requests.last: no request has reached the fake provider yet."
    )


def test_other_endpoints_pass_on_down_the_chain() -> None:
    fake = FakeProvider()
    seen: list[str] = []

    def nxt(exchange: Exchange) -> Outcome:
        seen.append(f"{exchange.method} {exchange.path}")
        return Reply(204, [])

    for method, path in [
        ("POST", "/v1/images/generations"),
        ("GET", "/v1/models"),
        ("GET", "/v1/responses"),
        ("POST", "/v1/completions"),
    ]:
        out = fake.handle(Exchange(method, f"https://api.openai.com{path}", [], b"{}"), nxt)
        assert isinstance(out, Reply)
        assert out.status == 204
    assert len(seen) == 4
    assert len(fake.requests) == 0


def test_azure_style_paths_are_served() -> None:
    fake = FakeProvider()
    fake.add("from azure")
    url = (
        "https://x.openai.azure.com/openai/deployments/gpt4/chat/completions?api-version=2024-10-21"
    )
    body = json.dumps(_chat()).encode()
    out = fake.handle(Exchange("POST", url, [], body), lambda ex: Reply(599, []))
    assert isinstance(out, Reply)
    assert _text(out) == "from azure"


def test_unanswered_endpoint_meets_the_blocked_network(llm_fake: FakeProvider) -> None:
    client = openai.OpenAI(api_key="sk-test")
    with pytest.raises(openai.APIStatusError) as info:  # answered, not raised: _miss.py
        client.images.generate(prompt="a cat")
    assert info.value.body["message"].startswith(  # type: ignore[index]
        "pytest-llm blocked POST https://api.openai.com/v1/images/generations: no cassette, "
        "fault or fake answered it"
    )


def test_concurrent_requests_each_get_one_script() -> None:
    fake = FakeProvider(strict=True)
    for i in range(40):
        fake.add(f"reply {i}")
    got: list[str] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(5):
            text = _text(call(fake, "chat", _chat()))
            with lock:
                got.append(text)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(got) == sorted(f"reply {i}" for i in range(40))
    assert sorted(r.number for r in fake.requests) == list(range(1, 41))
    assert fake.unused() == []


def test_context_manager_reports_unused_scripts_on_exit() -> None:
    with pytest.raises(FakeUnused) as info, FakeProvider() as fake:
        fake.add("never asked", model="gpt-4o")
        fake.add("forever", times=None)
    assert str(info.value).splitlines() == [
        "llm_fake: 2 scripted replies were never asked for (0 requests reached the fake):",
        "  #1 text 'never asked' [model='gpt-4o'], used 0 of 1",
        "  #2 text 'forever', used 0 (times=None)",
        "Fix: check that the code under test makes these calls, remove the scripts it does not "
        "need, or turn the check off with llm_fake.configure(check_unused=False).",
    ]


def test_context_manager_raises_a_swallowed_miss_on_exit() -> None:
    client = openai.OpenAI(api_key="sk-test", max_retries=0)
    # the application swallows everything; the fake still raises the miss on exit
    with pytest.raises(FakeMiss), FakeProvider(strict=True), contextlib.suppress(BaseException):
        client.responses.create(model="m", input="x")


def test_context_manager_is_not_reentrant_and_deactivates() -> None:
    fake = FakeProvider(check_unused=False)
    client = openai.OpenAI(api_key="sk-test", max_retries=0, base_url="http://127.0.0.1:9/v1")
    with fake:
        with pytest.raises(Exception) as info, fake:
            pass
        assert str(info.value).startswith("this FakeProvider is already active.")
        assert client.responses.create(model="m", input="x").output_text == DEFAULT_REPLY
    with pytest.raises(openai.APIConnectionError):
        client.responses.create(model="m", input="x")  # the fake is gone: a real socket
    assert len(fake.requests) == 1


def test_reset_and_repr() -> None:
    fake = FakeProvider(strict=True, check_unused=False)
    fake.add("a")
    fake.add("b")
    call(fake, "chat", _chat())
    assert repr(fake) == "<FakeProvider strict 2 scripted (1 unused), 1 requests>"
    fake.reset()
    assert repr(fake) == "<FakeProvider strict 0 scripted (0 unused), 0 requests>"


def test_usage_override_and_extra_headers() -> None:
    fake = FakeProvider()
    fake.add(
        "x",
        usage={"input_tokens": 1000, "completion_tokens": 7},
        headers={"x-ratelimit-remaining-requests": "9"},
    )
    reply = call(fake, "chat", _chat())
    usage = json.loads(reply.body)["usage"]
    assert (usage["prompt_tokens"], usage["completion_tokens"], usage["total_tokens"]) == (
        1000,
        7,
        1007,
    )
    assert reply.header("x-ratelimit-remaining-requests") == "9"
    assert reply.header("x-request-id") == "req_fake0001"
