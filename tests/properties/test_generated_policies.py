"""Differential property over generated policies: for random bundles (nested `all`/`any`/`not`,
shared thresholds, absent sections, derived facts, many rules) and random tickets, durable_rules and
the trace's own evaluation agree on every rule (evaluate() raises EngineError when they do not),
and nothing but a Decision comes back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import csrules
from csrules.testing.strategies import tickets
from tests.helpers import NOW, scratch_dir

THRESHOLDS = [0, 10, 20, 20.01, 50, 99.99, 100, 500]
LEAVES: list[st.SearchStrategy[dict[str, Any]]] = [
    st.builds(
        lambda op, v: {"request.amount": {op: v}},
        st.sampled_from(["gt", "gte", "lt", "lte", "eq", "ne"]),
        st.sampled_from(THRESHOLDS),
    ),
    st.builds(
        lambda op, v: {"customer.lifetime_value": {op: v}},
        st.sampled_from(["gt", "lte"]),
        st.sampled_from([0, 999.99, 1000]),
    ),
    st.builds(
        lambda vs: {"customer.tier": {"in": vs}},
        st.lists(
            st.sampled_from(["one_time", "loyal", "advocate", "frequent"]),
            min_size=1,
            max_size=3,
            unique=True,
        ),
    ),
    st.builds(lambda v: {"severity": v}, st.sampled_from(["low", "normal", "high", "urgent"])),
    st.builds(lambda v: {"item.on_sale": v}, st.booleans()),
    st.builds(lambda v: {"item.sale_price": {"exists": v}}, st.booleans()),
    st.builds(lambda v: {"attributes.score": {"gt": v}}, st.sampled_from([0, 20, -1.5])),
    st.builds(lambda v: {"attributes.vip": v}, st.sampled_from([True, "gold", 1])),
    st.just({"promise.delivery_date": {"lt": {"fact": "promise.earliest_feasible"}}}),
    st.builds(lambda v: {"derived.flag": v}, st.booleans()),
]
CONDITIONS = st.recursive(
    st.one_of(LEAVES),
    lambda inner: st.one_of(
        st.builds(lambda cs: {"all": cs}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda cs: {"any": cs}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda c: {"not": c}, inner),
    ),
    max_leaves=6,
)


@st.composite
def bundles(draw: st.DrawFn) -> tuple[Path, list[str]]:
    count = draw(st.integers(1, 40))
    rules = [
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
    for i in range(count):
        rules.append(
            {
                "id": f"r{i}",
                "description": "d",
                "rationale": "r",
                "when": draw(st.lists(CONDITIONS, min_size=1, max_size=3)),
                "then": draw(
                    st.sampled_from(
                        [{"require_role": "senior"}, {"actions": [{"kind": f"k{i}"}]}, {"deny": True}]
                    )
                ),
            }
        )
    directory = scratch_dir("csrules-generated-")
    (directory / "generated.yaml").write_text(
        yaml.safe_dump({"derived": {"flag": {"type": "boolean"}}, "rules": rules}), encoding="utf-8"
    )
    return directory, [r["id"] for r in rules]


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(bundles(), st.lists(tickets(), min_size=1, max_size=5))
def test_generated_bundles_decide_every_ticket_consistently(
    bundle: tuple[Path, list[str]], drawn: list[dict[str, Any]]
) -> None:
    directory, ids = bundle
    try:
        engine = csrules.load(directory)
    except csrules.PolicyError as error:  # a rule beyond durable_rules' limits is refused at load
        refused = error.code
    else:
        refused = None
    if refused is not None:
        assert refused == "engine-limit"
        return
    for ticket in drawn:
        decision = engine.evaluate(ticket, now=NOW)
        assert [s.rule for s in decision.trace.steps] == ids
        fired = decision.trace.fired
        assert len(fired) == len(set(fired))


@st.composite
def threshold_bundles(draw: st.DrawFn) -> Path:
    """Many rules over shared thresholds, alone and under `any`: bundles that need several parts."""
    limits = [i * 5 for i in range(60)]
    rules = []
    for i in range(draw(st.integers(30, 90))):
        first = draw(st.sampled_from(limits))
        alternatives = draw(st.lists(st.sampled_from(limits), min_size=0, max_size=12, unique=True))
        when: list[Any] = [{"request.amount": {"gt": first}}]
        if alternatives:
            when.append({"any": [{"request.amount": {"gte": a}} for a in alternatives]})
        rules.append(
            {
                "id": f"t{i}",
                "description": "d",
                "rationale": "r",
                "when": when,
                "then": {"actions": [{"kind": f"k{i}"}]},
            }
        )
    directory = scratch_dir("csrules-thresholds-")
    (directory / "thresholds.yaml").write_text(yaml.safe_dump({"rules": rules}), encoding="utf-8")
    return directory


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(threshold_bundles(), st.lists(st.integers(0, 400), min_size=1, max_size=4))
def test_threshold_heavy_bundles_never_overflow_the_engine(directory: Path, amounts: list[int]) -> None:
    engine = csrules.load(directory)
    for amount in [*amounts, 1_000_000]:
        ticket = {
            "id": "T",
            "customer": {"id": "C"},
            "agent": {"id": "A", "role": "manager"},
            "request": {"kind": "refund", "amount": amount},
        }
        decision = engine.evaluate(ticket, now=NOW)
        expected = [s.rule for s in decision.trace.steps if all(c.passed for c in s.conditions[:1])]
        assert set(decision.trace.fired) <= set(expected)
