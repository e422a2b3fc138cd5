"""Stage 2, validate: raw documents (+ parameter overrides) -> Bundle. No I/O.

Two passes. pydantic checks each document's shape (`PolicyDocument`); then the semantic pass
parses conditions, checks fact paths and operand types against the Ticket schema and the declared
derived facts, resolves parameters and overrides, rejects duplicate ids, and orders rules into
forward-chaining stages. Every problem becomes a `Diagnostic` with a file:line:column; all of them
are raised together in one `PolicyError`.
"""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, WithJsonSchema
from pydantic_core import PydanticCustomError

from .errors import Diagnostic, PolicyError
from .load import Loc, RawDocument
from .policy import (
    DECISION_TYPES,
    ActionEffect,
    AllOf,
    AnyOf,
    Bundle,
    Compare,
    Condition,
    DerivedFact,
    Duration,
    Effects,
    FactRef,
    FollowUpEffect,
    Invariant,
    Not,
    NowPlus,
    Op,
    Parameter,
    ParamRef,
    Rule,
)
from .source import SourceSpan
from .ticket import ATTRIBUTE_NAME, FACT_TYPES, MAX_TEXT, ROLES
from .values import (
    DATE_TEXT,
    DECIMAL,
    MAX_COMBINING_RUN,
    FactType,
    composed,
    datetime_text,
    number_text,
    parse_money,
    quoted_if_typed,
)

__all__ = ["MAX_RULES", "PolicyDocument", "validate_bundle"]

MAX_RULES = 10_000  # a bound on load time and memory (compile.py spreads rules over rulesets)
MAX_IN_VALUES = 50

# --- document shape (pydantic) ------------------------------------------------------------------

_IDENTIFIER = r"^[a-z][a-z0-9_]{0,63}$"
_IDENTIFIER_TEXT = re.compile(r"[a-z][a-z0-9_]{0,63}")  # fullmatch: `$` would let a final newline by


def _identifier(value: str) -> str:
    # Checked here rather than by pydantic's `pattern`: an exception a signal handler raises while
    # pydantic's own check runs (SIGTERM during `csrules diff`) is swallowed ("Exception ignored")
    # and the check reads as failed, refusing a correct file; here it goes on as raised.
    if _IDENTIFIER_TEXT.fullmatch(value) is None:
        raise PydanticCustomError(
            "string_pattern_mismatch", "String should match pattern '{pattern}'", {"pattern": _IDENTIFIER}
        )
    return value


Identifier = Annotated[
    str, AfterValidator(_identifier), WithJsonSchema({"pattern": _IDENTIFIER, "type": "string"})
]
RoleName = Literal["front_line", "senior", "supervisor", "manager"]


# What a condition's `tested` set holds for a `decision.*` path, beside the names of the derived
# facts it tests: not an identifier, so a derived fact may be named `decision`.
_TESTS_DECISION = "decision.*"


class _Shape(BaseModel):
    # defer_build: these models are only needed when a bundle is loaded; building their
    # validators at import would cost every `import csrules` ~15 ms (docs/performance.md).
    model_config = ConfigDict(extra="forbid", strict=True, defer_build=True)


class ParamRefDoc(_Shape):
    """`{param: name}`."""

    param: Identifier


class ParameterDoc(_Shape):
    """A parameter declaration."""

    type: Literal["money", "integer", "boolean", "string", "date"]
    default: Any
    description: str = ""


class DerivedDoc(_Shape):
    """A derived fact declaration; booleans default to false."""

    type: Literal["boolean", "integer", "money", "string"]
    default: Any = None
    description: str = ""


MAX_DURATION = 100_000  # days, hours or minutes: keeps due dates within datetime's range
DurationPart = Annotated[int, Field(ge=0, le=MAX_DURATION)] | ParamRefDoc


class DurationDoc(_Shape):
    """A duration: any of days, hours, minutes."""

    days: DurationPart = 0
    hours: DurationPart = 0
    minutes: DurationPart = 0


class ActionDoc(_Shape):
    """An action to add to the decision."""

    kind: Identifier
    params: dict[Identifier, Any] = Field(default_factory=dict)


class FollowUpDoc(_Shape):
    """A follow-up due `due_in` after the evaluation time."""

    kind: Identifier
    due_in: DurationDoc


class ThenDoc(_Shape):
    """The effects of a rule."""

    require_role: RoleName | None = None
    deny: bool = False
    derive: dict[Identifier, Any] = Field(default_factory=dict)
    actions: list[ActionDoc] = Field(default_factory=list)
    follow_ups: list[FollowUpDoc] = Field(default_factory=list)


class RuleDoc(_Shape):
    """A rule."""

    id: Identifier
    description: str
    rationale: str
    priority: Annotated[int, Field(ge=-1000, le=1000)] = 0
    when: Any = None
    then: ThenDoc


class NeverDoc(_Shape):
    """`never:` a safety property: no ticket satisfying `when` gets this outcome / required role."""

    outcome: str | list[str] | None = None  # values checked by the semantic pass, with one message
    required_role: str | list[str] | None = None
    when: Any = None


class InvariantDoc(_Shape):
    """An invariant: exactly one of `monotonic_in`, `role_monotonic: true`, `never`."""

    id: Identifier
    description: str
    monotonic_in: str | None = None
    role_monotonic: bool | None = None
    never: NeverDoc | None = None


class PolicyDocument(_Shape):
    """One policy file."""

    policy: Identifier | None = None
    description: str = ""
    parameters: dict[Identifier, ParameterDoc] = Field(default_factory=dict)
    derived: dict[Identifier, DerivedDoc] = Field(default_factory=dict)
    rules: list[RuleDoc] = Field(default_factory=list)
    invariants: list[InvariantDoc] = Field(default_factory=list)


