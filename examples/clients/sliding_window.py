"""Baseline: the hand-rolled sliding-window rate limiter with ``time.sleep``.

The shape (seed article 001, "the robust client"): a list of request timestamps; drop
those older than 60 s; when ``rpm_limit`` are left, sleep until the oldest leaves the
window, then append the timestamp taken *before* the sleep; the call itself under the
tenacity ``@retry`` of the same article (``stop_after_attempt(3)``,
``wait_exponential``) around a default ``openai.OpenAI()``.

Configuration from the suite's ``Setup``: ``rpm_limit = rate_limit.rpm`` (TPM and burst
have no place in this pattern), retries as in :mod:`.tenacity_retry`. The client reads
``now`` and ``sleep`` through two parameters (``time.time`` and ``time.sleep`` by
default); the adapter passes the harness clock's so the suite runs on virtual time.

Conformance: ``pytest --llm-conformance=examples.clients.sliding_window:adapter``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from types import MappingProxyType
from typing import Any

import openai
from tenacity import retry, stop_after_attempt, wait_exponential

from pytest_llm.conformance import ErrorInfo, Setup

from ._common import SDK_CAPABILITIES, SDK_REASONS, SDKAdapter, openai_kwargs, sdk_error_kind
from .tenacity_retry import unwrap

__all__ = ["SlidingWindowClient", "adapter"]


class SlidingWindowClient:
    """An RPM limiter over a list of timestamps, then a retried SDK call."""

    def __init__(
        self,
        model: str,
        *,
        rpm_limit: int = 60,
        attempts: int = 3,
        multiplier: float = 1.0,
        max_wait: float = 60.0,
        now: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        **openai_options: Any,
    ) -> None:
        self.model = model
        self.openai = openai.OpenAI(**openai_options)
        self.request_times: list[float] = []
        self.rpm_limit = rpm_limit
        self._now = now
        self._sleep = sleep
        policy = retry(
            stop=stop_after_attempt(attempts),
            wait=wait_exponential(multiplier=multiplier, max=max_wait),
            sleep=sleep,
        )
        self.complete = policy(self._complete)

    def _check_rate_limit(self) -> None:
        now = self._now()
        # forget requests older than one minute
        self.request_times = [t for t in self.request_times if now - t < 60]
        if len(self.request_times) >= self.rpm_limit:
            self._sleep(60 - (now - self.request_times[0]))
        self.request_times.append(now)

    def _complete(self, messages: list[Any], **params: Any) -> Any:
        self._check_rate_limit()
        params.setdefault("model", self.model)
        return self.openai.chat.completions.create(messages=messages, **params)

    def close(self) -> None:
        self.openai.close()


class SlidingWindowAdapter(SDKAdapter):
    name = "sliding-window"
    capabilities = (SDK_CAPABILITIES - {"stream"}) | {"rate_limit"}
    reasons = MappingProxyType(
        {**SDK_REASONS, "stream": "the pattern wraps non-streamed calls only"}
    )

    def make(self, setup: Setup) -> SlidingWindowClient:
        route = setup.routes[0]
        options = openai_kwargs(setup, route)
        del options["max_retries"]  # the article leaves the SDK's default (2)
        rpm = setup.rate_limit.rpm if setup.rate_limit and setup.rate_limit.rpm else 60
        return SlidingWindowClient(
            route.model,
            rpm_limit=rpm,
            attempts=setup.max_retries + 1,
            multiplier=setup.backoff_base,
            max_wait=setup.backoff_max_delay,
            now=setup.clock.time,
            sleep=setup.clock.sleep,
            **options,
        )

    def base_url(self, client: Any, value: Any) -> str | None:
        return str(client.openai.base_url).rstrip("/")

    def describe(self, error: BaseException) -> ErrorInfo:
        inner = unwrap(error)
        return ErrorInfo(sdk_error_kind(inner), chained=inner is not error)


def adapter() -> SlidingWindowAdapter:
    return SlidingWindowAdapter()
