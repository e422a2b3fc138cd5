"""Stage 7, explain: Decision -> text for people. No I/O.

`fired_steps`, `failed_steps` filter a trace's steps; `explain` words a decision. All wording of
decisions lives here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from .decision import Decision
from .errors import one_line
from .trace import ConditionResult, TraceEffect, TraceStep
from .values import DECIMAL, quoted_if_typed

_CENT = Decimal("0.01")

# Text shown bare: no edge spaces, nothing that separates or brackets values in a line (`a, b`,
# `k=v`, `[...]`, `(...)`), no quote. Anything else is shown in JSON quotes, as is text a reader
# would take for a number, a boolean, null or an absent fact (`"100"`, `"true"`, `"absent"`).
_BARE_TEXT = re.compile(r'[^\s,=\[\]()"](?:[^,=\[\]()"]*[^\s,=\[\]()"])?')

__all__ = [
    "explain",
    "failed_steps",
    "fired_steps",
    "format_condition",
    "format_effect",
    "format_test",
    "format_value",
]

_SYMBOL = {
    "eq": "==",
    "ne": "!=",
    "lt": "<",
    "lte": "<=",
    "gt": ">",
    "gte": ">=",
    "in": "in",
    "not_in": "not in",
}


def fired_steps(steps: Iterable[TraceStep]) -> list[TraceStep]:
    """The steps of rules that fired, in bundle order."""
    return [s for s in steps if s.fired]


def failed_steps(steps: Iterable[TraceStep]) -> list[TraceStep]:
    """The steps of rules that did not fire, in bundle order."""
    return [s for s in steps if not s.fired]


def _value(value: Any) -> str:
    if value is None:
        return "absent"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        try:
            cents = value.quantize(_CENT, context=DECIMAL)
        except InvalidOperation:  # too large for cents in DECIMAL's precision (`1e300`)
            return str(value)
        return f"{value:.2f}" if value == cents else str(value)
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return ", ".join(f"{k}={_value(v)}" for k, v in value.items())
    if isinstance(value, str):
        bare = value != "absent" and _BARE_TEXT.fullmatch(value) and quoted_if_typed(value) == value
        return one_line(value if bare else json.dumps(value, ensure_ascii=False))
    return one_line(str(value))  # a ticket's text may hold a line break or a terminal escape


def format_value(value: Any) -> str:
    """A fact, parameter or expected value as people read it: `absent`, `true`, `45.00`, `[a, b]`."""
    return _value(value)


def format_test(result: ConditionResult) -> str:
    """The comparison alone: `request.amount > 20.00 (front_line_limit)`."""
    if result.op == "exists":
        return f"{result.path} {'exists' if result.expected else 'is absent'}"
    source = f" ({result.param})" if result.param else f" ({result.fact})" if result.fact else ""
    symbol = _SYMBOL.get(result.op, result.op)  # an op no csrules writes: a decision read back
    return one_line(f"{result.path} {symbol} {_value(result.expected)}{source}")


def format_condition(result: ConditionResult) -> str:
    """`request.amount > 20.00 (front_line_limit): actual 45.00, holds`."""
    verdict = "holds" if result.passed else "fails"
    return f"{format_test(result)}: actual {_value(result.actual)}, {verdict}"


def format_effect(effect: TraceEffect) -> str:
    """`require role senior`, `action issue_raincheck (sku=...)`, `follow-up ... due ...`."""
    return _effect(effect)


def _effect(effect: TraceEffect) -> str:
    value = effect.value
    kind = effect.effect
    if kind == "require_role":
        return f"require role {_value(value)}"
    if kind == "deny":
        return "deny"
    # The shapes csrules writes; a decision read back may hold any JSON value instead.
    keys = set(value) if isinstance(value, dict) else set()
    if kind == "derive" and keys == {"name", "value"}:
        return one_line(f"derive {value['name']} = {_value(value['value'])}")
    if kind == "action" and keys == {"kind", "params"}:
        params = f" ({_value(value['params'])})" if value["params"] else ""
        return one_line(f"action {value['kind']}{params}")
    if kind == "follow_up" and keys == {"kind", "due"}:
        return one_line(f"follow-up {value['kind']} due {value['due']}")
    return f"{kind.replace('_', '-')} {_value(value)}"


def _listed(result: ConditionResult) -> str:
    """A comparison in a rule's list: marked when it is under `not` (the rule needs it to fail)."""
    return ("under `not`: " if result.negated else "") + format_condition(result)


