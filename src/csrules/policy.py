"""The validated policy model: Bundle, Rule, conditions, effects, parameters. Data only, no I/O.

Built by `validate.py` from raw documents; read by `compile.py`, `conditions.py` and `evaluate.py`.
Parameter references (`ParamRef`) stay as written; `Bundle.params` holds the effective values
(defaults with the caller's overrides), so the trace can say which parameter a limit came from.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

from .source import SourceSpan
from .values import FactType

__all__ = [
    "DECISION_TYPES",
    "ActionEffect",
    "AllOf",
    "AnyOf",
    "Bundle",
    "Compare",
    "Condition",
    "DerivedFact",
    "Duration",
    "Effects",
    "FactRef",
    "FollowUpEffect",
    "Invariant",
    "Not",
    "NowPlus",
    "Op",
    "ParamRef",
    "Parameter",
    "Rule",
    "compares",
]

Op = Literal["eq", "ne", "lt", "lte", "gt", "gte", "in", "not_in", "exists"]

DECISION_TYPES: Mapping[str, FactType] = {
    "decision.outcome": FactType("enum", ("approve", "escalate", "deny")),
    "decision.required_role": FactType("enum", ("front_line", "senior", "supervisor", "manager")),
}
"""Fact paths a rule may test once the outcome is known (rules of the decision stage)."""


@dataclass(frozen=True, slots=True)
class ParamRef:
    """`{param: name}`: the effective value of a bundle parameter."""

    name: str


@dataclass(frozen=True, slots=True)
class FactRef:
    """`{fact: path}`: the value of another fact of the same ticket."""

    path: str


Operand = Any  # a literal value, a tuple of literals (in/not_in), a ParamRef or a FactRef


@dataclass(frozen=True, slots=True)
class Compare:
    """One comparison `path op operand`; `where` locates it in the rule's `when`, e.g. `any[1]`."""

    path: str
    op: Op
    operand: Operand
    type: FactType
    span: SourceSpan
    where: str


@dataclass(frozen=True, slots=True)
class AllOf:
    """True when every item is true (an empty AllOf is true)."""

    items: tuple[Condition, ...]


@dataclass(frozen=True, slots=True)
class AnyOf:
    """True when at least one item is true."""

    items: tuple[Condition, ...]


@dataclass(frozen=True, slots=True)
class Not:
    """True when the item is false."""

    item: Condition


Condition = Compare | AllOf | AnyOf | Not


def compares(condition: Condition) -> Iterator[Compare]:
    """Every comparison of a condition, in the order written (under `not`s too)."""
    if isinstance(condition, Compare):
        yield condition
    elif isinstance(condition, AllOf | AnyOf):
        for item in condition.items:
            yield from compares(item)
    else:
        yield from compares(condition.item)


@dataclass(frozen=True, slots=True)
class Duration:
    """A length of time; each part is a whole number or a reference to an integer parameter."""

    days: int | ParamRef = 0
    hours: int | ParamRef = 0
    minutes: int | ParamRef = 0


@dataclass(frozen=True, slots=True)
class NowPlus:
    """`{now_plus: {days: 30}}`: the evaluation time plus a duration (an ISO 8601 datetime)."""

    duration: Duration


@dataclass(frozen=True, slots=True)
class ActionEffect:
    """`actions: [{kind, params}]`: params map names to literals, ParamRef, FactRef or NowPlus."""

    kind: str
    params: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True, slots=True)
class FollowUpEffect:
    """`follow_ups: [{kind, due_in}]`: due at the evaluation time plus `due_in`."""

    kind: str
    due_in: Duration


@dataclass(frozen=True, slots=True)
class Effects:
    """What a fired rule contributes to the decision."""

    require_role: str | None = None
    deny: bool = False
    derive: tuple[tuple[str, Any], ...] = ()  # (derived fact name, literal or ParamRef)
    actions: tuple[ActionEffect, ...] = ()
    follow_ups: tuple[FollowUpEffect, ...] = ()


@dataclass(frozen=True, slots=True)
class Parameter:
    """A named value a policy refers to; `value` is the effective value (default or override)."""

    name: str
    type: FactType
    default: Any
    value: Any
    description: str
    span: SourceSpan


@dataclass(frozen=True, slots=True)
class DerivedFact:
    """A fact that rules derive (forward chaining), tested as `derived.<name>`."""

    name: str
    type: FactType
    default: Any
    description: str
    span: SourceSpan


@dataclass(frozen=True, slots=True)
class Rule:
    """One rule. `stage` orders forward chaining: a rule runs after every rule deriving a fact it
    tests; rules testing `decision.*` run in the last stage, once the outcome is known."""

    id: str
    description: str
    rationale: str
    priority: int
    when: AllOf
    then: Effects
    span: SourceSpan
    source: str  # stable "policies/file.yaml:LINE" for traces
    index: int  # position in bundle order
    stage: int
    tests_decision: bool


InvariantKind = Literal["monotonic_in", "role_monotonic", "never"]


@dataclass(frozen=True, slots=True)
class Invariant:
    """A property every decision of the bundle must have, checked by `csrules test`.

    - `monotonic_in`: a larger value of `path` (all else equal) never lowers the required role;
    - `role_monotonic`: a more senior acting agent never gets a worse outcome;
    - `never`: no ticket satisfying `when` gets one of `outcomes` (when given) with one of
      `roles` as its required role (when given).
    """

    id: str
    description: str
    kind: InvariantKind
    span: SourceSpan
    source: str  # stable "policies/file.yaml:LINE"
    path: str | None = None
    outcomes: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()
    when: AllOf = AllOf(())


@dataclass(frozen=True)
class Bundle:
    """A validated policy bundle: rules in bundle order (files sorted by path, then file order)."""

    rules: tuple[Rule, ...]
    parameters: Mapping[str, Parameter]
    derived: Mapping[str, DerivedFact]
    stages: int
    files: tuple[str, ...]
    invariants: tuple[Invariant, ...] = ()  # not part of the digest: they decide nothing
    params: Mapping[str, Any] = field(init=False)

    def __post_init__(self) -> None:
        # Read-only views: the compiled ruleset was built from these values and cannot follow edits.
        object.__setattr__(self, "parameters", MappingProxyType(dict(self.parameters)))
        # Derived facts by name, as parameters: the order of a decision's `trace.derived`, which a
        # decision read back from canonical JSON has (evaluate.py copies it, sorting nothing).
        object.__setattr__(self, "derived", MappingProxyType(dict(sorted(self.derived.items()))))
        params = {n: p.value for n, p in sorted(self.parameters.items())}
        object.__setattr__(self, "params", MappingProxyType(params))

    def __reduce__(self) -> tuple[type[Bundle], tuple[Any, ...]]:
        # Pickled as its fields (a read-only view does not pickle): how a worker process gets
        # the bundle its parent loaded (engine.portable).
        return Bundle, (
            self.rules,
            dict(self.parameters),
            dict(self.derived),
            self.stages,
            self.files,
            self.invariants,
        )

    @property
    def currency(self) -> str:
        """The bundle currency: the `currency` parameter, USD when the bundle declares none."""
        value = self.params.get("currency", "USD")
        return str(value)
