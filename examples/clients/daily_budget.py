"""Baseline: the daily budget counter.

The shape (seed articles 001 "cost control" and 003 "token budget"): before the call,
estimate the tokens (``len(content) / 4``) and refuse when ``spent + estimate`` would
pass the daily limit; after the call, add the actual usage (tokens, or dollars at the
model's price); reset the counter when the date changes. Check, call, add: nothing is
reserved while the call is in flight. Async, as the article's service calls it.

Configuration from the suite's ``Setup``: ``daily_limit = budget.limit`` in
``budget.unit`` (tokens or USD at the route's price), ``per_request_limit =
budget.per_request``; the SDK with the setup's ``max_retries`` and timeout. The date is
read through a ``today`` parameter (``datetime.date.today`` by default); the adapter
passes the harness clock's.

Conformance: ``pytest --llm-conformance=examples.clients.daily_budget:adapter``.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from types import MappingProxyType
from typing import Any

import openai

from pytest_llm.conformance import ErrorInfo, Setup

from ._common import (
    SDK_CAPABILITIES,
    SDK_REASONS,
    SDKAdapter,
    openai_kwargs,
    platform_known,
    sdk_error_kind,
)

__all__ = ["BudgetClient", "BudgetExceeded", "adapter"]


class BudgetExceeded(Exception):
    """The daily budget would be passed."""


class BudgetClient:
    """An async SDK client behind a daily budget in tokens or US dollars."""

    def __init__(
        self,
        model: str,
        *,
        daily_limit: float,
        unit: str = "tokens",
        per_request_limit: float | None = None,
        price: tuple[float, float] = (0.0, 0.0),
        today: Callable[[], datetime.date] = datetime.date.today,
        **openai_options: Any,
    ) -> None:
        self.model = model
        self.openai = openai.AsyncOpenAI(**openai_options)
        self.daily_limit = daily_limit
        self.unit = unit
        self.per_request_limit = per_request_limit
        self.price = price  # US dollars per 1M (input, output) tokens
        self._today = today
        self.daily_spend = 0.0
        self.last_reset = today()

    def _cost(self, prompt_tokens: float, completion_tokens: float) -> float:
        if self.unit == "tokens":
            return prompt_tokens + completion_tokens
        return (prompt_tokens * self.price[0] + completion_tokens * self.price[1]) / 1e6

    def _check_budget(self, est_tokens: float) -> None:
        if self._today() > self.last_reset:
            self.daily_spend = 0.0
            self.last_reset = self._today()
        est = self._cost(est_tokens, 0)
        if self.per_request_limit is not None and est > self.per_request_limit:
            raise BudgetExceeded(f"Request of ~{est:g} {self.unit} is over the per-request limit")
        if self.daily_spend + est > self.daily_limit:
            raise BudgetExceeded(f"Daily budget of {self.daily_limit:g} {self.unit} exceeded")

    async def complete(self, messages: list[Any], **params: Any) -> Any:
        est_tokens = sum(len(str(m.get("content") or "")) / 4 for m in messages)
        self._check_budget(est_tokens)
        params.setdefault("model", self.model)
        response = await self.openai.chat.completions.create(messages=messages, **params)
        if response.usage is not None:
            usage = response.usage
            self.daily_spend += self._cost(usage.prompt_tokens, usage.completion_tokens)
        return response

    async def close(self) -> None:
        await self.openai.close()


class BudgetAdapter(SDKAdapter):
    name = "daily-budget"
    is_async = True
    capabilities = (SDK_CAPABILITIES - {"stream"}) | {"budget", "cancel"}
    reasons = MappingProxyType(
        {**SDK_REASONS, "stream": "the pattern wraps non-streamed calls only"}
    )

    def make(self, setup: Setup) -> BudgetClient:
        route = setup.routes[0]
        budget = setup.budget
        clock = setup.clock
        client = BudgetClient(
            route.model,
            daily_limit=budget.limit if budget else float("inf"),
            unit=budget.unit if budget else "tokens",
            per_request_limit=budget.per_request if budget else None,
            price=route.price or (0.0, 0.0),
            today=lambda: clock.now().date(),
            **openai_kwargs(setup, route),
        )
        platform_known(client.openai)
        return client

    def describe(self, error: BaseException) -> ErrorInfo:
        if isinstance(error, BudgetExceeded):
            return ErrorInfo("budget")
        return ErrorInfo(sdk_error_kind(error), chained=error.__cause__ is not None)


def adapter() -> BudgetAdapter:
    return BudgetAdapter()
