"""Hypothesis strategies for what providers do wrong: faults, fault schedules, broken JSON.

For properties of the form "whatever the provider does, my client returns a valid
``Analysis`` or raises a typed error within N attempts, and never hangs"::

    from hypothesis import given
    from pytest_llm import VirtualClock
    from pytest_llm.strategies import fault_plans

    @given(plan=fault_plans(max_faults=4))
    def test_client_survives(plan):
        with VirtualClock() as clock, plan, fake_answers():
            try:
                result = analyse(client, "text")
            except AnalysisError:
                pass
            else:
                assert isinstance(result, Analysis)
        assert len(plan.log) <= 6           # attempts
        assert clock.monotonic() < 300      # bounded virtual time: it never hung

Everything drawn is a plain fault object with a readable ``repr``, so hypothesis
prints a falsifying example as the code that reproduces it. This is the only module
of pytest-llm that imports hypothesis (an optional dependency).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from typing import Any

from hypothesis import strategies as st

from ._numbers import is_amount
from ._text import did_you_mean
from .faults._errors import FaultError
from .faults._kinds import (
    KINDS,
    BrokenToolCall,
    ConnectError,
    ConnectionReset,
    ContentFilter,
    ContextLengthExceeded,
    CorruptEvent,
    Fault,
    HTTPError,
    InsufficientQuota,
    MalformedJSON,
    MaxTokens,
    Overloaded,
    Pass,
    RateLimited,
    ReadTimeout,
    ServerError,
    Slow,
    Stall,
    StreamError,
    TruncatedStream,
)
from .faults._malformed import FIELD_VARIANTS, VARIANTS, MalformedInput, malform
from .faults._plan import FaultPlan
from .faults._wire import CORRUPTIONS

__all__ = [
    "DEFAULT_KINDS",
    "fault_plans",
    "fault_schedules",
    "faults",
    "malformed_json",
    "malformed_outputs",
]

STREAM_ONLY = frozenset(k for k, cls in KINDS.items() if cls.stream_only)
_OPT_IN = ("pass", "http_error", "broken_tool_call", "corrupt_event")
DEFAULT_KINDS = tuple(k for k in sorted(KINDS) if k not in _OPT_IN)
"""Every kind a provider does on its own; ``http_error`` (any 4xx/5xx), ``pass``,
``broken_tool_call`` (it needs a reply with tool calls) and ``corrupt_event`` (its
body is broken on purpose, for stream parsers) are opt-in."""

_HTTP_ERRORS = (400, 401, 403, 404, 409, 422, 500, 503)


def _kinds(kinds: Iterable[str] | None, chunks: int | None) -> list[str]:
    chosen = list(DEFAULT_KINDS if kinds is None else kinds)
    for kind in chosen:
        if kind not in KINDS:
            hint = did_you_mean(kind, KINDS)
            raise FaultError(
                f"faults(kinds=...): unknown fault kind {kind!r}.{hint}\n"
                f"Fix: use kinds from {', '.join(sorted(KINDS))}."
            )
    if chunks is None:
        chosen = [k for k in chosen if k not in STREAM_ONLY]
    if not chosen:
        raise FaultError(
            "faults(): no kind left to draw (the stream-only kinds need chunks=).\n"
            "Fix: pass chunks=N for a streamed reply of at least N chunks, or more kinds."
        )
    return chosen


def _check_chunks(chunks: int | None) -> None:
    if chunks is not None and (
        isinstance(chunks, bool) or not isinstance(chunks, int) or chunks < 1
    ):
        raise FaultError(
            f"chunks= is the least number of chunks of the streamed reply (1 or more), got {chunks!r}.\n"
            "Fix: pass e.g. chunks=8, or leave it out for plain replies."
        )


def _seconds(max_wait: float) -> st.SearchStrategy[float]:
    whole = st.integers(0, int(max_wait)).map(float)
    return whole | st.floats(0, max_wait, allow_nan=False).map(lambda s: round(s, 3))


def faults(
    *,
    kinds: Iterable[str] | None = None,
    chunks: int | None = None,
    max_wait: float = 120,
) -> st.SearchStrategy[Fault]:
    """Single faults of the given kinds (default :data:`DEFAULT_KINDS`).

    ``chunks``: the least number of chunks (SSE events) in the streamed replies the
    faults will meet; ``None`` means plain replies, so stream-only kinds are left out
    and chunk indexes stay 0. ``max_wait``: the longest finite wait drawn; stalls and
    slow replies may also wait forever (which only a client read timeout ends).
    """
    _check_chunks(chunks)
    if not is_amount(max_wait):
        raise FaultError(
            f"faults(max_wait={max_wait!r}): the longest wait is a finite number of seconds.\n"
            "Fix: pass e.g. max_wait=120."
        )
    last = (chunks or 1) - 1
    content_end = max(0, (chunks or 0) - 4)  # before any ending: [DONE], *.done, completed
    secs = _seconds(max_wait)
    retry = st.none() | secs
    should = st.sampled_from([None, True, False])
    index = st.integers(0, last)
    end_index = st.none() | st.integers(0, content_end)
    forever = st.just(math.inf)
    build: dict[str, st.SearchStrategy[Fault]] = {
        "rate_limited": st.one_of(
            st.builds(
                RateLimited,
                retry_after=retry,
                limit=st.sampled_from(["requests", "tokens"]),
                should_retry=should,
            ),
            st.builds(
                RateLimited,
                retry_after=st.integers(1, max(1, int(max_wait))),
                http_date=st.just(True),
            ),
            st.builds(
                RateLimited,
                retry_after=st.none(),
                retry_after_ms=st.integers(0, int(max_wait * 1000)),
            ),
        ),
        "insufficient_quota": st.builds(InsufficientQuota, should_retry=should),
        "server_error": st.builds(
            ServerError, st.sampled_from([500, 502, 503, 504]), should_retry=should
        ),
        "overloaded": st.builds(Overloaded, should_retry=should),
        "http_error": st.builds(HTTPError, st.sampled_from(_HTTP_ERRORS), should_retry=should),
        "context_length_exceeded": st.builds(ContextLengthExceeded),
        "read_timeout": st.just(ReadTimeout()),
        "connect_error": st.just(ConnectError()),
        "connection_reset": st.builds(ConnectionReset, after_chunks=st.none() | index),
        "slow": st.builds(Slow, seconds=secs | forever),
        "stall": st.builds(Stall, after_chunk=index, seconds=secs | forever),
        "truncated_stream": st.builds(TruncatedStream, after_chunk=end_index),
        "stream_error": st.builds(StreamError, after_chunk=end_index),
        "broken_tool_call": st.builds(
            BrokenToolCall, variant=st.sampled_from(["not_json", "unknown_tool"])
        ),
        "corrupt_event": st.builds(
            CorruptEvent, after_chunk=index, variant=st.sampled_from(CORRUPTIONS)
        ),
        "content_filter": st.builds(ContentFilter, keep_chars=st.integers(0, 40)),
        "max_tokens": st.builds(MaxTokens, keep_chars=st.none() | st.integers(0, 40)),
        "malformed_json": malformed_json(),
        "pass": st.just(Pass()),
    }
    return st.one_of([build[k] for k in _kinds(kinds, chunks)])


def fault_schedules(
    *,
    max_faults: int = 3,
    kinds: Iterable[str] | None = None,
    chunks: int | None = None,
    max_wait: float = 120,
    passes: bool = True,
) -> st.SearchStrategy[list[Fault | None]]:
    """What the next requests meet, in order: faults, and ``None`` for a request that passes.

    ``FaultPlan(*schedule)`` scripts it. Shrinks toward fewer faults and passes.
    """
    if isinstance(max_faults, bool) or not isinstance(max_faults, int) or max_faults < 0:
        raise FaultError(
            f"fault_schedules(max_faults={max_faults!r}): a schedule length is 0 or more.\n"
            "Fix: pass e.g. max_faults=3."
        )
    step: st.SearchStrategy[Fault | None] = faults(kinds=kinds, chunks=chunks, max_wait=max_wait)
    if passes:
        step = st.none() | step
    return st.lists(step, max_size=max_faults)


def fault_plans(
    *,
    max_faults: int = 3,
    kinds: Iterable[str] | None = None,
    chunks: int | None = None,
    max_wait: float = 120,
    passes: bool = True,
    seed: int = 0,
) -> st.SearchStrategy[FaultPlan]:
    """Fresh :class:`FaultPlan` objects scripting a drawn schedule, none of it required.

    Use one per example (``with plan:``): a client that gives up early (on an
    ``insufficient_quota``, say) leaves the rest unused, and that is not a failure.
    """

    def build(schedule: list[Fault | None]) -> FaultPlan:
        plan = FaultPlan(seed=seed)
        plan.sequence(*schedule, required=False)
        return plan

    return fault_schedules(
        max_faults=max_faults, kinds=kinds, chunks=chunks, max_wait=max_wait, passes=passes
    ).map(build)


def malformed_json(
    *, variants: Iterable[str] | None = None, fields: Sequence[str] | None = None
) -> st.SearchStrategy[MalformedJSON]:
    """:class:`~pytest_llm.faults.MalformedJSON` faults; ``fields`` picks which field the
    field variants (wrong_types, missing_field, extra_field) touch (default: the first)."""
    chosen = list(VARIANTS if variants is None else variants)
    for variant in chosen:
        MalformedJSON(variant)  # fails here, with did-you-mean, on a misspelt variant
    field = st.none() if not fields else st.sampled_from(list(fields))

    def make(variant: str) -> st.SearchStrategy[MalformedJSON]:
        if variant in FIELD_VARIANTS:
            return st.builds(MalformedJSON, st.just(variant), field=field)
        if variant == "truncated":
            return st.builds(
                MalformedJSON, st.just(variant), at=st.floats(0.05, 0.95).map(lambda a: round(a, 2))
            )
        return st.just(MalformedJSON(variant))

    return st.sampled_from(chosen).flatmap(make)


def malformed_outputs(
    docs: Any, *, variants: Iterable[str] | None = None
) -> st.SearchStrategy[str]:
    """Model output that should have been ``doc`` as JSON, broken in one of the variants.

    ``docs`` is a JSON-able value or a strategy of them (``st.builds(Analysis).map(
    lambda a: a.model_dump())``). Combinations a variant cannot break (single quotes
    on a list of numbers) are skipped.
    """
    strategy = docs if isinstance(docs, st.SearchStrategy) else st.just(docs)
    chosen = list(VARIANTS if variants is None else variants)
    for variant in chosen:
        MalformedJSON(variant)

    def broken(pair: tuple[Any, str]) -> str | None:
        doc, variant = pair
        try:
            return malform(json.dumps(doc, ensure_ascii=False), variant)
        except MalformedInput:
            return None

    pairs: st.SearchStrategy[tuple[Any, str]] = st.tuples(strategy, st.sampled_from(chosen))
    out: st.SearchStrategy[str | None] = pairs.map(broken)
    return out.filter(_is_text)  # type: ignore[return-value]


def _is_text(value: str | None) -> bool:
    return value is not None
