"""Structured output end to end (CONTRACTS 52) through the client, sync and async.

``client.chat.completions.parse(response_format=Model, ...)`` and
``client.responses.parse(text_format=Model, ...)`` return the SDK's own parsed types;
local repair costs no request; re-asks are bounded, carry the validation errors, leave
the caller's messages alone and are counted apart from transport retries; the strategy
(json_schema, json_object, tools) follows each route's capabilities, fallback included.
Requests are counted where the provider sees them.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import openai
import pytest
from client_helpers import BASE_URL, Mode, route, seen
from openai.types.chat import ParsedChatCompletion
from openai.types.responses import ParsedResponse
from pydantic import BaseModel

from pytest_llm.client import Price, StructuredOutputError, call_info
from pytest_llm.faults import FaultPlan, MalformedJSON, Pass, ServerError

TICKET = {"category": "billing", "urgent": True, "priority": 2}
ASK = [
    {"role": "system", "content": "You triage support tickets."},
    {"role": "user", "content": "I was charged twice!"},
]
BAD = {"category": "billing", "urgent": True, "priority": "high"}
BAD_ERROR = (
    "$.priority: Input should be a valid integer, unable to parse string as an integer (got 'high')"
)


class Ticket(BaseModel):
    category: str
    urgent: bool
    priority: int


def caps(*names: str) -> frozenset[str]:
    return frozenset(names)


def parse(mode: Mode, client: Any, api: str, **kwargs: Any) -> Any:
    if api == "chat":
        kwargs.setdefault("messages", copy.deepcopy(ASK))
        return mode.call(client.chat.completions.parse, response_format=Ticket, **kwargs)
    kwargs.setdefault("input", "I was charged twice!")
    return mode.call(client.responses.parse, text_format=Ticket, **kwargs)


def parsed_of(result: Any) -> Any:
    if isinstance(result, ParsedChatCompletion):
        return result.choices[0].message.parsed
    assert isinstance(result, ParsedResponse)
    return result.output_parsed


api_param = pytest.mark.parametrize("api", ["chat", "responses"])


# -- the SDK's types, one request ----------------------------------------------------------


@api_param
def test_parse_returns_the_sdks_parsed_type_in_one_request(
    mode: Mode, llm_fake: Any, api: str
) -> None:
    llm_fake.add(TICKET, times=2)
    sdk = openai.OpenAI(base_url=BASE_URL, api_key="sk-test", max_retries=0)
    if api == "chat":
        theirs: Any = sdk.chat.completions.parse(
            model="a", messages=copy.deepcopy(ASK), response_format=Ticket
        )
    else:
        theirs = sdk.responses.parse(model="a", input="I was charged twice!", text_format=Ticket)
    sdk_request = llm_fake.requests.last.json
    client = mode.client(route("a"))

    result = parse(mode, client, api)

    assert type(result) is type(theirs)
    assert isinstance(result, ParsedChatCompletion if api == "chat" else ParsedResponse)
    if api == "chat":
        assert type(result.choices[0].message) is type(theirs.choices[0].message)
    assert parsed_of(result) == Ticket(**TICKET)
    assert len(llm_fake.requests) == 2  # the SDK's own parse, then ours: one request
    sent = llm_fake.requests.last.json
    if api == "chat":
        assert sent["response_format"] == sdk_request["response_format"]
    else:
        assert sent["text"] == sdk_request["text"]
    fmt = sent["response_format"] if api == "chat" else sent["text"]["format"]
    schema = fmt["json_schema"] if api == "chat" else fmt
    assert (fmt["type"], schema["name"], schema["strict"]) == ("json_schema", "Ticket", True)
    info = call_info(result)
    assert (info.reasks, info.requests, info.route) == (0, 1, "a@llm.test")


# -- local repair: no re-ask ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("variant", "repairs"),
    [
        ("fenced", ["fence"]),
        ("prose", ["prose"]),
        ("trailing_comma", ["trailing-comma"]),
        ("single_quotes", ["single-quotes"]),
    ],
)
@api_param
def test_broken_json_is_repaired_locally_without_a_reask(
    mode: Mode, llm_fake: Any, llm_faults: FaultPlan, api: str, variant: str, repairs: list[str]
) -> None:
    llm_fake.add(TICKET)
    llm_faults.add(MalformedJSON(variant))
    client = mode.client(route("a", capabilities=caps("json_object")))

    result = parse(mode, client, api)

    assert parsed_of(result) == Ticket(**TICKET)
    assert seen(llm_faults) == 1  # one request: the repair was free
    info = call_info(result)
    assert info.reasks == 0
    assert info.extra["repairs"] == repairs


# -- re-asks: bounded, carrying the errors, the caller's messages unchanged ----------------


@api_param
def test_an_invalid_answer_is_reasked_with_its_validation_error(
    mode: Mode, llm_fake: Any, api: str
) -> None:
    llm_fake.add(BAD)
    llm_fake.add(TICKET)
    client = mode.client(route("a"))
    messages = copy.deepcopy(ASK)
    snapshot = copy.deepcopy(messages)
    kwargs = {"messages": messages} if api == "chat" else {"input": "I was charged twice!"}

    result = parse(mode, client, api, **kwargs)

    assert parsed_of(result) == Ticket(**TICKET)
    assert len(llm_fake.requests) == 2
    first, second = (r.json for r in llm_fake.requests)
    key = "messages" if api == "chat" else "input"
    original = ASK if api == "chat" else ["I was charged twice!"]
    if api == "chat":
        assert first[key] == ASK
    else:
        assert first[key] == "I was charged twice!"
    conversation = second[key]
    assert len(conversation) == len(original) + 2
    assert conversation[-2] == {"role": "assistant", "content": json.dumps(BAD)}
    assert conversation[-1]["role"] == "user"
    assert BAD_ERROR in conversation[-1]["content"]
    # the same schema is asked for again
    assert (second.get("response_format") or second["text"]["format"])["type"] == "json_schema"
    assert messages == snapshot  # the caller's list was never touched
    info = call_info(result)
    assert info.reasks == 1
    assert [a.reask for a in info.attempts] == [0, 1]


@api_param
def test_reasks_are_bounded_and_the_error_carries_the_validation_errors(
    mode: Mode, llm_fake: Any, api: str
) -> None:
    llm_fake.add(BAD, times=2)
    client = mode.client(route("a"), max_reasks=1)

    error = mode.raises(
        StructuredOutputError,
        client.chat.completions.parse if api == "chat" else client.responses.parse,
        **(
            {"messages": copy.deepcopy(ASK), "response_format": Ticket}
            if api == "chat"
            else {"input": "I was charged twice!", "text_format": Ticket}
        ),
    )

    assert error.errors == [BAD_ERROR]
    assert json.loads(error.raw) == BAD
    assert "after 1 re-ask" in str(error)
    assert len(llm_fake.requests) == 2  # the first answer and one re-ask, no more
    info = call_info(error)
    assert info.reasks == 1
    assert info.requests == 2


@api_param
def test_an_answer_cut_at_the_token_limit_is_not_reasked(
    mode: Mode, llm_fake: Any, api: str
) -> None:
    llm_fake.add('{"category": "billing", "urgent": tr', finish_reason="length")
    client = mode.client(route("a"), max_reasks=2)

    with pytest.raises(StructuredOutputError) as caught:
        parse(mode, client, api)

    assert len(llm_fake.requests) == 1
    assert call_info(caught.value).reasks == 0
    assert "was cut at the token limit" in str(caught.value)
    assert "not re-asked" in str(caught.value)


# -- re-asks and transport retries are counted apart -------------------------------------


@api_param
def test_a_503_then_an_invalid_answer_then_a_valid_one(
    mode: Mode, llm_fake: Any, llm_faults: FaultPlan, api: str
) -> None:
    llm_faults.add(ServerError(503))
    llm_fake.add(BAD)
    llm_fake.add(TICKET)
    priced = route("a", price=Price(input=1.0, output=4.0))
    client = mode.client(priced, max_retries=2, max_reasks=2, seed=4)

    result = parse(mode, client, api)

    assert parsed_of(result) == Ticket(**TICKET)
    assert seen(llm_faults) == 3  # the provider saw three requests
    assert len(llm_fake.requests) == 2  # the 503 never reached the model
    info = call_info(result)
    assert info.reasks == 1
    assert info.requests == 3
    assert [(a.status, a.kind, a.reask) for a in info.attempts] == [
        (503, "server", 0),  # a transport retry...
        (200, None, 0),
        (200, None, 1),  # ...and a re-ask
    ]
    assert mode.clock.sleeps == [info.attempts[0].wait]
    # re-asks are paid for: both answers are costed at the route's price
    assert info.attempts[1].cost > 0
    assert info.attempts[2].cost > 0
    assert info.cost == pytest.approx(info.attempts[1].cost + info.attempts[2].cost)


# -- the strategy follows each route's capabilities -------------------------------------


@pytest.mark.parametrize("strategy", ["json_schema", "json_object", "tools"])
@api_param
def test_each_strategy_is_chosen_by_the_routes_capabilities(
    mode: Mode, llm_fake: Any, api: str, strategy: str
) -> None:
    if strategy == "tools":
        llm_fake.add(tool_calls=[{"name": "Ticket", "arguments": TICKET}])
    else:
        llm_fake.add(TICKET)
    client = mode.client(route("a", capabilities=caps(strategy)))

    result = parse(mode, client, api)

    assert parsed_of(result) == Ticket(**TICKET)
    assert len(llm_fake.requests) == 1
    sent = llm_fake.requests.last.json
    check_strategy(api, strategy, sent)


def check_strategy(api: str, strategy: str, sent: dict[str, Any]) -> None:
    if api == "chat":
        fmt = sent.get("response_format") or {}
        system = sent["messages"][0]
    else:
        fmt = (sent.get("text") or {}).get("format") or {}
        system = {"role": "system", "content": sent.get("instructions") or ""}
    if strategy == "json_schema":
        assert fmt["type"] == "json_schema"
        assert "tools" not in sent
    elif strategy == "json_object":
        assert fmt == {"type": "json_object"}
        assert system["role"] == "system"
        assert '"priority"' in system["content"]  # the schema, stated
        assert "tools" not in sent
    else:
        assert fmt.get("type") not in ("json_schema", "json_object")
        (tool,) = sent["tools"]
        name = tool["function"]["name"] if api == "chat" else tool["name"]
        assert name == "Ticket"
        forced = sent["tool_choice"]
        assert (forced["function"]["name"] if api == "chat" else forced["name"]) == "Ticket"


@api_param
def test_a_fallback_route_gets_its_own_strategy(
    mode: Mode, llm_fake: Any, llm_faults: FaultPlan, api: str
) -> None:
    llm_faults.add(ServerError(503), model="a")
    llm_fake.add(tool_calls=[{"name": "Ticket", "arguments": TICKET}], model="b")
    a = route("a", capabilities=caps("json_schema"))
    b = route("b", capabilities=caps("tools"))
    client = mode.client(a, b, max_retries=0)

    result = parse(mode, client, api)

    assert parsed_of(result) == Ticket(**TICKET)
    assert [seen(llm_faults, m) for m in "ab"] == [1, 1]
    requests = {r.model: r.json for r in llm_fake.requests}
    assert list(requests) == ["b"]
    check_strategy(api, "tools", requests["b"])
    info = call_info(result)
    assert info.route == "b@llm.test"
    assert info.reasks == 0


def test_a_reask_on_a_fallback_keeps_the_callers_conversation(
    mode: Mode, llm_fake: Any, llm_faults: FaultPlan
) -> None:
    # a answers badly, then goes down for the re-ask; b takes the re-ask with a's error
    llm_fake.add(BAD, model="a")
    llm_faults.add(Pass(), model="a")
    llm_faults.add(ServerError(503), model="a")
    llm_fake.add(TICKET, model="b")
    client = mode.client(route("a"), route("b"), max_retries=0)
    messages = copy.deepcopy(ASK)

    result = mode.call(client.chat.completions.parse, messages=messages, response_format=Ticket)

    assert parsed_of(result) == Ticket(**TICKET)
    assert messages == ASK
    assert [seen(llm_faults, m) for m in "ab"] == [2, 1]
    reask = llm_fake.requests.last.json
    assert reask["model"] == "b"
    assert reask["messages"][: len(ASK)] == ASK
    assert BAD_ERROR in reask["messages"][-1]["content"]
    info = call_info(result)
    assert info.reasks == 1
    assert [(a.route, a.status, a.reask) for a in info.attempts] == [
        ("a@llm.test", 200, 0),
        ("a@llm.test", 503, 1),
        ("b@llm.test", 200, 1),
    ]
