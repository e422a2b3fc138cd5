"""Stage 4, evaluate: a compiled bundle and a validated ticket -> fired rules and trace steps.

Flow: ticket -> fact values -> the stage-0 fact for durable_rules -> fired rule ids (durable_rules
decides, stage by stage; each barrier adds derived facts and, for the decision stage, the outcome)
-> one TraceStep per rule, its comparisons re-evaluated by conditions.py. If the two accounts of
a rule disagree the evaluation fails with EngineError rather than return an inconsistent trace.
No clock reads: `now` is an argument.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from . import _durable
from .compile import BARRIER_PREFIX, CompiledBundle, Encoding, Input, encode
from .conditions import Check, Interned, compile_condition
from .decision import Action, FollowUp, resolve_outcome
from .errors import EngineError
from .facts import fact_values
from .policy import Bundle, Condition, Duration, FactRef, NowPlus, ParamRef, Rule, compares
from .ticket import FACT_TYPES, ROLES, Ticket
from .trace import ConditionResult, TraceEffect, TraceStep, record, recorder
from .values import json_value

__all__ = ["Evaluation", "FiredRule", "Plan", "derived_values", "evaluate_rules", "plan"]

_step = recorder(TraceStep)


@dataclass(frozen=True, slots=True)
class FiredRule:
    """A fired rule with its effects resolved against the ticket, parameters and `now`."""

    rule: Rule
    actions: tuple[Action, ...]
    follow_ups: tuple[FollowUp, ...]


@dataclass(frozen=True, slots=True)
class Evaluation:
    """What evaluation found: fired rules (bundle order), firing order, derived facts, steps."""

    fired: tuple[FiredRule, ...]
    order: tuple[str, ...]
    derived: dict[str, Any]
    steps: tuple[TraceStep, ...]


@dataclass(frozen=True, slots=True)
class Plan:
    """What evaluation precomputes once per bundle: each rule's compiled condition check
    (conditions.compile_condition), in bundle order."""

    checks: tuple[Check, ...]
    steps: tuple[dict[str, Any], ...]  # each rule's TraceStep values that no ticket changes
    defaults: str  # every derived fact's default, as JSON members of a stage fact
    inputs: tuple[tuple[str, str, _Encoder | None], ...]  # (path, engine name, encoder or None)
    # (engine name, left path, right path or None for a parameter, its encoded value, encoder)
    differences: tuple[tuple[str, str, str | None, Any, _Encoder], ...]
    shown: tuple[str, ...]  # the fact paths a trace shows the value of


def plan(compiled: CompiledBundle) -> Plan:
    """The evaluation plan of a compiled bundle (build it once, e.g. per Engine)."""
    bundle = compiled.bundle
    steps = tuple(
        {
            "rule": rule.id,
            "source": rule.source,
            "description": rule.description,
            "rationale": rule.rationale,
            "stage": rule.stage,
            "fired": False,
            "conditions": None,
            "effects": None,
        }
        for rule in bundle.rules
    )
    shown = {path for rule in bundle.rules for path in _paths(rule.when)}
    interned = Interned()  # per Plan (per Engine): freed with it
    return Plan(
        tuple(compile_condition(rule.when, bundle.params, interned=interned) for rule in bundle.rules),
        steps,
        _stage_members(compiled, {name: fact.default for name, fact in bundle.derived.items()}),
        tuple(
            # `plain` leaves every value as it is but a Decimal, which only `number` facts hold.
            (i.path, i.name, _encoder(i.encoding) if _encoded(i) else None)
            for i in compiled.inputs
        ),
        tuple(
            (
                d.name,
                d.left,
                None if d.param else d.right,
                encode(bundle.params[d.right], d.encoding) if d.param else None,
                _encoder(d.encoding),
            )
            for d in compiled.differences
        ),
        tuple(sorted(shown)),
    )


def _encoded(item: Input) -> bool:
    return item.encoding != "plain" or FACT_TYPES[item.path].kind == "number"


def _paths(condition: Condition) -> Iterator[str]:
    for compare in compares(condition):
        yield compare.path
        if isinstance(compare.operand, FactRef):
            yield compare.operand.path


def _category(value: object) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "num"
    return "str"


_Encoder = Callable[[Any], Any]


def _encoder(encoding: Encoding) -> _Encoder:
    """`encode(value, encoding)` for one encoding, bound once per bundle."""
    return functools.partial(encode, encoding=encoding)


def _ticket_members(compiled: CompiledBundle, facts: Mapping[str, Any], prepared: Plan) -> str:
    """What every stage fact carries of the ticket (inputs, attributes, differences), as JSON
    members: encoded once per evaluation and shared by every stage's facts."""
    payload: dict[str, Any] = {}
    get = facts.get
    for path, name, convert in prepared.inputs:
        value = get(path)
        if value is not None:
            payload[name] = value if convert is None else convert(value)
    for name in compiled.attributes:
        value = get(f"attributes.{name}")
        if value is not None:
            payload[f"a.{_category(value)}.{name}"] = value
    for name, left, right, constant, convert in prepared.differences:
        first = get(left)
        second = constant if right is None else get(right)
        if first is not None and second is not None:
            payload[name] = convert(first) - (constant if right is None else convert(second))
    return _durable.fact_members(payload)


