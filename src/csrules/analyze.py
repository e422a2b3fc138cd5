"""Stage 6, analyze: a loaded Engine -> static-analysis warnings about its bundle. No I/O.

Each warning is exact where it claims something (docs/analysis.md): "never fires" and "shadowed"
are proofs by `_regions` (no ticket exists that would contradict them); a claim that something
happens on some ticket (two rules conflict, a role ladder has a gap) comes with an example ticket
that the real engine has evaluated and confirmed. When the analysis cannot decide, it says
nothing: a rule whose conditions are too large, or a claim whose example does not verify, gives
no warning.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields, is_dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from ._regions import Lit, Regions, Solution, Term, TooLarge, json_form, section_of
from .conditions import Check, compile_condition
from .decision import Decision, role_rank
from .engine import Engine
from .errors import Error, one_line
from .evaluate import derived_values
from .facts import fact_values
from .policy import AllOf, AnyOf, Compare, Condition, Duration, FactRef, Not, ParamRef, Rule, compares
from .source import SourceSpan
from .ticket import FACT_TYPES, Ticket, parse_ticket
from .values import DECIMAL, number_text

__all__ = ["ANALYSIS_NOW", "PolicyWarning", "analyze"]

ANALYSIS_NOW = datetime(2026, 1, 1, tzinfo=UTC)
"""The `now` example tickets are evaluated at (conditions never read it; effects' due times do)."""

_MAX_CONTEXTS = 32  # example tickets per ladder path
_MAX_SCREENS = 4000  # tickets screened per ladder path
_MAX_PAIRS = 64  # term pairs tried per pair of rules


@dataclass(frozen=True, slots=True)
class PolicyWarning:
    """A finding of the static analysis; `csrules check` reports it, `--strict` fails on it.

    Attributes:
        code: stable kebab-case slug, e.g. ``never-fires``; docs/analysis.md has a section per code.
        message: one line, lowercase start, user values in backticks.
        span: the rule, parameter declaration or kind concerned.
        rules: the ids of the rules involved, the rule at `span` first.
        example: a ticket in JSON form that demonstrates the warning (verified by evaluating it),
            or None.
    """

    code: str
    message: str
    span: SourceSpan
    rules: tuple[str, ...] = ()
    example: dict[str, Any] | None = field(default=None, hash=False, compare=False)

    def __str__(self) -> str:
        """One line that can be printed: a value or a file name of the policy's with a line break,
        an escape or a bidi control is written out (`one_line`), as in `Diagnostic`."""
        return one_line(f"{self.span}: warning[{self.code}]: {self.message}")

    def sort_key(self) -> tuple[str, int, str, int, str]:
        """Order warnings by file, line, then code."""
        return (self.span.file, self.span.line, self.code, self.span.column, self.message)


def _warning(
    code: str,
    message: str,
    span: SourceSpan,
    rules: tuple[str, ...] = (),
    example: dict[str, Any] | None = None,
) -> PolicyWarning:
    return PolicyWarning(code, message, span, rules, example)


def analyze(engine: Engine) -> list[PolicyWarning]:
    """Every warning about the engine's bundle, ordered by file, line and code.

    Raises:
        TypeError: `engine` is not an Engine.
    """
    if not isinstance(engine, Engine):
        raise TypeError(f"analyze(engine): `engine` must be a csrules.Engine, got {type(engine).__name__}")
    analysis = _Analysis(engine)
    warnings = [
        *analysis.never_fires(),
        *analysis.shadowed(),
        *analysis.conflicts(),
        *analysis.ladder_gaps(),
        *analysis.unused_parameters(),
        *analysis.near_duplicate_kinds(),
    ]
    return sorted(warnings, key=PolicyWarning.sort_key)


# -- wording -------------------------------------------------------------------------------------


def _shown(value: object, cents: bool = True) -> str:
    """A value as a message quotes it: money with cents, any other number (a custom attribute's
    `0.125`) as its JSON writes it."""
    if isinstance(value, tuple):
        return "[" + ", ".join(_shown(v, cents) for v in value) + "]"
    if isinstance(value, Decimal):
        return f"{value:.2f}" if cents else number_text(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(json_form(value))


# -- effects -------------------------------------------------------------------------------------


def _params_refs(value: object) -> Iterator[str]:
    """Every parameter name referred to anywhere inside a model value (dataclasses, tuples)."""
    if isinstance(value, ParamRef):
        yield value.name
    elif isinstance(value, tuple | list):
        for item in value:
            yield from _params_refs(item)
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _params_refs(item)
    elif is_dataclass(value) and not isinstance(value, type):
        for f in fields(value):
            yield from _params_refs(getattr(value, f.name))


class _Analysis:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.bundle = engine.bundle
        self.regions = Regions(self.bundle)
        self._terms: dict[str, list[Term] | None] = {}
        self._solved: dict[str, list[tuple[Term, Solution]]] = {}
        self._firing: dict[str, list[dict[str, Any]]] = {}
        self._checks: dict[str, Check] = {}
        self._by_id = {rule.id: rule for rule in self.bundle.rules}
        by_stage: dict[int, list[Rule]] = {}
        for rule in self.bundle.rules:
            if not rule.tests_decision:
                by_stage.setdefault(rule.stage, []).append(rule)
        self._stages = [by_stage[stage] for stage in sorted(by_stage)]
        # Each comparison's rule: a derived fact's conditions are inlined into the rules testing it.
        self._owners = {id(c): rule for rule in self.bundle.rules for c in compares(rule.when)}

    def _describe(self, lit: Lit, rule: Rule) -> str:
        """A comparison of `rule`'s analysis as a message quotes it, with its place: in `rule`,
        its `where` and line; in another rule (a deriving rule's condition, reached through a
        derived fact `rule` tests), that rule, its `where` and its file and line."""
        c = lit.compare
        operand = c.operand
        cents = self.money(c.path)
        if isinstance(operand, ParamRef):
            shown = f"{{param: {operand.name}}} = {_shown(self.regions.resolve(operand), cents)}"
        elif isinstance(operand, FactRef):
            shown = f"{{fact: {operand.path}}}"
        else:
            shown = _shown(operand, cents)
        text = f"`{c.path} {c.op} {shown}`"
        if not lit.positive:
            text = f"not {text}"
        owner = self._owners.get(id(c), rule)
        if owner is not rule:
            return f"{text} (rule `{owner.id}`'s {c.where}, {c.span}, through a derived fact)"
        return f"{text} ({c.where}, line {c.span.line})"

    # -- helpers --

    def money(self, path: str) -> bool:
        """Whether fact `path` is money, whose numbers a message shows with cents."""
        if path.startswith("derived."):
            fact = self.bundle.derived.get(path.removeprefix("derived."))
            return fact is not None and fact.type.kind == "money"
        found = FACT_TYPES.get(path)
        return found is not None and found.kind == "money"

    def check(self, rule: Rule) -> Check:
        """`rule`'s conditions compiled (conditions.py, as the trace evaluates them): whether they
        hold on a ticket's fact values, `derived.*` included."""
        if rule.id not in self._checks:
            self._checks[rule.id] = compile_condition(rule.when, self.bundle.params)
        return self._checks[rule.id]

    def terms(self, rule: Rule) -> list[Term] | None:
        if rule.id not in self._terms:
            try:
                self._terms[rule.id] = self.regions.dnf(rule.when)
            except TooLarge:
                self._terms[rule.id] = None
        return self._terms[rule.id]

    def solved(self, rule: Rule) -> list[tuple[Term, Solution]]:
        """The satisfiable terms of a rule with a solution each (empty when not analysable)."""
        if rule.id not in self._solved:
            found: list[tuple[Term, Solution]] = []
            for term in self.terms(rule) or []:
                solution = self.regions.solve(term)
                if solution is not None:
                    found.append((term, solution))
            self._solved[rule.id] = found
        return self._solved[rule.id]

    def firing_facts(self, rule: Rule) -> list[dict[str, Any]]:
        """Fact values, derived facts' final values included, of tickets that fire `rule` for sure
        (exact solutions, screened stage by stage with `conditions.py`, as the engine decides):
        counterexamples to test claims against before proving them. Empty when there are none of
        those, and for a rule of the decision stage (the screening does not run it)."""
        if rule.id not in self._firing:
            found: list[dict[str, Any]] = []
            if not rule.tests_decision:
                for _, solution in self.solved(rule):
                    if not solution.exact:
                        continue
                    screened = self._screened(solution.values, solution.sections)
                    if screened is not None and rule in screened[1]:
                        found.append(screened[0])
            self._firing[rule.id] = found
        return self._firing[rule.id]

    def refuted(self, b: Rule, a: Rule) -> bool:
        """Whether a ticket known to fire `b` does not fire `a` (so `b` does not imply `a`): a
        cheap, exact test before `implies`' proof. A rule reading a derived fact sees its final
        value (every rule deriving it runs in an earlier stage), which the facts hold."""
        if a.tests_decision:
            return False
        holds = self.check(a)
        return any(not holds(facts, facts, None) for facts in self.firing_facts(b))

    def example(self, solution: Solution) -> dict[str, Any]:
        return self.regions.ticket(solution.values, solution.sections)

    def evaluate(self, ticket: dict[str, Any]) -> Decision | None:
        """The engine's decision (without trace steps: the analysis reads the fired rules, the
        required role and its reasons), or None for a ticket it refuses."""
        try:
            result = next(self.engine.evaluate_many([ticket], now=ANALYSIS_NOW, trace=False))
        except Error:
            return None
        return result if isinstance(result, Decision) else None

    def fires(self, ticket: dict[str, Any], *rule_ids: str) -> bool:
        """Whether the engine fires every one of `rule_ids` on `ticket`. A screening that finds
        one of them does not fire answers first: the engine decides as it does (conditions.py,
        stage by stage), and costs a whole decision of the bundle per ticket."""
        wanted = set(rule_ids)
        rules = [self._by_id[rule_id] for rule_id in rule_ids]
        if not any(r.tests_decision for r in rules):
            try:
                parsed = parse_ticket(ticket, self.bundle.currency)
            except Error:
                return False
            if any(_reads_inferred(r) for r in rules):
                screened = self._screened_ticket(parsed)
                if screened is None or not wanted <= {r.id for r in screened[1]}:
                    return False
            else:  # their conditions read the ticket's facts alone: no other rule needs screening
                facts = fact_values(parsed)
                if not all(self.check(r)(facts, facts, None) for r in rules):
                    return False
        decision = self.evaluate(ticket)
        return decision is not None and wanted <= set(decision.trace.fired)

    def implies(self, b: Rule, a: Rule) -> bool:
        """Whether every ticket firing `b` fires `a` (exact when True)."""
        return self.regions.satisfiable(AllOf((b.when, Not(a.when)))) is False

    def robust(self, b: Rule, a: Rule) -> bool:
        """Whether `b` still implies `a` with each parameter of their conditions one unit off, and
        `a`'s effects still cover `b`'s with each parameter of their effects one unit off.

        A shadowing that holds only because two parameters happen to be equal (a limit for
        high-value customers set to the senior limit) is not reported: parameters exist to be tuned.
        """
        names = sorted(self._params_reached(a) | self._params_reached(b))
        condition = AllOf((b.when, Not(a.when)))
        for name in names:
            value = self.bundle.params[name]
            for other in _nudged(value):
                regions = Regions(self.bundle, {**self.bundle.params, name: other})
                if regions.satisfiable(condition) is not False:
                    return False
        # Nor one whose effects are alike only because two parameters are: two follow-up windows
        # both of 24 hours, two action parameters of one value.
        for name in sorted(set(_params_refs(a.then)) | set(_params_refs(b.then))):
            for other in _nudged(self.bundle.params[name]):
                if not self.covers(a, b, Regions(self.bundle, {**self.bundle.params, name: other})):
                    return False
        return True

    def _params_reached(self, rule: Rule) -> set[str]:
        """The parameters `rule`'s analysis reads: in its conditions, in the conditions of the
        rules deriving a fact it tests (inlined into its terms), and in the values a derived fact
        it tests can take."""
        names = set(_params_refs(rule.when))
        derived: set[str] = set()
        for term in self.terms(rule) or []:
            for lit in term:
                operand = lit.compare.operand
                if isinstance(operand, ParamRef):
                    names.add(operand.name)
                if lit.compare.path.startswith("derived."):
                    derived.add(lit.compare.path.removeprefix("derived."))
        for other in self.bundle.rules:
            names.update(
                n for name, value in other.then.derive if name in derived for n in _params_refs(value)
            )
        return names

    def duration(self, d: Duration, regions: Regions | None = None) -> timedelta:
        """A due-in span, its parameters resolved (by `regions`: the bundle's own by default)."""
        resolve = (regions or self.regions).resolve

        def part(value: int | ParamRef) -> int:
            return int(resolve(value))

        return timedelta(days=part(d.days), hours=part(d.hours), minutes=part(d.minutes))

    def resolved(self, value: object, regions: Regions | None = None) -> str:
        """A canonical text of an action parameter or derived value with parameters resolved."""
        if isinstance(value, ParamRef):
            value = (regions or self.regions).resolve(value)
        if is_dataclass(value) and not isinstance(value, type):
            parts = {f.name: self.resolved(getattr(value, f.name), regions) for f in fields(value)}
            return f"{type(value).__name__}{json.dumps(parts, sort_keys=True)}"
        return f"{type(value).__name__}:{json.dumps(json_form(value), default=str)}"

    def effects(
        self, rule: Rule, regions: Regions | None = None
    ) -> tuple[set[str], set[str], set[tuple[str, str]]]:
        then = rule.then
        actions = {
            a.kind + json.dumps(sorted((n, self.resolved(v, regions)) for n, v in a.params))
            for a in then.actions
        }
        follow_ups = {f"{f.kind}@{self.duration(f.due_in, regions)}" for f in then.follow_ups}
        derives = {(name, self.resolved(value, regions)) for name, value in then.derive}
        return actions, follow_ups, derives

    def covers(self, a: Rule, b: Rule, regions: Regions | None = None) -> bool:
        """Whether `a`'s effects include everything `b` contributes when both fire (parameters
        resolved by `regions`: the bundle's own by default)."""
        if b.then.require_role and (
            not a.then.require_role or role_rank(b.then.require_role) > role_rank(a.then.require_role)
        ):
            return False
        if b.then.deny and not a.then.deny:
            return False
        a_actions, a_follow_ups, a_derives = self.effects(a, regions)
        b_actions, b_follow_ups, b_derives = self.effects(b, regions)
        if not (b_actions <= a_actions and b_follow_ups <= a_follow_ups and b_derives <= a_derives):
            return False
        # b's derivation must never be the one that wins: a ranks ahead (priority, then order).
        return not b_derives or (-a.priority, a.index) < (-b.priority, b.index)

    def screen(
        self, values: dict[str, Any], sections: dict[str, bool], known: dict[str, bool | None] | None = None
    ) -> str | None:
        """The required role of a ticket by `conditions.py` alone, stage by stage (no durable_rules,
        no trace): a fast first pass whose findings the engine then confirms.

        `known`: verdicts of rules that read none of the facts that differ between the tickets of
        one screening (filled on first use, then reused: a ladder varies one fact)."""
        screened = self._screened(values, sections, known)
        if screened is None:
            return None
        roles = [r.then.require_role for r in screened[1] if r.then.require_role]
        return max(roles, key=role_rank, default="front_line")

    def _screened(
        self,
        values: Mapping[str, Any],
        sections: Mapping[str, bool],
        known: dict[str, bool | None] | None = None,
    ) -> tuple[dict[str, Any], list[Rule]] | None:
        """`_screened_ticket` of the example ticket of `values` and `sections`."""
        try:
            ticket = parse_ticket(self.regions.ticket(values, sections), self.bundle.currency)
        except Error:
            return None
        return self._screened_ticket(ticket, known)

    def _screened_ticket(
        self, ticket: Ticket, known: dict[str, bool | None] | None = None
    ) -> tuple[dict[str, Any], list[Rule]] | None:
        """The ticket's facts with the derived facts' final values, and the rules that fire, by
        `conditions.py` stage by stage as the engine decides (the decision stage left out); None
        for a ticket the engine refuses (another currency). See `screen` for `known`."""
        if ticket.request is not None and ticket.request.currency != self.bundle.currency:
            return None
        facts = fact_values(ticket)
        fired: list[Rule] = []
        for stage in self._stages:
            derived = derived_values(self.bundle, fired)  # the engine's own rule for derived facts
            facts.update((f"derived.{name}", value) for name, value in derived.items())
            for rule in stage:
                verdict = known.get(rule.id) if known is not None else None
                if verdict is None:
                    verdict = self.check(rule)(facts, facts, None)
                    if known is not None and rule.id in known:
                        known[rule.id] = verdict
                if verdict:
                    fired.append(rule)
        facts.update((f"derived.{name}", value) for name, value in derived_values(self.bundle, fired).items())
        return facts, fired

    # -- never-fires --

    def never_fires(self) -> Iterator[PolicyWarning]:
        for rule in self.bundle.rules:
            terms = self.terms(rule)
            if terms is None or self.solved(rule):
                continue
            reason, example = self._contradiction(rule, terms)
            if example is not None:
                decision = self.evaluate(example)
                if decision is None:
                    example = None
                elif rule.id in decision.trace.fired:  # INVARIANT: cannot happen; never claim it
                    continue
            yield _warning(
                "never-fires", f"rule `{rule.id}` can never fire: {reason}", rule.span, (rule.id,), example
            )

    def _contradiction(self, rule: Rule, terms: list[Term]) -> tuple[str, dict[str, Any] | None]:
        """Why no alternative can hold (the first one's contradiction), and a near-miss ticket."""
        if not terms:
            # A comparison that never holds where the rule needs it to (not one under `not`, which
            # the rule needs to fail: that one always does).
            for c, positive in _polarcompares(rule.when, True):
                inlined = self.regions.inline(c)
                if positive and isinstance(inlined, AnyOf) and not inlined.items:
                    name = c.path.removeprefix("derived.")
                    if c.op != "eq":  # an ordered test: which values there are says why
                        points = self.regions.points(c.path, [Lit(c, True)])
                        values = ", ".join(_shown(v, self.money(c.path)) for v in points)
                        why = f"`{name}` is only ever {values} (its default and the values rules derive)"
                    else:
                        value = _shown(self.regions.resolve(c.operand), self.money(c.path))
                        why = f"no rule derives `{name}` = {value} and it is not the default"
                    return f"{self._describe(Lit(c, True), rule)} never holds: {why}", None
            return "its conditions can never all hold", None
        prefix = f"none of its {len(terms)} alternatives can hold; in the first, " if len(terms) > 1 else ""
        term = terms[0]
        for lit in term:
            if self.regions.solve((lit,)) is None:
                rest = tuple(other for other in term if other is not lit)
                solution = self.regions.solve(rest)
                example = self.example(solution) if solution is not None and solution.exact else None
                return f"{prefix}{self._describe(lit, rule)} can never hold", example
        for first, second in itertools.combinations(term, 2):
            if self.regions.solve((first, second)) is None:
                rest = tuple(other for other in term if other is not second)
                solution = self.regions.solve(rest)
                example = self.example(solution) if solution is not None and solution.exact else None
                described = f"{self._describe(first, rule)} contradicts {self._describe(second, rule)}"
                return prefix + described, example
        return f"{prefix}its conditions can never all hold", None

    # -- shadowed-rule --

    def shadowed(self) -> Iterator[PolicyWarning]:
        rules = self.bundle.rules
        for b in rules:
            if not self.solved(b):
                continue
            for a in rules:
                if a is b or not self.covers(a, b) or self.terms(a) is None or self.refuted(b, a):
                    continue
                if not self.implies(b, a):
                    continue
                if a.index > b.index and self.covers(b, a) and self.implies(a, b):
                    continue  # identical in effect: reported once, on the later rule
                if not self.robust(b, a):
                    continue
                # A proof: reported with a ticket firing both when the analysis can build one (it
                # writes no custom attribute and no fact equal to another), else without.
                example = self._firing_example(b, a)
                message = (
                    f"rule `{b.id}` is shadowed by rule `{a.id}` ({a.source}): every ticket that fires "
                    f"it also fires `{a.id}`, whose effects include all of its own"
                )
                yield _warning("shadowed-rule", message, b.span, (b.id, a.id), example)
                break

    def _firing_example(self, b: Rule, *others: Rule) -> dict[str, Any] | None:
        for _, solution in self.solved(b):
            ticket = self.example(solution)
            if self.fires(ticket, b.id, *(o.id for o in others)):
                return ticket
        return None

    # -- conflicting-effects --

    def _conflicts_between(self, a: Rule, b: Rule) -> list[str]:
        found: list[str] = []
        shared = {c.path for c in compares(a.when)} & {c.path for c in compares(b.when)}
        for denier, requirer in ((a, b), (b, a)):
            # Deny wins (decisions.md, case 1): a denial and a role requirement about independent
            # facts overlap by design; only rules that test a common fact drew overlapping regions.
            if denier.then.deny and requirer.then.require_role and not requirer.then.deny and shared:
                found.append(
                    f"`{denier.id}` denies where `{requirer.id}` requires "
                    f"`{requirer.then.require_role}`: the role requirement is moot there"
                )
        for fa in a.then.follow_ups:
            for fb in b.then.follow_ups:
                if fa.kind == fb.kind and self.duration(fa.due_in) != self.duration(fb.due_in):
                    found.append(
                        f"both add a `{fa.kind}` follow-up, due in {_span(self.duration(fa.due_in))} "
                        f"and {_span(self.duration(fb.due_in))}"
                    )
        for name, va in a.then.derive:
            for other, vb in b.then.derive:
                if name == other and self.resolved(va) != self.resolved(vb):
                    cents = self.money(f"derived.{name}")
                    found.append(
                        f"they derive `{name}` = {_shown(self.regions.resolve(va), cents)} and "
                        f"{_shown(self.regions.resolve(vb), cents)}"
                    )
        return sorted(set(found), key=found.index)

    def conflicts(self) -> Iterator[PolicyWarning]:
        rules = self.bundle.rules
        for a, b in itertools.combinations(rules, 2):
            found = self._conflicts_between(a, b)
            if not found:
                continue
            example = self._both_example(a, b)
            if example is None:
                continue
            message = f"rules `{b.id}` and `{a.id}` ({a.source}) can both fire: " + "; ".join(found)
            yield _warning("conflicting-effects", message, b.span, (b.id, a.id), example)

    def _both_example(self, a: Rule, b: Rule) -> dict[str, Any] | None:
        pairs = itertools.islice(itertools.product(self.solved(a), self.solved(b)), _MAX_PAIRS)
        for (ta, _), (tb, _) in pairs:
            solution = self.regions.solve(ta + tb)
            if solution is None:
                continue
            ticket = self.example(solution)
            if self.fires(ticket, a.id, b.id):
                return ticket
        return None

    # -- ladder-gap --

    def ladder_paths(self) -> list[str]:
        """Ordered ticket facts that a role-requiring rule tests directly with a lower bound."""
        paths: set[str] = set()
        for rule in self.bundle.rules:
            if not rule.then.require_role:
                continue
            for c, positive in _polarcompares(rule.when, True):
                lower = (c.op in ("gt", "gte")) if positive else (c.op in ("lt", "lte"))
                kind = FACT_TYPES[c.path].kind if c.path in FACT_TYPES else None
                if lower and kind in ("money", "date", "datetime") and not isinstance(c.operand, FactRef):
                    paths.add(c.path)
        return sorted(paths)

    def ladder_gaps(self) -> Iterator[PolicyWarning]:
        for path in self.ladder_paths():
            yield from self._ladder_gaps(path)

    def _ladder_gaps(self, path: str) -> Iterator[PolicyWarning]:
        on_path = [c for rule in self.bundle.rules for c in compares(rule.when) if c.path == path]
        if any(isinstance(c.operand, FactRef) for c in on_path) or _fact_ref_to(self.bundle.rules, path):
            return  # breakpoints would depend on another fact
        points = self.regions.points(path, [Lit(c, True) for c in on_path])
        section = section_of(path)
        contexts: dict[str, tuple[dict[str, Any], dict[str, bool]]] = {}
        for rule in self.bundle.rules:
            if rule.then.require_role and any(c.path == path for c in compares(rule.when)):
                for _, solution in self.solved(rule):
                    sections = dict(solution.sections)
                    if section:
                        sections[section] = True
                    base = {**solution.values, path: None}
                    key = json.dumps(self.regions.ticket(base, sections), sort_keys=True)
                    contexts.setdefault(key, (base, sections))
        # Bounded work: at most _MAX_SCREENS screenings per path (fewer contexts, never guesses).
        budget = max(1, min(_MAX_CONTEXTS, _MAX_SCREENS // len(points)))
        reported: set[tuple[str, ...]] = set()
        # Rules that read neither `path` nor a derived or decision fact decide alike at every point.
        steady = [r.id for r in self.bundle.rules if not _reads(r, path)]
        # In the order of their tickets' text, not of the rules' files: which contexts fit the
        # budget must not depend on how the bundle is split into files.
        chosen = [contexts[key] for key in sorted(contexts)][:budget]
        for base, sections in chosen:
            known: dict[str, bool | None] = dict.fromkeys(steady)  # None until screened once
            ladder = [(p, self.screen({**base, path: p}, sections, known)) for p in points]
            for low, start, end in _gaps([(p, role) for p, role in ladder if role is not None]):
                # The screening found it; the engine confirms it, or there is no warning.
                ticket = self.regions.ticket({**base, path: start}, sections)
                low_decision = self.evaluate(self.regions.ticket({**base, path: low}, sections))
                gap_decision = self.evaluate(ticket)
                if (
                    low_decision is None
                    or gap_decision is None
                    or role_rank(gap_decision.required_role) >= role_rank(low_decision.required_role)
                ):
                    continue
                rules = tuple(low_decision.reasons.required_role)
                if not rules or rules in reported:
                    continue
                reported.add(rules)
                rule = next(r for r in self.bundle.rules if r.id == rules[0])
                cents = self.money(path)
                values = (
                    f"{_shown(start, cents)} to {_shown(end, cents)}"
                    if start != end
                    else _shown(start, cents)
                )
                message = (
                    f"`{path}` {values} requires {gap_decision.required_role} but {_shown(low, cents)} "
                    f"requires {low_decision.required_role} (rule `{rule.id}`), other facts as in the example"
                )
                yield _warning("ladder-gap", message, rule.span, rules, ticket)

    # -- unused-parameter --

    def unused_parameters(self) -> Iterator[PolicyWarning]:
        used = set(_params_refs(self.bundle.rules))
        used.update(_params_refs(getattr(self.bundle, "invariants", ())))
        for name, parameter in sorted(self.bundle.parameters.items()):
            if name == "currency" or name in used:
                continue  # the engine itself reads `currency`
            message = f"parameter `{name}` is declared but no rule refers to it"
            yield _warning("unused-parameter", message, parameter.span)

    # -- near-duplicate-kind --

    def near_duplicate_kinds(self) -> Iterator[PolicyWarning]:
        for what, attribute in (("action", "actions"), ("follow-up", "follow_ups")):
            uses: dict[str, list[Rule]] = {}
            for rule in self.bundle.rules:
                for effect in getattr(rule.then, attribute):
                    users = uses.setdefault(effect.kind, [])
                    if not users or users[-1] is not rule:  # a kind twice in one rule is one rule's
                        users.append(rule)
            for kind, rules in sorted(uses.items()):
                if len(rules) != 1:
                    continue
                for other, other_rules in sorted(uses.items()):
                    if other == kind or not _near(kind, other):
                        continue
                    if len(other_rules) == 1 and (other_rules[0].span, other) > (rules[0].span, kind):
                        continue  # both used once: reported on the later one (in one rule, the later kind)
                    where = other_rules[0]
                    message = (
                        f"{what} kind `{kind}` is used only here, and `{other}` (rule `{where.id}`, "
                        f"{where.source}) is a near-duplicate spelling: did you mean `{other}`?"
                    )
                    yield _warning("near-duplicate-kind", message, rules[0].span, (rules[0].id, where.id))
                    break


def _span(delta: timedelta) -> str:
    """A duration in words: `4h`, `1d 2h 30m`, `0m`."""
    minutes = int(delta.total_seconds()) // 60
    parts = [(minutes // 1440, "d"), (minutes // 60 % 24, "h"), (minutes % 60, "m")]
    return " ".join(f"{n}{unit}" for n, unit in parts if n) or "0m"


_CENT = Decimal("0.01")


def _nudged(value: object) -> list[Any]:
    """A parameter value one unit down and up (money by a cent, dates by a day), the other
    boolean, or another text."""
    if isinstance(value, bool):
        return [not value]
    if isinstance(value, str):
        return [f"{value}~"]
    if not isinstance(value, int | Decimal | date):
        return []
    if isinstance(value, Decimal):  # in csrules' own context, not the caller's
        return [DECIMAL.subtract(value, _CENT), DECIMAL.add(value, _CENT)]
    unit: Any = timedelta(days=1) if isinstance(value, date) else 1
    nudged = []
    for step in (-unit, unit):
        try:
            nudged.append(value + step)
        except OverflowError:  # a date at the end of the calendar (9999-12-31): no day after it
            continue
    return nudged


def _near(a: str, b: str) -> bool:
    """Whether two kinds are near-duplicate spellings (docs/analysis.md#near-duplicate-kind)."""
    x, y = a.replace("_", ""), b.replace("_", "")
    if x == y:
        return True
    shorter = min(len(x), len(y))
    limit = 2 if shorter >= 10 else 1 if shorter >= 5 else 0
    return _distance(x, y) <= limit


def _distance(a: str, b: str) -> int:
    """Edit distance with adjacent transpositions (optimal string alignment)."""
    if abs(len(a) - len(b)) > 2:
        return 3
    rows = [list(range(len(b) + 1))]
    for i, ca in enumerate(a, 1):
        row = [i]
        for j, cb in enumerate(b, 1):
            cost = min(rows[-1][j] + 1, row[j - 1] + 1, rows[-1][j - 1] + (ca != cb))
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                cost = min(cost, rows[-2][j - 2] + 1)
            row.append(cost)
        rows.append(row)
    return rows[-1][-1]


def _polarcompares(condition: Condition, positive: bool) -> Iterator[tuple[Compare, bool]]:
    if isinstance(condition, Compare):
        yield condition, positive
    elif isinstance(condition, Not):
        yield from _polarcompares(condition.item, not positive)
    else:
        for item in condition.items:
            yield from _polarcompares(item, positive)


_INFERRED = ("derived.", "decision.")


def _paths_read(rule: Rule) -> Iterator[str]:
    """Every fact path `rule`'s conditions read: the compared paths and fact references."""
    for c in compares(rule.when):
        yield c.path
        if isinstance(c.operand, FactRef):
            yield c.operand.path


def _reads_inferred(rule: Rule) -> bool:
    """Whether `rule` reads a derived or decision fact, which a ticket's facts alone do not give."""
    return any(path.startswith(_INFERRED) for path in _paths_read(rule))


def _reads(rule: Rule, path: str) -> bool:
    """Whether `rule` reads `path`, or a derived or decision fact (which may follow from it)."""
    return any(read == path or read.startswith(_INFERRED) for read in _paths_read(rule))


def _fact_ref_to(rules: tuple[Rule, ...], path: str) -> bool:
    return any(
        isinstance(c.operand, FactRef) and c.operand.path == path for r in rules for c in compares(r.when)
    )


def _gaps(ladder: list[tuple[Any, str]]) -> Iterator[tuple[Any, Any, Any]]:
    """(the point before, first and last point) of each run of points requiring a lower role than
    the point before it, lowest first."""
    j = 1
    while j < len(ladder):
        low, low_role = ladder[j - 1]
        point, role = ladder[j]
        if role_rank(role) >= role_rank(low_role):
            j += 1
            continue
        last = j
        while last + 1 < len(ladder) and ladder[last + 1][1] == role:
            last += 1
        yield low, point, ladder[last][0]
        j = last + 1
