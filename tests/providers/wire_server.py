"""A small Anthropic- and Gemini-shaped HTTP server on 127.0.0.1, to record from.

It answers the Messages API (``POST /v1/messages``: text, tool use, streamed with the
full event sequence and ``event:`` names) and Gemini's ``generateContent`` /
``streamGenerateContent?alt=sse`` with bodies shaped as the real APIs send them, the
text derived from the prompt (a changed prompt, a changed answer). It keeps every
request it served (path, headers, body), so a test can prove a replay never reached
it and see which credentials the SDK sent. ``fail`` queues error replies
(status, headers, body) served before the normal answers.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["WireServer"]


def _prompt_anthropic(body: dict[str, Any]) -> str:
    out = []
    for m in body.get("messages", []):
        content = m.get("content")
        if isinstance(content, str):
            out.append(content)
        elif isinstance(content, list):
            out.extend(str(b.get("text", "")) for b in content if isinstance(b, dict))
    return " ".join(out)


def _prompt_gemini(body: dict[str, Any]) -> str:
    return " ".join(
        str(p.get("text", ""))
        for c in body.get("contents", [])
        for p in c.get("parts", [])
        if isinstance(p, dict)
    )


def _words(text: str) -> list[str]:
    parts = text.split(" ")
    return [p if i == 0 else " " + p for i, p in enumerate(parts)]


class _Handler(BaseHTTPRequestHandler):
    server: WireServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        n = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(n)
        self.server.requests.append({"path": self.path, "headers": dict(self.headers), "body": raw})
        if self.server.failures:
            status, headers, doc = self.server.failures.pop(0)
            return self._json(doc, status, headers)
        body = json.loads(raw) if raw else {}
        path = self.path.split("?", 1)[0]
        if path == "/v1/messages":
            return self._messages(body)
        if path.endswith(":generateContent"):
            return self._json(self._gemini(body, path))
        if path.endswith(":streamGenerateContent"):
            return self._sse(
                [(None, json.dumps(d)) for d in self._gemini_chunks(body, path)], "\r\n\r\n"
            )
        self._json({"error": {"message": f"no route {path}"}}, 404)

    # -- Anthropic ------------------------------------------------------------------

    def _messages(self, body: dict[str, Any]) -> None:
        model = body.get("model", "claude-test")
        text = "Echo: " + _prompt_anthropic(body)
        tools = body.get("tools") or []
        usage = {"input_tokens": len(_prompt_anthropic(body).split()) + 3, "output_tokens": 0}
        if tools:
            block: dict[str, Any] = {
                "type": "tool_use",
                "id": "toolu_01A09q90qw90lq917835lq9",
                "name": tools[0]["name"],
                "input": {"city": "Paris", "unit": "celsius"},
            }
            stop = "tool_use"
        else:
            block = {"type": "text", "text": text}
            stop = "end_turn"
        usage["output_tokens"] = len(text.split())
        message = {
            "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [block],
            "stop_reason": stop,
            "stop_sequence": None,
            "usage": usage,
        }
        if not body.get("stream"):
            return self._json(message, headers=[("request-id", "req_wire_01")])
        start = {
            **message,
            "content": [],
            "stop_reason": None,
            "usage": {**usage, "output_tokens": 1},
        }
        events: list[tuple[str | None, str]] = [
            ("message_start", json.dumps({"type": "message_start", "message": start}))
        ]
        empty = {**block, "input": {}} if block["type"] == "tool_use" else {**block, "text": ""}
        events.append(
            (
                "content_block_start",
                json.dumps({"type": "content_block_start", "index": 0, "content_block": empty}),
            )
        )
        events.append(("ping", json.dumps({"type": "ping"})))
        if block["type"] == "tool_use":
            args = json.dumps(block["input"])
            pieces = [args[: len(args) // 2], args[len(args) // 2 :]]
            deltas = [{"type": "input_json_delta", "partial_json": p} for p in pieces]
        else:
            deltas = [{"type": "text_delta", "text": w} for w in _words(text)]
        for d in deltas:
            events.append(
                (
                    "content_block_delta",
                    json.dumps({"type": "content_block_delta", "index": 0, "delta": d}),
                )
            )
        events.append(
            ("content_block_stop", json.dumps({"type": "content_block_stop", "index": 0}))
        )
        events.append(
            (
                "message_delta",
                json.dumps(
                    {
                        "type": "message_delta",
                        "delta": {"stop_reason": stop, "stop_sequence": None},
                        "usage": {"output_tokens": usage["output_tokens"]},
                    }
                ),
            )
        )
        events.append(("message_stop", json.dumps({"type": "message_stop"})))
        self._sse(events, "\n\n")

    # -- Gemini ---------------------------------------------------------------------

    @staticmethod
    def _model(path: str) -> str:
        return path.rsplit("/", 1)[-1].split(":", 1)[0]

    def _gemini(self, body: dict[str, Any], path: str) -> dict[str, Any]:
        prompt = _prompt_gemini(body)
        text = "Echo: " + prompt
        return {
            "candidates": [
                {
                    "content": {"parts": [{"text": text}], "role": "model"},
                    "finishReason": "STOP",
                    "index": 0,
                }
            ],
            "usageMetadata": {
                "promptTokenCount": len(prompt.split()),
                "candidatesTokenCount": len(text.split()),
                "totalTokenCount": len(prompt.split()) + len(text.split()),
            },
            "modelVersion": self._model(path),
            "responseId": "wire-resp-1",
        }

    def _gemini_chunks(self, body: dict[str, Any], path: str) -> Iterator[dict[str, Any]]:
        whole = self._gemini(body, path)
        words = _words(whole["candidates"][0]["content"]["parts"][0]["text"])
        for i, w in enumerate(words):
            cand: dict[str, Any] = {
                "content": {"parts": [{"text": w}], "role": "model"},
                "index": 0,
            }
            chunk: dict[str, Any] = {
                "candidates": [cand],
                "modelVersion": whole["modelVersion"],
                "responseId": whole["responseId"],
            }
            if i == len(words) - 1:
                cand["finishReason"] = "STOP"
                chunk["usageMetadata"] = whole["usageMetadata"]
            yield chunk

    # -- wire -----------------------------------------------------------------------

    def _json(
        self, doc: Any, status: int = 200, headers: list[tuple[str, str]] | None = None
    ) -> None:
        data = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        for k, v in headers or []:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _sse(self, events: list[tuple[str | None, str]], separator: str) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("cache-control", "no-cache")
        self.send_header("connection", "close")
        self.end_headers()
        newline = separator[: len(separator) // 2]
        for name, data in events:
            chunk = (f"event: {name}{newline}" if name else "") + f"data: {data}{separator}"
            self.wfile.write(chunk.encode())
            self.wfile.flush()
        self.close_connection = True


class WireServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: list[dict[str, Any]] = []
        self.failures: list[tuple[int, list[tuple[str, str]], Any]] = []
        self.keep: list[Any] = []
        """SDK clients the test uses, kept alive as long as the server."""
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def fail(self, status: int, doc: Any, headers: list[tuple[str, str]] | None = None) -> None:
        """Answer the next request with this error instead."""
        self.failures.append((status, headers or [], doc))

    def __enter__(self) -> WireServer:
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()


if __name__ == "__main__":  # serve until stopped, for re-recording the committed cassettes
    with WireServer() as srv:
        print(f"WIRE_URL={srv.base_url}", flush=True)
        threading.Event().wait()
