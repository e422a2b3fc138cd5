"""Stage 4, evaluate: a compiled bundle and a validated ticket -> fired rules and trace steps.

Flow: ticket -> fact values -> the stage-0 fact for durable_rules -> fired rule ids (durable_rules
decides, stage by stage; each barrier adds derived facts and, for the decision stage, the outcome)
-> one TraceStep per rule, its comparisons re-evaluated by conditions.py. If the two accounts of
a rule disagree the evaluation fails with EngineError rather than return an inconsistent trace.
No clock reads: `now` is an argument.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from . import _durable
from .compile import BARRIER_PREFIX, CompiledBundle, encode
from .conditions import Check, compile_condition
from .decision import Action, FollowUp, resolve_outcome
from .errors import EngineError
from .facts import fact_values
from .policy import Bundle, Duration, FactRef, NowPlus, ParamRef, Rule
from .ticket import Ticket
from .trace import ConditionResult, TraceEffect, TraceStep, record
from .values import json_value

__all__ = ["Evaluation", "FiredRule", "Plan", "derived_values", "evaluate_rules", "plan"]


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


def plan(compiled: CompiledBundle) -> Plan:
    """The evaluation plan of a compiled bundle (build it once, e.g. per Engine)."""
    params = compiled.bundle.params
    return Plan(tuple(compile_condition(rule.when, params) for rule in compiled.bundle.rules))


def _category(value: object) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "num"
    return "str"


def _first_fact(compiled: CompiledBundle, facts: Mapping[str, Any]) -> dict[str, Any]:
    payload: dict[str, Any] = {"stage": 0}
    # Rules of stage 0 may test derived facts that no rule derives: they see the default.
    for name, fact in compiled.bundle.derived.items():
        payload[f"d.{name}"] = encode(fact.default, compiled.derived_encodings[name])
    for item in compiled.inputs:
        value = facts.get(item.path)
        if value is not None:
            payload[item.name] = encode(value, item.encoding)
    for name in compiled.attributes:
        value = facts.get(f"attributes.{name}")
        if value is not None:
            payload[f"a.{_category(value)}.{name}"] = value
    params = compiled.bundle.params
    for diff in compiled.differences:
        left = facts.get(diff.left)
        right = params[diff.right] if diff.param else facts.get(diff.right)
        if left is not None and right is not None:
            payload[diff.name] = encode(left, diff.encoding) - encode(right, diff.encoding)
    return payload


def _parts(fact: dict[str, Any], count: int) -> list[dict[str, Any]]:
    """One copy of a stage fact per part of the stage (compile.py `_partition`)."""
    return [{**fact, "part": part} for part in range(count)]


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
    ruleset: _durable.Ruleset,
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
    rules = compiled.rules_by_id
    facts = fact_values(ticket)
    first = _first_fact(compiled, facts)
    order: list[str] = []
    seen: set[str] = set()
    fired_rules: list[Rule] = []

    def on_fired(rule_id: str) -> list[dict[str, Any]] | None:
        if not rule_id.startswith(BARRIER_PREFIX):
            # durable_rules activates a rule once per alternative (`any`, `in`) that holds; the
            # rule fires once per ticket, so later activations change nothing.
            if rule_id not in seen:
                seen.add(rule_id)
                order.append(rule_id)
                fired_rules.append(rules[rule_id])
            return None
        stage = int(rule_id[len(BARRIER_PREFIX) :]) + 1
        if stage >= bundle.stages:
            return None
        following = {**first, "stage": stage}
        for name, value in derived_values(bundle, fired_rules).items():
            following[f"d.{name}"] = encode(value, compiled.derived_encodings[name])
        if stage == compiled.decision_stage:
            outcome, role = _outcome(fired_rules, ticket)
            following["x.outcome"], following["x.required_role"] = outcome, role
        return _parts(following, compiled.parts[stage])

    ruleset.run(_parts(first, compiled.parts[0]), on_fired)

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
        return Evaluation(untraced, tuple(order), derived, ())

    checks = (prepared or plan(compiled)).checks
    shown = {path: json_value(value) for path, value in all_facts.items()}
    steps: list[TraceStep] = []
    fired: list[FiredRule] = []
    for rule, check in zip(bundle.rules, checks, strict=True):
        results: list[ConditionResult] = []
        holds = check(all_facts, shown, results)
        did_fire = rule.id in seen
        if holds != did_fire:
            raise EngineError(
                f"rule `{rule.id}`: durable_rules {'fired' if did_fire else 'did not fire'} it but its "
                f"conditions {'hold' if holds else 'do not hold'}; the trace would be inconsistent"
            )
        effects: list[TraceEffect] = []
        if did_fire:
            fired_rule = _fire(rule, all_facts, bundle.params, now)
            fired.append(fired_rule)
            effects = _effects(rule, fired_rule, bundle.params)
        steps.append(
            record(
                TraceStep,
                rule=rule.id,
                source=rule.source,
                description=rule.description,
                rationale=rule.rationale,
                stage=rule.stage,
                fired=did_fire,
                conditions=results,
                effects=effects,
            )
        )
    return Evaluation(tuple(fired), tuple(order), derived, tuple(steps))


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


def _effects(rule: Rule, fired: FiredRule, params: Mapping[str, Any]) -> list[TraceEffect]:
    effects: list[TraceEffect] = []
    if rule.then.require_role:
        effects.append(record(TraceEffect, effect="require_role", value=rule.then.require_role))
    if rule.then.deny:
        effects.append(record(TraceEffect, effect="deny", value=True))
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
