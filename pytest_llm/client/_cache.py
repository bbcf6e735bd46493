"""The exact response cache: a canonical key, what may be stored, and three backends.

A call is cacheable only when its output is a function of its request: ``temperature``
set to 0 explicitly, one choice, not a stream (embeddings always are). The key is a
SHA-256 of the canonical JSON of every request field that changes the output, plus the
scope (the base URL of the route set), so changing any one field misses and dict key
order never matters. Only normally completed results are stored, as the SDK result's
JSON dump, and a hit is rebuilt as the same SDK type with byte-equal content.

Entries carry their expiry on the injected clock and are checked on read, so a TTL holds
on virtual time with every backend. A backend that fails (Redis down, SQLite locked or
corrupt) is a miss plus a :class:`CacheBackendWarning`, never a failed call; the
:class:`Lookup` / put status says so, for the call's events.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import functools
import hashlib
import importlib
import json
import logging
import math
import os
import struct
import threading
import warnings
import weakref
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypeVar, cast, runtime_checkable
from urllib.parse import urlsplit

from .._clock import Clock, flow_clock
from .._numbers import is_positive
from .._urls import safe_url
from ..fake._script import _near
from ._errors import ClientConfigError

if TYPE_CHECKING:
    from pydantic import BaseModel

__all__ = [
    "APIS",
    "Cache",
    "CacheBackend",
    "CacheBackendWarning",
    "CachedEntry",
    "Lookup",
    "MemoryBackend",
    "RedisBackend",
    "SQLiteBackend",
    "cache_key",
    "cacheable",
    "payload_of",
    "rebuild",
    "safe_url",
    "storable",
]

logger = logging.getLogger("pytest_llm.client.cache")

APIS = ("chat", "responses", "embeddings")
SCHEMES = ("memory", "sqlite", "redis", "rediss")
_VERSION = 1

_NOT_OUTPUT = frozenset(
    {
        # Transport and bookkeeping: they never change what the model says.
        "stream",
        "stream_options",
        "timeout",
        "extra_headers",
        "extra_query",
        "user",
        "metadata",
        "store",
        "safety_identifier",
        "prompt_cache_key",
        "prompt_cache_retention",
        "service_tier",
    }
)
"""Request fields left out of the key. Everything else is in it: a cache that drops a
field that changes the output hands back the wrong answer."""

_CHAT_DONE = frozenset({"stop", "tool_calls"})

T = TypeVar("T", bound="BaseModel")
T2 = TypeVar("T2")


class CacheBackendWarning(UserWarning):
    """A cache backend failed; the call went on as a miss."""


class _Uncacheable(Exception):
    """A request value the key cannot represent faithfully."""


# -- the key ----------------------------------------------------------------------------


_SENTINELS = ("NotGiven", "Omit")


def _absent(value: Any) -> bool:
    """The openai SDK's ``NOT_GIVEN`` / ``omit`` sentinels (and ``None``) mean "not sent"."""
    return value is None or type(value).__name__ in _SENTINELS


def _canon(value: Any) -> Any:
    """The canonical form of one request value. Exact built-in types are dispatched
    first (a request is almost all ``dict``, ``list``, ``str``); the rest take the general
    path below. The same result either way."""
    kind = type(value)
    if kind is str or kind is bool or value is None:
        return value
    if kind is dict:
        out: dict[str, Any] = {}
        for k, v in value.items():
            if type(k) is not str and not isinstance(k, str):
                raise _Uncacheable(f"key {k!r}")
            vkind = type(v)
            if vkind is str or v is None or vkind is bool:
                out[k] = v
            elif vkind.__name__ in ("NotGiven", "Omit"):
                continue
            else:
                out[k] = _canon(v)
        return out
    if kind is list or kind is tuple:
        return [v if type(v) is str else _canon(v) for v in value]
    if kind is int:
        return value
    return _canon_other(value)


def _canon_other(value: Any) -> Any:
    if isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _Uncacheable(repr(value))
        # 0 and 0.0 are the same request
        return int(value) if value.is_integer() else value
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise _Uncacheable(f"key {k!r}")
            if type(v).__name__ in ("NotGiven", "Omit"):
                continue
            out[k] = _canon(v)
        return out
    if isinstance(value, (list, tuple)):
        return [_canon(v) for v in value]
    if isinstance(value, type) and hasattr(value, "model_json_schema"):
        # a pydantic class as response_format / text_format (the SDK's parse helpers)
        return {
            "$model": f"{value.__module__}.{value.__qualname__}",
            "schema": _canon(value.model_json_schema()),
        }
    dump = getattr(value, "model_dump", None)
    if callable(dump) and not isinstance(value, type):
        # a pydantic object, e.g. a ChatCompletionMessage passed back as history
        return _canon(dump(mode="json", exclude_unset=True))
    raise _Uncacheable(type(value).__name__)


def _request_fields(params: Mapping[str, Any]) -> dict[str, Any]:
    """The request as the SDK sends it: sentinels and ``None`` dropped, ``extra_body``
    merged into the body (so ``extra_body={"seed": 1}`` and ``seed=1`` are one request)."""
    fields = {
        k: v
        for k, v in params.items()
        if v is not None and k != "extra_body" and type(v).__name__ not in _SENTINELS
    }
    extra = params.get("extra_body")
    if extra is None:
        return fields
    if isinstance(extra, Mapping):
        fields.update({k: v for k, v in extra.items() if not _absent(v)})
    elif not _absent(extra):
        raise _Uncacheable("extra_body")
    return fields


