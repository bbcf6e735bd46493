"""The ``llm_fake`` and ``llm_server`` fixtures as users meet them (pytester)."""

from __future__ import annotations

import pytest


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    for var in ("OPENAI_BASE_URL", "OPENAI_API_KEY", "CI"):
        monkeypatch.delenv(var, raising=False)
    return pytester


def run(pytester: pytest.Pytester, source: str, *args: str) -> pytest.RunResult:
    pytester.makepyfile(test_user=source)
    return pytester.runpytest("-p", "no:cacheprovider", "-q", *args)


def test_scripted_reply_reaches_the_app(project: pytest.Pytester) -> None:
    result = run(
        project,
        """
        import openai

        def summarise(text):
            client = openai.OpenAI()
            reply = client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": f"Summarise: {text}"}]
            )
            return reply.choices[0].message.content

        def test_summary(llm_fake):
            llm_fake.add("A short summary.", contains="Summarise")
            assert summarise("a long text") == "A short summary."
            assert llm_fake.requests.last.json["model"] == "gpt-4o-mini"
            assert len(llm_fake.requests) == 1
        """,
    )
    result.assert_outcomes(passed=1)


def test_unused_script_fails_the_test_at_teardown(project: pytest.Pytester) -> None:
    result = run(
        project,
        """
        def test_forgot_to_call(llm_fake):
            llm_fake.add("never asked", model="gpt-4o")
        """,
    )
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*_ ERROR at teardown of test_forgot_to_call _*",
            "llm_fake: 1 scripted reply was never asked for (0 requests reached the fake):",
            "  #1 text 'never asked' [model='gpt-4o'], used 0 of 1",
            "Fix: check that the code under test makes these calls, remove the scripts it does "
            "not need, or turn the check off with llm_fake.configure(check_unused=False).",
        ]
    )


def test_unused_check_is_skipped_when_the_test_already_failed(project: pytest.Pytester) -> None:
    result = run(
        project,
        """
        def test_fails(llm_fake):
            llm_fake.add("never asked")
            assert False, "the real failure"
        """,
    )
    result.assert_outcomes(failed=1)
    assert "never asked for" not in result.stdout.str()


def test_strict_miss_fails_the_test_with_the_scripts(project: pytest.Pytester) -> None:
    result = run(
        project,
        """
        import openai

        def test_strict(llm_fake):
            llm_fake.configure(strict=True)
            llm_fake.add("about cats", contains="cat")
            openai.OpenAI().responses.create(model="gpt-4.1", input="tell me about dogs")
        """,
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*_ test_strict _*",
            "llm_fake has no reply for POST /v1/responses (responses, model 'gpt-4.1', last user "
            "message 'tell me about dogs'): no scripted reply matches and strict mode is on.",
            "Scripted replies:",
            "  #1 text 'about cats' [contains='cat'], used 0 of 1: the last user message has no "
            "'cat'",
            "Fix: script it with llm_fake.add('...') (optionally api=, model=, contains=, match=, "
            "times=), or turn strict mode off to get the default reply.",
            "*= short test summary info =*",
            "FAILED test_user.py::test_strict - llm_fake has no reply for POST /v1/respons*",
        ]
    )
    assert "Traceback" not in result.stdout.str()


def test_a_swallowed_miss_still_fails_the_test(project: pytest.Pytester) -> None:
    result = run(
        project,
        """
        import openai

        def answer():
            try:
                return openai.OpenAI().responses.create(model="m", input="hi").output_text
            except BaseException:
                return "fallback"

        def test_swallowed(llm_fake):
            llm_fake.configure(strict=True)
            assert answer() == "fallback"
        """,
    )
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*_ ERROR at teardown of test_swallowed _*",
            "llm_fake has no reply for POST /v1/responses (responses, model 'm', last user message "
            "'hi'): no scripted reply matches and strict mode is on.",
            "Nothing is scripted.",
        ]
    )


def test_llm_fake_config_sets_options_for_a_directory(project: pytest.Pytester) -> None:
    project.makeconftest(
        """
        import pytest

        @pytest.fixture
        def llm_fake_config():
            return {"dimensions": 3, "default": {"status": "ok"}, "check_unused": False}
        """
    )
    result = run(
        project,
        """
        import json, openai

        def test_configured(llm_fake):
            llm_fake.add("unused, but the check is off", model="never-asked")
            client = openai.OpenAI()
            emb = client.embeddings.create(model="text-embedding-3-small", input="x")
            assert len(emb.data[0].embedding) == 3
            reply = client.responses.create(model="m", input="x")
            assert json.loads(reply.output_text) == {"status": "ok"}
        """,
    )
    result.assert_outcomes(passed=1)


def test_bad_config_names_the_option(project: pytest.Pytester) -> None:
    project.makeconftest(
        """
        import pytest

        @pytest.fixture
        def llm_fake_config():
            return {"strict_mode": True}
        """
    )
    result = run(project, "def test_x(llm_fake):\n    pass\n")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "*_ ERROR at setup of test_x _*",
            "llm_fake_config: FakeProvider() got an unknown option 'strict_mode' (did you mean "
            "'strict'?).",
            "Fix: use one of: aliases, check_unused, clock, default, dimensions, embed, limits, seed, strict, tools.",
        ]
    )


def test_llm_server_sets_the_environment_for_the_test_only(project: pytest.Pytester) -> None:
    result = run(
        project,
        """
        import os, subprocess, sys

        def test_server(llm_fake, llm_server):
            llm_fake.add("from the fake, through a socket")
            assert os.environ["OPENAI_BASE_URL"] == llm_server.base_url
            assert llm_server.base_url.startswith("http://127.0.0.1:")
            code = (
                "import openai; print(openai.OpenAI().chat.completions.create(model='m', "
                "messages=[{'role': 'user', 'content': 'hi'}]).choices[0].message.content)"
            )
            out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
            assert out.stdout == "from the fake, through a socket\\n", out.stderr

        def test_after():
            assert "OPENAI_BASE_URL" not in os.environ
        """,
    )
    result.assert_outcomes(passed=2)


def test_llm_server_error_fails_the_test_at_teardown(project: pytest.Pytester) -> None:
    result = run(
        project,
        """
        import openai, pytest

        def test_nothing_answers(llm_server):
            client = openai.OpenAI(base_url=llm_server.base_url)
            with pytest.raises(openai.InternalServerError):
                client.responses.create(model="m", input="x")
        """,
    )
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*_ ERROR at teardown of test_nothing_answers _*",
            "llm_server: pytest-llm blocked POST http://127.0.0.1:*/v1/responses: no cassette, "
            "fault or fake answered it and the real network is off.",
            "Fix: answer it with llm_fake (llm_fake.add(...)) or llm_faults, or replay it from a "
            "cassette (@pytest.mark.llm_cassette); this server has no upstream, so --llm-record "
            "and --llm-allow-network cannot reach a provider through it (record through "
            "LLMServer(upstream='https://api.openai.com/v1')).",
        ]
    )
