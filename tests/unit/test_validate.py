"""Validating policies: every problem is a PolicyError at the right file:line:column."""

from __future__ import annotations

from pathlib import Path

import pytest

import csrules
from tests.helpers import write_policy

HEADER = "parameters:\n  limit: {type: money, default: 20}\n"


def rule(when: str, then: str = "{require_role: senior}", rule_id: str = "r") -> str:
    return f"  - id: {rule_id}\n    description: d\n    rationale: r\n    when:\n{when}    then: {then}\n"


def policy_error(tmp_path: Path, text: str, **params: object) -> csrules.PolicyError:
    path = write_policy(tmp_path, text)
    with pytest.raises(csrules.PolicyError) as info:
        csrules.load(path, params=params or None)
    return info.value


def test_unknown_fact_path_points_at_the_path_and_suggests(tmp_path: Path) -> None:
    text = HEADER + "rules:\n" + rule("      - item.onsale: true\n")
    error = policy_error(tmp_path, text)
    assert (error.code, error.line, error.column) == ("unknown-fact-path", 8, 9)
    assert error.message == "unknown fact path `item.onsale`"
    assert error.diagnostics[0].help == "did you mean `item.on_sale`?"
    assert (
        str(error)
        == f"{tmp_path / 'policy.yaml'}:8:9: unknown fact path `item.onsale` (did you mean `item.on_sale`?)"
    )


def test_unknown_parameter_reference(tmp_path: Path) -> None:
    text = HEADER + "rules:\n" + rule("      - request.amount: {gt: {param: limt}}\n")
    error = policy_error(tmp_path, text)
    assert (error.code, error.line) == ("unknown-parameter", 8)
    assert error.diagnostics[0].help == "did you mean `limit`?"


def test_duplicate_rule_id_is_reported_at_the_second(tmp_path: Path) -> None:
    text = "rules:\n" + rule("      - customer.abusive: true\n", rule_id="same") * 2
    error = policy_error(tmp_path, text)
    assert (error.code, error.line, error.column) == ("duplicate-rule-id", 8, 9)
    assert error.diagnostics[0].help == f"first defined at {tmp_path / 'policy.yaml'}:2:9"


def test_duplicate_rule_id_across_files(tmp_path: Path) -> None:
    text = "rules:\n" + rule("      - customer.abusive: true\n", rule_id="same")
    write_policy(tmp_path, text, "a.yaml")
    write_policy(tmp_path, text, "b.yaml")
    with pytest.raises(csrules.PolicyError) as info:
        csrules.load(tmp_path)
    assert (info.value.code, info.value.file, info.value.line) == (
        "duplicate-rule-id",
        str(tmp_path / "b.yaml"),
        2,
    )


@pytest.mark.parametrize(
    ("when", "message"),
    [
        (
            "      - request.amount: {gt: cheap}\n",
            "`request.amount` gt: `request.amount` is money, got `cheap`",
        ),
        (
            "      - request.amount: {gt: 20.001}\n",
            "`request.amount` gt: `request.amount` is money, got `20.001`",
        ),
        (
            "      - customer.abusive: yes please\n",
            "`customer.abusive` eq: `customer.abusive` is boolean, got `yes please`",
        ),
        (
            "      - customer.tier: gold\n",
            "`customer.tier` eq: `customer.tier` is one of one_time, occasional, frequent, loyal, advocate, got `gold`",
        ),
        (
            "      - customer.tier: {gt: loyal}\n",
            "`customer.tier` gt: `gt` needs an ordered fact (money, integer, date, datetime); `customer.tier` is one of one_time, occasional, frequent, loyal, advocate",
        ),
        ("      - request.amount: {in: []}\n", "`request.amount` in: expected a list of 1 to 50 values"),
        ("      - item.sku: {exists: maybe}\n", "`item.sku` exists: expected true or false"),
        (
            "      - request.amount: {gt: {fact: customer.tier}}\n",
            "`request.amount` gt: a fact reference must name a ticket fact of the same ordered type (money)",
        ),
        (
            "      - severity: {param: limit}\n",
            "`severity` eq: parameter `limit` is money, expected one of low, normal, high, urgent",
        ),
    ],
)
def test_type_mismatch_is_reported(tmp_path: Path, when: str, message: str) -> None:
    error = policy_error(tmp_path, HEADER + "rules:\n" + rule(when))
    assert error.line == 8
    assert error.message == message


def test_enum_typo_suggests_the_value(tmp_path: Path) -> None:
    error = policy_error(tmp_path, "rules:\n" + rule("      - customer.tier: loyl\n"))
    assert error.diagnostics[0].help == "did you mean `loyal`?"


