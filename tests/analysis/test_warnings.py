"""Each analysis warning: a policy that gets it (exact code, rules, file:line, a verified example)
and a close variant that does not."""

from __future__ import annotations

import itertools
import textwrap
from pathlib import Path
from typing import Any

import pytest

import csrules
from csrules import PolicyWarning, analyze
from csrules._regions import Regions
from csrules.analyze import ANALYSIS_NOW
from csrules.policy import Compare
from tests.helpers import make_ticket

HEAD = """\
parameters:
  limit: {type: money, default: 20, description: d}
  other_limit: {type: money, default: 20, description: d}
  hours: {type: integer, default: 4, description: d}
derived:
  vip: {type: boolean, default: false, description: d}
rules:
"""


def rule(rule_id: str, when: str, then: str) -> str:
    """One rule in YAML; `when` and `then` are YAML blocks (mappings or lists)."""
    when_block = textwrap.indent(textwrap.dedent(when).strip(), "      ")
    then_block = textwrap.indent(textwrap.dedent(then).strip(), "      ")
    return (
        f"  - id: {rule_id}\n    description: {rule_id}\n    rationale: r\n"
        f"    when:\n{when_block}\n    then:\n{then_block}\n"
    )


def bundle(tmp_path: Path, *rules: str, head: str = HEAD) -> csrules.Engine:
    path = tmp_path / "policy.yaml"
    path.write_text(head + "".join(rules), encoding="utf-8")
    return csrules.load(path)


def line_of(engine: csrules.Engine, rule_id: str) -> int:
    text = Path(engine.bundle.rules[0].span.file).read_text(encoding="utf-8").splitlines()
    return next(i for i, line in enumerate(text, 1) if line == f"  - id: {rule_id}")


def found(engine: csrules.Engine, code: str) -> list[PolicyWarning]:
    return [w for w in analyze(engine) if w.code == code]


def fired(engine: csrules.Engine, example: dict[str, Any] | None) -> list[str]:
    assert example is not None
    return engine.evaluate(example, now=ANALYSIS_NOW).trace.fired


def only(warnings: list[PolicyWarning]) -> PolicyWarning:
    assert len(warnings) == 1, [str(w) for w in warnings]
    return warnings[0]


# -- never-fires -----------------------------------------------------------------------------------


def test_a_contradiction_through_a_derived_fact_names_the_deriving_rule(tmp_path: Path) -> None:
    """The deriving rule's comparison was quoted as this rule's (`when[0]`, its line number in
    another file)."""
    (tmp_path / "a_derive.yaml").write_text(
        "derived:\n  big: {type: boolean, default: false, description: d}\nrules:\n"
        + rule("mk_big", "- request.amount: {gt: 500}", "derive: {big: true}"),
        encoding="utf-8",
    )
    (tmp_path / "b_use.yaml").write_text(
        "rules:\n"
        + rule("big_but_small", "- request.amount: {lt: 100}\n- derived.big: true", "require_role: manager"),
        encoding="utf-8",
    )
    warning = only(found(csrules.load(tmp_path), "never-fires"))
    assert warning.message == (
        "rule `big_but_small` can never fire: `request.amount lt 100.00` (when[0].request.amount, line 6) "
        "contradicts `request.amount gt 500.00` (rule `mk_big`'s when[0].request.amount, "
        f"{tmp_path / 'a_derive.yaml'}:8:9, through a derived fact)"
    )


@pytest.mark.parametrize(
    ("when", "reason"),
    [
        (
            "- attributes.vip: {exists: true}\n- attributes.vip: {exists: false}",
            "`attributes.vip exists true` (when[0].attributes.vip, line 12) contradicts "
            "`attributes.vip exists false` (when[1].attributes.vip, line 13)",
        ),
        (
            "- attributes.vip: {exists: false}\n- attributes.vip: gold",
            "`attributes.vip exists false` (when[0].attributes.vip, line 12) contradicts "
            "`attributes.vip eq gold` (when[1].attributes.vip, line 13)",
        ),
        (
            "- promise.delivery_date: {lt: {fact: promise.earliest_feasible}}\n"
            "- promise.delivery_date: {exists: false}",
            "`promise.delivery_date lt {fact: promise.earliest_feasible}` (when[0].promise.delivery_date, "
            "line 12) contradicts `promise.delivery_date exists false` (when[1].promise.delivery_date, line 13)",
        ),
    ],
)
def test_a_comparison_beside_exists_false_on_its_fact_never_fires(
    tmp_path: Path, when: str, reason: str
) -> None:
    """Any comparison but `exists` is false on an absent fact; attributes and fact references
    (opaque to the value domains) were not checked against `exists: false`."""
    engine = bundle(tmp_path, rule("never", when, "require_role: manager"))
    assert only(found(engine, "never-fires")).message == f"rule `never` can never fire: {reason}"


