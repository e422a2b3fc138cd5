"""Stage 4, evaluate: a compiled bundle and a validated ticket -> fired rules and trace steps.

Flow: ticket -> fact values -> the stage-0 fact for durable_rules -> fired rule ids (durable_rules
decides, stage by stage; each barrier adds derived facts and, for the decision stage, the outcome)
-> one TraceStep per rule, its comparisons re-evaluated by conditions.py. If the two accounts of
a rule disagree the evaluation fails with EngineError rather than return an inconsistent trace.
No clock reads: `now` is an argument.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from . import _durable
from .compile import BARRIER_PREFIX, CompiledBundle, Input, encode, encoder
from .conditions import Check, Interned, compile_condition
from .decision import Action, FollowUp, resolve_outcome
from .errors import EngineError
from .facts import fact_values
from .policy import Bundle, Condition, Duration, FactRef, NowPlus, ParamRef, Rule, compares
from .ticket import FACT_TYPES, ROLES, Ticket
from .trace import ConditionResult, TraceEffect, TraceStep, record, recorder
from .values import JSON_AS_IS, category, json_value

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
    derived: dict[str, Any]  # every derived fact's default
    defaults: str  # the same as JSON members of a stage fact
    # Each fact path the engine sees (alone or in a difference) and its encoder (None: as it is).
    encoded: tuple[tuple[str, _Encoder | None], ...]
    inputs: tuple[tuple[str, str], ...]  # (path, engine name)
    # (engine name, left path, right path or None for a parameter, the parameter's encoded value)
    differences: tuple[tuple[str, str, str | None, Any], ...]
    floats: bool  # whether the engine may see a float (a plain number fact or a custom attribute)
    # The fact paths a trace shows the value of whose JSON form may differ from the Python value
    # (dates, datetimes, numbers that may be floats): the others are shown as they are.
    converted: tuple[str, ...]
    effects: tuple[_Effects, ...]  # each rule's effects, resolved as far as no ticket matters
    interned: Interned  # the condition records the checks keep for reuse
    # The derived facts' JSON members by their values (`_derived_members`): values of the bundle's
    # own (defaults, literals, parameters), never a ticket's; at most _STAGE_TEXTS of them.
    stage_texts: dict[tuple[tuple[type, Any], ...], str]


_STAGE_TEXTS = 1024


# How an action parameter gets its value (`_Effects.actions`).
_FIXED, _FACT, _NOW_PLUS = range(3)


@dataclass(frozen=True, slots=True)
class _Effects:
    """A rule's effects with what no ticket changes resolved once per bundle: parameters, due-date
    spans, derived values, constants in their JSON form."""

    # (kind, ((name, how, what), ...)): `what` is the JSON value (_FIXED), the fact path (_FACT)
    # or the span added to `now` (_NOW_PLUS). INVARIANT: literals and parameter values are
    # scalars (validate.py), so decisions can share them.
    actions: tuple[tuple[str, tuple[tuple[str, int, Any], ...]], ...]
    follow_ups: tuple[tuple[str, timedelta], ...]
    derive: tuple[tuple[str, Any], ...]  # (name, JSON value)


def _rule_effects(rule: Rule, params: Mapping[str, Any]) -> _Effects:
    def parameter(value: Any) -> tuple[int, Any]:
        if isinstance(value, FactRef):
            return _FACT, value.path
        if isinstance(value, NowPlus):
            return _NOW_PLUS, _span(value.duration, params)
        return _FIXED, json_value(params[value.name] if isinstance(value, ParamRef) else value)

    then = rule.then
    return _Effects(
        # Parameters by name, as a decision read back from canonical JSON has them.
        tuple((a.kind, tuple((name, *parameter(v)) for name, v in sorted(a.params))) for a in then.actions),
        tuple((f.kind, _span(f.due_in, params)) for f in then.follow_ups),
        tuple(
            (name, json_value(params[v.name] if isinstance(v, ParamRef) else v)) for name, v in then.derive
        ),
    )


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
    encoders: dict[str, _Encoder | None] = {}
    for item in compiled.inputs:
        # `plain` leaves every value as it is but a Decimal, which only `number` facts hold.
        encoders[item.path] = encoder(item.encoding) if _encoded(item) else None
    for difference in compiled.differences:
        sides = (difference.left,) if difference.param else (difference.left, difference.right)
        for path in sides:
            encoders.setdefault(path, encoder(difference.encoding))
    defaults = {name: fact.default for name, fact in bundle.derived.items()}
    return Plan(
        tuple(compile_condition(rule.when, bundle.params, interned=interned) for rule in bundle.rules),
        steps,
        defaults,
        _stage_members(compiled, defaults),
        tuple(encoders.items()),
        tuple((i.path, i.name) for i in compiled.inputs),
        tuple(
            (
                d.name,
                d.left,
                None if d.param else d.right,
                encode(bundle.params[d.right], d.encoding) if d.param else None,
            )
            for d in compiled.differences
        ),
        bool(compiled.attributes) or any(FACT_TYPES[path].kind == "number" for path in encoders),
        tuple(sorted(path for path in shown if _converted(path, bundle))),
        tuple(_rule_effects(rule, bundle.params) for rule in bundle.rules),
        interned,
        {},
    )


def _converted(path: str, bundle: Bundle) -> bool:
    """Whether `json_value` may change a value of fact `path` (FACT_TYPES; derived facts' types;
    decision.* is a pair of names; custom attributes may be floats)."""
    if path.startswith("decision."):
        return False
    if path.startswith("derived."):
        return bundle.derived[path.removeprefix("derived.")].type.kind not in JSON_AS_IS
    fact = FACT_TYPES.get(path)
    return fact is None or fact.kind not in JSON_AS_IS


def _encoded(item: Input) -> bool:
    """Whether an input's values need encoding (`plain` leaves all but a Decimal as they are)."""
    return item.encoding != "plain" or FACT_TYPES[item.path].kind == "number"


