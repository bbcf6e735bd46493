"""Record from a real loopback server, stop it, replay offline: the main user journey."""

from __future__ import annotations

import os
import re
import stat

import pytest
import yaml

from loopback import LoopbackServer

APP_TEST = """
import os
import openai
import pytest

PROMPT = {prompt!r}

@pytest.mark.llm_cassette
def test_triage():
    client = openai.OpenAI(base_url=os.environ["LOOPBACK_URL"])
    reply = client.chat.completions.create(
        model="smollm2", messages=[{{"role": "user", "content": PROMPT}}]
    )
    assert reply.choices[0].message.content == "Echo: " + {expected!r}
"""


def write_app(p: pytest.Pytester, prompt: str, expected: str | None = None) -> None:
    p.makepyfile(test_app=APP_TEST.format(prompt=prompt, expected=expected or prompt))


def test_record_then_replay_with_the_server_stopped(
    llm_project: pytest.Pytester, loopback: LoopbackServer
) -> None:
    write_app(llm_project, "printer on fire")
    result = llm_project.runpytest("--llm-record=once")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "*= pytest-llm =*",
            "recorded 1 interaction into 1 cassette:",
            "  cassettes/test_app/test_triage.yaml (+1)",
        ]
    )
    assert len(loopback.requests) == 1
    cassette = llm_project.path / "cassettes" / "test_app" / "test_triage.yaml"
    doc = yaml.safe_load(cassette.read_text())
    assert doc["format"] == "pytest-llm-cassette"
    assert doc["interactions"][0]["request"]["headers"]["authorization"] == "REDACTED"
    assert doc["interactions"][0]["meta"]["usage"]["total_tokens"] == 9

    loopback.stop()
    replay = llm_project.runpytest()
    replay.assert_outcomes(passed=1)
    assert len(loopback.requests) == 1
    assert "pytest-llm" not in replay.stdout.str()


@pytest.mark.parametrize(("umask", "mode"), [(0o022, "-rw-r--r--"), (0o002, "-rw-rw-r--")])
def test_cassettes_are_written_with_the_umask_like_any_file(
    llm_project: pytest.Pytester, umask: int, mode: str
) -> None:
    write_app(llm_project, "hello")
    old = os.umask(umask)
    try:
        llm_project.runpytest("--llm-record=once").assert_outcomes(passed=1)
        path = llm_project.path / "cassettes" / "test_app" / "test_triage.yaml"
        assert stat.filemode(path.stat().st_mode) == mode  # as ls -l shows it
        # re-recording keeps the mode the file has
        path.chmod(0o640)
        llm_project.runpytest("--llm-record=all").assert_outcomes(passed=1)
        assert stat.filemode(path.stat().st_mode) == "-rw-r-----"
    finally:
        os.umask(old)


def test_changed_prompt_fails_with_json_path_diff_and_no_retries(
    llm_project: pytest.Pytester,
) -> None:
    write_app(llm_project, "printer on fire")
    llm_project.runpytest("--llm-record=once").assert_outcomes(passed=1)
    write_app(llm_project, "printer is on fire")
    result = llm_project.runpytest("--log-level=DEBUG")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*_ test_triage _*",
            "pytest-llm: no recorded response matches this request (record mode: none)",
            "  request:  POST /v1/chat/completions",
            # openai 3.x sends model first, 2.x messages first: both match the same recording
            '  body:     {*"messages":[[]{"role":"user","content":"printer is on fire"}]*}',
            "  cassette: */cassettes/test_app/test_triage.yaml (1 interaction)",
            "nearest recorded requests (recorded != request):",
            "  interactions[0] (line 11): POST /v1/chat/completions, 1 difference",
            "      messages[0].content: 'printer on fire' != 'printer is on fire'",
            "fix: if the change is intended, re-record: pytest --llm-record=all 'test_app.py::test_triage'",
            "     (or keep the old recordings and add this one: pytest --llm-record=new 'test_app.py::test_triage')",
            "*= short test summary info =*",
            "FAILED test_app.py::test_triage - pytest-llm: no recorded response matches th*",
            "*= 1 failed in *",
        ]
    )
    out = result.stdout.str()
    assert out.count("Sending HTTP Request") == 1
    assert "Retrying request" not in out
    assert "Connection error" not in out


