"""The providers pytest-llm knows, in one place.

Each :class:`Provider` says what the rest of pytest-llm needs to know about one hosted
LLM API and its Python SDK:

* ``hosts``: where its API lives (fnmatch patterns), for the guard (``llm_guard``);
* ``credential_headers`` / ``credential_params``: where its SDK puts the key, for the
  redactor; ``secret_patterns``: what its keys look like, for the secret scan;
* ``sdk`` / ``distribution``: the SDK's import and distribution name, for the
  cassette's ``sdk`` metadata, the canary and its warnings;
* ``clock``: the private names inside the SDK that :mod:`pytest_llm._sdk` swaps so
  its retry sleeps land on a virtual clock (and :mod:`pytest_llm._canary` checks);
* ``stream``: how its streams are framed on the wire;
* ``endpoints``: the API paths it serves (fnmatch), to tell a request's provider.

The guard, the redactor, the canary, the clock capture, the cassette metadata and
the fake provider all read this table instead of keeping constants of their own.
"""

from __future__ import annotations

import fnmatch
import importlib.util
import re
import sys
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._exchange import Exchange

__all__ = [
    "ANTHROPIC",
    "GEMINI",
    "GENERIC_CREDENTIAL_HEADERS",
    "GENERIC_SECRET_PATTERNS",
    "OPENAI",
    "OTHER_LLM_HOSTS",
    "PROVIDERS",
    "Provider",
    "StreamFraming",
    "Swap",
    "by_name",
    "credential_headers",
    "llm_hosts",
    "model_and_usage",
    "model_of",
    "of_request",
    "sdk_of",
    "secret_patterns",
]


class _Frozen:
    """Read-only records with ``__slots__`` (what ``@dataclass(frozen=True, slots=True)``
    gives, written out: a dataclass builds its methods with ``exec`` when the module
    loads, a few milliseconds of every pytest start-up, since the guard reads this table).
    Equal when of the same class with equal fields."""

    __slots__: tuple[str, ...] = ()

    def _set(self, **values: Any) -> None:
        for name, value in values.items():
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is read-only: cannot set {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} is read-only: cannot delete {name!r}")

    def _fields(self) -> tuple[object, ...]:
        return tuple(getattr(self, n) for n in self.__slots__)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        assert isinstance(other, _Frozen)
        return self._fields() == other._fields()

    def __hash__(self) -> int:
        return hash((type(self), self._fields()))

    def __repr__(self) -> str:
        fields = ", ".join(f"{n}={getattr(self, n)!r}" for n in self.__slots__)
        return f"{type(self).__name__}({fields})"


class StreamFraming(_Frozen):
    """How a provider frames a streamed response (server-sent events, each way).

    * ``named_events``: every event carries an ``event:`` line naming its type
      (Anthropic);
    * ``done``: the ``data:`` of the last event that only says "the end" (OpenAI's
      ``[DONE]``);
    * ``separator``: what ends an event on the wire: ``\\n\\n``, or ``\\r\\n\\r\\n`` (Gemini);
    * ``event_types``: the event names (``named_events``) or ``type`` values a stream is
      made of, in the order a complete stream sends them (repeatable ones once);
    * ``query``: query parameters that ask for a stream (Gemini: ``alt=sse``).
    """

    __slots__ = ("done", "event_types", "named_events", "query", "separator")
    named_events: bool
    done: str | None
    separator: str
    event_types: tuple[str, ...]
    query: tuple[tuple[str, str], ...]

    def __init__(
        self,
        named_events: bool,
        done: str | None,
        separator: str,
        event_types: tuple[str, ...] = (),
        query: tuple[tuple[str, str], ...] = (),
    ) -> None:
        self._set(
            named_events=named_events,
            done=done,
            separator=separator,
            event_types=event_types,
            query=query,
        )


class Swap(_Frozen):
    """Names in one SDK module that :mod:`pytest_llm._sdk` replaces while a virtual
    clock is installed. A name ``Class.attr`` is an instance attribute of ``Class``
    (read through a class-level stand-in); any other name is a module global."""

    __slots__ = ("module", "names")
    module: str
    names: tuple[str, ...]

    def __init__(self, module: str, names: tuple[str, ...]) -> None:
        self._set(module=module, names=names)


