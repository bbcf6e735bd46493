"""The loopback server: the request chain on a real socket, for clients in other processes.

An HTTP/1.1 server on 127.0.0.1 (a free port) turns each request into an
:class:`Exchange` (``library="server"``), asks the :data:`router` (faults, cassettes,
the fake provider) for the outcome, and writes it on the socket: status, headers,
body; streams event by event as HTTP chunks, flushed one by one. Transport failures
are real: a reset is a TCP RST, a stall is a silent socket, a connect failure is a
connection closed before any response.

One thread accepts; each connection gets its own thread (keep-alive: several
requests in turn on one connection). ``stop()`` wakes the accept loop through a
socket pair (no polling interval), shuts every open connection down and joins the
threads.
"""

from __future__ import annotations

import contextlib
import http.client
import io
import json
import math
import select
import selectors
import socket
import struct
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any, cast
from urllib.parse import urlsplit

from .._capture import Capture
from .._clock import SystemClock, system_clock
from .._errors import ConfigError, NetworkBlocked, ReplayInterrupt
from .._flow import Exchange, Forward, Next, Outcome, Reply, TransportFailure, router
from .._settings import DUMMY_KEY
from ._common import forwarding

__all__ = ["LLMServer"]

_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "transfer-encoding",
        "content-length",
        "content-encoding",
        "te",
        "trailer",
        "upgrade",
        "proxy-connection",
    }
)
_SLICE = 0.02
"""Real waits are taken in slices this long, to notice a client that left or a stop."""
_JOIN_TIMEOUT = 5.0