def test_a_changed_query_or_method_shows_in_the_diff(
    llm_project: pytest.Pytester, loopback: LoopbackServer
) -> None:
    app = """
        import os, openai, pytest

        @pytest.mark.llm_cassette
        def test_query():
            client = openai.OpenAI(base_url=os.environ["LOOPBACK_URL"])
            client.chat.completions.create(
                model="m", messages=[{{"role": "user", "content": "hi"}}], extra_query={query}
            )

        @pytest.mark.llm_cassette("test_app/test_query.yaml")
        def test_method():
            client = openai.OpenAI(base_url=os.environ["LOOPBACK_URL"])
            client.{method}("/chat/completions", cast_to=object, body={{}})
        """
    llm_project.makepyfile(test_app=app.format(query={"beta": "true"}, method="post"))
    llm_project.runpytest("--llm-record=once", "-k", "query").assert_outcomes(passed=1)
    loopback.stop()
    llm_project.makepyfile(test_app=app.format(query=None, method="put"))
    result = llm_project.runpytest()
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        [
            "*_ test_query _*",
            "pytest-llm: no recorded response matches this request (record mode: none)",
            "  request:  POST /v1/chat/completions",
            '  body:     {*"content":"hi"*}',
            "  cassette: */cassettes/test_app/test_query.yaml (1 interaction)",
            "nearest recorded requests (recorded != request):",
            "  interactions[0] (line 11): POST /v1/chat/completions, 1 difference",
            "      query: 'beta=true' != ''",
            "*_ test_method _*",
            "pytest-llm: no recorded response matches this request (record mode: none)",
            "  request:  PUT /v1/chat/completions",
            "  body:     {}",
            "  cassette: */cassettes/test_app/test_query.yaml (1 interaction)",
            "nearest recorded requests (recorded != request):",
            "  interactions[0] (line 11): POST /v1/chat/completions, 4 differences",
            "      method: 'POST' != 'PUT'",
            "      query: 'beta=true' != ''",
            # the body's two keys, in the order the SDK sends them (2.x and 3.x differ)
            "      *: * != <absent>",
            "      *: * != <absent>",
        ]
    )
    assert "0 differences" not in result.stdout.str()


def test_recorded_retries_replay_without_real_sleeps(
    llm_project: pytest.Pytester, loopback: LoopbackServer
) -> None:
    llm_project.makepyfile(
        test_app="""
        import os, time, openai, pytest

        real_sleeps = []

        @pytest.fixture(autouse=True)
        def spy(monkeypatch):
            monkeypatch.setattr(time, "sleep", real_sleeps.append)  # none of them waits

        def ask():
            client = openai.OpenAI(base_url=os.environ["LOOPBACK_URL"])
            reply = client.chat.completions.create(
                model="m", messages=[{"role": "user", "content": "hi"}]
            )
            return reply.choices[0].message.content

        @pytest.mark.llm_cassette
        def test_retry():
            assert ask() == "Echo: hi"
            print("real sleeps:", real_sleeps)

        @pytest.mark.llm_cassette("test_app/test_retry.yaml")
        def test_retry_on_llm_clock(llm_clock):
            assert ask() == "Echo: hi"
            print("real sleeps:", real_sleeps, "virtual:", llm_clock.sleeps)
        """
    )
    llm_project.runpytest("--llm-record=once", "-k", "test_retry and not clock")
    loopback.stop()
    path = llm_project.path / "cassettes/test_app/test_retry.yaml"
    doc = yaml.safe_load(path.read_text())
    ok = doc["interactions"][0]
    busy = {
        "request": ok["request"],
        "response": {
            "status": 503,
            "headers": {"content-type": "application/json", "retry-after": "2"},
            "json": {"error": {"message": "overloaded"}},
        },
    }
    doc["interactions"] = [busy, ok]  # the SDK's retry, as a recording holds it
    doc["meta"]["interactions"] = 2
    if "end" in doc:
        doc["end"] = 2
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    result = llm_project.runpytest("-s")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        ["*real sleeps: ?]", "*real sleeps: ?] virtual: ?2.0]"], consecutive=False
    )
    assert "retry_after_ignored" not in result.stdout.str()  # the verdicts see it too


def test_missing_cassette_names_the_path_and_the_flag(llm_project: pytest.Pytester) -> None:
    write_app(llm_project, "hello")
    result = llm_project.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "pytest-llm: cassette not found: */cassettes/test_app/test_triage.yaml (record mode: none)",
            "  request: POST /v1/chat/completions",
            "fix: record it with: pytest --llm-record=once 'test_app.py::test_triage'",
        ]
    )


