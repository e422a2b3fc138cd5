"""Ticket validation: every malformed ticket is a TicketError naming the JSON pointer."""

from __future__ import annotations

import json
import sys
import typing
import unicodedata
from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel

import csrules
from csrules.ticket import FACT_TYPES, Agent, Request
from tests.helpers import NOW, Float64, LyingInt, Zone, make_ticket, refund, write_policy


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
        # money text has no sign: `-0` and `-0.00` were read as 0.00, which the ticket schema refuses
        ("-0", "money >= 0"),
        ("-0.00", "money >= 0"),
        (float("nan"), "money (a finite number)"),
        ("NaN", "money (a finite number)"),
        (float("inf"), "money (a finite number)"),
        ("1.005", "money with at most 2 decimal places"),
        (1.005, "money with at most 2 decimal places"),
        ("abc", "money (a number, or its digits as text such as `45.00`)"),
        ("", "money (a number, or its digits as text such as `45.00`)"),
        (True, "money (a number, or its digits as text such as `45.00`)"),
        (None, "money (a number, or its digits as text such as `45.00`)"),
        ([1], "money (a number, or its digits as text such as `45.00`)"),
        ("1000000000.01", "money <= 1000000000"),
        ("5_000", "money (a number, or its digits as text such as `45.00`)"),  # Decimal() reads 5000
        ("\u0664\u0665", "money (a number, or its digits as text such as `45.00`)"),  # Arabic-Indic 45
        # str() of it raised "Exceeds the limit (4300 digits)", shown as the expectation
        pytest.param(10**5000, "money <= 1000000000", id="int-of-5001-digits"),
        pytest.param(-(10**5000), "money >= 0", id="negative-int-of-5001-digits"),
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


def _amount_or_error(engine: csrules.Engine, amount: Any) -> str:
    try:
        facts = engine.evaluate(with_amount(amount), now=NOW).trace.facts
    except csrules.TicketError as error:
        return f"error: {error.expected}"
    assert facts.request is not None
    return str(facts.request.amount)


