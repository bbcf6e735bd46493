"""A fake provider: scripted replies in the real APIs' shapes (OpenAI, Anthropic, Gemini).

Names load on first use: a run that never uses the fake should not pay for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_facade

if TYPE_CHECKING:
    from ._log import (
        FakeRequest as FakeRequest,
    )
    from ._log import (
        RequestLog as RequestLog,
    )
    from ._provider import (
        DEFAULT_REPLY as DEFAULT_REPLY,
    )
    from ._provider import (
        FakeMiss as FakeMiss,
    )
    from ._provider import (
        FakeProvider as FakeProvider,
    )
    from ._provider import (
        FakeScriptError as FakeScriptError,
    )
    from ._provider import (
        FakeUnused as FakeUnused,
    )
    from ._script import (
        Script as Script,
    )

# The one table: each public name and the module it loads from, on first use.
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
__all__, __getattr__, __dir__ = lazy_facade(__name__, _WHERE)
