"""Support-ticket triage with an LLM: a small, real feature to test with pytest-llm.

``triage(ticket)`` asks the model for a category, a priority and a one-sentence
summary as JSON and validates it with :class:`Triage`. ``draft_reply(ticket)``
streams a short answer to the customer. ``atriage`` and ``adraft_reply`` are the
same over :class:`openai.AsyncOpenAI`.

The model is reached through any OpenAI-compatible server: ``OPENAI_BASE_URL`` and
``OPENAI_API_KEY`` are read by the SDK itself, ``TRIAGE_MODEL`` names the model
(default ``smollm2``). Nothing here knows about tests.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import AsyncIterator, Iterator
from typing import Any, Literal

import openai
from openai.types.chat import ChatCompletionMessageParam
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

__all__ = [
    "CATEGORIES",
    "PRIORITIES",
    "InvalidTriageError",
    "NoJSONError",
    "Triage",
    "TriageError",
    "adraft_reply",
    "atriage",
    "draft_reply",
    "extract_json_object",
    "model_name",
    "parse_triage",
    "triage",
]

CATEGORIES = ("billing", "bug", "account", "feature_request", "other")
PRIORITIES = ("low", "medium", "high", "urgent")

Category = Literal["billing", "bug", "account", "feature_request", "other"]
Priority = Literal["low", "medium", "high", "urgent"]

MAX_TOKENS = 200
MODEL_DEFAULT = "smollm2"

# Written out by hand rather than taken from Triage.model_json_schema(): the schema is
# part of the request body, and a cassette matches on the body, so it must not change
# when pydantic's schema generator does.
TRIAGE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "category": {"type": "string", "enum": list(CATEGORIES)},
        "priority": {"type": "string", "enum": list(PRIORITIES)},
        "summary": {"type": "string"},
    },
    "required": ["category", "priority", "summary"],
}

# Spelling out what each label covers matters to a small model: with labels alone,
# SmolLM2-135M answered "billing" for every ticket.
TRIAGE_PROMPT = (
    "Classify the support ticket.\n"
    "category: billing (payments, charges, refunds), bug (crashes, errors), "
    "account (login, password), feature_request (ideas for new features), other.\n"
    "priority: low, medium, high or urgent.\n"
    "summary: one short sentence.\n"
    "Answer in JSON."
)

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
    """Turn the model's text into a :class:`Triage`, or raise a :class:`TriageError`."""
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


def _messages(system: str, ticket: str) -> list[ChatCompletionMessageParam]:
    return [{"role": "system", "content": system}, {"role": "user", "content": ticket}]


# OpenAI proper takes {"type": "json_object"} and ignores "schema"; servers built on
# llama.cpp use the schema to constrain decoding. The SDK's type has no "schema" key.
_JSON_FORMAT: Any = {"type": "json_object", "schema": TRIAGE_SCHEMA}


def triage(ticket: str, client: openai.OpenAI | None = None, *, temperature: float = 0) -> Triage:
    """Classify a support ticket; raises :class:`TriageError` if the answer is unusable.

    ``temperature`` above 0 makes answers vary from call to call: the evals sample it.
    """
    client = client or openai.OpenAI()
    completion = client.chat.completions.create(
        model=model_name(),
        messages=_messages(TRIAGE_PROMPT, ticket),
        temperature=temperature,
        max_tokens=MAX_TOKENS,
        response_format=_JSON_FORMAT,
    )
    return parse_triage(completion.choices[0].message.content or "")


async def atriage(ticket: str, client: openai.AsyncOpenAI | None = None) -> Triage:
    """:func:`triage` over the async client."""
    client = client or openai.AsyncOpenAI()
    completion = await client.chat.completions.create(
        model=model_name(),
        messages=_messages(TRIAGE_PROMPT, ticket),
        temperature=0,
        max_tokens=MAX_TOKENS,
        response_format=_JSON_FORMAT,
    )
    return parse_triage(completion.choices[0].message.content or "")


def draft_reply(ticket: str, client: openai.OpenAI | None = None) -> Iterator[str]:
    """Stream a short reply to the customer, piece by piece as the model writes it."""
    client = client or openai.OpenAI()
    stream = client.chat.completions.create(
        model=model_name(),
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


async def adraft_reply(ticket: str, client: openai.AsyncOpenAI | None = None) -> AsyncIterator[str]:
    """:func:`draft_reply` over the async client."""
    client = client or openai.AsyncOpenAI()
    stream = await client.chat.completions.create(
        model=model_name(),
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
