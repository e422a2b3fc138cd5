"""Fact values of a validated ticket, by dotted fact path. No I/O.

Absent facts (a missing optional section, or a null) are simply not in the mapping: every
comparison with an absent fact is false, and only `exists: false` holds (docs/language.md).
"""

from __future__ import annotations

from typing import Any

from .ticket import FACT_TYPES, Ticket

__all__ = ["fact_values"]

_PATHS = tuple((path, tuple(path.split("."))) for path in FACT_TYPES)


def fact_values(ticket: Ticket) -> dict[str, Any]:
    """Every present fact of `ticket` as `{path: value}`, custom attributes as `attributes.<name>`.

    Values keep their Python types: Decimal money, date, datetime, str, bool.
    """
    out: dict[str, Any] = {}
    for path, parts in _PATHS:
        value: Any = ticket
        for part in parts:
            value = getattr(value, part)
            if value is None:
                break
        if value is not None:
            out[path] = value
    for name, value in ticket.attributes.items():
        out[f"attributes.{name}"] = value
    return out