class Provider(_Frozen):
    """One hosted LLM API and its Python SDK, as pytest-llm sees them.

    * ``name``: short, lower-case, stable: ``openai``, ``anthropic``, ``gemini``;
    * ``title``: for people: ``OpenAI``, ``Anthropic``, ``Google Gemini``;
    * ``sdk``: the SDK's import name (``google.genai``);
    * ``distribution``: the SDK's distribution name, for its version (``google-genai``);
    * ``hosts``: host patterns (fnmatch, lower case) of the provider's API;
    * ``credential_headers``: request headers (lower case) that carry the key;
    * ``credential_params``: query parameters that carry the key (Gemini: ``?key=``);
    * ``secret_patterns``: name -> regex of the provider's key shapes, for the secret scan;
    * ``clock``: what is swapped so the SDK's own retry sleeps (and jitter) go to a
      virtual clock;
    * ``stream``: how its streams are framed;
    * ``endpoints``: paths (fnmatch) of the API calls pytest-llm replays, fakes and faults;
    * ``user_agents``: lower-case ``user-agent`` prefixes (before the ``/``) its SDK sends;
    * ``sdk_headers``: request headers whose presence names this provider's SDK
      (``anthropic-version``).
    """

    __slots__ = (
        "clock",
        "credential_headers",
        "credential_params",
        "distribution",
        "endpoints",
        "hosts",
        "name",
        "sdk",
        "sdk_headers",
        "secret_patterns",
        "stream",
        "title",
        "user_agents",
    )
    name: str
    title: str
    sdk: str
    distribution: str
    hosts: tuple[str, ...]
    credential_headers: frozenset[str]
    credential_params: tuple[str, ...]
    secret_patterns: Mapping[str, str]
    clock: tuple[Swap, ...]
    stream: StreamFraming
    endpoints: tuple[str, ...]
    user_agents: tuple[str, ...]
    sdk_headers: tuple[str, ...]

    def __init__(
        self,
        *,
        name: str,
        title: str,
        sdk: str,
        distribution: str,
        hosts: tuple[str, ...],
        credential_headers: frozenset[str],
        credential_params: tuple[str, ...] = (),
        secret_patterns: Mapping[str, str] | None = None,
        clock: tuple[Swap, ...] = (),
        stream: StreamFraming | None = None,
        endpoints: tuple[str, ...] = (),
        user_agents: tuple[str, ...] = (),
        sdk_headers: tuple[str, ...] = (),
    ) -> None:
        self._set(
            name=name,
            title=title,
            sdk=sdk,
            distribution=distribution,
            hosts=hosts,
            credential_headers=credential_headers,
            credential_params=credential_params,
            secret_patterns=dict(secret_patterns or {}),
            clock=clock,
            stream=stream or StreamFraming(named_events=False, done=None, separator="\n\n"),
            endpoints=endpoints,
            user_agents=user_agents,
            sdk_headers=sdk_headers,
        )

    def __hash__(self) -> int:  # secret_patterns is a dict: one provider, one identity
        return hash((Provider, self.name))

    def installed(self) -> bool:
        """Whether the SDK can be imported (without importing it)."""
        if self.sdk in sys.modules:
            return True
        try:
            return importlib.util.find_spec(self.sdk) is not None
        except (ImportError, ValueError):  # a parent package that is missing
            return False

    def version(self) -> str | None:
        """The installed SDK's version, or ``None`` (not installed)."""
        if not self.installed():
            return None
        from importlib import metadata  # not at pytest start-up: the guard loads this module

        try:
            return metadata.version(self.distribution)
        except metadata.PackageNotFoundError:
            return "unknown"

    def serves(self, host: str) -> bool:
        host = host.lower().rstrip(".")
        return any(fnmatch.fnmatchcase(host, pat) for pat in self.hosts)

    def answers(self, path: str) -> bool:
        return any(fnmatch.fnmatchcase(path, pat) for pat in self.endpoints)

    def __repr__(self) -> str:
        return f"<Provider {self.name}>"


_START = r"(?<![A-Za-z0-9_+/\-])"
_END = r"(?![A-Za-z0-9_+/\-])"
"""Key shapes match whole tokens: no character that could belong to the key, or to
base64 (``+/-_``), right before or after it, so the same letters inside base64 data (an
image or audio sent inline, Gemini's ``inlineData``) are not a key. Lengths are bounded
for the same reason: a real key is at most a few hundred characters."""


def _token(pattern: str) -> str:
    return _START + pattern + _END