def _paths(condition: Condition) -> Iterator[str]:
    for compare in compares(condition):
        yield compare.path
        if isinstance(compare.operand, FactRef):
            yield compare.operand.path


_Encoder = Callable[[Any], Any]


def _ticket_members(compiled: CompiledBundle, facts: Mapping[str, Any], prepared: Plan) -> str:
    """What every stage fact carries of the ticket (inputs, attributes, differences), as JSON
    members: encoded once per evaluation and shared by every stage's facts."""
    encoded: dict[str, Any] = {}  # each path's value encoded once, for its input and differences
    for path, convert in prepared.encoded:
        value = facts.get(path)
        if value is not None:
            encoded[path] = value if convert is None else convert(value)
    get = encoded.get
    payload: dict[str, Any] = {}
    for path, name in prepared.inputs:
        value = get(path)
        if value is not None:
            payload[name] = value
    for name in compiled.attributes:
        value = facts.get(f"attributes.{name}")
        if value is not None:
            payload[f"a.{category(value)}.{name}"] = value
    for name, left, right, constant in prepared.differences:
        first = get(left)
        second = constant if right is None else get(right)
        if first is not None and second is not None:
            payload[name] = first - second
    return _durable.fact_members(payload, floats=prepared.floats)


def _stage_members(compiled: CompiledBundle, derived: Mapping[str, Any]) -> str:
    """The derived facts' values as JSON members, for a stage fact."""
    encodings = compiled.derived_encodings
    return _durable.fact_members(
        {f"d.{name}": encode(value, encodings[name]) for name, value in derived.items()}
    )


