"""Engine behaviour: determinism, `now`, the trace's header, threads, and the session lifecycle."""

from __future__ import annotations

import decimal
import enum
import gc
import inspect
import itertools
import json
import multiprocessing
import resource
import shutil
import sys
import threading
import types
import weakref
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from pydantic import BaseModel
from pydantic_core import PydanticSerializationError

import csrules
from csrules import _durable
from csrules.engine import ENGINE_VERSION
from csrules.testing.strategies import tickets
from tests.helpers import NOW, ROOT, make_ticket, refund, unrebuildable


def test_same_input_gives_byte_identical_json(engine: csrules.Engine) -> None:
    ticket = refund("45.00", tier="loyal")
    first = engine.evaluate(ticket, now=NOW).to_json()
    assert engine.evaluate(ticket, now=NOW).to_json() == first
    assert csrules.load().evaluate(ticket, now=NOW).to_json() == first


def test_now_in_another_offset_is_normalised_to_utc(engine: csrules.Engine) -> None:
    eastern = NOW.astimezone(timezone(timedelta(hours=-5)))
    assert (
        engine.evaluate(refund("5"), now=eastern).to_json() == engine.evaluate(refund("5"), now=NOW).to_json()
    )


def test_now_defaults_to_the_current_utc_time(engine: csrules.Engine) -> None:
    before = datetime.now(UTC)
    evaluated = engine.evaluate(refund("5")).trace.evaluated_at
    assert before <= evaluated <= datetime.now(UTC)
    assert evaluated.utcoffset() == timedelta(0)


@pytest.mark.parametrize("now", [datetime(2026, 11, 23, 15, 0), "2026-11-23T15:00:00Z", 0])
def test_naive_or_non_datetime_now_is_refused(engine: csrules.Engine, now: Any) -> None:
    with pytest.raises(csrules.TicketError) as info:
        engine.evaluate(refund("5"), now=now)
    assert info.value.code == "invalid-now"


def test_trace_header_names_the_policy_version_and_inputs(engine: csrules.Engine) -> None:
    decision = engine.evaluate(refund("45.00", tier="loyal"), now=NOW)
    trace = decision.trace
    assert trace.policy_digest == engine.policy_digest
    assert len(trace.policy_digest) == 64
    assert trace.engine_version == ENGINE_VERSION
    assert trace.evaluated_at == NOW
    assert trace.params["front_line_limit"] == 20
    assert trace.facts.id == "T-1"
    assert [s.rule for s in trace.steps] == [r.id for r in engine.bundle.rules]
    assert trace.step("high_value_customer").source == "policies/empowerment.yaml:40"


def test_digest_depends_on_parameters_not_on_file_location(tmp_path: Any) -> None:
    copy = tmp_path / "policies"
    shutil.copytree(ROOT / "policies", copy)
    assert csrules.load(copy).policy_digest == csrules.load().policy_digest
    assert csrules.load(params={"senior_limit": 60}).policy_digest != csrules.load().policy_digest


def test_bundles_of_one_digest_give_the_same_decisions(tmp_path: Any) -> None:
    """`when` written as a list or as a mapping is the same rule but another `where` in the
    trace: the two had one digest, so an honest decision replayed under the other was
    `different` ("the record was altered")."""
    rule = "rules:\n  - id: r\n    description: d\n    rationale: r\n    when:{}\n    then: {{deny: true}}\n"
    as_list = tmp_path / "list"
    as_mapping = tmp_path / "mapping"
    as_list.mkdir(), as_mapping.mkdir()
    (as_list / "p.yaml").write_text(
        rule.format("\n      - request.kind: refund\n      - request.amount: {gt: 5}")
    )
    (as_mapping / "p.yaml").write_text(
        rule.format("\n      request.kind: refund\n      request.amount: {gt: 5}")
    )
    listed, mapped = csrules.load(as_list), csrules.load(as_mapping)
    one, other = listed.evaluate(refund("9"), now=NOW), mapped.evaluate(refund("9"), now=NOW)
    assert [c.where for c in one.trace.steps[0].conditions] == [
        "when[0].request.kind",
        "when[1].request.amount",
    ]
    assert [c.where for c in other.trace.steps[0].conditions] == ["when.request.kind", "when.request.amount"]
    assert listed.policy_digest != mapped.policy_digest
    assert listed.verify(one).ok
    assert mapped.verify(other).ok
    assert mapped.verify(one).status == "policy-changed"


def test_bad_bundle_leaves_no_engine_and_the_old_one_keeps_working(
    engine: csrules.Engine, tmp_path: Any
) -> None:
    (tmp_path / "bad.yaml").write_text("rules: [", encoding="utf-8")
    with pytest.raises(csrules.PolicyError):
        csrules.load(tmp_path)
    assert engine.evaluate(refund("20.01"), now=NOW).required_role == "senior"


def test_more_evaluations_than_durable_rules_has_state_slots(engine: csrules.Engine) -> None:
    """durable_rules holds at most 1024 live sessions per ruleset; each evaluation frees its own."""
    quiet = make_ticket()  # fires no rule of the bundle: only the stage barriers run
    for _ in range(3000):
        assert engine.evaluate(quiet, now=NOW).trace.fired == []
    assert engine.evaluate(refund("20.01"), now=NOW).required_role == "senior"


def test_threads_get_exactly_the_sequential_results(engine: csrules.Engine) -> None:
    tickets = [
        {**refund(f"{amount}.{cents:02d}", tier=tier), "id": f"T-{i}", "severity": severity}
        for i, (amount, cents, tier, severity) in enumerate(
            (a, c, t, s)
            for a in (5, 20, 50, 100, 250)
            for c in (0, 1)
            for t in ("one_time", "loyal")
            for s in ("low", "urgent")
        )
    ]
    expected = [engine.evaluate(t, now=NOW).to_json() for t in tickets]
    results: dict[int, list[str]] = {}
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            results[n] = [engine.evaluate(t, now=NOW).to_json() for t in tickets * 10]
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert all(results[n] == expected * 10 for n in range(8))


