"""The justification trace: data only, no wording (explain.py words it, render.py serializes it).

One `TraceStep` per rule of the bundle, fired or not, in bundle order. Each comparison of a rule's
`when` is a `ConditionResult` with the value it was compared against (parameters resolved) and the
ticket's actual value, so a reader sees why a rule fired or which comparison stopped it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, Field

from .ticket import Ticket
from .values import Instant, JsonValue, Record

__all__ = [
    "ConditionResult",
    "Trace",
    "TraceEffect",
    "TraceStep",
    "field_names",
    "rebuild",
    "record",
    "recorder",
]

_M = TypeVar("_M", bound=BaseModel)


def record(cls: type[_M], **values: Any) -> _M:
    """Build a trace record from values evaluate.py already validated and normalised.

    pydantic's `model_construct` costs ~12 µs in pydantic 2.14 and a decision builds ~50 records;
    this sets the same four slots it sets, in ~0.6 µs. Callers pass every field. The JSON
    round-trip tests (`Decision.model_validate_json(d.model_dump_json()) == d`) guard it.
    """
    return recorder(cls)(values)


def recorder(cls: type[_M]) -> Callable[[dict[str, Any]], _M]:
    """`record` for one class, taking the values as a dict (in field order, every field set,
    owned by the record from then on): what the per-comparison hot path of a trace uses.

    Every record of the class shares one fields-set: pydantic copies it before changing it
    (`model_copy`), and one container less per record halves the objects the garbage collector
    tracks per trace (a 5,000-rule decision builds ~20,000 records; docs/performance.md).
    One per class, made on first use (a few classes: no bound needed).
    """
    found = _recorders.get(cls)
    if found is None:
        found = _recorders[cls] = _recorder(cls)
    return found


_recorders: dict[type[BaseModel], Callable[[dict[str, Any]], Any]] = {}


def rebuild(cls: type[_M], values: dict[str, Any], fields_set: set[str] | None = None) -> _M:
    """A record again from its values and fields set, as `recorder` builds it (None: every field,
    the set shared by the class's records); for records another process already validated
    (`_transport`, once per record it unpickles: `recorder`'s work inlined, one call, not three).
    """
    instance = cls.__new__(cls)
    _SET_DICT(instance, values)
    _SET_FIELDS(instance, fields_set if fields_set is not None else _shared.get(cls) or field_names(cls))
    _SET_EXTRA(instance, None)
    _SET_PRIVATE(instance, None)
    return instance


# The slots every pydantic model instance has (`BaseModel.__slots__`), set through their
# descriptors: half the cost of `object.__setattr__`, which looks each name up first.
_SET_DICT, _SET_FIELDS, _SET_EXTRA, _SET_PRIVATE = (
    BaseModel.__dict__[name].__set__
    for name in ("__dict__", "__pydantic_fields_set__", "__pydantic_extra__", "__pydantic_private__")
)


_shared: dict[type[BaseModel], set[str]] = {}  # each class's fields-set, shared by its records


def field_names(cls: type[BaseModel]) -> set[str]:
    """The fields-set every record of `cls` that `recorder` built shares (every field set): read,
    never changed. Kept per class: `cls.model_fields` goes through a pydantic descriptor."""
    found = _shared.get(cls)
    if found is None:
        found = _shared[cls] = set(cls.model_fields)
    return found


def _recorder(cls: type[_M]) -> Callable[[dict[str, Any]], _M]:
    new = cls.__new__
    fields = field_names(cls)

    def make(values: dict[str, Any]) -> _M:
        instance = new(cls)
        _SET_DICT(instance, values)
        _SET_FIELDS(instance, fields)
        _SET_EXTRA(instance, None)
        _SET_PRIVATE(instance, None)
        return instance

    return make


class ConditionResult(Record):
    """One comparison of a rule's `when`.

    Attributes:
        path: the dotted fact path, e.g. `request.amount` or `derived.high_value`.
        op: eq, ne, lt, lte, gt, gte, in, not_in or exists.
        expected: the value compared against, parameters resolved (a list for in/not_in).
        actual: the fact's value in its JSON form (money as a decimal number), null when absent.
        passed: whether this comparison held.
        where: its place in the rule's `when`, e.g. `when[1].not.all[0].item.on_sale`.
        negated: True when an odd number of `not`s encloses it: then the rule needs it to fail.
        param: the parameter `expected` came from, if any.
        fact: the fact path `expected` came from, for a fact-to-fact comparison.
    """

    path: str
    op: str
    expected: JsonValue
    actual: JsonValue
    passed: bool
    where: str
    negated: bool = False
    param: str | None = None
    fact: str | None = None


class TraceEffect(Record):
    """What a fired rule contributed: `require_role`, `deny`, `derive`, `action` or `follow_up`."""

    effect: Literal["require_role", "deny", "derive", "action", "follow_up"]
    value: JsonValue


class TraceStep(Record):
    """One rule considered for the ticket."""

    rule: str
    source: str
    description: str
    rationale: str
    stage: int
    fired: bool
    conditions: list[ConditionResult]
    effects: list[TraceEffect] = Field(default_factory=list)


class Trace(Record):
    """Everything needed to read, and later replay, a decision.

    Attributes:
        policy_digest: sha256 of the canonical bundle including effective parameters.
        engine_version: csrules and durable_rules versions.
        evaluated_at: the `now` the decision was made at (UTC).
        facts: the validated ticket.
        params: the effective parameters.
        derived: every derived fact's final value (declared defaults included).
        fired: the ids of fired rules in the order durable_rules fired them.
        steps: one per rule of the bundle, in bundle order.
    """

    policy_digest: str
    engine_version: str
    evaluated_at: Instant
    facts: Ticket
    params: dict[str, JsonValue]
    derived: dict[str, JsonValue]
    fired: list[str]
    steps: list[TraceStep]

    def step(self, rule: str) -> TraceStep:
        """The step of rule `rule` (KeyError if the bundle has no such rule)."""
        for step in self.steps:
            if step.rule == rule:
                return step
        raise KeyError(rule)