_SHAPE_CODES = {
    "extra_forbidden": "unknown-key",
    "missing": "missing-key",
    "literal_error": "invalid-value",
    "string_pattern_mismatch": "invalid-identifier",
}
_OPS: tuple[Op, ...] = ("eq", "ne", "lt", "lte", "gt", "gte", "in", "not_in", "exists")
_ORDERED_KINDS = {"money", "integer", "number", "date", "datetime", "scalar"}
_FACT_REF_KINDS = {"money", "integer", "number", "date", "datetime"}
_CURRENCY = re.compile(r"[A-Z]{3}")  # used with fullmatch: `$` would take "EUR\n"
_BUNDLE_CODES = {"too-many-rules"}  # span-less problems that are not about `params`


def _placed(data: Any, raw_loc: tuple[Any, ...], kind: str) -> tuple[Loc, int | None]:
    """The parts of a pydantic error location that are places in the document (keys it has,
    indexes of its lists), and where the first union-member tag is (`constrained-int`,
    `ParamRefDoc`, `list[str]`: the alternative tried), or None."""
    node, loc, tag = data, [], None
    for i, part in enumerate(raw_loc):
        if (isinstance(node, dict) and part in node) or (
            isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        ):
            loc.append(part)
            node = node[part]
        elif isinstance(part, str) and part != "[key]" and tag is None:
            if i == len(raw_loc) - 1 and kind in ("missing", "extra_forbidden"):
                break  # the key missing, or the unknown key (which the document has: found above)
            tag = i
    return tuple(loc), tag


def _one_alternative(errors: list[Any]) -> list[Any]:
    """Of a union's errors, those of the alternative the value came closest to (the deepest error,
    then one that is not about the value's type): `days: {parm: 1}` is a misspelt `{param: ...}`,
    not an integer, and `[approve, 5]` a list with a bad item, not a bad string."""
    best: dict[tuple[Any, ...], tuple[tuple[int, bool], Any]] = {}
    for error, (_, tag) in errors:
        if tag is not None:
            prefix, branch = tuple(error["loc"][:tag]), error["loc"][tag]
            score = (len(error["loc"]), not error["type"].endswith("_type"))
            if prefix not in best or score > best[prefix][0]:
                best[prefix] = (score, branch)
    return [
        (error, placed)
        for error, placed in errors
        if placed[1] is None or best[tuple(error["loc"][: placed[1]])][1] == error["loc"][placed[1]]
    ]


def _shape_diagnostics(doc: RawDocument, exc: ValidationError) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    seen: set[tuple[Loc, str, object]] = set()
    errors = [(e, _placed(doc.data, e["loc"], e["type"])) for e in exc.errors(include_url=False)]
    for error, (placed, _) in _one_alternative(errors):
        raw_loc, loc = error["loc"], placed
        is_key = bool(raw_loc) and raw_loc[-1] == "[key]"
        while loc and loc not in doc.spans and loc not in doc.key_spans:
            loc = loc[:-1]
        kind = error["type"]
        code = _SHAPE_CODES.get(kind, "invalid-type")
        # Once per place and code, and per key for missing and unknown keys: every missing key of
        # a mapping is reported, not the first.
        named = raw_loc[-1] if kind in ("missing", "extra_forbidden") else None
        if (loc, code, named) in seen:
            continue
        seen.add((loc, code, named))
        # The path as written in the document: loc parts that exist there, plus a missing key.
        shown = list(loc) + ([raw_loc[-1]] if kind in ("missing", "extra_forbidden") else [])
        where = ".".join(str(p) for p in shown)
        span = doc.span(loc, key=is_key or kind == "extra_forbidden")
        help_text = None
        if kind == "extra_forbidden":
            message = f"unknown key `{raw_loc[-1]}`"
            allowed = _allowed_keys(raw_loc[:-1])
            close = difflib.get_close_matches(str(raw_loc[-1]), allowed, n=1)
            help_text = f"did you mean `{close[0]}`?" if close else "allowed: " + ", ".join(allowed)
        elif kind == "missing":
            message = f"missing required key `{raw_loc[-1]}`"
        elif kind == "string_pattern_mismatch":
            got = error.get("input")
            message = f"`{where}`: expected an identifier (lowercase letters, digits, _), got `{got}`"
        else:
            message = f"`{where}`: {error['msg'][0].lower()}{error['msg'][1:]}"
        out.append(Diagnostic(code, message, span, help_text))
    return out


def _allowed_keys(loc: tuple[Any, ...]) -> list[str]:
    model: type[BaseModel] = PolicyDocument
    nested: dict[tuple[type[BaseModel], str], type[BaseModel]] = {
        (PolicyDocument, "parameters"): ParameterDoc,
        (PolicyDocument, "derived"): DerivedDoc,
        (PolicyDocument, "rules"): RuleDoc,
        (PolicyDocument, "invariants"): InvariantDoc,
        (InvariantDoc, "never"): NeverDoc,
        (RuleDoc, "then"): ThenDoc,
        (ThenDoc, "actions"): ActionDoc,
        (ThenDoc, "follow_ups"): FollowUpDoc,
        (FollowUpDoc, "due_in"): DurationDoc,
    }
    for part in loc:
        if part == "ParamRefDoc":  # the `{param: name}` alternative of a union
            model = ParamRefDoc
        elif isinstance(part, str) and (model, part) in nested:
            model = nested[(model, part)]
    return list(model.model_fields)


# --- semantic pass ------------------------------------------------------------------------------


def _suggest(name: str, candidates: Sequence[str]) -> str | None:
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return f"did you mean `{close[0]}`?" if close else None


_SAFE_INT = 2**53  # numbers the engine (int64 and doubles) and csrules compare alike


def _item_span(doc: RawDocument, loc: Loc, index: int) -> SourceSpan:
    return doc.span((*loc, index))


def _money_limit(fact_type: FactType, raw: object) -> str | None:
    """Which limit of money a number breaks (>= 0, <= 1e9, two decimal places), as a hint."""
    if fact_type.kind != "money" or not isinstance(raw, int | Decimal) or isinstance(raw, bool):
        return None
    try:
        parse_money(raw)
    except ValueError as exc:
        return f"expected {exc}"
    return None