def test_resident_memory_stays_flat_over_many_evaluations(engine: csrules.Engine) -> None:
    """A small-scale version of benchmarks/soak.py (1,000,000 evaluations)."""
    tickets = [refund("45.00", tier="loyal"), make_ticket(), refund("150.00", abusive=True)]
    for _ in range(2000):  # warm up caches and allocator pools
        for ticket in tickets:
            engine.evaluate(ticket, now=NOW)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for _ in range(6000):
        for ticket in tickets:
            engine.evaluate(ticket, now=NOW)
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert grown_kib < 4096, f"peak RSS grew by {grown_kib} KiB over 18,000 evaluations"


def test_loading_the_same_bundle_again_reuses_the_registered_ruleset() -> None:
    first = csrules.load()
    count = len(_durable._cache)
    for _ in range(20):
        csrules.load()
    assert len(_durable._cache) == count
    assert csrules.load().ruleset == first.ruleset


def test_repr_names_the_bundle(engine: csrules.Engine) -> None:
    assert repr(engine) == f"<csrules.Engine 17 rules from 5 files, policy {engine.policy_digest[:12]}>"


# --- close() and the context manager --------------------------------------------------------------


def test_a_closed_engine_refuses_to_evaluate_and_closing_twice_is_harmless() -> None:
    engine = csrules.load()
    engine.close()
    engine.close()
    assert engine.closed
    with pytest.raises(csrules.EngineError, match="the engine is closed"):
        engine.evaluate(refund("5"), now=NOW)
    with pytest.raises(csrules.EngineError, match="the engine is closed"):
        engine.evaluate_many([refund("5")], now=NOW)
    assert len(engine.policy_digest) == 64  # the read-only properties stay readable
    assert repr(engine).endswith(", closed>")


def test_with_load_closes_the_engine_and_other_engines_of_the_bundle_keep_working(
    engine: csrules.Engine,
) -> None:
    with csrules.load() as scoped:
        assert scoped.evaluate(refund("20.01"), now=NOW).required_role == "senior"
    assert scoped.closed
    assert engine.evaluate(refund("20.01"), now=NOW).required_role == "senior"  # same ruleset, shared


def test_bundles_compiling_to_the_same_ruleset_share_one_registration(tmp_path: Any) -> None:
    """A rationale is in the policy digest but not in the durable_rules ruleset."""
    copy = tmp_path / "policies"
    shutil.copytree(ROOT / "policies", copy)
    conduct = copy / "conduct.yaml"
    conduct.write_text(conduct.read_text(encoding="utf-8").replace("tolerate abuse", "put up with abuse"))
    default = csrules.load()
    count = len(_durable._cache)
    edited = csrules.load(copy)
    assert edited.policy_digest != default.policy_digest
    assert edited.ruleset == default.ruleset
    assert len(_durable._cache) == count


def test_other_parameter_values_share_one_registration() -> None:
    """Comparisons with parameters are sent as differences: the ruleset holds no parameter value,
    so a reload with new limits registers nothing new (docs/performance.md)."""
    default = csrules.load()
    count = len(_durable._cache)
    for limit in ("20.01", "25", "35.50", "49.99"):
        raised = csrules.load(params={"front_line_limit": limit, "supervisor_limit": 150})
        assert raised.ruleset == default.ruleset
        assert raised.policy_digest != default.policy_digest
        # ...and decides with its own limits: at the limit approve, one cent above escalate.
        at = raised.evaluate(refund(limit), now=NOW)
        above = raised.evaluate(refund(str(Decimal(limit) + Decimal("0.01"))), now=NOW)
        assert (at.outcome, above.outcome) == ("approve", "escalate")
        assert raised.evaluate(refund("150.00", role="supervisor"), now=NOW).outcome == "approve"
        assert raised.evaluate(refund("150.01", role="supervisor"), now=NOW).outcome == "escalate"
    assert len(_durable._cache) == count


# --- evaluate_many ----------------------------------------------------------------------------------


def _batch() -> list[dict[str, Any]]:
    tickets: list[dict[str, Any]] = [
        {**refund(f"{amount}.00", tier=tier), "id": f"T-{amount}-{tier}"}
        for amount in (5, 20, 21, 50, 51, 100, 101, 400)
        for tier in ("one_time", "loyal")
    ]
    tickets.insert(3, make_ticket(id="Q-1"))  # fires no rule
    tickets.insert(7, {"id": "bad", "agent": {"id": "A", "role": "front_line"}})  # no customer
    tickets.insert(11, refund("not money"))
    return tickets


def _outcome(engine: csrules.Engine, ticket: dict[str, Any]) -> tuple[str, str]:
    """("decision", its JSON) or ("error", path, code and message of its TicketError)."""
    try:
        return ("decision", engine.evaluate(ticket, now=NOW).to_json())
    except csrules.TicketError as exc:
        return ("error", f"{exc.path} {exc.code} {exc}")


def _shown(result: csrules.Decision | csrules.TicketError) -> tuple[str, str]:
    if isinstance(result, csrules.Decision):
        return ("decision", result.to_json())
    return ("error", f"{result.path} {result.code} {result}")


def test_evaluate_many_gives_evaluate_results_in_order_and_ticket_errors_in_place(
    engine: csrules.Engine,
) -> None:
    tickets = _batch()
    results = [_shown(r) for r in engine.evaluate_many(tickets, now=NOW)]
    assert results == [_outcome(engine, t) for t in tickets]
    assert [kind for kind, _ in results].count("error") == 2


def test_evaluate_many_reads_the_input_lazily(engine: csrules.Engine) -> None:
    taken: list[int] = []

    def source() -> Any:
        for n in range(1_000_000):
            taken.append(n)
            yield refund("5")

    results = engine.evaluate_many(source(), now=NOW)
    assert taken == []  # nothing read before the first result is asked for
    for _ in range(3):
        next(results)
    assert len(taken) == 3


def test_evaluate_many_reads_the_clock_once_for_the_batch(engine: csrules.Engine) -> None:
    results = list(engine.evaluate_many([refund("5")] * 50))
    assert len({d.trace.evaluated_at for d in results if isinstance(d, csrules.Decision)}) == 1


