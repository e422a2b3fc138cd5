"""Hypothesis strategies for tickets, in their JSON (dict) form.

`tickets()` draws every kind of valid ticket; keyword arguments pin fields, e.g.
`tickets(agent_role="front_line", amounts=around([Decimal("20")]))`. `tickets(engine=engine)`
draws money facts at and around every limit the engine's bundle compares them with (`limits()`)
half of the time, so boundaries are tried on every run.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any

try:
    from hypothesis import strategies as st
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError("csrules.testing needs hypothesis: pip install 'csrules[testing]'") from exc

from ..engine import Engine
from ..policy import Compare, FactRef, NowPlus, ParamRef, compares
from ..ticket import FACT_TYPES, MAX_ATTRIBUTES, MAX_TEXT, ROLES
from ..values import DECIMAL, MONEY_MAX, in_utc

__all__ = ["around", "boundaries", "limits", "money", "named_values", "tickets"]

_CENT = Decimal("0.01")


def _enum(path: str) -> tuple[str, ...]:
    return FACT_TYPES[path].values


def money(max_value: Decimal = Decimal("1000")) -> st.SearchStrategy[Decimal]:
    """Amounts from 0.00 to `max_value` in cents."""
    return st.integers(0, int(DECIMAL.multiply(max_value, 100))).map(
        lambda cents: DECIMAL.multiply(Decimal(cents), _CENT)
    )


def boundaries(limits: Iterable[Decimal]) -> list[Decimal]:
    """Amounts at, one cent below and one cent above each limit (never below zero nor above the
    most money may be, 1,000,000,000), sorted; a limit finer than a cent is taken to its cent
    first: money has at most 2 decimals."""
    cents = {Decimal(limit).quantize(_CENT, context=DECIMAL) for limit in limits}
    return sorted(
        {
            v
            for limit in cents
            for v in (DECIMAL.subtract(limit, _CENT), limit, DECIMAL.add(limit, _CENT))
            if 0 <= v <= MONEY_MAX
        }
    )


def around(limits: Iterable[Decimal]) -> st.SearchStrategy[Decimal]:
    """Amounts at, one cent below and one cent above each limit (never below zero)."""
    return st.sampled_from(boundaries(limits))


def _compared(engine: Engine) -> Iterator[tuple[Compare, Any]]:
    """(comparison, value) for every literal the bundle compares a fact with, in rules and in
    `never` invariants: parameters by their effective values; not `exists`, other facts or
    `now_plus`."""
    params = engine.bundle.params
    for compare in (c for condition in _conditions(engine) for c in compares(condition)):
        if compare.op == "exists":
            continue
        operand = compare.operand
        for value in operand if isinstance(operand, tuple) else (operand,):
            if not isinstance(value, FactRef | NowPlus):
                yield compare, params.get(value.name) if isinstance(value, ParamRef) else value


def limits(engine: Engine, path: str = "request.amount") -> list[Decimal]:
    """Every money value the bundle compares the fact `path` with (literals and parameters'
    effective values, in rules and in `never` invariants), sorted."""
    found: set[Decimal] = set()
    for compare, value in _compared(engine):
        money = compare.path == path and compare.type.kind == "money"
        if money and isinstance(value, int | Decimal) and not isinstance(value, bool):
            found.add(Decimal(value).quantize(_CENT))  # an integer parameter may be a money limit
    return sorted(found)


def named_values(engine: Engine) -> list[tuple[str, Any]]:
    """`(path, value)` for every value but money the bundle compares a ticket's fact with (in
    rules and in `never` invariants: `channel: in_store`, `customer.abusive: {ne: true}`,
    `attributes.legal_threat: "yes"`), as a ticket writes it, in order of first use; values no
    ticket can hold there are left out, and so are derived facts."""
    found: dict[tuple[str, type, Any], tuple[str, Any]] = {}
    for compare, value in _compared(engine):
        path = compare.path
        if compare.type.kind == "money" or not (path in FACT_TYPES or path.startswith("attributes.")):
            continue
        try:
            written = _as_ticket_writes(path, value)
        except (OverflowError, TypeError):
            continue
        if written is not None:
            found.setdefault((path, type(written), written), (path, written))
    return list(found.values())


def _attribute_names(engine: Engine | None) -> list[str]:
    """The custom attributes the bundle reads (`attributes.<name>`), in order of first use."""
    if engine is None:
        return []
    paths = (c.path for condition in _conditions(engine) for c in compares(condition))
    return list(dict.fromkeys(p.removeprefix("attributes.") for p in paths if p.startswith("attributes.")))


def _conditions(engine: Engine) -> list[Any]:
    """The conditions of the bundle's rules and of its `never` invariants."""
    bundle = engine.bundle
    return [rule.when for rule in bundle.rules] + [i.when for i in bundle.invariants]


