"""Verdicts on ordinary tests (docs/verdicts.md): each fires where the client misbehaves
and stays silent where it does not, through the real openai SDK."""

from __future__ import annotations

import json
import textwrap

import pytest

HEADER = """
import openai
import pytest
from pytest_llm import faults

MSG = [{"role": "user", "content": "hi"}]


def ask(client=None, content="hi", **kw):
    client = client or openai.OpenAI(**kw)
    return client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": content}]
    )


def stream_text(client):
    s = client.chat.completions.create(model="gpt-4o-mini", messages=MSG, stream=True)
    return "".join(ch.choices[0].delta.content or "" for ch in s if ch.choices)
"""

CALL = "POST /v1/chat/completions (request #1)"


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    for name in ("PYTEST_LLM_VERDICTS", "PYTEST_LLM_SEED", "CI", "OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    return pytester


def run(project: pytest.Pytester, body: str, *args: str) -> pytest.RunResult:
    project.makepyfile(test_app=HEADER + textwrap.dedent(body))
    return project.runpytest("-p", "no:cacheprovider", *args)


def verdict_lines(result: pytest.RunResult) -> list[str]:
    """The lines of the verdicts section, without its title."""
    lines = result.outlines
    title = [i for i, line in enumerate(lines) if " pytest-llm verdicts =" in line]
    if not title:
        return []
    out = []
    for line in lines[title[0] + 1 :]:
        if line.startswith("=") or line.startswith("FAILED"):
            break
        out.append(line)
    return [line for line in out if line]


def test_sdk_waiting_what_retry_after_says_is_not_flagged(project: pytest.Pytester) -> None:
    result = run(
        project,
        """
        def test_it(llm_fake, llm_faults, llm_clock):
            llm_faults.add(faults.RateLimited(retry_after=7), times=2)
            ask()
            assert llm_clock.sleeps == [7.0, 7.0]
        """,
    )
    result.assert_outcomes(passed=1)
    assert verdict_lines(result) == []


def test_a_loop_that_retries_at_once_ignores_retry_after(project: pytest.Pytester) -> None:
    result = run(
        project,
        """
        def test_it(llm_fake, llm_faults, llm_clock):
            llm_faults.add(faults.RateLimited(retry_after=7), times=2)
            for _ in range(3):
                try:
                    ask(max_retries=0)
                    break
                except openai.RateLimitError:
                    pass
        """,
    )
    result.assert_outcomes(passed=1)
    assert verdict_lines(result) == [
        "test_app.py::test_it",
        f"  retry_after_ignored: {CALL}: retried 0 s after 429 rate_limit_exceeded, which "
        "said retry after 7 s",
        "1 finding in 1 test (--llm-verdicts=fail fails them); see docs/verdicts.md",
    ]


def test_a_loop_that_waits_retry_after_ms_is_not_flagged(project: pytest.Pytester) -> None:
    result = run(
        project,
        """
        def test_it(llm_fake, llm_faults, llm_clock):
            llm_faults.add(faults.RateLimited(retry_after=None, retry_after_ms=1500))
            try:
                ask(max_retries=0)
            except openai.RateLimitError as exc:
                llm_clock.sleep(float(exc.response.headers["retry-after-ms"]) / 1000)
            ask(max_retries=0)
        """,
    )
    result.assert_outcomes(passed=1)
    assert verdict_lines(result) == []


def test_retrying_insufficient_quota_is_flagged(project: pytest.Pytester) -> None:
    # The SDK retries every 429, insufficient_quota too.
    result = run(
        project,
        """
        def test_it(llm_fake, llm_faults, llm_clock):
            llm_faults.add(faults.InsufficientQuota(), times=3)
            with pytest.raises(openai.RateLimitError):
                ask()
        """,
    )
    result.assert_outcomes(passed=1)
    assert verdict_lines(result)[1:2] == [
        f"  retried_non_retryable: {CALL}: retried after 429 insufficient_quota, which does "
        "not succeed on a retry",
    ]


def test_a_400_the_server_says_to_retry_is_not_flagged(project: pytest.Pytester) -> None:
    result = run(
        project,
        """
        def test_it(llm_fake, llm_faults, llm_clock):
            llm_faults.add(faults.ContextLengthExceeded())
            with pytest.raises(openai.BadRequestError):
                ask()
            llm_faults.add(faults.HTTPError(400, should_retry=True))
            ask(content="again")
        """,
    )
    result.assert_outcomes(passed=1)
    assert verdict_lines(result) == []


def test_retrying_5xx_at_once_is_no_backoff(project: pytest.Pytester) -> None:
    result = run(
        project,
        """
        def test_it(llm_fake, llm_faults, llm_clock):
            llm_faults.add(faults.ServerError(500), times=2)
            for _ in range(3):
                try:
                    ask(max_retries=0)
                    break
                except openai.InternalServerError:
                    pass
        """,
    )
    result.assert_outcomes(passed=1)
    assert verdict_lines(result)[1:2] == [
        f"  no_backoff: {CALL}: 2 retries after transient failures, none of them waited",
    ]


def test_the_sdks_backoff_is_not_no_backoff(project: pytest.Pytester) -> None:
    result = run(
        project,
        """
        def test_it(llm_fake, llm_faults, llm_clock):
            llm_faults.add(faults.ServerError(500), times=2)
            ask()
            llm_faults.add(faults.ConnectError(), times=2)
            ask(content="second")
            assert len(llm_clock.sleeps) == 4
        """,
    )
    result.assert_outcomes(passed=1)
    assert verdict_lines(result) == []


def test_more_than_ten_attempts_is_a_retry_storm(project: pytest.Pytester) -> None:
    result = run(
        project,
        """
        def test_it(llm_fake, llm_faults, llm_clock):
            llm_faults.add(faults.RateLimited(retry_after=1), times=11)
            for _ in range(12):
                try:
                    ask(max_retries=0)
                    break
                except openai.RateLimitError:
                    llm_clock.sleep(1)
        """,
    )
    result.assert_outcomes(passed=1)
    assert verdict_lines(result)[1:2] == [
        f"  retry_storm: {CALL}: 12 attempts for one call (more than 10)",
    ]


def test_many_calls_with_few_retries_each_are_not_a_storm(project: pytest.Pytester) -> None:
    result = run(
        project,
        """
        def test_it(llm_fake, llm_faults, llm_clock):
            for i in range(5):
                llm_faults.add(faults.RateLimited(retry_after=2), times=2)
                ask(content=f"call {i}")
            assert llm_clock.sleeps == [2.0] * 10
        """,
    )
    result.assert_outcomes(passed=1)
    assert verdict_lines(result) == []


def test_a_loop_around_the_sdks_retries_is_stacked(project: pytest.Pytester) -> None:
    result = run(
        project,
        """
        def test_it(llm_fake, llm_faults, llm_clock):
            llm_faults.add(faults.RateLimited(retry_after=1), times=6)
            for _ in range(3):
                try:
                    ask()
                    break
                except openai.RateLimitError:
                    llm_clock.sleep(1)
        """,
    )
    result.assert_outcomes(passed=1)
    assert verdict_lines(result)[1:2] == [
        f"  stacked_retries: {CALL}: 7 attempts; the SDK's own retries "
        "(x-stainless-retry-count up to 2) started over 2 times by a retry loop around it",
    ]


def test_a_loop_around_an_sdk_without_retries_is_not_stacked(project: pytest.Pytester) -> None:
    result = run(
        project,
        """
        def test_it(llm_fake, llm_faults, llm_clock):
            llm_faults.add(faults.RateLimited(retry_after=1), times=2)
            for _ in range(3):
                try:
                    ask(max_retries=0)
                    break
                except openai.RateLimitError:
                    llm_clock.sleep(1)
        """,
    )
    result.assert_outcomes(passed=1)
    assert verdict_lines(result) == []


def test_sending_a_broken_stream_again_restarts_it(project: pytest.Pytester) -> None:
    result = run(
        project,
        """
        def test_it(llm_fake, llm_faults, llm_clock):
            llm_faults.add(faults.ConnectionReset(after_chunks=3))
            client = openai.OpenAI(max_retries=0)
            shown = []
            for _ in range(2):
                try:
                    shown.append(stream_text(client))
                    break
                except Exception:  # APIConnectionError (3.x), httpx.ReadError (2.x)
                    llm_clock.sleep(1)
        """,
    )
    result.assert_outcomes(passed=1)
    assert verdict_lines(result)[1:2] == [
        f"  restarted_after_output: {CALL}: the stream broke after 2 content events and the "
        "same request was sent again from the start",
    ]


def test_retrying_a_stream_that_broke_before_output_is_not_a_restart(
    project: pytest.Pytester,
) -> None:
    result = run(
        project,
        """
        def test_it(llm_fake, llm_faults, llm_clock):
            llm_faults.add(faults.ConnectionReset(after_chunks=1))  # the role chunk only
            client = openai.OpenAI(max_retries=0)
            for _ in range(2):
                try:
                    assert stream_text(client)
                    break
                except Exception:  # APIConnectionError (3.x), httpx.ReadError (2.x)
                    llm_clock.sleep(1)
        """,
    )
    result.assert_outcomes(passed=1)
    assert verdict_lines(result) == []


def test_a_truncated_stream_taken_as_the_answer_is_flagged(project: pytest.Pytester) -> None:
    result = run(
        project,
        """
        def test_it(llm_fake, llm_faults, llm_clock):
            llm_fake.add("one two three")
            llm_faults.add(faults.TruncatedStream())
            assert stream_text(openai.OpenAI()) == "one two three"
        """,
    )
    result.assert_outcomes(passed=1)
    assert verdict_lines(result)[1:2] == [
        f"  truncated_stream_accepted: {CALL}: the stream ended without its final event after "
        "3 content events; no retry, and the test passed",
    ]


def test_a_truncated_stream_is_not_flagged_when_the_test_fails_or_ignores_it(
    project: pytest.Pytester,
) -> None:
    result = run(
        project,
        """
        def test_checks_the_ending(llm_fake, llm_faults, llm_clock):
            llm_faults.add(faults.TruncatedStream())
            s = openai.OpenAI().chat.completions.create(
                model="gpt-4o-mini", messages=MSG, stream=True
            )
            assert [c.choices[0].finish_reason for c in s if c.choices][-1] == "stop"

        @pytest.mark.llm_verdicts(ignore=["truncated_stream_accepted"])
        def test_expects_the_clients_error(llm_fake, llm_faults, llm_clock):
            from pytest_llm.client import IncompleteStream, ResilientClient

            llm_faults.add(faults.TruncatedStream())
            with pytest.raises(IncompleteStream):
                stream_text(ResilientClient())
        """,
    )
    result.assert_outcomes(passed=1, failed=1)
    assert verdict_lines(result) == []


def test_calls_into_a_sustained_outage_hammer_the_route(project: pytest.Pytester) -> None:
    result = run(
        project,
        """
        def test_it(llm_fake, llm_faults, llm_clock):
            llm_faults.add(faults.ServerError(503), times=8)
            for i in range(8):
                with pytest.raises(openai.InternalServerError):
                    ask(content=f"call {i}", max_retries=0)
                llm_clock.sleep(1)
        """,
    )
    result.assert_outcomes(passed=1)
    assert verdict_lines(result)[1:2] == [
        "  hammered_open_route: gpt-4o-mini at https://api.openai.com: 3 requests during a "
        "sustained failure (a breaker would have been open after 5 failures for 30 s)",
    ]


def test_calls_spaced_past_a_breakers_reset_do_not_hammer(project: pytest.Pytester) -> None:
    result = run(
        project,
        """
        def test_it(llm_fake, llm_faults, llm_clock):
            llm_faults.add(faults.ServerError(503), times=8)
            for i in range(8):
                with pytest.raises(openai.InternalServerError):
                    ask(content=f"call {i}", max_retries=0)
                llm_clock.sleep(31)
        """,
    )
    result.assert_outcomes(passed=1)
    assert verdict_lines(result) == []


RESILIENT = [
    "faults.RateLimited(retry_after=7), times=2",
    "faults.ServerError(500), times=2",
    "faults.Overloaded(), times=2",
    "faults.ConnectError(), times=2",
    "faults.ConnectionReset(), times=2",
]


def test_the_reference_client_earns_no_verdict_in_ordinary_fault_tests(
    project: pytest.Pytester,
) -> None:
    cases = "\n".join(
        f"    ({case.split(', times=')[0]}, {case.split('=')[-1]})," for case in RESILIENT
    )
    result = run(
        project,
        f"""
from pytest_llm.client import ResilientClient, StreamInterrupted

@pytest.mark.parametrize("fault, times", [
{cases}
])
def test_recovers(llm_fake, llm_faults, llm_clock, fault, times):
    llm_faults.add(fault, times=times)
    ask(ResilientClient())

def test_quota(llm_fake, llm_faults, llm_clock):
    llm_faults.add(faults.InsufficientQuota())
    with pytest.raises(Exception):
        ask(ResilientClient())

def test_context(llm_fake, llm_faults, llm_clock):
    llm_faults.add(faults.ContextLengthExceeded())
    with pytest.raises(openai.BadRequestError):
        ask(ResilientClient())

def test_reset_mid_stream(llm_fake, llm_faults, llm_clock):
    llm_faults.add(faults.ConnectionReset(after_chunks=3))
    with pytest.raises(StreamInterrupted):
        stream_text(ResilientClient())

def test_outage(llm_fake, llm_faults, llm_clock):
    llm_faults.add(faults.ServerError(503), times=None)
    client = ResilientClient()
    for i in range(10):
        with pytest.raises(Exception):
            ask(client, content=f"call {{i}}")
""",
    )
    result.assert_outcomes(passed=len(RESILIENT) + 4)
    assert verdict_lines(result) == []


FLAGGED = """
def test_flagged(llm_fake, llm_faults, llm_clock):
    llm_faults.add(faults.ServerError(500))
    try:
        ask(max_retries=0)
    except openai.InternalServerError:
        ask(max_retries=0)

def test_clean(llm_fake):
    ask()
"""


def test_fail_mode_fails_a_flagged_test_with_its_findings(project: pytest.Pytester) -> None:
    result = run(project, FLAGGED, "--llm-verdicts=fail")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*_ test_flagged _*",
            "pytest-llm verdicts (1 finding):",
            f"  no_backoff: {CALL}: 1 retry after transient failures, none of them waited",
            "Fix: see docs/verdicts.md for each verdict, or run with --llm-verdicts=report.",
        ]
    )
    assert verdict_lines(result)[-1] == "1 finding in 1 test; see docs/verdicts.md"


