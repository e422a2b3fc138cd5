"""Invariants: properties every decision of a bundle must have, checked with hypothesis.

A policy file declares them under `invariants:` (docs/testing.md):

- `monotonic_in: request.amount`: with everything else equal, a larger value never lowers the
  required role;
- `role_monotonic: true`: with everything else equal, a more senior acting agent never gets a
  worse outcome (approve is better than escalate, escalate better than deny);
- `never: {outcome, required_role, when}`: no ticket satisfying `when` gets that outcome and
  required role (each may be a list; an absent one matches any).

`check_invariant` first sweeps the boundaries: a minimal ticket with each money fact the bundle
compares with a limit at, one cent below and one cent above each of its limits (and absent, for a
fact a ticket may leave out), in every combination (`_sweep`); for `monotonic_in`, each of its
fact's points against the next one up. Then it draws `examples` tickets with
`strategies.tickets(engine=...)` and, on a violation, lets hypothesis shrink the ticket to a
minimal counterexample (a `monotonic_in` pair narrowed to adjacent cents), returned with its
decisions (and so its traces). The sweep makes a
violation at a limit, or at a combination of limits (a front-line limit that depends on the
customer's lifetime value), certain to be found, and found at the smallest such amount; random
tickets find the rest. Runs are deterministic for a given `seed`: no clock, no example database.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from itertools import pairwise, product
from typing import Any

from hypothesis import HealthCheck, Phase, Verbosity, example, given, reject, settings
from hypothesis import seed as seeded
from hypothesis import strategies as st

from ..conditions import evaluate_condition
from ..decision import Decision, role_rank
from ..engine import Engine
from ..errors import TicketError
from ..facts import fact_values
from ..policy import Compare, FactRef, Invariant, ParamRef
from ..ticket import FACT_TYPES, ROLES, parse_ticket
from ..values import DECIMAL
from .cases import DEFAULT_NOW
from .strategies import around, boundaries, limits, money, named_values, tickets

__all__ = ["DEFAULT_EXAMPLES", "InvariantResult", "Witness", "check_invariant", "check_invariants"]

DEFAULT_EXAMPLES = 200
"""Tickets (or ticket pairs) drawn per invariant unless the caller asks for another number."""

OUTCOME_RANK = {"approve": 0, "escalate": 1, "deny": 2}
"""Outcomes from best to worst for the acting agent (`role_monotonic`)."""

_MINIMAL_SECTIONS: dict[str, dict[str, Any]] = {
    "request": {"kind": "refund", "amount": "0.00"},
    "item": {"sku": "SKU-1", "on_sale": False, "in_stock": True},
    "promise": {"delivery_date": "2026-01-01", "earliest_feasible": "2026-01-01"},
}
_OPTIONAL_SECTIONS = set(_MINIMAL_SECTIONS)


def _minimal(sections: tuple[str, ...] = ("request",)) -> dict[str, Any]:
    """The smallest valid ticket, with `sections` filled with simple values."""
    ticket: dict[str, Any] = {
        "id": "T-0",
        "customer": {"id": "C-1"},
        "agent": {"id": "A-1", "role": "front_line"},
    }
    for section in sections:
        ticket[section] = dict(_MINIMAL_SECTIONS[section])
    return ticket


_MONEY_FACTS = tuple(
    sorted(
        (path for path, kind in FACT_TYPES.items() if kind.kind == "money"),
        key=lambda p: p != "request.amount",
    )
)
"""The money facts, `request.amount` first: the sweep's slowest-varying fact."""

SWEEP_CAP = 4096
"""The most tickets a sweep's combinations may take; beyond it each fact is swept on its own."""

NAMED_CAP = 1024
"""The most tickets a `never` invariant's sweep adds with a value the bundle names (`_named_sweep`)."""


