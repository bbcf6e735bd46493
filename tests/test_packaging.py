"""The distributions: this project's name, and the example app that depends on it.

The name ``pytest-llm`` on the package registry is an unrelated project that ships its own
top-level ``pytest_llm``: nothing here may depend on it by that name.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from email.parser import Parser
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "triage"
DIST = "pytest-llm-harness"


def _pyproject(path: Path) -> dict[str, object]:
    with (path / "pyproject.toml").open("rb") as f:
        return tomllib.load(f)


def test_the_distribution_is_not_the_registrys_pytest_llm() -> None:
    project = _pyproject(ROOT)["project"]
    assert isinstance(project, dict)
    assert project["name"] == DIST
    assert project["scripts"] == {"pytest-llm": "pytest_llm.cli:main"}
    # the extras that name the project itself name it by its own distribution
    for extra, requirements in project["optional-dependencies"].items():
        for line in requirements:
            assert Requirement(line).name != "pytest-llm", (extra, line)


def test_the_example_app_builds_with_its_backend_and_depends_on_this_project(
    tmp_path: Path,
) -> None:
    """Its pyproject.toml is what pip reads: the build backend must find one module
    (triage.py) in a directory that also holds tests/, evals/, prompts/ and cassettes/,
    where setuptools' automatic discovery refuses a flat layout with several packages."""
    build = _pyproject(EXAMPLE)["build-system"]
    assert isinstance(build, dict)
    assert build["build-backend"] == "setuptools.build_meta"
    pytest.importorskip("setuptools", minversion="68")
    out = tmp_path / "metadata"
    out.mkdir()
    code = (
        "import sys, setuptools.build_meta as b; "
        "print(b.prepare_metadata_for_build_wheel(sys.argv[1]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(out)],
        cwd=EXAMPLE,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    dist_info = out / done.stdout.strip().splitlines()[-1]
    metadata = Parser().parsestr((dist_info / "METADATA").read_text())
    assert metadata["Name"] == "triage-example"
    requires = [Requirement(r) for r in metadata.get_all("Requires-Dist") or []]
    names = {r.name for r in requires}
    assert "pytest-llm" not in names
    runtime = {r.name for r in requires if r.marker is None}
    assert DIST in runtime  # triage.py runs on pytest_llm.client
    test_extra = [str(r) for r in requires if r.marker and "test" in str(r.marker)]
    assert any(r.startswith(f"{DIST}[jsonschema]") for r in test_extra), test_extra
