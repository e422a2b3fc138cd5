"""Shadow mode: decide every ticket with the live bundle, and beside it with a candidate bundle.

Stage after `engine`: input two `Engine`s and a ticket, output the live `Decision` (unchanged) and,
for the caller's sink, a `Divergence` when the candidate decides differently or a `ShadowFailure`
when the candidate raises. Nothing the candidate or the sink does reaches the live decision.

    ticket -> live.evaluate -> Decision ------------------------------------------> caller
                  \\-> candidate.evaluate (same `now`) -> compare_decisions -> sink

`ShadowEngine.evaluate_many` is the same per ticket over the live `Engine.evaluate_many`: the
live results may come from worker processes, the candidate decides in the calling thread.

`load()` here is `csrules.load`: without `shadow` it is `engine.load` itself; with `shadow` it
loads both bundles and returns a `ShadowEngine`. It lives here, not in engine.py, because
imports point upstream only and engine.py must not know about the stage that wraps it.

`JsonLinesSink` is the one piece of file I/O outside load.py and cli/: an output adapter the
caller opts into, appending one line per record, never reading.
"""

from __future__ import annotations

import collections
import copy
import hashlib
import json
import math
import numbers
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from decimal import Decimal
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Self, overload

from pydantic import ConfigDict

from .combine import action_key
from .decision import Action, Decision, FollowUp, Outcome
from .engine import DEFAULT_CHUNK_SIZE, Engine, ticket_iterator
from .engine import load as load_engine
from .errors import Error, TicketError
from .policy import Bundle
from .ticket import Role, Ticket
from .values import Record

if TYPE_CHECKING:
    from .load import PolicyPaths
    from .verify import Verification

__all__ = [
    "Divergence",
    "JsonLinesSink",
    "ShadowEngine",
    "ShadowFailure",
    "ShadowStats",
    "Sink",
    "compare_decisions",
    "load",
]


