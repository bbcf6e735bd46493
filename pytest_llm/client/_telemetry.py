"""Telemetry: one structured log event per attempt, OpenTelemetry spans, Prometheus metrics.

The client calls three methods: :meth:`Telemetry.start` when a call begins (it returns a
:class:`CallHandle`, the call's own span state), :meth:`Telemetry.attempt` after every
attempt (skipped routes included, once the wait after it is decided) and
:meth:`Telemetry.finish` when the call ends. A :class:`Telemetry` keeps no per-call
state, so one instance serves concurrent calls from threads and asyncio tasks; the
handle carries the call span explicitly and nothing is attached to the current context,
so no span leaks from one call into another.

OpenTelemetry and prometheus-client are optional: each is imported when a
:class:`Telemetry` is built, and skipped if it is not installed. Every duration comes
from the attempt records (the client's injected clock), never from the real clock, and
every string is scrubbed of credentials before it reaches a log line, a span or a label.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import sys
import threading
import weakref
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from .._clock import Clock, flow_clock
from ._errors import ClientConfigError
from ._events import Attempt, CallInfo

if TYPE_CHECKING:
    from ..cassette._redact import Redactor

__all__ = ["CallHandle", "Scrubber", "Telemetry", "Then"]

LOGGER_NAME = "pytest_llm.client"

Then = Literal["retry", "fallback", "stop"]
"""What the client does after a failed attempt: retry the route, go to the next, give up."""

_OPERATIONS = {
    "chat": "chat",
    "responses": "chat",
    "completions": "text_completion",
    "embeddings": "embeddings",
}
"""The client's ``api`` -> ``gen_ai.operation.name`` (the Responses API is chat inference)."""

DURATION_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0)
"""Seconds: LLM calls run far past prometheus-client's default 10 s top bucket."""

_METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^\s'\"<>]+")
_PAIR = re.compile(
    r"""(?P<q>["']?)(?P<name>[A-Za-z][\w.\-]*)(?P=q)(?P<sep>\s*[=:]\s*["']?)(?P<value>[^\s"'&,;})\]]+)"""
)
_PLAIN = frozenset({int, float, bool, type(None)})
"""Exact types :meth:`Scrubber.value` passes through untouched (no string inside)."""
_MIN_SECRET = 8
"""Known secrets shorter than this are not replaced verbatim (they would eat ordinary words)."""


# -- credentials ----------------------------------------------------------------


class Scrubber:
    """Removes credentials from a plain string.

    Uses the cassette redactor's rules, the one place the project keeps them: its secret
    patterns (``sk-...``, bearer tokens, cloud keys), its key-like parameter names (for
    URL query strings and ``api_key=...`` / ``"api_key": "..."`` pairs in text) and
    ``REDACTED``. On top: user:password in URLs, and the exact values of the keys the
    client was given (``secrets``), which may have any shape.
    """

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        from ..cassette._redact import _KEYLIKE_PARAM, REDACTED, Redactor

        self.redacted = REDACTED
        self._redactor: Redactor = Redactor()
        self._patterns = [re.compile(p) for p in self._redactor.secret_patterns.values()]
        self._keylike = _KEYLIKE_PARAM
        self._secrets: list[str] = []
        self._lock = threading.Lock()
        self._cache: dict[str, str] = {}
        for secret in secrets:
            self.add(secret)

    def add(self, secret: str | None) -> None:
        """Replace this exact value wherever it appears (a route's or the SDK's api key)."""
        if not secret or len(secret) < _MIN_SECRET or secret in self._secrets:
            return
        with self._lock:
            self._secrets = sorted({*self._secrets, secret}, key=len, reverse=True)
            self._cache = {}

    def __call__(self, text: str) -> str:
        cached = self._cache.get(text)
        if cached is not None:
            return cached
        out = text
        for secret in self._secrets:
            out = out.replace(secret, self.redacted)
        for rx in self._patterns:
            out = rx.sub(self.redacted, out)
        if "://" in out:
            out = _URL.sub(lambda m: self.url(m.group(0)), out)
        if "=" in out or ":" in out:
            out = _PAIR.sub(self._pair, out)
        if len(text) <= 200 and len(self._cache) < 512:  # route names, models, URLs: repeated
            self._cache[text] = out
        return out

    def url(self, url: str) -> str:
        parts = urlsplit(url)
        if "@" in parts.netloc:
            host = parts.netloc.rpartition("@")[2]
            parts = parts._replace(netloc=f"{self.redacted}@{host}")
        return self._redactor.url(parts.geturl())

    def _pair(self, m: re.Match[str]) -> str:
        name = m.group("name")
        # "code" is a credential in an OAuth query string, but an error code in messages
        if name.lower() == "code" or not self._keylike.search(name):
            return m.group(0)
        if m.group("value") == self.redacted:
            return m.group(0)
        return f"{m.group('q')}{name}{m.group('q')}{m.group('sep')}{self.redacted}"

    def value(self, value: Any) -> Any:
        """``value`` with every string in it scrubbed (dicts and lists walked)."""
        kind = type(value)
        if kind in _PLAIN:  # most of an event's fields: no call, no walk
            return value
        if isinstance(value, str):
            return self(value)
        if isinstance(value, dict):
            return {
                k: v if type(v) in _PLAIN else self(v) if type(v) is str else self.value(v)
                for k, v in value.items()
            }
        if isinstance(value, list | tuple):
            return [self.value(v) for v in value]
        return value


