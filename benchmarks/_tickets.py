"""Deterministic ticket generation shared by the benchmarks (not a benchmark itself).

`generate_tickets(n, seed)` returns `n` tickets in the JSON-dict form `csrules` accepts: money as
strings with two decimals ("45.00"), dates as ISO strings, enums as strings. Amounts cluster around
the default bundle's limits (20, 50, 100), lifetime values around the high-value threshold (1000),
and optional parts (request, item, promise, defaults) are left out often enough that every rule
of the default bundle fires and fails on some tickets. About 4% of the tickets fire no rule of the
default bundle at all (no request, category "other", nothing else).
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from typing import Any

__all__ = ["FIXED_NOW", "generate_tickets", "money", "percentile", "quiet_ticket"]

FIXED_NOW = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)

CHANNELS = ("in_store", "phone", "email", "chat", "web")
SEVERITIES = ("low", "normal", "high", "urgent")
CATEGORIES = ("stock", "product", "employee_behavior", "billing", "delivery", "onboarding", "other")
TIERS = ("one_time", "occasional", "frequent", "loyal", "advocate")
ROLES = ("front_line", "senior", "supervisor", "manager")
REQUEST_KINDS = ("refund", "credit", "replacement", "discount", "goodwill", "price_match", "raincheck")

# Cents on and around the limits 20 / 50 / 100, plus zero.
_BOUNDARY_CENTS = (0, 1, 1999, 2000, 2001, 4999, 5000, 5001, 9999, 10000, 10001)
# Cents on and around the high-value lifetime threshold (1000.00).
_LTV_BOUNDARY_CENTS = (0, 99999, 100000, 100001)


def money(cents: int) -> str:
    """`4500` -> `"45.00"`."""
    return f"{cents // 100}.{cents % 100:02d}"


def percentile(sorted_values: list[float], fraction: float) -> float:
    """The nearest-rank percentile of an already sorted, non-empty list."""
    index = min(len(sorted_values) - 1, max(0, round(fraction * len(sorted_values)) - 1))
    return sorted_values[index]


def quiet_ticket(index: int) -> dict[str, Any]:
    """A ticket that fires no rule of the default bundle: no request, category `other`."""
    return {
        "id": f"Q-{index}",
        "category": "other",
        "customer": {"id": f"C-Q{index}"},
        "agent": {"id": "A-Q", "role": "front_line"},
    }


def _amount_cents(rng: random.Random) -> int:
    roll = rng.random()
    if roll < 0.45:
        return rng.choice(_BOUNDARY_CENTS)
    if roll < 0.85:
        return rng.randint(0, 12_000)
    return rng.randint(12_000, 100_000)


def _ticket(rng: random.Random, index: int) -> dict[str, Any]:
    if rng.random() < 0.04:
        return quiet_ticket(index)
    customer: dict[str, Any] = {"id": f"C-{rng.randint(1, 50_000):05d}"}
    if rng.random() < 0.9:
        customer["tier"] = rng.choice(TIERS)
    if rng.random() < 0.9:
        ltv = rng.choice(_LTV_BOUNDARY_CENTS) if rng.random() < 0.3 else rng.randint(0, 600_000)
        customer["lifetime_value"] = money(ltv)
    if rng.random() < 0.3:
        customer["abusive"] = rng.random() < 0.2

    role = rng.choices(ROLES, weights=(60, 20, 15, 5))[0]
    ticket: dict[str, Any] = {
        "id": f"T-{index}",
        "customer": customer,
        "agent": {"id": f"A-{rng.randint(1, 200):03d}", "role": role},
    }
    if rng.random() < 0.8:
        ticket["channel"] = rng.choice(CHANNELS)
    if rng.random() < 0.85:
        ticket["severity"] = rng.choice(SEVERITIES)
    if rng.random() < 0.9:
        ticket["category"] = rng.choice(CATEGORIES)
    if rng.random() < 0.3:
        opened = FIXED_NOW - timedelta(minutes=rng.randint(1, 60 * 24 * 10))
        ticket["opened_at"] = opened.isoformat()

    if rng.random() < 0.88:
        kind = "raincheck" if rng.random() < 0.25 else rng.choice(REQUEST_KINDS)
        ticket["request"] = {"kind": kind, "amount": money(_amount_cents(rng))}

    if rng.random() < 0.5:
        regular = rng.randint(99, 20_000)
        item: dict[str, Any] = {
            "sku": f"SKU-{rng.randint(1, 9999):04d}",
            "on_sale": rng.random() < 0.6,
            "in_stock": rng.random() < 0.5,
        }
        if rng.random() < 0.8:
            item["regular_price"] = money(regular)
        if rng.random() < 0.7:
            item["sale_price"] = money(max(1, regular * rng.randint(50, 95) // 100))
        elif rng.random() < 0.3:
            item["sale_price"] = None
        ticket["item"] = item

    if rng.random() < 0.2:
        promised = date(2026, 11, 20) + timedelta(days=rng.randint(0, 20))
        feasible = promised + timedelta(days=rng.randint(-4, 4))
        ticket["promise"] = {
            "delivery_date": promised.isoformat(),
            "earliest_feasible": feasible.isoformat(),
        }

    if rng.random() < 0.15:
        ticket["attributes"] = {
            "order_id": f"O-{rng.randint(1, 99_999)}",
            "warranty_months": rng.randint(0, 36),
        }
    return ticket


def generate_tickets(count: int, seed: int = 1) -> list[dict[str, Any]]:
    """`count` varied, valid tickets; the same `seed` always gives the same tickets."""
    rng = random.Random(seed)
    return [_ticket(rng, index) for index in range(count)]
