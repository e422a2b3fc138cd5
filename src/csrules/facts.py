"""Fact values of a validated ticket, by dotted fact path. No I/O.

Absent facts (a missing optional section, or a null) are simply not in the mapping: every
comparison with an absent fact is false, and only `exists: false` holds (docs/language.md).
"""

from __future__ import annotations

from typing import Any

from .ticket import FACT_TYPES, Ticket

__all__ = ["fact_values"]

# FACT_TYPES' paths as the walk reads them, in its order: the ticket's own fields, then each
# section's (`customer.tier`), sections kept together as FACT_TYPES lists them.
_TOP = tuple(path for path in FACT_TYPES if "." not in path)
_SECTIONS = tuple(
    (
        section,
        tuple((path, path.partition(".")[2]) for path in FACT_TYPES if path.partition(".")[0] == section),
    )
    for section in dict.fromkeys(path.partition(".")[0] for path in FACT_TYPES if "." in path)
)


def fact_values(ticket: Ticket) -> dict[str, Any]:
    """Every present fact of `ticket` as `{path: value}`, custom attributes as `attributes.<name>`,
    in FACT_TYPES' order.

    Values keep their Python types: Decimal money, date, datetime, str, bool.
    """
    # Read from the models' `__dict__`, where a validated model keeps every field (ticket.py's
    # models are revalidated, so none is missing): about half the cost of `getattr`.
    fields = ticket.__dict__
    out: dict[str, Any] = {path: fields[path] for path in _TOP if fields[path] is not None}
    for section, paths in _SECTIONS:
        model = fields[section]
        if model is not None:
            values = model.__dict__
            for path, name in paths:
                value = values[name]
                if value is not None:
                    out[path] = value
    for name, value in ticket.attributes.items():
        out[f"attributes.{name}"] = value
    return out
