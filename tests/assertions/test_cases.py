from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from pytest_llm._errors import ConfigError
from pytest_llm.assertions import CaseFailedError, assert_case, load_cases, read_cases
from pytest_llm.assertions._cases import CHECK_TYPES, SCHEMA_PATH

CASES = """\
threshold: 1
cases:
  - id: paris
    input: What is the capital of France?
    checks:
      - type: icontains
        value: paris
      - type: not-contains
        value: Berlin
        weight: 2
  - description: json answer
    threshold: 0.5
    checks:
      - type: contains-json
        value: {type: object, required: [city]}
      - type: regex
        value: '\\d+'
"""


def write(tmp_path: Path, text: str, name: str = "cases.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


class TestLoad:
    def test_params_have_readable_ids(self, in_tmp: Path) -> None:
        write(in_tmp, CASES)
        params = load_cases("cases.yaml")
        assert [p.id for p in params] == ["paris", "json answer"]
        case = params[0].values[0]
        assert case.input == "What is the capital of France?"
        assert [c.type for c in case.checks] == ["icontains", "not-contains"]
        assert [c.weight for c in case.checks] == [1.0, 2.0]
        assert repr(case) == "<Case 'paris': 2 checks, threshold 1 from cases.yaml>"

    def test_json_files(self, in_tmp: Path) -> None:
        doc = {"cases": [{"id": "a", "checks": [{"type": "contains", "value": "x"}]}]}
        (in_tmp / "cases.json").write_text(json.dumps(doc))
        assert [c.id for c in read_cases("cases.json")] == ["a"]

    def test_relative_paths_resolve_beside_the_caller_first(self, tmp_path: Path) -> None:
        # this test module's directory does not hold the file; an absolute path works anywhere
        path = write(tmp_path, CASES)
        assert len(read_cases(path)) == 2
        with pytest.raises(ConfigError, match=r"case file 'nope.yaml' not found \(looked for '"):
            read_cases("nope.yaml")

    def test_skip_and_xfail_become_marks(self, in_tmp: Path) -> None:
        write(
            in_tmp,
            """\
            cases:
              - id: a
                skip: flaky provider
                checks: [{type: contains, value: x}]
              - id: b
                xfail: true
                checks: [{type: contains, value: x}]
            """,
        )
        a, b = load_cases("cases.yaml")
        assert [m.name for m in a.marks] == ["skip"]
        assert a.marks[0].kwargs["reason"] == "flaky provider"
        assert [m.name for m in b.marks] == ["xfail"]


class TestEvaluate:
    def test_weighted_score_and_first_failure(self, in_tmp: Path) -> None:
        write(in_tmp, CASES)
        paris, _ = read_cases("cases.yaml")
        result = paris.evaluate("The capital is Berlin, not paris.")
        assert not result.passed
        assert result.score == pytest.approx(1 / 3)
        assert [r.passed for r in result.checks] == [True, False]
        assert result.first_failure is result.checks[1]
        assert result.first_failure.message == "forbidden 'Berlin' found at offset 15"
        assert result.describe().splitlines() == [
            "case 'paris' failed: score 0.33 < threshold 1 (1 of 2 checks passed)",
            "  PASS icontains 'paris' (weight 1): 'paris' found at offset 27 (ignore_case)",
            "  FAIL not-contains 'Berlin' (weight 2): forbidden 'Berlin' found at offset 15",
            "  output (33 chars): 'The capital is Berlin, not paris.'",
        ]

    def test_threshold_lets_a_partial_score_pass(self, in_tmp: Path) -> None:
        write(in_tmp, CASES)
        _, json_case = read_cases("cases.yaml")
        result = json_case.evaluate('Here: {"town": "x"} 12')
        assert result.passed
        assert result.score == 0.5
        assert result.checks[0].message == "$: 'city' is a required property (schema: required)"
        assert result.assert_passed() is result

    def test_assert_case_raises_an_assertion_error_with_the_report(self, in_tmp: Path) -> None:
        write(in_tmp, CASES)
        paris, _ = read_cases("cases.yaml")
        assert assert_case(paris, "Paris!").passed
        with pytest.raises(CaseFailedError) as excinfo:
            assert_case(paris, "Berlin")
        assert isinstance(excinfo.value, AssertionError)
        assert str(excinfo.value).splitlines()[0] == (
            "case 'paris' failed: score 0.00 < threshold 1 (0 of 2 checks passed)"
        )

    @pytest.mark.parametrize(
        ("check", "output", "passed", "message"),
        [
            ({"type": "contains", "value": "a"}, "cat", True, "'a' found at offset 1"),
            (
                {"type": "icontains", "value": "A"},
                "cat",
                True,
                "'A' found at offset 1 (ignore_case)",
            ),
            (
                {"type": "not-icontains", "value": "A"},
                "cat",
                False,
                "forbidden 'A' found at offset 1 (ignore_case)",
            ),
            ({"type": "contains-any", "value": ["x", "t"]}, "cat", True, "'t' found at offset 2"),
            (
                {"type": "icontains-all", "value": ["C", "x"]},
                "cat",
                False,
                "1 of 2 needles missing from the output (ignore_case): 'x'",
            ),
            ({"type": "starts-with", "value": "ca"}, "cat", True, "starts with 'ca'"),
            ({"type": "equals", "value": "cat"}, "cat", True, "equal"),
            ({"type": "equals", "value": "dog"}, "cat", False, "got 'cat', expected 'dog'"),
            (
                {"type": "regex", "value": "^c", "options": {"mode": "match"}},
                "cat",
                True,
                "/^c/ (match) matched 'c' at offset 0",
            ),
            (
                {"type": "not-regex", "value": "\\d"},
                "cat 9",
                False,
                "/\\d/ (search) matched '9' at offset 4",
            ),
            (
                {"type": "contains", "value": "the cat", "options": {"normalize": True}},
                "**the**  cat",
                True,
                "'the cat' found at offset 2 (collapse_whitespace, nfkc, strip_markdown)",
            ),
            (
                {"type": "is-json"},
                '{"a": 1}',
                True,
                "valid JSON from the whole message, chars 0..8",
            ),
            (
                {"type": "is-json"},
                'x {"a": 1}',
                False,
                "the output is not JSON as a whole (JSON found in the prose, chars 2..10)",
            ),
            (
                {"type": "contains-json"},
                'x {"a": 1}',
                True,
                "valid JSON from the prose, chars 2..10",
            ),
            (
                {"type": "contains-json", "options": {"repair": True}},
                'x {"a": 1,',
                True,
                "valid JSON from the prose, chars 2..10",
            ),
            ({"type": "contains-json"}, "nothing", False, "no JSON found in the output (7 chars)"),
            (
                {"type": "json-schema", "value": {"type": "array"}},
                '{"a": 1}',
                False,
                "$: {'a': 1} is not of type 'array' (schema: type)",
            ),
        ],
    )
    def test_check_types(
        self, in_tmp: Path, check: dict[str, Any], output: str, passed: bool, message: str
    ) -> None:
        (in_tmp / "c.json").write_text(json.dumps({"cases": [{"id": "c", "checks": [check]}]}))
        (case,) = read_cases("c.json")
        (result,) = case.evaluate(output).checks
        assert (result.passed, result.message) == (passed, message)

    def test_json_schema_from_a_path_beside_the_case_file(self, in_tmp: Path) -> None:
        sub = in_tmp / "evals"
        sub.mkdir()
        (sub / "answer.schema.json").write_text(json.dumps({"required": ["city"]}))
        write(sub, "cases: [{id: a, checks: [{type: json-schema, value: answer.schema.json}]}]")
        (case,) = read_cases(sub / "cases.yaml")
        assert case.evaluate('{"city": "Paris"}').passed
        assert not case.evaluate('{"town": "Paris"}').passed

    def test_pydantic_python_and_tool_call_checks(
        self, in_tmp: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        (in_tmp / "evalhelpers.py").write_text(
            textwrap.dedent(
                """\
                import pydantic

                class Answer(pydantic.BaseModel):
                    city: str

                def short(output):
                    return len(output) < 20

                def graded(output, case):
                    return 0.5, f"half marks for {case.id}"
                """
            )
        )
        monkeypatch.syspath_prepend(str(in_tmp))
        write(
            in_tmp,
            """\
            cases:
              - id: a
                checks:
                  - {type: pydantic, value: "evalhelpers:Answer"}
                  - {type: python, value: "evalhelpers:short"}
                  - {type: python, value: "evalhelpers:graded", threshold: 0.4}
              - id: tools
                checks:
                  - type: tool-call
                    value: [{name: get_weather, args: {city: Paris}}]
                  - {type: contains, value: Checking}
            """,
        )
        a, tools = read_cases("cases.yaml")
        result = a.evaluate('{"city": "Paris"}')
        assert [(r.passed, r.score, r.message) for r in result.checks] == [
            (True, 1.0, "valid Answer"),
            (True, 1.0, "evalhelpers:short passed"),
            (True, 0.5, "half marks for a"),
        ]
        assert result.score == pytest.approx(2.5 / 3)
        failed = a.evaluate('{"town": "Paris", "padding": "........"}')
        assert [r.message for r in failed.checks][:2] == [
            "1 validation error for Answer (JSON from the whole message, chars 0..40); $.city: Field required",
            "evalhelpers:short returned False",
        ]
        response = {
            "output": [
                {
                    "type": "function_call",
                    "call_id": "c",
                    "name": "get_weather",
                    "arguments": '{"city": "Paris"}',
                },
                {"type": "message", "content": [{"type": "output_text", "text": "Checking."}]},
            ]
        }
        checked = tools.evaluate(response)
        assert [r.message for r in checked.checks] == [
            'called get_weather({"city": "Paris"})',
            "'Checking' found at offset 0",
        ]
        assert checked.passed
        response["output"][0]["arguments"] = '{"city": "Lyon"}'
        assert tools.evaluate(response).checks[0].message == (
            'call [0] get_weather: $.city: got "Lyon", expected "Paris"'
        )

    def test_text_check_on_tool_only_response_fails(self, in_tmp: Path) -> None:
        write(in_tmp, "cases: [{id: a, checks: [{type: contains, value: x}]}]")
        (case,) = read_cases("cases.yaml")
        response = {"role": "assistant", "content": None, "tool_calls": []}
        (result,) = case.evaluate(response).checks
        assert not result.passed
        assert result.message == "the output has no text (got dict; the model only called tools)"

    def test_non_string_output_to_a_text_check(self, in_tmp: Path) -> None:
        write(in_tmp, "cases: [{id: a, checks: [{type: contains, value: x}]}]")
        (case,) = read_cases("cases.yaml")
        with pytest.raises(
            ConfigError, match="check 'contains' expects the model output as a str, got int"
        ):
            case.evaluate(5)

    def test_python_check_returning_nonsense(self, in_tmp: Path) -> None:
        write(in_tmp, "cases: [{id: a, checks: [{type: python, value: 'builtins:len'}]}]")
        (case,) = read_cases("cases.yaml")
        with pytest.raises(
            ConfigError, match=r"builtins:len returned the score 3, outside \[0, 1\]"
        ):
            case.evaluate("abc")


class TestMalformed:
    def problems(self, in_tmp: Path, text: str) -> str:
        write(in_tmp, text)
        with pytest.raises(ConfigError) as excinfo:
            read_cases("cases.yaml")
        return str(excinfo.value)

    def test_unknown_check_did_you_mean(self, in_tmp: Path) -> None:
        text = "cases: [{id: paris, checks: [{type: containz, value: Paris}]}]"
        assert self.problems(in_tmp, text) == (
            "unknown check 'containz' in case 'paris' of cases.yaml; did you mean 'contains'?"
        )

    def test_unknown_check_without_a_close_match_lists_them(self, in_tmp: Path) -> None:
        message = self.problems(in_tmp, "cases: [{id: p, checks: [{type: zzz}]}]")
        assert (
            message
            == f"unknown check 'zzz' in case 'p' of cases.yaml; known checks: {', '.join(CHECK_TYPES)}"
        )

    def test_threshold_outside_range(self, in_tmp: Path) -> None:
        text = "cases: [{description: big, threshold: 1.5, checks: [{type: contains, value: a}]}]"
        assert self.problems(in_tmp, text) == (
            "threshold 1.5 in case 'big' of cases.yaml is outside [0, 1]; a threshold is the "
            "share of the weighted score that must pass, e.g. 0.8"
        )

    def test_every_problem_names_file_case_and_field(self, in_tmp: Path) -> None:
        text = """\
        cases:
          - id: paris
            treshold: 1
            checks:
              - {type: contains, value: 5}
              - {type: contains, value: a, wieght: 2}
          - checks: []
        """
        assert self.problems(in_tmp, text).splitlines() == [
            "cases.yaml has 4 problems:",
            "  unknown field 'treshold' in case 'paris' of cases.yaml; did you mean 'threshold'?",
            "  case 'paris' of cases.yaml, field checks[0].value: 5 is not of type 'string'",
            "  unknown field 'wieght' in checks[1] of case 'paris' of cases.yaml; did you mean 'weight'?",
            "  case 2 of cases.yaml, field checks: [] should be non-empty",
        ]

    def test_semantic_problems(self, in_tmp: Path) -> None:
        text = """\
        cases:
          - id: a
            checks:
              - {type: regex, value: "(abc"}
              - {type: pydantic, value: "nomodule:Foo"}
              - {type: python, value: "json:dumpz"}
              - {type: contains, value: x, options: {mode: search}}
          - id: a
            checks:
              - {type: json-schema, value: {type: objekt}}
        """
        assert self.problems(in_tmp, text).splitlines() == [
            "cases.yaml has 6 problems:",
            "  case 'a' of cases.yaml, field checks[0]: regex: invalid regular expression /(abc/: "
            "missing ), unterminated subpattern at position 0",
            "  case 'a' of cases.yaml, field checks[1]: cannot import 'nomodule:Foo': No module named 'nomodule'",
            "  case 'a' of cases.yaml, field checks[2]: cannot import 'json:dumpz': json has no "
            "attribute 'dumpz'; did you mean 'dump'?",
            "  case 'a' of cases.yaml, field checks[3]: option 'mode' does not apply to a 'contains' "
            "check (valid: ignore_case, normalize, collapse_whitespace, nfkc, strip_markdown, whole_word)",
            "  duplicate id 'a' in cases.yaml: cases 1 and 2; ids must be unique",
            "  case 'a' of cases.yaml, field checks[0]: the schema is not a valid JSON Schema "
            "(draft 2020-12): at type: 'objekt' is not valid under any of the given schemas; fix "
            "the schema (the data was not checked); did you mean 'object'?",
        ]

    def test_missing_checks_and_top_level_shape(self, in_tmp: Path) -> None:
        assert self.problems(in_tmp, "cases: [{id: a}]") == (
            "case 'a' of cases.yaml has no 'checks'; add it (see cases.schema.json)"
        )
        assert self.problems(in_tmp, "- id: a") == (
            "cases.yaml is a bare list; put the cases under a 'cases' key (cases: [...])"
        )
        assert self.problems(in_tmp, "") == (
            "cases.yaml is empty; it needs a 'cases' list (see cases.schema.json)"
        )
        assert self.problems(in_tmp, "case: []").splitlines() == [
            "cases.yaml has 2 problems:",
            "  unknown field 'case' in cases.yaml; did you mean 'cases'?",
            "  cases.yaml has no 'cases'; add it (see cases.schema.json)",
        ]

    def test_invalid_yaml_names_the_line(self, in_tmp: Path) -> None:
        message = self.problems(in_tmp, "cases:\n  - id: [unclosed\n")
        assert message.startswith("cases.yaml is not valid YAML: ")
        assert "line 3" in message

    def test_wrong_extension(self, in_tmp: Path) -> None:
        (in_tmp / "cases.txt").write_text("cases: []")
        with pytest.raises(ConfigError, match=r"must end in \.yaml, \.yml or \.json, not '\.txt'"):
            read_cases("cases.txt")


class TestShippedSchema:
    def test_is_a_valid_schema_listing_every_check(self) -> None:
        schema = json.loads(SCHEMA_PATH.read_text())
        jsonschema.Draft202012Validator.check_schema(schema)
        enum = schema["$defs"]["check"]["properties"]["type"]["enum"]
        assert sorted(enum) == sorted(CHECK_TYPES)

    def test_accepts_the_documented_example(self) -> None:
        import yaml

        schema = json.loads(SCHEMA_PATH.read_text())
        jsonschema.Draft202012Validator(schema).validate(yaml.safe_load(CASES))
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.Draft202012Validator(schema).validate(
                {"cases": [{"checks": [{"type": "nope"}]}]}
            )


def test_parametrized_run_with_readable_ids(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", cases=CASES)
    pytester.makepyfile(
        test_evals="""
import pytest
from pytest_llm.assertions import load_cases, assert_case

ANSWERS = {"paris": "The capital is Berlin.", "json answer": '{"city": "Paris"} 1'}

@pytest.mark.parametrize("case", load_cases("cases.yaml"))
def test_case(case):
    assert_case(case, ANSWERS[case.id])
"""
    )
    result = pytester.runpytest("-p", "no:llm", "-p", "no:cacheprovider", "-v")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "test_evals.py::test_case[[]paris[]] FAILED*",
            "test_evals.py::test_case[[]json answer[]] PASSED*",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "E       pytest_llm.assertions.CaseFailedError: case 'paris' failed: score 0.00 < threshold 1 (0 of 2 checks passed)",
            "E         FAIL icontains 'paris' (weight 1): 'paris' not found in the output (ignore_case)",
            "E         FAIL not-contains 'Berlin' (weight 2): forbidden 'Berlin' found at offset 15",
            "E         output (22 chars): 'The capital is Berlin.'",
        ],
        consecutive=True,
    )


def test_relative_path_is_found_beside_the_test_module(pytester: pytest.Pytester) -> None:
    evals = pytester.mkdir("evals")
    (evals / "cases.yaml").write_text("cases: [{id: near, checks: [{type: contains, value: a}]}]")
    (evals / "test_near.py").write_text(
        "import pytest\n"
        "from pytest_llm.assertions import load_cases\n\n"
        "@pytest.mark.parametrize('case', load_cases('cases.yaml'))\n"
        "def test_case(case):\n"
        "    assert case.evaluate('abc').passed\n"
    )
    result = pytester.runpytest("-p", "no:llm", "-p", "no:cacheprovider", "-v")  # cwd is the root
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["evals/test_near.py::test_case[[]near[]] PASSED*"])
