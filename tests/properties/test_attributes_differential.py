"""Differential property over custom attributes: arbitrary text and numbers reach durable_rules
and the trace's own evaluation with the same result (evaluate() raises EngineError otherwise)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import yaml
from hypothesis import given
from hypothesis import strategies as st

import csrules
from tests.helpers import NOW, make_ticket, scratch_dir

TEXTS = ["gold", 'quote " and \\ backslash', "café", "日本", "a\nb", "", "\x00nul", "tab\tend"]
NUMBERS = [0, -1.5, 20, 0.1, 1_000_000, 2**40]


def _rule(rule_id: str, test: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": rule_id,
        "description": "d",
        "rationale": "r",
        "when": [{"attributes.x": test}],
        "then": {"actions": [{"kind": "k"}]},
    }


RULES = [_rule(f"s{i}_{op}", {op: text}) for i, text in enumerate(TEXTS) for op in ("eq", "ne")]
RULES += [
    _rule(f"n{i}_{op}", {op: number})
    for i, number in enumerate(NUMBERS)
    for op in ("eq", "ne", "lt", "lte", "gt", "gte")
]
RULES += [
    _rule("b_true", {"eq": True}),
    _rule("present", {"exists": True}),
    _rule("in_mixed", {"in": [1, "gold", True]}),
]

_DIR = scratch_dir("csrules-attributes-")
(_DIR / "attributes.yaml").write_text(yaml.safe_dump({"rules": RULES}, allow_unicode=True), encoding="utf-8")
ENGINE = csrules.load(_DIR)

VALUES = st.one_of(
    st.sampled_from(TEXTS),
    st.text(max_size=12),
    st.integers(-(2**53) + 1, 2**53 - 1),
    st.floats(allow_nan=False, allow_infinity=False, min_value=-1e12, max_value=1e12),
    st.sampled_from([*NUMBERS, True, False]),
)


def test_policy_literals_survive_the_round_trip() -> None:
    literals = [r.when.items[0].operand for r in ENGINE.bundle.rules if r.id.startswith("s")]
    assert literals[::2] == TEXTS
    assert Decimal("-1.5") in [r.when.items[0].operand for r in ENGINE.bundle.rules]


@given(VALUES)
def test_attribute_comparisons_agree_with_durable_rules(value: Any) -> None:
    decision = ENGINE.evaluate(make_ticket(attributes={"x": value}), now=NOW)
    assert decision.trace.step("present").fired
    for step in decision.trace.steps:
        assert step.fired == all(c.passed for c in step.conditions)