def test_unknown_record_mode_is_a_usage_error(llm_project: pytest.Pytester) -> None:
    write_app(llm_project, "hello")
    result = llm_project.runpytest("--llm-record=onse")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "*argument --llm-record: 'onse' is not a record mode (did you mean 'once'?); "
            "use one of: none, once, new, all"
        ]
    )


def test_unknown_record_mode_in_the_marker_names_the_source(llm_project: pytest.Pytester) -> None:
    llm_project.makepyfile(
        test_app="""
        import pytest
        @pytest.mark.llm_cassette(record="everything")
        def test_x():
            pass
        """
    )
    result = llm_project.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "*_ ERROR at setup of test_x _*",
            "llm_cassette marker keyword record: 'everything' is not a record mode; "
            "use one of: none, once, new, all",
            "*= short test summary info =*",
        ],
        consecutive=True,
    )


@pytest.mark.parametrize(
    ("args", "env", "ini", "message"),
    [
        (
            ["--llm-replay-timing=fast"],
            {},
            "",
            [
                "ERROR: --llm-replay-timing='fast' is not a timing.",
                "Fix: use 'off' (no waits), 'real' (the recorded gaps), or a scale such as 0.5.",
            ],
        ),
        (
            [],
            {"PYTEST_LLM_RECORD": "ONCE"},
            "",
            [
                "ERROR: environment variable PYTEST_LLM_RECORD: 'ONCE' is not a record mode "
                "(did you mean 'once'?); use one of: none, once, new, all"
            ],
        ),
        (
            [],
            {},
            "llm_record = bogus",
            [
                "ERROR: ini option llm_record: 'bogus' is not a record mode; "
                "use one of: none, once, new, all"
            ],
        ),
    ],
)
def test_bad_option_values_are_one_usage_error_at_start_up(
    llm_project: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    env: dict[str, str],
    ini: str,
    message: list[str],
) -> None:
    write_app(llm_project, "hello")
    llm_project.makepyfile(test_more=APP_TEST.format(prompt="more", expected="more"))
    if ini:
        llm_project.makeini(f"[pytest]\n{ini}\n")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    result = llm_project.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert result.stderr.lines[: len(message)] == message
    assert "Traceback" not in result.stdout.str() + result.stderr.str()


def test_ci_without_the_flag_does_not_record(
    llm_project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, loopback: LoopbackServer
) -> None:
    write_app(llm_project, "hello")
    llm_project.makeini("[pytest]\nllm_record = once\n")
    monkeypatch.setenv("CI", "true")
    result = llm_project.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "recording is off: CI is set and record mode 'once' came from the ini option "
            "llm_record; in CI, recording needs --llm-record given on the command line",
        ]
    )
    assert loopback.requests == []
    assert not (llm_project.path / "cassettes").exists()
    llm_project.runpytest("--llm-record=once").assert_outcomes(passed=1)
    assert len(loopback.requests) == 1


MODULE_CLIENT_TEST = """
import os
import openai
import pytest

client = openai.OpenAI(base_url=os.environ["LOOPBACK_URL"])  # built at import time

@pytest.mark.llm_cassette
def test_triage():
    reply = client.chat.completions.create(
        model="smollm2", messages=[{"role": "user", "content": "hello"}]
    )
    assert reply.choices[0].message.content == "Echo: hello"
"""


@pytest.mark.parametrize("mode", ["once", "all"])
def test_ci_ignores_a_record_mode_from_the_environment_and_replays_as_none(
    llm_project: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    loopback: LoopbackServer,
    mode: str,
) -> None:
    llm_project.makepyfile(test_app=MODULE_CLIENT_TEST)
    llm_project.runpytest("--llm-record=once").assert_outcomes(passed=1)
    loopback.stop()
    monkeypatch.delenv("OPENAI_API_KEY")
    monkeypatch.setenv("CI", "true")
    monkeypatch.setenv("PYTEST_LLM_RECORD", mode)
    # the module-level client needs the dummy key (recording is off); the exact match
    # replays as with --llm-record=none
    result = llm_project.runpytest()
    result.assert_outcomes(passed=1)
    assert "Missing credentials" not in result.stdout.str()
    assert "no recorded response matches" not in result.stdout.str()


