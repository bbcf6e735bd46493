"""The fake provider's Files and Batch APIs: ``/files`` and ``/batches``.

A batch's input file is checked like the real service checks it (JSONL, one request a
line, unique ``custom_id``, the batch's endpoint, size limits); a bad file gives a
``failed`` batch with the errors listed. Each request is answered by the fake itself
(scripted replies apply), when the batch completes on the fake's clock: ``duration``
seconds after it was created. ``llm_fake.batches.configure(...)`` makes a batch expire
part-way or fail some requests, so a batch job is tested offline in milliseconds.
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .._errors import ConfigError
from .._flow import Exchange, Outcome, Reply
from ._script import check_options
from ._shapes import error_body

if TYPE_CHECKING:
    from ._provider import FakeProvider

__all__ = ["MAX_BATCH_BYTES", "MAX_BATCH_REQUESTS", "FakeBatches", "serves"]

MAX_BATCH_REQUESTS = 50_000
"""The real service's limit of requests in one batch."""
MAX_BATCH_BYTES = 200 * 1024 * 1024
"""The real service's limit of a batch input file's size."""

_ROUTES = (
    (re.compile(r"/files/?$"), "files"),
    (re.compile(r"/files/([^/]+)/content/?$"), "file_content"),
    (re.compile(r"/files/([^/]+)/?$"), "file"),
    (re.compile(r"/batches/?$"), "batches"),
    (re.compile(r"/batches/([^/]+)/cancel/?$"), "cancel"),
    (re.compile(r"/batches/([^/]+)/?$"), "batch"),
)
_ENDPOINTS = ("/v1/chat/completions", "/v1/responses", "/v1/embeddings", "/v1/completions")
_OPTIONS = ("duration", "expire_after", "fail", "max_requests", "max_bytes")

Fail = Callable[[str, dict[str, Any]], "tuple[int, str] | None"]


def _route(exchange: Exchange) -> tuple[str, str | None] | None:
    for pattern, name in _ROUTES:
        m = pattern.search(exchange.path)
        if m:
            return name, (m.group(1) if m.groups() else None)
    return None


def serves(exchange: Exchange) -> bool:
    """Whether the request is for the Files or Batch API."""
    return _route(exchange) is not None


@dataclass
class _File:
    id: str
    filename: str
    purpose: str
    data: bytes
    created_at: int

    def doc(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "file",
            "bytes": len(self.data),
            "created_at": self.created_at,
            "filename": self.filename,
            "purpose": self.purpose,
            "status": "processed",
        }


@dataclass
class _Batch:
    id: str
    input_file_id: str
    endpoint: str
    completion_window: str
    metadata: dict[str, Any] | None
    created: float
    created_at: int
    status: str = "validating"
    errors: list[dict[str, Any]] | None = None
    times: dict[str, int] = field(default_factory=dict)
    output_file_id: str | None = None
    error_file_id: str | None = None
    counts: dict[str, int] = field(
        default_factory=lambda: {"total": 0, "completed": 0, "failed": 0}
    )
    usage: dict[str, Any] | None = None
    lines: list[dict[str, Any]] = field(default_factory=list)

    def doc(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "id": self.id,
            "object": "batch",
            "endpoint": self.endpoint,
            "errors": None if not self.errors else {"object": "list", "data": self.errors},
            "input_file_id": self.input_file_id,
            "completion_window": self.completion_window,
            "status": self.status,
            "output_file_id": self.output_file_id,
            "error_file_id": self.error_file_id,
            "created_at": self.created_at,
            "expires_at": self.created_at + 24 * 3600,
            "request_counts": dict(self.counts),
            "metadata": self.metadata,
        }
        for name in (
            "in_progress",
            "finalizing",
            "completed",
            "failed",
            "expired",
            "cancelling",
            "cancelled",
        ):
            doc[f"{name}_at"] = self.times.get(name)
        if self.usage is not None:
            doc["usage"] = self.usage
        return doc


