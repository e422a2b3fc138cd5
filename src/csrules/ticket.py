"""The ticket: the facts of one customer-service case, validated strictly. No I/O.

`Ticket` forbids unknown fields and never coerces silently: a bool is not a number, a number is
not a string; only money accepts numeric strings. A dict in its JSON form is accepted (enum values
as strings, dates and datetimes as ISO 8601 strings). `parse_ticket()` turns pydantic's errors into
one `TicketError` with a JSON pointer. `FACT_TYPES` lists every fact path policies may test.
"""

from __future__ import annotations

import difflib
import json
import math
import re
import types
import typing
from collections.abc import Mapping
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Annotated, Any, Literal, Union

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_core import ErrorDetails, PydanticCustomError

from .errors import TicketError, one_line
from .source import pointer
from .values import (
    DATE_TEXT,
    DATETIME_TEXT,
    MAX_COMBINING_RUN,
    YEARS,
    FactType,
    Money,
    Record,
    composed,
    in_utc,
    json_kind,
    json_number,
    plain,
)

__all__ = [
    "ATTRIBUTE_NAME",
    "FACT_TYPES",
    "ROLES",
    "Agent",
    "Customer",
    "Item",
    "Promise",
    "Request",
    "Role",
    "Ticket",
    "parse_ticket",
]

Role = Literal["front_line", "senior", "supervisor", "manager"]
ROLES: tuple[str, ...] = typing.get_args(Role)
"""Roles in rank order, lowest first."""

MAX_TEXT = 10_000

MAX_ATTRIBUTES = 64
ATTRIBUTE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,63}")
_SAFE_INT = 2**53


def _composed(value: str) -> str:
    """`value` in NFC, the form decisions keep; NFC can lengthen text (U+FB2C is 3 characters)."""
    if value.isascii():
        return value
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate, e.g. from json.loads('"\\ud800"')
        raise PydanticCustomError("invalid-text", "valid Unicode text (no lone surrogates)") from None
    text = composed(value)
    if text is None:  # composing it could take seconds (values.MAX_COMBINING_RUN)
        expected = f"text with at most {MAX_COMBINING_RUN} combining marks in a row"
        raise PydanticCustomError("invalid-text", expected)
    return text


def _nfc(value: str) -> str:
    composed = _composed(value)
    if len(composed) > MAX_TEXT:  # the limit holds for the text a decision keeps, read back
        expected = f"a non-empty string of at most {MAX_TEXT} characters in composed form (NFC)"
        raise PydanticCustomError("invalid-text", expected)
    return composed


Text = Annotated[str, Field(strict=True, min_length=1, max_length=MAX_TEXT), AfterValidator(_nfc)]


def _validate_date(value: object) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        # A subclass becomes its plain date (values.plain): its `isoformat` or comparisons never
        # reach the trace, where the engine reads its ordinal.
        return plain(value)  # type: ignore[return-value]
    if isinstance(value, str) and DATE_TEXT.fullmatch(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise PydanticCustomError("invalid-date", "a date as YYYY-MM-DD")


def _validate_datetime(value: object) -> datetime:
    parsed: datetime | None = None
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str) and DATETIME_TEXT.fullmatch(value):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            parsed = None
    if parsed is None:
        raise PydanticCustomError("invalid-datetime", "an ISO 8601 date and time with a UTC offset")
    try:
        offset = parsed.utcoffset()
    except Exception:  # a tzinfo of the caller's whose utcoffset() raises or returns a non-timedelta
        if type(parsed) is datetime and (parsed.tzinfo is None or type(parsed.tzinfo) is timezone):
            # No code of the caller's ran (a string's offset, say): the exception came from a
            # signal handler (a request timeout that is an `Exception`), and goes on as it is.
            raise
        expected = "a UTC offset strictly between -24 and +24 hours"
        raise PydanticCustomError("invalid-datetime", expected) from None
    if offset is None:
        raise PydanticCustomError("naive-datetime", "a date and time with a UTC offset (aware)")
    if offset.seconds % 60 or offset.microseconds:
        raise PydanticCustomError("invalid-datetime", "a UTC offset in whole minutes")
    # In UTC, the canonical form (docs/audit.md): the same instant gives the same JSON.
    utc = in_utc(parsed)
    if utc is None:
        raise PydanticCustomError("invalid-datetime", f"a date and time between {YEARS}")
    return utc


