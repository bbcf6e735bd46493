from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from faults_support import Upstream, upstream

SUPPORT_SOURCE = (Path(__file__).parent / "faults_support.py").read_text()


@pytest.fixture
def up() -> Iterator[Upstream]:
    """The upstream behind the faults: every request that passes the plan gets an answer."""
    with upstream() as handler:
        yield handler


@pytest.fixture
def faults_project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """A pytester project that can import the upstream (``faults_support``)."""
    monkeypatch.delenv("PYTEST_LLM_SEED", raising=False)
    monkeypatch.delenv("CI", raising=False)
    pytester.makepyfile(faults_support=SUPPORT_SOURCE)
    return pytester