@given(
    st.one_of(
        st.integers(min_value=0, max_value=10**5),
        st.integers(min_value=10**11 - 200, max_value=10**11 + 200),
        st.integers(min_value=0, max_value=10**12 - 1),
    ),
    st.sampled_from(["", "0", "00"]),
)
def test_money_text_int_and_decimal_read_alike(engine: csrules.Engine, cents: int, zeros: str) -> None:
    """`45.00` and whole ints have a shortcut in the money reader: same values, same digits, same
    errors as the general path (a Decimal), on both sides of the limit (100,000,000,000 cents)."""
    text = f"{zeros}{cents // 100}.{cents % 100:02d}"
    expected = _amount_or_error(engine, Decimal(cents).scaleb(-2))
    assert _amount_or_error(engine, text) == expected
    if cents % 100 == 0:
        assert _amount_or_error(engine, cents // 100) == expected


@pytest.mark.parametrize(
    ("amount", "expected"),
    [
        ("1000000000.00", "1000000000.00"),
        ("1000000000.01", "error: money <= 1000000000"),
        ("9999999999.99", "error: money <= 1000000000"),
        ("99999999999.99", "error: money <= 1000000000"),
        (1000000000, "1000000000.00"),
        (1000000001, "error: money <= 1000000000"),
        ("0.00", "0.00"),
        ("45.00", "45.00"),
        ("45.000", "45.00"),
    ],
)
def test_money_limit_in_each_written_form(engine: csrules.Engine, amount: Any, expected: str) -> None:
    assert _amount_or_error(engine, amount) == expected


@pytest.mark.parametrize("zero", [-0.0, Decimal("-0"), 0, "0"])
def test_negative_zero_is_zero_in_the_decision(engine: csrules.Engine, zero: Any) -> None:
    """`-0` gave `"amount":-0.0`: equal tickets, different bytes. (As text, `"-0"` is refused: money
    text has no sign.)"""
    decision = engine.evaluate(with_amount(zero), now=NOW)
    assert decision.trace.facts.request is not None
    assert str(decision.trace.facts.request.amount) == "0.00"
    assert decision.to_json() == engine.evaluate(with_amount("0.00"), now=NOW).to_json()


@pytest.mark.parametrize(
    ("ticket", "path", "code"),
    [
        (make_ticket(request={"kind": "refund", "amout": 5}), "/request/amout", "unknown-field"),
        (make_ticket(colour="red"), "/colour", "unknown-field"),
        (make_ticket(channel="fax"), "/channel", "invalid-enum"),
        (make_ticket(severity="URGENT"), "/severity", "invalid-enum"),
        (make_ticket(agent=None), "/agent", "missing-field"),
        (make_ticket(agent={"id": "A-1", "role": "intern"}), "/agent/role", "invalid-enum"),
        # a value of the wrong JSON type is invalid-type, as errors.md says (it was invalid-enum)
        (make_ticket(agent={"id": "A-1", "role": 1}), "/agent/role", "invalid-type"),
        (make_ticket(channel=5), "/channel", "invalid-type"),
        (make_ticket(customer={"id": "C-1", "tier": True}), "/customer/tier", "invalid-type"),
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


@pytest.mark.parametrize(
    ("ticket", "message"),
    [
        (
            {**make_ticket(), 1: "x"},
            "ticket: expected string keys (a JSON object's keys are text), got the key `1`",
        ),
        (
            make_ticket(customer={"id": "C", None: 1}),
            "ticket /customer: expected string keys (a JSON object's keys are text), got the key `None`",
        ),
        # Was `ticket /attributes/None: expected an attribute name ..., got `"None"``: a key
        # written as the text it is not.
        (
            make_ticket(attributes={None: 1}),
            "ticket /attributes: expected string keys (a JSON object's keys are text), got the key `None`",
        ),
        (
            make_ticket(attributes={"ok": 1, 2.5: 1}),
            "ticket /attributes: expected string keys (a JSON object's keys are text), got the key `2.5`",
        ),
    ],
)
def test_a_key_that_is_no_string_is_named_as_given(engine: csrules.Engine, ticket: Any, message: str) -> None:
    error = error_for(engine, ticket)
    assert (str(error), error.code) == (f"{message} [invalid-type]", "invalid-type")


def test_unknown_field_suggests_the_field_meant(engine: csrules.Engine) -> None:
    error = error_for(engine, make_ticket(request={"kind": "refund", "amout": 5}))
    assert "did you mean `amount`?" in error.expected
    assert error.got == "`5`"


def test_wrong_currency_is_a_ticket_error(engine: csrules.Engine) -> None:
    error = error_for(engine, make_ticket(request={"kind": "refund", "amount": 5, "currency": "EUR"}))
    assert (error.path, error.code) == ("/request/currency", "currency-mismatch")
    assert (
        str(error)
        == 'ticket /request/currency: expected `USD` (the bundle currency), got `"EUR"` [currency-mismatch]'
    )


def test_a_request_naming_no_currency_is_in_the_bundles_currency() -> None:
    """Under a EUR bundle, a request without `currency` was refused as `USD` (the model's
    default), a value the ticket never gave."""
    euro = csrules.load(params={"currency": "EUR"})
    ticket = make_ticket(request={"kind": "refund", "amount": "45.00"})
    decision = euro.evaluate(ticket, now=NOW)
    assert decision.trace.facts.request is not None
    assert decision.trace.facts.request.currency == "EUR"
    assert json.loads(decision.to_json())["trace"]["facts"]["request"]["currency"] == "EUR"
    assert (decision.outcome, decision.required_role) == ("escalate", "senior")
    assert csrules.verify(euro, decision.to_json()).status == "identical"
    assert [d.to_json() for d in euro.evaluate_many([ticket], now=NOW, trace=True)] == [decision.to_json()]
    named = euro.evaluate(
        make_ticket(request={"kind": "refund", "amount": "45.00", "currency": "EUR"}), now=NOW
    )
    assert named.to_json() == decision.to_json()
    error = error_for(euro, make_ticket(request={"kind": "refund", "amount": "45.00", "currency": "USD"}))
    assert str(error) == (
        'ticket /request/currency: expected `EUR` (the bundle currency), got `"USD"` [currency-mismatch]'
    )
    usd = csrules.load().evaluate(ticket, now=NOW)  # the default bundle is in USD: unchanged
    assert usd.trace.facts.request is not None
    assert usd.trace.facts.request.currency == "USD"


def test_a_ticket_model_naming_no_currency_round_trips_in_any_bundle() -> None:
    """A `csrules.Ticket` built in Python without a currency read `request.currency == "USD"`
    whatever the bundle: its own dump (`model_dump`, to queue or store it) named USD, and a EUR
    bundle that decided the model refused the dump (`currency-mismatch`)."""
    euro = csrules.load(params={"currency": "EUR"})
    raw = make_ticket(request={"kind": "refund", "amount": "15.00"})
    model = csrules.Ticket.model_validate(raw)
    assert model.request is not None
    assert model.request.currency is None
    expected = euro.evaluate(raw, now=NOW).to_json()
    forms = [
        model,
        model.model_dump(mode="json"),
        json.loads(model.model_dump_json()),
        csrules.Ticket.model_validate_json(model.model_dump_json()),
        make_ticket(request={"kind": "refund", "amount": "15.00", "currency": None}),  # null: as absent
    ]
    assert [euro.evaluate(form, now=NOW).to_json() for form in forms] == [expected] * len(forms)
    assert json.loads(expected)["trace"]["facts"]["request"]["currency"] == "EUR"


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


def test_a_ticket_model_is_validated_again_keeping_its_fields_set(engine: csrules.Engine) -> None:
    model = csrules.Ticket.model_validate(refund("5"))
    facts = engine.evaluate(model, now=NOW).trace.facts
    assert model.request is not None
    assert facts.request is not None
    # The one difference: the request's currency, unnamed in the model, is the bundle's.
    assert (model.request.currency, facts.request.currency) == (None, "USD")
    assert facts.model_dump(exclude={"request"}) == model.model_dump(exclude={"request"})
    assert facts.model_fields_set == model.model_fields_set == {"id", "customer", "agent", "request"}
    assert facts.request.model_fields_set == model.request.model_fields_set == {"kind", "amount"}


def test_an_attribute_name_too_long_says_so(engine: csrules.Engine) -> None:
    """The message named the letters allowed, which a 65-letter name has: not the length."""
    error = error_for(engine, make_ticket(attributes={"a" * 65: 1}))
    assert (error.path, error.code) == ("/attributes/" + "a" * 65, "invalid-attribute-name")
    assert error.expected == (
        "an attribute name of at most 64 lowercase letters, digits and _, not starting with a digit"
    )
    assert engine.evaluate(make_ticket(attributes={"a" * 64: 1}), now=NOW).outcome == "approve"


def test_models_made_without_validation_are_validated(engine: csrules.Engine) -> None:
    """`model_construct` skips validation: such a model, whole or in place of a part, is checked
    like a dict would be (it was trusted as it was, and decided a negative refund)."""
    bad_request = Request.model_construct(kind="refund", amount=Decimal("-5"))
    error = error_for(engine, {**refund("5"), "request": bad_request})
    assert (error.path, error.code, error.expected) == ("/request/amount", "invalid-money", "money >= 0")
    bad_agent = Agent.model_construct(id="A", role="boss")
    error = error_for(engine, {**refund("5"), "agent": bad_agent})
    assert (error.path, error.code) == ("/agent/role", "invalid-enum")
    error = error_for(engine, csrules.Ticket.model_construct(id="x"))
    assert (error.path, error.code) == ("/customer", "missing-field")


class _Unreadable(dict[str, Any]):
    def keys(self) -> Any:
        raise RuntimeError("no keys")

    def __iter__(self) -> Any:
        raise RuntimeError("no iteration")


class _Unprintable:
    def __str__(self) -> str:
        raise RuntimeError("no text")

    __repr__ = __str__


def test_objects_that_fail_while_read_are_ticket_errors(engine: csrules.Engine) -> None:
    error = error_for(engine, _Unreadable(refund("5")))
    assert (error.path, error.code, error.got) == (
        "",
        "invalid-type",
        "`RuntimeError` raised while reading the ticket",
    )
    assert error.expected == "plain JSON values (dict, list, str, int, float, bool, null)"
    error = error_for(engine, with_amount(_Unprintable()))
    assert (error.path, error.code, error.got) == (
        "/request/amount",
        "invalid-money",
        "`a _Unprintable that cannot be shown`",
    )
    error = error_for(engine, {**refund("5"), "id": _Unprintable()})
    assert (error.path, error.code) == ("/id", "invalid-type")


@pytest.mark.parametrize("offset", [RuntimeError("broken"), "+01:00", timedelta(hours=30)])
def test_a_failing_tzinfo_is_an_invalid_datetime(engine: csrules.Engine, offset: Any) -> None:
    opened = datetime(2026, 11, 23, 9, 0, tzinfo=Zone(offset))
    error = error_for(engine, {**refund("5"), "opened_at": opened})
    assert (error.path, error.code) == ("/opened_at", "invalid-datetime")
    assert error.expected == "a UTC offset strictly between -24 and +24 hours"
    with pytest.raises(csrules.TicketError) as info:
        engine.evaluate(refund("5"), now=opened)
    assert (info.value.path, info.value.code) == ("", "invalid-now")


@pytest.mark.parametrize(
    "now",
    [
        datetime(1900, 1, 1, 0, 0, tzinfo=timezone(timedelta(hours=1))),  # 1899-12-31T23:00Z
        datetime(9000, 12, 31, 23, 59, tzinfo=timezone(timedelta(hours=-1))),  # 9001-01-01T00:59Z
    ],
)
def test_now_is_within_the_years_1900_to_9000_in_utc(engine: csrules.Engine, now: datetime) -> None:
    """In local time it is within range; the decision would record `evaluated_at` in UTC, which
    replay refuses: so it is refused up front."""
    with pytest.raises(csrules.TicketError) as info:
        engine.evaluate(refund("5"), now=now)
    assert info.value.code == "invalid-now"
    assert info.value.expected.endswith("between the years 1900 and 9000 in UTC")
    inside = now.replace(hour=1) if now.year == 1900 else now.replace(hour=22)
    assert engine.verify(engine.evaluate(refund("5"), now=inside)).ok


def test_a_key_with_a_line_break_gives_a_one_line_message(engine: csrules.Engine) -> None:
    error = error_for(engine, make_ticket(**{"a\nb": 1}))
    assert error.path == "/a\nb"  # the pointer itself is the key as given
    assert str(error).startswith("ticket /a\\nb: expected one of the fields ")
    assert "\n" not in str(error)


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


def test_the_whole_ticket_and_a_key_named_empty_are_told_apart(engine: csrules.Engine) -> None:
    """Both read `ticket /: ...`, though "" (the whole ticket) and "/" (a key "") differ."""
    whole = error_for(engine, [])
    assert whole.path == ""
    assert str(whole).startswith("ticket: expected a JSON object")
    keyed = error_for(engine, {**make_ticket(), "": 1})
    assert keyed.path == "/"
    assert str(keyed).startswith("ticket /: expected one of the fields ")


def test_a_message_quoting_a_lone_surrogate_can_be_printed(engine: csrules.Engine) -> None:
    """`print(str(error))` raised UnicodeEncodeError for a key holding a lone surrogate."""
    error = error_for(engine, {**make_ticket(), "x\ud800": 1})
    assert error.path == "/x\ud800"  # the pointer is the key as given
    assert "/x\\ud800: expected" in str(error)
    str(error).encode("utf-8")  # printable


@pytest.mark.parametrize(
    ("ticket", "path", "got"),
    [
        (make_ticket(id="T\ud800"), "/id", '`"T\\ud800"`'),
        (make_ticket(channel="fax\x85x"), "/channel", '`"fax\\x85x"`'),
        (make_ticket(channel="fax\u2028x"), "/channel", '`"fax\\u2028x"`'),
        (make_ticket(channel="fax\x9bx"), "/channel", '`"fax\\x9bx"`'),
    ],
)
def test_got_is_written_escaped_as_the_docs_say(
    engine: csrules.Engine, ticket: dict[str, Any], path: str, got: str
) -> None:
    """`str(error)` was escaped but `.got` kept the raw surrogate (`.got.encode()` raised) or line
    break (`.got.splitlines()` gave two lines)."""
    error = error_for(engine, ticket)
    assert (error.path, error.got) == (path, got)
    error.got.encode("utf-8")
    assert got in str(error)


@pytest.mark.parametrize(
    ("attributes", "got"),
    [
        ({"x": (1, 2)}, "`(1, 2)`"),
        ({"x": [1, (2,)]}, "`[1, (2,)]`"),
        ({"x": [1, 2]}, "`[1, 2]`"),  # a JSON array: as JSON
    ],
)
def test_a_tuple_is_not_shown_as_a_json_array(
    engine: csrules.Engine, attributes: dict[str, Any], got: str
) -> None:
    """A tuple, no JSON value, was shown as `[1, 2]`, which reads as the array that was not sent."""
    error = error_for(engine, make_ticket(attributes=attributes))
    assert (error.path, error.code, error.got) == ("/attributes/x", "invalid-attribute", got)


def test_got_of_a_value_holding_itself_is_shown(engine: csrules.Engine) -> None:
    looped: list[Any] = [1]
    looped.append(looped)
    error = error_for(engine, make_ticket(attributes={"x": looped}))
    assert error.got == "`a list that cannot be shown`"


def test_number_subclasses_are_read_as_their_plain_values(tmp_path: Path) -> None:
    """A float subclass of 1e-05 reached the engine as `1e-05` (error 204): after 4 such tickets
    the ruleset was disabled for every Engine of the bundle. A subclass's repr made money
    `InvalidOperation`, and an int whose comparisons lie got past the 2**53 limit."""
    policy = tmp_path / "p.yaml"
    policy.write_text(
        "rules:\n  - id: r\n    description: d\n    rationale: r\n"
        "    when: [{attributes.score: {lt: 0.5}}, {attributes.n: {gt: 5}}]\n    then: {deny: true}\n",
        encoding="utf-8",
    )
    engine = csrules.load([str(policy)])
    for _ in range(6):  # more than the engine failures that disable a ruleset
        decision = engine.evaluate(
            make_ticket(attributes={"score": Float64(1e-05), "n": LyingInt(7)}), now=NOW
        )
        assert decision.outcome == "deny"
    assert decision.trace.facts.attributes == {"score": 1e-05, "n": 7}
    assert {k: type(v) for k, v in decision.trace.facts.attributes.items()} == {"score": float, "n": int}
    error = error_for(engine, make_ticket(attributes={"n": LyingInt(2**60)}))
    assert (error.path, error.code) == ("/attributes/n", "invalid-attribute")
    default = csrules.load()
    subclassed = make_ticket(
        customer={"id": "C", "lifetime_value": Float64(1000.0)},
        request={"kind": "refund", "amount": LyingInt(30)},
    )
    plain = make_ticket(
        customer={"id": "C", "lifetime_value": 1000.0}, request={"kind": "refund", "amount": 30}
    )
    assert default.evaluate(subclassed, now=NOW).to_json() == default.evaluate(plain, now=NOW).to_json()


@pytest.mark.parametrize(
    ("given", "read"),
    [
        (Decimal("1.5"), 1.5),
        (Decimal("0.1"), 0.1),
        (Decimal("5"), 5),
        (Decimal("5.0"), 5.0),
        (Decimal("5E+1"), 50.0),
        (Decimal("-0"), 0),
        (Decimal(2**53 - 1), 2**53 - 1),
    ],
)
def test_a_decimal_attribute_is_read_as_json_reads_its_text(
    tmp_path: Path, given: Decimal, read: float
) -> None:
    """A database's NUMERIC column comes to Python as a Decimal: it was refused as an attribute
    (`invalid-attribute`) though money facts take Decimals. It is read as the CLI reads the same
    number in a ticket's JSON: an int, or a float that holds it exactly; the decision is the one
    the JSON ticket gets, byte for byte."""
    rule = "    rationale: r\n    when: [{attributes.x: {gte: 0.1}}]\n    then: {deny: true}\n"
    engine = csrules.load([str(write_policy(tmp_path, "rules:\n  - id: r\n    description: d\n" + rule))])
    decision = engine.evaluate(make_ticket(attributes={"x": given}), now=NOW)
    (value,) = decision.trace.facts.attributes.values()
    assert (type(value), value) == (type(read), read)
    as_json = json.loads(
        json.dumps(make_ticket(attributes={"x": str(given)})).replace(f'"{given}"', str(given))
    )
    assert decision.to_json() == engine.evaluate(as_json, now=NOW).to_json()
    assert decision.outcome == ("deny" if read >= 0.1 else "approve")


@pytest.mark.parametrize(
    "given",
    [
        Decimal("0.1000000000000000055511151231257827"),
        Decimal("NaN"),
        Decimal("Infinity"),
        Decimal("1e-400"),
        Decimal("9007199254740991.5"),
        Decimal("1" + "0" * 5000),
    ],
)
def test_a_decimal_attribute_no_double_holds_is_refused(engine: csrules.Engine, given: Decimal) -> None:
    error = error_for(engine, make_ticket(attributes={"x": given}))
    assert (error.path, error.code) == ("/attributes/x", "invalid-attribute")
    assert error.expected == "a number with |n| < 2**53 that a double holds exactly, a string or a boolean"
    error = error_for(engine, make_ticket(attributes={"x": Decimal(2**53)}))
    assert (error.code, error.got) == ("invalid-attribute", "`Decimal('9007199254740992')`")


class _ShownDate(date):
    def isoformat(self) -> str:  # the trace would show another date than the engine decided on
        return "1999-01-01"


class _RaisingDate(date):
    def isoformat(self) -> str:
        raise RuntimeError("isoformat failed")


class _LyingDate(date):
    def __lt__(self, other: object) -> bool:  # the trace's comparison would disagree with the engine's
        return False


@pytest.mark.parametrize("kind", [_ShownDate, _RaisingDate, _LyingDate])
def test_a_date_subclass_is_read_as_its_plain_date(kind: type[date]) -> None:
    """Its own methods reached the trace: a decision that failed its own replay (`isoformat`),
    a RuntimeError out of evaluate(), or an EngineError for bad input (`__lt__`)."""
    engine = csrules.load()

    def ticket(delivery: date) -> dict[str, Any]:
        return make_ticket(promise={"delivery_date": delivery, "earliest_feasible": date(2026, 1, 5)})

    odd, plain = (
        engine.evaluate(ticket(kind(2026, 1, 1)), now=NOW),
        engine.evaluate(ticket(date(2026, 1, 1)), now=NOW),
    )
    assert odd.to_json() == plain.to_json()
    assert "honest_promise" in plain.trace.fired  # 2026-01-01 is earlier than feasible
    assert type(odd.trace.facts.promise.delivery_date) is date  # type: ignore[union-attr]
    assert engine.verify(odd).status == "identical"
    [untraced] = engine.evaluate_many([ticket(kind(2026, 1, 1))], now=NOW, trace=False)
    assert isinstance(untraced, csrules.Decision)
    assert "honest_promise" in untraced.trace.fired


@pytest.mark.parametrize(
    ("amount", "decided"),
    [("20", "20.00"), ("20.5", "20.50"), ("20.000", "20.00"), ("0", "0.00")]
    + [(text, None) for text in ("1e3", "+20", " 20", "20 ", ".5", "20.", "5_000", "0x10", "")],
)
def test_money_as_text_is_digits_with_an_optional_fraction(
    engine: csrules.Engine, amount: str, decided: str | None
) -> None:
    """`"1e3"`, `"+20"`, `" 20"` and `".5"` were read as numbers, though the docs say money as text
    is ASCII digits."""
    ticket = make_ticket(request={"kind": "refund", "amount": amount})
    if decided is not None:
        facts = engine.evaluate(ticket, now=NOW).trace.facts
        assert facts.request is not None
        assert str(facts.request.amount) == decided
        return
    error = error_for(engine, ticket)
    assert (error.path, error.code) == ("/request/amount", "invalid-money")
    assert error.expected == "money (a number, or its digits as text such as `45.00`)"


@pytest.mark.parametrize(
    ("data", "got"),
    [
        (None, "null"),
        ([1, 2], "an array"),
        ("T-1", "a string"),
        (45, "a number"),
        (True, "a boolean"),
        (b"{}", "a Python `bytes`"),
    ],
)
def test_a_ticket_that_is_no_object_is_named_by_its_json_kind(
    engine: csrules.Engine, data: object, got: str
) -> None:
    """`csrules eval` of a file holding `null` said `got "NoneType"`: Python's name, not JSON's."""
    with pytest.raises(csrules.TicketError) as info:
        engine.evaluate(data)  # type: ignore[arg-type]
    assert str(info.value) == f"ticket: expected a JSON object (a mapping), got {got} [invalid-type]"


@pytest.mark.parametrize(
    ("where", "text", "refused"),
    [
        ("id", "\u0958" * 5000, False),  # 5,000 characters, 10,000 composed: at the limit
        ("id", "\u0958" * 5001, True),  # 10,002 composed
        ("id", "x" * 10_000, False),
        ("id", "x" * 10_001, True),
        ("attribute", "\ufb2c" * 3333, False),  # 3 characters each composed: 9,999
        ("attribute", "\ufb2c" * 3334, True),  # 10,002 composed
        # The limit holds as given too (docs/language.md#limits), as the ticket schema's maxLength:
        # 10,000 decomposed characters, 5,000 composed, are accepted; 10,002 are not.
        ("id", "e\u0301" * 5000, False),
        ("id", "e\u0301" * 5001, True),
        ("attribute", "e\u0301" * 5001, True),
    ],
)
def test_the_text_limit_holds_for_the_composed_text_the_decision_keeps(
    where: str, text: str, refused: bool
) -> None:
    """NFC lengthens some text: `"\\u0958" * 10000` was accepted, and its decision (20,000
    characters in `trace.facts`) could not be read back, replayed, or verified in a log."""
    engine = csrules.load()
    ticket = refund("5.00")
    if where == "id":
        ticket["id"] = text
    else:
        ticket["attributes"] = {"note": text}
    if refused:
        error = error_for(engine, ticket)
        if where == "id":
            assert (error.code, error.path) == ("invalid-text", "/id")
            assert error.expected.startswith("a non-empty string of at most 10000 characters")
        else:
            assert (error.code, error.path) == ("invalid-attribute", "/attributes/note")
            assert error.expected.startswith("a string (<= 10000 characters as given and composed: NFC)")
        return
    decision = engine.evaluate(ticket, now=NOW)
    again = csrules.Decision.model_validate_json(decision.model_dump_json())
    assert again == decision
    assert engine.verify(again).status == "identical"


def test_a_value_that_is_no_json_is_shown_as_python_writes_it_not_as_a_string() -> None:
    """A Decimal attribute was shown as got `"1.5"`, which reads as the string "1.5"."""
    engine = csrules.load()
    error = error_for(engine, make_ticket(attributes={"a": Decimal("1e-400")}))
    assert (error.code, error.path, error.got) == (
        "invalid-attribute",
        "/attributes/a",
        "`Decimal('1E-400')`",
    )
    error = error_for(engine, make_ticket(opened_at=datetime(2026, 1, 1)))  # naive
    assert (error.code, error.got) == ("naive-datetime", "`datetime.datetime(2026, 1, 1, 0, 0)`")


def _deadline_in(function: str) -> Any:
    """A trace function raising TimeoutError when `function` is called: a signal-based request
    timeout landing there, at a place a test can choose."""

    def tracer(frame: Any, event: str, arg: Any) -> None:
        if event == "call" and frame.f_code.co_name == function:
            sys.settrace(None)
            raise TimeoutError("request deadline")

    return tracer


@pytest.mark.parametrize("given", ["dict", "model"])
def test_a_timeout_landing_while_a_plain_ticket_is_read_is_no_ticket_error(
    engine: csrules.Engine, given: str
) -> None:
    """A request timeout raised by a signal handler while csrules validated a ticket of plain
    values became `TicketError` (invalid-type, "`TimeoutError` raised while reading the ticket"):
    a service would answer 400 for its own deadline. In evaluate_many it was yielded as that
    ticket's error, and the batch ran on past the deadline."""
    ticket: Any = make_ticket() if given == "dict" else csrules.Ticket.model_validate(make_ticket())
    sys.settrace(_deadline_in("_nfc"))
    try:
        with pytest.raises(TimeoutError, match="request deadline"):
            engine.evaluate(ticket, now=NOW)
    finally:
        sys.settrace(None)
    sys.settrace(_deadline_in("_nfc"))
    try:
        with pytest.raises(TimeoutError, match="request deadline"):
            list(engine.evaluate_many([ticket, ticket], now=NOW))
    finally:
        sys.settrace(None)
    assert engine.evaluate(ticket, now=NOW).outcome == "approve"  # the engine goes on


def test_an_object_of_the_callers_raising_while_read_is_still_a_ticket_error(engine: csrules.Engine) -> None:
    class Shaky(Mapping[str, Any]):
        def __getitem__(self, key: str) -> Any:
            raise TimeoutError("could be the caller's own")

        def __iter__(self) -> Iterator[str]:
            return iter(make_ticket())

        def __len__(self) -> int:
            return 3

    error = error_for(engine, Shaky())
    assert (error.path, error.code) == ("", "invalid-type")
    assert error.got == "`TimeoutError` raised while reading the ticket"


# Marks of alternating combining classes (230, 220): NFC sorts them by insertion, in time
# quadratic in the run's length. 30 in a row is Unicode's stream-safe limit (UAX #15).
_MARKS = "\u0301\u0316"


@pytest.mark.parametrize(
    ("field", "pointer"),
    [
        ({"id": "T"}, "/id"),
        ({"customer": {"id": "C"}}, "/customer/id"),
        ({"attributes": {"note": "a"}}, "/attributes/note"),
        ({"item": {"sku": "S", "on_sale": True, "in_stock": False}}, "/item/sku"),
    ],
)
def test_text_with_more_than_30_combining_marks_in_a_row_is_refused(
    engine: csrules.Engine, field: dict[str, Any], pointer: str
) -> None:
    """A ticket with 64 attributes of 10,000 such characters took 6.6 s to be refused, and as
    long to be decided when valid: a request that held an embedding service for seconds."""
    (key, value), *_ = field.items()

    def with_text(text: str) -> dict[str, Any]:
        if isinstance(value, dict):
            name = pointer.rsplit("/", 1)[1]
            return make_ticket(**{key: {**value, name: text}})
        return make_ticket(**{key: text})

    at_limit = "a" + _MARKS * 15  # 30 marks
    decision = engine.evaluate(with_text(at_limit), now=NOW)
    assert unicodedata.is_normalized("NFC", decision.to_json())
    error = error_for(engine, with_text(at_limit + "\u0301"))
    assert (error.path, error.code) == (pointer, "invalid-text")
    assert str(error).startswith(
        f"ticket {pointer}: expected text with at most 30 combining marks in a row, got `"
    )
    many = make_ticket(attributes={f"a{i}": "a" + _MARKS * 4_999 for i in range(64)})
    assert error_for(engine, many).path == "/attributes/a0"
    # U+0F73 has class 0 but decomposes to two marks (classes 129, 130): 16 of them are 32.
    assert engine.evaluate(with_text("a" + "\u0f73" * 15), now=NOW).outcome == "approve"
    assert error_for(engine, with_text("a" + "\u0f73" * 16)).code == "invalid-text"


def test_text_already_composed_is_kept_whatever_its_marks(engine: csrules.Engine) -> None:
    """Nothing is composed, so nothing is slow: the limit is on text given decomposed."""
    text = "\u05d0" + "\u05b8" * 200  # Hebrew alef with 200 qamats, in NFC as written
    assert unicodedata.is_normalized("NFC", text)
    decision = engine.evaluate(make_ticket(attributes={"note": text}), now=NOW)
    assert decision.trace.facts.attributes == {"note": text}


def test_the_characters_that_decompose_to_several_marks_are_this_pythons() -> None:
    from csrules import values  # noqa: PLC0415 - the table is the module's

    found = {}
    for code in range(sys.maxunicode + 1):
        character = chr(code)
        decomposition = unicodedata.decomposition(character)
        if not decomposition or decomposition.startswith("<"):
            continue
        parts = unicodedata.normalize("NFD", character)
        if all(unicodedata.combining(p) for p in parts) and (
            len(parts) > 1 or not unicodedata.combining(character)
        ):
            found[character] = len(parts)
    assert found == values._MARKS_IN