Date = Annotated[date, BeforeValidator(_validate_date)]
AwareDatetime = Annotated[datetime, BeforeValidator(_validate_datetime)]


def _validate_attribute(value: object) -> str | int | float | bool:
    if isinstance(value, bool):
        return value
    # A subclass (numpy's float64, an IntEnum, a StrEnum) becomes its plain value (values.plain):
    # its `repr`, `str` or comparisons never reach the engine or the trace.
    value = plain(value)
    if isinstance(value, Decimal):  # a database's NUMERIC, say: as JSON would read its text
        value = json_number(value)
        if isinstance(value, Decimal):
            raise PydanticCustomError(
                "invalid-attribute",
                "a number with |n| < 2**53 that a double holds exactly, a string or a boolean",
            )
    if isinstance(value, int) and -_SAFE_INT < value < _SAFE_INT:
        return value
    if isinstance(value, float) and math.isfinite(value) and -_SAFE_INT < value < _SAFE_INT:
        return value
    if isinstance(value, str) and len(value) <= MAX_TEXT and len(composed := _composed(value)) <= MAX_TEXT:
        return composed
    raise PydanticCustomError(
        "invalid-attribute",
        "a string (<= 10000 characters as given and composed: NFC), a number with |n| < 2**53, or a boolean",
    )


AttributeValue = Annotated[
    str | int | float | bool, PlainValidator(_validate_attribute, json_schema_input_type=Any)
]


def _validate_attributes(value: object) -> object:
    # Runs before the per-key checks, so a ticket with 10,000 attributes stops here.
    if isinstance(value, dict) and len(value) > MAX_ATTRIBUTES:
        raise PydanticCustomError("too-many-attributes", "at most 64 attributes")
    return value


def _sorted_attributes(value: dict[str, Any]) -> dict[str, Any]:
    # By name: the order the caller's JSON parser or ORM gave them in must not reach the decision
    # (`model_dump_json`), and a decision read back from canonical JSON has them so.
    return value if len(value) < 2 else dict(sorted(value.items()))


AttributeName = Annotated[str, Field(strict=True, pattern=ATTRIBUTE_NAME.pattern + "$")]


class _Model(Record):
    # `revalidate_instances`: a Customer, Agent... (or Ticket) instance given in place of a dict is
    # validated too; one made with `model_construct` may hold anything.
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, revalidate_instances="always")


class Customer(_Model):
    """The customer who raised the ticket."""

    id: Text
    tier: Literal["one_time", "occasional", "frequent", "loyal", "advocate"] = "one_time"
    lifetime_value: Money = Decimal("0.00")
    abusive: bool = False


class Agent(_Model):
    """The support agent who proposes the remedy; `role` is the acting role."""

    id: Text
    role: Role


class Request(_Model):
    """The remedy the agent proposes; `amount` is its monetary value."""

    kind: Literal["refund", "credit", "replacement", "discount", "goodwill", "price_match", "raincheck"]
    amount: Money
    # None (absent or null): the bundle's currency, which `parse_ticket(..., currency=)` fills in
    # (the engine passes its bundle's). A fixed default would be wrong for a EUR bundle, and a
    # ticket built in Python and dumped would then name a currency it was never given.
    currency: Annotated[
        str | None,
        Field(
            strict=True,
            pattern=r"^[A-Z]{3}$",
            validate_default=True,
            description="3 capital letters; absent or null: the bundle currency (the `currency` parameter)",
        ),
    ] = None

    @field_validator("currency", mode="before")
    @classmethod
    def _bundle_currency(cls, value: object, info: ValidationInfo) -> object:
        if value is None and info.context is not None:
            return info.context.get("currency")
        return value


