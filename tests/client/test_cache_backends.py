"""One suite, every backend (contract 49): memory, SQLite and a real ``redis-server``.

Expiry is stored in the entry on the cache's clock and checked on read, so the TTL tests
run on virtual time for every backend (Redis's own ``PX`` expiry only cleans up). Backend
failures are real: a stopped redis-server, an SQLite file overwritten with garbage, a
file locked by another connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import multiprocessing
import os
import sqlite3
import warnings
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import redis
from redis_server import RedisServer, redis_available

from pytest_llm import VirtualClock
from pytest_llm.client import _cache
from pytest_llm.client._cache import (
    Cache,
    CacheBackendWarning,
    Lookup,
    RedisBackend,
    SQLiteBackend,
)

_names = itertools.count()


@contextlib.contextmanager
def backend_warnings() -> Iterator[list[warnings.WarningMessage]]:
    """Every warning of the block; all of them must be cache backend warnings."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield caught
    assert caught, "no warning"
    assert all(issubclass(w.category, CacheBackendWarning) for w in caught), caught


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    if not redis_available():  # pragma: no cover - CI installs it
        pytest.skip("redis-server is not installed")
    with RedisServer() as server:
        yield server


@pytest.fixture(params=["memory", "sqlite", "redis"])
def cache_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "memory":
        return "memory"
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/cache.db"
    server: RedisServer = request.getfixturevalue("redis_server")
    return server.url


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
def make(cache_url: str, clock: VirtualClock) -> Iterator[Any]:
    """Caches on ``cache_url``; on Redis each test gets a key prefix of its own."""
    made: list[Cache] = []
    prefix = f"t{next(_names)}:"

    def factory(**kw: Any) -> Cache:
        backend: Any = cache_url
        if cache_url.startswith("redis://"):
            backend = RedisBackend(cache_url, prefix=prefix)
        cache = Cache(backend, clock=clock, **kw)
        made.append(cache)
        return cache

    yield factory
    for cache in made:
        cache.close()


@pytest.fixture
def cache(make: Any) -> Cache:
    c: Cache = make(ttl=60)
    return c


def payload(text: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}}],
    }


def test_put_get_and_miss(cache: Cache) -> None:
    assert cache.lookup("chat:a") == Lookup("miss")
    assert cache.put("chat:a", payload("hello"), meta={"route": "r1"}) == "stored"
    found = cache.lookup("chat:a")
    assert found.status == "hit"
    assert found.entry is not None
    assert found.entry.payload == payload("hello")
    assert found.entry.meta == {"route": "r1"}
    assert cache.get("chat:b") is None


def test_ttl_on_virtual_time(cache: Cache, clock: VirtualClock) -> None:
    cache.put("k", payload("fresh"))
    clock.advance(59.999)
    assert cache.lookup("k").status == "hit"
    clock.advance(0.001)
    assert cache.lookup("k") == Lookup("expired")
    cache.put("k", payload("again"))  # storing again starts a new TTL
    clock.advance(30)
    entry = cache.get("k")
    assert entry is not None
    assert entry.payload == payload("again")
    assert clock.sleeps == []


def test_no_ttl_keeps_entries(make: Any, clock: VirtualClock) -> None:
    cache = make()
    cache.put("k", payload("x"))
    clock.advance(10 * 365 * 86400)
    assert cache.get("k") is not None


def test_overwrite(cache: Cache) -> None:
    cache.put("k", payload("one"))
    cache.put("k", payload("two"), meta={"n": 2})
    entry = cache.get("k")
    assert entry is not None
    assert entry.payload == payload("two")
    assert entry.meta == {"n": 2}


