"""The fault kinds: what providers really do wrong, as the bytes they really send.

A fault either answers alone (a 429 with its headers and OpenAI error body, a
connection that fails) or asks the rest of the chain (cassette, fake) for the real
reply and changes it (a stall after chunk k, a reset after N bytes, malformed JSON
in the message content). Each kind is a frozen dataclass whose ``repr`` shows only
what differs from its defaults, so plans and failure messages read like the code
that wrote them. Importing this module registers every kind in :data:`KINDS`.
"""

from __future__ import annotations

from ._base import KINDS, Context, Fault, Pass, ScriptedReply, error_reply, make_fault
from ._content import ContentFilter, MalformedJSON, MaxTokens
from ._http import (
    ContextLengthExceeded,
    HTTPError,
    InsufficientQuota,
    Overloaded,
    RateLimited,
    ServerError,
)
from ._tools import BrokenToolCall
from ._wire import (
    ConnectError,
    ConnectionReset,
    CorruptEvent,
    ReadTimeout,
    Slow,
    Stall,
    StreamError,
    TruncatedStream,
)

__all__ = [
    "KINDS",
    "BrokenToolCall",
    "ConnectError",
    "ConnectionReset",
    "ContentFilter",
    "Context",
    "ContextLengthExceeded",
    "CorruptEvent",
    "Fault",
    "HTTPError",
    "InsufficientQuota",
    "MalformedJSON",
    "MaxTokens",
    "Overloaded",
    "Pass",
    "RateLimited",
    "ReadTimeout",
    "ScriptedReply",
    "ServerError",
    "Slow",
    "Stall",
    "StreamError",
    "TruncatedStream",
    "error_reply",
    "make_fault",
]
