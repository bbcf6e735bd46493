"""Baseline: the fallback loop that catches ``Exception``.

The shape (seed articles 000, 001, 002): a list of providers in preference order;
``for name, client in providers: try: return client.complete(...) except Exception:
log, continue``; when all fail, raise one error with all the errors in its message.
Each provider is the "robust client" of the same articles: a default ``openai.OpenAI``
on its own base URL whose ``complete`` is under tenacity's ``@retry``
(:class:`.tenacity_retry.TenacityClient`).

Configuration from the suite's ``Setup``: one provider per route, in order, each
retried as in :mod:`.tenacity_retry` (``stop_after_attempt(max_retries + 1)``,
``wait_exponential(multiplier=backoff_base, max=backoff_max_delay)``, the harness
clock's ``sleep``; the SDK keeps its own default retries). Context windows and
``fallback_on`` have no place in this pattern.

Conformance: ``pytest --llm-conformance=examples.clients.fallback_loop:adapter``.
"""

from __future__ import annotations

import logging
from typing import Any

from pytest_llm.conformance import ErrorInfo, Setup

from ._common import SDK_CAPABILITIES, SDK_REASONS, SDKAdapter, openai_kwargs, sdk_error_kind
from .tenacity_retry import TenacityClient, unwrap

__all__ = ["AllProvidersFailed", "FallbackClient", "adapter"]

logger = logging.getLogger(__name__)


class AllProvidersFailed(Exception):
    """Every provider failed; ``errors`` holds ``(name, error)`` pairs."""

    def __init__(self, errors: list[tuple[str, BaseException]]) -> None:
        super().__init__(f"All providers failed: {errors}")
        self.errors = errors


class FallbackClient:
    """Try each provider in order; the first success wins."""

    def __init__(self, providers: list[tuple[str, TenacityClient]]) -> None:
        self.providers = providers

    def complete(self, messages: list[Any], **params: Any) -> Any:
        errors: list[tuple[str, BaseException]] = []
        params.pop("model", None)
        for name, client in self.providers:
            try:
                return client.complete(messages, **params)
            except Exception as e:
                logger.warning(f"{name} failed: {e}")
                errors.append((name, e))
                continue
        raise AllProvidersFailed(errors)

    def stream(self, messages: list[Any], **params: Any) -> Any:
        errors: list[tuple[str, BaseException]] = []
        params.pop("model", None)
        for name, client in self.providers:
            try:
                return client.stream(messages, **params)
            except Exception as e:
                logger.warning(f"{name} failed: {e}")
                errors.append((name, e))
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
        providers = []
        for r in setup.routes:
            options = openai_kwargs(setup, r)
            del options["max_retries"]  # the articles leave the SDK's default (2)
            client = TenacityClient(
                r.model,
                attempts=setup.max_retries + 1,
                multiplier=setup.backoff_base,
                max_wait=setup.backoff_max_delay,
                sleep=setup.clock.sleep,
                **options,
            )
            providers.append((r.model, client))
        return FallbackClient(providers)

    def describe(self, error: BaseException) -> ErrorInfo:
        if isinstance(error, AllProvidersFailed) and error.errors:
            last = unwrap(error.errors[-1][1])
            return ErrorInfo(sdk_error_kind(last), chained=True)
        inner = unwrap(error)
        return ErrorInfo(sdk_error_kind(inner), chained=inner is not error)


def adapter() -> FallbackAdapter:
    return FallbackAdapter()