def _sweep(engine: Engine, base: dict[str, Any], skip: str | None = None) -> list[dict[str, Any]]:
    """Copies of the minimal ticket `base` with each money fact the bundle compares with a limit
    (but `skip`) at, one cent below and one cent above each of its limits, and absent when `base`
    leaves it out: every combination, `request.amount` varying slowest (a violation is met at its
    smallest amount first); each fact on its own (the others as in `base`) when the combinations
    would be more than `SWEEP_CAP`. A fact of a section `base` lacks is not swept: its section
    would change what the ticket is about."""
    axes: list[tuple[str, list[Decimal | None]]] = []
    for path in _MONEY_FACTS:
        section, _, name = path.partition(".")
        points: list[Decimal | None] = list(boundaries(limits(engine, path)))
        if path == skip or not points or section not in base:
            continue
        if name not in base[section]:
            points.insert(0, None)  # absent: the simplest ticket first
        axes.append((path, points))
    if not axes:
        return [base]
    size = 1
    for _, points in axes:
        size *= len(points)
    if size <= SWEEP_CAP:
        combinations = [
            tuple(zip((p for p, _ in axes), values, strict=True)) for values in product(*(v for _, v in axes))
        ]
    else:
        combinations = [((path, value),) for path, points in axes for value in points]
    out = []
    for combination in combinations:
        ticket = base
        for path, value in combination:
            ticket = _with(ticket, path, str(value)) if value is not None else ticket
        out.append(ticket)
    return out


@dataclass(frozen=True)
class Witness:
    """One evaluated ticket of a counterexample; `label` says what distinguishes it from the
    other one of a pair (empty for a `never` counterexample)."""

    label: str
    ticket: dict[str, Any]
    decision: Decision


@dataclass(frozen=True)
class InvariantResult:
    """The result of checking one invariant on one engine.

    `examples` counts the tickets (or pairs) tried; for `never`, `relevant` counts those on which
    `when` held. A `never` invariant whose `when` held on no ticket was not tested, and fails.
    """

    invariant: Invariant
    examples: int
    relevant: int
    problem: str | None = None
    witnesses: tuple[Witness, ...] = ()

    @property
    def passed(self) -> bool:
        """True when no counterexample was found and the invariant was tested."""
        return self.problem is None


class _Violation(Exception):
    def __init__(self, problem: str, witnesses: tuple[Witness, ...]) -> None:
        super().__init__(problem)
        self.problem = problem
        self.witnesses = witnesses


def _settings(examples: int) -> settings:
    return settings(
        max_examples=examples,
        database=None,
        deadline=None,
        derandomize=False,
        phases=(Phase.explicit, Phase.generate, Phase.shrink),
        suppress_health_check=list(HealthCheck),
        verbosity=Verbosity.quiet,
        report_multiple_bugs=False,
    )


@dataclass
class _Run:
    """One invariant check: its clock, the caller's observer, and the counts."""

    now: datetime
    observe: Callable[[Decision], None] | None
    tried: int = 0
    relevant: int = 0


def _evaluate(engine: Engine, ticket: dict[str, Any], run: _Run) -> Decision:
    try:
        decision = engine.evaluate(ticket, now=run.now)
    except TicketError:
        reject()  # a generated ticket the Ticket model refuses: not a counterexample
    if run.observe is not None:
        run.observe(decision)
    return decision