def cacheable(api: str, params: Mapping[str, Any]) -> bool:
    """Whether the output of this request is a function of the request.

    Embeddings: always (unless streamed, which they are not). Chat and Responses: only
    with an explicit ``temperature == 0`` (absent is the provider's default, not 0), one
    choice, not a stream, and no server-side state that moves (Responses ``conversation``,
    ``background``).
    """
    if api not in APIS:
        return False
    try:
        fields = _request_fields(params)
    except _Uncacheable:
        return False
    return _cacheable_fields(api, fields)


def _cacheable_fields(api: str, fields: Mapping[str, Any]) -> bool:
    if fields.get("stream"):
        return False
    if api == "embeddings":
        return True
    temperature = fields.get("temperature")
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)):
        return False
    if temperature != 0:
        return False
    n = fields.get("n", 1)
    if isinstance(n, bool) or n != 1:
        return False
    return not (api == "responses" and (fields.get("conversation") or fields.get("background")))


def cache_key(api: str, params: Mapping[str, Any], *, scope: str) -> str | None:
    """``api:sha256`` of the canonical request, or ``None`` when it is not cacheable."""
    if api not in APIS:
        return None
    try:
        fields = _request_fields(params)
        if not _cacheable_fields(api, fields):
            return None
        request: dict[str, Any] = {}  # _canon(fields) without the ignored fields, inline
        for k, v in fields.items():
            if k in _NOT_OUTPUT:
                continue
            if type(k) is not str and not isinstance(k, str):
                raise _Uncacheable(f"key {k!r}")
            kind = type(v)
            request[k] = v if kind is str or kind is bool or kind is int else _canon(v)
    except _Uncacheable:
        return None
    # the canonical JSON of {"v": _VERSION, "api": api, "scope": scope, "request": request}
    # (keys sorted), the constant parts written once per API and scope
    frame = _FRAMES.get((api, scope))
    if frame is None:
        frame = (
            f'{{"api":{_key_json(api)},"request":',
            f',"scope":{_key_json(scope)},"v":{_VERSION}}}',
            f"{api}:",
        )
        if len(_FRAMES) < 256:
            _FRAMES[api, scope] = frame
    text = frame[0] + _key_json(request) + frame[1]
    return frame[2] + hashlib.sha256(text.encode()).hexdigest()


_FRAMES: dict[tuple[str, str], tuple[str, str, str]] = {}
"""The key text's constant parts around the request, and the key's prefix, per API and
scope (a few per process)."""


def _key_encoder() -> Any:
    """The key's canonical JSON: sorted keys, no spaces, UTF-8 as is. ``json.dumps``
    builds its encoder on every call; this one is built once, on the stdlib's C encoder
    when it takes the arguments this Python's own ``JSONEncoder`` passes it (checked
    against ``json.dumps`` on a sample), else the stdlib's ``JSONEncoder.encode``."""
    options = {"sort_keys": True, "separators": (",", ":"), "ensure_ascii": False}
    encoder = json.JSONEncoder(**options)  # type: ignore[arg-type]
    slow = encoder.encode
    make = getattr(json.encoder, "c_make_encoder", None)
    quote = getattr(json.encoder, "c_encode_basestring", None)
    if make is None or quote is None:
        return slow
    try:
        fast = make(None, encoder.default, quote, None, ":", ",", True, False, True)
        sample = {"b": [1, 2.5, None, True, "é\n"], "a": {"y": "x", "x": -0.0}}

        def encode(value: Any) -> str:
            return "".join(fast(value, 0))

        if encode(sample) != json.dumps(sample, **options):  # type: ignore[arg-type]
            return slow
    except Exception:
        return slow
    return encode


_key_json = _key_encoder()


# -- what may be stored -----------------------------------------------------------------


def _get(obj: Any, name: str) -> Any:
    if isinstance(obj, Mapping):
        return obj.get(name)
    return getattr(obj, name, None)


def storable(result: Any) -> bool:
    """Only normally completed results: chat ``finish_reason`` ``stop`` / ``tool_calls`` on
    every choice, a Responses ``status == "completed"`` with output, embeddings with data.
    Never ``length``, ``content_filter``, an incomplete or failed response, an error, a
    stream."""
    if isinstance(result, BaseException) or result is None:
        return False
    kind = _get(result, "object")
    if kind == "chat.completion":
        choices = _get(result, "choices")
        return bool(choices) and all(_get(c, "finish_reason") in _CHAT_DONE for c in choices)
    if kind == "response":
        return (
            _get(result, "status") == "completed"
            and _get(result, "error") is None
            and bool(_get(result, "output"))
        )
    if kind == "list":
        return bool(_get(result, "data"))
    return False


# -- entries ----------------------------------------------------------------------------


