"""Per-session work done once (issue 14): what every cassette of a session shares is
worked out by the first, and what a test can still change is still read per test."""

from __future__ import annotations

import pytest


def test_cassettes_share_the_sessions_redactor_and_options_yet_see_a_tests_environment(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CI", raising=False)  # with CI set, an env record mode is ignored
    pytester.makeini("[pytest]\nllm_redact_headers = x-team-token\n")
    pytester.makepyfile(
        """
        import pytest

        seen = []

        @pytest.fixture
        def record_all(monkeypatch):
            monkeypatch.setenv("PYTEST_LLM_RECORD", "all")

        @pytest.mark.parametrize("n", [1, 2])
        def test_plain(llm_cassette, n):
            seen.append(llm_cassette)
            assert llm_cassette.record == "none"
            assert "x-team-token" in llm_cassette.redactor.headers

        def test_env_set_by_the_test(record_all, llm_cassette):
            assert llm_cassette.record == "all"

        @pytest.mark.llm_cassette(allow_playback_repeats=True)
        def test_marker_keywords(llm_cassette):
            assert llm_cassette.allow_playback_repeats
            assert llm_cassette.record == "none"

        def test_after(llm_cassette):
            assert llm_cassette.record == "none"
            first, second = seen
            assert first.redactor is second.redactor is llm_cassette.redactor
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=5)