def test_ci_ignores_record_all_from_the_ini(
    llm_project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, loopback: LoopbackServer
) -> None:
    write_app(llm_project, "hello")
    llm_project.runpytest("--llm-record=once").assert_outcomes(passed=1)
    llm_project.makeini("[pytest]\nllm_record = all\n")
    monkeypatch.setenv("CI", "true")
    llm_project.runpytest().assert_outcomes(passed=1)
    assert len(loopback.requests) == 1
    write_app(llm_project, "changed")
    result = llm_project.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "pytest-llm: no recorded response matches this request (record mode: none)",
            "  request:  POST /v1/chat/completions",
            '  body:     {*"content":"changed"*}',
            "  cassette: */cassettes/test_app/test_triage.yaml (1 interaction)",
            "nearest recorded requests (recorded != request):",
            "  interactions[0] (line 11): POST /v1/chat/completions, 1 difference",
            "      messages[0].content: 'hello' != 'changed'",
            "recording is off: CI is set and record mode 'all' came from the ini option "
            "llm_record; in CI, recording needs --llm-record given on the command line",
        ]
    )
    assert len(loopback.requests) == 1


def test_new_mode_adds_only_the_missing_interaction(
    llm_project: pytest.Pytester, loopback: LoopbackServer
) -> None:
    write_app(llm_project, "one")
    llm_project.runpytest("--llm-record=once").assert_outcomes(passed=1)
    llm_project.makepyfile(
        test_app=APP_TEST.format(prompt="one", expected="one")
        + """
@pytest.mark.llm_cassette("test_app/test_triage.yaml")
def test_second():
    client = openai.OpenAI(base_url=os.environ["LOOPBACK_URL"])
    for prompt in ("one", "two"):
        client.chat.completions.create(model="smollm2", messages=[{"role": "user", "content": prompt}])
"""
    )
    llm_project.runpytest("--llm-record=new", "-k", "second").assert_outcomes(passed=1)
    assert len(loopback.requests) == 2  # "one" replayed, "two" recorded
    doc = yaml.safe_load((llm_project.path / "cassettes/test_app/test_triage.yaml").read_text())
    prompts = [i["request"]["json"]["messages"][0]["content"] for i in doc["interactions"]]
    assert prompts == ["one", "two"]
    assert doc["meta"]["interactions"] == 2


def test_all_mode_keeps_the_old_cassette_when_the_test_fails(
    llm_project: pytest.Pytester,
) -> None:
    write_app(llm_project, "stable")
    llm_project.runpytest("--llm-record=once").assert_outcomes(passed=1)
    path = llm_project.path / "cassettes/test_app/test_triage.yaml"
    before = path.read_text()
    write_app(llm_project, "stable", expected="something else")
    result = llm_project.runpytest("--llm-record=all")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "not written: */cassettes/test_app/test_triage.yaml was not re-recorded because "
            "the test failed; the old cassette is kept."
        ]
    )
    assert path.read_text() == before


def test_identical_requests_replay_in_recorded_order(
    llm_project: pytest.Pytester, loopback: LoopbackServer
) -> None:
    llm_project.makepyfile(
        test_app="""
        import os, openai, pytest

        @pytest.mark.llm_cassette
        def test_repeat(llm_cassette):
            client = openai.OpenAI(base_url=os.environ["LOOPBACK_URL"])
            ids = []
            for _ in range(3):
                r = client.chat.completions.with_raw_response.create(
                    model="m", messages=[{"role": "user", "content": "same"}]
                )
                ids.append(r.headers["x-served"])
            assert ids == ["1", "2", "3"]
        """
    )
    counter = iter(range(1, 100))
    loopback.extra_headers = lambda: [("x-served", str(next(counter)))]
    try:
        llm_project.runpytest("--llm-record=once").assert_outcomes(passed=1)
    finally:
        loopback.extra_headers = None
    loopback.stop()
    llm_project.runpytest().assert_outcomes(passed=1)
    # a fourth identical call has nothing left to replay
    llm_project.makepyfile(
        test_more="""
        import os, openai, pytest

        @pytest.mark.llm_cassette("test_app/test_repeat.yaml")
        def test_four():
            client = openai.OpenAI(base_url=os.environ["LOOPBACK_URL"])
            for _ in range(4):
                client.chat.completions.create(model="m", messages=[{"role": "user", "content": "same"}])
        """
    )
    result = llm_project.runpytest("test_more.py")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "all 3 recorded responses for this exact request were already used: "
            "a test that repeats a request needs one recording per call.",
            "fix: record the extra call with: pytest --llm-record=new 'test_more.py::test_four' "
            "(or replay the last response again with allow_playback_repeats=True)",
        ]
    )


