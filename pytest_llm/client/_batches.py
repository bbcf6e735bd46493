"""``client.batches.run(requests)``: a whole Batch API job in one call.

It checks the requests against the provider's limits *before* uploading (50,000
requests, 200 MB of JSONL, unique ``custom_id``, one endpoint), writes the JSONL,
uploads it, creates the batch, polls on the client's clock with backoff (5 s doubling
to 5 min by default: never a fixed ``time.sleep(60)``), then downloads the output and
error files and returns every result by ``custom_id``. A request that failed is a
:class:`BatchItemError` with its kind (``http``, ``expired``, ``cancelled``,
``missing``), never silently absent. Costs are at the batch price (half the route's
price by default, as OpenAI bills batches). Control calls (upload, create, poll,
download) are retried with the client's :class:`RetryPolicy`.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Generator, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .._clock import Clock
from ._errors import ClientConfigError, DeadlineExceeded, LLMClientError
from ._route import Route
from ._usage import usage_of

__all__ = [
    "BATCH_DISCOUNT",
    "MAX_BATCH_BYTES",
    "MAX_BATCH_REQUESTS",
    "AsyncBatches",
    "BatchError",
    "BatchItem",
    "BatchItemError",
    "BatchResult",
    "Batches",
]

MAX_BATCH_REQUESTS = 50_000
MAX_BATCH_BYTES = 200 * 1024 * 1024
BATCH_DISCOUNT = 0.5
"""Batch requests cost this share of the route's price (OpenAI: 50% off)."""
_TERMINAL = ("completed", "failed", "expired", "cancelled")
_PARSERS = {
    "/v1/chat/completions": ("openai.types.chat", "ChatCompletion"),
    "/v1/responses": ("openai.types.responses", "Response"),
    "/v1/embeddings": ("openai.types", "CreateEmbeddingResponse"),
}


class BatchError(LLMClientError):
    """The batch as a whole failed (input rejected, or the poll deadline passed)."""

    def __init__(self, message: str, *, batch: Any = None) -> None:
        super().__init__(message)
        self.batch = batch


@dataclass(frozen=True)
class BatchItemError:
    """Why one request of a batch has no answer."""

    kind: str
    """``http`` (the request failed), ``expired``, ``cancelled`` or ``missing``."""
    message: str
    status: int | None = None
    code: str | None = None


@dataclass
class BatchItem:
    """One request's outcome: ``response`` (the SDK's type) or ``error``."""

    custom_id: str
    response: Any = None
    error: BatchItemError | None = None
    usage: dict[str, int] | None = None
    cost: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class BatchResult:
    """Every request's outcome by ``custom_id``, and the batch's totals."""

    batch: Any
    items: dict[str, BatchItem]
    polls: int = 0
    waits: list[float] = field(default_factory=list)

    @property
    def status(self) -> str:
        return str(self.batch.status)

    def __getitem__(self, custom_id: str) -> BatchItem:
        return self.items[custom_id]

    def __len__(self) -> int:
        return len(self.items)

    @property
    def succeeded(self) -> dict[str, BatchItem]:
        return {k: v for k, v in self.items.items() if v.ok}

    @property
    def failed(self) -> dict[str, BatchItem]:
        return {k: v for k, v in self.items.items() if not v.ok}

    @property
    def cost(self) -> float:
        return sum(i.cost for i in self.items.values())

    def __repr__(self) -> str:
        return (
            f"BatchResult({self.batch.id}, {self.status}: {len(self.succeeded)} ok, "
            f"{len(self.failed)} failed, cost ${self.cost:.6f}, {self.polls} polls)"
        )


