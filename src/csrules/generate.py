"""Synthetic ticket histories: `generate_tickets(count, seed)` -> tickets in their JSON form. No I/O.

For teams without a helpdesk export who want to try `csrules diff`: a plausible history, not a
test of boundaries (csrules.testing.strategies draws those). The mix, per ticket:

- customers come from a pool (one per three tickets, at most 100,000) and come back; tier and
  lifetime value go together (a one-time customer has spent little, an advocate a lot); about 5%
  of tickets have an abusive customer;
- categories, channels and severities in helpdesk-like proportions; the request follows the
  category (stock complaints ask for rainchecks and price matches, delivery ones for credits);
  about one ticket in four asks for nothing;
- most amounts are small, with a long tail of large ones (up to a few thousand);
- rainchecks mostly for sale items that ran out, some that do not qualify;
- delivery tickets usually carry a promise, a quarter of them earlier than feasible;
- `opened_at` increases over about six months from 2026-01-05, in shop-like local offsets.

Only `random.Random(seed)` draws, with integer arithmetic for money (no floating-point library
functions, whose last bits may differ between platforms), and no clock: the same seed and
csrules version give the same tickets, and `json.dumps` of them the same bytes.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, TypeVar

from .ticket import ROLES

__all__ = ["START", "generate_tickets"]

START = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
"""The `opened_at` of the first generated ticket."""

# The history covers about six months up to about 5 million tickets: gaps are whole seconds,
# averaging this span / count rounded down, and at least 1 on average (docs/impact.md).
_SPAN_SECONDS = 180 * 24 * 3600
# Customers are drawn before the first ticket: one per three tickets, at most this many, so that
# memory stays bounded (about 20 MiB) and the first ticket comes at once whatever the count.
_MAX_CUSTOMERS = 100_000

_T = TypeVar("_T")

# (value, weight): weights are integers so every draw is exact.
_CATEGORIES = (
    ("delivery", 22),
    ("product", 20),
    ("billing", 18),
    ("other", 16),
    ("stock", 12),
    ("onboarding", 6),
    ("employee_behavior", 3),
)
_CHANNELS = {
    "stock": (("in_store", 55), ("phone", 15), ("web", 15), ("chat", 10), ("email", 5)),
    "employee_behavior": (("in_store", 40), ("phone", 25), ("email", 20), ("web", 10), ("chat", 5)),
}
_DEFAULT_CHANNELS = (("web", 30), ("email", 20), ("chat", 20), ("phone", 18), ("in_store", 12))
_SEVERITIES = (("normal", 55), ("low", 25), ("high", 15), ("urgent", 5))
# What a ticket of each category asks for; None: no remedy, only a complaint or a question.
_REQUESTS: dict[str, tuple[tuple[str | None, int], ...]] = {
    "stock": (("raincheck", 60), ("price_match", 20), ("discount", 10), (None, 10)),
    "product": (("refund", 45), ("replacement", 35), ("credit", 10), (None, 10)),
    "billing": (("refund", 55), ("credit", 30), (None, 15)),
    "delivery": (("credit", 40), ("goodwill", 20), ("replacement", 20), ("refund", 10), (None, 10)),
    "employee_behavior": (("goodwill", 50), (None, 50)),
    "onboarding": (("discount", 30), (None, 70)),
    "other": (("goodwill", 25), ("refund", 15), (None, 60)),
}
_TIERS = (("one_time", 35), ("occasional", 30), ("frequent", 20), ("loyal", 10), ("advocate", 5))
# Lifetime value in cents, (low, high) per tier: drawn within the range, so tier and value correlate.
_LIFETIME_CENTS = {
    "one_time": (0, 15_000),
    "occasional": (5_000, 60_000),
    "frequent": (30_000, 250_000),
    "loyal": (100_000, 800_000),
    "advocate": (200_000, 2_000_000),
}
# Amount buckets in cents: most remedies are small, a few are large.
_AMOUNT_BUCKETS = (
    ((100, 1_000), 30),
    ((1_000, 2_500), 28),
    ((2_500, 5_000), 20),
    ((5_000, 10_000), 12),
    ((10_000, 30_000), 7),
    ((30_000, 300_000), 3),
)
_ROLE_WEIGHTS = (70, 18, 9, 3)  # front_line, senior, supervisor, manager: who handles tickets
_OFFSETS = (timezone(timedelta(hours=-5)), timezone(timedelta(hours=-6)), timezone(timedelta(hours=-8)), UTC)
_PRODUCTS = (
    "DELI-SMOKED-HAM-1LB",
    "BAKERY-SOURDOUGH",
    "DAIRY-GREEK-YOGURT-6",
    "PRODUCE-AVOCADO-4",
    "KITCHEN-KETTLE-1.7L",
    "KITCHEN-TOASTER-2S",
    "HOME-DESK-LAMP",
    "HOME-BATH-TOWEL-SET",
    "TOYS-BUILDING-BLOCKS",
    "GARDEN-HOSE-25FT",
    "ELEC-HEADPHONES",
    "ELEC-PHONE-CHARGER",
)


def _pick(rng: random.Random, table: Sequence[tuple[_T, int]]) -> _T:
    total = sum(weight for _, weight in table)
    roll = rng.randrange(total)
    for value, weight in table:
        if roll < weight:
            return value
        roll -= weight
    raise AssertionError("unreachable: roll < total")


def _money(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


@dataclass(frozen=True)
class _Customer:
    id: str
    tier: str
    lifetime_cents: int
    difficult: bool


@dataclass(frozen=True)
class _Agent:
    id: str
    role: str


def _customers(rng: random.Random, count: int) -> list[_Customer]:
    out = []
    for index in range(count):
        tier = _pick(rng, _TIERS)
        low, high = _LIFETIME_CENTS[tier]
        # 3% of customers are difficult: more than half their tickets report abuse.
        out.append(_Customer(f"C-{index + 1:05d}", tier, rng.randint(low, high), rng.randrange(100) < 3))
    return out


def _agents(rng: random.Random) -> list[_Agent]:
    agents = []
    for index in range(60):
        role = _pick(rng, tuple(zip(ROLES, _ROLE_WEIGHTS, strict=True)))
        agents.append(_Agent(f"A-{index + 1:03d}", role))
    return agents


def _item(rng: random.Random, kind: str | None, category: str) -> dict[str, Any] | None:
    if kind in ("raincheck", "price_match") or category == "stock":
        on_sale = rng.randrange(100) < (85 if kind == "raincheck" else 40)
        in_stock = rng.randrange(100) < (10 if kind == "raincheck" else 50)
    elif category == "product" and rng.randrange(100) < 80:
        on_sale, in_stock = rng.randrange(100) < 20, rng.randrange(100) < 80
    else:
        return None
    regular = rng.randint(199, 12_999)
    item: dict[str, Any] = {
        "sku": rng.choice(_PRODUCTS),
        "on_sale": on_sale,
        "in_stock": in_stock,
        "regular_price": _money(regular),
    }
    if on_sale and rng.randrange(100) < 95:  # a few sale items were entered without their price
        item["sale_price"] = _money(regular * rng.randint(60, 90) // 100)
    return item


def _amount(rng: random.Random, kind: str, item: dict[str, Any] | None) -> int:
    if kind in ("raincheck", "price_match") and item is not None:
        regular = int(item["regular_price"].replace(".", ""))
        sale = int(item.get("sale_price", "0").replace(".", "")) or regular * 80 // 100
        return max(regular - sale, 1) * rng.randint(1, 3)  # the saving on one to three units
    low, high = _pick(rng, _AMOUNT_BUCKETS)
    cents = rng.randint(low, high - 1)
    return cents - cents % 100 if rng.randrange(100) < 40 else cents  # round amounts are common


def _ticket(
    rng: random.Random, number: int, opened: datetime, customer: _Customer, agent: _Agent
) -> dict[str, Any]:
    category = _pick(rng, _CATEGORIES)
    kind = _pick(rng, _REQUESTS[category])
    abusive = rng.randrange(100) < (60 if customer.difficult else 3)
    severity = _pick(rng, _SEVERITIES)
    if abusive and severity in ("low", "normal") and rng.randrange(2):
        severity = "high"
    offset = _OFFSETS[int(customer.id[2:]) % len(_OFFSETS)]  # a customer shops in one region
    ticket: dict[str, Any] = {
        "id": f"T-{number:06d}",
        "opened_at": opened.astimezone(offset).isoformat(),
        "channel": _pick(rng, _CHANNELS.get(category, _DEFAULT_CHANNELS)),
        "severity": severity,
        "category": category,
        "customer": {
            "id": customer.id,
            "tier": customer.tier,
            "lifetime_value": _money(customer.lifetime_cents),
        },
        "agent": {"id": agent.id, "role": agent.role},
    }
    if abusive:
        ticket["customer"]["abusive"] = True
    item = _item(rng, kind, category)
    if kind is not None:
        ticket["request"] = {"kind": kind, "amount": _money(_amount(rng, kind, item))}
    if item is not None:
        ticket["item"] = item
    if category == "delivery" and rng.randrange(100) < 70:
        promised = opened.date() + timedelta(days=rng.randint(1, 7))
        roll = rng.randrange(100)
        late = rng.randint(1, 5) if roll < 25 else -rng.randint(0, 2) if roll < 40 else 0
        feasible = promised + timedelta(days=late)
        ticket["promise"] = {"delivery_date": promised.isoformat(), "earliest_feasible": feasible.isoformat()}
    return ticket


def generate_tickets(count: int, seed: int = 0, *, start: datetime = START) -> Iterator[dict[str, Any]]:
    """`count` valid tickets in their JSON form, in `opened_at` order, from `seed` alone.

    Args:
        count: how many tickets (0 or more).
        seed: 0 or more; the same seed gives the same tickets.
        start: the `opened_at` of the first ticket (aware).

    Raises:
        TypeError: `count` or `seed` is not an int (a bool included).
        ValueError: `count` or `seed` is negative (`random.Random` would read `-s` as `s`), or
            `start` is naive (it would be read in the machine's time zone).
    """
    for name, number in (("count", count), ("seed", seed)):
        if isinstance(number, bool) or not isinstance(number, int):  # a NaN seed hashes by identity
            raise TypeError(f"{name} must be an int, got {number!r}")
        if number < 0:
            raise ValueError(f"{name} must be 0 or more, got {number}")
    if start.utcoffset() is None:
        raise ValueError(f"start must be an aware datetime, got {start!r}")
    return _generate(count, seed, start)  # checked at the call, not at the first ticket


def _generate(count: int, seed: int, start: datetime) -> Iterator[dict[str, Any]]:
    rng = random.Random(seed)
    customers = _customers(rng, min(max(1, count // 3), _MAX_CUSTOMERS))
    agents = _agents(rng)
    by_role = {role: [a for a in agents if a.role == role] for role in ROLES}
    mean_gap = max(1, _SPAN_SECONDS // max(count, 1))
    opened = start
    for number in range(1, count + 1):
        # Regulars come back: half the tickets come from the first fifth of the pool.
        pool = customers[: max(1, len(customers) // 5)] if rng.randrange(2) else customers
        customer = rng.choice(pool)
        role = _pick(rng, tuple(zip(ROLES, _ROLE_WEIGHTS, strict=True)))
        agent = rng.choice(by_role[role] or agents)
        yield _ticket(rng, number, opened, customer, agent)
        opened += timedelta(seconds=rng.randint(0, 2 * mean_gap))
