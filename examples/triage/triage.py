"""Support-ticket triage with an LLM: a small, real feature to test with pytest-llm.

``triage(ticket)`` asks the model for a category, a priority and a one-sentence
summary and gets them back validated as a :class:`Triage`. ``draft_reply(ticket)``
streams a short answer to the customer. ``atriage`` and ``adraft_reply`` are the
same over the async client.

The model is reached through :mod:`pytest_llm.client`: a drop-in for ``openai.OpenAI``
that retries with honest backoff, keeps each call inside a deadline, and fails over
to a standby server. ``OPENAI_BASE_URL`` and ``OPENAI_API_KEY`` are read by the SDK
itself, ``TRIAGE_MODEL`` names the model (default ``smollm2``) and
``TRIAGE_STANDBY_BASE_URL``, when set, is a second server with the same model.
Nothing here knows about tests.
"""

from __future__ import annotations

import functools
import json
import os
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, Literal

from openai.types.chat import ChatCompletionMessageParam, ParsedChatCompletion
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pytest_llm.client import (
    AsyncResilientClient,
    PromptLibrary,
    ResilientClient,
    RetryPolicy,
    Route,
    StructuredOutputError,
    Timeouts,
)

__all__ = [
    "CATEGORIES",
    "PRIORITIES",
    "PROMPTS",
    "TRIAGE",
    "TRIAGE_PROMPT",
    "InvalidTriageError",
    "NoJSONError",
    "Triage",
    "TriageError",
    "adraft_reply",
    "arequest_triage",
    "atriage",
    "default_async_client",
    "default_client",
    "draft_reply",
    "extract_json_object",
    "make_async_client",
    "make_client",
    "model_name",
    "parse_triage",
    "request_triage",
    "routes",
    "triage",
]

CATEGORIES = ("billing", "bug", "account", "feature_request", "other")
PRIORITIES = ("low", "medium", "high", "urgent")

Category = Literal["billing", "bug", "account", "feature_request", "other"]
Priority = Literal["low", "medium", "high", "urgent"]

MAX_TOKENS = 200
MODEL_DEFAULT = "smollm2"

# The triage prompt lives in a versioned file, prompts/triage/v<N>.yaml: a wording change
# is a new version, and every request names the version it was made with (the
# x-pytest-llm-prompt header: CallInfo.prompt, the client's events and metrics, and the
# cassette's meta.prompt). Spelling out what each label covers matters to a small model:
# with labels alone, SmolLM2-135M answered "billing" for every ticket.
PROMPTS = PromptLibrary(Path(__file__).parent / "prompts")
TRIAGE = PROMPTS.get("triage", 1)
TRIAGE_PROMPT = TRIAGE.system or ""

REPLY_PROMPT = (
    "You are a friendly support agent. Write a short, polite reply to the customer's "
    "ticket in two or three sentences."
)


class Triage(BaseModel):
    """What the support queue needs to route a ticket."""

    model_config = ConfigDict(frozen=True)

    category: Category
    priority: Priority
    summary: str = Field(min_length=1)

    @field_validator("category", "priority", mode="before")
    @classmethod
    def _normalise_label(cls, value: Any) -> Any:
        # Models write "Billing", " high " or "feature request" as often as the exact
        # label; accept those spellings, but nothing outside the fixed set.
        if isinstance(value, str):
            return re.sub(r"[\s\-]+", "_", value.strip().lower())
        return value

    @field_validator("summary", mode="before")
    @classmethod
    def _strip_summary(cls, value: Any) -> Any:
        return value.strip() if isinstance(value, str) else value


class TriageError(Exception):
    """The model's answer could not be turned into a :class:`Triage`.

    ``raw`` is the model's text exactly as received, for logs and bug reports.
    """

    def __init__(self, message: str, raw: str) -> None:
        super().__init__(message)
        self.raw = raw


class NoJSONError(TriageError):
    """The answer holds no JSON object at all (prose only, or cut off mid-object)."""


class InvalidTriageError(TriageError):
    """The answer holds a JSON object, but it is not a valid :class:`Triage`."""

    def __init__(self, message: str, raw: str, data: Any, errors: ValidationError) -> None:
        super().__init__(message, raw)
        self.data = data
        self.errors = errors


