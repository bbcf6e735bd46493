"""A real ``redis-server`` on a free loopback port with a private data directory, for the
contracts on shared state (39, 45) and for the project's own Redis tests (which import
it from here: ``tests/redis_server.py``). ``stop()`` and ``start()`` take the server away
mid-run and bring it back on the same port. The benchmarks run theirs from here too
(``benchmarks/soak.py`` with ``persist=True``)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

__all__ = ["RedisServer", "redis_available"]


def redis_available() -> bool:
    return shutil.which("redis-server") is not None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """``with RedisServer() as server: server.url``; ``stop()`` takes it away mid-test.

    ``persist=True`` keeps an append-only file (fsync every second) in the private
    directory, so data written before a ``stop()`` is there after ``start()``."""

    def __init__(self, port: int | None = None, *, persist: bool = False) -> None:
        if not redis_available():
            raise RuntimeError(
                "redis-server is not installed: the shared-state tests need the real server."
                "\nFix: apt-get install redis-server (the CI script does this)."
            )
        self.port = port or _free_port()
        self.persist = persist
        self.dir = Path(tempfile.mkdtemp(prefix="pytest-llm-redis-"))
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            return
        aof = ("yes", "--appendfsync", "everysec") if self.persist else ("no",)
        self.proc = subprocess.Popen(
            [
                *("redis-server", "--port", str(self.port), "--bind", "127.0.0.1"),
                *("--dir", str(self.dir), "--save", "", "--appendonly", *aof),
                *("--protected-mode", "yes"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(500):  # real time: the server starting, not code under test
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.proc.returncode} on start")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.1) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            time.sleep(0.01)
        raise RuntimeError(f"redis-server did not answer on port {self.port} within 5 s")

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:  # pragma: no cover - a stuck server
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def close(self) -> None:
        """Stop the server and remove its directory."""
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> RedisServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
