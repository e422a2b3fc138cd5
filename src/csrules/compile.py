"""Stage 3, compile: Bundle -> CompiledBundle (durable_rules JSON ruleset, inputs, digest). No I/O.

The output is plain data: a ruleset definition in durable_rules' JSON form, the list of fact paths
the engine needs (with how each is encoded), and the bundle's `policy_digest`.

How the language maps onto durable_rules (measured facts in docs/engine.md):
- Every rule is one pattern on the fact of its *stage*: `{"m": {"$and": [{"stage": k}, {"part": p}, ...]}}`.
  A stage is split into parts, one fact each, so no fact overflows durable_rules' matcher stack
  (`_partition`, with the network model in `_network.py`).
  Stage k's fact is asserted by the *barrier* rule of stage k-1, which has the lowest priority
  (65535), so it fires after every other match of its stage; its action adds the derived facts
  (and, for the decision stage, the outcome) to the next stage's fact. Forward chaining thus needs
  neither joins nor `$not`, both of which misbehave in durable_rules 2.0.28.
- Facts are flattened to dotted names under `t.` (ticket), `d.` (derived), `x.` (decision).
  Money is sent as integer cents, dates as ordinals, datetimes as epoch microseconds, so the C
  engine compares integers. Custom attributes go under `a.num.`, `a.str.`, `a.bool.` by value
  type, so a comparison across types is false, as in `conditions.py`.
- A comparison of a ticket's money, integer or date fact with a parameter, `x > {param: p}`, is
  sent the same way as a fact-to-fact one (below), `c.N = x - p`, so the ruleset holds no such
  parameter value and reloads with other values reuse its registration (unless the differences
  would not fit a stage fact: then the values are compiled in).
- A fact-to-fact comparison `x < {fact: y}` becomes `c.N < 0`, where `c.N = x - y` is computed
  before the engine runs (durable_rules cannot compare two attributes of one fact).
- `not` is pushed down to the comparisons (De Morgan); a negated comparison is also true when the
  fact is absent (`$nex`), matching `conditions.py`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Literal

from ._network import MAX_BETAS, MAX_GROUPS, MAX_HASHED, MAX_LISTED, Network, groups
from .errors import Diagnostic, PolicyError
from .policy import (
    AllOf,
    AnyOf,
    Bundle,
    Compare,
    Condition,
    Duration,
    FactRef,
    Not,
    NowPlus,
    ParamRef,
    Rule,
    compares,
)
from .source import SourceSpan
from .values import DECIMAL, FactType, category

__all__ = [
    "BARRIER_PREFIX",
    "PART_BUDGET",
    "CompiledBundle",
    "Difference",
    "Encoding",
    "Input",
    "compile_bundle",
    "encode",
    "encoder",
]

BARRIER_PREFIX = "__stage_"
_LAST = 65535
PART_BUDGET = 60  # matcher stack entries a stage fact may need; durable_rules holds 64
MAX_BRANCHES = 64  # alternatives per rule that can hold at once (`in` of 50 values, negated, is 51)
RULESET_RULES = 1000  # rules per durable_rules ruleset (it fails at 4,096, error 106): a bundle spans several
MAX_PROPERTIES = 240  # per fact; durable_rules refuses a fact of more than 253 (error 302)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

Encoding = Literal["money", "date", "datetime", "plain"]


@dataclass(frozen=True, slots=True)
class Input:
    """A ticket fact path the engine needs, the durable attribute name and its encoding."""

    path: str
    name: str
    encoding: Encoding


@dataclass(frozen=True, slots=True)
class Difference:
    """`name = left - right` (both encoded as integers), present only when both facts are.

    `right` is a fact path, or with `param` a parameter name: comparisons with parameters are sent
    as differences so the compiled ruleset holds no parameter value, and a bundle reloaded with
    other parameter values reuses the durable_rules registration (docs/performance.md).
    """

    name: str
    left: str
    right: str
    encoding: Encoding
    param: bool = False


@dataclass(frozen=True)
class CompiledBundle:
    """A bundle compiled for durable_rules. `ruleset` is plain JSON data, hashed and golden-tested."""

    bundle: Bundle
    digest: str
    rulesets: tuple[dict[str, Any], ...]
    inputs: tuple[Input, ...]
    attributes: tuple[str, ...]  # custom attribute names the rules test
    differences: tuple[Difference, ...]
    derived_encodings: dict[str, Encoding]
    decision_stage: int | None
    rules_by_id: dict[str, Rule]
    slots: tuple[tuple[tuple[int, ...], ...], ...]  # slots[r][stage]: the parts ruleset r holds rules of

    @property
    def parts(self) -> tuple[int, ...]:
        """Facts a stage is cut into (see _partition), per stage: one more than its last part."""
        stages = len(self.slots[0])
        return tuple(1 + max((p for held in self.slots for p in held[k]), default=0) for k in range(stages))

    @property
    def ruleset(self) -> dict[str, Any]:
        """Every ruleset's rules in one mapping (barrier ids differ per ruleset)."""
        merged: dict[str, Any] = {}
        for ruleset in self.rulesets:
            merged.update(ruleset)
        return merged