class Item(_Model):
    """The item the ticket is about."""

    sku: Text
    on_sale: bool
    in_stock: bool
    regular_price: Money | None = None
    sale_price: Money | None = None


class Promise(_Model):
    """A delivery date promised to the customer, and the earliest date that was feasible."""

    delivery_date: Date
    earliest_feasible: Date


class Ticket(_Model):
    """The facts of one customer-service ticket. `Engine.evaluate()` takes one, or a dict it
    validates into one; `decision.trace.facts` is the Ticket a decision was made on."""

    id: Text
    opened_at: AwareDatetime | None = None
    channel: Literal["in_store", "phone", "email", "chat", "web"] = "web"
    severity: Literal["low", "normal", "high", "urgent"] = "normal"
    category: Literal[
        "stock", "product", "employee_behavior", "billing", "delivery", "onboarding", "other"
    ] = "other"
    customer: Customer
    agent: Agent
    request: Request | None = None
    item: Item | None = None
    promise: Promise | None = None
    attributes: Annotated[
        dict[AttributeName, AttributeValue],
        BeforeValidator(_validate_attributes),
        AfterValidator(_sorted_attributes),
    ] = Field(default_factory=dict)


# --- errors -------------------------------------------------------------------------------------

_STRING_KEYS = "string keys (a JSON object's keys are text)"

_CODES = {
    "extra_forbidden": "unknown-field",
    "missing": "missing-field",
    "literal_error": "invalid-enum",
    "string_too_short": "invalid-text",
    "string_too_long": "invalid-text",
    "string_unicode": "invalid-text",
    "string_pattern_mismatch": "invalid-currency",
}


def _expected(error: ErrorDetails, model: type[BaseModel]) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        fields = _fields_at(model, error["loc"][:-1])
        if not fields:
            return "no such field"
        close = difflib.get_close_matches(str(error["loc"][-1]), fields, n=1)
        hint = f" (did you mean `{close[0]}`?)" if close else ""
        return "one of the fields " + ", ".join(fields) + hint
    if kind == "missing":
        return "a value (the field is required)"
    if kind == "string_pattern_mismatch":
        return "a currency code of 3 capital letters, e.g. `USD`"
    if kind == "string_unicode":
        return "valid Unicode text (no lone surrogates)"
    if kind in ("string_too_short", "string_too_long"):
        return f"a non-empty string of at most {MAX_TEXT} characters"
    message = error["msg"]
    return message.removeprefix("Input should be ").removeprefix("Value error, ")


def _fields_at(model: type[BaseModel], loc: tuple[int | str, ...]) -> list[str]:
    current: Any = model
    for part in loc:
        field = current.model_fields.get(part) if isinstance(part, str) else None
        if field is None:
            return []
        current = _model_in(field.annotation)
        if current is None:
            return []
    return list(current.model_fields)


def _model_in(annotation: Any) -> type[BaseModel] | None:
    candidates = (
        typing.get_args(annotation)
        if typing.get_origin(annotation) in (Union, types.UnionType)
        else (annotation,)
    )
    for candidate in candidates:
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def _shown(value: object) -> str:
    """`value` as JSON; a value that is no JSON (a Decimal, a datetime) as Python writes it,
    never in JSON quotes, where `Decimal("1.5")` would read as the string "1.5"."""
    try:
        if _holds_tuple(value):  # json.dumps writes a tuple as an array: a JSON value it is not
            raise TypeError
        text = json.dumps(value, ensure_ascii=False)
    except TypeError:
        try:
            text = _written(value)
        except Exception:  # a `__repr__` that raises
            text = f"a {type(value).__name__} that cannot be shown"
    except Exception:  # an int of 4,300+ digits, a very deep value
        text = f"a {type(value).__name__} that cannot be shown"
    return "`" + (text if len(text) <= 60 else text[:57] + "...") + "`"


