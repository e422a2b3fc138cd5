"""Coverage: `csrules test --coverage --fail-under`, `csrules coverage FILE.jsonl`, the tally itself."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings

import csrules
from csrules.cli.main import main
from csrules.testing.coverage import Coverage
from csrules.testing.strategies import tickets
from tests.helpers import NOW, ROOT, refund

POLICY = """\
rules:
  - id: over_twenty
    description: Over twenty
    rationale: A senior decides above twenty.
    when: [{request.amount: {gt: 20}}]
    then: {require_role: senior}
  - id: abusive
    description: Abusive
    rationale: A supervisor takes over.
    when:
      - any:
          - customer.abusive: true
          - category: employee_behavior
    then: {require_role: supervisor}
"""

CASES = """\
policies: policy.yaml
cases:
  - name: thirty goes up
    ticket: {id: T, customer: {id: C}, agent: {id: A, role: front_line}, request: {kind: refund, amount: "30"}}
    expect: {outcome: escalate}
"""


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[str]]:
    code = main(list(argv))
    return code, capsys.readouterr().out.splitlines()


def test_the_bundle_suite_covers_every_rule_and_both_outcomes_of_every_condition(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, lines = run(
        capsys,
        "test",
        str(ROOT / "tests" / "policy_cases"),
        "--coverage",
        "--fail-under",
        "100",
        "--examples",
        "0",
    )
    assert code == 0
    assert lines[-3:] == [
        "rules fired: 17/17 (100.0%)",
        "condition outcomes: 62/62 (100.0%)",
        "33 passed, 0 failed",
    ]
    assert not [line for line in lines if "<- never" in line]


def test_a_thin_suite_is_reported_and_fails_under(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "policy.yaml").write_text(POLICY, encoding="utf-8")
    (tmp_path / "thin.cases.yaml").write_text(CASES, encoding="utf-8")
    code, lines = run(capsys, "test", str(tmp_path), "--coverage", "--fail-under", "90")
    assert code == 1
    assert lines[1:] == [
        "coverage over 1 decisions:",
        "  over_twenty [policy.yaml:2]: fired 1, not fired 0",
        "    when[0].request.amount (>): held 1, failed 0   <- never failed",
        "  abusive [policy.yaml:7]: fired 0, not fired 1",
        "    when[0].any[0].customer.abusive (==): held 0, failed 1   <- never held",
        "    when[0].any[1].category (==): held 0, failed 1   <- never held",
        "rules fired: 1/2 (50.0%)",
        "condition outcomes: 3/6 (50.0%)",
        "never fired: abusive",
        "1 passed, 0 failed",
        "coverage too low: rules 50.0% < 90%; condition outcomes 50.0% < 90%",
    ]


def test_fail_under_passes_at_the_measure(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "policy.yaml").write_text(POLICY, encoding="utf-8")
    (tmp_path / "thin.cases.yaml").write_text(CASES, encoding="utf-8")
    assert run(capsys, "test", str(tmp_path), "--fail-under", "50")[0] == 0
    assert run(capsys, "test", str(tmp_path), "--fail-under", "50.1")[0] == 1
    # just above: the threshold as given, not rounded to `50%` (it read "50.0% < 50%")
    code, lines = run(capsys, "test", str(tmp_path), "--fail-under", "50.00001")
    assert code == 1
    assert lines[-1] == "coverage too low: rules 50.0% < 50.00001%; condition outcomes 50.0% < 50.00001%"


def test_invariant_runs_count_towards_coverage(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    policy = (
        POLICY + "invariants:\n  - {id: roles, description: Seniority never hurts., role_monotonic: true}\n"
    )
    (tmp_path / "policy.yaml").write_text(policy, encoding="utf-8")
    (tmp_path / "thin.cases.yaml").write_text(CASES, encoding="utf-8")
    assert run(capsys, "test", str(tmp_path), "--fail-under", "100", "--examples", "0")[0] == 1
    code, lines = run(capsys, "test", str(tmp_path), "--coverage", "--examples", "100")
    assert code == 0, lines
    assert "rules fired: 2/2 (100.0%)" in lines  # the invariant's tickets fired `abusive`
    assert lines[-1] == "1 passed, 0 failed; invariants: 1 held, 0 violated"


def write_jsonl(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def test_coverage_of_past_decisions(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    engine = csrules.load()
    decisions = [engine.evaluate(refund(amount), now=NOW) for amount in ("10.00", "45.00", "150.00")]
    log = write_jsonl(
        tmp_path / "decisions.jsonl",
        [
            decisions[0].to_json(),
            "",
            json.dumps({"decision": json.loads(decisions[1].to_json()), "prev": "0"}),
            decisions[2].to_json(),
        ],
    )
    code, lines = run(capsys, "coverage", str(log), "--fail-under", "50")
    assert code == 1
    assert lines[0] == "coverage over 3 decisions:"
    assert "  over_supervisor_limit [policies/empowerment.yaml:80]: fired 1, not fired 2" in lines
    assert "  abusive_customer [policies/conduct.yaml:6]: fired 0, not fired 3" in lines
    assert lines[-4:] == [
        "rules fired: 5/17 (29.4%)",
        "condition outcomes: 40/62 (64.5%)",
        "never fired: abusive_customer, employee_behavior_complaint, high_value_customer, "
        "over_front_line_limit_high_value, escalation_update_urgent, escalation_update_high, "
        "escalation_update_low, review_stocking, review_product, honest_promise, issue_raincheck, deny_raincheck",
        "coverage too low: rules 29.4% < 50%",
    ]


def test_decisions_of_another_policy_version_are_counted_and_said(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = csrules.load(params={"front_line_limit": 30}).evaluate(refund("25.00"), now=NOW)
    log = write_jsonl(tmp_path / "d.jsonl", [other.to_json()])
    code, lines = run(capsys, "coverage", str(log))
    assert code == 0
    assert lines[-1] == "1 decisions were made under another policy version"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "not JSON (or nested too deeply)"),
        ('{"outcome": "approve"}', "not a decision: /ticket_id: field required"),
        # a JSON string was read as JSON text again ("invalid JSON: expected value"), an array as fields
        ('"x"', "not a decision: a JSON object is expected, got a string"),
        ("[]", "not a decision: a JSON object is expected, got an array"),
        ("7", "not a decision: a JSON object is expected, got a number"),
        ('{"decision": null}', "not a decision: a JSON object is expected, got null"),
    ],
)
def test_a_bad_decisions_file_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], line: str, message: str
) -> None:
    decision = csrules.load().evaluate(refund("10.00"), now=NOW)
    log = write_jsonl(tmp_path / "d.jsonl", [decision.to_json(), line])
    assert main(["coverage", str(log)]) == 2
    assert capsys.readouterr().err == f"csrules: error: {log}:2: {message} [invalid-decision]\n"


def test_a_carriage_return_inside_a_line_is_json_whitespace_and_bad_bytes_name_their_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A `\r` after `{` split the line in two (text mode), and bytes that are not UTF-8 named
    no line."""
    decision = csrules.load().evaluate(refund("10.00"), now=NOW).to_json()
    path = tmp_path / "d.jsonl"
    path.write_bytes(b"{\r" + decision.encode()[1:] + b"\r\n" + decision.encode() + b"\n")
    code, lines = run(capsys, "coverage", str(path))
    assert code == 0
    assert lines[0] == "coverage over 2 decisions:"
    path.write_bytes(decision.encode() + b"\n" + b'{"id": "\xff"}\n')
    assert main(["coverage", str(path)]) == 2
    assert capsys.readouterr().err == f"csrules: error: {path}:2: not UTF-8 text [invalid-decision]\n"