def _lines(requests: Any, endpoint: str, model: str | None) -> list[dict[str, Any]]:
    items: Iterable[Any]
    if isinstance(requests, Mapping):
        items = [{"custom_id": k, "body": v} for k, v in requests.items()]
    else:
        items = requests
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for n, item in enumerate(items):
        if not isinstance(item, Mapping) or not isinstance(item.get("body"), Mapping):
            raise ClientConfigError(
                f"batches.run(): request {n} is {item!r:.80}, not {{'custom_id': ..., 'body': "
                "{...}}.\nFix: pass a list of {'custom_id': 'req-1', 'body': {create() "
                "arguments}} or a dict custom_id -> body."
            )
        cid = item.get("custom_id")
        if not isinstance(cid, str) or not cid:
            raise ClientConfigError(
                f"batches.run(): request {n} has custom_id {cid!r}.\nFix: give every "
                "request a unique, non-empty string custom_id."
            )
        if cid in seen:
            raise ClientConfigError(
                f"batches.run(): custom_id {cid!r} is used twice (request {n}).\nFix: make "
                "every custom_id unique: results come back by custom_id, in any order."
            )
        seen.add(cid)
        url = item.get("url", endpoint)
        if url != endpoint:
            raise ClientConfigError(
                f"batches.run(): request {cid!r} has url {url!r}, the batch's endpoint is "
                f"{endpoint!r}.\nFix: one batch serves one endpoint: split the requests."
            )
        body = dict(item["body"])
        if body.get("stream"):
            raise ClientConfigError(
                f"batches.run(): request {cid!r} asks for stream=True.\nFix: drop stream: "
                "batch results are whole responses."
            )
        if model is not None:
            body.setdefault("model", model)
        if not isinstance(body.get("model"), str):
            raise ClientConfigError(
                f"batches.run(): request {cid!r} has no model.\nFix: add 'model' to its "
                "body, or pass model= to run()."
            )
        out.append({"custom_id": cid, "method": "POST", "url": endpoint, "body": body})
    if not out:
        raise ClientConfigError("batches.run(): no requests.\nFix: pass at least one request.")
    return out


_Step = Callable[[], Any] | float
"""What a batch job asks its driver for: an SDK call, or a wait in seconds."""


@dataclass(frozen=True)
class _Failed:
    """A control call raised ``error``: the job decides whether to retry it."""

    error: Exception


def _next(job: Generator[_Step, Any, BatchResult], reply: Any) -> _Step | BatchResult:
    """The job's next step after ``reply``, or its result when it is done."""
    try:
        return job.send(reply)
    except StopIteration as stop:
        result: BatchResult = stop.value
        return result


def _run(job: Generator[_Step, Any, BatchResult], clock: Clock) -> BatchResult:
    reply: Any = None
    while not isinstance(step := _next(job, reply), BatchResult):
        reply = _do(step, clock)
    return step


async def _arun(job: Generator[_Step, Any, BatchResult], clock: Clock) -> BatchResult:
    reply: Any = None
    while not isinstance(step := _next(job, reply), BatchResult):
        reply = await _ado(step, clock)
    return step


def _do(step: _Step, clock: Clock) -> Any:
    if isinstance(step, float):
        return clock.sleep(step)
    try:
        return step()
    except Exception as exc:
        return _Failed(exc)


async def _ado(step: _Step, clock: Clock) -> Any:
    if isinstance(step, float):
        return await clock.asleep(step)
    try:
        return await step()
    except Exception as exc:
        return _Failed(exc)


