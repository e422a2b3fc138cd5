"""Threads and reloads against shared Engines, and the durable_rules session lifecycle.

Sizes keep `make test` quick; `make soak` runs benchmarks/soak.py with 16 threads x 20,000
tickets and the reload loop for longer.
"""

from __future__ import annotations

import copy
import itertools
import multiprocessing
import pickle
import random
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import pytest

import csrules
from csrules import _durable
from tests.helpers import NOW, make_ticket, refund, write_policy


def _pool(size: int, seed: int = 5) -> list[dict[str, Any]]:
    """Varied valid tickets: amounts around the default limits, tiers, roles, rainchecks, quiet ones."""
    rng = random.Random(seed)
    pool: list[dict[str, Any]] = []
    for n in range(size):
        if n % 10 == 0:
            pool.append(make_ticket(id=f"Q-{n}"))  # fires no rule of the bundle
            continue
        cents = rng.choice([0, 1999, 2000, 2001, 4999, 5000, 5001, 10000, 10001, rng.randint(0, 50_000)])
        ticket = refund(
            f"{cents // 100}.{cents % 100:02d}",
            role=rng.choice(["front_line", "senior", "supervisor", "manager"]),
            tier=rng.choice(["one_time", "loyal", "advocate"]),
            abusive=rng.random() < 0.1,
        )
        ticket["id"] = f"T-{n}"
        ticket["severity"] = rng.choice(["low", "normal", "high", "urgent"])
        ticket["category"] = rng.choice(["stock", "product", "employee_behavior", "billing", "other"])
        if rng.random() < 0.2:
            ticket["request"]["kind"] = "raincheck"
            ticket["item"] = {"sku": "S-1", "on_sale": rng.random() < 0.7, "in_stock": rng.random() < 0.3}
            if rng.random() < 0.7:
                ticket["item"]["sale_price"] = "9.99"
        pool.append(ticket)
    return pool


def _run_threads(count: int, work: Callable[[int], None]) -> list[BaseException]:
    errors: list[BaseException] = []
    barrier = threading.Barrier(count)

    def run(number: int) -> None:
        try:
            barrier.wait()
            work(number)
        except BaseException as exc:  # pragma: no cover - reported by the caller
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def test_sixteen_threads_get_exactly_the_sequential_results(engine: csrules.Engine) -> None:
    pool = _pool(100)
    expected = [engine.evaluate(t, now=NOW).to_json() for t in pool]
    mismatches: list[tuple[int, int]] = []

    def work(number: int) -> None:
        for i in range(500):
            index = (number * 37 + i) % len(pool)  # threads decide different tickets at once
            if engine.evaluate(pool[index], now=NOW).to_json() != expected[index]:
                mismatches.append((number, index))

    assert _run_threads(16, work) == []
    assert mismatches == []


def test_a_shared_engine_stays_exact_while_another_thread_loads_and_closes_bundles(
    engine: csrules.Engine,
) -> None:
    pool = _pool(60, seed=9)
    expected = [engine.evaluate(t, now=NOW).to_json() for t in pool]
    # Three limits: three registrations for the whole test, however many reloads.
    limits = itertools.cycle([25, 30, 35])
    probe = refund("27.50")
    stop = threading.Event()
    reloads: list[int] = []
    mismatches: list[str] = []

    def reload_loop() -> None:
        while not stop.is_set():
            limit = next(limits)
            with csrules.load(params={"front_line_limit": limit}) as fresh:
                outcome = fresh.evaluate(probe, now=NOW).outcome
                if outcome != ("escalate" if limit == 25 else "approve"):
                    mismatches.append(f"limit {limit}: {outcome}")
            reloads.append(limit)

    def work(number: int) -> None:
        if number == 8:
            reload_loop()
            return
        try:
            for i in range(300):
                index = (number * 11 + i) % len(pool)
                if engine.evaluate(pool[index], now=NOW).to_json() != expected[index]:
                    mismatches.append(f"thread {number}: ticket {index}")
        finally:
            if number == 0:
                stop.set()

    assert _run_threads(9, work) == []
    assert mismatches == []
    assert len(reloads) >= 3