def _integer_limit(value: int | Decimal) -> str:
    """Which limit an integer parameter's value, a number, breaks (parameters have no `number`
    type)."""
    if isinstance(value, Decimal) and value.as_tuple().exponent == 0:
        return " (an int, not a Decimal)"  # Decimal("30") from Python
    if isinstance(value, Decimal):  # `45.5`, `30.0`, `1e2`: written with a point
        return " (a whole number written without a decimal point or exponent)"
    return " (a number below 2**53 in size)"


def _safe_number(value: object) -> bool:
    """An int or Decimal that round-trips exactly through a double: |n| < 2**53, <= 15 digits,
    and 0 or |n| >= 1e-307 (smaller ones are subnormal doubles or 0 in the engine: `1e-400`
    would equal 0 there)."""
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        return False
    if isinstance(value, Decimal):
        return (
            value.is_finite()
            and (value.is_zero() or _TINY <= value.copy_abs() < _SAFE_INT)  # copy_abs: no context
            and len(value.normalize(DECIMAL).as_tuple().digits) <= 15
        )
    return abs(value) < _SAFE_INT


_TINY = Decimal("1e-307")  # the smallest magnitude of a number in a policy, normal as a double


def _text(value: object) -> object:
    """A string in NFC (None, refused, when it holds too many combining marks in a row); any other
    value as it is."""
    return composed(value) if isinstance(value, str) else value


def _value_kind(value: object) -> str:
    """What a custom attribute's value is, as a comparison sees it."""
    if isinstance(value, bool):
        return "booleans"
    return "strings" if isinstance(value, str) else "numbers"


def _shown(value: object, expected: FactType | None = None) -> str:
    """A value in a message: in backticks, or in words when it cannot be shown; a string's length
    when it is what is wrong (`expected` takes text and the string is too long)."""
    text_expected = expected is not None and expected.kind in ("string", "scalar")
    if text_expected and isinstance(value, str):
        text = composed(value)
        if text is None:
            return f"a string with more than {MAX_COMBINING_RUN} combining marks in a row"
        if len(text) > MAX_TEXT:
            return f"a string of {len(text)} characters in composed form (NFC; at most {MAX_TEXT})"
    if isinstance(value, int) and not isinstance(value, bool):
        try:
            str(value)
        except ValueError:  # more than 4,300 digits
            return "an integer too large to show"
    return f"`{_describe(value)}`"


def _describe(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, str):
        value = quoted_if_typed(value)
    try:
        text = str(value)
    except ValueError:  # an int of more than 4,300 digits
        return f"a {type(value).__name__} too large to show"
    if isinstance(value, Decimal) and "E" in text:  # `1e2`: `100.0`, as decisions write it, not `1E+2`
        text = number_text(value)
    return text if len(text) <= 60 else text[:57] + "..."


