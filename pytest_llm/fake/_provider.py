"""The fake provider: a handler on the request chain that answers like the providers.

It answers OpenAI's chat completions, Responses API and embeddings, Anthropic's
Messages API and Gemini's generateContent (:mod:`._native`) with replies in each real
API's shapes (streamed when the request asks for a stream), from scripts added with
:meth:`FakeProvider.add` (one script answers every provider), or with a default reply. It sits last on the chain
(order 300, after faults and cassettes), so faults wrap its replies like any other.
"""

from __future__ import annotations

import functools
import json
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .._clock import Clock, current_clock
from .._errors import ConfigError, FakeScriptError, ReplayInterrupt, Unused
from .._exchange import Exchange, Next, Outcome, Reply
from .._handler import Handler
from .._sse import SSEEvent
from ._limits import Limits, Quota
from ._log import FakeRequest, RequestLog
from ._script import APIS, GENERATIVE, Script, _near, check_options, make_answer
from ._shapes import (
    EMBED_MODES,
    Answer,
    Ids,
    chat_chunks,
    chat_completion,
    completion_tokens,
    embeddings,
    error_body,
    prompt_tokens,
    response_events,
    response_object,
)

if TYPE_CHECKING:
    from ._batches import FakeBatches

__all__ = ["DEFAULT_REPLY", "FakeMiss", "FakeProvider", "FakeScriptError", "FakeUnused"]

DEFAULT_REPLY = "This is a fake reply from pytest-llm."

_PATHS = (
    (re.compile(r"/chat/completions/?$"), "chat", "openai"),
    (re.compile(r"/responses/?$"), "responses", "openai"),
    (re.compile(r"/embeddings/?$"), "embeddings", "openai"),
    (re.compile(r"/v1/messages/count_tokens/?$"), "count_tokens", "anthropic"),
    (re.compile(r"/v1/messages/?$"), "messages", "anthropic"),  # not /threads/{id}/messages
    (
        re.compile(r"/models/[^/:]+:(generateContent|streamGenerateContent)$"),
        "generate_content",
        "gemini",
    ),
    (re.compile(r"/models/[^/:]+:countTokens$"), "count_tokens", "gemini"),
)
"""Path (any prefix: /v1, /v1beta, a proxy's) -> the API and the provider whose shape it
answers in: the provider is told by the request's path, never by its host."""
_OPTIONS = (
    "default",
    "strict",
    "dimensions",
    "embed",
    "check_unused",
    "clock",
    "tools",
    "seed",
    "aliases",
    "limits",
)
_ADD_OPTIONS = (
    "content",
    "tool_calls",
    "finish_reason",
    "chunks",
    "usage",
    "headers",
    "api",
    "model",
    "contains",
    "match",
    "times",
)
_FIRST_EVENT = 0.2
"""Seconds to the first streamed event (time to first token), then one event per 20 ms."""
_EVENT_GAP = 0.02


class FakeMiss(ReplayInterrupt):
    """Strict mode: a request that no scripted reply matches.

    A ``BaseException``, like a cassette miss, so the SDK's retry loop and the
    application's ``except Exception`` do not hide it.
    """


class FakeUnused(Unused):
    """Scripted replies were left unused when the fake was deactivated."""


Embed = Callable[[str | list[int], int], Sequence[float]]


