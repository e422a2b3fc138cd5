"""The public entry points: `load()` builds an `Engine`; `Engine.evaluate()` decides a ticket.

load:     paths -> load.load_documents -> validate.validate_bundle -> compile.compile_bundle -> Engine
evaluate: ticket -> ticket.parse_ticket -> evaluate.evaluate_rules -> combine.combine -> Decision
evaluate_many: tickets -> chunks -> the same, in this process or in worker processes -> results

An Engine is immutable and thread-safe. Loading never leaves a partly-applied state: a bad bundle
raises PolicyError and no Engine exists; a service keeps using the Engine it had.

Worker processes are started with `spawn`, never `fork`: a forked child would inherit the C
engine's state (and the locks of threads that do not exist in the child). Each worker rebuilds
the Engine from the paths and parameters `load()` recorded and checks it got the same digest.
"""

from __future__ import annotations

import collections
import copy
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from . import _durable
from ._collector import paused
from ._version import __version__
from .combine import combine
from .compile import CompiledBundle, compile_bundle
from .decision import Decision
from .errors import Diagnostic, EngineError, PolicyError, TicketError, one_line
from .evaluate import evaluate_rules, plan
from .policy import Bundle
from .ticket import Ticket, parse_ticket
from .trace import Trace
from .trace import record as construct
from .values import YEARS, in_utc, json_value, plain

if TYPE_CHECKING:
    from ._workers import Workers
    from .load import PolicyPaths
    from .verify import Verification

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "ENGINE_VERSION",
    "Engine",
    "default_policies",
    "from_portable",
    "load",
    "portable",
    "ticket_iterator",
]

ENGINE_VERSION = f"csrules {__version__}; {_durable.ENGINE_VERSION}"
MAX_WORKERS = 1024
"""The most worker processes `evaluate_many` starts (a typo of 10**20 must not fork-bomb the host)."""
DEFAULT_CHUNK_SIZE = 200
"""Tickets per task of `evaluate_many` with workers: large enough that the per-task cost of
pickling and inter-process queues is small next to ~0.1-0.5 ms per ticket, small enough that a
few chunks in flight stay a few hundred tickets."""


def default_policies() -> Path:
    """The directory of the default bundle: inside the installed wheel, or the repository's
    top-level `policies/` for an editable install."""
    packaged = Path(str(resources.files("csrules"))) / "policies"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "policies"