@given(ticket=tickets())
@settings(max_examples=60)
def test_untraced_decisions_are_the_traced_ones_without_steps(ticket: dict[str, Any]) -> None:
    """trace=False lets durable_rules alone decide; everything but `steps` must be the same."""
    engine = _ENGINE
    traced = engine.evaluate(ticket, now=NOW)
    [untraced] = engine.evaluate_many([ticket], now=NOW, trace=False)
    assert isinstance(untraced, csrules.Decision)
    assert untraced.trace.steps == []
    expected = traced.model_copy(update={"trace": traced.trace.model_copy(update={"steps": []})})
    assert untraced.to_json() == expected.to_json()


_ENGINE = csrules.load()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"workers": -1}, "`workers` must be an int from 0 to 1024"),
        ({"workers": 1.5}, "`workers` must be an int from 0 to 1024"),
        ({"workers": 10**20}, "`workers` must be an int from 0 to 1024"),
        ({"chunk_size": 0}, "`chunk_size` must be an int >= 1"),
    ],
)
def test_evaluate_many_refuses_bad_options_at_the_call(
    engine: csrules.Engine, options: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        engine.evaluate_many([], **options)


def test_workers_rebuild_an_engine_made_without_load(engine: csrules.Engine) -> None:
    """Workers loaded the paths `load()` recorded: an Engine made from a compiled bundle had
    none, and `workers=2` was a ValueError."""
    handmade = csrules.Engine(engine._compiled)
    tickets = [refund("5"), refund("45.00")]
    remote = list(handmade.evaluate_many(tickets, now=NOW, workers=2, chunk_size=1))
    assert remote == [engine.evaluate(t, now=NOW) for t in tickets]
    assert [d.outcome for d in remote] == ["approve", "escalate"]  # type: ignore[union-attr]


def test_an_engine_closed_before_its_batch_starts_starts_no_worker(
    engine: csrules.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stream checked the Engine only after pickling its bundle (kept on the closed Engine)
    and starting the workers: about a second, and the pickle, for nothing."""
    started: list[int] = []
    monkeypatch.setattr("csrules._workers.Workers.__init__", lambda self, count, *args: started.append(count))
    handmade = csrules.Engine(engine._compiled)
    batch = handmade.evaluate_many([refund("5")] * 3, now=NOW, workers=2)
    handmade.close()
    with pytest.raises(csrules.EngineError, match=r"^the engine is closed$"):
        next(batch)
    assert started == []
    assert handmade._portable is None  # no pickle kept by a closed Engine


def test_a_worker_that_cannot_rebuild_the_engine_ends_the_stream_with_engine_error(
    engine: csrules.Engine,
) -> None:
    with pytest.raises(csrules.EngineError) as caught:
        list(unrebuildable(engine).evaluate_many([refund("5")] * 3, now=NOW, workers=2))
    assert str(caught.value) == (
        "a worker process could not rebuild the engine: RuntimeError: not rebuilt in another process"
    )
    assert multiprocessing.active_children() == []


def test_workers_refuse_a_handmade_bundle_that_does_not_pickle_before_any_starts(
    engine: csrules.Engine,
) -> None:
    import dataclasses  # noqa: PLC0415

    compiled = dataclasses.replace(
        engine._compiled, rules_by_id={**engine._compiled.rules_by_id, "x": lambda: 0}
    )
    handmade = csrules.Engine(compiled)
    with pytest.raises(csrules.EngineError) as caught:
        list(handmade.evaluate_many([refund("5")], now=NOW, workers=2))
    assert str(caught.value).startswith("this Engine's bundle cannot be sent to worker processes: ")
    assert multiprocessing.active_children() == []
    assert [d.outcome for d in handmade.evaluate_many([refund("5")], now=NOW)] == ["approve"]  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("tickets", "got"),
    [(None, "got NoneType"), (5, "got int"), (refund("5"), "got one dict"), ("T-1", "got one str")],
)
def test_evaluate_many_checks_its_tickets_at_the_call(engine: csrules.Engine, tickets: Any, got: str) -> None:
    """None raised a bare TypeError at the first `next()`; a ticket given alone was iterated
    (its keys decided as tickets: one TicketError per key)."""
    with pytest.raises(
        TypeError, match=rf"^evaluate_many\(\): `tickets` must be an iterable of tickets.*, {got}"
    ):
        engine.evaluate_many(tickets, now=NOW)
    ticket = csrules.Ticket.model_validate(refund("5"))
    with pytest.raises(TypeError, match="got one Ticket: for a single ticket use evaluate"):
        engine.evaluate_many(ticket, now=NOW)  # type: ignore[arg-type]


@pytest.mark.parametrize(("cpus", "local"), [({0}, True), ({0, 1}, False)])
def test_workers_0_means_the_cpus_this_process_may_run_on(
    engine: csrules.Engine, monkeypatch: pytest.MonkeyPatch, cpus: set[int], local: bool
) -> None:
    """It was `os.cpu_count()`, the host's: under `taskset -c 0` on two CPUs, two workers."""
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: cpus)
    started: list[int] = []
    real = csrules.engine._in_workers

    def spy(*args: Any, **options: Any) -> Any:
        started.append(options["workers"])
        return real(*args, **options)

    monkeypatch.setattr(csrules.engine, "_in_workers", spy)
    assert [d.ticket_id for d in engine.evaluate_many([refund("5")], now=NOW, workers=0)] == ["T-1"]
    assert started == ([] if local else [2])


@pytest.mark.parametrize("trace", [True, False])
def test_worker_processes_give_byte_identical_results_in_order(engine: csrules.Engine, trace: bool) -> None:
    """Decisions cross processes as their records (csrules._transport): equal models, the same
    JSON in the same field order, the same fields set; bad tickets stay in place."""
    tickets = _batch() * 3
    local = list(engine.evaluate_many(tickets, now=NOW, trace=trace))
    remote = list(engine.evaluate_many(tickets, now=NOW, trace=trace, workers=2, chunk_size=7))
    assert [_shown(r) for r in remote] == [_shown(r) for r in local]
    assert [kind for kind, _ in map(_shown, remote)].count("error") == 6
    decisions = [(a, b) for a, b in zip(local, remote, strict=True) if isinstance(a, csrules.Decision)]
    assert len(decisions) == 51
    for mine, theirs in decisions:
        assert isinstance(theirs, csrules.Decision)
        assert theirs == mine
        assert theirs.model_dump_json() == mine.model_dump_json()
        # The same fields set, down to the ticket's defaults: `exclude_unset` dumps agree too.
        assert theirs.model_dump(exclude_unset=True) == mine.model_dump(exclude_unset=True)
        assert theirs.trace.facts.model_fields_set == mine.trace.facts.model_fields_set


class _Text(str):
    """A str subclass: it may not unpickle in a worker (one defined in `__main__` broke the pool)."""


@pytest.mark.parametrize(
    ("odd", "kinds"),
    [
        (lambda: 1, ["error", "error"]),
        (_Text("x"), ["decision", "error"]),  # a str is a valid attribute, not an opened_at
        (threading.Lock(), ["error", "error"]),
        (datetime(2026, 11, 23, 9, 0, tzinfo=ZoneInfo("Europe/Paris")), ["error", "decision"]),
    ],
    ids=["lambda", "str-subclass", "lock", "zoneinfo"],
)
def test_a_ticket_workers_cannot_take_is_decided_here_and_the_stream_goes_on(
    engine: csrules.Engine, odd: object, kinds: list[str]
) -> None:
    """It ended the whole stream with EngineError("a worker process failed: Can't pickle ...")."""
    tickets = [
        refund("5"),
        {**refund("5"), "attributes": {"x": odd}},
        {**refund("45"), "opened_at": odd},
        refund("25"),
    ]
    local = [_shown(r) for r in engine.evaluate_many(tickets, now=NOW)]
    remote = [_shown(r) for r in engine.evaluate_many(tickets, now=NOW, workers=2, chunk_size=1)]
    assert remote == local
    assert [kind for kind, _ in local] == ["decision", *kinds, "decision"]


def test_a_refused_set_reads_alike_in_every_process(engine: csrules.Engine) -> None:
    """A set was shown in its order of iteration, which follows each process's string hashes: a
    worker's TicketError read otherwise than the caller's."""
    names = {"alpha", "beta", "gamma", "delta", "eps", "zeta", "eta"}
    tickets = [
        {**refund("5"), "attributes": {"labels": set(names)}},
        {**refund("5"), "customer": {"id": "C-1", "tier": frozenset(names)}},
        {**refund("5"), "attributes": {"labels": [1, {"b", "a"}, ("c",)]}},
        {**refund("5"), "attributes": {frozenset({"b", "a", "c"}): 1}},  # a key
    ]
    shown = "'alpha', 'beta', 'delta', 'eps', 'eta', 'gamma', 'zeta'"
    local = list(engine.evaluate_many(tickets, now=NOW))
    remote = engine.evaluate_many(tickets, now=NOW, workers=2, chunk_size=1)
    assert [_shown(r) for r in remote] == [_shown(r) for r in local]
    assert [e.got for e in local if isinstance(e, csrules.TicketError)] == [
        f"`{{{shown}}}`",
        f"`frozenset({{{shown[:46]}...`",
        "`[1, {'a', 'b'}, ('c',)]`",
        "the key `frozenset({'a', 'b', 'c'})`",
    ]


@pytest.mark.parametrize("module", ["datetime_ext", "decimalfp", "copyreg_plus"])
def test_a_module_named_like_a_standard_one_is_not_taken_for_it(
    engine: csrules.Engine, module: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A name that only began with `datetime` or `decimal` passed for a module every worker can
    import: the worker could not rebuild the value, and the whole stream ended with EngineError."""
    plugin = types.ModuleType(module)  # loaded here from a file, say: a worker cannot import it
    plugin.Label = type("Label", (str,), {"__module__": module})  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, module, plugin)
    tickets = [refund("5"), {**refund("5"), "attributes": {"label": plugin.Label("vip")}}, refund("45")]
    local = [_shown(r) for r in engine.evaluate_many(tickets, now=NOW)]
    remote = [_shown(r) for r in engine.evaluate_many(tickets, now=NOW, workers=2, chunk_size=1)]
    assert remote == local
    assert [kind for kind, _ in local] == ["decision"] * 3


@pytest.mark.parametrize(
    "amounts", [("5", "25", "45"), ("5", "25", "45", "65")], ids=["mid-chunk", "at-a-boundary"]
)
def test_a_failing_input_still_yields_what_it_gave_before_then_raises(
    engine: csrules.Engine, amounts: tuple[str, ...]
) -> None:
    def tickets() -> Iterator[dict[str, Any]]:
        for amount in amounts:
            yield refund(amount)
        raise OSError("the corpus disk went away")

    for workers in (1, 2):
        stream = engine.evaluate_many(tickets(), now=NOW, workers=workers, chunk_size=2)
        got = [next(stream) for _ in amounts]
        with pytest.raises(OSError, match="the corpus disk went away"):
            next(stream)
        assert [_shown(r) for r in got] == [_outcome(engine, refund(a)) for a in amounts], workers


def test_tickets_sharing_objects_or_differing_in_key_order_reach_workers_whole(
    engine: csrules.Engine,
) -> None:
    """A chunk's tickets were read with one unpickler while each was pickled with a fresh memo,
    so a ticket's second use of one object (an amount string filling two fields) resolved to an
    object of the ticket before it: T-2 was decided on T-1's 5.00 and approved, or a ticket whose
    keys came in another order got another ticket's fields (an unknown-field TicketError)."""

    def shared(ticket_id: str, amount: str) -> dict[str, Any]:
        ticket = refund(amount, lifetime_value=amount)
        ticket["id"] = ticket_id
        return ticket

    reordered = json.loads(json.dumps(refund("5.00")))
    reordered = {key: reordered[key] for key in reversed(list(reordered))}
    reordered["customer"] = {key: reordered["customer"][key] for key in reversed(list(reordered["customer"]))}
    tickets = [
        shared("T-1", "5.00"),
        shared("T-2", "500.00"),
        refund("7.00"),
        reordered,
        shared("T-3", "45.00"),
    ]
    local = [_shown(r) for r in engine.evaluate_many(tickets, now=NOW)]
    remote = [_shown(r) for r in engine.evaluate_many(tickets, now=NOW, workers=2, chunk_size=5)]
    assert remote == local
    decided = [csrules.Decision.model_validate_json(text) for _, text in remote]
    assert [(d.ticket_id, str(d.trace.facts.request.amount), d.outcome) for d in decided] == [
        ("T-1", "5.00", "approve"),
        ("T-2", "500.00", "escalate"),
        ("T-1", "7.00", "approve"),
        ("T-1", "5.00", "approve"),
        ("T-3", "45.00", "escalate"),
    ]


def test_an_input_that_reuses_one_dict_per_row_gives_its_rows_with_workers(engine: csrules.Engine) -> None:
    """A chunk was pickled once full, so a row-recycling iterator (some database cursors) sent
    its last row N times: T-2, T-2, T-2 instead of T-0, T-1, T-2. Each ticket is now taken as it
    was when read, as one process decides it, also one decided here (a str subclass in it)."""

    def rows(odd_at: int | None) -> Iterator[dict[str, Any]]:
        row = refund("0")
        for i in range(7):
            row["id"] = f"T-{i}"
            row["request"] = {"kind": "refund", "amount": "10.00" if i % 2 == 0 else "90.00"}
            row["attributes"] = {"x": _Text("y")} if i == odd_at else {}
            yield row

    for odd_at in (None, 4):
        local = [_shown(r) for r in engine.evaluate_many(rows(odd_at), now=NOW)]
        remote = [_shown(r) for r in engine.evaluate_many(rows(odd_at), now=NOW, workers=2, chunk_size=3)]
        assert remote == local
        decided = [csrules.Decision.model_validate_json(text) for _, text in remote]
        assert [(d.ticket_id, d.outcome) for d in decided] == [
            (f"T-{i}", "approve" if i % 2 == 0 else "escalate") for i in range(7)
        ]


@pytest.mark.parametrize(
    "context",
    [
        {"prec": 2},
        {"Emax": 3},
        {"prec": 6, "traps": [decimal.Rounded, decimal.Inexact]},
        {"rounding": decimal.ROUND_DOWN, "prec": 3, "traps": []},
    ],
    ids=["prec-2", "emax-3", "traps-rounded", "round-down-untrapped"],
)
def test_the_callers_decimal_context_changes_nothing(context: dict[str, Any], tmp_path: Any) -> None:
    """csrules' Decimal work ran in the calling thread's context: under prec=2 a valid ticket
    was refused and the default bundle failed to load; Emax=3 let decimal.Overflow escape; and
    workers (a fresh context) decided what the calling process refused."""
    engine = csrules.load()
    whole = make_ticket(request={"kind": "refund", "amount": 1234})  # an int amount
    tickets = [refund("5"), refund("1234.56"), refund("45.67", tier="loyal"), refund("20.001"), whole]
    expected = [_shown(r) for r in engine.evaluate_many(tickets, now=NOW)]
    explained = engine.evaluate(tickets[2], now=NOW).explain()
    # Numbers of a policy's own, and the static analysis (its parameters nudged by a cent).
    policy = tmp_path / "p.yaml"
    policy.write_text(
        "rules:\n  - id: r\n    description: d\n    rationale: r\n"
        "    when: [{attributes.score: {gt: 123456.5}}, {attributes.big: {lt: 9.0071E15}}]\n    then: {deny: true}\n",
        encoding="utf-8",
    )
    too_big = tmp_path / "q.yaml"
    too_big.write_text(policy.read_text(encoding="utf-8").replace("9.0071E15", "9.0072E15"), encoding="utf-8")
    custom = csrules.load(policy)
    warnings = [w.message for w in csrules.analyze(engine)]
    with decimal.localcontext(**context):
        assert csrules.load(policy).policy_digest == custom.policy_digest
        with pytest.raises(csrules.PolicyError, match="2\\*\\*53"):  # above 2**53: refused here too
            csrules.load(too_big)
        assert [w.message for w in csrules.analyze(engine)] == warnings
        assert csrules.load().policy_digest == engine.policy_digest
        assert [_outcome(engine, t) for t in tickets] == expected
        assert [_shown(r) for r in engine.evaluate_many(tickets, now=NOW, workers=2)] == expected
        assert engine.evaluate(tickets[2], now=NOW).explain() == explained
    assert [kind for kind, _ in expected] == ["decision", "decision", "decision", "error", "decision"]
    assert "45.67" in explained


def test_closing_the_engine_ends_a_stream_with_workers_as_in_one_process() -> None:
    engine = csrules.load()
    for workers in (1, 2):
        stream = engine.evaluate_many([refund("5")] * 4, now=NOW, workers=workers, chunk_size=1)
        first = next(stream)
        assert isinstance(first, csrules.Decision)
        engine.close()
        with pytest.raises(csrules.EngineError, match="the engine is closed"):
            next(stream)
        stream.close()
        engine = csrules.load()


def test_worker_processes_rebuild_an_engine_with_parameters_from_another_directory(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    copy = tmp_path / "policies"
    shutil.copytree(ROOT / "policies", copy)
    monkeypatch.chdir(tmp_path)
    engine = csrules.load("policies", params={"front_line_limit": 30})
    monkeypatch.chdir(ROOT)  # relative paths were made absolute at load()
    tickets = [refund("25.00"), refund("35.00")]
    got = [_shown(r) for r in engine.evaluate_many(tickets, now=NOW, workers=2, chunk_size=1)]
    assert got == [_outcome(engine, t) for t in tickets]
    assert json.loads(got[0][1])["outcome"] == "approve"


def test_workers_decide_with_the_bundle_loaded_even_after_its_files_changed(tmp_path: Any) -> None:
    """Workers loaded the policy files again, and the stream failed with "the policy files
    changed since load()": a service whose policies/ was updated on disk could not use workers
    until it reloaded. They now rebuild the parent's compiled bundle."""
    copy = tmp_path / "policies"
    shutil.copytree(ROOT / "policies", copy)
    engine = csrules.load(copy)
    empowerment = copy / "empowerment.yaml"
    text = empowerment.read_text(encoding="utf-8")
    limit = "front_line_limit:\n    type: money\n    default: 20\n"
    assert limit in text
    empowerment.write_text(text.replace(limit, limit.replace("20", "90")), encoding="utf-8")
    assert csrules.load(copy).evaluate(refund("45.00"), now=NOW).outcome == "approve"  # the files now say
    tickets = [refund("45.00"), refund("5.00")]
    remote = list(engine.evaluate_many(tickets, now=NOW, workers=2, chunk_size=1))
    assert remote == [engine.evaluate(t, now=NOW) for t in tickets]
    assert [d.outcome for d in remote] == ["escalate", "approve"]  # type: ignore[union-attr]
    assert {d.trace.policy_digest for d in remote} == {engine.policy_digest}  # type: ignore[union-attr]
    empowerment.unlink()  # no file to read at all: the same
    (again,) = engine.evaluate_many([refund("45.00")], now=NOW, workers=2)
    assert again == remote[0]


def test_a_worker_killed_while_the_consumer_is_busy_ends_the_stream_with_engine_error(
    engine: csrules.Engine,
) -> None:
    """The next `submit` raised concurrent.futures' BrokenProcessPool, which escaped unwrapped."""
    import multiprocessing  # noqa: PLC0415
    import os  # noqa: PLC0415
    import signal  # noqa: PLC0415
    import time  # noqa: PLC0415

    decided = 0

    def consume() -> None:
        nonlocal decided
        for _ in engine.evaluate_many(
            (refund("5") for _ in itertools.count()), now=NOW, workers=2, chunk_size=20
        ):
            decided += 1
            if decided == 100:
                worker = multiprocessing.active_children()[0]
                os.kill(worker.pid, signal.SIGKILL)  # type: ignore[arg-type]
                time.sleep(1)  # the consumer is busy: the pool breaks before the next submit

    with pytest.raises(csrules.EngineError, match=r"^a worker process failed"):
        consume()
    assert decided >= 100


_EMFILE = """
import multiprocessing, resource
from datetime import datetime, timezone
import csrules

NOW = datetime(2026, 11, 23, 15, tzinfo=timezone.utc)
ticket = {"id": "T", "customer": {"id": "C-1"}, "agent": {"id": "A-1", "role": "front_line"},
          "request": {"kind": "refund", "amount": "45.00"}}

if __name__ == "__main__":
    engine = csrules.load()
    resource.setrlimit(resource.RLIMIT_NOFILE, (64, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
    try:
        list(engine.evaluate_many([ticket] * 100, now=NOW, workers=64, chunk_size=1))
    except csrules.EngineError as exc:
        print("EngineError:", exc)
    print("workers left:", len(multiprocessing.active_children()))
"""


def test_workers_that_cannot_all_start_are_an_engine_error_and_leave_none_behind(tmp_path: Path) -> None:
    """Out of file descriptors part way: a raw OSError, after waiting for the workers already
    started to finish importing csrules."""
    import subprocess  # noqa: PLC0415
    import sys  # noqa: PLC0415

    script = tmp_path / "emfile.py"
    script.write_text(_EMFILE, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, str(script)], check=False, capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == (
        "EngineError: the worker processes could not start: [Errno 24] Too many open files\nworkers left: 0\n"
    )


def test_now_of_a_datetime_subclass_is_read_as_a_plain_instant(engine: csrules.Engine) -> None:
    """A subclass's methods were trusted (`__add__` raising escaped as RuntimeError, an overridden
    `year` passed the range check) and a local subclass failed to pickle for workers."""

    class Now(datetime):
        def __add__(self, other: object) -> datetime:
            raise RuntimeError("no")

        @property
        def year(self) -> int:
            return 2000

    moment = Now(2026, 11, 23, 17, tzinfo=timezone(timedelta(hours=2)))
    decision = engine.evaluate(refund("45.00"), now=moment)
    assert type(decision.trace.evaluated_at) is datetime
    assert (
        decision.to_json()
        == engine.evaluate(refund("45.00"), now=datetime(2026, 11, 23, 15, tzinfo=UTC)).to_json()
    )
    remote = list(engine.evaluate_many([refund("45.00")], now=moment, workers=2))
    assert [r.to_json() for r in remote] == [decision.to_json()]  # type: ignore[union-attr]
    with pytest.raises(csrules.TicketError) as info:
        engine.evaluate(refund("45.00"), now=Now(9999, 1, 1, tzinfo=UTC))
    assert info.value.code == "invalid-now"


def test_close_lets_go_of_the_ticket_values_kept_for_reuse(tmp_path: Any) -> None:
    """Reused condition records kept their tickets' string values until the Engine was freed, even
    after `close()`: a customer's text could stay in memory for the life of a service."""
    import gc  # noqa: PLC0415
    import tracemalloc  # noqa: PLC0415

    policy = tmp_path / "p.yaml"
    policy.write_text(
        "rules:\n  - id: r\n    description: d\n    rationale: r\n"
        "    when: [{attributes.note: urgent}]\n    then: {deny: true}\n",
        encoding="utf-8",
    )
    engine = csrules.load(policy)
    tracemalloc.start()
    try:
        for n in range(300):
            engine.evaluate(make_ticket(attributes={"note": f"{n:05d}" + "x" * 9_000}), now=NOW)
        gc.collect()
        kept, _ = tracemalloc.get_traced_memory()
        engine.close()
        gc.collect()
        after, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert kept - after > 2_500_000  # the 300 texts of ~9 KB each


class _Tier(enum.StrEnum):
    GOLD = "gold"


class _Level(enum.IntEnum):
    TWO = 2


def test_decisions_are_hashable_values(engine: csrules.Engine) -> None:
    """`hash(decision)` raised `unhashable type: 'list'`; now equal decisions are one set member
    and differing ones are not (a decision at another instant is another decision)."""
    first = engine.evaluate(refund("45.00"), now=NOW)
    later = engine.evaluate(refund("45.00"), now=NOW + timedelta(seconds=1))
    assert len({first, first.model_copy(), later}) == 2
    action = csrules.Action(kind="k", rule="r", params={"amount": Decimal("1.0"), "tags": ["a"]})
    same = csrules.Action(kind="k", rule="r", params={"tags": ["a"], "amount": Decimal("1.00")})
    assert action == same  # one number, written `1.0`; key order aside
    assert hash(action) == hash(same)
    integer = csrules.Action(kind="k", rule="r", params={"amount": 1, "tags": ["a"]})
    assert action != integer  # written `1`: another value, though Python's `==` says equal
    assert action.model_dump_json() != integer.model_dump_json()
    # An IntEnum or a StrEnum member is kept as its plain value: it reads back equal.
    members = csrules.Action(kind="k", rule="r", params={"tier": _Tier.GOLD, "level": _Level.TWO})
    assert members == csrules.Action.model_validate_json(members.model_dump_json())
    assert (type(members.params["tier"]), type(members.params["level"])) == (str, int)
    assert hash(action) != hash(csrules.Action(kind="k", rule="r", params={"amount": 1, "tags": ["b"]}))


# -- misuse of the embedding API: a typed error at the call, never a wrong result --------------


def test_what_ruleset_and_rulesets_return_is_a_copy(engine: csrules.Engine) -> None:
    """Both handed out the Engine's own dicts: a caller could change what the Engine reports."""
    before = (engine.ruleset, engine.rulesets)
    engine.rulesets[0].clear()
    engine.ruleset[next(iter(engine.ruleset))]["all"] = "tampered"
    assert (engine.ruleset, engine.rulesets) == before
    assert len(engine.rulesets[0]) == len(engine.ruleset) > 0


def test_a_shadow_engine_needs_two_engines_and_shows_the_live_rulesets(engine: csrules.Engine) -> None:
    with pytest.raises(TypeError, match=r"^live must be a csrules\.Engine, got str$"):
        csrules.ShadowEngine("a", engine, sink=print)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^candidate must be a csrules\.Engine, got NoneType$"):
        csrules.ShadowEngine(engine, None, sink=print)  # type: ignore[arg-type]
    assert csrules.ShadowEngine(engine, engine, sink=print).rulesets == engine.rulesets


def test_evaluate_many_takes_trace_as_a_bool_only(engine: csrules.Engine) -> None:
    """`trace="no"` traced."""
    with pytest.raises(TypeError, match="`trace` must be a bool, got str"):
        engine.evaluate_many([refund("5.00")], now=NOW, trace="no")  # type: ignore[arg-type]


def test_verify_with_its_arguments_the_other_way_round_is_a_type_error(engine: csrules.Engine) -> None:
    decision = engine.evaluate(refund("5.00"), now=NOW)
    with pytest.raises(TypeError, match=r"`engine` must be a csrules\.Engine, got Decision"):
        csrules.verify(decision, engine)  # type: ignore[arg-type]
    assert csrules.verify(engine, decision).ok


@pytest.mark.parametrize("wrong", ["policies", None, 0])
def test_functions_taking_an_engine_refuse_anything_else_with_a_type_error(
    tmp_path: Path, engine: csrules.Engine, wrong: object
) -> None:
    """`analyze("x")`, `Redactor("x", ...)` and `Engine("x")` raised AttributeError from inside."""
    name = type(wrong).__name__
    with pytest.raises(
        TypeError, match=rf"^analyze\(engine\): `engine` must be a csrules\.Engine, got {name}$"
    ):
        csrules.analyze(wrong)  # type: ignore[arg-type]
    with pytest.raises(
        TypeError, match=rf"^Redactor\(engine, ...\): `engine` must be a csrules\.Engine, got {name}$"
    ):
        csrules.Redactor(wrong, ["customer.id"], salt=b"s" * 16)  # type: ignore[arg-type]
    with pytest.raises(
        TypeError, match=rf"^Engine\(compiled\): `compiled` must be a CompiledBundle, got {name}$"
    ):
        csrules.Engine(wrong)  # type: ignore[arg-type]
    if wrong is not None:  # None: no redactor
        with pytest.raises(
            TypeError, match=rf"^DecisionLog\(\): `redactor` must be a csrules\.Redactor or None, got {name}$"
        ):
            csrules.DecisionLog(tmp_path / "log.jsonl", redactor=wrong)  # type: ignore[arg-type]
    assert not (tmp_path / "log.jsonl").exists()
    assert csrules.analyze(engine) == []  # the right argument still works


def test_a_log_takes_fsync_as_a_bool_only(tmp_path: Path) -> None:
    """`fsync="no"` was taken as true: every append flushed."""
    with pytest.raises(TypeError, match=r"^DecisionLog\(\): `fsync` must be a bool, got str$"):
        csrules.DecisionLog(tmp_path / "log.jsonl", fsync="no")  # type: ignore[arg-type]


class _Interrupt(BaseException):
    pass


class _Deadline(Exception):  # a web framework's request timeout
    pass


def _money_raising(decision: csrules.Decision, exc: BaseException) -> csrules.Decision:
    """`decision` with a request amount whose JSON form raises `exc`, as a signal handler would
    while pydantic calls csrules' serializer function for it."""

    class Raising(Decimal):
        def __float__(self) -> float:
            raise exc

    trace = decision.trace
    request = trace.facts.request
    assert request is not None
    facts = trace.facts.model_copy(
        update={"request": request.model_copy(update={"amount": Raising("45.00")})}
    )
    return decision.model_copy(update={"trace": trace.model_copy(update={"facts": facts})})


@pytest.mark.parametrize("exc", [_Interrupt(), _Deadline(), TimeoutError()], ids=type)
def test_an_exception_raised_while_a_decision_is_written_reaches_the_caller_as_raised(
    tmp_path: Path, engine: csrules.Engine, exc: BaseException
) -> None:
    """pydantic wrapped it in its PydanticSerializationError (a ValueError: an `except Exception`
    swallowed Ctrl-C), and a log's append called the decision "not a decision"."""
    decision = _money_raising(engine.evaluate(refund("45.00"), now=NOW), exc)
    log = csrules.DecisionLog(tmp_path / "log.jsonl")
    redactor = csrules.Redactor(engine, ["customer.id"], salt=b"s" * 16)
    writes = [
        decision.to_json,
        lambda: decision.model_dump(mode="json"),
        decision.model_dump_json,
        lambda: log.append(decision),
        lambda: csrules.verify(engine, decision),
        lambda: redactor.redact(decision),
    ]
    for write in writes:
        with pytest.raises(type(exc)) as caught:
            write()
        assert caught.value is exc
    assert not log.path.exists()


def test_a_value_that_cannot_be_written_is_still_a_serialization_error(
    tmp_path: Path, engine: csrules.Engine
) -> None:
    decision = _money_raising(engine.evaluate(refund("45.00"), now=NOW), ValueError("no float"))
    with pytest.raises(PydanticSerializationError, match="ValueError: no float"):
        decision.model_dump_json()
    with pytest.raises(PydanticSerializationError, match="UnicodeDecodeError"):  # as pydantic's own
        decision.model_copy(update={"ticket_id": b"\xff"}).model_dump_json()
    with pytest.raises(
        csrules.AuditError, match=r"not a decision: .*ValueError: no float; nothing was appended"
    ):
        csrules.DecisionLog(tmp_path / "log.jsonl").append(decision)


def test_model_dump_json_writes_what_pydantic_writes(engine: csrules.Engine) -> None:
    """It goes through `model_dump` (which keeps a serializer function's exception): same text."""
    ticket = {**refund("45.00"), "attributes": {"f": 1e-7, "g": -0.0, "s": "Zoë \u2028 😀"}}
    decision = engine.evaluate(ticket, now=NOW)
    asciis = (
        [{"ensure_ascii": True}]
        if "ensure_ascii" in inspect.signature(BaseModel.model_dump_json).parameters
        else []
    )
    for options in ({}, {"indent": 2}, {"exclude": {"trace"}}, *asciis):
        assert decision.model_dump_json(**options) == BaseModel.model_dump_json(decision, **options)


def test_explain_takes_fired_or_all_steps(engine: csrules.Engine) -> None:
    decision = engine.evaluate(refund("45.00"), now=NOW)
    assert decision.explain(steps="fired") == decision.explain()
    every = decision.explain(steps="all")
    assert every != decision.explain()
    assert all(f"`{c.path}`" in every or c.path in every for s in decision.trace.steps for c in s.conditions)
    with pytest.raises(ValueError, match='`steps` must be "fired" or "all", got \'bogus\''):
        decision.explain(steps="bogus")  # type: ignore[arg-type]


def test_a_log_takes_decisions_only_and_names_a_missing_folder(
    tmp_path: Path, engine: csrules.Engine
) -> None:
    decision = engine.evaluate(refund("5.00"), now=NOW)
    log = csrules.DecisionLog(tmp_path / "log.jsonl")
    for wrong in (decision.to_json(), None):
        with pytest.raises(TypeError, match=r"append takes a csrules\.Decision, got "):
            log.append(wrong)  # type: ignore[arg-type]
    assert not (tmp_path / "log.jsonl").exists()
    missing = csrules.DecisionLog(tmp_path / "no" / "log.jsonl")
    with pytest.raises(csrules.AuditError) as info:
        missing.append(decision)
    assert info.value.code == "no-such-file"
    assert (
        str(info.value)
        == f"{tmp_path / 'no' / 'log.jsonl'}: cannot open the log: No such file or directory [no-such-file]"
    )
    with pytest.raises(TypeError, match=r"redact takes a csrules\.Decision, got str"):
        csrules.Redactor(engine, paths=["customer.id"], salt=b"s" * 16).redact(decision.to_json())  # type: ignore[arg-type]
    assert log.append(decision).seq == 1
    assert csrules.verify_log(tmp_path / "log.jsonl").records == 1


def test_a_swapped_engine_no_one_refers_to_is_freed_without_close() -> None:
    """embedding.md's reload pattern swaps the reference and lets the old Engine go (closing it
    would fail the requests that took it just before the swap): it must then be freed, with the
    condition records it kept."""
    engine = csrules.load(params={"front_line_limit": 20})
    engine.evaluate(refund("30.00"), now=NOW)
    gone = weakref.ref(engine)
    engine = csrules.load(params={"front_line_limit": 25})
    gc.collect()
    assert gone() is None
    assert engine.evaluate(refund("22.50"), now=NOW).outcome == "approve"


@pytest.mark.parametrize(("tickets", "chunk_size", "started"), [(2, 200, 1), (3, 1, 3), (9, 1, 4)])
def test_evaluate_many_starts_no_more_workers_than_chunks(
    tickets: int, chunk_size: int, started: int
) -> None:
    """workers=4 started 4 processes, each loading the bundle, for a batch of 2 tickets: the first
    result waited for all of them (32 workers: 23 s for 2 tickets)."""
    import multiprocessing  # noqa: PLC0415

    engine = csrules.load()
    batch = [refund(f"{n}.00") for n in range(tickets)]
    results = engine.evaluate_many(batch, now=NOW, workers=4, chunk_size=chunk_size)
    first = next(results)
    assert len(multiprocessing.active_children()) == started
    decided = [first, *results]
    assert [d.to_json() for d in decided] == [engine.evaluate(t, now=NOW).to_json() for t in batch]
    assert multiprocessing.active_children() == []


def test_load_pauses_the_garbage_collector_and_leaves_it_as_it_found_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The collector walked every object in the process at each of ~15 full collections of a
    5,000-rule load: a reload beside the Engine in use took 6.3 s instead of 4.0."""
    seen: list[bool] = []
    real = csrules.engine.compile_bundle

    def spy(bundle: Any) -> Any:
        seen.append(gc.isenabled())
        return real(bundle)

    monkeypatch.setattr(csrules.engine, "compile_bundle", spy)
    assert gc.isenabled()
    csrules.load()
    assert (seen, gc.isenabled()) == ([False], True)
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules: [", encoding="utf-8")
    with pytest.raises(csrules.PolicyError):
        csrules.load(bad)
    assert gc.isenabled()
    gc.disable()
    try:
        csrules.load()
        assert not gc.isenabled()  # a caller that turned it off keeps it off
    finally:
        gc.enable()
    assert seen == [False, False]