def test_a_negated_comparison_beside_exists_false_can_fire(tmp_path: Path) -> None:
    engine = bundle(
        tmp_path,
        rule(
            "fine",
            "- attributes.vip: {exists: false}\n- not: {attributes.vip: gold}",
            "require_role: manager",
        ),
    )
    assert found(engine, "never-fires") == []
    assert engine.evaluate(make_ticket(), now=ANALYSIS_NOW).trace.fired == ["fine"]


@pytest.mark.parametrize(
    ("when", "why"),
    [
        ("{derived.level: 3}", "no rule derives `level` = 3 and it is not the default"),
        ("{derived.level: {gte: 3}}", "`level` is only ever 0, 2 (its default and the values rules derive)"),
    ],
)
def test_a_derived_value_no_rule_gives_says_which_values_there_are(
    tmp_path: Path, when: str, why: str
) -> None:
    """For `gte 3` it said "no rule derives `level` = 3", as if 4 would do."""
    head = "derived:\n  level: {type: integer, default: 0, description: d}\nrules:\n"
    engine = bundle(
        tmp_path,
        rule("setl", "- request.amount: {gt: 10}", "derive: {level: 2}"),
        rule("never", f"- {when}", "require_role: senior"),
        head=head,
    )
    warning = only(found(engine, "never-fires"))
    assert warning.message.startswith("rule `never` can never fire: `derived.level ")
    assert warning.message.endswith(f"never holds: {why}")


def test_contradictory_amount_bounds_never_fire(tmp_path: Path) -> None:
    engine = bundle(
        tmp_path,
        rule("impossible", "- request.amount: {gt: 100}\n- request.amount: {lt: 50}", "require_role: senior"),
    )
    warning = only(found(engine, "never-fires"))
    assert warning.rules == ("impossible",)
    assert (Path(warning.span.file).name, warning.span.line) == ("policy.yaml", line_of(engine, "impossible"))
    assert "`request.amount gt 100.00` (when[0].request.amount, line 12)" in warning.message
    assert "contradicts `request.amount lt 50.00` (when[1].request.amount, line 13)" in warning.message
    # the near miss satisfies the first comparison, fails the second
    assert warning.example is not None
    assert warning.example["request"]["amount"] == 100.01
    assert "impossible" not in fired(engine, warning.example)
    assert str(warning).startswith(f"{warning.span.file}:{warning.span.line}:5: warning[never-fires]: rule")


def test_compatible_amount_bounds_fire(tmp_path: Path) -> None:
    engine = bundle(
        tmp_path,
        rule("band", "- request.amount: {gt: 100}\n- request.amount: {lt: 500}", "require_role: senior"),
    )
    assert found(engine, "never-fires") == []


@pytest.mark.parametrize(
    "when",
    [
        "- severity: {eq: high}\n- severity: {ne: high}",
        "- severity: {not_in: [low, normal, high, urgent]}",
        "- request.kind: refund\n- request.kind: credit",
        "- customer.id: {exists: false}",
        "- not: {item.on_sale: true}\n- item.on_sale: true",
        "- derived.vip: true",
        "- promise.delivery_date: {gte: 2026-12-02}\n- promise.delivery_date: {lte: 2026-12-01}",
        "- request.amount: {gt: {param: limit}}\n- request.amount: {lte: 20}",
    ],
)
def test_unsatisfiable_conditions_never_fire(tmp_path: Path, when: str) -> None:
    engine = bundle(tmp_path, rule("dead", when, "require_role: senior"))
    warning = only(found(engine, "never-fires"))
    assert warning.rules == ("dead",)
    if warning.example is not None:
        assert "dead" not in fired(engine, warning.example)


@pytest.mark.parametrize(
    "when",
    [
        "- severity: {eq: high}\n- severity: {ne: low}",
        "- severity: {not_in: [low, normal, high]}",
        # absent facts: `not (on_sale)` holds without an item, and so does `sku` not existing
        "- not: {item.on_sale: true}\n- item.sku: {exists: false}",
        "- not: {request.amount: {gt: 5}}\n- not: {request.amount: {lte: 5}}",
        "- any:\n  - request.amount: {gt: 100}\n  - severity: high\n- request.amount: {lt: 50}",
        "- promise.delivery_date: {gte: 2026-12-01}\n- promise.delivery_date: {lte: 2026-12-01}",
        "- request.amount: {gt: {param: limit}}\n- request.amount: {lte: 20.01}",
    ],
)
def test_satisfiable_conditions_give_no_warning(tmp_path: Path, when: str) -> None:
    engine = bundle(tmp_path, rule("alive", when, "require_role: senior"))
    assert found(engine, "never-fires") == []