_PLAIN_LEAVES = (str, int, float, bool, type(None), Decimal, date)


def _plain(data: object) -> bool:
    """Whether reading `data` runs no code of the caller's: built-in JSON values, Decimal, date
    and datetime (with no time zone or a fixed offset), and csrules' own ticket models holding
    only those (walked without recursion)."""
    pending, seen = [data], set()
    while pending:
        item = pending.pop()
        kind = type(item)
        if kind in _PLAIN_LEAVES:
            continue
        if kind is datetime and isinstance(item, datetime):
            if item.tzinfo is not None and type(item.tzinfo) is not timezone:
                return False
            continue
        if id(item) in seen:
            continue
        seen.add(id(item))
        if kind is dict and isinstance(item, dict):
            pending.extend(item)
            pending.extend(item.values())
        elif kind is list and isinstance(item, list):
            pending.extend(item)
        elif kind in _TICKET_MODELS:
            pending.extend(item.__dict__.values())
        else:
            return False
    return True


def _holds_tuple(value: object) -> bool:
    """Whether `value` is or holds a tuple (walked without recursion: it may be very deep, or
    hold itself)."""
    pending, seen = [value], set()
    while pending:
        item = pending.pop()
        kind = type(item)
        if kind is tuple:
            return True
        if kind in (list, dict):
            if id(item) in seen:
                continue
            seen.add(id(item))
        if kind is list and isinstance(item, list):
            pending.extend(item)
        elif kind is dict and isinstance(item, dict):
            pending.extend(item.values())
    return False


def _written(value: object, inside: frozenset[int] = frozenset()) -> str:
    """`repr(value)`, with the items of sets in order: their order of iteration follows string
    hashes, which differ between processes (a worker's message must read as the caller's)."""
    kind = type(value)
    if kind not in (set, frozenset, list, tuple, dict):
        return repr(value)
    if id(value) in inside:  # a list that holds itself: as repr writes it
        return "{...}" if kind is dict else "[...]"
    inside = inside | {id(value)}
    if isinstance(value, set | frozenset):
        items = sorted(_written(item, inside) for item in value)
        if kind is set:
            return "{" + ", ".join(items) + "}" if items else "set()"
        return "frozenset({" + ", ".join(items) + "})" if items else "frozenset()"
    if isinstance(value, list | tuple):
        parts = [_written(item, inside) for item in value]
        if kind is list:
            return "[" + ", ".join(parts) + "]"
        return "(" + ", ".join(parts) + ("," if len(parts) == 1 else "") + ")"
    assert isinstance(value, dict)
    return "{" + ", ".join(f"{_written(k, inside)}: {_written(v, inside)}" for k, v in value.items()) + "}"


def _shown_key(key: object) -> str:
    try:
        text = _written(key)
    except Exception:  # a repr that raises
        text = type(key).__name__
    return f"the key `{text if len(text) <= 60 else text[:57] + '...'}`"


def _kind(data: object) -> str:
    """What a ticket that is no object is: its JSON kind (`null`, `an array`), else its Python type."""
    return json_kind(data) or f"a Python `{one_line(type(data).__name__)}`"