def test_a_missing_decisions_file_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["coverage", str(tmp_path / "nope.jsonl")]) == 2
    assert capsys.readouterr().err == (
        f"csrules: error: {tmp_path / 'nope.jsonl'}: cannot read the file: No such file or directory [no-such-file]\n"
    )


@pytest.mark.parametrize("content", ["", "\n", "  \n\n"])
def test_a_decisions_file_with_no_decision_is_exit_2_even_under_a_zero_gate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str
) -> None:
    """An empty file reported "coverage over 0 decisions" and passed `--fail-under 0`."""
    decision = csrules.load().evaluate(refund("10.00"), now=NOW)
    good = write_jsonl(tmp_path / "good.jsonl", [decision.to_json()])
    empty = tmp_path / "empty.jsonl"
    empty.write_text(content, encoding="utf-8")
    assert main(["coverage", str(good), str(empty), "--fail-under", "0"]) == 2
    assert capsys.readouterr() == ("", f"csrules: error: {empty}: no decision in the file\n")
    assert main(["coverage", str(good), "--fail-under", "0"]) == 0


@settings(max_examples=30, deadline=None)
@given(tickets())
def test_every_decision_counts_once_per_rule_and_comparison(ticket: dict[str, object]) -> None:
    engine = csrules.load()
    decision = engine.evaluate(ticket, now=NOW)
    coverage = Coverage(engine.bundle)
    coverage.add(decision)
    coverage.add(decision)
    fired = set(decision.trace.fired)
    for rule in coverage.rules:
        assert (rule.fired, rule.not_fired) == ((2, 0) if rule.rule in fired else (0, 2))
        assert all(c.held + c.failed == 2 for c in rule.conditions)
    assert coverage.never_fired == [r.id for r in engine.bundle.rules if r.id not in fired]


FIVE = (
    "cases:\n  - name: five\n    ticket: {id: T, customer: {id: C}, agent: {id: A, role: front_line}, "
    'request: {kind: refund, amount: "5"}}\n    expect: {outcome: approve}\n'
)


