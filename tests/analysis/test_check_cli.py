"""`csrules check`: warnings with file:line and an example, `--strict` exit codes, `--format json`."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import csrules
from csrules.cli.main import main
from tests.helpers import ROOT

POLICY = """\
parameters:
  spare: {type: money, default: 5, description: never used}
rules:
  - id: broad
    description: broad
    rationale: r
    when:
      - request.amount: {gt: 60}
    then:
      require_role: supervisor
  - id: deny_big
    description: deny_big
    rationale: r
    when:
      - request.amount: {gt: 500}
    then:
      deny: true
"""
CLEAN = POLICY.replace("parameters:\n  spare: {type: money, default: 5, description: never used}\n", "")


def check(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(["check", *args])
    captured = capsys.readouterr()
    assert captured.err == ""
    return code, captured.out


@pytest.fixture
def policy(tmp_path: Path) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY, encoding="utf-8")
    return path


def test_the_default_bundle_is_clean(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    code, out = check(capsys, "policies/", "--strict")
    assert code == 0
    assert re.fullmatch(r"ok: 17 rules in 5 files, policy [0-9a-f]{12}\n", out), out


def test_one_rule_is_one_rule(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """It said `ok: 1 rules in 1 file`."""
    policy = tmp_path / "p.yaml"
    policy.write_text(
        "rules:\n  - {id: r, description: d, rationale: r, when: [{severity: urgent}], then: {deny: true}}\n",
        encoding="utf-8",
    )
    code, out = check(capsys, str(policy))
    assert code == 0
    assert re.fullmatch(r"ok: 1 rule in 1 file, policy [0-9a-f]{12}\n", out), out


def test_warnings_are_lines_with_an_example_and_exit_0(
    capsys: pytest.CaptureFixture[str], policy: Path
) -> None:
    code, out = check(capsys, str(policy))
    assert code == 0
    lines = out.splitlines()
    assert (
        lines[0]
        == f"{policy}:2:3: warning[unused-parameter]: parameter `spare` is declared but no rule refers to it"
    )
    assert lines[1].startswith(f"{policy}:11:5: warning[conflicting-effects]: rules `deny_big` and `broad`")
    assert lines[2].startswith("  example: {")
    example = json.loads(lines[2].removeprefix("  example: "))
    assert example["request"]["amount"] > 500
    assert re.fullmatch(r"ok: 2 rules in 1 file, policy [0-9a-f]{12}, 2 warnings", lines[3])
    assert len(lines) == 4


def test_strict_fails_on_any_warning(
    capsys: pytest.CaptureFixture[str], policy: Path, tmp_path: Path
) -> None:
    code, out = check(capsys, str(policy), "--strict")
    assert code == 1
    # the last line said `ok:` of a check that failed
    assert re.fullmatch(
        r"failed \(--strict: a warning fails the check\): 2 rules in 1 file, policy [0-9a-f]{12}, 2 warnings",
        out.splitlines()[-1],
    )
    clean = tmp_path / "clean"
    clean.mkdir()
    (clean / "policy.yaml").write_text(CLEAN.replace("deny: true", "require_role: manager"), encoding="utf-8")
    code, out = check(capsys, str(clean), "--strict")
    assert (code, "warning" in out) == (0, False)


def test_json_report(capsys: pytest.CaptureFixture[str], policy: Path) -> None:
    code, out = check(capsys, str(policy), "--format", "json")
    report = json.loads(out)
    engine = csrules.load(policy)
    example = report["warnings"][1].pop("example")
    assert code == 0
    assert report == {
        "ok": True,
        "errors": [],
        "warnings": [
            {
                "code": "unused-parameter",
                "message": "parameter `spare` is declared but no rule refers to it",
                "file": str(policy),
                "line": 2,
                "column": 3,
                "rules": [],
                "example": None,
            },
            {
                "code": "conflicting-effects",
                "message": (
                    "rules `deny_big` and `broad` (policy.yaml:4) can both fire: `deny_big` denies where "
                    "`broad` requires `supervisor`: the role requirement is moot there"
                ),
                "file": str(policy),
                "line": 11,
                "column": 5,
                "rules": ["deny_big", "broad"],
            },
        ],
        "rules": 2,
        "policy_digest": engine.policy_digest,
    }
    assert {"broad", "deny_big"} <= set(engine.evaluate(example).trace.fired)


def test_json_strict_is_not_ok(capsys: pytest.CaptureFixture[str], policy: Path) -> None:
    code, out = check(capsys, str(policy), "--format", "json", "--strict")
    assert (code, json.loads(out)["ok"]) == (1, False)


def test_json_load_errors(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(POLICY.replace("request.amount: {gt: 60}", "request.amont: {gt: 60}"), encoding="utf-8")
    code, out = check(capsys, str(path), "--format", "json")
    report = json.loads(out)
    assert code == 1
    assert report["ok"] is False
    assert (report["warnings"], report["rules"], report["policy_digest"]) == ([], None, None)
    assert report["errors"] == [
        {
            "code": "unknown-fact-path",
            "message": "unknown fact path `request.amont`",
            "help": "did you mean `request.amount`?",
            "file": str(path),
            "line": 8,
            "column": 9,
        }
    ]


def test_text_load_errors_are_unchanged(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(POLICY.replace("request.amount: {gt: 60}", "request.amont: {gt: 60}"), encoding="utf-8")
    code, out = check(capsys, str(path))
    assert code == 1
    assert out.splitlines()[-1] == "1 problem"


@pytest.mark.parametrize("args", [[""], ["--format", "json", ""]])
def test_an_empty_path_is_bad_input_exit_2(capsys: pytest.CaptureFixture[str], args: list[str]) -> None:
    """It was a policy problem without a place (`paths: an empty path`) and exit 1."""
    assert main(["check", *args]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        "csrules: error: argument paths: expected a path, got an empty string (see `csrules check --help`)\n"
    )