def test_a_derived_value_that_some_rule_derives_is_reachable(tmp_path: Path) -> None:
    engine = bundle(
        tmp_path,
        rule("makes_vip", "- customer.tier: loyal", "derive: {vip: true}"),
        rule("vip_rule", "- derived.vip: true\n- customer.tier: loyal", "require_role: senior"),
        rule("vip_never", "- derived.vip: true\n- customer.tier: advocate", "require_role: senior"),
    )
    warning = only(found(engine, "never-fires"))
    assert warning.rules == ("vip_never",)


def test_an_enum_value_outside_the_enum_is_a_load_error_not_a_warning(tmp_path: Path) -> None:
    with pytest.raises(csrules.PolicyError) as info:
        bundle(tmp_path, rule("typo", "- severity: critical", "require_role: senior"))
    assert info.value.code == "type-mismatch"


# -- shadowed-rule ---------------------------------------------------------------------------------

BROAD = rule("broad", "- request.amount: {gt: 60}", "require_role: supervisor")


def test_a_narrower_rule_with_a_lower_role_is_shadowed(tmp_path: Path) -> None:
    narrow = rule("narrow", "- request.amount: {gt: 70}\n- severity: high", "require_role: senior")
    engine = bundle(tmp_path, BROAD, narrow)
    warning = only(found(engine, "shadowed-rule"))
    assert warning.rules == ("narrow", "broad")
    assert warning.span.line == line_of(engine, "narrow")
    assert {"narrow", "broad"} <= set(fired(engine, warning.example))


def test_a_narrower_rule_with_a_higher_role_is_not_shadowed(tmp_path: Path) -> None:
    narrow = rule("narrow", "- request.amount: {gt: 70}\n- severity: high", "require_role: manager")
    assert found(bundle(tmp_path, BROAD, narrow), "shadowed-rule") == []


def test_a_rule_that_fires_outside_the_other_is_not_shadowed(tmp_path: Path) -> None:
    wider = rule("wider", "- request.amount: {gt: 59.99}", "require_role: senior")
    assert found(bundle(tmp_path, BROAD, wider), "shadowed-rule") == []


def test_an_action_the_other_rule_lacks_is_not_shadowed(tmp_path: Path) -> None:
    narrow = rule(
        "narrow", "- request.amount: {gt: 70}", "require_role: senior\nactions:\n  - kind: notify_manager"
    )
    assert found(bundle(tmp_path, BROAD, narrow), "shadowed-rule") == []


def test_identical_rules_are_reported_once_on_the_later(tmp_path: Path) -> None:
    twin = rule("twin", "- request.amount: {gt: 60}", "require_role: supervisor")
    warning = only(found(bundle(tmp_path, BROAD, twin), "shadowed-rule"))
    assert warning.rules == ("twin", "broad")


def test_shadowing_that_holds_only_because_two_parameters_are_equal_is_not_reported(tmp_path: Path) -> None:
    """The default bundle's high-value limit equals the senior limit; parameters exist to be tuned."""
    by_param = rule("by_param", "- request.amount: {gt: {param: limit}}", "require_role: supervisor")
    high_value = rule(
        "high_value", "- request.amount: {gt: {param: other_limit}}\n- severity: high", "require_role: senior"
    )
    assert found(bundle(tmp_path, by_param, high_value), "shadowed-rule") == []
    same = rule("same", "- request.amount: {gt: {param: limit}}\n- severity: high", "require_role: senior")
    assert only(found(bundle(tmp_path, by_param, same), "shadowed-rule")).rules == ("same", "by_param")


def test_shadowing_through_derived_facts_whose_parameters_are_equal_is_not_reported(tmp_path: Path) -> None:
    """Only the parameters written in the two rules' own conditions were nudged: two limits equal
    by chance behind derived facts (the default bundle's `high_value` shape) were reported."""
    head = """\
parameters:
  high_value_lifetime_value: {type: money, default: 1000, description: d}
  vip_lifetime_value: {type: money, default: 1000, description: d}
derived:
  high_value: {type: boolean, default: false, description: d}
  vip: {type: boolean, default: false, description: d}
rules:
"""
    rules = [
        rule(
            "high_value_customer",
            "- customer.lifetime_value: {gte: {param: high_value_lifetime_value}}",
            "derive: {high_value: true}",
        ),
        rule(
            "vip_customer",
            "- customer.lifetime_value: {gte: {param: vip_lifetime_value}}",
            "derive: {vip: true}",
        ),
        rule(
            "high_value_refund", "- derived.high_value: true\n- request.kind: refund", "require_role: senior"
        ),
        rule("vip_request", "- derived.vip: true", "require_role: senior"),
    ]
    assert found(bundle(tmp_path, *rules, head=head), "shadowed-rule") == []
    # With one limit, the shadowing holds whatever it is set to: reported.
    same = head.replace("  vip_lifetime_value: {type: money, default: 1000, description: d}\n", "")
    rules[1] = rule(
        "vip_customer",
        "- customer.lifetime_value: {gte: {param: high_value_lifetime_value}}",
        "derive: {vip: true}",
    )
    engine = bundle(tmp_path, *rules, head=same)
    warning = only(found(engine, "shadowed-rule"))
    assert warning.rules == ("high_value_refund", "vip_request")
    assert {"high_value_refund", "vip_request"} <= set(fired(engine, warning.example))


