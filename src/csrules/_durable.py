"""The durable_rules adapter: the only module that imports durable_rules.

It drives the C engine (`durable_rules_engine`) directly instead of `durable.engine.Host`:
- no timer threads: the default Host starts two per instance that walk freed states and
  segfault under concurrency;
- facts arrive as JSON members text (the ticket's part encoded once per evaluation by the caller)
  and no JSON is decoded per fired rule: a rule's id is read from the start of the action
  message, so actions cost one C call each;
- no swallowed exceptions: no Python code runs inside the engine.

Lifecycle per evaluation (`Session`; measured flat in memory over 1,000,000 evaluations,
docs/engine.md): every ruleset's lock, one fresh session id per ruleset used, facts asserted and
fired stage by stage by the caller, and `delete_state` when the session ends, however it ends, in
every ruleset where an action ran. Each ruleset has a barrier rule per stage matching the first
fact of that stage it receives, so at least one action runs in every state: deleting a state in
which no action ran can segfault in 2.0.28.

A ruleset is registered once per process per distinct compiled ruleset and cached: durable_rules
cannot unregister one (`delete_ruleset` leaks and has crashed upstream), so recompiling the same
bundle must not register it again. Each ruleset has its own lock: the C engine holds the GIL and has no
locking of its own, and only one session is ever live per ruleset, far below its 1024-state cap; a
session over several rulesets takes their locks in one order (by name), so two cannot deadlock.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import threading
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

import durable_rules_engine as _engine

from .errors import EngineError

__all__ = ["ENGINE_VERSION", "Ruleset", "Rulesets", "Session", "fact_members", "rulesets_for"]

ENGINE_VERSION = "durable_rules 2.0.28"

MAX_REGISTRATIONS = 4  # registrations of one ruleset after engine failures, each ~0.25-10 MB for good


def fact_members(fact: Mapping[str, Any], *, floats: bool = True) -> str:
    """The members of a flat fact as JSON text without braces, for `Session.fire`.

    The C encoder unless a float would be written as `1e-05` (then `_dumps`); `floats=False`
    says the fact holds no float, so no value needs looking at.
    """
    if floats:
        for value in fact.values():
            if type(value) is float and "e" in repr(value):
                return _dumps(dict(fact))[1:-1]
    return _encode(fact)[1:-1]


_encode = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":")
).encode  # `json.dumps` builds one per call


def _dumps(value: Any) -> str:
    """JSON text for the C engine.

    INVARIANT: strings are sent as UTF-8, not `\\u` escapes (the engine compares bytes and does
    not decode escapes); floats are written in fixed point (its parser rejects `1e-05`).
    """
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "null"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        text = repr(value)
        return format(Decimal(text), "f") if "e" in text or "E" in text else text
    if isinstance(value, dict):
        return "{" + ",".join(f"{_dumps(str(k))}:{_dumps(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_dumps(v) for v in value) + "]"
    raise TypeError(f"no JSON form for {type(value).__name__}")


class Ruleset:
    """One compiled ruleset registered in the C engine. Thread-safe; use `rulesets_for()`."""

    def __init__(self, name: str, definition: Mapping[str, Any] | str) -> None:
        self._name = name
        self._definition = definition if isinstance(definition, str) else _definition_text(definition)
        self._lock = threading.Lock()
        self._generation = 0
        self._sids = itertools.count(1)
        self._handle: int | None = None

    @property
    def disabled(self) -> bool:
        """True once the ruleset failed MAX_REGISTRATIONS times; `rulesets_for` then replaces it."""
        return self._handle is None and self._generation >= MAX_REGISTRATIONS

    def register(self) -> None:
        """Register the ruleset in the C engine now, so a rejection surfaces at load time."""
        with self._lock:
            self._ensure_handle()

    def _ensure_handle(self) -> int:
        if self._handle is None:
            if self._generation >= MAX_REGISTRATIONS:
                # Each registration holds its memory for the life of the process: stop retrying.
                raise EngineError(
                    f"ruleset {self._name} disabled after {MAX_REGISTRATIONS} engine failures; "
                    "reload the policies"
                )
            self._generation += 1
            try:
                self._handle = _engine.create_ruleset(f"{self._name}#{self._generation}", self._definition)
            except Exception as exc:  # durable_rules_engine.error is a bare Exception subclass
                raise EngineError(f"durable_rules rejected the compiled ruleset: {exc}") from exc
        return self._handle


class _State:
    """One ruleset's state (sid) in one session."""

    __slots__ = ("acted", "handle", "ids", "ruleset", "sid", "state")

    def __init__(self, ruleset: Ruleset) -> None:
        self.ruleset = ruleset
        self.handle = ruleset._ensure_handle()
        self.sid = str(next(ruleset._sids))
        self.ids = 0
        self.state: Any = None
        self.acted = False


