"""Loading cassettes cheaply (issue 14): the GC paused during the parse, the load cache."""

from __future__ import annotations

import asyncio
import datetime
import gc
import hashlib
import marshal
import os
import shutil
import threading
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openai
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pytest_llm
from pytest_llm import CassetteError
from pytest_llm.cassette import _load
from pytest_llm.cassette._format import (
    _PEEK,
    CassetteFile,
    Interaction,
    _Dumper,
    _facts,
    dump,
    load,
)
from pytest_llm.cassette._session import Cassette


def _interaction(i: int) -> Interaction:
    return Interaction(
        {
            "request": {
                "method": "POST",
                "url": "http://llm.test/v1/chat/completions",
                "headers": {"content-type": "application/json"},
                "json": {"model": "m", "messages": [{"role": "user", "content": f"q{i} " * 20}]},
            },
            "response": {
                "status": 200,
                "headers": {"content-type": "application/json"},
                "json": {"choices": [{"message": {"content": f"answer {i}\n" * 5}}]},
            },
            "meta": {"model": "m"},
        }
    )


def _write(path: Path, n: int) -> Path:
    path.write_text(dump(CassetteFile(path, {}, [_interaction(i) for i in range(n)])))
    return path


@pytest.fixture
def big(tmp_path: Path) -> Path:
    path = _write(tmp_path / "big.yaml", 200)
    assert path.stat().st_size >= _load.CACHE_MIN_BYTES
    return path


def _seen(path: Path) -> list[tuple[object, int | None, bytes, bytes]]:
    return [
        (it.data, it.line, it.request_body(), it.reply().body) for it in load(path).interactions
    ]


def test_a_big_cassette_is_cached_and_reads_back_the_same(big: Path) -> None:
    _load.enabled = False
    try:
        plain = _seen(big)
    finally:
        _load.enabled = True
    assert not (big.parent / ".pytest-llm-cache").exists()
    first = _seen(big)  # parses, writes the cache
    cached = _load.cache_path(big)
    assert cached.is_file()
    assert (cached.parent / ".gitignore").read_text().splitlines()[-1] == "*"
    _load.forget()  # as the next process
    second = _seen(big)  # reads the cache
    assert plain == first == second
    assert [row[1] for row in second[:2]] == [8, 33]  # the lines of "- request:"
    assert sorted(p.name for p in cached.parent.iterdir()) == [".gitignore", "big.yaml.marshal"]


def test_the_cache_follows_the_yaml(big: Path) -> None:
    load(big)
    _write(big, 201)
    assert len(load(big).interactions) == 201
    _load.forget()
    assert len(load(big).interactions) == 201  # from the rewritten cache


