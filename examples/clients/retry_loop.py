"""Baseline: the hand-rolled retry loop that reads ``Retry-After``.

The shape (seed article 004, "handle rate limits", with article 000's advice "respect
Retry-After headers when present" done the obvious way): ``for attempt in
range(max_retries)``, call; on ``openai.RateLimitError`` re-raise on the last attempt,
else wait ``float(retry-after)`` when the header is there, ``2 ** attempt +
time.time() % 1`` ("exponential + jitter") when not, with ``time.sleep``. Only rate
limits are retried. The SDK's own retries are off (``max_retries=0``) so the loop is
the one retry layer.

Configuration from the suite's ``Setup``: the loop's ``max_retries`` is
``Setup.max_retries`` (in the article it counts attempts, not retries); the timeout as
given. The loop reads ``now`` and ``sleep`` through two parameters (``time.time`` and
``time.sleep`` by default); the adapter passes the harness clock's.

Conformance: ``pytest --llm-conformance=examples.clients.retry_loop:adapter``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

import openai

from pytest_llm.conformance import ErrorInfo, Setup

from ._common import SDK_CAPABILITIES, SDK_REASONS, SDKAdapter, openai_kwargs, sdk_error_kind

__all__ = ["RetryLoopClient", "adapter", "call_with_retry"]

T = TypeVar("T")


def call_with_retry(
    func: Callable[[], T],
    max_retries: int = 3,
    *,
    now: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Retry ``func`` on rate limits, waiting what the server says when it says."""
    for attempt in range(max_retries):
        try:
            return func()
        except openai.RateLimitError as e:
            if attempt == max_retries - 1:
                raise
            retry_after = e.response.headers.get("retry-after")
            # the server's wait when it gives one, else exponential + jitter
            wait_time = float(retry_after) if retry_after else (2**attempt) + (now() % 1)
            sleep(wait_time)
    return func()  # max_retries < 1: one plain call


class RetryLoopClient:
    """An SDK client (its retries off) under :func:`call_with_retry`."""

    def __init__(
        self,
        model: str,
        *,
        max_retries: int = 3,
        now: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        **openai_options: Any,
    ) -> None:
        self.model = model
        self.max_retries = max_retries
        self._now = now
        self._sleep = sleep
        self.openai = openai.OpenAI(max_retries=0, **openai_options)

    def complete(self, messages: list[Any], **params: Any) -> Any:
        params.setdefault("model", self.model)
        return call_with_retry(
            lambda: self.openai.chat.completions.create(messages=messages, **params),
            self.max_retries,
            now=self._now,
            sleep=self._sleep,
        )

    def stream(self, messages: list[Any], **params: Any) -> Any:
        params.setdefault("model", self.model)
        return call_with_retry(
            lambda: self.openai.chat.completions.create(messages=messages, stream=True, **params),
            self.max_retries,
            now=self._now,
            sleep=self._sleep,
        )

    def close(self) -> None:
        self.openai.close()


class RetryLoopAdapter(SDKAdapter):
    name = "retry-loop"
    capabilities = SDK_CAPABILITIES
    reasons = SDK_REASONS

    def make(self, setup: Setup) -> RetryLoopClient:
        route = setup.routes[0]
        options = openai_kwargs(setup, route)
        del options["max_retries"]
        return RetryLoopClient(
            route.model,
            max_retries=setup.max_retries,
            now=setup.clock.time,
            sleep=setup.clock.sleep,
            **options,
        )

    def describe(self, error: BaseException) -> ErrorInfo:
        return ErrorInfo(sdk_error_kind(error), chained=error.__cause__ is not None)


def adapter() -> RetryLoopAdapter:
    return RetryLoopAdapter()
