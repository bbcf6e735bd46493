"""What building and opening a test's cassette costs, and that the short ways give what
the long ones give."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pytest_llm.cassette import _build


def test_one_stat_answers_whether_a_cassette_exists_as_pathlib_would(tmp_path: Path) -> None:
    (tmp_path / "file.yaml").write_text("interactions: []\n")
    (tmp_path / "folder.yaml").mkdir()
    (tmp_path / "loop.yaml").symlink_to(tmp_path / "loop.yaml")
    for name in ("file.yaml", "folder.yaml", "missing.yaml", "file.yaml/under.yaml", "loop.yaml"):
        path = tmp_path / name
        st = _build._stat(path)
        assert (st is not None) is path.exists(), name
        if st is not None:
            assert st == os.stat(path)
    with pytest.raises(ValueError):
        os.stat(tmp_path / "nul\0.yaml")
    assert _build._stat(tmp_path / "nul\0.yaml") is None  # pathlib: False


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="permissions")
def test_a_cassette_that_cannot_be_looked_at_errs_as_pathlib_does(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0)
    try:
        path = locked / "c.yaml"
        try:
            expected: object = path.exists()
        except OSError as exc:
            expected = type(exc)
        try:
            got: object = _build._stat(path) is not None
        except OSError as exc:
            got = type(exc)
        assert got == expected
    finally:
        locked.chmod(0o755)