class LLMServer:
    """A real HTTP server on 127.0.0.1 serving the request chain; ``base_url`` ends in ``/v1``.

    ``with LLMServer() as server: subprocess.run(..., env={**os.environ, **server.env})``

    ``upstream`` (e.g. the provider's real base URL) is where requests go when the
    chain passes them to the network (recording a cassette, ``--llm-allow-network``);
    without it such a request is answered with a 502 explaining why.
    """

    def __init__(self, *, port: int = 0, upstream: str | None = None, **unknown: object) -> None:
        if unknown:
            from ..fake._script import check_options

            check_options("LLMServer()", unknown, ("port", "upstream"))
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            raise ConfigError(
                f"LLMServer(): port={port!r} is not a TCP port.\n"
                "Fix: leave it out (a free port is chosen) or pass 1024..65535."
            )
        if upstream is not None:
            parts = urlsplit(upstream)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ConfigError(
                    f"LLMServer(): upstream={upstream!r} is not an http(s) URL.\n"
                    "Fix: pass the provider's base URL, e.g. upstream='https://api.openai.com/v1'."
                )
        self.upstream = upstream.rstrip("/") if upstream else None
        self._port = port
        self._sock: socket.socket | None = None
        self._wake_r: socket.socket | None = None
        self._wake_w: socket.socket | None = None
        self._accept_thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._connections: dict[socket.socket, threading.Thread] = {}
        self._stopping = threading.Event()
        self._stack: contextlib.ExitStack | None = None
        self.exchanges: list[Exchange] = []
        """Every request the server received, in order of arrival."""
        self.accepted = 0
        """How many TCP connections the server accepted (keep-alive reuses one)."""
        self.errors: list[str] = []
        """What went wrong inside the server (a miss, a handler's exception): also sent as a 500."""

    # -- addresses ------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._sock is None:
            raise ConfigError(
                "LLMServer is not running, so it has no port yet.\n"
                "Fix: call .start() or use it as a context manager first."
            )
        return int(self._sock.getsockname()[1])

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/v1``: what an OpenAI client takes as its base URL."""
        return f"{self.url}/v1"

    @property
    def env(self) -> dict[str, str]:
        """Environment for a subprocess: each SDK's base URL variable pointing here
        (``OPENAI_BASE_URL``, ``ANTHROPIC_BASE_URL``, ``GOOGLE_GEMINI_BASE_URL``) and a
        dummy key for each (``OPENAI_API_KEY``, ``ANTHROPIC_API_KEY``, ``GEMINI_API_KEY``)."""
        return {
            "OPENAI_BASE_URL": self.base_url,
            "OPENAI_API_KEY": DUMMY_KEY,
            "ANTHROPIC_BASE_URL": self.url,
            "ANTHROPIC_API_KEY": DUMMY_KEY,
            "GOOGLE_GEMINI_BASE_URL": self.url,
            "GEMINI_API_KEY": DUMMY_KEY,
        }

    def _netlocs(self) -> frozenset[str]:
        port = self.port
        return frozenset({f"127.0.0.1:{port}", f"localhost:{port}"})

    def blocked_message(self, message: str) -> str:
        """The router's "blocked" message with the fixes that work through this server:
        without an upstream, neither recording nor --llm-allow-network can reach a provider."""
        what = message.split("\nFix:", 1)[0]
        if self.upstream is None:
            fix = (
                "Fix: answer it with llm_fake (llm_fake.add(...)) or llm_faults, or replay it "
                "from a cassette (@pytest.mark.llm_cassette); this server has no upstream, so "
                "--llm-record and --llm-allow-network cannot reach a provider through it "
                "(record through LLMServer(upstream='https://api.openai.com/v1'))."
            )
        else:
            fix = (
                "Fix: answer it with llm_fake (llm_fake.add(...)), or give the test a cassette "
                "(@pytest.mark.llm_cassette) and record it through the upstream with "
                "--llm-record=once, or pass --llm-allow-network to let it through unrecorded."
            )
        return f"{what}\n{fix}"

    def exchange_url(self, path: str) -> str:
        """The URL the chain sees: the upstream's when there is one (cassettes match on it)."""
        if self.upstream is None:
            return f"{self.url}{path}"
        up = urlsplit(self.upstream)
        if path == "/v1" or path.startswith(("/v1/", "/v1?")):
            return f"{up.scheme}://{up.netloc}{up.path.rstrip('/')}{path[3:]}"
        return f"{up.scheme}://{up.netloc}{path}"

    # -- lifecycle ------------------------------------------------------------

    def start(self) -> LLMServer:
        if self._sock is not None:
            raise ConfigError(
                "this LLMServer is already running.\nFix: stop() it first, or make another one."
            )
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.bind(("127.0.0.1", self._port))
            sock.listen(64)
        except OSError as exc:
            sock.close()
            raise ConfigError(
                f"LLMServer cannot listen on 127.0.0.1:{self._port}: {exc}.\n"
                "Fix: leave port out to get a free port."
            ) from None
        sock.setblocking(False)
        self._sock = sock
        self._wake_r, self._wake_w = socket.socketpair()
        self._stopping.clear()
        stack = contextlib.ExitStack()
        stack.enter_context(router.activate(_Loopthrough(self._netlocs())))
        self._stack = stack
        self._accept_thread = threading.Thread(
            target=self._serve,
            args=(sock, self._wake_r),
            name=f"pytest-llm-server:{self.port}",
            daemon=True,
        )
        self._accept_thread.start()
        return self

    def stop(self) -> None:
        """Stop accepting, drop open connections, join every thread (a stalled reply ends too)."""
        if self._sock is None:
            return
        self._stopping.set()
        if self._wake_w is not None:
            with contextlib.suppress(OSError):
                self._wake_w.send(b"x")
        if self._accept_thread is not None:
            self._accept_thread.join(_JOIN_TIMEOUT)
        with self._lock:
            open_connections = list(self._connections.items())
        for conn, _ in open_connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        for _, thread in open_connections:
            thread.join(_JOIN_TIMEOUT)
        if self._stack is not None:
            self._stack.close()
            self._stack = None
        for s in (self._sock, self._wake_r, self._wake_w):
            if s is not None:
                s.close()
        self._sock = self._wake_r = self._wake_w = None
        self._accept_thread = None

    @property
    def running(self) -> bool:
        return self._sock is not None

    @property
    def threads(self) -> list[threading.Thread]:
        """The server's live threads (the accept loop and one per open connection)."""
        with self._lock:
            out = [t for t in self._connections.values() if t.is_alive()]
        if self._accept_thread is not None and self._accept_thread.is_alive():
            out.append(self._accept_thread)
        return out

    def __enter__(self) -> LLMServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        if self._sock is None:
            return "<LLMServer stopped>"
        return f"<LLMServer {self.base_url} {len(self.exchanges)} requests>"

    # -- accepting --------------------------------------------------------------

    def _serve(self, listener: socket.socket, wake: socket.socket) -> None:
        with selectors.DefaultSelector() as sel:
            sel.register(listener, selectors.EVENT_READ)
            sel.register(wake, selectors.EVENT_READ)
            while not self._stopping.is_set():
                for key, _ in sel.select():
                    if key.fileobj is wake:
                        return
                    try:
                        conn, addr = listener.accept()
                    except (BlockingIOError, InterruptedError):
                        continue
                    except OSError:
                        return
                    conn.setblocking(True)
                    thread = threading.Thread(
                        target=self._connection,
                        args=(conn, addr),
                        name=f"pytest-llm-server:{addr[1]}",
                        daemon=True,
                    )
                    with self._lock:
                        self._connections[conn] = thread
                        self.accepted += 1
                    thread.start()

    def _connection(self, conn: socket.socket, addr: Any) -> None:
        try:
            _Handler(conn, addr, self)
        except OSError:
            pass  # the client went away mid-request
        finally:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_WR)
            conn.close()
            with self._lock:
                self._connections.pop(conn, None)


