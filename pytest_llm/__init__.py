"""pytest-llm: record, replay, fault-inject and assert on LLM API traffic in pytest.

The public names are loaded on first use, so that pytest start-up with the plugin
installed costs next to nothing when no test uses it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._clock import Clock, SystemClock
    from ._errors import (
        CassetteError,
        CassetteMiss,
        CassetteNotFound,
        ConfigError,
        NetworkBlocked,
        PytestLLMError,
        ReplayInterrupt,
        SecretFound,
    )
    from .cassette import DEFAULT_IGNORE, Cassette, Redactor, use_cassette
    from .transport import wrap_transport

__all__ = [
    "DEFAULT_IGNORE",
    "Cassette",
    "CassetteError",
    "CassetteMiss",
    "CassetteNotFound",
    "Clock",
    "ConfigError",
    "NetworkBlocked",
    "PytestLLMError",
    "Redactor",
    "ReplayInterrupt",
    "SecretFound",
    "SystemClock",
    "use_cassette",
    "wrap_transport",
]

_WHERE = {
    "Clock": "._clock",
    "SystemClock": "._clock",
    "CassetteError": "._errors",
    "CassetteMiss": "._errors",
    "CassetteNotFound": "._errors",
    "ConfigError": "._errors",
    "NetworkBlocked": "._errors",
    "PytestLLMError": "._errors",
    "ReplayInterrupt": "._errors",
    "SecretFound": "._errors",
    "DEFAULT_IGNORE": ".cassette",
    "Cassette": ".cassette",
    "Redactor": ".cassette",
    "use_cassette": ".cassette",
    "wrap_transport": ".transport",
}


def __getattr__(name: str) -> Any:
    where = _WHERE.get(name)
    if where is None:
        raise AttributeError(f"module 'pytest_llm' has no attribute {name!r}")
    value = getattr(importlib.import_module(where, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
