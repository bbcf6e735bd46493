"""Tests without a cassette cannot call a hosted LLM API by accident."""

from __future__ import annotations

import pytest


def test_unmarked_test_calling_openai_is_blocked(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-real-looking-" + "k" * 30)
    pytester.makepyfile(
        """
        import openai

        def test_no_cassette():
            openai.OpenAI(max_retries=0).chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
            )
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "pytest-llm blocked a connection to api.openai.com:443: test test_unmarked_test_calling_openai_is_blocked.py::test_no_cassette "
            "has no cassette, and llm_guard = llm-hosts keeps tests from reaching hosted LLM APIs unrecorded.",
            "Fix: mark the test with @pytest.mark.llm_cassette (then record it with --llm-record=once), "
            "or pass --llm-allow-network, or set llm_guard = off.",
        ]
    )
    assert "Retrying request" not in result.stdout.str()


def test_unmarked_tests_calling_anthropic_or_gemini_are_blocked(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-api03-" + "k" * 40)
    monkeypatch.setenv("GEMINI_API_KEY", "AIza" + "k" * 35)
    pytester.makepyfile(
        """
        import asyncio
        import anthropic
        from google import genai

        def test_claude():  # default retries: the block is not retried
            anthropic.Anthropic().messages.create(
                model="claude-haiku-4-5", max_tokens=8, messages=[{"role": "user", "content": "hi"}]
            )

        def test_gemini():
            client = genai.Client()  # kept: a dropped Client closes its HTTP client
            client.models.generate_content(model="gemini-2.0-flash", contents="hi")

        def test_gemini_async():  # through aiohttp: no cassette, so nothing steers it
            client = genai.Client()
            asyncio.run(client.aio.models.generate_content(model="gemini-2.0-flash", contents="hi"))
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=3)
    for test, host in [
        ("test_claude", "api.anthropic.com"),
        ("test_gemini", "generativelanguage.googleapis.com"),
        ("test_gemini_async", "generativelanguage.googleapis.com"),
    ]:
        result.stdout.fnmatch_lines(
            [
                f"*pytest-llm blocked a connection to {host}:443: test "
                f"test_unmarked_tests_calling_anthropic_or_gemini_are_blocked.py::{test} "
                "has no cassette, and llm_guard = llm-hosts keeps tests from reaching hosted "
                "LLM APIs unrecorded."
            ]
        )
    assert "Retrying request" not in result.stdout.str()


def test_other_hosts_and_mocks_are_untouched(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import httpx, respx, socket

        def test_respx_mock_of_openai():
            with respx.mock:
                respx.post("https://api.openai.com/v1/chat/completions").respond(200, json={"ok": 1})
                assert httpx.post("https://api.openai.com/v1/chat/completions", json={}).json() == {"ok": 1}

        def test_other_hosts_resolve(monkeypatch):
            # not an LLM host: the guard lets the lookup through to the resolver (a stub:
            # no real DNS in the suite)
            seen = []
            monkeypatch.setattr(socket._socket, "getaddrinfo", lambda *a: seen.append(a[0]) or [])
            socket.getaddrinfo("example.invalid", 80)
            assert seen == ["example.invalid"]
        """
    )
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=2)


def test_guard_all_blocks_every_non_loopback_host(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nllm_guard = all\n")
    pytester.makepyfile(
        """
        import socket

        def test_lookup():
            socket.getaddrinfo("example.invalid", 80)

        def test_loopback_is_fine():
            socket.getaddrinfo("localhost", 80)
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1, passed=1)
    result.stdout.fnmatch_lines(
        [
            "*pytest-llm blocked a connection to example.invalid:80: *llm_guard = all keeps tests from reaching the network unrecorded."
        ]
    )


def test_guard_off_and_allow_network(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import socket, pytest

        def test_lookup(monkeypatch):
            # the resolver is a stub (no real DNS in the suite): it is reached, the guard let it
            seen = []
            monkeypatch.setattr(socket._socket, "getaddrinfo", lambda *a: seen.append(a[0]) or [])
            socket.getaddrinfo("api.openai.com", 443)
            assert seen == ["api.openai.com"]
        """
    )
    pytester.runpytest("-p", "no:cacheprovider", "-o", "llm_guard=off").assert_outcomes(passed=1)
    pytester.runpytest("-p", "no:cacheprovider", "--llm-allow-network").assert_outcomes(passed=1)
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(failed=1)
    result = pytester.runpytest("-p", "no:cacheprovider", "-o", "llm_guard=some")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*ini option llm_guard='some' is not a guard mode."])


def test_allow_network_lets_unanswered_requests_out_without_a_cassette(
    pytester: pytest.Pytester, loopback: object
) -> None:
    """With faults but no cassette, --llm-allow-network lets what no link answers through."""
    pytester.makepyfile(
        f"""
        import httpx
        from pytest_llm import faults

        def test_faults_plus_network(llm_faults):
            llm_faults.add(faults.RateLimited(retry_after=1), path="/v1/embeddings", required=False)
            r = httpx.post("{loopback.base_url}/chat/completions", json={{"model": "m", "messages": []}})
            assert r.status_code == 200
        """
    )
    pytester.runpytest("-p", "no:cacheprovider", "--llm-allow-network").assert_outcomes(passed=1)
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*pytest-llm blocked POST http://127.0.0.1:*/v1/chat/completions: *"]
    )


def test_guard_and_allow_network_are_set_and_unset_on_the_command_line(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makeini("[pytest]\nllm_guard = off\nllm_allow_network = true\n")
    pytester.makepyfile(
        """
        import socket

        def test_lookup():
            socket.getaddrinfo("api.openai.com", 443)
        """
    )
    # the ini lets everything through; the command line takes it back
    result = pytester.runpytest(
        "-p", "no:cacheprovider", "--llm-guard=llm-hosts", "--no-llm-allow-network"
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*llm_guard = llm-hosts keeps tests from reaching hosted LLM APIs*"]
    )
    result = pytester.runpytest("-p", "no:cacheprovider", "--llm-guard=some")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*argument --llm-guard: invalid choice: 'some'*"])
