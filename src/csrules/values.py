"""Value kinds shared by tickets, policies and traces: money, JSON values, fact types. No I/O.

Money is a `Decimal` in Python (never a float) and a JSON number in JSON. Values that end up in a
trace or an action (`JsonValue`) keep non-integral numbers as `Decimal` too, so a decision read back
from its JSON compares equal to the original.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timezone
from decimal import ROUND_HALF_EVEN, Context, Decimal, DivisionByZero, InvalidOperation, Overflow
from types import NotImplementedType
from typing import Annotated, Any, Literal

import pydantic_core
from pydantic import BaseModel, BeforeValidator, ConfigDict, PlainSerializer, PlainValidator
from pydantic_core import PydanticCustomError, PydanticSerializationError

from .source import exact_float

__all__ = [
    "DATETIME_TEXT",
    "DATE_TEXT",
    "DECIMAL",
    "JSON_AS_IS",
    "MONEY_MAX",
    "FactType",
    "JsonValue",
    "Kind",
    "Money",
    "Record",
    "category",
    "datetime_text",
    "in_utc",
    "json_kind",
    "json_value",
    "parse_money",
    "plain",
    "quoted_if_typed",
    "record_eq",
    "record_hash",
    "to_json",
]

MONEY_MAX = Decimal("1000000000")

# ISO 8601 as JSON writes it, for tickets and policies alike: Python 3.11's `fromisoformat` also
# takes week dates (`2026-W03-3`) and basic formats (`20260114`), which a ticket would refuse.
DATE_TEXT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
DATETIME_TEXT = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?"
    r"(Z|[+-][0-9]{2}:[0-9]{2}(:[0-9]{2})?)?"
)

DECIMAL = Context(
    prec=28,
    rounding=ROUND_HALF_EVEN,
    Emin=-999999,
    Emax=999999,
    capitals=1,
    clamp=0,
    flags=[],
    traps=[InvalidOperation, DivisionByZero, Overflow],
)
"""The decimal context of every Decimal operation of csrules' (Python's defaults, fixed): the
caller's thread's context (its precision, its traps) is its own, and a worker process would not
share it, so it must not change a decision."""
YEARS = "the years 1900 and 9000 in UTC"


# Text that a reader would take for a number, a boolean or null when shown without quotes.
_LOOKS_TYPED = re.compile(r"\s*|[-+]?[0-9.]+(?:[eE][-+]?[0-9]+)?|(?i:true|false|null|~|yes|no)")


def category(value: object) -> str:
    """How durable_rules and csrules' comparisons group a scalar: `bool`, `num` (int, float,
    Decimal) or `str`. Values of two categories are never equal, nor ordered."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float | Decimal):
        return "num"
    return "str"


_JSON_KINDS = {
    type(None): "null",
    bool: "a boolean",
    int: "a number",
    float: "a number",
    str: "a string",
    list: "an array",
}


def json_kind(value: object) -> str | None:
    """What a JSON value that is no object is, in words (`null`, `an array`); None otherwise."""
    return _JSON_KINDS.get(type(value))


def plain(value: object) -> object:
    """The plain value of a subclass of str, int, float, Decimal or date (an IntEnum, a
    `(str, Enum)` member, numpy's float64), read by the base type's own C methods, so none of the
    subclass's methods run later; any other value as it is."""
    kind = type(value)
    if kind in (str, int, float, bool, Decimal, date, datetime) or value is None:
        return value
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, int):
        return int.__index__(value)
    if isinstance(value, float):
        return float.__float__(value)
    if isinstance(value, Decimal):
        return Decimal(value)
    if isinstance(value, date) and not isinstance(value, datetime):
        return date.fromordinal(date.toordinal(value))
    return value


def json_number(value: Decimal) -> int | float | Decimal:
    """A Decimal as JSON reads its text (`str(value)`), as the CLI reads a ticket's JSON: an int
    when written without a fraction or an exponent (`Decimal(5)`), else a float that reads back
    as the same number (`Decimal("1.5")`, `Decimal("5.0")`). A Decimal no float holds exactly
    (`Decimal("0.1000000000000000055")`, NaN) is returned as it is, for the caller to refuse."""
    text = str(value)
    if text.lstrip("-").isdigit():
        # Longer than 2**53's 16 digits (and Python's 4,300-digit limit): too large, as it is.
        return int(text) if len(text) < 20 else value
    try:
        return exact_float(text)
    except ValueError:  # more digits than a double holds, NaN or an infinity
        return value


