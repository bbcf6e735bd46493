"""Prices per route: what a token costs, so every attempt can be costed at the price of
the route that served it.

:data:`DEFAULT_PRICES` ships OpenAI's list prices (standard tier, per 1M tokens) as of
:data:`PRICES_DATE`, and those of the default Anthropic and Gemini models as of
:data:`NATIVE_PRICES_DATE`; prices change, so a :class:`PriceTable` takes overrides and a
route's own ``Route(price=...)`` wins over any table."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ._errors import ClientConfigError

if TYPE_CHECKING:
    from ._route import Route

__all__ = ["DEFAULT_PRICES", "NATIVE_PRICES_DATE", "PRICES_DATE", "Price", "PriceTable", "cost"]


@dataclass(frozen=True)
class Price:
    """US dollars per one million tokens."""

    input: float
    output: float
    cached_input: float | None = None
    """Price of prompt tokens served from the provider's prompt cache (default: ``input``)."""

    def __post_init__(self) -> None:
        for name in ("input", "output", "cached_input"):
            value = getattr(self, name)
            if value is None and name == "cached_input":
                continue
            if not isinstance(value, int | float) or math.isnan(value) or value < 0:
                raise ClientConfigError(
                    f"Price({name}={value!r}): a price is US dollars per 1M tokens, 0 or more.\n"
                    f"Fix: pass e.g. Price(input=0.15, output=0.60)."
                )

    def cost(self, usage: Mapping[str, int] | None) -> float:
        """Dollars for one reply's ``usage`` (chat, Responses or embeddings field names)."""
        if not usage:
            return 0.0
        prompt = int(usage.get("prompt_tokens", usage.get("input_tokens", 0)) or 0)
        output = int(usage.get("completion_tokens", usage.get("output_tokens", 0)) or 0)
        cached = int(usage.get("cached_tokens", 0) or 0)
        cached = min(cached, prompt)
        cached_price = self.input if self.cached_input is None else self.cached_input
        return ((prompt - cached) * self.input + cached * cached_price + output * self.output) / 1e6


PRICES_DATE = "2025-08-07"
"""When :data:`DEFAULT_PRICES` was taken from https://platform.openai.com/docs/pricing
(OpenAI's pricing page, standard tier, US dollars per 1M tokens). Verify before relying
on it for money; override with ``PriceTable({...})`` or ``Route(price=...)``."""

NATIVE_PRICES_DATE = "2025-10-15"
"""When the Anthropic and Gemini entries of :data:`DEFAULT_PRICES` were taken from those
providers' pricing pages (linked beside them). Verify before relying on them for money.
"""

# Source: https://platform.openai.com/docs/pricing (standard tier), as of PRICES_DATE.
DEFAULT_PRICES: Mapping[str, Price] = {
    "gpt-5": Price(input=1.25, output=10.00, cached_input=0.125),
    "gpt-5-mini": Price(input=0.25, output=2.00, cached_input=0.025),
    "gpt-5-nano": Price(input=0.05, output=0.40, cached_input=0.005),
    "gpt-4.1": Price(input=2.00, output=8.00, cached_input=0.50),
    "gpt-4.1-mini": Price(input=0.40, output=1.60, cached_input=0.10),
    "gpt-4.1-nano": Price(input=0.10, output=0.40, cached_input=0.025),
    "gpt-4o": Price(input=2.50, output=10.00, cached_input=1.25),
    "gpt-4o-mini": Price(input=0.15, output=0.60, cached_input=0.075),
    "o1": Price(input=15.00, output=60.00, cached_input=7.50),
    "o3": Price(input=2.00, output=8.00, cached_input=0.50),
    "o3-mini": Price(input=1.10, output=4.40, cached_input=0.55),
    "o4-mini": Price(input=1.10, output=4.40, cached_input=0.275),
    "gpt-4-turbo": Price(input=10.00, output=30.00),
    "gpt-3.5-turbo": Price(input=0.50, output=1.50),
    "text-embedding-3-small": Price(input=0.02, output=0.0),
    "text-embedding-3-large": Price(input=0.13, output=0.0),
    "text-embedding-ada-002": Price(input=0.10, output=0.0),
    # Source: https://www.anthropic.com/pricing#api (base input, output, cache reads), as of
    # NATIVE_PRICES_DATE; for Route(..., provider="anthropic").
    "claude-haiku-4-5": Price(input=1.00, output=5.00, cached_input=0.10),
    "claude-sonnet-4-5": Price(input=3.00, output=15.00, cached_input=0.30),
    "claude-opus-4-1": Price(input=15.00, output=75.00, cached_input=1.50),
    "claude-3-5-haiku-latest": Price(input=0.80, output=4.00, cached_input=0.08),
    # Source: https://ai.google.dev/gemini-api/docs/pricing (paid tier, text input,
    # prompts up to 200k tokens), as of NATIVE_PRICES_DATE; for Route(..., provider="gemini").
    "gemini-2.5-pro": Price(input=1.25, output=10.00, cached_input=0.125),
    "gemini-2.5-flash": Price(input=0.30, output=2.50, cached_input=0.03),
    "gemini-2.5-flash-lite": Price(input=0.10, output=0.40, cached_input=0.01),
}

