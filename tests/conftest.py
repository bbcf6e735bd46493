from __future__ import annotations

import importlib
import os
import pkgutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

# Imported here so pytester's in-process runs keep them instead of re-importing each time:
# hypothesis's pytest plugin would re-import it on every run, and a pytest-llm module
# imported afresh by an inner run would hold a second router that the outer tests'
# cassettes never see.
import hypothesis
import openai
import yaml

import pytest_llm
from loopback import LoopbackServer

KEPT_LOADED = [hypothesis, openai, yaml]

# No real-time bound in the suite: hypothesis's per-example deadline is one, and fails
# on busy shared machines (tests with their own settings already say deadline=None).
hypothesis.settings.register_profile("pytest-llm", deadline=None)
hypothesis.settings.load_profile("pytest-llm")
for _info in pkgutil.walk_packages(pytest_llm.__path__, "pytest_llm."):
    # every module, so lazily loaded names (faults, fake) keep one identity across runs
    KEPT_LOADED.append(importlib.import_module(_info.name))

LOOPBACK_SOURCE = (Path(__file__).parent / "loopback.py").read_text()


@pytest.fixture
def loopback() -> Iterator[LoopbackServer]:
    """A real OpenAI-compatible HTTP server on 127.0.0.1, stopped after the test."""
    with LoopbackServer() as server:
        yield server


@pytest.fixture
def llm_project(
    pytester: pytest.Pytester, loopback: LoopbackServer, monkeypatch: pytest.MonkeyPatch
) -> pytest.Pytester:
    """A pytester project whose tests talk to the loopback server via LOOPBACK_URL."""
    monkeypatch.setenv("LOOPBACK_URL", loopback.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-" + "a" * 40)
    monkeypatch.delenv("CI", raising=False)
    for var in ("PYTEST_LLM_RECORD", "PYTEST_LLM_CASSETTE_DIR", "PYTEST_LLM_ALLOW_NETWORK"):
        monkeypatch.delenv(var, raising=False)
    pytester.makepyfile(loopback=LOOPBACK_SOURCE)
    return pytester


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Real-time upper bounds fail on busy shared machines: opt in with PYTEST_LLM_REALTIME=1."""
    if os.environ.get("PYTEST_LLM_REALTIME") == "1":
        return
    skip = pytest.mark.skip(reason="real-time bound; set PYTEST_LLM_REALTIME=1 to run it")
    for item in items:
        if item.get_closest_marker("realtime") is not None:
            item.add_marker(skip)