def number_text(value: Decimal) -> str:
    """A number that is no amount of cents (a custom attribute's float, which a trace holds as the
    Decimal of its repr; a parameter of `0.000001`) as the float's repr, as a decision's JSON writes
    it (`1e-07`, `2.0`, not `1E-7`); a Decimal no float holds exactly (a decision read back,
    edited) as it is."""
    try:
        number = float(value)
    except (OverflowError, ValueError):
        return str(value)
    text = repr(number)
    return text if math.isfinite(number) and Decimal(text) == value else str(value)


def field_text(text: str) -> str:
    """`text` as one field of a line whose fields are separated by spaces (the ticket id of
    `csrules log show`, of a replay's summary): bare when it is one run of printable characters
    that would not pass for a number, a boolean or null, else in JSON quotes, so that no id can
    read as more fields (`T-1  approve  front_line`) or another value. Raw, not yet `one_line`."""
    if _FIELD.fullmatch(text) and quoted_if_typed(text) == text:
        return text
    return json.dumps(text, ensure_ascii=False)


_FIELD = re.compile(r"""[^\s"'\\:,=()\[\]\x00-\x1f\x7f-\x9f]+""")


def quoted_if_typed(text: str) -> str:
    """`text` as shown in a message: in JSON quotes if, shown bare, it would pass for a number, a
    boolean or null (the text "20", not the number 20); else as it is."""
    return json.dumps(text, ensure_ascii=False) if _LOOKS_TYPED.fullmatch(text) else text


def in_utc(moment: datetime) -> datetime | None:
    """An aware `moment` in UTC if it falls between the years 1900 and 9000 there, else None
    (also for a naive one, when converting overflows, or when the caller's tzinfo fails). One
    rule for `now`, ticket datetimes, `--now` and case files: a decision records its instants in
    UTC, and replay checks them again there."""
    try:
        # A plain datetime, through the base class's own arithmetic: a subclass's methods
        # (`__add__`, `year`, `astimezone`) are never asked, and no subclass reaches a decision.
        utc = _EPOCH + datetime.__sub__(moment, _EPOCH)
    except OverflowError:  # at the years 1 and 9999
        return None
    except Exception:
        if type(moment.tzinfo) is timezone:  # no code of the caller's ran: not the moment's fault
            raise  # (an exception a signal handler raised, say)
        return None  # a tzinfo of the caller's that raises
    return utc if 1900 <= utc.year <= 9000 else None


_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


def datetime_text(text: str) -> datetime | None:
    """`text` read as a ticket's date and time is (`DATETIME_TEXT`: not a week date, a bare date or
    Python's other `fromisoformat` forms), its UTC offset, if it has one, in whole minutes; None
    when it is not one. The one reading of `--now`, a corpus line's `now` and a case file's times;
    the caller checks for the offset and the years (`in_utc`)."""
    if not DATETIME_TEXT.fullmatch(text):
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:  # a month 13, an hour 24
        return None
    offset = moment.utcoffset()
    if offset is not None and (offset.seconds % 60 or offset.microseconds):
        return None
    return moment


def _instant(value: object) -> datetime:
    """A decision's date and time read back (`due`, `evaluated_at`): an aware datetime, or text as
    a ticket writes one (`datetime_text`: not `2026-11-24t15:00:00z`, an offset in seconds, or a
    Unix time, which pydantic's own reading took), so a doctored decision is `invalid-decision`
    with its pointer, not a decision that merely differs."""
    moment = datetime_text(value) if isinstance(value, str) else value
    if not isinstance(moment, datetime):
        raise PydanticCustomError("invalid-datetime", "an ISO 8601 date and time with a UTC offset")
    if moment.utcoffset() is None:
        raise PydanticCustomError("naive-datetime", "a date and time with a UTC offset (aware)")
    return moment


Instant = Annotated[datetime, BeforeValidator(_instant)]
"""A date and time a decision records: aware, read back only as `to_json` could have written it."""


