"""An OpenAI-compatible fake provider: scripted replies in the real API's shapes.

Names load on first use: the plugin imports this package's fixtures at start-up, and
a run that never uses the fake should not pay for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_facade

if TYPE_CHECKING:
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

_WHERE = {
    "FakeRequest": "._log",
    "RequestLog": "._log",
    "DEFAULT_REPLY": "._provider",
    "FakeMiss": "._provider",
    "FakeProvider": "._provider",
    "FakeScriptError": "._provider",
    "FakeUnused": "._provider",
    "Script": "._script",
}


__getattr__, __dir__ = lazy_facade(__name__, __all__, _WHERE)
