"""`csrules test`: exit codes and the report, run as a subprocess."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.helpers import ROOT, run_cli


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "csrules", "test", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
        timeout=60,
    )


def test_the_bundle_case_suite_passes() -> None:
    result = run("tests/policy_cases")
    assert result.returncode == 0, result.stdout
    lines = result.stdout.splitlines()
    cases = [line for line in lines if line.startswith("PASS  tests/policy_cases/")]
    invariants = [line for line in lines if line.startswith("PASS  policies/")]
    assert lines[-1] == f"{len(cases)} passed, 0 failed; invariants: 8 held, 0 violated"
    assert len(cases) + len(invariants) == len(lines) - 1
    assert invariants[0].startswith(
        "PASS  policies/conduct.yaml:29  invariant abuse_never_handled_below_supervisor (728 tickets, "
    )


def test_a_failing_case_exits_1_with_the_report(tmp_path: Path) -> None:
    (tmp_path / "wrong.cases.yaml").write_text(
        "now: 2026-11-23T15:00:00Z\ncases:\n  - name: wrong\n"
        '    ticket: {id: T, customer: {id: C}, agent: {id: A, role: front_line}, request: {kind: refund, amount: "20.01"}}\n'
        "    expect: {outcome: approve, follow_ups: [{kind: escalation_update, due_in: {hours: 4}}]}\n",
        encoding="utf-8",
    )
    result = run(str(tmp_path))
    assert result.returncode == 1
    assert result.stdout.splitlines()[:3] == [
        f"FAIL  {tmp_path / 'wrong.cases.yaml'}:3  wrong",
        "        outcome: expected approve, got escalate",
        "        follow_ups[escalation_update].due: expected 2026-11-23T19:00:00Z, got [2026-11-24T15:00:00Z]",
    ]
    assert result.stdout.splitlines()[-1] == "0 passed, 1 failed; invariants: 8 held, 0 violated"


def test_cases_can_test_other_policies(tmp_path: Path) -> None:
    """--policies replaces each case file's own policies: a raised limit fails the bundle's suite."""
    limits = tmp_path / "policies"
    limits.mkdir()
    for source in (ROOT / "policies").glob("*.yaml"):
        text = source.read_text(encoding="utf-8").replace("default: 20\n", "default: 25\n")
        (limits / source.name).write_text(text, encoding="utf-8")
    result = run("tests/policy_cases/empowerment.cases.yaml", "--policies", str(limits))
    assert result.returncode == 1
    assert "FAIL  tests/policy_cases/empowerment.cases.yaml:" in result.stdout


def test_an_invalid_case_file_is_one_line_and_exit_2(tmp_path: Path) -> None:
    (tmp_path / "bad.cases.yaml").write_text(
        "cases:\n  - name: x\n    ticket: {}\n    expect: {outcom: approve}\n", encoding="utf-8"
    )
    result = run(str(tmp_path))
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"csrules: error: {tmp_path / 'bad.cases.yaml'}:4:14: invalid case file: `cases.0.expect.outcom`: extra inputs are not permitted"
    ]


def test_no_cases_is_an_error(tmp_path: Path) -> None:
    result = run(str(tmp_path))
    assert (result.returncode, result.stderr.strip()) == (
        2,
        "csrules: error: no policy cases found (files named *.cases.yaml)",
    )


def test_invariants_run_when_every_case_sets_params(tmp_path: Path) -> None:
    """A case file with `params:` ran no invariant at all: the bundle had only been loaded with
    the cases' parameters, and a violated invariant passed (exit 0)."""
    policies = tmp_path / "policies"
    policies.mkdir()
    for source in (ROOT / "policies").glob("*.yaml"):  # supervisor limit 100 -> 40: breaks one
        text = source.read_text(encoding="utf-8").replace("default: 100\n", "default: 40\n")
        (policies / source.name).write_text(text, encoding="utf-8")
    (tmp_path / "limits.cases.yaml").write_text(
        "policies: policies\nparams: {front_line_limit: 20}\ncases:\n  - name: within\n"
        '    ticket: {id: T, customer: {id: C}, agent: {id: A, role: front_line}, request: {kind: refund, amount: "20.00"}}\n'
        "    expect: {outcome: approve}\n",
        encoding="utf-8",
    )
    result = run(str(tmp_path / "limits.cases.yaml"))
    assert result.returncode == 1, result.stdout
    assert result.stdout.splitlines()[-1] == "1 passed, 0 failed; invariants: 7 held, 1 violated"
    assert "\nFAIL  policies/empowerment.yaml:" in result.stdout


def test_an_empty_case_file_is_named_as_a_file_not_a_policy(tmp_path: Path) -> None:
    """It said "the policy file is empty" of a case file."""
    (tmp_path / "empty.cases.yaml").write_text("# to do\n", encoding="utf-8")
    result = run(str(tmp_path / "empty.cases.yaml"))
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        f"csrules: error: {tmp_path / 'empty.cases.yaml'}:1:1: "
        "the file holds no YAML document (it is empty or only comments)\n"
    )