class Engine:
    """A loaded, validated and compiled policy bundle. Create it with `csrules.load()`."""

    def __init__(self, compiled: CompiledBundle) -> None:
        if not isinstance(compiled, CompiledBundle):
            raise TypeError(
                f"Engine(compiled): `compiled` must be a CompiledBundle, got {type(compiled).__name__}"
            )
        self._compiled = compiled
        self._closed = False
        self._portable: bytes | None = None  # `portable(self)`, made when workers first need it
        self._rulesets = _durable.rulesets_for(compiled.rulesets)
        try:
            self._rulesets.register()
        except EngineError as exc:
            diagnostic = Diagnostic("engine-limit", f"durable_rules cannot compile this bundle: {exc}", None)
            raise PolicyError([diagnostic]) from exc
        self._params = {name: json_value(value) for name, value in compiled.bundle.params.items()}
        self._plan = plan(compiled)

    def __repr__(self) -> str:
        bundle = self._compiled.bundle
        counts = f"{len(bundle.rules)} rules from {len(bundle.files)} files"
        closed = ", closed" if self._closed else ""
        return f"<csrules.Engine {counts}, policy {self.policy_digest[:12]}{closed}>"

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """End this Engine's use: later `evaluate`, `evaluate_many` and `verify` calls raise
        `EngineError("the engine is closed")`. Closing again does nothing.

        An evaluation already running finishes. The condition records kept for reuse, and the
        ticket values they show, are dropped. The read-only properties stay readable. The
        compiled durable_rules ruleset stays registered for the process (durable_rules cannot
        free one) and is reused by any later Engine with the same compiled ruleset, so a reload
        of an unchanged bundle costs no memory (docs/performance.md has the figures).
        """
        self._closed = True
        self._plan.interned.clear()  # the ticket values the reused condition records show
        self._portable = None

    @property
    def closed(self) -> bool:
        """True once `close()` was called."""
        return self._closed

    def _check_open(self) -> None:
        if self._closed:
            raise EngineError("the engine is closed")

    @property
    def policy_digest(self) -> str:
        """sha256 hex of the canonical bundle including effective parameters."""
        return self._compiled.digest

    @property
    def bundle(self) -> Bundle:
        """The validated bundle (rules in bundle order, parameters, derived facts)."""
        return self._compiled.bundle

    @property
    def params(self) -> dict[str, Any]:
        """The effective parameters (defaults with overrides)."""
        return dict(self._compiled.bundle.params)

    @property
    def ruleset(self) -> dict[str, Any]:
        """The compiled durable_rules rules (plain JSON data), for inspection and golden tests:
        every ruleset's rules in one mapping (`rulesets` keeps them apart). A copy: changing it
        changes nothing of the Engine's."""
        return copy.deepcopy(self._compiled.ruleset)

    @property
    def rulesets(self) -> list[dict[str, Any]]:
        """The compiled durable_rules rulesets: one per 1,000 rules (docs/engine.md). A copy."""
        return copy.deepcopy(list(self._compiled.rulesets))

    def verify(self, decision: Decision | str | bytes | Mapping[str, Any]) -> Verification:
        """Replay a recorded decision (its facts, at its `evaluated_at`) and compare: `identical`,
        `different` (with every differing field), or `policy-changed` (another policy digest).

        Raises:
            AuditError: `decision` is not a decision.
        """
        self._check_open()
        # verify.py replays with an Engine and imports this module: import it when asked.
        from .verify import verify  # noqa: PLC0415

        return verify(self, decision)

    def evaluate(self, ticket: Ticket | Mapping[str, Any], *, now: datetime | None = None) -> Decision:
        """Decide a ticket.

        Args:
            ticket: a `Ticket`, or a dict in Python or JSON form.
            now: the evaluation time, an aware datetime; defaults to the current UTC time. Due
                dates are computed from it; it is the only clock the evaluation reads.

        Raises:
            TicketError: the ticket is invalid (with a JSON pointer), its request currency is not
                the bundle's, or `now` is not an aware datetime.
            EngineError: durable_rules failed, or the engine is closed.
        """
        self._check_open()
        return self._decide(ticket, _now(now), trace=True)

    def evaluate_many(
        self,
        tickets: Iterable[Ticket | Mapping[str, Any]],
        *,
        now: datetime | None = None,
        workers: int = 1,
        trace: bool = True,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
    ) -> Iterator[Decision | TicketError]:
        """Decide many tickets: one result per ticket, in input order.

        The input is read lazily, a chunk at a time, so any iterable (a generator over a file,
        a database cursor) works in bounded memory. With one worker each result comes as soon as
        its ticket is decided; with N > 1 the first comes once 2 x N chunks are read (that many
        are kept in flight) or the input ends, then results come chunk by chunk. A bad ticket
        yields its `TicketError` in its place and the stream goes on; an `EngineError` ends it
        (raised from the iterator).

        Args:
            tickets: `Ticket`s or dicts, as for `evaluate`.
            now: the evaluation time for the whole batch; when omitted, the current UTC time,
                read once when this method is called, so every decision has the same `evaluated_at`.
            workers: 1 decides in this process (and thread); N > 1 in N worker processes
                (started with `spawn`, each rebuilding this Engine from its compiled bundle, not
                from the policy files); 0 means one per CPU this process may run on (its
                affinity, as `taskset` or a container's cpuset limit it).
            trace: False skips the trace's steps (durable_rules alone decides which rules fire;
                `trace.steps` is empty, `trace.fired` still lists the fired rules): faster
                (docs/performance.md). Outcome, required role, reasons, actions and follow-ups
                are the same.
            chunk_size: tickets per task sent to a worker process.

        Raises:
            EngineError: the engine is closed, durable_rules failed, or a worker process failed
                (could not rebuild this Engine, or died).
            TicketError: `now` is not an aware datetime.
            ValueError: `workers` is negative or `chunk_size` below 1.
            TypeError: `tickets` is not an iterable of tickets (a ticket or a mapping itself), or
                `trace` is not a bool.
        """
        self._check_open()
        moment = _now(now)
        if not isinstance(trace, bool):  # `trace="no"` would trace
            raise TypeError(f"evaluate_many(): `trace` must be a bool, got {type(trace).__name__}")
        if isinstance(workers, bool) or not isinstance(workers, int) or not 0 <= workers <= MAX_WORKERS:
            raise ValueError(
                f"evaluate_many(): `workers` must be an int from 0 to {MAX_WORKERS}, got {workers!r}"
            )
        if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
            raise ValueError(f"evaluate_many(): `chunk_size` must be an int >= 1, got {chunk_size!r}")
        items = ticket_iterator(tickets)
        count = workers or _usable_cpus()
        if count == 1:
            return self._in_process(items, moment, trace)
        return _in_workers(self, items, moment, workers=count, trace=bool(trace), chunk_size=chunk_size)

    def _in_process(
        self, tickets: Iterable[Ticket | Mapping[str, Any]], moment: datetime, trace: bool
    ) -> Iterator[Decision | TicketError]:
        for ticket in tickets:
            self._check_open()
            try:
                yield self._decide(ticket, moment, trace=trace)
            except TicketError as exc:
                yield exc

    def _decide(self, ticket: Ticket | Mapping[str, Any], moment: datetime, *, trace: bool) -> Decision:
        currency = self._compiled.bundle.currency
        facts = parse_ticket(ticket, currency)  # a request naming no currency is in the bundle's
        request = facts.request
        if request is not None and request.currency != currency:
            raise TicketError(
                "/request/currency",
                "currency-mismatch",
                f"`{currency}` (the bundle currency)",
                f'`"{request.currency}"`',  # as JSON, as every `got` (3 capital letters)
            )
        evaluation = evaluate_rules(
            self._compiled, self._rulesets, facts, moment, trace=trace, prepared=self._plan
        )
        combined = combine(evaluation.fired, facts.agent.role)
        # Every value below is already validated and normalised (the ticket by parse_ticket, the
        # rest by evaluate.py and combine.py): build the models without validating them again.
        record = construct(
            Trace,
            policy_digest=self._compiled.digest,
            engine_version=ENGINE_VERSION,
            evaluated_at=moment,
            facts=facts,
            params=dict(self._params),
            derived={name: json_value(value) for name, value in evaluation.derived.items()},
            fired=list(evaluation.order),
            steps=list(evaluation.steps),
        )
        return construct(
            Decision,
            ticket_id=facts.id,
            outcome=combined.outcome,
            required_role=combined.required_role,
            agent_role=facts.agent.role,
            reasons=combined.reasons,
            actions=combined.actions,
            follow_ups=combined.follow_ups,
            trace=record,
        )


