"""The semantic cache: opt-in, checked after the exact one.

A request is split in two: the text of its last user message, which is embedded, and
everything else (model, every other parameter, every other message), which must match
exactly (the scope: the exact cache's key over the request with that one text left
out). A hit is the nearest stored entry of the same scope whose cosine similarity is at
least ``threshold``; the lookup reports the similarity it used (and the nearest one on a
miss, to tune the threshold). The same cacheability rules as the exact cache apply:
explicit ``temperature == 0``, one choice, not a stream; embeddings requests never.

Vectors live in memory (plain vector maths; numpy when it is installed) or in SQLite
through the ``sqlite-vec`` extension (a ``vec0`` virtual table per vector size,
partitioned by scope). A failing embedding function or backend is a miss plus a
warning, never a failed call.
"""

from __future__ import annotations

import asyncio
import heapq
import importlib
import inspect
import math
import operator
import threading
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from .._clock import Clock, flow_clock
from ._booking import check_callable
from ._cache import (
    CachedEntry,
    Lookup,
    SQLiteFile,
    _sqlite_path,
    cache_key,
    check_ttl,
    check_unknown,
    connect_sqlite,
    describe_failure,
    payload_of,
    report_failure,
    safe_url,
)
from ._errors import ClientConfigError

if TYPE_CHECKING:
    from pydantic import BaseModel

__all__ = [
    "Embedder",
    "MemoryVectors",
    "SQLiteVectors",
    "SemanticBackend",
    "SemanticCache",
    "SemanticQuery",
    "openai_embedder",
    "prompt_split",
]

Embedder = Callable[[str], Sequence[float]] | Callable[[str], Awaitable[Sequence[float]]]
"""``fn(text) -> vector``, sync or async."""

_PLACEHOLDER = "\x00<semantic>\x00"
SCHEMES = ("memory", "sqlite")


# -- what is embedded, what must match --------------------------------------------------


def _as_dict(item: Any) -> Any:
    dump = getattr(item, "model_dump", None)
    if callable(dump) and not isinstance(item, type):
        return dump(mode="json", exclude_unset=True)
    return item


def _text(content: Any) -> str | None:
    """A message's text: a string, or text parts only (an image is not text)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list) and content:
        texts = []
        for part in content:
            part = _as_dict(part)
            if not isinstance(part, Mapping) or part.get("type") not in ("text", "input_text"):
                return None
            if not isinstance(part.get("text"), str):
                return None
            texts.append(part["text"])
        return "\n".join(texts)
    return None


def _split_items(items: Any) -> tuple[str, list[Any]] | None:
    if not isinstance(items, list):
        return None
    items = [_as_dict(m) for m in items]
    for i in range(len(items) - 1, -1, -1):
        item = items[i]
        if isinstance(item, Mapping) and item.get("role") == "user":
            text = _text(item.get("content"))
            if text is None:
                return None
            items[i] = {**item, "content": _PLACEHOLDER}
            return text, items
    return None


def prompt_split(api: str, params: Mapping[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """``(text to embed, the rest of the request)``, or ``None`` when there is no plain
    text user message to embed (or the API is not chat / Responses)."""
    rest = dict(params)
    if api == "chat":
        split = _split_items(params.get("messages"))
        if split is None:
            return None
        rest["messages"] = split[1]
        return split[0], rest
    if api == "responses":
        given = params.get("input")
        if isinstance(given, str):
            rest["input"] = _PLACEHOLDER
            return given, rest
        split = _split_items(given)
        if split is None:
            return None
        rest["input"] = split[1]
        return split[0], rest
    return None


@dataclass
class SemanticQuery:
    """One request, ready to look up and then store: its scope, its text, its vector."""

    api: str
    scope: str
    """The exact cache's key of the request minus the embedded text."""
    text: str
    vector: list[float] | None = field(default=None, repr=False)
    """Unit vector of :attr:`text`, filled by the first lookup (a put reuses it)."""


# -- vector maths -----------------------------------------------------------------------


def _unit(vector: Sequence[float]) -> list[float]:
    values = [float(x) for x in vector]
    if not values:
        raise ValueError("the embedding function returned an empty vector")
    norm = math.sqrt(math.fsum(x * x for x in values))
    if not math.isfinite(norm) or norm == 0.0:
        raise ValueError(f"the embedding function returned a vector of norm {norm}")
    return [x / norm for x in values]


