"""Source positions, JSON pointers, JSON objects read strictly. Imports nothing from csrules.

`SourceSpan` locates a policy construct (1-based line and column). `pointer()` is the only
function that builds RFC 6901 JSON pointers. `unique_keys` makes `json.loads` refuse an object
with a key twice, which it would otherwise read as its last value; `exact_float` makes it refuse
a number that no float holds, which it would otherwise read as another number. `read_limited`
and `limited_lines` read a JSON document or JSON Lines in bounded memory: at most `MAX_JSON_BYTES`
a document or a line, whatever the file is (`/dev/zero`, a 3 GB line).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import IO, Any, AnyStr, BinaryIO

__all__ = [
    "MAX_JSON_BYTES",
    "DuplicateKeyError",
    "SourceSpan",
    "TooLarge",
    "blank_line",
    "exact_float",
    "json_problem",
    "limit_text",
    "limited_lines",
    "no_constant",
    "pointer",
    "read_limited",
    "unique_keys",
]

MAX_JSON_BYTES = 256 << 20
"""The most bytes read as one JSON document or one line of JSON Lines: a ticket, a decision, a
log record. A traced decision of a 5,000-rule bundle is about 3.4 MB; past this size the input is
refused, not read into memory whole."""


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


def blank_line(text: str) -> bool:
    """Whether a line of JSON Lines is blank: JSON's whitespace only (space, tab, CR, LF). A line
    of a no-break space, a form feed or U+2028, which Python's `str.strip` would clear, is no JSON
    and is reported as a bad line, not skipped."""
    return not text.strip(" \t\r\n")


def exact_float(text: str) -> float:
    """`json.loads(text, parse_float=exact_float)`: a JSON number with a fraction or an exponent
    as a float, refusing (ValueError) one that reads back as another number: `1e-999999` would be
    0.0, an amount of 0.00 where `0.001` is refused, `20.000000000000001` would be 20.0 and
    `1e400` infinity."""
    value = float(text)
    if not math.isfinite(value) or Decimal(repr(value)) != Decimal(text):
        raise ValueError(f"the number {text[:40]} cannot be read exactly (it would read as {value!r})")
    return value


def no_constant(name: str) -> Any:
    """`json.loads(text, parse_constant=no_constant)`: Python reads `NaN`, `Infinity` and
    `-Infinity`, which are no JSON (ValueError)."""
    raise ValueError(f"{name} is not JSON")


def json_problem(exc: ValueError | RecursionError) -> str:
    """Why `json.loads` refused a text, past its syntax: in words for the text's author, not
    Python's advice (`use sys.set_int_max_str_digits() to increase the limit`)."""
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    if "integer string conversion" in str(exc):
        return f"a whole number of more than {sys.get_int_max_str_digits():,} digits"
    return str(exc)


class TooLarge(ValueError):
    """A JSON document, or line `line` of JSON Lines, is larger than `MAX_JSON_BYTES`."""

    def __init__(self, line: int | None = None) -> None:
        what = "the document" if line is None else f"line {line}"
        super().__init__(f"{what} is larger than {limit_text()}")
        self.line = line

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.line,), dict(self.__dict__))


def limit_text() -> str:
    """`MAX_JSON_BYTES` as messages write it: `256 MiB`."""
    size = MAX_JSON_BYTES
    return f"{size >> 20} MiB" if size % (1 << 20) == 0 else f"{size:,} bytes"


_CHUNK = 1 << 20


def read_limited(handle: IO[AnyStr]) -> AnyStr:
    """The whole of `handle`, or TooLarge past `MAX_JSON_BYTES` (of a text stream, characters).
    Read in chunks: `read(MAX_JSON_BYTES + 1)` would allocate that much for a 1 KB ticket."""
    chunks: list[AnyStr] = []
    size = 0
    while chunk := handle.read(_CHUNK):
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_JSON_BYTES:
            raise TooLarge()
    return chunks[0][:0].join(chunks) if chunks else handle.read(0)


def limited_lines(handle: BinaryIO) -> Iterator[bytes]:
    """The lines of `handle` as iterating it gives them (each with its `\\n`, the last one maybe
    without), or TooLarge at the first line longer than `MAX_JSON_BYTES`."""
    number = 0
    while line := handle.readline(MAX_JSON_BYTES + 1):
        number += 1
        if len(line) > MAX_JSON_BYTES:
            raise TooLarge(number)
        yield line