# --- evaluate_many with worker processes --------------------------------------------------------

Result = tuple[str, Any]  # ("decision", Decision) | ("ticket-error", args) | ("engine-error", message)

_worker: Engine | str | None = None  # in a worker process: its Engine, or why it could not build one


def portable(engine: Engine) -> bytes:
    """`engine`'s compiled bundle as bytes a worker process rebuilds the same Engine from
    (`from_portable`): the bundle as the parent read, validated and compiled it, so a worker
    decides with exactly its rules and parameters even if the policy files changed since, and
    starts without reading, parsing or validating them again. Made once per Engine.

    Raises:
        EngineError: the engine is closed; or the bundle holds something that does not pickle
            (an Engine built by hand from a CompiledBundle of the caller's).
    """
    engine._check_open()
    found = engine._portable
    if found is None:
        import pickle  # noqa: PLC0415 - only workers need it, and it costs import time

        try:
            found = pickle.dumps(engine._compiled, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:  # PicklingError, TypeError, RecursionError...
            message = one_line(str(exc)) or type(exc).__name__
            raise EngineError(f"this Engine's bundle cannot be sent to worker processes: {message}") from None
        engine._portable = found
        if engine._closed:  # closed meanwhile, by another thread: keep nothing
            engine._portable = None
            engine._check_open()
    return found


def from_portable(data: bytes) -> Engine:
    """The Engine `portable` made `data` of, in a worker process. Only for bytes this process's
    parent made: unpickling runs what the bytes name."""
    import pickle  # noqa: PLC0415 - only workers need it, and it costs import time

    compiled: CompiledBundle = pickle.loads(data)  # our own parent's bundle (the docstring)
    return Engine(compiled)


def _worker_start(data: bytes) -> None:
    """Worker initializer (`_workers.Workers`): this worker's Engine, the parent's rebuilt."""
    global _worker  # noqa: PLW0603 - one Engine per worker process, set once by the pool
    try:
        _worker = from_portable(data)
    except Exception as exc:  # reported by the first answer, with this message
        _worker = f"a worker process could not rebuild the engine: {type(exc).__name__}: {exc}"


def _worker_run(task: tuple[bytes, datetime, bool]) -> bytes:
    """One chunk (`_transport.TicketChunk`, `now`, trace) in a worker: its results packed
    (_transport; a TicketError as its arguments, it does not pickle back whole)."""
    from ._transport import pack, unpack_tickets  # noqa: PLC0415 - only worker processes need it

    chunk, moment, trace = task
    if not isinstance(_worker, Engine):
        return pack([("engine-error", _worker or "the worker process has no engine")])
    tickets = unpack_tickets(chunk)
    results: list[Result] = []
    for ticket in tickets:
        try:
            decision = _worker._decide(ticket, moment, trace=trace)
        except TicketError as exc:
            results.append(("ticket-error", (exc.path, exc.code, exc.expected, exc.got)))
            continue
        except Exception as exc:  # EngineError or a bug: the parent raises it, ending the stream
            results.append(("engine-error", f"{type(exc).__name__} in a worker process: {exc}"))
            break
        results.append(("decision", decision))
    return pack(results)


@dataclass(frozen=True)
class _DecidedHere:
    """A ticket a worker might not rebuild, decided in this process when it was read (as one
    process would have decided it then), and its result or the EngineError to raise in its place."""

    results: list[Decision | TicketError]
    error: EngineError | None


def _decide_here(engine: Engine, ticket: Any, moment: datetime, trace: bool) -> _DecidedHere:
    try:
        return _DecidedHere(list(engine._in_process([ticket], moment, trace)), None)
    except EngineError as exc:
        return _DecidedHere([], exc)


def _in_workers(
    engine: Engine,
    tickets: Iterable[Any],
    moment: datetime,
    *,
    workers: int,
    trace: bool,
    chunk_size: int,
) -> Iterator[Decision | TicketError]:
    """`evaluate_many` with worker processes: the same results as in one process, in order.

    Each ticket is packed for a worker when it is read (`_transport.TicketChunk`); one holding
    something a worker might not rebuild (`_transport.Foreign`) is decided in this process when it
    is read. If reading the input fails, the tickets read before are decided, then the error is
    raised, as in one process; a closed Engine ends the stream at the next result.
    """
    # INVARIANT: at most 2 chunks per worker are submitted and not yet yielded: the input is read
    # only as fast as results are consumed. (`Pool.imap` would read the whole input at once.)
    # Imported here: only the bulk path with workers needs them, and they cost import time.
    from ._transport import Foreign, TicketChunk  # noqa: PLC0415
    from ._workers import Workers  # noqa: PLC0415

    data = portable(engine)  # EngineError (closed since the call, say) before any worker starts
    # Oldest first: None is the workers' next answer, in the order chunks were submitted.
    pending: collections.deque[_DecidedHere | None] = collections.deque()
    failure: Exception | None = None
    items = iter(tickets)
    with Workers(workers, _worker_run, _worker_start, (data,)) as pool:

        def send(chunk: TicketChunk) -> TicketChunk:
            if chunk.count:
                pool.submit((chunk.getvalue(), moment, trace))
                pending.append(None)
            return TicketChunk()

        chunk = TicketChunk()
        while True:
            try:
                ticket = next(items)
            except StopIteration:
                break
            except Exception as exc:  # the caller's iterable failed: what it gave is still decided
                failure = exc
                break
            try:
                chunk.add(ticket)
            except Foreign:  # decided here, now, in its place between the chunks around it
                chunk = send(chunk)
                pending.append(_decide_here(engine, ticket, moment, trace))
            else:
                if chunk.count == chunk_size:
                    chunk = send(chunk)
            while len(pending) >= 2 * workers:
                yield from _results(engine, pool, pending.popleft())
        send(chunk)
        while pending:
            yield from _results(engine, pool, pending.popleft())
    if failure is not None:
        raise failure


def _results(engine: Engine, pool: Workers, task: _DecidedHere | None) -> Iterator[Decision | TicketError]:
    if task is not None:
        for result in task.results:
            engine._check_open()
            yield result
        if task.error is not None:
            raise task.error
        return
    from ._transport import unpack  # noqa: PLC0415 - only the bulk path with workers needs it

    results: list[Result] = unpack(pool.result())  # EngineError: the worker died or failed
    for kind, payload in results:
        engine._check_open()
        if kind == "decision":
            yield payload
        elif kind == "ticket-error":
            yield TicketError(*payload)
        else:
            raise EngineError(payload)


def ticket_iterator(tickets: object) -> Iterator[Any]:
    """`iter(tickets)`, checked when `evaluate_many` is called rather than at its first result.

    Raises:
        TypeError: `tickets` is not iterable (a ticket itself, a mapping: pass a list of them).
    """
    if isinstance(tickets, Mapping | Ticket | str | bytes):  # iterable, but not of tickets
        raise TypeError(
            f"evaluate_many(): `tickets` must be an iterable of tickets (a list, a generator), "
            f"got one {type(tickets).__name__}: for a single ticket use evaluate()"
        )
    try:
        return iter(tickets)  # type: ignore[call-overload, no-any-return]
    except TypeError:
        raise TypeError(
            f"evaluate_many(): `tickets` must be an iterable of tickets, got {type(tickets).__name__}"
        ) from None


def _usable_cpus() -> int:
    """The CPUs this process may run on (its affinity: `taskset`, a container's cpuset)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):  # not on this platform
        return os.cpu_count() or 1


def _now(now: object) -> datetime:
    if now is None:
        return datetime.now(UTC)
    # None for a naive `now`, one out of range, or one whose tzinfo (of the caller's) fails.
    moment = in_utc(now) if isinstance(now, datetime) else None
    if moment is None:
        expected = f"`now` as an aware datetime (with a UTC offset) between {YEARS}"
        raise TicketError("", "invalid-now", expected, _shown_now(now))
    return moment


def _shown_now(now: object) -> str:
    try:
        if isinstance(now, datetime):  # as ISO text, by datetime's own method
            return f"`{datetime.isoformat(now)}`"
        return f"`{now!r}`"
    except Exception:  # a tzinfo whose repr raises
        return f"a {type(now).__name__}"


def load(paths: PolicyPaths | None = None, *, params: Mapping[str, object] | None = None) -> Engine:
    """Load, validate and compile a policy bundle.

    Args:
        paths: a directory of *.yaml files, a file, or a list of them (str or PathLike); the
            default bundle when omitted.
        params: overrides of the bundle's parameters, by name.

    Raises:
        PolicyError: with file, line and column of the first problem, and every problem in
            `.diagnostics`; or for an unknown parameter name or a value of the wrong type.
    """
    # Reading and validating policy files (PyYAML and the policy-document models) is imported on
    # the first load, not by `import csrules`: see docs/performance.md, "Import time".
    from .load import load_documents, policy_paths  # noqa: PLC0415
    from .validate import validate_bundle  # noqa: PLC0415

    given = policy_paths(default_policies() if paths is None else paths)  # a generator is read once
    overrides = _overrides(params)
    with paused():  # millions of objects for thousands of rules: the collector sees them once, after
        bundle = validate_bundle(load_documents(given), overrides)
        return Engine(compile_bundle(bundle))


def _overrides(params: object) -> dict[str, object] | None:
    """`params` as a dict of its own (read once), or a PolicyError saying why it is not one."""
    if params is None:
        return None
    if not isinstance(params, Mapping):
        got = type(params).__name__
        message = f"`params` must be a mapping of names to values, got {got}"
        raise PolicyError([Diagnostic("invalid-parameter-value", message, scope="params")])
    try:
        # Plain values: a `(str, Enum)` member or an IntEnum is read as its value, and none of a
        # subclass's own methods (`__str__`, comparisons) runs while the bundle is validated.
        read: dict[Any, object] = {plain(name): plain(value) for name, value in dict(params).items()}
        return read  # names that are not strings are refused by validation, by name
    except Exception as exc:  # a mapping of the caller's whose iteration fails
        message = f"`params` could not be read: {one_line(str(exc)) or type(exc).__name__}"
        raise PolicyError([Diagnostic("invalid-parameter-value", message, scope="params")]) from None
