"""A cassette's open (issue 14, hown): its folder and file name split in one look at the
path where that gives what ``os.path.dirname`` and ``os.path.basename`` give."""

from __future__ import annotations

import os

import pytest

from pytest_llm.cassette import _load

PATHS = [
    "/tmp/p/cassettes/test_mod/test_x.yaml",
    "/tmp/p/cassettes/test_mod/test_x[a-1].yaml",
    "cassettes/test_mod/test_x.yaml",
    "test_x.yaml",
    "/test_x.yaml",
    "//test_x.yaml",
    "/a//test_x.yaml",
    "a//b///test_x.yaml",
    "/a/b/",
    "/",
    "",
    "a/b/c",
]


@pytest.mark.parametrize("where", PATHS)
def test_the_split_is_os_paths(where: str) -> None:
    assert _load._split(where) == (os.path.dirname(where), os.path.basename(where))


@pytest.mark.parametrize("where", PATHS)
def test_and_its_fallback(where: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_load, "_ONE_SEP", False)
    assert _load._split(where) == (os.path.dirname(where), os.path.basename(where))
