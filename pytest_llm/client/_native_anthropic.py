"""An Anthropic route: openai's chat-completions request to the Messages API through
the ``anthropic`` SDK (``max_retries=0``), and the answer back as openai types.

Translated: system / developer messages (``system``), user and assistant turns, image
parts (``data:`` and http URLs), assistant tool calls (``tool_use``) and tool results
(``tool_result``, consecutive ones in one user turn), ``tools`` / ``tool_choice`` /
``parallel_tool_calls``, ``temperature``, ``top_p``, ``max_tokens`` /
``max_completion_tokens`` (Anthropic requires one: :data:`DEFAULT_MAX_TOKENS` when
neither is given), ``stop``, ``user`` (``metadata.user_id``), ``response_format``
(JSON through one forced tool whose input is the answer: it works on every Claude
model), ``stream`` with ``stream_options.include_usage``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from . import _native as n
from ._errors import ClientConfigError

if TYPE_CHECKING:
    pass

__all__ = ["DEFAULT_MAX_TOKENS", "AnthropicAdapter"]

DEFAULT_MAX_TOKENS = 4096
"""``max_tokens`` when the call gives none: the Messages API requires it, and every
Claude model can write 4096 tokens."""

JSON_TOOL = "json_answer"
"""The forced tool that carries a ``response_format`` answer (its input is the JSON)."""

KNOWN = n.TRANSLATED | {"parallel_tool_calls", "user"}

_STOP = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}
_CODES = {
    "rate_limit_error": "rate_limit_exceeded",
    "billing_error": "insufficient_quota",
}
_CONTEXT = re.compile(r"prompt is too long|context window", re.IGNORECASE)


class AnthropicAdapter(n.Adapter):
    def start(self, is_async: bool, timeout: Any, headers: Mapping[str, str]) -> None:
        route = self.route
        self.sdk = n.import_sdk(route, "anthropic", "anthropic")
        cls = self.sdk.AsyncAnthropic if is_async else self.sdk.Anthropic
        self.client = cls(
            api_key=route.api_key,
            base_url=route.base_url,
            max_retries=0,  # one retrying layer: the resilient client's
            default_headers=dict(headers) or None,
            timeout=self._timeout(timeout),
        )
        if self.client.api_key is None and getattr(self.client, "auth_token", None) is None:
            raise ClientConfigError(  # fail now, as openai.OpenAI() does without a key
                f"route {route.key!r} (provider='anthropic'): no API key: api_key= is not "
                "given and ANTHROPIC_API_KEY is not set.\nFix: Route(..., "
                "provider='anthropic', api_key=...) or set ANTHROPIC_API_KEY."
            )

    # -- the request -------------------------------------------------------------------

    def _timeout(self, timeout: Any) -> Any:
        connect, read = n.seconds_of(timeout)
        if connect is None and read is None:
            return None
        return self.sdk.Timeout(read, connect=connect, read=read, write=read, pool=connect)

    def request(self, kwargs: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
        """The ``messages.create`` keywords, and whether the answer is JSON (forced tool)."""
        route = self.route
        n.check_kwargs(route, kwargs, KNOWN)
        system, messages = self._messages(kwargs.get("messages") or [])
        out: dict[str, Any] = {
            "model": kwargs["model"],
            "messages": messages,
            "max_tokens": kwargs.get("max_completion_tokens")
            or kwargs.get("max_tokens")
            or DEFAULT_MAX_TOKENS,
        }
        if system:
            out["system"] = system
        sampling = {k: kwargs[k] for k in ("temperature", "top_p") if kwargs.get(k) is not None}
        stop = kwargs.get("stop")
        if stop is not None:
            out["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
        if kwargs.get("user") is not None:
            out["metadata"] = {"user_id": kwargs["user"]}
        tools = [self._tool(t) for t in kwargs.get("tools") or []]
        choice = self._tool_choice(kwargs.get("tool_choice"))
        kind, spec = n.json_schema_of(kwargs.get("response_format"), route)
        as_json = kind != "text"
        if as_json:
            if tools:
                raise n.unsupported(
                    route,
                    "response_format= together with tools=",
                    "ask for tools and JSON in two calls, or use an OpenAI route for this one "
                    "(Anthropic's JSON answer is a forced tool call).",
                )
            schema = (spec or {}).get("schema") or {"type": "object"}
            description = (spec or {}).get("description") or "Give the answer as this JSON."
            tools = [{"name": JSON_TOOL, "description": description, "input_schema": schema}]
            choice = {"type": "tool", "name": JSON_TOOL}
        if tools:
            out["tools"] = tools
        if kwargs.get("parallel_tool_calls") is False and tools:
            choice = dict(choice or {"type": "auto"}, disable_parallel_tool_use=True)
        if choice is not None:
            out["tool_choice"] = choice
        for name in ("extra_headers", "extra_query"):
            if kwargs.get(name) is not None:
                out[name] = kwargs[name]
        if sampling or kwargs.get("extra_body") is not None:
            # in the body as JSON: anthropic 2.x's create() has no keyword for them
            out["extra_body"] = {**sampling, **(kwargs.get("extra_body") or {})}
        return out, as_json

    def _messages(self, messages: Any) -> tuple[str, list[dict[str, Any]]]:
        route = self.route

        def tool_use(call: Mapping[str, Any]) -> dict[str, Any]:
            name = call["function"]["name"]
            return {
                "type": "tool_use",
                "id": call["id"],
                "name": name,
                "input": n.arguments_of(call, route),
            }

        def tool_result(message: Mapping[str, Any]) -> dict[str, Any]:
            content = n.text_of(message.get("content"), route, "tool")
            return {
                "type": "tool_result",
                "tool_use_id": message.get("tool_call_id"),
                "content": content,
            }

        return n.conversation(
            route,
            messages,
            key="content",
            assistant="assistant",
            text=lambda text: {"type": "text", "text": text},
            image=_image,
            call=tool_use,
            result=tool_result,
        )

    def _tool(self, tool: Any) -> dict[str, Any]:
        function = n.function_of(self.route, tool)
        out = {
            "name": function["name"],
            "input_schema": function.get("parameters") or {"type": "object", "properties": {}},
        }
        if function.get("description"):
            out["description"] = function["description"]
        return out

    def _tool_choice(self, choice: Any) -> dict[str, Any] | None:
        if choice is None:
            return None
        mode, name = n.tool_choice_of(self.route, choice)
        if mode == "function":
            return {"type": "tool", "name": name}
        return {"type": "any" if mode == "required" else mode}

    # -- the answer ----------------------------------------------------------------------

    def answer(self, message: Any, as_json: bool) -> Any:
        texts: list[str] = []
        calls: list[dict[str, Any]] = []
        for block in message.content:
            if block.type == "text":
                texts.append(block.text)
            elif block.type == "tool_use":
                arguments = json.dumps(block.input, ensure_ascii=False)
                if as_json and block.name == JSON_TOOL:
                    texts.append(arguments)
                else:
                    calls.append(
                        {
                            "id": block.id,
                            "type": "function",
                            "function": {"name": block.name, "arguments": arguments},
                        }
                    )
        reason = _STOP.get(str(message.stop_reason), "stop")
        if as_json and reason == "tool_calls":
            reason = "stop"
        if reason == "content_filter":
            raise self._blocked()
        return n.completion(
            id=message.id,
            model=message.model,
            created=self.created(),
            choice=n.finish(reason, "".join(texts) if texts or not calls else None, calls),
            usage=self._usage(message.usage, None),
        )

    def _blocked(self) -> n.ContentBlocked:
        return n.ContentBlocked(
            f"route {self.route.key!r}: Anthropic refused the request (stop_reason: refusal).",
            reason="refusal",
        )

    @staticmethod
    def _usage(usage: Any, output: int | None) -> dict[str, Any]:
        read = getattr(usage, "cache_read_input_tokens", None) or 0
        written = getattr(usage, "cache_creation_input_tokens", None) or 0
        prompt = (getattr(usage, "input_tokens", None) or 0) + read + written
        out = getattr(usage, "output_tokens", None) or 0 if output is None else output
        return n.usage(prompt, out, read)

    # -- errors --------------------------------------------------------------------------

    def error(self, exc: BaseException, *, started: bool = False) -> BaseException:
        """The openai SDK's error for one the ``anthropic`` SDK raised (or ``exc`` itself)."""
        sdk = self.sdk
        if isinstance(exc, sdk.APIStatusError):
            body: Mapping[str, Any] = exc.body if isinstance(exc.body, Mapping) else {}
            nested = body.get("error")
            inner: Mapping[str, Any] = nested if isinstance(nested, Mapping) else body
            kind = str(inner.get("type") or "") or None
            message = str(inner.get("message") or exc.message)
            code = _CODES.get(kind or "", kind)
            if _CONTEXT.search(message):
                code = "context_length_exceeded"
            return n.api_error(
                "Anthropic",
                message,
                status=exc.status_code,
                code=code,
                url=str(exc.response.request.url),
                headers=dict(exc.response.headers),
                in_band=started or exc.status_code < 400,  # an error event inside the stream
            )
        if isinstance(exc, sdk.APIConnectionError):
            mapped = n.connection_error(exc, timeout=isinstance(exc, sdk.APITimeoutError))
            mapped.__cause__ = exc
            return mapped
        return n.transport_error(exc) or exc

    # -- the calls -----------------------------------------------------------------------

    def _options(self, kwargs: Mapping[str, Any]) -> tuple[dict[str, Any], bool, bool, bool]:
        timeout = kwargs.get("timeout", ...)
        request, as_json = self.request({k: v for k, v in kwargs.items() if k != "timeout"})
        if timeout is not ...:
            request["timeout"] = self._timeout(timeout)
        stream = bool(kwargs.get("stream"))
        options = kwargs.get("stream_options") or {}
        include_usage = bool(options.get("include_usage")) if stream else False
        return request, as_json, stream, include_usage

    def create(self, **kwargs: Any) -> Any:
        request, as_json, stream, include_usage = self._options(kwargs)
        try:
            if not stream:
                return self.answer(self.client.messages.create(**request), as_json)
            raw = self.client.messages.create(**request, stream=True)
        except Exception as exc:
            self.reraise(exc)
        events = self.events(_StreamState(self, as_json, include_usage), iter(raw))
        return n.Stream(events, raw.close, raw.response)

    async def acreate(self, **kwargs: Any) -> Any:
        request, as_json, stream, include_usage = self._options(kwargs)
        try:
            if not stream:
                return self.answer(await self.client.messages.create(**request), as_json)
            raw = await self.client.messages.create(**request, stream=True)
        except Exception as exc:
            self.reraise(exc)
        events = self.aevents(_StreamState(self, as_json, include_usage), raw.__aiter__())
        return n.AsyncStream(events, raw.close, raw.response)

    def close(self) -> None:
        self.client.close()

    async def aclose(self) -> None:
        await self.client.close()


