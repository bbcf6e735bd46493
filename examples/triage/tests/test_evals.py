"""Evals: how often does the model triage each ticket right?

Every case of ``evals/triage_cases.yaml`` runs five times at temperature 0.7
(``llm_samples``); each sample replays its own recording from the real model. A case
passes when at least 40 % of its samples pass. Run with ``--llm-report=report.json``
for the per-case pass rates.
"""

from __future__ import annotations

import pytest
from pytest_llm import load_cases
from pytest_llm.assertions import Case, assert_case

from triage import TriageError, triage

CASES = load_cases("../evals/triage_cases.yaml")


@pytest.mark.llm_cassette
@pytest.mark.llm_samples(n=5, min_pass_rate=0.4, early_stop=False)
@pytest.mark.parametrize("case", CASES)
def test_triage_eval(case: Case) -> None:
    try:
        output = triage(str(case.input), temperature=0.7).model_dump_json()
    except TriageError as exc:  # an unusable answer is a failed sample, not an error
        output = exc.raw
    assert_case(case, output)
