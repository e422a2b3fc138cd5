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

import functools
import operator
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from .policy import AllOf, AnyOf, Compare, Condition, FactRef, ParamRef
from .trace import ConditionResult, record, recorder
from .values import category, json_value

__all__ = ["Check", "Interned", "compile_condition", "evaluate_condition"]

_result = recorder(ConditionResult)

_ORDER: dict[str, Callable[[Any, Any], bool]] = {
    "eq": operator.eq,
    "ne": operator.ne,
    "lt": operator.lt,
    "lte": operator.le,
    "gt": operator.gt,
    "gte": operator.ge,
}


def _number(value: Any) -> int | float:
    if isinstance(value, Decimal):
        # No context needed: rounding to an integer is exact, and only equality is asked.
        return int(value) if value == value.to_integral_value() else float(value)
    return value  # type: ignore[no-any-return]


def _scalar(op: str, actual: object, expected: object) -> bool:
    kind = category(actual)
    if kind != category(expected):
        return False
    if kind == "num":
        return bool(_ORDER[op](_number(actual), _number(expected)))
    return bool(_ORDER[op](actual, expected))


def compare(op: str, actual: object, expected: Any, scalar: bool) -> bool:
    """Whether `actual op expected` holds under csrules' semantics."""
    if op == "exists":
        return (actual is not None) is bool(expected)
    if actual is None or expected is None:
        return False
    if op in ("in", "not_in"):
        if type(actual) is str and type(expected) is tuple:  # a policy's list: membership in C
            if actual in expected:
                return op == "in"
            if op == "in":
                return False
            # `ne` held for every item: it is false for null and, between scalars, across categories.
            return all(v is not None and (not scalar or category(v) == "str") for v in expected)
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

    With `out`, every comparison is evaluated (no short-circuit) so the trace shows every actual
    value; without it, `all` and `any` stop at the first comparison that settles them.
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
        if out is None:  # a verdict only: short-circuit
            verdicts = (evaluate_condition(item, facts, params, None, negated) for item in condition.items)
            return all(verdicts) if isinstance(condition, AllOf) else any(verdicts)
        results = [evaluate_condition(item, facts, params, out, negated) for item in condition.items]
        return all(results) if isinstance(condition, AllOf) else any(results)
    return not evaluate_condition(condition.item, facts, params, out, not negated)


Check = Callable[[Mapping[str, Any], Mapping[str, Any], "list[ConditionResult] | None"], bool]
"""A compiled condition: `check(facts, shown, out)` where `shown` holds each fact's JSON value."""


def _comparator(op: str, scalar: bool) -> Callable[[Any, Any], bool]:
    """`compare` specialised for one operator (same results, fewer branches per call)."""
    if op == "exists":
        return lambda actual, expected: (actual is not None) is bool(expected)
    if scalar or op in ("in", "not_in"):
        return lambda actual, expected: compare(op, actual, expected, scalar)
    function = _ORDER[op]

    def ordered(actual: Any, expected: Any) -> bool:
        return actual is not None and expected is not None and bool(function(actual, expected))

    return ordered


# `actual op expected` as `mirror[op](expected, actual)`: a C-level partial per comparison.
_MIRROR: dict[str, Callable[[Any, Any], bool]] = {
    "eq": operator.eq,
    "ne": operator.ne,
    "lt": operator.gt,
    "lte": operator.ge,
    "gt": operator.lt,
    "gte": operator.le,
}


def _tester(op: str, scalar: bool, expected: Any) -> Callable[[Any], bool]:
    """`compare(op, actual, expected, scalar)` for a present `actual`, specialised for one
    comparison with a constant `expected` (same results: typed facts compare with values of
    their own type, whose `==` agrees with their hash)."""
    if op == "exists":
        return lambda actual: bool(expected)
    if scalar:
        return lambda actual: compare(op, actual, expected, scalar)
    if op in ("in", "not_in"):
        values = frozenset(expected)
        return values.__contains__ if op == "in" else lambda actual: actual not in values
    return functools.partial(_MIRROR[op], expected)