@dataclass(frozen=True)
class CachedEntry:
    """One stored result: the SDK result's JSON dump and what the caller kept beside it."""

    key: str
    payload: dict[str, Any] = field(repr=False)
    meta: dict[str, Any] = field(default_factory=dict, repr=False)
    stored_at: float = 0.0
    """Wall seconds (``clock.now().timestamp()``) when it was stored."""
    expires_at: float | None = None
    """Wall seconds on the cache's clock after which it is a miss; ``None``: never."""
    text: str | None = field(default=None, repr=False)
    """Semantic cache: the prompt text the entry was stored under."""
    _built: dict[Any, Any] = field(default_factory=dict, init=False, repr=False, compare=False)
    """What is derived from the entry, computed once: :func:`rebuild`'s memo per SDK type
    (the payload as JSON bytes, and whether the SDK type validates it back to exactly
    the stored JSON), the usage a hit reports (``_memo.py``), the :class:`Lookup` of a
    shared hit. An entry is read-only: a decoded one is shared by every hit on the same
    stored bytes."""

    def encode(self) -> bytes:
        doc = {
            "v": _VERSION,
            "key": self.key,
            "payload": self.payload,
            "meta": self.meta,
            "stored_at": self.stored_at,
            "expires_at": self.expires_at,
            "text": self.text,
        }
        return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()

    @classmethod
    def decode(cls, raw: bytes | str) -> CachedEntry:
        doc = json.loads(raw.decode("utf-8") if isinstance(raw, bytes) else raw)
        if not isinstance(doc, dict) or doc.get("v") != _VERSION:
            raise ValueError("not a pytest-llm cache entry of this version")
        payload, meta = doc["payload"], doc.get("meta") or {}
        if not isinstance(payload, dict) or not isinstance(meta, dict):
            raise ValueError("entry payload is not an object")
        expires = doc.get("expires_at")
        return cls(
            key=str(doc["key"]),
            payload=payload,
            meta=meta,
            stored_at=float(doc.get("stored_at") or 0.0),
            expires_at=None if expires is None else float(expires),
            text=doc.get("text"),
        )

    def expired(self, now: float) -> bool:
        return self.expires_at is not None and now >= self.expires_at


def payload_of(result: Any) -> dict[str, Any]:
    """What to store for an SDK result: its JSON as the wire had it (aliases, only the
    fields that were sent). The plain ``model_dump()`` is not enough: it writes aliased
    fields by their Python name (a Responses ``function_call``'s ``async`` as ``async_``),
    and the rebuilt object would then differ from the live one."""
    if isinstance(result, Mapping):
        return dict(result)
    dumped: dict[str, Any] = result.model_dump(mode="json", by_alias=True, exclude_unset=True)
    return dumped


def rebuild(entry: CachedEntry, type_: type[T]) -> T:
    """The SDK object a hit hands back: ``type_`` built from the stored JSON the way the SDK
    builds a live reply (its lenient ``construct``), equal field for field, content and
    tool-call arguments byte-equal, ``to_json()`` identical. Every hit gets a new object
    that shares nothing with the entry or another hit.

    Pydantic's JSON validation is used when it gives exactly that (decided once per
    entry: the validated object dumps back to exactly the stored JSON), about 20x
    cheaper than the SDK's ``construct``, which walks every field's annotations; else (a
    shape the SDK types do not validate) the SDK's ``construct`` builds it."""
    memo = entry._built.get(type_)
    if memo is not None and memo[1]:  # every hit after the first: one validation
        return cast("T", memo[2](memo[0]))
    construct = getattr(type_, "construct", None)
    validate_json = getattr(type_, "model_validate_json", None)
    if callable(construct) and callable(validate_json) and memo is None:
        raw = json.dumps(entry.payload, ensure_ascii=False, separators=(",", ":")).encode()
        fast: Any = None
        try:
            fast = validate_json(raw)
            same = fast.model_dump(mode="json", by_alias=True, exclude_unset=True) == entry.payload
        except Exception:  # any failure: the SDK's lenient way below
            same = False
        # what model_validate_json calls, without its checks of arguments not passed
        validator = getattr(type_.__dict__.get("__pydantic_validator__"), "validate_json", None)
        entry._built[type_] = (raw, same, validator if callable(validator) else validate_json)
        if same:
            return cast("T", fast)
    if callable(construct):
        built: T = construct(**copy.deepcopy(entry.payload))
        return built
    return type_.model_validate(entry.payload)


@dataclass(frozen=True)
class Lookup:
    """What a cache read found, for the call's events."""

    status: str
    """``hit``, ``miss``, ``expired``, ``error`` (backend failed: a miss), ``off`` (not
    cacheable)."""
    entry: CachedEntry | None = None
    error: str | None = None
    """One line naming the backend and what failed (no credentials)."""
    similarity: float | None = None
    """Semantic cache: the similarity of the entry found (or of the nearest, on a miss)."""

    @property
    def hit(self) -> bool:
        return self.entry is not None


# -- backends ---------------------------------------------------------------------------


@runtime_checkable
class CacheBackend(Protocol):
    """Where entries live. Values are opaque bytes; expiry is checked by :class:`Cache`.

    ``ttl`` (seconds) and ``expires_at`` (wall seconds on the cache's clock) are hints for
    the backend's own clean-up (Redis: the server's expiry). Async access uses the
    backend's ``aget`` / ``aset`` if it has them, else a worker thread.
    """

    name: str

    def get(self, key: str) -> bytes | None: ...

    def set(
        self, key: str, value: bytes, *, ttl: float | None, expires_at: float | None
    ) -> None: ...

    def delete(self, key: str) -> None: ...

    def clear(self) -> None: ...

    def close(self) -> None: ...


