"""Properties of the default bundle over generated tickets (csrules.testing.strategies)."""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

import csrules
from csrules.conditions import compare, evaluate_condition
from csrules.facts import fact_values
from csrules.testing.strategies import around, money, tickets
from tests.helpers import NOW

ENGINE = csrules.load()
RANK = {"front_line": 0, "senior": 1, "supervisor": 2, "manager": 3}
LIMITS = [Decimal(v) for v in ("20", "50", "100", "1000")]
AMOUNTS = st.one_of(money(), around(LIMITS))


@given(tickets())
def test_every_valid_ticket_gets_a_decision(ticket: dict[str, Any]) -> None:
    """Totality: no valid ticket raises; every rule has exactly one step, in bundle order."""
    decision = ENGINE.evaluate(ticket, now=NOW)
    assert [s.rule for s in decision.trace.steps] == [r.id for r in ENGINE.bundle.rules]
    assert decision.outcome in ("approve", "escalate", "deny")


@given(tickets())
def test_same_input_gives_byte_identical_json(ticket: dict[str, Any]) -> None:
    first = ENGINE.evaluate(ticket, now=NOW).to_json()
    again = csrules.load().evaluate(copy.deepcopy(ticket), now=NOW).to_json()
    assert first == again


@given(tickets())
def test_decision_round_trips_through_json(ticket: dict[str, Any]) -> None:
    decision = ENGINE.evaluate(ticket, now=NOW)
    assert csrules.Decision.model_validate_json(decision.model_dump_json()) == decision


@given(tickets(), st.randoms(use_true_random=False))
def test_the_json_of_a_decision_depends_on_no_dict_order_of_its_input(
    ticket: dict[str, Any], rng: Any
) -> None:
    """`model_dump_json()` wrote custom attributes in the order the ticket gave them, and effect
    values and action parameters in policy order where a decision read back from its canonical
    JSON has them by name: equal decisions (`==`, `hash`, `to_json`) wrote different bytes."""
    attributes = {f"k{n}": value for n, value in enumerate(["x", 2, True, 0.5, "y"])}
    names = list(attributes)
    rng.shuffle(names)
    decision = ENGINE.evaluate({**ticket, "attributes": attributes}, now=NOW)
    shuffled = ENGINE.evaluate({**ticket, "attributes": {n: attributes[n] for n in names}}, now=NOW)
    again = csrules.Decision.model_validate_json(decision.to_json())
    assert shuffled.model_dump_json() == decision.model_dump_json() == again.model_dump_json()
    assert shuffled.model_dump(mode="json") == again.model_dump(mode="json")
    assert list(decision.trace.facts.attributes) == sorted(attributes)


@given(tickets())
def test_equal_records_hash_alike(ticket: dict[str, Any]) -> None:
    """Decisions, traces and tickets are frozen records, but `hash()` raised `unhashable type:
    'list'` (pydantic hashes the fields as they are): they could not go in a set or be dict keys."""
    decision = ENGINE.evaluate(ticket, now=NOW)
    again = csrules.Decision.model_validate_json(decision.to_json())  # equal, other objects
    assert again == decision
    assert again is not decision
    assert hash(again) == hash(decision)
    assert {decision, again} == {decision}
    assert hash(again.trace) == hash(decision.trace)
    assert [hash(a) for a in again.actions] == [hash(a) for a in decision.actions]
    parsed = csrules.Ticket.model_validate(ticket)
    assert hash(csrules.Ticket.model_validate(copy.deepcopy(ticket))) == hash(parsed)


ATTRIBUTES = st.sampled_from([True, False, 1, 0, 1.0, 0.0, -0.0, 2, 2.5, "1", "true"])


@given(tickets(), ATTRIBUTES, ATTRIBUTES)
def test_decisions_are_equal_exactly_when_they_write_the_same_json(
    ticket: dict[str, Any], a: Any, b: Any
) -> None:
    """`true` and `1`, `1` and `1.0`, `0.0` and `-0.0` are equal in Python but different facts:
    decisions on them compared equal and hashed alike, yet wrote different bytes."""
    first = ENGINE.evaluate({**ticket, "attributes": {"x": a}}, now=NOW)
    second = ENGINE.evaluate({**ticket, "attributes": {"x": b}}, now=NOW)
    same = first.to_json() == second.to_json()
    assert (first == second) is same
    assert (first.trace.facts == second.trace.facts) is same
    assert (first.trace.facts.attributes["x"] == second.trace.facts.attributes["x"]) is (a == b)
    if same:
        assert hash(first) == hash(second)
        assert {first, second} == {first}
    else:
        assert len({first, second}) == 2


