"""What pytest-llm reaches into inside the SDK and asyncio is still there.

These fail first when a new openai release (or Python) moves a private name that
virtual time or interception depend on; tox's ``openai-latest`` runs them against the
newest SDK release.
"""

from __future__ import annotations

import asyncio
import warnings

import openai
import openai._base_client
import pytest

from pytest_llm import VirtualClock
from pytest_llm._canary import SDKDrift, missing


def test_everything_pytest_llm_reaches_into_is_where_it_was() -> None:
    assert missing() == []


def test_a_moved_sdk_name_is_warned_about_with_the_sdk_version(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pytest_llm import _canary

    monkeypatch.setattr(_canary, "_warned", set())
    monkeypatch.delattr(openai._base_client, "random")
    with pytest.warns(SDKDrift) as record, VirtualClock():
        pass
    assert str(record[0].message) == (
        f"pytest-llm: openai._base_client.random was not found (openai {openai.__version__}, "
        f"Python {__import__('sys').version.split()[0]}): the SDK's retry sleeps are real "
        "again and not recorded on the virtual clock. pytest-llm may not support this release "
        "yet; please report it."
    )
    assert missing() == ["openai._base_client.random"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with VirtualClock():  # once per process: no second warning
            pass


def test_a_loop_without_a_run_queue_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    class Loop:  # an event loop of another implementation: no CPython run queue
        def close(self) -> None:
            pass

    monkeypatch.setattr(asyncio, "new_event_loop", Loop)
    assert missing() == ["asyncio event loop attribute _ready"]
