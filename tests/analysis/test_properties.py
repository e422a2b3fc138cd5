"""The analysis never claims something false: on generated bundles every example verifies, a rule
said never to fire never fires, and a shadowed rule never fires without its shadowing rule."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import csrules
from csrules.analyze import ANALYSIS_NOW
from csrules.testing.strategies import tickets
from tests.helpers import scratch_dir
from tests.properties.test_generated_policies import CONDITIONS

EFFECTS = st.sampled_from(
    [
        {"require_role": "senior"},
        {"require_role": "supervisor"},
        {"require_role": "manager"},
        {"deny": True},
        {"follow_ups": [{"kind": "update", "due_in": {"hours": 1}}]},
        {"follow_ups": [{"kind": "update", "due_in": {"hours": 2}}]},
        {"actions": [{"kind": "notify_team"}]},
        {"actions": [{"kind": "notify_teams"}]},
        {"derive": {"flag": False}},
    ]
)


@st.composite
def bundles(draw: st.DrawFn) -> Path:
    rules: list[dict[str, Any]] = [
        {
            "id": "makes_flag",
            "description": "d",
            "rationale": "r",
            "when": draw(
                st.lists(CONDITIONS.filter(lambda c: "derived.flag" not in repr(c)), min_size=1, max_size=2)
            ),
            "then": {"derive": {"flag": True}},
        }
    ]
    for i in range(draw(st.integers(1, 6))):
        when = draw(st.lists(CONDITIONS, min_size=1, max_size=3))
        then = draw(EFFECTS)
        if "derive" in then:
            when = [c for c in when if "derived.flag" not in repr(c)] or [{"severity": "high"}]
        rules.append({"id": f"r{i}", "description": "d", "rationale": "r", "when": when, "then": then})
    directory = scratch_dir("csrules-analysis-")
    (directory / "generated.yaml").write_text(
        yaml.safe_dump({"derived": {"flag": {"type": "boolean"}}, "rules": rules}), encoding="utf-8"
    )
    return directory


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(bundles(), st.data())
def test_every_warning_holds(directory: Path, data: st.DataObject) -> None:
    try:
        engine = csrules.load(directory)
    except csrules.PolicyError:
        return  # beyond durable_rules' limits: nothing to analyse
    warnings = csrules.analyze(engine)
    drawn = data.draw(st.lists(tickets(engine=engine), min_size=1, max_size=10))
    fired_sets = [set(engine.evaluate(t, now=ANALYSIS_NOW).trace.fired) for t in drawn]
    for warning in warnings:
        example = warning.example
        if warning.code == "never-fires":
            assert all(warning.rules[0] not in fired for fired in fired_sets), warning
            if example is not None:
                assert warning.rules[0] not in engine.evaluate(example, now=ANALYSIS_NOW).trace.fired
        elif warning.code == "shadowed-rule":
            later, earlier = warning.rules
            assert all(earlier in fired for fired in fired_sets if later in fired), warning
            if example is not None:  # none for a rule on facts the analysis writes into no ticket
                assert {later, earlier} <= set(engine.evaluate(example, now=ANALYSIS_NOW).trace.fired)
        elif warning.code == "conflicting-effects":
            assert example is not None
            assert set(warning.rules) <= set(engine.evaluate(example, now=ANALYSIS_NOW).trace.fired)
        elif warning.code == "ladder-gap":
            assert example is not None
            role = re.search(r" requires (\w+) but", warning.message)
            assert role is not None
            assert engine.evaluate(example, now=ANALYSIS_NOW).required_role == role.group(1)