_CENT = Decimal("0.01")

Kind = Literal["money", "integer", "number", "string", "boolean", "date", "datetime", "enum", "scalar"]
"""The type of a fact path, parameter or derived fact. `scalar` = any of string/number/boolean
(custom ticket attributes, whose type is only known at evaluation time)."""


@dataclass(frozen=True, slots=True)
class FactType:
    """The static type of a fact path: its kind, and for enums the allowed values in rank order."""

    kind: Kind
    values: tuple[str, ...] = ()

    def describe(self) -> str:
        """Words for messages: `money`, or `one of low, normal, high`."""
        if self.kind == "enum":
            return "one of " + ", ".join(self.values)
        return self.kind


def parse_money(value: object) -> Decimal:
    """Validate a money amount and return it as a Decimal with two decimal places.

    Accepts Decimal, int, finite float and text of ASCII digits with an optional fraction
    (`"45.00"`; not `"1e3"`, `"+20"`, `"-0.00"`, `" 20"`, `"5_000"` or Arabic-Indic digits, which
    `Decimal()` takes); rejects bool. Zero is 0.00, never -0.00 (a number `-0.0` is 0.00).
    Raises ValueError with the expectation in words.
    """
    if type(value) is str and _CENTS_TEXT.fullmatch(value):  # the commonest form, `45.00`: exact as it is
        amount = Decimal(value)
        if amount > MONEY_MAX:
            raise ValueError("money <= 1000000000")
        return amount
    if type(value) is int and 0 <= value <= MONEY_MAX:  # a whole amount in range: exact
        return Decimal(value).quantize(_CENT, context=DECIMAL)  # not the caller's thread's context
    if isinstance(value, bool) or not isinstance(value, Decimal | int | float | str):
        raise ValueError("money (a number, or its digits as text such as `45.00`)")
    value = plain(value)  # a subclass (numpy's float64, an IntEnum) without its own methods
    if isinstance(value, int) and not 0 <= value <= MONEY_MAX:  # before str(): 4,300+ digits raise
        raise ValueError("money >= 0" if value < 0 else "money <= 1000000000")
    if isinstance(value, str) and not _MONEY_TEXT.fullmatch(value):
        raise ValueError("money (a number, or its digits as text such as `45.00`)")
    if isinstance(value, str) and value.startswith("-"):  # `-0.00` too: money text has no sign
        raise ValueError("money >= 0")
    try:
        amount = Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError("money (a number, or its digits as text such as `45.00`)") from None
    if not amount.is_finite():
        raise ValueError("money (a finite number)")
    if amount < 0:
        raise ValueError("money >= 0")
    if amount > MONEY_MAX:
        raise ValueError("money <= 1000000000")
    cents = amount.quantize(_CENT, context=DECIMAL)  # exact: at most 12 digits (MONEY_MAX)
    if cents != amount:  # a non-zero digit after the second decimal place
        raise ValueError("money with at most 2 decimal places")
    return cents.copy_abs()  # -0 is 0.00: equal tickets give equal JSON


# Money as text: ASCII digits with an optional fraction (a sign only to say "money >= 0"), as a
# helpdesk writes it: not `1e3`, `+20`, `.5`, ` 20` or `5_000` (all of which `Decimal()` reads).
# NaN and Infinity match so that they are refused as "not finite".
# Digits with exactly two decimals and no leading zero but a lone one: already a Decimal's
# canonical two-place form (never `-0.00`), read by `parse_money` without `quantize`.
_CENTS_TEXT = re.compile(r"(?:0|[1-9][0-9]{0,9})\.[0-9]{2}")
_MONEY_TEXT = re.compile(r"-?[0-9]+(?:\.[0-9]+)?|(?i:nan|snan|inf|infinity)")


def _validate_money(value: object) -> Decimal:
    try:
        return parse_money(value)
    except ValueError as exc:
        raise PydanticCustomError("invalid-money", str(exc)) from None


def _money_json(value: Decimal) -> float:
    # INVARIANT: money <= 1e9 with 2 decimals has <= 12 significant digits, so the float's repr
    # is the exact decimal and reads back to the same Decimal.
    return float(value)


