"""What happened during a call: one :class:`Attempt` per request sent (or route skipped)
and the :class:`CallInfo` that gathers them, readable beside any result or error with
:func:`call_info` without changing the result's type."""

from __future__ import annotations

import contextlib
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .._urls import public_url

__all__ = [
    "Attempt",
    "CallInfo",
    "attach_info",
    "attach_parsed",
    "call_info",
    "scrub_error",
]

_ATTR = "_pytest_llm_call"


@dataclass(slots=True)
class Attempt:
    """One request sent to a route, or one route skipped without I/O."""

    number: int
    """1 for the call's first attempt, counting every route."""
    route: str
    model: str
    base_url: str
    started: float
    """``clock.monotonic()`` when the attempt began."""
    ended: float = 0.0
    status: int | None = None
    """HTTP status the provider answered, when it answered."""
    error: str | None = None
    """The exception's type name, ``None`` for a success."""
    kind: str | None = None
    """The failure's kind (``rate_limit``, ``server``, ``read_timeout``, ...)."""
    reason: str | None = None
    """Why the call retried, failed over, skipped or stopped here."""
    wait: float = 0.0
    """Seconds waited after this attempt, before the next one."""
    retry_after: float | None = None
    """The provider's Retry-After, when it sent one."""
    breaker: str = "closed"
    """The route's breaker state when the attempt began."""
    limiter_wait: float = 0.0
    usage: dict[str, int] | None = None
    cost: float = 0.0
    hedge: bool = False
    """Started as a hedge while an earlier attempt was still running."""
    skipped: bool = False
    """The route was passed over without I/O (open circuit, context window)."""
    reask: int = 0
    """0 for the first request of a structured call; n for its n-th re-ask."""

    def __post_init__(self) -> None:
        self.base_url = public_url(self.base_url) or ""

    @property
    def duration(self) -> float:
        return max(0.0, self.ended - self.started)

    @property
    def ok(self) -> bool:
        return self.error is None and not self.skipped


@dataclass(slots=True)
class CallInfo:
    """Everything the client did for one call."""

    api: str
    """``chat``, ``responses`` or ``embeddings``."""
    requested_model: str | None = None
    attempts: list[Attempt] = field(default_factory=list)
    route: str | None = None
    """The route that served the call (``None`` if nothing did)."""
    model: str | None = None
    base_url: str | None = None
    cache: str = "off"
    """``off``, ``miss``, ``hit``, ``semantic`` or ``coalesced``."""
    similarity: float | None = None
    """For a semantic cache hit: the similarity it used."""
    usage: dict[str, int] | None = None
    cost: float = 0.0
    """Cost of every attempt of the call, at each serving route's price."""
    reasks: int = 0
    started: float = 0.0
    ended: float = 0.0
    prompt: str | None = None
    """``name@vN`` of the prompt file the call came from, if any."""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def waits(self) -> list[float]:
        return [a.wait for a in self.attempts if a.wait > 0]

    @property
    def requests(self) -> int:
        """Requests actually sent (skipped routes do not count)."""
        return sum(1 for a in self.attempts if not a.skipped)

    @property
    def elapsed(self) -> float:
        return max(0.0, self.ended - self.started)

    def summary(self) -> str:
        """One line: who served it, how many attempts, waits and cost."""
        served = self.route or "nothing"
        waits = ", ".join(f"{w:g}s" for w in self.waits) or "none"
        return (
            f"{self.api} served by {served} after {self.requests} request(s); "
            f"waits: {waits}; cache: {self.cache}; cost: ${self.cost:.6f}"
        )


def scrub_error(error: BaseException) -> None:
    """Drop ``user:password@`` from the URL of every HTTP request that ``error`` and the
    errors chained under it hold (the SDK's ``APIConnectionError.request``, httpx's own
    ``ConnectError.request``, a status error's ``response.request``), and the Basic
    ``Authorization`` header the HTTP client derived from it: an error the client raises
    carries no credential (53), however its holder prints or logs it."""
    seen: set[int] = set()
    err: BaseException | None = error
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        _scrub_request(err)
        with contextlib.suppress(Exception):  # httpx raises when a response has no request
            _scrub_request(err.response)  # type: ignore[attr-defined]
        err = err.__cause__ or err.__context__


def _scrub_request(holder: Any) -> None:
    try:
        request = holder.request
    except Exception:  # httpx: RuntimeError when the error has no request
        return
    url = getattr(request, "url", None)
    userinfo = getattr(url, "userinfo", None)
    if not userinfo or url is None:
        return
    import base64

    basic = "Basic " + base64.b64encode(userinfo).decode("ascii")
    with contextlib.suppress(Exception):
        request.url = url.copy_with(userinfo=b"")
    headers = getattr(request, "headers", None)
    with contextlib.suppress(Exception):
        if headers is not None and headers.get("authorization") == basic:
            headers["authorization"] = "Basic <redacted: the base URL's user:password>"


