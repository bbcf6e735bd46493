"""llm_samples: pass rates over repeated samples, early stopping, reports, cassettes."""

from __future__ import annotations

import json

import pytest
import yaml

from loopback import LoopbackServer
from pytest_llm._errors import ConfigError
from pytest_llm.assertions._samples import SamplesSpec, pass_at_k, wilson_interval

FLAKY = """
import pytest

OUTCOMES = {outcomes!r}
calls = []

@pytest.mark.llm_samples({marker})
def test_flaky():
    calls.append(1)
    assert OUTCOMES[len(calls) - 1], "the answer did not mention Paris"

def test_count():
    assert len(calls) == {expect_calls}
"""


def test_wilson_and_pass_at_k() -> None:
    lo, hi = wilson_interval(8, 10)
    assert (round(lo, 3), round(hi, 3)) == (0.490, 0.943)
    assert wilson_interval(0, 0) == (0.0, 1.0)
    assert wilson_interval(5, 5)[1] == 1.0
    assert pass_at_k(5, 2, 1) == pytest.approx(0.4)
    assert pass_at_k(5, 2, 4) == 1.0
    assert pass_at_k(5, 0, 3) == 0.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n": 0}, "llm_samples(n=0): n must be a whole number of samples, at least 1."),
        ({"n": 2.5}, "llm_samples(n=2.5): n must be a whole number of samples, at least 1."),
        (
            {"min_pass_rate": 1.5},
            "llm_samples(min_pass_rate=1.5): a pass rate lies in [0, 1] (0.8 means 80 %).",
        ),
        (
            {"min_pass_rate": -0.1},
            "llm_samples(min_pass_rate=-0.1): a pass rate lies in [0, 1] (0.8 means 80 %).",
        ),
        ({"n": 3, "pass_at": 4}, "llm_samples(pass_at=4): each k must lie in 1..n (n=3)."),
        (
            {"min_rate": 0.5},
            "llm_samples got an unknown keyword 'min_rate'. Did you mean 'min_pass_rate'?",
        ),
    ],
)
def test_bad_marker_arguments(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        SamplesSpec.from_marker((), kwargs)
    assert str(info.value).splitlines()[0] == message


def test_pass_rate_meets_the_threshold(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        FLAKY.format(
            outcomes=[True, False, True, True, False],
            marker="n=5, min_pass_rate=0.6",
            expect_calls=4,
        )
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        [
            "*= pytest-llm samples =*",
            "test                                               samples   pass rate  95% CI   verdict  first failure",
            "test_pass_rate_meets_the_threshold.py::test_flaky  3/4 of 5  75%        30%-95%  pass     #1: the answer did not mention Paris",
        ]
    )


def test_pass_rate_below_the_threshold_fails_with_the_numbers(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        FLAKY.format(
            outcomes=[True, False, False, True, True],
            marker="n=5, min_pass_rate=0.8",
            expect_calls=3,
        )
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1, passed=1)
    result.stdout.fnmatch_lines(
        [
            "llm_samples: 1 of 3 samples passed (33%, 95% CI 6%-79%); min_pass_rate 0.8 needs 4 of 5: "
            "failed (stopped early: 2 not run)",
            "first failure (sample 1): the answer did not mention Paris",
        ]
    )


def test_early_stop_once_the_verdict_is_certain(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        FLAKY.format(outcomes=[True] * 10, marker="n=10, min_pass_rate=0.5", expect_calls=5)
    )
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=2)
    pytester.makepyfile(
        FLAKY.format(
            outcomes=[True] * 10,
            marker="n=10, min_pass_rate=0.5, early_stop=False",
            expect_calls=10,
        )
    )
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=2)


def test_errors_and_skips_are_not_sample_failures(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.llm_samples(n=3, min_pass_rate=0.1)
        def test_error():
            raise KeyError("bug in the test")

        @pytest.mark.llm_samples(n=3)
        def test_skip():
            pytest.skip("no model today")
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1, skipped=1)
    result.stdout.fnmatch_lines(["E       KeyError: 'bug in the test'"])