def test_key_isolation(cache: Cache) -> None:
    keys = ["chat:ab", "chat:abc", "chat:a", "responses:ab", "chat:AB", "chat:ab "]
    for i, k in enumerate(keys):
        cache.put(k, payload(str(i)))
    for i, k in enumerate(keys):
        entry = cache.get(k)
        assert entry is not None
        assert entry.payload == payload(str(i)), k
    cache.delete("chat:abc")
    assert cache.get("chat:abc") is None
    assert cache.get("chat:ab") is not None


def test_unicode(cache: Cache) -> None:
    text = 'Grüße ☀️ 東京 \u200b"quotes" \\ back\nslash \U0001f600 \x00 nul'
    cache.put("chat:ü", payload(text), meta={"note": "é"})
    entry = cache.get("chat:ü")
    assert entry is not None
    assert entry.payload["choices"][0]["message"]["content"] == text
    assert entry.meta == {"note": "é"}


def test_large_payload(cache: Cache) -> None:
    text = "".join(f"line {i}: {'x' * 90}\n" for i in range(40_000))  # ~4 MB
    cache.put("big", payload(text))
    entry = cache.get("big")
    assert entry is not None
    assert entry.payload["choices"][0]["message"]["content"] == text


def test_async_get_and_put(cache: Cache, clock: VirtualClock) -> None:
    async def main() -> tuple[Lookup, Lookup, Lookup]:
        assert await cache.aput("k", payload("async")) == "stored"
        hit = await cache.alookup("k")
        clock.advance(60)
        expired = await cache.alookup("k")
        miss = await cache.alookup("other")
        return hit, expired, miss

    hit, expired, miss = asyncio.run(main())
    assert hit.entry is not None
    assert hit.entry.payload == payload("async")
    assert (expired.status, miss.status) == ("expired", "miss")


def test_clear(cache: Cache) -> None:
    cache.put("a", payload("a"))
    cache.put("b", payload("b"))
    cache.clear()
    assert cache.get("a") is None
    assert cache.get("b") is None


# -- persistence and sharing ----------------------------------------------------------


@pytest.mark.parametrize("kind", ["sqlite", "redis"])
def test_entries_outlive_the_cache_object(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest, clock: VirtualClock
) -> None:
    if kind == "sqlite":
        url = f"sqlite:///{tmp_path}/persist.db"
        first, second = Cache(url, clock=clock), Cache(url, clock=clock)
    else:
        server: RedisServer = request.getfixturevalue("redis_server")
        first = Cache(RedisBackend(server.url, prefix="persist:"), clock=clock)
        second = Cache(RedisBackend(server.url, prefix="persist:"), clock=clock)
    first.put("k", payload("kept"), ttl=100)
    first.close()
    entry = second.get("k")
    assert entry is not None
    assert entry.payload == payload("kept")
    assert entry.expires_at == clock.now().timestamp() + 100
    second.close()


def test_redis_gets_the_servers_expiry_and_clear_keeps_other_keys(
    redis_server: RedisServer,
) -> None:
    raw = redis.Redis.from_url(redis_server.url)
    raw.set("someone-else", b"1")
    cache = Cache(RedisBackend(redis_server.url, prefix="px:"), ttl=60)
    cache.put("k", payload("x"))
    cache.put("short", payload("x"), ttl=5)
    Cache(RedisBackend(redis_server.url, prefix="px:")).put("forever", payload("y"))
    assert 55_000 < raw.pttl("px:k") <= 60_000  # the server cleans up after the TTL
    assert 0 < raw.pttl("px:short") <= 5_000
    assert raw.pttl("px:forever") == -1
    cache.clear()
    assert raw.exists("px:k", "px:forever") == 0
    assert raw.get("someone-else") == b"1"
    raw.delete("someone-else")
    raw.close()


def test_sqlite_purges_expired_rows(tmp_path: Path, clock: VirtualClock) -> None:
    cache = Cache(f"sqlite:///{tmp_path}/p.db", ttl=10, clock=clock, purge_every=3)
    cache.put("old1", payload("1"))
    cache.put("old2", payload("2"))
    clock.advance(11)
    cache.put("new", payload("3"))  # the third write purges
    with sqlite3.connect(tmp_path / "p.db") as db:
        keys = sorted(k for (k,) in db.execute("SELECT key FROM cache_entries"))
    assert keys == ["new"]
    assert cache.get("new") is not None