class _Validator:
    def __init__(self) -> None:
        self.problems: list[Diagnostic] = []
        self.parameters: dict[str, Parameter] = {}
        self.overridden: set[str] = set()  # parameters whose value is an override's
        self.derived: dict[str, DerivedFact] = {}
        # Names declared with a problem already reported (a bad default): their uses are not
        # reported again as unknown ("unknown parameter `limit`" beside `limit`'s declaration).
        self.broken_parameters: set[str] = set()
        self.broken_derived: set[str] = set()

    def problem(
        self,
        code: str,
        message: str,
        span: SourceSpan | None,
        help_text: str | None = None,
        *,
        param: str | None = None,
    ) -> None:
        scope = "bundle" if span is not None or code in _BUNDLE_CODES else "params"
        self.problems.append(Diagnostic(code, message, span, help_text, scope, param))

    # -- typed values --

    def literal(self, fact_type: FactType, value: object) -> tuple[bool, Any]:
        """(ok, normalised value) for a literal of `fact_type`."""
        kind = fact_type.kind
        if kind == "money":
            if isinstance(value, bool) or not isinstance(value, int | Decimal):
                return False, None
            try:
                return True, parse_money(value)
            except ValueError:
                return False, None
        if kind == "integer":
            return (isinstance(value, int) and not isinstance(value, bool) and abs(value) < _SAFE_INT), value
        if kind == "number":
            return _safe_number(value), value
        if kind == "boolean":
            return isinstance(value, bool), value
        if kind == "string":  # as long as a ticket's: durable_rules 2.0.28 misreads 64 KiB strings
            text = _text(value)
            return isinstance(text, str) and len(text) <= MAX_TEXT, text
        if kind == "enum":
            return (isinstance(value, str) and value in fact_type.values), value
        if kind == "date":
            if isinstance(value, date) and not isinstance(value, datetime):
                return True, value
            if isinstance(value, str) and DATE_TEXT.fullmatch(value):
                try:
                    return True, date.fromisoformat(value)
                except ValueError:
                    return False, None
            return False, None
        if kind == "datetime":
            parsed = datetime_text(value) if isinstance(value, str) else value
            # Kept as written, with its offset (not in UTC): the policy digest covers it, and a
            # decision recorded under these files must replay byte for byte (docs/language.md).
            # So the offset is in whole minutes, as RFC 3339 text (a decision's JSON) writes it.
            offset = parsed.utcoffset() if isinstance(parsed, datetime) else None
            ok = offset is not None and not (offset.seconds % 60 or offset.microseconds)
            return ok, parsed
        # scalar: a custom attribute, any JSON scalar
        if isinstance(value, str):
            text = composed(value)
            return text is not None and len(text) <= MAX_TEXT, text
        return isinstance(value, bool) or _safe_number(value), value

    # -- declarations --

    def declarations(self, doc: RawDocument, shape: PolicyDocument) -> None:
        for name, spec in shape.parameters.items():
            span = doc.span(("parameters", name), key=True)
            if name in self.parameters:
                first = self.parameters[name].span
                self.problem(
                    "duplicate-parameter",
                    f"parameter `{name}` is declared twice",
                    span,
                    f"first declared at {first}",
                )
                continue
            fact_type = FactType(spec.type)
            ok, value = self.literal(fact_type, spec.default)
            if not ok:
                self.problem(
                    "invalid-parameter-value",
                    f"parameter `{name}`: default must be {fact_type.describe()}, "
                    f"got {_shown(spec.default, fact_type)}",
                    doc.span(("parameters", name, "default")),
                    _money_limit(fact_type, spec.default),
                )
                self.broken_parameters.add(name)
                continue
            if name == "currency" and not (spec.type == "string" and _CURRENCY.fullmatch(str(value))):
                # At what is wrong, as any other default: its type, else its value.
                if spec.type != "string":
                    got, place = f"type `{spec.type}`", doc.span(("parameters", name, "type"))
                else:
                    got, place = _shown(spec.default, fact_type), doc.span(("parameters", name, "default"))
                self.problem(
                    "invalid-parameter-value",
                    f"parameter `currency` must be a string of 3 capital letters, got {got}",
                    place,
                )
                self.broken_parameters.add(name)
                continue
            self.parameters[name] = Parameter(name, fact_type, value, value, spec.description, span)
        for name, dspec in shape.derived.items():
            span = doc.span(("derived", name), key=True)
            if name in self.derived:
                first = self.derived[name].span
                self.problem(
                    "duplicate-derived-fact",
                    f"derived fact `{name}` is declared twice",
                    span,
                    f"first declared at {first}",
                )
                continue
            fact_type = FactType(dspec.type)
            default = dspec.default
            if default is None and dspec.type == "boolean":
                default = False
            ok, default = self.literal(fact_type, default)
            if not ok:
                self.problem(
                    "invalid-derived-default",
                    f"derived fact `{name}`: default must be {fact_type.describe()}, "
                    f"got {_shown(dspec.default, fact_type)}",
                    doc.span(("derived", name, "default")) if dspec.default is not None else span,
                )
                self.broken_derived.add(name)
                continue
            self.derived[name] = DerivedFact(name, fact_type, default, dspec.description, span)

    def overrides(self, params: object) -> None:
        if not isinstance(params, Mapping):
            got = type(params).__name__
            self.problem(
                "invalid-parameter-value", f"`params` must be a mapping of names to values, got {got}", None
            )
            return
        for name, raw in params.items():
            parameter = self.parameters.get(name) if isinstance(name, str) else None
            if parameter is None and name in self.broken_parameters:
                continue  # its declaration's problem is reported
            if parameter is None:
                shown = name if isinstance(name, str) else repr(name)
                known = list(self.parameters)
                self.problem(
                    "unknown-parameter",
                    f"unknown parameter `{shown}`",
                    None,
                    _suggest(name, known) if isinstance(name, str) else None,
                    param=name if isinstance(name, str) else None,
                )
                continue
            ok: bool = False
            value: Any = None
            limit = ""  # which limit a value of the right kind breaks, for the message
            if (
                parameter.type.kind == "money"
                and isinstance(raw, str | float | int | Decimal)
                and not isinstance(raw, bool)
            ):
                try:
                    ok, value = True, parse_money(raw)
                except ValueError as exc:
                    ok, limit = False, f" ({exc})" if "money (" not in str(exc) else ""
            elif not isinstance(raw, float):
                ok, value = self.literal(parameter.type, raw)
                if (
                    not ok
                    and parameter.type.kind == "integer"
                    and isinstance(raw, int | Decimal)
                    and not isinstance(raw, bool)
                ):
                    limit = _integer_limit(raw)
            if isinstance(value, str):
                try:
                    value.encode("utf-8")
                except UnicodeEncodeError:
                    ok = False
            if name == "currency" and ok and not _CURRENCY.fullmatch(str(value)):
                self.problem(
                    "invalid-parameter-value",
                    f"parameter `currency` must be 3 capital letters, got {_shown(raw)}",
                    None,
                    param=name,
                )
                continue
            if not ok:
                self.problem(
                    "invalid-parameter-value",
                    f"parameter `{name}` must be {parameter.type.describe()}{limit}, "
                    f"got {_shown(raw, parameter.type)}",
                    None,
                    param=name,
                )
                continue
            self.parameters[name] = Parameter(
                name, parameter.type, parameter.default, value, parameter.description, parameter.span
            )
            self.overridden.add(name)

    def value_problem(self, code: str, message: str, span: SourceSpan, name: str) -> None:
        """A problem with parameter `name`'s value where it is used: the override's when it was
        overridden (no file position: the value is not in the file), else the rule's."""
        if name in self.overridden:
            self.problem(code, f"{message} (the override, used at {span})", None, param=name)
        else:
            self.problem(code, message, span)

    # -- fact paths and operands --

    def fact_type(self, path: object, span: SourceSpan) -> FactType | None:
        if not isinstance(path, str):
            self.problem("unknown-fact-path", f"expected a fact path, got {_shown(path)}", span)
            return None
        if path in FACT_TYPES:
            return FACT_TYPES[path]
        if path in DECISION_TYPES:
            return DECISION_TYPES[path]
        head, _, tail = path.partition(".")
        if head == "attributes" and ATTRIBUTE_NAME.fullmatch(tail):
            return FactType("scalar")
        if head == "derived" and tail in self.derived:
            return self.derived[tail].type
        if head == "derived" and tail in self.broken_derived:
            return None  # declared, with its problem reported
        known = [*FACT_TYPES, *DECISION_TYPES, *(f"derived.{n}" for n in self.derived)]
        self.problem("unknown-fact-path", f"unknown fact path `{path}`", span, _suggest(path, known))
        return None

    def param_ref(self, ref: ParamRef, wanted: FactType, span: SourceSpan, what: str) -> bool:
        parameter = self.parameters.get(ref.name)
        if parameter is None and ref.name in self.broken_parameters:
            return False  # declared, with its problem reported
        if parameter is None:
            self.problem(
                "unknown-parameter",
                f"{what}: unknown parameter `{ref.name}`",
                span,
                _suggest(ref.name, list(self.parameters)),
            )
            return False
        have = parameter.type.kind
        compatible = (
            have == wanted.kind
            or (wanted.kind in ("money", "number") and have in ("money", "integer"))
            or (wanted.kind == "scalar" and have in ("money", "integer", "string", "boolean"))
            or (wanted.kind == "enum" and have == "string" and parameter.value in wanted.values)
        )
        if not compatible:
            # A string parameter on an enum fact: its value (perhaps an override) is what is wrong.
            shown = f"`{_describe(parameter.value)}`" if have == "string" and wanted.kind == "enum" else None
            message = (
                f"{what}: parameter `{ref.name}` is {shown or parameter.type.describe()}, "
                f"expected {wanted.describe()}"
            )
            if shown:
                self.value_problem("type-mismatch", message, span, ref.name)
            else:
                self.problem("type-mismatch", message, span)
        return compatible

    @staticmethod
    def reference(value: object) -> ParamRef | FactRef | None:
        if isinstance(value, dict) and len(value) == 1:
            if isinstance(value.get("param"), str):
                return ParamRef(value["param"])
            if isinstance(value.get("fact"), str):
                return FactRef(value["fact"])
        return None

    def operand(
        self,
        path: str,
        fact_type: FactType,
        op: Op,
        raw: object,
        span: SourceSpan,
        *,
        item_span: Callable[[int], SourceSpan] | None = None,
    ) -> tuple[bool, Any]:
        """(ok, operand); `item_span` gives the position of an `in` list's item."""
        what = f"`{path}` {op}"
        ref = self.reference(raw)
        if op == "exists":
            if not isinstance(raw, bool):
                self.problem("type-mismatch", f"{what}: expected true or false", span)
                return False, None
            return True, raw
        if op in ("lt", "lte", "gt", "gte") and fact_type.kind not in _ORDERED_KINDS:
            self.problem(
                "invalid-operator",
                f"{what}: `{op}` needs an ordered fact (money, integer, date, datetime); "
                f"`{path}` is {fact_type.describe()}",
                span,
                "use `eq`, `ne`, `in` or `not_in`",
            )
            return False, None
        if isinstance(ref, ParamRef):
            if op in ("in", "not_in"):
                self.problem("type-mismatch", f"{what}: expected a list of values", span)
                return False, None
            ordered = op in ("lt", "lte", "gt", "gte") and fact_type.kind == "scalar"
            return self.param_ref(ref, FactType("number") if ordered else fact_type, span, what), ref
        if isinstance(ref, FactRef):
            other = self.fact_type(ref.path, span)
            if other is None:
                return False, None
            if (
                op in ("in", "not_in")
                or other.kind not in _FACT_REF_KINDS
                or other != fact_type
                or ref.path not in FACT_TYPES
                or path not in FACT_TYPES  # both sides: differences are computed from the ticket
            ):
                self.problem(
                    "type-mismatch",
                    f"{what}: a fact reference must name a ticket fact of the same ordered type "
                    f"({fact_type.describe()})",
                    span,
                )
                return False, None
            return True, ref
        if op in ("in", "not_in"):
            if not isinstance(raw, list) or not raw or len(raw) > MAX_IN_VALUES:
                self.problem("type-mismatch", f"{what}: expected a list of 1 to {MAX_IN_VALUES} values", span)
                return False, None
            values: list[Any] = []
            for index, item in enumerate(raw):
                ok, value = self.literal(fact_type, item)
                if not ok:
                    self.mismatch(what, fact_type, item, path, item_span(index) if item_span else span)
                    return False, None
                # `1` and `true` are equal in Python but not in csrules: compare type and value.
                if all(not (type(value) is type(v) and value == v) for v in values):
                    values.append(value)
            kinds = {_value_kind(v) for v in values}
            if op == "not_in" and len(kinds) > 1:
                # not_in is `ne` each value, and a value of one type is never `ne` one of another.
                self.problem(
                    "type-mismatch",
                    f"{what}: a `not_in` list mixes {' and '.join(sorted(kinds))}, so it never holds "
                    "(a comparison only holds between values of one type)",
                    span,
                    f"to hold for every value outside the list, write `not: {{{path}: {{in: [...]}}}}`",
                )
                return False, None
            return True, tuple(values)
        if (
            fact_type.kind == "scalar"
            and op in ("lt", "lte", "gt", "gte")
            and not (isinstance(raw, int | Decimal) and not isinstance(raw, bool))
        ):
            self.problem("type-mismatch", f"{what}: expected a number, got {_shown(raw)}", span)
            return False, None
        ok, value = self.literal(fact_type, raw)
        if not ok:
            self.mismatch(what, fact_type, raw, path, span)
        return ok, value

    def mismatch(self, what: str, fact_type: FactType, raw: object, path: str, span: SourceSpan) -> None:
        help_text = None
        number = isinstance(raw, int | Decimal) and not isinstance(raw, bool)
        if fact_type.kind == "enum" and isinstance(raw, str):
            help_text = _suggest(raw, fact_type.values)
        elif fact_type.kind == "money" and number:
            help_text = _money_limit(fact_type, raw)
        elif fact_type.kind == "datetime":
            help_text = (
                "expected a date and time with a UTC offset in whole minutes, such as "
                "`2026-11-23T10:00:00Z`, and at most 6 decimal places of a second"
            )
        elif fact_type.kind in ("scalar", "number") and number and not _safe_number(raw):
            help_text = (
                "a number must be 0 or between 1e-307 and 2**53 in size, with at most 15 significant digits"
            )
        self.problem(
            "type-mismatch",
            f"{what}: `{path}` is {fact_type.describe()}, got {_shown(raw, fact_type)}",
            span,
            help_text,
        )

    # -- conditions --

    def condition(
        self, doc: RawDocument, raw: object, loc: Loc, where: str, tested: set[str]
    ) -> Condition | None:
        span = doc.span(loc)
        if isinstance(raw, list):
            if not raw and where != "when":
                self.problem("invalid-condition", "an empty list of conditions", span)
                return None
            items = [
                self.condition(doc, item, (*loc, i), f"{where}[{i}]", tested) for i, item in enumerate(raw)
            ]
            return AllOf(tuple(c for c in items if c is not None))
        if not isinstance(raw, dict) or not raw:
            self.problem(
                "invalid-condition",
                "an empty mapping is no condition: write `path: test`, or `all`, `any`, `not`"
                if isinstance(raw, dict)
                else "a condition must be a mapping `path: test`, or `all`, `any`, `not`",
                span,
            )
            return None
        combinators = [k for k in raw if k in ("all", "any", "not")]
        if combinators:
            if len(raw) > 1:
                self.problem(
                    "invalid-condition",
                    f"`{combinators[0]}` must be the only key of its mapping",
                    span,
                )
                return None
            key = combinators[0]
            value = raw[key]
            inner_loc = (*loc, key)
            if key == "not":
                item = self.condition(doc, value, inner_loc, f"{where}.not", tested)
                return Not(item) if item is not None else None
            if not isinstance(value, list) or not value:
                self.problem(
                    "invalid-condition",
                    f"`{key}` takes a non-empty list of conditions",
                    doc.span(inner_loc),
                )
                return None
            items = [
                self.condition(doc, item, (*inner_loc, i), f"{where}.{key}[{i}]", tested)
                for i, item in enumerate(value)
            ]
            kept = tuple(c for c in items if c is not None)
            return AllOf(kept) if key == "all" else AnyOf(kept)
        compares: list[Condition] = []
        for path, test in raw.items():
            key_span = doc.span((*loc, path), key=True)
            fact_type = self.fact_type(path, key_span)
            if fact_type is None:
                continue
            if path.startswith("derived."):
                tested.add(path.removeprefix("derived."))
            if path in DECISION_TYPES:
                tested.add(_TESTS_DECISION)
            tests: list[tuple[Op, object]]
            if isinstance(test, dict) and test and self.reference(test) is None:
                unknown = [k for k in test if k not in _OPS]
                if unknown:
                    self.problem(
                        "unknown-operator",
                        f"`{path}`: unknown operator `{unknown[0]}`",
                        doc.span((*loc, path, unknown[0]), key=True),
                        _suggest(str(unknown[0]), _OPS) or "operators: " + ", ".join(_OPS),
                    )
                    continue
                tests = list(test.items())
            else:
                tests = [("eq", test)]
            for op, operand_raw in tests:
                op_loc = (*loc, path, op) if isinstance(test, dict) and op in test else (*loc, path)
                at = functools.partial(_item_span, doc, op_loc)
                ok, operand = self.operand(path, fact_type, op, operand_raw, doc.span(op_loc), item_span=at)
                if ok:
                    compares.append(Compare(path, op, operand, fact_type, key_span, f"{where}.{path}"))
        if len(compares) == 1:
            return compares[0]
        return AllOf(tuple(compares))

    # -- effects --

    def duration(self, doc: RawDocument, spec: Any, loc: Loc) -> Duration:
        parts: dict[str, int | ParamRef] = {}
        for unit in ("days", "hours", "minutes"):
            value = getattr(spec, unit)
            if isinstance(value, ParamRefDoc):
                ref = ParamRef(value.param)
                span = doc.span((*loc, unit))
                if self.param_ref(ref, FactType("integer"), span, f"`{unit}`"):
                    effective = self.parameters[ref.name].value
                    if not 0 <= effective <= MAX_DURATION:
                        self.value_problem(
                            "invalid-parameter-value",
                            f"`{unit}`: parameter `{ref.name}` is {effective}, expected 0 to {MAX_DURATION}",
                            span,
                            ref.name,
                        )
                parts[unit] = ref
            else:
                parts[unit] = value
        return Duration(**parts)

    def effects(self, doc: RawDocument, then: ThenDoc, loc: Loc, rule_id: str) -> Effects:
        derive: list[tuple[str, Any]] = []
        for name, raw in then.derive.items():
            span = doc.span((*loc, "derive", name), key=True)  # the name: what an unknown name is about
            at = doc.span((*loc, "derive", name))  # the value: what a value's problem is about
            fact = self.derived.get(name)
            if fact is None and name in self.broken_derived:
                continue  # declared, with its problem reported
            if fact is None:
                self.problem(
                    "unknown-derived-fact",
                    f"rule `{rule_id}`: derives undeclared fact `{name}`",
                    span,
                    _suggest(name, list(self.derived)) or "declare it under `derived:`",
                )
                continue
            ref = self.reference(raw)
            if isinstance(ref, ParamRef):
                if not self.param_ref(ref, fact.type, at, f"derive `{name}`"):
                    continue
                parameter = self.parameters[ref.name]
                if fact.type.kind not in (parameter.type.kind, "enum"):
                    # Comparing money with an integer parameter is fine; holding one is not: an
                    # integer such as -5 is no money value.
                    self.problem(
                        "type-mismatch",
                        f"derive `{name}`: parameter `{ref.name}` is {parameter.type.describe()}, "
                        f"expected {fact.type.describe()} (a derived fact holds values of its own type)",
                        at,
                    )
                    continue
                derive.append((name, ref))
                continue
            ok, value = self.literal(fact.type, raw)
            if not ok:
                self.problem(
                    "type-mismatch",
                    f"derive `{name}`: expected {fact.type.describe()}, got {_shown(raw, fact.type)}",
                    at,
                )
                continue
            derive.append((name, value))
        actions: list[ActionEffect] = []
        for i, action in enumerate(then.actions):
            params: list[tuple[str, Any]] = []
            for name, raw in action.params.items():
                value = self.action_param(doc, raw, (*loc, "actions", i, "params", name))
                params.append((name, value))
            actions.append(ActionEffect(action.kind, tuple(params)))
        follow_ups = [
            FollowUpEffect(f.kind, self.duration(doc, f.due_in, (*loc, "follow_ups", i, "due_in")))
            for i, f in enumerate(then.follow_ups)
        ]
        return Effects(then.require_role, then.deny, tuple(derive), tuple(actions), tuple(follow_ups))

    def action_param(self, doc: RawDocument, raw: object, loc: Loc) -> Any:
        span = doc.span(loc)
        ref = self.reference(raw)
        if isinstance(ref, ParamRef):
            if ref.name not in self.parameters and ref.name not in self.broken_parameters:
                self.problem(
                    "unknown-parameter",
                    f"unknown parameter `{ref.name}`",
                    span,
                    _suggest(ref.name, list(self.parameters)),
                )
            return ref
        if isinstance(ref, FactRef):
            self.fact_type(ref.path, span)
            return ref
        if isinstance(raw, dict) and set(raw) == {"now_plus"}:
            try:
                spec = DurationDoc.model_validate(raw["now_plus"])
            except ValidationError:
                self.problem("invalid-value", "`now_plus` takes a duration: days, hours, minutes", span)
                return None
            return NowPlus(self.duration(doc, spec, (*loc, "now_plus")))
        if raw is None or isinstance(raw, str | bool) or _safe_number(raw):
            return _text(raw)
        if isinstance(raw, date):  # YAML reads `2026-12-31` unquoted as a date, which JSON has not
            self.problem(
                "invalid-value",
                "an action parameter is text, a number, true, false or null: a date or time written "
                "unquoted is a date to YAML, quote it (`'2026-12-31'`)",
                span,
            )
            return None
        self.problem(
            "invalid-value",
            "an action parameter is a scalar, `{param: name}`, `{fact: path}` or `{now_plus: duration}`",
            span,
        )
        return None

    # -- rules --

    def rules(self, documents: Sequence[tuple[RawDocument, PolicyDocument]]) -> list[tuple[Rule, set[str]]]:
        out: list[tuple[Rule, set[str]]] = []
        seen: dict[str, SourceSpan] = {}
        for doc, shape in documents:
            for i, spec in enumerate(shape.rules):
                loc: Loc = ("rules", i)
                span = doc.span((*loc, "id"))
                duplicate = spec.id in seen
                if duplicate:  # still checked below, for its own problems, but not kept
                    self.problem(
                        "duplicate-rule-id",
                        f"duplicate rule id `{spec.id}`",
                        span,
                        f"first defined at {seen[spec.id]}",
                    )
                else:
                    seen[spec.id] = span
                tested: set[str] = set()
                when_raw = spec.when if spec.when is not None else []
                parsed = self.condition(doc, when_raw, (*loc, "when"), "when", tested)
                when = parsed if isinstance(parsed, AllOf) else AllOf((parsed,) if parsed else ())
                then = self.effects(doc, spec.then, (*loc, "then"), spec.id)
                done = spec.then
                if not (done.require_role or done.deny or done.derive or done.actions or done.follow_ups):
                    # `deny: false`, `actions: []`, `derive: {}` change nothing either
                    self.problem("empty-effects", f"rule `{spec.id}` has no effect", doc.span((*loc, "then")))
                tests_decision = _TESTS_DECISION in tested
                if tests_decision and (then.require_role or then.deny or then.derive):
                    self.problem(
                        "decision-rule-effect",
                        f"rule `{spec.id}` tests `decision.*`, so it may only add actions and follow-ups",
                        doc.span((*loc, "then")),
                        "a rule that changes the outcome cannot depend on it",
                    )
                rule_span = doc.spans.get(loc, span)
                source = f"{doc.name}:{rule_span.line}"
                rule = Rule(
                    spec.id,
                    spec.description,
                    spec.rationale,
                    spec.priority,
                    when,
                    then,
                    rule_span,
                    source,
                    len(out),
                    0,
                    tests_decision,
                )
                if not duplicate:
                    out.append((rule, tested - {_TESTS_DECISION}))
        if len(out) > MAX_RULES:
            self.problem(
                "too-many-rules",
                f"a bundle holds at most {MAX_RULES} rules, this one has {len(out)}",
                None,
            )
        return out

    def invariants(self, documents: Sequence[tuple[RawDocument, PolicyDocument]]) -> list[Invariant]:
        out: list[Invariant] = []
        seen: dict[str, SourceSpan] = {}
        for doc, shape in documents:
            for i, spec in enumerate(shape.invariants):
                loc: Loc = ("invariants", i)
                span = doc.span((*loc, "id"))
                if spec.id in seen:
                    self.problem(
                        "invalid-invariant",
                        f"duplicate invariant id `{spec.id}`",
                        span,
                        f"first defined at {seen[spec.id]}",
                    )
                    continue
                seen[spec.id] = span
                given = [
                    k for k in ("monotonic_in", "role_monotonic", "never") if getattr(spec, k) is not None
                ]
                if len(given) != 1:
                    found = ", ".join(f"`{k}`" for k in given) or "none"
                    self.problem(
                        "invalid-invariant",
                        f"invariant `{spec.id}` needs exactly one of `monotonic_in`, `role_monotonic`, "
                        f"`never`; found {found}",
                        doc.spans.get(loc, span),
                    )
                    continue
                base: dict[str, Any] = {
                    "id": spec.id,
                    "description": spec.description,
                    "span": doc.spans.get(loc, span),
                    "source": f"{doc.name}:{doc.spans.get(loc, span).line}",
                }
                if spec.monotonic_in is not None:
                    path = spec.monotonic_in
                    kind = FACT_TYPES[path].kind if path in FACT_TYPES else None
                    if kind not in ("money", "integer"):
                        numeric = [p for p, t in FACT_TYPES.items() if t.kind in ("money", "integer")]
                        self.problem(
                            "invalid-invariant",
                            f"invariant `{spec.id}`: `monotonic_in` takes a money or integer ticket fact, "
                            f"got `{path}`",
                            doc.span((*loc, "monotonic_in")),
                            _suggest(path, numeric) or "for example `request.amount`",
                        )
                        continue
                    out.append(Invariant(kind="monotonic_in", path=path, **base))
                elif spec.role_monotonic is not None:
                    if spec.role_monotonic is not True:
                        self.problem(
                            "invalid-invariant",
                            f"invariant `{spec.id}`: `role_monotonic` can only be `true`",
                            doc.span((*loc, "role_monotonic")),
                        )
                        continue
                    out.append(Invariant(kind="role_monotonic", **base))
                elif spec.never is not None:
                    invariant = self.never(doc, spec.never, (*loc, "never"), spec.id, base)
                    if invariant is not None:
                        out.append(invariant)
        return out

    def never(
        self, doc: RawDocument, never: NeverDoc, loc: Loc, invariant_id: str, base: dict[str, Any]
    ) -> Invariant | None:
        if never.outcome is None and never.required_role is None:
            self.problem(
                "invalid-invariant",
                f"invariant `{invariant_id}`: `never` needs `outcome`, `required_role` or both",
                doc.span(loc),
            )
            return None
        allowed = {"outcome": ("approve", "escalate", "deny"), "required_role": ROLES}
        chosen: dict[str, tuple[str, ...]] = {}
        for key, values in allowed.items():
            raw = getattr(never, key)
            given = () if raw is None else tuple(dict.fromkeys([raw] if isinstance(raw, str) else raw))
            if raw is not None and not given:  # an empty list forbids nothing: it read as "any"
                self.problem(
                    "invalid-invariant",
                    f"invariant `{invariant_id}`: `{key}` is an empty list: name the "
                    f"{key.replace('_', ' ')}s the invariant forbids, or leave the key out",
                    doc.span((*loc, key)),
                )
                return None
            wrong = [v for v in given if v not in values]
            if wrong:
                self.problem(
                    "invalid-value",
                    f"invariant `{invariant_id}`: `{key}` takes "
                    + ", ".join(values)
                    + f" or a list of them, "
                    f"got `{wrong[0]}`",
                    doc.span((*loc, key)),
                    _suggest(wrong[0], values),
                )
                return None
            chosen[key] = given
        tested: set[str] = set()
        when_raw = never.when if never.when is not None else []
        problems = len(self.problems)
        parsed = self.condition(doc, when_raw, (*loc, "when"), "when", tested)
        if len(self.problems) > problems:
            return None
        if tested:
            self.problem(
                "invalid-invariant",
                f"invariant `{invariant_id}`: `when` may test ticket facts only, not "
                + ", ".join(f"`{t}`" if t == _TESTS_DECISION else f"`derived.{t}`" for t in sorted(tested)),
                doc.span((*loc, "when")),
                "state the property over the ticket; the decision is what the invariant constrains",
            )
            return None
        when = parsed if isinstance(parsed, AllOf) else AllOf((parsed,) if parsed else ())
        return Invariant(
            kind="never",
            outcomes=chosen["outcome"],
            roles=chosen["required_role"],
            when=when,
            **base,
        )

    def stages(self, rules: list[tuple[Rule, set[str]]]) -> tuple[list[Rule], int]:
        """Give each rule its forward-chaining stage; report cycles between derived facts."""
        derivers: dict[str, list[int]] = {}
        for index, (rule, _) in enumerate(rules):
            for name, _value in rule.then.derive:
                derivers.setdefault(name, []).append(index)
        stage: dict[int, int] = {}

        def inputs(index: int) -> Iterator[int]:
            """The rules deriving the facts rule `index` tests."""
            for name in sorted(rules[index][1]):
                yield from derivers.get(name, [])

        def visit(root: int) -> None:
            # Depth-first without recursion: a chain of 1,000 derived facts is no RecursionError.
            if root in stage:
                return
            path, depth = [root], {root: 0}
            pending = [inputs(root)]
            while pending:
                index = path[-1]
                for deriver in pending[-1]:
                    if deriver in stage:
                        depth[index] = max(depth[index], stage[deriver] + 1)
                    elif deriver in depth:  # on the path: a cycle
                        cycle = [rules[i][0].id for i in path[path.index(deriver) :]] + [rules[deriver][0].id]
                        raise _Cycle(deriver, cycle)
                    else:
                        path.append(deriver)
                        depth[deriver] = 0
                        pending.append(inputs(deriver))
                        break
                else:
                    pending.pop()
                    path.pop()
                    stage[index] = depth.pop(index)
                    if path:
                        depth[path[-1]] = max(depth[path[-1]], stage[index] + 1)

        for index in range(len(rules)):
            try:
                visit(index)
            except _Cycle as cycle:
                rule = rules[cycle.index][0]
                self.problem(
                    "derived-fact-cycle",
                    f"rule `{rule.id}` depends on its own derived facts: " + " -> ".join(cycle.path),
                    rule.span,
                )
                return [r for r, _ in rules], 1
        last = max((stage[i] for i, (r, _) in enumerate(rules) if not r.tests_decision), default=0)
        final: list[Rule] = []
        for index, (rule, _) in enumerate(rules):
            value = last + 1 if rule.tests_decision else stage[index]
            final.append(_with_stage(rule, value))
        count = max((r.stage for r in final), default=0) + 1
        return final, count


