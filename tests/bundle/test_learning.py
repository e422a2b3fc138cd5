"""Reviews triggered by complaint categories, and honest delivery promises."""

from __future__ import annotations

import pytest

import csrules
from tests.helpers import NOW, make_ticket


@pytest.mark.parametrize(
    ("category", "kinds"),
    [("stock", ["review_stocking_process"]), ("product", ["review_product"]), ("billing", []), ("other", [])],
)
def test_complaint_category_triggers_its_review(
    engine: csrules.Engine, category: str, kinds: list[str]
) -> None:
    decision = engine.evaluate(make_ticket(category=category), now=NOW)
    assert [a.kind for a in decision.actions] == kinds


@pytest.mark.parametrize(
    ("delivery", "feasible", "revised"),
    [
        ("2026-11-25", "2026-11-28", True),
        ("2026-11-27", "2026-11-28", True),  # one day early
        ("2026-11-28", "2026-11-28", False),  # exactly feasible
        ("2026-11-29", "2026-11-28", False),
    ],
)
def test_promise_earlier_than_feasible_is_revised(
    engine: csrules.Engine, delivery: str, feasible: str, revised: bool
) -> None:
    ticket = make_ticket(promise={"delivery_date": delivery, "earliest_feasible": feasible})
    decision = engine.evaluate(ticket, now=NOW)
    expected = [("revise_promise", {"delivery_date": feasible}, "honest_promise")] if revised else []
    assert [(a.kind, a.params, a.rule) for a in decision.actions] == expected
    (condition,) = decision.trace.step("honest_promise").conditions
    assert (condition.actual, condition.expected, condition.fact, condition.passed) == (
        delivery,
        feasible,
        "promise.earliest_feasible",
        revised,
    )