def _numpy() -> Any:
    try:
        return importlib.import_module("numpy")
    except ImportError:
        return None


# -- backends ---------------------------------------------------------------------------


@runtime_checkable
class SemanticBackend(Protocol):
    """Where vectors and entries live. Vectors arrive unit-length."""

    name: str

    def add(
        self, scope: str, vector: Sequence[float], value: bytes, *, expires_at: float | None
    ) -> None: ...

    def search(
        self, scope: str, vector: Sequence[float], *, k: int, now: float
    ) -> list[tuple[float, bytes]]:
        """Up to ``k`` unexpired ``(cosine similarity, value)`` of ``scope``, best first."""
        ...

    def clear(self) -> None: ...

    def close(self) -> None: ...


class _Bucket:
    """One scope's vectors: a growable matrix (numpy) or a list of rows."""

    __slots__ = ("dims", "expires", "ids", "matrix", "np", "pos", "rows", "values")

    def __init__(self, dims: int, np: Any) -> None:
        self.dims = dims
        self.np = np
        self.ids: list[int] = []
        self.values: list[bytes] = []
        self.expires: list[float | None] = []
        self.pos: dict[int, int] = {}
        self.rows: list[list[float]] = []
        self.matrix: Any = np.empty((16, dims), dtype=np.float32) if np is not None else None

    def add(self, ident: int, vector: list[float], value: bytes, expires: float | None) -> None:
        n = len(self.ids)
        if self.np is not None:
            if n == self.matrix.shape[0]:
                grown = self.np.empty((n * 2, self.dims), dtype=self.np.float32)
                grown[:n] = self.matrix
                self.matrix = grown
            self.matrix[n] = vector
        else:
            self.rows.append(vector)
        self.pos[ident] = n
        self.ids.append(ident)
        self.values.append(value)
        self.expires.append(expires)

    def remove(self, ident: int) -> None:
        i = self.pos.pop(ident)
        last = len(self.ids) - 1
        if i != last:
            moved = self.ids[last]
            self.ids[i], self.values[i], self.expires[i] = (
                moved,
                self.values[last],
                self.expires[last],
            )
            self.pos[moved] = i
            if self.np is not None:
                self.matrix[i] = self.matrix[last]
            else:
                self.rows[i] = self.rows[last]
        self.ids.pop()
        self.values.pop()
        self.expires.pop()
        if self.np is None:
            self.rows.pop()

    def scores(self, vector: list[float], k: int) -> list[tuple[float, int]]:
        n = len(self.ids)
        if n == 0:
            return []
        if self.np is not None:
            sims = self.matrix[:n] @ self.np.asarray(vector, dtype=self.np.float32)
            top = self.np.argpartition(-sims, k - 1)[:k] if n > k else self.np.arange(n)
            return sorted(((float(sims[i]), int(i)) for i in top), reverse=True)
        mul = operator.mul
        sims_py = [sum(map(mul, row, vector)) for row in self.rows]
        return heapq.nlargest(k, ((s, i) for i, s in enumerate(sims_py)))


