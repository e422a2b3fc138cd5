"""The empowerment ladder of the default bundle, at and around every limit."""

from __future__ import annotations

import pytest

import csrules
from tests.helpers import NOW, make_ticket, refund


def decide(
    engine: csrules.Engine, amount: str, role: str = "front_line", **customer: object
) -> csrules.Decision:
    return engine.evaluate(refund(amount, role=role, **customer), now=NOW)


@pytest.mark.parametrize(
    ("amount", "required"),
    [
        ("0.00", "front_line"),
        ("19.99", "front_line"),
        ("20.00", "front_line"),
        ("20.01", "senior"),
        ("49.99", "senior"),
        ("50.00", "senior"),
        ("50.01", "supervisor"),
        ("100.00", "supervisor"),
        ("100.01", "manager"),
        ("1000000000", "manager"),
    ],
)
def test_required_role_for_an_ordinary_customer(engine: csrules.Engine, amount: str, required: str) -> None:
    assert decide(engine, amount).required_role == required


@pytest.mark.parametrize(
    ("amount", "required"),
    [
        ("20.01", "front_line"),
        ("49.99", "front_line"),
        ("50.00", "front_line"),
        ("50.01", "supervisor"),  # above the high-value front-line limit and the senior limit alike
        ("100.00", "supervisor"),
        ("100.01", "manager"),
    ],
)
@pytest.mark.parametrize("tier", ["loyal", "advocate"])
def test_required_role_for_a_high_value_tier(
    engine: csrules.Engine, amount: str, required: str, tier: str
) -> None:
    assert decide(engine, amount, tier=tier).required_role == required


def test_twenty_dollars_is_within_the_front_line_limit(engine: csrules.Engine) -> None:
    decision = decide(engine, "20.00")
    assert (decision.outcome, decision.required_role) == ("approve", "front_line")
    assert decision.reasons == csrules.Reasons(outcome=[], required_role=[])


def test_one_cent_over_front_line_limit_escalates_to_senior(engine: csrules.Engine) -> None:
    decision = decide(engine, "20.01")
    assert (decision.outcome, decision.required_role) == ("escalate", "senior")
    assert decision.reasons.outcome == ["over_front_line_limit"]
    step = decision.trace.step("over_front_line_limit")
    amount = next(c for c in step.conditions if c.path == "request.amount")
    assert (amount.op, str(amount.expected), str(amount.actual), amount.param) == (
        "gt",
        "20.00",
        "20.01",
        "front_line_limit",
    )


def test_loyal_customers_45_dollar_refund_is_approved_at_the_front_line(engine: csrules.Engine) -> None:
    decision = decide(engine, "45.00", tier="loyal")
    assert (decision.outcome, decision.required_role) == ("approve", "front_line")
    assert decision.trace.derived == {"high_value": True}
    assert decision.trace.step("high_value_customer").fired


@pytest.mark.parametrize(
    ("lifetime_value", "high_value"),
    [("999.99", False), ("1000.00", True), ("1000.01", True)],
)
def test_lifetime_value_threshold_makes_a_customer_high_value(
    engine: csrules.Engine, lifetime_value: str, high_value: bool
) -> None:
    decision = decide(engine, "45.00", tier="one_time", lifetime_value=lifetime_value)
    assert decision.trace.derived["high_value"] is high_value
    assert decision.required_role == ("front_line" if high_value else "senior")


@pytest.mark.parametrize(
    ("role", "amount", "outcome"),
    [
        ("senior", "50.00", "approve"),
        ("senior", "50.01", "escalate"),
        ("supervisor", "100.00", "approve"),
        ("supervisor", "100.01", "escalate"),
        ("manager", "100000.00", "approve"),
    ],
)
def test_each_role_decides_alone_up_to_its_limit(
    engine: csrules.Engine, role: str, amount: str, outcome: str
) -> None:
    assert decide(engine, amount, role=role).outcome == outcome


def test_a_ticket_without_a_request_needs_no_more_than_front_line(engine: csrules.Engine) -> None:
    decision = engine.evaluate(make_ticket(), now=NOW)
    assert (decision.outcome, decision.required_role, decision.actions, decision.follow_ups) == (
        "approve",
        "front_line",
        [],
        [],
    )


def test_parameters_move_the_limits(engine: csrules.Engine) -> None:
    raised = csrules.load(params={"front_line_limit": 35})
    assert raised.evaluate(refund("35.00"), now=NOW).required_role == "front_line"
    assert raised.evaluate(refund("35.01"), now=NOW).required_role == "senior"
    assert raised.policy_digest != engine.policy_digest