OPENAI = Provider(
    name="openai",
    title="OpenAI",
    sdk="openai",
    distribution="openai",
    hosts=(
        "api.openai.com",
        "*.openai.azure.com",
        "*.cognitiveservices.azure.com",
        "*.services.ai.azure.com",
    ),
    credential_headers=frozenset(
        {"authorization", "api-key", "openai-organization", "openai-project"}
    ),
    secret_patterns={"OpenAI key": _token(r"sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{20,250}")},
    clock=(
        Swap("openai._base_client", ("time", "anyio", "random")),
        Swap("openai._resource", ("time", "anyio")),
    ),
    stream=StreamFraming(
        named_events=False,
        done="[DONE]",
        separator="\n\n",
        event_types=("chat.completion.chunk",),
    ),
    endpoints=(
        "*/chat/completions",
        "*/completions",
        "*/responses",
        "*/embeddings",
        "*/models",
        "*/models/*",
    ),
    user_agents=("openai",),
)

ANTHROPIC = Provider(
    name="anthropic",
    title="Anthropic",
    sdk="anthropic",
    distribution="anthropic",
    hosts=("api.anthropic.com",),
    credential_headers=frozenset({"x-api-key", "authorization", "anthropic-api-key"}),
    secret_patterns={"Anthropic key": _token(r"sk-ant-[a-z]+\d*-[A-Za-z0-9_\-]{20,250}")},
    clock=(
        Swap("anthropic._base_client", ("time", "anyio", "random")),
        Swap("anthropic._resource", ("time", "anyio")),
    ),
    stream=StreamFraming(
        named_events=True,
        done=None,
        separator="\n\n",
        event_types=(
            "message_start",
            "content_block_start",
            "ping",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop",
        ),
    ),
    endpoints=("*/v1/messages", "*/v1/messages/count_tokens"),
    user_agents=("anthropic",),
    sdk_headers=("anthropic-version",),
)

GEMINI = Provider(
    name="gemini",
    title="Google Gemini",
    sdk="google.genai",
    distribution="google-genai",
    hosts=("generativelanguage.googleapis.com", "*aiplatform.googleapis.com"),
    credential_headers=frozenset({"x-goog-api-key", "authorization"}),
    credential_params=("key",),
    secret_patterns={"Google API key": _token(r"AIza[0-9A-Za-z_\-]{35}")},
    clock=(
        # the client's tenacity retryers: built at construction (read through the class
        # while captured) or per request (built through the module's ``tenacity``)
        Swap(
            "google.genai._api_client",
            ("tenacity", "BaseApiClient._retry", "BaseApiClient._async_retry"),
        ),
        Swap("tenacity.wait", ("random",)),  # wait_exponential_jitter's jitter
    ),
    stream=StreamFraming(
        named_events=False,
        done=None,
        separator="\r\n\r\n",
        event_types=("GenerateContentResponse",),
        query=(("alt", "sse"),),
    ),
    endpoints=(
        "*/models/*:generateContent",
        "*/models/*:streamGenerateContent",
        "*/models/*:countTokens",
    ),
    user_agents=("google-genai-sdk",),
    sdk_headers=("x-goog-api-client",),
)

PROVIDERS: tuple[Provider, ...] = (OPENAI, ANTHROPIC, GEMINI)
"""Every provider with record/replay, clock capture and redaction support."""

OTHER_LLM_HOSTS: tuple[str, ...] = (
    "bedrock-runtime.*.amazonaws.com",
    "api.mistral.ai",
    "api.groq.com",
    "api.together.xyz",
    "api.together.ai",
    "api.deepseek.com",
    "openrouter.ai",
    "api.cohere.com",
    "api.cohere.ai",
    "api.fireworks.ai",
    "api.x.ai",
    "api.perplexity.ai",
)
"""Hosted LLM APIs the guard knows without a provider entry (their SDKs are not
captured on the clock; OpenAI-compatible ones replay like OpenAI)."""

GENERIC_CREDENTIAL_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "cookie", "set-cookie"}
)
"""Headers that carry credentials whatever the API."""

GENERIC_SECRET_PATTERNS: dict[str, str] = {
    "bearer token": r"(?i)\bbearer\s+[A-Za-z0-9._~+/\-]{20,4096}=*",
    "AWS access key": _token(r"(?:AKIA|ASIA)[0-9A-Z]{16}"),
    "GitHub token": _token(r"gh[pousr]_[A-Za-z0-9]{36,255}"),
    "Slack token": _token(r"xox[abprs]-[A-Za-z0-9\-]{10,255}"),
    "private key": r"-----BEGIN [A-Z ]*PRIVATE KEY-----",
}