@pytest.mark.parametrize(
    ("how", "outcome"),
    [
        ("ini=fail", {"passed": 1, "failed": 1}),
        ("env=fail", {"passed": 1, "failed": 1}),
        ("ini=fail,cli=report", {"passed": 2}),
        ("env=off", {"passed": 2}),
    ],
)
def test_the_mode_comes_from_cli_env_and_ini(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, how: str, outcome: dict[str, int]
) -> None:
    args = []
    for part in how.split(","):
        where, value = part.split("=")
        if where == "ini":
            project.makeini(f"[pytest]\nllm_verdicts = {value}\n")
        elif where == "env":
            monkeypatch.setenv("PYTEST_LLM_VERDICTS", value)
        else:
            args.append(f"--llm-verdicts={value}")
    result = run(project, FLAGGED, *args)
    result.assert_outcomes(**outcome)
    assert (verdict_lines(result) == []) == (how == "env=off")


def test_a_bad_mode_says_which_modes_there_are(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTEST_LLM_VERDICTS", "fial")
    result = run(project, FLAGGED)
    assert result.ret == pytest.ExitCode.USAGE_ERROR  # checked once, at start-up
    result.stderr.fnmatch_lines(
        [
            "ERROR: environment variable PYTEST_LLM_VERDICTS='fial' is not a verdicts mode "
            "(did you mean 'fail'?).",
            "Fix: use one of: off, report, fail.",
        ],
        consecutive=True,
    )


def test_an_unknown_verdict_in_the_marker_fails_the_test(project: pytest.Pytester) -> None:
    result = run(
        project,
        """
        @pytest.mark.llm_verdicts(ignore=["no_backof"])
        def test_it(llm_fake):
            ask()
        """,
    )
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["*llm_verdicts(ignore=...): 'no_backof' is not a verdict (did you mean 'no_backoff'?)."]
    )