def test_a_broken_cache_is_ignored(big: Path) -> None:
    load(big)
    cached = _load.cache_path(big)
    blob = cached.read_bytes()
    for broken in (blob[: len(blob) // 2], b"junk"):  # cut short; a wrong header
        cached.write_bytes(broken)
        _load.forget()  # the next process
        assert len(load(big).interactions) == 200
        assert len(cached.read_bytes()) == len(blob)  # re-parsed and rewritten


def test_small_cassettes_get_no_cache_file_of_their_own(tmp_path: Path) -> None:
    path = _write(tmp_path / "small.yaml", 2)
    assert len(Cassette(path).open().file.interactions) == 2  # type: ignore[union-attr]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["small.yaml"]  # not while running
    _new_process()
    assert sorted(p.name for p in (tmp_path / _load.CACHE_DIR).iterdir()) == [
        ".gitignore",
        _load.SMALL_CACHE,  # the folder's, written as the process ends
    ]


def test_the_gc_is_paused_during_the_parse_and_restored_after(
    big: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    states: list[bool] = []

    def spy(real: Callable[[str | bytes], object]) -> Callable[[str | bytes], object]:
        def parse(text: str | bytes) -> object:
            states.append(gc.isenabled())
            return real(text)

        return parse

    # every parse goes through one of them (sections, whole files)
    monkeypatch.setattr(_load, "_from_events", spy(_load._from_events))
    monkeypatch.setattr(_load, "_block", spy(_load._block))
    assert gc.isenabled()
    load(big)
    assert len(states) > 1  # the header, then each request
    assert not any(states)
    assert gc.isenabled()
    states.clear()
    big.write_text("format: [unclosed\n")
    with pytest.raises(CassetteError, match="is not valid YAML"):
        load(big)
    assert states == [False]
    assert gc.isenabled()


def test_gc_left_off_by_the_caller_stays_off(big: Path) -> None:
    gc.disable()
    try:
        load(big)
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_concurrent_loads_restore_the_gc_once_all_are_done(big: Path) -> None:
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def work() -> None:
        try:
            barrier.wait()
            for _ in range(3):
                assert len(load(big).interactions) == 200
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert gc.isenabled()


# -- the event reader: PyYAML's safe loader's result, faster ---------------------------

TRICKY = {
    "scalars": (
        "a: 1\nb: -0x1F\nc: 0o17\nd: 1_000\ne: 1.5e3\nf: .inf\ng: -.Inf\nh: .nan\n"
        "i: yes\nj: No\nk: on\nl: ~\nm: null\nn: ''\no: '1'\np: \"true\"\nq: 2001-12-14\n"
        "r: 2001-12-14t21:59:43.10-05:00\ns: 12:30:00\nt: 0b101\nu: +12\nv:\nw: 1e3\n"
    ),
    "blocks": "text: |\n  line 1\n  line 2\nfolded: >-\n  a\n  b\nkeep: |+\n  x\n\n",
    "flow": "events: [{data: '{\"a\": 1}', event: m}, {data: '[DONE]'}]\nempty: {}\nnone: []\n",
    "nested": "- - 1\n  - [2, {3: three, 4.5: x, true: y, null: z}]\n- {}\n",
    "duplicate keys": "a: 1\na: 2\n",
    "plain root": "just text\n",
    "number root": "42\n",
    "empty": "",
    "comments only": "# nothing\n",
    "explicit empty document": "---\n...\n",
    "non-specific tag": "a: ! 12\nb: ! [1]\n",
    "unicode": "name: \"caf\\u00e9 \\U0001F600\"\nraw: 'déjà vu'\n",
    # left to the safe loader
    "anchor and alias": "a: &x {k: 1}\nb: *x\n",
    "merge key": "base: &b {k: 1}\nderived:\n  <<: *b\n  j: 2\n",
    "explicit tags": "a: !!str 12\nb: !!binary aGk=\nc: !!float 1\n",
    "complex key": "? [1, 2]\n: pair\n",
    "two documents": "a: 1\n---\nb: 2\n",
    "syntax error": "a: [1, 2\nb: 3\n",
    "bad indentation": "a:\n  b: 1\n c: 2\n",
    "unknown tag": "a: !python/object:os.system ls\n",
    "tab": "a:\n\t- 1\n",
}


def _safe(text: str) -> tuple[str, object]:
    try:
        return "ok", yaml.load(text, Loader=_load.Loader)
    except yaml.YAMLError as exc:
        return "error", f"{type(exc).__name__}: {exc}"


def _ours(text: str) -> tuple[str, object]:
    try:
        return "ok", _load.parse(text)
    except yaml.YAMLError as exc:
        return "error", f"{type(exc).__name__}: {exc}"


@pytest.mark.parametrize("text", list(TRICKY.values()), ids=list(TRICKY))
def test_the_event_reader_gives_what_the_safe_loader_gives(text: str) -> None:
    ours, theirs = _ours(text), _safe(text)
    assert ours == theirs
    assert repr(ours) == repr(theirs)  # types too: 1 is not 1.0 or True, '1' is not 1


def test_every_cassette_in_the_repository_reads_the_same() -> None:
    root = Path(__file__).parent.parent
    files = sorted({*root.glob("**/cassettes/**/*.yaml"), *root.glob("**/cassettes/**/*.yml")})
    assert len(files) >= 5
    for path in files:
        text = path.read_text(encoding="utf-8")
        assert repr(_ours(text)) == repr(_safe(text)), path


def test_the_event_reader_reads_cassettes_without_the_safe_loader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It is really used (the safe loader is never asked), and leaves to it what it
    does not handle itself."""
    if _load.CParser is None:
        pytest.skip("PyYAML without libyaml: the safe loader reads everything")
    text = _write(tmp_path / "c.yaml", 3).read_text()
    expected = yaml.load(text, Loader=_load.Loader)
    asked: list[str] = []
    real = yaml.load

    def spy(stream: str, Loader: type) -> object:
        asked.append(stream)
        return real(stream, Loader=Loader)

    monkeypatch.setattr(_load.yaml, "load", spy)
    assert _load.parse(text) == expected
    assert asked == []
    assert _load.parse(TRICKY["anchor and alias"]) == {"a": {"k": 1}, "b": {"k": 1}}
    assert asked == [TRICKY["anchor and alias"]]


# -- the lazy reader: only the requests are parsed when a cassette opens ----------------


def _completion(i: int) -> dict[str, object]:
    return {
        "id": f"chatcmpl-{i}",
        "object": "chat.completion",
        "created": 1700000000,
        "model": "m",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": f"answer {i}\n" * 5},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 5, "total_tokens": 8},
    }


def _sdk_cassette(path: Path, n: int) -> Path:
    items = []
    for i in range(n):
        it = _interaction(i)
        it.data["response"]["json"] = _completion(i)
        it.data["meta"]["test"] = "tests/test_x.py::test_x"
        items.append(it)
    path.write_text(dump(CassetteFile(path, {}, items)))
    return path


def _ask(client: openai.OpenAI, i: int) -> str | None:
    out = client.chat.completions.create(
        model="m", messages=[{"role": "user", "content": f"q{i} " * 20}]
    )
    return out.choices[0].message.content


def _sections_read(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """Each section parsed after the cassette opened: (key, offset in the file)."""
    seen: list[tuple[str, int]] = []
    real = _load.section

    def spy(file: _load.File, keys: tuple[str, ...], bounds: bytes, key: str) -> object:
        seen.append((key, _load.unpack(bounds)[keys.index(key)]))
        return real(file, keys, bounds, key)

    monkeypatch.setattr(_load, "section", spy)
    return seen


def test_a_response_is_parsed_only_when_it_is_replayed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _sdk_cassette(tmp_path / "c.yaml", 5)
    text = path.read_text()
    seen = _sections_read(monkeypatch)
    client = openai.OpenAI(base_url="http://llm.test/v1", api_key="sk-test", max_retries=0)
    with pytest_llm.use_cassette(path, allow_playback_repeats=True, check_unused=False) as c:
        assert seen == []  # opened, indexed: no response parsed
        assert _ask(client, 3) == "answer 3\n" * 5
        assert _ask(client, 3) == "answer 3\n" * 5  # the reply is built once
        assert _ask(client, 1) == "answer 1\n" * 5
        assert c.file is not None
        assert c.file.interactions[0].line == text.splitlines().index("- request:") + 1
    assert [key for key, _ in seen] == ["response", "response"]
    at = [text.encode().index(b"  response:", start) for start in (0,)]  # the first one
    responses = []
    while at[-1] >= 0:
        responses.append(at[-1])
        at.append(text.encode().find(b"  response:", at[-1] + 1))
    assert [offset for _, offset in seen] == [responses[3], responses[1]]


def test_async_replay_reads_the_response_when_replayed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _sdk_cassette(tmp_path / "c.yaml", 3)
    seen = _sections_read(monkeypatch)

    async def ask() -> str | None:
        client = openai.AsyncOpenAI(base_url="http://llm.test/v1", api_key="sk-test", max_retries=0)
        out = await client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "q2 " * 20}]
        )
        return out.choices[0].message.content

    with pytest_llm.use_cassette(path, check_unused=False):
        assert seen == []
        assert asyncio.run(ask()) == "answer 2\n" * 5
    assert [key for key, _ in seen] == ["response"]


def _plain_load(path: Path) -> CassetteFile:
    _load.enabled = False
    try:
        return load(path)
    finally:
        _load.enabled = True


def _as_seen(cassette: CassetteFile) -> list[tuple[object, ...]]:
    return [
        (it.data, it.line, it.method, it.url, it.request_body(), it.wire_digest, it.reply())
        for it in cassette.interactions
    ]


def _error_of(read: Callable[[Path], CassetteFile], path: Path) -> str | None:
    try:
        read(path)
    except CassetteError as exc:
        return str(exc)
    return None


def _lazy(cassette: CassetteFile) -> bool:
    return all(it._data is None for it in cassette.interactions)


def test_every_cassette_in_the_repository_reads_the_same_lazily() -> None:
    root = Path(__file__).parent.parent
    files = sorted({*root.glob("**/cassettes/**/*.yaml"), *root.glob("**/cassettes/**/*.yml")})
    lazy = 0
    for path in files:
        error = _error_of(_plain_load, path)
        if error is not None:
            assert _error_of(load, path) == error, path
            continue
        plain, got = _plain_load(path), load(path)
        lazy += _lazy(got) and bool(got.interactions)
        seen = _as_seen(got)  # before dump: each section still read from the text
        assert seen == _as_seen(plain), path
        assert dump(got) == dump(plain), path  # the same keys in the same order
    assert lazy >= 3


BASE = (
    "format: pytest-llm-cassette\n"
    "version: 2\n"
    "meta:\n"
    "  interactions: 2\n"
    "interactions:\n"
    "- request:\n"
    "    method: POST\n"
    "    url: http://llm.test/v1/chat/completions\n"
    "    json:\n"
    "      messages:\n"
    "      - content: hi\n"
    "        role: user\n"
    "      model: m\n"
    "  response:\n"
    "    status: 200\n"
    "    headers:\n"
    "      content-type: application/json\n"
    "    json:\n"
    "      choices:\n"
    "      - message:\n"
    "          content: |-\n"
    "            line one\n"
    "            line two\n"
    "  meta:\n"
    "    model: m\n"
    "    test: tests/test_x.py::test_x[a-b]\n"
    "- request:\n"
    "    method: GET\n"
    "    url: http://llm.test/v1/models\n"
    "  response:\n"
    "    status: 200\n"
    "    text: plain\n"
    "end: 2\n"
)

LAYOUTS = {
    "ours": (BASE, True),
    "a sample and a summary first": (
        BASE.replace(
            "- request:\n    method: GET",
            "- summary:\n    text: s\n  sample: 1\n  request:\n    method: GET",
        ),
        True,
    ),
    "a test id that needs quotes": (
        BASE.replace("test_x[a-b]", "test_x[a b]'").replace("test: t", "test: 't"),
        True,
    ),
    "a stream with its times": (
        BASE.replace(
            "    text: plain\n",
            "    events:\n    - {data: '{\"a\":1}'}\n    - {data: '[DONE]'}\n  meta:\n    event_times: [0.0, 0.5]\n",
        ),
        True,
    ),
    "a request digest": (
        BASE.replace(
            "    model: m\n    test:",
            "    model: m\n    request_digest: 0123456789abcdef01234567/89abcdef0123456789abcdef\n    test:",
        ),
        True,
    ),
    "markdown that looks like an alias": (BASE.replace("line two", "a *bold* word"), False),
    "an anchor and an alias across sections": (
        BASE.replace("      model: m\n  response:", "      model: &m m\n  response:").replace(
            "    model: m\n    test", "    model: *m\n    test"
        ),
        False,
    ),
    "crlf line ends": (BASE.replace("\n", "\r\n"), False),
    "a quoted string running on over a section's line": (
        BASE.replace("    text: plain\n", '    text: "plain\n  meta:\n    test: y"\n'),
        False,
    ),
    "a single-quoted string running on from a response into its meta": (
        BASE.replace(
            "          content: |-\n            line one\n            line two\n",
            "          content: 'line one\n",
        ).replace("test_x[a-b]\n", "test_x[a-b]'\n"),
        False,
    ),
    "a literal block keeping its line ends, then the meta": (
        BASE.replace("          content: |-\n", "          content: |+\n").replace(
            "            line two\n  meta:", "            line two\n\n\n  meta:"
        ),
        True,
    ),
    "a comment between interactions": (
        BASE.replace("- request:\n    method: GET", "# next\n- request:\n    method: GET"),
        False,
    ),
    "three-space indentation": (
        BASE.replace(
            "  response:\n    status: 200\n    text", "  response:\n     status: 200\n     text"
        ),
        False,
    ),
    "a duplicate section": (
        BASE.replace("    text: plain\n", "    text: plain\n  response:\n    status: 201\n"),
        False,
    ),
    "a status that is not first": (
        BASE.replace("    status: 200\n    text: plain", "    text: plain\n    status: 200"),
        False,
    ),
}


@pytest.mark.parametrize(("text", "lazy"), list(LAYOUTS.values()), ids=list(LAYOUTS))
def test_the_lazy_reader_reads_what_the_full_reader_reads(
    tmp_path: Path, text: str, lazy: bool
) -> None:
    """Whatever the scan is not sure of goes to the full reader; what it reads, it
    reads the same."""
    path = tmp_path / "c.yaml"
    path.write_bytes(text.encode())
    plain = _plain_load(path)
    got = load(path)
    assert _lazy(got) is lazy
    assert _as_seen(got) == _as_seen(plain)
    assert got.meta == plain.meta


BROKEN = {
    "a syntax error in the last response": ("    text: plain\n", "    text: [plain\n"),
    "a tab in a response": ("    text: plain\n", "    text: plain\n\t\n"),
    "a response without a status": ("    status: 200\n    text: plain\n", "    text: plain\n"),
    "a status that is a string": (
        "    status: 200\n    text: plain\n",
        "    status: '200'\n    text: plain\n",
    ),
    "a response that is a list": (
        "  response:\n    status: 200\n    text: plain\n",
        "  response:\n  - 200\n",
    ),
    "an unknown tag in a response": ("    text: plain\n", "    text: !python/name:os.system x\n"),
    "an alias nobody defined": ("    text: plain\n", "    text: *nowhere\n"),
    "not UTF-8 in a response": ("    text: plain\n", "    text: pl\xffain\n"),
    "truncated": ("end: 2\n", ""),
    "a wrong count": ("  interactions: 2\n", "  interactions: 3\n"),
    "a request without a url": ("    url: http://llm.test/v1/models\n", ""),
}


def _scan_texts() -> list[bytes]:
    root = Path(__file__).parent.parent
    files = sorted({*root.glob("**/cassettes/**/*.yaml"), *root.glob("**/cassettes/**/*.yml")})
    texts = [text.encode() for text, _ in LAYOUTS.values()]
    texts += [BASE.replace(old, new).encode() for old, new in BROKEN.values()]
    texts += [
        BASE.replace("test_x[a-b]", "x" * 300).encode(),
        BASE.replace("  meta:", "  " + "m" * 300 + ":").encode(),
    ]
    return texts + [path.read_bytes() for path in files]


def _same_layout(a: _load.Layout | None, b: _load.Layout | None) -> bool:
    if a is None or b is None:
        return a is b
    return (a.head, a.items) == (b.head, b.items)


@pytest.mark.parametrize("size", [1, 2, 3, 17, 256, 4096])
def test_the_scan_reads_a_file_a_chunk_at_a_time_as_it_reads_it_whole(
    tmp_path: Path, size: int
) -> None:
    """A load holds a window of the file, not the file: the same facts (the same
    offsets, lines, head) or the same refusal, wherever the chunks are cut."""
    texts = [*_scan_texts(), _sdk_cassette(tmp_path / "c.yaml", 30).read_bytes()]
    read = 0
    for raw in texts:
        whole = _load.scan(raw, _facts, _PEEK)
        chunks = iter([raw[i : i + size] for i in range(0, len(raw), size)])
        assert _same_layout(_load.scan(chunks, _facts, _PEEK), whole), raw[:200]
        read += whole is not None
    assert read >= 10


@pytest.mark.parametrize(("most", "share"), [(0, 8), (900, 1), (1 << 30, 1)])
def test_the_scan_reads_requests_together_as_it_reads_each_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, most: int, share: int
) -> None:
    """The requests of consecutive interactions are parsed by one block reader call
    (:func:`_load._entries`): the same facts, in the same order, or the same refusal as
    one call per interaction, whatever the number read together (0: one at a time;
    1 << 30: the whole file's)."""
    texts = [*_scan_texts(), _sdk_cassette(tmp_path / "c.yaml", 30).read_bytes()]
    alone = []
    with monkeypatch.context() as m:
        m.setattr(_load, "BATCH_BYTES", 0)
        alone = [_load.scan(raw, _facts, _PEEK) for raw in texts]
    monkeypatch.setattr(_load, "BATCH_BYTES", most)
    monkeypatch.setattr(_load, "BATCH_SHARE", share)
    calls: list[int] = []
    block = _load._block
    monkeypatch.setattr(_load, "_block", lambda text: calls.append(1) or block(text))
    for raw, want in zip(texts, alone, strict=True):
        calls.clear()
        assert _same_layout(_load.scan(raw, _facts, _PEEK), want), raw[:200]
    assert want is not None
    assert len(want.items) == 30
    if most == 1 << 30:  # the 30 requests in one call, the text around the list in another
        assert len(calls) == 2
    elif most == 900:
        assert 2 < len(calls) < 30


_URL_LINE = "    url: http://llm.test/v1/chat/completions\n"
HEADERS = {  # the request's headers as written in place of nothing (name: text, cut?)
    "plain": ("    headers:\n      accept: application/json\n      x-n: '1'\n", True),
    "empty": ("    headers:\n", True),
    "last": ("", True),  # (put after the body: see the test)
    "a comment inside": ("    headers:\n      # c\n      a: b\n", True),
    "a literal inside": ("    headers:\n      a: |\n        x\n\n        y\n      b: c\n", True),
    "a quoted string over two lines": ("    headers:\n      a: 'x\n        y'\n", True),
    "a flow mapping over two lines": ("    headers:\n      a: {b: 1,\n        c: 2}\n", True),
    "a tab inside": ("    headers:\n      a: b\t\n", True),
    "a key named json inside": ("    headers:\n      json: 1\n", True),
    "given twice": ("    headers:\n      a: b\n    headers:\n      c: d\n", True),
    "a sequence at their key's column": ("    headers:\n    - a\n    - b\n", True),  # (refused)
    "a quoted string running on into the body": ("    headers:\n      a: 'x\n", False),
    "odd indentation": ("    headers:\n      a: b\n     c: d\n", False),
    "a flow mapping on their line": ("    headers: {a: b}\n", False),
    "a scalar over two lines": ("    headers:\n      a: b\n       c\n", True),
    "the request's keys further right": ("", False),  # (see the test)
    "inside a quoted url running on over them": ("    headers:\n      a: b\n    x: y'\n", True),
}


@pytest.mark.parametrize(("headers", "cut"), list(HEADERS.values()), ids=list(HEADERS))
def test_a_requests_headers_are_checked_not_parsed_and_it_reads_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, headers: str, cut: bool
) -> None:
    """The scan leaves a request's headers out of its parse when libyaml finds them
    right on their own (:meth:`_load._ScanState.without_headers`): the same facts or
    the same refusal as with them parsed, and the same cassette, or error, as the full
    reader's."""
    if headers:
        text = BASE.replace(_URL_LINE, _URL_LINE + headers, 1)
    elif cut:  # the headers after the body
        text = BASE.replace("      model: m\n", "      model: m\n    headers:\n      a: b\n", 1)
    else:  # the request's keys at column 6, its headers at 4: not YAML
        text = BASE.replace(
            "    method: POST\n" + _URL_LINE,
            "      method: POST\n  " + _URL_LINE + "    headers:\n      a: b\n",
            1,
        ).replace("    json:\n      messages:", "    x-json:\n      messages:", 1)
    if "x: y'" in headers:  # the url's quote opens before them, closes after them
        text = text.replace("    url: http", "    url: 'http", 1)
    if "running on" in headers:
        text = text.replace("      model: m\n", "      model: m'\n", 1)
    raw = text.encode()
    cuts: list[bytes | None] = []
    without = _load._ScanState.without_headers
    monkeypatch.setattr(
        _load._ScanState,
        "without_headers",
        lambda self, t: cuts.append(got := without(self, t)) or got,
    )
    got = _load.scan(raw, _facts, _PEEK)
    assert (cuts[0] is not None) is cut
    with monkeypatch.context() as m:
        m.setattr(_load._ScanState, "without_headers", lambda self, t: None)
        assert _same_layout(got, _load.scan(raw, _facts, _PEEK))
    path = tmp_path / "c.yaml"
    path.write_bytes(raw)
    error = _error_of(_plain_load, path)
    assert _error_of(load, path) == error
    if error is None:
        assert _as_seen(load(path)) == _as_seen(_plain_load(path))


_ENTRY = st.builds(
    lambda value, sample: yaml.dump(
        [{"request": value, **({} if sample is None else {"sample": sample})}],
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        width=1 << 20,
    ),
    st.one_of(  # (_VALUE: see the block reader's tests below)
        st.deferred(lambda: _VALUE),
        st.deferred(lambda: _VALUE).map(lambda v: {"method": "POST", "json": v}),
    ),
    st.one_of(st.none(), st.integers(0, 3)),
)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    entries=st.lists(_ENTRY, min_size=2, max_size=4),
    edits=st.lists(
        st.tuples(st.integers(0, 3), st.integers(0, 10_000), st.sampled_from(" :#-'\n|{&\x00")),
        max_size=3,
    ),
)
def test_requests_read_together_read_as_each_alone(
    entries: list[str], edits: list[tuple[int, int, str]]
) -> None:
    """:func:`_load._entries` gives each text what the block reader gives it alone, or
    ``None``: whatever the cassette writer writes, hand edits included. Texts that
    are not each one entry ending in a line break are read alone."""
    assert _load._entries([b"- a\n", b"- b\n"]) == ["a", "b"]
    assert _load._entries([b"- a", b"- b\n- c\n"]) is None  # "- a- b" would be one entry
    assert _load._entries([b"- a: 1\n", b"  b: 2\n", b"- c\n- d\n"]) is None  # b: not an entry
    for which, at, char in edits:
        text = entries[which % len(entries)]
        at %= len(text) + 1
        entries[which % len(entries)] = text[:at] + char + text[at:]
    texts = [text.encode() for text in entries]
    together = _load._entries(texts)
    if together is None:
        return
    assert all(text.endswith(b"\n") for text in texts)
    assert len(together) == len(texts)
    for text, got in zip(texts, together, strict=True):
        alone = _block_or_refused(text)
        assert alone is not _load._Unsupported, text
        assert isinstance(alone, list), text
        assert len(alone) == 1, text
        assert _same(got, alone[0]), text


@settings(max_examples=300, deadline=None)
@given(
    st.binary(min_size=0, max_size=40).map(lambda b: bytes(b"&*! \n\t[{,a-"[x % 11] for x in b)),
    st.lists(st.integers(min_value=1, max_value=40), max_size=6),
)
def test_node_properties_are_found_across_chunks_as_in_the_whole_file(
    raw: bytes, cuts: list[int]
) -> None:
    chunks, at = [], 0
    for n in cuts:
        chunks.append(raw[at : at + n])
        at += n
    chunks.append(raw[at:])
    window = _load._Window(iter([c for c in chunks if c]))
    try:
        while window.more(0):
            pass
        found = False
    except _load._Unsupported:
        found = True
    assert found == (b"\r" in raw or _load._has_node_properties(raw))
    assert window.buf == raw or found


@pytest.mark.parametrize("size", ["small", "big"])
def test_a_file_edited_while_it_is_read_is_read_whole_and_not_cached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, size: str
) -> None:
    """Its sha256 is taken first, the scan reads it again: an edit in between (the
    file's times tell) must not leave the edited file's facts under the old digest."""
    path = (
        _small(tmp_path / "c.yaml", 1, 2)
        if size == "small"
        else _sdk_cassette(tmp_path / "c.yaml", 100)
    )
    edited = path.read_bytes().replace(b"answer 1", b"answer 7")
    real = _load.scan

    def scan(raw: Any, *args: Any) -> object:
        st = path.stat()
        path.write_bytes(edited)  # in place
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
        return real(raw, *args)

    _load.forget()
    monkeypatch.setattr(_load, "scan", scan)
    got = load(path)
    monkeypatch.undo()
    assert not _lazy(got)  # the full reader's, from the file as it is now
    assert _as_seen(got) == _as_seen(_plain_load(path))
    assert any(b"answer 7" in it.reply().body for it in got.interactions)
    _new_process()
    assert _load.cache_path(path).exists() is (size == "big")  # the whole document's
    small = tmp_path / _load.CACHE_DIR / _load.SMALL_CACHE
    assert not small.exists() or "c.yaml" not in _cached_names(tmp_path)


def _peak(path: Path) -> int:
    """The most memory a cold load of ``path`` holds at once (tracemalloc)."""
    load(path)  # imports and first-use caches, not counted
    _load.forget()
    shutil.rmtree(path.parent / _load.CACHE_DIR, ignore_errors=True)
    gc.collect()
    tracemalloc.start()
    try:
        got = load(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert _lazy(got)
    return peak


def test_a_load_never_holds_the_whole_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for path in (
        _sdk_cassette(tmp_path / "big.yaml", 400),
        _small(tmp_path / "s.yaml", *range(30)),
    ):
        size = path.stat().st_size
        peak = _peak(path)
        with monkeypatch.context() as m:
            m.setattr(_load, "CHUNK_MIN", 1 << 30)  # the file in one chunk
            whole = _peak(path)
        # the facts, a window of the file (an eighth of a big one, 2 KiB of a small
        # one), the big one's cache written; not the whole file beside them
        assert peak < whole - size / 2, path
        if size >= _load.CACHE_MIN_BYTES:
            assert peak < size


@pytest.mark.parametrize(("old", "new"), list(BROKEN.values()), ids=list(BROKEN))
def test_a_broken_cassette_fails_when_it_opens_as_the_full_reader_says(
    tmp_path: Path, old: str, new: str
) -> None:
    """Every section is checked when the cassette opens, also those only parsed when
    replayed: the same error, naming file and line, as the full reader's."""
    path = tmp_path / "c.yaml"
    assert old in BASE
    text = BASE.replace(old, new)
    path.write_bytes(text.encode("latin-1") if "\xff" in new else text.encode())
    with pytest.raises(CassetteError) as plain:
        _plain_load(path)
    with pytest.raises(CassetteError) as lazy:
        Cassette(path).open()
    assert str(lazy.value) == str(plain.value)
    assert str(path) in str(lazy.value)
    assert "Fix:" in str(lazy.value)


def _kept(path: Path) -> int:
    """The memory a replaying cassette keeps once open (tracemalloc)."""
    Cassette(path).open()  # imports and first-use caches, not counted
    gc.collect()
    tracemalloc.start()
    try:
        cassette = Cassette(path).open()
        kept, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert cassette.file is not None
    return kept


def test_an_open_cassette_keeps_neither_its_text_nor_its_parsed_document(
    tmp_path: Path,
) -> None:
    for path in (
        _sdk_cassette(tmp_path / "big.yaml", 400),
        _small(tmp_path / "s.yaml", *range(30)),
    ):
        size = path.stat().st_size
        lazy = _kept(path)
        _load.enabled = False
        try:
            plain = _kept(path)  # the whole document parsed, every reply built
        finally:
            _load.enabled = True
        assert plain > 2 * size
        # the facts and the index (~0.6x at 400); not the file's bytes (1x), which were kept
        # for the sections read when used
        assert lazy < size
        assert lazy < plain / 2


def _opened(path: Path) -> Cassette:
    cassette = Cassette(path, allow_playback_repeats=True).open()
    assert cassette.file is not None
    assert _lazy(cassette.file)
    return cassette


def _first_reply(cassette: Cassette) -> bytes:
    assert cassette.file is not None
    return cassette.file.interactions[0].reply().body


@pytest.mark.parametrize("size", ["small", "big"])
def test_a_section_is_read_from_the_file_as_opened_when_first_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, size: str
) -> None:
    path = (
        _small(tmp_path / "c.yaml", 1, 2)
        if size == "small"
        else _sdk_cassette(tmp_path / "c.yaml", 100)
    )
    text = path.read_bytes()
    expected = _as_seen(_plain_load(path))

    # unchanged: read from the file (a relative path, after a chdir, too)
    monkeypatch.chdir(tmp_path)
    cassette = _opened(Path("c.yaml"))
    monkeypatch.chdir("/")
    assert _as_seen(cassette.file) == expected  # type: ignore[arg-type]

    # touched, or copied over with the same bytes (a new inode): its sha256 says the same
    _load.forget()
    cassette = _opened(path)
    os.utime(path, ns=(1, 1))
    tmp = tmp_path / "copy.yaml"
    tmp.write_bytes(text)
    os.replace(tmp, path)
    assert _as_seen(cassette.file) == expected  # type: ignore[arg-type]

    # edited since it was opened (the same size and offsets: another answer)
    _load.forget()
    cassette = _opened(path)
    edited = text.replace(b"answer 0", b"answer 9").replace(b"answer 1", b"answer 9")
    assert len(edited) == len(text)
    assert edited != text
    before = path.stat()
    path.write_bytes(edited)  # in place: the same inode and size; the file's times tell
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns + 10**9))  # (a coarse clock)
    with pytest.raises(CassetteError) as info:
        _first_reply(cassette)
    line = cassette.file.interactions[0].line  # type: ignore[union-attr]
    assert str(info.value).splitlines() == [
        f"cassette {path}:{line}: the 'response' of this interaction cannot be read: the file "
        f"changed since the test opened it ({path} changed since it was opened); an open "
        "cassette reads each section from its file when first used.",
        "Fix: do not edit, move or re-record a cassette while a test replays it; "
        "run the test again.",
    ]
    _load.forget()
    assert _first_reply(_opened(path)).count(b"answer 9") == 5  # opened again: the new file

    # gone since it was opened
    _load.forget()
    cassette = _opened(path)
    path.unlink()
    with pytest.raises(CassetteError, match="the file cannot be read any more since the test"):
        _first_reply(cassette)