def _derived_members(compiled: CompiledBundle, prepared: Plan, derived: Mapping[str, Any]) -> str:
    """`_stage_members`, kept per combination of values: derived values are the bundle's own, so
    few combinations occur. The type is part of the key (`True == 1`, `1 == Decimal("1.0")`)."""
    key = tuple((type(value), value) for value in derived.values())
    found = prepared.stage_texts.get(key)
    if found is None:
        found = _stage_members(compiled, derived)
        if len(prepared.stage_texts) < _STAGE_TEXTS:  # threads may race here: the limit is approximate
            prepared.stage_texts[key] = found
    return found


def _span(duration: Duration, params: Mapping[str, Any]) -> timedelta:
    def part(value: int | ParamRef) -> int:
        return int(params[value.name]) if isinstance(value, ParamRef) else value

    return timedelta(days=part(duration.days), hours=part(duration.hours), minutes=part(duration.minutes))


def derived_values(bundle: Bundle, fired: list[Rule]) -> dict[str, Any]:
    """Each derived fact's value: from the fired rule of highest priority, else its default."""
    params = bundle.params
    values = {name: fact.default for name, fact in bundle.derived.items()}  # by name (policy.Bundle)
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
    facts: dict[str, Any] = fact_values(ticket)
    fired_rules, derived, (outcome, role) = _run(compiled, rulesets, ticket, facts, prepared)
    order = tuple(rule.id for rule in fired_rules)
    seen = set(order)

    all_facts = facts  # fact_values' own dict: extended, not copied
    all_facts.update((f"derived.{name}", value) for name, value in derived.items())
    # The outcome before decision-stage rules, which cannot change it: for their conditions, and
    # for `{fact: decision.*}` in any rule's action parameters.
    all_facts["decision.outcome"], all_facts["decision.required_role"] = outcome, role

    if not trace:
        # INVARIANT: the same FiredRules, in bundle order, as the traced loop below builds.
        untraced = tuple(
            _fire(r, prepared.effects[r.index], all_facts, now) for r in bundle.rules if r.id in seen
        )
        return Evaluation(untraced, order, derived, ())

    shown = all_facts  # each fact's JSON form, for the records
    if prepared.converted:
        shown = dict(all_facts)
        for path in prepared.converted:
            value = all_facts.get(path)
            if value is not None:
                shown[path] = json_value(value)
    steps: list[TraceStep] = []
    fired: list[FiredRule] = []
    for rule, check, template, effects in zip(
        bundle.rules, prepared.checks, prepared.steps, prepared.effects, strict=True
    ):
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
            fired_rule = _fire(rule, effects, all_facts, now)
            fired.append(fired_rule)
            values["fired"] = True
            values["effects"] = _trace_effects(rule, effects, fired_rule)
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
) -> tuple[list[Rule], dict[str, Any], tuple[str, str]]:
    """durable_rules' account of the ticket: the rules it fired, in firing order; the derived
    facts' final values; the outcome and required role before the decision stage.

    Stage by stage, one fact per part of the stage in each ruleset holding rules of that part:
    the ticket's facts (encoded once), the derived facts so far and, from the decision stage on,
    the outcome so far. Decision-stage rules come last and change neither the derived facts nor
    the outcome (validate.py), so the values returned are those the decision stage saw.
    """
    bundle = compiled.bundle
    rules = compiled.rules_by_id
    ticket_members = _ticket_members(compiled, facts, prepared)
    tail = f",{ticket_members}" if ticket_members else ""
    several = len(compiled.slots) > 1

    def stages(session: _durable.Session) -> tuple[list[Rule], dict[str, Any], tuple[str, str] | None]:
        fired_rules: list[Rule] = []
        seen: set[str] = set()
        derived = dict(prepared.derived)
        members = prepared.defaults  # stage 0 sees every derived fact's default
        outcome: tuple[str, str] | None = None
        for stage in range(bundle.stages):
            head = members
            if compiled.decision_stage is not None and stage >= compiled.decision_stage:
                if outcome is None:
                    outcome = _outcome(fired_rules, ticket)
                # Outcome and role are names of [a-z_]: JSON strings as they are.
                decision = '"x.outcome":"{}","x.required_role":"{}"'.format(*outcome)
                head = f"{head},{decision}" if head else decision
            head = f'"stage":{stage},{head},"part":' if head else f'"stage":{stage},"part":'
            fired: list[str] = []
            for index, slots in enumerate(compiled.slots):
                if slots[stage]:
                    fired += session.fire(index, [f"{head}{part}{tail}" for part in slots[stage]])
            if several:  # the order one ruleset would have fired them in: by priority, then bundle order
                fired.sort(key=lambda rule_id: _rank(rules.get(rule_id)))
            derives = False
            for rule_id in fired:
                # durable_rules activates a rule once per alternative (`any`, `in`) that holds; the
                # rule fires once per ticket, so later activations change nothing.
                if rule_id not in seen and not rule_id.startswith(BARRIER_PREFIX):
                    seen.add(rule_id)
                    rule = rules[rule_id]
                    fired_rules.append(rule)
                    derives = derives or bool(rule.then.derive)
            if derives:  # later stages see what this one derived
                derived = derived_values(bundle, fired_rules)
                members = _derived_members(compiled, prepared, derived)
        return fired_rules, derived, outcome

    fired_rules, derived, outcome = rulesets.run(stages)
    if outcome is None:  # no decision stage: no rule tests the outcome
        outcome = _outcome(fired_rules, ticket)
    return fired_rules, derived, outcome