Money = Annotated[
    Decimal,
    PlainValidator(_validate_money, json_schema_input_type=float | str),
    PlainSerializer(_money_json, return_type=float, when_used="json"),
]
"""A Decimal amount >= 0, <= 1,000,000,000, at most 2 decimal places; a JSON number in JSON."""


JSON_AS_IS: frozenset[str] = frozenset({"money", "integer", "string", "boolean", "enum"})
"""The fact kinds whose validated values `json_value` returns unchanged (Decimal, int, str,
bool); it converts the others' (dates, datetimes, numbers that may be floats)."""


_JSON_SCALARS = frozenset({bool, int, str, type(None)})


def json_value(value: object) -> Any:
    """Normalise a value for a trace or an action: floats become Decimals, dates ISO strings.

    Raises ValueError for anything that has no JSON form (NaN, infinity, sets, objects).
    """
    if type(value) in _JSON_SCALARS:
        return value
    if isinstance(value, bool | int | str):
        return plain(value)  # an IntEnum or a `(str, Enum)` member reads back as its int or str
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"non-finite number {value!r}")
        return Decimal(repr(value))
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"non-finite number {value!r}")
        return value
    if isinstance(value, datetime):
        text = value.isoformat()
        return text[:-6] + "Z" if text.endswith("+00:00") else text
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [json_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): json_value(v) for k, v in value.items()}
    raise ValueError(f"no JSON form for {type(value).__name__}")


def _validate_json_value(value: object) -> Any:
    try:
        return json_value(value)
    except ValueError as exc:
        raise PydanticCustomError("invalid-json-value", str(exc)) from None


def record_eq(record: BaseModel, other: object) -> bool | NotImplementedType:
    """`==` of frozen records (decisions, traces, tickets): the same class and the same values of
    the same types. Python's `==` alone equates values the JSON form tells apart (`true` and `1`,
    `1` and `1.0`, `0.0` and `-0.0`, one instant at two UTC offsets), so two decisions on different
    facts compared equal and hashed alike yet wrote different bytes; equal records always write the
    same canonical JSON."""
    if type(other) is not type(record):
        return NotImplemented  # type: ignore[no-any-return]  # the other side may know (`mock.ANY`)
    return _same(record, other)


def _same(a: Any, b: Any) -> bool:
    if a is b:  # no NaN in a record
        return True
    kind = type(a)
    if kind is not type(b):
        return False
    if kind in _JSON_SCALARS:
        return bool(a == b)
    if kind is list or kind is tuple:
        return len(a) == len(b) and all(map(_same, a, b))
    if kind is dict:
        return a.keys() == b.keys() and all(_same(item, b[key]) for key, item in a.items())
    if kind is float or kind is Decimal:  # -0.0 is written `-0.0`
        return bool(a == b) and math.copysign(1, a) == math.copysign(1, b)
    if kind is datetime:  # one instant at two offsets is written two ways
        return bool(a == b) and a.utcoffset() == b.utcoffset()
    if issubclass(kind, BaseModel):
        mine, theirs = a.__dict__, b.__dict__
        return all(_same(mine.get(name), theirs.get(name)) for name in kind.model_fields)
    return bool(a == b)


def record_hash(record: BaseModel) -> int:
    """`hash()` of a frozen record whose fields hold lists or mappings (a decision's actions, an
    action's params, a ticket's items), which pydantic's own hash of frozen models refuses with
    `unhashable type: 'list'`. Equal records (`record_eq`) hash alike: lists are hashed as tuples
    and mappings as sets of items. Nested records hash themselves."""
    fields = record.__dict__
    return hash((type(record), *(_hashable(fields.get(name)) for name in type(record).model_fields)))


