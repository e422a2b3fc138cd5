"""Abusive customers and complaints about employees go to a supervisor."""

from __future__ import annotations

import pytest

import csrules
from tests.helpers import NOW, make_ticket, refund


def test_abusive_customer_requires_a_supervisor_takeover(engine: csrules.Engine) -> None:
    decision = engine.evaluate(refund("5.00", abusive=True), now=NOW)
    assert (decision.outcome, decision.required_role) == ("escalate", "supervisor")
    assert [(a.kind, a.rule) for a in decision.actions] == [("supervisor_takeover", "abusive_customer")]
    assert decision.reasons.required_role == ["abusive_customer"]


def test_abusive_customer_with_a_large_amount_still_needs_a_manager(engine: csrules.Engine) -> None:
    decision = engine.evaluate(refund("150.00", abusive=True), now=NOW)
    assert decision.required_role == "manager"
    assert decision.reasons.required_role == ["over_supervisor_limit"]
    assert [a.kind for a in decision.actions] == ["supervisor_takeover"]


@pytest.mark.parametrize(
    ("role", "outcome"), [("senior", "escalate"), ("supervisor", "approve"), ("manager", "approve")]
)
def test_abuse_is_handled_by_a_supervisor_or_above(engine: csrules.Engine, role: str, outcome: str) -> None:
    assert engine.evaluate(refund("5.00", role=role, abusive=True), now=NOW).outcome == outcome


def test_not_abusive_means_no_takeover(engine: csrules.Engine) -> None:
    decision = engine.evaluate(refund("5.00", abusive=False), now=NOW)
    assert decision.actions == []
    assert not decision.trace.step("abusive_customer").fired


def test_employee_behaviour_complaint_goes_to_a_supervisor_with_a_review(engine: csrules.Engine) -> None:
    decision = engine.evaluate(make_ticket(category="employee_behavior"), now=NOW)
    assert (decision.outcome, decision.required_role) == ("escalate", "supervisor")
    assert [(a.kind, a.rule) for a in decision.actions] == [
        ("review_agent_performance", "employee_behavior_complaint")
    ]


@pytest.mark.parametrize("category", ["stock", "product", "billing", "delivery", "onboarding", "other"])
def test_other_categories_are_not_employee_complaints(engine: csrules.Engine, category: str) -> None:
    decision = engine.evaluate(make_ticket(category=category), now=NOW)
    assert not decision.trace.step("employee_behavior_complaint").fired
    assert decision.required_role == "front_line"
