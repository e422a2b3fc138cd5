"""The durable_rules adapter: the only module that imports durable_rules.

It drives the C engine (`durable_rules_engine`) directly instead of `durable.engine.Host`:
- no timer threads: the default Host starts two per instance that walk freed states and
  segfault under concurrency;
- facts arrive as JSON members text (the ticket's part encoded once per evaluation by the caller)
  and no JSON is decoded per fired rule: a rule's id is read from the start of the action
  message, so actions cost one C call each;
- no swallowed exceptions: no Python code runs inside the engine.

Lifecycle per evaluation (`Rulesets.run`, `Session`; measured flat in memory over 1,000,000
evaluations, docs/engine.md): every ruleset's lock, the ruleset's one engine state (one session
id, created by the first evaluation and kept), facts asserted and fired stage by stage by the
caller, and every fact the session asserted retracted when it ends, however it ends, after any
action it left half-run was completed; even when an exception raised by a signal handler
(KeyboardInterrupt, a signal-based timeout) cuts it short between any two steps. A state is never
deleted: creating one costs more than the rest of the engine's work for a ticket (it clears
~0.2 MB of tables), and deleting one in which no action ran can segfault in 2.0.28. Each ruleset
has a barrier rule per stage matching the first fact of that stage it receives, so every stage
runs at least one action.

A ruleset is registered once per process per distinct compiled ruleset and cached: durable_rules
cannot unregister one (`delete_ruleset` leaks and has crashed upstream), so recompiling the same
bundle must not register it again. Each ruleset has its own lock: the C engine holds the GIL and has no
locking of its own, and only one session is ever live per ruleset, far below its 1024-state cap; a
session over several rulesets takes their locks in one order (by name), so two cannot deadlock.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import itertools
import json
import threading
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any, TypeVar

import durable_rules_engine as _engine

from .errors import EngineError

__all__ = ["ENGINE_VERSION", "Ruleset", "Rulesets", "Session", "fact_members", "rulesets_for"]

ENGINE_VERSION = "durable_rules 2.0.28"

_T = TypeVar("_T")

MAX_REGISTRATIONS = 4  # registrations of one ruleset after engine failures, each ~0.25-10 MB for good

# What an engine failure raises: durable_rules' own error (a bare Exception subclass), MemoryError
# (its 1,024-state cap) and csrules' EngineError for a result it does not accept. Any other
# exception (a timeout a signal handler raises, say) goes on unchanged and costs no registration.
_FAILURES = (_engine.error, MemoryError, EngineError)


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
        self._handle: int | None = None
        self._most = 0  # the most fact ids a session of this ruleset used: f1 to f<_most>

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
            except _FAILURES as exc:
                raise EngineError(f"durable_rules rejected the compiled ruleset: {exc}") from exc
        return self._handle


_SID = "s"  # the session id of every ruleset's one engine state: sessions of a ruleset never overlap


class _State:
    """What one session did in one ruleset's engine state.

    `asserted`, `log` and `retracted` hold the results of the engine calls whose effect the end of
    a session must know (whether a fact was asserted, and the state's handle; whether an action
    started; whether the facts were retracted), appended by C as the call returns (`list.extend`
    over `map`) before any Python bytecode runs: an exception a signal handler raises
    (KeyboardInterrupt, a signal-based timeout) lands between two calls, never between such a call
    and the record of its result, so `Session.close` knows how far the session got and can finish
    its actions and retract its facts.
    """

    __slots__ = ("asserted", "handle", "ids", "log", "mark", "retracted", "ruleset", "settled")

    def __init__(self, ruleset: Ruleset) -> None:
        self.ruleset = ruleset
        self.handle = ruleset._ensure_handle()
        self.ids = 0  # facts are f1, f2, ... in every session: the last session retracted its own
        self.asserted: list[Any] = []  # (result code, state handle) per fact asserted
        self.log: list[Any] = []  # start_action_for_state's result per `fire` (None: no action)
        self.retracted: list[Any] = []  # retract_facts' result, once retracted
        self.settled = True  # False while `fire` runs: its actions may be left half-run
        self.mark = 0  # where the current `fire`'s entries of `log` start

    def finish(self) -> None:
        """Run what is left of the state's actions after `fire` was cut short between two engine
        calls, the way `fire` runs them: start the first action if `fire` did not get to it, then
        complete each one until none is left (durable_rules answers error 307 when the last one
        was already completed). Idempotent."""
        handle, state = self.handle, self.asserted[0][1]
        if len(self.log) == self.mark:  # not started
            self.log.extend(map(_engine.start_action_for_state, (handle,), (state,)))
        if self.log[self.mark]:
            complete = functools.partial(_engine.complete_and_start_action, handle, state)
            with contextlib.suppress(_engine.error):  # 307: the last action was completed already
                self.log.extend(iter(complete, None))
        self.settled = True


@functools.lru_cache(maxsize=64)
def _retraction(count: int) -> str:
    """Facts f1 to f<count> of the state, as `retract_facts` takes them (a fact that is not there
    is no error: the engine ignores its id). Kept per count: every session of a bundle asserts as
    many facts as the one before (one per stage and part)."""
    return "[" + ",".join(f'{{"sid":"{_SID}","id":"f{n}"}}' for n in range(1, count + 1)) + "]"


_KNOWN_ID = 2  # assert_fact's result for a fact whose id the state holds


class Session:
    """One evaluation: its facts in each ruleset's kept state (`Rulesets.run`)."""

    def __init__(self, rulesets: tuple[Ruleset, ...]) -> None:
        self._rulesets = rulesets
        self._states: list[_State | None] = [None] * len(rulesets)

    def fire(self, index: int, members: Sequence[str]) -> list[str]:
        """Assert one fact per item of `members` (JSON members text, `fact_members`) into ruleset
        `index`'s state, then run every activation: the fired rules' ids, in firing order.

        The first fact of each call must match a rule (csrules' barrier of the stage), and so
        start an action.

        Raises:
            EngineError: durable_rules failed; the ruleset is then forgotten, with its state
                (re-registered on its next use, at most MAX_REGISTRATIONS times).
        """
        state = self._states[index]
        if state is None:
            state = self._states[index] = _State(self._rulesets[index])
        handle, sid, ids = state.handle, _SID, state.ids
        count = len(members)
        if count == 1:  # the common case, without a comprehension's frame
            texts: Sequence[str] = (f'{{"sid":"{sid}","id":"f{ids + 1}",{members[0]}}}',)
            handles: Sequence[int] = (handle,)
        else:
            texts = [f'{{"sid":"{sid}","id":"f{ids + n}",{text}}}' for n, text in enumerate(members, 1)]
            handles = (handle,) * count
        state.ids = ids + count
        ruleset = state.ruleset
        ruleset._most = max(ruleset._most, state.ids)
        asserted, log = len(state.asserted), len(state.log)
        state.settled, state.mark = False, log
        try:
            state.asserted.extend(map(_engine.assert_fact, handles, texts))
            results = state.asserted[asserted:]
            if ids == 0 and results[0][0] == _KNOWN_ID:
                # An earlier session's facts are still there: a second interrupt cut its cleanup
                # short. Retract every id a session of this ruleset used, then assert again.
                _engine.retract_facts(handle, _retraction(ruleset._most))
                asserted = len(state.asserted)
                state.asserted.extend(map(_engine.assert_fact, handles, texts))
                results = state.asserted[asserted:]
            # 0: matched; 1: no rule matched this fact, which is fine for any fact but the first
            # (that one always matches its stage's barrier rule). Results are (code, state handle).
            if results[0][0] or (count > 1 and max(results)[0] > 1):
                bad = results[0][0] or max(results)[0]
                raise EngineError(f"durable_rules did not accept the ticket fact (result {bad})")
            engine_state = results[0][1]  # the same for every fact of the sid
            state.log.extend(map(_engine.start_action_for_state, (handle,), (engine_state,)))
            started = state.log[log]
            if not started:  # the barrier matched: an action must start (a state left mid-action would not)
                raise EngineError("durable_rules started no action for the stage's facts")
            message = started[1]
            fired: list[str] = []
            while message:
                # INVARIANT: messages are `{"<rule id>":{...}}` and rule ids are [a-z0-9_] (validate.py).
                fired.append(message[2 : message.index('"', 2)])
                # Once an action started, an interrupt may land before the next message is kept:
                # `finish` completes again (307 when nothing was left), which is safe.
                message = _engine.complete_and_start_action(handle, engine_state)
        except _FAILURES as exc:
            # The state may be half-built: forget the whole ruleset and its state (bounded above).
            # Any other exception goes on as it is: `close` finishes the actions and retracts.
            state.ruleset._handle = None
            if isinstance(exc, EngineError):
                raise
            raise EngineError(f"durable_rules failed: {exc}") from exc
        state.settled = True
        return fired

    def close(self) -> None:
        """Retract every fact the session asserted, after finishing the actions `fire` left
        half-run: the ruleset's state is then as the first session found it, for the next one.
        Idempotent.

        Raises:
            EngineError: durable_rules failed; the ruleset is then forgotten, with its state.
        """
        failed: Exception | None = None
        for state in self._states:
            if state is None or not state.ids or state.retracted or state.ruleset._handle != state.handle:
                continue  # nothing asserted, already retracted, or the ruleset was forgotten
            try:
                if not state.settled and state.asserted:
                    state.finish()
                state.retracted.extend(map(_engine.retract_facts, (state.handle,), (_retraction(state.ids),)))
                if state.retracted[0][0]:
                    code = state.retracted[0][0]
                    raise EngineError(f"durable_rules did not retract the ticket's facts (result {code})")
            except _FAILURES as exc:
                state.ruleset._handle = None
                failed = failed or exc
        if failed is not None:
            raise EngineError(f"durable_rules failed: {failed}") from failed