class MemoryVectors:
    """In-process vectors: brute-force cosine search per scope, oldest evicted first past
    ``max_entries``. numpy is used when installed (``use_numpy=None``); pure Python else."""

    name = "memory"

    def __init__(self, max_entries: int = 10_000, *, use_numpy: bool | None = None) -> None:
        if isinstance(max_entries, bool) or not isinstance(max_entries, int) or max_entries < 1:
            raise ClientConfigError(
                f"MemoryVectors(max_entries={max_entries!r}): not a number of entries.\n"
                "Fix: use a whole number >= 1 (default 10000)."
            )
        np = _numpy() if use_numpy is not False else None
        if use_numpy and np is None:
            raise ClientConfigError(
                "MemoryVectors(use_numpy=True): numpy is not installed.\n"
                "Fix: pip install numpy, or leave use_numpy=None to use it only when present."
            )
        self.max_entries = max_entries
        self._np = np
        self._buckets: dict[str, _Bucket] = {}
        self._order: OrderedDict[int, str] = OrderedDict()
        self._next = 0
        self._lock = threading.Lock()

    @property
    def uses_numpy(self) -> bool:
        return self._np is not None

    def add(
        self, scope: str, vector: Sequence[float], value: bytes, *, expires_at: float | None
    ) -> None:
        row = list(vector)
        with self._lock:
            bucket = self._buckets.get(scope)
            if bucket is None:
                bucket = self._buckets[scope] = _Bucket(len(row), self._np)
            if bucket.dims != len(row):
                raise ValueError(
                    f"a vector of {len(row)} dimensions in a scope of {bucket.dims} "
                    "(the embedding function changed its size)"
                )
            self._next += 1
            bucket.add(self._next, row, value, expires_at)
            self._order[self._next] = scope
            while len(self._order) > self.max_entries:
                old, old_scope = self._order.popitem(last=False)
                self._remove(old, old_scope)

    def _remove(self, ident: int, scope: str) -> None:
        bucket = self._buckets[scope]
        bucket.remove(ident)
        if not bucket.ids:
            del self._buckets[scope]

    def search(
        self, scope: str, vector: Sequence[float], *, k: int, now: float
    ) -> list[tuple[float, bytes]]:
        query = list(vector)
        with self._lock:
            bucket = self._buckets.get(scope)
            if bucket is None:
                return []
            if bucket.dims != len(query):
                raise ValueError(
                    f"a query of {len(query)} dimensions in a scope of {bucket.dims} "
                    "(the embedding function changed its size)"
                )
            found: list[tuple[float, bytes]] = []
            stale: list[int] = []
            for sim, i in bucket.scores(query, k):
                expires = bucket.expires[i]
                if expires is not None and now >= expires:
                    stale.append(bucket.ids[i])
                else:
                    found.append((sim, bucket.values[i]))
            for ident in stale:
                self._order.pop(ident, None)
                self._remove(ident, scope)
            return found

    def clear(self) -> None:
        with self._lock:
            self._buckets.clear()
            self._order.clear()

    def close(self) -> None:
        pass

    def __len__(self) -> int:
        return len(self._order)

    def __repr__(self) -> str:
        maths = "numpy" if self._np is not None else "python"
        return (
            f"MemoryVectors(max_entries={self.max_entries}, entries={len(self)}, maths={maths!r})"
        )


def _load_vec(db: Any) -> None:
    try:
        sqlite_vec = importlib.import_module("sqlite_vec")
    except ImportError as exc:
        raise ClientConfigError(
            "The SQLite semantic cache needs the sqlite-vec extension, which is not installed.\n"
            "Fix: pip install 'pytest-llm-harness[semantic]' (or pip install sqlite-vec)."
        ) from exc
    db.enable_load_extension(True)
    try:
        sqlite_vec.load(db)
    finally:
        db.enable_load_extension(False)


