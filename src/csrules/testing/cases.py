"""Policy test cases: a ticket, optional `now` and `params`, and what the decision must be.

A case file (`*.cases.yaml`) holds `cases:`, and optionally `policies:` (paths relative to the case
file; the default bundle when absent), `params:` and `now:` shared by its cases:

```yaml
policies: ../policies
now: 2026-11-23T15:00:00Z
cases:
  - name: one cent over the front-line limit goes to a senior
    ticket: {id: T-1, customer: {id: C-1}, agent: {id: A-1, role: front_line},
             request: {kind: refund, amount: "20.01"}}
    expect:
      outcome: escalate
      required_role: senior
      actions: []                       # exactly these kinds (order does not matter)
      follow_ups: [{kind: escalation_update, due_in: {hours: 24}}]
      fired: [over_front_line_limit]    # these fired (others may too)
      not_fired: [over_senior_limit]
```

`expect` may instead be `error: {code, path}` for a ticket that must be refused. Reading goes
through load.py (positions for every case); this module validates and runs. No clock, no printing.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal, Self, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from ..decision import Decision
from ..engine import Engine, default_policies, load
from ..errors import Diagnostic, PolicyError, TicketError
from ..load import PolicyPaths, RawDocument, find_case_files, read_document
from ..source import SourceSpan
from ..ticket import FACT_TYPES
from ..validate import MAX_DURATION
from ..values import YEARS, datetime_text, in_utc, json_number, json_value

__all__ = ["DEFAULT_NOW", "Case", "CaseResult", "Engines", "Mismatch", "load_cases", "run_case", "run_cases"]

DEFAULT_NOW = datetime(2026, 1, 1, tzinfo=UTC)
"""The evaluation time of a case that names none (cases must not read the clock)."""

_W = TypeVar("_W")
_A = TypeVar("_A")


class _Shape(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


_Span = Annotated[int, Field(ge=0, le=MAX_DURATION)]  # as in policies (docs/language.md#limits)


class _DurationDoc(_Shape):
    days: _Span = 0
    hours: _Span = 0
    minutes: _Span = 0


def _scalar(value: Any) -> Any:
    """An expected action parameter: a scalar, numbers finite (action parameters are scalars). A
    date and time YAML read unquoted is its text, as a decision writes it (naive: UTC, as `now`)."""
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, datetime):
        return (value if value.utcoffset() is not None else value.replace(tzinfo=UTC)).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal | float) and math.isfinite(value):
        return value
    raise ValueError("an action parameter is a string, a finite number, true, false or null")


class _ActionDoc(_Shape):
    kind: str
    params: dict[str, Annotated[Any, AfterValidator(_scalar)]] = Field(default_factory=dict)


def _moment(value: object) -> datetime:
    """A case's `now` or an expected follow-up's `due`: a date and time (YAML's, or ISO 8601 text
    read as `--now` is; naive is UTC), within the years 1900 to 9000 in UTC. Not a number (a Unix
    time), a bare date (quoted or not), a week date or an offset in seconds."""
    moment = value if isinstance(value, datetime) else None
    if isinstance(value, str):
        moment = datetime_text(value)
    if moment is None:
        raise ValueError("a date and time, e.g. 2026-11-23T15:00:00Z")
    aware = moment if moment.utcoffset() is not None else moment.replace(tzinfo=UTC)
    if in_utc(aware) is None:
        raise ValueError(f"a date and time between {YEARS}")
    return aware


_Now = Annotated[datetime, BeforeValidator(_moment)]


class _FollowUpDoc(_Shape):
    kind: str
    due: _Now | None = None
    due_in: _DurationDoc | None = None

    @model_validator(mode="after")
    def _one_time(self) -> Self:
        if self.due is not None and self.due_in is not None:  # one would never be checked
            raise ValueError("a follow-up's time is `due` or `due_in`, not both")
        return self


def _given(value: object) -> object:
    """A key given with no value (`policies:`) is refused, not read as left out: the cases would
    run on the default bundle, or at the default `now`, without a word."""
    if value is None:
        raise ValueError("no value given: give one, or leave the key out")
    return value


class _ErrorDoc(_Shape):
    code: str
    path: Annotated[str | None, BeforeValidator(_given)] = None  # `path:` alone would check nothing


class _ExpectDoc(_Shape):
    outcome: Literal["approve", "escalate", "deny"] | None = None
    required_role: Literal["front_line", "senior", "supervisor", "manager"] | None = None
    actions: list[str | _ActionDoc] | None = None
    follow_ups: list[str | _FollowUpDoc] | None = None
    fired: list[str] = Field(default_factory=list)
    not_fired: list[str] = Field(default_factory=list)
    error: _ErrorDoc | None = None

    @model_validator(mode="after")
    def _no_empty_expectation(self) -> Self:
        # `actions:` with nothing after it is YAML's null: it would check nothing, silently.
        empty = sorted(name for name in self.model_fields_set if getattr(self, name) is None)
        if empty:
            raise ValueError(
                f"`{empty[0]}` is empty: give what to expect ([] for none), or leave it out to not check it"
            )
        return self

    @model_validator(mode="after")
    def _error_alone(self) -> Self:
        # A refused ticket has no decision: expectations about one would never be checked.
        if self.error is not None and self.model_fields_set - {"error"}:
            named = ", ".join(sorted(self.model_fields_set - {"error"}))
            raise ValueError(f"`error` stands alone: a refused ticket has no {named} to check")
        return self


_Path = Annotated[str, Field(min_length=1)]


class _CaseDoc(_Shape):
    name: str = Field(min_length=1)
    ticket: dict[str, Any]
    now: Annotated[_Now | None, BeforeValidator(_given)] = None
    params: dict[str, Any] = Field(default_factory=dict)
    expect: _ExpectDoc


class _CaseFileDoc(_Shape):
    policies: Annotated[
        _Path | Annotated[list[_Path], Field(min_length=1)] | None, BeforeValidator(_given)
    ] = None
    now: Annotated[_Now | None, BeforeValidator(_given)] = None
    params: dict[str, Any] = Field(default_factory=dict)
    cases: list[_CaseDoc] = Field(min_length=1)


@dataclass(frozen=True)
class Case:
    """One policy test case, ready to run."""

    name: str
    file: str
    line: int
    ticket: dict[str, Any]
    now: datetime
    params: Mapping[str, Any]
    policies: tuple[str, ...] | None  # None: the default bundle
    expect: _ExpectDoc
    # Where each of `params` is given (the case's own, else the file's): a parameter the bundle
    # refuses is reported there.
    params_at: Mapping[str, SourceSpan] = field(default_factory=dict)
    # Each of `policies` -> where the case file names it, and how: a path that cannot be loaded
    # is reported there, not in the file it names.
    policies_at: Mapping[str, tuple[SourceSpan, str]] = field(default_factory=dict)

    @property
    def location(self) -> str:
        """`file:line` of the case."""
        return f"{self.file}:{self.line}"


@dataclass(frozen=True)
class Mismatch:
    """One expectation that did not hold."""

    field: str
    expected: Any
    actual: Any


@dataclass(frozen=True)
class CaseResult:
    """The outcome of running one case: `decision` is None when the ticket was refused."""

    case: Case
    mismatches: tuple[Mismatch, ...]
    decision: Decision | None = None
    error: TicketError | None = None

    @property
    def passed(self) -> bool:
        """True when every expectation held."""
        return not self.mismatches


def _aware(moment: datetime | None, fallback: datetime) -> datetime:
    if moment is None:
        return fallback
    return moment if moment.utcoffset() is not None else moment.replace(tzinfo=UTC)


def _written_loc(data: Any, loc: tuple[str | int, ...], missing: bool) -> tuple[str | int, ...]:
    """The parts of a pydantic error's location that are keys or indexes of the case file,
    followed through its data: the others name a union's alternative (`str`, `_ActionDoc`,
    `list[str]`), wherever they are, while a key a user wrote is kept, even one spelt `str`. With
    `missing`, the last part is the key that is not there."""
    out: list[str | int] = []
    node = data
    for number, part in enumerate(loc):
        written = (isinstance(node, dict) and part in node) or (
            isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        )
        if written:
            node = node[part]
        elif not (missing and number == len(loc) - 1):
            continue
        out.append(part)
    return tuple(out)


def _as_json(ticket: dict[str, Any]) -> dict[str, Any]:
    """A case's ticket as the same ticket in JSON would be read (`csrules eval`): YAML's numbers
    with a fraction, which csrules reads as Decimals, as JSON numbers (`amount: 20.001` is refused
    showing `20.001`, not `Decimal('20.001')`), and a date or datetime YAML reads for a date or
    datetime fact as the text JSON would hold (`opened_at: 2026-11-23 10:00:00`, without an
    offset, is refused as that text). Elsewhere (an id, a sku, an attribute) an unquoted date stays
    one, and is refused, as in a policy: quote it for text."""
    return _json_value(ticket, "")  # type: ignore[no-any-return]


def _json_value(value: Any, path: str) -> Any:
    if isinstance(value, dict):
        return {key: _json_value(item, f"{path}.{key}" if path else str(key)) for key, item in value.items()}
    if isinstance(value, list):
        return [_json_value(item, path) for item in value]
    if isinstance(value, Decimal):
        # Only a number a float holds exactly, as `csrules eval` reads JSON: another
        # (`0.30000000000000001`) stays a Decimal, which the ticket refuses, not rounded silently.
        return json_number(value)
    fact = FACT_TYPES.get(path)
    if isinstance(value, date) and fact is not None and fact.kind in ("date", "datetime"):
        return value.isoformat()  # a datetime too
    return value


def _cases_of(doc: RawDocument) -> list[Case]:
    if not isinstance(doc.data, dict):  # pydantic would name its own model, at an empty place
        kind = "a list" if isinstance(doc.data, list) else "a single value"
        message = f"invalid case file: expected a mapping with `cases:` at the top, got {kind}"
        raise PolicyError([Diagnostic("invalid-case", message, doc.span(()))])
    try:
        shape = _CaseFileDoc.model_validate(doc.data)
    except ValidationError as exc:
        # Of a union's errors (one per alternative), the deepest says what is wrong; at one depth,
        # the alternative of the value's own type (not "input should be a valid string"), and an
        # unknown key before a missing one (`expects:` for `expect:` is both: the key is the typo).
        errors = exc.errors(include_url=False)
        error = max(
            errors,
            key=lambda e: (len(e["loc"]), not e["type"].endswith("_type"), e["type"] == "extra_forbidden"),
        )
        loc = _written_loc(doc.data, error["loc"], missing=error["type"] == "missing")
        where = ".".join(str(p) for p in loc)
        said = error["msg"].removeprefix("Value error, ")
        message = f"invalid case file: `{where}`: {said[0].lower()}{said[1:]}"
        if error["type"] == "extra_forbidden":  # and a key this one may stand for
            required = [
                str(e["loc"][-1])
                for e in errors
                if e["type"] == "missing" and _written_loc(doc.data, e["loc"], missing=True)[:-1] == loc[:-1]
            ]
            if required:
                verb = "is" if len(required) == 1 else "are"
                message += f" (`{'`, `'.join(required)}` {verb} required there)"
        span = doc.span(loc, key=error["type"] == "extra_forbidden")  # an unknown key: point at it
        raise PolicyError([Diagnostic("invalid-case", message, span)]) from None
    base = Path(doc.file).parent
    policies = shape.policies
    written: list[tuple[tuple[str | int, ...], str]] = (
        []
        if policies is None
        else [(("policies",), policies)]
        if isinstance(policies, str)
        else [(("policies", i), p) for i, p in enumerate(policies)]
    )
    resolved = None if policies is None else tuple(os.fspath(base / p) for _, p in written)
    policies_at = {os.fspath(base / p): (doc.span(loc), p) for loc, p in written}
    file_now = _aware(shape.now, DEFAULT_NOW)
    file_params = {name: doc.span(("params", name), key=True) for name in shape.params}
    seen: set[str] = set()
    for i, case in enumerate(shape.cases):  # a name is how a case is run, reported and selected
        span = doc.span(("cases", i, "name"))
        if case.name in seen:
            raise PolicyError(
                [Diagnostic("invalid-case", f"invalid case file: duplicate case name `{case.name}`", span)]
            )
        if "::" in case.name:  # pytest reads `FILE::NAME` up to the first `::`: it could not select it
            raise PolicyError(
                [
                    Diagnostic(
                        "invalid-case",
                        f"invalid case file: a case name cannot contain `::` (pytest selects a case as "
                        f"`FILE::NAME`), got `{case.name}`",
                        span,
                    )
                ]
            )
        seen.add(case.name)
    return [
        Case(
            name=case.name,
            file=doc.file,
            line=doc.span(("cases", i)).line,
            ticket=_as_json(case.ticket),
            now=_aware(case.now, file_now),
            params={**shape.params, **case.params},
            policies=resolved,
            expect=case.expect,
            params_at=file_params
            | {name: doc.span(("cases", i, "params", name), key=True) for name in case.params},
            policies_at=policies_at,
        )
        for i, case in enumerate(shape.cases)
    ]


def load_cases(paths: PolicyPaths) -> list[Case]:
    """Every case in the case files under `paths` (`*.cases.yaml`), in file and case order.

    Raises:
        PolicyError: a case file that is not valid YAML or not a valid case file (`invalid-case`).
    """
    return [case for path in find_case_files(paths) for case in _cases_of(read_document(path))]


class Engines:
    """Engines by (policies, params), loaded once per run."""

    def __init__(self, override: Sequence[str] | None = None) -> None:
        self._override = tuple(override) if override else None
        self._cache: dict[tuple[Any, ...], Engine] = {}
        self._given: dict[tuple[str, ...] | None, tuple[str, ...] | None] = {}  # bundle -> as first given

    def bundle_of(self, case: Case) -> tuple[str, ...]:
        """The bundle `case` runs on, as the real paths of its policies: `pol` and `../pol` from
        two case files are one bundle, loaded once, and so are the default bundle and its path."""
        policies = self._override or case.policies or (default_policies(),)
        return tuple(os.path.realpath(p) for p in policies)

    def get(self, case: Case) -> Engine:
        policies = self._override or case.policies
        bundle = self.bundle_of(case)
        self._given.setdefault(bundle, policies)
        key = (bundle, tuple(sorted((k, repr(v)) for k, v in case.params.items())))
        if key not in self._cache:
            try:
                engine = load(list(policies) if policies else None, params=dict(case.params) or None)
            except PolicyError as error:
                raise _located(error, case, own_policies=self._override is None) from None
            self._cache[key] = engine
        return self._cache[key]

    def as_written(self) -> list[Engine]:
        """Every bundle the cases ran on, loaded with its own parameters (no `params`), in load
        order: the bundles whose invariants a test run checks. With an override, that bundle.

        A bundle that only ran with a case file's `params` is loaded again without them: the
        invariants are about the bundle as written, whatever the cases set."""
        if not self._cache and self._override:
            self._given[tuple(os.path.realpath(p) for p in self._override)] = self._override
        bundles = dict.fromkeys(key[0] for key in self._cache) or dict.fromkeys(self._given)
        for bundle in bundles:
            if (bundle, ()) not in self._cache:
                policies = self._given[bundle]
                self._cache[(bundle, ())] = load(list(policies) if policies else None)
        return [self._cache[(bundle, ())] for bundle in bundles]


def _located(error: PolicyError, case: Case, *, own_policies: bool) -> PolicyError:
    """`error` with its problems about a case's parameters pointed at where the case file gives
    them, and a path of its `policies` that cannot be read pointed at where the case file names
    it (a bundle's own problems keep their place)."""
    at = case.params_at
    named = case.policies_at if own_policies else {}

    def place(d: Diagnostic) -> Diagnostic:
        if d.span is None and d.param is not None and d.param in at:
            return replace(d, span=at[d.param])
        if d.code == "no-such-file" and d.span is not None and d.span.file in named:
            span, given = named[d.span.file]
            return replace(d, span=span, message=f"`policies: {given}`: {d.message}")
        return d

    found = [place(d) for d in error.diagnostics]
    return PolicyError(found) if found != list(error.diagnostics) else error


def _same(actual: Any, expected: Any) -> bool:
    """An action parameter against its expectation: equal values, or the same instant written two
    ways (`2026-01-31T00:00:00+00:00` and `...Z`)."""
    if isinstance(actual, bool) != isinstance(expected, bool):  # JSON's true is not 1 (True == 1)
        return False
    if actual == expected:
        return True
    if isinstance(actual, str) and isinstance(expected, str):
        first, second = _instant(actual), _instant(expected)
        return first is not None and first == second
    return False


def _instant(text: str) -> datetime | None:
    """An action parameter's text as an instant, read as tickets write one (not a week date)."""
    moment = datetime_text(text)
    return moment if moment is not None and moment.utcoffset() is not None else None


def _kinds(items: Sequence[Any]) -> list[str]:
    return sorted(item if isinstance(item, str) else item.kind for item in items)


def _params_fit(want: dict[str, Any] | None, params: Mapping[str, Any]) -> bool:
    """An expected action's parameters (None: any) against an action's: each named one equal.
    `k in params`: an expected `null` is a parameter whose value is null, not a missing one."""
    return want is None or all(k in params and _same(params[k], v) for k, v in want.items())


def _expected_due(follow_up: str | _FollowUpDoc, now: datetime) -> datetime | None:
    """When an expected follow-up is due, in UTC; None when the case does not say."""
    if isinstance(follow_up, str):
        return None
    if follow_up.due_in is not None:
        span = follow_up.due_in
        return now + timedelta(days=span.days, hours=span.hours, minutes=span.minutes)
    return follow_up.due


def _unmatched(wanted: Sequence[_W], actual: Sequence[_A], fits: Callable[[_W, _A], bool]) -> list[_W]:
    """The expectations left without an item of their own by a largest one-to-one matching
    (augmenting paths: a case names a few actions, so this is small). Bare expectations (None:
    any item of the kind) come last: when items are short, they are the ones left over, and a
    count mismatch (reported apart) is not also reported as a parameter mismatch."""
    wanted = sorted(wanted, key=lambda want: want is None)  # stable: otherwise in the case's order
    owner: dict[int, int] = {}  # index in `actual` -> index in `wanted`

    def take(w: int, seen: set[int]) -> bool:
        for a, item in enumerate(actual):
            if a not in seen and fits(wanted[w], item):
                seen.add(a)
                if a not in owner or take(owner[a], seen):
                    owner[a] = w
                    return True
        return False

    return [want for w, want in enumerate(wanted) if not take(w, set())]


def _check(case: Case, decision: Decision) -> list[Mismatch]:
    expect = case.expect
    found: list[Mismatch] = []
    if expect.error is not None:
        found.append(Mismatch("error", expect.error.code, "no error: the ticket was decided"))
    if expect.outcome is not None and expect.outcome != decision.outcome:
        found.append(Mismatch("outcome", expect.outcome, decision.outcome))
    if expect.required_role is not None and expect.required_role != decision.required_role:
        found.append(Mismatch("required_role", expect.required_role, decision.required_role))
    if expect.actions is not None:
        actual = _kinds(decision.actions)
        if _kinds(expect.actions) != actual:
            found.append(Mismatch("actions", _kinds(expect.actions), actual))
        for kind in sorted({a.kind for a in expect.actions if not isinstance(a, str)}):
            candidates = [a.params for a in decision.actions if a.kind == kind]
            # Each expected action takes an action of its own: two alike expected ones need two.
            wants = [
                {k: json_value(v) for k, v in a.params.items()} if not isinstance(a, str) else None
                for a in expect.actions
                if (a if isinstance(a, str) else a.kind) == kind
            ]
            for want in _unmatched(wants, candidates, _params_fit):
                if want is not None and candidates:
                    found.append(Mismatch(f"actions[{kind}].params", want, candidates))
    if expect.follow_ups is not None:
        actual = _kinds(decision.follow_ups)
        if _kinds(expect.follow_ups) != actual:
            found.append(Mismatch("follow_ups", _kinds(expect.follow_ups), actual))
        for kind in sorted({f.kind for f in expect.follow_ups if not isinstance(f, str)}):
            dues = [f.due for f in decision.follow_ups if f.kind == kind]
            expected_dues = [
                _expected_due(f, case.now)
                for f in expect.follow_ups
                if (f if isinstance(f, str) else f.kind) == kind
            ]
            for due in _unmatched(expected_dues, dues, lambda want, got: want is None or want == got):
                if due is not None and dues:
                    found.append(Mismatch(f"follow_ups[{kind}].due", due, dues))
    known = {s.rule for s in decision.trace.steps}
    missing = sorted({*expect.fired, *expect.not_fired} - known)
    fired = set(decision.trace.fired)
    absent = [r for r in expect.fired if r in known and r not in fired]
    if absent:
        found.append(Mismatch("fired", absent, "did not fire"))
    unexpected = [r for r in expect.not_fired if r in fired]
    if unexpected:
        found.append(Mismatch("not_fired", unexpected, "fired"))
    if missing:
        found.append(Mismatch("rules", missing, "no such rule in the bundle"))
    return found


def run_case(case: Case, engine: Engine) -> CaseResult:
    """Evaluate one case with `engine` and compare the decision with the expectations."""
    try:
        decision = engine.evaluate(case.ticket, now=case.now)
    except TicketError as refused:
        error = _as_written(refused, case.ticket)
        wanted = case.expect.error
        if wanted is None:
            where = error.path or "the ticket"
            return CaseResult(
                case, (Mismatch("error", "a decision", f"{error.code} at {where}"),), error=error
            )
        found = []
        if wanted.code != error.code:
            found.append(Mismatch("error.code", wanted.code, error.code))
        if wanted.path is not None and wanted.path != error.path:
            found.append(Mismatch("error.path", wanted.path, error.path))
        return CaseResult(case, tuple(found), error=error)
    return CaseResult(case, tuple(_check(case, decision)), decision=decision)


def _as_written(error: TicketError, ticket: Any) -> TicketError:
    """`error` with the refused value shown as the case file writes it when YAML read it as
    something JSON has not (an unquoted date where text is expected: `2026-01-01`, not
    `datetime.date(2026, 1, 1)`; a number no double holds, as written)."""
    value = ticket
    for part in error.path.split("/")[1:] if error.path else ():
        key = part.replace("~1", "/").replace("~0", "~")
        if isinstance(value, dict) and key in value:
            value = value[key]
        elif isinstance(value, list) and key.isdigit() and int(key) < len(value):
            value = value[int(key)]
        else:
            return error
    if isinstance(value, date):  # a datetime too
        got = f"`{value.isoformat()}` (an unquoted YAML date or time: quote it to give text)"
    elif isinstance(value, Decimal):
        got = f"`{value}`"
    else:
        return error
    return TicketError(error.path, error.code, error.expected, got)


def run_cases(
    cases: Sequence[Case], policies: Sequence[str] | None = None, engines: Engines | None = None
) -> list[CaseResult]:
    """Run every case; `policies` overrides the case files' own `policies`.

    Pass `engines` to reuse loaded bundles afterwards (e.g. to check their invariants).

    Raises:
        PolicyError: the policies of a case (or its `params`) do not load.
    """
    engines = engines if engines is not None else Engines(policies)
    return [run_case(case, engines.get(case)) for case in cases]