def test_json_report_junit_and_xdist(pytester: pytest.Pytester) -> None:
    for i in range(4):
        pytester.makepyfile(
            **{
                f"test_m{i}": FLAKY.format(
                    outcomes=[True, False, False, True],
                    marker="n=4, min_pass_rate=0.5, pass_at=[1, 2]",
                    expect_calls=4,
                )
            }
        )
    result = pytester.runpytest_subprocess(
        "-p",
        "no:cacheprovider",
        "-n",
        "2",
        "--dist",
        "loadfile",
        "--llm-report=out/report.json",
        "--junitxml=junit.xml",
    )
    result.assert_outcomes(passed=8)
    doc = json.loads((pytester.path / "out" / "report.json").read_text())
    assert doc["format"] == "pytest-llm-report"
    assert doc["version"] == 1
    assert [t["nodeid"] for t in doc["tests"]] == [f"test_m{i}.py::test_flaky" for i in range(4)]
    assert doc["tests"][0] == {
        "nodeid": "test_m0.py::test_flaky",
        "samples": 4,
        "run": 4,
        "passed": 2,
        "pass_rate": 0.5,
        "interval": [0.15, 0.85],
        "min_pass_rate": 0.5,
        "verdict": "pass",
        "first_failure": {"sample": 1, "message": "the answer did not mention Paris"},
        "pass@1": 0.5,
        "pass@2": 0.8333,
    }
    junit = (pytester.path / "junit.xml").read_text()
    assert (
        'name="llm_samples[test_m0.py::test_flaky]" value="2/4 passed, rate 0.50, 95% CI 0.15-0.85, pass"'
        in junit
    )


def test_each_sample_records_and_replays_its_own_interactions(
    llm_project: pytest.Pytester, loopback: LoopbackServer
) -> None:
    llm_project.makepyfile(
        test_app="""
        import os, openai, pytest

        seen = []

        @pytest.mark.llm_cassette
        @pytest.mark.llm_samples(n=3, min_pass_rate=1.0)
        def test_sampled():
            client = openai.OpenAI(base_url=os.environ["LOOPBACK_URL"])
            r = client.chat.completions.with_raw_response.create(
                model="m", messages=[{"role": "user", "content": "same prompt"}]
            )
            seen.append(r.headers["x-served"])

        def test_order():
            assert seen == ["1", "2", "3"]
        """
    )
    counter = iter(range(1, 100))
    loopback.extra_headers = lambda: [("x-served", str(next(counter)))]
    try:
        llm_project.runpytest("--llm-record=once").assert_outcomes(passed=2)
    finally:
        loopback.extra_headers = None
    doc = yaml.safe_load((llm_project.path / "cassettes/test_app/test_sampled.yaml").read_text())
    assert [i["sample"] for i in doc["interactions"]] == [0, 1, 2]
    loopback.stop()
    llm_project.runpytest().assert_outcomes(passed=2)


def test_a_sample_without_its_recording_shows_the_sample_in_the_diff(
    llm_project: pytest.Pytester, loopback: LoopbackServer
) -> None:
    app = """
        import os, openai, pytest

        @pytest.mark.llm_cassette
        @pytest.mark.llm_samples(n={n}, min_pass_rate=1.0)
        def test_sampled():
            client = openai.OpenAI(base_url=os.environ["LOOPBACK_URL"], max_retries=0)
            client.chat.completions.create(
                model="m", messages=[{{"role": "user", "content": "same prompt"}}]
            )
        """
    llm_project.makepyfile(test_app=app.format(n=2))
    llm_project.runpytest("--llm-record=once").assert_outcomes(passed=1)
    loopback.stop()
    llm_project.makepyfile(test_app=app.format(n=3))
    result = llm_project.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "pytest-llm: no recorded response matches this request (record mode: none)",
            "  request:  POST /v1/chat/completions (llm_samples sample 2)",
            '  body:     {*"content":"same prompt"*}',
            "  cassette: */cassettes/test_app/test_sampled.yaml (2 interactions)",
            "nearest recorded requests (recorded != request):",
            "  interactions[0] (line 11): POST /v1/chat/completions, 1 difference",
            "      sample: 0 != 2",
            "  interactions[[]1] (line *): POST /v1/chat/completions, 1 difference",
            "      sample: 1 != 2",
        ]
    )
    assert "0 differences" not in result.stdout.str()
