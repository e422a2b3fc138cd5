"""The policy language's semantics, each construct through load() and evaluate()."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import csrules
from tests.helpers import NOW, make_ticket, refund, write_policy


def engine_for(tmp_path: Path, rules: str, header: str = "") -> csrules.Engine:
    return csrules.load(write_policy(tmp_path, header + "rules:\n" + rules))


def one_rule(when: str, then: str = "{actions: [{kind: hit}]}") -> str:
    return f"  - id: r\n    description: d\n    rationale: r\n    when:\n{when}    then: {then}\n"


def fires(engine: csrules.Engine, ticket: dict[str, Any]) -> bool:
    return engine.evaluate(ticket, now=NOW).trace.step("r").fired


@pytest.mark.parametrize(
    ("when", "ticket", "expected"),
    [
        (
            "      - customer.tier: {in: [loyal, advocate]}\n",
            make_ticket(customer={"id": "c", "tier": "loyal"}),
            True,
        ),
        (
            "      - customer.tier: {in: [loyal, advocate]}\n",
            make_ticket(customer={"id": "c", "tier": "frequent"}),
            False,
        ),
        (
            "      - customer.tier: {not_in: [loyal, advocate]}\n",
            make_ticket(customer={"id": "c", "tier": "frequent"}),
            True,
        ),
        ("      - customer.tier: {ne: loyal}\n", make_ticket(), True),
        ("      - item.sku: {exists: true}\n", make_ticket(), False),
        ("      - item.sku: {exists: false}\n", make_ticket(), True),
        # A comparison with an absent fact is false, whatever the operator ...
        ("      - item.sku: {ne: X}\n", make_ticket(), False),
        ("      - request.amount: {not_in: [5]}\n", make_ticket(), False),
        # ... and its negation is true.
        ("      - not: {item.sku: X}\n", make_ticket(), True),
        ("      - not: {request.amount: {lt: 5}}\n", make_ticket(), True),
        ("      - any: [{severity: low}, {severity: high}]\n", make_ticket(severity="high"), True),
        ("      - any: [{severity: low}, {severity: high}]\n", make_ticket(severity="normal"), False),
        ("      - not: {any: [{severity: low}, {severity: high}]}\n", make_ticket(severity="normal"), True),
        ("      - not: {all: [{severity: low}, {channel: web}]}\n", make_ticket(severity="low"), False),
        (
            "      - request.amount: {gte: 10, lte: 20}\n",
            make_ticket(request={"kind": "refund", "amount": 15}),
            True,
        ),
        (
            "      - request.amount: {gte: 10, lte: 20}\n",
            make_ticket(request={"kind": "refund", "amount": "20.01"}),
            False,
        ),
        (
            "      - opened_at: {lt: 2026-11-23T10:00:00Z}\n",
            make_ticket(opened_at="2026-11-23T04:59:59-05:00"),
            True,
        ),
        (
            "      - opened_at: {lt: 2026-11-23T10:00:00Z}\n",
            make_ticket(opened_at="2026-11-23T05:00:00-05:00"),
            False,
        ),
        (
            "      - promise.delivery_date: {gte: 2026-12-01}\n",
            make_ticket(promise={"delivery_date": "2026-12-01", "earliest_feasible": "2026-11-01"}),
            True,
        ),
        (
            "      - promise.delivery_date: {eq: {fact: promise.earliest_feasible}}\n",
            make_ticket(promise={"delivery_date": "2026-12-01", "earliest_feasible": "2026-12-01"}),
            True,
        ),
        (
            "      - customer.lifetime_value: {gt: {fact: request.amount}}\n",
            make_ticket(request={"kind": "refund", "amount": "10.00"}),
            False,
        ),
        ("      - customer.id: C-1\n", make_ticket(customer={"id": "C-1"}), True),
        (
            "      - customer.id: café\n",
            make_ticket(customer={"id": "cafe\u0301"}),
            True,
        ),  # NFC on both sides
    ],
)
def test_comparison_semantics(tmp_path: Path, when: str, ticket: dict[str, Any], expected: bool) -> None:
    assert fires(engine_for(tmp_path, one_rule(when)), ticket) is expected


@pytest.mark.parametrize(
    ("test", "value", "expected"),
    [
        ("{gt: 20}", 21, True),
        ("{gt: 20}", 20, False),
        ("{gt: 20}", 20.5, True),
        ("{gt: 20}", "100", False),  # a string is never compared with a number
        ("{gt: 20}", True, False),  # nor is a boolean
        ("{lte: 0.1}", 0.1, True),
        ("{eq: gold}", "gold", True),
        ("{eq: gold}", 5, False),
        ("{ne: gold}", 5, False),  # across types even `ne` is false
        ("{ne: gold}", "silver", True),
        ("{eq: true}", True, True),
        ("{eq: 1}", True, False),
        ("{in: [1, gold]}", "gold", True),
        ("{in: [1, gold]}", 1, True),
        ("{not_in: [1, 3]}", 2, True),
        ("{not_in: [gold]}", 2, False),  # 2 vs gold: across types is false (a mixed list is refused)
        ("{in: [1, gold]}", "1", False),  # text is never a number
        ("{in: [1, gold]}", "silver", False),
        ("{not_in: [gold, silver]}", "gold", False),
        ("{not_in: [gold, silver]}", "bronze", True),
        ("{not_in: [gold, silver]}", 1, False),
        ("{exists: true}", 0, True),
    ],
)
def test_custom_attributes_compare_only_within_their_type(
    tmp_path: Path, test: str, value: object, expected: bool
) -> None:
    engine = engine_for(tmp_path, one_rule(f"      - attributes.x: {test}\n"))
    assert fires(engine, make_ticket(attributes={"x": value})) is expected
    assert fires(engine, make_ticket(attributes={"y": value})) is (test == "{exists: false}")


def test_a_rule_without_when_always_fires(tmp_path: Path) -> None:
    engine = csrules.load(
        write_policy(
            tmp_path,
            "rules:\n  - id: r\n    description: d\n    rationale: r\n    then: {actions: [{kind: hit}]}\n",
        )
    )
    decision = engine.evaluate(make_ticket(), now=NOW)
    assert [a.kind for a in decision.actions] == ["hit"]
    assert decision.trace.step("r").conditions == []


def test_derived_value_from_the_highest_priority_rule_wins(tmp_path: Path) -> None:
    header = "derived:\n  risk: {type: string, default: none}\n"
    rules = (
        "  - id: low\n    description: d\n    rationale: r\n    when: [{channel: web}]\n    then: {derive: {risk: low}}\n"
        "  - id: high\n    description: d\n    rationale: r\n    priority: 10\n    when: [{channel: web}]\n    then: {derive: {risk: high}}\n"
        "  - id: reads\n    description: d\n    rationale: r\n    when: [{derived.risk: high}]\n    then: {require_role: manager}\n"
    )
    engine = engine_for(tmp_path, rules, header)
    decision = engine.evaluate(make_ticket(channel="web"), now=NOW)
    assert decision.trace.derived == {"risk": "high"}
    assert decision.required_role == "manager"
    assert decision.trace.fired[:2] == ["high", "low"]  # priority orders firing within a stage
    assert engine.evaluate(make_ticket(channel="chat"), now=NOW).trace.derived == {"risk": "none"}


def test_forward_chaining_over_three_stages(tmp_path: Path) -> None:
    header = "derived:\n  a: {type: boolean}\n  b: {type: money, default: 0}\n"
    rules = (
        "  - id: makes_a\n    description: d\n    rationale: r\n    when: [{severity: urgent}]\n    then: {derive: {a: true}}\n"
        "  - id: makes_b\n    description: d\n    rationale: r\n    when: [{derived.a: true}]\n    then: {derive: {b: 12.5}}\n"
        "  - id: uses_b\n    description: d\n    rationale: r\n    when: [{derived.b: {gt: 12}}]\n    then: {require_role: senior}\n"
    )
    engine = engine_for(tmp_path, rules, header)
    decision = engine.evaluate(make_ticket(severity="urgent"), now=NOW)
    assert [(s.rule, s.stage, s.fired) for s in decision.trace.steps] == [
        ("makes_a", 0, True),
        ("makes_b", 1, True),
        ("uses_b", 2, True),
    ]
    assert decision.trace.step("makes_b").effects[0].model_dump() == {
        "effect": "derive",
        "value": {"name": "b", "value": pytest.approx(12.5)},
    }
    assert engine.evaluate(make_ticket(severity="low"), now=NOW).required_role == "front_line"


def test_deny_wins_and_roles_combine_by_maximum(tmp_path: Path) -> None:
    rules = (
        "  - id: senior\n    description: d\n    rationale: r\n    then: {require_role: senior}\n"
        "  - id: manager\n    description: d\n    rationale: r\n    when: [{severity: urgent}]\n    then: {require_role: manager}\n"
        "  - id: no\n    description: d\n    rationale: r\n    when: [{channel: fax_never}]\n    then: {deny: true}\n"
    )
    with pytest.raises(csrules.PolicyError):  # `fax_never` is not a channel
        engine_for(tmp_path, rules)
    rules = rules.replace("fax_never", "phone")
    engine = engine_for(tmp_path, rules)
    urgent = engine.evaluate(make_ticket(severity="urgent"), now=NOW)
    assert (urgent.outcome, urgent.required_role, urgent.reasons.required_role) == (
        "escalate",
        "manager",
        ["manager"],
    )
    denied = engine.evaluate(make_ticket(severity="urgent", channel="phone"), now=NOW)
    assert (denied.outcome, denied.required_role, denied.reasons.outcome) == ("deny", "manager", ["no"])


def test_actions_and_follow_ups_are_deduplicated_and_ordered(tmp_path: Path) -> None:
    rules = (
        "  - id: one\n    description: d\n    rationale: r\n    then:\n"
        "      actions: [{kind: call, params: {n: 1}}, {kind: note}]\n"
        "      follow_ups: [{kind: ping, due_in: {hours: 5}}, {kind: mail, due_in: {hours: 1}}]\n"
        "  - id: two\n    description: d\n    rationale: r\n    then:\n"
        "      actions: [{kind: note}, {kind: call, params: {n: 2}}]\n"
        "      follow_ups: [{kind: ping, due_in: {hours: 5}}, {kind: ping, due_in: {minutes: 30}}]\n"
    )
    decision = engine_for(tmp_path, rules).evaluate(make_ticket(), now=NOW)
    assert [(a.kind, a.params, a.rule) for a in decision.actions] == [
        ("call", {"n": 1}, "one"),
        ("note", {}, "one"),
        ("call", {"n": 2}, "two"),
    ]
    assert [(f.kind, f.due - NOW, f.rule) for f in decision.follow_ups] == [
        ("ping", timedelta(minutes=30), "two"),
        ("mail", timedelta(hours=1), "one"),
        ("ping", timedelta(hours=5), "one"),
    ]


def test_actions_equal_as_json_values_are_one_action(tmp_path: Path) -> None:
    """Parameters were compared by how a number was written: `1`, `1.0` and `1.00` (and an
    integer parameter 3 against an amount of 3.00) gave visibly identical actions twice."""
    header = "parameters:\n  three: {type: integer, default: 3, description: x}\n"
    rule = "  - id: {}\n    description: d\n    rationale: r\n    then:\n      actions: [{}]\n"
    rules = (
        rule.format("r1", "{kind: notify, params: {v: 1}}, {kind: refund, params: {amount: {param: three}}}")
        + rule.format(
            "r2",
            "{kind: notify, params: {v: 1.00}}, {kind: refund, params: {amount: {fact: request.amount}}}",
        )
        + rule.format("r3", "{kind: notify, params: {v: 1.0}}, {kind: notify, params: {v: true}}")
        + rule.format("r4", "{kind: notify, params: {v: '1'}}, {kind: notify, params: {v: 1.01}}")
    )
    engine = engine_for(tmp_path, rules, header)
    decision = engine.evaluate(make_ticket(request={"kind": "refund", "amount": "3.00"}), now=NOW)
    assert [(a.kind, a.params, a.rule) for a in decision.actions] == [
        ("notify", {"v": 1}, "r1"),
        ("refund", {"amount": 3}, "r1"),
        ("notify", {"v": True}, "r3"),
        ("notify", {"v": "1"}, "r4"),
        ("notify", {"v": Decimal("1.01")}, "r4"),
    ]


def test_action_params_resolve_parameters_facts_and_times(tmp_path: Path) -> None:
    header = "parameters:\n  team: {type: string, default: billing}\n  days: {type: integer, default: 2}\n"
    rules = (
        "  - id: r\n    description: d\n    rationale: r\n    then:\n"
        "      actions:\n        - kind: route\n          params:\n"
        "            team: {param: team}\n            customer: {fact: customer.id}\n"
        "            missing: {fact: item.sku}\n            until: {now_plus: {days: {param: days}, hours: 1}}\n"
        "            fixed: 3\n"
    )
    decision = engine_for(tmp_path, rules, header).evaluate(make_ticket(), now=NOW)
    assert decision.actions[0].params == {
        "team": "billing",
        "customer": "C-1",
        "missing": None,
        "until": "2026-11-25T16:00:00Z",
        "fixed": 3,
    }


def test_a_contradiction_compiles_and_never_fires(tmp_path: Path) -> None:
    engine = engine_for(tmp_path, one_rule("      - severity: low\n      - severity: high\n"))
    assert not any(fires(engine, make_ticket(severity=s)) for s in ("low", "normal", "high", "urgent"))


@pytest.mark.parametrize("word", ["no", "yes", "on", "off", "NO"])
def test_yaml_1_1_boolean_words_are_strings(tmp_path: Path, word: str) -> None:
    rules = f"  - id: r\n    description: {word}\n    rationale: r\n    then: {{deny: true}}\n"
    assert engine_for(tmp_path, rules).bundle.rules[0].description == word


@pytest.mark.parametrize("when", ["{}", "[{}]", "[{all: [{}]}]"])
def test_an_empty_mapping_as_a_condition_is_refused_saying_it_is_empty(tmp_path: Path, when: str) -> None:
    """It said "a condition must be a mapping", of a mapping."""
    text = (
        "rules:\n  - id: r\n    description: d\n    rationale: r\n    when: "
        + when
        + "\n    then: {deny: true}\n"
    )
    with pytest.raises(csrules.PolicyError) as info:
        csrules.load(write_policy(tmp_path, text))
    assert (info.value.code, info.value.line) == ("invalid-condition", 5)
    assert (
        info.value.message == "an empty mapping is no condition: write `path: test`, or `all`, `any`, `not`"
    )


def test_empty_condition_list_is_refused(tmp_path: Path) -> None:
    with pytest.raises(csrules.PolicyError) as info:
        engine_for(tmp_path, one_rule("      - not: []\n"))
    assert (info.value.code, info.value.line) == ("invalid-condition", 6)


@pytest.mark.parametrize(
    ("value", "expected"), [(1e-05, False), (1.5e-07, True), (-2.5e15, True), (1.5e15, False)]
)
def test_numbers_in_exponent_form_reach_the_engine(tmp_path: Path, value: float, expected: bool) -> None:
    """Regression: durable_rules' JSON parser rejects `1e-05`; csrules writes fixed-point numbers."""
    engine = engine_for(tmp_path, one_rule("      - attributes.x: {lt: 1.0e-6}\n"))
    assert fires(engine, make_ticket(attributes={"x": value})) is expected