def test_interactions_share_one_string_per_method_also_from_the_cache(tmp_path: Path) -> None:
    """What an open cassette keeps per interaction: its own body and digest, not its own
    copy of ``POST`` (read from the YAML, then from the cache the first load wrote)."""
    path = _sdk_cassette(tmp_path / "big.yaml", 100)
    assert path.stat().st_size >= _load.CACHE_MIN_BYTES
    _load.forget()
    for _ in ("yaml", "cache"):
        cassette = load(path)
        assert _lazy(cassette)
        assert len({id(it.method) for it in cassette.interactions}) == 1
        _load.forget()
    assert _load.cache_path(path).exists()


# -- the small cassettes' cache: one file per folder, read once per process -----------


def _new_process() -> None:
    """What the next process sees: the caches written (as at exit), none in memory."""
    _load.flush()
    assert not _load._dirty
    _load.forget()


def _small(path: Path, *answers: int) -> Path:
    """A small cassette replaying ``q{i}`` with ``answer {i}`` for each ``i``."""
    items = []
    for i in answers:
        it = _interaction(i)
        it.data["response"]["json"] = _completion(i)
        items.append(it)
    path.write_text(dump(CassetteFile(path, {}, items)))
    assert path.stat().st_size < _load.CACHE_MIN_BYTES
    return path