class SQLiteVectors(SQLiteFile):
    """Vectors in an SQLite file through ``sqlite-vec``: a ``vec0`` virtual table per vector
    size, partitioned by scope, cosine distance; entries in a plain table beside it. WAL and
    a busy timeout, as the exact cache's SQLite backend."""

    name = "sqlite"

    def __init__(self, path: str | Path, *, timeout: float = 5.0) -> None:
        super().__init__(path, timeout=timeout)
        self._tables: set[int] = set()
        self._conn()  # fail at construction when sqlite-vec cannot load

    def _open(self) -> Any:
        try:
            db = connect_sqlite(self.path, timeout=self.timeout, extensions=True)
        except ImportError as exc:
            raise ClientConfigError(
                "The SQLite semantic cache needs an sqlite3 module that can load "
                "extensions; this Python's cannot, and pysqlite3 is not installed.\n"
                "Fix: pip install 'pytest-llm-harness[semantic]' (or pip install pysqlite3-binary)."
            ) from exc
        _load_vec(db)
        db.execute(
            "CREATE TABLE IF NOT EXISTS semantic_entries (id INTEGER PRIMARY KEY, "
            "scope TEXT NOT NULL, dims INTEGER NOT NULL, value BLOB NOT NULL, "
            "expires_at REAL)"
        )
        self._tables = set()
        return db

    def _table(self, db: Any, dims: int, *, create: bool) -> str | None:
        name = f"semantic_vec_{dims}"
        if dims in self._tables:
            return name
        exists = db.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)
        ).fetchone()
        if not exists:
            if not create:
                return None
            db.execute(
                f"CREATE VIRTUAL TABLE IF NOT EXISTS {name} USING vec0("
                f"scope text partition key, embedding float[{dims}] distance_metric=cosine)"
            )
        self._tables.add(dims)
        return name

    def add(
        self, scope: str, vector: Sequence[float], value: bytes, *, expires_at: float | None
    ) -> None:
        blob = _pack(vector)

        def run(db: Any) -> None:
            table = self._table(db, len(vector), create=True)
            db.execute("BEGIN IMMEDIATE")
            try:
                cur = db.execute(
                    "INSERT INTO semantic_entries (scope, dims, value, expires_at) "
                    "VALUES (?, ?, ?, ?)",
                    (scope, len(vector), value, expires_at),
                )
                db.execute(
                    f"INSERT INTO {table} (rowid, scope, embedding) VALUES (?, ?, ?)",
                    (cur.lastrowid, scope, blob),
                )
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

        self._locked(run)

    def search(
        self, scope: str, vector: Sequence[float], *, k: int, now: float
    ) -> list[tuple[float, bytes]]:
        blob = _pack(vector)

        def run(db: Any) -> list[tuple[float, bytes]]:
            table = self._table(db, len(vector), create=False)
            if table is None:
                return []
            near = db.execute(
                f"SELECT rowid, distance FROM {table} "
                "WHERE embedding MATCH ? AND k = ? AND scope = ? ORDER BY distance",
                (blob, k, scope),
            ).fetchall()
            if not near:
                return []
            marks = ",".join("?" * len(near))
            rows = {
                ident: (value, expires)
                for ident, value, expires in db.execute(
                    f"SELECT id, value, expires_at FROM semantic_entries WHERE id IN ({marks})",
                    [r[0] for r in near],
                )
            }
            found: list[tuple[float, bytes]] = []
            stale: list[int] = []
            for ident, distance in near:
                if ident not in rows:
                    continue
                value, expires = rows[ident]
                if expires is not None and now >= expires:
                    stale.append(ident)
                else:
                    found.append((1.0 - float(distance), bytes(value)))
            for ident in stale:
                db.execute(f"DELETE FROM {table} WHERE rowid = ?", (ident,))
                db.execute("DELETE FROM semantic_entries WHERE id = ?", (ident,))
            return found

        result: list[tuple[float, bytes]] = self._locked(run)
        return result

    def clear(self) -> None:
        def run(db: Any) -> None:
            names = db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' "
                "AND name LIKE 'semantic_vec_%' AND sql LIKE 'CREATE VIRTUAL%'"
            ).fetchall()
            for (name,) in names:
                db.execute(f"DELETE FROM {name}")
            db.execute("DELETE FROM semantic_entries")

        self._locked(run)

    def __len__(self) -> int:
        count: int = self._locked(
            lambda db: db.execute("SELECT count(*) FROM semantic_entries").fetchone()[0]
        )
        return count


def _pack(vector: Sequence[float]) -> bytes:
    import struct

    return struct.pack(f"<{len(vector)}f", *vector)


def _open(spec: str | SemanticBackend, max_entries: int) -> SemanticBackend:
    if not isinstance(spec, str):
        missing = [m for m in ("add", "search", "clear", "close") if not hasattr(spec, m)]
        if missing:
            raise ClientConfigError(
                f"SemanticCache(backend={spec!r}): not a semantic backend "
                f"(no {', '.join(missing)}).\n"
                "Fix: pass 'memory', 'sqlite:///path.db' or an object with "
                "add/search/clear/close (see pytest_llm.client.SemanticBackend)."
            )
        return spec
    scheme = spec.split("://", 1)[0].lower() if "://" in spec else spec.lower()
    if scheme == "memory":
        return MemoryVectors(max_entries)
    if scheme == "sqlite" and "://" in spec:
        return SQLiteVectors(_sqlite_path(spec))
    from ..fake._script import _near

    raise ClientConfigError(
        f"SemanticCache(backend={safe_url(spec)!r}): unknown semantic cache backend scheme "
        f"{scheme!r}{_near(scheme, SCHEMES)}; known schemes: {', '.join(SCHEMES)}.\n"
        "Fix: use 'memory' or 'sqlite:///path/to/semantic.db' (needs sqlite-vec)."
    )


def _is_async(fn: Any) -> bool:
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(
        getattr(fn, "__call__", None)  # noqa: B004 - a callable object's async __call__
    )