class Record(BaseModel):
    """A frozen record (a decision and its parts, a trace, a ticket, a shadow record): `==` is
    `record_eq` (equal records write the same JSON) and `hash()` is `record_hash`. Subclasses
    add to its config (`strict`, `defer_build`...)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    __eq__ = record_eq  # the JSON form's: `true` and `1` are different facts
    __hash__ = record_hash  # agrees with it; pydantic's refuses fields holding lists

    # pydantic wraps whatever a serializer function raises (`to_json`, `_money_json`) in a
    # PydanticSerializationError, a ValueError: a KeyboardInterrupt, or a deadline's exception
    # that a signal handler raised while one ran, would reach the caller as a ValueError of
    # pydantic's, and an `except Exception` would swallow Ctrl-C. It goes on as it was raised.
    def model_dump(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        try:
            return super().model_dump(*args, **kwargs)
        except PydanticSerializationError as exc:
            found = unwrapped(exc)
            if found is exc:
                raise
            raise found from None

    def model_dump_json(self, *, indent: int | None = None, ensure_ascii: bool = False, **kwargs: Any) -> str:
        """pydantic's, through `model_dump` (the same text, ~10% slower): pydantic's own keeps
        only the text of what a serializer function raised, `model_dump` the exception."""
        try:
            data = self.model_dump(mode="json", **kwargs)
        except PydanticSerializationError:
            raise
        except ValueError as exc:  # bytes that are no UTF-8: pydantic's own says so in its error
            raise PydanticSerializationError(f"{type(exc).__name__}: {exc}") from exc
        # `ensure_ascii` only when asked for: pydantic before 2.12 has no such option
        options: dict[str, Any] = {"ensure_ascii": True} if ensure_ascii else {}
        return pydantic_core.to_json(data, indent=indent, **options).decode()


SERIALIZATION_FAILURES = (ValueError, TypeError, ArithmeticError, RecursionError)
"""What serializing a record's values can raise because of the values (a decision changed after
it was made: a float that is NaN, nesting deeper than Python recurses); anything else raised
while a serializer function ran came from elsewhere (a signal handler's exception)."""


def failure_text(error: BaseException) -> str:
    """What writing a decision failed with, for a message: the first line (pydantic's run to
    several, quoting the value), or the exception's name when it says nothing."""
    text = str(error)
    return text.splitlines()[0] if text else type(error).__name__


def unwrapped(error: PydanticSerializationError) -> BaseException:
    """The exception a serializer function of ours raised that pydantic wrapped in `error` (its
    cause), if the values did not cause it (`SERIALIZATION_FAILURES`); else `error` itself."""
    cause = error.__cause__
    if cause is not None and not isinstance(cause, SERIALIZATION_FAILURES):
        return cause
    return error


def _hashable(value: object) -> object:
    if isinstance(value, list | tuple):
        return tuple(map(_hashable, value))
    if isinstance(value, Mapping):
        return frozenset((key, _hashable(item)) for key, item in value.items())
    return value


def to_json(value: Any) -> Any:
    """A `json_value`'s plain JSON form: Decimals become floats, as decisions write them."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, list):
        return [to_json(v) for v in value]
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    return value


JsonValue = Annotated[
    Any,
    PlainValidator(_validate_json_value),
    PlainSerializer(to_json, when_used="json"),
]
"""A JSON value whose non-integral numbers are Decimals in Python and numbers in JSON."""


MAX_COMBINING_RUN = 30
"""The most combining marks (characters of a nonzero canonical combining class, counted as they
decompose) text given not in NFC may hold in a row, as Unicode's stream-safe text format has it
(UAX #15): no language needs more. Composing a longer run takes time quadratic in its length when
its marks' classes alternate (CPython sorts them by insertion): 10,000 characters took 0.1 s,
200,000 characters 80 s. Text already in NFC is kept as it is: nothing is composed."""

_MARKS_IN = {"\u0344": 2, "\u0f73": 2, "\u0f75": 2, "\u0f81": 2}
"""Characters that decompose to several combining marks (U+0F73 has class 0 itself): Unicode 14's,
checked against the running Python's by tests/unit/test_ticket.py."""


def composed(text: str) -> str | None:
    """`text` in NFC, the form tickets' and policies' strings are kept in; None when it is not in
    NFC and holds more than MAX_COMBINING_RUN combining marks in a row. ASCII and text already in
    NFC (both checked in linear time, in C) come back as they are."""
    if text.isascii() or unicodedata.is_normalized("NFC", text):
        return text
    run, marks_in, combining = 0, _MARKS_IN, unicodedata.combining
    for character in text:
        marks = marks_in.get(character) or (1 if combining(character) else 0)
        if not marks:
            run = 0
        elif (run := run + marks) > MAX_COMBINING_RUN:
            return None
    return unicodedata.normalize("NFC", text)