def test_the_json_report_has_a_verdicts_section(project: pytest.Pytester) -> None:
    result = run(project, FLAGGED, "--llm-report=out/llm.json")
    result.assert_outcomes(passed=2)
    doc = json.loads((project.path / "out" / "llm.json").read_text())
    assert doc["verdicts"] == {
        "version": 1,
        "mode": "report",
        "counts": {"no_backoff": 1},
        "tests": [
            {
                "nodeid": "test_app.py::test_flagged",
                "findings": [
                    {
                        "verdict": "no_backoff",
                        "message": f"{CALL}: 1 retry after transient failures, none of them waited",
                    }
                ],
            }
        ],
    }


def test_verdicts_from_xdist_workers_reach_the_summary_and_report(
    project: pytest.Pytester,
) -> None:
    pytest.importorskip("xdist")
    result = run(project, FLAGGED, "-n", "2", "--llm-report=llm.json")
    result.assert_outcomes(passed=2)
    assert verdict_lines(result)[:2] == [
        "test_app.py::test_flagged",
        f"  no_backoff: {CALL}: 1 retry after transient failures, none of them waited",
    ]
    doc = json.loads((project.path / "llm.json").read_text())
    assert doc["verdicts"]["counts"] == {"no_backoff": 1}


def test_the_loopback_server_is_watched_too(project: pytest.Pytester) -> None:
    result = run(
        project,
        """
        def test_it(llm_server, llm_fake, llm_faults, llm_clock):
            llm_faults.add(faults.RateLimited(retry_after=7))
            client = openai.OpenAI(base_url=llm_server.base_url, max_retries=0)
            try:
                ask(client)
            except openai.RateLimitError:
                ask(client)
        """,
    )
    result.assert_outcomes(passed=1)
    assert verdict_lines(result)[1].startswith(f"  retry_after_ignored: {CALL}: retried ")