def _write_many(url: str, worker: int, count: int) -> tuple[int, int, int]:
    """In a child process: store and read back keys of its own and one shared key."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cache = Cache(url)
        stored = read = 0
        for i in range(count):
            stored += cache.put(f"w{worker}-{i}", payload(f"{worker}:{i}")) == "stored"
            stored += cache.put("shared", payload(f"{worker}:{i}")) == "stored"
            entry = cache.get(f"w{worker}-{i}")
            read += entry is not None and entry.payload == payload(f"{worker}:{i}")
        cache.close()
    return stored, read, len(caught)


def test_several_processes_share_one_sqlite_file(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/shared.db"
    workers, count = 4, 100
    # fork: real processes without re-importing the test run in each (spawn costs ~2 s
    # a process); the parent holds no SQLite connection at this point
    ctx = multiprocessing.get_context(
        "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    )
    # the file, its table and WAL mode exist before the processes start: several first
    # opens at one instant can meet "database is locked" while one switches the journal
    # mode (a miss plus a warning, as documented), which is not what this test is about
    # (the backend opens its file on first use: a lookup, not the constructor, makes it)
    first = Cache(url)
    assert first.get("nothing yet") is None
    first.close()
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        results = list(pool.map(_write_many, [url] * workers, range(workers), [count] * workers))
    assert results == [(2 * count, count, 0)] * workers  # every write landed, no warning
    cache = Cache(url)
    for w in range(workers):
        for i in range(count):
            entry = cache.get(f"w{w}-{i}")
            assert entry is not None
            assert entry.payload == payload(f"{w}:{i}")
    shared = cache.get("shared")
    assert shared is not None
    assert shared.payload["choices"][0]["message"]["content"] in {
        f"{w}:{count - 1}" for w in range(workers)
    }
    with sqlite3.connect(tmp_path / "shared.db") as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    cache.close()


# -- SQLite: a hit queries the file only after a commit ---------------------------------
#
# The backend keeps the rows it read beside the WAL-index header (SQLite's -shm file) they
# were read under; SQLite rewrites that header on every commit, by any process. The other
# process below is a real one (forked where the platform can: it inherits this process's
# open cache, which the backend must not carry across the fork).

_FORK = multiprocessing.get_context(
    "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
)


def _in_another_process(target: Any, *args: Any) -> None:
    proc = _FORK.Process(target=target, args=args)
    proc.start()
    proc.join(60)
    assert proc.exitcode == 0, f"{target.__name__} failed in the other process"


def _delete(path: str) -> None:
    with Cache(f"sqlite:///{path}") as cache:
        cache.delete("k")


def _overwrite(path: str) -> None:
    with Cache(f"sqlite:///{path}") as cache:
        assert cache.put("k", payload("two"), meta={"by": "the other process"}) == "stored"


def _clear(path: str) -> None:
    with Cache(f"sqlite:///{path}") as cache:
        cache.clear()


def _purge(path: str) -> None:
    backend = SQLiteBackend(path)  # a process whose clock is a year ahead purges the row
    backend.purge(VirtualClock().now().timestamp() + 365 * 86400)
    backend.close()


def _raw_delete(path: str) -> None:
    with contextlib.closing(sqlite3.connect(path, isolation_level=None, timeout=5)) as db:
        db.execute("DELETE FROM cache_entries WHERE key = 'k'")  # a tool, not pytest-llm


def _put_other(path: str) -> None:
    with Cache(f"sqlite:///{path}") as cache:
        cache.put("other", payload("other"))


def _zero_shm_header(path: str) -> None:
    fd = os.open(f"{path}-shm", os.O_RDWR)  # this process's locks only: it exits anyway
    os.pwrite(fd, b"\0" * 136, 0)
    os.close(fd)


def _queries(cache: Cache) -> list[str]:
    """The statements the cache's SQLite connection runs from now on."""
    statements: list[str] = []
    backend = cache.backend
    assert isinstance(backend, SQLiteBackend)
    backend._conn().set_trace_callback(statements.append)
    return statements