def test_unknown_operator_suggests(tmp_path: Path) -> None:
    error = policy_error(tmp_path, "rules:\n" + rule("      - request.amount: {gte_: 5}\n"))
    assert (error.code, error.line, error.column) == ("unknown-operator", 6, 26)
    assert error.diagnostics[0].help == "did you mean `gte`?"


def test_unknown_key_in_a_rule_suggests(tmp_path: Path) -> None:
    text = "rules:\n  - id: r\n    descripton: d\n    rationale: r\n    then: {deny: true}\n"
    error = policy_error(tmp_path, text)
    found = [(d.code, d.span.line, d.span.column, d.help) for d in error.diagnostics if d.span]
    assert found == [
        ("missing-key", 2, 5, None),  # the rule (a mapping starting at line 2) lacks `description`
        ("unknown-key", 3, 5, "did you mean `description`?"),
    ]


def test_wrong_type_of_a_rule_field(tmp_path: Path) -> None:
    text = "rules:\n  - id: r\n    description: d\n    rationale: r\n    priority: high\n    then: {deny: true}\n"
    error = policy_error(tmp_path, text)
    assert (error.code, error.line, error.column) == ("invalid-type", 5, 15)


def test_invalid_role_is_reported(tmp_path: Path) -> None:
    error = policy_error(
        tmp_path, "rules:\n" + rule("      - customer.abusive: true\n", then="{require_role: boss}")
    )
    assert (error.code, error.line) == ("invalid-value", 7)


def test_invalid_rule_id(tmp_path: Path) -> None:
    error = policy_error(tmp_path, "rules:\n" + rule("      - customer.abusive: true\n", rule_id="Bad-Id"))
    assert (error.code, error.line) == ("invalid-identifier", 2)


def test_parameter_default_of_the_wrong_type(tmp_path: Path) -> None:
    error = policy_error(tmp_path, "parameters:\n  limit: {type: money, default: lots}\n")
    assert (error.code, error.line, error.column) == ("invalid-parameter-value", 2, 33)


def test_unknown_parameter_override(tmp_path: Path) -> None:
    error = policy_error(tmp_path, HEADER, limt=5)
    assert (error.code, error.file, error.line) == ("unknown-parameter", None, None)
    assert str(error) == "params: unknown parameter `limt` (did you mean `limit`?)"


@pytest.mark.parametrize("value", ["lots", True, -1, "1.001", [5]])
def test_parameter_override_of_the_wrong_type(tmp_path: Path, value: object) -> None:
    error = policy_error(tmp_path, HEADER, limit=value)
    assert error.code == "invalid-parameter-value"
    assert error.message.startswith("parameter `limit` must be money, got ")


def test_derived_fact_cycle_is_reported(tmp_path: Path) -> None:
    text = (
        "derived:\n  a: {type: boolean}\n  b: {type: boolean}\nrules:\n"
        + rule("      - derived.b: true\n", then="{derive: {a: true}}", rule_id="makes_a")
        + rule("      - derived.a: true\n", then="{derive: {b: true}}", rule_id="makes_b")
    )
    error = policy_error(tmp_path, text)
    assert error.code == "derived-fact-cycle"
    assert "makes_a -> makes_b -> makes_a" in error.message


def test_decision_rules_cannot_change_the_outcome(tmp_path: Path) -> None:
    error = policy_error(
        tmp_path, "rules:\n" + rule("      - decision.outcome: approve\n", then="{deny: true}")
    )
    assert (error.code, error.line) == ("decision-rule-effect", 7)


def test_undeclared_derived_fact(tmp_path: Path) -> None:
    error = policy_error(
        tmp_path, "rules:\n" + rule("      - customer.abusive: true\n", then="{derive: {vip: true}}")
    )
    assert error.code == "unknown-derived-fact"


def test_rule_without_effect(tmp_path: Path) -> None:
    assert (
        policy_error(tmp_path, "rules:\n" + rule("      - customer.abusive: true\n", then="{}")).code
        == "empty-effects"
    )


def test_every_problem_is_collected_and_sorted(tmp_path: Path) -> None:
    text = (
        "rules:\n"
        + rule("      - item.onsale: true\n", rule_id="one")
        + rule("      - request.amt: 5\n", rule_id="two")
    )
    error = policy_error(tmp_path, text)
    assert [(d.code, d.span.line if d.span else None) for d in error.diagnostics] == [
        ("unknown-fact-path", 6),
        ("unknown-fact-path", 12),
    ]
    assert str(error).endswith("(and 1 more problem)")


def test_policy_error_is_a_value_error(tmp_path: Path) -> None:
    assert isinstance(policy_error(tmp_path, "rules: 5\n"), ValueError)
