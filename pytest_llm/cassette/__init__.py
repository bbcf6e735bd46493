"""Cassettes: the recorded LLM traffic a test replays offline."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_facade

if TYPE_CHECKING:
    from ._match import (
        DEFAULT_IGNORE as DEFAULT_IGNORE,
    )
    from ._redact import (
        DEFAULT_SECRET_PATTERNS as DEFAULT_SECRET_PATTERNS,
    )
    from ._redact import (
        REDACTED as REDACTED,
    )
    from ._redact import (
        SENSITIVE_HEADERS as SENSITIVE_HEADERS,
    )
    from ._redact import (
        Redactor as Redactor,
    )
    from ._session import (
        RECORD_MODES as RECORD_MODES,
    )
    from ._session import (
        Cassette as Cassette,
    )
    from ._session import (
        use_cassette as use_cassette,
    )

# The one table: each public name and the module it loads from, on first use.
_WHERE = {
    "DEFAULT_IGNORE": "._match",
    "DEFAULT_SECRET_PATTERNS": "._redact",
    "REDACTED": "._redact",
    "SENSITIVE_HEADERS": "._redact",
    "Redactor": "._redact",
    "RECORD_MODES": "._session",
    "Cassette": "._session",
    "use_cassette": "._session",
}
__all__, __getattr__, __dir__ = lazy_facade(__name__, _WHERE)
