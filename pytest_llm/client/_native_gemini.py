"""A Gemini route: openai's chat-completions request to ``generateContent`` /
``streamGenerateContent`` through the ``google-genai`` SDK (its retries off: no
``retry_options``), and the answer back as openai types.

Translated: system / developer messages (``system_instruction``), user and assistant
turns (``model``), image parts as ``data:`` URLs (``inline_data``), assistant tool
calls (``function_call``) and tool results (``function_response``, named after the
call they answer), ``tools`` / ``tool_choice``, ``temperature``, ``top_p``,
``max_tokens`` / ``max_completion_tokens``, ``stop``, ``seed``, ``presence_penalty``,
``frequency_penalty``, ``response_format`` (``response_mime_type`` and
``response_json_schema``), ``stream`` with ``stream_options.include_usage``,
``extra_headers`` / ``extra_body``. A ``SAFETY`` (or other block) finish, or a blocked
prompt, is a content-policy failure (:class:`._native.ContentBlocked`).
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from . import _native as n
from ._errors import ClientConfigError

if TYPE_CHECKING:
    pass

__all__ = ["GeminiAdapter"]

KNOWN = n.TRANSLATED | {"seed", "presence_penalty", "frequency_penalty"}

_BLOCKED = frozenset(
    {"SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY"}
)
_STOP = {"STOP": "stop", "MAX_TOKENS": "length"}
_CONTEXT = re.compile(r"input token count .* exceeds the maximum|context window", re.I)
_DELAY = re.compile(r"\s*(\d+(?:\.\d+)?)s\s*")


def _reason(finish: Any) -> str | None:
    """The finish reason's name (``STOP``, ``SAFETY``, ...) or ``None``."""
    if finish is None:
        return None
    return str(getattr(finish, "name", None) or getattr(finish, "value", None) or finish)