# -- optional dependencies --------------------------------------------------------


def _import_otel() -> Any | None:
    try:
        from opentelemetry import trace
    except ImportError:
        return None
    return trace


def _import_prometheus() -> Any | None:
    try:
        import prometheus_client
    except ImportError:
        return None
    return prometheus_client


class _Metrics:
    """The Prometheus collectors of one (registry, prefix)."""

    def __init__(self, prom: Any, registry: Any, prefix: str, buckets: tuple[float, ...]) -> None:
        def name(base: str) -> str:
            return f"{prefix}_{base}" if prefix else base

        kw = {"registry": registry}
        rm = ["route", "model"]
        self.requests = prom.Counter(
            name("requests_total"),
            "Requests per attempt: outcome is success, skipped or the failure kind.",
            [*rm, "outcome"],
            **kw,
        )
        self.duration = prom.Histogram(
            name("request_duration_seconds"),
            "Duration of each attempt that sent a request (skipped routes excluded).",
            rm,
            buckets=buckets,
            **kw,
        )
        self.tokens = prom.Counter(
            name("tokens_total"),
            "Tokens per attempt, by type (input, output).",
            [*rm, "type"],
            **kw,
        )
        self.cost = prom.Counter(
            name("cost_usd_total"), "Cost of attempts in US dollars.", rm, **kw
        )
        self.retries = prom.Counter(
            name("retries_total"),
            "Attempts that retried the route of the attempt before.",
            rm,
            **kw,
        )
        self.fallbacks = prom.Counter(
            name("fallbacks_total"),
            "Moves from one route to another within a call.",
            ["from_route", "to_route"],
            **kw,
        )
        self.calls = prom.Counter(
            name("calls_total"),
            "Calls by API, outcome (success or the error type) and cache status.",
            ["api", "outcome", "cache"],
            **kw,
        )
        self.prompts = prom.Counter(
            name("prompt_calls_total"),
            "Calls made from a versioned prompt file, by prompt (name@vN) and outcome.",
            ["prompt", "outcome"],
            **kw,
        )


_SHARED: weakref.WeakKeyDictionary[Any, dict[str, _Metrics]] = weakref.WeakKeyDictionary()
_SHARED_LOCK = threading.Lock()


def _metrics_for(prom: Any, registry: Any, prefix: str, buckets: tuple[float, ...]) -> _Metrics:
    """One set of collectors per (registry, prefix): a second client on the same registry
    shares them instead of failing with a duplicate registration."""
    with _SHARED_LOCK:
        per = _SHARED.setdefault(registry, {})
        if prefix not in per:
            per[prefix] = _Metrics(prom, registry, prefix, buckets)
        return per[prefix]


