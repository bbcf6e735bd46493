"""Credentials never reach a cassette.

Two layers. Redaction replaces known credential carriers (headers, key-like query
parameters) with ``REDACTED`` before anything is stored or matched. The secret scan
then walks everything about to be written and refuses the write if any string
still looks like a key, naming the field so the user knows what to redact.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from .._errors import ConfigError, SecretFound
from .._jsonpath import render, strings
from .._providers import PROVIDERS, credential_headers, secret_patterns
from .._urls import safe_url

__all__ = [
    "DEFAULT_SECRET_PATTERNS",
    "REDACTED",
    "SENSITIVE_HEADERS",
    "Redactor",
]

REDACTED = "REDACTED"

SENSITIVE_HEADERS = credential_headers()
"""Every header that carries a credential: each provider's (``x-api-key``,
``x-goog-api-key``, ``api-key``, ...) and the generic ones (``authorization``, cookies)."""

_KEYLIKE_PARAM = re.compile(
    r"(?i)^(?:api[-_]?key|apikey|key|access[-_]?token|auth|token|secret|password|sig|signature|code)$"
    r"|(?:[-_](?:key|token|secret|password))$"
)

DEFAULT_SECRET_PATTERNS: dict[str, str] = secret_patterns()
"""Each provider's key shapes (Anthropic, OpenAI, Google), then generic ones."""

_CREDENTIAL_PARAMS = frozenset(p for prov in PROVIDERS for p in prov.credential_params)
"""Query parameters a provider's SDK puts its key in (Gemini's ``?key=``)."""


def _keylike(param: str) -> bool:
    return param.lower() in _CREDENTIAL_PARAMS or _KEYLIKE_PARAM.search(param) is not None


@dataclass(frozen=True, eq=False)
class Redactor:
    """The redaction rules and secret patterns of one configuration.

    Immutable once built, so every cassette of one configuration shares one:
    :meth:`build` returns the same instance for the same options, and a cassette made
    without one gets the default rules' shared instance.
    """

    headers: frozenset[str] = SENSITIVE_HEADERS
    secret_patterns: Mapping[str, str] = field(default_factory=lambda: DEFAULT_SECRET_PATTERNS)
    allow: Sequence[str] = ()
    """Regexes for strings that look like keys but are not (matched against the hit)."""

    def __post_init__(self) -> None:
        put = object.__setattr__  # frozen: the normalized copies are set once, here
        put(self, "headers", frozenset(h.lower() for h in self.headers))
        put(self, "secret_patterns", MappingProxyType(dict(self.secret_patterns)))
        put(self, "allow", tuple(self.allow))
        compiled = [
            (name, _compile(pat, "secret pattern")) for name, pat in self.secret_patterns.items()
        ]
        put(self, "_compiled", tuple(compiled))
        put(self, "_allow", tuple(_compile(a, "secret allow pattern") for a in self.allow))

    _compiled: tuple[tuple[str, re.Pattern[str]], ...] = field(init=False, repr=False)
    _allow: tuple[re.Pattern[str], ...] = field(init=False, repr=False)

    @classmethod
    def build(
        cls,
        *,
        extra_headers: Iterable[str] = (),
        extra_patterns: Iterable[str] = (),
        allow: Iterable[str] = (),
    ) -> Redactor:
        """The default rules plus these; the same instance for the same options."""
        key = (frozenset(h.lower() for h in extra_headers), tuple(extra_patterns), tuple(allow))
        red = _BUILT.get(key)
        if red is None:
            pats = dict(DEFAULT_SECRET_PATTERNS)
            for i, p in enumerate(key[1]):
                pats[f"llm_secret_patterns[{i}] ({p})"] = p
            red = cls(headers=SENSITIVE_HEADERS | key[0], secret_patterns=pats, allow=key[2])
            if cls is Redactor:
                _BUILT[key] = red
        return red

    def with_headers(self, headers: Iterable[str]) -> Redactor:
        """These rules with ``headers`` redacted too (a new instance: this one is shared)."""
        extra = frozenset(h.lower() for h in headers)
        return self if extra <= self.headers else replace(self, headers=self.headers | extra)

    # -- redaction ---------------------------------------------------------------

    def header_value(self, name: str, value: str) -> str:
        return REDACTED if name.lower() in self.headers else value

    def url(self, url: str) -> str:
        url = safe_url(url, mask=REDACTED)  # a user:password@ part keeps only the user
        parts = urlsplit(url)
        if not parts.query:
            return url
        pairs = parse_qsl(parts.query, keep_blank_values=True)
        if not any(_keylike(k) for k, _ in pairs):
            return url
        red = [(k, REDACTED if _keylike(k) else v) for k, v in pairs]
        return urlunsplit(parts._replace(query=urlencode(red)))

    def query(self, pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
        return [(k, REDACTED if _keylike(k) else v) for k, v in pairs]

    # -- secret scan -------------------------------------------------------------

    def scan(self, data: Any, where: str = "") -> tuple[str, str, str] | None:
        """The first key-shaped string in ``data``: (field path, pattern name, masked hit)."""
        for parts, text, is_key in strings(data):
            path = render(parts, root=where) + (" (key)" if is_key else "")
            for name, rx in self._compiled:
                for m in rx.finditer(text):
                    hit = m.group(0)
                    if any(a.search(hit) for a in self._allow):
                        continue
                    return path, name, _mask(hit)
        return None

    def check(self, data: Any, *, path: str, where: str = "") -> None:
        found = self.scan(data, where)
        if found is None:
            return
        fld, name, masked = found
        raise SecretFound(
            f"pytest-llm refused to write {path}: {fld} holds something shaped like "
            f"{_article(name)} {name} ({masked}).\n"
            "Nothing was written; the existing cassette, if any, is unchanged.\n"
            "Fix: if it is a credential, redact it (add the header to the ini option "
            "llm_redact_headers, or stop sending it); if it is not a secret, allow it with "
            "the ini option llm_secret_allow = <regex>.",
            path=path,
            field=fld,
        )


_BUILT: dict[tuple[frozenset[str], tuple[str, ...], tuple[str, ...]], Redactor] = {}
""":meth:`Redactor.build`'s instances by their options (a session has one or a few)."""


def _article(name: str) -> str:
    return "an" if name[:1].lower() in "aeiou" else "a"


def _compile(pattern: str, what: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise ConfigError(f"{what} {pattern!r} is not a valid regular expression: {exc}") from None


def _mask(hit: str) -> str:
    if len(hit) <= 8:
        return "*" * len(hit)
    return f"{hit[:4]}…{hit[-2:]}, {len(hit)} characters"
