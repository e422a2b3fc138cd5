"""Regions of tickets, symbolically: rule conditions in DNF and exact satisfiability. Pure, no I/O.

Input: a validated Bundle. Output: terms (conjunctions of literals), satisfying assignments of
fact values, and example tickets in JSON form; `analyze.py` builds its warnings on these.

Exactness (docs/analysis.md): `solve()` returning None is a proof that no ticket satisfies the
term; an assignment it returns may still be unrealisable (see `Solution.exact`), so every claim
that something happens on some ticket is verified with the real engine by the caller.

- Negation is pushed down to the comparisons and kept as a literal's polarity, never rewritten as
  the opposite comparison: with absent facts `not (x > 5)` is `x absent or x <= 5`. Each literal
  is decided by `conditions.compare`, the trace's own semantics, on candidate values.
- Candidates are exact: for an ordered fact on its unit lattice (cents, days, microseconds) the
  truth of `x op c` changes only between `c - 1` and `c + 1`, so every non-empty set of solutions
  contains a domain bound or a constant `c`, `c - 1` or `c + 1`. Unordered facts take every
  enum value, or the constants plus one fresh string.
- Facts of one ticket section (`request`, `item`, `promise`) are present or absent together.
- `derived.x eq/ne/in... v` is replaced by the conditions of the rules deriving `x` when they all
  derive the same value (`x` takes it exactly when one of them fires); otherwise the derived fact
  takes any of its possible values (its default and every derived value), an over-approximation.
  `decision.*` facts take any value of their enum (over-approximation).
- Fact references and custom attributes are opaque atoms: only `p and not p` is a contradiction.
Over-approximations keep "unsatisfiable" exact and make "satisfiable" a claim to verify.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from .conditions import compare
from .policy import DECISION_TYPES, AllOf, AnyOf, Bundle, Compare, Condition, FactRef, Not, ParamRef, Rule
from .source import SourceSpan
from .ticket import FACT_TYPES
from .values import DECIMAL, MONEY_MAX

__all__ = ["MAX_TERMS", "Lit", "Regions", "Solution", "Term", "TooLarge", "json_form", "section_of"]

MAX_TERMS = 256
"""Largest DNF a condition may expand to; beyond it the rule is not analysed."""

_TRUE = AllOf(())
_FALSE = AnyOf(())
_CENT = Decimal("0.01")

# Ticket sections: every fact of a section is present exactly when the section is (the optional
# prices of an item aside, which may be absent in a present item).
_SECTIONS: Mapping[str, tuple[str, ...]] = {
    "request": ("request.kind", "request.amount", "request.currency"),
    "item": ("item.sku", "item.on_sale", "item.in_stock", "item.regular_price", "item.sale_price"),
    "promise": ("promise.delivery_date", "promise.earliest_feasible"),
}
_OPTIONAL = frozenset({"opened_at", "item.regular_price", "item.sale_price"})
_FILL: Mapping[str, Mapping[str, Any]] = {
    "request": {"kind": "refund", "amount": 1.0},
    "item": {"sku": "SKU-1", "on_sale": False, "in_stock": True},
    "promise": {"delivery_date": "2026-11-23", "earliest_feasible": "2026-11-23"},
}
_BOUNDS: Mapping[str, tuple[Any, Any, Any]] = {  # kind -> (lowest, highest, unit): what a ticket may hold
    "money": (Decimal("0.00"), MONEY_MAX, _CENT),
    "date": (date.min, date.max, timedelta(days=1)),
    "datetime": (  # the years 1900 to 9000 in UTC (values.in_utc): a ladder gap's end is one a ticket has
        datetime(1900, 1, 1, tzinfo=UTC),
        datetime(9000, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        timedelta(microseconds=1),
    ),
}


class TooLarge(Exception):
    """A condition expands to more than MAX_TERMS alternatives: the rule is not analysed."""


@dataclass(frozen=True, slots=True)
class Lit:
    """A comparison and whether it must hold (`positive`) or fail (under an odd number of `not`s)."""

    compare: Compare
    positive: bool


Term = tuple[Lit, ...]


def _exists(path: str) -> Compare:
    """`path exists: true`, made here: what an opaque comparison on `path` needs of it."""
    return Compare(path, "exists", True, FACT_TYPES[path], SourceSpan("", 0, 0), "")


@dataclass(frozen=True, slots=True)
class Solution:
    """Fact values (None = absent) that satisfy a term, the sections present, and `exact`:
    False when the term has opaque atoms or relaxed facts, so the values alone may not realise it."""

    values: Mapping[str, Any]
    sections: Mapping[str, bool]
    exact: bool


def section_of(path: str) -> str | None:
    """The optional ticket section a fact belongs to (`request`, `item`, `promise`), or None."""
    head = path.split(".", 1)[0]
    return head if head in _SECTIONS else None


def _same(a: object, b: object) -> bool:
    return type(a) is type(b) and a == b


def json_form(value: object) -> Any:
    """A fact value as a ticket's JSON form takes it: money a number, dates ISO strings."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime):
        try:
            text = value.astimezone(UTC).isoformat()
        except OverflowError:  # its instant in UTC is past the calendar's end (or before its start)
            return value.isoformat()
        return text[:-6] + "Z" if text.endswith("+00:00") else text
    if isinstance(value, date):
        return value.isoformat()
    return value