class MemoryBackend:
    """In-process, LRU-bounded; thread-safe. Values are kept encoded, so a caller that
    mutates what it got back cannot change the cache."""

    name = "memory"

    def __init__(self, max_entries: int = 1024) -> None:
        if isinstance(max_entries, bool) or not isinstance(max_entries, int) or max_entries < 1:
            raise ClientConfigError(
                f"MemoryBackend(max_entries={max_entries!r}): not a number of entries.\n"
                "Fix: use a whole number >= 1 (default 1024)."
            )
        self.max_entries = max_entries
        self._data: OrderedDict[str, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> bytes | None:
        with self._lock:
            value = self._data.get(key)
            if value is not None:
                self._data.move_to_end(key)
            return value

    def set(self, key: str, value: bytes, *, ttl: float | None, expires_at: float | None) -> None:
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.max_entries:
                self._data.popitem(last=False)

    async def aget(self, key: str) -> bytes | None:
        return self.get(key)

    async def aset(
        self, key: str, value: bytes, *, ttl: float | None, expires_at: float | None
    ) -> None:
        self.set(key, value, ttl=ttl, expires_at=expires_at)

    def delete(self, key: str) -> None:
        with self._lock:
            self._data.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()

    def close(self) -> None:
        pass

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return f"MemoryBackend(max_entries={self.max_entries}, entries={len(self._data)})"


def _sqlite_path(url: str) -> str:
    """``sqlite:///rel.db`` -> ``rel.db``; ``sqlite:////abs/x.db`` -> ``/abs/x.db``."""
    path = url[len("sqlite://") :]
    if path.startswith("/"):
        path = path[1:]
    if not path:
        raise ClientConfigError(
            f"Cache backend {url!r} names no file.\n"
            "Fix: use 'sqlite:///cache.db' (relative) or 'sqlite:////abs/path/cache.db'."
        )
    return path


def connect_sqlite(path: str, *, timeout: float, extensions: bool = False) -> Any:
    """A connection in autocommit mode with WAL and a busy timeout, so several processes on
    one machine can share the file. ``extensions``: one that can load sqlite-vec (Python's
    own ``sqlite3`` when it allows extensions, else ``pysqlite3``)."""
    module: Any = importlib.import_module("sqlite3")
    if extensions and not hasattr(module.Connection, "enable_load_extension"):
        module = importlib.import_module("pysqlite3.dbapi2")
    db = module.connect(path, timeout=timeout, isolation_level=None, check_same_thread=False)
    db.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = NORMAL")
    return db


_SELECT = "SELECT value FROM cache_entries WHERE key = ?"


class SQLiteFile:
    """One SQLite file that processes on one machine share: the directory checked at
    construction, a connection opened on first use (:meth:`_open`: the subclass's tables)
    and reopened after any failure (a corrupt or replaced file is not kept as a bad
    handle). The exact cache's backend and the semantic cache's vectors both are one."""

    def __init__(self, path: str | Path, *, timeout: float = 5.0) -> None:
        self.path = str(path)
        parent = Path(self.path).parent
        if self.path != ":memory:" and not parent.is_dir():
            raise ClientConfigError(
                f"{type(self).__name__}({self.path!r}): the directory {str(parent)!r} does "
                "not exist.\nFix: create it first, or point the cache at a file in an "
                "existing directory."
            )
        self.timeout = timeout
        self._db: Any = None
        self._lock = threading.Lock()

    def _open(self) -> Any:
        """A new connection with the subclass's tables in place."""
        raise NotImplementedError

    def _conn(self) -> Any:
        if self._db is None:
            self._db = self._open()
        return self._db

    def _locked(self, fn: Callable[[Any], T2]) -> T2:
        """``fn(connection)`` under the lock; any failure but a configuration error drops
        the connection (the next call reopens the file)."""
        with self._lock:
            try:
                return fn(self._conn())
            except ClientConfigError:
                raise
            except Exception:
                self._drop()
                raise

    def _drop(self) -> None:
        db, self._db = self._db, None
        if db is not None:
            with contextlib.suppress(Exception):
                db.close()

    def close(self) -> None:
        with self._lock:
            self._drop()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.path!r})"


_WAL_INDEX_VERSION = 3007000
"""The WAL-index header's ``iVersion`` in every SQLite since 3.7.0 (the unix VFS's
``-shm`` file, documented in SQLite's ``walformat.html``)."""
_WAL_HEADER = 48
"""Bytes in the WAL-index header (its first copy, at offset 0 of ``-shm``), which SQLite
rewrites on every commit: the change counter, the last frame, salts and checksums."""
_ROWS_MAX = 256
_ROWS_BYTES = 32 * 1024 * 1024
_abandoned: list[Any] = []
"""What a forked child inherited and must neither use nor close: the parent's
connections (SQLite forbids carrying one across fork) and ``-shm`` descriptors."""
_backends: weakref.WeakSet[SQLiteBackend] = weakref.WeakSet()