def test_shadowing_that_holds_only_because_two_text_parameters_are_equal_is_not_reported(
    tmp_path: Path,
) -> None:
    """Only numbers and dates were nudged: two severities set alike were reported."""
    head = """\
parameters:
  senior_severity: {type: string, default: urgent, description: d}
  supervisor_severity: {type: string, default: urgent, description: d}
rules:
"""
    senior = rule("senior", "- severity: {eq: {param: senior_severity}}", "require_role: senior")
    supervisor = rule(
        "supervisor", "- severity: {eq: {param: supervisor_severity}}", "require_role: supervisor"
    )
    assert found(bundle(tmp_path, senior, supervisor, head=head), "shadowed-rule") == []


@pytest.mark.parametrize(
    "when",
    [
        "- request.amount: {gt: 70}\n- attributes.vip: true",
        "- request.amount: {gt: 70}\n- promise.delivery_date: {gt: {fact: promise.earliest_feasible}}",
    ],
)
def test_a_shadowed_rule_testing_an_attribute_or_another_fact_is_reported_without_an_example(
    tmp_path: Path, when: str
) -> None:
    """The proof held, but the warning was dropped because the analysis writes no attribute and no
    fact equal to another into its example tickets, so it found no ticket firing the rule."""
    engine = bundle(tmp_path, BROAD, rule("narrow", when, "require_role: senior"))
    warning = only(found(engine, "shadowed-rule"))
    assert warning.rules == ("narrow", "broad")
    assert warning.example is None
    # The claim holds: a ticket that fires `narrow` fires `broad`.
    ticket = make_ticket(
        request={"kind": "refund", "amount": "70.01"},
        attributes={"vip": True},
        promise={"delivery_date": "2026-02-02", "earliest_feasible": "2026-02-01"},
    )
    assert {"narrow", "broad"} <= set(fired(engine, ticket))


# -- conflicting-effects ---------------------------------------------------------------------------


def test_a_denial_overlapping_a_role_requirement_conflicts(tmp_path: Path) -> None:
    deny = rule("deny_big", "- request.amount: {gt: 500}", "deny: true")
    engine = bundle(tmp_path, BROAD, deny)
    warning = only(found(engine, "conflicting-effects"))
    assert warning.rules == ("deny_big", "broad")
    assert warning.span.line == line_of(engine, "deny_big")
    assert "the role requirement is moot there" in warning.message
    assert {"deny_big", "broad"} <= set(fired(engine, warning.example))


def test_a_denial_beside_a_role_band_does_not_conflict(tmp_path: Path) -> None:
    band = rule("band", "- request.amount: {gt: 60, lte: 500}", "require_role: supervisor")
    deny = rule("deny_big", "- request.amount: {gt: 500}", "deny: true")
    assert found(bundle(tmp_path, band, deny), "conflicting-effects") == []


def test_a_denial_and_a_role_requirement_on_independent_facts_do_not_conflict(tmp_path: Path) -> None:
    """Deny wins by design (decisions.md, case 1); the default bundle's raincheck denial is this case."""
    abuse = rule("abuse", "- customer.abusive: true", "require_role: supervisor")
    deny = rule("deny_raincheck", "- request.kind: raincheck\n- item.sku: {exists: false}", "deny: true")
    assert found(bundle(tmp_path, abuse, deny), "conflicting-effects") == []


def follow_up(rule_id: str, severity: str, hours: str) -> str:
    return rule(
        rule_id,
        f"- severity: {severity}",
        f"follow_ups:\n  - kind: escalation_update\n    due_in: {{hours: {hours}}}",
    )


def test_two_windows_for_one_follow_up_kind_conflict(tmp_path: Path) -> None:
    engine = bundle(
        tmp_path,
        follow_up("update_high", "high", "{param: hours}"),
        follow_up("update_any", "{ne: low}", "24"),
    )
    warning = only(found(engine, "conflicting-effects"))
    assert warning.rules == ("update_any", "update_high")
    assert "both add a `escalation_update` follow-up, due in 4h and 1d" in warning.message
    assert {"update_high", "update_any"} <= set(fired(engine, warning.example))


def test_follow_up_windows_on_disjoint_severities_do_not_conflict(tmp_path: Path) -> None:
    engine = bundle(tmp_path, follow_up("update_high", "high", "4"), follow_up("update_low", "low", "24"))
    assert found(engine, "conflicting-effects") == []