class Regions:
    """DNF and satisfiability over one bundle (effective parameters resolved)."""

    def __init__(self, bundle: Bundle, params: Mapping[str, Any] | None = None) -> None:
        self.bundle = bundle
        self.params = bundle.params if params is None else params
        self._deriving: dict[str, list[tuple[Rule, Any]]] = {name: [] for name in bundle.derived}
        # Each comparison's DNF (by identity, and polarity), made once: a chain of derived facts
        # each tested several times would inline the rules below it again and again (4**N calls).
        self._compared: dict[tuple[int, bool], tuple[Compare, list[Term]]] = {}
        for rule in bundle.rules:
            for name, value in rule.then.derive:
                self._deriving.setdefault(name, []).append((rule, self.resolve(value)))

    # -- operands --

    def resolve(self, operand: Any) -> Any:
        """A literal operand as is, a parameter reference as its effective value."""
        if isinstance(operand, ParamRef):
            return self.params[operand.name]
        return operand

    @staticmethod
    def opaque(c: Compare) -> bool:
        """Comparisons decided by no domain here: fact references and custom attributes."""
        return isinstance(c.operand, FactRef) or c.path.startswith("attributes.")

    def relaxed(self, path: str) -> bool:
        """Facts that take any possible value here, not the value the engine would give them."""
        return path.startswith(("derived.", "decision."))

    # -- DNF --

    def dnf(self, condition: Condition, negate: bool = False) -> list[Term]:
        """The condition (negated when `negate`) as a list of alternative terms.

        Raises:
            TooLarge: more than MAX_TERMS terms.
        """
        if isinstance(condition, Compare):
            known = self._compared.get((id(condition), negate))
            if known is not None:
                return known[1]
            inlined = self.inline(condition)
            found: list[Term] = (
                [(Lit(condition, not negate),)] if inlined is None else self.dnf(inlined, negate)
            )
            self._compared[(id(condition), negate)] = (condition, found)  # kept: its id stays its own
            return found
        if isinstance(condition, Not):
            return self.dnf(condition.item, not negate)
        parts = [self.dnf(item, negate) for item in condition.items]
        if isinstance(condition, AllOf) != negate:  # all of, or not any of: a conjunction
            terms: list[Term] = [()]
            for part in parts:
                # A literal once per term: `derived.x: {eq: true, in: [true]}` inlines the same
                # deriving conditions twice, and a chain of such tests would double them per link.
                terms = [a + tuple(lit for lit in b if lit not in a) for a in terms for b in part]
                if len(terms) > MAX_TERMS:
                    raise TooLarge
            return terms
        union = [term for part in parts for term in part]
        if len(union) > MAX_TERMS:
            raise TooLarge
        return union

    def inline(self, c: Compare) -> Condition | None:
        """A derived-fact comparison as a condition on the deriving rules, or None."""
        if not c.path.startswith("derived.") or isinstance(c.operand, FactRef):
            return None
        name = c.path.removeprefix("derived.")
        deriving = self._deriving.get(name, [])
        default = self.bundle.derived[name].default
        expected = self.resolve(c.operand)
        holds_default = compare(c.op, default, expected, False)
        if not deriving:
            return _TRUE if holds_default else _FALSE
        value = deriving[0][1]
        if not all(_same(v, value) for _, v in deriving):
            return None
        holds_value = compare(c.op, value, expected, False)
        fired = AnyOf(tuple(rule.when for rule, _ in deriving))
        if holds_value and holds_default:
            return _TRUE
        if holds_value:
            return fired
        if holds_default:
            return Not(fired)
        return _FALSE

    # -- satisfiability --

    def _constants(self, lits: Iterable[Lit]) -> list[Any]:
        out: list[Any] = []
        for lit in lits:
            c = lit.compare
            if c.op == "exists":
                continue
            expected = self.resolve(c.operand)
            out.extend(expected if isinstance(expected, tuple) else (expected,))
        return out

    def _domain(self, path: str, lits: list[Lit]) -> list[Any]:
        """Candidate present values of `path`, in a stable order."""
        if path.startswith("derived."):
            name = path.removeprefix("derived.")
            values = [self.bundle.derived[name].default, *(v for _, v in self._deriving.get(name, []))]
            unique: list[Any] = []
            for value in values:
                if not any(_same(value, u) for u in unique):
                    unique.append(value)
            return unique
        fact_type = DECISION_TYPES.get(path) or FACT_TYPES[path]
        if path == "request.currency":
            return [self.bundle.currency]
        if fact_type.kind == "enum":
            return list(fact_type.values)
        if fact_type.kind == "boolean":
            return [False, True]
        constants = self._constants(lits)
        if fact_type.kind in _BOUNDS:
            low, high, unit = _BOUNDS[fact_type.kind]
            if fact_type.kind == "money":
                constants = [Decimal(c) for c in constants]
            points: list[Any] = []
            for c in constants:
                for delta in (0, -1, 1):
                    try:  # Decimal in csrules' own context, whatever the caller's thread uses
                        point = DECIMAL.fma(delta, unit, c) if isinstance(c, Decimal) else c + delta * unit
                    except OverflowError:
                        continue
                    if low <= point <= high and point not in points:
                        points.append(point)
            points.sort()
            return points + [p for p in (low, high) if p not in points]
        # strings: the constants, and one value equal to none of them
        texts = sorted({c for c in constants if isinstance(c, str) and c})
        fresh = next(f"example-{i}" for i in range(len(texts) + 1) if f"example-{i}" not in texts)
        return [*texts, fresh]

    def points(self, path: str, lits: list[Lit]) -> list[Any]:
        """The candidate values of an ordered fact in ascending order (see the module docstring)."""
        return sorted(self._domain(path, lits))

    def _needs(self, lit: Lit) -> list[tuple[str, bool]]:
        """Whether an opaque comparison needs its facts present (any comparison but `exists` is
        false on an absent fact) or absent (`exists: false`): (path, present) pairs."""
        c = lit.compare
        if c.op == "exists":
            return [(c.path, (self.resolve(c.operand) is True) == lit.positive)]
        if not lit.positive:
            return []
        return [(c.path, True), *([(c.operand.path, True)] if isinstance(c.operand, FactRef) else [])]

    def solve(self, term: Term) -> Solution | None:
        """Fact values satisfying every literal of `term`, or None when no ticket can."""
        atoms: dict[tuple[str, str, str], bool] = {}
        by_path: dict[str, list[Lit]] = {}
        needed: dict[str, bool] = {}  # what opaque comparisons need of a fact: present or absent
        exact = True
        for lit in term:
            c = lit.compare
            if self.opaque(c):
                key = (c.path, c.op, repr(self.resolve(c.operand)))
                if atoms.setdefault(key, lit.positive) != lit.positive:
                    return None
                exact = False
                if any(needed.setdefault(path, want) != want for path, want in self._needs(lit)):
                    return None  # `exists: false` beside a comparison that needs the fact
                continue
            if self.relaxed(c.path):
                exact = False
            by_path.setdefault(c.path, []).append(lit)
        solutions: dict[str, list[Any]] = {}
        for path, want in needed.items():  # an opaque comparison's needs on a ticket's own fact
            if path in by_path and path in FACT_TYPES:
                by_path[path] = [*by_path[path], Lit(_exists(path), want)]
        for path, lits in by_path.items():
            candidates = [*self._domain(path, lits), None]
            solutions[path] = [
                v
                for v in candidates
                if all(
                    compare(lit.compare.op, v, self.resolve(lit.compare.operand), False) is lit.positive
                    for lit in lits
                )
            ]
        values: dict[str, Any] = {}
        sections: dict[str, bool] = {}
        for path, found in solutions.items():
            section = section_of(path)
            if section is not None:
                continue
            present = [v for v in found if v is not None]
            if present:
                values[path] = present[0]
            elif None in found and path in _OPTIONAL:
                values[path] = None
            else:
                return None
        for section, paths in _SECTIONS.items():
            mentioned = [p for p in paths if p in solutions]
            if not mentioned:
                continue
            present_ok = all(
                any(v is not None for v in solutions[p]) if p not in _OPTIONAL else solutions[p]
                for p in mentioned
            )
            if present_ok:
                sections[section] = True
                for p in mentioned:
                    present = [v for v in solutions[p] if v is not None]
                    values[p] = present[0] if present else None
            elif all(None in solutions[p] for p in mentioned):
                sections[section] = False
                values.update(dict.fromkeys(mentioned))
            else:
                return None
        return Solution(values, sections, exact)

    def satisfiable(self, condition: Condition) -> bool | None:
        """Whether some ticket may satisfy `condition` (False is exact); None when too large."""
        try:
            return any(self.solve(term) is not None for term in self.dnf(condition))
        except TooLarge:
            return None

    # -- examples --

    @staticmethod
    def ticket(values: Mapping[str, Any], sections: Mapping[str, bool]) -> dict[str, Any]:
        """A ticket in JSON form with these fact values; unmentioned required fields filled in."""
        ticket: dict[str, Any] = {
            "id": "T-example",
            "customer": {"id": "C-example"},
            "agent": {"id": "A-example", "role": "front_line"},
        }
        for section, present in sorted(sections.items()):
            if present:
                ticket[section] = dict(_FILL[section])
        for path, value in sorted(values.items()):
            if value is None or path.startswith(("derived.", "decision.", "attributes.")):
                continue
            parts = path.split(".")
            target = ticket
            for part in parts[:-1]:
                target = target.setdefault(part, dict(_FILL.get(part, {})))
            target[parts[-1]] = json_form(value)
        return ticket