def _selects(statements: list[str]) -> int:
    return sum(s.startswith("SELECT") for s in statements)


def test_sqlite_hit_queries_the_file_only_after_a_commit(
    tmp_path: Path, clock: VirtualClock
) -> None:
    path = tmp_path / "cache.db"
    cache = Cache(f"sqlite:///{path}", clock=clock, ttl=60)
    cache.put("k", payload("one"))
    statements = _queries(cache)
    for _ in range(3):
        found = cache.lookup("k")
        assert found.entry is not None
        assert found.entry.payload == payload("one")
    assert _selects(statements) == 1  # the first hit read the row; the others did not
    _in_another_process(_put_other, str(path))  # any commit, even of another key
    assert cache.lookup("k").status == "hit"
    assert cache.lookup("k").status == "hit"
    assert _selects(statements) == 2
    clock.advance(60)  # expiry is still checked on every hit, on the cache's clock
    assert cache.lookup("k") == Lookup("expired")
    assert _selects(statements) == 2
    cache.close()


@pytest.mark.parametrize(
    ("change", "expect"),
    [
        (_delete, None),
        (_overwrite, "two"),
        (_clear, None),
        (_purge, None),
        (_raw_delete, None),
        (_zero_shm_header, "one"),  # SQLite rebuilds the header: the row is read again
    ],
    ids=["delete", "overwrite", "clear", "purge", "raw-sqlite3-delete", "zeroed-shm-header"],
)
def test_sqlite_sees_another_process_change_on_the_next_hit(
    tmp_path: Path, clock: VirtualClock, change: Any, expect: str | None
) -> None:
    path = tmp_path / "cache.db"
    cache = Cache(f"sqlite:///{path}", clock=clock, ttl=60)
    cache.put("k", payload("one"))
    cache.put("kept", payload("kept"))
    statements = _queries(cache)

    async def alookup(key: str) -> Lookup:
        return await cache.alookup(key)

    for _ in range(2):  # remembered by the sync and the async read
        assert cache.lookup("k").status == "hit"
        assert asyncio.run(alookup("kept")).status == "hit"
    assert _selects(statements) == 2
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # none of this is a backend failure
        _in_another_process(change, str(path))
        found = cache.lookup("k")
        again = asyncio.run(alookup("k"))
    if expect is None:
        assert (found.status, again.status) == ("miss", "miss")
    else:
        assert found.entry is not None
        assert again.entry is not None
        assert found.entry.payload == again.entry.payload == payload(expect)
    kept = cache.get("kept")
    if change in (_clear, _purge):
        assert kept is None
    else:
        assert kept is not None
        assert kept.payload == payload("kept")
    cache.close()


def test_sqlite_open_cache_survives_a_fork(tmp_path: Path) -> None:
    """A forked child inherits an open, watched cache: it opens its own connection (the
    parent's locks are not the child's) and its writes are seen by the parent."""
    path = tmp_path / "cache.db"
    cache = Cache(f"sqlite:///{path}")
    cache.put("k", payload("one"))
    assert cache.lookup("k").status == "hit"
    assert cache.lookup("k").status == "hit"
    if "fork" not in multiprocessing.get_all_start_methods():  # pragma: no cover
        pytest.skip("no fork here")

    def child() -> None:
        found = cache.lookup("k")  # the inherited object, on a connection of its own
        assert found.entry is not None
        assert found.entry.payload == payload("one")
        assert cache.put("k", payload("from the child")) == "stored"

    backend = cache.backend
    assert isinstance(backend, SQLiteBackend)
    with backend._lock:  # as if another thread were inside the backend at the fork
        proc = multiprocessing.get_context("fork").Process(target=child)
        proc.start()
    proc.join(30)
    if proc.exitcode is None:  # pragma: no cover - the failure this test is about
        proc.kill()
        pytest.fail("the child hung on the lock it inherited")
    assert proc.exitcode == 0
    entry = cache.get("k")
    assert entry is not None
    assert entry.payload == payload("from the child")
    cache.close()


