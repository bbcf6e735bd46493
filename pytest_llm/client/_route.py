"""A route: one model on one endpoint (OpenAI-compatible, or Anthropic's or Gemini's own
API through their SDKs), with what the client needs to know about it (context window,
prices, quality tier, capabilities)."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from ._errors import ClientConfigError
from ._prices import Price

__all__ = ["CAPABILITIES", "FALLBACK_ON", "PROVIDERS", "Route", "check_routes"]

PROVIDERS = ("openai", "anthropic", "gemini")
"""Who a route talks to: an OpenAI-compatible endpoint through the openai SDK (any
server that speaks chat completions, local ones included), or Anthropic's Messages API
and Gemini's ``generateContent`` through their own SDKs (``_native.py``)."""

CAPABILITIES = frozenset({"json_schema", "json_object", "tools", "streaming"})
"""What a route can do; structured output picks its strategy from these."""

FALLBACK_ON = frozenset({"context_length", "content_policy"})
"""Failures that only reach a route that opts in: a bigger context window, another
provider's content policy. Transient failures always fail over."""

DEFAULT_CAPABILITIES = frozenset({"json_schema", "json_object", "tools", "streaming"})


@functools.lru_cache(maxsize=256)
def _host(base_url: str | None, provider: str = "openai") -> str:
    # cached: Route.key reads it several times per call, and urlsplit is not cheap
    if not base_url:
        from .._providers import by_name

        return by_name(provider).hosts[0]  # api.openai.com, api.anthropic.com, ...
    parts = urlsplit(base_url)
    host = parts.hostname or base_url
    return f"{host}:{parts.port}" if parts.port else host