class FakeProvider(Handler):
    """A fake for OpenAI, Anthropic and Gemini: scripted replies, a default reply, a
    request log.

    Use it as the ``llm_fake`` fixture, or without pytest::

        with FakeProvider() as fake:
            fake.add("Paris.")
            ...  # any openai client in this process now talks to the fake
    """

    order = 300
    miss_type = FakeMiss
    unused_type = FakeUnused

    def __init__(
        self,
        *,
        default: Any = DEFAULT_REPLY,
        strict: bool = False,
        dimensions: int | None = None,
        embed: Embed | str | None = None,
        check_unused: bool = Handler.check_unused,
        clock: Clock | None = None,
        tools: str = "forced",
        seed: int = 0,
        aliases: Mapping[str, str] | None = None,
        limits: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,
        **unknown: object,
    ) -> None:
        check_options("FakeProvider()", unknown, _OPTIONS)
        super().__init__()
        self._lock = threading.Lock()
        self._scripts: list[Script] = []
        self._count = 0
        self.requests = RequestLog()
        """Every request the fake saw, in order: ``.last``, ``len()``, indexing."""
        self._default: Answer | None = None
        self.strict = False
        self.dimensions: int | None = None
        self.embed: Embed | None = None
        self.tools = "forced"
        """When nothing is scripted, call an offered tool: ``forced`` (only when the
        request forces one), ``auto`` (also when the user spoke last), ``off``."""
        self.seed = 0
        """Seeds the arguments of the tool calls the fake makes up."""
        self._aliases: dict[str, str] = {}
        self._clock = clock
        self._limits = Limits()
        self._configure(
            "FakeProvider()",
            default=default,
            strict=strict,
            dimensions=dimensions,
            embed=embed,
            check_unused=check_unused,
            tools=tools,
            seed=seed,
            aliases=aliases,
            limits=limits,
        )

    # -- configuration ----------------------------------------------------------

    def configure(self, **options: Any) -> FakeProvider:
        """Change options later (e.g. on the ``llm_fake`` fixture): same keywords as the class."""
        check_options(
            "llm_fake.configure()",
            {k: v for k, v in options.items() if k not in _OPTIONS},
            _OPTIONS,
        )
        self._configure("llm_fake.configure()", **options)
        return self

    def _configure(self, where: str, **options: Any) -> None:
        if "default" in options:
            value = options["default"]
            self._default = (
                None
                if value is None
                else make_answer(
                    value,
                    tool_calls=None,
                    finish_reason=None,
                    chunks=None,
                    usage=None,
                    where=f"{where} default",
                )
            )
        if "strict" in options:
            self.strict = _flag(options["strict"], "strict", where)
        if "check_unused" in options:
            self.check_unused = _flag(options["check_unused"], "check_unused", where)
        if "dimensions" in options:
            dims = options["dimensions"]
            if dims is not None and (
                isinstance(dims, bool) or not isinstance(dims, int) or dims < 1
            ):
                raise ConfigError(
                    f"{where}: dimensions={dims!r} is not a vector size.\n"
                    "Fix: use a whole number >= 1 (e.g. 8 to keep test vectors small), or None "
                    "for the model's own size (1536 for text-embedding-3-small)."
                )
            self.dimensions = dims
        if "embed" in options:
            embed = options["embed"]
            if isinstance(embed, str):
                if embed not in EMBED_MODES:
                    raise ConfigError(
                        f"{where}: embed={embed!r} is not an embeddings mode"
                        f"{_near(embed, EMBED_MODES)}.\n"
                        f"Fix: use one of: {', '.join(EMBED_MODES)}, or a function "
                        "(text_or_tokens, dimensions) -> list of floats."
                    )
                embed = EMBED_MODES[embed]
            if embed is not None and not callable(embed):
                raise ConfigError(
                    f"{where}: embed={embed!r} is not callable.\n"
                    "Fix: pass a function (text_or_tokens, dimensions) -> list of floats."
                )
            self.embed = embed
        if "clock" in options:
            self._clock = options["clock"]
        if "tools" in options:
            from ._tools import MODES

            mode = options["tools"]
            if mode not in MODES:
                raise ConfigError(
                    f"{where}: tools={mode!r} is not a mode{_near(str(mode), MODES)}.\n"
                    "Fix: use 'forced' (make up a call when the request forces a tool: the "
                    "default), 'auto' (also when tools are offered and the user spoke last) "
                    "or 'off'."
                )
            self.tools = mode
        if "seed" in options:
            seed = options["seed"]
            if isinstance(seed, bool) or not isinstance(seed, int):
                raise ConfigError(f"{where}: seed={seed!r} must be an int.\nFix: seed=1234.")
            self.seed = seed
        if "aliases" in options and options["aliases"] is not None:
            self.aliases(options["aliases"])
        if "limits" in options and options["limits"] is not None:
            quotas = options["limits"]
            quotas = [quotas] if isinstance(quotas, Mapping) else quotas
            if not isinstance(quotas, list | tuple) or not all(
                isinstance(q, Mapping) for q in quotas
            ):
                raise ConfigError(
                    f"{where}: limits={options['limits']!r} is not a quota.\n"
                    "Fix: limits={'rpm': 2}, or a list of them (one per model=)."
                )
            for quota in quotas:
                self._limits.add(
                    f"{where} limits",
                    {k: v for k, v in quota.items() if k not in ("model", "provider")},
                    quota.get("model"),
                    quota.get("provider"),
                )

    @property
    def clock(self) -> Clock:
        return self._clock or current_clock()

    @functools.cached_property
    def batches(self) -> FakeBatches:
        """The fake's Files and Batch APIs: ``llm_fake.batches.configure(...)``."""
        from ._batches import FakeBatches

        return FakeBatches(self)

    # -- scripting --------------------------------------------------------------

    def add(
        self,
        content: Any = None,
        *,
        tool_calls: Sequence[Any] | None = None,
        finish_reason: str | None = None,
        chunks: int | Sequence[str] | None = None,
        usage: Mapping[str, int] | None = None,
        headers: Mapping[str, str] | None = None,
        api: str | None = None,
        model: str | None = None,
        contains: str | None = None,
        match: Callable[[FakeRequest], object] | None = None,
        times: int | None = 1,
        **unknown: object,
    ) -> Script:
        """Script a reply.

        ``content`` is what the model says: a str, or a dict/list/pydantic model sent
        as JSON text. The request decides the shape (chat or Responses, streamed or
        not). Scripts answer in the order they were added; ``api``, ``model``,
        ``contains`` (a substring of the last user message) and ``match`` (a predicate
        on the :class:`FakeRequest`) restrict which requests a script answers;
        ``times`` is how many (``None``: every time).
        """
        where = "llm_fake.add()"
        check_options(where, unknown, _ADD_OPTIONS)
        if api is not None and api not in APIS:
            raise ConfigError(
                f"{where}: api={api!r} is not an API the fake serves{_near(str(api), APIS)}.\n"
                f"Fix: use one of: {', '.join(APIS)} (or leave it out: "
                f"{', '.join(GENERATIVE)})."
            )
        if api == "count_tokens":
            raise ConfigError(
                f"{where}: api='count_tokens' cannot take a scripted reply: token counts "
                "answer with the size of the request's prompt.\n"
                "Fix: leave count_tokens unscripted; script the reply of the call that follows "
                "(api='messages' or api='generate_content')."
            )
        if api == "embeddings":
            raise ConfigError(
                f"{where}: api='embeddings' cannot take a scripted reply: embeddings answer "
                "with vectors, made from a hash of the input.\n"
                "Fix: leave embeddings unscripted, or pass embed=fn (text, dimensions) -> "
                "vector to FakeProvider()/llm_fake.configure() to choose the vectors."
            )
        if times is not None and (
            isinstance(times, bool) or not isinstance(times, int) or times < 1
        ):
            raise ConfigError(
                f"{where}: times={times!r} is not a count.\n"
                "Fix: use a whole number >= 1, or times=None to answer every matching request."
            )
        for name, value in (("model", model), ("contains", contains)):
            if value is not None and not isinstance(value, str):
                raise ConfigError(
                    f"{where}: {name}={value!r} must be a str.\n"
                    f"Fix: pass the {name} as text, or use match=lambda request: ... for more."
                )
        if match is not None and not callable(match):
            raise ConfigError(
                f"{where}: match={match!r} is not callable.\n"
                "Fix: pass a function of the request, e.g. match=lambda r: r.stream."
            )
        answer = make_answer(
            content,
            tool_calls=tool_calls,
            finish_reason=finish_reason,
            chunks=chunks,
            usage=usage,
            where=where,
        )
        extra: list[tuple[str, str]] = []
        if headers is not None:
            if not isinstance(headers, Mapping) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
            ):
                raise ConfigError(
                    f"{where}: headers must map str to str, got {headers!r}.\n"
                    "Fix: headers={'x-ratelimit-remaining-requests': '99'}."
                )
            extra = list(headers.items())
        with self._lock:
            script = Script(
                len(self._scripts) + 1,
                answer,
                api=api,
                model=model,
                contains=contains,
                match=match,
                times=times,
                headers=extra,
            )
            self._scripts.append(script)
        return script

    def aliases(self, names: Mapping[str, str | Sequence[str]]) -> dict[str, list[str]]:
        """Model names that answer for each other: ``{"gpt-4o-mini":
        "gpt-4o-mini-2024-07-18"}`` lets a script for either name answer a request for
        the other (as the API serves an alias with its dated snapshot). Opt-in: without
        it, ``model=`` matches the exact name. Returns every group so far."""
        from .._aliases import alias_groups

        fix = "llm_fake.aliases({'gpt-4o-mini': 'gpt-4o-mini-2024-07-18'})"
        with self._lock:
            self._aliases = alias_groups(names, "llm_fake.aliases()", fix, self._aliases)
            groups: dict[str, list[str]] = {}
            for k, v in self._aliases.items():
                groups.setdefault(v, []).append(k)
        return groups

    def limits(
        self,
        *,
        rpm: int | None = None,
        tpm: int | None = None,
        itpm: int | None = None,
        otpm: int | None = None,
        model: str | None = None,
        provider: str | None = None,
        **unknown: object,
    ) -> Quota:
        """Give the fake a quota, counted on its clock (``llm_clock`` under that fixture).

        ``rpm`` requests, ``tpm`` tokens (input and output), ``itpm`` input and ``otpm``
        output tokens per minute. With ``model``, only that model's requests count (each
        call is its own quota: call once per model); without, every request to each
        provider (``provider``: only that one). Every reply then carries the provider's
        rate-limit headers with what is left; a request that does not fit gets the
        provider's 429 with the true wait. See ``docs/fake.md#quotas``.
        """
        return self._limits.add(
            "llm_fake.limits()",
            {"rpm": rpm, "tpm": tpm, "itpm": itpm, "otpm": otpm, **unknown},
            model,
            provider,
        )

    @property
    def quotas(self) -> list[Quota]:
        """The quotas given with :meth:`limits`, in order."""
        return list(self._limits.quotas)

    @property
    def scripts(self) -> list[Script]:
        with self._lock:
            return list(self._scripts)

    @property
    def last(self) -> FakeRequest:
        """The latest request (``llm_fake.requests.last``)."""
        return self.requests.last

    def reset(self) -> None:
        """Forget every script, request, miss and quota (the options stay)."""
        self._limits.clear()
        with self._lock:
            self._scripts.clear()
            self.misses.clear()
            self.requests.clear()

    def unused(self) -> list[Script]:
        """Scripts with uses left: a test that scripted them expected them to be asked for."""
        return [s for s in self.scripts if s.unused]

    def explain_unused(self) -> str:
        left = self.unused()
        lines = [
            f"llm_fake: {len(left)} scripted repl{'y was' if len(left) == 1 else 'ies were'} "
            f"never asked for ({len(self.requests)} request{'s' if len(self.requests) != 1 else ''} "
            "reached the fake):"
        ]
        lines += [f"  {s.describe()}" for s in left]
        lines.append(
            "Fix: check that the code under test makes these calls, remove the scripts it does "
            "not need, or turn the check off with llm_fake.configure(check_unused=False)."
        )
        return "\n".join(lines)

    # -- the handler ------------------------------------------------------------

    def handle(self, exchange: Exchange, nxt: Next) -> Outcome:
        route = route_of(exchange)
        if route is None:
            from ._batches import serves

            if serves(exchange):  # the Files and Batch APIs (_batches.py)
                return self.batches.handle(exchange)
            return nxt(exchange)
        api, provider = route
        body = exchange.json
        request = FakeRequest(exchange, api, body if isinstance(body, dict) else {}, provider)
        with self._lock:
            self._count += 1
            request.number = self._count
            self.requests.append(request)
        admission = None
        if self._limits and api != "count_tokens":
            from ._limits import refusal

            admission = self._limits.admit(request, _prompt_tokens(request), self.clock.monotonic())
            if admission.refused:
                status, doc, extra = refusal(request, admission, self.clock)
                reply = self._json(request, doc, extra, status)
                request.status = status
                return reply
        reply = self._reply(request, body, api, provider)
        request.status = reply.status
        if admission is not None:
            from ._limits import headers

            answer = request.answer
            if answer is not None:
                output = answer.usage.get("completion_tokens", completion_tokens(answer))
                self._limits.charge_output(admission, output)
            reply.headers += headers(provider, admission.held, self.clock)
        return reply

    def _reply(self, request: FakeRequest, body: Any, api: str, provider: str) -> Reply:
        ids = Ids(request.number, int(self.clock.now().timestamp()))
        if provider != "openai":
            from ._native import answer_native

            return answer_native(self, request, body, ids)
        invalid = _invalid(api, body)
        if invalid is not None:
            return self._error(request, 400, *invalid)
        if api == "embeddings":
            doc = embeddings(request.json, self.dimensions, self.embed)
            if doc is None:
                return self._error(
                    request,
                    400,
                    "'$.input' is invalid. Please check the API reference: the input must be "
                    "a string, an array of strings, or an array of token arrays.",
                    "input",
                    None,
                )
            return self._json(request, doc, [])
        answer, headers = self.answer_for(request)
        if api == "chat":
            if request.stream:
                chunks = chat_chunks(request.json, answer, ids)
                events = [SSEEvent(_dumps(c)) for c in chunks] + [SSEEvent("[DONE]")]
                return self._stream(request, events, headers)
            return self._json(request, chat_completion(request.json, answer, ids), headers)
        if request.stream:
            stream = response_events(request.json, answer, ids)
            events = [SSEEvent(_dumps(e), event=e["type"]) for e in stream]
            return self._stream(request, events, headers)
        return self._json(request, response_object(request.json, answer, ids), headers)

    def answer_for(self, request: FakeRequest) -> tuple[Answer, list[tuple[str, str]]]:
        """The scripted reply (and its extra headers) that answers ``request``, or the
        default; a :class:`FakeMiss` when there is neither."""
        script = self._pick(request)
        if script is not None:
            request.answer = script.answer
            return script.answer, script.headers
        if not self.strict and self.tools != "off":
            from ._tools import generated_call

            try:
                call = generated_call(request, self.tools, self.seed)
            except FakeScriptError as exc:
                self.misses.append(str(exc))
                raise
            if call is not None:
                answer = Answer(tool_calls=[call])
                request.answer = answer
                return answer, []
        if self.strict or self._default is None:
            message = self._explain_miss(request)
            self.misses.append(message)
            raise FakeMiss(message)
        request.answer = self._default
        return self._default, []

    def _pick(self, request: FakeRequest) -> Script | None:
        with self._lock:
            for script in self._scripts:
                try:
                    miss = script.mismatch(request, self._aliases)
                except Exception as exc:
                    raise FakeScriptError(
                        f"llm_fake: the match= predicate of script {script.describe()} raised "
                        f"{type(exc).__name__}: {exc} on request #{request.number} "
                        f"({request.api}, model {request.model!r}).\n"
                        "Fix: make the predicate return False for requests it does not handle "
                        "(e.g. use request.json.get(...) rather than request.json[...])."
                    ) from exc
                if miss is None:
                    script.calls += 1
                    request.script = script
                    return script
        return None

    def _explain_miss(self, request: FakeRequest) -> str:
        text = request.last_user_message
        shown = f", last user message {text[:60]!r}" if text else ""
        why = "strict mode is on" if self.strict else "the default reply is off (default=None)"
        lines = [
            f"llm_fake has no reply for {request.method} {request.path} ({request.api}, model "
            f"{request.model!r}{shown}): no scripted reply matches and {why}."
        ]
        scripts = self.scripts
        if scripts:
            lines.append("Scripted replies:")
            lines += [f"  {s.describe()}: {_why_not(s, request, self._aliases)}" for s in scripts]
        else:
            lines.append("Nothing is scripted.")
        lines.append(
            "Fix: script it with llm_fake.add('...') (optionally api=, model=, contains=, "
            "match=, times=), or turn strict mode off to get the default reply."
        )
        return "\n".join(lines)

    # -- replies ----------------------------------------------------------------

    def _headers(self, request: FakeRequest, content_type: str) -> list[tuple[str, str]]:
        if request.provider == "anthropic":
            return [("content-type", content_type), ("request-id", f"req_fake{request.number:04d}")]
        if request.provider == "gemini":
            return [
                ("content-type", content_type.replace("utf-8", "UTF-8")),
                ("vary", "Origin, X-Origin, Referer"),
                ("server-timing", "gfet4t7; dur=1"),
            ]
        return [
            ("content-type", content_type),
            ("x-request-id", f"req_fake{request.number:04d}"),
            ("openai-processing-ms", "1"),
            ("openai-version", "2020-10-01"),
        ]

    def _json(
        self,
        request: FakeRequest,
        doc: dict[str, Any],
        extra: list[tuple[str, str]],
        status: int = 200,
    ) -> Reply:
        headers = self._headers(request, "application/json") + extra
        body = json.dumps(doc, indent=2, ensure_ascii=False).encode()
        return Reply(status, headers, body=body)

    def _stream(
        self, request: FakeRequest, events: list[SSEEvent], extra: list[tuple[str, str]]
    ) -> Reply:
        for i, ev in enumerate(events):
            ev.t = round(_FIRST_EVENT + _EVENT_GAP * i, 4)
        headers = self._headers(request, "text/event-stream; charset=utf-8")
        headers.append(("cache-control", "no-cache"))
        return Reply(200, headers + extra, events=events)

    def _error(
        self, request: FakeRequest, status: int, message: str, param: str | None, code: str | None
    ) -> Reply:
        return self._json(request, error_body(message, param=param, code=code), [], status)

    def __repr__(self) -> str:
        scripts = self.scripts
        unused = sum(s.unused for s in scripts)
        mode = " strict" if self.strict else ""
        return (
            f"<FakeProvider{mode} {len(scripts)} scripted ({unused} unused), "
            f"{len(self.requests)} requests>"
        )