class _Loopthrough:
    """First on the chain: in-process requests to the server go over its real socket.

    Without it, the patched httpx transports would answer them in-process and the
    server (and its real resets and stalls) would never see them.
    """

    order = 0

    def __init__(self, netlocs: frozenset[str]) -> None:
        self.netlocs = netlocs

    def handle(self, exchange: Exchange, nxt: Next) -> Outcome:
        if exchange.library != "server" and urlsplit(exchange.url).netloc in self.netlocs:
            return Forward()
        return nxt(exchange)

    def __repr__(self) -> str:
        return f"<LLMServer loop-through {sorted(self.netlocs)}>"


def _provider_of(exchange: Exchange) -> str:
    from ..faults._provider_shapes import provider_of

    return provider_of(exchange)


class _Gone(Exception):
    """The client left, or the server is stopping: stop writing this reply."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def __init__(self, request: socket.socket, client_address: Any, server: LLMServer) -> None:
        self.llm = server
        super().__init__(request, client_address, cast(Any, server))

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def version_string(self) -> str:
        return "pytest-llm"

    # every method goes to the chain
    def do_GET(self) -> None:
        self._serve_one()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_GET

    # -- one request ----------------------------------------------------------

    def _serve_one(self) -> None:
        body = self._read_body()
        if body is None:
            return
        headers = list(self.headers.items())
        exchange = Exchange(self.command, self.llm.exchange_url(self.path), headers, body, "server")
        self._provider = _provider_of(exchange)
        with self.llm._lock:
            self.llm.exchanges.append(exchange)
        try:
            outcome = router.dispatch(exchange)
        except NetworkBlocked as exc:
            self._internal_error(self.llm.blocked_message(str(exc)))
            return
        except ReplayInterrupt as exc:
            self._internal_error(str(exc))
            return
        except Exception as exc:
            self._internal_error(
                f"pytest-llm's server could not answer {exchange.method} {exchange.path}: "
                f"a handler raised {type(exc).__name__}: {exc}"
            )
            return
        try:
            if isinstance(outcome, Forward):
                self._forward(exchange, outcome)
            elif isinstance(outcome, TransportFailure):
                self._fail_before_response(outcome)
            else:
                self._write(outcome)
        except (_Gone, OSError):
            self.close_connection = True
        except ReplayInterrupt as exc:  # e.g. a reply's own parts() gave up
            with self.llm._lock:
                self.llm.errors.append(str(exc))
            self.close_connection = True

    def _read_body(self) -> bytes | None:
        te = (self.headers.get("transfer-encoding") or "").lower()
        try:
            if "chunked" in te:
                data = b""
                while True:
                    line = self.rfile.readline(65537)
                    size = int(line.split(b";")[0].strip(), 16)
                    if size == 0:
                        while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                            pass
                        return data
                    data += self.rfile.read(size)
                    self.rfile.readline(65537)
            length = int(self.headers.get("content-length") or 0)
            if length < 0:
                raise ValueError(length)
            return self.rfile.read(length) if length else b""
        except ValueError:
            self.send_error(400, "bad request body framing")
            self.close_connection = True
            return None

    def _internal_error(self, message: str) -> None:
        """A miss or a broken handler: a 500 the SDK will not retry, and an error for teardown."""
        try:
            self._error_reply(500, message, "pytest_llm_no_reply", indent=2)
        except (_Gone, OSError):
            self.close_connection = True

    def _error_reply(self, status: int, message: str, code: str | None, indent: int | None) -> None:
        """An error in the shape of the request's provider that its SDK will not retry;
        the message is kept for teardown.

        OpenAI and Anthropic: the status with ``x-should-retry: false`` (their SDKs obey
        it). Gemini's SDK retries 5xx by status alone (when retries are on), so it gets
        400 ``FAILED_PRECONDITION``, which it never retries.
        """
        with self.llm._lock:
            self.llm.errors.append(message)
        doc: dict[str, Any]
        provider = getattr(self, "_provider", "openai")
        if provider == "anthropic":
            doc = {"type": "error", "error": {"type": "api_error", "message": message}}
        elif provider == "gemini":
            status = 400
            doc = {"error": {"code": 400, "message": message, "status": "FAILED_PRECONDITION"}}
        else:
            doc = {
                "error": {
                    "message": message,
                    "type": "pytest_llm_error",
                    "param": None,
                    "code": code,
                }
            }
        body = json.dumps(doc, indent=indent).encode()
        headers = [("content-type", "application/json"), ("x-should-retry", "false")]
        self._write(Reply(status, headers, body=body))

    # -- writing a reply --------------------------------------------------------

    def _write(self, reply: Reply) -> None:
        # parts() only says what to send and how long to wait first; the waits are ours.
        parts = list(reply.parts())
        if reply.delay:
            self._pause(reply.delay)
        chunked = reply.events is not None or reply.failure is not None
        bodyless = self.command == "HEAD" or reply.status in (204, 304) or reply.status < 200
        self.send_response_only(reply.status)
        for name, value in reply.headers:
            if name.lower() not in _HOP_BY_HOP:
                self.send_header(name, value)
        if not bodyless:
            if chunked:
                self.send_header("transfer-encoding", "chunked")
            else:
                self.send_header("content-length", str(sum(len(p.data) for p in parts)))
        if self.close_connection:
            self.send_header("connection", "close")
        self.end_headers()
        if bodyless:
            return
        for i, part in enumerate(parts):
            if part.delay:
                self._pause(part.delay)
            last = i == len(parts) - 1
            self._send(part.data, chunked, end=chunked and last and reply.failure is None)
        if reply.failure is not None:
            self._fail_mid_body(reply.failure)
        elif chunked and not parts:
            self.wfile.write(b"0\r\n\r\n")

    def _send(self, data: bytes, chunked: bool, *, end: bool = False) -> None:
        """One write a part, flushed; the last part goes out with the terminating chunk."""
        if not chunked:
            self.wfile.write(data)
            return
        out = b"%x\r\n%s\r\n" % (len(data), data) if data else b""
        self.wfile.write(out + (b"0\r\n\r\n" if end else b""))

    # -- failures on the real socket --------------------------------------------

    def _fail_start(self, failure: TransportFailure) -> bool:
        """Close after this; a timeout holds the socket silent (``False``: nothing more)."""
        self.close_connection = True
        if failure.kind in ("connect_timeout", "read_timeout"):
            self._hold(failure.delay)
            return False
        if failure.delay:
            self._pause(failure.delay)
        return True

    def _fail_before_response(self, failure: TransportFailure) -> None:
        if not self._fail_start(failure):
            return
        if failure.kind == "read_error":
            self._reset()
        elif failure.kind == "remote_protocol":
            self.wfile.write(b"NOT-HTTP pytest-llm broke the protocol on purpose\r\n\r\n")
        # connect_error: the connection closes without a response

    def _fail_mid_body(self, failure: TransportFailure) -> None:
        if not self._fail_start(failure):
            return
        if failure.kind == "remote_protocol":
            self.wfile.write(b"zz\r\nnot a chunk\r\n")
            return
        self._reset()

    def _reset(self) -> None:
        """A real TCP RST: linger 0, then close."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        for f in (self.wfile, self.rfile):
            with contextlib.suppress(OSError):
                f.close()
        self.connection.close()  # the files held the last references: this closes the fd
        # BaseHTTPRequestHandler flushes and closes them after every request: give it sinks.
        self.wfile = io.BytesIO()
        self.rfile = io.BytesIO()

    # -- waiting ----------------------------------------------------------------

    def _pause(self, seconds: float) -> None:
        """Wait on the router's clock; real waits end early if the client left or we stop.

        Under a virtual clock the wait is recorded and returns at once: the client in
        the other process lives on real time and simply gets the bytes sooner.
        """
        if math.isinf(seconds):
            self._hold(0)  # forever, on a real socket: until the client gives up
        clock = router.clock
        if not isinstance(clock, SystemClock):
            clock.sleep(seconds)
            if self.llm._stopping.is_set():
                raise _Gone
            return
        end = clock.monotonic() + seconds
        while True:
            if self.llm._stopping.is_set() or self._client_gone():
                raise _Gone
            left = end - clock.monotonic()
            if left <= 0:
                return
            clock.sleep(min(left, _SLICE))

    def _hold(self, seconds: float) -> None:
        """Say nothing: for ``seconds``, or (0) until the client gives up or the server stops."""
        if seconds > 0:
            self._pause(seconds)
            return
        while not (self.llm._stopping.is_set() or self._client_gone()):
            system_clock.sleep(_SLICE)  # the client's own timeout is real time
        raise _Gone

    def _client_gone(self) -> bool:
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            if not readable:
                return False
            return bool(self.connection.recv(1, socket.MSG_PEEK) == b"")
        except (OSError, ValueError):
            return True

    # -- the real network (recording through the server) ------------------------

    def _forward(self, exchange: Exchange, fwd: Forward) -> None:
        upstream = self.llm.upstream
        if upstream is None:
            message = (
                f"pytest-llm's server was asked to send {exchange.method} {exchange.path} to the "
                "real network (recording or --llm-allow-network), but it has no upstream.\n"
                "Fix: LLMServer(upstream='https://api.openai.com/v1') (the provider's base URL), "
                "or replay from a cassette / answer with llm_fake."
            )
            self._error_reply(502, message, None, indent=None)
            return
        parts = urlsplit(exchange.url)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        headers = {
            k: v
            for k, v in exchange.headers
            if k.lower() not in _HOP_BY_HOP | {"host", "accept-encoding"}
        }
        headers["accept-encoding"] = "identity"
        conn_cls = (
            http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        )
        clock = router.clock
        t0 = clock.monotonic()
        token = forwarding.set(True)
        try:
            conn = conn_cls(parts.hostname or "", parts.port, timeout=600)
            try:
                conn.request(exchange.method, target, exchange.body or None, headers)
                response = conn.getresponse()
                self._relay(response, fwd, clock, t0)
            except OSError as exc:
                if not self.wfile.closed:
                    self._internal_error(
                        f"pytest-llm's server could not reach upstream {upstream}: {exc}"
                    )
            finally:
                conn.close()
        finally:
            forwarding.reset(token)

    def _relay(
        self, response: http.client.HTTPResponse, fwd: Forward, clock: Any, t0: float
    ) -> None:
        status = response.status
        headers = [(k, v) for k, v in response.getheaders()]
        self.send_response_only(status)
        for name, value in headers:
            if name.lower() not in _HOP_BY_HOP:
                self.send_header(name, value)
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        capture = Capture(status, headers, fwd.on_reply, t0) if fwd.on_reply else None
        broken = False
        chunks = _read_chunks(response)
        while True:
            try:
                chunk = next(chunks, None)
            except (http.client.HTTPException, OSError) as exc:
                # The upstream broke off: the client sees the same, a reset.
                if capture is not None:
                    capture.finish(error=exc)
                broken = True
                break
            if chunk is None:
                break
            if capture is not None:
                capture.feed(chunk)
            try:
                self._send(chunk, True)
            except OSError:
                if capture is not None:
                    capture.finish(closed_early=True)
                broken = True
                break
        if capture is not None:
            capture.finish()
        if broken:
            self._reset()
        else:
            self.wfile.write(b"0\r\n\r\n")


def _read_chunks(response: http.client.HTTPResponse) -> Iterator[bytes]:
    while True:
        chunk = response.read1(65536)
        if not chunk:
            return
        yield chunk
