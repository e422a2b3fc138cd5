"""Ticket validation: every malformed ticket is a TicketError naming the JSON pointer."""

from __future__ import annotations

import typing
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from pydantic import BaseModel

import csrules
from csrules.ticket import FACT_TYPES
from tests.helpers import NOW, make_ticket, refund


def error_for(engine: csrules.Engine, ticket: Any) -> csrules.TicketError:
    with pytest.raises(csrules.TicketError) as info:
        engine.evaluate(ticket, now=NOW)
    return info.value


def with_amount(amount: Any) -> dict[str, Any]:
    return make_ticket(request={"kind": "refund", "amount": amount})


@pytest.mark.parametrize(
    ("amount", "expected"),
    [
        (-1, "money >= 0"),
        ("-0.01", "money >= 0"),
        (float("nan"), "money (a finite number)"),
        ("NaN", "money (a finite number)"),
        (float("inf"), "money (a finite number)"),
        ("1.005", "money with at most 2 decimal places"),
        (1.005, "money with at most 2 decimal places"),
        ("abc", "money (a decimal number or numeric string)"),
        ("", "money (a decimal number or numeric string)"),
        (True, "money (a decimal number or numeric string)"),
        (None, "money (a decimal number or numeric string)"),
        ([1], "money (a decimal number or numeric string)"),
        ("1000000000.01", "money <= 1000000000"),
    ],
)
def test_malformed_amount_is_rejected_at_its_pointer(
    engine: csrules.Engine, amount: Any, expected: str
) -> None:
    error = error_for(engine, with_amount(amount))
    assert (error.path, error.code, error.expected) == ("/request/amount", "invalid-money", expected)
    assert str(error).startswith("ticket /request/amount: expected ")


@pytest.mark.parametrize(
    ("amount", "value"),
    [
        (45, "45.00"),
        ("45.1", "45.10"),
        (45.1, "45.10"),
        ("1000000000", "1000000000.00"),
        (Decimal("0.5"), "0.50"),
    ],
)
def test_money_accepts_numbers_and_numeric_strings(engine: csrules.Engine, amount: Any, value: str) -> None:
    facts = engine.evaluate(with_amount(amount), now=NOW).trace.facts
    assert facts.request is not None
    assert str(facts.request.amount) == value


@pytest.mark.parametrize(
    ("ticket", "path", "code"),
    [
        (make_ticket(request={"kind": "refund", "amout": 5}), "/request/amout", "unknown-field"),
        (make_ticket(colour="red"), "/colour", "unknown-field"),
        (make_ticket(channel="fax"), "/channel", "invalid-enum"),
        (make_ticket(severity="URGENT"), "/severity", "invalid-enum"),
        (make_ticket(agent=None), "/agent", "missing-field"),
        (make_ticket(agent={"id": "A-1", "role": "intern"}), "/agent/role", "invalid-enum"),
        (make_ticket(customer={"id": 7}), "/customer/id", "invalid-type"),
        (make_ticket(customer={"id": "C", "abusive": 1}), "/customer/abusive", "invalid-type"),
        (make_ticket(customer={"id": "C", "abusive": "true"}), "/customer/abusive", "invalid-type"),
        (make_ticket(id=""), "/id", "invalid-text"),
        (make_ticket(opened_at="2026-11-23T10:00:00"), "/opened_at", "naive-datetime"),
        (make_ticket(opened_at=1700000000), "/opened_at", "invalid-datetime"),
        (
            make_ticket(request={"kind": "refund", "amount": 5, "currency": "usd"}),
            "/request/currency",
            "invalid-currency",
        ),
        (
            make_ticket(promise={"delivery_date": "2026-02-30", "earliest_feasible": "2026-03-01"}),
            "/promise/delivery_date",
            "invalid-date",
        ),
        (make_ticket(item={"sku": "X", "on_sale": True}), "/item/in_stock", "missing-field"),
        (make_ticket(attributes={"Order": "x"}), "/attributes/Order", "invalid-attribute-name"),
        (make_ticket(attributes={"a/b": "x"}), "/attributes/a~1b", "invalid-attribute-name"),
        # A field named like pydantic's marker for a dict key is still an unknown field.
        (make_ticket(**{"[key]": "x"}), "/[key]", "unknown-field"),
        (make_ticket(customer={"id": "C", "[key]": 1}), "/customer/[key]", "unknown-field"),
        (make_ticket(attributes={"[key]": 1}), "/attributes/[key]", "invalid-attribute-name"),
        (make_ticket(attributes={"x": "\ud800"}), "/attributes/x", "invalid-text"),
        (make_ticket(customer={"id": "\ud800"}), "/customer/id", "invalid-text"),
        (make_ticket(attributes={"x": 1e19}), "/attributes/x", "invalid-attribute"),
        (make_ticket(attributes={"x": 2**53}), "/attributes/x", "invalid-attribute"),
        (make_ticket(opened_at="2026-01-01T00:00:00+00:00:30"), "/opened_at", "invalid-datetime"),
        (make_ticket(opened_at="0001-01-01T00:00:00Z"), "/opened_at", "invalid-datetime"),
        (make_ticket(request={"kind": "refund", "amount": 10**5000}), "/request/amount", "invalid-money"),
        (make_ticket(id=10**5000), "/id", "invalid-type"),
        (make_ticket(attributes={"order": [1]}), "/attributes/order", "invalid-attribute"),
        (make_ticket(attributes={"score": float("nan")}), "/attributes/score", "invalid-attribute"),
        (make_ticket(attributes={f"a{i}": 1 for i in range(65)}), "/attributes", "too-many-attributes"),
    ],
)
def test_malformed_ticket_names_the_pointer(
    engine: csrules.Engine, ticket: Any, path: str, code: str
) -> None:
    error = error_for(engine, ticket)
    assert (error.path, error.code) == (path, code)
    assert path in str(error)