def test_a_retry_after_that_is_no_number_nor_date_is_no_wait_to_honour() -> None:
    from pytest_llm._exchange import Exchange, Reply
    from pytest_llm._verdicts import analyse

    body = b'{"model": "gpt-4o-mini"}'
    ex = Exchange("POST", "https://api.openai.com/v1/chat/completions", [], body)
    told = Reply(429, [("retry-after", "tomorrow")], b'{"error": {"code": "x"}}')
    entries = [(0.0, ex, told), (2.0, ex, Reply(200, [], b"{}"))]
    assert analyse(entries, passed=True) == []
    entries[1] = (0.0, ex, Reply(200, [], b"{}"))
    assert [f.verdict for f in analyse(entries, passed=True)] == ["no_backoff"]


def test_a_zero_retry_after_ms_does_not_hide_retry_after() -> None:
    """The verdicts read Retry-After as the reference client does (one parser): a zero
    or invalid ``retry-after-ms`` leaves ``retry-after`` in force (contract 11)."""
    from pytest_llm._exchange import Exchange, Reply
    from pytest_llm._verdicts import analyse

    body = b'{"model": "gpt-4o-mini"}'
    ex = Exchange("POST", "https://api.openai.com/v1/chat/completions", [], body)
    for ms in ("0", "soon"):
        told = Reply(
            429,
            [("retry-after-ms", ms), ("retry-after", "3")],
            b'{"error": {"code": "rate_limit_exceeded"}}',
        )
        entries = [(0.0, ex, told), (0.0, ex, Reply(200, [], b"{}"))]
        findings = analyse(entries, passed=True)
        assert [f.verdict for f in findings] == ["retry_after_ignored"], ms
        assert "which said retry after 3 s" in findings[0].message
        assert analyse([(0.0, ex, told), (3.0, ex, Reply(200, [], b"{}"))], passed=True) == []