def test_one_follow_up_window_twice_does_not_conflict(tmp_path: Path) -> None:
    engine = bundle(
        tmp_path,
        follow_up("update_high", "high", "4"),
        follow_up("update_urgent", "{ne: low}", "{param: hours}"),
    )
    assert found(engine, "conflicting-effects") == []


def test_two_values_derived_for_one_fact_conflict(tmp_path: Path) -> None:
    yes = rule("vip_yes", "- customer.tier: loyal", "derive: {vip: true}")
    no = rule("vip_no", "- customer.lifetime_value: {lt: 100}", "derive: {vip: false}")
    engine = bundle(tmp_path, yes, no)
    warning = only(found(engine, "conflicting-effects"))
    assert warning.rules == ("vip_no", "vip_yes")
    assert {"vip_yes", "vip_no"} <= set(fired(engine, warning.example))
    no_disjoint = rule("vip_no", "- customer.tier: one_time", "derive: {vip: false}")
    assert found(bundle(tmp_path, yes, no_disjoint), "conflicting-effects") == []


# -- ladder-gap ------------------------------------------------------------------------------------


def test_a_band_rule_below_a_gap_is_reported(tmp_path: Path) -> None:
    band = rule("senior_band", "- request.amount: {gt: {param: limit}, lte: 50}", "require_role: senior")
    high = rule("supervisor_band", "- request.amount: {gt: 60}", "require_role: supervisor")
    engine = bundle(tmp_path, band, high)
    warning = only(found(engine, "ladder-gap"))
    assert warning.rules == ("senior_band",)
    assert warning.span.line == line_of(engine, "senior_band")
    assert warning.message.startswith(
        "`request.amount` 50.01 to 60.00 requires front_line but 50.00 requires senior"
    )
    assert warning.example is not None
    at_gap = engine.evaluate(warning.example, now=ANALYSIS_NOW)
    below = {**warning.example, "request": {**warning.example["request"], "amount": 50}}
    assert (at_gap.required_role, engine.evaluate(below, now=ANALYSIS_NOW).required_role) == (
        "front_line",
        "senior",
    )


def test_every_gap_of_a_ladder_is_reported(tmp_path: Path) -> None:
    """Only the lowest hole was: 100.01 to 110.00 showed once 50.01 to 60.00 was mended."""
    engine = bundle(
        tmp_path,
        rule("senior_band", "- request.amount: {gt: 20, lte: 50}", "require_role: senior"),
        rule("supervisor_band", "- request.amount: {gt: 60, lte: 100}", "require_role: supervisor"),
        rule("manager_band", "- request.amount: {gt: 110}", "require_role: manager"),
    )
    warnings = found(engine, "ladder-gap")
    assert [(w.rules, w.message.split(" (rule")[0]) for w in warnings] == [
        (("senior_band",), "`request.amount` 50.01 to 60.00 requires front_line but 50.00 requires senior"),
        (
            ("supervisor_band",),
            "`request.amount` 100.01 to 110.00 requires front_line but 100.00 requires supervisor",
        ),
    ]
    for warning in warnings:
        assert fired(engine, warning.example) == []


def test_the_ladder_gaps_found_do_not_depend_on_how_the_bundle_is_split_into_files(tmp_path: Path) -> None:
    """With more contexts than the budget, they were taken in file order: a hole between two phone
    bands was reported with the phone rules in `a_phone.yaml`, not in `z_phone.yaml`."""
    bands = "".join(
        rule(
            f"band_{i}",
            f"- severity: {severity}\n- customer.tier: {tier}\n- request.kind: {kind}\n"
            f"- request.amount: {{gt: {100 + 10 * i}}}",
            "require_role: supervisor",
        )
        for i, (severity, tier, kind) in enumerate(
            itertools.islice(
                itertools.product(
                    ("low", "high", "urgent"),
                    ("occasional", "frequent", "loyal", "advocate"),
                    ("refund", "credit", "replacement", "discount"),
                ),
                40,
            )
        )
    )
    phone = rule("phone_band", "- channel: phone\n- request.amount: {gt: 1, lte: 2}", "require_role: senior")
    phone += rule("phone_big", "- channel: phone\n- request.amount: {gt: 5}", "require_role: supervisor")
    reports = []
    for name in ("a_phone.yaml", "z_phone.yaml"):
        folder = tmp_path / name.removesuffix(".yaml")
        folder.mkdir()
        (folder / "bands.yaml").write_text("rules:\n" + bands, encoding="utf-8")
        (folder / name).write_text("rules:\n" + phone, encoding="utf-8")
        reports.append([(w.rules, w.message) for w in found(csrules.load(folder), "ladder-gap")])
    assert reports[0] == reports[1]
    assert (
        ("phone_band",),
        "`request.amount` 2.01 to 5.00 requires front_line but 2.00 requires senior (rule `phone_band`), "
        "other facts as in the example",
    ) in reports[0]