# -- the per-call handle ----------------------------------------------------------

_END_LOCK = threading.Lock()
"""Guards :meth:`CallHandle.end`'s check-and-set (a few instructions): one lock for all
handles, rather than one built per call."""


class CallHandle:
    """One call's span state, returned by :meth:`Telemetry.start` and passed back."""

    __slots__ = ("_ended", "_lock", "api", "mono", "operation", "request_model", "span", "wall")

    def __init__(
        self, api: str, request_model: str | None, span: Any | None, wall: int, mono: float
    ) -> None:
        self.api = api
        self.operation = _OPERATIONS.get(api, api)
        self.request_model = request_model
        self.span = span
        """The call's OpenTelemetry span (``None`` without tracing)."""
        self.wall = wall
        self.mono = mono
        self._ended = False
        self._lock = _END_LOCK

    @property
    def recording(self) -> bool:
        """Whether the call span records anything. It does not without an OpenTelemetry
        SDK (no-op tracer) or when the sampler dropped it; its attempt spans, children
        of it, would be dropped alike, so they are not built."""
        span = self.span
        return span is not None and bool(span.is_recording())

    def context(self) -> Any:
        """An OpenTelemetry ``Context`` with the call span as parent (``None`` without
        tracing), for a driver that wants HTTP-level spans nested under the call:
        ``token = opentelemetry.context.attach(ctx)`` ... ``detach(token)`` in one frame."""
        if self.span is None:
            return None
        from opentelemetry import trace

        return trace.set_span_in_context(self.span)

    def ns(self, monotonic: float) -> int:
        """Epoch nanoseconds of a ``clock.monotonic()`` reading of this call."""
        return self.wall + round((monotonic - self.mono) * 1e9)

    def end(self) -> bool:
        """True the first time: a handle finishes once."""
        with self._lock:
            first = not self._ended
            self._ended = True
            return first

    def __repr__(self) -> str:
        return f"CallHandle({self.operation} {self.request_model}, ended={self._ended})"


# -- telemetry ----------------------------------------------------------------------