@given(tickets(amounts=AMOUNTS), AMOUNTS, AMOUNTS)
def test_a_larger_amount_never_lowers_the_required_role(
    ticket: dict[str, Any], a: Decimal, b: Decimal
) -> None:
    low, high = sorted((a, b))
    ticket = {**ticket, "request": {"kind": "refund", "amount": str(low)}}
    larger = {**ticket, "request": {"kind": "refund", "amount": str(high)}}
    before = ENGINE.evaluate(ticket, now=NOW).required_role
    after = ENGINE.evaluate(larger, now=NOW).required_role
    assert RANK[before] <= RANK[after]


@given(tickets(agent_role="front_line"), st.sampled_from(list(RANK)), st.sampled_from(list(RANK)))
def test_a_more_senior_agent_never_turns_approve_into_escalate(
    ticket: dict[str, Any], a: str, b: str
) -> None:
    junior, senior = sorted((a, b), key=RANK.__getitem__)
    outcomes = [
        ENGINE.evaluate({**ticket, "agent": {"id": "A-1", "role": role}}, now=NOW).outcome
        for role in (junior, senior)
    ]
    if outcomes[0] == "approve":
        assert outcomes[1] == "approve"
    assert (outcomes[0] == "deny") == (outcomes[1] == "deny")


@given(tickets())
def test_every_action_and_follow_up_is_attributed_to_a_fired_rule(ticket: dict[str, Any]) -> None:
    decision = ENGINE.evaluate(ticket, now=NOW)
    steps = {s.rule: s for s in decision.trace.steps}
    for item in [*decision.actions, *decision.follow_ups]:
        step = steps[item.rule]
        assert step.fired
        assert any(e.effect in ("action", "follow_up") and e.value["kind"] == item.kind for e in step.effects)
    for step in decision.trace.steps:
        assert step.fired == (step.rule in decision.trace.fired)
        if not step.fired:
            assert step.effects == []
    for rule_id in [*decision.reasons.outcome, *decision.reasons.required_role]:
        assert steps[rule_id].fired


@given(tickets())
def test_durable_rules_and_the_trace_agree_on_which_rules_fire(ticket: dict[str, Any]) -> None:
    """Differential: the rules durable_rules fired are exactly those whose `when` holds when
    re-evaluated from the trace's own facts, derived facts and pre-decision outcome."""
    decision = ENGINE.evaluate(ticket, now=NOW)
    trace = decision.trace
    facts = fact_values(trace.facts)
    facts.update((f"derived.{k}", v) for k, v in trace.derived.items())
    facts["decision.outcome"], facts["decision.required_role"] = decision.outcome, decision.required_role
    holds = {
        r.id for r in ENGINE.bundle.rules if evaluate_condition(r.when, facts, ENGINE.bundle.params, None)
    }
    assert holds == set(trace.fired)
    for step in trace.steps:
        if all(".any" not in c.where and ".not" not in c.where for c in step.conditions):
            assert step.fired == all(c.passed for c in step.conditions)


@given(tickets())
def test_a_rule_fires_at_most_once_per_ticket(ticket: dict[str, Any]) -> None:
    """durable_rules activates a rule once per alternative that holds; csrules counts it once."""
    fired = ENGINE.evaluate(ticket, now=NOW).trace.fired
    assert len(fired) == len(set(fired))


_LIST_ITEMS = st.one_of(
    st.sampled_from(["", "a", "b", "ab", "1"]),
    st.integers(-1, 1),
    st.booleans(),
    st.none(),
    st.sampled_from([Decimal("1.0"), Decimal("0.5")]),
)


@given(
    actual=st.sampled_from(["", "a", "b", "ab", "1"]),
    items=st.lists(_LIST_ITEMS, max_size=4),
    op=st.sampled_from(["in", "not_in"]),
    scalar=st.booleans(),
)
def test_text_in_a_list_answers_as_comparing_item_by_item(
    actual: str, items: list[Any], op: str, scalar: bool
) -> None:
    """`in` and `not_in` look a text up in a policy's list at once (the static analysis spends
    its time there): the answer is the one item-by-item comparison gives, for custom attributes
    (scalar) and typed facts alike."""
    each = [compare("eq" if op == "in" else "ne", actual, item, scalar) for item in items]
    assert compare(op, actual, tuple(items), scalar) is (any(each) if op == "in" else all(each))
