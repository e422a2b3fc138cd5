"""Snapshots of decisions, explanations and the compiled ruleset for the example tickets.

Regenerate with `make golden` (pytest --update-golden) and review the diff like code.
"""

from __future__ import annotations

import json
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