def test_async_clients_are_judged_the_same(project: pytest.Pytester) -> None:
    result = run(
        project,
        """
        import asyncio

        def test_it(llm_fake, llm_faults, llm_clock):
            llm_faults.add(faults.ServerError(502), times=2)

            async def main():
                client = openai.AsyncOpenAI(max_retries=0)
                for _ in range(3):
                    try:
                        return await client.chat.completions.create(model="gpt-4o-mini", messages=MSG)
                    except openai.InternalServerError:
                        pass

            assert asyncio.run(main()) is not None
        """,
    )
    result.assert_outcomes(passed=1)
    assert verdict_lines(result)[1:2] == [
        f"  no_backoff: {CALL}: 2 retries after transient failures, none of them waited",
    ]


def test_one_plain_request_is_judged_without_working_out_its_attempt(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Most tests make one request: no verdict can fire on one plain reply (each needs a
    second request, or a stream that ended early), so nothing of it is parsed; a lone
    stream, and two requests, are still worked out (issue 14: the suite's cost)."""
    from pytest_llm import _verdicts
    from pytest_llm._exchange import Exchange, Reply, TransportFailure

    built: list[int] = []
    real = _verdicts.attempt_of

    def counting(index: int, entry: _verdicts.Entry) -> _verdicts.Attempt | None:
        built.append(index)
        return real(index, entry)

    monkeypatch.setattr(_verdicts, "attempt_of", counting)
    body = b'{"model": "gpt-4o-mini"}'
    ex = Exchange("POST", "https://api.openai.com/v1/chat/completions", [], body)
    for alone in (
        Reply(200, [], b"{}"),
        Reply(500, [], b"{}"),
        TransportFailure("read_error", "reset"),
    ):
        assert _verdicts.analyse([(0.0, ex, alone)], passed=True) == []
    assert built == []
    sse = [("content-type", "text/event-stream")]
    cut = Reply(200, sse, b'data: {"choices": [{"delta": {"content": "hi"}}]}\n\n')
    found = _verdicts.analyse([(0.0, ex, cut)], passed=True)
    assert [f.verdict for f in found] == ["truncated_stream_accepted"]
    assert len(built) == 1
    twice = [(0.0, ex, Reply(500, [], b"{}")), (0.0, ex, Reply(200, [], b"{}"))]
    assert [f.verdict for f in _verdicts.analyse(twice, passed=True)] == ["no_backoff"]
    assert len(built) == 3
