"""pytest-llm: record, replay, fault-inject and assert on LLM API traffic in pytest."""

from __future__ import annotations

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