def encode(value: Any, encoding: Encoding) -> Any:
    """Encode a fact value for the C engine: integers for money (cents), dates (ordinals) and
    datetimes (microseconds since 1970); a Decimal of a plain number as an int or a float."""
    return encoder(encoding)(value)


def encoder(encoding: Encoding) -> Callable[[Any], Any]:
    """`encode` for one encoding, chosen once (evaluate.py encodes every ticket with these)."""
    if encoding == "money":
        return _money
    if encoding == "date":
        return date.toordinal
    if encoding == "datetime":
        return _microseconds
    return _plain


def _money(value: Decimal) -> int:
    return int(DECIMAL.multiply(value, 100))


def _microseconds(value: datetime) -> int:
    delta = value - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        # No context needed: rounding to an integer is exact, and only equality is asked.
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def _encoding(fact_type: FactType) -> Encoding:
    if fact_type.kind in ("money", "date", "datetime"):
        return fact_type.kind
    return "plain"


# --- canonical form and digest ------------------------------------------------------------------


def _canonical(value: Any) -> Any:
    if isinstance(value, ParamRef):
        return {"param": value.name}
    if isinstance(value, FactRef):
        return {"fact": value.path}
    if isinstance(value, NowPlus):
        return {"now_plus": _canonical(value.duration)}
    if isinstance(value, Duration):
        return {
            "days": _canonical(value.days),
            "hours": _canonical(value.hours),
            "minutes": _canonical(value.minutes),
        }
    if isinstance(value, Decimal):
        return {"decimal": str(value)}
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, tuple | list):
        return [_canonical(v) for v in value]
    return value


def _condition_data(condition: Condition) -> Any:
    if isinstance(condition, Compare):
        return {
            "path": condition.path,
            "op": condition.op,
            "operand": _canonical(condition.operand),
            "where": condition.where,  # traces show it (`when[0]...` or `when...`), as sources
        }
    if isinstance(condition, AllOf):
        return {"all": [_condition_data(c) for c in condition.items]}
    if isinstance(condition, AnyOf):
        return {"any": [_condition_data(c) for c in condition.items]}
    return {"not": _condition_data(condition.item)}