def test_a_missing_policies_path_is_reported_where_the_case_file_names_it(tmp_path: Path) -> None:
    """It was reported at `../gone:1:1`, a file that does not exist, not in the case file."""
    (tmp_path / "cases").mkdir()
    (tmp_path / "cases" / "a.cases.yaml").write_text(
        f"policies: [{ROOT / 'policies'}, ../gone]\ncases:\n  - name: a\n"
        "    ticket: {id: T, customer: {id: C}, agent: {id: A, role: front_line}, "
        'request: {kind: refund, amount: "1.00"}}\n'
        "    expect: {outcome: approve}\n",
        encoding="utf-8",
    )
    result = run(str(tmp_path / "cases"))
    assert (result.returncode, result.stdout) == (2, "")
    column = len(f"policies: [{ROOT / 'policies'}, ") + 1
    assert result.stderr == (
        f"csrules: error: {tmp_path / 'cases' / 'a.cases.yaml'}:1:{column}: "
        "`policies: ../gone`: no such file or directory\n"
    )
    # with --policies the case file's own are not read: the case runs
    assert run(str(tmp_path / "cases"), "--policies", "policies", "--examples", "0").returncode == 0


def test_a_case_file_reached_twice_runs_once(tmp_path: Path) -> None:
    """Given twice (or by name and by its directory), its cases ran and counted twice."""
    (tmp_path / "a.cases.yaml").write_text(
        "cases:\n  - name: a\n"
        "    ticket: {id: T, customer: {id: C}, agent: {id: A, role: front_line}, "
        'request: {kind: refund, amount: "1.00"}}\n'
        "    expect: {outcome: approve}\n",
        encoding="utf-8",
    )
    path = str(tmp_path / "a.cases.yaml")
    result = run(path, str(tmp_path), path, "--examples", "0")
    assert (result.returncode, result.stdout.splitlines()[-1]) == (0, "1 passed, 0 failed")


def test_a_monotonicity_break_names_the_rule_that_fired_for_one_ticket_only(tmp_path: Path) -> None:
    """The report showed only each decision's reasons: at 1000.00 none at all (approve), so
    `high_value_customer`, whose firing lowered the role, was never named."""
    shutil.copytree(ROOT / "policies", tmp_path / "policies")
    with (tmp_path / "policies" / "empowerment.yaml").open("a", encoding="utf-8") as policy:
        policy.write("\n  - id: ltv_mono\n    description: d\n    monotonic_in: customer.lifetime_value\n")
    result = run("--policies", str(tmp_path / "policies"), "--examples", "20")
    assert result.returncode == 1
    report = result.stdout.split("invariant ltv_mono\n", 1)[1].split("\nPASS", 1)[0]
    lines = [
        line.strip() for line in report.splitlines() if line.strip().endswith("fire:") or "fired:" in line
    ]
    assert lines == [
        "high_value_customer [policies/empowerment.yaml:40] did not fire:",
        "over_front_line_limit [policies/empowerment.yaml:52] fired:",
        "high_value_customer [policies/empowerment.yaml:40] fired:",
        "over_front_line_limit [policies/empowerment.yaml:52] did not fire:",
    ]
    assert "escalation_update" not in report  # a follow-up that only followed the outcome: no cause


def test_checking_invariants_leaves_no_files_where_it_runs(tmp_path: Path) -> None:
    """hypothesis cached the constants of local modules in `./.hypothesis/constants`: a
    `csrules test` run dirtied the directory it ran in (a repository, a CI workspace)."""
    cases = ROOT / "tests" / "policy_cases" / "conduct.cases.yaml"
    environment = {k: v for k, v in os.environ.items() if k != "HYPOTHESIS_STORAGE_DIRECTORY"}
    policies = str(ROOT / "policies")
    result = run_cli(
        "test", str(cases), "--policies", policies, "--examples", "5", cwd=tmp_path, env=environment
    )
    assert (result.returncode, result.stderr) == (0, "")
    assert "invariant" in result.stdout
    assert sorted(os.listdir(tmp_path)) == []


def test_a_case_path_that_is_no_file_says_why(tmp_path: Path) -> None:
    """A loop of links and a FIFO given by name were both "no such file or directory"."""
    (tmp_path / "loop.cases.yaml").symlink_to("loop.cases.yaml")
    os.mkfifo(tmp_path / "fifo.cases.yaml")
    expected = {
        "loop.cases.yaml": "cannot read the path (Too many levels of symbolic links)",
        "fifo.cases.yaml": "not a file or a directory (a FIFO, a socket or a device)",
        "gone.cases.yaml": "no such file or directory",
    }
    for name, message in expected.items():
        result = run(str(tmp_path / name))
        assert (result.returncode, result.stderr) == (
            2,
            f"csrules: error: {tmp_path / name}:1:1: {message}\n",
        )
