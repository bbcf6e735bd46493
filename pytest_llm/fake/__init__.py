"""An OpenAI-compatible fake provider: scripted replies in the real API's shapes."""

from __future__ import annotations

from ._log import FakeRequest, RequestLog
from ._provider import DEFAULT_REPLY, FakeMiss, FakeProvider, FakeScriptError, FakeUnused
from ._script import Script

__all__ = [
    "DEFAULT_REPLY",
    "FakeMiss",
    "FakeProvider",
    "FakeRequest",
    "FakeScriptError",
    "FakeUnused",
    "RequestLog",
    "Script",
]
