"""Loading cassettes cheaply (issue 14): the GC paused during the parse, the load cache."""

from __future__ import annotations

import gc
import threading
from pathlib import Path

import pytest

from pytest_llm import CassetteError
from pytest_llm.cassette import _load
from pytest_llm.cassette._format import CassetteFile, Interaction, dump, load
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
    second = _seen(big)  # reads the cache
    assert plain == first == second
    assert [row[1] for row in second[:2]] == [8, 33]  # the lines of "- request:"
    assert sorted(p.name for p in cached.parent.iterdir()) == [".gitignore", "big.yaml.marshal"]


def test_the_cache_follows_the_yaml(big: Path) -> None:
    load(big)
    _write(big, 201)
    assert len(load(big).interactions) == 201
    assert len(load(big).interactions) == 201  # from the rewritten cache


def test_a_broken_cache_is_ignored(big: Path) -> None:
    load(big)
    cached = _load.cache_path(big)
    blob = cached.read_bytes()
    for broken in (blob[: len(blob) // 2], b"junk"):  # cut short; a wrong header
        cached.write_bytes(broken)
        assert len(load(big).interactions) == 200
        assert len(cached.read_bytes()) == len(blob)  # re-parsed and rewritten


def test_small_cassettes_get_no_cache(tmp_path: Path) -> None:
    path = _write(tmp_path / "small.yaml", 2)
    assert len(Cassette(path).open().file.interactions) == 2  # type: ignore[union-attr]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["small.yaml"]


def test_the_gc_is_paused_during_the_parse_and_restored_after(
    big: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    states: list[bool] = []
    real = _load.yaml.load

    def spy(*args: object, **kwargs: object) -> object:
        states.append(gc.isenabled())
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(_load.yaml, "load", spy)
    assert gc.isenabled()
    load(big)
    assert states == [False]
    assert gc.isenabled()
    big.write_text("format: [unclosed\n")
    with pytest.raises(CassetteError, match="is not valid YAML"):
        load(big)
    assert states == [False, False]
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