def _locked_by_another_process(shm: str) -> bool:
    """Whether a process holds SQLite's dead-man-switch lock (byte 128) on ``shm``: the
    lock each process keeps while it has a connection using the file."""
    import fcntl

    try:
        fd = os.open(shm, os.O_RDWR)
    except FileNotFoundError:
        return False
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, 128)
    except OSError:
        return True
    finally:
        os.close(fd)  # this process's locks only
    return False


def _report_lock(shm: str, out: Any) -> None:
    out.put(_locked_by_another_process(shm))


def _dms_held(shm: str) -> bool:
    out = _FORK.Queue()
    _in_another_process(_report_lock, shm, out)
    return bool(out.get(timeout=10))


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="lists mappings via /proc")
def test_closing_a_cache_keeps_other_connections_locks_on_the_file(tmp_path: Path) -> None:
    """The backend reads the -shm through a descriptor of its own; closing a descriptor
    drops every POSIX lock the process holds on the file, so it must stay open while any
    other connection of this process still uses the file."""
    path = tmp_path / "cache.db"
    shm = f"{path}-shm"
    cache = Cache(f"sqlite:///{path}")
    cache.put("k", payload("one"))
    own = sqlite3.connect(path, isolation_level=None)  # the application's own connection
    assert own.execute("SELECT count(*) FROM cache_entries").fetchone() == (1,)
    assert cache.lookup("k").status == "hit"
    cache.close()
    assert _dms_held(shm)  # still this process's: another process cannot reset the file
    assert own.execute("SELECT count(*) FROM cache_entries").fetchone() == (1,)
    reopened = Cache(f"sqlite:///{path}")  # the same file again: the kept descriptor
    assert reopened.lookup("k").status == "hit"
    own.close()
    reopened.close()
    assert not _dms_held(shm)


@pytest.mark.skipif(not Path("/proc/self/fd").exists(), reason="counts descriptors via /proc")
def test_closed_sqlite_caches_leave_no_descriptor_open(tmp_path: Path) -> None:
    def open_here() -> list[str]:
        found = []
        for fd in os.listdir("/proc/self/fd"):
            with contextlib.suppress(OSError):
                target = os.readlink(f"/proc/self/fd/{fd}")
                if target.startswith(str(tmp_path)):
                    found.append(target)
        return found

    for i in range(30):
        cache = Cache(f"sqlite:///{tmp_path}/c{i}.db")
        cache.put("k", payload(str(i)))
        assert cache.lookup("k").status == "hit"
        assert any(t.endswith(f"c{i}.db-shm") for t in open_here())  # watched while open
        cache.close()
    assert open_here() == []


def _exclusive(path: str, *, timeout: float, extensions: bool = False) -> Any:
    """A connection whose SQLite keeps the WAL-index in private memory: no -shm file."""
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=timeout)
    db.execute("PRAGMA locking_mode = EXCLUSIVE")
    db.execute("PRAGMA journal_mode = WAL")
    return db


def _stale_shm(tmp_path: Path) -> bytes:
    """A -shm file's bytes with a valid header that no SQLite updates any more."""
    path = tmp_path / "elsewhere.db"
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as db:
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("CREATE TABLE t (x)")
        return Path(f"{path}-shm").read_bytes()