def test_trace_shows_each_value_in_its_json_form(tmp_path: Path) -> None:
    rules = one_rule(
        "      - attributes.score: {gt: 0}\n"
        "      - promise.delivery_date: {exists: true}\n"
        "      - request.amount: {gte: 1}\n"
        "      - severity: normal\n"
    )
    ticket = make_ticket(
        attributes={"score": 0.1},
        promise={"delivery_date": "2026-12-01", "earliest_feasible": "2026-11-30"},
        request={"kind": "refund", "amount": "45.5"},
    )
    decision = engine_for(tmp_path, rules).evaluate(ticket, now=NOW)
    actual = {c.path: c.actual for c in decision.trace.step("r").conditions}
    assert actual == {
        "attributes.score": Decimal("0.1"),  # a float becomes the Decimal of its repr
        "promise.delivery_date": "2026-12-01",  # a date its ISO string
        "request.amount": Decimal("45.50"),  # money stays a Decimal
        "severity": "normal",
    }
    assert type(actual["attributes.score"]) is Decimal
    assert csrules.Decision.model_validate_json(decision.to_json()) == decision


def test_a_derived_fact_may_be_named_decision(tmp_path: Path) -> None:
    """`derived.decision` was taken for a `decision.*` test: the rule testing it was refused
    (`decision-rule-effect`), or moved to the decision stage, and its dependency dropped."""
    engine = engine_for(
        tmp_path,
        "  - {id: a, description: a, rationale: r, when: [request.amount: {gt: 10}], then: {derive: {decision: true}}}\n"
        "  - {id: b, description: b, rationale: r, when: [derived.decision: true], then: {require_role: senior}}\n"
        "  - {id: c, description: c, rationale: r, when: [derived.decision: true], then: {actions: [{kind: k}]}}\n",
        header="derived:\n  decision: {type: boolean, description: reviewed}\n",
    )
    decision = engine.evaluate(refund("45.00"), now=NOW)
    assert (decision.outcome, decision.required_role) == ("escalate", "senior")
    assert [(s.rule, s.stage, s.fired) for s in decision.trace.steps] == [
        ("a", 0, True),
        ("b", 1, True),
        ("c", 1, True),
    ]
    assert engine.evaluate(refund("10.00"), now=NOW).trace.fired == []


