"""Routes to Anthropic and Gemini through their own SDKs, behind openai's surface.

``_client._sdk`` builds one object per native route with the surface the flow uses on
an ``openai.OpenAI`` (``chat.completions.create``, ``responses.create``,
``embeddings.create``, ``timeout``, ``close``). Its ``create`` translates the
openai-shaped request into the provider's (``_native_anthropic.py``,
``_native_gemini.py``), calls the SDK with its own retries off (this client is the one
retrying layer), and translates the answer back into openai types
(``ChatCompletion``, ``ChatCompletionChunk``). The provider's errors become the openai
SDK's (``RateLimitError`` with the wait as ``retry-after``, ``InternalServerError``, ...)
so :func:`._retry.classify` reads them as it reads OpenAI's, and the caller's
``except openai.RateLimitError`` holds whichever route failed.

What has no translation (``n > 1``, logprobs, the Responses API, embeddings, ...)
raises :class:`ClientConfigError` naming the route and the fix: a parameter is never
dropped in silence. The provider SDKs are imported only when such a route exists.
"""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Generic, NoReturn, TypeVar

import openai

from ._errors import ClientConfigError

if TYPE_CHECKING:
    from .._clock import Clock
    from ._route import Route

__all__ = ["Adapter", "ContentBlocked", "NativeSDK", "StreamState"]

E = TypeVar("E")

ALWAYS = frozenset(
    {"model", "messages", "stream", "timeout", "extra_headers", "extra_query", "extra_body"}
)
"""Chat-completions keywords every native route takes (the rest: per provider)."""

TRANSLATED = frozenset(
    {
        "max_tokens",
        "max_completion_tokens",
        "temperature",
        "top_p",
        "stop",
        "tools",
        "tool_choice",
        "response_format",
        "stream_options",
    }
)
"""Keywords both providers translate (each adds its own to its ``KNOWN``)."""

_STATUS_ERRORS: dict[int, type[openai.APIStatusError]] = {
    400: openai.BadRequestError,
    401: openai.AuthenticationError,
    403: openai.PermissionDeniedError,
    404: openai.NotFoundError,
    409: openai.ConflictError,
    422: openai.UnprocessableEntityError,
    429: openai.RateLimitError,
}


class ContentBlocked(openai.ContentFilterFinishReasonError):
    """The provider blocked the answer (Anthropic ``stop_reason: refusal``, Gemini
    ``finishReason: SAFETY`` or a blocked prompt): a content-policy failure, which
    falls over only to routes with ``fallback_on={"content_policy"}``."""

    def __init__(self, message: str, *, reason: str) -> None:
        openai.OpenAIError.__init__(self, message)
        self.reason = reason


def _openai_httpx() -> Any:
    """The HTTP library the installed openai SDK is built on (httpx2 for 3.x, httpx before)."""
    for cls in openai.DefaultHttpxClient.__mro__[1:]:
        root = cls.__module__.split(".")[0]
        if root in ("httpx", "httpx2"):
            return sys.modules[root]
    raise RuntimeError(
        f"openai {openai.__version__}: no httpx/httpx2 client class"
    )  # pragma: no cover


def status_error(
    status: int,
    message: str,
    *,
    code: str | None,
    headers: Mapping[str, str] | None = None,
    url: str = "https://invalid/",
    body: Mapping[str, Any] | None = None,
) -> openai.APIStatusError:
    """The openai SDK's error for an HTTP ``status`` from another provider.

    ``code`` is the vocabulary :func:`._retry.classify` reads (``rate_limit_exceeded``,
    ``insufficient_quota``, ``context_length_exceeded``, ``content_policy_violation``,
    or the provider's own type); ``headers`` carry ``retry-after``."""
    httpx = _openai_httpx()
    error = {"message": message, "type": code, "code": code, **(body or {})}
    request = httpx.Request("POST", url)
    response = httpx.Response(status, headers=dict(headers or {}), json=error, request=request)
    cls = _STATUS_ERRORS.get(status)
    if cls is None:
        cls = openai.InternalServerError if status >= 500 else openai.APIStatusError
    return cls(f"Error code: {status} - {message}", response=response, body=error)


def in_band_error(
    message: str, *, code: str | None, url: str = "https://invalid/"
) -> openai.APIError:
    """An error event inside a stream that had started (the openai SDK's bare ``APIError``)."""
    request = _openai_httpx().Request("POST", url)
    return openai.APIError(message, request, body={"message": message, "code": code, "type": code})


