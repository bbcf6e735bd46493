"""The provider table (``pytest_llm._providers``): one definition every part reads."""

from __future__ import annotations

import pytest

from pytest_llm import ConfigError
from pytest_llm._exchange import Exchange
from pytest_llm._host_guard import Guard
from pytest_llm._providers import (
    ANTHROPIC,
    GEMINI,
    OPENAI,
    PROVIDERS,
    by_name,
    model_and_usage,
    of_request,
    sdk_of,
)
from pytest_llm.cassette import DEFAULT_SECRET_PATTERNS, SENSITIVE_HEADERS, Redactor

# what each SDK really sends (captured from anthropic 2.x, google-genai 3.x, openai 2.x/3.x)
ANTHROPIC_HEADERS = [
    ("User-Agent", "Anthropic/Python 2.14.0"),
    ("X-Stainless-Package-Version", "2.14.0"),
    ("anthropic-version", "2026-10-21"),
]
GEMINI_HEADERS = [
    ("user-agent", "google-genai-sdk/3.6.1 gl-python/3.11.7"),
    ("x-goog-api-client", "google-genai-sdk/3.6.1 gl-python/3.11.7"),
]
OPENAI_HEADERS = [("User-Agent", "OpenAI/Python 3.57.0"), ("X-Stainless-Package-Version", "3.57.0")]


def test_the_sdk_that_sent_a_request_is_named_with_its_version() -> None:
    assert sdk_of(ANTHROPIC_HEADERS) == "anthropic 2.14.0"
    assert sdk_of(GEMINI_HEADERS) == "google-genai 3.6.1"
    assert sdk_of(OPENAI_HEADERS) == "openai 3.57.0"
    assert sdk_of([("user-agent", "my-app/1.0")]) == "my-app/1.0"
    assert sdk_of([]) is None


@pytest.mark.parametrize(
    ("url", "headers", "provider"),
    [
        ("http://127.0.0.1:8080/v1/messages", ANTHROPIC_HEADERS, ANTHROPIC),
        ("http://proxy/anything", ANTHROPIC_HEADERS, ANTHROPIC),  # the SDK's headers say it
        ("http://proxy/v1/messages", [], ANTHROPIC),
        ("http://proxy/v1beta/models/gemini-2.0-flash:generateContent", [], GEMINI),
        ("http://proxy/v1beta/models/g:streamGenerateContent?alt=sse", [], GEMINI),
        ("https://generativelanguage.googleapis.com/v1beta/models/gemini-2.0-flash", [], GEMINI),
        ("https://api.openai.com/v1/models/gpt-4o", [], OPENAI),
        ("http://localhost:1234/v1/chat/completions", [], OPENAI),  # compatible servers
        ("http://localhost:1234/health", [], None),
    ],
)
def test_a_request_is_told_apart_by_headers_path_then_host(
    url: str, headers: list[tuple[str, str]], provider: object
) -> None:
    assert of_request(Exchange("POST", url, headers)) is provider


def test_model_and_usage_in_each_providers_shape() -> None:
    usage = {"input_tokens": 3, "output_tokens": 1}
    assert model_and_usage({"model": "gpt-4o", "usage": {"total_tokens": 4}}) == (
        "gpt-4o",
        {"total_tokens": 4},
    )
    assert model_and_usage({"type": "response.completed", "response": {"model": "m"}}) == (
        "m",
        None,
    )
    assert model_and_usage(
        {"type": "message_start", "message": {"model": "claude-haiku-4-5", "usage": usage}}
    ) == ("claude-haiku-4-5", usage)
    assert model_and_usage({"modelVersion": "gemini-2.0-flash", "usageMetadata": {"a": 1}}) == (
        "gemini-2.0-flash",
        {"a": 1},
    )
    assert model_and_usage(["not", "a", "document"]) == (None, None)


def test_the_guard_redactor_and_scan_read_the_table() -> None:
    for p in PROVIDERS:
        assert set(p.hosts) <= set(Guard("llm-hosts").hosts)
        assert p.credential_headers <= SENSITIVE_HEADERS
        assert set(p.secret_patterns.items()) <= set(DEFAULT_SECRET_PATTERNS.items())
    guard = Guard("llm-hosts")
    assert guard.blocks("api.anthropic.com")
    assert guard.blocks("generativelanguage.googleapis.com")
    assert guard.blocks("europe-west1-aiplatform.googleapis.com")
    assert not guard.blocks("example.com")
    red = Redactor()
    assert red.url("https://h/v1beta/models/g:generateContent?key=AIzaX&alt=sse") == (
        "https://h/v1beta/models/g:generateContent?key=REDACTED&alt=sse"
    )
    assert red.header_value("X-Goog-Api-Key", "AIza...") == "REDACTED"
    assert red.header_value("x-api-key", "sk-ant-...") == "REDACTED"
    # Anthropic's keys start like OpenAI's: the scan names the right one
    found = red.scan({"prompt": "sk-ant-api03-" + "a" * 40})
    assert found is not None
    assert found[1] == "Anthropic key"


def test_an_unknown_provider_name_says_the_nearest() -> None:
    assert by_name("Gemini") is GEMINI
    with pytest.raises(ConfigError) as info:
        by_name("antropic")
    assert str(info.value) == (
        "no provider named 'antropic'. Did you mean 'anthropic'?\n"
        "Fix: use one of openai, anthropic, gemini."
    )


def test_installed_sdks_report_their_versions() -> None:
    import anthropic
    import openai
    from google import genai

    assert OPENAI.version() == openai.__version__
    assert ANTHROPIC.version() == anthropic.__version__
    assert GEMINI.version() == genai.__version__
    assert repr(GEMINI) == "<Provider gemini>"
