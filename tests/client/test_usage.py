"""``usage_of`` (once per call) reads every usage shape as the plain reading does.

Issue 7: a pydantic usage's fields are read as they are, an exact dict with ``in`` and
subscripts, an int is not passed through ``int()``; the figures must be those of the
straightforward reading below, for every shape a provider, a cache or a user hands it.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import openai
import pydantic
import pytest

from pytest_llm.client._usage import usage_of


def reference(value: Any) -> dict[str, int] | None:
    """The reading as it was before the fast one: ``get`` per field, ``model_dump()`` for
    token details, ``int()`` on every figure."""
    usage = getattr(value, "usage", None)
    if usage is None:
        return None
    if hasattr(usage, "model_dump"):
        fields = getattr(usage, "__dict__", None)
        if isinstance(fields, dict) and not getattr(usage, "__pydantic_extra__", None):
            usage = fields
        else:
            usage = usage.model_dump()
    if not isinstance(usage, dict):
        return None
    prompt = usage.get("prompt_tokens", usage.get("input_tokens")) or 0
    output = usage.get("completion_tokens", usage.get("output_tokens")) or 0
    details = usage.get("prompt_tokens_details") or usage.get("input_tokens_details") or {}
    if not isinstance(details, dict) and hasattr(details, "model_dump"):
        details = details.model_dump()
    cached = (details.get("cached_tokens") if isinstance(details, dict) else 0) or 0
    total = usage.get("total_tokens") or prompt + output
    return {
        "input_tokens": int(prompt),
        "output_tokens": int(output),
        "total_tokens": int(total),
        "cached_tokens": int(cached),
    }


class _Lenient(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="allow")
    prompt_tokens: int = 0


class _Getter(dict[str, Any]):
    def get(self, key: str, default: Any = None) -> Any:
        return super().get(key, default) if key != "total_tokens" else 999


class _Dumps:
    def model_dump(self) -> Any:
        return [1, 2]


Usage = openai.types.CompletionUsage
USAGES: dict[str, Any] = {
    "chat": Usage(prompt_tokens=38, completion_tokens=31, total_tokens=69),
    "chat with details": Usage(
        prompt_tokens=38,
        completion_tokens=31,
        total_tokens=69,
        prompt_tokens_details={"cached_tokens": 12, "audio_tokens": 0},
        completion_tokens_details={"reasoning_tokens": 5},
    ),
    "chat, details without cached": Usage(
        prompt_tokens=3, completion_tokens=1, total_tokens=4, prompt_tokens_details={}
    ),
    "constructed, partial": Usage.construct(prompt_tokens=7, completion_tokens=3),
    "with extra": Usage(prompt_tokens=1, completion_tokens=2, total_tokens=3, cost=0.5),  # type: ignore[call-arg]
    "responses": openai.types.responses.ResponseUsage.construct(
        input_tokens=20,
        output_tokens=4,
        total_tokens=24,
        input_tokens_details={"cached_tokens": 8},
        output_tokens_details={"reasoning_tokens": 0},
    ),
    "embeddings": openai.types.CreateEmbeddingResponse.model_validate(
        {
            "data": [],
            "model": "m",
            "object": "list",
            "usage": {"prompt_tokens": 5, "total_tokens": 5},
        }
    ).usage,
    "dict": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6},
    "dict, responses": {
        "input_tokens": 5,
        "output_tokens": 1,
        "input_tokens_details": {"cached_tokens": 2},
    },
    "dict, None figures": {"prompt_tokens": None, "input_tokens": 9, "completion_tokens": None},
    "dict, floats": {"prompt_tokens": 2.0, "completion_tokens": 1.5, "total_tokens": True},
    "dict, no total": {"prompt_tokens": 4, "completion_tokens": 2},
    "dict, object details": {
        "prompt_tokens": 4,
        "prompt_tokens_details": SimpleNamespace(cached_tokens=1),
    },
    "dict, model details": {
        "prompt_tokens": 4,
        "prompt_tokens_details": openai.types.completion_usage.PromptTokensDetails(cached_tokens=3),
    },
    "dict subclass with its own get": _Getter(prompt_tokens=1, completion_tokens=1),
    "empty dict": {},
    "lenient model with extra": _Lenient(prompt_tokens=3, completion_tokens=2),
    "model_dump not a dict": _Dumps(),
    "a namespace": SimpleNamespace(prompt_tokens=1),
    "a number": 5,
    "None": None,
}


@pytest.mark.parametrize("name", list(USAGES))
def test_usage_of_reads_as_the_reference(name: str) -> None:
    reply = SimpleNamespace(usage=USAGES[name])
    got, expected = usage_of(reply), reference(reply)
    assert got == expected
    if got is not None:
        assert all(type(v) is int for v in got.values())


def test_a_reply_without_usage_has_none() -> None:
    assert usage_of(object()) is None
