"""The decision: outcome, required role, actions, follow-ups, reasons and the full trace.

Also the role ranking and `resolve_outcome`, the one rule that turns required roles and denials
into an outcome: used by combine.py for the decision and by evaluate.py for rules that test
`decision.*`, so both always agree.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal, cast

from pydantic import Field

from .ticket import ROLES, Role
from .trace import Trace
from .values import Instant, JsonValue, Record

__all__ = ["Action", "Decision", "FollowUp", "Outcome", "Reasons", "resolve_outcome", "role_rank"]

Outcome = Literal["approve", "escalate", "deny"]


_RANKS = {role: rank for rank, role in enumerate(ROLES)}


def role_rank(role: str) -> int:
    """0 for front_line up to 3 for manager.

    Raises:
        KeyError: `role` is none of ROLES.
    """
    return _RANKS[role]


def resolve_outcome(required: Iterable[str], denied: bool, agent_role: str) -> tuple[Outcome, Role]:
    """(outcome, required_role) from the roles fired rules require and whether any denied.

    required_role is the highest required role, at least front_line. Deny wins; otherwise the
    agent escalates when its role ranks below the required role.
    """
    # INVARIANT: every role comes from a validated rule or ticket, so it is one of ROLES.
    required_role = cast(Role, max(required, key=_RANKS.__getitem__, default="front_line"))
    if denied:
        return "deny", required_role
    if _RANKS[agent_role] < _RANKS[required_role]:
        return "escalate", required_role
    return "approve", required_role


class Action(Record):
    """Something that must happen, e.g. `issue_raincheck`; `rule` is the rule that produced it."""

    kind: str
    params: dict[str, JsonValue] = Field(default_factory=dict)
    rule: str


class FollowUp(Record):
    """A follow-up due at `due` (UTC); `rule` is the rule that produced it."""

    kind: str
    due: Instant
    rule: str


class Reasons(Record):
    """The ids of the fired rules that set the outcome and the required role."""

    outcome: list[str] = Field(default_factory=list)
    required_role: list[str] = Field(default_factory=list)


class Decision(Record):
    """What to do with a ticket, why, and under which policy version.

    `Decision.model_validate_json(d.model_dump_json()) == d` holds.
    """

    ticket_id: str
    outcome: Outcome
    required_role: Role
    agent_role: Role
    reasons: Reasons
    actions: list[Action]
    follow_ups: list[FollowUp]
    trace: Trace

    def explain(self, *, steps: Literal["fired", "all"] = "fired") -> str:
        """A human-readable account: outcome, required role, why, each fired rule and its values.

        Args:
            steps: "fired" lists fired rules in full and one line per rule that did not fire;
                "all" shows every comparison of every rule.

        Raises:
            ValueError: `steps` is neither.
        """
        # explain.py words decisions and imports this module: import it when asked, not at load.
        from .explain import explain  # noqa: PLC0415

        return explain(self, steps=steps)

    def to_json(self) -> str:
        """The canonical JSON form: sorted keys, no spaces; equal decisions give equal bytes."""
        # render.py serializes decisions and imports this module: import it when asked.
        from .render import canonical_json  # noqa: PLC0415

        return canonical_json(self)