def test_a_share_just_under_the_gate_is_shown_with_the_decimals_that_tell_them_apart(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """1 rule of 17 under `--fail-under 5.9` said `rules 5.9% < 5.9%`."""
    (tmp_path / "five.cases.yaml").write_text(FIVE, encoding="utf-8")
    code, lines = run(capsys, "test", str(tmp_path), "--examples", "0", "--fail-under", "5.9")
    assert code == 1
    assert lines[-1] == "coverage too low: rules 5.88% < 5.9%"
    assert run(capsys, "test", str(tmp_path), "--examples", "0", "--fail-under", "5.88")[0] == 0


def test_a_share_short_of_all_is_never_shown_as_100_percent(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """1,999 of 2,000 condition outcomes read `(100.0%)` in the report while the gate of the same
    run said `99.95% < 100%`."""
    rules = "".join(
        f"  - id: r{i}\n    description: d\n    rationale: r\n    when: [request.amount: {{gt: {i}}}]\n"
        "    then: {require_role: senior}\n"
        for i in range(1000)
    )
    (tmp_path / "big.yaml").write_text("rules:\n" + rules, encoding="utf-8")
    case = (
        "  - name: {name}\n    ticket: {{id: T, customer: {{id: C}}, agent: {{id: A, role: front_line}}, "
        'request: {{kind: refund, amount: "{amount}"}}}}\n    expect: {{}}\n'
    )
    (tmp_path / "a.cases.yaml").write_text(
        "policies: big.yaml\ncases:\n"
        + case.format(name="low", amount="0")
        + case.format(name="high", amount="999.00"),
        encoding="utf-8",
    )
    code, lines = run(
        capsys, "test", str(tmp_path / "a.cases.yaml"), "--examples", "0", "--coverage", "--fail-under", "100"
    )
    assert code == 1
    assert "rules fired: 999/1000 (99.9%)" in lines
    assert "condition outcomes: 1999/2000 (99.95%)" in lines
    assert lines[-1] == "coverage too low: rules 99.9% < 100%; condition outcomes 99.95% < 100%"


def test_cases_on_other_policies_do_not_count_towards_the_first_bundles_coverage(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A suite on another bundle (the default one here) credited its fired rules, by id, to
    the bundle measured: 100% for a bundle of which one case exercised a sixth."""
    (tmp_path / "policy.yaml").write_text(POLICY, encoding="utf-8")
    (tmp_path / "a_thin.cases.yaml").write_text(CASES, encoding="utf-8")
    (tmp_path / "b_default.cases.yaml").write_text(FIVE, encoding="utf-8")
    (tmp_path / "c_default.cases.yaml").write_text(
        FIVE.replace('"5"', '"30"').replace("approve", "escalate"), encoding="utf-8"
    )
    code, lines = run(capsys, "test", str(tmp_path), "--examples", "0", "--coverage", "--fail-under", "50")
    assert code == 0, lines
    assert "coverage over 1 decisions:" in lines
    assert "rules fired: 1/2 (50.0%)" in lines
    assert "not counted: 2 decided case(s) on other policies than the first case's" in lines


@pytest.mark.parametrize(
    ("extra", "why"),
    [
        (("--policies", "policy.yaml"), "the bundle declares no invariants"),
        (("--policies", str(ROOT / "policies"), "--examples", "0"), "--examples 0 skips the invariants"),
    ],
)
def test_a_run_that_tests_nothing_is_an_error_not_a_pass(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    extra: tuple[str, ...],
    why: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`0 passed, 0 failed`, exit 0, for a run with no case and no invariant."""
    (tmp_path / "policy.yaml").write_text(POLICY, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    code = main(["test", *extra])
    captured = capsys.readouterr()
    assert (code, captured.out) == (2, "")
    assert captured.err == (
        f"csrules: error: nothing to test: no policy cases found (files named *.cases.yaml), and {why}\n"
    )


def test_one_bundle_named_two_ways_is_one_bundle(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`policies: pol` and, from a subdirectory, `policies: ../pol` counted as two bundles: the
    second case was "not counted" (and the bundle loaded, and its invariants ran, twice)."""
    (tmp_path / "pol").mkdir()
    (tmp_path / "pol" / "policy.yaml").write_text(POLICY, encoding="utf-8")
    (tmp_path / "a.cases.yaml").write_text(CASES.replace("policy.yaml", "pol"), encoding="utf-8")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.cases.yaml").write_text(
        CASES.replace("policy.yaml", "../pol")
        .replace("thirty goes up", "abusive")
        .replace("customer: {id: C}", "customer: {id: C, abusive: true}"),
        encoding="utf-8",
    )
    code, lines = run(capsys, "test", str(tmp_path), "--examples", "0", "--coverage", "--fail-under", "100")
    assert "coverage over 2 decisions:" in lines
    assert "rules fired: 2/2 (100.0%)" in lines
    assert not [line for line in lines if line.startswith("not counted")]
    assert (code, lines[-2:]) == (
        1,
        ["2 passed, 0 failed", "coverage too low: condition outcomes 66.7% < 100%"],
    )