class GeminiAdapter(n.Adapter):
    def start(self, is_async: bool, timeout: Any, headers: Mapping[str, str]) -> None:
        route = self.route
        self.genai = n.import_sdk(route, "google.genai", "google-genai")
        self.errors = n.import_sdk(route, "google.genai.errors", "google-genai")
        options: dict[str, Any] = {}  # no retry_options: the SDK does not retry
        if route.base_url:
            options["base_url"] = route.base_url
        if headers:
            options["headers"] = dict(headers)
        ms = self._ms(timeout)
        if ms is not None:
            options["timeout"] = ms
        try:
            self.client = self.genai.Client(api_key=route.api_key, http_options=options)
        except ValueError as exc:  # no key given and none in the environment
            raise ClientConfigError(
                f"route {route.key!r} (provider='gemini'): google-genai could not start: "
                f"{exc}\nFix: Route(..., provider='gemini', api_key=...) or set GEMINI_API_KEY."
            ) from None
        self.models = self.client.aio.models if is_async else self.client.models

    @staticmethod
    def _ms(timeout: Any) -> int | None:
        connect, read = n.seconds_of(timeout)
        seconds = read if read is not None else connect
        return None if seconds is None else max(1, int(seconds * 1000))

    # -- the request -------------------------------------------------------------------

    def request(self, kwargs: Mapping[str, Any]) -> tuple[dict[str, Any], bool, bool]:
        """``generate_content`` keywords, whether it streams, whether usage is asked for."""
        route = self.route
        n.check_kwargs(route, kwargs, KNOWN)
        if kwargs.get("extra_query") is not None:
            raise n.unsupported(
                route, "extra_query=", "google-genai takes no query parameters: drop it."
            )
        system, contents = self._contents(kwargs.get("messages") or [])
        config: dict[str, Any] = {}
        if system:
            config["system_instruction"] = system
        for name, target in (
            ("temperature", "temperature"),
            ("top_p", "top_p"),
            ("seed", "seed"),
            ("presence_penalty", "presence_penalty"),
            ("frequency_penalty", "frequency_penalty"),
        ):
            if kwargs.get(name) is not None:
                config[target] = kwargs[name]
        limit = kwargs.get("max_completion_tokens") or kwargs.get("max_tokens")
        if limit is not None:
            config["max_output_tokens"] = limit
        stop = kwargs.get("stop")
        if stop is not None:
            config["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
        tools = [self._tool(t) for t in kwargs.get("tools") or []]
        if tools:
            config["tools"] = [{"function_declarations": tools}]
        choice = kwargs.get("tool_choice")
        if choice is not None:
            config["tool_config"] = {"function_calling_config": self._tool_choice(choice)}
        kind, spec = n.json_schema_of(kwargs.get("response_format"), route)
        if kind != "text":
            config["response_mime_type"] = "application/json"
            schema = (spec or {}).get("schema")
            if schema is not None:
                config["response_json_schema"] = schema
        http: dict[str, Any] = {}
        if kwargs.get("extra_headers"):
            http["headers"] = dict(kwargs["extra_headers"])
        if kwargs.get("extra_body"):
            http["extra_body"] = dict(kwargs["extra_body"])
        ms = self._ms(kwargs.get("timeout"))
        if ms is not None:
            http["timeout"] = ms
        if http:
            config["http_options"] = http
        stream = bool(kwargs.get("stream"))
        options = kwargs.get("stream_options") or {}
        out = {"model": kwargs["model"], "contents": contents, "config": config}
        return out, stream, stream and bool(options.get("include_usage"))

    def _contents(self, messages: Any) -> tuple[str, list[dict[str, Any]]]:
        route = self.route
        names: dict[str, str] = {}  # tool call id -> function name (Gemini names results)

        def function_call(call: Mapping[str, Any]) -> dict[str, Any]:
            name = names[call["id"]] = call["function"]["name"]
            return {"function_call": {"name": name, "args": n.arguments_of(call, route)}}

        def function_response(message: Mapping[str, Any]) -> dict[str, Any]:
            call_id = message.get("tool_call_id")
            if call_id not in names:
                raise ClientConfigError(
                    f"route {route.key!r}: the tool result for {call_id!r} answers no tool "
                    "call of an earlier assistant message; Gemini names a result after its "
                    "function.\nFix: send the assistant message with that tool call first."
                )
            text = n.text_of(message.get("content"), route, "tool")
            try:
                value = json.loads(text)
            except ValueError:
                value = text
            response = value if isinstance(value, dict) else {"result": value}
            return {"function_response": {"name": names[call_id], "response": response}}

        def inline_data(url: str) -> dict[str, Any]:
            inline = n.data_url(url)
            if inline is None:
                raise n.unsupported(
                    route,
                    f"the image URL {url[:60]!r}",
                    "send the image as a data: URL (base64), which Gemini takes inline.",
                )
            return {"inline_data": {"mime_type": inline[0], "data": base64.b64decode(inline[1])}}

        return n.conversation(
            route,
            messages,
            key="parts",
            assistant="model",
            text=lambda text: {"text": text},
            image=inline_data,
            call=function_call,
            result=function_response,
        )

    def _tool(self, tool: Any) -> Any:
        function = n.function_of(self.route, tool)
        out: dict[str, Any] = {"name": function["name"]}
        if function.get("description"):
            out["description"] = function["description"]
        if function.get("parameters"):
            out["parameters_json_schema"] = function["parameters"]
        # the SDK's type, not a dict: a dict would go out with snake_case keys
        return self.genai.types.FunctionDeclaration(**out)

    def _tool_choice(self, choice: Any) -> dict[str, Any]:
        mode, name = n.tool_choice_of(self.route, choice)
        if mode == "function":
            return {"mode": "ANY", "allowed_function_names": [name]}
        return {"mode": "ANY" if mode == "required" else mode.upper()}

    # -- the answer ----------------------------------------------------------------------

    def _blocked(self, why: str) -> n.ContentBlocked:
        return n.ContentBlocked(
            f"route {self.route.key!r}: Gemini blocked the answer ({why}).", reason=why
        )

    def _usage(self, meta: Any) -> dict[str, Any] | None:
        if meta is None:
            return None
        prompt = getattr(meta, "prompt_token_count", None) or 0
        output = (getattr(meta, "candidates_token_count", None) or 0) + (
            getattr(meta, "thoughts_token_count", None) or 0
        )
        cached = getattr(meta, "cached_content_token_count", None) or 0
        return n.usage(prompt, output, cached)

    def _parts(self, candidate: Any, first_call: int) -> tuple[list[str], list[dict[str, Any]]]:
        texts: list[str] = []
        calls: list[dict[str, Any]] = []
        content = getattr(candidate, "content", None)
        for part in getattr(content, "parts", None) or []:
            if getattr(part, "thought", None):
                continue  # the model's thinking is not its answer
            if part.text:
                texts.append(part.text)
            call = part.function_call
            if call is not None:
                index = first_call + len(calls)
                calls.append(
                    {
                        "id": call.id or f"call_{index}_{call.name}",
                        "type": "function",
                        "function": {
                            "name": call.name,
                            "arguments": json.dumps(call.args or {}, ensure_ascii=False),
                        },
                    }
                )
        return texts, calls

    def _prompt_blocked(self, response: Any) -> None:
        feedback = getattr(response, "prompt_feedback", None)
        reason = _reason(getattr(feedback, "block_reason", None))
        if reason:
            raise self._blocked(f"prompt blockReason: {reason}")

    def answer(self, response: Any) -> Any:
        if not response.candidates:
            self._prompt_blocked(response)
        candidate = (response.candidates or [None])[0]
        finish = _reason(getattr(candidate, "finish_reason", None))
        if finish in _BLOCKED:
            raise self._blocked(f"finishReason: {finish}")
        texts, calls = self._parts(candidate, 0)
        reason = "tool_calls" if calls else _STOP.get(finish or "STOP", "stop")
        return n.completion(
            id=response.response_id or "gemini",
            model=response.model_version or self.route.model,
            created=self.created(),
            choice=n.finish(reason, "".join(texts) if texts or not calls else None, calls),
            usage=self._usage(response.usage_metadata),
        )

    # -- errors --------------------------------------------------------------------------

    def error(self, exc: BaseException, *, started: bool = False) -> BaseException:
        """The openai SDK's error for one the ``google-genai`` SDK raised (or ``exc``)."""
        if not isinstance(exc, self.errors.APIError):
            return n.transport_error(exc) or exc
        status = str(exc.status or "")
        message = str(exc.message or status)
        details: Mapping[str, Any] = exc.details if isinstance(exc.details, Mapping) else {}
        nested = details.get("error")
        error: Mapping[str, Any] = nested if isinstance(nested, Mapping) else details
        delay = None
        for item in error.get("details") or []:
            if isinstance(item, Mapping) and str(item.get("@type", "")).endswith("RetryInfo"):
                found = _DELAY.fullmatch(str(item.get("retryDelay", "")))
                delay = found.group(1) if found else None
        code = status.lower() or None
        if exc.code == 429:
            code = "rate_limit_exceeded" if delay is not None else "insufficient_quota"
        elif _CONTEXT.search(message):
            code = "context_length_exceeded"
        url = "https://generativelanguage.googleapis.com/"
        request = getattr(getattr(exc, "response", None), "request", None)
        if request is not None and getattr(request, "url", None) is not None:
            url = str(request.url)
        status_code = getattr(getattr(exc, "response", None), "status_code", None)
        return n.api_error(
            "Gemini",
            message,
            status=int(exc.code or 500),
            code=code,
            url=url,
            headers={"retry-after": delay} if delay is not None else {},
            in_band=started or (isinstance(status_code, int) and status_code < 400),
        )

    # -- the calls -----------------------------------------------------------------------

    def create(self, **kwargs: Any) -> Any:
        request, stream, include_usage = self.request(kwargs)
        if not stream:
            try:
                response = self.models.generate_content(**request)
            except Exception as exc:
                self.reraise(exc)
            return self.answer(response)
        raw = self.models.generate_content_stream(**request)  # sent on the first read
        return n.Stream(self.events(_StreamState(self, include_usage), raw), raw.close, None)

    async def acreate(self, **kwargs: Any) -> Any:
        request, stream, include_usage = self.request(kwargs)
        try:
            if not stream:
                return self.answer(await self.models.generate_content(**request))
            raw = await self.models.generate_content_stream(**request)
        except Exception as exc:
            self.reraise(exc)
        close = getattr(raw, "aclose", None) or (lambda: None)
        return n.AsyncStream(self.aevents(_StreamState(self, include_usage), raw), close, None)

    def close(self) -> None:
        self.client.close()

    async def aclose(self) -> None:
        await self.client.aio.aclose()


class _StreamState(n.StreamState):
    """One stream's translation: Gemini's responses in, openai's chunks out (``started``:
    whether a response came)."""

    def __init__(self, adapter: GeminiAdapter, include_usage: bool) -> None:
        super().__init__(adapter)
        self.adapter = adapter
        self.include_usage = include_usage
        self.id = "gemini"
        self.content = False
        self.calls = 0
        self.usage: dict[str, Any] | None = None
        self.finished = False

    def take(self, response: Any) -> Iterator[Any]:
        if not self.started:
            self.started = True
            self.id = response.response_id or self.id
            self.model = response.model_version or self.model
            if not response.candidates:
                self.adapter._prompt_blocked(response)
            yield self.chunk(delta={"role": "assistant", "content": ""})
        self.usage = self.adapter._usage(response.usage_metadata) or self.usage
        candidate = (response.candidates or [None])[0]
        texts, calls = self.adapter._parts(candidate, self.calls)
        if texts:
            self.content = True
            yield self.chunk(delta={"content": "".join(texts)})
        for call in calls:
            self.content = True
            yield self.chunk(delta={"tool_calls": [{"index": self.calls, **call}]})
            self.calls += 1
        finish = _reason(getattr(candidate, "finish_reason", None))
        if finish and not self.finished:
            if finish in _BLOCKED:
                if not self.content:
                    raise self.adapter._blocked(f"finishReason: {finish}")
                reason = "content_filter"
            else:
                reason = "tool_calls" if self.calls else _STOP.get(finish, "stop")
            self.finished = True
            yield self.chunk(delta={}, finish_reason=reason)

    def end(self) -> Iterator[Any]:
        if self.finished and self.include_usage and self.usage is not None:
            yield self.chunk(usage=self.usage)