_SNAPSHOT = re.compile(r"-(\d{4}-\d{2}-\d{2}|\d{4})$")


class PriceTable:
    """Model name -> :class:`Price`: the shipped defaults, overridden by ``prices``.

    A dated snapshot (``gpt-4o-mini-2024-07-18``, ``gpt-4-0613``) falls back to its
    family's price when the table has no exact entry. ``defaults=False`` starts empty.
    """

    def __init__(self, prices: Mapping[str, Price] | None = None, *, defaults: bool = True) -> None:
        table: dict[str, Price] = dict(DEFAULT_PRICES) if defaults else {}
        for model, price in (prices or {}).items():
            if not isinstance(model, str) or not isinstance(price, Price):
                raise ClientConfigError(
                    f"PriceTable({{{model!r}: {price!r}}}): entries are model name -> Price.\n"
                    'Fix: PriceTable({"my-model": Price(input=0.15, output=0.60)}).'
                )
            table[model] = price
        self._prices = table

    def get(self, model: str) -> Price | None:
        """The price of ``model`` (or of its family for a dated snapshot), or None."""
        price = self._prices.get(model)
        if price is None:
            base = _SNAPSHOT.sub("", model)
            price = self._prices.get(base)
        return price

    def for_route(self, route: Route) -> Price | None:
        """``route.price`` if the route has one, else the table's price of its model."""
        return route.price if route.price is not None else self.get(route.model)

    def require(self, routes: Iterable[Route], *, why: str = "a money budget") -> None:
        """Raise :class:`ClientConfigError` naming the first route with no known price."""
        for route in routes:
            if self.for_route(route) is None:
                raise ClientConfigError(
                    f"{why} is configured but route {route.key!r} (model {route.model!r}) has no "
                    f"price: the shipped table ({PRICES_DATE}) does not list it.\n"
                    f"Fix: Route({route.model!r}, price=Price(input=..., output=...)) or "
                    f"prices=PriceTable({{{route.model!r}: Price(input=..., output=...)}})."
                )

    def models(self) -> list[str]:
        return sorted(self._prices)

    def __contains__(self, model: object) -> bool:
        return isinstance(model, str) and self.get(model) is not None

    def __repr__(self) -> str:
        return f"PriceTable({len(self._prices)} models, defaults as of {PRICES_DATE})"


def cost(model: str, usage: Mapping[str, int] | None, prices: PriceTable | None = None) -> float:
    """Dollars for one reply's ``usage`` on ``model``; 0.0 when the model has no price."""
    price = (prices or _DEFAULT_TABLE).get(model)
    return 0.0 if price is None else price.cost(usage)


_DEFAULT_TABLE = PriceTable()
