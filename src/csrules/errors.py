"""Every error csrules raises on purpose.

```
Error              base of every error csrules raises on purpose
├── PolicyError    a policy file or parameter is wrong: .file .line .column (1-based) .code .diagnostics
├── TicketError    a ticket's facts are wrong: .path (RFC 6901 JSON pointer) .code .expected .got
├── AuditError     a decision record or decision log is malformed or tampered: .file .line .code
└── EngineError    durable_rules failed; chained with `from`; the message names the rule id when known
```

Error codes are kebab-case slugs that never change once released; docs/errors.md has a section per
code and a test keeps the two in step. This module imports nothing from csrules but `source`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .source import SourceSpan

__all__ = ["AuditError", "Diagnostic", "EngineError", "Error", "PolicyError", "TicketError", "one_line"]

# Characters that end or garble a line on a terminal or in a log, and how a message shows them.
_CONTROLS = {code: f"\\x{code:02x}" for code in (*range(0x20), 0x7F, 0x85)}
_CONTROLS |= {0x09: "\\t", 0x0A: "\\n", 0x0D: "\\r", 0x2028: "\\u2028", 0x2029: "\\u2029"}
# A lone surrogate (from a JSON `"\\ud800"` or a Python str) cannot be encoded: printing it fails.
_CONTROLS |= {code: f"\\u{code:04x}" for code in range(0xD800, 0xE000)}
# C1 controls: U+009B is the 8-bit CSI some terminals act on.
_CONTROLS |= {code: f"\\x{code:02x}" for code in range(0x80, 0xA0)}
# Format characters (Unicode category Cf, Unicode 15): bidirectional formatting reorders what
# follows it on the line (U+202E shows the outcome after a ticket id reversed), as the Trojan
# Source advisories warn; zero-width spaces and joiners, the soft hyphen, the byte order mark and
# tag characters are invisible, so `T-1` and `T-\u200b1` would read alike. Written out.
_FORMAT = (
    0x00AD,
    *range(0x0600, 0x0606),
    0x061C,
    0x06DD,
    0x070F,
    0x0890,
    0x0891,
    0x08E2,
    0x180E,
    *range(0x200B, 0x2010),
    *range(0x202A, 0x202F),
    *range(0x2060, 0x2065),
    *range(0x2066, 0x2070),
    0xFEFF,
    *range(0xFFF9, 0xFFFC),
    0x110BD,
    0x110CD,
    *range(0x13430, 0x13440),
    *range(0x1BCA0, 0x1BCA4),
    *range(0x1D173, 0x1D17B),
    0xE0001,
    *range(0xE0020, 0xE0080),
)
_CONTROLS |= {code: f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}" for code in _FORMAT}


def one_line(text: str) -> str:
    """`text` with line breaks and other control characters escaped (`\\n`, `\\x9b`), and lone
    surrogates and invisible format characters (`\\ud800`, `\\u202e`, `\\u200b`): a message that
    quotes a key, a file name or a parameter name of the caller's stays one line, in order, can be
    printed, and shows two texts that differ as different."""
    return text.translate(_CONTROLS)


class Error(Exception):
    """Base class of every error csrules raises on purpose."""


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One problem found in a policy bundle.

    Attributes:
        code: stable kebab-case slug, e.g. ``unknown-fact-path``.
        message: one line, lowercase start, user values in backticks.
        span: where the problem is; None for problems outside any file.
        help: an optional hint, e.g. "did you mean `item.on_sale`?".
        scope: what a problem without a span is about: "params" (an override), "paths" (the
            paths given to load) or "bundle" (the bundle as a whole).
        param: for a problem with a `params` override, the parameter's name (a case file then
            points at where it gives that parameter).
    """

    code: str
    message: str
    span: SourceSpan | None = None
    help: str | None = None
    scope: str = "bundle"
    param: str | None = None

    def __str__(self) -> str:
        """One line that can be printed: a key, a file name or a parameter value of the caller's
        with a line break, an escape or a lone surrogate is written out (`one_line`)."""
        where = str(self.span) if self.span else self.scope
        text = f"{where}: {self.message}"
        return one_line(f"{text} ({self.help})" if self.help else text)

    def sort_key(self) -> tuple[str, int, int, str, str]:
        """Order diagnostics by file, line, column, then code and message."""
        if self.span is None:
            return ("", 0, 0, self.code, self.message)
        return (self.span.file, self.span.line, self.span.column, self.code, self.message)