class _ShmFile:
    """This process's descriptor of one ``-shm`` file (by device and inode), shared by
    its backends on that file; the header is read with ``pread`` (never mapped: a file
    shortened under a mapping would kill the process; a short read is only a change).

    POSIX drops every lock a process holds on a file when it closes *any* descriptor of
    it, so the descriptor is closed only when no backend of this process watches the
    file *and* nothing in this process maps it any more (SQLite maps the ``-shm`` of
    every connection it has open: another connection's locks would go with it). Where
    the mappings cannot be listed (no ``/proc``), it is closed with this process's last
    backend on the file."""

    files: ClassVar[dict[tuple[int, int], _ShmFile]] = {}
    lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, key: tuple[int, int], fd: int, path: str) -> None:
        self.key, self.fd, self.path, self.users = key, fd, path, 0

    @classmethod
    def open(cls, path: str) -> _ShmFile:
        with cls.lock:
            st = os.stat(path)
            key = (st.st_dev, st.st_ino)
            shm = cls.files.get(key)
            if shm is None:
                fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
                st = os.fstat(fd)
                if (st.st_dev, st.st_ino) != key:  # replaced since the stat: not closed
                    _abandoned.append(fd)
                    raise OSError(f"{path} was replaced while it was being opened")
                shm = cls.files[key] = cls(key, fd, os.path.realpath(path))
            shm.users += 1
            return shm

    def release(self) -> None:
        """One backend less (its connection closed); close what nothing uses."""
        with self.lock:
            self.users -= 1
            idle = [f for f in self.files.values() if f.users <= 0]
            if not idle:
                return
            keys, paths = _mapped_files()
            for f in idle:
                if f.key not in keys and f.path not in paths:
                    del self.files[f.key]
                    with contextlib.suppress(OSError):
                        os.close(f.fd)

    @classmethod
    def after_fork(cls) -> None:
        _abandoned.extend(f.fd for f in cls.files.values())
        cls.files, cls.lock = {}, threading.Lock()


def _mapped_files() -> tuple[set[tuple[int, int]], set[str]]:
    """(device, inode) and path of every file this process maps (either may be what a
    layered file system shows); empty where that is unknown."""
    keys: set[tuple[int, int]] = set()
    paths: set[str] = set()
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        return keys, paths
    for line in lines:
        parts = line.split(maxsplit=5)
        if len(parts) < 6 or parts[4] == "0":
            continue
        paths.add(parts[5].removesuffix(" (deleted)"))
        major, _, minor = parts[3].partition(":")
        with contextlib.suppress(ValueError):
            keys.add((os.makedev(int(major, 16), int(minor, 16)), int(parts[4])))
    return keys, paths


