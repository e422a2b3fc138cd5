"""Policy case files: loading, defaults, and the default bundle's suite covering every rule."""

from __future__ import annotations

from pathlib import Path

import pytest

import csrules
from csrules.testing.cases import DEFAULT_NOW, load_cases, run_cases
from tests.helpers import ROOT

SUITE = ROOT / "tests" / "policy_cases"


def test_the_suite_fires_every_rule_of_the_bundle() -> None:
    results = run_cases(load_cases([SUITE]))
    assert all(r.passed for r in results)
    fired = {rule for r in results if r.decision for rule in r.decision.trace.fired}
    assert fired == {r.id for r in csrules.load().bundle.rules}


def test_case_defaults_and_overrides(tmp_path: Path) -> None:
    (tmp_path / "a.cases.yaml").write_text(
        "params: {front_line_limit: 30}\ncases:\n"
        "  - name: file params\n    ticket: {id: T, customer: {id: C}, agent: {id: A, role: front_line}}\n    expect: {}\n"
        "  - name: case params win\n    params: {front_line_limit: 40}\n    now: 2026-05-01T12:00:00+02:00\n"
        "    ticket: {id: T, customer: {id: C}, agent: {id: A, role: front_line}}\n    expect: {}\n",
        encoding="utf-8",
    )
    first, second = load_cases([tmp_path])
    assert (first.params, first.now, first.policies, first.line) == (
        {"front_line_limit": 30},
        DEFAULT_NOW,
        None,
        3,
    )
    assert second.params == {"front_line_limit": 40}
    assert second.now.isoformat() == "2026-05-01T12:00:00+02:00"


def test_an_unknown_rule_in_an_expectation_fails_the_case(tmp_path: Path) -> None:
    (tmp_path / "a.cases.yaml").write_text(
        "cases:\n  - name: typo\n    ticket: {id: T, customer: {id: C}, agent: {id: A, role: front_line}}\n"
        "    expect: {not_fired: [over_front_line_limt]}\n",
        encoding="utf-8",
    )
    (result,) = run_cases(load_cases([tmp_path]))
    assert not result.passed
    assert [(m.field, m.expected) for m in result.mismatches] == [("rules", ["over_front_line_limt"])]


def test_an_expected_error_that_does_not_happen_fails(tmp_path: Path) -> None:
    (tmp_path / "a.cases.yaml").write_text(
        "cases:\n  - name: valid after all\n    ticket: {id: T, customer: {id: C}, agent: {id: A, role: front_line}}\n"
        "    expect: {error: {code: invalid-money}}\n",
        encoding="utf-8",
    )
    (result,) = run_cases(load_cases([tmp_path]))
    assert [m.field for m in result.mismatches] == ["error"]


@pytest.mark.parametrize(
    ("text", "line"),
    [("cases: []\n", 1), ("cases:\n  - name: x\n    expect: {}\n", 2), ("rules: []\n", 1)],
)
def test_invalid_case_files_are_policy_errors(tmp_path: Path, text: str, line: int) -> None:
    (tmp_path / "a.cases.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(csrules.PolicyError) as info:
        load_cases([tmp_path])
    assert (info.value.code, info.value.line) == ("invalid-case", line)