def _compile_compare(
    condition: Compare, params: Mapping[str, Any], negated: bool, interned: Interned | None
) -> Check:
    path, op, where = condition.path, condition.op, condition.where
    operand = condition.operand
    # The record's values in field order; per ticket only `actual`, `passed` (and for a
    # fact-to-fact comparison `expected`) change.
    template: dict[str, Any] = {
        "path": path,
        "op": op,
        "expected": None,
        "actual": None,
        "passed": False,
        "where": where,
        "negated": negated,
        "param": None,
        "fact": None,
    }
    if isinstance(operand, FactRef):
        other = template["fact"] = operand.path
        test = _comparator(op, condition.type.kind == "scalar")

        def against_fact(
            facts: Mapping[str, Any], shown: Mapping[str, Any], out: list[ConditionResult] | None
        ) -> bool:
            passed = test(facts.get(path), facts.get(other))
            if out is not None:
                values = template.copy()
                values["expected"] = shown.get(other)
                values["actual"] = shown.get(path)
                values["passed"] = passed
                out.append(_result(values))
            return passed

        return against_fact
    expected = params[operand.name] if isinstance(operand, ParamRef) else operand
    template["param"] = operand.name if isinstance(operand, ParamRef) else None
    expected_shown = template["expected"] = json_value(
        list(expected) if isinstance(expected, tuple) else expected
    )
    listed = isinstance(expected_shown, list)
    present = _tester(op, condition.type.kind == "scalar", expected)
    absent = op == "exists" and not expected  # only `exists: false` holds for an absent fact

    kept: dict[tuple[type, Any], ConditionResult] = {}  # (type, value) -> record; see `Interned`
    keep = interned is not None and not listed
    budget = interned if interned is not None else Interned(0)
    if keep:
        budget.tables.append(kept)

    def against_value(
        facts: Mapping[str, Any], shown: Mapping[str, Any], out: list[ConditionResult] | None
    ) -> bool:
        actual = facts.get(path)
        passed = absent if actual is None else present(actual)
        if out is not None:
            kind = type(actual)
            if keep and (kind is str or kind is bool or actual is None):
                # The type is part of the key: `True == 1` and `1 == 1.0` must not share a record.
                found = kept.get((kind, actual))
                if found is None:
                    found = _result({**template, "actual": actual, "passed": passed})
                    if budget.left > 0:  # threads may race here: the limit is approximate
                        budget.left -= 1
                        kept[(kind, actual)] = found
                out.append(found)
                return passed
            values = template.copy()
            if listed:  # a list per record: decisions must not share mutable values
                values["expected"] = list(expected_shown)
            values["actual"] = shown.get(path)
            values["passed"] = passed
            out.append(_result(values))
        return passed

    return against_value


class Interned:
    """How many records the compiled checks of one bundle may keep for reuse (`compile_condition`),
    and the tables that keep them (`clear` lets their ticket values go)."""

    __slots__ = ("left", "tables")

    def __init__(self, limit: int = 4096) -> None:
        self.left = limit
        self.tables: list[dict[tuple[type, Any], ConditionResult]] = []

    def clear(self) -> None:
        """Drop every kept record and keep no more (an Engine's `close`)."""
        self.left = 0
        for table in self.tables:
            table.clear()


def compile_condition(
    condition: Condition,
    params: Mapping[str, Any],
    negated: bool = False,
    interned: Interned | None = None,
) -> Check:
    """`evaluate_condition` compiled once per bundle: parameters resolved, expected values in
    their JSON form, each comparison's operator chosen. Same results, same records, same order.

    With `interned`, a comparison with a constant keeps the record it built for an absent fact or
    a string or boolean value and returns that same record the next time the fact has that value
    (records are frozen and such records hold only immutable values), up to `interned`'s limit
    for all the checks sharing it: enum, flag and absent-fact comparisons, most of a trace, then
    cost a dictionary lookup instead of a new record.
    """
    if isinstance(condition, Compare):
        return _compile_compare(condition, params, negated, interned)
    if isinstance(condition, AllOf | AnyOf):
        checks: Sequence[Check] = [
            compile_condition(item, params, negated, interned) for item in condition.items
        ]
        if len(checks) == 1:  # `when: [x]`, the commonest group: x itself
            return checks[0]
        conjunction = isinstance(condition, AllOf)
        if len(checks) == 2:
            first, second = checks

            def pair(
                facts: Mapping[str, Any], shown: Mapping[str, Any], out: list[ConditionResult] | None
            ) -> bool:
                left = first(facts, shown, out)
                right = second(facts, shown, out)  # both run: no short-circuit
                return (left and right) if conjunction else (left or right)

            return pair
        combine = all if conjunction else any

        def group(
            facts: Mapping[str, Any], shown: Mapping[str, Any], out: list[ConditionResult] | None
        ) -> bool:
            return combine([check(facts, shown, out) for check in checks])  # every one runs: no short-circuit

        return group
    inner = compile_condition(condition.item, params, not negated, interned)

    def negation(
        facts: Mapping[str, Any], shown: Mapping[str, Any], out: list[ConditionResult] | None
    ) -> bool:
        return not inner(facts, shown, out)

    return negation