def _why_not(step: TraceStep) -> str:
    """Why a rule did not fire: its first failing comparison outside a `not`, or else the first
    comparison under a `not` that held."""
    for result in step.conditions:
        if not result.passed and not result.negated:
            return format_condition(result)
    for result in step.conditions:
        if result.passed and result.negated:
            return "under `not`: " + format_condition(result)
    return "no comparison failed"


def _heading(step: TraceStep) -> str:
    return f"  {step.rule}: {one_line(step.description)} [{one_line(step.source)}]"


def explain(decision: Decision, *, steps: Literal["fired", "all"] = "fired") -> str:
    """A human-readable account of a decision.

    Args:
        steps: "fired" lists fired rules in full and one line per rule that did not fire;
            "all" shows every comparison of every rule.
    """
    trace = decision.trace
    lines: list[str] = []
    head = f"Ticket {one_line(decision.ticket_id)}: {decision.outcome.upper()}"
    if decision.outcome == "escalate":
        head += f" to {decision.required_role}"
    lines.append(f"{head} (agent role {decision.agent_role}, required role {decision.required_role})")
    if decision.outcome == "deny":
        lines.append("Why: denied by " + ", ".join(decision.reasons.outcome) + ".")
    elif decision.outcome == "escalate":
        lines.append(
            f"Why: {', '.join(decision.reasons.outcome)} "
            f"require{'s' if len(decision.reasons.outcome) == 1 else ''} "
            f"{decision.required_role}, above the agent's role {decision.agent_role}."
        )
    elif decision.reasons.required_role:
        lines.append(
            f"Why: the agent's role {decision.agent_role} covers the required role {decision.required_role} "
            f"(set by {', '.join(decision.reasons.required_role)})."
        )
    else:
        lines.append(f"Why: no rule requires more than {decision.required_role}; nothing denies.")

    fired = fired_steps(trace.steps)
    lines.append("")
    lines.append(f"Fired rules ({len(fired)} of {len(trace.steps)}):")
    for step in fired:
        lines.append(_heading(step))
        # A policy's text may hold line breaks (a YAML block), terminal escapes or bidi controls:
        # each of its lines indented, every control character escaped.
        lines.extend(f"    {one_line(part)}" for part in step.rationale.split("\n"))
        for result in step.conditions:
            lines.append(f"    - {_listed(result)}")
        if step.effects:
            lines.append("    => " + "; ".join(_effect(e) for e in step.effects))
    if not fired:
        lines.append("  (none)")

    if decision.actions:
        lines.append("")
        lines.append("Actions:")
        for action in decision.actions:
            params = f" ({_value(action.params)})" if action.params else ""
            lines.append(f"  {action.kind}{params}  <- {action.rule}")
    if decision.follow_ups:
        lines.append("")
        lines.append("Follow-ups:")
        for follow_up in decision.follow_ups:
            due = follow_up.due.isoformat().replace("+00:00", "Z")
            lines.append(f"  {follow_up.kind} due {due}  <- {follow_up.rule}")

    not_fired = failed_steps(trace.steps)
    if not_fired:
        lines.append("")
        lines.append(f"Did not fire ({len(not_fired)}):")
        for step in not_fired:
            if steps == "all":
                lines.append(_heading(step))
                lines.extend(f"    - {_listed(r)}" for r in step.conditions)
            else:
                lines.append(f"  {step.rule}: {_why_not(step)}")

    derived = ", ".join(f"{k}={_value(v)}" for k, v in sorted(trace.derived.items()))
    lines.append("")
    if derived:
        lines.append(f"Derived facts: {derived}")
    evaluated = trace.evaluated_at.isoformat().replace("+00:00", "Z")
    lines.append(f"Policy {trace.policy_digest[:12]} ({trace.engine_version}), evaluated at {evaluated}")
    # Each line kept one line: rule ids, reasons, paths, derived names and versions come from a
    # decision that may have been read back from a file, where they can hold anything.
    return "\n".join(one_line(line) for line in lines)
