"""A real ``redis-server`` on a free loopback port with a private data directory.

The tests of the client's shared state run against the real server (Debian package
``redis-server``; ``.ci/run`` installs it), never a stand-in. The runner is the one the
conformance suite uses: ``with RedisServer() as server: server.url``; ``server.stop()``
and ``server.start()`` take it away mid-run and bring it back on the same port.
"""

from __future__ import annotations

from pytest_llm.conformance._redis_server import RedisServer, redis_available

__all__ = ["RedisServer", "redis_available"]