@dataclass(frozen=True)
class Route:
    """A model on an endpoint.

    ``Route("gpt-4o-mini")`` is OpenAI's API with the SDK's usual key lookup;
    ``Route("llama3", base_url="http://localhost:8000/v1", api_key="none", tier=0)`` is a
    local server; ``Route("claude-haiku-4-5", provider="anthropic")`` and
    ``Route("gemini-2.5-flash", provider="gemini")`` go through the ``anthropic`` and
    ``google-genai`` SDKs, the request and the answer translated from and to openai's
    types. The key is never shown in ``repr``, events, logs or spans.
    """

    model: str
    base_url: str | None = field(default=None, repr=False)
    api_key: str | None = field(default=None, repr=False)
    name: str | None = None
    context_window: int | None = None
    """Tokens the model accepts (prompt plus output); checked before sending."""
    price: Price | None = None
    tier: int = 0
    """Quality tier: higher is better; ``tier=`` on a call picks the cheapest route at or above."""
    capabilities: frozenset[str] = DEFAULT_CAPABILITIES
    fallback_on: frozenset[str] = frozenset()
    """Non-transient failures this route accepts from the routes before it."""
    organization: str | None = field(default=None, repr=False)
    headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    provider: str = "openai"
    """``"openai"`` (any OpenAI-compatible endpoint), ``"anthropic"`` or ``"gemini"``."""

    def __post_init__(self) -> None:
        if self.provider not in PROVIDERS:
            from ..assertions._base import did_you_mean

            raise ClientConfigError(
                f"Route({self.model!r}, provider={self.provider!r}): unknown provider"
                f"{did_you_mean(str(self.provider), PROVIDERS)}\nFix: use one of "
                f"{', '.join(PROVIDERS)} (an OpenAI-compatible server, local ones included, "
                'is "openai" with its base_url=).'
            )
        if self.provider != "openai" and self.organization is not None:
            raise ClientConfigError(
                f"Route({self.model!r}, provider={self.provider!r}, organization=...): an "
                "organization is an OpenAI account setting; the provider's SDK has none.\n"
                "Fix: drop organization= from this route (the key says whose account it is)."
            )
        if not isinstance(self.model, str) or not self.model.strip():
            raise ClientConfigError(
                f"Route(model={self.model!r}): a route needs a model name.\n"
                'Fix: Route("gpt-4o-mini") or Route("llama3", base_url="http://localhost:8000/v1").'
            )
        if self.base_url is not None:
            parts = urlsplit(self.base_url)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ClientConfigError(
                    f"Route({self.model!r}, base_url={self.base_url!r}): not an http(s) URL.\n"
                    'Fix: pass e.g. base_url="https://api.openai.com/v1".'
                )
        if self.context_window is not None and (
            isinstance(self.context_window, bool)
            or not isinstance(self.context_window, int)
            or self.context_window <= 0
        ):
            raise ClientConfigError(
                f"Route({self.model!r}, context_window={self.context_window!r}): the context "
                "window is a positive number of tokens.\nFix: pass e.g. context_window=128000."
            )
        if isinstance(self.tier, bool) or not isinstance(self.tier, int):
            raise ClientConfigError(
                f"Route({self.model!r}, tier={self.tier!r}): the tier is an int (higher is "
                "better).\nFix: pass e.g. tier=2."
            )
        for name, allowed in (("capabilities", CAPABILITIES), ("fallback_on", FALLBACK_ON)):
            value = getattr(self, name)
            if isinstance(value, str):
                value = frozenset({value})
            value = frozenset(value)
            unknown = sorted(value - allowed)
            if unknown:
                raise ClientConfigError(
                    f"Route({self.model!r}, {name}={sorted(value)!r}): unknown "
                    f"{unknown[0]!r}.\nFix: choose from {sorted(allowed)}."
                )
            object.__setattr__(self, name, value)

    @property
    def host(self) -> str:
        return _host(self.base_url, self.provider)

    @functools.cached_property
    def key(self) -> str:
        """Identity of the route for breakers, limiters and budgets: ``name`` or model@host.

        Computed once (a call reads it several times); the fields are frozen."""
        return self.name or f"{self.model}@{self.host}"

    def __str__(self) -> str:
        return self.key

    def __repr__(self) -> str:
        from .._urls import public_url

        shown = [repr(self.model)]
        if self.base_url is not None:  # never a user:password@ part (53)
            shown.append(f"base_url={public_url(self.base_url)!r}")
        for name in ("name", "context_window", "price"):
            value = getattr(self, name)
            if value is not None:
                shown.append(f"{name}={value!r}")
        if self.tier:
            shown.append(f"tier={self.tier}")
        if self.provider != "openai":
            shown.append(f"provider={self.provider!r}")
        if self.capabilities != DEFAULT_CAPABILITIES:
            shown.append(f"capabilities={sorted(self.capabilities)!r}")
        if self.fallback_on:
            shown.append(f"fallback_on={sorted(self.fallback_on)!r}")
        return f"Route({', '.join(shown)})"


def check_routes(routes: Iterable[Route | str]) -> tuple[Route, ...]:
    """Routes from what a user passed (a string is a model on the default endpoint)."""
    if isinstance(routes, str | Route):
        routes = [routes]
    out: list[Route] = []
    seen: dict[str, int] = {}
    for i, item in enumerate(routes):
        route = Route(item) if isinstance(item, str) else item
        if not isinstance(route, Route):
            raise ClientConfigError(
                f"routes[{i}]={item!r}: a route is a Route or a model name.\n"
                'Fix: routes=[Route("gpt-4o-mini"), Route("gpt-4o")].'
            )
        if route.key in seen:
            raise ClientConfigError(
                f"routes[{i}]: {route.key!r} repeats routes[{seen[route.key]}]; a call never "
                "visits a route twice.\nFix: remove the repeat, or give the two routes "
                "different names (Route(..., name=...)) if they really differ."
            )
        seen[route.key] = i
        out.append(route)
    if not out:
        raise ClientConfigError(
            "routes=[]: the client needs at least one route.\n"
            'Fix: ResilientClient(routes=["gpt-4o-mini"]).'
        )
    return tuple(out)