def test_unknown_field_suggests_the_field_meant(engine: csrules.Engine) -> None:
    error = error_for(engine, make_ticket(request={"kind": "refund", "amout": 5}))
    assert "did you mean `amount`?" in error.expected
    assert error.got == "`5`"


def test_wrong_currency_is_a_ticket_error(engine: csrules.Engine) -> None:
    error = error_for(engine, make_ticket(request={"kind": "refund", "amount": 5, "currency": "EUR"}))
    assert (error.path, error.code) == ("/request/currency", "currency-mismatch")
    assert (
        str(error)
        == "ticket /request/currency: expected `USD` (the bundle currency), got `EUR` [currency-mismatch]"
    )


@pytest.mark.parametrize("ticket", [None, [], "ticket", 42])
def test_a_ticket_must_be_a_mapping(engine: csrules.Engine, ticket: Any) -> None:
    error = error_for(engine, ticket)
    assert (error.path, error.code) == ("", "invalid-type")


def test_pointer_escapes_follow_rfc_6901(engine: csrules.Engine) -> None:
    error = error_for(engine, make_ticket(**{"a/b~c": 1}))
    assert error.path == "/a~1b~0c"


def test_ticket_error_is_a_value_error(engine: csrules.Engine) -> None:
    assert isinstance(error_for(engine, with_amount(-1)), ValueError)


def test_json_form_round_trips_through_the_model(engine: csrules.Engine) -> None:
    ticket = {
        **refund("45.10"),
        "opened_at": "2026-11-23T09:00:00-05:00",
        "promise": {"delivery_date": "2026-11-25", "earliest_feasible": "2026-11-26"},
        "attributes": {"score": 0.1, "count": 3, "vip": True, "note": "café"},
    }
    facts = engine.evaluate(ticket, now=NOW).trace.facts
    assert csrules.Ticket.model_validate_json(facts.model_dump_json()) == facts
    assert facts.opened_at == datetime(2026, 11, 23, 14, 0, tzinfo=UTC)


def test_a_ticket_model_is_accepted_as_is(engine: csrules.Engine) -> None:
    model = csrules.Ticket.model_validate(refund("5"))
    assert engine.evaluate(model, now=NOW).trace.facts is model


def _leaves(model: type[BaseModel], prefix: str = "") -> set[str]:
    out: set[str] = set()
    for name, field in model.model_fields.items():
        args = typing.get_args(field.annotation) or (field.annotation,)
        nested = [a for a in args if isinstance(a, type) and issubclass(a, BaseModel)]
        if nested:
            out |= _leaves(nested[0], f"{prefix}{name}.")
        elif name != "attributes":
            out.add(f"{prefix}{name}")
    return out


def test_fact_types_cover_every_ticket_field() -> None:
    assert set(FACT_TYPES) == _leaves(csrules.Ticket)
