"""The durable_rules adapter: the only module that imports durable_rules.

It drives the C engine (`durable_rules_engine`) directly instead of `durable.engine.Host`:
- no timer threads: the default Host starts two per instance that walk freed states and
  segfault under concurrency;
- one JSON encode per stage fact and no JSON decode per fired rule: a rule's id is read from the
  start of the action message, so actions cost one C call each;
- no swallowed exceptions: the callback runs in our own loop.

Lifecycle per evaluation (measured flat in memory over 1,000,000 evaluations, docs/engine.md):
one fresh session id, assert the first stage fact, fire until the agenda is empty, and always
`delete_state` in `finally`. Every stage has a catch-all barrier rule, so at least one action
runs in every session: deleting a session in which no action ran can segfault in 2.0.28.

A ruleset is registered once per process per distinct compiled ruleset and cached: durable_rules
cannot unregister one (`delete_ruleset` leaks and has crashed upstream), so recompiling the same
bundle must not register it again. Each ruleset has its own lock: the C engine holds the GIL and has no
locking of its own, and only one session is ever live per ruleset, far below its 1024-state cap.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import threading
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

import durable_rules_engine as _engine

from .errors import EngineError

__all__ = ["ENGINE_VERSION", "Ruleset", "ruleset_for"]

ENGINE_VERSION = "durable_rules 2.0.28"

OnFired = Callable[[str], "list[dict[str, Any]] | None"]
MAX_REGISTRATIONS = 4  # registrations of one ruleset after engine failures, each ~0.25-10 MB for good


def _fact_json(fact: dict[str, Any]) -> str:
    """JSON text of a flat fact: the C encoder unless a float would be written as `1e-05`."""
    for value in fact.values():
        if type(value) is float and "e" in repr(value):
            return _dumps(fact)
    return json.dumps(fact, ensure_ascii=False, separators=(",", ":"))


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


def _rule_of(message: str) -> str:
    # INVARIANT: messages are `{"<rule id>":{...}}` and rule ids are [a-z0-9_] (validate.py).
    return message[2 : message.index('"', 2)]


class Ruleset:
    """One compiled bundle registered in the C engine. Thread-safe; use `ruleset_for()`."""

    def __init__(self, name: str, definition: Mapping[str, Any]) -> None:
        self._name = name
        self._definition = _dumps(dict(sorted(definition.items())))
        self._lock = threading.Lock()
        self._generation = 0
        self._sids = itertools.count(1)
        self._handle: int | None = None

    @property
    def disabled(self) -> bool:
        """True once the ruleset failed MAX_REGISTRATIONS times; `ruleset_for` then replaces it."""
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

    def run(self, first: list[dict[str, Any]], on_fired: OnFired) -> None:
        """Assert the facts `first` in a fresh session; call `on_fired(rule_id)` for each rule that fires.

        `on_fired` may return further facts to assert (forward chaining); it must not raise: an
        exception from it is re-raised after the session is cleaned up.
        """
        with self._lock:
            handle = self._ensure_handle()
            sid = str(next(self._sids))
            ids = itertools.count()
            failure: BaseException | None = None
            acted = False
            try:
                state = None
                for fact in first:
                    text = _fact_json({**fact, "sid": sid, "id": f"f{next(ids)}"})
                    result = _engine.assert_fact(handle, text)
                    # 0: matched; 1: no rule matched this fact, which is fine for any fact but the
                    # first (that one always matches its stage's barrier rule).
                    if result[0] not in (0, 1) or (state is None and result[0] != 0):
                        raise EngineError(
                            f"durable_rules did not accept the ticket fact (result {result[0]})"
                        )
                    if state is None:
                        state = result[1]
                started = _engine.start_action_for_state(handle, state)
                message: str | None = started[1] if started else None
                acted = message is not None
                while message:
                    following: list[dict[str, Any]] | None = None
                    if failure is None:
                        try:
                            following = on_fired(_rule_of(message))
                        except BaseException as exc:  # the caller's error: re-raised after cleanup
                            failure = exc
                    for fact in following or ():  # an engine error here goes to the handler below
                        _engine.assert_fact(handle, _fact_json({**fact, "sid": sid, "id": f"f{next(ids)}"}))
                    message = _engine.complete_and_start_action(handle, state)
            except Exception as exc:
                # The session may be half-built; deleting a session in which no action ran can
                # segfault (notes §0.4), so forget the whole ruleset instead (bounded above).
                self._handle = None
                if isinstance(exc, EngineError):
                    raise
                raise EngineError(f"durable_rules failed: {exc}") from exc
            finally:
                if acted and self._handle is not None:
                    _engine.delete_state(handle, sid)
            if failure is not None:
                raise failure


_cache: dict[str, Ruleset] = {}
_cache_lock = threading.Lock()
_instances = itertools.count(1)


def ruleset_for(definition: Mapping[str, Any]) -> Ruleset:
    """The process-wide Ruleset for a compiled ruleset; a disabled one is replaced (a reload).

    Keyed by a hash of the ruleset's JSON text, not by the policy digest: bundles that differ only
    in what the engine never sees (descriptions, sources, action parameters, follow-up delays)
    share one registration, since each registration holds its memory for the life of the process.
    """
    key = hashlib.sha256(_dumps(dict(sorted(definition.items()))).encode("utf-8")).hexdigest()
    with _cache_lock:
        ruleset = _cache.get(key)
        if ruleset is None or ruleset.disabled:
            ruleset = Ruleset(f"csrules-{key[:16]}-{next(_instances)}", definition)
            _cache[key] = ruleset
        return ruleset