def _scans(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """The files :func:`_load.scan` reads from now on."""
    seen: list[bytes] = []
    real = _load.scan

    def spy(raw: bytes, *args: Any) -> object:
        seen.append(raw)
        return real(raw, *args)

    monkeypatch.setattr(_load, "scan", spy)
    return seen


def _replay(path: Path, *questions: int) -> list[str | None]:
    client = openai.OpenAI(base_url="http://llm.test/v1", api_key="sk-test", max_retries=0)
    with pytest_llm.use_cassette(path, check_unused=False):
        return [_ask(client, i) for i in questions]


def _cached_names(folder: Path) -> dict[str, bytes]:
    """File name -> the YAML digest its entry is for, in ``folder``'s cache file."""
    blob = (folder / _load.CACHE_DIR / _load.SMALL_CACHE).read_bytes()
    tag = _load._tags()[1]
    assert blob.startswith(tag)
    return {name: entry[0] for name, entry in marshal.loads(blob[len(tag) :]).items()}


def test_a_replayed_small_cassette_is_read_from_its_folders_cache_next_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = _small(tmp_path / "a.yaml", 1, 2), _small(tmp_path / "b.yaml", 3)
    plain = {path: _as_seen(_plain_load(path)) for path in (a, b)}
    assert _replay(a, 2) == ["answer 2\n" * 5]
    assert _replay(b, 3) == ["answer 3\n" * 5]
    assert not (tmp_path / _load.CACHE_DIR).exists()  # nothing written while running
    _new_process()
    assert _cached_names(tmp_path) == {
        p.name: hashlib.sha256(p.read_bytes()).digest() for p in (a, b)
    }
    scans = _scans(monkeypatch)
    sections = _sections_read(monkeypatch)
    assert _replay(a, 2) == ["answer 2\n" * 5]  # its facts and its reply from the cache
    assert _replay(b, 3) == ["answer 3\n" * 5]
    assert scans == []
    assert sections == []
    assert _replay(a, 1) == ["answer 1\n" * 5]  # never replayed before: parsed now
    assert [key for key, _ in sections] == ["response"]
    _new_process()
    sections.clear()
    assert _replay(a, 1, 2) == ["answer 1\n" * 5, "answer 2\n" * 5]
    assert scans == []
    assert sections == []
    for path in (a, b):  # all the same as the full reader's, replies included
        assert _as_seen(load(path)) == plain[path]


def test_an_edited_small_cassette_is_read_from_its_yaml_not_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _small(tmp_path / "c.yaml", 1)
    assert _replay(path, 1) == ["answer 1\n" * 5]
    _new_process()
    text = path.read_text()
    edited = text.replace("answer 1", "answer 7")  # the same size, the same offsets
    assert len(edited) == len(text)
    assert edited != text
    path.write_text(edited)
    scans = _scans(monkeypatch)
    assert _replay(path, 1) == ["answer 7\n" * 5]  # the YAML is the truth
    assert len(scans) == 1
    path.write_text(text)  # and back, in the same process
    assert _replay(path, 1) == ["answer 1\n" * 5]
    assert len(scans) == 2
    _new_process()
    assert _cached_names(tmp_path) == {"c.yaml": hashlib.sha256(text.encode()).digest()}
    assert _replay(path, 1) == ["answer 1\n" * 5]
    assert len(scans) == 2


def test_a_stream_and_a_failure_read_back_from_the_cache_as_from_the_yaml(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stream = tmp_path / "stream.yaml"
    stream.write_bytes(
        next(
            Path(__file__).parent.parent.glob("examples/*/cassettes/**/*streams_text*.yaml")
        ).read_bytes()
    )
    failing = _small(tmp_path / "failing.yaml", 1)
    failing.write_text(
        failing.read_text().replace(
            "  meta:\n", "    failure:\n      kind: read_error\n      message: reset\n  meta:\n"
        )
    )
    for path in (stream, failing):
        [it.reply() for it in load(path).interactions]
    _new_process()
    _sections_read(monkeypatch)
    monkeypatch.setattr(_load, "section", None)  # any parse now would fail
    for path in (stream, failing):
        got = [it.reply() for it in load(path).interactions]
        monkeypatch.undo()
        plain = [it.reply() for it in _plain_load(path).interactions]
        assert got == plain
        assert got[0].failure is not None or got[0].events
        for mine, theirs in zip(got, plain, strict=True):
            assert [e.raw for e in mine.events or []] == [e.raw for e in theirs.events or []]
        _sections_read(monkeypatch)
        monkeypatch.setattr(_load, "section", None)


def test_the_cache_drops_cassettes_that_are_gone_and_ignores_a_broken_file(
    tmp_path: Path,
) -> None:
    a, b, c = (_small(tmp_path / f"{n}.yaml", i) for i, n in enumerate("abc"))
    load(a), load(b)
    _new_process()
    cached = tmp_path / _load.CACHE_DIR / _load.SMALL_CACHE
    assert set(_cached_names(tmp_path)) == {"a.yaml", "b.yaml"}
    b.unlink()
    load(c)  # a change to write: b's entry on disk goes with it
    _new_process()
    assert set(_cached_names(tmp_path)) == {"a.yaml", "c.yaml"}
    load(a)
    c.unlink()  # gone while the process ran
    load(_small(tmp_path / "d.yaml", 4))
    _new_process()
    assert set(_cached_names(tmp_path)) == {"a.yaml", "d.yaml"}
    blob = cached.read_bytes()
    for broken in (blob[: len(blob) // 2], b"junk", b""):
        cached.write_bytes(broken)
        assert _replay(a, 0) == ["answer 0\n" * 5]
        _new_process()
        assert set(_cached_names(tmp_path)) == {"a.yaml"}


def test_two_processes_writing_one_folders_cache_keep_both_entries(tmp_path: Path) -> None:
    a, b = _small(tmp_path / "a.yaml", 0), _small(tmp_path / "b.yaml", 1)
    shared = _small(tmp_path / "shared.yaml", 2, 3)
    load(a)
    load(shared).interactions[0].reply()
    first = _load._folders.pop(str(tmp_path))  # process 1, still running
    _load._dirty.clear()
    load(b)  # process 2: another cassette, and the other reply of the shared one
    load(shared).interactions[1].reply()
    _new_process()
    assert set(_cached_names(tmp_path)) == {"b.yaml", "shared.yaml"}
    _load._write_small(first)  # process 1 ends: merged with what is on disk
    assert set(_cached_names(tmp_path)) == {"a.yaml", "b.yaml", "shared.yaml"}
    _new_process()
    entries = _load._folder(tmp_path).entries
    assert sorted(entries["shared.yaml"][3]) == [it.line for it in load(shared).interactions]


def test_a_cassette_marshal_cannot_keep_is_left_out_of_the_cache(tmp_path: Path) -> None:
    odd = _small(tmp_path / "odd.yaml", 1)
    odd.write_text(
        odd.read_text().replace("meta:\n", "meta:\n  recorded_at: 2026-01-01 10:00:00\n", 1)
    )
    assert isinstance(load(odd).meta["recorded_at"], datetime.datetime)
    load(_small(tmp_path / "plain.yaml", 2))
    _new_process()
    assert set(_cached_names(tmp_path)) == {"plain.yaml"}
    assert isinstance(load(odd).meta["recorded_at"], datetime.datetime)


def test_a_process_keeps_a_few_folders_in_memory_and_writes_those_it_lets_go(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_load, "FOLDERS_KEPT", 2)
    folders = [tmp_path / f"f{i}" for i in range(3)]
    for folder in folders:
        folder.mkdir()
        load(_small(folder / "c.yaml", 1))
    assert sorted(_load._folders)[-2:] == [str(f) for f in folders[1:]]
    assert str(folders[0]) not in _load._folders
    assert set(_cached_names(folders[0])) == {"c.yaml"}  # written as it left
    assert not (folders[2] / _load.CACHE_DIR).exists()
    _new_process()
    assert set(_cached_names(folders[2])) == {"c.yaml"}


def test_a_read_only_folder_reads_its_cassettes_without_a_cache(tmp_path: Path) -> None:
    path = _small(tmp_path / "c.yaml", 1)
    tmp_path.chmod(0o555)
    try:
        assert _replay(path, 1) == ["answer 1\n" * 5]
        _new_process()
        assert _replay(path, 1) == ["answer 1\n" * 5]
    finally:
        tmp_path.chmod(0o755)
    if os.geteuid() != 0:  # root writes anywhere
        assert not (tmp_path / _load.CACHE_DIR).exists()


def test_a_process_does_not_put_back_an_entry_another_one_renewed(tmp_path: Path) -> None:
    path = _small(tmp_path / "c.yaml", 1)
    load(path)
    _new_process()
    load(path)  # process 1: from the cache, as it was
    load(_small(tmp_path / "other.yaml", 2))  # and something to write at its end
    first = _load._folders.pop(str(tmp_path))
    _load._dirty.clear()
    path.write_text(path.read_text().replace("answer 1", "answer 5"))
    load(path)  # process 2 reads the edited file and ends first
    _new_process()
    _load._write_small(first)
    assert _cached_names(tmp_path)["c.yaml"] == hashlib.sha256(path.read_bytes()).digest()


# -- a small cassette's stat stands for its bytes once it is not racy (git's rule) ------


def _hashed(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """The cassettes' bytes :mod:`._load` hashes from now on (one entry per hash)."""
    seen: list[bytes] = []

    class Spy:
        def __init__(self, data: bytes = b"") -> None:
            self.sha = hashlib.sha256(data)
            seen.append(data)

        def update(self, data: bytes) -> None:
            seen[-1] += data
            self.sha.update(data)

        def digest(self) -> bytes:
            return self.sha.digest()

    monkeypatch.setattr(_load, "hashlib", type("hashlib", (), {"sha256": Spy}))
    return seen


def _trusting(monkeypatch: pytest.MonkeyPatch, *paths: Path) -> None:
    """Make ``paths``' stats trusted as the rule would a while later: no margin, and a
    cache file written after their last change (the file system's clock moved on)."""
    monkeypatch.setattr(_load, "RACY_NS", 0)
    time.sleep(0.05)  # past a coarse clock's tick (ctime is the kernel's, not ours)
    for path in paths:
        load(path)
    _new_process()  # written after the cassettes' change: its ctime is later than theirs
    for path in paths:
        load(path)  # hashed once more: the stat is trusted
    _new_process()


def _file_of(cassette: CassetteFile) -> tuple[object, ...]:
    src = cassette.interactions[0]._src
    assert src is not None
    return (src.file.path, src.file.stamp, src.file.digest, src.replies, src.folder is not None)


@pytest.mark.skipif(os.name != "posix", reason="a POSIX ctime")
def test_a_small_cassettes_trusted_stat_opens_it_unread_as_reading_it_would(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a = _small(tmp_path / "a.yaml", 1, 2)
    plain = _as_seen(_plain_load(a))
    load(a).interactions[0].reply()
    _new_process()
    hashed = load(a)  # hashed: the stat is not trusted yet
    hashed_file = _file_of(hashed)
    _trusting(monkeypatch, a)
    reads = _hashed(monkeypatch)
    trusted = load(a)
    assert reads == []  # not opened: its stat stands for the bytes hashed before
    assert _file_of(trusted) == hashed_file
    assert _as_seen(trusted) == plain
    st = a.stat()  # the stat the caller took: not even opened
    monkeypatch.setattr(_load, "_read_open", None)
    given = load(a, stat=st)
    monkeypatch.undo()
    assert _file_of(given) == hashed_file
    assert _as_seen(given) == plain
    assert _replay(a, 1, 2) == ["answer 1\n" * 5, "answer 2\n" * 5]


@pytest.mark.skipif(os.name != "posix", reason="a POSIX ctime")
def test_a_changed_small_cassette_is_read_again_whatever_its_size_and_times(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = [_small(tmp_path / f"{n}.yaml", 1) for n in "abcd"]
    _trusting(monkeypatch, *paths)
    reads = _hashed(monkeypatch)
    assert [_replay(p, 1) for p in paths] == [["answer 1\n" * 5]] * 4
    assert reads == []
    a, b, c, d = paths
    for path in (a, b, c):  # the same size and offsets, the old times put back
        before = path.stat()
        edited = path.read_text().replace("answer 1", "answer 7")
        if path is c:  # replaced by another file (a new inode)
            (tmp_path / "new").write_text(edited)
            os.replace(tmp_path / "new", path)
        else:
            path.write_text(edited)
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
        after = path.stat()
        assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)
        if path is b:  # and back as it was: bytes, times
            path.write_text(edited.replace("answer 7", "answer 1"))
            os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert _replay(a, 1) == ["answer 7\n" * 5]  # edited within the same second
    assert _replay(b, 1) == ["answer 1\n" * 5]
    assert _replay(c, 1) == ["answer 7\n" * 5]
    assert len(reads) == 3
    os.utime(d)  # touched: the same bytes, read again to know it
    assert _replay(d, 1) == ["answer 1\n" * 5]
    assert len(reads) == 4
    _new_process()  # each is trusted again only once hashed with its new stat, not racy
    monkeypatch.setattr(_load, "RACY_NS", 10**12)
    assert [_replay(p, 1) for p in paths] == [["answer 7\n" * 5], ["answer 1\n" * 5]] * 2
    assert len(reads) == 8


@pytest.mark.skipif(os.name != "posix", reason="a POSIX ctime")
def test_a_stat_is_not_trusted_within_the_margin_of_the_cache_files_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _small(tmp_path / "c.yaml", 1)
    for _ in range(3):  # every process: written just now, so within 2 s of the cache's
        assert _replay(path, 1) == ["answer 1\n" * 5]
        _new_process()
    blob = (tmp_path / _load.CACHE_DIR / _load.SMALL_CACHE).read_bytes()
    entry = marshal.loads(blob[len(_load._tags()[1]) :])["c.yaml"]
    assert entry[4] is None
    reads = _hashed(monkeypatch)
    assert _replay(path, 1) == ["answer 1\n" * 5]
    assert len(reads) == 1
    since = _load._folder(tmp_path).since
    assert since is not None
    ctime = path.stat().st_ctime_ns
    folder = _load._Folder(tmp_path, {})
    for gap, trusted in ((0, False), (_load.RACY_NS, False), (_load.RACY_NS + 1, True)):
        folder.since = ctime + gap
        assert _load._not_racy(folder, _load._stamp(path.stat())) is trusted
    folder.since = None  # no cache file was read: nothing to compare with
    assert not _load._not_racy(folder, _load._stamp(path.stat()))


@pytest.mark.skipif(os.name != "posix", reason="a POSIX ctime")
def test_two_processes_merging_a_folders_cache_keep_a_stat_one_trusted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = _small(tmp_path / "a.yaml", 0), _small(tmp_path / "b.yaml", 1)
    monkeypatch.setattr(_load, "RACY_NS", 0)
    time.sleep(0.05)
    load(a), load(b)
    _new_process()
    load(a)  # process 1: a's stat trusted, b's not asked
    first = _load._folders.pop(str(tmp_path))
    _load._dirty.clear()
    monkeypatch.setattr(_load, "RACY_NS", 10**12)
    load(a)  # process 2: racy by its rule, so not trusted; it writes first
    load(_small(tmp_path / "c.yaml", 2))
    _new_process()
    _load._write_small(first)  # process 1 ends: its trust kept beside process 2's entries
    entries = _load._folder(tmp_path).entries
    assert entries["a.yaml"][4] == _load._stamp(a.stat())
    assert entries["b.yaml"][4] is None
    _new_process()
    monkeypatch.setattr(_load, "_folders", {})
    second = _load._folder(tmp_path)
    second.entries["a.yaml"][4] = None  # a process that knew no stat for it writes last
    _load._changed(second)
    _new_process()
    assert _load._folder(tmp_path).entries["a.yaml"][4] == _load._stamp(a.stat())


def test_xdist_workers_fill_one_cache_per_folder_and_read_it_next_run(
    llm_project: pytest.Pytester,
) -> None:
    pytest.importorskip("xdist")
    llm_project.makepyfile(
        test_many="""
        import os, openai, pytest

        @pytest.mark.llm_cassette
        @pytest.mark.parametrize("n", range(12))
        def test_one(n):
            client = openai.OpenAI(base_url=os.environ["LOOPBACK_URL"], max_retries=0)
            r = client.chat.completions.create(
                model="m", messages=[{"role": "user", "content": f"ticket {n}"}]
            )
            assert r.choices[0].message.content == f"Echo: ticket {n}"
        """
    )
    folder = llm_project.path / "cassettes" / "test_many"
    cached = folder / _load.CACHE_DIR / _load.SMALL_CACHE
    args = ("-n", "2", "-p", "no:cacheprovider")
    llm_project.runpytest_subprocess("--llm-record=once", *args).assert_outcomes(passed=12)
    assert not cached.exists()  # recording reads no cassette
    llm_project.runpytest_subprocess(*args).assert_outcomes(passed=12)
    names = _cached_names(folder)
    assert sorted(names) == sorted(p.name for p in folder.glob("*.yaml"))  # both workers'
    assert len(names) == 12
    # each run that finds a cassette's stat not trusted yet (racy: changed within 2 s of
    # the cache file) writes the cache again; once trusted, a run writes nothing
    for _ in range(6):
        before = cached.stat()
        llm_project.runpytest_subprocess(*args).assert_outcomes(passed=12)
        after = cached.stat()  # every cassette and reply came from it: nothing to write
        if (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns):
            break
        time.sleep(0.5)
    else:
        raise AssertionError("each run wrote the folder's cache again")
    assert sorted(_cached_names(folder)) == sorted(names)


# -- the block reader: the layout pytest-llm writes, line by line ----------------------


def _same(a: object, b: object) -> bool:
    """Equal, and of the same types all the way down (``1 == True`` is not enough)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict) and isinstance(b, dict):
        return list(a) == list(b) and all(
            type(k) is type(j) and _same(a[k], b[j]) for k, j in zip(a, b, strict=True)
        )
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


BLOCK = {
    "keys and plain scalars": "a: 1\nb: yes\nc: ~\nd: 1.5\ne: a:b c#d [e] {f}\n",
    "quoted keys and values": "'1': 'it''s'\n'yes': ''\n7: x\ntrue: y\nnull: z\n",
    "a sequence under its key, at the key's column": "k:\n- a\n- b: 1\n  c: 2\nz: 0\n",
    "a sequence under its key, indented": "k:\n  - a\n  - b\nz: 0\n",
    "a request section": "- request:\n    method: POST\n    json:\n      x: {}\n      y: []\n",
    "a response section": "  response:\n    status: 200\n    text: |-\n      one\n      two\n",
    "literal blocks": "a: |\n  x\n\n  y\nb: |+\n  x\n\n\nc: |-\n  x\n\nd: x\n",
    "an indentation indicator": "a: |2-\n    lead\n  x\nb:\n- |1\n   y\n",
    "comment lines": "# head\n\na: 1\n  # inside\nb:\n  # before\n  c: 2\n",
    "a literal keeps what looks like syntax": "a: |-\n  # not a comment\n  k: v\n  - x\n",
    "an empty value": "a:\nb: 1\n",
}

REFUSED = {
    "a plain scalar over two lines": "a: one\n  two\n",
    "a comment after a value": "a: 1 # one\n",
    "double quotes": 'a: "x"\n',
    "a flow mapping": "a: {b: 1}\n",
    "an anchor": "a: &x 1\nb: *x\n",
    "a tag": "a: !!str 1\n",
    "a tab": "a:\t1\n",
    "a folded block": "a: >\n  x\n",
    "a mapping value in a plain scalar": "a: b: c\n",
    "a key after a top-level sequence": "- a\nb: 1\n",
    "odd indentation": "a:\n    b: 1\n  c: 2\n",
    "an unclosed quote": "a: 'x\n",
    "a next line": "a: x\x85y\n",
    "a byte order mark": "\ufeffa: 1\n",
    "a document marker": "---\na: 1\n",
    "a merge key": "a: 1\n<<: {}\n",
    "a literal starting with a blank line": "a: |\n\n  x\n",
    "no line end at the end": "a: 1",
}


@pytest.mark.parametrize("text", list(BLOCK.values()), ids=list(BLOCK))
def test_the_block_reader_reads_the_layout_pytest_llm_writes(text: str) -> None:
    assert _same(_load._block(text), yaml.load(text, Loader=_load.Loader))


@pytest.mark.parametrize("text", list(REFUSED.values()), ids=list(REFUSED))
def test_the_block_reader_leaves_everything_else_to_the_event_reader(text: str) -> None:
    with pytest.raises(_load._Unsupported):
        _load._block(text)
    try:
        want = yaml.load(text, Loader=_load.Loader)
    except yaml.YAMLError as exc:
        with pytest.raises(type(exc)):
            _load.parse_bytes(text.encode())
    else:
        assert _same(_load.parse_bytes(text.encode()), want)


_WORDS = st.sampled_from(
    ["yes", "null", "~", "1", "-1", "0x1F", "1e3", ".inf", "2026-01-01", "a: b", "a #b",
     "#x", "- x", "? x", "x:", "&a", "*a", "!t", "%p", "'q'", '"d"', " lead", "trail ",
     "a\nb", "a\n", "a\n\n", " x\ny", "tab\tx", "日本 é", "\x85", "", "<<", "|", "-"]
)  # fmt: skip
_TEXT = st.one_of(_WORDS, st.lists(_WORDS, max_size=3).map("".join), st.text(max_size=12))
_VALUE = st.recursive(
    st.one_of(_TEXT, st.integers(-5, 300), st.none(), st.booleans()),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(_TEXT, st.integers(0, 9)), inner, max_size=4),
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    value=_VALUE,
    shape=st.sampled_from(["mapping", "request", "response"]),
    edits=st.lists(
        st.tuples(st.integers(0, 10_000), st.sampled_from(" :#-'\n|{&\x00")), max_size=3
    ),
)
def test_the_block_reader_reads_what_the_safe_loader_reads(
    value: object, shape: str, edits: list[tuple[int, str]]
) -> None:
    """Whatever the cassette writer writes, hand edits included: the block reader
    gives the safe loader's result, or leaves the text to the event reader; it never
    accepts what the safe loader refuses."""
    doc: object = {"k": value}
    if shape == "request":
        doc = [{"request": value, "sample": 1}]
    elif shape == "response":
        doc = {"response": {"status": 200, "json": value}}
    text = yaml.dump(doc, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=1 << 20)
    if shape == "response":
        text = "".join("  " + line if line.strip() else line for line in text.splitlines(True))
    for at, char in edits:
        at %= len(text) + 1
        text = text[:at] + char + text[at:]
    try:
        want: object = yaml.load(text, Loader=_load.Loader)
    except yaml.YAMLError:
        want = yaml.YAMLError
    got = _block_or_refused(text)
    from_bytes = _block_or_refused(text.encode())  # as a cassette's sections are read
    if got is _load._Unsupported:
        assert from_bytes is _load._Unsupported, text
        return
    assert want is not yaml.YAMLError, text
    assert _same(got, want), text
    assert _same(from_bytes, want), text


def _block_or_refused(text: str | bytes) -> object:
    try:
        return _load._block(text)
    except _load._Unsupported:
        return _load._Unsupported


def test_the_block_reader_refuses_the_same_characters_in_bytes_and_in_text() -> None:
    """Bytes that are printable ASCII skip the search for characters left to libyaml:
    the outcome is the same as for the text, for every ASCII character and a few others."""
    others = [0x85, 0xA0, 0xFEFF, 0x2028, 0x2029, 0xE9, 0x65E5, 0x1F600, 0xFFFE, 0xD7FF]
    for code in [*range(128), *others]:
        text = f"a: x{chr(code)}y\nb: |\n  z{chr(code)}\n"
        got, from_bytes = _block_or_refused(text), _block_or_refused(text.encode())
        assert got is from_bytes or _same(got, from_bytes), hex(code)
    assert _block_or_refused(b"a: x\ty\n") is _load._Unsupported
    assert _block_or_refused(b"a: x y\n") == {"a": "x y"}


def test_a_big_cassette_opened_again_shares_its_facts_and_replies_in_the_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cassette several tests share: the second opens it without reading its cache
    file, and replays what the first replayed without parsing it again."""
    path = _sdk_cassette(tmp_path / "shared.yaml", 200)
    assert path.stat().st_size >= _load.CACHE_MIN_BYTES
    client = openai.OpenAI(base_url="http://llm.test/v1", api_key="sk-test", max_retries=0)
    with pytest_llm.use_cassette(path, check_unused=False):
        assert _ask(client, 7) == "answer 7\n" * 5
    sections = _sections_read(monkeypatch)
    scans = _scans(monkeypatch)
    monkeypatch.setattr(_load, "_read_cache", None)  # any read of the file's cache fails
    with pytest_llm.use_cassette(path, check_unused=False):
        assert _ask(client, 7) == "answer 7\n" * 5
        assert sections == []
        assert _ask(client, 8) == "answer 8\n" * 5  # not replayed before: parsed now
    assert [key for key, _ in sections] == ["response"]
    assert scans == []
    monkeypatch.undo()
    path.write_text(path.read_text().replace("answer 7", "answer 9"))  # edited since
    with pytest_llm.use_cassette(path, check_unused=False):
        assert _ask(client, 7) == "answer 9\n" * 5


def test_a_process_keeps_a_few_big_cassettes_in_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_load, "BIG_KEPT", 2)
    paths = [_sdk_cassette(tmp_path / f"c{i}.yaml", 200) for i in range(3)]
    for path in paths:
        load(path)
    assert list(_load._big) == [str(p) for p in paths[1:]]
    load(paths[1])
    assert list(_load._big) == [str(paths[2]), str(paths[1])]  # the last used, last


def test_caches_written_by_other_code_are_not_used(
    tmp_path: Path, big: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An upgrade, or an edit of the code that computes what the caches hold, changes
    their first line: what the older code wrote is read afresh from the YAML."""
    small = _small(tmp_path / "small.yaml", 1)
    assert _replay(small, 1) == ["answer 1\n" * 5]
    load(big)
    _new_process()
    tags = _load._tags()
    assert b" code " in tags[0]
    assert b" code " in tags[1]
    monkeypatch.setattr(_load, "_tags_made", tuple(t.replace(b" code ", b" code x") for t in tags))
    scans = _scans(monkeypatch)
    assert _replay(small, 1) == ["answer 1\n" * 5]
    assert len(load(big).interactions) == 200
    assert len(scans) == 2


def test_a_relative_cassette_path_is_cached_in_its_folder_after_a_chdir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    _small(tmp_path / "a" / "c.yaml", 1)
    monkeypatch.chdir(tmp_path / "a")
    assert _replay(Path("c.yaml"), 1) == ["answer 1\n" * 5]
    monkeypatch.chdir(tmp_path / "b")  # before the process ends
    _new_process()
    assert set(_cached_names(tmp_path / "a")) == {"c.yaml"}
    assert not (tmp_path / "b" / _load.CACHE_DIR).exists()


# -- PyYAML is imported only when a file is parsed or written -------------------------

_REPLAY_AND_SAY = """
import sys
import openai, pytest_llm

client = openai.OpenAI(base_url="http://llm.test/v1", api_key="sk-test", max_retries=0)
with pytest_llm.use_cassette(sys.argv[1], check_unused=False):
    for i in (1, 2):
        out = client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": f"q{i} " * 20}]
        )
        assert out.choices[0].message.content == f"answer {i}\\n" * 5
print("yaml" in sys.modules)
"""


def test_replaying_a_warm_small_cassette_does_not_import_pyyaml(tmp_path: Path) -> None:
    import subprocess
    import sys

    path = _small(tmp_path / "chat.yaml", 1, 2)

    def replay() -> str:
        done = subprocess.run(
            [sys.executable, "-c", _REPLAY_AND_SAY, str(path)],
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stdout.strip()

    assert replay() == "True"  # cold: the file is read, with PyYAML's libyaml check
    assert (path.parent / _load.CACHE_DIR / _load.SMALL_CACHE).exists()
    assert replay() == "False"  # warm: from the folder's cache, PyYAML never imported
