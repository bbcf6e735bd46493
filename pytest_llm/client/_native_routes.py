"""The SDK object of a route to Anthropic or Gemini: picks the provider's adapter
(``_native_anthropic`` / ``_native_gemini``) and wraps it in ``_native.NativeSDK``.

Kept apart from ``_native`` (the shared translation helpers both adapters import), so
no module imports one that imports it back.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ._native import NativeSDK
from ._native_anthropic import AnthropicAdapter
from ._native_gemini import GeminiAdapter

if TYPE_CHECKING:
    from .._clock import Clock
    from ._route import Route

__all__ = ["native_sdk"]


def native_sdk(
    route: Route,
    *,
    is_async: bool,
    timeout: Any,
    headers: Mapping[str, str],
    clock: Clock,
) -> NativeSDK:
    """The SDK object of a native ``route`` (its provider's SDK imported now)."""
    cls = AnthropicAdapter if route.provider == "anthropic" else GeminiAdapter
    adapter = cls(route, is_async, timeout, headers, clock)
    return NativeSDK(route, adapter, timeout=timeout, is_async=is_async)
