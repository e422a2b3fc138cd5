"""Source positions, JSON pointers, JSON objects read strictly. Imports nothing from csrules.

`SourceSpan` locates a policy construct (1-based line and column). `pointer()` is the only
function that builds RFC 6901 JSON pointers. `unique_keys` makes `json.loads` refuse an object
with a key twice, which it would otherwise read as its last value; `exact_float` makes it refuse
a number that no float holds, which it would otherwise read as another number.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

__all__ = ["DuplicateKeyError", "SourceSpan", "exact_float", "pointer", "unique_keys"]


@dataclass(frozen=True, slots=True, order=True)
class SourceSpan:
    """A position in a policy file: ``file`` as given by the caller, ``line``/``column`` 1-based."""

    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


def pointer(parts: Iterable[str | int]) -> str:
    """Build an RFC 6901 JSON pointer from path parts: ``("request", "amount")`` -> ``/request/amount``."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


class DuplicateKeyError(ValueError):
    """A JSON object has a key twice (`unique_keys`)."""

    def __init__(self, key: str) -> None:
        super().__init__(f"duplicate key `{key}`")
        self.key = key


def unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """`json.loads(text, object_pairs_hook=unique_keys)`: an object, refusing a key given twice
    (`{"outcome": "escalate", "outcome": "approve"}` would read as approve, showing escalate)."""
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise DuplicateKeyError(key)
            seen.add(key)
    return out


def exact_float(text: str) -> float:
    """`json.loads(text, parse_float=exact_float)`: a JSON number with a fraction or an exponent
    as a float, refusing (ValueError) one that reads back as another number: `1e-999999` would be
    0.0, an amount of 0.00 where `0.001` is refused, and `20.000000000000001` would be 20.0. A
    number too large for a float stays infinite, for the reader to refuse as not finite."""
    value = float(text)
    if math.isfinite(value) and Decimal(repr(value)) != Decimal(text):
        raise ValueError(f"the number {text[:40]} cannot be read exactly (it would read as {value!r})")
    return value
