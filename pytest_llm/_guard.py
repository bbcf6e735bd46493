"""The guard for tests without a cassette: no surprise calls to a paid LLM API.

``llm_guard = llm-hosts`` (default) fails a request to a known LLM provider from a
test that has no cassette; ``all`` fails any request that is not loopback; ``off``
lets everything through. Tests with a cassette are governed by the cassette instead.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable

from ._errors import NetworkBlocked

__all__ = ["GUARD_MODES", "LLM_HOSTS", "Guard"]

GUARD_MODES = ("llm-hosts", "all", "off")

LLM_HOSTS: tuple[str, ...] = (
    "api.openai.com",
    "*.openai.azure.com",
    "*.cognitiveservices.azure.com",
    "*.services.ai.azure.com",
    "api.anthropic.com",
    "generativelanguage.googleapis.com",
    "*aiplatform.googleapis.com",
    "bedrock-runtime.*.amazonaws.com",
    "api.mistral.ai",
    "api.groq.com",
    "api.together.xyz",
    "api.together.ai",
    "api.deepseek.com",
    "openrouter.ai",
    "api.cohere.com",
    "api.cohere.ai",
    "api.fireworks.ai",
    "api.x.ai",
    "api.perplexity.ai",
)
"""Host patterns of hosted LLM APIs (fnmatch); extend with the ini option llm_hosts."""


class Guard:
    """Blocks, at the socket, what a test without a cassette must not reach.

    It works on name lookups and connections, not on HTTP transports, so mocks that
    never open a socket (respx, pytest-httpx, ``MockTransport``) keep working, and
    clients outside httpx (aiohttp, requests) are covered too.
    """

    def __init__(
        self, mode: str, hosts: Iterable[str] = LLM_HOSTS, where: str = "this test"
    ) -> None:
        self.mode = mode
        self.hosts = tuple(h.lower() for h in hosts)
        self.where = where

    def blocks(self, host: str) -> bool:
        from .transport._patch import is_loopback

        if is_loopback(host):
            return False
        if self.mode == "all":
            return True
        host = host.lower().rstrip(".")
        return any(fnmatch.fnmatchcase(host, pat) for pat in self.hosts)

    def __call__(self, host: str, port: object) -> None:
        if not self.blocks(host):
            return
        where = f"{host}:{port}" if port is not None else host
        what = "the network" if self.mode == "all" else "hosted LLM APIs"
        raise NetworkBlocked(
            f"pytest-llm blocked a connection to {where}: {self.where} has no cassette, and "
            f"llm_guard = {self.mode} keeps tests from reaching {what} unrecorded.\n"
            "Fix: mark the test with @pytest.mark.llm_cassette (then record it with "
            "--llm-record=once), or pass --llm-allow-network, or set llm_guard = off."
        )

    def __repr__(self) -> str:
        return f"Guard(mode={self.mode!r})"
