"""The JSON the Gemini API sends back, built from what a script says the model said.

Pure functions, like :mod:`._shapes` for OpenAI: ``models/{model}:generateContent``
answers one ``GenerateContentResponse``; ``:streamGenerateContent?alt=sse`` answers
a series of them, each carrying the next piece of text (function calls arrive whole),
the last one the finish reason and the full usage, as the real API streams. The
``google-genai`` SDK's ``GenerateContentResponse`` (which forbids unknown fields)
validates every one.
"""

from __future__ import annotations

import json
from typing import Any

from ._shapes import Answer, Ids, completion_tokens, estimate_tokens, last_text, split_text

__all__ = [
    "FINISH_REASONS",
    "count_tokens",
    "invalid",
    "last_user_message",
    "response",
    "stream_chunks",
]

FINISH_REASONS = {
    "stop": "STOP",
    "length": "MAX_TOKENS",
    "tool_calls": "STOP",  # Gemini ends a turn of function calls with STOP
    "content_filter": "SAFETY",
}
"""A script's finish reason (OpenAI's words) as Gemini's ``finishReason``."""


def _texts(parts: Any) -> str:
    items = parts if isinstance(parts, list) else []
    texts = [
        str(part["text"])
        for part in items
        if isinstance(part, dict) and isinstance(part.get("text"), str) and not part.get("thought")
    ]
    return "\n".join(t for t in texts if t)


def _contents(body: dict[str, Any]) -> list[dict[str, Any]]:
    contents = body.get("contents")
    return [c for c in contents if isinstance(c, dict)] if isinstance(contents, list) else []


def last_user_message(body: dict[str, Any]) -> str:
    """The text of the last user turn that has text (function responses are not asked)."""
    return last_text(_contents(body), lambda turn: _texts(turn.get("parts")), role="user")


def prompt_tokens(body: dict[str, Any]) -> int:
    """A plausible prompt size: system instruction, every turn's parts, tools."""
    total = 0
    system = body.get("systemInstruction")
    if isinstance(system, dict):
        total += estimate_tokens(_texts(system.get("parts")))
    for item in _contents(body):
        parts = item.get("parts")
        total += estimate_tokens(_texts(parts))
        for part in parts if isinstance(parts, list) else []:
            if isinstance(part, dict):
                for key in ("functionCall", "functionResponse"):
                    if key in part:
                        total += estimate_tokens(json.dumps(part[key], separators=(",", ":")))
    if body.get("tools"):
        total += estimate_tokens(json.dumps(body["tools"], separators=(",", ":")))
    return max(total, 1)


def count_tokens(body: dict[str, Any]) -> dict[str, Any]:
    """``models/{model}:countTokens``: the prompt size a ``generateContent`` would bill.

    The SDK sends the contents at the top level, or inside ``generateContentRequest``.
    """
    inner = body.get("generateContentRequest")
    tokens = prompt_tokens(inner if isinstance(inner, dict) else body)
    return {
        "totalTokens": tokens,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": tokens}],
    }


def invalid(api: str, body: Any) -> tuple[int, str, str] | None:
    """The 400 the real API gives for a body it cannot use: ``(code, message, status)``."""
    if not isinstance(body, dict):
        return (400, "Invalid JSON payload received. Unexpected token.", "INVALID_ARGUMENT")
    if api == "generate_content" and not _contents(body):
        return (
            400,
            "* GenerateContentRequest.contents: contents is not specified\n",
            "INVALID_ARGUMENT",
        )
    return None


def _candidate_count(body: dict[str, Any]) -> int:
    config = body.get("generationConfig")
    n = config.get("candidateCount") if isinstance(config, dict) else None
    return n if isinstance(n, int) and not isinstance(n, bool) and 1 <= n <= 8 else 1


def _usage(body: dict[str, Any], answer: Answer, candidates: int | None) -> dict[str, Any]:
    prompt = answer.usage.get("prompt_tokens", prompt_tokens(body))
    usage: dict[str, Any] = {
        "promptTokenCount": prompt,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": prompt}],
        "totalTokenCount": prompt,
    }
    if candidates is not None:
        usage["candidatesTokenCount"] = candidates
        usage["totalTokenCount"] = prompt + candidates
    return usage


def _parts(answer: Answer, text: str | None, calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    if text is not None and (text or not calls):
        parts.append({"text": text})
    parts += [{"functionCall": call} for call in calls]
    return parts


def _calls(answer: Answer, inputs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {"name": name, "args": args}
        for (name, _), args in zip(answer.tool_calls, inputs, strict=True)
    ]


def _doc(
    model: str, ids: Ids, candidates: list[dict[str, Any]], usage: dict[str, Any]
) -> dict[str, Any]:
    return {
        "candidates": candidates,
        "usageMetadata": usage,
        "modelVersion": model,
        "responseId": ids.gemini_response,
    }


def response(
    body: dict[str, Any], model: str, answer: Answer, ids: Ids, inputs: list[dict[str, Any]]
) -> dict[str, Any]:
    """A ``GenerateContentResponse``; ``inputs`` are the function calls' args as objects."""
    n = _candidate_count(body)
    candidates = [
        {
            "content": {
                "parts": _parts(answer, answer.text, _calls(answer, inputs)),
                "role": "model",
            },
            "finishReason": FINISH_REASONS[answer.finish],
            "index": i,
        }
        for i in range(n)
    ]
    output = answer.usage.get("completion_tokens", completion_tokens(answer))
    return _doc(model, ids, candidates, _usage(body, answer, output * n))


def stream_chunks(
    body: dict[str, Any], model: str, answer: Answer, ids: Ids, inputs: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The ``alt=sse`` stream: one ``GenerateContentResponse`` a piece of text, function
    calls whole in the last one, which also carries ``finishReason`` and the full usage."""
    pieces: list[str | None] = list(split_text(answer.text or "", answer.chunks))
    calls = _calls(answer, inputs)
    if not pieces:
        pieces = ["" if answer.text is not None and not calls else None]
    n = _candidate_count(body)
    output = answer.usage.get("completion_tokens", completion_tokens(answer))
    out: list[dict[str, Any]] = []
    for k, piece in enumerate(pieces):
        last = k == len(pieces) - 1
        candidates = []
        for i in range(n):
            candidate: dict[str, Any] = {
                "content": {
                    "parts": _parts(answer, piece, calls if last else []),
                    "role": "model",
                },
                "index": i,
            }
            if last:
                candidate["finishReason"] = FINISH_REASONS[answer.finish]
            candidates.append(candidate)
        usage = _usage(body, answer, output * n if last else None)
        out.append(_doc(model, ids, candidates, usage))
    return out