class _StreamState(n.StreamState):
    """One stream's translation: Anthropic's events in, openai's chunks out (``started``:
    whether content went out)."""

    def __init__(self, adapter: AnthropicAdapter, as_json: bool, include_usage: bool) -> None:
        super().__init__(adapter)
        self.adapter = adapter
        self.as_json = as_json
        self.include_usage = include_usage
        self.tools: dict[int, int] = {}
        """Anthropic's block index -> openai's tool-call index."""
        self.json_blocks: set[int] = set()
        self.start_usage: Any = None
        self.output = 0

    def take(self, event: Any) -> Iterator[Any]:
        kind = event.type
        if kind == "message_start":
            self.id, self.model = event.message.id, event.message.model
            self.start_usage = event.message.usage
            yield self.chunk(delta={"role": "assistant", "content": ""})
        elif kind == "content_block_start":
            block = event.content_block
            if block.type == "tool_use":
                if self.as_json and block.name == JSON_TOOL:
                    self.json_blocks.add(event.index)
                    return
                index = self.tools[event.index] = len(self.tools)
                call = {
                    "index": index,
                    "id": block.id,
                    "type": "function",
                    "function": {"name": block.name, "arguments": ""},
                }
                self.started = True
                yield self.chunk(delta={"tool_calls": [call]})
        elif kind == "content_block_delta":
            delta = event.delta
            if delta.type == "text_delta" and delta.text:
                self.started = True
                yield self.chunk(delta={"content": delta.text})
            elif delta.type == "input_json_delta" and delta.partial_json:
                self.started = True
                if event.index in self.json_blocks:
                    yield self.chunk(delta={"content": delta.partial_json})
                else:
                    call = {
                        "index": self.tools[event.index],
                        "function": {"arguments": delta.partial_json},
                    }
                    yield self.chunk(delta={"tool_calls": [call]})
        elif kind == "message_delta":
            self.output = getattr(event.usage, "output_tokens", 0) or 0
            reason = _STOP.get(str(event.delta.stop_reason), "stop")
            if self.as_json and reason == "tool_calls":
                reason = "stop"
            if reason == "content_filter" and not self.started:
                raise self.adapter._blocked()
            yield self.chunk(delta={}, finish_reason=reason)
        elif kind == "message_stop" and self.include_usage:
            usage = AnthropicAdapter._usage(self.start_usage, self.output)
            yield self.chunk(usage=usage)


def _image(url: str) -> dict[str, Any]:
    inline = n.data_url(url)
    source: dict[str, Any]
    if inline is not None:
        source = {"type": "base64", "media_type": inline[0], "data": inline[1]}
    else:
        source = {"type": "url", "url": url}
    return {"type": "image", "source": source}
