"""The CLI without the `testing` extra: hypothesis is needed only to check invariants
(docs/impact.md: `pip install csrules`, then `csrules diff`)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.helpers import ROOT

# Runs each command line in one process in which `import hypothesis` fails, as it does where only
# csrules' own dependencies are installed; prints [exit code, output] per command.
_SCRIPT = """
import contextlib, io, json, sys
sys.modules["hypothesis"] = None
from csrules.cli.main import main
for argv in json.loads(sys.argv[1]):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    print(json.dumps([code, out.getvalue() + err.getvalue()]))
"""


def _run_without_hypothesis(commands: list[list[str]], cwd: Path) -> list[tuple[int, str]]:
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT, json.dumps(commands)],
        capture_output=True,
        text=True,
        cwd=cwd,
        check=True,
    )
    return [tuple(json.loads(line)) for line in done.stdout.splitlines()]  # type: ignore[misc]


def test_every_command_but_the_invariants_runs_without_hypothesis(tmp_path: Path) -> None:
    policies, ticket = str(ROOT / "policies"), str(ROOT / "examples/tickets/loyal_refund_45.json")
    decisions = tmp_path / "decisions.jsonl"
    commands = [
        ["generate-tickets", "--count", "30", "--output", "corpus.jsonl"],
        ["check", policies],
        ["eval", ticket, "--now", "2026-03-01T12:00:00+00:00", "--format", "jsonl"],
        ["diff", policies, policies, "--tickets", "corpus.jsonl", "--now", "2026-03-01T12:00:00+00:00"],
        ["test", str(ROOT / "tests/policy_cases"), "--examples", "0"],
        ["schema", "ticket"],
        ["test", "--policies", policies],
    ]
    results = _run_without_hypothesis(commands, tmp_path)
    assert [code for code, _ in results] == [0, 0, 0, 0, 0, 0, 2]
    decisions.write_text(results[2][1], encoding="utf-8")
    assert _run_without_hypothesis([["coverage", str(decisions)]], tmp_path)[0][0] == 0
    assert len((tmp_path / "corpus.jsonl").read_text(encoding="utf-8").splitlines()) == 30
    assert "0 decisions changed" in results[3][1]
    assert results[-1][1] == (
        "csrules: error: checking the bundle's invariants needs hypothesis: "
        "pip install 'csrules[testing]' (or --examples 0 to run only the cases)\n"
    )
