"""Stage 5, combine: fired rules -> outcome, required role, reasons, actions, follow-ups. Pure.

The cases, in the order they are decided (first match wins for the outcome):

| # | fired rules                                   | outcome  | reasons.outcome                 |
|---|-----------------------------------------------|----------|---------------------------------|
| 1 | at least one rule denies                      | deny     | the denying rules               |
| 2 | agent's role ranks below the required role    | escalate | the rules requiring that role   |
| 3 | otherwise                                     | approve  | none: nothing required more     |

required_role is the highest role any fired rule requires, at least front_line; its reasons are
the rules that require exactly that role. Actions and follow-ups are the union over fired rules:
actions in bundle order (a later identical kind+params is dropped), follow-ups by due time, then
kind, then bundle order (a later identical kind+due is dropped). Nothing depends on firing order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .decision import Action, FollowUp, Outcome, Reasons, resolve_outcome
from .evaluate import FiredRule
from .policy import Rule
from .ticket import Role
from .trace import recorder
from .values import JsonValue

__all__ = ["Combined", "action_key", "combine"]

_reasons = recorder(Reasons)


@dataclass(frozen=True, slots=True)
class Combined:
    """The decision's fields that come from fired rules."""

    outcome: Outcome
    required_role: Role
    reasons: Reasons
    actions: list[Action]
    follow_ups: list[FollowUp]


def _value_key(value: Any) -> Any:
    """A JSON value as identity for deduplication: numbers by value (`1`, `1.0` and `1.00` are
    one number; Python's int, float and Decimal hash alike when equal), apart from booleans and
    text (`1`, `true` and `"1"` are three values)."""
    if isinstance(value, list):
        return ("list", tuple(_value_key(v) for v in value))
    if isinstance(value, dict):
        return ("dict", _params_key(value))
    # Scalars: equal numbers are equal whatever their type, text never equals a number, and the
    # flag keeps `true` apart from `1` (True == 1 in Python).
    return (value is True or value is False, value)


def _params_key(params: dict[str, JsonValue]) -> tuple[tuple[str, Any], ...]:
    if not params:
        return ()
    return tuple(sorted((name, _value_key(value)) for name, value in params.items()))


def action_key(action: Action) -> tuple[str, tuple[tuple[str, Any], ...]]:
    """What makes two actions one (docs/decisions.md): the kind and the parameters' values, numbers
    by value (`1` and `1.00` are one number), not the rule that asked for it."""
    return action.kind, _params_key(action.params)


def combine(fired: Sequence[FiredRule], agent_role: str) -> Combined:
    """Combine fired rules (in bundle order) into the decision's fields."""
    requiring: list[Rule] = []
    denying: list[str] = []
    actions: list[Action] = []
    seen_actions: set[tuple[str, tuple[tuple[str, Any], ...]]] = set()
    # (due, kind, bundle order, position): the follow-ups' order; position keeps the sort stable
    # and never compares two records.
    candidates: list[tuple[datetime, str, int, int, FollowUp]] = []
    for item in fired:  # one pass, in bundle order
        rule = item.rule
        if rule.then.require_role:
            requiring.append(rule)
        if rule.then.deny:
            denying.append(rule.id)
        for action in item.actions:
            key = action_key(action)
            if key not in seen_actions:
                seen_actions.add(key)
                actions.append(action)
        for follow_up in item.follow_ups:
            candidates.append((follow_up.due, follow_up.kind, rule.index, len(candidates), follow_up))
    outcome, required_role = resolve_outcome(
        [r.then.require_role or "" for r in requiring], bool(denying), agent_role
    )
    role_reasons = [r.id for r in requiring if r.then.require_role == required_role]
    if outcome == "deny":  # case 1
        outcome_reasons = denying
    elif outcome == "escalate":  # case 2
        outcome_reasons = role_reasons
    else:  # case 3
        outcome_reasons = []

    follow_ups: list[FollowUp] = []
    seen_follow_ups: set[tuple[str, datetime]] = set()
    for due, kind, _, _, follow_up in sorted(candidates):
        if (kind, due) not in seen_follow_ups:
            seen_follow_ups.add((kind, due))
            follow_ups.append(follow_up)

    # Rule ids of the validated bundle: built without validating them again.
    reasons = _reasons({"outcome": outcome_reasons, "required_role": role_reasons})
    return Combined(outcome, required_role, reasons, actions, follow_ups)
