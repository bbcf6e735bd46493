"""``pytest --llm-conformance``: the verdict table, the JSON report, the Markdown, the
reference client's verdicts and broken variants that must fail."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from pytest_llm.cli import main as cli_main

BROKEN = (Path(__file__).parent / "broken.py").read_text()
REFERENCE = "pytest_llm.conformance.adapters.reference"

KNOWN_FINDINGS: dict[str, set[int]] = {"reference-sync": set(), "reference-async": set()}
"""Contracts the reference client fails today; the reports say why. Remove an entry
when the client is fixed (a fixed contract does not fail this test)."""

MINIMAL_ADAPTER = '''
from dataclasses import dataclass

import openai
from pytest_llm.conformance import Adapter, ErrorInfo, Reply


@dataclass
class Client:
    sdk: openai.OpenAI
    model: str  # the first route's model: the SDK has no fallback


class SDKAdapter(Adapter):
    """The bare openai SDK, retries and all."""

    name = "openai-sdk"
    capabilities = frozenset({"retries", "stream"})
    reasons = {"cancel": "this adapter is sync only"}

    def make(self, setup):
        route = setup.routes[0]
        sdk = openai.OpenAI(
            base_url=route.base_url,
            api_key=route.key,
            max_retries=setup.max_retries,
            timeout=setup.read_timeout,
        )
        return Client(sdk, route.model)

    def call(self, client, request):
        reply = client.sdk.chat.completions.create(
            model=request.model or client.model, messages=list(request.messages), **request.params
        )
        return Reply(reply.choices[0].message.content or "", model=reply.model)

    def stream(self, client, request):
        chunks = client.sdk.chat.completions.create(
            model=request.model or client.model, messages=list(request.messages), stream=True
        )
        for chunk in chunks:
            for choice in chunk.choices:
                if choice.delta.content:
                    yield choice.delta.content

    def describe(self, error):
        if isinstance(error, openai.APIStatusError):
            code = (error.body or {}).get("code") if isinstance(error.body, dict) else None
            if code == "insufficient_quota":
                return ErrorInfo("quota")
            if error.status_code < 500 and error.status_code != 429:
                return ErrorInfo("client_error")
        return ErrorInfo("other")


def make():
    return SDKAdapter()
'''


def _run(pytester: pytest.Pytester, spec: str, *args: str) -> tuple[Any, dict[str, Any]]:
    report = pytester.path / "report.json"
    result = pytester.runpytest(
        f"--llm-conformance={spec}", f"--llm-report={report}", "-p", "no:cacheprovider", *args
    )
    doc = json.loads(report.read_text())
    return result, doc


def _verdicts(doc: dict[str, Any]) -> dict[tuple[str, int], str]:
    return {(r["adapter"], r["contract"]): r["verdict"] for r in doc["conformance"]["results"]}


def _evidence(doc: dict[str, Any], adapter: str, number: int) -> str:
    for r in doc["conformance"]["results"]:
        if (r["adapter"], r["contract"]) == (adapter, number):
            return str(r["evidence"])
    raise AssertionError(f"no verdict for {adapter} {number}")


@pytest.mark.parametrize("factory", ["sync_adapter", "async_adapter"])
def test_reference_client_passes_every_applicable_contract(
    pytester: pytest.Pytester, factory: str
) -> None:
    result, doc = _run(pytester, f"{REFERENCE}:{factory}")
    verdicts = _verdicts(doc)
    assert len(verdicts) == 57
    (adapter,) = {a for a, _ in verdicts}
    failed = {n for (_, n), v in verdicts.items() if v == "fail"}
    assert failed <= KNOWN_FINDINGS[adapter], {
        n: _evidence(doc, adapter, n) for n in failed - KNOWN_FINDINGS[adapter]
    }
    na = {n for (_, n), v in verdicts.items() if v == "not applicable"}
    if adapter == "reference-sync":
        assert na == {23, 36, 50, 51}  # cancellation and overlapping calls need async
    else:
        assert na == set()
    result.stdout.fnmatch_lines(["*= pytest-llm conformance =*"])
    counts = doc["conformance"]["adapters"][adapter]
    result.stdout.fnmatch_lines(
        [
            f"{adapter}: {counts['pass']} pass, {counts['fail']} fail, "
            f"{counts['not applicable']} not applicable"
        ]
    )


def test_table_lines_and_not_applicable_reason(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(sdk_adapter=MINIMAL_ADAPTER)
    pytester.syspathinsert()
    result, doc = _run(pytester, "sdk_adapter:make", "-k", "01- or 04- or 23-")
    lines = [
        "#   contract                                          adapter     verdict         evidence",
        "01  4xx (400, 401, 403, 404, 422) without x-shoul...  openai-sdk  pass            "
        "400: 1 request(s) seen, expected 1; raised BadRequestError (client_error); 401: 1 "
        "request(s) seen, expected...",
        "04  429 insufficient_quota: one attempt, a distin...  openai-sdk  fail            "
        "2 request(s) seen, expected 1; returned 'This is a fake reply from pytest-llm.' from "
        "m1, expected a quota e...",
        "23  cancelling the caller aborts the request and ...  openai-sdk  not applicable  "
        "needs cancel: this adapter is sync only",
        "openai-sdk: 1 pass, 1 fail, 1 not applicable",
    ]
    result.stdout.re_match_lines([f"^{re.escape(line)}$" for line in lines])
    result.assert_outcomes(passed=1, failed=1, skipped=1)
    assert _verdicts(doc) == {
        ("openai-sdk", 1): "pass",
        ("openai-sdk", 4): "fail",
        ("openai-sdk", 23): "not applicable",
    }
    assert doc["format"] == "pytest-llm-report"
    assert doc["conformance"]["version"] == 1


def test_markdown_from_the_report(
    pytester: pytest.Pytester, capsys: pytest.CaptureFixture[str]
) -> None:
    pytester.makepyfile(sdk_adapter=MINIMAL_ADAPTER)
    pytester.syspathinsert()
    _run(pytester, "sdk_adapter:make", "-k", "04- or 23-")
    capsys.readouterr()  # the inner pytest run's output
    assert cli_main(["conformance", "report", str(pytester.path / "report.json")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[:6] == [
        "# Conformance report",
        "",
        "- **openai-sdk**: 0 pass, 1 fail, 1 not applicable",
        "",
        "| # | contract | openai-sdk | evidence |",
        "| --- | --- | --- | --- |",
    ]
    assert out[6] == (
        "| 4 | 429 insufficient_quota: one attempt, a distinct quota error, breaker untouched "
        "| fail | 2 request(s) seen, expected 1; returned 'This is a fake reply from pytest-llm.' "
        "from m1, expected a quota error |"
    )
    assert out[7].startswith("| 23 | cancelling the caller")
    assert "| not applicable |" in out[7]


def test_report_command_without_a_conformance_section(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "r.json"
    path.write_text(json.dumps({"format": "pytest-llm-report", "version": 1, "tests": []}))
    assert cli_main(["conformance", "report", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.splitlines()[0] == f"pytest-llm: error: {path} has no conformance section."


@pytest.mark.parametrize(
    ("spec", "first_line"),
    [
        ("nocolon", "ERROR: --llm-conformance=nocolon: expected MODULE:FACTORY."),
        (
            "no_such_module_x:make",
            "ERROR: --llm-conformance=no_such_module_x:make: cannot import 'no_such_module_x' "
            "(No module named 'no_such_module_x').",
        ),
        (
            f"{REFERENCE}:adapter",
            f"ERROR: --llm-conformance={REFERENCE}:adapter: {REFERENCE} has no callable "
            "'adapter'; did you mean 'adapters'?",
        ),
    ],
)
def test_bad_factory(pytester: pytest.Pytester, spec: str, first_line: str) -> None:
    result = pytester.runpytest(f"--llm-conformance={spec}", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([first_line])


BROKEN_CASES = [
    # (factory, contracts, the contracts that must fail, evidence of the first)
    ("stacked_retries", "02- or 07- or 54-", {2, 7, 54}, "9 requests seen, expected 3"),
    ("ignores_retry_after", "10- or 11- or 12-", {10, 11, 12}, "retry-after 7"),
    ("no_deadline", "17- or 18-", {17, 18}, "deadline 3"),
    ("restarts_streams", "24-", {24}, "2 request(s)"),
    ("provider_usage_only", "29-", {29}, "partial usage recorded: 0 in, 0 out (none)"),
    ("first_route_only", "30- or 31-", {30, 31}, "expected m1 m1 m2 m2 m3 m3"),
    ("no_breaker", "33- or 34-", {33, 34}, "expected 1"),
    ("drops_params", "48-", {48}, "top_p, seed"),
    ("no_coalesce", "50-", {50}, "5 identical concurrent calls: 5 request(s)"),
    ("no_limiter", "40- or 42-", {40, 42}, "25 calls, rpm 10: 25 requests started"),
    ("no_budget", "46-", {46}, "12 served"),
    ("no_reask", "52-", {52}, "a missing field"),
    ("one_event_per_call", "53-", {53}, "events' statuses [200]"),
    ("trusts_every_200", "55-", {55}, "200 with an error body"),
]


@pytest.mark.parametrize(
    ("factory", "select", "must_fail", "evidence"), BROKEN_CASES, ids=[c[0] for c in BROKEN_CASES]
)
def test_broken_variants_fail(
    pytester: pytest.Pytester, factory: str, select: str, must_fail: set[int], evidence: str
) -> None:
    pytester.makepyfile(broken=BROKEN)
    pytester.syspathinsert()
    _, doc = _run(pytester, f"broken:{factory}", "-k", select)
    verdicts = _verdicts(doc)
    failed = {n for (_, n), v in verdicts.items() if v == "fail"}
    assert failed == must_fail, verdicts
    adapter = next(a for a, n in verdicts if n == min(must_fail))
    assert evidence in _evidence(doc, adapter, min(must_fail))


INFERRED = """
from pytest_llm.client import AsyncResilientClient, ResilientClient


