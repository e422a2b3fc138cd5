"""Pure evaluation of conditions against fact values: the trace's own account of each rule.

durable_rules decides which rules fire; this module re-evaluates every comparison to record the
expected and actual values. evaluate.py checks that both agree for every rule, and a property test
checks it on generated tickets. Semantics (docs/language.md):
- a comparison with an absent fact is false; `exists: false` is true only for an absent fact;
- custom attributes compare only with values of the same type (string, number, boolean);
  across types every comparison, `ne` included, is false;
- `not` negates its condition, so a negated comparison with an absent fact is true.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from .policy import AllOf, AnyOf, Compare, Condition, FactRef, ParamRef
from .trace import ConditionResult, record
from .values import json_value

__all__ = ["evaluate_condition"]

_ORDER: dict[str, Callable[[Any, Any], bool]] = {
    "eq": operator.eq,
    "ne": operator.ne,
    "lt": operator.lt,
    "lte": operator.le,
    "gt": operator.gt,
    "gte": operator.ge,
}


def _category(value: object) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float | Decimal):
        return "num"
    return "str"


def _number(value: Any) -> int | float:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value  # type: ignore[no-any-return]


def _scalar(op: str, actual: object, expected: object) -> bool:
    category = _category(actual)
    if category != _category(expected):
        return False
    if category == "num":
        return bool(_ORDER[op](_number(actual), _number(expected)))
    return bool(_ORDER[op](actual, expected))


def compare(op: str, actual: object, expected: Any, scalar: bool) -> bool:
    """Whether `actual op expected` holds under csrules' semantics."""
    if op == "exists":
        return (actual is not None) is bool(expected)
    if actual is None or expected is None:
        return False
    if op in ("in", "not_in"):
        single = "eq" if op == "in" else "ne"
        results = (compare(single, actual, value, scalar) for value in expected)
        return any(results) if op == "in" else all(results)
    if scalar:
        return _scalar(op, actual, expected)
    return bool(_ORDER[op](actual, expected))


def evaluate_condition(
    condition: Condition,
    facts: Mapping[str, Any],
    params: Mapping[str, Any],
    out: list[ConditionResult] | None,
    negated: bool = False,
) -> bool:
    """Evaluate `condition`; append one ConditionResult per comparison to `out` when given.

    Every comparison is evaluated (no short-circuit) so the trace shows every actual value.
    """
    if isinstance(condition, Compare):
        operand = condition.operand
        param = fact = None
        if isinstance(operand, ParamRef):
            param, expected = operand.name, params[operand.name]
        elif isinstance(operand, FactRef):
            fact, expected = operand.path, facts.get(operand.path)
        else:
            expected = operand
        actual = facts.get(condition.path)
        passed = compare(condition.op, actual, expected, condition.type.kind == "scalar")
        if out is not None:
            # Values are normalised here (json_value), so the record skips re-validation.
            out.append(
                record(
                    ConditionResult,
                    path=condition.path,
                    op=condition.op,
                    expected=json_value(list(expected) if isinstance(expected, tuple) else expected),
                    actual=json_value(actual),
                    passed=passed,
                    where=condition.where,
                    negated=negated,
                    param=param,
                    fact=fact,
                )
            )
        return passed
    if isinstance(condition, AllOf | AnyOf):
        results = [evaluate_condition(item, facts, params, out, negated) for item in condition.items]
        return all(results) if isinstance(condition, AllOf) else any(results)
    return not evaluate_condition(condition.item, facts, params, out, not negated)