def parse_ticket(data: object, currency: str | None = None) -> Ticket:
    """Validate a ticket given as a `Ticket` (validated again: one made with `model_construct`
    may hold anything), or as a dict in Python or JSON form. A request that names no currency
    (absent or null) is in `currency`, the bundle's (None: it is left unnamed).

    Raises:
        TicketError: for the first problem, in the order of Ticket's fields, with its JSON pointer.
    """
    if not isinstance(data, Mapping | Ticket):
        raise TicketError("", "invalid-type", "a JSON object (a mapping)", _kind(data))
    try:
        context = None if currency is None else {"currency": currency}
        return Ticket.model_validate(data if isinstance(data, Ticket) else dict(data), context=context)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        # An unknown field is usually a misspelt required one: point at the misspelling first.
        error = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
        loc = error["loc"]
        got = None if error["type"] == "missing" else _shown(error.get("input"))
        code = _CODES.get(error["type"], error["type"])
        if code == "invalid-enum" and not isinstance(error.get("input"), str):
            code = "invalid-type"  # `"role": 1`: a value of the wrong JSON type, not a misspelt name
        expected = _expected(error, Ticket)
        if len(loc) == 3 and loc[0] == "attributes" and loc[2] == "[key]" and code != "unknown-field":
            # A bad key of `attributes`: point at the key itself. (A field literally named
            # `[key]` elsewhere is an unknown field, reported as one.) The key as given: pydantic's
            # location shows a lone surrogate as U+FFFD.
            key = error.get("input")
            if isinstance(key, str):
                loc, code, got = ("attributes", key), "invalid-attribute-name", _shown(key)
                expected = (
                    "an attribute name of at most 64 lowercase letters, digits and _, "
                    "not starting with a digit"
                )
            else:  # `None` or `1`: no name, and no text to point at (as for any other object's key)
                loc, code, expected, got = ("attributes",), "invalid-type", _STRING_KEYS, _shown_key(key)
        if error["type"] == "string_unicode" and (not loc or _fields_at(Ticket, loc)):
            # A key with a lone surrogate: pydantic's location is the object holding it.
            loc = (*loc, str(error.get("input")))
            expected = "a key of valid Unicode text (no lone surrogates)"
        if error["type"] == "invalid_key":  # a key that is no string: the object holding it
            loc, expected = loc[:-1], _STRING_KEYS
            got = _shown_key(error.get("input"))
        if "-" not in code:  # a builtin pydantic type error such as bool_type or model_type
            code = "invalid-type"
        raise TicketError(pointer(loc), code, expected, got) from None
    except Exception as exc:  # the caller's own object failed while read: a mapping whose
        # `keys()` raises, a value whose `__eq__` or `__hash__` does (no JSON value does)
        if _plain(data):
            # No code of the caller's ran: the exception came from a signal handler (a request
            # timeout that is an `Exception`), and goes on to the caller as it is.
            raise
        raise TicketError(
            "",
            "invalid-type",
            "plain JSON values (dict, list, str, int, float, bool, null)",
            f"`{type(exc).__name__}` raised while reading the ticket",
        ) from None


_TICKET_MODELS = frozenset({Ticket, Customer, Agent, Request, Item, Promise})


# --- fact paths ---------------------------------------------------------------------------------


def _enum(annotation: Any) -> FactType:
    return FactType("enum", typing.get_args(annotation))


# INVARIANT: one entry per leaf field of Ticket (tests/unit/test_ticket.py walks the model to check).
FACT_TYPES: Mapping[str, FactType] = {
    "id": FactType("string"),
    "opened_at": FactType("datetime"),
    "channel": _enum(Ticket.model_fields["channel"].annotation),
    "severity": _enum(Ticket.model_fields["severity"].annotation),
    "category": _enum(Ticket.model_fields["category"].annotation),
    "customer.id": FactType("string"),
    "customer.tier": _enum(Customer.model_fields["tier"].annotation),
    "customer.lifetime_value": FactType("money"),
    "customer.abusive": FactType("boolean"),
    "agent.id": FactType("string"),
    "agent.role": FactType("enum", ROLES),
    "request.kind": _enum(Request.model_fields["kind"].annotation),
    "request.amount": FactType("money"),
    "request.currency": FactType("string"),
    "item.sku": FactType("string"),
    "item.on_sale": FactType("boolean"),
    "item.in_stock": FactType("boolean"),
    "item.regular_price": FactType("money"),
    "item.sale_price": FactType("money"),
    "promise.delivery_date": FactType("date"),
    "promise.earliest_feasible": FactType("date"),
}
"""Every fact path of a Ticket and its type. `attributes.<name>` paths are of kind `scalar`."""
