"""Stage 8, verify: replay a recorded decision and say whether it is reproduced. No I/O.

A Decision carries everything needed to reproduce it: the validated facts, the effective
parameters, the policy digest, the engine version and `evaluated_at` (the `now` it was made at).
`verify()` evaluates the same facts at the same instant with an engine and compares the two
decisions' JSON forms leaf by leaf:

| status           | when                                                                 |
|------------------|----------------------------------------------------------------------|
| `identical`      | same policy digest, and the replay equals the record byte for byte    |
| `different`      | same policy digest, yet the replay differs: the record was altered, or|
|                  | the engine changed its behaviour (see `notes` for a version change)   |
| `policy-changed` | the engine's digest is not the recorded one: the policies or their    |
|                  | parameters changed since; `differences` says what would change today  |

The engine version is compared separately (a note, not a difference): a decision replayed
identically by a newer csrules is still identical.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

import pydantic_core
from pydantic import ValidationError

from .decision import Decision
from .engine import ENGINE_VERSION, Engine
from .errors import AuditError, TicketError, one_line
from .source import DuplicateKeyError, pointer, unique_keys
from .values import SERIALIZATION_FAILURES, failure_text, field_text, json_value

__all__ = ["NO_SUCH_KEY", "Difference", "Verification", "parse_decision", "shown", "verify"]

Status = Literal["identical", "different", "policy-changed"]

_IGNORED = {"/trace/engine_version"}  # compared separately, as a note


class _NoSuchKey:
    def __repr__(self) -> str:
        return "NO_SUCH_KEY"


NO_SUCH_KEY: Any = _NoSuchKey()
"""A Difference's value where one side has no such key (the other may have it as `null`)."""


class _Number(float):
    """A JSON number with a fraction or an exponent (or the integer `-0`), as written: equal only
    to the same text. Read as floats, `45.0`, `45.00`, `4.5e1` and `45.0000000000000000000000000001`
    are one number, and a record whose amounts were rewritten so replayed "byte for byte"."""

    text: str

    def __new__(cls, text: str) -> _Number:
        number = super().__new__(cls, text)
        number.text = text
        return number

    def __eq__(self, other: object) -> bool:
        # The same text, or two ways csrules itself writes one float: Python's `repr` (to_json)
        # and pydantic's (`model_dump_json`: `1e-7` for `1e-07`). An edit (`4.5e1`) is neither.
        if type(other) is not _Number:
            return False
        if other.text == self.text:
            return True
        return float(self) == float(other) and {self.text, other.text} <= _writings(float(self))

    def __ne__(self, other: object) -> bool:
        return not self == other

    __hash__ = float.__hash__


def _writings(value: float) -> set[str]:
    """The texts csrules' own writers give a float."""
    return {repr(value), pydantic_core.to_json(value).decode()}