class _Cycle(Exception):
    def __init__(self, index: int, path: list[str]) -> None:
        self.index = index
        self.path = path


def _with_stage(rule: Rule, stage: int) -> Rule:
    return Rule(
        rule.id,
        rule.description,
        rule.rationale,
        rule.priority,
        rule.when,
        rule.then,
        rule.span,
        rule.source,
        rule.index,
        stage,
        rule.tests_decision,
    )


def validate_bundle(documents: Sequence[RawDocument], params: object = None) -> Bundle:
    """Validate raw policy documents into a Bundle.

    Args:
        documents: from `load.load_documents`, in bundle order.
        params: overrides of declared parameters, by name.

    Raises:
        PolicyError: every problem found, sorted by file, line and column.
    """
    validator = _Validator()
    shapes: list[tuple[RawDocument, PolicyDocument]] = []
    for doc in documents:
        if not isinstance(doc.data, dict):
            validator.problem("invalid-type", "a policy file must be a mapping with `rules`", doc.span(()))
            continue
        try:
            shapes.append((doc, PolicyDocument.model_validate(doc.data)))
        except ValidationError as exc:
            validator.problems.extend(_shape_diagnostics(doc, exc))
    for doc, shape in shapes:
        validator.declarations(doc, shape)
    validator.overrides(params or {})
    rules = validator.rules(shapes)
    invariants = validator.invariants(shapes)
    staged, stages = validator.stages(rules)
    if validator.problems:
        raise PolicyError(validator.problems)
    return Bundle(
        rules=tuple(staged),
        parameters=validator.parameters,
        derived=validator.derived,
        stages=stages,
        files=tuple(doc.name for doc, _ in shapes),
        invariants=tuple(invariants),
    )
