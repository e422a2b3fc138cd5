"""The pytest plugin, run with pytester: case files become test items with readable failures.

Each run is a subprocess, as pytest runs the plugin for a user: in-process runs restore
`sys.modules` between runs, and PyYAML's C parser then builds nodes of the first run's classes
(`tests/plugin` alone failed: "unsupported YAML tag `None`")."""

from __future__ import annotations

import sys

import pytest

pytest_plugins = ["pytester"]

PASSING = """
now: 2026-11-23T15:00:00Z
cases:
  - name: twenty dollars stays at the front line
    ticket: {id: T-1, customer: {id: C-1}, agent: {id: A-1, role: front_line}, request: {kind: refund, amount: "20.00"}}
    expect: {outcome: approve, required_role: front_line}
  - name: one cent more goes to a senior
    ticket: {id: T-2, customer: {id: C-1}, agent: {id: A-1, role: front_line}, request: {kind: refund, amount: "20.01"}}
    expect: {outcome: escalate, required_role: senior, fired: [over_front_line_limit]}
"""

FAILING = """
cases:
  - name: a wrong expectation
    ticket: {id: T-1, customer: {id: C-1}, agent: {id: A-1, role: front_line}, request: {kind: refund, amount: "20.01"}}
    expect: {outcome: approve}
"""


def test_case_files_are_collected_and_pass(pytester: pytest.Pytester) -> None:
    pytester.makefile(".cases.yaml", limits=PASSING)
    result = pytester.runpytest_subprocess("-v")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*limits.cases.yaml::twenty dollars stays at the front line PASSED*"])


def test_a_failing_case_reports_expected_against_actual(pytester: pytest.Pytester) -> None:
    pytester.makefile(".cases.yaml", wrong=FAILING)
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*case `a wrong expectation` (*wrong.cases.yaml:2) failed:",
            "*outcome: expected approve, got escalate",
            "*over_front_line_limit ?policies/empowerment.yaml:52? fired:",
            "*request.amount > 20.00 (front_line_limit): actual 20.01, holds",
        ]
    )
    assert "Traceback" not in result.stdout.str()


def test_an_invalid_case_file_is_a_collection_error_with_its_line(pytester: pytest.Pytester) -> None:
    pytester.makefile(
        ".cases.yaml", broken="cases:\n  - name: x\n    ticket: {}\n    expect: {outcom: approve}\n"
    )
    result = pytester.runpytest_subprocess()
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(["*broken.cases.yaml:4:*invalid case file*"])
    assert "Traceback" not in result.stdout.str()
    assert "load_cases" not in result.stdout.str()  # the error, not the code that raised it


def test_a_refused_case_parameter_fails_its_case_with_the_line(pytester: pytest.Pytester) -> None:
    pytester.makefile(
        ".cases.yaml",
        params="cases:\n  - name: x\n    ticket: {}\n    params: {front_line_limt: 30}\n    expect: {}\n",
    )
    result = pytester.runpytest_subprocess()
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*params.cases.yaml:4:14: unknown parameter `front_line_limt`*"])
    assert "params.cases.yaml:2: " not in result.stdout.str()  # said once, not prefixed again
    assert "Traceback" not in result.stdout.str()


def test_other_yaml_files_are_not_collected(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", policy="rules: []\n")
    result = pytester.runpytest_subprocess()
    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED


TWO_SESSIONS = """
import pathlib, sys, pytest
policy = pathlib.Path("pol/a.yaml")
first = pytest.main(["-q", "-p", "no:cacheprovider", "a.cases.yaml"])
policy.write_text(policy.read_text().replace("gt: 10", "gt: 1"))  # now 5.00 needs a senior
second = pytest.main(["-q", "-p", "no:cacheprovider", "a.cases.yaml"])
print("exits", int(first), int(second))
"""


def test_a_second_session_in_one_process_reads_the_policies_again(pytester: pytest.Pytester) -> None:
    """The loaded bundles were kept for the life of the process: a second session (an IDE runner,
    `pytest.main` twice) ran the case against the policy as the first session read it."""
    pytester.mkdir("pol")
    pytester.path.joinpath("pol", "a.yaml").write_text(
        "rules:\n  - id: r1\n    description: r\n    rationale: r\n"
        "    when: [{request.amount: {gt: 10}}]\n    then: {require_role: senior}\n",
        encoding="utf-8",
    )
    pytester.makefile(
        ".cases.yaml",
        a="policies: pol\ncases:\n  - name: small\n    ticket: {id: T-1, customer: {id: C-1}, agent: "
        '{id: A-1, role: front_line}, request: {kind: refund, amount: "5"}}\n'
        "    expect: {required_role: front_line}\n",
    )
    script = pytester.makepyfile(two_sessions=TWO_SESSIONS)
    result = pytester.run(sys.executable, str(script))
    result.stdout.fnmatch_lines(["exits 0 1"])