def _rollback(stale: bytes) -> Any:
    def connect(path: str, *, timeout: float, extensions: bool = False) -> Any:
        """A file kept in a rollback journal mode, a crash's -shm file left beside it."""
        db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode = DELETE")
        Path(f"{path}-shm").write_bytes(stale)
        return db

    return connect


@pytest.mark.parametrize("why", ["no-shm", "unknown-version", "rollback-journal"])
def test_sqlite_unwatchable_file_queries_every_hit_with_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, why: str
) -> None:
    path = tmp_path / "cache.db"
    shm = f"{path}-shm"
    if why == "no-shm":
        monkeypatch.setattr(_cache, "connect_sqlite", _exclusive)
        reason = f"FileNotFoundError: [Errno 2] No such file or directory: {shm!r}"
    elif why == "rollback-journal":  # a -shm left beside it must not be taken for live
        monkeypatch.setattr(_cache, "connect_sqlite", _rollback(_stale_shm(tmp_path)))
        reason = "the database is in journal mode 'delete', not WAL"
    else:  # what a future SQLite with another WAL-index layout would show
        monkeypatch.setattr(_cache, "_WAL_INDEX_VERSION", 4000000)
        reason = (
            "a WAL-index header of version 3007000 (initialised: 1); this client reads "
            "version 4000000"
        )
    cache = Cache(f"sqlite:///{path}")
    with backend_warnings() as record:
        assert cache.put("k", payload("one")) == "stored"
    assert [str(w.message) for w in record] == [
        f"pytest_llm.client: the sqlite cache backend SQLiteBackend({str(path)!r}) cannot "
        f"watch {shm!r} for changes by other processes ({reason}); every hit queries its "
        "row instead (slower, nothing is lost).\n"
        "Fix: keep the cache file on a local disk, in WAL mode with normal locking (as the "
        "backend opens it), and leave its -wal and -shm files to SQLite (never delete or "
        "replace them while a cache is open); the next connection watches it again."
    ]
    statements = _queries(cache)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(3):
            found = cache.lookup("k")
            assert found.entry is not None
            assert found.entry.payload == payload("one")
        assert _selects(statements) == 3  # every hit queried its row: nothing stale
    if why != "no-shm":  # shared: another process's delete is seen at once
        _in_another_process(_delete, str(path))
        assert cache.lookup("k").status == "miss"
    cache.close()


# -- failures: a miss plus a warning, never a failed call -------------------------------


def test_redis_down_is_a_miss_and_a_warning_then_recovers() -> None:
    with RedisServer() as server:  # a server of its own: this test stops it
        cache = Cache(server.url, ttl=60)
        cache.put("k", payload("before"))
        assert cache.get("k") is not None
        server.stop()
        with backend_warnings() as record:
            found = cache.lookup("k")
            stored = cache.put("k2", payload("during"))
        assert found.status == "error"
        assert found.entry is None
        assert stored == "error"
        message = str(record[0].message)
        assert message.startswith(
            f"pytest_llm.client: the redis cache backend RedisBackend('{server.url}', "
            "prefix='pytest-llm:cache:') failed to get (ConnectionError: "
        )
        assert "treated as a miss" in message
        assert "Fix: check the backend; calls go on uncached meanwhile." in message
        assert "failed to put" in str(record[1].message)

        async def alookup() -> Lookup:
            return await cache.alookup("k")

        with pytest.warns(CacheBackendWarning, match="redis cache backend"):
            assert asyncio.run(alookup()).status == "error"
        server.start()  # back, empty (no persistence)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", CacheBackendWarning)  # a stale pooled socket
            cache.lookup("k")
        assert cache.put("k", payload("after")) == "stored"
        entry = cache.get("k")
        assert entry is not None
        assert entry.payload == payload("after")
        cache.close()