def test_datetime_literals_compare_as_instants_and_are_shown_as_written(tmp_path: Path) -> None:
    """Kept as written, not converted to UTC: the policy digest covers the text, and decisions
    recorded under the same files must replay byte for byte (docs/language.md)."""
    rules = one_rule(
        "      - opened_at: {gte: 2026-11-23T10:00:00+05:00}\n"
        "      - opened_at: {in: [2026-11-23T09:12:00-05:00, 2026-11-23T14:12:00Z]}\n"
    )
    engine = engine_for(tmp_path, rules)
    decision = engine.evaluate(make_ticket(opened_at="2026-11-23T14:12:00Z"), now=NOW)
    (gte, listed) = decision.trace.step("r").conditions
    assert decision.trace.step("r").fired
    assert (gte.expected, gte.actual) == ("2026-11-23T10:00:00+05:00", "2026-11-23T14:12:00Z")
    assert listed.expected == ["2026-11-23T09:12:00-05:00"]  # one instant, as first written
    # At the instant, and a microsecond before it (the `in` list aside).
    at = make_ticket(opened_at="2026-11-23T10:00:00+05:00")
    before = make_ticket(opened_at="2026-11-23T04:59:59.999999Z")
    assert [c.passed for c in engine.evaluate(at, now=NOW).trace.step("r").conditions] == [True, False]
    assert [c.passed for c in engine.evaluate(before, now=NOW).trace.step("r").conditions] == [False, False]