def _stage_members(compiled: CompiledBundle, derived: Mapping[str, Any]) -> str:
    """The derived facts' values as JSON members, for a stage fact."""
    encodings = compiled.derived_encodings
    return _durable.fact_members(
        {f"d.{name}": encode(value, encodings[name]) for name, value in derived.items()}
    )


def _resolve(value: Any, facts: Mapping[str, Any], params: Mapping[str, Any], now: datetime) -> Any:
    if isinstance(value, ParamRef):
        return params[value.name]
    if isinstance(value, FactRef):
        return facts.get(value.path)
    if isinstance(value, NowPlus):
        return now + _span(value.duration, params)
    return value


def _span(duration: Duration, params: Mapping[str, Any]) -> timedelta:
    def part(value: int | ParamRef) -> int:
        return int(params[value.name]) if isinstance(value, ParamRef) else value

    return timedelta(days=part(duration.days), hours=part(duration.hours), minutes=part(duration.minutes))


def derived_values(bundle: Bundle, fired: list[Rule]) -> dict[str, Any]:
    """Each derived fact's value: from the fired rule of highest priority, else its default."""
    params = bundle.params
    values = {name: fact.default for name, fact in bundle.derived.items()}
    assigned: set[str] = set()
    for rule in sorted(fired, key=lambda r: (-r.priority, r.index)):
        for name, value in rule.then.derive:
            if name not in assigned:
                assigned.add(name)
                values[name] = params[value.name] if isinstance(value, ParamRef) else value
    return values


def evaluate_rules(
    compiled: CompiledBundle,
    rulesets: _durable.Rulesets,
    ticket: Ticket,
    now: datetime,
    *,
    trace: bool = True,
    prepared: Plan | None = None,
) -> Evaluation:
    """Run the ticket through durable_rules and build one TraceStep per rule.

    With `trace=False` durable_rules alone decides which rules fire: no condition is
    re-evaluated and `steps` is empty (the bulk path, `Engine.evaluate_many`).

    Raises:
        EngineError: durable_rules failed, or it and the trace's evaluation disagree on a rule.
    """
    bundle = compiled.bundle
    prepared = prepared or plan(compiled)
    facts = fact_values(ticket)
    fired_rules = _run(compiled, rulesets, ticket, facts, prepared)
    order = tuple(rule.id for rule in fired_rules)
    seen = set(order)

    derived = derived_values(bundle, fired_rules)
    all_facts = dict(facts)
    all_facts.update((f"derived.{name}", value) for name, value in derived.items())
    # The outcome before decision-stage rules, which cannot change it: for their conditions, and
    # for `{fact: decision.*}` in any rule's action parameters.
    pre_decision = [r for r in fired_rules if not r.tests_decision]
    outcome, role = _outcome(pre_decision, ticket)
    all_facts["decision.outcome"], all_facts["decision.required_role"] = outcome, role

    if not trace:
        # INVARIANT: the same FiredRules, in bundle order, as the traced loop below builds.
        untraced = tuple(_fire(r, all_facts, bundle.params, now) for r in bundle.rules if r.id in seen)
        return Evaluation(untraced, order, derived, ())

    shown = {path: json_value(all_facts[path]) for path in prepared.shown if path in all_facts}
    steps: list[TraceStep] = []
    fired: list[FiredRule] = []
    for rule, check, template in zip(bundle.rules, prepared.checks, prepared.steps, strict=True):
        results: list[ConditionResult] = []
        holds = check(all_facts, shown, results)
        did_fire = rule.id in seen
        if holds != did_fire:
            raise EngineError(
                f"rule `{rule.id}`: durable_rules {'fired' if did_fire else 'did not fire'} it but its "
                f"conditions {'hold' if holds else 'do not hold'}; the trace would be inconsistent"
            )
        values = template.copy()
        values["conditions"] = results
        if did_fire:
            fired_rule = _fire(rule, all_facts, bundle.params, now)
            fired.append(fired_rule)
            values["fired"] = True
            values["effects"] = _effects(rule, fired_rule, bundle.params)
        else:
            values["effects"] = []
        steps.append(_step(values))
    return Evaluation(tuple(fired), order, derived, tuple(steps))