def test_redis_password_never_shown() -> None:
    with RedisServer() as server:
        admin = redis.Redis.from_url(server.url)
        admin.config_set("requirepass", "the-real-one")
        admin.close()
        cache = Cache(server.url.replace("redis://", "redis://:hunter2@"))  # a wrong password
        with backend_warnings() as record:
            found = cache.lookup("k")
            cache.put("k", payload("x"))
        assert found.status == "error"
        assert "AuthenticationError" in (found.error or "")
        for text in [str(w.message) for w in record] + [found.error or "", repr(cache)]:
            assert "hunter2" not in text
            assert ":***@" in text
        cache.close()


def test_corrupt_sqlite_file_is_a_miss_and_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "cache.db"
    cache = Cache(f"sqlite:///{path}")
    cache.put("k", payload("x"))
    cache.close()
    for extra in ("-wal", "-shm"):
        Path(f"{path}{extra}").unlink(missing_ok=True)
    path.write_bytes(b"this is not an sqlite database\n" * 200)
    cache = Cache(f"sqlite:///{path}")
    with backend_warnings() as record:
        found = cache.lookup("k")
        stored = cache.put("k", payload("y"))
    assert found.status == "error"
    assert stored == "error"
    assert str(record[0].message).startswith(
        f"pytest_llm.client: the sqlite cache backend SQLiteBackend('{path}') failed to get "
        "(DatabaseError: file is not a database); treated as a miss."
    )
    # replaced by a good file: the backend reopens and works again
    path.unlink()
    assert cache.put("k", payload("z")) == "stored"
    entry = cache.get("k")
    assert entry is not None
    assert entry.payload == payload("z")
    cache.close()


def test_file_corrupted_under_an_open_cache(tmp_path: Path) -> None:
    path = tmp_path / "cache.db"
    cache = Cache(f"sqlite:///{path}")
    cache.put("k", payload("x"))
    with open(path, "r+b") as f:  # the header of the live file overwritten
        f.write(b"\xff" * 100)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        found = cache.lookup("k")
        cache.put("k2", payload("y"))
    # a hit from the open connection's WAL view, or an error: never an exception
    assert found.status in ("hit", "error")
    assert all(issubclass(w.category, CacheBackendWarning) for w in caught)
    cache.close()


def test_locked_sqlite_is_a_miss_and_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    cache = Cache(SQLiteBackend(path, timeout=0.05))
    cache.put("k", payload("x"))
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # another process holds the write lock too long
    try:
        with pytest.warns(CacheBackendWarning, match=r"failed to put .*database is locked"):
            assert cache.put("k", payload("y")) == "error"
        entry = cache.get("k")  # WAL: readers are not blocked by a writer
        assert entry is not None
        assert entry.payload == payload("x")
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert cache.put("k", payload("y")) == "stored"
    cache.close()


class Broken:
    """A custom backend that fails every call."""

    name = "broken"

    def get(self, key: str) -> bytes | None:
        raise OSError("disk on fire")

    def set(self, key: str, value: bytes, *, ttl: float | None, expires_at: float | None) -> None:
        raise OSError("disk on fire")

    def delete(self, key: str) -> None:
        raise OSError("disk on fire")

    def clear(self) -> None:
        raise OSError("disk on fire")

    def close(self) -> None:
        pass

    def __repr__(self) -> str:
        return "Broken()"


def test_custom_backend_failures(caplog: pytest.LogCaptureFixture) -> None:
    cache = Cache(Broken())
    with backend_warnings() as record:
        assert cache.lookup("k").error == (
            "the broken cache backend Broken() failed to get (OSError: disk on fire); "
            "treated as a miss"
        )
        assert cache.put("k", payload("x")) == "error"
        assert asyncio.run(cache.aput("k", payload("x"))) == "error"
        assert asyncio.run(cache.aget("k")) is None
        cache.delete("k")
        cache.clear()
    assert len(record) == 6
    assert [r.levelname for r in caplog.records if r.name == "pytest_llm.client.cache"] == [
        "WARNING"
    ] * 6
