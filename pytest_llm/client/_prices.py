"""Prices per route: what a token costs, so every attempt can be costed at the price of
the route that served it."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from ._errors import ClientConfigError

__all__ = ["Price"]


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
