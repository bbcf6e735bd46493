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


def test_a_moved_anthropic_name_is_warned_about_with_its_version(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import anthropic
    import anthropic._base_client

    from pytest_llm import _canary

    monkeypatch.setattr(_canary, "_warned", set())
    monkeypatch.delattr(anthropic._base_client, "anyio")
    with pytest.warns(SDKDrift) as record, VirtualClock():
        pass
    assert [str(w.message) for w in record] == [
        f"pytest-llm: anthropic._base_client.anyio was not found (anthropic "
        f"{anthropic.__version__}, Python {__import__('sys').version.split()[0]}): the SDK's "
        "retry sleeps are real again and not recorded on the virtual clock. pytest-llm may "
        "not support this release yet; please report it."
    ]
    assert missing() == ["anthropic._base_client.anyio"]


def test_moved_google_genai_names_are_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    from google import genai
    from google.genai import _api_client

    from pytest_llm import _canary

    monkeypatch.setattr(_canary, "_warned", set())
    monkeypatch.delattr(_api_client, "tenacity")

    def init(self: object, *args: object, **kwargs: object) -> None:
        """A release whose client keeps its retryer under another name."""

    monkeypatch.setattr(_api_client.BaseApiClient, "__init__", init)
    monkeypatch.delattr(_api_client.BaseApiClient, "_use_aiohttp")
    assert missing() == [
        "google.genai._api_client.tenacity",
        "google.genai._api_client.BaseApiClient._retry",
        "google.genai._api_client.BaseApiClient._async_retry",
        "google.genai._api_client.BaseApiClient._use_aiohttp",
    ]
    with pytest.warns(SDKDrift) as record, VirtualClock():
        pass
    assert [str(w.message).split(" was not found ")[0] for w in record] == [
        "pytest-llm: google.genai._api_client.tenacity",
        "pytest-llm: google.genai._api_client.BaseApiClient._retry",
        "pytest-llm: google.genai._api_client.BaseApiClient._async_retry",
    ]
    assert f"(google-genai {genai.__version__}, Python " in str(record[0].message)