def test_concurrent_requests_match_in_any_order(
    llm_project: pytest.Pytester, loopback: LoopbackServer
) -> None:
    llm_project.makepyfile(
        test_app="""
        import asyncio, os, random, openai, pytest

        @pytest.mark.llm_cassette
        def test_gather():
            async def main():
                client = openai.AsyncOpenAI(base_url=os.environ["LOOPBACK_URL"])
                prompts = [f"p{i}" for i in range(8)]
                random.shuffle(prompts)
                async def one(p):
                    r = await client.chat.completions.create(model="m", messages=[{"role": "user", "content": p}])
                    return p, r.choices[0].message.content
                return await asyncio.gather(*(one(p) for p in prompts))
            for p, text in asyncio.run(main()):
                assert text == "Echo: " + p
        """
    )
    llm_project.runpytest("--llm-record=once").assert_outcomes(passed=1)
    loopback.stop()
    for _ in range(3):
        llm_project.runpytest().assert_outcomes(passed=1)


def test_ignored_paths_and_key_order(llm_project: pytest.Pytester) -> None:
    llm_project.makepyfile(
        test_app="""
        import os, openai, pytest, uuid

        @pytest.mark.llm_cassette(ignore=["user", "metadata.trace"])
        def test_volatile():
            client = openai.OpenAI(base_url=os.environ["LOOPBACK_URL"])
            client.chat.completions.create(
                model="m", messages=[{"role": "user", "content": "x"}],
                user=uuid.uuid4().hex, metadata={"trace": uuid.uuid4().hex},
            )
        """
    )
    llm_project.runpytest("--llm-record=once").assert_outcomes(passed=1)
    llm_project.runpytest().assert_outcomes(passed=1)


def test_check_unused_fails_at_teardown(
    llm_project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    llm_project.makepyfile(
        test_app="""
        import os, openai, pytest

        @pytest.mark.llm_cassette(check_unused=True)
        def test_app():
            client = openai.OpenAI(base_url=os.environ["LOOPBACK_URL"])
            n = int(os.environ.get("CALLS", "2"))
            for i in range(n):
                client.chat.completions.create(model="m", messages=[{"role": "user", "content": str(i)}])
        """
    )
    llm_project.runpytest("--llm-record=once").assert_outcomes(passed=1)
    llm_project.runpytest().assert_outcomes(passed=1)
    monkeypatch.setenv("CALLS", "1")
    result = llm_project.runpytest()
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "pytest-llm: 1 recorded interaction in */cassettes/test_app/test_app.yaml was never used:",
            "  interactions[[]1] (line *): POST http://localhost/v1/chat/completions",
            "fix: remove them by re-recording with --llm-record=all, or drop the check (check_unused=False).",
        ]
    )


def test_application_that_swallows_the_miss_still_fails(llm_project: pytest.Pytester) -> None:
    llm_project.makepyfile(
        test_app="""
        import os, openai, pytest

        @pytest.mark.llm_cassette
        def test_swallow():
            client = openai.OpenAI(base_url=os.environ["LOOPBACK_URL"])
            try:
                client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
            except BaseException:
                pass
        """
    )
    result = llm_project.runpytest()
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["pytest-llm: cassette not found: *"])


