"""Baseline: a tenacity-decorated call, the retry the seed articles teach.

The shape (seed articles 000, 001, 002): a method wrapped in tenacity's ``@retry`` with
``stop_after_attempt(3)`` and ``wait_exponential(...)``, retrying
``(openai.RateLimitError, openai.APIError)``, around a default ``openai.OpenAI()``
client, which keeps its own ``max_retries=2``: the articles never turn it off.

Configuration from the suite's ``Setup``: ``stop_after_attempt(max_retries + 1)``,
``wait_exponential(multiplier=backoff_base, max=backoff_max_delay)``; the SDK keeps its
defaults except the timeout. ``sleep=`` is tenacity's documented hook for the wait
(``time.sleep`` by default); the adapter passes the harness clock's ``sleep``.

Conformance: ``pytest --llm-conformance=examples.clients.tenacity_retry:adapter``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import openai
from tenacity import (
    RetryError,
    retry,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)

from pytest_llm.conformance import ErrorInfo, Setup

from ._common import SDK_CAPABILITIES, SDK_REASONS, SDKAdapter, openai_kwargs, sdk_error_kind

__all__ = ["TenacityClient", "adapter"]


class TenacityClient:
    """``complete`` and ``stream`` under one tenacity ``@retry``."""

    def __init__(
        self,
        model: str,
        *,
        attempts: int = 3,
        multiplier: float = 1.0,
        max_wait: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
        **openai_options: Any,
    ) -> None:
        self.model = model
        self.openai = openai.OpenAI(**openai_options)  # the SDK's own retries stay on
        policy = retry(
            stop=stop_after_attempt(attempts),
            wait=wait_exponential(multiplier=multiplier, max=max_wait),
            retry=retry_if_exception_type((openai.RateLimitError, openai.APIError)),
            sleep=sleep,
        )
        self.complete = policy(self._create)
        self.stream = policy(self._create_stream)

    def _create(self, messages: list[Any], **params: Any) -> Any:
        params.setdefault("model", self.model)
        return self.openai.chat.completions.create(messages=messages, **params)

    def _create_stream(self, messages: list[Any], **params: Any) -> Any:
        params.setdefault("model", self.model)
        return self.openai.chat.completions.create(messages=messages, stream=True, **params)

    def close(self) -> None:
        self.openai.close()


def unwrap(error: BaseException) -> BaseException:
    """tenacity raises ``RetryError`` around the last attempt's exception."""
    if isinstance(error, RetryError):
        inner = error.last_attempt.exception()
        if inner is not None:
            return inner
    return error


class TenacityAdapter(SDKAdapter):
    name = "tenacity"
    capabilities = SDK_CAPABILITIES
    reasons = SDK_REASONS

    def make(self, setup: Setup) -> TenacityClient:
        route = setup.routes[0]
        options = openai_kwargs(setup, route)
        del options["max_retries"]  # the seed articles leave the SDK's default (2)
        return TenacityClient(
            route.model,
            attempts=setup.max_retries + 1,
            multiplier=setup.backoff_base,
            max_wait=setup.backoff_max_delay,
            sleep=setup.clock.sleep,
            **options,
        )

    def base_url(self, client: Any, value: Any) -> str | None:
        return str(client.openai.base_url).rstrip("/")

    def describe(self, error: BaseException) -> ErrorInfo:
        inner = unwrap(error)
        chained = inner is not error or error.__cause__ is not None
        return ErrorInfo(sdk_error_kind(inner), chained=chained)


def adapter() -> TenacityAdapter:
    return TenacityAdapter()
