"""The durable_rules adapter: engine limits are designed out, engine failures are contained."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import csrules
from csrules import _durable
from tests.helpers import NOW, make_ticket, write_policy


def ladder(tmp_path: Path, count: int) -> csrules.Engine:
    rules = "".join(
        f"  - id: over_{i}\n    description: d\n    rationale: r\n    when: [{{request.amount: {{gt: {i}}}}}]\n"
        f"    then: {{actions: [{{kind: k{i}}}]}}\n"
        for i in range(count)
    )
    return csrules.load(write_policy(tmp_path, "rules:\n" + rules))


@pytest.mark.parametrize("count", [64, 65, 200])
def test_many_comparisons_holding_for_one_ticket_all_fire(tmp_path: Path, count: int) -> None:
    """Regression: durable_rules fails an assert (error 303) when more than 64 distinct comparisons
    hold for one fact; csrules splits a stage into parts so a valid ticket never reaches it."""
    engine = ladder(tmp_path, count)
    decision = engine.evaluate(make_ticket(request={"kind": "refund", "amount": 1000}), now=NOW)
    assert len(decision.trace.fired) == count
    assert len(decision.actions) == count
    assert engine.evaluate(
        make_ticket(request={"kind": "refund", "amount": "10.50"}), now=NOW
    ).trace.fired == [f"over_{i}" for i in range(11)]


def test_a_rule_too_deep_for_the_matcher_is_refused(tmp_path: Path) -> None:
    """70 thresholds in one `any` can all hold: the matcher would push 70 nodes at once."""
    alternatives = ", ".join(f"{{request.amount: {{gt: {i}}}}}" for i in range(70))
    text = f"rules:\n  - id: big\n    description: d\n    rationale: r\n    when: [{{any: [{alternatives}]}}]\n    then: {{deny: true}}\n"
    with pytest.raises(csrules.PolicyError) as info:
        csrules.load(write_policy(tmp_path, text))
    assert (info.value.code, info.value.line) == ("engine-limit", 2)
    assert "matcher depth 73 (at most 60)" in info.value.message  # 1 stage + 1 part + 70 + 1 join


def test_exclusive_alternatives_are_not_limited(tmp_path: Path) -> None:
    """Two `in` lists of 40 values are 1,600 alternatives, but at most one holds at a time."""
    values = ", ".join(f"S{i}" for i in range(40))
    text = (
        "rules:\n  - id: big\n    description: d\n    rationale: r\n"
        f"    when: [{{item.sku: {{in: [{values}]}}}}, {{customer.id: {{in: [{values}]}}}}]\n"
        "    then: {deny: true}\n"
    )
    engine = csrules.load(write_policy(tmp_path, text))
    item = {"sku": "S7", "on_sale": False, "in_stock": True}
    assert engine.evaluate(make_ticket(item=item, customer={"id": "S39"}), now=NOW).outcome == "deny"
    assert engine.evaluate(make_ticket(item=item, customer={"id": "S40"}), now=NOW).outcome == "approve"


def test_rules_sharing_thresholds_under_alternatives_split_into_parts(tmp_path: Path) -> None:
    """Regression: 34 rules `amount > i and any(amount > j, j != i)` hold 34 distinct comparisons,
    but the matcher pushes 34 + 33 nodes for a large amount (error 303 before the network model)."""
    rules = ""
    for i in range(34):
        alternatives = ", ".join(f"{{request.amount: {{gt: {j}}}}}" for j in range(34) if j != i)
        rules += f"  - id: r{i}\n    description: d\n    rationale: r\n    when: [{{request.amount: {{gt: {i}}}}}, {{any: [{alternatives}]}}]\n    then: {{actions: [{{kind: k{i}}}]}}\n"
    engine = csrules.load(write_policy(tmp_path, "rules:\n" + rules))
    decision = engine.evaluate(make_ticket(request={"kind": "refund", "amount": 1000}), now=NOW)
    assert decision.trace.fired == [f"r{i}" for i in range(34)]
    low = engine.evaluate(make_ticket(request={"kind": "refund", "amount": "1.50"}), now=NOW)
    assert low.trace.fired == ["r0", "r1"]  # 1.50 > 0 and > 1 (each with the other as alternative)


def _fire(ruleset: Any, members: str = '"stage":0') -> list[str]:
    fired: list[str] = _durable.Rulesets((ruleset,)).run(lambda session: session.fire(0, [members]))
    return fired


def test_engine_failures_are_contained_and_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    ruleset = _durable.Ruleset("csrules-test-failures", {"r": {"all": [{"m": {"stage": 0}}]}})
    calls: list[Any] = []

    def fail(handle: int, text: str) -> Any:
        calls.append(text)
        raise _durable._engine.error("Could not assert fact, error code: 999")

    monkeypatch.setattr(_durable._engine, "assert_fact", fail)
    for _ in range(_durable.MAX_REGISTRATIONS):
        with pytest.raises(csrules.EngineError, match="error code: 999") as info:
            _fire(ruleset)
        assert isinstance(info.value.__cause__, _durable._engine.error)
    with pytest.raises(csrules.EngineError, match="disabled after 4 engine failures"):
        _fire(ruleset)
    assert len(calls) == _durable.MAX_REGISTRATIONS


def test_an_exception_inside_a_session_still_frees_its_state() -> None:
    ruleset = _durable.Ruleset("csrules-test-session", {"r": {"all": [{"m": {"stage": 0}}]}})

    def interrupted(session: _durable.Session) -> None:
        assert session.fire(0, ['"stage":0']) == ["r"]
        raise KeyError("boom")

    with pytest.raises(KeyError, match="boom"):
        _durable.Rulesets((ruleset,)).run(interrupted)
    fired: list[str] = []
    for _ in range(1100):  # more than the engine's 1024 live states: each session freed its own
        fired += _fire(ruleset)
    assert fired == ["r"] * 1100


def test_the_first_fact_of_a_stage_must_match_a_rule() -> None:
    ruleset = _durable.Ruleset("csrules-test-unmatched", {"r": {"all": [{"m": {"stage": 0}}]}})
    with pytest.raises(csrules.EngineError, match=r"did not accept the ticket fact \(result 1\)"):
        _fire(ruleset, '"stage":1')
    assert _fire(ruleset) == ["r"]  # forgotten after the failure, registered again on next use


def test_facts_a_twice_interrupted_cleanup_left_are_cleared_by_the_next_session(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The kept state's fact ids are f1, f2, ... in every session: facts left behind made the
    next, unrelated evaluation an EngineError (the id was taken) and, after 4, disabled the Engine."""
    engine = csrules.load()
    ticket = make_ticket(request={"kind": "refund", "amount": "45.00"})
    expected = engine.evaluate(ticket, now=NOW).to_json()
    (ruleset,) = engine._rulesets.rulesets  # the default bundle: one ruleset
    generation = ruleset._generation

    def interrupted(handle: int, text: str) -> Any:
        raise KeyboardInterrupt  # in `close`, and again in its retry

    for _ in range(_durable.MAX_REGISTRATIONS + 1):
        monkeypatch.setattr(_durable._engine, "retract_facts", interrupted)
        with pytest.raises(KeyboardInterrupt):
            engine.evaluate(ticket, now=NOW)
        monkeypatch.undo()
        assert _durable._engine.get_facts(ruleset._handle, _durable._SID) != "[]"  # left behind
        assert engine.evaluate(ticket, now=NOW).to_json() == expected
        assert _durable._engine.get_facts(ruleset._handle, _durable._SID) == "[]"
    assert ruleset._generation == generation  # no engine failure was counted


def test_a_stage_whose_barrier_starts_no_action_is_an_engine_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    """A matched barrier that starts no action (a state left mid-action would do that) decided
    nothing silently for an untraced evaluation."""
    ruleset = _durable.Ruleset("csrules-test-no-action", {"r": {"all": [{"m": {"stage": 0}}]}})
    assert _fire(ruleset) == ["r"]
    monkeypatch.setattr(_durable._engine, "start_action_for_state", lambda handle, state: None)
    with pytest.raises(csrules.EngineError, match="started no action for the stage's facts"):
        _fire(ruleset)
    monkeypatch.undo()
    assert ruleset._handle is None  # forgotten, with its state
    assert _fire(ruleset) == ["r"]
