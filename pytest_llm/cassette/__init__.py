"""Cassettes: the recorded LLM traffic a test replays offline."""

from __future__ import annotations

from ._match import DEFAULT_IGNORE
from ._redact import DEFAULT_SECRET_PATTERNS, REDACTED, SENSITIVE_HEADERS, Redactor
from ._session import RECORD_MODES, Cassette, use_cassette

__all__ = [
    "DEFAULT_IGNORE",
    "DEFAULT_SECRET_PATTERNS",
    "RECORD_MODES",
    "REDACTED",
    "SENSITIVE_HEADERS",
    "Cassette",
    "Redactor",
    "use_cassette",
]