class Telemetry:
    """Logs, spans and metrics for the client's calls and attempts.

    ``tracing``: ``None`` (default) turns it on when OpenTelemetry is installed,
    ``False`` turns it off. ``metrics`` are opt-in: on with ``registry=`` (e.g.
    ``prometheus_client.REGISTRY``) or ``metrics=True`` (a private ``CollectorRegistry``,
    read it from :attr:`registry`); ``metrics=False`` turns them off even with a
    registry. ``tracer_provider`` defaults to the global one. Telemetries sharing a
    registry and prefix share the collectors. ``secrets`` are exact values (api keys)
    never to show.
    """

    def __init__(
        self,
        *,
        clock: Clock = flow_clock,
        logger: logging.Logger | str = LOGGER_NAME,
        tracing: bool | None = None,
        tracer_provider: Any = None,
        metrics: bool | None = None,
        registry: Any = None,
        prefix: str = "llm",
        buckets: Iterable[float] = DURATION_BUCKETS,
        provider: str = "openai",
        secrets: Iterable[str | None] = (),
    ) -> None:
        self.clock = clock
        self.logger = logging.getLogger(logger) if isinstance(logger, str) else logger
        self.provider = provider
        self.scrub = Scrubber(secrets)

        otel = _import_otel() if tracing is not False else None
        if otel is None and (tracing or tracer_provider is not None):
            raise ClientConfigError(
                f"Telemetry(tracing={tracing!r}, tracer_provider={tracer_provider!r}): "
                "opentelemetry-api is not installed.\n"
                "Fix: pip install 'pytest-llm-harness[otel]', or leave tracing off."
            )
        self._otel = otel
        self._tracer: Any = None
        if otel is not None:
            self._tracer = otel.get_tracer("pytest_llm.client", _version(), tracer_provider)
        self._global_provider = tracer_provider is None
        self._unset_first = self._global_provider and (
            "OTEL_PYTHON_TRACER_PROVIDER" not in os.environ
        )
        """Whether a global provider not set up yet means no SDK (:meth:`_tracing`)."""

        if not isinstance(prefix, str) or (prefix and not _METRIC_NAME.match(prefix)):
            raise ClientConfigError(
                f"Telemetry(prefix={prefix!r}): metric names allow letters, digits, '_' and "
                "':' and cannot start with a digit.\nFix: pass e.g. prefix='myapp_llm'."
            )
        self.prefix = prefix.rstrip("_")
        # opt-in: a private registry nobody scrapes would only cost every call its
        # label look-ups; metrics=True (a private registry) or registry= turns them on
        wanted = metrics is True or (metrics is None and registry is not None)
        prom = _import_prometheus() if wanted else None
        if prom is None and wanted:
            raise ClientConfigError(
                f"Telemetry(metrics={metrics!r}, registry={registry!r}): prometheus-client "
                "is not installed.\nFix: pip install 'pytest-llm-harness[prometheus]', or leave "
                "metrics off."
            )
        self.registry: Any = None
        """The Prometheus registry the metrics live in (``None`` without metrics)."""
        self._metrics: _Metrics | None = None
        if prom is not None:
            self.registry = registry if registry is not None else prom.CollectorRegistry()
            self._metrics = _metrics_for(prom, self.registry, self.prefix, tuple(buckets))

    def __repr__(self) -> str:
        parts = [f"logger={self.logger.name!r}"]
        parts.append("tracing=on" if self._tracer is not None else "tracing=off")
        parts.append(
            f"metrics={self.prefix or '(no prefix)'}_*" if self._metrics else "metrics=off"
        )
        return f"Telemetry({', '.join(parts)})"

    # -- call boundaries ---------------------------------------------------------------

    def start(
        self, api: str, request_model: str | None, *, base_url: str | None = None
    ) -> CallHandle:
        """A call begins: open its span (child of the caller's current span, if any)."""
        handle = self.span_handle(api, request_model, base_url=base_url)
        if handle is None:
            return CallHandle(api, request_model, None, 0, 0.0)  # no span: no clock read
        return handle

    def span_handle(
        self, api: str, request_model: str | None, *, base_url: str | None = None
    ) -> CallHandle | None:
        """:meth:`start` when it opens a span; ``None`` when it would not (tracing off, no
        OpenTelemetry SDK set up): its handle, ``CallHandle(api, request_model, None, 0,
        0.0)``, holds nothing a record needs that the caller does not have, so a client
        builds it only if a record is made (``_client._Core._plain``)."""
        otel = self._otel
        if (
            otel is None
            or self._tracer is None
            # no SDK set up (the check _tracing starts with, here without a call)
            or (self._unset_first and getattr(otel, "_TRACER_PROVIDER", ...) is None)
            or not self._tracing(otel)
        ):
            return None
        wall = round(self.clock.now().timestamp() * 1e9)
        mono = self.clock.monotonic()
        handle = CallHandle(api, request_model, None, wall, mono)
        attrs = self._gen_ai(handle, request_model, base_url)
        attrs["pytest_llm.api"] = api
        name = f"{handle.operation} {request_model}" if request_model else handle.operation
        handle.span = self._tracer.start_span(
            self.scrub(name),
            kind=otel.SpanKind.CLIENT,
            attributes=attrs,
            start_time=wall,
        )
        return handle

    def _tracing(self, otel: Any) -> bool:
        """False while the global tracer provider is the API's proxy (no OpenTelemetry SDK
        set up): its spans would record nothing, so the call makes none. Asked per call,
        so an SDK set up later is used from the next call on."""
        # what get_tracer_provider() reads first: None until an SDK is set up (it would
        # hand back the proxy then, after an environment look-up that costs more)
        if self._unset_first and getattr(otel, "_TRACER_PROVIDER", ...) is None:
            return False
        return not self._global_provider or not isinstance(
            otel.get_tracer_provider(), otel.ProxyTracerProvider
        )

    def attempt(
        self,
        call: CallInfo,
        attempt: Attempt,
        handle: CallHandle | None = None,
        *,
        then: Then | None = None,
    ) -> dict[str, Any]:
        """One attempt is over (and the wait after it decided): log it, span it, count it.

        ``then`` says what the client does next after a failure; without it the message
        says "retrying" only when a wait follows. Returns the event's fields.
        """
        event = self.fields(call, attempt, then=then)
        level = logging.DEBUG if event["outcome"] == "success" else logging.INFO
        if self.logger.isEnabledFor(level):
            self.logger.log(level, self._message(event), extra={"llm": event})
        if handle is not None and handle.span is not None and handle.recording:
            self._attempt_span(handle, call, attempt, event)
        if self._metrics is not None:
            self._count(attempt, event)
        return event

    def quiet(self, handle: CallHandle | None) -> bool:
        """Whether :meth:`record_attempt` of a successful attempt and :meth:`record_finish`
        of a successful call under ``handle`` do nothing at all: no metrics, no span, and
        no record at DEBUG (the level of both events). The client then skips both."""
        return (
            self._metrics is None
            and (handle is None or handle.span is None)
            and not self.logger.isEnabledFor(logging.DEBUG)
        )

    def record_attempt(
        self, call: CallInfo, attempt: Attempt, handle: CallHandle | None = None
    ) -> None:
        """:meth:`attempt` for the client, which does not read the event: the event is
        built only when a log record or a recording span takes it. With the logger
        below INFO and no OpenTelemetry SDK (the usual production set-up) only the
        metrics are counted, from the few fields they need."""
        outcome = _outcome(attempt)
        level = logging.DEBUG if outcome == "success" else logging.INFO
        if self.logger.isEnabledFor(level) or (handle is not None and handle.recording):
            self.attempt(call, attempt, handle)
            return
        if self._metrics is not None:
            input_tokens, output_tokens = _tokens(attempt.usage)
            transition, from_route = _transition(call, attempt)
            scrub = self.scrub
            event = {  # what _count reads, as fields() gives it
                "route": scrub(attempt.route),
                "model": scrub(attempt.model),
                "outcome": scrub(outcome),
                "input_tokens": input_tokens,
                "output_tokens": output_tokens,
                "transition": transition,
                "from_route": None if from_route is None else scrub(from_route),
            }
            self._count(attempt, event)

    def record_finish(
        self, call: CallInfo, error: BaseException | None, handle: CallHandle | None = None
    ) -> None:
        """:meth:`finish` for the client, which does not read the event: built only when
        a log record or a recording span takes it (see :meth:`record_attempt`)."""
        level = logging.WARNING if error is not None else logging.DEBUG
        if self.logger.isEnabledFor(level) or (handle is not None and handle.recording):
            self.finish(call, error, handle)
            return
        if self._metrics is not None:
            outcome = "success" if error is None else self.scrub(_error_type(error))
            self._metrics.calls.labels(call.api, outcome, call.cache).inc()
            if call.prompt:
                self._metrics.prompts.labels(call.prompt, outcome).inc()
        if handle is not None and handle.span is not None and handle.end():
            handle.span.end()  # not recording: attributes and events would be dropped

    def finish(
        self, call: CallInfo, error: BaseException | None, handle: CallHandle | None = None
    ) -> dict[str, Any]:
        """The call is over: a summary event (WARNING when it failed), the span ended."""
        event = self.call_fields(call, error)
        level = logging.WARNING if error is not None else logging.DEBUG
        if self.logger.isEnabledFor(level):
            self.logger.log(level, self._call_message(event), extra={"llm": event})
        if self._metrics is not None:
            self._metrics.calls.labels(call.api, event["outcome"], call.cache).inc()
            if call.prompt:
                self._metrics.prompts.labels(call.prompt, event["outcome"]).inc()
        if handle is not None and handle.span is not None and handle.end():
            if handle.recording:
                self._end_call_span(handle, call, error, event)
            else:  # a non-recording span ignores attributes and events: just end it
                handle.span.end()
        return event

    # -- events ------------------------------------------------------------------------

    def fields(
        self, call: CallInfo, attempt: Attempt, *, then: Then | None = None
    ) -> dict[str, Any]:
        """The structured event of one attempt (what goes in ``extra={"llm": ...}``)."""
        a = attempt
        outcome = _outcome(a)
        if outcome in ("success", "skipped"):
            then = None
        elif then is None and a.wait > 0:
            then = "retry"
        input_tokens, output_tokens = _tokens(a.usage)
        transition, from_route = _transition(call, a)
        event: dict[str, Any] = {
            "event": "attempt",
            "api": call.api,
            "number": a.number,
            "route": a.route,
            "model": a.model,
            "base_url": a.base_url,
            "outcome": outcome,
            "status": a.status,
            "error": a.error,
            "kind": a.kind,
            "reason": a.reason,
            "then": then,
            "transition": transition,
            "from_route": from_route,
            "duration": 0.0 if a.skipped else a.duration,
            "wait": a.wait,
            "retry_after": a.retry_after,
            "breaker": a.breaker,
            "limiter_wait": a.limiter_wait,
            "usage": dict(a.usage) if a.usage else None,
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            "cost": a.cost,
            "hedge": a.hedge,
            "skipped": a.skipped,
            "reask": a.reask,
        }
        scrubbed: dict[str, Any] = self.scrub.value(event)
        return scrubbed

    def call_fields(self, call: CallInfo, error: BaseException | None) -> dict[str, Any]:
        """The structured summary event of one call."""
        input_tokens, output_tokens = _tokens(call.usage)
        event: dict[str, Any] = {
            "event": "call",
            "api": call.api,
            "requested_model": call.requested_model,
            "route": call.route,
            "model": call.model,
            "base_url": call.base_url,
            "outcome": "success" if error is None else _error_type(error),
            "error": None if error is None else _error_type(error),
            "message": None if error is None else _first_line(error),
            "attempts": len(call.attempts),
            "requests": call.requests,
            "waits": call.waits,
            "elapsed": call.elapsed,
            "cache": call.cache,
            "usage": dict(call.usage) if call.usage else None,
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            "cost": call.cost,
            "reasks": call.reasks,
            "prompt": call.prompt,
        }
        scrubbed: dict[str, Any] = self.scrub.value(event)
        return scrubbed

    @staticmethod
    def _message(e: Mapping[str, Any]) -> str:
        hedge = " (hedge)" if e["hedge"] else ""
        head = f"attempt {e['number']}{hedge} on {e['route']}: "
        notes = [f"breaker {e['breaker']}"]
        if e["limiter_wait"] > 0:
            notes.append(f"limiter wait {_secs(e['limiter_wait'])} s")
        if e["outcome"] == "success":
            what = f"{e['status'] or 'ok'} in {_secs(e['duration'])} s"
        elif e["skipped"]:
            what = f"skipped, {e['reason']}" if e["reason"] else "skipped"
        else:
            what = e["reason"] or " ".join(
                str(x) for x in (e["status"], e["kind"] or e["error"]) if x is not None
            )
            what = what or "failed"
            if e["retry_after"] is not None:
                notes.append(f"Retry-After {_secs(e['retry_after'])} s")
            if e["then"] == "retry":
                what += f", retrying in {_secs(e['wait'])} s"
            elif e["then"] == "fallback":
                what += ", falling back to the next route"
            elif e["then"] == "stop":
                what += ", giving up"
        return f"{head}{what} ({', '.join(notes)})"

    @staticmethod
    def _call_message(e: Mapping[str, Any]) -> str:
        model = e["requested_model"] or e["model"] or "?"
        head = f"call {e['api']} {model}"
        n = e["attempts"]
        tries = f"{n} attempt{'s' if n != 1 else ''}"
        if e["error"] is None:
            if e["cache"] in ("hit", "semantic", "coalesced") and not n:
                return f"{head}: cache {e['cache']}"
            return f"{head} served by {e['route']} after {tries} in {_secs(e['elapsed'])} s"
        return (
            f"{head} failed after {tries} in {_secs(e['elapsed'])} s: {e['error']}: {e['message']}"
        )

    # -- spans -------------------------------------------------------------------------

    def _gen_ai(
        self, handle: CallHandle, request_model: str | None, base_url: str | None
    ) -> dict[str, Any]:
        attrs: dict[str, Any] = {
            "gen_ai.operation.name": handle.operation,
            "gen_ai.provider.name": self.provider,
            "gen_ai.system": self.provider,  # before semconv 1.37; still read by many backends
        }
        if request_model:
            attrs["gen_ai.request.model"] = self.scrub(request_model)
        attrs.update(self._server(base_url))
        return attrs

    def _server(self, base_url: str | None) -> dict[str, Any]:
        if not base_url:
            return {}
        hostname, port = _host_port(base_url)
        if not hostname:
            return {}
        if port is None:
            return {"server.address": self.scrub(hostname)}
        return {"server.address": self.scrub(hostname), "server.port": port}

    def _attempt_span(
        self, handle: CallHandle, call: CallInfo, a: Attempt, event: Mapping[str, Any]
    ) -> None:
        otel = self._otel
        assert otel is not None
        attrs = self._gen_ai(handle, a.model, a.base_url)
        if event["outcome"] == "success":
            attrs["gen_ai.response.model"] = event["model"]
        if a.status is not None:
            attrs["http.response.status_code"] = a.status
        failed = event["outcome"] not in ("success", "skipped")
        if failed:
            attrs["error.type"] = event["error"] or event["kind"] or str(a.status)
        if event["input_tokens"] is not None:
            attrs["gen_ai.usage.input_tokens"] = event["input_tokens"]
        if event["output_tokens"] is not None:
            attrs["gen_ai.usage.output_tokens"] = event["output_tokens"]
        ours = {
            "attempt": a.number,
            "route": event["route"],
            "outcome": event["outcome"],
            "failure_kind": event["kind"],
            "reason": event["reason"],
            "then": event["then"],
            "transition": event["transition"],
            "retry_wait": a.wait,
            "retry_after": a.retry_after,
            "breaker": event["breaker"],
            "limiter_wait": a.limiter_wait,
            "cost_usd": a.cost,
            "hedge": a.hedge,
            "skipped": a.skipped,
            "reask": a.reask,
        }
        attrs.update({f"pytest_llm.{k}": v for k, v in ours.items() if v is not None})
        start = handle.ns(a.started)
        end = start if a.skipped else max(start, handle.ns(a.ended))
        span = self._tracer.start_span(
            f"attempt {a.number} {event['model']}",
            context=otel.set_span_in_context(handle.span),
            kind=otel.SpanKind.CLIENT,
            attributes=attrs,
            start_time=start,
        )
        if failed and event["kind"] != "cancelled":
            span.set_status(otel.Status(otel.StatusCode.ERROR, event["reason"] or event["error"]))
        span.end(end_time=end)

    def _end_call_span(
        self, handle: CallHandle, call: CallInfo, error: BaseException | None, e: Mapping[str, Any]
    ) -> None:
        otel = self._otel
        assert otel is not None
        span: Any = handle.span
        attrs: dict[str, Any] = {}
        if e["model"]:
            attrs["gen_ai.response.model"] = e["model"]
        if e["input_tokens"] is not None:
            attrs["gen_ai.usage.input_tokens"] = e["input_tokens"]
        if e["output_tokens"] is not None:
            attrs["gen_ai.usage.output_tokens"] = e["output_tokens"]
        attrs.update(self._server(call.base_url))
        last = next((a for a in reversed(call.attempts) if a.status is not None), None)
        if last is not None:
            attrs["http.response.status_code"] = last.status
        ours = {
            "route": e["route"],
            "cache": e["cache"],
            "attempts": e["attempts"],
            "requests": e["requests"],
            "retry_wait": sum(call.waits),
            "cost_usd": call.cost,
            "reasks": call.reasks,
        }
        attrs.update({f"pytest_llm.{k}": v for k, v in ours.items() if v is not None})
        if error is not None:
            attrs["error.type"] = e["error"]
            span.add_event(
                "exception",
                {"exception.type": e["error"], "exception.message": e["message"]},
                timestamp=handle.ns(call.ended) if call.ended else None,
            )
            span.set_status(otel.Status(otel.StatusCode.ERROR, e["message"]))
        span.set_attributes(attrs)
        ended = call.ended if call.ended > 0 else self.clock.monotonic()
        span.end(end_time=max(handle.wall, handle.ns(ended)))

    # -- metrics -----------------------------------------------------------------------

    def _count(self, a: Attempt, e: Mapping[str, Any]) -> None:
        m = self._metrics
        assert m is not None
        route, model = e["route"], e["model"]
        m.requests.labels(route, model, e["outcome"]).inc()
        if not a.skipped:
            m.duration.labels(route, model).observe(a.duration)
        if e["input_tokens"]:
            m.tokens.labels(route, model, "input").inc(e["input_tokens"])
        if e["output_tokens"]:
            m.tokens.labels(route, model, "output").inc(e["output_tokens"])
        if a.cost > 0:
            m.cost.labels(route, model).inc(a.cost)
        if e["transition"] == "retry":
            m.retries.labels(route, model).inc()
        elif e["transition"] == "fallback":
            m.fallbacks.labels(e["from_route"], route).inc()


