"""Token usage read from any reply the client handles, in one shape, and a rough
estimate of a request's size before it is sent."""

from __future__ import annotations

import json
from typing import Any

__all__ = ["estimate_request_tokens", "usage_of"]

CHARS_PER_TOKEN = 4
"""The usual rule of thumb for English text with OpenAI's tokenizers."""


def usage_of(value: Any) -> dict[str, int] | None:
    """``{"input_tokens", "output_tokens", "total_tokens", "cached_tokens"}`` of a reply.

    Reads chat completions (``prompt_tokens``/``completion_tokens``), Responses
    (``input_tokens``/``output_tokens``) and embeddings; ``None`` when it has no usage.
    Once per call: a pydantic usage (and its token details) is read from its fields as
    they are, a dict with ``in`` and subscripts (no method call per field), and an int
    is not passed through ``int()`` (``tests/client/test_usage.py`` holds the reference).
    """
    usage = getattr(value, "usage", None)
    if usage is None:
        return None
    if type(usage) is not dict:
        usage = _fields(usage)
        if not isinstance(usage, dict):
            return None
    if type(usage) is dict:  # what a pydantic model's fields and model_dump() are
        if "prompt_tokens" in usage:
            prompt = usage["prompt_tokens"] or 0
        else:
            prompt = usage.get("input_tokens") or 0
        if "completion_tokens" in usage:
            output = usage["completion_tokens"] or 0
        else:
            output = usage.get("output_tokens") or 0
        details = usage.get("prompt_tokens_details") or usage.get("input_tokens_details")
        total = usage.get("total_tokens") or prompt + output
    else:  # a dict subclass: its own get()
        prompt = usage.get("prompt_tokens", usage.get("input_tokens")) or 0
        output = usage.get("completion_tokens", usage.get("output_tokens")) or 0
        details = usage.get("prompt_tokens_details") or usage.get("input_tokens_details")
        total = usage.get("total_tokens") or prompt + output
    cached: Any = 0
    if details:
        if not isinstance(details, dict):
            details = _fields(details)
        if isinstance(details, dict):
            cached = details.get("cached_tokens") or 0
    return {
        "input_tokens": prompt if type(prompt) is int else int(prompt),
        "output_tokens": output if type(output) is int else int(output),
        "total_tokens": total if type(total) is int else int(total),
        "cached_tokens": cached if type(cached) is int else int(cached),
    }


def _fields(obj: Any) -> Any:
    """A pydantic model's fields as a dict (its ``__dict__`` as it is when it holds every
    field and no extra, else ``model_dump()``); anything else as it is."""
    if not hasattr(obj, "model_dump"):
        return obj if isinstance(obj, dict) else None
    fields = getattr(obj, "__dict__", None)
    if isinstance(fields, dict) and not getattr(obj, "__pydantic_extra__", None):
        return fields
    return obj.model_dump()


def _text_of(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def estimate_request_tokens(kwargs: dict[str, Any]) -> int:
    """A request's prompt plus its output allowance, in tokens.

    Counted with the model's tokenizer the way the provider bills it (``_tokens.py``,
    the ``tokens`` extra); without the extra, estimated from characters (``len // 4``
    plus a few tokens per message).
    """
    from ._tokens import TokenizerUnavailable, count_request_tokens, tokenizer_available

    if tokenizer_available():
        try:
            prompt = count_request_tokens(kwargs)
        except TokenizerUnavailable:
            pass
        else:
            output = kwargs.get("max_completion_tokens") or kwargs.get("max_tokens") or 0
            return prompt + int(output or kwargs.get("max_output_tokens") or 0)
    chars = 0
    messages = kwargs.get("messages")
    if isinstance(messages, list):
        for message in messages:
            chars += len(_text_of(message.get("content") if isinstance(message, dict) else message))
            chars += 4 * CHARS_PER_TOKEN
    for name in ("input", "instructions", "tools"):
        if kwargs.get(name) is not None:
            chars += len(_text_of(kwargs[name]))
    output = kwargs.get("max_completion_tokens") or kwargs.get("max_tokens") or 0
    output = output or kwargs.get("max_output_tokens") or 0
    return chars // CHARS_PER_TOKEN + int(output)