def _with(ticket: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of `ticket` with the fact `path` set (its section must exist, but `attributes`)."""
    head, _, tail = path.partition(".")
    out = dict(ticket)
    if tail:
        out[head] = {**(out.get(head) or {} if head == "attributes" else out[head]), tail: value}
    else:
        out[head] = value
    return out


_CENT = Decimal("0.01")


def _cents(value: Decimal) -> int:
    return int(DECIMAL.multiply(value, 100))


def _shown(value: Decimal) -> str:
    return f"{value:.2f}"


def _monotonic(engine: Engine, invariant: Invariant, run: _Run) -> Any:
    path = invariant.path
    if path is None:  # validate.py gives every monotonic_in invariant its path
        raise ValueError(f"invariant `{invariant.id}` has no path")
    head = path.split(".")[0]
    found = limits(engine, path)
    top = max([Decimal("1000"), *(DECIMAL.multiply(2, v) for v in found)])
    values = st.one_of(around(found), money(top)) if found else money(top)
    sections = (head,) if head in _OPTIONAL_SECTIONS else ()

    @given(tickets(engine=engine, sections=sections), values, values)
    def probe(ticket: dict[str, Any], a: Decimal, b: Decimal) -> None:
        low, high = sorted((a, b))
        if low == high:
            reject()
        lower, higher = _with(ticket, path, str(low)), _with(ticket, path, str(high))
        first, second = _evaluate(engine, lower, run), _evaluate(engine, higher, run)
        run.tried += 1
        if role_rank(second.required_role) < role_rank(first.required_role):
            # Narrow the pair to adjacent cents by bisection, keeping a pair whose larger value
            # requires less: hypothesis shrinks the ticket, not the distance between the values.
            while high - low > _CENT:
                middle = DECIMAL.multiply(Decimal((_cents(low) + _cents(high)) // 2), _CENT)
                between = _with(ticket, path, str(middle))
                decided = _evaluate(engine, between, run)
                if role_rank(decided.required_role) < role_rank(first.required_role):
                    high, higher, second = middle, between, decided
                else:
                    low, lower, first = middle, between, decided
            raise _Violation(
                f"{path} {_shown(low)} requires {first.required_role}, "
                f"but the larger {_shown(high)} requires only {second.required_role}",
                (
                    Witness(f"{path} {_shown(low)}", lower, first),
                    Witness(f"{path} {_shown(high)}", higher, second),
                ),
            )

    base = _minimal(tuple(sorted({"request", *sections})))
    points = boundaries(found) or [Decimal("0.00")]
    # Neighbours in ascending order: a larger value requiring less (a before b, b requiring less)
    # means some neighbours along the way do too, the first of them at the smallest such b. So
    # the sweep is complete over its points with one pair per point, for any number of limits,
    # and for each combination of the other money facts' points. (All pairs, cut at 300, left the
    # largest limits of a bundle with over ~8 unchecked.)
    pairs = list(pairwise(points))
    others = _sweep(engine, base, skip=path)
    return _explicit(probe, [(ticket, a, b) for a, b in pairs for ticket in others])


def _explicit(probe: Any, examples: list[tuple[Any, ...]]) -> Any:
    """`probe` with explicit examples, run first and in the given order."""
    for args in reversed(examples):  # each `example` decorator puts its example first
        probe = example(*args)(probe)
    return probe


def _role_monotonic(engine: Engine, run: _Run) -> Any:
    @given(tickets(engine=engine))
    def probe(ticket: dict[str, Any]) -> None:
        decided = [(role, _evaluate(engine, _with(ticket, "agent.role", role), run)) for role in ROLES]
        run.tried += 1
        for i, (junior, first) in enumerate(decided):
            for senior, second in decided[i + 1 :]:
                if OUTCOME_RANK[second.outcome] > OUTCOME_RANK[first.outcome]:
                    raise _Violation(
                        f"a {junior} agent gets {first.outcome}, but a {senior} agent gets {second.outcome}",
                        (
                            Witness(f"agent.role {junior}", _with(ticket, "agent.role", junior), first),
                            Witness(f"agent.role {senior}", _with(ticket, "agent.role", senior), second),
                        ),
                    )

    return _explicit(probe, [(ticket,) for ticket in _sweep(engine, _minimal())])


def _pins(
    invariant: Invariant, sections: tuple[str, ...], params: Mapping[str, Any]
) -> list[tuple[str, Any]]:
    """`path: value` equalities of `when` on facts every drawn ticket has: each is set half of
    the time, so the invariant's region is reached often. A `{param: name}` value is the
    parameter's (the reference itself set on a ticket made every such ticket invalid)."""
    out: list[tuple[str, Any]] = []
    for item in invariant.when.items:
        if not (isinstance(item, Compare) and item.op == "eq") or isinstance(item.operand, FactRef):
            continue
        head = item.path.split(".")[0]
        if head in _OPTIONAL_SECTIONS and head not in sections:
            continue
        if item.type.kind in ("enum", "boolean", "scalar"):  # scalar: a custom attribute
            value = params[item.operand.name] if isinstance(item.operand, ParamRef) else item.operand
            if isinstance(value, Decimal):  # an attribute's number: exact as a double (validate.py)
                value = float(value)
            out.append((item.path, value))
    return out


def _regions(
    engine: Engine, invariant: Invariant, sections: tuple[str, ...]
) -> list[tuple[str, list[Decimal]]]:
    """Money facts `when` compares with a constant or parameter at its top level, each with the
    boundary points of the bundle's limits on it (`strategies.boundaries`) that satisfy all of
    those comparisons: one is set half of the time, so a region narrower than the amounts drawn
    (up to the front-line limit, in store) is reached often, at the limits inside it."""
    compared: dict[str, list[Compare]] = {}
    for item in invariant.when.items:
        if not isinstance(item, Compare) or item.type.kind != "money" or item.op == "exists":
            continue
        head = item.path.split(".")[0]
        if isinstance(item.operand, FactRef) or (head in _OPTIONAL_SECTIONS and head not in sections):
            continue
        compared.setdefault(item.path, []).append(item)
    params = engine.bundle.params
    out = []
    for path, compares in compared.items():
        inside = [
            point
            for point in boundaries(limits(engine, path))
            if all(evaluate_condition(c, {path: point}, params, None) for c in compares)
        ]
        if inside:
            out.append((path, inside))
    return out


def _sections(invariant: Invariant) -> tuple[str, ...]:
    """Optional sections `when` requires (a top-level comparison other than `exists`)."""
    heads = {
        item.path.split(".")[0]
        for item in invariant.when.items
        if isinstance(item, Compare) and item.op != "exists"
    }
    return tuple(sorted(heads & _OPTIONAL_SECTIONS))


def _never(engine: Engine, invariant: Invariant, run: _Run) -> Any:
    sections = _sections(invariant)
    pins = _pins(invariant, sections, engine.bundle.params)
    regions = _regions(engine, invariant, sections)
    params = engine.bundle.params
    strategy = tickets(engine=engine, sections=sections)
    inside = st.tuples(*(st.none() | st.sampled_from(points) for _, points in regions))

    @given(strategy, st.lists(st.booleans(), min_size=len(pins), max_size=len(pins)), inside)
    def probe(ticket: dict[str, Any], use: list[bool], amounts: tuple[Decimal | None, ...]) -> None:
        for (path, value), chosen in zip(pins, use, strict=True):
            if chosen:
                ticket = _with(ticket, path, value)
        for (path, _), amount in zip(regions, amounts, strict=True):
            if amount is not None:
                ticket = _with(ticket, path, str(amount))
        decision = _evaluate(engine, ticket, run)
        run.tried += 1
        if not evaluate_condition(invariant.when, fact_values(decision.trace.facts), params, None):
            return
        run.relevant += 1
        outcome_hit = not invariant.outcomes or decision.outcome in invariant.outcomes
        role_hit = not invariant.roles or decision.required_role in invariant.roles
        if outcome_hit and role_hit:
            got = f"outcome {decision.outcome}, required role {decision.required_role}"
            raise _Violation(f"a ticket satisfying `when` gets {got}", (Witness("", ticket, decision),))

    if "request" not in sections and not any(p.startswith("request.") for p, _ in pins):
        sections = ("request", *sections)
    every, unset = [True] * len(pins), (None,) * len(regions)
    return _explicit(
        probe, [(ticket, every, unset) for ticket in _named_sweep(engine, invariant, sections, pins)]
    )


def _named_sweep(
    engine: Engine, invariant: Invariant, sections: tuple[str, ...], pins: list[tuple[str, Any]]
) -> list[dict[str, Any]]:
    """The boundary sweep's tickets (pins set), then each of them with one value the bundle names
    set (`strategies.named_values`: `channel: in_store`), kept where `when` holds: a break that
    needs the limits and one such value is found for certain, not left to the random tickets.

    At most NAMED_CAP tickets are added: beyond, each value is set on fewer of the sweep's
    tickets (spread over them, one at least), and at most NAMED_CAP values are taken, in the
    bundle's order (a bundle naming thousands of skus would otherwise take minutes)."""
    params, currency = engine.bundle.params, engine.bundle.currency
    swept = []
    for minimal in _sweep(engine, _minimal(sections)):
        for path, value in pins:
            minimal = _with(minimal, path, value)  # noqa: PLW2901 - the pins set one by one
        swept.append(minimal)
    out, seen = list(swept), {json.dumps(t, sort_keys=True) for t in swept}
    named = named_values(engine)[:NAMED_CAP]
    each = max(1, NAMED_CAP // max(1, len(named)))
    step = max(1, len(swept) // each)
    spread = swept[::step] + [t for i, t in enumerate(swept) if i % step]  # evenly spaced ones first
    for path, value in named:
        head, added = path.split(".")[0], 0
        for ticket in spread:
            if added == each:
                break
            if head in _OPTIONAL_SECTIONS and head not in ticket:
                continue
            varied = _with(ticket, path, value)
            key = json.dumps(varied, sort_keys=True)
            if key in seen:
                continue
            seen.add(key)
            try:
                facts = fact_values(parse_ticket(varied, currency))
            except TicketError:
                continue
            if evaluate_condition(invariant.when, facts, params, None):
                out.append(varied)
                added += 1
    return out


def check_invariant(
    engine: Engine,
    invariant: Invariant,
    *,
    examples: int = DEFAULT_EXAMPLES,
    seed: int = 0,
    now: datetime = DEFAULT_NOW,
    observe: Callable[[Decision], None] | None = None,
) -> InvariantResult:
    """Check one invariant of `engine`'s bundle on `examples` generated tickets.

    Returns the result, with the shrunk counterexample when the invariant does not hold.
    `observe` is called with every decision made (e.g. to tally coverage).

    Raises:
        ValueError: `examples` is below 1 (hypothesis' own error was `InvalidArgument`).
    """
    if isinstance(examples, bool) or not isinstance(examples, int) or examples < 1:
        raise ValueError(f"check_invariant(): `examples` must be an int >= 1, got {examples!r}")
    run = _Run(now, observe)
    if invariant.kind == "monotonic_in":
        probe = _monotonic(engine, invariant, run)
    elif invariant.kind == "role_monotonic":
        probe = _role_monotonic(engine, run)
    else:
        probe = _never(engine, invariant, run)
    try:
        seeded(seed)(_settings(examples)(probe))()
    except _Violation as violation:
        return InvariantResult(invariant, run.tried, run.relevant, violation.problem, violation.witnesses)
    if invariant.kind == "never" and run.relevant == 0:
        problem = f"`when` held on none of the {run.tried} tickets tried: the invariant was not tested"
        return InvariantResult(invariant, run.tried, 0, problem)
    return InvariantResult(invariant, run.tried, run.relevant)


def check_invariants(
    engine: Engine,
    *,
    examples: int = DEFAULT_EXAMPLES,
    seed: int = 0,
    now: datetime = DEFAULT_NOW,
    observe: Callable[[Decision], None] | None = None,
) -> list[InvariantResult]:
    """Check every invariant the bundle declares, in bundle order."""
    return [
        check_invariant(engine, invariant, examples=examples, seed=seed, now=now, observe=observe)
        for invariant in engine.bundle.invariants
    ]