class Session:
    """One evaluation: a fresh state in each ruleset of a group, deleted when the session ends.

    Use it as a context manager (`with rulesets.session() as session:`): it holds the rulesets'
    locks from start to end, and its end deletes every state in which an action ran (only
    those: deleting a state in which none ran can segfault, notes §0.4; csrules' barrier rules
    make sure one does).
    """

    def __init__(self, rulesets: tuple[Ruleset, ...], locks: tuple[threading.Lock, ...]) -> None:
        self._rulesets = rulesets
        self._locks = locks  # in one order for every session (`Rulesets`): no deadlock
        self._states: list[_State | None] = [None] * len(rulesets)

    def __enter__(self) -> Session:
        for lock in self._locks:
            lock.acquire()
        return self

    def __exit__(self, *exc_info: object) -> None:
        try:
            for state in self._states:
                if state is not None and state.acted and state.ruleset._handle == state.handle:
                    _engine.delete_state(state.handle, state.sid)
        finally:
            for lock in self._locks:
                lock.release()

    def fire(self, index: int, members: Sequence[str]) -> list[str]:
        """Assert one fact per item of `members` (JSON members text, `fact_members`) into ruleset
        `index`'s state, then run every activation: the fired rules' ids, in firing order.

        The first fact of each call must match a rule (csrules' barrier of the stage).

        Raises:
            EngineError: durable_rules failed; the ruleset is then forgotten (re-registered on its
                next use, at most MAX_REGISTRATIONS times) and its state is not deleted.
        """
        state = self._states[index]
        if state is None:
            state = self._states[index] = _State(self._rulesets[index])
        handle, sid = state.handle, state.sid
        fired: list[str] = []
        try:
            first = True
            for text in members:
                state.ids += 1
                result = _engine.assert_fact(handle, f'{{"sid":"{sid}","id":"f{state.ids}",{text}}}')
                # 0: matched; 1: no rule matched this fact, which is fine for any fact but the
                # first (that one always matches its stage's barrier rule).
                if result[0] not in (0, 1) or (first and result[0] != 0):
                    raise EngineError(f"durable_rules did not accept the ticket fact (result {result[0]})")
                if first:
                    state.state, first = result[1], False
            started = _engine.start_action_for_state(handle, state.state)
            message: str | None = started[1] if started else None
            if message:
                state.acted = True
            while message:
                # INVARIANT: messages are `{"<rule id>":{...}}` and rule ids are [a-z0-9_] (validate.py).
                fired.append(message[2 : message.index('"', 2)])
                message = _engine.complete_and_start_action(handle, state.state)
        except Exception as exc:
            # The state may be half-built; deleting a state in which no action ran can segfault
            # (notes §0.4), so forget the whole ruleset instead (bounded above).
            state.ruleset._handle = None
            if isinstance(exc, EngineError):
                raise
            raise EngineError(f"durable_rules failed: {exc}") from exc
        return fired


class Rulesets:
    """The rulesets one bundle compiles to (compile.py splits large bundles), used together."""

    def __init__(self, rulesets: tuple[Ruleset, ...]) -> None:
        self.rulesets = rulesets
        self._locks = tuple(r._lock for r in sorted(rulesets, key=lambda r: r._name))

    def register(self) -> None:
        """Register every ruleset now, so a rejection surfaces at load time."""
        for ruleset in self.rulesets:
            ruleset.register()

    def session(self) -> Session:
        """A new evaluation session (a context manager)."""
        return Session(self.rulesets, self._locks)


_cache: dict[str, Ruleset] = {}
_cache_lock = threading.Lock()
_instances = itertools.count(1)


def _definition_text(definition: Mapping[str, Any]) -> str:
    return _dumps(dict(sorted(definition.items())))


def rulesets_for(definitions: Sequence[Mapping[str, Any]]) -> Rulesets:
    """The process-wide Rulesets for compiled rulesets; a disabled one is replaced (a reload).

    Each is keyed by a hash of its JSON text, not by the policy digest: bundles that differ only
    in what the engine never sees (descriptions, sources, action parameters, follow-up delays)
    share one registration, since each registration holds its memory for the life of the process.
    """
    found: list[Ruleset] = []
    for definition in definitions:
        text = _definition_text(definition)
        key = hashlib.sha256(text.encode("utf-8")).hexdigest()
        with _cache_lock:
            ruleset = _cache.get(key)
            if ruleset is None or ruleset.disabled:
                ruleset = Ruleset(f"csrules-{key[:16]}-{next(_instances)}", text)
                _cache[key] = ruleset
        found.append(ruleset)
    return Rulesets(tuple(found))