def bundle_data(bundle: Bundle) -> dict[str, Any]:
    """The bundle as canonical plain data: what `policy_digest` hashes (no file positions)."""
    return {
        "parameters": {
            name: {"type": p.type.kind, "value": _canonical(p.value)}
            for name, p in sorted(bundle.parameters.items())
        },
        "derived": {
            name: {"type": d.type.kind, "default": _canonical(d.default)}
            for name, d in sorted(bundle.derived.items())
        },
        "rules": [
            {
                "id": r.id,
                "source": r.source,  # traces name it, so equal digests give equal decisions
                "description": r.description,
                "rationale": r.rationale,
                "priority": r.priority,
                "when": _condition_data(r.when),
                "then": {
                    "require_role": r.then.require_role,
                    "deny": r.then.deny,
                    "derive": [[n, _canonical(v)] for n, v in r.then.derive],
                    "actions": [
                        {"kind": a.kind, "params": [[n, _canonical(v)] for n, v in a.params]}
                        for a in r.then.actions
                    ],
                    "follow_ups": [
                        {"kind": f.kind, "due_in": _canonical(f.due_in)} for f in r.then.follow_ups
                    ],
                },
            }
            for r in bundle.rules
        ],
    }


def _digest(bundle: Bundle) -> str:
    text = json.dumps(bundle_data(bundle), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# --- conditions -> durable_rules expressions ----------------------------------------------------

_NEGATED = {
    "eq": "ne",
    "ne": "eq",
    "lt": "gte",
    "lte": "gt",
    "gt": "lte",
    "gte": "lt",
    "ex": "nex",
    "nex": "ex",
}
_DIFFERENCE_OPS = {"eq", "ne", "lt", "lte", "gt", "gte"}
_ORDERED_KINDS = {"money", "integer", "number", "date", "datetime"}  # parameters: money, integer, date
_DURABLE_OP = {"ne": "$neq", "lt": "$lt", "lte": "$lte", "gt": "$gt", "gte": "$gte"}
_FALSE: dict[str, Any] = {"$nex": {"stage": 1}}  # every stage fact has `stage`: never true


@dataclass(frozen=True, slots=True)
class _Atom:
    name: str
    op: str  # eq ne lt lte gt gte ex nex
    value: Any = None


_Expr = _Atom | tuple[str, tuple["_Expr", ...]]  # ("and"|"or", items)


class _Compiler:
    def __init__(self, bundle: Bundle, *, param_differences: bool = True) -> None:
        self.bundle = bundle
        self.param_differences = param_differences
        self.inputs: dict[str, Input] = {}
        self.attributes: set[str] = set()
        self.differences: dict[tuple[str, str], Difference] = {}

    def resolve(self, operand: Any) -> Any:
        if isinstance(operand, ParamRef):
            return self.bundle.params[operand.name]
        return operand

    def name(self, path: str, fact_type: FactType, value: object) -> tuple[str, Encoding]:
        head, _, tail = path.partition(".")
        if head == "attributes":
            self.attributes.add(tail)
            return f"a.{category(value)}.{tail}", "plain"
        if head == "derived":
            return f"d.{tail}", _encoding(fact_type)
        if head == "decision":
            return f"x.{tail}", "plain"
        encoding = _encoding(fact_type)
        self.inputs.setdefault(path, Input(path, f"t.{path}", encoding))
        return f"t.{path}", encoding

    def atoms(self, compare: Compare) -> _Expr:
        """Expand one comparison into atoms on durable attribute names."""
        if (
            self.param_differences
            and isinstance(compare.operand, ParamRef)
            and compare.op in _DIFFERENCE_OPS
            and compare.type.kind in _ORDERED_KINDS
            and compare.path.partition(".")[0] not in ("attributes", "derived", "decision")
        ):
            key = (compare.path, f"param:{compare.operand.name}")
            if key not in self.differences:  # computed from the ticket's facts: no `t.` input needed
                self.differences[key] = Difference(
                    f"c.{len(self.differences)}",
                    compare.path,
                    compare.operand.name,
                    _encoding(compare.type),
                    param=True,
                )
            return _Atom(self.differences[key].name, compare.op, 0)
        op, operand = compare.op, self.resolve(compare.operand)
        if isinstance(operand, FactRef):
            key = (compare.path, operand.path)
            if key not in self.differences:
                self.name(compare.path, compare.type, None)
                self.name(operand.path, compare.type, None)
                self.differences[key] = Difference(
                    f"c.{len(self.differences)}",
                    compare.path,
                    operand.path,
                    _encoding(compare.type),
                )
            return _Atom(self.differences[key].name, op, 0)
        if op == "exists":
            if compare.type.kind == "scalar":
                names = [self.name(compare.path, compare.type, sample)[0] for sample in ("", 0, False)]
                atoms = tuple(_Atom(n, "ex") for n in names)
                return ("or", atoms) if operand else ("and", tuple(_Atom(n, "nex") for n in names))
            name, _ = self.name(compare.path, compare.type, None)
            return _Atom(name, "ex" if operand else "nex")
        if op in ("in", "not_in"):
            single = "eq" if op == "in" else "ne"
            items = tuple(self.atom(compare, single, v) for v in operand)
            if len(items) == 1:
                return items[0]
            return ("or" if op == "in" else "and", items)
        return self.atom(compare, op, operand)

    def atom(self, compare: Compare, op: str, value: object) -> _Atom:
        name, encoding = self.name(compare.path, compare.type, value)
        return _Atom(name, op, encode(value, encoding))

    def expr(self, condition: Condition, negate: bool) -> _Expr | bool:
        """The condition as an expression, or True/False when it is constant."""
        if isinstance(condition, Compare):
            atoms = self.atoms(condition)
            return _negate(atoms) if negate else atoms
        if isinstance(condition, Not):
            return self.expr(condition.item, not negate)
        conjunction = isinstance(condition, AllOf) != negate  # De Morgan
        items: list[_Expr] = []
        for item in condition.items:
            value = self.expr(item, negate)
            if value is (not conjunction):  # a false item in an `and`, a true one in an `or`
                return not conjunction
            if not isinstance(value, bool):
                items.append(value)
        if not items:
            return conjunction
        return _join("and" if conjunction else "or", items)


def _join(kind: str, items: list[_Expr]) -> _Expr:
    """`kind` of `items`, flattening nested items of the same kind (durable_rules rejects some
    nestings that it accepts flat: 14 `$or`s under a nested `$and` fail with error 113)."""
    flat: list[_Expr] = []
    for item in items:
        for part in item[1] if not isinstance(item, _Atom) and item[0] == kind else (item,):
            if part not in flat:
                flat.append(part)
    return flat[0] if len(flat) == 1 else (kind, tuple(flat))


def _negate(expr: _Expr) -> _Expr:
    """The negation of `expr`; a negated comparison also holds when its fact is absent."""
    if isinstance(expr, _Atom):
        negated = _Atom(expr.name, _NEGATED[expr.op], expr.value)
        if expr.op in ("ex", "nex"):
            return negated
        return ("or", (_Atom(expr.name, "nex"), negated))
    kind, items = expr
    if kind == "or":
        # not(a1 or ... or an) = and over each fact name x of (x absent or all negated tests on x):
        # one `$or` per name instead of one per atom, so `not: {sku: {in: [50 values]}}` stays small.
        groups: dict[str, list[_Atom]] = {}
        rest: list[_Expr] = []
        for item in items:
            if isinstance(item, _Atom) and item.op not in ("ex", "nex"):
                groups.setdefault(item.name, []).append(_Atom(item.name, _NEGATED[item.op], item.value))
            else:
                rest.append(_negate(item))
        grouped: list[_Expr] = [
            _join("or", [_Atom(name, "nex"), _join("and", list(tests))]) for name, tests in groups.items()
        ]
        return _join("and", grouped + rest)
    return _join("or", [_negate(i) for i in items])


def _durable(expr: _Expr) -> dict[str, Any]:
    if isinstance(expr, _Atom):
        if expr.op == "eq":
            return {expr.name: expr.value}
        if expr.op in ("ex", "nex"):
            return {f"${expr.op}": {expr.name: 1}}
        return {_DURABLE_OP[expr.op]: {expr.name: expr.value}}
    kind, items = expr
    return {f"${kind}": [_durable(i) for i in items]}


def _fnv1a32(text: str) -> int:
    value = 0x811C9DC5
    for byte in text.encode("utf-8"):
        value = ((value ^ byte) * 0x01000193) & 0xFFFFFFFF
    return value


def compile_bundle(bundle: Bundle) -> CompiledBundle:
    """Compile a validated bundle for durable_rules.

    Raises:
        PolicyError: `engine-limit` when two attribute names collide in durable_rules' 32-bit hash.
    """
    compiler = _Compiler(bundle)
    ordered = sorted(bundle.rules, key=lambda r: (-r.priority, r.index))
    pri = {rule.id: rank for rank, rule in enumerate(ordered)}
    exprs = {rule.id: compiler.expr(rule.when, negate=False) for rule in bundle.rules}
    if _properties(compiler, bundle) > MAX_PROPERTIES:
        # One difference per (fact, parameter) pair can outgrow a stage fact where the values,
        # compiled as constants on the fact's one property, fit: then compile the values in (the
        # ruleset then differs with each parameter value, docs/performance.md).
        compiler = _Compiler(bundle, param_differences=False)
        exprs = {rule.id: compiler.expr(rule.when, negate=False) for rule in bundle.rules}
    part_of = _partition(bundle, exprs)
    rulesets = _rulesets(bundle, part_of, pri, exprs)
    _check_names(compiler, bundle)
    decision_stages = {r.stage for r in bundle.rules if r.tests_decision}
    return CompiledBundle(
        bundle=bundle,
        digest=_digest(bundle),
        rulesets=tuple(definition for definition, _ in rulesets),
        inputs=tuple(sorted(compiler.inputs.values(), key=lambda i: i.path)),
        attributes=tuple(sorted(compiler.attributes)),
        differences=tuple(compiler.differences.values()),
        derived_encodings={n: _encoding(d.type) for n, d in sorted(bundle.derived.items())},
        decision_stage=min(decision_stages) if decision_stages else None,
        rules_by_id={r.id: r for r in bundle.rules},
        slots=tuple(slots for _, slots in rulesets),
    )


def _rulesets(
    bundle: Bundle, part_of: dict[str, int], pri: dict[str, int], exprs: dict[str, _Expr | bool]
) -> list[tuple[dict[str, Any], tuple[tuple[int, ...], ...]]]:
    """The bundle's rules in durable_rules rulesets of at most RULESET_RULES rules, in (stage,
    part, bundle order), each with its slots: per stage, the parts it holds rules of.

    Each ruleset has a barrier per stage it holds rules of, matching the first of its parts: the
    first fact a session asserts in it always matches a rule, so an action runs in every state
    (`_durable`). Ruleset 0's barriers are `__stage_<k>`, ruleset r's `__stage_<k>_<r>`.
    """
    ordered = sorted(bundle.rules, key=lambda r: (r.stage, part_of[r.id], r.index))
    chunks = [ordered[i : i + RULESET_RULES] for i in range(0, len(ordered), RULESET_RULES)] or [[]]
    out: list[tuple[dict[str, Any], tuple[tuple[int, ...], ...]]] = []
    for number, chunk in enumerate(chunks):
        definition: dict[str, Any] = {}
        for rule in sorted(chunk, key=lambda r: r.index):  # bundle order: equal-priority ties stay as written
            pattern = _pattern(rule.stage, part_of[rule.id], exprs[rule.id])
            definition[rule.id] = {"pri": pri[rule.id], "all": [{"m": pattern}]}
        slots = tuple(
            tuple(sorted({part_of[r.id] for r in chunk if r.stage == stage}))
            for stage in range(bundle.stages)
        )
        if not chunk:  # a bundle without rules: one barrier, so a session still runs an action
            slots = tuple((0,) if stage == 0 else () for stage in range(bundle.stages))
        suffix = f"_{number}" if number else ""
        for stage, parts in enumerate(slots):
            if parts:
                barrier = {"$and": [{"stage": stage}, {"part": parts[0]}]}
                definition[f"{BARRIER_PREFIX}{stage}{suffix}"] = {"pri": _LAST, "all": [{"m": barrier}]}
        out.append((definition, slots))
    return out


def _branches(expr: _Expr | bool) -> int:
    """How many alternatives of `expr` can hold at once: `and` multiplies, `or` adds. durable_rules
    activates a rule once per alternative that holds, so this bounds the work per ticket."""
    if isinstance(expr, bool | _Atom):
        return 1
    kind, items = expr
    if kind == "or":
        # Equality tests of one fact with different values cannot hold together: `in` counts once.
        equal = {i.name for i in items if isinstance(i, _Atom) and i.op == "eq"}
        rest = [i for i in items if not (isinstance(i, _Atom) and i.op == "eq")]
        return len(equal) + sum(_branches(item) for item in rest)
    counts = [_branches(item) for item in items]
    product = 1
    for count in counts:
        product *= count
    return product


def _pattern(stage: int, part: int, expr: _Expr | bool) -> dict[str, Any]:
    """A rule's pattern: the stage and part anchor, then its conditions in one flat `$and`."""
    anchor: list[dict[str, Any]] = [{"stage": stage}, {"part": part}]
    if expr is True:
        return {"$and": anchor}
    test = _FALSE if expr is False else _durable(expr)
    return {"$and": anchor + (test["$and"] if set(test) == {"$and"} else [test])}


def _partition(bundle: Bundle, exprs: dict[str, _Expr | bool]) -> dict[str, int]:
    """Give each rule a part of its stage so that no fact can overflow the matcher's stack.

    durable_rules fails an assert (error 303) when its walk of the alpha network needs more than 64
    stack entries (`_network.py`; 65 rules `amount > i` all holding for one fact do it). Rules go
    into the current part while the part's network stays within PART_BUDGET, and while no node of
    it has more children or ending rules than its fixed tables hold (MAX_HASHED, MAX_LISTED,
    MAX_BETAS: 513 rules testing `item.sku` against 513 skus made `create_ruleset` spin forever;
    257 rules of one `when` failed with error 108); each part gets its own fact, anchored by
    `part`, and a fact only walks its own part. A rule too wide for a part on its own is refused.
    """
    part_of: dict[str, int] = {}
    for stage in range(bundle.stages):
        part, network = 0, Network()
        for rule in (r for r in bundle.rules if r.stage == stage):
            pattern = _pattern(stage, 0, exprs[rule.id])  # the part number does not change the bound
            sizes = (groups(pattern), _branches(exprs[rule.id]), _bound([pattern]))
            if sizes[0] > MAX_GROUPS or sizes[1] > MAX_BRANCHES or sizes[2] > PART_BUDGET:
                message = (
                    f"rule `{rule.id}` is too complex for durable_rules: {sizes[0]} `all`/`any` groups "
                    f"(at most {MAX_GROUPS}), {sizes[1]} alternatives (at most {MAX_BRANCHES}), "
                    f"matcher depth {sizes[2]} (at most {PART_BUDGET})"
                )
                raise PolicyError([Diagnostic("engine-limit", message, rule.span, "split the rule")])
            network.add(pattern)  # the part's network grows rule by rule (linear, not rebuilt)
            if _too_wide(network) or network.stack_bound() > PART_BUDGET:
                part, network = part + 1, Network()
                network.add(pattern)
                if _too_wide(network):  # the rule alone: no part can hold it
                    hashed, listed, _ = network.widest()
                    what = (
                        f"{hashed} different tests of one place (at most {MAX_HASHED})"
                        if hashed > MAX_HASHED
                        else f"{listed} absence tests or `any` joins at one place (at most {MAX_LISTED})"
                    )
                    message = f"rule `{rule.id}` is too wide for durable_rules: {what}"
                    raise PolicyError([Diagnostic("engine-limit", message, rule.span, "split the rule")])
            part_of[rule.id] = part
    return part_of


def _too_wide(network: Network) -> bool:
    """Whether a node of `network` has more children, or rules ending at it, than durable_rules'
    fixed tables hold (`_network.py`)."""
    hashed, listed, betas = network.widest()
    return hashed > MAX_HASHED or listed > MAX_LISTED or betas > MAX_BETAS


def _bound(patterns: list[dict[str, Any]]) -> int:
    network = Network()
    for pattern in patterns:
        network.add(pattern)
    return network.stack_bound()


def _properties(compiler: _Compiler, bundle: Bundle) -> int:
    """How many properties a stage fact can carry (attributes in one type each, hence the 3)."""
    return len(_names(compiler, bundle)) - 2 * len(compiler.attributes)


def _names(compiler: _Compiler, bundle: Bundle) -> set[str]:
    names = {"sid", "id", "stage", "part"}
    names.update(i.name for i in compiler.inputs.values())
    names.update(d.name for d in compiler.differences.values())
    names.update(f"a.{c}.{a}" for a in compiler.attributes for c in ("num", "str", "bool"))
    names.update(f"d.{n}" for n in bundle.derived)
    names.update(("x.outcome", "x.required_role"))
    return names


def _check_names(compiler: _Compiler, bundle: Bundle) -> None:
    names = _names(compiler, bundle)
    properties = _properties(compiler, bundle)
    if properties > MAX_PROPERTIES:
        message = (
            f"the bundle needs {properties} facts on one engine fact; durable_rules allows {MAX_PROPERTIES}"
        )
        help_text = "test fewer distinct fact paths, attributes and derived facts"
        raise PolicyError([Diagnostic("engine-limit", message, None, help_text)])
    seen: dict[int, str] = {}
    for name in sorted(names):
        other = seen.setdefault(_fnv1a32(name), name)
        if other != name:
            (first, _), (second, span) = _written(other, compiler, bundle), _written(name, compiler, bundle)
            if first == second:  # one attribute as two types of value: the engine's names tell them apart
                first, second = other, name
            message = f"fact names `{first}` and `{second}` collide in durable_rules' 32-bit name hash"
            help_text = "rename the attribute or derived fact; a ticket path's name is fixed"
            raise PolicyError([Diagnostic("engine-limit", message, span, help_text)])


def _written(name: str, compiler: _Compiler, bundle: Bundle) -> tuple[str, SourceSpan | None]:
    """An engine fact's name as a policy writes it, and where it is first used or declared."""
    kind, _, rest = name.partition(".")
    if kind == "d":
        return f"derived.{rest}", bundle.derived[rest].span
    if kind == "a":
        path = f"attributes.{rest.partition('.')[2]}"
    elif kind == "t":
        path = rest
    elif kind == "c":  # a comparison sent as a difference: shown as the comparison
        difference = next(d for d in compiler.differences.values() if d.name == name)
        other = f"parameter {difference.right}" if difference.param else difference.right

        def named(compare: Compare) -> object:
            operand = compare.operand
            return operand.name if isinstance(operand, ParamRef) else getattr(operand, "path", None)

        span = _first_use(bundle, lambda c: c.path == difference.left and named(c) == difference.right)
        return f"{difference.left} compared with {other}", span
    else:  # csrules' own: sid, id, stage, part, x.outcome, x.required_role
        return name, None
    return path, _first_use(bundle, lambda c: c.path == path)


def _first_use(bundle: Bundle, wanted: Callable[[Compare], bool]) -> SourceSpan | None:
    """Where the first comparison of the bundle that is `wanted` is, in bundle order."""
    return next((c.span for rule in bundle.rules for c in compares(rule.when) if wanted(c)), None)