class SQLiteBackend(SQLiteFile):
    """An embedded file, persistent across runs: WAL plus a busy timeout make it safe for
    several processes on one machine. Expired rows are purged as entries are written.

    A hit does not query the file when nothing was committed to it since its row was
    read: the backend keeps the rows it read (at most 256, 32 MiB) beside the WAL-index
    header they were read under, and reads that header (48 bytes of SQLite's ``-shm``
    file) on each hit. SQLite rewrites it on every commit, by any process or tool (a
    delete, an overwrite, a ``clear()``, a purge, an insert), so the first hit after any
    change queries its row again; no writer has to remember to signal, and a writer that
    dies leaves nothing stale (the header is rewritten as part of the commit). Where the
    header cannot be read (no ``-shm`` file, an unknown WAL-index version; not on
    Windows) a warning says so and every hit queries its row, as before."""

    name = "sqlite"

    def __init__(self, path: str | Path, *, timeout: float = 5.0) -> None:
        super().__init__(path, timeout=timeout)
        self._shm_file: _ShmFile | None = None
        """The ``-shm`` file held while this backend's connection is open."""
        self._shm: int | None = None
        """Its descriptor, when its header is one this code reads: hits are watched."""
        self._rows: dict[str, tuple[bytes, bytes]] = {}
        """key -> (the WAL-index header read before the row, the row's value)."""
        self._row_bytes = 0
        self._watch = hasattr(os, "pread") and self.path not in ("", ":memory:")
        _backends.add(self)

    @property
    def shm_path(self) -> str:
        """SQLite's shared-memory file beside the database (the WAL-index)."""
        return f"{self.path}-shm"

    def _open(self) -> Any:
        db = connect_sqlite(self.path, timeout=self.timeout)
        db.execute(
            "CREATE TABLE IF NOT EXISTS cache_entries ("
            "key TEXT PRIMARY KEY, value BLOB NOT NULL, expires_at REAL)"
        )
        return db

    def _conn(self) -> Any:
        if self._db is None:
            self._db = self._open()
            if self._watch:  # the connection has read the file: its -shm is open and live
                (mode,) = self._db.execute("PRAGMA journal_mode").fetchone()
                if str(mode).lower() == "wal":
                    self._shm = self._watch_header()
                else:  # another process holds it in a rollback mode: no live -shm
                    self._unwatched(f"the database is in journal mode {mode!r}, not WAL")
        return self._db

    def _watch_header(self) -> int | None:
        """The ``-shm`` descriptor to read the header from; ``None`` (warned) when it
        cannot be read or is not a WAL-index header this code knows."""
        try:
            self._shm_file = _ShmFile.open(self.shm_path)
            fd = self._shm_file.fd
            header = os.pread(fd, _WAL_HEADER, 0)
        except OSError as exc:
            self._unwatched(f"{type(exc).__name__}: {exc}")
            return None
        if len(header) < _WAL_HEADER:
            self._unwatched(f"{len(header)} bytes long, shorter than a WAL-index header")
            return None
        version, _, _, initialised = struct.unpack_from("=IIIB", header)
        if version != _WAL_INDEX_VERSION or initialised != 1:
            self._unwatched(
                f"a WAL-index header of version {version} (initialised: {initialised}); "
                f"this client reads version {_WAL_INDEX_VERSION}"
            )
            return None
        return fd

    def _unwatched(self, why: str) -> None:
        message = (
            f"the sqlite cache backend {self!r} cannot watch {self.shm_path!r} for changes "
            f"by other processes ({why}); every hit queries its row instead (slower, "
            "nothing is lost)"
        )
        logger.warning("%s", message)
        warnings.warn(
            f"pytest_llm.client: {message}.\nFix: keep the cache file on a local disk, in "
            "WAL mode with normal locking (as the backend opens it), and leave its -wal and "
            "-shm files to SQLite (never delete or replace them while a cache is open); "
            "the next connection watches it again.",
            CacheBackendWarning,
            stacklevel=2,
        )

    def _drop(self) -> None:
        shm, self._shm_file, self._shm = self._shm_file, None, None
        self._forget()
        super()._drop()
        if shm is not None:  # after the connection: SQLite has let go of it first
            shm.release()

    def _forget(self, key: str | None = None) -> None:
        if key is None:
            self._rows, self._row_bytes = {}, 0
        else:
            row = self._rows.pop(key, None)
            if row is not None:
                self._row_bytes -= len(row[1])

    def _after_fork(self) -> None:
        """In a forked child: the parent's connection is not this process's (its locks
        were not inherited), so the child opens its own on first use."""
        if self._db is not None:
            _abandoned.append(self._db)
        self._db, self._lock = None, threading.Lock()
        self._shm_file, self._shm = None, None
        self._forget()

    def _remembered(self, key: str) -> bytes | None:
        """The row read before, if nothing was committed to the file since."""
        fd = self._shm
        if fd is not None:
            row = self._rows.get(key)
            if row is not None:
                try:
                    if os.pread(fd, _WAL_HEADER, 0) == row[0]:
                        return row[1]
                except OSError:
                    pass
        return None

    async def aget(self, key: str) -> bytes | None:
        """A remembered row at once; a query in a worker thread (it may wait on a lock)."""
        value = self._remembered(key)
        if value is not None:
            return value
        return await asyncio.to_thread(self.get, key)

    def get(self, key: str) -> bytes | None:
        value = self._remembered(key)
        if value is not None:
            return value
        with self._lock:  # _locked's work, inline: one row, no list
            try:
                db = self._db or self._conn()
                fd = self._shm
                header = None if fd is None else os.pread(fd, _WAL_HEADER, 0)
                row = db.execute(_SELECT, (key,)).fetchone()
            except Exception:
                self._drop()
                raise
            if row is None:
                self._forget(key)
                return None
            value = bytes(row[0])
            if header is not None:
                self._remember(key, header, value)
        return value

    def _remember(self, key: str, header: bytes, value: bytes) -> None:
        """Keep a row read under ``header`` (read *before* the row: a commit after that
        read changes the header, so a row that may predate it is queried again)."""
        self._forget(key)
        if len(header) < _WAL_HEADER or len(value) > _ROWS_BYTES // 4:
            return
        rows = self._rows
        while rows and (len(rows) >= _ROWS_MAX or self._row_bytes + len(value) > _ROWS_BYTES):
            self._forget(next(iter(rows)))
        rows[key] = (header, value)
        self._row_bytes += len(value)

    def _write(self, sql: str, args: tuple[Any, ...], key: str | None) -> None:
        """Run a write, first forgetting the row it changes (``key``) or every row
        (``None``); the header it changes on commit would make them miss anyway."""

        def write(db: Any) -> None:
            self._forget(key)
            db.execute(sql, args)

        self._locked(write)

    def set(self, key: str, value: bytes, *, ttl: float | None, expires_at: float | None) -> None:
        self._write(
            "INSERT OR REPLACE INTO cache_entries (key, value, expires_at) VALUES (?, ?, ?)",
            (key, value, expires_at),
            key,
        )

    def purge(self, now: float) -> None:
        """Drop rows whose expiry (on the cache's clock) has passed."""
        self._write(
            "DELETE FROM cache_entries WHERE expires_at IS NOT NULL AND expires_at <= ?",
            (now,),
            None,
        )

    def delete(self, key: str) -> None:
        self._write("DELETE FROM cache_entries WHERE key = ?", (key,), key)

    def clear(self) -> None:
        self._write("DELETE FROM cache_entries", (), None)


def _after_fork_in_child() -> None:
    _ShmFile.after_fork()
    for backend in list(_backends):
        backend._after_fork()


if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(after_in_child=_after_fork_in_child)


class RedisBackend:
    """Shared by every process that reaches the server. Entries get the server's expiry
    (``PX`` = TTL) for clean-up; freshness is still checked on the cache's clock."""

    name = "redis"

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "pytest-llm:cache:",
        timeout: float = 1.0,
        client: Any = None,
    ) -> None:
        self.url = safe_url(url)
        self.prefix = prefix
        self._password = urlsplit(url).password
        if client is None:
            try:
                import redis
                from redis.backoff import NoBackoff
                from redis.retry import Retry
            except ImportError as exc:
                raise ClientConfigError(
                    f"Cache({self.url!r}) needs the redis package, which is not installed.\n"
                    "Fix: pip install 'pytest-llm-harness[redis]'."
                ) from exc
            # No retries of its own: a down server is one quick miss, not seconds of backoff.
            client = redis.Redis.from_url(
                url,
                socket_timeout=timeout,
                socket_connect_timeout=timeout,
                retry=Retry(NoBackoff(), 0),
            )
        self._client = client

    def _k(self, key: str) -> str:
        return self.prefix + key

    def get(self, key: str) -> bytes | None:
        value = self._client.get(self._k(key))
        return None if value is None else bytes(value)

    def set(self, key: str, value: bytes, *, ttl: float | None, expires_at: float | None) -> None:
        px = None if ttl is None else max(1, math.ceil(ttl * 1000))
        self._client.set(self._k(key), value, px=px)

    def delete(self, key: str) -> None:
        self._client.delete(self._k(key))

    def clear(self) -> None:
        keys = list(self._client.scan_iter(match=self.prefix + "*", count=500))
        for i in range(0, len(keys), 500):
            self._client.delete(*keys[i : i + 500])

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._client.close()

    def scrub(self, text: str) -> str:
        return text.replace(self._password, "***") if self._password else text

    def __repr__(self) -> str:
        return f"RedisBackend({self.url!r}, prefix={self.prefix!r})"


