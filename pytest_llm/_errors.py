"""The error tree.

Two roots, on purpose:

* :class:`PytestLLMError` (an ``Exception``) for bad input and configuration: a
  corrupt cassette, an unknown option value, a schema that is not a schema.
* :class:`ReplayInterrupt` (a ``BaseException``, like ``pytest.fail``'s own
  exception) for what happens *inside* an HTTP transport during a test: a cassette
  miss, a missing cassette, a blocked network connection. The openai SDK (1.x/2.x)
  turns every ``Exception`` raised by a transport into a retried
  ``APIConnectionError`` and really sleeps between the tries; a ``BaseException``
  passes through that loop, and through application code that catches
  ``Exception``, so the test fails at once with the miss itself.

Loaded at every pytest start-up (the session's guard): PYTEST_DONT_REWRITE (see
:mod:`pytest_llm.plugin`).
"""

from __future__ import annotations

__all__ = [
    "CassetteError",
    "CassetteMiss",
    "CassetteNotFound",
    "CassetteUnused",
    "ConfigError",
    "NetworkBlocked",
    "PytestLLMError",
    "ReplayInterrupt",
    "SecretFound",
    "Unused",
]


class PytestLLMError(Exception):
    """Base of every ordinary pytest-llm error (bad input, bad configuration)."""


class ConfigError(PytestLLMError, ValueError):
    """An option, ini value, marker keyword or argument has a value we cannot use."""


class CassetteError(PytestLLMError):
    """A cassette file cannot be read or written: corrupt, truncated, unknown version."""

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None) -> None:
        super().__init__(message)
        self.path = path
        self.line = line


class SecretFound(CassetteError):
    """A cassette about to be written still holds something key-shaped."""

    def __init__(self, message: str, *, path: str | None = None, field: str = "") -> None:
        super().__init__(message, path=path)
        self.field = field


class Unused(PytestLLMError, AssertionError):
    """A handler ends with something scripted or recorded that no request used.

    The one family of "unused" errors: :class:`CassetteUnused`,
    :class:`~pytest_llm.faults.UnusedFaults`, :class:`~pytest_llm.fake.FakeUnused`.
    An ``AssertionError`` too: the test did not do what it said it would.
    """


class CassetteUnused(Unused):
    """A cassette (``check_unused=True``) ends with recorded interactions never replayed."""


class ReplayInterrupt(BaseException):
    """Raised inside a transport to stop a request; never swallowed by SDK retry loops."""


class CassetteMiss(ReplayInterrupt):
    """A request had no match in the cassette and recording was not allowed."""


class CassetteNotFound(CassetteMiss):
    """A request was made in replay mode but the cassette file does not exist."""


class FakeScriptError(ReplayInterrupt):
    """A script's ``match=`` predicate raised while choosing a reply (``llm_fake``)."""


class NetworkBlocked(ReplayInterrupt):
    """A real network connection was attempted while only replay was allowed."""