def _locked(locks: tuple[threading.Lock, ...], session: Session, work: Callable[[Session], _T]) -> _T:
    """`work(session)` holding `locks` (each in a `with`, whose release is C code that runs however
    the block ends), then `session.close()`, again if an interrupt cut the first call short."""
    if locks:
        with locks[0]:
            return _locked(locks[1:], session, work)
    try:
        return work(session)
    finally:
        try:
            session.close()
        except BaseException:
            session.close()  # idempotent: what the first call did not do
            raise


class Rulesets:
    """The rulesets one bundle compiles to (compile.py splits large bundles), used together."""

    def __init__(self, rulesets: tuple[Ruleset, ...]) -> None:
        self.rulesets = rulesets
        self._locks = tuple(r._lock for r in sorted(rulesets, key=lambda r: r._name))

    def register(self) -> None:
        """Register every ruleset now, so a rejection surfaces at load time."""
        for ruleset in self.rulesets:
            ruleset.register()

    def run(self, work: Callable[[Session], _T]) -> _T:
        """`work(session)` with a new Session, holding every ruleset's lock (in one order for every
        caller: no deadlock), then the session's facts retracted.

        However it ends, even by an exception a signal handler raised between any two steps
        (KeyboardInterrupt, a signal-based request timeout), no lock stays held and no fact is
        left behind: the locks are held by `with` statements, and the session records each engine
        call's result before an interrupt can land, so its end can finish what was cut short. (A
        second interrupt inside that end may leave the facts; the next session retracts them.)
        """
        return _locked(self._locks, Session(self.rulesets), work)


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