class _Record(Record):
    # defer_build: built when the first record is made, not by every `import csrules`.
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    def as_dict(self) -> dict[str, Any]:
        """The record in JSON form (datetimes as ISO 8601 strings)."""
        return self.model_dump(mode="json")

    def to_json(self) -> str:
        """One line of canonical JSON: sorted keys, no spaces, UTF-8 text."""
        return json.dumps(self.as_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


class Divergence(_Record):
    """The candidate decided a ticket differently from the live bundle.

    Recorded when the outcome, the required role, the set of fired rules, the actions (kind and
    params, numbers by value: `combine.action_key`) or the follow-ups (kind and due) differ.
    `*_only_live` / `*_removed` hold what the live decision has and the candidate's lacks;
    `*_only_candidate` / `*_added` the reverse. Rule ids are sorted; actions and follow-ups keep
    their decision order and name the rule that produced them on their own side.
    """

    record: Literal["divergence"] = "divergence"
    ticket_id: str
    evaluated_at: datetime
    live_digest: str
    candidate_digest: str
    live_outcome: Outcome
    candidate_outcome: Outcome
    live_required_role: Role
    candidate_required_role: Role
    fired_only_live: list[str]
    fired_only_candidate: list[str]
    actions_added: list[Action]
    actions_removed: list[Action]
    follow_ups_added: list[FollowUp]
    follow_ups_removed: list[FollowUp]


class ShadowFailure(_Record):
    """The candidate raised while deciding a ticket the live bundle decided.

    `error_type` is the exception's class name (`TicketError`, `EngineError`, or anything
    unexpected), `code` its csrules error code when it has one, `message` its `str()`.
    """

    record: Literal["shadow_failure"] = "shadow_failure"
    ticket_id: str
    evaluated_at: datetime
    live_digest: str
    candidate_digest: str
    live_outcome: Outcome
    live_required_role: Role
    error_type: str
    code: str | None
    message: str


Sink = Callable[[Divergence | ShadowFailure], None]
"""Where a ShadowEngine sends its records: any callable taking one record; its result is ignored."""


@dataclass(frozen=True, slots=True)
class ShadowStats:
    """Counters of a ShadowEngine since it was created (a snapshot; read `engine.stats` again).

    Attributes:
        evaluations: live decisions returned (a call whose live evaluation raised is not counted).
        shadowed: of those, the ones also decided by the candidate (all of them when `sample` is 1,
            but for an evaluation a `close()` overtook between its two decisions).
        divergences: Divergence records produced.
        shadow_failures: ShadowFailure records produced (the candidate, or the comparison, raised).
        sink_failures: records the sink raised on (the record is lost; nothing else happens).
    """

    evaluations: int = 0
    shadowed: int = 0
    divergences: int = 0
    shadow_failures: int = 0
    sink_failures: int = 0

    def as_dict(self) -> dict[str, int]:
        """The counters by name, e.g. for a metrics exporter."""
        return asdict(self)


def compare_decisions(live: Decision, candidate: Decision) -> Divergence | None:
    """The differences between two decisions of one ticket, or None when they decide alike.

    Pure: the trace's header, conditions and derived values are not compared, only what the
    decision makes happen and the rules that fired.
    """
    live_fired = set(live.trace.fired)
    candidate_fired = set(candidate.trace.fired)
    live_actions = {action_key(a) for a in live.actions}
    candidate_actions = {action_key(a) for a in candidate.actions}
    live_follow_ups = {(f.kind, f.due) for f in live.follow_ups}
    candidate_follow_ups = {(f.kind, f.due) for f in candidate.follow_ups}
    if (
        live.outcome == candidate.outcome
        and live.required_role == candidate.required_role
        and live_fired == candidate_fired
        and live_actions == candidate_actions
        and live_follow_ups == candidate_follow_ups
    ):
        return None  # the common case: no record built
    return Divergence(
        ticket_id=live.ticket_id,
        evaluated_at=live.trace.evaluated_at,
        live_digest=live.trace.policy_digest,
        candidate_digest=candidate.trace.policy_digest,
        live_outcome=live.outcome,
        candidate_outcome=candidate.outcome,
        live_required_role=live.required_role,
        candidate_required_role=candidate.required_role,
        fired_only_live=sorted(live_fired - candidate_fired),
        fired_only_candidate=sorted(candidate_fired - live_fired),
        actions_added=[a for a in candidate.actions if action_key(a) not in live_actions],
        actions_removed=[a for a in live.actions if action_key(a) not in candidate_actions],
        follow_ups_added=[f for f in candidate.follow_ups if (f.kind, f.due) not in live_follow_ups],
        follow_ups_removed=[f for f in live.follow_ups if (f.kind, f.due) not in candidate_follow_ups],
    )


def _error_code(exc: Exception) -> str | None:
    code = getattr(exc, "code", None) if isinstance(exc, Error) else None
    return code if isinstance(code, str) else None


def _message(exc: Exception) -> str:
    try:
        return str(exc)
    except Exception:  # an exception whose own __str__ raises must not reach the caller either
        return f"({type(exc).__name__}: its message cannot be shown)"


def _check_options(sink: object, sample: object) -> float:
    """`sample` as a float, once `sink` and `sample` are checked."""
    if not callable(sink):
        raise TypeError(f"`sink` must be callable, got `{sink!r}`")
    if sink is JsonLinesSink:  # the class, not a sink: every record would be lost, as a failure
        raise TypeError("`sink` must be a JsonLinesSink(path), not the class itself")
    # A bool is an int to Python, but `sample=True` is a mistake, not a share.
    if isinstance(sample, bool) or not isinstance(sample, numbers.Real | Decimal):
        raise TypeError(f"`sample` must be a number from 0 to 1, got `{sample!r}`")
    try:
        share = float(sample)
    except (ValueError, OverflowError):  # Decimal("sNaN"); an int or Fraction beyond any float
        share = math.nan
    if not 0.0 <= share <= 1.0:  # also refuses nan
        raise ValueError(f"`sample` must be between 0 and 1, got `{sample!r}`")
    return share


def _kept(ticket: Ticket | Mapping[str, Any]) -> Ticket | Mapping[str, Any]:
    """A ticket as it is now, for a candidate that decides it later."""
    if isinstance(ticket, Ticket):  # frozen
        return ticket
    try:
        return copy.deepcopy(ticket)
    except Exception:  # not copyable (or too deep): the live engine will say what it makes of it
        return ticket


def _sampled(ticket_id: str, sample: float) -> bool:
    """Whether a ticket is shadowed: a fixed point in [0, 1) per ticket id, below `sample`."""
    if sample >= 1.0:
        return True
    digest = hashlib.sha256(ticket_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < sample


class ShadowEngine:
    """A live Engine with a candidate Engine deciding beside it; returns only live decisions.

    Thread-safe if the sink is: share one across threads as you would an Engine. The read-only
    properties (`policy_digest`, `bundle`, `params`, `ruleset`) are the live engine's.
    """

    def __init__(self, live: Engine, candidate: Engine, *, sink: Sink, sample: float = 1.0) -> None:
        """Wrap two loaded engines.

        Args:
            live: the engine whose decisions are returned.
            candidate: the engine evaluated beside it on every shadowed call.
            sink: called with each Divergence and ShadowFailure, in the evaluating thread.
            sample: the share of tickets shadowed, 0 to 1; a ticket is in or out by a hash of
                its id, so the same ticket is always, or never, shadowed.

        Raises:
            TypeError: `live` or `candidate` is not an Engine, `sink` is not callable, or
                `sample` is not a number (a bool is not).
            ValueError: `sample` is outside 0 to 1, or NaN.
        """
        for name, engine in (("live", live), ("candidate", candidate)):
            if not isinstance(engine, Engine):
                raise TypeError(f"{name} must be a csrules.Engine, got {type(engine).__name__}")
        self._sample = _check_options(sink, sample)
        self._live = live
        self._candidate = candidate
        self._sink = sink
        self._lock = threading.Lock()
        self._counts = ShadowStats().as_dict()

    def __repr__(self) -> str:
        live, candidate = self._live.policy_digest[:12], self._candidate.policy_digest[:12]
        return f"<csrules.ShadowEngine live {live}, candidate {candidate}, sample {self._sample:g}>"

    @property
    def live(self) -> Engine:
        """The engine whose decisions are returned."""
        return self._live

    @property
    def candidate(self) -> Engine:
        """The engine shadowing it."""
        return self._candidate

    @property
    def sample(self) -> float:
        """The share of tickets shadowed."""
        return self._sample

    @property
    def stats(self) -> ShadowStats:
        """A snapshot of the counters."""
        with self._lock:
            return ShadowStats(**self._counts)

    @property
    def policy_digest(self) -> str:
        """The live engine's policy digest."""
        return self._live.policy_digest

    @property
    def bundle(self) -> Bundle:
        """The live engine's bundle."""
        return self._live.bundle

    @property
    def params(self) -> dict[str, Any]:
        """The live engine's effective parameters."""
        return self._live.params

    @property
    def ruleset(self) -> dict[str, Any]:
        """The live engine's compiled ruleset (a copy)."""
        return self._live.ruleset

    @property
    def rulesets(self) -> list[dict[str, Any]]:
        """The live engine's compiled rulesets (a copy)."""
        return self._live.rulesets

    def verify(self, decision: Decision | str | bytes | Mapping[str, Any]) -> Verification:
        """Replay a recorded decision with the live engine (`Engine.verify`)."""
        return self._live.verify(decision)

    def close(self) -> None:
        """Close both engines (`Engine.close`): the reload pattern `old.close()` works with a
        ShadowEngine as with an Engine. Closing again does nothing."""
        self._live.close()
        self._candidate.close()

    @property
    def closed(self) -> bool:
        """Whether the live engine is closed."""
        return self._live.closed

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def evaluate(self, ticket: Ticket | Mapping[str, Any], *, now: datetime | None = None) -> Decision:
        """Decide a ticket with the live engine; shadow it with the candidate at the same `now`.

        Returns exactly what `live.evaluate(ticket, now=now)` returns. When the live engine
        raises, the exception propagates unchanged and the candidate is not run. Whatever the
        candidate or the sink raises (any `Exception`) is recorded or counted, never raised.

        Raises:
            TicketError: as `Engine.evaluate`, from the live engine only.
            EngineError: as `Engine.evaluate`, from the live engine only.
        """
        # Resolved once, so both engines decide at the same instant (the live engine checks it).
        moment = datetime.now(UTC) if now is None else now
        decision = self._live.evaluate(ticket, now=moment)
        self._follow(ticket, decision, trace=True)
        return decision

    def evaluate_many(
        self,
        tickets: Iterable[Ticket | Mapping[str, Any]],
        *,
        now: datetime | None = None,
        workers: int = 1,
        trace: bool = True,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
    ) -> Iterator[Decision | TicketError]:
        """Decide many tickets with the live engine (`Engine.evaluate_many`), shadowing each
        live decision as `evaluate` does.

        Yields exactly what `live.evaluate_many(tickets, ...)` yields, lazily and in order; a
        live `TicketError` is yielded in its place and not shadowed. The candidate decides each
        shadowed ticket in the calling thread, at the batch's one `now`, as the ticket was when
        it was read, with the same `trace` setting (its trace is not compared), while the live
        decisions may come from `workers` processes. Records reach the sink, and `stats` count,
        as each live result is yielded.

        Raises:
            As `Engine.evaluate_many`, from the live engine only: the arguments are checked when
            this method is called.
        """
        moment = datetime.now(UTC) if now is None else now
        # The tickets read and not yet decided, oldest first. With workers the live engine reads
        # up to 2 chunks per worker ahead, so each is kept as it was read: an input reusing one
        # dict for every row must not give the candidate a later row.
        read: collections.deque[Ticket | Mapping[str, Any]] = collections.deque()
        ahead = workers != 1

        items = ticket_iterator(tickets)  # checked at the call, as the live engine checks it

        def reading() -> Iterator[Ticket | Mapping[str, Any]]:
            for ticket in items:
                read.append(_kept(ticket) if ahead else ticket)
                yield ticket

        results = self._live.evaluate_many(
            reading(), now=moment, workers=workers, trace=trace, chunk_size=chunk_size
        )
        return self._shadowing(results, read, trace=bool(trace))

    def _shadowing(
        self,
        results: Iterator[Decision | TicketError],
        read: collections.deque[Ticket | Mapping[str, Any]],
        *,
        trace: bool,
    ) -> Iterator[Decision | TicketError]:
        try:
            for result in results:
                ticket = read.popleft()
                if isinstance(result, Decision):
                    self._follow(ticket, result, trace=trace)
                yield result
        finally:
            close = getattr(results, "close", None)
            if close is not None:  # leaving early stops the live engine's workers now
                close()

    def _follow(self, ticket: Ticket | Mapping[str, Any], decision: Decision, *, trace: bool) -> None:
        """Count a live decision and shadow it if its ticket is sampled."""
        shadowed = _sampled(decision.ticket_id, self._sample) and self._shadow(ticket, decision, trace=trace)
        self._count(evaluations=1, shadowed=int(shadowed))

    def _shadow(self, ticket: Ticket | Mapping[str, Any], decision: Decision, *, trace: bool) -> bool:
        """Give the ticket to the candidate and the sink a record of any difference; False when
        the ShadowEngine was closed before the candidate could decide."""
        record: Divergence | ShadowFailure | None
        # The candidate gets the live decision's `evaluated_at`: `now` converted to UTC, the same instant.
        now = decision.trace.evaluated_at
        try:
            record = compare_decisions(decision, self._candidate_decision(ticket, now, trace=trace))
        except OSError:
            # The candidate decides in this thread without any I/O: an OSError is a signal
            # handler's (a request timeout: `TimeoutError`), not the candidate's, and goes on.
            raise
        except Exception as exc:  # a shadow failure must never reach the caller
            if self._live.closed and self._candidate.closed:
                # `close()` (a reload) came between the two decisions: the candidate is not at
                # fault, and a record would say it is.
                return False
            record = ShadowFailure(
                ticket_id=decision.ticket_id,
                evaluated_at=now,
                live_digest=self._live.policy_digest,
                candidate_digest=self._candidate.policy_digest,
                live_outcome=decision.outcome,
                live_required_role=decision.required_role,
                error_type=type(exc).__name__,
                code=_error_code(exc),
                message=_message(exc),
            )
        if record is None:
            return True
        if isinstance(record, Divergence):
            self._count(divergences=1)
        else:
            self._count(shadow_failures=1)
        try:
            self._sink(record)
        except Exception:  # nor may a failing sink
            self._count(sink_failures=1)
        return True

    def _candidate_decision(
        self, ticket: Ticket | Mapping[str, Any], now: datetime, *, trace: bool
    ) -> Decision:
        if trace:
            return self._candidate.evaluate(ticket, now=now)
        [result] = self._candidate.evaluate_many([ticket], now=now, trace=False)
        if isinstance(result, TicketError):
            raise result
        return result

    def _count(self, **increments: int) -> None:
        with self._lock:
            for name, value in increments.items():
                self._counts[name] += value


class JsonLinesSink:
    """A sink appending each record as one line of canonical JSON to a file.

    Thread-safe. The file is opened in append mode per record and the line written unbuffered in
    one `write` call, so nothing waits in a buffer, several processes may append to one file, and
    log rotation needs no restart. The file is created, or checked to be writable, when the sink
    is made.
    """

    def __init__(self, path: str | PathLike[str]) -> None:
        """Raises OSError when the file cannot be opened for appending."""
        # Absolute, for the same file after an `os.chdir`; `..` kept, as `open` reads it (a folder
        # on the way may be a link: `os.path.abspath` would drop `link/..` by text alone).
        self._path = Path.cwd() / path
        self._lock = threading.Lock()
        try:
            os.close(self._open())
        except ValueError as exc:  # a NUL in the path: no file can have that name
            raise OSError(f"cannot open {str(path)!r} for appending: {exc}") from None

    def _open(self) -> int:
        """The file opened for appending, created as `open(path, "ab")` creates it. A FIFO that no
        process reads is `OSError` (ENXIO), not a wait: the sink runs in the evaluating thread,
        and `open` would block it until a reader came. Writes then block as any pipe's do."""
        fd = os.open(self._path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NONBLOCK | os.O_CLOEXEC, 0o666)
        os.set_blocking(fd, True)
        return fd

    def __repr__(self) -> str:
        return f"JsonLinesSink({str(self._path)!r})"

    @property
    def path(self) -> Path:
        """The file records are appended to."""
        return self._path

    def __call__(self, record: Divergence | ShadowFailure) -> None:
        """Append one record as a line.

        Raises:
            TypeError: `record` is not a Divergence or a ShadowFailure.
        """
        if not isinstance(record, Divergence | ShadowFailure):
            raise TypeError(
                "JsonLinesSink takes a csrules.Divergence or csrules.ShadowFailure, "
                f"got {type(record).__name__}"
            )
        line = (record.to_json() + "\n").encode("utf-8")
        with self._lock, os.fdopen(self._open(), "ab", buffering=0) as handle:
            handle.write(line)


@overload
def load(paths: PolicyPaths | None = None, *, params: Mapping[str, object] | None = None) -> Engine: ...


@overload
def load(
    paths: PolicyPaths | None = None,
    *,
    params: Mapping[str, object] | None = None,
    shadow: PolicyPaths,
    shadow_params: Mapping[str, object] | None = None,
    sink: Sink,
    sample: float = 1.0,
) -> ShadowEngine: ...


def load(
    paths: PolicyPaths | None = None,
    *,
    params: Mapping[str, object] | None = None,
    shadow: PolicyPaths | None = None,
    shadow_params: Mapping[str, object] | None = None,
    sink: Sink | None = None,
    sample: float = 1.0,
) -> Engine | ShadowEngine:
    """Load, validate and compile a policy bundle; with `shadow`, also a candidate bundle.

    Args:
        paths: a directory of *.yaml files, a file, or a list of them (str or PathLike); the
            default bundle when omitted.
        params: overrides of the bundle's parameters, by name.
        shadow: the candidate bundle's paths. The result is then a `ShadowEngine` that returns
            the live decisions and sends divergences to `sink`.
        shadow_params: overrides of the candidate's parameters. The live `params` are not
            inherited: the candidate is exactly the bundle and overrides given here.
        sink: required with `shadow`: called with each Divergence and ShadowFailure.
        sample: with `shadow`, the share of tickets shadowed (by a hash of the ticket id).

    Raises:
        PolicyError: the live bundle, or the candidate, does not load (a candidate error carries
            the note "while loading the shadow candidate"). Nothing is returned half-loaded.
        TypeError: `sink` missing with `shadow`, or a shadow option given without `shadow`, or
            `sample` not a number (a bool is not).
        ValueError: `sample` outside 0 to 1, or NaN.
    """
    if shadow is None:
        # `sample` by type first: `!=` on a signaling Decimal NaN raises InvalidOperation.
        if sink is not None or shadow_params is not None or type(sample) not in (int, float) or sample != 1:
            raise TypeError("load(): `sink`, `shadow_params` and `sample` need `shadow`")
        return load_engine(paths, params=params)
    if sink is None:
        raise TypeError("load(): `shadow` needs a `sink` for the divergences")
    _check_options(sink, sample)  # before the slow part
    live = load_engine(paths, params=params)
    try:
        candidate = load_engine(shadow, params=shadow_params)
    except Exception as exc:
        exc.add_note("while loading the shadow candidate")
        raise
    return ShadowEngine(live, candidate, sink=sink, sample=sample)
