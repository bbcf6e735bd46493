"""A tiny OpenAI-compatible HTTP server on 127.0.0.1, for tests that need real sockets.

Answers chat completions and the Responses API, plain and streamed, with text
derived from the prompt so a changed prompt gives a changed answer. It counts the
requests it served, so a test can prove a replay never reached it.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def _answer(body: dict[str, Any]) -> str:
    if "messages" in body:
        prompt = " ".join(str(m.get("content", "")) for m in body["messages"])
    else:
        prompt = str(body.get("input", ""))
    return f"Echo: {prompt}"


def _words(text: str) -> list[str]:
    parts = text.split(" ")
    return [p if i == 0 else " " + p for i, p in enumerate(parts)]


class _Handler(BaseHTTPRequestHandler):
    server: LoopbackServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def end_headers(self) -> None:
        if self.server.extra_headers is not None:
            for name, value in self.server.extra_headers():
                self.send_header(name, value)
        super().end_headers()

    def do_POST(self) -> None:
        n = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(n)
        self.server.requests.append({"path": self.path, "headers": dict(self.headers), "body": raw})
        body = json.loads(raw) if raw else {}
        text = _answer(body)
        model = body.get("model", "loopback")
        path = self.path.split("?", 1)[0]
        if path.endswith("/chat/completions"):
            if body.get("stream"):
                return self._sse(self._chat_events(model, text))
            return self._json(self._chat(model, text))
        if path.endswith("/responses"):
            if body.get("stream"):
                return self._sse(self._responses_events(model, text))
            return self._json(self._response(model, text))
        self.send_error(404)

    def _json(self, doc: dict[str, Any]) -> None:
        data = json.dumps(doc).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.send_header("x-request-id", "req_loopback")
        self.end_headers()
        self.wfile.write(data)

    def _sse(self, events: list[tuple[str | None, str]]) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("cache-control", "no-cache")
        self.end_headers()
        for name, data in events:
            chunk = (f"event: {name}\n" if name else "") + f"data: {data}\n\n"
            self.wfile.write(chunk.encode())
            self.wfile.flush()
            if self.server.gap:
                time.sleep(self.server.gap)
        self.close_connection = True

    @staticmethod
    def _usage(text: str) -> dict[str, int]:
        c = len(text.split())
        return {"prompt_tokens": 5, "completion_tokens": c, "total_tokens": 5 + c}

    def _chat(self, model: str, text: str) -> dict[str, Any]:
        return {
            "id": "chatcmpl-loopback",
            "object": "chat.completion",
            "created": 1700000000,
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": "stop",
                }
            ],
            "usage": self._usage(text),
        }

    def _chat_events(self, model: str, text: str) -> list[tuple[str | None, str]]:
        base = {
            "id": "chatcmpl-loopback",
            "object": "chat.completion.chunk",
            "created": 1700000000,
            "model": model,
        }
        out: list[tuple[str | None, str]] = []
        out.append(
            (
                None,
                json.dumps(
                    {
                        **base,
                        "choices": [
                            {
                                "index": 0,
                                "delta": {"role": "assistant", "content": ""},
                                "finish_reason": None,
                            }
                        ],
                    }
                ),
            )
        )
        for w in _words(text):
            out.append(
                (
                    None,
                    json.dumps(
                        {
                            **base,
                            "choices": [
                                {"index": 0, "delta": {"content": w}, "finish_reason": None}
                            ],
                        }
                    ),
                )
            )
        out.append(
            (
                None,
                json.dumps(
                    {
                        **base,
                        "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
                        "usage": self._usage(text),
                    }
                ),
            )
        )
        out.append((None, "[DONE]"))
        return out

    def _response(self, model: str, text: str, status: str = "completed") -> dict[str, Any]:
        c = len(text.split())
        return {
            "id": "resp_loopback",
            "object": "response",
            "created_at": 1700000000,
            "status": status,
            "model": model,
            "output": [
                {
                    "type": "message",
                    "id": "msg_loopback",
                    "status": "completed",
                    "role": "assistant",
                    "content": [{"type": "output_text", "text": text, "annotations": []}],
                }
            ],
            "parallel_tool_calls": True,
            "tool_choice": "auto",
            "tools": [],
            "usage": {
                "input_tokens": 5,
                "input_tokens_details": {"cached_tokens": 0},
                "output_tokens": c,
                "output_tokens_details": {"reasoning_tokens": 0},
                "total_tokens": 5 + c,
            },
        }

    def _responses_events(self, model: str, text: str) -> list[tuple[str | None, str]]:
        events: list[tuple[str | None, str]] = []
        seq = 0

        def add(kind: str, **payload: Any) -> None:
            nonlocal seq
            events.append((kind, json.dumps({"type": kind, "sequence_number": seq, **payload})))
            seq += 1

        add(
            "response.created",
            response=self._response(model, "", status="in_progress")
            | {"output": [], "usage": None},
        )
        for w in _words(text):
            add(
                "response.output_text.delta",
                item_id="msg_loopback",
                output_index=0,
                content_index=0,
                delta=w,
                logprobs=[],
            )
        add(
            "response.output_text.done",
            item_id="msg_loopback",
            output_index=0,
            content_index=0,
            text=text,
            logprobs=[],
        )
        add("response.completed", response=self._response(model, text))
        return events


class LoopbackServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, gap: float = 0.0) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: list[dict[str, Any]] = []
        self.gap = gap
        self.extra_headers: Callable[[], list[tuple[str, str]]] | None = None
        """Headers added to every response of this server (called once per response)."""
        self._thread = threading.Thread(target=self.serve_forever, args=(0.02,), daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    def start(self) -> LoopbackServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()

    def __enter__(self) -> LoopbackServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


if __name__ == "__main__":  # pragma: no cover - manual use
    with LoopbackServer() as s:
        print(s.base_url)
        threading.Event().wait()
