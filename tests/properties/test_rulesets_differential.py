"""Splitting a bundle into several durable_rules rulesets changes no decision (differential).

compile.py splits a bundle into rulesets of at most RULESET_RULES rules (1,000); only bundles of
over 1,000 rules are split for real, and tests/unit/test_large_bundles.py covers some. Here the
default bundle (three stages, a derived fact, a decision stage) is compiled with rulesets of 1, 2
and 5 rules, and every generated ticket must get byte-identical JSON, trace (`fired` order
included) and all, from each of them and from the unsplit Engine. The default bundle's rules all
have priority 0, so a copy of it with mixed priorities (higher ones later in bundle order) is
compared the same way: a split must not change which rule fires first. Both are also compiled
with a smaller matcher-stack budget, which cuts the first stage into three parts (three facts).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given

import csrules
from csrules import compile as compile_module
from csrules.testing.strategies import tickets
from tests.helpers import NOW

ROOT = Path(__file__).resolve().parents[2]
SIZES = (1, 2, 5)


def _write_prioritised(folder: Path) -> None:
    """The default bundle with priorities from -5 to 5, not in bundle order."""
    index = 0
    for path in sorted((ROOT / "policies").glob("*.yaml")):
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        for rule in document.get("rules", []):
            rule["priority"] = index * 7 % 11 - 5
            index += 1
        (folder / path.name).write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")


def _load(paths: Path | None, size: int | None, budget: int | None = None) -> csrules.Engine:
    with pytest.MonkeyPatch.context() as patch:
        if size is not None:
            patch.setattr(compile_module, "RULESET_RULES", size)
        if budget is not None:  # matcher stack entries per stage fact: smaller cuts stages into parts
            patch.setattr(compile_module, "PART_BUDGET", budget)
        return csrules.load(paths)


# The smallest budget the default bundle loads with; its first stage then needs three facts.
PARTS_BUDGET = 9
ENGINE = _load(None, None)
SPLIT = {size: _load(None, size) for size in SIZES}
PARTED = {size: _load(None, size, PARTS_BUDGET) for size in (1000, *SIZES)}
with tempfile.TemporaryDirectory(prefix="csrules-prioritised-") as _folder:
    _write_prioritised(Path(_folder))
    ENGINE_PRIORITISED = _load(Path(_folder), None)
    SPLIT_PRIORITISED = {f"rulesets of {size}": _load(Path(_folder), size) for size in SIZES}
    SPLIT_PRIORITISED |= {
        f"parts, rulesets of {size}": _load(Path(_folder), size, PARTS_BUDGET) for size in (1000, *SIZES)
    }


def _parts(engine: csrules.Engine) -> dict[int, set[int]]:
    """Per stage, the parts (facts) its rules match, read from the compiled patterns."""
    found: dict[int, set[int]] = {}
    for ruleset in engine.rulesets:
        for rule in ruleset.values():
            stage, part = rule["all"][0]["m"]["$and"][:2]
            found.setdefault(stage["stage"], set()).add(part["part"])
    return found


def test_the_default_bundle_is_really_split() -> None:
    rule_ids = {rule.id for rule in ENGINE.bundle.rules}
    assert len(rule_ids) == 17
    assert len(ENGINE.rulesets) == 1
    for size, engine in SPLIT.items():
        held = [[k for k in ruleset if not k.startswith("__stage_")] for ruleset in engine.rulesets]
        assert len(engine.rulesets) == -(-17 // size)  # 17, 9 and 4 rulesets
        assert [len(ids) for ids in held] == [size] * (17 // size) + ([17 % size] if 17 % size else [])
        assert sorted(i for ids in held for i in ids) == sorted(rule_ids)


def test_a_smaller_stack_budget_cuts_the_first_stage_into_parts() -> None:
    assert _parts(ENGINE) == {0: {0}, 1: {0}, 2: {0}}
    for engine in PARTED.values():
        assert _parts(engine) == {0: {0, 1, 2}, 1: {0}, 2: {0}}
    with pytest.raises(csrules.PolicyError) as info:
        _load(None, None, PARTS_BUDGET - 1)
    assert info.value.code == "engine-limit"


@given(tickets())
def test_cutting_stages_into_parts_and_rulesets_changes_no_decision(ticket: dict[str, Any]) -> None:
    expected = ENGINE.evaluate(ticket, now=NOW).to_json()
    for size, engine in PARTED.items():
        assert engine.evaluate(ticket, now=NOW).to_json() == expected, f"parts, rulesets of {size}"


@given(tickets())
def test_splitting_into_rulesets_changes_no_decision(ticket: dict[str, Any]) -> None:
    expected = ENGINE.evaluate(ticket, now=NOW).to_json()
    untraced = next(ENGINE.evaluate_many([ticket], now=NOW, trace=False))
    assert isinstance(untraced, csrules.Decision)
    for size, engine in SPLIT.items():
        assert engine.evaluate(ticket, now=NOW).to_json() == expected, f"rulesets of {size}"
        split_untraced = next(engine.evaluate_many([ticket], now=NOW, trace=False))
        assert isinstance(split_untraced, csrules.Decision)
        assert split_untraced.to_json() == untraced.to_json(), f"rulesets of {size}, untraced"


def test_the_prioritised_copy_has_mixed_priorities() -> None:
    priorities = [rule.priority for rule in ENGINE_PRIORITISED.bundle.rules]
    assert len(priorities) == 17
    assert sorted(set(priorities)) == list(range(-5, 6))
    assert priorities != sorted(priorities, reverse=True)


@given(tickets())
def test_splitting_a_prioritised_bundle_changes_no_decision(ticket: dict[str, Any]) -> None:
    expected = ENGINE_PRIORITISED.evaluate(ticket, now=NOW).to_json()
    for how, engine in SPLIT_PRIORITISED.items():
        assert engine.evaluate(ticket, now=NOW).to_json() == expected, how
