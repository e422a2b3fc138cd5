"""Follow-ups set once the outcome is known: escalation updates and satisfaction checks."""

from __future__ import annotations

from datetime import timedelta

import pytest

import csrules
from tests.helpers import NOW, make_ticket, refund


@pytest.mark.parametrize(("severity", "hours"), [("urgent", 1), ("high", 4), ("normal", 24), ("low", 48)])
def test_escalated_ticket_gets_an_update_within_its_severity_window(
    engine: csrules.Engine, severity: str, hours: int
) -> None:
    ticket = {**refund("20.01"), "severity": severity}
    decision = engine.evaluate(ticket, now=NOW)
    assert decision.outcome == "escalate"
    assert [(f.kind, f.due, f.rule) for f in decision.follow_ups] == [
        ("escalation_update", NOW + timedelta(hours=hours), f"escalation_update_{severity}")
    ]


@pytest.mark.parametrize(("amount", "checked"), [("0.00", False), ("0.01", True), ("20.00", True)])
def test_approved_remedy_with_a_value_gets_a_satisfaction_check(
    engine: csrules.Engine, amount: str, checked: bool
) -> None:
    decision = engine.evaluate(refund(amount), now=NOW)
    assert decision.outcome == "approve"
    expected = [("satisfaction_check", NOW + timedelta(hours=72))] if checked else []
    assert [(f.kind, f.due) for f in decision.follow_ups] == expected


def test_denied_request_gets_no_follow_up(engine: csrules.Engine) -> None:
    ticket = make_ticket(request={"kind": "raincheck", "amount": "5.00"})
    decision = engine.evaluate(ticket, now=NOW)
    assert (decision.outcome, decision.follow_ups) == ("deny", [])


def test_approval_without_request_gets_no_satisfaction_check(engine: csrules.Engine) -> None:
    assert engine.evaluate(make_ticket(), now=NOW).follow_ups == []


def test_decision_stage_rules_see_the_outcome_in_the_trace(engine: csrules.Engine) -> None:
    decision = engine.evaluate(refund("30.00"), now=NOW)
    step = decision.trace.step("escalation_update_normal")
    assert step.fired
    assert step.stage == max(s.stage for s in decision.trace.steps)
    assert (step.conditions[0].path, step.conditions[0].actual) == ("decision.outcome", "escalate")


def test_window_parameters_can_be_overridden() -> None:
    engine = csrules.load(params={"escalation_update_hours_normal": 8, "satisfaction_check_hours": 24})
    assert engine.evaluate(refund("30.00"), now=NOW).follow_ups[0].due == NOW + timedelta(hours=8)
    assert engine.evaluate(refund("10.00"), now=NOW).follow_ups[0].due == NOW + timedelta(hours=24)
