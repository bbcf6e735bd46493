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


@pytest.mark.parametrize(
    "name", ["test_x.yaml", "T.test_y[a-1].yaml", "test_z[a_b-1f2e3d4c5b].yaml"]
)
def test_a_cassettes_file_name_joins_its_folder_as_slash_would(tmp_path: Path, name: str) -> None:
    for folder in (tmp_path, Path("rel/dir"), Path("/")):
        for join in (_build._child, _build._join):
            got = join(folder, name)
            assert (got, str(got), got.name, got.parent) == (
                folder / name,
                str(folder / name),
                name,
                folder,
            )
            assert type(got) is type(folder / name)


_PATHS = """
import pytest
from pytest_llm.cassette import _build

def check(request, llm_cassette, folder="cassettes"):
    want = _build.cassette_path(request.node, folder, None, {})
    assert llm_cassette.path == want and str(llm_cassette.path) == str(want)

@pytest.mark.llm_cassette
@pytest.mark.parametrize("n", [1, 2])
def test_one(request, llm_cassette, n):
    check(request, llm_cassette)

@pytest.mark.llm_cassette
class TestElsewhere:
    @pytest.fixture
    def llm_cassette_config(self):
        return {"cassette_dir": "elsewhere"}

    def test_other_dir(self, request, llm_cassette):
        check(request, llm_cassette, "elsewhere")

@pytest.mark.llm_cassette
class TestKind:
    def test_in_class(self, request, llm_cassette):
        check(request, llm_cassette)

@pytest.mark.llm_cassette
def test_after(request, llm_cassette):
    check(request, llm_cassette)
"""


@pytest.mark.parametrize("fallback", [False, True])
def test_each_tests_cassette_path_is_the_one_cassette_path_works_out(
    pytester: pytest.Pytester, fallback: bool
) -> None:
    """The folder of the previous test's module is taken again by identity; modules,
    classes, another cassette dir in between: each test's path as worked out afresh."""
    pytester.makepyfile(test_a=_PATHS, test_b=_PATHS)
    if fallback:  # a Python whose pathlib has no shortcut for a child
        pytester.makeconftest(
            "from pathlib import Path\n"
            "from pytest_llm.cassette import _build\n"
            "_build._child = _build._join\n"
        )
    pytester.runpytest_inprocess("-p", "no:cacheprovider").assert_outcomes(passed=10)
