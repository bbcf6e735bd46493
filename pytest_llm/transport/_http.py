"""The patches on the HTTP transports: httpx, httpx2 and the openai SDK's aiohttp ones.

Loaded by :mod:`pytest_llm.transport._patch` when the first handler becomes active;
each patched method hands the request to the adapter while the chain is active.

google-genai sends async calls through aiohttp (not httpx) when aiohttp is installed;
while patched, its ``BaseApiClient._use_aiohttp`` answers ``False``, so those calls go
through the client's own httpx2 (or httpx) client, where they are intercepted like
every other; the SDK parses the same bytes either way.
"""

from __future__ import annotations

import functools
import importlib
import importlib.abc
import importlib.util
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .._canary import AIOHTTP_SWITCH, aiohttp_switch_missing, warn
from .._providers import GEMINI
from .._sdk import catch_up
from ._adapter import handle_async, handle_sync
from ._common import AIOHTTP, LIBRARIES, MARK, forwarding, restore

if TYPE_CHECKING:
    from ._patch import Chain

__all__ = ["WATCHED", "forget_imports", "patch_http"]

Saved = list[tuple[Any, str, Any]]

WATCHED = (*LIBRARIES, "openai", AIOHTTP_SWITCH[0], *AIOHTTP, *AIOHTTP.values())
"""Every module :func:`patch_http` looks for: with the same ones loaded and every patch
of ``patched`` still in place, patching again would change nothing."""


def patch_http(
    patched: dict[str, Saved],
    chain_of: Callable[[], Chain | None],
    *,
    eager: bool,
    on_import: Callable[[], None] | None = None,
) -> None:
    """Patch what is not patched yet into ``patched`` (module name -> what it replaced).

    ``eager``: httpx and httpx2 are patched also when imported later: ``on_import`` is
    called right after either one loads (:class:`_WhenImported`, removed by
    :func:`forget_imports`), instead of importing both now (~20 ms for the one the
    process never uses); else only what is loaded is patched.

    Called as each handler becomes active (per test): the wrappers are made once per
    process (:func:`_patch`) and only set here, so patching is a few ``setattr``."""
    for name in list(patched):
        # another tool restored the originals under us (pytest-httpx's teardown): redo
        if not all(hasattr(getattr(o, a), MARK) for o, a, _ in patched[name]):
            restore(patched.pop(name))
    for name in LIBRARIES:
        if name in patched:
            continue
        m = sys.modules.get(name)
        if m is None and eager and on_import is not None:
            _when_imported(on_import)
        elif m is not None:
            patched[name] = [
                _patch(m.HTTPTransport, "handle_request", m, name, chain_of),
                _patch(m.AsyncHTTPTransport, "handle_async_request", m, name, chain_of),
            ]
    if "openai" in sys.modules:
        _check_aiohttp()
    if SWITCH_KEY not in patched:
        switch = _switch_off_aiohttp()
        if switch is not None:
            patched[SWITCH_KEY] = [switch]
    for mod_name, flavour in AIOHTTP.items():
        mod = sys.modules.get(mod_name)
        lib = sys.modules.get(flavour)
        cls = getattr(mod, "AiohttpTransport", None)
        if mod_name in patched or cls is None or lib is None:
            continue
        patched[mod_name] = [
            _patch(cls, "handle_async_request", lib, f"{flavour}+aiohttp", chain_of)
        ]


class _WhenImported(importlib.abc.MetaPathFinder):
    """Calls ``then`` right after httpx or httpx2 is imported (the module complete, in
    ``sys.modules``): the transports of a library imported while a handler is active
    are patched before anyone can build a client from it."""

    def __init__(self) -> None:
        self.then: Callable[[], None] | None = None
        self.looking = threading.local()

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        then = self.then
        if fullname not in LIBRARIES or then is None or getattr(self.looking, "on", False):
            return None
        self.looking.on = True
        try:  # the spec the other finders give; only its loader is wrapped
            spec = importlib.util.find_spec(fullname)
        finally:
            self.looking.on = False
        loader = getattr(spec, "loader", None)
        if loader is None or not hasattr(loader, "exec_module"):
            return None
        exec_module = loader.exec_module

        def exec_then_patch(module: Any) -> None:
            exec_module(module)
            then()

        loader.exec_module = exec_then_patch
        return spec