def test_a_gap_in_datetimes_runs_to_the_last_instant_a_ticket_can_have(tmp_path: Path) -> None:
    """It said the gap was the one instant `2026-02-01T00:00:00.000001Z`: the end of the range,
    9001-01-02, is no ticket's, so the run stopped before it."""
    band = rule(
        "dt_band",
        "- opened_at: {gt: 2026-01-01T00:00:00Z, lte: 2026-02-01T00:00:00Z}",
        "require_role: supervisor",
    )
    warning = only(found(bundle(tmp_path, band), "ladder-gap"))
    assert warning.message.startswith(
        "`opened_at` 2026-02-01T00:00:00.000001Z to 9000-12-31T23:59:59.999999Z requires front_line but "
        "2026-02-01T00:00:00Z requires supervisor (rule `dt_band`)"
    )


def test_contiguous_bands_have_no_gap(tmp_path: Path) -> None:
    band = rule("senior_band", "- request.amount: {gt: {param: limit}, lte: 50}", "require_role: senior")
    high = rule("supervisor_band", "- request.amount: {gt: 50}", "require_role: supervisor")
    assert found(bundle(tmp_path, band, high), "ladder-gap") == []


def test_a_gap_for_one_kind_of_request_is_reported_with_that_kind(tmp_path: Path) -> None:
    band = rule(
        "refund_band", "- request.kind: refund\n- request.amount: {gt: 20, lte: 50}", "require_role: senior"
    )
    high = rule("high", "- request.amount: {gt: 100}", "require_role: manager")
    engine = bundle(tmp_path, band, high)
    warning = only(found(engine, "ladder-gap"))
    assert warning.example is not None
    assert warning.example["request"]["kind"] == "refund"


def test_a_role_that_falls_with_a_fact_tested_only_as_an_upper_bound_is_no_ladder(tmp_path: Path) -> None:
    """A high lifetime value lowering the requirement is deliberate (the default bundle's high_value)."""
    low_value = rule(
        "low_value",
        "- customer.lifetime_value: {lt: 1000}\n- request.amount: {gt: 20}",
        "require_role: senior",
    )
    assert found(bundle(tmp_path, low_value), "ladder-gap") == []


# -- unused-parameter ------------------------------------------------------------------------------


def test_an_unused_parameter_is_reported_at_its_declaration(tmp_path: Path) -> None:
    engine = bundle(
        tmp_path, rule("uses_limit", "- request.amount: {gt: {param: limit}}", "require_role: senior")
    )
    warnings = found(engine, "unused-parameter")
    assert [(w.message, w.span.line, w.example, w.rules) for w in warnings] == [
        ("parameter `other_limit` is declared but no rule refers to it", 3, None, ()),
        ("parameter `hours` is declared but no rule refers to it", 4, None, ()),
    ]


def test_parameters_used_in_effects_and_the_currency_are_not_reported(tmp_path: Path) -> None:
    head = HEAD.replace(
        "parameters:\n", "parameters:\n  currency: {type: string, default: EUR, description: d}\n"
    )
    engine = bundle(
        tmp_path,
        rule("uses_limit", "- request.amount: {gt: {param: limit}}", "require_role: senior"),
        rule(
            "uses_others",
            "- severity: high",
            "actions:\n  - kind: credit\n    params: {amount: {param: other_limit}}\n"
            "follow_ups:\n  - kind: call_back\n    due_in: {hours: {param: hours}}",
        ),
        head=head,
    )
    assert found(engine, "unused-parameter") == []


# -- near-duplicate-kind ---------------------------------------------------------------------------


def acting(rule_id: str, severity: str, kind: str, field: str = "actions") -> str:
    effect = f"{field}:\n  - kind: {kind}" + ("\n    due_in: {hours: 1}" if field == "follow_ups" else "")
    return rule(rule_id, f"- severity: {severity}", effect)


@pytest.mark.parametrize(
    ("first", "second", "field"),
    [
        ("supervisor_takeover", "supervisor_take_over", "actions"),
        ("escalation_update", "escalation_updte", "follow_ups"),
        ("review_product", "reveiw_product", "actions"),
    ],
)
def test_a_kind_used_once_beside_a_near_duplicate_is_reported(
    tmp_path: Path, first: str, second: str, field: str
) -> None:
    engine = bundle(
        tmp_path,
        acting("one", "high", first, field),
        acting("two", "low", first, field),
        acting("typo", "urgent", second, field),
    )
    warning = only(found(engine, "near-duplicate-kind"))
    assert warning.rules == ("typo", "one")
    assert warning.span.line == line_of(engine, "typo")
    assert f"`{second}` is used only here, and `{first}` (rule `one`" in warning.message