# -- the cache --------------------------------------------------------------------------

_OPTIONS = ("embed", "threshold", "backend", "ttl", "clock", "max_entries", "candidates")


class SemanticCache:
    """``query()`` -> ``lookup()`` / ``put()`` (and ``alookup`` / ``aput``).

    ``embed``: ``fn(text) -> vector``, sync or async (an async one needs ``alookup`` /
    ``aput``; a sync one called from them runs in a worker thread). ``threshold``: the
    least cosine similarity that counts as the same question (0 < threshold <= 1).
    """

    def __init__(
        self,
        embed: Embedder,
        *,
        threshold: float = 0.9,
        backend: str | SemanticBackend = "memory",
        ttl: float | None = None,
        clock: Clock = flow_clock,
        max_entries: int = 10_000,
        candidates: int = 4,
        **unknown: object,
    ) -> None:
        check_unknown("SemanticCache()", unknown, _OPTIONS)
        check_callable(
            "SemanticCache",
            "embed",
            embed,
            "pass fn(text) -> list of floats (sync or async), e.g. "
            "openai_embedder(openai.OpenAI()).",
            optional=False,
        )
        if (
            isinstance(threshold, bool)
            or not isinstance(threshold, (int, float))
            or not 0 < threshold <= 1
        ):
            raise ClientConfigError(
                f"SemanticCache(threshold={threshold!r}): not a cosine similarity in (0, 1].\n"
                "Fix: use e.g. threshold=0.9 (higher: fewer, safer hits)."
            )
        if isinstance(candidates, bool) or not isinstance(candidates, int) or candidates < 1:
            raise ClientConfigError(
                f"SemanticCache(candidates={candidates!r}): not a number of candidates.\n"
                "Fix: use a whole number >= 1 (default 4)."
            )
        self.embed = embed
        self.threshold = float(threshold)
        self.ttl = check_ttl(ttl, "SemanticCache()")
        self.clock = clock
        self.candidates = candidates
        self.backend: SemanticBackend = _open(backend, max_entries)

    @property
    def is_async(self) -> bool:
        """Whether ``embed`` is async (then only ``alookup`` / ``aput`` can use it)."""
        return _is_async(self.embed)

    def query(self, api: str, params: Mapping[str, Any], *, scope: str) -> SemanticQuery | None:
        """The request's scope and text, or ``None`` when it is not semantically cacheable."""
        split = prompt_split(api, params)
        if split is None:
            return None
        text, rest = split
        key = cache_key(api, rest, scope=scope)
        if key is None:
            return None
        return SemanticQuery(api=api, scope=key, text=text)

    # -- internals --

    def _now(self) -> float:
        return self.clock.now().timestamp()

    def _failed(self, what: Any, op: str, exc: BaseException) -> Lookup:
        if what is self.embed:
            message = (
                f"the semantic cache's embedding function {self.embed!r} failed "
                f"({type(exc).__name__}: {exc}); treated as a miss"
            )
        else:
            message = describe_failure(what, op, exc)
        report_failure(message, stacklevel=4)
        return Lookup("error", error=message)

    def _sync_vector(self, query: SemanticQuery) -> list[float]:
        if query.vector is None:
            if self.is_async:
                raise ClientConfigError(
                    f"SemanticCache: the embedding function {self.embed!r} is async, and a "
                    "sync call cannot await it.\nFix: use an async client "
                    "(alookup/aput), or pass a sync embedding function."
                )
            query.vector = _unit(self.embed(query.text))  # type: ignore[arg-type]
        return query.vector

    async def _async_vector(self, query: SemanticQuery) -> list[float]:
        if query.vector is None:
            if self.is_async:
                raw = await self.embed(query.text)  # type: ignore[misc]
            else:
                raw = await asyncio.to_thread(self.embed, query.text)
            query.vector = _unit(raw)
        return query.vector

    def _pick(self, found: list[tuple[float, bytes]], query: SemanticQuery) -> Lookup:
        if not found:
            return Lookup("miss")
        best_sim = max(sim for sim, _ in found)
        for sim, value in found:
            if sim < self.threshold:
                continue
            try:
                entry = CachedEntry.decode(value)
            except (ValueError, KeyError, TypeError):
                continue
            if entry.key != query.scope or entry.expired(self._now()):
                continue
            return Lookup("semantic", entry=entry, similarity=min(1.0, sim))
        return Lookup("miss", similarity=min(1.0, best_sim))

    def _encode(self, query: SemanticQuery, payload: Any, meta: Any) -> tuple[bytes, float | None]:
        """The stored entry and when it expires."""
        now = self._now()
        expires = None if self.ttl is None else now + self.ttl
        entry = CachedEntry(
            key=query.scope,
            payload=payload_of(payload),
            meta=dict(meta or {}),
            stored_at=now,
            expires_at=expires,
            text=query.text,
        )
        return entry.encode(), expires

    # -- sync --

    def lookup(self, query: SemanticQuery) -> Lookup:
        """The nearest entry of the query's scope at or above the threshold:
        status ``semantic`` with its similarity, else ``miss`` (with the nearest's)."""
        try:
            vector = self._sync_vector(query)
        except ClientConfigError:
            raise
        except Exception as exc:
            return self._failed(self.embed, "embed", exc)
        try:
            found = self.backend.search(query.scope, vector, k=self.candidates, now=self._now())
        except Exception as exc:
            return self._failed(self.backend, "search", exc)
        return self._pick(found, query)

    def put(
        self,
        query: SemanticQuery,
        payload: Mapping[str, Any] | BaseModel,
        *,
        meta: Mapping[str, Any] | None = None,
    ) -> str:
        """Store a result under the query's text; ``"stored"`` or ``"error"`` (warned)."""
        try:
            vector = self._sync_vector(query)
        except ClientConfigError:
            raise
        except Exception as exc:
            self._failed(self.embed, "embed", exc)
            return "error"
        try:
            value, expires = self._encode(query, payload, meta)
            self.backend.add(query.scope, vector, value, expires_at=expires)
        except Exception as exc:
            self._failed(self.backend, "add", exc)
            return "error"
        return "stored"

    # -- async --

    async def alookup(self, query: SemanticQuery) -> Lookup:
        try:
            vector = await self._async_vector(query)
        except Exception as exc:
            return self._failed(self.embed, "embed", exc)
        try:
            if isinstance(self.backend, MemoryVectors):
                found = self.backend.search(query.scope, vector, k=self.candidates, now=self._now())
            else:
                found = await asyncio.to_thread(
                    self.backend.search, query.scope, vector, k=self.candidates, now=self._now()
                )
        except Exception as exc:
            return self._failed(self.backend, "search", exc)
        return self._pick(found, query)

    async def aput(
        self,
        query: SemanticQuery,
        payload: Mapping[str, Any] | BaseModel,
        *,
        meta: Mapping[str, Any] | None = None,
    ) -> str:
        try:
            vector = await self._async_vector(query)
        except Exception as exc:
            self._failed(self.embed, "embed", exc)
            return "error"
        try:
            value, expires = self._encode(query, payload, meta)
            if isinstance(self.backend, MemoryVectors):
                self.backend.add(query.scope, vector, value, expires_at=expires)
            else:
                await asyncio.to_thread(
                    self.backend.add, query.scope, vector, value, expires_at=expires
                )
        except Exception as exc:
            self._failed(self.backend, "add", exc)
            return "error"
        return "stored"

    def clear(self) -> None:
        self.backend.clear()

    def close(self) -> None:
        self.backend.close()

    def __repr__(self) -> str:
        return (
            f"SemanticCache({self.backend!r}, threshold={self.threshold}, ttl={self.ttl!r}, "
            f"embed={getattr(self.embed, '__qualname__', type(self.embed).__name__)})"
        )


def openai_embedder(
    client: Any, *, model: str = "text-embedding-3-small", dimensions: int | None = None
) -> Embedder:
    """An embedding function from an openai client: async for ``AsyncOpenAI``, else sync."""
    extra: dict[str, Any] = {} if dimensions is None else {"dimensions": dimensions}
    create = client.embeddings.create

    if _is_async(create):

        async def aembed(text: str) -> Sequence[float]:
            result = await create(model=model, input=text, **extra)
            return list(result.data[0].embedding)

        aembed.__qualname__ = f"openai_embedder({model!r})"
        return aembed

    def embed(text: str) -> Sequence[float]:
        result = create(model=model, input=text, **extra)
        return list(result.data[0].embedding)

    embed.__qualname__ = f"openai_embedder({model!r})"
    return embed