class Batches:
    """``client.batches``: run a batch job (the SDK's ``batches`` are under ``.sdk``)."""

    max_requests = MAX_BATCH_REQUESTS
    max_bytes = MAX_BATCH_BYTES

    def __init__(self, client: Any) -> None:
        self._client = client

    def _route(self) -> Route:
        routes = self._client._candidates_all()
        if not routes:
            return Route("batch")
        route: Route = routes[0]
        return route

    def jsonl(
        self, requests: Any, *, endpoint: str = "/v1/chat/completions", model: str | None = None
    ) -> bytes:
        """The batch input file for ``requests``, checked against the provider's limits."""
        if endpoint not in _PARSERS:
            raise ClientConfigError(
                f"batches.run(endpoint={endpoint!r}): not a batch endpoint.\n"
                f"Fix: use one of {', '.join(_PARSERS)}."
            )
        lines = _lines(requests, endpoint, model)
        if len(lines) > self.max_requests:
            raise ClientConfigError(
                f"batches.run(): {len(lines)} requests; a batch holds at most "
                f"{self.max_requests}.\nFix: split the requests into batches of "
                f"{self.max_requests} or fewer."
            )
        data = "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines).encode()
        if len(data) > self.max_bytes:
            raise ClientConfigError(
                f"batches.run(): the input file is {len(data):,} bytes; the limit is "
                f"{self.max_bytes:,}.\nFix: split the requests into smaller batches (about "
                f"{max(1, len(lines) * self.max_bytes // len(data)):,} requests each)."
            )
        return data

    def _backoff(self, exc: Exception, retries: int) -> float:
        """The wait before retrying a failed call after ``retries`` retries; ``exc``
        itself when the client's retry policy says stop."""
        from ._retry import classify

        client = self._client
        failure = classify(exc, now=client.clock.now())
        decision = client.retry.decide(failure, retries_done=retries, rng=client._draws())
        if not decision.retry:
            raise exc
        return float(decision.wait)

    def _retried(self, fn: Callable[[], Any]) -> Generator[_Step, Any, Any]:
        """One control call, retried: yields the call, and the wait after each failure."""
        retries = 0
        while True:
            reply = yield fn
            if not isinstance(reply, _Failed):
                return reply
            yield self._backoff(reply.error, retries)
            retries += 1

    def _job(
        self,
        requests: Any,
        endpoint: str,
        model: str | None,
        completion_window: str,
        metadata: Mapping[str, str] | None,
        poll_interval: float,
        max_poll_interval: float,
        timeout: float | None,
        discount: float,
    ) -> Generator[_Step, Any, BatchResult]:
        """The job, sans I/O: yields SDK calls (``fn()``, each retried by the client's
        retry policy) and waits (seconds); the sync and async drivers run them."""
        sdk = self._client._sdk(self._route())
        for name, value in (
            ("poll_interval", poll_interval),
            ("max_poll_interval", max_poll_interval),
        ):
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise ClientConfigError(
                    f"batches.run({name}={value!r}): seconds between polls, above 0.\n"
                    f"Fix: e.g. {name}=30."
                )
        data = self.jsonl(requests, endpoint=endpoint, model=model)
        route = self._route()
        clock = self._client.clock
        upload = yield from self._retried(
            lambda: sdk.files.create(file=("batch.jsonl", data), purpose="batch")
        )
        batch = yield from self._retried(
            lambda: sdk.batches.create(
                input_file_id=upload.id,
                endpoint=endpoint,
                completion_window=completion_window,
                metadata=dict(metadata) if metadata else None,
            )
        )
        started = clock.monotonic()
        waits: list[float] = []
        polls = 0
        delay = float(poll_interval)
        while batch.status not in _TERMINAL:
            if timeout is not None and clock.monotonic() - started + delay > timeout:
                raise DeadlineExceeded(
                    f"batch {batch.id} is still {batch.status} after "
                    f"{clock.monotonic() - started:g} s of polling (timeout={timeout:g}).\n"
                    "Fix: raise timeout=, or keep the batch id and collect it later (it runs "
                    "on at the provider)."
                )
            yield delay
            waits.append(delay)
            delay = min(delay * 2, float(max_poll_interval))
            batch = yield from self._retried(functools.partial(sdk.batches.retrieve, batch.id))
            polls += 1
        if batch.status == "failed":
            errors = getattr(getattr(batch, "errors", None), "data", None) or []
            shown = "; ".join(
                f"line {e.line}: {e.message}" if getattr(e, "line", None) else str(e.message)
                for e in errors[:3]
            )
            raise BatchError(
                f"batch {batch.id} failed: {shown or 'no reason given'}.\nFix: correct the "
                "input lines named above and run the batch again.",
                batch=batch,
            )
        records: list[dict[str, Any]] = []
        for file_id in (batch.output_file_id, batch.error_file_id):
            if file_id:
                content = yield from self._retried(functools.partial(sdk.files.content, file_id))
                text = content.text if hasattr(content, "text") else bytes(content).decode()
                records += [json.loads(line) for line in text.splitlines() if line.strip()]
        ids = [json.loads(line)["custom_id"] for line in data.splitlines()]
        items = self._collect(records, batch, ids, endpoint, route, discount)
        return BatchResult(batch, items, polls, waits)

    def run(
        self,
        requests: Any,
        *,
        endpoint: str = "/v1/chat/completions",
        model: str | None = None,
        completion_window: str = "24h",
        metadata: Mapping[str, str] | None = None,
        poll_interval: float = 5.0,
        max_poll_interval: float = 300.0,
        timeout: float | None = None,
        discount: float = BATCH_DISCOUNT,
    ) -> BatchResult:
        """Submit ``requests`` (``[{"custom_id", "body"}]`` or ``{custom_id: body}``) and
        wait for every result; ``timeout`` seconds of polling at most (None: until the
        batch ends, which the provider bounds by ``completion_window``)."""
        job = self._job(
            requests, endpoint, model, completion_window, metadata,
            poll_interval, max_poll_interval, timeout, discount,
        )  # fmt: skip
        return _run(job, self._client.clock)

    def _collect(
        self,
        records: list[dict[str, Any]],
        batch: Any,
        ids: list[str],
        endpoint: str,
        route: Route,
        discount: float,
    ) -> dict[str, BatchItem]:
        import importlib

        module, name = _PARSERS[endpoint]
        parser = getattr(importlib.import_module(module), name)
        items: dict[str, BatchItem] = {}
        for record in records:
            cid = str(record.get("custom_id"))
            response = record.get("response") or {}
            error = record.get("error")
            status = response.get("status_code") if isinstance(response, dict) else None
            body = response.get("body") if isinstance(response, dict) else None
            if status == 200 and isinstance(body, dict) and not error:
                parsed = parser.model_validate(body)
                usage = usage_of(parsed)
                cost = route.price.cost(usage) * discount if route.price and usage else 0.0
                items[cid] = BatchItem(cid, parsed, None, usage, cost)
                continue
            if isinstance(error, dict) and error.get("code") in (
                "batch_expired",
                "batch_cancelled",
            ):
                kind = "expired" if error["code"] == "batch_expired" else "cancelled"
                items[cid] = BatchItem(
                    cid,
                    None,
                    BatchItemError(kind, str(error.get("message")), None, error.get("code")),
                )
                continue
            detail = (body or {}).get("error") if isinstance(body, dict) else None
            message = (detail or {}).get("message") if isinstance(detail, dict) else None
            code = (detail or {}).get("code") if isinstance(detail, dict) else None
            if isinstance(error, dict):
                message = message or error.get("message")
                code = code or error.get("code")
            items[cid] = BatchItem(
                cid, None, BatchItemError("http", str(message or "request failed"), status, code)
            )
        for cid in ids:
            if cid not in items:
                kind = (
                    "expired"
                    if batch.status == "expired"
                    else "cancelled"
                    if batch.status == "cancelled"
                    else "missing"
                )
                items[cid] = BatchItem(
                    cid,
                    None,
                    BatchItemError(
                        kind, f"no result for {cid!r} in batch {batch.id} ({batch.status})"
                    ),
                )
        return {cid: items[cid] for cid in ids}

    def __repr__(self) -> str:
        return f"Batches(client={self._client!r})"


class AsyncBatches(Batches):
    """``AsyncResilientClient.batches``: :meth:`run` awaits, polling with ``clock.asleep``."""

    async def run(  # type: ignore[override]
        self,
        requests: Any,
        *,
        endpoint: str = "/v1/chat/completions",
        model: str | None = None,
        completion_window: str = "24h",
        metadata: Mapping[str, str] | None = None,
        poll_interval: float = 5.0,
        max_poll_interval: float = 300.0,
        timeout: float | None = None,
        discount: float = BATCH_DISCOUNT,
    ) -> BatchResult:
        """:meth:`Batches.run`, awaited."""
        job = self._job(
            requests, endpoint, model, completion_window, metadata,
            poll_interval, max_poll_interval, timeout, discount,
        )  # fmt: skip
        return await _arun(job, self._client.clock)