def connection_error(error: BaseException, *, timeout: bool) -> openai.APIConnectionError:
    """The openai SDK's connection error for a provider SDK's (its cause stays chained)."""
    request = _openai_httpx().Request("POST", "https://invalid/")
    if timeout:
        return openai.APITimeoutError(request)
    return openai.APIConnectionError(message=str(error) or "Connection error.", request=request)


def transport_error(error: BaseException) -> openai.APIConnectionError | None:
    """The openai SDK's error for an httpx/httpx2 failure a provider SDK let through
    (google-genai does; so do both while a stream is read), else ``None``."""
    for cls in type(error).__mro__:
        root = cls.__module__.split(".")[0]
        if root in ("httpx", "httpx2") and cls.__name__ in ("TransportError", "TimeoutException"):
            timeout = any("Timeout" in c.__name__ for c in type(error).__mro__)
            mapped = connection_error(error, timeout=timeout)
            mapped.__cause__ = error
            return mapped
    return None


def unsupported(route: Route, what: str, fix: str) -> ClientConfigError:
    return ClientConfigError(
        f"route {route.key!r} (provider={route.provider!r}): {what} has no translation to "
        f"the {route.provider} API, and a parameter is never dropped in silence.\nFix: {fix}"
    )


_TRIVIAL = (("n", 1), ("logprobs", False), ("parallel_tool_calls", True))


def check_kwargs(route: Route, kwargs: Mapping[str, Any], known: frozenset[str]) -> None:
    """Raise for the first keyword ``known`` (and :data:`ALWAYS`) does not cover."""
    for name in sorted(set(kwargs) - known - ALWAYS):
        if kwargs[name] is None:  # openai's "not given" spelled out: nothing to translate
            continue
        value = kwargs[name]
        if any(name == k and type(value) is type(v) and value == v for k, v in _TRIVIAL):
            continue  # the default, spelled out
        raise unsupported(
            route,
            f"{name}={kwargs[name]!r}",
            f"leave {name}= out of calls that may land on this route, or put the route "
            "after the ones that can take it only for calls without it (an "
            "OpenAI-compatible endpoint: provider='openai' with its base_url=).",
        )


