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
from .trace import ConditionResult, Trace, TraceEffect, TraceStep
from .values import DECIMAL, number_text, quoted_if_typed

_CENT = Decimal("0.01")

# Text shown bare: no edge spaces, nothing that separates or brackets values in a line (`a, b`,
# `k=v`, `[...]`, `(...)`), no quote, no backslash (`one_line` writes an invisible character as
# `\u200b`: bare, a backslash typed in the text would read the same). Anything else is shown in
# JSON quotes, as is text a reader would take for a number, a boolean, null or an absent fact
# (`"100"`, `"true"`, `"absent"`).
_BARE_TEXT = re.compile(r'[^\s,=\[\]()"\\](?:[^,=\[\]()"\\]*[^\s,=\[\]()"\\])?')

__all__ = [
    "explain",
    "failed_steps",
    "fired_steps",
    "format_actual",
    "format_condition",
    "format_effect",
    "format_listed",
    "format_test",
    "format_ticket_id",
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


def _value(value: Any, cents: bool = True) -> str:
    if value is None:
        return "absent"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        if not cents:  # a custom attribute's number as the ticket's float: `2.0`, `0.1`, `1e-07`
            return number_text(value)
        try:
            rounded = value.quantize(_CENT, context=DECIMAL)
        except InvalidOperation:  # too large for cents in DECIMAL's precision (`1e300`)
            return str(value)
        return f"{value:.2f}" if value == rounded else number_text(value)
    if isinstance(value, list):
        return "[" + ", ".join(_value(v, cents) for v in value) + "]"
    if isinstance(value, dict):  # by key: a decision read back (canonical JSON) reads as it was made
        return ", ".join(f"{k}={_value(v)}" for k, v in sorted(value.items()))
    if isinstance(value, str):
        bare = value != "absent" and _BARE_TEXT.fullmatch(value) and quoted_if_typed(value) == value
        return one_line(value if bare else json.dumps(value, ensure_ascii=False))
    return one_line(str(value))  # a ticket's text may hold a line break or a terminal escape


def format_ticket_id(ticket_id: str) -> str:
    """A ticket id as the subject of a line (`Ticket T-7: APPROVE`): as `format_value`, and in
    JSON quotes when it holds a `:` (`T-7: DENY` would read as the line's own words)."""
    shown = _value(ticket_id)
    if ":" in shown and not shown.startswith('"'):
        shown = one_line(json.dumps(ticket_id, ensure_ascii=False))
    return shown


def format_value(value: Any) -> str:
    """A fact, parameter or expected value as people read it: `absent`, `true`, `45.00`, `[a, b]`."""
    return _value(value)


def format_actual(result: ConditionResult) -> str:
    """A comparison's actual value: as `format_value`, but a custom attribute's number as given."""
    return _value(result.actual, _cents(result))


def _cents(result: ConditionResult) -> bool:
    """Whether the comparison's numbers may be money, shown with two decimals: not those of a
    custom attribute (a number, never money: `2.0` is not `2.00`)."""
    return not result.path.startswith("attributes.")


def format_test(result: ConditionResult) -> str:
    """The comparison alone: `request.amount > 20.00 (front_line_limit)`."""
    if result.op == "exists":
        return f"{result.path} {'exists' if result.expected else 'is absent'}"
    source = f" ({result.param})" if result.param else f" ({result.fact})" if result.fact else ""
    symbol = _SYMBOL.get(result.op, result.op)  # an op no csrules writes: a decision read back
    return one_line(f"{result.path} {symbol} {_value(result.expected, _cents(result))}{source}")


def format_condition(result: ConditionResult) -> str:
    """`request.amount > 20.00 (front_line_limit): actual 45.00, holds`."""
    verdict = "holds" if result.passed else "fails"
    return f"{format_test(result)}: actual {format_actual(result)}, {verdict}"


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


def format_listed(result: ConditionResult) -> str:
    """A comparison in a rule's list, as `format_condition`, marked `under `not`:` when the rule
    needs it to fail: a fired rule's comparison that "fails" is then read as it is meant."""
    return ("under `not`: " if result.negated else "") + format_condition(result)


def _why_not(step: TraceStep) -> str:
    """Why a rule did not fire: a comparison that kept its `when` from holding, found by walking
    the condition's groups (each result's `where`): in a group that had to hold, its first member
    that failed (an `any`: its first alternative); in one that had to fail (under `not`), a member
    that held. A comparison that failed beside an `any` alternative that held is never blamed.
    A decision read back whose `where`s do not form a condition falls back to the first failing
    comparison outside a `not`, or else the first under a `not` that held."""
    try:
        root = _tree(step.conditions)
        blamed = _blame(root, want=True) if not _holds(root) else None
    except (_Unreadable, RecursionError):  # a `where` of 100,000 `.not`s, in a decision read back
        blamed = None
    if blamed is None:
        blamed = next((r for r in step.conditions if not r.passed and not r.negated), None)
    if blamed is None:
        blamed = next((r for r in step.conditions if r.passed and r.negated), None)
    return format_listed(blamed) if blamed is not None else "no comparison failed"


class _Unreadable(Exception):
    """The `where`s of a rule's results do not form one condition (a decision altered on disk)."""


class _Node:
    """A group of a rule's `when`: `all` (a list, or `all:`), `any`, `not`, or comparisons."""

    __slots__ = ("children", "kind", "results")

    def __init__(self) -> None:
        self.kind = ""
        self.children: dict[int, _Node] = {}
        self.results: list[ConditionResult] = []


# After `when`, each step into a group: `[i]` (a list), `.all[i]`, `.any[i]`, `.not`.
_STEP = re.compile(r"\[(\d+)\]|\.(all|any)\[(\d+)\]|\.not")


def _tree(results: Iterable[ConditionResult]) -> _Node:
    root = _Node()
    for result in results:
        suffix = "." + result.path
        if not result.where.startswith("when") or not result.where.endswith(suffix):
            raise _Unreadable
        prefix, at, node = result.where[4 : -len(suffix)], 0, root
        while at < len(prefix):
            found = _STEP.match(prefix, at)
            if found is None:
                raise _Unreadable
            index, group, grouped = found.groups()
            kind, key = ("not", 0) if found.group(0) == ".not" else (group or "all", int(index or grouped))
            if node.results or node.kind not in ("", kind):
                raise _Unreadable
            node.kind = kind
            node = node.children.setdefault(key, _Node())
            at = found.end()
        if node.kind:
            raise _Unreadable
        node.results.append(result)
    return root


def _members(node: _Node) -> list[_Node]:
    return [node.children[key] for key in sorted(node.children)]


def _holds(node: _Node) -> bool:
    if node.kind == "not":
        return not _holds(node.children[0])
    if node.kind == "any":
        return any(_holds(child) for child in _members(node))
    # A list, `all`, or one mapping's comparisons (each must hold); an empty `when` holds.
    return all(r.passed for r in node.results) and all(_holds(child) for child in _members(node))


def _blame(node: _Node, want: bool) -> ConditionResult | None:
    """A comparison under `node`, which did not come out `want`, that made it so."""
    if node.kind == "not":
        return _blame(node.children[0], not want)
    if node.results:  # one mapping's comparisons, all to hold: the first that failed, or any that held
        return next((r for r in node.results if r.passed != want), None) if want else node.results[0]
    members = _members(node)
    if not members:
        return None
    if (node.kind == "any") == want:  # every member came out wrong: the first
        return _blame(members[0], want)
    return next((_blame(child, want) for child in members if _holds(child) != want), None)


def _heading(step: TraceStep) -> str:
    return f"  {step.rule}: {one_line(step.description)} [{one_line(step.source)}]"


def _fired(trace: Trace) -> list[str]:
    """The fired rules in full: rationale, comparisons, effects."""
    if not trace.steps:  # decided with trace=False: durable_rules' firing order, no comparison recorded
        listed = [f"  {rule}" for rule in trace.fired] or ["  (none)"]
        return [f"Fired rules ({len(trace.fired)}, in firing order; no trace steps recorded):", *listed]
    fired = fired_steps(trace.steps)
    lines = [f"Fired rules ({len(fired)} of {len(trace.steps)}):"]
    for step in fired:
        lines.append(_heading(step))
        # A policy's text may hold line breaks (a YAML block), terminal escapes or bidi controls:
        # each of its lines indented, every control character escaped.
        lines.extend(f"    {one_line(part)}" for part in step.rationale.split("\n"))
        for result in step.conditions:
            lines.append(f"    - {format_listed(result)}")
        if step.effects:
            lines.append("    => " + "; ".join(_effect(e) for e in step.effects))
    if not fired:
        lines.append("  (none)")
    return lines


def explain(decision: Decision, *, steps: Literal["fired", "all"] = "fired") -> str:
    """A human-readable account of a decision.

    Args:
        steps: "fired" lists fired rules in full and one line per rule that did not fire;
            "all" shows every comparison of every rule.

    Raises:
        ValueError: `steps` is neither.
    """
    if steps not in ("fired", "all"):  # a typo would silently be "fired"
        raise ValueError(f'explain(): `steps` must be "fired" or "all", got {steps!r}')
    trace = decision.trace
    lines: list[str] = []
    head = f"Ticket {format_ticket_id(decision.ticket_id)}: {decision.outcome.upper()}"
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

    lines.append("")
    lines.extend(_fired(trace))

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
                lines.extend(f"    - {format_listed(r)}" for r in step.conditions)
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