class FakeBatches:
    """The fake's Files and Batch APIs: ``llm_fake.batches``.

    ``configure(duration=60.0, expire_after=None, fail=None)``: a batch completes
    ``duration`` seconds (on the fake's clock) after it is created; with
    ``expire_after=N`` it expires instead, after answering N requests (the others fail
    with ``batch_expired``); ``fail`` maps a ``custom_id`` to ``(status, message)``, or
    is a function ``(custom_id, body) -> (status, message) | None``, for requests that
    fail on their own.
    """

    def __init__(self, provider: FakeProvider) -> None:
        self._provider = provider
        self._lock = threading.Lock()
        self.files: dict[str, _File] = {}
        self.batches: dict[str, _Batch] = {}
        self.duration = 60.0
        self.expire_after: int | None = None
        self.fail: Mapping[str, tuple[int, str]] | Fail | None = None
        self.max_requests = MAX_BATCH_REQUESTS
        self.max_bytes = MAX_BATCH_BYTES
        self.polls = 0
        """``GET /batches/{id}`` requests seen: what a polling loop cost."""

    def configure(self, **options: Any) -> FakeBatches:
        check_options(
            "llm_fake.batches.configure()",
            {k: v for k, v in options.items() if k not in _OPTIONS},
            _OPTIONS,
        )
        duration = options.get("duration", self.duration)
        if isinstance(duration, bool) or not isinstance(duration, int | float) or duration < 0:
            raise ConfigError(
                f"llm_fake.batches.configure(duration={duration!r}): seconds until a batch "
                "completes, 0 or more.\nFix: e.g. duration=120."
            )
        for name in ("expire_after", "max_requests", "max_bytes"):
            value = options.get(name, getattr(self, name))
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value < 0
            ):
                raise ConfigError(
                    f"llm_fake.batches.configure({name}={value!r}): a whole number, 0 or more."
                    f"\nFix: e.g. {name}=2."
                )
            setattr(self, name, value)
        fail = options.get("fail", self.fail)
        if fail is not None and not callable(fail) and not isinstance(fail, Mapping):
            raise ConfigError(
                f"llm_fake.batches.configure(fail={fail!r}): a dict custom_id -> (status, "
                "message), or a function (custom_id, body) -> (status, message) or None.\n"
                'Fix: e.g. fail={"req-2": (400, "bad model")}.'
            )
        self.duration = float(duration)
        self.fail = fail
        return self

    # -- HTTP -------------------------------------------------------------------

    def handle(self, exchange: Exchange) -> Outcome:
        route = _route(exchange)
        assert route is not None
        name, ident = route
        method = exchange.method.upper()
        if name == "files" and method == "POST":
            return self._upload(exchange)
        if name == "file" and method == "GET":
            f = self.files.get(ident or "")
            return self._json(f.doc()) if f else self._missing("file", ident)
        if name == "file_content" and method == "GET":
            f = self.files.get(ident or "")
            if f is None:
                return self._missing("file", ident)
            return Reply(200, [("content-type", "application/octet-stream")], body=f.data)
        if name == "batches" and method == "POST":
            return self._create(exchange)
        if name == "batch" and method == "GET":
            with self._lock:
                self.polls += 1
            batch = self.batches.get(ident or "")
            if batch is None:
                return self._missing("batch", ident)
            self._advance(batch)
            return self._json(batch.doc())
        if name == "cancel" and method == "POST":
            batch = self.batches.get(ident or "")
            if batch is None:
                return self._missing("batch", ident)
            self._advance(batch)
            if batch.status in ("validating", "in_progress"):
                batch.status = "cancelled"
                now = self._now()
                batch.times.update(cancelling=now, cancelled=now)
                self._finish(
                    batch, answered=0, reason=("batch_cancelled", "The batch was cancelled.")
                )
            return self._json(batch.doc())
        return self._error(405, f"{method} {exchange.path} is not served by llm_fake", None, None)

    def _now(self) -> int:
        return int(self._provider.clock.now().timestamp())

    def _json(self, doc: dict[str, Any], status: int = 200) -> Reply:
        return Reply(status, [("content-type", "application/json")], body=json.dumps(doc).encode())

    def _error(self, status: int, message: str, param: str | None, code: str | None) -> Reply:
        return self._json(error_body(message, param=param, code=code), status)

    def _missing(self, kind: str, ident: str | None) -> Reply:
        return self._error(404, f"No such {kind}: '{ident}'", "id", None)

    def _upload(self, exchange: Exchange) -> Reply:
        ctype = exchange.header("content-type") or ""
        raw = b"Content-Type: " + ctype.encode() + b"\r\nMIME-Version: 1.0\r\n\r\n" + exchange.body
        msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(raw)
        fields: dict[str, Any] = {}
        filename = "upload"
        for part in msg.iter_parts() if msg.is_multipart() else ():
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True)
            if part.get_filename():
                filename = str(part.get_filename())
            fields[str(name)] = payload
        data, purpose = fields.get("file"), fields.get("purpose")
        if not isinstance(data, bytes) or not isinstance(purpose, bytes):
            return self._error(
                400, "a file upload needs the 'file' and 'purpose' fields", "file", None
            )
        if len(data) > self.max_bytes:
            return self._error(
                400,
                f"File is too large: {len(data)} bytes, the limit is {self.max_bytes}",
                "file",
                "file_too_large",
            )
        with self._lock:
            ident = self._add_file(filename, purpose.decode(), data, self._now())
        return self._json(self.files[ident].doc())

    def _create(self, exchange: Exchange) -> Reply:
        body = exchange.json if isinstance(exchange.json, dict) else {}
        for key in ("input_file_id", "endpoint", "completion_window"):
            if not isinstance(body.get(key), str):
                return self._error(
                    400, f"Missing required parameter: '{key}'.", key, "missing_required_parameter"
                )
        if body["endpoint"] not in _ENDPOINTS:
            return self._error(
                400, f"Invalid endpoint: '{body['endpoint']}'.", "endpoint", "invalid_value"
            )
        source = self.files.get(body["input_file_id"])
        if source is None:
            return self._missing("file", body["input_file_id"])
        with self._lock:
            ident = f"batch_fake{len(self.batches) + 1:04d}"
            batch = _Batch(
                ident,
                source.id,
                body["endpoint"],
                body["completion_window"],
                body.get("metadata"),
                self._provider.clock.monotonic(),
                self._now(),
            )
            self.batches[ident] = batch
        errors = self._validate(source, batch)
        if errors:
            batch.status = "failed"
            batch.errors = errors
            batch.times["failed"] = self._now()
        return self._json(batch.doc())

    def _validate(self, source: _File, batch: _Batch) -> list[dict[str, Any]]:
        errors: list[dict[str, Any]] = []
        if source.purpose != "batch":
            return [
                {
                    "code": "invalid_file_purpose",
                    "message": f"The file's purpose is '{source.purpose}', not 'batch'.",
                    "line": None,
                    "param": "input_file_id",
                }
            ]
        seen: set[str] = set()
        lines = [
            ln for ln in source.data.decode("utf-8", errors="replace").splitlines() if ln.strip()
        ]
        if len(lines) > self.max_requests:
            return [
                {
                    "code": "too_many_requests",
                    "message": f"The batch has {len(lines)} requests; the limit is {self.max_requests}.",
                    "line": None,
                    "param": None,
                }
            ]
        for n, line in enumerate(lines, 1):
            try:
                doc = json.loads(line)
            except ValueError:
                errors.append(
                    {
                        "code": "invalid_json_line",
                        "message": "This line is not valid JSON.",
                        "line": n,
                        "param": None,
                    }
                )
                continue
            cid = doc.get("custom_id") if isinstance(doc, dict) else None
            if not isinstance(cid, str):
                errors.append(
                    {
                        "code": "missing_required_parameter",
                        "message": "Missing 'custom_id'.",
                        "line": n,
                        "param": "custom_id",
                    }
                )
            elif cid in seen:
                errors.append(
                    {
                        "code": "duplicate_custom_id",
                        "message": f"The custom_id '{cid}' is used twice.",
                        "line": n,
                        "param": "custom_id",
                    }
                )
            else:
                seen.add(cid)
            if isinstance(doc, dict) and doc.get("url") != batch.endpoint:
                errors.append(
                    {
                        "code": "mismatched_endpoint",
                        "message": f"The url '{doc.get('url')}' is not the batch's endpoint '{batch.endpoint}'.",
                        "line": n,
                        "param": "url",
                    }
                )
            if isinstance(doc, dict):
                batch.lines.append(doc)
        batch.counts["total"] = len(lines)
        return errors

    # -- the batch's life on the clock ------------------------------------------

    def _advance(self, batch: _Batch) -> None:
        with self._lock:
            if batch.status == "validating":
                batch.status = "in_progress"
                batch.times["in_progress"] = self._now()
            if batch.status != "in_progress":
                return
            if self._provider.clock.monotonic() - batch.created < self.duration:
                return
            now = self._now()
            batch.times["finalizing"] = now
            if self.expire_after is not None and self.expire_after < len(batch.lines):
                batch.status = "expired"
                batch.times["expired"] = now
                self._finish(
                    batch,
                    self.expire_after,
                    (
                        "batch_expired",
                        "This request could not be executed before the completion window expired.",
                    ),
                )
            else:
                batch.status = "completed"
                batch.times["completed"] = now
                self._finish(batch, len(batch.lines), None)

    def _failure(self, cid: str, body: dict[str, Any]) -> tuple[int, str] | None:
        fail = self.fail
        if fail is None:
            return None
        if isinstance(fail, Mapping):
            return fail.get(cid)
        return fail(cid, body)

    def _finish(self, batch: _Batch, answered: int, reason: tuple[str, str] | None) -> None:
        out: list[str] = []
        err: list[str] = []
        tokens = {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0}
        for n, line in enumerate(batch.lines):
            cid = str(line.get("custom_id"))
            raw = line.get("body")
            body: dict[str, Any] = raw if isinstance(raw, dict) else {}
            rid = f"batch_req_fake{n + 1:04d}"
            if n >= answered:
                assert reason is not None
                err.append(
                    json.dumps(
                        {
                            "id": rid,
                            "custom_id": cid,
                            "response": None,
                            "error": {"code": reason[0], "message": reason[1]},
                        }
                    )
                )
                continue
            failed = self._failure(cid, body)
            if failed is not None:
                status, message = failed
                doc: Any = {
                    "error": {
                        "message": message,
                        "type": "invalid_request_error",
                        "param": None,
                        "code": None,
                    }
                }
            else:
                status, doc = self._answer(batch.endpoint, body)
            record = {
                "id": rid,
                "custom_id": cid,
                "response": {"status_code": status, "request_id": f"req_{rid}", "body": doc},
                "error": None,
            }
            if status == 200:
                out.append(json.dumps(record))
                usage = doc.get("usage") if isinstance(doc, dict) else None
                if isinstance(usage, dict):
                    i = int(usage.get("prompt_tokens", usage.get("input_tokens", 0)) or 0)
                    o = int(usage.get("completion_tokens", usage.get("output_tokens", 0)) or 0)
                    tokens["input_tokens"] += i
                    tokens["output_tokens"] += o
                    tokens["total_tokens"] += i + o
            else:
                err.append(json.dumps(record))
        batch.counts.update(completed=len(out), failed=len(err))
        batch.usage = {
            **tokens,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens_details": {"reasoning_tokens": 0},
        }
        now = self._now()
        if out:
            data = ("\n".join(out) + "\n").encode()
            batch.output_file_id = self._add_file(
                f"{batch.id}_output.jsonl", "batch_output", data, now
            )
        if err:
            data = ("\n".join(err) + "\n").encode()
            batch.error_file_id = self._add_file(
                f"{batch.id}_error.jsonl", "batch_output", data, now
            )

    def _add_file(self, filename: str, purpose: str, data: bytes, now: int) -> str:
        """Store a file (under the lock); its id."""
        ident = f"file-fake{len(self.files) + 1:04d}"
        self.files[ident] = _File(ident, filename, purpose, data, now)
        return ident

    def _answer(self, endpoint: str, body: dict[str, Any]) -> tuple[int, Any]:
        """One request of the batch, answered by the fake itself (scripts apply)."""
        exchange = Exchange(
            "POST",
            f"https://fake.invalid{endpoint}",
            [("content-type", "application/json")],
            json.dumps({**body, "stream": False}).encode(),
            "batch",
        )

        def nowhere(ex: Exchange) -> Outcome:
            raise ConfigError(f"llm_fake does not serve {ex.path} inside a batch.")

        # a strict miss raises here, on the poll that completes the batch: never swallowed
        reply = self._provider.handle(exchange, nowhere)
        assert isinstance(reply, Reply)
        return reply.status, json.loads(reply.body)

    def __repr__(self) -> str:
        return f"FakeBatches(files={len(self.files)}, batches={len(self.batches)}, duration={self.duration})"