def by_name(name: str) -> Provider:
    """The provider called ``name``; a :class:`~pytest_llm.ConfigError` with the
    nearest names if there is none."""
    for p in PROVIDERS:
        if p.name == name.lower():
            return p
    from ._errors import ConfigError
    from ._text import did_you_mean

    names = [p.name for p in PROVIDERS]
    raise ConfigError(
        f"no provider named {name!r}.{did_you_mean(name, names)}\n"
        f"Fix: use one of {', '.join(names)}."
    )


def llm_hosts() -> tuple[str, ...]:
    """Every known host pattern of a hosted LLM API (the guard's default list)."""
    return (*(h for p in PROVIDERS for h in p.hosts), *OTHER_LLM_HOSTS)


def credential_headers() -> frozenset[str]:
    """Every header that carries a credential, for any provider (lower case)."""
    out = set(GENERIC_CREDENTIAL_HEADERS)
    for p in PROVIDERS:
        out |= p.credential_headers
    return frozenset(out)


def secret_patterns() -> dict[str, str]:
    """Name -> regex of every key shape the secret scan looks for, providers first."""
    out: dict[str, str] = {}
    for p in (ANTHROPIC, *(p for p in PROVIDERS if p is not ANTHROPIC)):
        out.update(p.secret_patterns)  # Anthropic's before OpenAI's: both start "sk-"
    out.update(GENERIC_SECRET_PATTERNS)
    return out


def of_request(exchange: Exchange) -> Provider | None:
    """The provider a request is for: by its SDK's headers, then the paths only one
    provider has, then the host, then OpenAI's paths (which other APIs imitate)."""
    headers = {k.lower() for k, _ in exchange.headers}
    for p in PROVIDERS:
        if any(h in headers for h in p.sdk_headers):
            return p
    for p in (ANTHROPIC, GEMINI):
        if p.answers(exchange.path):
            return p
    from urllib.parse import urlsplit

    host = urlsplit(exchange.url).hostname or ""
    for p in PROVIDERS:
        if p.serves(host):
            return p
    return OPENAI if OPENAI.answers(exchange.path) else None


def sdk_of(headers: Iterable[tuple[str, str]]) -> str | None:
    """``name version`` of the SDK that sent a request, read from its headers, else the
    raw ``user-agent``; ``None`` without one."""
    got = {k.lower(): v for k, v in headers}
    ua = got.get("user-agent", "")
    for p in PROVIDERS:
        for token in ua.split():
            name, _, ver = token.partition("/")
            if name.lower() in p.user_agents and ver and ver[:1].isdigit():
                return f"{p.distribution} {ver}"
    pkg = got.get("x-stainless-package-version")
    if pkg:  # a Stainless SDK with its own user-agent: the other headers say which
        p = ANTHROPIC if "anthropic-version" in got else OPENAI
        return f"{p.distribution} {pkg}"
    if ua.lower().startswith(("anthropic/", "openai/")):  # "Anthropic/Python 2.14.0"
        name = ua.split("/", 1)[0].lower()
        return f"{name} {ua.split()[-1]}"
    return ua or None


def model_and_usage(doc: Any) -> tuple[str | None, Any]:
    """The model and token usage one response document (or stream event) names, in any
    provider's shape: OpenAI's ``model``/``usage`` (the Responses API's under
    ``response``), Anthropic's (``message_start`` under ``message``), Gemini's
    ``modelVersion``/``usageMetadata``."""
    if not isinstance(doc, dict):
        return None, None
    for key in ("response", "message"):
        if isinstance(doc.get(key), dict):
            doc = doc[key]
            break
    model = doc.get("model") or doc.get("modelVersion")
    usage = doc.get("usage") or doc.get("usageMetadata")
    return (str(model) if model else None), usage


_GEMINI_MODEL = re.compile(r"/models/([^/:]+):[A-Za-z]+$")


def model_of(exchange: Exchange) -> str | None:
    """The model a request asks for: the body's ``model``; Gemini names it in the path
    (``models/{model}:generateContent``)."""
    found = _GEMINI_MODEL.search(exchange.path)
    if found:
        return found.group(1)
    doc = exchange.json
    model = doc.get("model") if isinstance(doc, dict) else None
    return model if isinstance(model, str) else None