def open_backend(
    spec: str | CacheBackend, *, max_entries: int, where: str = "Cache"
) -> CacheBackend:
    """A backend object from ``"memory"``, ``"sqlite:///path.db"``, ``"redis://..."``."""
    if not isinstance(spec, str):
        missing = [m for m in ("get", "set", "delete", "clear", "close") if not hasattr(spec, m)]
        if missing:
            raise ClientConfigError(
                f"{where}(backend={spec!r}): not a cache backend (no {', '.join(missing)}).\n"
                "Fix: pass 'memory', 'sqlite:///path.db', 'redis://host:6379/0' or an object "
                "with get/set/delete/clear/close (see pytest_llm.client.CacheBackend)."
            )
        return spec
    scheme = spec.split("://", 1)[0].lower() if "://" in spec else spec.lower()
    if scheme == "memory":
        return MemoryBackend(max_entries)
    if scheme == "sqlite" and "://" in spec:
        return SQLiteBackend(_sqlite_path(spec))
    if scheme in ("redis", "rediss") and "://" in spec:
        return RedisBackend(spec)
    raise ClientConfigError(
        f"{where}(backend={safe_url(spec)!r}): unknown cache backend scheme {scheme!r}"
        f"{_near(scheme, SCHEMES)}; known schemes: {', '.join(SCHEMES)}.\n"
        "Fix: use 'memory', 'sqlite:///path/to/cache.db' or 'redis://host:6379/0'."
    )


def check_ttl(ttl: float | None, where: str) -> float | None:
    if ttl is None:
        return None
    if not is_positive(ttl):
        raise ClientConfigError(
            f"{where}: ttl={ttl!r} is not a number of seconds.\n"
            "Fix: use a number > 0 (e.g. ttl=3600), or None to keep entries until evicted."
        )
    return float(ttl)


def check_unknown(where: str, unknown: Mapping[str, object], known: tuple[str, ...]) -> None:
    if unknown:
        bad = sorted(unknown)[0]
        raise ClientConfigError(
            f"{where} got an unknown option {bad!r}{_near(bad, known)}.\n"
            f"Fix: use one of: {', '.join(sorted(known))}."
        )


