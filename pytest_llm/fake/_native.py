"""The fake's answers to Anthropic's and Gemini's own APIs, in their own shapes.

The same scripts answer every provider: :meth:`FakeProvider.answer_for` picks the
reply, this module says it as ``POST /v1/messages`` (plain or with the full event
stream) or ``models/{model}:generateContent`` / ``:streamGenerateContent`` would,
answers token counting, and refuses a body the real API would refuse with that
API's own 400.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from .._exchange import Reply
from .._sse import SSEEvent
from . import _anthropic, _gemini
from ._shapes import Answer, Ids

if TYPE_CHECKING:
    from ._log import FakeRequest
    from ._provider import FakeProvider


__all__ = ["answer_native", "anthropic_error", "gemini_error"]

GEMINI_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "NOT_IMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
"""HTTP status -> the google.rpc code name Gemini puts in ``error.status``."""


def anthropic_error(type_: str, message: str, request_id: str | None) -> dict[str, Any]:
    """Anthropic's error body: ``{"type": "error", "error": {...}, "request_id": ...}``."""
    doc: dict[str, Any] = {"type": "error", "error": {"type": type_, "message": message}}
    if request_id is not None:
        doc["request_id"] = request_id
    return doc


def gemini_error(
    code: int, message: str, status: str | None = None, details: list[Any] | None = None
) -> dict[str, Any]:
    """Gemini's error body: ``{"error": {"code", "message", "status", "details"?}}``."""
    error: dict[str, Any] = {
        "code": code,
        "message": message,
        "status": status
        or GEMINI_STATUS.get(code, "UNKNOWN" if code >= 500 else "FAILED_PRECONDITION"),
    }
    if details:
        error["details"] = details
    return {"error": error}


def _object_inputs(request: FakeRequest, answer: Answer) -> list[dict[str, Any]] | str:
    """Each tool call's arguments as a JSON object, or why one cannot be sent."""
    inputs = []
    for k, (name, args) in enumerate(answer.tool_calls):
        value = _anthropic.object_arguments(name, args)
        if value is None:
            where = (
                "a tool_use block's input"
                if request.provider == "anthropic"
                else ("a functionCall part's args")
            )
            script = request.script.describe() if request.script else "the default reply"
            return (
                f"llm_fake: {script} calls {name} with arguments that are not a JSON object "
                f"({args[:60]!r}); {where} is always an object, so "
                f"{request.provider} cannot send them (request #{request.number}, "
                f"tool call [{k}]).\n"
                "Fix: pass the arguments as a dict; to test arguments that are not JSON, "
                "script them for the OpenAI APIs, whose arguments are a string."
            )
        inputs.append(value)
    return inputs


def answer_native(fake: FakeProvider, request: FakeRequest, body: Any, ids: Ids) -> Reply:
    """The reply to an Anthropic or Gemini request (the provider is on the request)."""
    from .._errors import FakeScriptError

    anthropic = request.provider == "anthropic"
    if anthropic:
        bad = _anthropic.invalid(request.api, body)
        if bad is not None:
            doc = anthropic_error(*bad, f"req_fake{request.number:04d}")
            return fake._json(request, doc, [], 400)
    else:
        problem = _gemini.invalid(request.api, body)
        if problem is not None:
            return fake._json(request, gemini_error(*problem), [], 400)
    doc_in = request.json
    if request.api == "count_tokens":
        counted = _anthropic.count_tokens(doc_in) if anthropic else _gemini.count_tokens(doc_in)
        return fake._json(request, counted, [])
    answer, headers = fake.answer_for(request)
    inputs = _object_inputs(request, answer)
    if isinstance(inputs, str):
        fake.misses.append(inputs)
        raise FakeScriptError(inputs)
    if anthropic:
        if request.stream:
            stream = _anthropic.message_events(doc_in, answer, ids, inputs)
            events = [SSEEvent(_dumps(e), event=e["type"]) for e in stream]
            return fake._stream(request, events, headers)
        return fake._json(request, _anthropic.message(doc_in, answer, ids, inputs), headers)
    model = request.model or "gemini-fake"
    if request.stream:
        chunks = _gemini.stream_chunks(doc_in, model, answer, ids, inputs)
        return fake._stream(request, [SSEEvent(_dumps(c)) for c in chunks], headers)
    return fake._json(request, _gemini.response(doc_in, model, answer, ids, inputs), headers)


def _dumps(doc: Any) -> str:
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False)
