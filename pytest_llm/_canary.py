"""Canaries for what pytest-llm reaches into that nobody promised to keep.

Three things are private to the libraries they live in:

* the names ``time``, ``anyio`` and ``random`` in ``openai._base_client`` and
  ``openai._resource``, which :mod:`pytest_llm._sdk` swaps to capture the SDK's
  retry sleeps on a virtual clock;
* the openai SDK's aiohttp transport (``openai._vendor.httpx_aiohttp`` in 3.x,
  ``httpx_aiohttp`` in 1.x/2.x), which :mod:`pytest_llm.transport._http` patches;
* asyncio's ``loop._ready`` run queue, which the virtual clock reads to know that
  nothing else can run before it jumps ahead.

When a new release moves one of them, capture would silently stop (and real sleeps
come back). :func:`missing` says what is not where it was; each is warned about once
per process, as :class:`SDKDrift`, naming the SDK version. ``tests/test_canaries.py``
fails on any of them, and tox's ``openai-latest`` environment runs it against the
newest SDK release so CI sees the break first.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import warnings

__all__ = ["SDK_NAMES", "SDKDrift", "aiohttp_missing", "missing", "sdk_version", "warn"]

SDK_NAMES: dict[str, tuple[str, ...]] = {
    "openai._base_client": ("time", "anyio", "random"),
    "openai._resource": ("time", "anyio"),
}
"""Module -> the names :mod:`pytest_llm._sdk` swaps in it."""

AIOHTTP_MODULES = {3: "openai._vendor.httpx_aiohttp.transport", 2: "httpx_aiohttp.transport"}
"""openai major -> where its DefaultAioHttpClient's transport lives (not checked for 1.x)."""

_warned: set[str] = set()


class SDKDrift(UserWarning):
    """Something pytest-llm reaches into moved in a new release: capture may not work."""


def sdk_version() -> str | None:
    """The installed openai SDK's version, or ``None`` (not installed)."""
    if "openai" not in sys.modules and importlib.util.find_spec("openai") is None:
        return None
    import openai

    return str(getattr(openai, "__version__", "unknown"))


def missing() -> list[str]:
    """What is not where pytest-llm expects it, for the installed SDK and Python."""
    out: list[str] = []
    version = sdk_version()
    if version is not None:
        for module_name, names in SDK_NAMES.items():
            try:
                module = importlib.import_module(module_name)
            except ImportError:
                out.append(f"module {module_name}")
                continue
            out.extend(f"{module_name}.{n}" for n in names if n not in module.__dict__)
        gone = aiohttp_missing(version)
        if gone is not None:
            out.append(gone)
    import asyncio

    loop = asyncio.new_event_loop()
    try:
        if not hasattr(loop, "_ready"):
            out.append("asyncio event loop attribute _ready")
    finally:
        loop.close()
    return out


def aiohttp_missing(version: str) -> str | None:
    """The SDK's aiohttp transport if it is not where it was (with aiohttp installed)."""
    major = int(version.split(".")[0]) if version[:1].isdigit() else 0
    name = AIOHTTP_MODULES[3 if major >= 3 else 2]
    if major < 2 or importlib.util.find_spec("aiohttp") is None:
        return None  # the SDK's aiohttp backend is an extra: nothing to patch
    try:
        transport = importlib.import_module(name)
    except ImportError:
        return f"module {name}"
    return None if hasattr(transport, "AiohttpTransport") else f"{name}.AiohttpTransport"


def warn(what: str, consequence: str) -> None:
    """Warn once per process that ``what`` was not found, and what stops working."""
    if what in _warned:
        return
    _warned.add(what)
    version = sdk_version() or "not installed"
    warnings.warn(
        f"pytest-llm: {what} was not found (openai {version}, Python "
        f"{sys.version.split()[0]}): {consequence}. pytest-llm may not support this "
        "release yet; please report it.",
        SDKDrift,
        stacklevel=3,
    )
