"""Canaries for what pytest-llm reaches into that nobody promised to keep.

Four kinds of things are private to the libraries they live in:

* the names inside each provider SDK that :mod:`pytest_llm._sdk` swaps to capture
  its retry sleeps on a virtual clock (:attr:`pytest_llm._providers.Provider.clock`:
  ``time``, ``anyio`` and ``random`` in ``openai._base_client`` and
  ``anthropic._base_client``; the tenacity retryers of ``google.genai._api_client``
  and ``tenacity.wait``'s ``random``);
* the openai SDK's aiohttp transport (``openai._vendor.httpx_aiohttp`` in 3.x,
  ``httpx_aiohttp`` in 1.x/2.x), which :mod:`pytest_llm.transport._http` patches;
* ``google.genai``'s choice of aiohttp for async calls
  (``BaseApiClient._use_aiohttp``), which interception turns off so async calls go
  through its httpx client;
* asyncio's ``loop._ready`` run queue, which the virtual clock reads to know that
  nothing else can run before it jumps ahead.

When a new release moves one of them, capture would silently stop (and real sleeps
come back). :func:`missing` says what is not where it was; each is warned about once
per process, as :class:`SDKDrift`, naming the SDK and its version.
``tests/test_canaries.py`` fails on any of them, and tox's ``openai-latest``
environment runs it against the newest SDK release so CI sees the break first.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
import warnings

from ._providers import GEMINI, OPENAI, PROVIDERS, Provider

__all__ = [
    "AIOHTTP_SWITCH",
    "SDK_NAMES",
    "SDKDrift",
    "aiohttp_missing",
    "has_name",
    "missing",
    "sdk_version",
    "warn",
]

SDK_NAMES: dict[str, tuple[str, ...]] = {
    swap.module: swap.names for provider in PROVIDERS for swap in provider.clock
}
"""Module -> the names :mod:`pytest_llm._sdk` swaps in it (every provider's)."""

AIOHTTP_MODULES = {3: "openai._vendor.httpx_aiohttp.transport", 2: "httpx_aiohttp.transport"}
"""openai major -> where its DefaultAioHttpClient's transport lives (not checked for 1.x)."""

AIOHTTP_SWITCH = ("google.genai._api_client", "BaseApiClient", "_use_aiohttp")
"""Where google-genai decides to send async calls through aiohttp (module, class, method)."""

_warned: set[str] = set()


class SDKDrift(UserWarning):
    """Something pytest-llm reaches into moved in a new release: capture may not work."""


def sdk_version(provider: Provider = OPENAI) -> str | None:
    """The installed version of ``provider``'s SDK (openai's by default), or ``None``."""
    return provider.version()


def _names_missing(provider: Provider) -> list[str]:
    out: list[str] = []
    for swap in provider.clock:
        try:
            module = importlib.import_module(swap.module)
        except ImportError:
            out.append(f"module {swap.module}")
            continue
        for name in swap.names:
            if not has_name(module, name):
                out.append(f"{swap.module}.{name}")
    return out


def has_name(module: types.ModuleType, name: str) -> bool:
    """Whether ``module`` still has ``name`` (``Class.attr``: its constructor assigns it)."""
    owner_name, _, attr = name.rpartition(".")
    if not owner_name:
        return name in module.__dict__
    owner = module.__dict__.get(owner_name)
    if not isinstance(owner, type):
        return False
    # an instance attribute: the constructor must still assign it
    init = owner.__dict__.get("__init__")
    code = getattr(init, "__code__", None)
    return code is not None and attr in code.co_names


def missing() -> list[str]:
    """What is not where pytest-llm expects it, for the installed SDKs and Python."""
    out: list[str] = []
    for provider in PROVIDERS:
        version = provider.version()
        if version is None:
            continue
        out.extend(_names_missing(provider))
        if provider is OPENAI:
            gone = aiohttp_missing(version)
            if gone is not None:
                out.append(gone)
        if provider is GEMINI:
            gone = aiohttp_switch_missing()
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


def aiohttp_switch_missing() -> str | None:
    """google-genai's aiohttp switch if it is not where it was."""
    module_name, cls_name, attr = AIOHTTP_SWITCH
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        return f"module {module_name}"
    cls = getattr(module, cls_name, None)
    if not isinstance(cls, type) or not callable(cls.__dict__.get(attr)):
        return f"{module_name}.{cls_name}.{attr}"
    return None


def warn(what: str, consequence: str, provider: Provider = OPENAI) -> None:
    """Warn once per process that ``what`` was not found, and what stops working."""
    if what in _warned:
        return
    _warned.add(what)
    version = provider.version() or "not installed"
    warnings.warn(
        f"pytest-llm: {what} was not found ({provider.distribution} {version}, Python "
        f"{sys.version.split()[0]}): {consequence}. pytest-llm may not support this "
        "release yet; please report it.",
        SDKDrift,
        stacklevel=3,
    )