def api_of(exchange: Exchange) -> str | None:
    """Which API a request is for, from its method and path (any prefix: /v1, Azure...)."""
    found = route_of(exchange)
    return found[0] if found else None


def route_of(exchange: Exchange) -> tuple[str, str] | None:
    """``(api, provider)`` of a request, from its method and path; ``None``: not an LLM API."""
    if exchange.method.upper() != "POST":
        return None
    for pattern, api, provider in _PATHS:
        if pattern.search(exchange.path):
            return api, provider
    return None


def _invalid(api: str, body: Any) -> tuple[str, str | None, str | None] | None:
    """The 400 the real API gives for a body it cannot use: (message, param, code)."""
    if not isinstance(body, dict):
        return (
            "We could not parse the JSON body of your request. (HINT: This likely means you "
            "aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, "
            "but what was sent was not valid JSON.)",
            None,
            None,
        )
    if not isinstance(body.get("model"), str) or not body["model"]:
        return ("you must provide a model parameter", None, None)
    if api == "chat" and not isinstance(body.get("messages"), list):
        return ("Missing required parameter: 'messages'.", "messages", "missing_required_parameter")
    if api == "embeddings" and "input" not in body:
        return ("Missing required parameter: 'input'.", "input", "missing_required_parameter")
    return None


def _prompt_tokens(request: FakeRequest) -> int:
    """The request's input tokens, estimated as its provider's own count would."""
    if request.provider == "anthropic":
        from ._anthropic import input_tokens

        return input_tokens(request.json)
    if request.provider == "gemini":
        from ._gemini import prompt_tokens as gemini_prompt

        return gemini_prompt(request.json)
    return prompt_tokens(request.json)


def _why_not(script: Script, request: FakeRequest, aliases: Mapping[str, str]) -> str:
    try:
        return script.mismatch(request, aliases) or "matches"
    except Exception as exc:
        return f"match= raised {type(exc).__name__}: {exc}"


def _flag(value: Any, name: str, where: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{where}: {name}={value!r} must be True or False.\nFix: {name}=True.")
    return value


def _dumps(doc: Any) -> str:
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False)