def test_a_datetime_literal_outside_the_years_of_tickets_stays_as_written(tmp_path: Path) -> None:
    """A sentinel such as `9999-12-31T23:00:00-01:00` has no UTC form in Python's calendar: kept as
    written (`csrules check` says such a rule never fires), not refused."""
    engine = engine_for(tmp_path, one_rule("      - opened_at: {lt: 9999-12-31T23:00:00-01:00}\n"))
    (condition,) = (
        engine.evaluate(make_ticket(opened_at="2026-11-23T10:00:00Z"), now=NOW).trace.step("r").conditions
    )
    assert (condition.expected, condition.passed) == ("9999-12-31T23:00:00-01:00", True)


@pytest.mark.parametrize(
    "literal",
    [
        "2026-1-5 1:00:00 +5",  # YAML 1.1's timestamp: loaded as 2026-01-05T01:00:00+05:00
        "2026-11-23t10:00:00Z",
        "2026-11-23T10:00:00.Z",  # loaded as 10:00:00Z
        "2026-11-23T10:00:00 Z",
        '"2026-11-23T10:00:00+05:30:15"',  # an offset RFC 3339 cannot write: every decision had it
    ],
)
def test_a_datetime_literal_is_read_as_a_ticket_writes_it_quoted_or_not(tmp_path: Path, literal: str) -> None:
    """Unquoted, these loaded (YAML 1.1 resolves them to timestamps), while the same text quoted,
    in a ticket or in `--now` is refused."""
    with pytest.raises(csrules.PolicyError) as info:
        engine_for(tmp_path, one_rule(f"      - opened_at: {{lt: {literal}}}\n"))
    assert f"`opened_at` lt: `opened_at` is datetime, got `{literal.strip(chr(34))}` (expected" in str(
        info.value
    )