_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[ \t]*\n(.*?)```", re.DOTALL)
_DECODER = json.JSONDecoder()


def extract_json_object(text: str) -> dict[str, Any]:
    """The first JSON object in ``text``: bare, inside a code fence, or amid prose.

    Raises :class:`NoJSONError` if there is none.
    """
    stripped = text.strip()
    candidates = [stripped]
    candidates += [m.group(2).strip() for m in _FENCE.finditer(text)]
    for candidate in candidates:
        try:
            value = json.loads(candidate)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    # Prose around the object: try to decode from every "{" in turn.
    for start in (m.start() for m in re.finditer(r"\{", text)):
        try:
            value, _ = _DECODER.raw_decode(text, start)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    preview = text if len(text) <= 120 else text[:117] + "..."
    raise NoJSONError(f"the model's answer holds no JSON object: {preview!r}", text)


def parse_triage(text: str) -> Triage:
    """Turn a model's text into a :class:`Triage`, or raise a :class:`TriageError`.

    :func:`triage` does not need it (the client's ``parse()`` validates and repairs the
    answer); it is for text that came some other way: logs, stored answers, a plain
    ``create()`` call.
    """
    data = extract_json_object(text)
    try:
        return Triage.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '<root>'}: {e['msg']}" for e in exc.errors()
        )
        raise InvalidTriageError(
            f"the model's JSON is not a valid triage ({problems}): {json.dumps(data)}",
            text,
            data,
            exc,
        ) from exc


def model_name() -> str:
    return os.environ.get("TRIAGE_MODEL") or MODEL_DEFAULT


# -- the client ---------------------------------------------------------------------------

# What a llama.cpp-based server can do. It decodes a forced tool call under the tool's
# JSON Schema, so parse() sends the schema that way; it refuses response_format
# {"type": "json_schema"}, which parse() would try first on a route that claims it.
LLAMA_CPP = frozenset({"tools", "json_object", "streaming"})

DEADLINE = 60.0
"""Seconds for a whole call: every attempt, every wait, the standby included."""

TIMEOUTS = Timeouts(connect=5, read=45, first_token=15, chunk=10)
"""Per attempt: a small model on a busy CPU can take half a minute to answer. A stream
must start within 15 s and never go quiet for 10 s."""

RETRY = RetryPolicy(max_retries=2, max_retry_after=10)
"""Three tries per server. A Retry-After above 10 s is not waited on: the standby
serves at once, or the call fails with ``RateLimitWaitTooLong``."""


def routes() -> list[Route]:
    """The primary server (``OPENAI_BASE_URL``), then the standby if there is one."""
    primary = Route(model_name(), name="primary", capabilities=LLAMA_CPP)
    standby = os.environ.get("TRIAGE_STANDBY_BASE_URL")
    if not standby:
        return [primary]
    return [primary, Route(model_name(), base_url=standby, name="standby", capabilities=LLAMA_CPP)]


def make_client(**options: Any) -> ResilientClient:
    """The app's client. ``options`` go to :class:`ResilientClient` (tests pass ``clock=``)."""
    return ResilientClient(
        routes=routes(), deadline=DEADLINE, timeouts=TIMEOUTS, retry=RETRY, **options
    )


def make_async_client(**options: Any) -> AsyncResilientClient:
    """:func:`make_client` for asyncio."""
    return AsyncResilientClient(
        routes=routes(), deadline=DEADLINE, timeouts=TIMEOUTS, retry=RETRY, **options
    )


@functools.cache
def default_client() -> ResilientClient:
    """One client for the process, so that every call shares its circuit breakers."""
    return make_client()


@functools.cache
def default_async_client() -> AsyncResilientClient:
    return make_async_client()


# -- the feature --------------------------------------------------------------------------


def _messages(system: str, ticket: str) -> list[ChatCompletionMessageParam]:
    return [{"role": "system", "content": system}, {"role": "user", "content": ticket}]


def _triage_request(ticket: str) -> dict[str, Any]:
    """Messages, max_tokens and the header naming the prompt version, from the file
    (the routes choose the model: ``TRIAGE_MODEL``)."""
    request = TRIAGE.render(ticket=ticket)
    del request["model"]
    return request


def _triaged(completion: ParsedChatCompletion[Triage]) -> Triage:
    result = completion.choices[0].message.parsed
    assert result is not None  # parse() returns only a reply that validates
    return result


def request_triage(
    ticket: str, client: ResilientClient | None = None, *, temperature: float = 0
) -> ParsedChatCompletion[Triage]:
    """The model's triage of ``ticket`` with everything around it: token usage, and
    ``call_info(...)`` for what the client did (attempts, waits, which server served).

    Raises :class:`TriageError` if the model's answer does not validate even after the
    client's re-asks. ``temperature`` above 0 makes answers vary: the evals sample it.
    """
    client = client or default_client()
    try:
        completion: ParsedChatCompletion[Triage] = client.chat.completions.parse(
            **_triage_request(ticket),
            temperature=temperature,
            response_format=Triage,
        )
    except StructuredOutputError as exc:
        raise TriageError(str(exc), exc.raw) from exc
    return completion


def triage(ticket: str, client: ResilientClient | None = None, *, temperature: float = 0) -> Triage:
    """Classify a support ticket; raises :class:`TriageError` if the answer is unusable."""
    return _triaged(request_triage(ticket, client, temperature=temperature))


async def arequest_triage(
    ticket: str, client: AsyncResilientClient | None = None
) -> ParsedChatCompletion[Triage]:
    """:func:`request_triage` over the async client."""
    client = client or default_async_client()
    try:
        completion: ParsedChatCompletion[Triage] = await client.chat.completions.parse(
            **_triage_request(ticket),
            temperature=0,
            response_format=Triage,
        )
    except StructuredOutputError as exc:
        raise TriageError(str(exc), exc.raw) from exc
    return completion


async def atriage(ticket: str, client: AsyncResilientClient | None = None) -> Triage:
    """:func:`triage` over the async client."""
    return _triaged(await arequest_triage(ticket, client))


def draft_reply(ticket: str, client: ResilientClient | None = None) -> Iterator[str]:
    """Stream a short reply to the customer, piece by piece as the model writes it.

    A stream that fails before any text is retried by the client; one that fails after
    text reached the caller raises ``StreamInterrupted`` with that text as
    ``partial_text`` (a retry would send the customer the start of the reply twice).
    """
    client = client or default_client()
    stream = client.chat.completions.create(
        messages=_messages(REPLY_PROMPT, ticket),
        temperature=0,
        max_tokens=MAX_TOKENS,
        stream=True,
    )
    with stream:
        for chunk in stream:
            for choice in chunk.choices:
                if choice.delta.content:
                    yield choice.delta.content


async def adraft_reply(
    ticket: str, client: AsyncResilientClient | None = None
) -> AsyncIterator[str]:
    """:func:`draft_reply` over the async client."""
    client = client or default_async_client()
    stream = await client.chat.completions.create(
        messages=_messages(REPLY_PROMPT, ticket),
        temperature=0,
        max_tokens=MAX_TOKENS,
        stream=True,
    )
    async with stream:
        async for chunk in stream:
            for choice in chunk.choices:
                if choice.delta.content:
                    yield choice.delta.content
