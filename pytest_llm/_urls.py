"""URLs shown to people: never with the password of a ``user:password@`` part.

One definition for the client (errors, events, backend reprs) and the harness
(cassettes, fault reports).
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

__all__ = ["public_url", "safe_url"]


def safe_url(url: str, mask: str = "***") -> str:
    """The URL with any password replaced by ``mask`` (the user name is kept)."""
    if "@" not in url:
        return url
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable url>"
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{user}:{mask}@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def public_url(url: str | None) -> str | None:
    """``url`` without its ``user:password@`` part: records never hold a credential."""
    if not url or "@" not in url:
        return url
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=host))
