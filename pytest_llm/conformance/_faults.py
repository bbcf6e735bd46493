"""A few provider misbehaviours the named fault kinds do not script, as ``Fault``s on
the harness's one request flow (so they reach every adapter and are logged by the plan
like any fault)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .._exchange import Exchange, Next, Outcome, Reply, TransportFailure
from ..faults import Fault

__all__ = [
    "ConnectTimeout",
    "GarbledChunk",
    "RawReply",
    "RetryAfterHeader",
    "Switch",
    "WithoutDone",
]


@dataclass(frozen=True, repr=False)
class RawReply(Fault):
    """Answers alone with this status, headers and JSON body (e.g. a 200 error body)."""

    status: int = 200
    body: Any = None
    headers: tuple[tuple[str, str], ...] = ()

    def apply(self, exchange: Exchange, nxt: Next, ctx: Any) -> Outcome:
        return Reply(
            self.status,
            [("content-type", "application/json"), *self.headers],
            json.dumps(self.body).encode(),
        )


@dataclass(frozen=True, repr=False)
class RetryAfterHeader(Fault):
    """A 429 whose ``retry-after`` / ``retry-after-ms`` hold exactly these strings."""

    retry_after: str | None = None
    retry_after_ms: str | None = None

    def apply(self, exchange: Exchange, nxt: Next, ctx: Any) -> Outcome:
        headers = [("content-type", "application/json")]
        if self.retry_after is not None:
            headers.append(("retry-after", self.retry_after))
        if self.retry_after_ms is not None:
            headers.append(("retry-after-ms", self.retry_after_ms))
        body = {
            "error": {
                "message": "Rate limit reached.",
                "type": "requests",
                "param": None,
                "code": "rate_limit_exceeded",
            }
        }
        return Reply(429, headers, json.dumps(body).encode())


@dataclass(frozen=True, repr=False)
class ConnectTimeout(Fault):
    """The connection is never established (nothing was sent)."""

    seconds: float = 5.0

    def apply(self, exchange: Exchange, nxt: Next, ctx: Any) -> Outcome:
        return TransportFailure("connect_timeout", "timed out connecting", self.seconds)


@dataclass(frozen=True, repr=False)
class GarbledChunk(Fault):
    """The stream's chunk ``at`` is replaced by data that is not JSON."""

    at: int = 1

    def apply(self, exchange: Exchange, nxt: Next, ctx: Any) -> Outcome:
        reply = self._reply(exchange, nxt)
        events = list(reply.events or [])
        if self.at < len(events):
            import dataclasses

            events[self.at] = dataclasses.replace(events[self.at], data='{"id": "chatcmpl-x", "cho')
        return Reply(reply.status, list(reply.headers), reply.body, events, reply.failure)


@dataclass(frozen=True, repr=False)
class WithoutDone(Fault):
    """The stream keeps its finish_reason chunk but ends without ``data: [DONE]``."""

    def apply(self, exchange: Exchange, nxt: Next, ctx: Any) -> Outcome:
        reply = self._reply(exchange, nxt)
        events = [e for e in reply.events or [] if e.data.strip() != "[DONE]"]
        return Reply(reply.status, list(reply.headers), reply.body, events, reply.failure)


class Switch:
    """A provider outage that a test turns on and off: ``Switch.fault()`` answers 503
    while ``down`` is true and passes the request on otherwise."""

    def __init__(self, down: bool = True) -> None:
        self.down = down

    def fault(self) -> Fault:
        return _Outage(self)


@dataclass(frozen=True, repr=False)
class _Outage(Fault):
    switch: Any = None

    def apply(self, exchange: Exchange, nxt: Next, ctx: Any) -> Outcome:
        if self.switch.down:
            body = {
                "error": {
                    "message": "The server is overloaded or not ready yet.",
                    "type": "server_error",
                    "param": None,
                    "code": None,
                }
            }
            return Reply(503, [("content-type", "application/json")], json.dumps(body).encode())
        return nxt(exchange)