def test_two_kinds_each_used_once_are_reported_once_on_the_later(tmp_path: Path) -> None:
    engine = bundle(
        tmp_path, acting("one", "high", "supervisor_takeover"), acting("two", "low", "supervisor_take_over")
    )
    assert only(found(engine, "near-duplicate-kind")).rules == ("two", "one")


def test_a_misspelt_kind_used_twice_by_one_rule_is_used_by_one_rule(tmp_path: Path) -> None:
    """Uses were counted per action: two `notify_custmer` actions of one rule hid the typo."""
    engine = bundle(
        tmp_path,
        rule(
            "one",
            "- severity: high",
            "actions: [{kind: notify_custmer, params: {a: 1}}, {kind: notify_custmer}]",
        ),
        acting("two", "low", "notify_customer"),
        acting("three", "urgent", "notify_customer"),
    )
    warning = only(found(engine, "near-duplicate-kind"))
    assert warning.rules == ("one", "two")
    assert "kind `notify_custmer` is used only here, and `notify_customer` (rule `two`" in warning.message


@pytest.mark.parametrize(
    ("when", "head"),
    [
        (
            "- promise.delivery_date: {lte: {param: cutoff}}",
            "  cutoff: {type: date, default: 9999-12-31, description: d}\n",
        ),
        (
            "- promise.delivery_date: {gte: {param: cutoff}}",
            "  cutoff: {type: date, default: 0001-01-01, description: d}\n",
        ),
    ],
)
def test_a_date_parameter_at_the_end_of_the_calendar_is_analysed(
    tmp_path: Path, when: str, head: str
) -> None:
    """Nudging it one day past the calendar's end was an OverflowError: `csrules check` exit 3."""
    engine = bundle(
        tmp_path,
        rule("wide", when, "require_role: senior"),
        rule("narrow", f"{when}\n- severity: urgent", "require_role: senior"),
        head=HEAD.replace("parameters:\n", "parameters:\n" + head),
    )
    warning = only(found(engine, "shadowed-rule"))
    assert warning.rules == ("narrow", "wide")


@pytest.mark.parametrize("moment", ["9999-12-31T23:00:00-01:00", "0001-01-01T00:00:00+01:00"])
def test_a_datetime_whose_instant_is_off_the_calendar_is_worded_as_written(
    tmp_path: Path, moment: str
) -> None:
    """Its UTC form overflowed while the never-fires warning was worded: `csrules check` exit 3."""
    op = "gte" if moment.startswith("9999") else "lte"
    engine = bundle(tmp_path, rule("edge", f"- opened_at: {{{op}: {moment}}}", "require_role: senior"))
    warning = only(found(engine, "never-fires"))
    assert f"`opened_at {op} {moment}`" in warning.message


def test_two_near_duplicate_kinds_in_one_rule_are_reported_once(tmp_path: Path) -> None:
    """Both were reported, each citing the other, at the same place."""
    engine = bundle(
        tmp_path, rule("both", "- severity: high", "actions: [{kind: notify_team}, {kind: notify_teams}]")
    )
    warning = only(found(engine, "near-duplicate-kind"))
    assert "kind `notify_teams` is used only here, and `notify_team` (rule `both`" in warning.message


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("review_product", "review_stocking_process"),
        ("refund", "resend"),
        ("notify", "notice"),
    ],
)
def test_different_kinds_are_not_near_duplicates(tmp_path: Path, first: str, second: str) -> None:
    engine = bundle(tmp_path, acting("one", "high", first), acting("two", "low", second))
    assert found(engine, "near-duplicate-kind") == []


def test_near_duplicates_both_used_twice_are_deliberate(tmp_path: Path) -> None:
    engine = bundle(
        tmp_path,
        *(
            acting(f"r{i}", severity, kind)
            for i, (severity, kind) in enumerate(
                [
                    ("high", "notify_team"),
                    ("low", "notify_team"),
                    ("urgent", "notify_teams"),
                    ("normal", "notify_teams"),
                ]
            )
        ),
    )
    assert found(engine, "near-duplicate-kind") == []


# -- the default bundle ----------------------------------------------------------------------------


def test_the_default_bundle_has_no_warnings() -> None:
    assert analyze(csrules.load()) == []


def test_the_default_bundle_with_a_lower_high_value_limit_has_no_warnings() -> None:
    """Tuned apart, the high-value limit is no longer shadowed (and was not reported before either)."""
    assert analyze(csrules.load(params={"front_line_limit_high_value": 40})) == []


