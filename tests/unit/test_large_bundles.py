"""Bundles larger than one durable_rules ruleset: compile.py spreads them over several
(docs/engine.md), and decisions are the same as if one ruleset held every rule."""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import csrules
from tests.helpers import NOW, make_ticket, refund, write_policy

SIZE = 2_400  # three rulesets of at most 1,000 rules


def _rule(rule_id: str, when: str, then: str, priority: int = 0) -> str:
    return (
        f"  - {{id: {rule_id}, description: d, rationale: r, priority: {priority}, "
        f"when: {when}, then: {then}}}\n"
    )


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> csrules.Engine:
    """`over_<i>`: amount > i (i = 0..2399); over_2350 also derives `big`, and has the highest
    priority; `uses_big` (stage 1) tests `big`; `follow` (decision stage) tests the outcome."""
    text = "derived:\n  big: {type: boolean}\nrules:\n"
    for i in range(SIZE):
        then = "{derive: {big: true}}" if i == 2350 else "{actions: [{kind: k}]}"
        text += _rule(f"over_{i}", f"[{{request.amount: {{gt: {i}}}}}]", then, 50 if i == 2350 else 0)
    text += _rule("uses_big", "[{derived.big: true}]", "{require_role: manager}")
    text += _rule(
        "follow", "[{decision.outcome: escalate}]", "{follow_ups: [{kind: call, due_in: {hours: 4}}]}"
    )
    return csrules.load(write_policy(tmp_path_factory.mktemp("large"), text))


def test_a_bundle_of_2400_rules_spans_three_rulesets(engine: csrules.Engine) -> None:
    sizes = [len([r for r in ruleset if not r.startswith("__stage_")]) for ruleset in engine.rulesets]
    assert sizes == [1000, 1000, 402]
    assert len(engine.ruleset) == sum(len(r) for r in engine.rulesets)  # barrier ids differ per ruleset


def test_rules_fire_across_rulesets_in_priority_then_bundle_order(engine: csrules.Engine) -> None:
    decision = engine.evaluate(refund("2351.00"), now=NOW)
    expected = ["over_2350", *[f"over_{i}" for i in range(2350)], "uses_big", "follow"]
    assert decision.trace.fired == expected
    assert (decision.outcome, decision.required_role) == ("escalate", "manager")
    assert [f.kind for f in decision.follow_ups] == ["call"]
    assert [s.fired for s in decision.trace.steps].count(True) == len(expected)


@pytest.mark.parametrize(
    ("amount", "fired"),
    [("2350.00", 2350), ("2350.01", 2351), ("2351.00", 2351), ("2399.99", 2400), ("0.00", 0), ("0.01", 1)],
)
def test_each_boundary_fires_exactly_the_rules_below_it(
    engine: csrules.Engine, amount: str, fired: int
) -> None:
    decision = engine.evaluate(refund(amount), now=NOW)
    over = [rule for rule in decision.trace.fired if rule.startswith("over_")]
    assert sorted(over, key=lambda r: int(r[5:])) == [f"over_{i}" for i in range(fired)]
    big = fired > 2350
    assert decision.trace.derived == {"big": big}
    assert decision.required_role == ("manager" if big else "front_line")


def test_a_ticket_firing_no_rule_in_any_ruleset(engine: csrules.Engine) -> None:
    for _ in range(3):  # each evaluation frees the state of every ruleset
        decision = engine.evaluate(make_ticket(), now=NOW)
        assert (decision.trace.fired, decision.outcome) == ([], "approve")


def test_a_bundle_over_the_rule_limit_is_refused(tmp_path: Path) -> None:
    for start in range(0, 10_001, 1_000):  # files of 1,000 rules: each within the per-document limits
        rules = "".join(
            _rule(f"r{i}", "[]", "{deny: true}") for i in range(start, min(start + 1_000, 10_001))
        )
        write_policy(tmp_path, "rules:\n" + rules, name=f"p{start:05d}.yaml")
    with pytest.raises(csrules.PolicyError) as info:
        csrules.load(tmp_path)
    assert info.value.code == "too-many-rules"
    assert "at most 10000 rules, this one has 10001" in str(info.value)