_finder = _WhenImported()
"""The one hook of this module, put in ``sys.meta_path`` and taken out again per test."""


def _when_imported(then: Callable[[], None]) -> None:
    _finder.then = then
    if _finder in sys.meta_path:
        return
    for finder in sys.meta_path:
        if type(finder).__name__ == "_WhenImported":  # an older copy of this module's
            finder.then = then  # type: ignore[attr-defined]
            return
    sys.meta_path.insert(0, _finder)


def forget_imports() -> None:
    """Take :class:`_WhenImported` out of ``sys.meta_path`` (nothing is patched now)."""
    _finder.then = None
    for finder in sys.meta_path:
        if type(finder).__name__ == "_WhenImported":  # this module's or an older copy's
            sys.meta_path[:] = [f for f in sys.meta_path if type(f).__name__ != "_WhenImported"]
            return


_wrappers: dict[tuple[Any, str, Any, Any, str, Any], Any] = {}
"""(class, attribute, original, module, name, chain_of) -> its wrapper: made once per
process, set and taken off per test."""
_WRAPPERS_KEPT = 64
"""A library imported afresh (pytester's in-process runs) has new classes: past this
many wrappers the old ones are dropped."""


def _patch(
    cls: Any, attr: str, m: Any, name: str, chain_of: Callable[[], Chain | None]
) -> tuple[Any, str, Any]:
    # Never stack: if this module was imported afresh (pytester's in-process runs
    # drop modules between runs), wrap the true original again, not our old patch.
    current = getattr(cls, attr)
    orig = getattr(current, MARK, current)
    key = (cls, attr, orig, m, name, chain_of)
    wrapper = _wrappers.get(key)
    if wrapper is None:
        if len(_wrappers) >= _WRAPPERS_KEPT:
            _wrappers.clear()
        wrapper = _wrappers[key] = _wrap(attr, orig, m, name, chain_of)
    setattr(cls, attr, wrapper)
    return cls, attr, orig


def _wrap(attr: str, orig: Any, m: Any, name: str, chain_of: Callable[[], Chain | None]) -> Any:
    if attr == "handle_request":

        @functools.wraps(orig)
        def wrapper(self: Any, request: Any) -> Any:
            router = chain_of()
            if router is None or not router.active or forwarding.get():
                return orig(self, request)
            catch_up()  # an SDK imported since the clock was installed
            return handle_sync(router.dispatch, m, name, lambda r: orig(self, r), request)

    else:

        @functools.wraps(orig)
        async def wrapper(self: Any, request: Any) -> Any:
            router = chain_of()
            if router is None or not router.active or forwarding.get():
                return await orig(self, request)
            catch_up()  # an SDK imported since the clock was installed
            return await handle_async(router.dispatch, m, name, lambda r: orig(self, r), request)

    setattr(wrapper, MARK, orig)
    return wrapper


@functools.cache
def _check_aiohttp() -> None:
    """Once per process: each test's patching would look the SDK's version up again."""
    from .._canary import aiohttp_missing, sdk_version

    gone = aiohttp_missing(sdk_version() or "")
    if gone is not None:
        warn(gone, "requests through the SDK's aiohttp backend are not intercepted")


SWITCH_KEY = "google.genai._api_client"
"""Where :func:`patch_http` keeps what turning off google-genai's aiohttp replaced."""


def _switch_off_aiohttp() -> tuple[Any, str, Any] | None:
    """Make google-genai's async calls use its httpx client (if it is imported)."""
    module_name, cls_name, attr = AIOHTTP_SWITCH
    if module_name not in sys.modules:
        return None
    gone = aiohttp_switch_missing()
    if gone is not None:
        warn(gone, "async google-genai calls through aiohttp are not intercepted", GEMINI)
        return None
    cls = getattr(sys.modules[module_name], cls_name)
    current = cls.__dict__[attr]
    orig = getattr(current, MARK, current)

    def use_aiohttp(self: Any) -> bool:
        return False

    setattr(use_aiohttp, MARK, orig)
    setattr(cls, attr, use_aiohttp)
    return cls, attr, orig