class MyClient(ResilientClient):
    pass


def make():
    return [MyClient(), AsyncResilientClient()]
"""


def test_a_client_instance_gets_the_reference_adapter(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(my_clients=INFERRED)
    pytester.syspathinsert()
    result, doc = _run(pytester, "my_clients:make", "-k", "07-")
    assert _verdicts(doc) == {("reference-sync", 7): "pass", ("reference-async", 7): "pass"}
    result.assert_outcomes(passed=2)


def test_under_xdist_the_controller_reports_every_worker(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(sdk_adapter=MINIMAL_ADAPTER)
    report = pytester.path / "report.json"
    result = pytester.runpytest_subprocess(
        "--llm-conformance=sdk_adapter:make",
        f"--llm-report={report}",
        "-n",
        "2",
        "-p",
        "no:cacheprovider",
        "-k",
        "01- or 04- or 23- or 30-",
    )
    result.stdout.fnmatch_lines(["openai-sdk: 1 pass, 1 fail, 2 not applicable"])
    doc = json.loads(report.read_text())
    assert _verdicts(doc) == {
        ("openai-sdk", 1): "pass",
        ("openai-sdk", 4): "fail",
        ("openai-sdk", 23): "not applicable",
        ("openai-sdk", 30): "not applicable",
    }
    assert _evidence(doc, "openai-sdk", 30) == "needs routes: openai-sdk does not declare 'routes'"


def test_without_redis_server_the_shared_state_contracts_are_not_applicable(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(pytester.path))  # no redis-server here
    _, doc = _run(pytester, f"{REFERENCE}:sync_adapter", "-k", "39- or 45-")
    assert _verdicts(doc) == {
        ("reference-sync", 39): "not applicable",
        ("reference-sync", 45): "not applicable",
    }
    assert _evidence(doc, "reference-sync", 39) == "redis-server not installed"