def test_threads_sharing_an_engine_of_several_rulesets_get_the_sequential_results(
    engine: csrules.Engine,
) -> None:
    """One session holds every ruleset's lock (taken in one order): no deadlock, no mixing."""
    amounts = [f"{cents // 100}.{cents % 100:02d}" for cents in range(0, 240_100, 2_357)]
    tickets = [refund(amount) for amount in amounts]

    def fired(batch: list[dict[str, object]]) -> list[list[str]]:
        return [d.trace.fired for d in engine.evaluate_many(batch, now=NOW, trace=False)]  # type: ignore[union-attr]

    expected = fired(tickets)
    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(fired, [tickets] * 12))
    assert all(result == expected for result in results)
    assert [len(f) for f in expected][:3] == [0, 24, 48]  # 0.00, 23.57, 47.14: rules over 0..23, 0..47


def _load_in_a_child(path: Path) -> str:
    """Load `path` in a child process that is killed after 120 s (its rulesets' sizes):
    the old code spun forever inside durable_rules, where Ctrl-C cannot reach."""
    script = (
        "import csrules, json, sys\n"
        "engine = csrules.load(sys.argv[1])\n"
        "print(json.dumps([len(r) for r in engine.rulesets]))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(path)], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_more_than_512_distinct_tests_under_one_node_are_split_into_parts(tmp_path: Path) -> None:
    """530 rules `item.sku: SKU-i` (or 11 rules of 50-value `in` lists on one fact) made
    durable_rules' create_ruleset spin forever: a node's hash table of children holds 512."""
    skus = write_policy(
        tmp_path,
        "rules:\n"
        + "".join(_rule(f"r{i}", f"[{{item.sku: SKU-{i}}}]", "{require_role: senior}") for i in range(530)),
        "skus.yaml",
    )
    _load_in_a_child(skus)
    engine = csrules.load(skus)
    for i in (0, 499, 500, 529):
        ticket = make_ticket(item={"sku": f"SKU-{i}", "on_sale": False, "in_stock": True})
        decision = engine.evaluate(ticket, now=NOW)
        assert (decision.required_role, decision.trace.fired) == ("senior", [f"r{i}"])
    other = make_ticket(item={"sku": "SKU-999", "on_sale": False, "in_stock": True})
    assert engine.evaluate(other, now=NOW).trace.fired == []
    lists = tmp_path / "lists"
    lists.mkdir()
    values = lambda r: ", ".join(f"{r * 50 + v}.00" for v in range(50))  # noqa: E731
    write_policy(
        lists,
        "rules:\n"
        + "".join(
            _rule(f"r{r}", f"[{{request.amount: {{in: [{values(r)}]}}}}]", "{require_role: senior}")
            for r in range(11)
        ),
    )
    _load_in_a_child(lists)
    engine = csrules.load(lists)
    assert engine.evaluate(refund("549.00"), now=NOW).trace.fired == ["r10"]
    assert engine.evaluate(refund("550.00"), now=NOW).trace.fired == []


def test_more_than_256_rules_of_one_when_are_split_into_parts(tmp_path: Path) -> None:
    """300 rules of one `when` failed to load with durable_rules' error 108: a node lists at most
    256 rules ending at it."""
    path = write_policy(
        tmp_path,
        "rules:\n"
        + "".join(
            _rule(f"r{i}", "[{request.kind: refund}]", f"{{actions: [{{kind: a{i}}}]}}") for i in range(300)
        ),
    )
    decision = csrules.load(path).evaluate(refund("1.00"), now=NOW)
    assert [a.kind for a in decision.actions] == [f"a{i}" for i in range(300)]


def test_one_rule_wider_than_a_node_can_hold_is_an_engine_limit(tmp_path: Path) -> None:
    """An `any` of 11 lists of 50 skus puts 550 tests under one node: no part can hold the rule,
    and loading it spun forever inside durable_rules."""
    alternatives = ", ".join(
        "{item.sku: {in: [" + ", ".join(f"S{r}-{v}" for v in range(50)) + "]}}" for r in range(11)
    )
    path = write_policy(
        tmp_path, "rules:\n" + _rule("big", f"[{{any: [{alternatives}]}}]", "{require_role: senior}")
    )
    with pytest.raises(csrules.PolicyError) as info:
        csrules.load(path)
    assert (info.value.code, info.value.line) == ("engine-limit", 2)
    assert info.value.message == (
        "rule `big` is too wide for durable_rules: 550 different tests of one place (at most 500)"
    )