def test_yaml_1_1_timestamp_forms_are_text_where_text_is_wanted(tmp_path: Path) -> None:
    path = write_policy(
        tmp_path,
        "rules:\n  - id: r\n    description: 2026-1-5 1:00:00 +5\n    rationale: 2026-11-23t10:00:00z\n"
        "    then: {require_role: senior}\n",
    )
    (rule,) = csrules.load([path]).bundle.rules
    assert (rule.description, rule.rationale) == ("2026-1-5 1:00:00 +5", "2026-11-23t10:00:00z")
    explicit = write_policy(tmp_path, "rules: !!timestamp 2026-1-5\n")
    with pytest.raises(csrules.PolicyError) as info:
        csrules.load([explicit])
    assert str(info.value) == (
        f"{explicit}:1:8: `!!timestamp` needs a date (`2026-12-31`) or a date and time "
        "(`2026-12-31T10:00:00Z`), got `2026-1-5`"
    )


def test_a_datetime_literal_of_another_form_says_what_is_expected(tmp_path: Path) -> None:
    with pytest.raises(csrules.PolicyError) as info:
        engine_for(tmp_path, one_rule("      - opened_at: {lt: 2026-11-23}\n"))
    assert str(info.value).endswith(
        ":6:25: `opened_at` lt: `opened_at` is datetime, got `2026-11-23` (expected a date and time with "
        "a UTC offset in whole minutes, such as `2026-11-23T10:00:00Z`, and at most 6 decimal places of a "
        "second)"
    )