def _enum_values(engine: Engine | None, path: str) -> st.SearchStrategy[str]:
    """Any value of the enum fact `path`, and half of the time one the bundle's rules name."""
    return _with_constants(engine, path, st.sampled_from(_enum(path)))


def _with_constants(
    engine: Engine | None, path: str, default: st.SearchStrategy[Any], near: timedelta | None = None
) -> st.SearchStrategy[Any]:
    """`default`, and half of the time a value the bundle compares `path` with (and, given
    `near`, one step either side of it), as a ticket writes it: so a rule on a value the default
    would never draw (an sku, a date long ago, an attribute's text) is reached too. Only values a
    ticket can hold there are drawn (a date of year 10000 or an empty sku is left out)."""
    if engine is None:
        return default
    found: dict[tuple[type, Any], Any] = {}
    for compare, value in _compared(engine):
        if compare.path != path:
            continue
        steps = (-near, timedelta(0), near) if near is not None and isinstance(value, date) else (None,)
        for step in steps:
            try:
                candidate = _as_ticket_writes(path, value + step if step else value)
            except (OverflowError, TypeError):  # beyond year 1 or 9999
                continue
            if candidate is not None:
                found.setdefault((type(candidate), candidate), candidate)
    shown = list(found.values())
    return st.one_of(st.sampled_from(shown), default) if shown else default


def _as_ticket_writes(path: str, value: Any) -> Any:
    """A compared literal as a JSON-form ticket holds it at `path` (dates as ISO text, date and
    times in UTC, a policy's number as an int or a float), or None when no ticket can hold it
    there (the fact's type or limits)."""
    kind = "attribute" if path.startswith("attributes.") else FACT_TYPES[path].kind
    if kind == "boolean":
        return value if isinstance(value, bool) else None
    if kind == "datetime":
        utc = in_utc(value) if isinstance(value, datetime) else None
        return None if utc is None else utc.isoformat().replace("+00:00", "Z")
    if kind == "date":
        return value.isoformat() if isinstance(value, date) and not isinstance(value, datetime) else None
    if isinstance(value, str) and kind == "enum":  # a value the rule names, as `in_store`
        return value if value in FACT_TYPES[path].values else None
    if isinstance(value, str):
        return value if kind in ("string", "attribute") and 0 < len(value) <= MAX_TEXT else None
    if kind == "attribute" and isinstance(value, bool | int | float | Decimal):
        if isinstance(value, bool):
            return value
        number = int(value) if value == int(value) else float(value)
        return number if -(2**53) < number < 2**53 else None
    return None


def _as_json(amount: Decimal) -> Any:
    return str(amount)


def _money_for(
    engine: Engine | None, path: str, default: st.SearchStrategy[Decimal]
) -> st.SearchStrategy[Decimal]:
    found = limits(engine, path) if engine is not None else []
    return st.one_of(around(found), default) if found else default