def _rank(rule: Rule | None) -> tuple[int, int]:
    """A rule's place in firing order within a stage (barriers, None, last)."""
    return (-rule.priority, rule.index) if rule is not None else (1 << 16, 0)


def _outcome(fired: list[Rule], ticket: Ticket) -> tuple[str, str]:
    required = [r.then.require_role for r in fired if r.then.require_role]
    denied = any(r.then.deny for r in fired)
    return resolve_outcome(required, denied, ticket.agent.role)


_action = recorder(Action)
_follow_up = recorder(FollowUp)
_effect = recorder(TraceEffect)


def _fire(rule: Rule, effects: _Effects, facts: Mapping[str, Any], now: datetime) -> FiredRule:
    # Values normalised here (json_value; `now` is aware UTC), so the records skip re-validation.
    actions = tuple(
        _action(
            {
                "kind": kind,
                "params": {name: _parameter(how, what, facts, now) for name, how, what in params},
                "rule": rule.id,
            }
        )
        for kind, params in effects.actions
    )
    follow_ups = tuple(
        _follow_up({"kind": kind, "due": now + span, "rule": rule.id}) for kind, span in effects.follow_ups
    )
    return FiredRule(rule, actions, follow_ups)


def _parameter(how: int, what: Any, facts: Mapping[str, Any], now: datetime) -> Any:
    if how == _FIXED:
        return what
    if how == _FACT:
        return json_value(facts.get(what))
    return json_value(now + what)  # _NOW_PLUS


_DENY_EFFECT = record(TraceEffect, effect="deny", value=True)
_ROLE_EFFECTS = {role: record(TraceEffect, effect="require_role", value=role) for role in ROLES}


def _trace_effects(rule: Rule, effects: _Effects, fired: FiredRule) -> list[TraceEffect]:
    out: list[TraceEffect] = []
    if rule.then.require_role:  # a record of immutable values: built once per role, then shared
        out.append(_ROLE_EFFECTS[rule.then.require_role])
    if rule.then.deny:
        out.append(_DENY_EFFECT)
    for name, value in effects.derive:
        out.append(_effect({"effect": "derive", "value": {"name": name, "value": value}}))
    for action in fired.actions:
        out.append(
            _effect({"effect": "action", "value": {"kind": action.kind, "params": dict(action.params)}})
        )
    for follow_up in fired.follow_ups:
        out.append(
            _effect(
                {"effect": "follow_up", "value": {"due": json_value(follow_up.due), "kind": follow_up.kind}}
            )
        )
    return out