class _Ref(weakref.ref):  # type: ignore[type-arg]
    """A weak reference to a result that holds the result's :class:`CallInfo`."""

    __slots__ = ("info",)
    info: CallInfo
    __hash__ = object.__hash__  # by identity: the result itself may be unhashable


_BESIDE: set[_Ref] = set()
"""Info kept beside results: a weak reference to each result, holding its info, by
identity (setting an attribute on a pydantic model would change its ``__eq__``: a cached
reply must compare equal to the live one). When a result dies its reference leaves the
set through the set's own ``discard``, in C: no Python function runs per call (a
``weakref.finalize``, then a Python callback per call, cost more)."""
_DROP = _BESIDE.discard


def attach_info(obj: Any, info: CallInfo) -> None:
    """Keep ``info`` beside a result or error for as long as the object lives (the
    latest info, when the same object is attached twice)."""
    if isinstance(obj, BaseException):
        obj.__dict__[_ATTR] = info
        return
    try:
        ref = _Ref(obj, _DROP)
    except TypeError:  # not weak-referenceable: keep it on the instance instead
        with contextlib.suppress(AttributeError, TypeError):
            object.__setattr__(obj, _ATTR, info)
        return
    ref.info = info
    if weakref.getweakrefcount(obj) > 1:  # attached before (a shared value): replace it
        _replace(obj, ref)
    _BESIDE.add(ref)


class _Pending(_Ref):
    """A weak reference to a result whose :class:`CallInfo` is built when first asked
    for (:func:`attach_pending`), by :attr:`build` from what the call knew (:attr:`facts`)."""

    __slots__ = ("build", "facts")
    build: Callable[[Any, Any], CallInfo]
    facts: Any


def attach_pending(obj: Any, facts: Any, build: Callable[[Any, Any], CallInfo]) -> None:
    """:func:`attach_info` for a quiet plain call's reply, without its :class:`CallInfo`:
    ``build(obj, facts)`` (``_plan.plain_pending``, passed in: this module imports no
    other of the client's) makes it when :func:`call_info` first asks (a call whose
    records nobody reads builds none). An object without weak references gets it built
    now."""
    try:
        ref = _Pending(obj, _DROP)
    except TypeError:
        attach_info(obj, build(obj, facts))
        return
    ref.build = build
    ref.facts = facts
    if weakref.getweakrefcount(obj) > 1:  # attached before (a shared value): replace it
        _replace(obj, ref)
    _BESIDE.add(ref)


def _replace(obj: Any, ref: _Ref) -> None:
    for old in weakref.getweakrefs(obj):
        if old is not ref and isinstance(old, _Ref):
            _DROP(old)


_BUILD_LOCK = threading.Lock()


def _build(obj: Any, ref: _Pending) -> CallInfo:
    with _BUILD_LOCK:
        try:
            return ref.info
        except AttributeError:
            info = ref.info = ref.build(obj, ref.facts)
            return info


def _beside(obj: Any) -> CallInfo | None:
    for ref in weakref.getweakrefs(obj):  # none for an object without weak references
        kind = type(ref)
        if kind is _Ref:
            info: CallInfo = ref.info
            return info
        if kind is _Pending:
            try:
                info = ref.info
                return info
            except AttributeError:  # not built yet: built once (one thread), then kept
                return _build(obj, ref)
    return None


def attach_parsed(value: Any, info: CallInfo) -> None:
    """Keep ``info`` beside the parsed objects of a ``parse()`` result too: every chat
    choice's ``message.parsed`` and a Responses ``output_parsed``, so ``call_info`` answers
    for the object the caller actually works with. A parsed value that is a plain
    ``dict`` or ``list`` (a JSON Schema ``response_format``) cannot carry it: ``call_info``
    of the completion answers for those."""
    parsed: list[Any] = []
    for choice in getattr(value, "choices", None) or ():
        parsed.append(getattr(getattr(choice, "message", None), "parsed", None))
    if hasattr(value, "output_parsed"):
        with contextlib.suppress(Exception):
            parsed.append(value.output_parsed)
    for obj in parsed:
        if obj is not None and not isinstance(obj, dict | list | str | int | float | bool):
            attach_info(obj, info)


def call_info(obj: Any) -> CallInfo:
    """What the client did for the call that returned or raised ``obj``."""
    info = _beside(obj) or getattr(obj, _ATTR, None)
    if info is None:
        info = getattr(obj, "info", None)
    if not isinstance(info, CallInfo):
        if isinstance(obj, dict | list):
            raise LookupError(
                f"call_info({type(obj).__name__}): a plain {type(obj).__name__} cannot carry "
                "what the client did (it is not weak-referenceable), e.g. the .parsed value "
                "of a parse() with a JSON Schema response_format.\nFix: pass the completion "
                "parse() returned (or use a pydantic model as the response_format: its "
                "parsed object answers)."
            )
        raise LookupError(
            f"call_info({type(obj).__name__}): this object did not come from a "
            "pytest_llm.client call.\nFix: pass the result (or the error) of "
            "client.chat.completions.create / responses.create / embeddings.create."
        )
    return info
