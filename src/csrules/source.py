"""Source positions and JSON pointers. Imports nothing from csrules.

`SourceSpan` locates a policy construct (1-based line and column). `pointer()` is the only
function that builds RFC 6901 JSON pointers.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["SourceSpan", "pointer"]


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
