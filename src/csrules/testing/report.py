"""Words for policy case results: one line per case, and for a failure each expectation that did
not hold, then the trace steps that decided it. The wording of decisions comes from explain.py."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ..decision import Decision
from ..errors import one_line
from ..explain import format_listed
from ..values import quoted_if_typed
from .cases import CaseResult
from .coverage import Coverage

if TYPE_CHECKING:  # hypothesis (the `testing` extra) is needed to check invariants, not to report them
    from .invariants import InvariantResult

__all__ = ["coverage_report", "describe_failure", "describe_violation", "invariant_table", "summary", "table"]

_SYMBOL = {"eq": "==", "ne": "!=", "lt": "<", "lte": "<=", "gt": ">", "gte": ">=", "in": "in"}


def _text(lines: Sequence[str]) -> str:
    """The lines joined, each kept one line: a case name, an action kind, a file name or ticket
    text with a line break, an escape sequence or a bidi control is written out (`one_line`), so
    no text of a case file, a policy or a ticket can print a line of its own (a fake `PASS`)."""
    return "\n".join(one_line(line) for line in lines)


def _shown(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_shown(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_shown(v)}" for k, v in value.items()) + "}"
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, str):
        return quoted_if_typed(value)  # an expected "5.99" against an actual 5.99
    if value is None or isinstance(value, bool):  # as a case file writes them, not Python's None, True
        return json.dumps(value)
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
        return _text(lines)
    lines.append(f"  decision: {decision.outcome}, required role {decision.required_role}")
    named = {*result.case.expect.fired, *result.case.expect.not_fired}
    for step in decision.trace.steps:
        if not (step.fired or step.rule in named):
            continue
        state = "fired" if step.fired else "did not fire"
        lines.append(f"  {step.rule} [{step.source}] {state}:")
        lines += [f"    - {format_listed(c)}" for c in step.conditions]
    return _text(lines)


def table(results: Sequence[CaseResult]) -> str:
    """One line per case: PASS or FAIL, where, and its name; failures described below it."""
    lines: list[str] = []
    for result in results:
        lines.append(f"{'PASS' if result.passed else 'FAIL'}  {result.case.location}  {result.case.name}")
        if not result.passed:
            lines += ["      " + line for line in describe_failure(result).splitlines()[1:]]
    return _text(lines)


def _compact(ticket: dict[str, Any]) -> str:
    return json.dumps(ticket, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _deciding_steps(decision: Decision, differing: frozenset[str] = frozenset()) -> list[str]:
    """The fired rules that set the outcome or the required role, and the rules in `differing`
    (those that fired for another ticket of the counterexample and not for this one, or the
    reverse), with their comparisons."""
    deciding = {*decision.reasons.outcome, *decision.reasons.required_role}
    lines: list[str] = []
    for step in decision.trace.steps:
        if (step.fired and step.rule in deciding) or step.rule in differing:
            lines.append(f"  {step.rule} [{step.source}] {'fired' if step.fired else 'did not fire'}:")
            lines += [f"    - {format_listed(c)}" for c in step.conditions]
    return lines


def describe_violation(result: InvariantResult) -> str:
    """What went wrong, then the shrunk counterexample: each ticket, its decision and the steps
    that decided it."""
    invariant = result.invariant
    lines = [f"invariant `{invariant.id}` ({invariant.source}) does not hold: {result.problem}"]
    lines += _witness_lines(result)
    return _text(lines)


def _witness_lines(result: InvariantResult) -> list[str]:
    """Each ticket of the counterexample, its decision and its deciding steps. With two tickets (a
    pair, or one ticket at two roles), also the rules that can change an outcome or a role and
    fired for one ticket only: why their decisions differ (a rule the larger value turned on)."""
    lines: list[str] = []
    fired = [frozenset(w.decision.trace.fired) for w in result.witnesses]
    causes = {
        step.rule
        for w in result.witnesses
        for step in w.decision.trace.steps
        if step.fired and any(e.effect in ("require_role", "deny", "derive") for e in step.effects)
    }
    differing: frozenset[str] = frozenset()
    if len(fired) > 1:
        differing = (frozenset.union(*fired) - frozenset.intersection(*fired)) & causes
    for witness in result.witnesses:
        decision = witness.decision
        at = f" at {witness.label}" if witness.label else ""
        lines.append(f"  counterexample{at}: {_compact(witness.ticket)}")
        lines.append(f"  decision: {decision.outcome}, required role {decision.required_role}")
        lines += _deciding_steps(decision, differing)
    return lines


def invariant_table(results: Sequence[InvariantResult]) -> str:
    """One line per invariant: PASS or FAIL, where, its id and how many tickets tried it."""
    lines: list[str] = []
    for result in results:
        invariant = result.invariant
        if invariant.kind == "never":
            tried = f"{result.examples} tickets, {result.relevant} in its region"
        elif invariant.kind == "role_monotonic":
            tried = f"{result.examples} tickets, each at every role"
        else:
            tried = f"{result.examples} ticket pairs"
        if result.passed:
            lines.append(f"PASS  {invariant.source}  invariant {invariant.id} ({tried})")
        else:
            lines.append(f"FAIL  {invariant.source}  invariant {invariant.id}")
            lines.append(f"      {result.problem}")
            lines += ["      " + line for line in describe_violation(result).splitlines()[1:]]
    return _text(lines)


def summary(results: Sequence[CaseResult], invariants: Sequence[InvariantResult] = ()) -> str:
    """`N passed, N failed; invariants: N held, N violated` (each part when there is something)."""
    failed = sum(1 for r in results if not r.passed)
    parts = [f"{len(results) - failed} passed, {failed} failed"] if results or not invariants else []
    if invariants:
        violated = sum(1 for r in invariants if not r.passed)
        parts.append(f"invariants: {len(invariants) - violated} held, {violated} violated")
    return "; ".join(parts)


def _share(seen: int, total: int) -> str:
    """`1999/2000 (99.95%)`: as many decimals as it takes for a share short of all (or above
    none) not to read as 100.0% (or 0.0%), as `Coverage.below` words the gate."""
    percent = 100.0 * seen / total if total else 100.0
    places = 1
    while places < 9 and (
        (seen < total and float(f"{percent:.{places}f}") >= 100)
        or (seen > 0 and float(f"{percent:.{places}f}") == 0)
    ):
        places += 1
    return f"{seen}/{total} ({percent:.{places}f}%)"


def coverage_report(coverage: Coverage) -> str:
    """Per rule: how often it fired and did not; per comparison: how often it held and failed;
    then the two measures and what is not covered."""
    lines = [f"coverage over {coverage.decisions} decisions:"]
    for rule in coverage.rules:
        lines.append(f"  {rule.rule} [{rule.source}]: fired {rule.fired}, not fired {rule.not_fired}")
        for c in rule.conditions:
            op = _SYMBOL.get(c.op, c.op.replace("_", " "))
            mark = "" if c.covered == 2 else "   <- never " + ("held" if not c.held else "failed")
            lines.append(f"    {c.where} ({op}): held {c.held}, failed {c.failed}{mark}")
    lines.append(f"rules fired: {_share(*coverage.rule_counts)}")
    lines.append(f"condition outcomes: {_share(*coverage.condition_counts)}")
    if coverage.never_fired:
        lines.append("never fired: " + ", ".join(coverage.never_fired))
    if coverage.foreign:
        lines.append(f"{coverage.foreign} decisions were made under another policy version")
    return _text(lines)