# -- helpers --------------------------------------------------------------------------


@functools.cache
def _version() -> str:
    from .. import __version__

    return __version__


@functools.lru_cache(maxsize=256)
def _host_port(base_url: str) -> tuple[str | None, int | None]:
    """(host, port) of a base URL, the scheme's port by default; port ``None`` when the
    URL's is not a number. Cached: every span asks for it, and urlsplit is not cheap."""
    parts = urlsplit(base_url)
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        port = None
    return parts.hostname, port


def _tokens(usage: Mapping[str, Any] | None) -> tuple[int | None, int | None]:
    """(input, output) tokens from chat, Responses or embeddings usage field names."""
    if not usage:
        return None, None
    inp = usage.get("input_tokens", usage.get("prompt_tokens"))
    out = usage.get("output_tokens", usage.get("completion_tokens"))
    return (
        int(inp) if isinstance(inp, int | float) else None,
        int(out) if isinstance(out, int | float) else None,
    )


def _outcome(a: Attempt) -> str:
    """``success``, ``skipped``, or the failure kind (``error`` without one)."""
    if a.skipped:
        return "skipped"
    if a.ok and (a.status is None or a.status < 400):
        return "success"
    return a.kind or "error"


def _transition(call: CallInfo, a: Attempt) -> tuple[str, str | None]:
    """How the call got to this attempt, and from which route: ``first``, ``retry`` (the
    route of the attempt before), ``fallback`` (another route) or ``hedge``."""
    if a.hedge:
        return "hedge", None
    before = [b for b in call.attempts if b is not a and not b.hedge and b.number < a.number]
    if not before:
        return "first", None
    prev = before[-1].route
    return ("retry", None) if prev == a.route else ("fallback", prev)


def _error_type(error: BaseException) -> str:
    """The class's canonical name: by the shortest public module exporting it
    (``openai.RateLimitError``, ``pytest_llm.client.DeadlineExceeded``)."""
    cls = type(error)
    if cls.__module__ == "builtins":
        return cls.__qualname__
    parts = cls.__module__.split(".")
    for i in range(1, len(parts) + 1):
        module = ".".join(parts[:i])
        if getattr(sys.modules.get(module), cls.__name__, None) is cls:
            return f"{module}.{cls.__qualname__}"
    return f"{cls.__module__}.{cls.__qualname__}"


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _secs(value: float) -> str:
    return format(round(value, 3), "g")