def text_of(content: Any, route: Route, role: str) -> str:
    """The text of an openai message's ``content`` (a str, or text parts)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    parts = []
    for part in content:
        if isinstance(part, Mapping) and part.get("type") == "text":
            parts.append(str(part.get("text", "")))
        else:
            kind = part.get("type") if isinstance(part, Mapping) else type(part).__name__
            raise unsupported(
                route,
                f"a {kind!r} part in a {role!r} message",
                "send text parts (or images in user messages) to this route.",
            )
    return "".join(parts)


def arguments_of(call: Mapping[str, Any], route: Route) -> dict[str, Any]:
    """The parsed arguments of an openai tool call in the conversation."""
    function = call.get("function") or {}
    raw = function.get("arguments") or "{}"
    try:
        value = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        raise ClientConfigError(
            f"route {route.key!r}: the tool call {call.get('id')!r} "
            f"({function.get('name')!r}) in the conversation has arguments that are not "
            f"JSON ({str(raw)[:60]!r}); {route.provider} takes them as an object.\n"
            "Fix: send the arguments the model gave, or valid JSON."
        ) from None
    if not isinstance(value, dict):
        value = {"value": value}
    return value


def data_url(url: str) -> tuple[str, str] | None:
    """``(mime type, base64 data)`` of a ``data:`` URL, else ``None``."""
    if not url.startswith("data:") or ";base64," not in url:
        return None
    head, data = url[5:].split(";base64,", 1)
    return head or "application/octet-stream", data


def json_schema_of(response_format: Any, route: Route) -> tuple[str, dict[str, Any] | None]:
    """``("json_schema" | "json_object" | "text", schema)`` of an openai ``response_format``."""
    if response_format is None:
        return "text", None
    if isinstance(response_format, Mapping):
        kind = response_format.get("type")
        if kind == "json_schema":
            spec = response_format.get("json_schema") or {}
            return "json_schema", dict(spec)
        if kind in ("json_object", "text"):
            return str(kind), None
    raise unsupported(
        route,
        f"response_format={response_format!r}",
        'pass {"type": "json_schema", "json_schema": {...}} or {"type": "json_object"} '
        "(a pydantic model goes through client.chat.completions.parse()).",
    )


Part = dict[str, Any]


def conversation(
    route: Route,
    messages: Any,
    *,
    key: str,
    assistant: str,
    text: Callable[[str], Part],
    image: Callable[[str], Part],
    call: Callable[[Mapping[str, Any]], Part],
    result: Callable[[Mapping[str, Any]], Part],
) -> tuple[str, list[Part]]:
    """openai ``messages`` as the system text and a provider's turns: ``{"role": ...,
    key: [parts]}``, consecutive turns of one role merged (tool results are the user's).

    ``text``, ``image`` (its URL), ``call`` (an assistant's tool call) and ``result``
    (a ``role="tool"`` message) make the provider's parts; ``assistant`` is its name
    for the assistant's role."""
    system: list[str] = []
    out: list[Part] = []

    def add(role: str, parts: list[Part]) -> None:
        if out and out[-1]["role"] == role:  # consecutive turns of one role: one turn
            out[-1][key].extend(parts)
        else:
            out.append({"role": role, key: parts})

    for message in messages:
        role = message.get("role")
        content = message.get("content")
        if role in ("system", "developer"):
            system.append(text_of(content, route, role))
        elif role == "user":
            add("user", _user_parts(route, content, text, image))
        elif role == "assistant":
            said = text_of(content, route, role)
            parts = [text(said)] if said else []
            parts.extend(call(c) for c in message.get("tool_calls") or [])
            add(assistant, parts)
        elif role == "tool":
            add("user", [result(message)])
        else:
            raise unsupported(
                route, f"a message with role={role!r}", "use system, user, assistant or tool."
            )
    return "\n\n".join(s for s in system if s), out


def _user_parts(
    route: Route, content: Any, text: Callable[[str], Part], image: Callable[[str], Part]
) -> list[Part]:
    if isinstance(content, str):
        return [text(content)]
    parts: list[Part] = []
    for part in content or []:
        if isinstance(part, Mapping) and part.get("type") == "image_url":
            parts.append(image(str((part.get("image_url") or {}).get("url", ""))))
        else:
            parts.append(text(text_of([part], route, "user")))
    return parts


def function_of(route: Route, tool: Any) -> Mapping[str, Any]:
    """The ``function`` of an openai tool (only function tools translate)."""
    if not isinstance(tool, Mapping) or tool.get("type") != "function":
        raise unsupported(
            route,
            f"the tool {tool!r}",
            'offer function tools: {"type": "function", "function": {...}}.',
        )
    function: Mapping[str, Any] = tool["function"]
    return function


def tool_choice_of(route: Route, choice: Any) -> tuple[str, str | None]:
    """``("auto" | "none" | "required", None)`` or ``("function", its name)``."""
    if choice in ("auto", "none", "required"):
        return str(choice), None
    if isinstance(choice, Mapping) and choice.get("type") == "function":
        return "function", str(choice["function"]["name"])
    raise unsupported(
        route,
        f"tool_choice={choice!r}",
        'use "auto", "none", "required" or {"type": "function", "function": {"name": ...}}.',
    )


def api_error(
    provider: str,
    message: str,
    *,
    status: int,
    code: str | None,
    url: str,
    headers: Mapping[str, str],
    in_band: bool,
) -> openai.APIError:
    """The openai SDK's error for a provider's error answer: an in-band one (an error
    event inside a stream that had started) or an HTTP ``status``."""
    if in_band:
        return in_band_error(f"{provider}: {message}", code=code, url=url)
    return status_error(status, f"{provider}: {message}", code=code, headers=headers, url=url)


def finish(reason: str, content: str | None, tool_calls: list[dict[str, Any]] | None) -> Any:
    return {
        "index": 0,
        "finish_reason": reason,
        "logprobs": None,
        "message": {"role": "assistant", "content": content, "tool_calls": tool_calls or None},
    }


def completion(
    *,
    id: str,
    model: str,
    created: int,
    choice: dict[str, Any],
    usage: dict[str, Any] | None,
) -> Any:
    from openai.types.chat import ChatCompletion

    return ChatCompletion.model_validate(
        {
            "id": id,
            "object": "chat.completion",
            "created": created,
            "model": model,
            "choices": [choice],
            "usage": usage,
        }
    )


def chunk(
    *,
    id: str,
    model: str,
    created: int,
    delta: dict[str, Any] | None = None,
    finish_reason: str | None = None,
    usage: dict[str, Any] | None = None,
) -> Any:
    from openai.types.chat import ChatCompletionChunk

    choices = []
    if delta is not None or finish_reason is not None:
        choices.append({"index": 0, "delta": delta or {}, "finish_reason": finish_reason})
    return ChatCompletionChunk.model_validate(
        {
            "id": id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": choices,
            "usage": usage,
        }
    )


def usage(prompt: int, output: int, cached: int = 0) -> dict[str, Any]:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": output,
        "total_tokens": prompt + output,
        "prompt_tokens_details": {"cached_tokens": cached},
    }


class StreamState:
    """One stream's translation, provider events in, openai chunks out (a subclass per
    provider: :meth:`take` one event, :meth:`end` after the last)."""

    def __init__(self, adapter: Adapter) -> None:
        self.id = ""
        self.model = adapter.route.model
        self.created = adapter.created()
        self.started = False
        """Whether the provider's answer began: an error after that is an in-band one."""

    def chunk(self, **kw: Any) -> Any:
        return chunk(id=self.id, model=self.model, created=self.created, **kw)

    def take(self, event: Any) -> Iterator[Any]:
        raise NotImplementedError

    def end(self) -> Iterator[Any]:
        return iter(())


class Adapter:
    """What the Anthropic and Gemini adapters share: the route, the clock, mapping the
    provider SDK's errors (:meth:`error`, per provider) and reading a stream."""

    def __init__(
        self,
        route: Route,
        is_async: bool,
        timeout: Any,
        headers: Mapping[str, str],
        clock: Clock,
    ) -> None:
        self.route = route
        self.clock = clock
        self.start(is_async, timeout, headers)

    def start(self, is_async: bool, timeout: Any, headers: Mapping[str, str]) -> None:
        """Import the provider's SDK and make its client (retries off)."""
        raise NotImplementedError

    def error(self, exc: BaseException, *, started: bool = False) -> BaseException:
        raise NotImplementedError

    def created(self) -> int:
        return int(self.clock.now().timestamp())

    def reraise(self, exc: BaseException, *, started: bool = False) -> NoReturn:
        """Raise the openai SDK's error for ``exc`` (chained to it), or ``exc`` itself."""
        mapped = self.error(exc, started=started)
        if mapped is exc:
            raise exc
        raise mapped from exc

    def events(self, state: StreamState, raw: Iterator[Any]) -> Iterator[Any]:
        try:
            for event in raw:
                yield from state.take(event)
        except Exception as exc:
            self.reraise(exc, started=state.started)
        yield from state.end()

    async def aevents(self, state: StreamState, raw: AsyncIterator[Any]) -> AsyncIterator[Any]:
        try:
            async for event in raw:
                for out in state.take(event):
                    yield out
        except Exception as exc:
            self.reraise(exc, started=state.started)
        for out in state.end():
            yield out


class _Translated(Generic[E]):
    def __init__(self, events: E, close: Callable[[], Any], response: Any) -> None:
        self._events = events
        self._close = close
        self.response = response


class Stream(_Translated[Iterator[Any]]):
    """A translated sync stream: one iterator of ``ChatCompletionChunk`` (iterating it
    again resumes it, as the flow reads up to the first content, then hands it on)."""

    def __iter__(self) -> Iterator[Any]:
        return self._events

    def close(self) -> None:
        self._close()


class AsyncStream(_Translated[AsyncIterator[Any]]):
    """The async twin of :class:`Stream`."""

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._events

    async def close(self) -> None:
        result = self._close()
        if hasattr(result, "__await__"):
            await result


class _Create:
    def __init__(self, create: Callable[..., Any]) -> None:
        self.create = create


class _Chat:
    def __init__(self, create: Callable[..., Any]) -> None:
        self.completions = _Create(create)


class NativeSDK:
    """What ``_client`` calls on a native route, in the openai SDK's shape."""

    def __init__(self, route: Route, adapter: Any, *, timeout: Any, is_async: bool) -> None:
        self.route = route
        self.timeout = timeout
        self._adapter = adapter
        self._async = is_async
        self.chat = _Chat(adapter.acreate if is_async else adapter.create)
        self.responses = _Create(self._refuse("the Responses API (client.responses.create)"))
        self.embeddings = _Create(self._refuse("embeddings (client.embeddings.create)"))

    def _refuse(self, what: str) -> Callable[..., Any]:
        route = self.route

        def refuse(**kwargs: Any) -> Any:
            raise unsupported(
                route,
                what,
                "call client.chat.completions.create() for this route, or give the call "
                "an OpenAI route (model= names the route it starts on).",
            )

        return refuse

    def close(self) -> Any:
        return self._adapter.aclose() if self._async else self._adapter.close()

    def __repr__(self) -> str:
        return f"NativeSDK({self.route!r})"


def import_sdk(route: Route, module: str, distribution: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise ClientConfigError(
            f"route {route.key!r} (provider={route.provider!r}) needs the {distribution!r} "
            f"package, which is not installed.\nFix: pip install {distribution}"
        ) from None


def seconds_of(timeout: Any) -> tuple[float | None, float | None]:
    """``(connect, read)`` seconds of a timeout the flow passes (seconds or a Timeout)."""
    if timeout is None:
        return None, None
    if isinstance(timeout, int | float):
        return float(timeout), float(timeout)
    return getattr(timeout, "connect", None), getattr(timeout, "read", None)
