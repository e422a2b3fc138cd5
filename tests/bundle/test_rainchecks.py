"""Rainchecks honour the sale price of an out-of-stock sale item; others are denied."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

import csrules
from tests.helpers import NOW, make_ticket

SALE_ITEM = {
    "sku": "DELI-HAM",
    "on_sale": True,
    "in_stock": False,
    "regular_price": "8.99",
    "sale_price": "5.99",
}


def raincheck(item: dict[str, Any] | None, amount: str = "3.00") -> dict[str, Any]:
    return make_ticket(request={"kind": "raincheck", "amount": amount}, item=item)


def test_sale_item_out_of_stock_gets_a_raincheck_at_the_sale_price(engine: csrules.Engine) -> None:
    decision = engine.evaluate(raincheck(SALE_ITEM), now=NOW)
    assert decision.outcome == "approve"
    valid_until = NOW + timedelta(days=30)
    assert [(a.kind, a.params, a.rule) for a in decision.actions] == [
        (
            "issue_raincheck",
            {"sku": "DELI-HAM", "honored_price": Decimal("5.99"), "valid_until": "2026-12-23T15:00:00Z"},
            "issue_raincheck",
        )
    ]
    restock = [f for f in decision.follow_ups if f.kind == "restock_notice"]
    assert [(f.due, f.rule) for f in restock] == [(valid_until, "issue_raincheck")]


def test_raincheck_validity_follows_the_parameter() -> None:
    engine = csrules.load(params={"raincheck_valid_days": 7})
    decision = engine.evaluate(raincheck(SALE_ITEM), now=NOW)
    assert decision.actions[0].params["valid_until"] == "2026-11-30T15:00:00Z"
    restock = [f.due for f in decision.follow_ups if f.kind == "restock_notice"]
    assert restock == [NOW + timedelta(days=7)]


@pytest.mark.parametrize(
    ("item", "failing"),
    [
        ({**SALE_ITEM, "in_stock": True}, "item.in_stock"),
        ({**SALE_ITEM, "on_sale": False}, "item.on_sale"),
        ({k: v for k, v in SALE_ITEM.items() if k != "sale_price"}, "item.sale_price"),
        (None, "item.on_sale"),
    ],
)
def test_raincheck_that_does_not_qualify_is_denied(
    engine: csrules.Engine, item: dict[str, Any] | None, failing: str
) -> None:
    decision = engine.evaluate(raincheck(item), now=NOW)
    assert decision.outcome == "deny"
    assert decision.reasons.outcome == ["deny_raincheck"]
    assert not any(a.kind == "issue_raincheck" for a in decision.actions)
    step = decision.trace.step("issue_raincheck")
    assert not step.fired
    assert any(c.path == failing and not c.passed for c in step.conditions)


def test_denied_raincheck_with_no_item_shows_absent_values(engine: csrules.Engine) -> None:
    step = engine.evaluate(raincheck(None), now=NOW).trace.step("deny_raincheck")
    assert step.fired
    inner = [c for c in step.conditions if ".not" in c.where]
    assert [(c.path, c.actual, c.passed) for c in inner] == [
        ("item.on_sale", None, False),
        ("item.in_stock", None, False),
        ("item.sale_price", None, False),
    ]


def test_a_refund_for_a_sale_item_is_no_raincheck(engine: csrules.Engine) -> None:
    ticket = make_ticket(request={"kind": "refund", "amount": "3.00"}, item=SALE_ITEM)
    decision = engine.evaluate(ticket, now=NOW)
    assert decision.outcome == "approve"
    assert not decision.trace.step("issue_raincheck").fired
    assert not decision.trace.step("deny_raincheck").fired
