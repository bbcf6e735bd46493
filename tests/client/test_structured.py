"""StructuredPlan: strategy by capability, local repair before a paid re-ask, bounded
re-asks carrying the errors, no blind re-ask after a cut reply (contract 52).

Every reply is a real ``ChatCompletion`` / ``Response``: the plan's kwargs go through the
real openai SDK to ``llm_fake``, and what the fake saw is asserted.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import openai
import pytest
from pydantic import BaseModel

from pytest_llm import faults
from pytest_llm.client import ClientConfigError, Route, StructuredOutputError
from pytest_llm.client._structured import Failed, Parsed, Reask, StructuredPlan

BASE = "http://llm.test/v1"
TICKET = {"category": "billing", "urgent": True, "priority": 2}
ASK = [
    {"role": "system", "content": "You triage support tickets."},
    {"role": "user", "content": "I was charged twice!"},
]


class Ticket(BaseModel):
    category: str
    urgent: bool
    priority: int


SCHEMA: dict[str, Any] = {
    "title": "Ticket",
    "type": "object",
    "properties": {
        "category": {"type": "string"},
        "urgent": {"type": "boolean"},
        "priority": {"type": "integer"},
    },
    "required": ["category", "urgent", "priority"],
    "additionalProperties": False,
}


def route(*capabilities: str) -> Route:
    caps = frozenset(capabilities or ("json_schema", "json_object", "tools", "streaming"))
    return Route("gpt-4o-mini", base_url=BASE, capabilities=caps)


FULL = route()
JSON_MODE = route("json_object", "streaming")
TOOLS = route("tools", "streaming")
BARE = route("streaming")


@pytest.fixture
def sdk() -> openai.OpenAI:
    return openai.OpenAI(base_url=BASE, api_key="sk-test", max_retries=0)


def chat_kwargs(**extra: Any) -> dict[str, Any]:
    return {"model": "gpt-4o-mini", "messages": copy.deepcopy(ASK), **extra}


def resp_kwargs(**extra: Any) -> dict[str, Any]:
    return {"model": "gpt-4o-mini", "input": "I was charged twice!", **extra}


def send(sdk: openai.OpenAI, api: str, kwargs: dict[str, Any]) -> Any:
    if api == "chat":
        return sdk.chat.completions.create(**kwargs)
    return sdk.responses.create(**kwargs)


def ask(
    sdk: openai.OpenAI,
    plan: StructuredPlan,
    kwargs: dict[str, Any],
    r: Route = FULL,
    reask: Reask | None = None,
) -> Parsed | Reask | Failed:
    prepared = plan.prepare(kwargs, r, reask_messages=None if reask is None else reask.messages)
    return plan.check(send(sdk, plan.api, prepared), r)


def parsed(outcome: object) -> Parsed:
    assert isinstance(outcome, Parsed), outcome
    return outcome


def reasked(outcome: object) -> Reask:
    assert isinstance(outcome, Reask), outcome
    return outcome


def failed(outcome: object) -> Failed:
    assert isinstance(outcome, Failed), outcome
    return outcome


def without_ids(value: BaseModel) -> dict[str, Any]:
    data = value.model_dump(warnings=False)
    data.pop("id")
    data.pop("created", None)
    data.pop("created_at", None)
    for item in data.get("output", []):
        item.pop("id", None)
    return data


# -- chat: json_schema ---------------------------------------------------------------------


def test_json_schema_sends_what_sdk_parse_sends_and_returns_its_type(llm_fake, sdk):
    llm_fake.add(TICKET, times=2)
    theirs = sdk.chat.completions.parse(**chat_kwargs(), response_format=Ticket)
    sdk_request = llm_fake.requests.last.json

    plan = StructuredPlan("chat", Ticket)
    outcome = parsed(ask(sdk, plan, chat_kwargs()))

    seen = llm_fake.requests.last.json
    assert seen["response_format"] == sdk_request["response_format"]
    assert seen["response_format"]["json_schema"]["strict"] is True
    assert seen["messages"] == ASK
    ours = outcome.value
    assert type(ours) is type(theirs)
    assert type(ours.choices[0].message) is type(theirs.choices[0].message)
    assert ours.choices[0].message.parsed == Ticket(**TICKET)
    assert outcome.parsed == Ticket(**TICKET)
    assert without_ids(ours) == without_ids(theirs)
    assert outcome.repairs == ()
    assert plan.reasks == 0
    assert len(llm_fake.requests) == 2


def test_caller_kwargs_and_messages_are_never_changed(llm_fake, sdk):
    llm_fake.add({"category": "billing", "urgent": "yes"})
    llm_fake.add(TICKET)
    kwargs = chat_kwargs(response_format=Ticket, temperature=0)
    messages = kwargs["messages"]
    before = copy.deepcopy(kwargs)
    plan = StructuredPlan("chat", Ticket, strategy="json_object")

    again = reasked(ask(sdk, plan, kwargs, JSON_MODE))
    parsed(ask(sdk, plan, kwargs, JSON_MODE, again))

    assert kwargs == before
    assert kwargs["messages"] is messages
    assert messages == ASK  # the schema went into a copy of the system message
    assert llm_fake.requests[0].json["messages"][0]["content"].startswith(ASK[0]["content"])
    again.messages.append({"role": "user", "content": "x"})
    assert messages == ASK


# -- local repair before a paid re-ask -------------------------------------------------------


@pytest.mark.parametrize(
    ("variant", "repairs"),
    [
        ("fenced", ("fence",)),
        ("prose", ("prose",)),
        ("trailing_comma", ("trailing-comma",)),
        ("single_quotes", ("single-quotes",)),
    ],
)
def test_repaired_locally_without_a_reask(llm_fake, llm_faults, sdk, variant, repairs):
    llm_fake.add(TICKET)
    llm_faults.add(faults.MalformedJSON(variant))
    plan = StructuredPlan("chat", Ticket, strategy="json_object")

    outcome = parsed(ask(sdk, plan, chat_kwargs(), JSON_MODE))

    assert outcome.parsed == Ticket(**TICKET)
    assert outcome.repairs == repairs
    assert outcome.value.choices[0].message.content != json.dumps(TICKET)  # raw text kept
    assert plan.reasks == 0
    assert len(llm_fake.requests) == 1


def test_fenced_reply_from_a_plain_script(llm_fake, sdk):
    llm_fake.add('```json\n{"category": "billing", "urgent": true, "priority": 2,}\n```')
    outcome = parsed(ask(sdk, StructuredPlan("chat", Ticket), chat_kwargs()))
    assert outcome.parsed == Ticket(**TICKET)
    assert outcome.repairs == ("fence", "trailing-comma")


def test_repair_off_reasks_for_a_fence(llm_fake, sdk):
    llm_fake.add("```json\n" + json.dumps(TICKET) + "\n```")
    plan = StructuredPlan("chat", Ticket, repair=False)
    again = reasked(ask(sdk, plan, chat_kwargs()))
    assert again.errors[0].startswith("$: not JSON (Expecting value")


def test_truncated_json_missing_fields_is_reasked(llm_fake, llm_faults, sdk):
    llm_fake.add(TICKET)
    llm_faults.add(faults.MalformedJSON("truncated", at=0.5))
    plan = StructuredPlan("chat", Ticket)
    again = reasked(ask(sdk, plan, chat_kwargs()))
    assert "$.priority: Field required" in again.errors


# -- re-asks ---------------------------------------------------------------------------------


def test_invalid_reply_is_reasked_with_the_errors(llm_fake, sdk):
    bad = json.dumps({"category": "billing", "urgent": True, "priority": "high"})
    llm_fake.add(bad)
    llm_fake.add(TICKET)
    plan = StructuredPlan("chat", Ticket)

    again = reasked(ask(sdk, plan, chat_kwargs()))
    assert again.number == 1
    assert again.raw == bad
    assert again.errors == [
        "$.priority: Input should be a valid integer, unable to parse string as an integer "
        "(got 'high')"
    ]
    assert again.messages[:2] == ASK
    assert again.messages[2] == {"role": "assistant", "content": bad}
    assert again.messages[3]["role"] == "user"
    assert again.errors[0] in again.messages[3]["content"]
    assert len(again.messages) == 4

    outcome = parsed(ask(sdk, plan, chat_kwargs(), FULL, again))

    sent = llm_fake.requests.last.json
    assert sent["messages"] == again.messages
    assert "$.priority: Input should be a valid integer" in sent["messages"][-1]["content"]
    assert sent["response_format"]["type"] == "json_schema"
    assert outcome.parsed == Ticket(**TICKET)
    assert plan.reasks == 1
    assert len(llm_fake.requests) == 2


def test_second_reask_carries_only_the_latest_bad_answer(llm_fake, sdk):
    llm_fake.add({"category": 1, "urgent": True, "priority": 2})
    llm_fake.add({"category": "billing", "urgent": True})
    plan = StructuredPlan("chat", Ticket)
    first = reasked(ask(sdk, plan, chat_kwargs()))
    second = reasked(ask(sdk, plan, chat_kwargs(), FULL, first))
    assert second.number == 2
    assert len(second.messages) == 4
    assert second.messages[2]["content"] == '{"category": "billing", "urgent": true}'
    assert "$.priority: Field required" in second.messages[3]["content"]


def test_reasks_exhausted_fail_with_the_errors(llm_fake, sdk):
    llm_fake.add({"category": "billing", "urgent": "maybe", "priority": 2}, times=2)
    plan = StructuredPlan("chat", Ticket, max_reasks=1)

    again = reasked(ask(sdk, plan, chat_kwargs()))
    outcome = failed(ask(sdk, plan, chat_kwargs(), FULL, again))

    error = outcome.error
    assert isinstance(error, StructuredOutputError)
    assert outcome.reason == "invalid"
    assert error.errors == [
        "$.urgent: Input should be a valid boolean, unable to interpret input (got 'maybe')"
    ]
    assert error.raw == '{"category": "billing", "urgent": "maybe", "priority": 2}'
    message = str(error)
    assert "does not validate against Ticket after 1 re-ask " in message
    assert "route 'gpt-4o-mini@llm.test'" in message
    assert "\nFix: " in message
    assert "max_reasks (now 1)" in message
    assert plan.reasks == 1
    assert len(llm_fake.requests) == 2


def test_max_reasks_zero_fails_on_the_first_invalid_reply(llm_fake, sdk):
    llm_fake.add("no JSON here")
    outcome = failed(ask(sdk, StructuredPlan("chat", Ticket, max_reasks=0), chat_kwargs()))
    assert "re-asks are off (max_reasks=0)" in str(outcome.error)
    assert outcome.error.errors[0].startswith("$: not JSON")
    assert len(llm_fake.requests) == 1


# -- never re-asked blindly ------------------------------------------------------------------


def test_finish_reason_length_fails_without_a_reask(llm_fake, sdk):
    llm_fake.add('{"category": "billing", "urg', finish_reason="length")
    plan = StructuredPlan("chat", Ticket, max_reasks=5)

    outcome = failed(ask(sdk, plan, chat_kwargs(max_completion_tokens=8)))

    assert outcome.reason == "length"
    message = str(outcome.error)
    assert "finish_reason='length'" in message
    assert "not re-asked" in message
    assert "Fix: raise max_completion_tokens" in message
    assert outcome.error.raw == '{"category": "billing", "urg'
    assert plan.reasks == 0


def test_length_with_repairable_json_is_still_not_accepted(llm_fake, sdk):
    llm_fake.add(json.dumps(TICKET), finish_reason="length")
    assert failed(ask(sdk, StructuredPlan("chat", Ticket), chat_kwargs())).reason == "length"


def test_content_filter_fails_without_a_reask(llm_fake, sdk):
    llm_fake.add("", finish_reason="content_filter")
    plan = StructuredPlan("chat", Ticket)
    outcome = failed(ask(sdk, plan, chat_kwargs()))
    assert outcome.reason == "content_filter"
    assert "content filter" in str(outcome.error)
    assert "\nFix: " in str(outcome.error)
    assert plan.reasks == 0


def test_refusal_fails_without_a_reask(llm_fake, sdk):
    llm_fake.add("")
    plan = StructuredPlan("chat", Ticket)
    completion = sdk.chat.completions.create(**plan.prepare(chat_kwargs(), FULL))
    completion.choices[0].message.refusal = "I can't help with that."  # the fake has no refusals
    outcome = failed(plan.check(completion, FULL))
    assert outcome.reason == "refusal"
    assert 'the model refused: "I can\'t help with that."' in str(outcome.error)


# -- strategies ------------------------------------------------------------------------------


def test_json_object_states_the_schema_in_a_system_message(llm_fake, sdk):
    llm_fake.add(TICKET)
    plan = StructuredPlan("chat", Ticket, strategy="json_object")
    kwargs = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}

    outcome = parsed(ask(sdk, plan, kwargs, JSON_MODE))

    sent = llm_fake.requests.last.json
    assert sent["response_format"] == {"type": "json_object"}
    system, user = sent["messages"]
    assert system["role"] == "system"
    assert "JSON" in system["content"]
    schema = json.loads(system["content"].split("\n", 1)[1])
    assert schema["required"] == ["category", "urgent", "priority"]
    assert user == {"role": "user", "content": "hi"}
    assert "tools" not in sent
    assert outcome.parsed == Ticket(**TICKET)


def test_tools_forces_one_function_and_reads_its_arguments(llm_fake, sdk):
    llm_fake.add(tool_calls=[{"name": "Ticket", "arguments": TICKET}])
    plan = StructuredPlan("chat", Ticket, strategy="tools")

    outcome = parsed(ask(sdk, plan, chat_kwargs(), TOOLS))

    sent = llm_fake.requests.last.json
    (tool,) = sent["tools"]
    assert tool["type"] == "function"
    assert tool["function"]["name"] == "Ticket"
    assert tool["function"]["parameters"]["required"] == ["category", "urgent", "priority"]
    assert tool["function"]["parameters"]["additionalProperties"] is False
    assert tool["function"]["strict"] is True
    assert sent["tool_choice"] == {"type": "function", "function": {"name": "Ticket"}}
    assert "response_format" not in sent
    assert sent["messages"] == ASK
    choice = outcome.value.choices[0]
    assert choice.message.parsed == Ticket(**TICKET)
    assert choice.message.tool_calls is None  # the forced call was the plan's, not the caller's
    assert json.loads(choice.message.content) == TICKET
    assert choice.finish_reason == "stop"


def test_tools_invalid_arguments_are_reasked(llm_fake, sdk):
    llm_fake.add(
        tool_calls=[{"name": "Ticket", "arguments": '{"category": "billing", "urgent": tru'}]
    )
    plan = StructuredPlan("chat", Ticket, strategy="tools")
    again = reasked(ask(sdk, plan, chat_kwargs(), TOOLS))
    assert again.errors == ["$.priority: Field required"]
    assert again.messages[-2] == {
        "role": "assistant",
        "content": '{"category": "billing", "urgent": tru',
    }
    assert "Call Ticket again" in again.messages[-1]["content"]


@pytest.mark.parametrize(
    ("caps", "expected"),
    [
        (("json_schema", "json_object", "tools"), "json_schema"),
        (("json_object", "tools"), "tools"),
        (("json_object",), "json_object"),
        (("streaming",), "prompt"),
    ],
)
def test_auto_picks_by_route_capabilities(llm_fake, sdk, caps, expected):
    llm_fake.add(
        tool_calls=[{"name": "Ticket", "arguments": TICKET}] if expected == "tools" else None,
        content=None if expected == "tools" else TICKET,
    )
    r = route(*caps)
    plan = StructuredPlan("chat", Ticket)
    assert plan.strategy_for(r) == expected

    outcome = parsed(ask(sdk, plan, chat_kwargs(), r))

    sent = llm_fake.requests.last.json
    kind = sent.get("response_format", {}).get("type")
    assert kind == {"json_schema": "json_schema", "json_object": "json_object"}.get(expected)
    assert ("tools" in sent) == (expected == "tools")
    has_schema_message = '"priority"' in sent["messages"][0]["content"]
    assert has_schema_message == (expected in ("json_object", "prompt"))
    assert outcome.parsed == Ticket(**TICKET)


def test_auto_with_the_callers_tools_avoids_the_tools_strategy(llm_fake, sdk):
    weather = {
        "type": "function",
        "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {}}},
    }
    llm_fake.add(tool_calls=[{"name": "get_weather", "arguments": {}}])
    plan = StructuredPlan("chat", Ticket)
    r = route("json_object", "tools")

    outcome = parsed(ask(sdk, plan, chat_kwargs(tools=[weather]), r))

    sent = llm_fake.requests.last.json
    assert sent["response_format"] == {"type": "json_object"}
    assert sent["tools"] == [weather]
    message = outcome.value.choices[0].message
    assert message.parsed is None  # a turn calling the caller's tool, as parse() returns it
    assert message.tool_calls[0].function.name == "get_weather"


def test_forced_strategy_needs_the_capability(sdk):
    plan = StructuredPlan("chat", Ticket, strategy="json_schema")
    assert not plan.supports(JSON_MODE)
    assert plan.supports(FULL)
    with pytest.raises(ClientConfigError) as info:
        plan.prepare(chat_kwargs(), JSON_MODE)
    message = str(info.value)
    assert "strategy='json_schema'" in message
    assert "'gpt-4o-mini@llm.test'" in message
    assert "capabilities: json_object, streaming" in message
    assert '\nFix: strategy="auto"' in message


def test_forced_tools_with_the_callers_tools_is_refused():
    plan = StructuredPlan("chat", Ticket, strategy="tools")
    with pytest.raises(ClientConfigError, match="passes its own tools"):
        plan.prepare(chat_kwargs(tools=[{"type": "function", "function": {"name": "f"}}]), TOOLS)


def test_stream_is_refused():
    with pytest.raises(ClientConfigError, match="stream=True"):
        StructuredPlan("chat", Ticket).prepare(chat_kwargs(stream=True), FULL)


# -- Responses API ---------------------------------------------------------------------------


def test_responses_json_schema_like_sdk_parse(llm_fake, sdk):
    llm_fake.add(TICKET, times=2)
    theirs = sdk.responses.parse(**resp_kwargs(), text_format=Ticket)
    sdk_request = llm_fake.requests.last.json
    plan = StructuredPlan("responses", Ticket)

    outcome = parsed(ask(sdk, plan, resp_kwargs(text_format=Ticket)))

    sent = llm_fake.requests.last.json
    assert sent["text"] == sdk_request["text"]
    assert sent["input"] == "I was charged twice!"
    assert type(outcome.value) is type(theirs)
    assert outcome.value.output_parsed == Ticket(**TICKET)
    assert without_ids(outcome.value) == without_ids(theirs)


def test_responses_json_object_appends_to_instructions(llm_fake, sdk):
    llm_fake.add("```json\n" + json.dumps(TICKET) + "\n```")
    plan = StructuredPlan("responses", Ticket, strategy="json_object")

    outcome = parsed(ask(sdk, plan, resp_kwargs(instructions="Be brief."), JSON_MODE))

    sent = llm_fake.requests.last.json
    assert sent["text"] == {"format": {"type": "json_object"}}
    assert sent["instructions"].startswith("Be brief.\n\nAnswer with one JSON object")
    assert '"priority"' in sent["instructions"]
    assert outcome.value.output_parsed == Ticket(**TICKET)
    assert outcome.repairs == ("fence",)


def test_responses_tools(llm_fake, sdk):
    llm_fake.add(tool_calls=[{"name": "Ticket", "arguments": TICKET}])
    plan = StructuredPlan("responses", Ticket, strategy="tools")

    outcome = parsed(ask(sdk, plan, resp_kwargs(), TOOLS))

    sent = llm_fake.requests.last.json
    (tool,) = sent["tools"]
    assert (tool["type"], tool["name"], tool["strict"]) == ("function", "Ticket", True)
    assert tool["parameters"]["required"] == ["category", "urgent", "priority"]
    assert sent["tool_choice"] == {"type": "function", "name": "Ticket"}
    assert outcome.value.output_parsed == Ticket(**TICKET)
    assert json.loads(outcome.value.output_text) == TICKET
    assert [item.type for item in outcome.value.output] == ["message"]


def test_responses_reask_and_then_valid(llm_fake, sdk):
    llm_fake.add({"category": "billing", "urgent": True, "priority": "high"})
    llm_fake.add(TICKET)
    plan = StructuredPlan("responses", Ticket)
    kwargs = resp_kwargs()

    again = reasked(ask(sdk, plan, kwargs))
    outcome = parsed(ask(sdk, plan, kwargs, FULL, again))

    sent = llm_fake.requests.last.json
    assert sent["input"][0] == {"role": "user", "content": "I was charged twice!"}
    assert sent["input"][1]["role"] == "assistant"
    assert sent["input"][2]["role"] == "user"
    assert "$.priority: Input should be a valid integer" in sent["input"][2]["content"]
    assert sent["text"]["format"]["type"] == "json_schema"
    assert kwargs["input"] == "I was charged twice!"
    assert outcome.value.output_parsed == Ticket(**TICKET)
    assert plan.reasks == 1


def test_responses_incomplete_max_output_tokens_fails_without_a_reask(llm_fake, sdk):
    llm_fake.add('{"category": "bil', finish_reason="length")
    plan = StructuredPlan("responses", Ticket)
    outcome = failed(ask(sdk, plan, resp_kwargs(max_output_tokens=16)))
    assert outcome.reason == "length"
    message = str(outcome.error)
    assert "status 'incomplete', max_output_tokens" in message
    assert "max_output_tokens=16" in message
    assert "Fix: raise max_output_tokens" in message
    assert plan.reasks == 0


def test_responses_content_filter(llm_fake, sdk):
    llm_fake.add("", finish_reason="content_filter")
    outcome = failed(ask(sdk, StructuredPlan("responses", Ticket), resp_kwargs()))
    assert outcome.reason == "content_filter"


# -- a JSON Schema dict ----------------------------------------------------------------------


def test_schema_dict_parsed_is_the_validated_dict(llm_fake, sdk):
    llm_fake.add(TICKET)
    plan = StructuredPlan("chat", SCHEMA)

    outcome = parsed(ask(sdk, plan, chat_kwargs()))

    sent = llm_fake.requests.last.json["response_format"]
    assert sent == {
        "type": "json_schema",
        "json_schema": {"name": "Ticket", "schema": SCHEMA, "strict": True},
    }
    assert outcome.value.choices[0].message.parsed == TICKET


def test_schema_dict_errors_are_pinned_to_the_path(llm_fake, sdk):
    llm_fake.add({"category": "billing", "urgent": True, "priority": "high", "x": 1})
    again = reasked(ask(sdk, StructuredPlan("chat", SCHEMA), chat_kwargs()))
    assert again.errors == [
        "$: Additional properties are not allowed ('x' was unexpected) "
        "(schema: additionalProperties)",
        "$.priority: 'high' is not of type 'integer' (schema: properties.priority.type)",
    ]


def test_schema_dict_not_strict_compatible_is_sent_non_strict(llm_fake, sdk):
    loose = {"type": "object", "properties": {"a": {"type": "integer"}}}
    llm_fake.add({"a": 1})
    outcome = parsed(ask(sdk, StructuredPlan("chat", loose), chat_kwargs()))
    sent = llm_fake.requests.last.json["response_format"]["json_schema"]
    assert sent["strict"] is False
    assert sent["name"] == "response"
    assert outcome.parsed == {"a": 1}


def test_response_format_wrapper_is_unwrapped(llm_fake, sdk):
    wrapper = {
        "type": "json_schema",
        "json_schema": {"name": "T", "schema": SCHEMA, "strict": True},
    }
    llm_fake.add(TICKET)
    plan = StructuredPlan("chat", wrapper)
    parsed(ask(sdk, plan, chat_kwargs(response_format=wrapper)))
    assert llm_fake.requests.last.json["response_format"] == wrapper


# -- configuration ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "kwargs", "needle"),
    [
        (("chat", Ticket), {"max_reasks": -1}, "max_reasks=-1"),
        (("chat", Ticket), {"max_reasks": True}, "max_reasks=True"),
        (("chat", Ticket), {"strategy": "json-schema"}, "did you mean 'json_schema'"),
        (("chat", Ticket), {"repair": "yes"}, "repair='yes'"),
        (("chatt", Ticket), {}, "did you mean 'chat'"),
        (("chat", Ticket(**TICKET)), {}, "got Ticket"),
        (("chat", {"type": "json_object"}), {}, "not a schema"),
        (("chat", {"type": "objekt"}), {}, "not a valid JSON Schema"),
        (("chat", {"type": "array", "items": {}}), {}, "root is 'array'"),
        (("chat", {"type": "json_schema", "json_schema": {"name": "x"}}), {}, "no 'schema'"),
    ],
)
def test_bad_configuration(args, kwargs, needle):
    with pytest.raises(ClientConfigError) as info:
        StructuredPlan(*args, **kwargs)
    message = str(info.value)
    assert needle in message
    assert message.startswith("StructuredPlan(")
    assert "\nFix: " in message


def test_check_before_prepare_is_a_programming_error(llm_fake, sdk):
    llm_fake.add(TICKET)
    completion = sdk.chat.completions.create(**chat_kwargs())
    with pytest.raises(RuntimeError, match="before prepare"):
        StructuredPlan("chat", Ticket).check(completion, FULL)


def test_reprs(llm_fake, sdk):
    plan = StructuredPlan("chat", Ticket, max_reasks=1)
    assert repr(plan) == (
        "StructuredPlan(api='chat', response_format=Ticket, strategy='auto', max_reasks=1, "
        "repair=True, reasks=0)"
    )
    assert "response_format=schema 'Ticket'" in repr(StructuredPlan("responses", SCHEMA))
    llm_fake.add({"category": "billing"})
    llm_fake.add("```json\n" + json.dumps(TICKET) + "\n```")
    again = reasked(ask(sdk, plan, chat_kwargs()))
    assert repr(again) == (
        "Reask(number=1, errors=2: '$.urgent: Field required; $.priority: Field required', "
        "messages=<4 items>)"
    )
    ok = parsed(ask(sdk, plan, chat_kwargs(), FULL, again))
    assert repr(ok) == (
        "Parsed(ParsedChatCompletion[~ResponseFormatT], parsed=Ticket(category='billing', "
        "urgent=True, priority=2), repairs=('fence',))"
    )


def test_check_reads_the_reply_by_the_strategy_it_was_sent_with(llm_fake, sdk):
    llm_fake.add(tool_calls=[{"name": "Ticket", "arguments": TICKET}])
    plan = StructuredPlan("chat", Ticket)
    completion = sdk.chat.completions.create(**plan.prepare(chat_kwargs(), TOOLS))
    elsewhere = Route("other-model")  # all capabilities: auto would pick json_schema
    assert parsed(plan.check(completion, elsewhere)).parsed == Ticket(**TICKET)
