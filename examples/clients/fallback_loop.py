"""Baseline: the fallback loop that catches ``Exception``.

The shape (seed articles 000, 001, 002): a list of providers in preference order;
``for name, client in providers: try: return client.complete(...) except Exception:
log, continue``; when all fail, ``raise Exception("All LLM providers failed")`` with
the errors in the message. Each provider is a default ``openai.OpenAI`` client on its
own base URL.

Configuration from the suite's ``Setup``: one provider per route, in order, each with
the SDK's ``max_retries`` and timeout from the setup. Context windows and
``fallback_on`` have no place in this pattern.

Conformance: ``pytest --llm-conformance=examples.clients.fallback_loop:adapter``.
"""

from __future__ import annotations

import logging
from typing import Any

import openai

from pytest_llm.conformance import ErrorInfo, Setup

from ._common import SDK_CAPABILITIES, SDK_REASONS, SDKAdapter, openai_kwargs, sdk_error_kind

__all__ = ["AllProvidersFailed", "FallbackClient", "adapter"]

logger = logging.getLogger(__name__)


class AllProvidersFailed(Exception):
    """Every provider failed; ``errors`` holds ``(name, error)`` pairs."""

    def __init__(self, errors: list[tuple[str, BaseException]]) -> None:
        super().__init__(f"All providers failed: {errors}")
        self.errors = errors


class FallbackClient:
    """Try each ``(model, client)`` in order; the first success wins."""

    def __init__(self, providers: list[tuple[str, openai.OpenAI]]) -> None:
        self.providers = providers

    def complete(self, messages: list[dict[str, Any]], **params: Any) -> Any:
        errors: list[tuple[str, BaseException]] = []
        params.pop("model", None)
        for model, client in self.providers:
            try:
                return client.chat.completions.create(model=model, messages=messages, **params)  # type: ignore[call-overload]
            except Exception as e:
                logger.warning(f"{model} failed: {e}")
                errors.append((model, e))
                continue
        raise AllProvidersFailed(errors)

    def stream(self, messages: list[dict[str, Any]], **params: Any) -> Any:
        errors: list[tuple[str, BaseException]] = []
        params.pop("model", None)
        for model, client in self.providers:
            try:
                return client.chat.completions.create(  # type: ignore[call-overload]
                    model=model, messages=messages, stream=True, **params
                )
            except Exception as e:
                logger.warning(f"{model} failed: {e}")
                errors.append((model, e))
                continue
        raise AllProvidersFailed(errors)

    def close(self) -> None:
        for _, client in self.providers:
            client.close()


class FallbackAdapter(SDKAdapter):
    name = "fallback-loop"
    capabilities = SDK_CAPABILITIES | {"routes", "context_fallback", "content_policy_fallback"}
    reasons = SDK_REASONS

    def make(self, setup: Setup) -> FallbackClient:
        return FallbackClient(
            [(r.model, openai.OpenAI(**openai_kwargs(setup, r))) for r in setup.routes]
        )

    def describe(self, error: BaseException) -> ErrorInfo:
        if isinstance(error, AllProvidersFailed) and error.errors:
            last = error.errors[-1][1]
            return ErrorInfo(sdk_error_kind(last), chained=True)
        return ErrorInfo(sdk_error_kind(error), chained=error.__cause__ is not None)


def adapter() -> FallbackAdapter:
    return FallbackAdapter()