def describe_failure(backend: Any, op: str, exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".splitlines()[0] if str(exc) else type(exc).__name__
    scrub = getattr(backend, "scrub", None)
    if callable(scrub):
        text = scrub(text)
    name = getattr(backend, "name", type(backend).__name__)
    return f"the {name} cache backend {backend!r} failed to {op} ({text}); treated as a miss"


def report_failure(message: str, *, stacklevel: int = 3) -> None:
    logger.warning("%s", message)
    warnings.warn(
        f"pytest_llm.client: {message}.\nFix: check the backend; calls go on uncached meanwhile.",
        CacheBackendWarning,
        stacklevel=stacklevel,
    )


# -- the cache --------------------------------------------------------------------------

_OPTIONS = ("backend", "ttl", "clock", "max_entries", "purge_every")


class Cache:
    """The exact cache: ``key()`` -> ``lookup()`` / ``put()`` (and ``alookup`` / ``aput``).

    ``backend``: ``"memory"`` (default, LRU of ``max_entries``), ``"sqlite:///path.db"``,
    ``"redis://host:6379/0"``, or a :class:`CacheBackend` object. ``ttl`` in seconds on
    ``clock``; ``None`` keeps entries until evicted.
    """

    def __init__(
        self,
        backend: str | CacheBackend = "memory",
        *,
        ttl: float | None = None,
        clock: Clock = flow_clock,
        max_entries: int = 1024,
        purge_every: int = 256,
        **unknown: object,
    ) -> None:
        check_unknown("Cache()", unknown, _OPTIONS)
        self.ttl = check_ttl(ttl, "Cache()")
        self.clock = clock
        self.backend: CacheBackend = open_backend(backend, max_entries=max_entries)
        self.purge_every = max(1, int(purge_every))
        self._writes = 0
        self._decode = functools.lru_cache(maxsize=256)(CachedEntry.decode)
        """Entries decoded from the stored bytes, by those bytes: a hit on bytes read
        before skips the JSON decode (and :func:`rebuild`'s memo on the entry makes its
        validation one step). The backend is still read every time, so another process's
        write, delete or expiry is seen at once."""

    # -- key and policy --

    @staticmethod
    def key(api: str, params: Mapping[str, Any], *, scope: str) -> str | None:
        """See :func:`cache_key`."""
        return cache_key(api, params, scope=scope)

    @staticmethod
    def storable(result: Any) -> bool:
        """See :func:`storable`."""
        return storable(result)

    @staticmethod
    def rebuild(entry: CachedEntry, type_: type[T]) -> T:
        """See :func:`rebuild`."""
        return rebuild(entry, type_)

    def _now(self) -> float:
        return self.clock.now().timestamp()

    def _failed(self, op: str, exc: BaseException) -> Lookup:
        message = describe_failure(self.backend, op, exc)
        report_failure(message, stacklevel=4)
        return Lookup("error", error=message)

    def _read(self, key: str, raw: bytes | None, shared: bool = False) -> Lookup:
        if raw is None:
            return Lookup("miss")
        if type(raw) is not bytes and not isinstance(raw, (bytes, str)):
            raw = bytes(raw)  # a custom backend's bytearray: hashable bytes
        try:
            entry = self._decode(raw) if shared else CachedEntry.decode(raw)
        except (ValueError, KeyError, TypeError) as exc:
            with contextlib.suppress(Exception):
                self.backend.delete(key)
            return self._failed(f"read entry {key[:24]}", exc)
        if entry.key != key:
            return Lookup("miss")
        if entry.expires_at is not None and entry.expired(self._now()):
            return Lookup("expired")
        if not shared:
            return Lookup("hit", entry=entry)
        found = entry._built.get(Lookup)  # a shared entry's hit is one read-only Lookup
        if found is None:
            found = entry._built[Lookup] = Lookup("hit", entry=entry)
        return cast("Lookup", found)

    def _entry(
        self,
        key: str,
        payload: Mapping[str, Any] | BaseModel,
        meta: Mapping[str, Any] | None,
        ttl: float | None,
    ) -> CachedEntry:
        now = self._now()
        entry = CachedEntry(
            key=key,
            payload=payload_of(payload),
            meta=dict(meta or {}),
            stored_at=now,
            expires_at=None if ttl is None else now + ttl,
        )
        return entry

    def _encode(
        self,
        key: str,
        payload: Mapping[str, Any] | BaseModel,
        meta: Mapping[str, Any] | None,
        ttl: float | None,
    ) -> tuple[CachedEntry, bytes] | Exception:
        """The entry to store and its bytes, or why it cannot be encoded (the caller
        warns: the warning then points at the caller of ``put``, as every cache warning)."""
        try:
            entry = self._entry(key, payload, meta, ttl)
            return entry, entry.encode()
        except (TypeError, ValueError) as exc:
            return exc

    def _maybe_purge(self) -> None:
        self._writes += 1
        purge = getattr(self.backend, "purge", None)
        if callable(purge) and self._writes % self.purge_every == 0:
            purge(self._now())

    # -- sync --

    def lookup(self, key: str, *, shared: bool = False) -> Lookup:
        """Read ``key``: a hit, a miss, an expired entry, or a backend error (a miss).

        ``shared``: the entry may be one decoded before from the same stored bytes, and
        is then read-only (the client's hits: they hand back :func:`rebuild`'s new
        objects, never the entry). Without it, the entry is the caller's own."""
        try:
            raw = self.backend.get(key)
        except Exception as exc:
            return self._failed("get", exc)
        return self._read(key, raw, shared)

    def get(self, key: str) -> CachedEntry | None:
        return self.lookup(key).entry

    def put(
        self,
        key: str,
        payload: Mapping[str, Any] | BaseModel,
        *,
        meta: Mapping[str, Any] | None = None,
        ttl: float | None = None,
    ) -> str:
        """Store an SDK result (or its :func:`payload_of`). Returns ``"stored"``, or
        ``"error"`` when the backend failed (warned, never raised)."""
        ttl = self.ttl if ttl is None else check_ttl(ttl, "Cache.put()")
        encoded = self._encode(key, payload, meta, ttl)
        if isinstance(encoded, Exception):
            self._failed("encode the entry", encoded)
            return "error"
        entry, value = encoded
        try:
            self.backend.set(key, value, ttl=ttl, expires_at=entry.expires_at)
            self._maybe_purge()
        except Exception as exc:
            self._failed("put", exc)
            return "error"
        return "stored"

    # -- async --

    async def alookup(self, key: str, *, shared: bool = False) -> Lookup:
        try:
            aget = getattr(self.backend, "aget", None)
            if aget is not None:
                raw = await aget(key)
            else:
                raw = await asyncio.to_thread(self.backend.get, key)
        except Exception as exc:
            return self._failed("get", exc)
        return self._read(key, raw, shared)

    async def aget(self, key: str) -> CachedEntry | None:
        return (await self.alookup(key)).entry

    async def aput(
        self,
        key: str,
        payload: Mapping[str, Any] | BaseModel,
        *,
        meta: Mapping[str, Any] | None = None,
        ttl: float | None = None,
    ) -> str:
        ttl = self.ttl if ttl is None else check_ttl(ttl, "Cache.put()")
        encoded = self._encode(key, payload, meta, ttl)
        if isinstance(encoded, Exception):
            self._failed("encode the entry", encoded)
            return "error"
        entry, value = encoded
        try:
            aset = getattr(self.backend, "aset", None)
            if aset is not None:
                await aset(key, value, ttl=ttl, expires_at=entry.expires_at)
            else:
                await asyncio.to_thread(
                    self.backend.set, key, value, ttl=ttl, expires_at=entry.expires_at
                )
            self._maybe_purge()
        except Exception as exc:
            self._failed("put", exc)
            return "error"
        return "stored"

    # -- housekeeping --

    def delete(self, key: str) -> None:
        try:
            self.backend.delete(key)
        except Exception as exc:
            self._failed("delete", exc)

    def clear(self) -> None:
        try:
            self.backend.clear()
        except Exception as exc:
            self._failed("clear", exc)

    def close(self) -> None:
        self.backend.close()

    def __enter__(self) -> Cache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Cache({self.backend!r}, ttl={self.ttl!r})"
