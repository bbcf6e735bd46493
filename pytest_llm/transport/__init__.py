"""HTTP adapters: the patched httpx/httpx2 transports and an explicit wrapper."""

from __future__ import annotations

from ._wrap import wrap_transport

__all__ = ["wrap_transport"]
