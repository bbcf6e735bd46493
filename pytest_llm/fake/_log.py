"""What reached the fake provider: one :class:`FakeRequest` per request, for assertions."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, overload

from .._flow import Exchange
from ._shapes import last_user_message

if TYPE_CHECKING:
    from ._script import Script
    from ._shapes import Answer

__all__ = ["FakeRequest", "RequestLog"]


@dataclass(eq=False)
class FakeRequest:
    """A request the fake provider saw, with its body parsed."""

    exchange: Exchange = field(repr=False)
    api: str
    """``chat``, ``responses``, ``embeddings`` (OpenAI), ``messages`` (Anthropic),
    ``generate_content`` (Gemini) or ``count_tokens`` (Anthropic or Gemini)."""
    json: dict[str, Any]
    """The request body as JSON (an empty dict when it was not a JSON object)."""
    provider: str = "openai"
    """Whose API it is, from the path: ``openai``, ``anthropic`` or ``gemini``."""
    number: int = 0
    """1 for the first request this fake saw, 2 for the next..."""
    script: Script | None = None
    """The scripted reply that answered it; ``None`` for the default reply or an error."""
    answer: Answer | None = field(default=None, repr=False)
    """What the model said in the reply (``None``: no answer, e.g. a 429 or a 400)."""
    status: int | None = None
    """The status the fake answered with (``None``: it raised, e.g. a strict-mode miss)."""

    @property
    def method(self) -> str:
        return self.exchange.method

    @property
    def url(self) -> str:
        return self.exchange.url

    @property
    def path(self) -> str:
        return self.exchange.path

    @property
    def headers(self) -> list[tuple[str, str]]:
        return self.exchange.headers

    def header(self, name: str) -> str | None:
        return self.exchange.header(name)

    @property
    def served_at(self) -> float | None:
        """When the response body went to the client (clock seconds); ``None``: none did
        (a transport failure, or the client gave up before the headers)."""
        return self.exchange.served_at

    @property
    def closed_at(self) -> float | None:
        """When the client closed the response body (read to its end or not); ``None``:
        never served, or still open (a leaked connection, once the call is over)."""
        return self.exchange.closed_at

    @property
    def closed_early(self) -> bool | None:
        """``True``: the client closed the body before its end (a ``break``, a cancel);
        ``False``: it read it to the end; ``None``: still open, or never served."""
        if self.exchange.closed_at is None:
            return None
        return not self.exchange.read_to_end

    @property
    def left_open(self) -> bool:
        """Whether a response body was served and the client has not closed it."""
        return self.exchange.served_at is not None and self.exchange.closed_at is None

    @property
    def library(self) -> str:
        """Which adapter carried it: ``httpx``, ``httpx2`` or ``server``."""
        return self.exchange.library

    @property
    def model(self) -> str | None:
        """The model asked for: the body's ``model``; Gemini names it in the path."""
        from .._providers import model_of

        return model_of(self.exchange)

    @property
    def stream(self) -> bool:
        """Whether the reply streams: ``"stream": true``; Gemini's ``:streamGenerateContent``."""
        if self.provider == "gemini":
            return self.path.endswith(":streamGenerateContent")
        return self.json.get("stream") is True

    @property
    def last_user_message(self) -> str:
        """The text of the last user message (chat, Messages), user input (Responses) or
        user turn (Gemini contents); ``""`` if none."""
        if self.provider == "gemini":
            from ._gemini import last_user_message as gemini_last

            return gemini_last(self.json)
        if self.provider == "anthropic":
            from ._anthropic import last_user_message as anthropic_last

            return anthropic_last(self.json)
        return last_user_message(self.json)

    def __repr__(self) -> str:
        text = self.last_user_message
        shown = f" {text[:40]!r}{'...' if len(text) > 40 else ''}" if text else ""
        stream = " stream" if self.stream else ""
        return f"<FakeRequest #{self.number} {self.api} model={self.model!r}{stream}{shown}>"


class RequestLog(Sequence[FakeRequest]):
    """The requests in arrival order; ``.last`` is the latest."""

    def __init__(self) -> None:
        self._items: list[FakeRequest] = []
        self._lock = threading.Lock()

    def append(self, request: FakeRequest) -> None:
        with self._lock:
            self._items.append(request)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    @overload
    def __getitem__(self, index: int) -> FakeRequest: ...

    @overload
    def __getitem__(self, index: slice) -> list[FakeRequest]: ...

    def __getitem__(self, index: int | slice) -> FakeRequest | list[FakeRequest]:
        with self._lock:
            return self._items[index]

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[FakeRequest]:
        with self._lock:
            return iter(list(self._items))

    @property
    def last(self) -> FakeRequest:
        with self._lock:
            if self._items:
                return self._items[-1]
        raise AssertionError(
            "llm_fake.requests.last: no request has reached the fake provider yet.\n"
            "Fix: check that the client under test was called and that it talks through httpx "
            "or httpx2 (or to llm_server.base_url)."
        )

    def __repr__(self) -> str:
        return f"RequestLog({list(self)!r})"