class PolicyError(Error, ValueError):
    """A policy bundle could not be loaded: YAML syntax, schema, unknown fact path, bad parameter.

    Raised by ``csrules.load()`` after collecting every problem. The first diagnostic (in file,
    line, column order) fills ``code``, ``file``, ``line`` and ``column``; all are in ``diagnostics``.
    ``file``/``line``/``column`` are None for a problem with a ``params`` override.
    """

    def __init__(self, diagnostics: Sequence[Diagnostic]) -> None:
        if not diagnostics:
            raise ValueError("PolicyError needs at least one diagnostic")
        ordered = tuple(sorted(diagnostics, key=Diagnostic.sort_key))
        self.diagnostics: tuple[Diagnostic, ...] = ordered
        first = ordered[0]
        self.code: str = first.code
        self.message: str = first.message
        self.file: str | None = first.span.file if first.span else None
        self.line: int | None = first.span.line if first.span else None
        self.column: int | None = first.span.column if first.span else None
        more = len(ordered) - 1
        suffix = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
        super().__init__(f"{first}{suffix}")

    def __reduce__(self) -> tuple[object, ...]:
        # Rebuilt from its diagnostics, so it pickles (across `ProcessPoolExecutor` workers too)
        # and deep-copies; the instance dict carries what was added after (`__notes__`).
        return (type(self), (self.diagnostics,), dict(self.__dict__))


class TicketError(Error, ValueError):
    """A ticket's facts are invalid. Raised by ``Engine.evaluate()`` before the engine runs.

    Attributes:
        path: RFC 6901 JSON pointer to the offending value or key, e.g. ``/request/amount``
            (``""`` for the ticket as a whole).
        code: stable slug, e.g. ``invalid-money``, ``unknown-field``, ``missing-field``.
        expected: what was expected, in words.
        got: the offending value as written in the input (JSON form), or None when absent.
    """

    def __init__(self, path: str, code: str, expected: str, got: str | None) -> None:
        self.path = path
        self.code = code
        # Written escaped (errors.md): a value of the caller's may hold a line break or a lone
        # surrogate, and `got` must print and log as it is. Escaping again changes nothing.
        self.expected = one_line(expected)
        self.got = None if got is None else one_line(got)
        where = f"ticket {path}" if path else "ticket"  # "/" is the pointer to a key ""
        found = "nothing" if got is None else got
        super().__init__(one_line(f"{where}: expected {expected}, got {found} [{code}]"))

    def __reduce__(self) -> tuple[object, ...]:
        # Rebuilt from its fields, so it pickles (a worker process raises it to its caller) and
        # deep-copies; the instance dict carries what was added after (`__notes__`).
        return (type(self), (self.path, self.code, self.expected, self.got), dict(self.__dict__))


class AuditError(Error, ValueError):
    """A decision record or a decision log cannot be trusted: it is not a decision, a record was
    altered, deleted, reordered or torn, or the log was truncated.

    Attributes:
        code: stable slug, e.g. ``invalid-decision``, ``altered-record``, ``torn-record``.
        file: the file concerned, or None for a decision given as data.
        line: the 1-based line of the first bad record, or None.
    """

    def __init__(self, code: str, message: str, file: str | None = None, line: int | None = None) -> None:
        self.code = code
        self.message = message
        self.file = file
        self.line = line
        where = f"{file}:{line}: " if file and line else f"{file}: " if file else ""
        super().__init__(one_line(f"{where}{message} [{code}]"))  # a quoted key may hold a line break

    def __reduce__(self) -> tuple[object, ...]:
        # Rebuilt from its fields, so it pickles and deep-copies (see TicketError.__reduce__).
        return (type(self), (self.code, self.message, self.file, self.line), dict(self.__dict__))


class EngineError(Error, RuntimeError):
    """durable_rules failed in a way csrules could not prevent. Always chained with ``from``."""