def tickets(
    *,
    agent_role: str | None = None,
    amounts: st.SearchStrategy[Decimal] | None = None,
    request_kind: str | None = None,
    engine: Engine | None = None,
    sections: Collection[str] = (),
) -> st.SearchStrategy[dict[str, Any]]:
    """Valid tickets as JSON-form dicts; pinned fields take the given value or strategy.

    Args:
        agent_role: the acting agent's role (default: any).
        amounts: the strategy for `request.amount` (default: 0 to 1,000, or up to 100,000).
        request_kind: the request's kind (default: any).
        engine: also draw money facts at and around the limits its bundle mentions.
        sections: optional sections every ticket has, e.g. `("request",)`.

    Raises:
        ValueError: a pinned role or request kind that no ticket may have, an unknown section.
    """
    for pinned, path in ((agent_role, "agent.role"), (request_kind, "request.kind")):
        allowed = FACT_TYPES[path].values
        if pinned and pinned not in allowed:  # "" and None: any
            raise ValueError(f"`{path}` must be one of {', '.join(allowed)}, got {pinned!r}")
    amount_strategy = (
        amounts
        if amounts is not None
        else _money_for(engine, "request.amount", st.one_of(money(), money(Decimal("100000"))))
    )
    base = date(2026, 1, 1)
    days = st.integers(0, 400).map(lambda d: (base + timedelta(days=d)).isoformat())
    day = timedelta(days=1)
    delivery = _with_constants(engine, "promise.delivery_date", days, near=day)
    feasible = _with_constants(engine, "promise.earliest_feasible", days, near=day)
    currency = engine.bundle.currency if engine is not None else "USD"
    request = st.fixed_dictionaries(
        {
            "kind": st.just(request_kind) if request_kind else _enum_values(engine, "request.kind"),
            "amount": amount_strategy.map(_as_json),
        },
        optional={"currency": st.just(currency)},
    )
    opened_at_any = st.builds(
        lambda day, minute, offset: (
            datetime.combine(base + timedelta(days=day), time(), timezone(timedelta(hours=offset)))
            + timedelta(minutes=minute)
        ).isoformat(),
        st.integers(0, 400),
        st.integers(0, 24 * 60 - 1),
        st.integers(-12, 14),
    )
    opened_at = _with_constants(engine, "opened_at", opened_at_any, near=timedelta(minutes=1))
    item = st.fixed_dictionaries(
        {
            "sku": _with_constants(engine, "item.sku", st.sampled_from(["DELI-1", "KETTLE-2L", "BREAD-9"])),
            "on_sale": st.booleans(),
            "in_stock": st.booleans(),
        },
        optional={
            "regular_price": _money_for(engine, "item.regular_price", money()).map(_as_json),
            "sale_price": _money_for(engine, "item.sale_price", money()).map(_as_json),
        },
    )
    promise = st.fixed_dictionaries({"delivery_date": delivery, "earliest_feasible": feasible})
    attribute = st.one_of(st.text(max_size=8), st.integers(-1000, 1000), st.booleans(), st.floats(-1e6, 1e6))
    read = _attribute_names(engine)[:MAX_ATTRIBUTES]
    # Others besides: as many as a ticket may still have (at most MAX_ATTRIBUTES in all).
    others = [name for name in ("order_id", "score", "vip") if name not in read][: MAX_ATTRIBUTES - len(read)]
    attributes = (
        st.dictionaries(st.sampled_from(others), attribute, max_size=len(others)) if others else st.just({})
    )
    if read:  # the attributes the bundle reads, each with the values it compares them with
        named = st.fixed_dictionaries(
            {}, optional={name: _with_constants(engine, f"attributes.{name}", attribute) for name in read}
        )
        attributes = st.builds(lambda some, bundles: {**some, **bundles}, attributes, named)
    optional: dict[str, st.SearchStrategy[Any]] = {
        "opened_at": opened_at,
        "channel": _enum_values(engine, "channel"),
        "severity": _enum_values(engine, "severity"),
        "category": _enum_values(engine, "category"),
        "request": request,
        "item": item,
        "promise": promise,
        "attributes": attributes,
    }
    unknown = set(sections) - set(optional)
    if unknown:
        raise ValueError(f"unknown ticket sections {sorted(unknown)}; optional ones: {sorted(optional)}")
    required = {name: optional.pop(name) for name in sorted(sections)}
    # A section or field the bundle's conditions read is there a third to a half of the time (an
    # optional key of a fixed dictionary about a fifth to a quarter), as None when not: dropped
    # below. Shrinking goes to None, so a counterexample keeps only what it needs.
    for name in sorted(_read_sections(engine) & set(optional)):
        required[name] = st.one_of(st.none(), optional.pop(name))
    drawn = st.fixed_dictionaries(
        {
            "id": _with_constants(engine, "id", st.from_regex(r"T-[0-9]{1,6}", fullmatch=True)),
            "customer": st.fixed_dictionaries(
                {"id": _with_constants(engine, "customer.id", st.just("C-1"))},
                optional={
                    "tier": _enum_values(engine, "customer.tier"),
                    "lifetime_value": _money_for(
                        engine,
                        "customer.lifetime_value",
                        st.one_of(money(Decimal("2000")), around([Decimal("1000")])),
                    ).map(_as_json),
                    "abusive": st.booleans(),
                },
            ),
            "agent": st.fixed_dictionaries(
                {
                    "id": _with_constants(engine, "agent.id", st.just("A-1")),
                    "role": st.just(agent_role) if agent_role else st.sampled_from(ROLES),
                }
            ),
            **required,
        },
        optional=optional,
    )
    return drawn.map(lambda ticket: {key: value for key, value in ticket.items() if value is not None})


def _read_sections(engine: Engine | None) -> set[str]:
    """The ticket's top-level keys the bundle's conditions read (`request` for `request.amount`,
    `item` for a comparison with `{fact: item.regular_price}`)."""
    if engine is None:
        return set()
    read: set[str] = set()
    for compare in (c for condition in _conditions(engine) for c in compares(condition)):
        read.add(compare.path.partition(".")[0])
        if isinstance(compare.operand, FactRef):
            read.add(compare.operand.path.partition(".")[0])
    return read
