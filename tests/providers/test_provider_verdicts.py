"""Verdicts read Anthropic's and Gemini's streams: a complete stream (``message_stop``,
a chunk with ``finishReason``) is not "truncated"; one cut before its end is, with the
content events counted (``content_block_delta``, Gemini chunks with content)."""

from __future__ import annotations

import textwrap

import pytest

TESTS = """
import anthropic
from google import genai
from pytest_llm import faults

MSG = [{"role": "user", "content": "Capital of France?"}]


def claude_stream():
    client = anthropic.Anthropic(api_key="k")
    with client.messages.stream(model="claude-haiku-4-5", max_tokens=50, messages=MSG) as s:
        return "".join(s.text_stream)


def gemini_stream():
    client = genai.Client(api_key="k")
    chunks = client.models.generate_content_stream(model="gemini-2.5-flash", contents="?")
    return "".join(c.text or "" for c in chunks)


def test_complete_streams(llm_fake):
    llm_fake.add("Paris is the capital.", times=2)
    assert claude_stream() == gemini_stream() == "Paris is the capital."


def test_truncated_claude(llm_fake, llm_faults):
    llm_fake.add("Paris is the capital.")
    llm_faults.add(faults.TruncatedStream())
    claude_stream()


def test_truncated_gemini(llm_fake, llm_faults):
    llm_fake.add("Paris is the capital.")
    llm_faults.add(faults.TruncatedStream())
    gemini_stream()
"""


def test_streams_of_both_providers_are_judged(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("PYTEST_LLM_VERDICTS", "CI", "ANTHROPIC_BASE_URL", "GOOGLE_GEMINI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    pytester.makepyfile(test_app=textwrap.dedent(TESTS))
    result = pytester.runpytest("-p", "no:cacheprovider", "--llm-verdicts=fail")
    result.assert_outcomes(passed=1, failed=2)  # complete streams: no finding, so no failure
    result.stdout.fnmatch_lines(
        [
            "*_ test_truncated_claude _*",
            "pytest-llm verdicts (1 finding):",
            "  truncated_stream_accepted: POST /v1/messages (request #1): the stream ended "
            "without its final event after 4 content events; no retry, and the test passed",
            "*_ test_truncated_gemini _*",
            "pytest-llm verdicts (1 finding):",
            "  truncated_stream_accepted: POST /v1/models/gemini-2.5-flash:streamGenerateContent "
            "(request #1): the stream ended without its final event after 4 content events; no "
            "retry, and the test passed",
        ]
    )
