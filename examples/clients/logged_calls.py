"""Baseline: "log everything", one structured record per call.

The shape (seed articles 004 "log everything" and 002's ``structlog`` wrapper): around
``client.chat.completions.create``, ``logger.info("llm_completion", extra={model,
input_tokens, output_tokens, latency_ms, success})`` on success and
``logger.error("llm_completion_failed", extra={error: str(e), latency_ms})`` on
failure; the SDK underneath with the setup's ``max_retries`` and timeout. Its records
are what this baseline says happened during a call (``Adapter.events``).

Latency is read through a ``now`` parameter (``time.time`` by default); the adapter
passes the harness clock's.

Conformance: ``pytest --llm-conformance=examples.clients.logged_calls:adapter``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

import openai

from pytest_llm.conformance import Reply, Setup

from ._common import SDK_CAPABILITIES, SDK_REASONS, SDKAdapter, openai_kwargs

__all__ = ["LoggedClient", "adapter"]

logger = logging.getLogger(__name__)


class LoggedClient:
    """An SDK client whose every call leaves one log record (kept in ``records``)."""

    def __init__(
        self, model: str, *, now: Callable[[], float] = time.time, **openai_options: Any
    ) -> None:
        self.model = model
        self._now = now
        self.openai = openai.OpenAI(**openai_options)
        self.records: list[tuple[Any, dict[str, Any]]] = []  # (result or error, record)

    def _log(self, outcome: Any, level: int, event: str, extra: dict[str, Any]) -> None:
        logger.log(level, event, extra=extra)
        self.records.append((outcome, {"event": event, **extra}))

    def complete(self, messages: list[Any], **params: Any) -> Any:
        params.setdefault("model", self.model)
        start = self._now()
        try:
            response = self.openai.chat.completions.create(messages=messages, **params)
        except Exception as e:
            extra = {"error": str(e), "latency_ms": (self._now() - start) * 1000}
            self._log(e, logging.ERROR, "llm_completion_failed", extra)
            raise
        usage = response.usage
        extra = {
            "model": params.get("model"),
            "input_tokens": usage.prompt_tokens if usage else None,
            "output_tokens": usage.completion_tokens if usage else None,
            "latency_ms": (self._now() - start) * 1000,
            "success": True,
        }
        self._log(response, logging.INFO, "llm_completion", extra)
        return response

    def stream(self, messages: list[Any], **params: Any) -> Any:
        params.setdefault("model", self.model)
        return self.openai.chat.completions.create(messages=messages, stream=True, **params)

    def close(self) -> None:
        self.openai.close()


class LoggedAdapter(SDKAdapter):
    name = "logged-calls"
    capabilities = SDK_CAPABILITIES | {"events"}
    reasons = SDK_REASONS

    def __init__(self) -> None:
        self._clients: list[LoggedClient] = []

    def make(self, setup: Setup) -> LoggedClient:
        route = setup.routes[0]
        client = LoggedClient(route.model, now=setup.clock.time, **openai_kwargs(setup, route))
        self._clients.append(client)
        return client

    def close(self, client: Any) -> None:
        client.close()
        if client in self._clients:
            self._clients.remove(client)

    def events(self, outcome: Any) -> list[Mapping[str, Any]]:
        target = outcome.raw if isinstance(outcome, Reply) else outcome
        out: list[Mapping[str, Any]] = []
        for client in self._clients:
            for result, record in client.records:
                if result is target:
                    status = 200 if record["event"] == "llm_completion" else None
                    if isinstance(result, openai.APIStatusError):
                        status = result.status_code
                    out.append(
                        {
                            "number": 1,
                            "status": status,
                            "error": record.get("error"),
                            "wait": None,
                        }
                    )
        return out


def adapter() -> LoggedAdapter:
    return LoggedAdapter()
