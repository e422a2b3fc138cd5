"""Snapshots of decisions, explanations and the compiled ruleset for the example tickets.

Regenerate with `make golden` (pytest --update-golden) and review the diff like code.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

import csrules
from csrules.render import pretty_json
from tests.helpers import NOW, ROOT

HERE = Path(__file__).parent
TICKETS = sorted((ROOT / "examples" / "tickets").glob("*.json"))


def check(request: pytest.FixtureRequest, path: Path, text: str) -> None:
    if request.config.getoption("--update-golden"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return
    assert path.exists(), f"missing snapshot {path.relative_to(ROOT)}: run `make golden`"
    assert text == path.read_text(encoding="utf-8")


@pytest.mark.parametrize("ticket", TICKETS, ids=[t.stem for t in TICKETS])
def test_decision_json(request: pytest.FixtureRequest, engine: csrules.Engine, ticket: Path) -> None:
    decision = engine.evaluate(json.loads(ticket.read_text(encoding="utf-8")), now=NOW)
    check(request, HERE / "decisions" / f"{ticket.stem}.json", pretty_json(decision) + "\n")


@pytest.mark.parametrize("ticket", TICKETS, ids=[t.stem for t in TICKETS])
def test_explanation(request: pytest.FixtureRequest, engine: csrules.Engine, ticket: Path) -> None:
    decision = engine.evaluate(json.loads(ticket.read_text(encoding="utf-8")), now=NOW)
    check(request, HERE / "explain" / f"{ticket.stem}.txt", decision.explain() + "\n")


def test_compiled_ruleset(request: pytest.FixtureRequest, engine: csrules.Engine) -> None:
    text = json.dumps(engine.ruleset, indent=1, sort_keys=True) + "\n"
    check(request, HERE / "compiled" / "default_ruleset.json", text)


def test_every_rule_of_the_bundle_fires_for_some_example(engine: csrules.Engine) -> None:
    fired: set[str] = set()
    for ticket in TICKETS:
        fired |= set(engine.evaluate(json.loads(ticket.read_text(encoding="utf-8")), now=NOW).trace.fired)
    assert fired == {r.id for r in engine.bundle.rules}


def test_the_broken_change_walkthrough(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    """docs/testing.md's walkthrough: the supervisor limit lowered below the senior limit is
    caught by an invariant, with the smallest counterexample; the docs show this exact output.

    Run as a fresh process, as a user would: hypothesis draws constants from the modules loaded
    in the process, so the counts of tickets tried depend on what else a pytest run imported."""
    broken = tmp_path / "policies"
    broken.mkdir()
    for source in sorted((ROOT / "policies").glob("*.yaml")):
        text = source.read_text(encoding="utf-8")
        if source.name == "empowerment.yaml":
            limit = "  supervisor_limit:\n    type: money\n    default: 100\n"
            assert limit in text
            text = text.replace(limit, limit.replace("100", "40"))
        (broken / source.name).write_text(text, encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "csrules", "test", "--policies", "policies"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
        timeout=120,
    )
    assert (result.returncode, result.stderr) == (1, "")
    golden = HERE / "cli" / "test_broken_supervisor_limit.txt"
    if request.config.getoption("--update-golden"):
        check(request, golden, result.stdout)
    assert _counts_masked(result.stdout) == _counts_masked(golden.read_text(encoding="utf-8"))
    docs = (ROOT / "docs" / "testing.md").read_text(encoding="utf-8")
    block = re.search(r"```console\n\$ csrules test --policies policies\n(.*?)```", docs, re.S)
    assert block is not None
    assert _counts_masked(block.group(1)) == _counts_masked(result.stdout)


def _counts_masked(text: str) -> str:
    """The report with the counts of tickets tried masked: hypothesis draws constants from the source
    of every loaded module, so any code change moves them. Everything else must match exactly."""
    return re.sub(r"\(\d+ (tickets|ticket pairs)(, \d+ in its region|, each at every role)?\)", "(N)", text)
