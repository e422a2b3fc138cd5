"""Words for policy case results: one line per case, and for a failure each expectation that did
not hold, then the trace steps that decided it. The wording of decisions comes from explain.py."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from ..explain import format_condition
from .cases import CaseResult

__all__ = ["describe_failure", "summary", "table"]


def _shown(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_shown(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_shown(v)}" for k, v in value.items()) + "}"
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return str(value)


def describe_failure(result: CaseResult) -> str:
    """Expected against actual, field by field, then the steps that decided the ticket."""
    lines = [f"case `{result.case.name}` ({result.case.location}) failed:"]
    lines += [
        f"  {m.field}: expected {_shown(m.expected)}, got {_shown(m.actual)}" for m in result.mismatches
    ]
    decision = result.decision
    if decision is None:
        if result.error is not None:
            lines.append(f"  the ticket was refused: {result.error}")
        return "\n".join(lines)
    lines.append(f"  decision: {decision.outcome}, required role {decision.required_role}")
    named = {*result.case.expect.fired, *result.case.expect.not_fired}
    for step in decision.trace.steps:
        if not (step.fired or step.rule in named):
            continue
        state = "fired" if step.fired else "did not fire"
        lines.append(f"  {step.rule} [{step.source}] {state}:")
        lines += [f"    - {format_condition(c)}" for c in step.conditions]
    return "\n".join(lines)


def table(results: Sequence[CaseResult]) -> str:
    """One line per case: PASS or FAIL, where, and its name; failures described below it."""
    lines: list[str] = []
    for result in results:
        lines.append(f"{'PASS' if result.passed else 'FAIL'}  {result.case.location}  {result.case.name}")
        if not result.passed:
            lines += ["      " + line for line in describe_failure(result).splitlines()[1:]]
    return "\n".join(lines)


def summary(results: Sequence[CaseResult]) -> str:
    """`N passed, N failed`."""
    failed = sum(1 for r in results if not r.passed)
    return f"{len(results) - failed} passed, {failed} failed"
