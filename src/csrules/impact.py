"""Stage 8, impact: two decisions for the same ticket -> what changed; a corpus -> an ImpactReport.

`compare(old, new)` is pure: the outcome, required role, actions (by kind and params) and
follow-ups (by kind and due) that differ, and the rules that caused it: those that fired under
one bundle only, or under both with other effects. `ImpactReport` accumulates changes over a
corpus in constant memory: counts, a transition table, per-rule counts, and the first K example
tickets of each transition in corpus order. `evaluate_corpus` decides every line of a ticket
corpus under two bundles, in this process or in worker processes, in corpus order.

No file I/O and no wording here: cli/diff.py reads the corpus and words the report.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal

from ._workers import Workers
from .decision import Decision
from .engine import Engine, from_portable, portable
from .errors import EngineError, TicketError
from .source import exact_float, json_problem, no_constant, unique_keys
from .trace import TraceStep
from .values import YEARS, datetime_text, in_utc

__all__ = [
    "DEFAULT_NOW",
    "Change",
    "Example",
    "FollowUpMove",
    "ImpactReport",
    "LineResult",
    "ParamChange",
    "Transition",
    "TransitionStats",
    "compare",
    "compare_line",
    "decide_line",
    "evaluate_corpus",
    "param_changes",
    "parse_line",
]

DEFAULT_NOW = datetime(2026, 1, 1, tzinfo=UTC)
"""The `now` of every ticket without its own: fixed, never the clock, so a diff is reproducible.
The same instant as a case file without `now` (testing/cases.py)."""

MAX_ERRORS_KEPT = 20
"""How many bad lines the report keeps word for word (all are counted)."""

ChangedField = Literal["outcome", "required_role", "action", "follow_up"]
_FIELD_ORDER: tuple[ChangedField, ...] = ("outcome", "required_role", "action", "follow_up")


# --- comparing two decisions ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Transition:
    """One kind of change, a row of the transition table.

    Attributes:
        field: `outcome`, `required_role`, `action` or `follow_up`.
        change: `escalate->approve` for outcome and required role; `added`, `removed` or
            `changed` (same kind, other params) for an action; `added`, `removed`,
            `moved earlier` or `moved later` for a follow-up.
        kind: the action's or follow-up's kind; None for outcome and required role.
    """

    field: ChangedField
    change: str
    kind: str | None = None

    @property
    def key(self) -> str:
        """`outcome escalate->approve`, `action +issue_raincheck`, `follow_up restock_notice moved later`."""
        if self.kind is None:
            return f"{self.field} {self.change}"
        if self.change == "added":
            return f"{self.field} +{self.kind}"
        if self.change == "removed":
            return f"{self.field} -{self.kind}"
        return f"{self.field} {self.kind} {self.change}"

    def sort_key(self) -> tuple[int, str]:
        """Outcome first, then required role, actions, follow-ups; by key within each."""
        return _FIELD_ORDER.index(self.field), self.key


@dataclass(frozen=True, slots=True)
class FollowUpMove:
    """A follow-up of the same kind on both sides with another due time."""

    kind: str
    old_due: datetime
    new_due: datetime


ActionKey = tuple[str, str]
"""An action as (kind, its params as canonical JSON): two actions are the same when both are."""


@dataclass(frozen=True, slots=True)
class Change:
    """How the new decision for a ticket differs from the old one (see `compare`).

    Attributes:
        outcome: (old, new) when the outcome changed.
        required_role: (old, new) when the required role changed.
        actions_added / actions_removed: (kind, params as canonical JSON), sorted.
        follow_ups_added / follow_ups_removed: (kind, due), sorted.
        follow_ups_moved: a follow-up kind present on both sides with another due time.
        rules: the rules that caused the change: fired under one bundle only, or under both with
            other effects (another required role, other action params, another due time). New
            bundle order, then rules only the old bundle has; a missing rule counts as not fired.
    """

    outcome: tuple[str, str] | None = None
    required_role: tuple[str, str] | None = None
    actions_added: tuple[ActionKey, ...] = ()
    actions_removed: tuple[ActionKey, ...] = ()
    follow_ups_added: tuple[tuple[str, datetime], ...] = ()
    follow_ups_removed: tuple[tuple[str, datetime], ...] = ()
    follow_ups_moved: tuple[FollowUpMove, ...] = ()
    rules: tuple[str, ...] = ()

    @property
    def decision_changed(self) -> bool:
        """Whether the outcome, required role, actions or follow-ups differ (not just the rules)."""
        return bool(self.transitions())

    def transitions(self) -> list[Transition]:
        """The transitions of this change, each once, in table order."""
        found: set[Transition] = set()
        if self.outcome:
            found.add(Transition("outcome", f"{self.outcome[0]}->{self.outcome[1]}"))
        if self.required_role:
            found.add(Transition("required_role", f"{self.required_role[0]}->{self.required_role[1]}"))
        added = {kind for kind, _ in self.actions_added}
        removed = {kind for kind, _ in self.actions_removed}
        for kind in added | removed:
            change = (
                "changed" if kind in added and kind in removed else "added" if kind in added else "removed"
            )
            found.add(Transition("action", change, kind))
        for kind, _ in self.follow_ups_added:
            found.add(Transition("follow_up", "added", kind))
        for kind, _ in self.follow_ups_removed:
            found.add(Transition("follow_up", "removed", kind))
        for move in self.follow_ups_moved:
            direction = "moved earlier" if move.new_due < move.old_due else "moved later"
            found.add(Transition("follow_up", direction, move.kind))
        return sorted(found, key=Transition.sort_key)


def _action_keys(decision: Decision) -> Counter[ActionKey]:
    return Counter((a.kind, _value_text(a.params)) for a in decision.actions)


def _value_text(value: object) -> str:
    """A JSON value as text that is equal exactly when the values are the same JSON value, as
    decisions.md defines it: `1`, `1.0` and `1.00` are one number (an integer is written as one),
    `5.9` and `5.90` too; `1`, `true` and `"1"` are three values (Python's `1 == True` is not
    used); a mapping's keys in any order. Exact for the numbers a decision can hold: validation
    keeps a policy's numbers under 2**53 and to at most 15 significant digits
    (`validate._safe_number`), which a float holds exactly."""
    return json.dumps(
        _same_numbers(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    )


def _same_numbers(value: object) -> object:
    if isinstance(value, bool) or value is None or isinstance(value, str | int):
        return value
    if isinstance(value, float | Decimal):  # finite: action parameters and derived values are
        if -(2**53) < value < 2**53 and int(value) == value:  # (comparisons need no decimal context)
            return int(value)
        return float(value)
    if isinstance(value, Mapping):
        return {key: _same_numbers(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_same_numbers(item) for item in value]
    return value


def _effects(step: TraceStep) -> Counter[str]:
    """A fired rule's effects as JSON values, in any order (the order a rule writes its effects
    in changes no decision)."""
    return Counter(f"{e.effect} {_value_text(e.value)}" for e in step.effects)


def _rule_order(old: Decision, new: Decision) -> list[str]:
    order = [step.rule for step in new.trace.steps]
    known = set(order)
    return order + [step.rule for step in old.trace.steps if step.rule not in known]


def compare(old: Decision, new: Decision) -> Change | None:
    """What differs between two decisions of the same ticket at the same `now`; None when nothing
    does (the same outcome, required role, actions, follow-ups, fired rules and their effects).

    Rule ids are matched by name across the two bundles; the rule that produced an action or a
    follow-up is not compared (moving an action to another rule changes no decision).
    """
    old_actions, new_actions = _action_keys(old), _action_keys(new)
    old_follow = Counter((f.kind, f.due) for f in old.follow_ups)
    new_follow = Counter((f.kind, f.due) for f in new.follow_ups)
    follow_added = sorted((new_follow - old_follow).elements())
    follow_removed = sorted((old_follow - new_follow).elements())
    # Pair what remains of the same kind, earliest with earliest: those moved.
    moved: list[FollowUpMove] = []
    for kind in sorted({k for k, _ in follow_added} & {k for k, _ in follow_removed}):
        olds = [due for k, due in follow_removed if k == kind]
        news = [due for k, due in follow_added if k == kind]
        pairs = list(zip(olds, news, strict=False))
        moved.extend(FollowUpMove(kind, a, b) for a, b in pairs)
        for a, b in pairs:
            follow_removed.remove((kind, a))
            follow_added.remove((kind, b))
    old_steps = {step.rule: step for step in old.trace.steps if step.fired}
    new_steps = {step.rule: step for step in new.trace.steps if step.fired}
    rules = tuple(
        rule
        for rule in _rule_order(old, new)
        if (rule in old_steps) != (rule in new_steps)
        or (rule in old_steps and _effects(old_steps[rule]) != _effects(new_steps[rule]))
    )
    change = Change(
        outcome=(old.outcome, new.outcome) if old.outcome != new.outcome else None,
        required_role=(old.required_role, new.required_role)
        if old.required_role != new.required_role
        else None,
        actions_added=tuple(sorted((new_actions - old_actions).elements())),
        actions_removed=tuple(sorted((old_actions - new_actions).elements())),
        follow_ups_added=tuple(follow_added),
        follow_ups_removed=tuple(follow_removed),
        follow_ups_moved=tuple(moved),
        rules=rules,
    )
    return None if change == Change() else change


# --- comparing two bundles' parameters ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ParamChange:
    """A parameter whose effective value (default or override) differs between two bundles.

    Attributes:
        name: the parameter.
        old: its value under the old bundle; None when that bundle has no such parameter.
        new: its value under the new bundle; None when that bundle has no such parameter.
    """

    name: str
    old: Any
    new: Any


def param_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> tuple[ParamChange, ...]:
    """The parameters whose effective values differ (`Engine.params` of each side), by name: one
    side only, another value, or the same number as another type (`20` and `20.00`). `20.0` and
    `20.00` are the same money."""
    return tuple(
        ParamChange(name, old.get(name), new.get(name))
        for name in sorted(old.keys() | new.keys())
        if name not in old
        or name not in new
        or type(old[name]) is not type(new[name])
        or old[name] != new[name]
    )


# --- one line of a corpus -------------------------------------------------------------------------


class _BadLine(Exception):
    """A corpus line that is not a ticket; never leaves this module (it becomes a LineResult)."""


_UNDECODABLE = re.compile("[\udc80-\udcff]")


def _parse_now(value: object) -> datetime:
    """A line's `now` (or a stored decision's `evaluated_at`), read as `--now` is."""
    moment = datetime_text(value) if isinstance(value, str) else None
    if moment is not None and moment.utcoffset() is not None:
        utc = in_utc(moment)
        if utc is not None:
            return utc
        raise _BadLine(f"`now` must be between {YEARS}, got `{value}`")
    shown = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)  # null, not None
    raise _BadLine(f"`now` must be an ISO 8601 date and time with a UTC offset, got `{shown}`")


def parse_line(text: str) -> tuple[Mapping[str, Any], datetime | None]:
    """(ticket, now or None) from one corpus line; see docs/impact.md for the three forms.

    - a ticket object (it has an `id`): the ticket, evaluated at the corpus's `now`;
    - `{"ticket": {...}, "now": "..."}`: the ticket at its own `now` (`now` is optional);
    - a stored decision (it has a `trace`), or a log record `{"decision": {...}, ...}`: its
      `trace.facts` at its `trace.evaluated_at`: the decision replayed under both bundles.

    Raises:
        _BadLine: the line is not JSON or not one of these forms (ticket facts are checked later).
    """
    undecodable = _UNDECODABLE.search(text)  # bytes that were not UTF-8 (read with surrogateescape)
    if undecodable is not None:
        byte = ord(undecodable.group()) - 0xDC00
        raise _BadLine(f"not UTF-8 text (byte 0x{byte:02x} at column {undecodable.start() + 1})")
    try:
        data = json.loads(
            text, object_pairs_hook=unique_keys, parse_float=exact_float, parse_constant=no_constant
        )
    except json.JSONDecodeError as exc:
        raise _BadLine(f"invalid JSON: {exc.msg} (column {exc.colno})") from None
    except (ValueError, RecursionError) as exc:
        raise _BadLine(f"invalid JSON: {json_problem(exc)}") from None
    if not isinstance(data, dict):
        raise _BadLine(f"expected a JSON object, got {type(data).__name__}")
    if "id" in data:
        return data, None
    if "ticket" in data:
        extra = sorted(set(data) - {"ticket", "now"})
        if extra:
            raise _BadLine(f"a wrapper has only `ticket` and `now`, got `{extra[0]}`")
        if not isinstance(data["ticket"], dict):
            raise _BadLine("`ticket` must be a JSON object")
        return data["ticket"], _parse_now(data["now"]) if "now" in data else None
    record = data["decision"] if isinstance(data.get("decision"), dict) else data
    trace = record.get("trace")
    if isinstance(trace, dict) and isinstance(trace.get("facts"), dict):
        return trace["facts"], _parse_now(trace.get("evaluated_at"))
    raise _BadLine('expected a ticket (with `id`), `{"ticket": ..., "now": ...}` or a stored decision')


@dataclass(frozen=True, slots=True)
class LineResult:
    """The outcome of one corpus line.

    Attributes:
        line: the 1-based line number.
        ticket_id: the ticket's id, None for a bad line.
        change: what changed (None when nothing did or the line is bad).
        error: why the line could not be compared, or None.
        text: the line itself, kept only for changed tickets (for examples).
        engine_error: durable_rules failed in a worker process (re-raised as EngineError).
        one_sided: the line is bad because one side rejected the ticket and the other decided it.
    """

    line: int
    ticket_id: str | None = None
    change: Change | None = None
    error: str | None = None
    text: str | None = None
    engine_error: str | None = None
    one_sided: bool = False


def _evaluate(engine: Engine, ticket: Mapping[str, Any], now: datetime) -> Decision | TicketError:
    try:
        return engine.evaluate(ticket, now=now)
    except TicketError as exc:
        return exc


def decide_line(
    old: Engine, new: Engine, text: str, default_now: datetime
) -> tuple[Decision, Decision] | str:
    """Both decisions of one corpus line, or why it cannot be compared (one line of text)."""
    decided, _ = _decide_line(old, new, text, default_now)
    return decided


def _decide_line(
    old: Engine, new: Engine, text: str, default_now: datetime
) -> tuple[tuple[Decision, Decision] | str, bool]:
    """`decide_line`, and whether exactly one side rejected the ticket."""
    try:
        ticket, now = parse_line(text)
    except _BadLine as exc:
        return str(exc), False
    moment = now or default_now
    before, after = _evaluate(old, ticket, moment), _evaluate(new, ticket, moment)
    if isinstance(before, TicketError) and isinstance(after, TicketError):
        same = str(before) == str(after)
        return (str(before) if same else f"old policies: {before}; new policies: {after}"), False
    if isinstance(before, TicketError):
        return f"rejected by the old policies only: {before}", True
    if isinstance(after, TicketError):
        return f"rejected by the new policies only: {after}", True
    return (before, after), False


def compare_line(old: Engine, new: Engine, line: int, text: str, default_now: datetime) -> LineResult:
    """Decide one corpus line under both engines and compare the decisions."""
    decided, one_sided = _decide_line(old, new, text, default_now)
    if isinstance(decided, str):
        # A line with bytes that are not UTF-8 reaches here as lone surrogates: show them escaped.
        error = decided.encode("utf-8", "backslashreplace").decode("utf-8")
        return LineResult(line, error=error, one_sided=one_sided)
    before, after = decided
    change = compare(before, after)
    return LineResult(line, before.ticket_id, change, text=text if change is not None else None)


# --- a corpus, in this process or in workers -------------------------------------------------------


_WORKER: tuple[Engine, Engine, datetime] | None = None


def _init_worker(old: bytes, new: bytes, default_now: datetime) -> None:
    # Each worker process rebuilds the parent's two engines (engine.portable): durable_rules
    # keeps C state that must not be shared with, or forked from, another process, and the
    # policy files may have changed since the parent read them.
    global _WORKER  # noqa: PLW0603 - one pair of engines per worker process, set once
    _WORKER = (from_portable(old), from_portable(new), default_now)


def _work(chunk: list[tuple[int, str]]) -> list[LineResult]:
    # INVARIANT: _init_worker ran in this process (the Workers initializer).
    assert _WORKER is not None
    old, new, default_now = _WORKER
    results = []
    for number, text in chunk:
        try:
            results.append(compare_line(old, new, number, text, default_now))
        except EngineError as exc:  # raised in the parent, as a message: tracebacks do not pickle
            results.append(LineResult(number, engine_error=str(exc)))
            break
    return results


def evaluate_corpus(
    lines: Iterable[tuple[int, str]],
    old: Engine,
    new: Engine,
    *,
    default_now: datetime = DEFAULT_NOW,
    workers: int = 1,
    chunk: int = 64,
) -> Iterator[LineResult]:
    """Compare every (line number, text) under both bundles, in corpus order, streaming.

    Args:
        workers: 1 evaluates in this process; more starts that many processes (spawn: each
            rebuilds both engines from their compiled bundles, engine.portable) and sends them
            `chunk` lines at a time, at most 4 chunks a worker ahead of what was consumed.

    Raises:
        EngineError: durable_rules failed on some line, or a worker process failed.
        Whatever reading `lines` raised, after the lines read before it.
    """
    if workers <= 1:
        for number, text in lines:
            yield compare_line(old, new, number, text, default_now)
        return
    failure: Exception | None = None
    shipped = (portable(old), portable(new), default_now)  # EngineError before any worker starts
    with Workers(workers, _work, _init_worker, shipped) as pool:

        def answers() -> Iterator[LineResult]:
            for result in pool.result():
                if result.engine_error is not None:
                    raise EngineError(f"line {result.line}: {result.engine_error}")
                yield result

        items = iter(lines)
        batch: list[tuple[int, str]] = []
        while True:
            try:
                item = next(items)
            except StopIteration:
                break
            except Exception as exc:  # reading failed: the lines read before are compared first
                failure = exc
                break
            batch.append(item)
            if len(batch) == chunk:
                pool.submit(batch)
                batch = []
                while pool.pending >= 4 * workers:
                    yield from answers()
        if batch:
            pool.submit(batch)
        while pool.pending:
            yield from answers()
    if failure is not None:
        raise failure


# --- the report -------------------------------------------------------------------------------------


@dataclass
class TransitionStats:
    """One row of the transition table: how many tickets, which rules, which examples."""

    transition: Transition
    tickets: int = 0
    rules: Counter[str] = field(default_factory=Counter)
    examples: list[int] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Example:
    """A changed ticket kept as an example of one or more transitions."""

    line: int
    ticket_id: str
    change: Change
    text: str


class ImpactReport:
    """A running tally of LineResults over a corpus; memory bounded by the number of distinct
    transitions and rules, not by the corpus.

    Attributes:
        per_transition: how many examples each transition keeps (K).
        tickets: lines compared (decided under both bundles).
        changed: tickets whose decision changed.
        rules_only: tickets whose rules changed (fired or effects) but whose decision did not.
        errors: lines that could not be compared.
        one_sided: of those, lines one side decided and the other rejected (a change for
            `--fail-on-change`).
        error_lines: the first MAX_ERRORS_KEPT of them, (line, message).
        rules: per rule, the changed tickets whose change it caused (see `Change.rules`).
        examples: the example tickets, by line.
    """

    def __init__(self, examples: int = 3) -> None:
        self.per_transition = examples
        self.tickets = 0
        self.changed = 0
        self.rules_only = 0
        self.errors = 0
        self.one_sided = 0
        self.error_lines: list[tuple[int, str]] = []
        self.rules: Counter[str] = Counter()
        self.examples: dict[int, Example] = {}
        self._transitions: dict[Transition, TransitionStats] = {}

    def add(self, result: LineResult) -> None:
        """Tally one line; call in corpus order, so examples are the first K of each transition."""
        if result.error is not None:
            self.errors += 1
            self.one_sided += result.one_sided
            if len(self.error_lines) < MAX_ERRORS_KEPT:
                self.error_lines.append((result.line, result.error))
            return
        self.tickets += 1
        change = result.change
        if change is None:
            return
        transitions = change.transitions()
        if not transitions:
            self.rules_only += 1
            return
        self.changed += 1
        self.rules.update(change.rules)
        for transition in transitions:
            stats = self._transitions.get(transition)
            if stats is None:
                stats = self._transitions[transition] = TransitionStats(transition)
            stats.tickets += 1
            stats.rules.update(change.rules)
            if len(stats.examples) < self.per_transition:
                stats.examples.append(result.line)
                if result.line not in self.examples:
                    # INVARIANT: compare_line keeps the text and id of every changed ticket.
                    assert result.text is not None
                    assert result.ticket_id is not None
                    self.examples[result.line] = Example(result.line, result.ticket_id, change, result.text)

    def add_all(self, results: Iterable[LineResult]) -> None:
        """Tally every line."""
        for result in results:
            self.add(result)

    @property
    def transitions(self) -> list[TransitionStats]:
        """The rows of the transition table: outcome, required role, actions, follow-ups; by key."""
        return [self._transitions[t] for t in sorted(self._transitions, key=Transition.sort_key)]

    def rule_counts(self) -> list[tuple[str, int]]:
        """(rule, changed tickets it took part in), most first; ties in the order first seen."""
        return sorted(self.rules.items(), key=lambda item: -item[1])