def test_thousands_of_tickets_firing_no_rule_leave_no_fact_behind_and_delete_no_state(
    engine: csrules.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each ruleset keeps one durable_rules state; every session retracts the facts it asserted.
    No state is ever deleted (deleting one in which no action ran can segfault in 2.0.28, notes
    §0.4), and every stage's barrier rule acts in every session, whether the ticket fires rules
    or none. More sessions than the engine's 1,024 state slots."""
    started: list[bool] = []  # per session: did each stage's start_action_for_state give an action
    sessions: list[bool] = []
    leftover: list[str] = []
    real_start, real_retract = _durable._engine.start_action_for_state, _durable._engine.retract_facts

    def start(handle: int, state: Any) -> Any:
        result = real_start(handle, state)
        started.append(bool(result and result[1]))
        return result

    def retract(handle: int, text: str) -> Any:
        # One session at a time (the ruleset lock; one thread here): the last starts were this one's.
        sessions.append(started == [True] * engine.bundle.stages)
        started.clear()
        result = real_retract(handle, text)
        facts = _durable._engine.get_facts(handle, _durable._SID)
        if facts != "[]":
            leftover.append(facts)
        return result

    def delete(handle: int, sid: str) -> Any:
        raise AssertionError(f"delete_state({handle}, {sid!r})")

    monkeypatch.setattr(_durable._engine, "start_action_for_state", start)
    monkeypatch.setattr(_durable._engine, "retract_facts", retract)
    monkeypatch.setattr(_durable._engine, "delete_state", delete)
    firing = refund("20.01")
    evaluations = 0
    for n in range(4000):
        if n % 8 == 7:
            assert engine.evaluate(firing, now=NOW).required_role == "senior"
        else:
            assert engine.evaluate(make_ticket(id=f"Q-{n}"), now=NOW).trace.fired == []
        evaluations += 1
    assert len(sessions) == evaluations  # one ruleset: one retraction per session
    assert all(sessions)
    assert leftover == []


def test_untraced_bulk_evaluation_of_quiet_tickets_keeps_the_engine_exact(engine: csrules.Engine) -> None:
    quiet = [make_ticket(id=f"Q-{n}") for n in range(2000)]
    mixed = [t for pair in zip(quiet, itertools.repeat(refund("50.01")), strict=False) for t in pair]
    results = list(engine.evaluate_many(mixed, now=NOW, trace=False))
    assert [r.trace.fired == [] for r in results if isinstance(r, csrules.Decision)] == [True, False] * 2000
    assert engine.evaluate(refund("50.01"), now=NOW).required_role == "supervisor"


def _raise(kind: str, policy_dir: str) -> None:
    """Raise, in whatever process runs it, the error a caller gets for a bad ticket, a bad policy
    file or a record that is no decision."""
    if kind == "ticket":
        csrules.load().evaluate(refund("5.001"), now=NOW)
    elif kind == "policy":
        csrules.load([policy_dir])
    else:
        csrules.load().verify({"ticket": "T-1"})


_KINDS = {"ticket": csrules.TicketError, "policy": csrules.PolicyError, "audit": csrules.AuditError}


def _raised(kind: str, policy_dir: str) -> csrules.Error:
    with pytest.raises(_KINDS[kind]) as caught:
        _raise(kind, policy_dir)
    caught.value.add_note("a note added on the way up")
    return caught.value


def _fields(error: BaseException) -> dict[str, Any]:
    return {"type": type(error), "str": str(error), "args": error.args, **vars(error)}


def _bad_policy_dir(tmp_path: Path) -> str:
    rule = "  - id: {0}\n    description: {0}\n    when:\n      - customer.tier: gold\n    then: {{require_role: boss}}\n"
    write_policy(tmp_path, "policy: p\nrules:\n" + rule.format("r") + rule.format("s"))
    return str(tmp_path)


@pytest.mark.parametrize("kind", ["ticket", "policy", "audit"])
def test_errors_pickle_and_copy_with_every_field(kind: str, tmp_path: Path) -> None:
    error = _raised(kind, _bad_policy_dir(tmp_path))
    assert error.__notes__ == ["a note added on the way up"]
    for clone in (pickle.loads(pickle.dumps(error)), copy.deepcopy(error), copy.copy(error)):
        assert _fields(clone) == _fields(error)
    if isinstance(error, csrules.PolicyError):
        assert len(error.diagnostics) == 4, error.diagnostics


@pytest.mark.parametrize("kind", ["ticket", "policy", "audit"])
def test_an_error_raised_in_a_worker_process_reaches_the_caller_whole(kind: str, tmp_path: Path) -> None:
    policy_dir = _bad_policy_dir(tmp_path)
    expected = _raised(kind, policy_dir)
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(1, mp_context=spawn) as pool, pytest.raises(type(expected)) as caught:
        pool.submit(_raise, kind, policy_dir).result()
    fields = _fields(caught.value)
    fields.pop("__notes__", None)
    assert fields == {key: value for key, value in _fields(expected).items() if key != "__notes__"}