def _run(
    compiled: CompiledBundle,
    rulesets: _durable.Rulesets,
    ticket: Ticket,
    facts: Mapping[str, Any],
    prepared: Plan,
) -> list[Rule]:
    """durable_rules' account of the ticket: the rules it fired, in firing order.

    Stage by stage, one fact per part of the stage in each ruleset holding rules of that part:
    the ticket's facts (encoded once), the derived facts so far and, from the decision stage on,
    the outcome so far.
    """
    bundle = compiled.bundle
    rules = compiled.rules_by_id
    ticket_members = _ticket_members(compiled, facts, prepared)
    tail = f",{ticket_members}" if ticket_members else ""
    fired_rules: list[Rule] = []
    seen: set[str] = set()
    derives = False
    several = len(compiled.slots) > 1
    with rulesets.session() as session:
        for stage in range(bundle.stages):
            # Stage 0 sees every derived fact's default; later stages what earlier ones derived.
            head = prepared.defaults
            if derives:
                head = _stage_members(compiled, derived_values(bundle, fired_rules))
            if compiled.decision_stage is not None and stage >= compiled.decision_stage:
                # Outcome and role are names of [a-z_]: JSON strings as they are.
                decision = '"x.outcome":"{}","x.required_role":"{}"'.format(*_outcome(fired_rules, ticket))
                head = f"{head},{decision}" if head else decision
            head = f'"stage":{stage},{head},"part":' if head else f'"stage":{stage},"part":'
            fired: list[str] = []
            for index, slots in enumerate(compiled.slots):
                if slots[stage]:
                    fired += session.fire(index, [f"{head}{part}{tail}" for part in slots[stage]])
            if several:  # the order one ruleset would have fired them in: by priority, then bundle order
                fired.sort(key=lambda rule_id: _rank(rules.get(rule_id)))
            for rule_id in fired:
                # durable_rules activates a rule once per alternative (`any`, `in`) that holds; the
                # rule fires once per ticket, so later activations change nothing.
                if rule_id not in seen and not rule_id.startswith(BARRIER_PREFIX):
                    seen.add(rule_id)
                    rule = rules[rule_id]
                    fired_rules.append(rule)
                    derives = derives or bool(rule.then.derive)
    return fired_rules


def _rank(rule: Rule | None) -> tuple[int, int]:
    """A rule's place in firing order within a stage (barriers, None, last)."""
    return (-rule.priority, rule.index) if rule is not None else (1 << 16, 0)


def _outcome(fired: list[Rule], ticket: Ticket) -> tuple[str, str]:
    required = [r.then.require_role for r in fired if r.then.require_role]
    denied = any(r.then.deny for r in fired)
    return resolve_outcome(required, denied, ticket.agent.role)


def _fire(
    rule: Rule,
    facts: Mapping[str, Any],
    params: Mapping[str, Any],
    now: datetime,
) -> FiredRule:
    # Values normalised here (json_value; `now` is aware UTC), so the records skip re-validation.
    actions = tuple(
        record(
            Action,
            kind=a.kind,
            params={name: json_value(_resolve(v, facts, params, now)) for name, v in a.params},
            rule=rule.id,
        )
        for a in rule.then.actions
    )
    follow_ups = tuple(
        record(FollowUp, kind=f.kind, due=now + _span(f.due_in, params), rule=rule.id)
        for f in rule.then.follow_ups
    )
    return FiredRule(rule, actions, follow_ups)


_DENY_EFFECT = record(TraceEffect, effect="deny", value=True)
_ROLE_EFFECTS = {role: record(TraceEffect, effect="require_role", value=role) for role in ROLES}


def _effects(rule: Rule, fired: FiredRule, params: Mapping[str, Any]) -> list[TraceEffect]:
    effects: list[TraceEffect] = []
    if rule.then.require_role:  # a record of immutable values: built once per role, then shared
        effects.append(_ROLE_EFFECTS[rule.then.require_role])
    if rule.then.deny:
        effects.append(_DENY_EFFECT)
    for name, value in rule.then.derive:
        resolved = params[value.name] if isinstance(value, ParamRef) else value
        effects.append(
            record(TraceEffect, effect="derive", value={"name": name, "value": json_value(resolved)})
        )
    for action in fired.actions:
        effects.append(
            record(TraceEffect, effect="action", value={"kind": action.kind, "params": dict(action.params)})
        )
    for follow_up in fired.follow_ups:
        effects.append(
            record(
                TraceEffect,
                effect="follow_up",
                value={"kind": follow_up.kind, "due": json_value(follow_up.due)},
            )
        )
    return effects