def test_replay_provides_a_dummy_key(
    llm_project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_app(llm_project, "k")
    llm_project.runpytest("--llm-record=once").assert_outcomes(passed=1)
    monkeypatch.delenv("OPENAI_API_KEY")
    llm_project.makeconftest(
        """
        import openai
        CLIENT = openai.OpenAI()  # built at import time, before any fixture
        """
    )
    llm_project.runpytest().assert_outcomes(passed=1)


# -- a cassette that cannot be read is replaced by once and all, and kept aside -------


def _truncate(text: str) -> str:
    return "".join(text.splitlines(keepends=True)[:30])  # head -n 30


BREAKAGES = {
    "truncated": _truncate,
    "string-status": lambda text: text.replace("status: 200", 'status: "200"'),
    "wrong-end": lambda text: re.sub(r"(?m)^end: 1$", "end: 2", text),
    "old-version": lambda text: re.sub(r"(?m)^version: \d+$", "version: 0", text),
}
RESTORE = "Fix: restore it from version control, or re-record with --llm-record=all."
ERRORS = {  # what replay says, and the fix line that must be true
    "truncated": (
        "cassette */test_triage.yaml has no 'end' marker after its 1 interaction: it was "
        "truncated (the last interaction may be cut short) or edited by hand.",
        RESTORE,
    ),
    "string-status": (
        "cassette */test_triage.yaml:11: interactions[[]0] has a response without an integer "
        "'status'.",
        RESTORE,
    ),
    "wrong-end": (
        "cassette */test_triage.yaml has 'end: 2' after its 1 interaction: *",
        RESTORE,
    ),
    "old-version": (
        "cassette */test_triage.yaml has format version 0; this pytest-llm reads *",
        "Fix: re-record it with --llm-record=all.",
    ),
}


@pytest.mark.parametrize("breakage", list(BREAKAGES))
def test_a_broken_cassette_is_replaced_by_once_and_all_and_kept_aside(
    llm_project: pytest.Pytester, breakage: str
) -> None:
    write_app(llm_project, "printer on fire")
    llm_project.runpytest("--llm-record=once").assert_outcomes(passed=1)
    path = llm_project.path / "cassettes" / "test_app" / "test_triage.yaml"
    good = path.read_text()
    broken = BREAKAGES[breakage](good)
    assert broken != good
    path.write_text(broken)

    replay = llm_project.runpytest()
    replay.assert_outcomes(errors=1)
    replay.stdout.fnmatch_lines(["*_ ERROR at setup of test_triage _*", *ERRORS[breakage]])
    assert path.read_text() == broken  # replay never replaces it
    mode = "all"  # what the fix line says to run

    result = llm_project.runpytest(f"--llm-record={mode}")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "recorded 1 interaction into 1 cassette:",
            "  cassettes/test_app/test_triage.yaml (+1, replaces an unreadable file kept as "
            "test_triage.yaml.broken)",
        ]
    )
    assert path.with_name("test_triage.yaml.broken").read_text() == broken
    llm_project.runpytest().assert_outcomes(passed=1)  # the new one replays

    # broken again: the other mode replaces it too, and the first .broken stays
    path.write_text(broken)
    result = llm_project.runpytest("--llm-record=once")  # not a cassette: once records too
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "  cassettes/test_app/test_triage.yaml (+1, replaces an unreadable file kept as "
            "test_triage.yaml.2.broken)"
        ]
    )
    assert path.with_name("test_triage.yaml.broken").read_text() == broken
    assert path.with_name("test_triage.yaml.2.broken").read_text() == broken
    llm_project.runpytest().assert_outcomes(passed=1)

    # a valid cassette without the request: once still replays only, and says so
    write_app(llm_project, "printer is on fire")
    miss = llm_project.runpytest("--llm-record=once")
    miss.assert_outcomes(failed=1)
    miss.stdout.fnmatch_lines(
        ["pytest-llm: no recorded response matches this request (record mode: once)"]
    )
    assert sorted(p.name for p in path.parent.iterdir()) == [
        "test_triage.yaml",
        "test_triage.yaml.2.broken",
        "test_triage.yaml.broken",
    ]


# -- a cassette shared by several tests keeps every test's recordings -----------------

SHARED = """
import os, openai, pytest

def ask(prompt):
    client = openai.OpenAI(base_url=os.environ["LOOPBACK_URL"])
    reply = client.chat.completions.create(
        model="m", messages=[{{"role": "user", "content": prompt}}]
    )
    return reply.choices[0].message.content

@pytest.mark.llm_cassette("shared/chat.yaml")
def test_one():
    assert ask("one") == "Echo: one"

@pytest.mark.llm_cassette("shared/chat.yaml")
def test_two():
    assert ask({two!r}) == "Echo: " + {two!r}
"""


def _shared_tests(path: object) -> list[tuple[str, str]]:
    from pytest_llm.cassette._format import load

    cassette = load(path)  # type: ignore[arg-type]
    return [
        (i.data["meta"]["test"], i.request_json()["messages"][0]["content"])
        for i in cassette.interactions
    ]