@pytest.mark.parametrize(
    ("written", "message"),
    [
        (
            "opened_at: {lt: 2026-11-23T10:00:00.123456789Z}",
            "a date and time with more than 6 decimal places of a second: `2026-11-23T10:00:00.123456789Z`",
        ),
        ("attributes.stamp: 2026-11-23T10:00:00.1234567Z", "more than 6 decimal places of a second"),
        ("id: 2026-11-23T10:00:00.1234567Z", "more than 6 decimal places of a second"),
        ('opened_at: {lt: "2026-11-23T10:00:00.1234567Z"}', "`opened_at` is datetime, got"),
    ],
)
def test_a_datetime_literal_finer_than_microseconds_is_refused_quoted_or_not(
    tmp_path: Path, written: str, message: str
) -> None:
    """Unquoted, PyYAML cut `.123456789` to `.123456`: a limit the policy does not say, while the
    same text quoted was refused; on a text fact too, as an unquoted datetime with 6 places is."""
    with pytest.raises(csrules.PolicyError) as info:
        engine_for(tmp_path, one_rule(f"      - {written}\n"))
    assert message in str(info.value)
    engine = engine_for(tmp_path, one_rule("      - opened_at: {lt: 2026-11-23T10:00:00.123456Z}\n"))
    (condition,) = engine.evaluate(make_ticket(), now=NOW).trace.step("r").conditions
    assert condition.expected == "2026-11-23T10:00:00.123456Z"
