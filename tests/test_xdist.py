"""Recording under pytest-xdist: every worker writes its own cassettes, atomically."""

from __future__ import annotations

import pytest
import yaml

from loopback import LoopbackServer
from pytest_llm.cassette._format import load

pytest.importorskip("xdist")


def test_two_workers_record_twenty_cassettes(
    llm_project: pytest.Pytester, loopback: LoopbackServer
) -> None:
    llm_project.makepyfile(
        test_many="""
        import os, openai, pytest

        @pytest.mark.llm_cassette
        @pytest.mark.parametrize("n", range(20))
        def test_one(n):
            client = openai.OpenAI(base_url=os.environ["LOOPBACK_URL"])
            for turn in range(3):
                r = client.chat.completions.create(
                    model="m", messages=[{"role": "user", "content": f"ticket {n} turn {turn}"}]
                )
                assert r.choices[0].message.content == f"Echo: ticket {n} turn {turn}"
        """
    )
    result = llm_project.runpytest_subprocess(
        "-n", "2", "--llm-record=once", "-p", "no:cacheprovider"
    )
    result.assert_outcomes(passed=20)
    result.stdout.fnmatch_lines(["recorded 60 interactions into 20 cassettes:"])
    files = sorted((llm_project.path / "cassettes" / "test_many").glob("*"))
    assert [f.name for f in files] == sorted(f"test_one[{n}].yaml" for n in range(20))
    for f in files:
        cassette = load(f)
        n = int(f.name.split("[")[1].split("]")[0])
        prompts = [i.request_json()["messages"][0]["content"] for i in cassette.interactions]
        assert prompts == [f"ticket {n} turn {t}" for t in range(3)]
        assert yaml.safe_load(f.read_text())["meta"]["interactions"] == 3
    assert len(loopback.requests) == 60
    loopback.stop()
    llm_project.runpytest_subprocess("-n", "2", "-p", "no:cacheprovider").assert_outcomes(passed=20)


def test_two_workers_share_one_cassette_and_both_recordings_stay(
    llm_project: pytest.Pytester, loopback: LoopbackServer
) -> None:
    llm_project.makepyfile(
        test_shared="""
        import os, openai, pytest

        @pytest.mark.llm_cassette("shared/chat.yaml")
        @pytest.mark.parametrize("n", range(8))
        def test_turn(n):
            client = openai.OpenAI(base_url=os.environ["LOOPBACK_URL"])
            r = client.chat.completions.create(
                model="m", messages=[{"role": "user", "content": f"turn {n}"}]
            )
            assert r.choices[0].message.content == f"Echo: turn {n}"
        """
    )
    result = llm_project.runpytest_subprocess(
        "-n", "2", "--llm-record=once", "-p", "no:cacheprovider"
    )
    result.assert_outcomes(passed=8)
    result.stdout.fnmatch_lines(
        ["recorded 8 interactions into 1 cassette:", "  cassettes/shared/chat.yaml (+8)"]
    )
    cassette = load(llm_project.path / "cassettes" / "shared" / "chat.yaml")
    recorded = sorted(
        (i.data["meta"]["test"], i.request_json()["messages"][0]["content"])
        for i in cassette.interactions
    )
    assert recorded == sorted((f"test_shared.py::test_turn[{n}]", f"turn {n}") for n in range(8))
    loopback.stop()
    llm_project.runpytest_subprocess("-n", "2", "-p", "no:cacheprovider").assert_outcomes(passed=8)
