"""Bugs of the reference client, each through the real openai SDK, sync and async:

- ``call_info`` answers for the parsed object of ``chat.completions.parse`` /
  ``responses.parse``, not only for the completion around it;
- the context-window check counts a fallback route's request with that route's model;
- a password in a route's base URL never reaches an error the client raises.
"""

from __future__ import annotations

import copy
import traceback
from typing import Any

import openai
import pytest
from client_helpers import MESSAGES, Mode, route
from pydantic import BaseModel

from pytest_llm import faults
from pytest_llm.client import call_info
from pytest_llm.client._tokens import count_request_tokens

# -- call_info on the parsed object -----------------------------------------------------


class Ticket(BaseModel):
    category: str
    urgent: bool


TICKET = {"category": "billing", "urgent": True}
ASK = [{"role": "user", "content": "I was charged twice!"}]


@pytest.mark.parametrize("api", ["chat", "responses"])
def test_call_info_answers_for_the_parsed_object(mode: Mode, llm_fake: Any, api: str) -> None:
    llm_fake.add(TICKET)
    client = mode.client(route("a"))
    if api == "chat":
        result = mode.call(
            client.chat.completions.parse, messages=copy.deepcopy(ASK), response_format=Ticket
        )
        parsed = result.choices[0].message.parsed
    else:
        result = mode.call(client.responses.parse, input="I was charged twice!", text_format=Ticket)
        parsed = result.output_parsed
    assert parsed == Ticket(**TICKET)
    assert call_info(parsed) is call_info(result)
    assert (call_info(parsed).route, call_info(parsed).requests) == ("a@llm.test", 1)


def test_a_parsed_dict_says_why_it_has_no_call_info(mode: Mode, llm_fake: Any) -> None:
    schema = {
        "type": "object",
        "properties": {"category": {"type": "string"}, "urgent": {"type": "boolean"}},
        "required": ["category", "urgent"],
        "additionalProperties": False,
    }
    llm_fake.add(TICKET)
    client = mode.client(route("a"))
    result = mode.call(
        client.chat.completions.parse, messages=copy.deepcopy(ASK), response_format=schema
    )
    parsed = result.choices[0].message.parsed
    assert parsed == TICKET
    assert call_info(result).requests == 1
    with pytest.raises(LookupError, match=r"a plain dict cannot carry.*\nFix: pass the completion"):
        call_info(parsed)


# -- the context window of the serving route's model ------------------------------------


def test_a_fallback_route_is_measured_with_its_own_model(
    mode: Mode, llm_fake: Any, llm_faults: Any
) -> None:
    """b's window holds the request as gpt-4o counts it (exact), not as b's own unknown
    model counts it (an estimate that errs high): b is skipped without I/O, c serves."""
    messages = [{"role": "user", "content": "hello world " * 50}]
    as_caller = count_request_tokens({"model": "gpt-4o", "messages": messages})
    as_b = count_request_tokens({"model": "local-small", "messages": messages})
    assert as_b > as_caller  # the premise: the route's own count is higher
    llm_fake.add("from c", model="local-large")
    llm_faults.add(faults.ServerError(503), model="gpt-4o", times=None)
    client = mode.client(
        route("gpt-4o"),
        route("local-small", context_window=as_caller),
        route("local-large", context_window=100_000),
        max_retries=0,
    )
    reply = mode.call(client.chat.completions.create, model="gpt-4o", messages=messages)
    assert reply.choices[0].message.content == "from c"
    assert [a.model for a in llm_faults.log] == ["gpt-4o", "local-large"]
    skipped = [(a.model, a.reason) for a in call_info(reply).attempts if a.skipped]
    assert skipped == [("local-small", f"request does not fit the context window of {as_caller}")]


def test_a_route_whose_own_count_fits_is_used(mode: Mode, llm_fake: Any) -> None:
    messages = [{"role": "user", "content": "hello world " * 50}]
    need = count_request_tokens({"model": "local-small", "messages": messages})
    llm_fake.add("from b", model="local-small")
    client = mode.client(route("local-small", context_window=need), max_retries=0)
    reply = mode.call(client.chat.completions.create, model="local-small", messages=messages)
    assert reply.choices[0].message.content == "from b"
    assert call_info(reply).requests == 1


# -- no URL password in a raised error ---------------------------------------------------

SECRET_URL = "http://alice:hunter2-SECRET@127.0.0.1:9/v1"


def _everything_printed(error: BaseException) -> str:
    """What a log of the error could show: its traceback, and every chained error's
    request (URL and headers) and response."""
    parts = ["".join(traceback.format_exception(error))]
    seen: BaseException | None = error
    while seen is not None:
        for holder in (seen, getattr(seen, "response", None)):
            try:
                request = holder.request  # type: ignore[union-attr]
            except Exception:
                continue
            parts += [repr(request), str(request.url), repr(dict(request.headers))]
        seen = seen.__cause__ or seen.__context__
    return "\n".join(parts)


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        (faults.ConnectionReset(), openai.APIConnectionError),
        (faults.HTTPError(status=400), openai.BadRequestError),
    ],
    ids=["connection", "status"],
)
def test_a_url_password_is_scrubbed_from_the_raised_error(
    mode: Mode, llm_fake: Any, llm_faults: Any, fault: Any, error: type[BaseException]
) -> None:
    llm_faults.add(fault, times=None)
    client = mode.client(route("a", base_url=SECRET_URL), max_retries=0)
    raised = mode.raises(error, client.chat.completions.create, messages=MESSAGES)
    printed = _everything_printed(raised)
    assert "hunter2" not in printed
    assert "aHVudGVyMi1TRUNSRVQ" not in printed  # base64 of part of "alice:hunter2-SECRET"
    assert "http://127.0.0.1:9/v1/chat/completions" in printed  # the URL, without userinfo
    assert call_info(raised).attempts[0].base_url == "http://127.0.0.1:9/v1"
