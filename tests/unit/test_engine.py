"""Engine behaviour: determinism, `now`, the trace's header, threads, and the session lifecycle."""

from __future__ import annotations

import resource
import shutil
import threading
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

import csrules
from csrules import _durable
from csrules.engine import ENGINE_VERSION
from tests.helpers import NOW, ROOT, make_ticket, refund


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