def test_a_shared_cassette_keeps_every_tests_recordings(llm_project: pytest.Pytester) -> None:
    llm_project.makepyfile(test_app=SHARED.format(two="two"))
    result = llm_project.runpytest("--llm-record=once")
    result.assert_outcomes(passed=2)  # test_two records too: the file has none of its own
    result.stdout.fnmatch_lines(
        ["recorded 2 interactions into 1 cassette:", "  cassettes/shared/chat.yaml (+2)"]
    )
    path = llm_project.path / "cassettes" / "shared" / "chat.yaml"
    assert _shared_tests(path) == [
        ("test_app.py::test_one", "one"),
        ("test_app.py::test_two", "two"),
    ]
    llm_project.runpytest().assert_outcomes(passed=2)

    # test_two changes: its fix line re-records test_two alone, and test_one keeps its own
    llm_project.makepyfile(test_app=SHARED.format(two="two, changed"))
    miss = llm_project.runpytest()
    miss.assert_outcomes(passed=1, failed=1)
    fix = (
        "fix: if the change is intended, re-record: pytest --llm-record=all 'test_app.py::test_two'"
    )
    miss.stdout.fnmatch_lines([fix])
    rerecord = llm_project.runpytest("--llm-record=all", "test_app.py::test_two")
    rerecord.assert_outcomes(passed=1)
    assert _shared_tests(path) == [
        ("test_app.py::test_one", "one"),
        ("test_app.py::test_two", "two, changed"),
    ]
    llm_project.runpytest().assert_outcomes(passed=2)

    # all for both: each replaces only its own, nothing is duplicated
    llm_project.runpytest("--llm-record=all").assert_outcomes(passed=2)
    assert _shared_tests(path) == [
        ("test_app.py::test_one", "one"),
        ("test_app.py::test_two", "two, changed"),
    ]
    # check_unused: each test answers for its own interactions, not the other's
    llm_project.runpytest("-o", "llm_check_unused=true").assert_outcomes(passed=2)


ALIAS_TEST = """
import os
import openai
import pytest

@pytest.mark.llm_cassette("shared/alias.yaml"{marker})
def test_alias():
    client = openai.OpenAI(base_url=os.environ["LOOPBACK_URL"])
    reply = client.chat.completions.create(
        model={model!r}, messages=[{{"role": "user", "content": "hi"}}]
    )
    assert reply.choices[0].message.content == "Echo: hi"
"""


def test_a_recording_answers_a_model_alias_only_when_asked(
    llm_project: pytest.Pytester, loopback: LoopbackServer
) -> None:
    llm_project.makepyfile(test_app=ALIAS_TEST.format(marker="", model="gpt-4o-mini"))
    llm_project.runpytest("--llm-record=once").assert_outcomes(passed=1)
    loopback.stop()
    # the dated snapshot's name is another request: a miss that names the model
    llm_project.makepyfile(test_app=ALIAS_TEST.format(marker="", model="gpt-4o-mini-2024-07-18"))
    miss = llm_project.runpytest()
    miss.assert_outcomes(failed=1)
    miss.stdout.fnmatch_lines(["*model: 'gpt-4o-mini' != 'gpt-4o-mini-2024-07-18'*"])
    # opted in on the marker: the recording answers for its alias
    aliases = ", model_aliases={'gpt-4o-mini': 'gpt-4o-mini-2024-07-18'}"
    llm_project.makepyfile(
        test_app=ALIAS_TEST.format(marker=aliases, model="gpt-4o-mini-2024-07-18")
    )
    llm_project.runpytest().assert_outcomes(passed=1)
    # and from the ini, as 'name = alias' lines
    llm_project.makepyfile(test_app=ALIAS_TEST.format(marker="", model="gpt-4o-mini-2024-07-18"))
    llm_project.makeini("[pytest]\nllm_model_aliases =\n    gpt-4o-mini = gpt-4o-mini-2024-07-18\n")
    llm_project.runpytest().assert_outcomes(passed=1)
    assert len(loopback.requests) == 1


def test_a_bad_model_aliases_line_is_a_usage_error(llm_project: pytest.Pytester) -> None:
    llm_project.makepyfile(test_app=ALIAS_TEST.format(marker="", model="gpt-4o-mini"))
    llm_project.makeini("[pytest]\nllm_model_aliases =\n    gpt-4o-mini\n")
    result = llm_project.runpytest()
    assert result.stderr.lines[:2] == [
        "ERROR: ini option llm_model_aliases: 'gpt-4o-mini' is not 'name = alias[, alias...]'.",
        "Fix: model_aliases={'gpt-4o-mini': 'gpt-4o-mini-2024-07-18'}, or in the ini: "
        "llm_model_aliases = gpt-4o-mini = gpt-4o-mini-2024-07-18.",
    ]
