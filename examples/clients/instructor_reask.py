"""Baseline: instructor's validation re-asks (``response_model`` + ``max_retries``).

Configured as instructor's documentation shows: ``instructor.from_openai(
openai.OpenAI(...), mode=instructor.Mode.JSON)`` (the model answers JSON in its
content), then ``client.chat.completions.create(response_model=Model, max_retries=2,
messages=...)``: on a validation error instructor appends the error to the messages
and asks again, at most ``max_retries`` more times ("initial + 2 retries" in its
retry guide). The wrapped SDK client keeps the setup's ``max_retries`` and timeout.
Plain calls go to the SDK client directly.

instructor has no sleeps of its own between re-asks (no ``wait=``), so nothing needs
to be made virtual beyond the SDK's.

Conformance: ``pytest --llm-conformance=examples.clients.instructor_reask:adapter``.
Needs openai 2.x: instructor 1.17 pins ``jiter<0.15``, which openai 3.x cannot use.
"""

from __future__ import annotations

from typing import Any

import instructor
import openai

from pytest_llm.conformance import ErrorInfo, Request, Setup

from ._common import (
    SDK_CAPABILITIES,
    SDK_REASONS,
    SDKAdapter,
    call_args,
    openai_kwargs,
    sdk_error_kind,
)

__all__ = ["InstructorClient", "adapter"]

REASKS = 2
"""instructor's ``max_retries`` for validation re-asks, as its retry guide sets it."""


class InstructorClient:
    """An SDK client and its instructor wrapper in JSON mode."""

    def __init__(self, model: str, *, reasks: int = REASKS, **openai_options: Any) -> None:
        self.model = model
        self.openai = openai.OpenAI(**openai_options)
        self.instructor = instructor.from_openai(self.openai, mode=instructor.Mode.JSON)
        self.reasks = reasks

    def complete(self, messages: list[Any], **params: Any) -> Any:
        params.setdefault("model", self.model)
        return self.openai.chat.completions.create(messages=messages, **params)

    def stream(self, messages: list[Any], **params: Any) -> Any:
        params.setdefault("model", self.model)
        return self.openai.chat.completions.create(messages=messages, stream=True, **params)

    def extract(self, messages: list[Any], schema: type[Any], **params: Any) -> Any:
        params.setdefault("model", self.model)
        return self.instructor.chat.completions.create(
            messages=messages,
            response_model=schema,
            max_retries=self.reasks,
            **params,
        )

    def close(self) -> None:
        self.openai.close()


class InstructorAdapter(SDKAdapter):
    name = "instructor"
    capabilities = SDK_CAPABILITIES | {"structured"}
    reasons = SDK_REASONS

    def make(self, setup: Setup) -> InstructorClient:
        route = setup.routes[0]
        return InstructorClient(route.model, **openai_kwargs(setup, route))

    def parse(self, client: Any, request: Request, schema: type[Any]) -> Any:
        messages, kwargs = call_args(request)
        return client.extract(messages, schema, **kwargs)

    def describe(self, error: BaseException) -> ErrorInfo:
        name = type(error).__name__
        if name in {"InstructorRetryException", "IncompleteOutputException"}:
            return ErrorInfo("structured", chained=True)
        return ErrorInfo(sdk_error_kind(error), chained=error.__cause__ is not None)


def adapter() -> InstructorAdapter:
    return InstructorAdapter()