def test_a_chain_of_derived_facts_each_tested_four_ways_is_analysed_in_linear_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each `derived.x` test inlined the deriving rules again, recursively: 4**N inlinings, and
    `csrules check` of 12 rules took 48 s and 208 MB. Counted, not timed: each comparison once."""
    calls = 0
    inline = Regions.inline

    def counting(self: Regions, c: Compare) -> Any:
        nonlocal calls
        calls += 1
        return inline(self, c)

    monkeypatch.setattr(Regions, "inline", counting)
    levels = 6
    rules = [rule("r0", "- request.amount: {gt: 10}", "derive: {x0: true}")]
    rules += [
        rule(
            f"r{k}",
            f"- derived.x{k - 1}: {{eq: true, ne: false, in: [true], not_in: [false]}}",
            f"derive: {{x{k}: true}}",
        )
        for k in range(1, levels + 1)
    ]
    rules.append(rule("last", f"- derived.x{levels}: true", "require_role: senior"))
    head = "derived:\n" + "".join(
        f"  x{k}: {{type: boolean, default: false, description: d}}\n" for k in range(levels + 1)
    )
    engine = bundle(tmp_path, *rules, head=head + "rules:\n")
    assert analyze(engine) == []
    assert calls <= 4 * (levels + 2)  # was 22,290 at 6 levels, 4x more per level
    assert (
        engine.evaluate(
            make_ticket(request={"kind": "refund", "amount": "10.01"}), now=ANALYSIS_NOW
        ).required_role
        == "senior"
    )


def test_never_fires_blames_the_comparison_that_never_holds_not_one_under_not(tmp_path: Path) -> None:
    """It blamed `derived.blocked eq true` under `not` (which always holds there, the default
    being false), sending the author to the wrong line: `vip` is what no rule derives."""
    head = HEAD.replace(
        "derived:\n", "derived:\n  blocked: {type: boolean, default: false, description: d}\n"
    )
    engine = bundle(
        tmp_path,
        rule("r", "- not: {derived.blocked: true}\n- derived.vip: true", "require_role: senior"),
        head=head,
    )
    warning = only(found(engine, "never-fires"))
    assert warning.message == (
        "rule `r` can never fire: `derived.vip eq true` (when[1].derived.vip, line 14) never holds: no rule "
        "derives `vip` = true and it is not the default"
    )


def test_a_custom_attribute_s_numbers_are_quoted_as_written_not_as_cents(tmp_path: Path) -> None:
    """`0.125` was quoted `0.12`, and `[0.001, 0.004]` `[0.00, 0.00]`: comparisons not in the file."""
    engine = bundle(
        tmp_path,
        rule("band", "- attributes.score: {gt: 0.125}\n- not: {attributes.score: {gt: 0.125}}", "deny: true"),
        rule(
            "tiny",
            "- attributes.risk: {in: [0.001, 0.004]}\n- not: {attributes.risk: {in: [0.001, 0.004]}}",
            "deny: true",
        ),
        rule("money", "- request.amount: {gt: 20.5}\n- not: {request.amount: {gt: 20.5}}", "deny: true"),
    )
    messages = [w.message for w in found(engine, "never-fires")]
    assert (
        "`attributes.score gt 0.125` (when[0].attributes.score, line 12) contradicts not `attributes.score gt 0.125`"
        in messages[0]
    )
    assert "`attributes.risk in [0.001, 0.004]` (when[0].attributes.risk, line 20) contradicts" in messages[1]
    assert "`request.amount gt 20.50` (when[0].request.amount, line 28) contradicts" in messages[2]


def test_rules_alike_only_because_two_effect_parameters_are_equal_are_not_shadowed(tmp_path: Path) -> None:
    """Two follow-up windows, both 24 hours, made the narrower rule "shadowed": deleting it as
    advised loses a window someone meant to tune (with 4 hours, a ticket gets both follow-ups)."""
    head = HEAD.replace(
        "parameters:\n",
        "parameters:\n  update_hours: {type: integer, default: 24, description: d}\n"
        "  update_hours_vip: {type: integer, default: 24, description: d}\n",
    )

    def update(name: str, hours: str, when: str) -> str:
        return rule(name, when, f"follow_ups: [{{kind: escalation_update, due_in: {{hours: {hours}}}}}]")

    wide = update("update_all", "{param: update_hours}", "- request.amount: {gt: 50}")
    narrow_when = "- request.amount: {gt: 50}\n- customer.tier: advocate"
    assert (
        found(
            bundle(tmp_path, wide, update("update_vip", "{param: update_hours_vip}", narrow_when), head=head),
            "shadowed-rule",
        )
        == []
    )
    # The same parameter in both, or the same literal: shadowed whatever it is set to.
    for hours in ("{param: update_hours}", "24"):
        wide = update("update_all", hours, "- request.amount: {gt: 50}")
        warning = only(
            found(
                bundle(tmp_path, wide, update("update_vip", hours, narrow_when), head=head), "shadowed-rule"
            )
        )
        assert warning.rules == ("update_vip", "update_all")