def _as_read(value: Any) -> Any:
    """A record's JSON values with its numbers as plain floats, as a ticket's JSON reads."""
    if isinstance(value, dict):
        return {k: _as_read(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_as_read(v) for v in value]
    if type(value) is _Number:
        return 0 if value.text == "-0" else float(value)
    return value


def _integer(text: str) -> Any:
    """A JSON integer as read: `-0`, the one integer JSON can write two ways, kept as written."""
    return _Number(text) if text == "-0" else int(text)


def _written(value: Any, indent: int | None = None, depth: int = 0) -> str:
    """`json.dumps(value, sort_keys=True, ensure_ascii=False, indent=indent)`, with each number
    as the record writes it (`1.5e1`, `-0`), not as a float reads back (`15.0`, `0`)."""
    if type(value) is _Number:
        return value.text
    if isinstance(value, dict) and value:
        items = [
            f"{json.dumps(key, ensure_ascii=False)}: {_written(item, indent, depth + 1)}"
            for key, item in sorted(value.items())
        ]
        opening, closing = "{", "}"
    elif isinstance(value, list) and value:
        items = [_written(item, indent, depth + 1) for item in value]
        opening, closing = "[", "]"
    else:
        return json.dumps(value, ensure_ascii=False)
    if indent is None:
        return opening + ", ".join(items) + closing
    inner, outer = "\n" + " " * (indent * (depth + 1)), "\n" + " " * (indent * depth)
    return opening + inner + ("," + inner).join(items) + outer + closing


def shown(value: Any) -> str:
    """A Difference's value as written: its JSON (`"20"` and `20` stay apart, `1.5e1` and `15.0`
    too), or `(no such key)`."""
    if value is NO_SUCH_KEY:
        return "(no such key)"
    return _written(value)


@dataclass(frozen=True, slots=True)
class Difference:
    """One value that differs: `path` is an RFC 6901 pointer into the Decision JSON; a value is
    `NO_SUCH_KEY` where that side has no such key."""

    path: str
    recorded: Any
    replayed: Any

    def __str__(self) -> str:
        return f"{self.path or 'the decision'}: {shown(self.recorded)} -> {shown(self.replayed)}"


@dataclass(frozen=True)
class Verification:
    """The result of replaying one decision; `ok` when it is identical."""

    status: Status
    ticket_id: str
    recorded_digest: str
    current_digest: str
    differences: tuple[Difference, ...]
    notes: tuple[str, ...]
    replayed: Decision | None  # None when the current engine refuses the recorded facts

    @property
    def ok(self) -> bool:
        """True when the decision replays identically under the same policy version."""
        return self.status == "identical"

    def summary(self) -> str:
        """One line: the status and what it means (a ticket id with a line break written out)."""
        return one_line(self._summary())

    def _summary(self) -> str:
        ticket = field_text(self.ticket_id)  # no id reads as the line's own words
        if self.status == "identical":
            return (
                f"identical: decision {ticket} replays byte for byte under policy {self.current_digest[:12]}"
            )
        if self.status == "policy-changed":
            return (
                f"policy-changed: decision {ticket} was made under policy "
                f"{self.recorded_digest[:12]}, the policies are now {self.current_digest[:12]}; "
                f"{len(self.differences)} field(s) would differ"
            )
        return (
            f"different: decision {ticket} does not replay under its own policy "
            f"{self.current_digest[:12]}: {len(self.differences)} field(s) differ"
        )

    def to_json(self, indent: int | None = 2) -> str:
        """`as_dict()` as JSON text, keys sorted, each recorded number as the record writes it: a
        difference between `1.5e1` and `15.0` shows both (`json.dumps` of `as_dict()` shows
        `15.0` twice)."""
        return _written(self.as_dict(), indent)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (differences with their pointers and values; a side that has no such
        key has no `recorded` or `replayed` key in its difference). A number written with a
        fraction or an exponent is a float subclass that keeps its text: `to_json` writes it."""
        return {
            "status": self.status,
            "ticket_id": self.ticket_id,
            "recorded_digest": self.recorded_digest,
            "current_digest": self.current_digest,
            "differences": [
                {
                    "path": d.path,
                    **({} if d.recorded is NO_SUCH_KEY else {"recorded": d.recorded}),
                    **({} if d.replayed is NO_SUCH_KEY else {"replayed": d.replayed}),
                }
                for d in self.differences
            ],
            "notes": list(self.notes),
        }


def _diff(recorded: Any, replayed: Any, path: str = "") -> Iterator[Difference]:
    if isinstance(recorded, dict) and isinstance(replayed, dict):
        # A key one side lacks differs even from `null` (a record with keys added as null would
        # otherwise replay "identical").
        for key in sorted(set(recorded) | set(replayed)):
            yield from _diff(
                recorded.get(key, NO_SUCH_KEY), replayed.get(key, NO_SUCH_KEY), path + pointer([key])
            )
    elif isinstance(recorded, list) and isinstance(replayed, list) and len(recorded) == len(replayed):
        for index, (a, b) in enumerate(zip(recorded, replayed, strict=True)):
            yield from _diff(a, b, path + pointer([index]))
    elif (recorded != replayed or type(recorded) is not type(replayed)) and path not in _IGNORED:
        yield Difference(path, recorded, replayed)


def parse_decision(data: Decision | str | bytes | Mapping[str, Any], file: str | None = None) -> Decision:
    """A Decision from itself, its JSON text, or its JSON form as a dict.

    Strict: every value must have the JSON type a Decision writes (`true`, not `"yes"`; `0`, not
    `"0"` or `0.0`), so a record cannot be altered into another that reads back as the same
    Decision and then replays identically.

    Raises:
        AuditError: `invalid-decision`, naming the first field that is wrong.
    """
    return _read(data, file)[0]


def _read(data: Decision | str | bytes | Mapping[str, Any], file: str | None) -> tuple[Decision, Any]:
    """`parse_decision`, and the record's JSON values as written, not as read back: `"45.00"` for
    an amount, or `+00:00` for `Z`, read back as the same Decision and would replay identically."""
    if isinstance(data, Decision):
        # Through its JSON, as a record is read: a Decision made with `model_construct` may hold
        # anything (no trace, values of other types).
        try:
            data = data.model_dump_json(warnings=False)
        except SERIALIZATION_FAILURES as exc:  # pydantic's serializer fails in many ways on such data
            message = one_line(failure_text(exc))
            raise AuditError("invalid-decision", f"not a decision: {message}", file) from None
    try:
        text = (
            data
            if isinstance(data, str | bytes)
            else json.dumps(dict(data), ensure_ascii=False, allow_nan=False)
        )
    except (TypeError, ValueError) as exc:  # a value with no JSON form: not a decision's JSON form
        raise AuditError("invalid-decision", f"not a decision: not a JSON object ({exc})", file) from None
    except RecursionError:  # far deeper than any decision nests
        raise AuditError("invalid-decision", "not a decision: nested too deeply", file) from None
    except Exception as exc:  # the caller's own mapping failed while read (its `__iter__` raised)
        message = f"not a decision: `{type(exc).__name__}` raised while reading the mapping"
        raise AuditError("invalid-decision", message, file) from None
    written: Any = None
    try:  # a key given twice reads as its last value: refused
        written = json.loads(text, object_pairs_hook=unique_keys, parse_float=_Number, parse_int=_integer)
    except DuplicateKeyError as exc:
        raise AuditError("invalid-decision", f"not a decision: {exc}", file) from None
    except (ValueError, RecursionError):
        pass  # not JSON: pydantic says where, below
    return decision_from_json(text, file), written


def decision_from_json(text: str | bytes, file: str | None = None) -> Decision:
    """`parse_decision` of JSON text already read once with unique keys and no NaN (a decision
    log's record): validated, not read again."""
    try:
        return Decision.model_validate_json(text, strict=True)
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        where = "/" + "/".join(str(p) for p in error["loc"]) if error["loc"] else "the document"
        message = f"not a decision: {where}: {error['msg'][0].lower()}{error['msg'][1:]}"
        raise AuditError("invalid-decision", message, file) from None


def verify(engine: Engine, decision: Decision | str | bytes | Mapping[str, Any]) -> Verification:
    """Replay `decision` with `engine` (same facts, same `now`) and compare.

    Raises:
        AuditError: `decision` is not a decision (`invalid-decision`).
        TypeError: `engine` is not an Engine (the arguments the other way round, say).
    """
    if not isinstance(engine, Engine):
        raise TypeError(
            f"verify(engine, decision): `engine` must be a csrules.Engine, got {type(engine).__name__}"
        )
    recorded, written = _read(decision, None)
    trace = recorded.trace
    notes: list[str] = []
    if trace.engine_version != ENGINE_VERSION:
        notes.append(f"recorded by {one_line(trace.engine_version)}; replayed by {ENGINE_VERSION}")
    changed = trace.policy_digest != engine.policy_digest
    if changed:
        current = {name: _plain(value) for name, value in engine.params.items()}
        recorded_params = {name: _plain(value) for name, value in trace.params.items()}
        before = len(notes)
        for name in sorted(set(current) | set(recorded_params)):
            if current.get(name, NO_SUCH_KEY) != recorded_params.get(name, NO_SUCH_KEY):
                notes.append(
                    f"parameter {name}: recorded {shown(recorded_params.get(name, NO_SUCH_KEY))}, "
                    f"now {shown(current.get(name, NO_SUCH_KEY))}"
                )
        if len(notes) == before:  # no parameter differs
            notes.append(
                "no parameter differs: the policy files are not those of the recorded digest (they "
                "changed since), or the record's digest was altered; replay under the policies of that "
                "digest to tell which"
            )
    # A decision made without its trace steps (`evaluate_many(trace=False)`) is replayed the same
    # way; a bundle without rules has no steps either way.
    untraced = not trace.steps and bool(engine.bundle.rules)
    if untraced:
        notes.append(
            "the record has no trace steps (decided with trace=False, or its steps were removed): "
            "replayed the same way, so its outcome and effects are checked, not a justification"
        )
    # The facts as recorded (their JSON form): a Decision in memory replays as its record does,
    # with the defaults the record shows written out (`currency`: the one it was decided in).
    facts = _as_read(written["trace"]["facts"])
    try:
        if untraced:
            result = next(engine.evaluate_many([facts], now=trace.evaluated_at, trace=False))
            if isinstance(result, TicketError):
                raise result
            replayed: Decision | None = result
        else:
            replayed = engine.evaluate(facts, now=trace.evaluated_at)
    except TicketError as error:
        notes.append(f"the current engine refuses the recorded facts: {error}")
        replayed = None
    if replayed is None:
        differences: tuple[Difference, ...] = (Difference("", "a decision", "no decision"),)
    else:
        # As written, both: the replay's canonical JSON read back as the record's was.
        replay = json.loads(replayed.to_json(), parse_float=_Number, parse_int=_integer)
        differences = tuple(_diff(written, replay))
    if changed:
        status: Status = "policy-changed"
    else:
        status = "different" if differences else "identical"
    return Verification(
        status,
        recorded.ticket_id,
        trace.policy_digest,
        engine.policy_digest,
        differences,
        tuple(notes),
        replayed,
    )


def _plain(value: Any) -> Any:
    """A parameter value as its JSON form would read back (money as a float)."""
    value = json_value(value)
    return float(value) if isinstance(value, Decimal) else value
