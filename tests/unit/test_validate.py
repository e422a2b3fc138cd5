"""Validating policies: every problem is a PolicyError at the right file:line:column."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

import csrules
from csrules.values import quoted_if_typed
from tests.helpers import NOW, make_ticket, write_policy

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


def test_a_rule_with_a_duplicate_id_is_still_checked_for_its_own_problems(tmp_path: Path) -> None:
    """Its checks were skipped: a misspelt fact path and an empty `then` in it showed only once the
    id was fixed, though `.diagnostics` holds every problem found."""
    text = (
        "rules:\n"
        + rule("      - customer.abusive: true\n", rule_id="same")
        + rule("      - item.onsale: true\n", "{deny: false}", rule_id="same")
    )
    error = policy_error(tmp_path, text)
    assert [(d.code, d.span.line) for d in error.diagnostics] == [
        ("duplicate-rule-id", 8),
        ("unknown-fact-path", 12),
        ("empty-effects", 13),
    ]


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


@pytest.mark.parametrize(
    ("when", "message", "help_text"),
    [
        # Text that reads like a number is shown quoted: "got `20`" looked like 20 was refused.
        (
            '      - request.amount: "20"\n',
            '`request.amount` eq: `request.amount` is money, got `"20"`',
            None,
        ),
        ('      - attributes.x: {gt: "5"}\n', '`attributes.x` gt: expected a number, got `"5"`', None),
        ("      - item.sku: 20\n", "`item.sku` eq: `item.sku` is string, got `20`", None),
        # Which limit a number breaks.
        (
            "      - request.amount: 1000000001\n",
            "`request.amount` eq: `request.amount` is money, got `1000000001`",
            "expected money <= 1000000000",
        ),
        (
            "      - request.amount: 1.234\n",
            "`request.amount` eq: `request.amount` is money, got `1.234`",
            "expected money with at most 2 decimal places",
        ),
        (
            "      - request.amount: -1\n",
            "`request.amount` eq: `request.amount` is money, got `-1`",
            "expected money >= 0",
        ),
        (
            "      - attributes.x: 9007199254740992\n",  # 2**53
            "`attributes.x` eq: `attributes.x` is scalar, got `9007199254740992`",
            "a number must be 0 or between 1e-307 and 2**53 in size, with at most 15 significant digits",
        ),
        ("      - attributes.x: 9007199254740991\n", None, None),  # 2**53 - 1: loads
        (
            "      - attributes.x: 1e-400\n",  # was read as 0 by the engine: equal to an attribute of 0
            "`attributes.x` eq: `attributes.x` is scalar, got `1E-400`",
            "a number must be 0 or between 1e-307 and 2**53 in size, with at most 15 significant digits",
        ),
        (
            "      - attributes.x: {gt: -1e-308}\n",
            "`attributes.x` gt: `attributes.x` is scalar, got `-1e-308`",
            "a number must be 0 or between 1e-307 and 2**53 in size, with at most 15 significant digits",
        ),
        ("      - attributes.x: 1e-307\n", None, None),
        ("      - attributes.x: 0e-400\n", None, None),
    ],
)
def test_a_mismatch_says_which_value_and_which_limit(
    tmp_path: Path, when: str, message: str | None, help_text: str | None
) -> None:
    text = HEADER + "rules:\n" + rule(when)
    if message is None:
        csrules.load(write_policy(tmp_path, text))
        return
    error = policy_error(tmp_path, text)
    assert (error.code, error.line, error.message) == ("type-mismatch", 8, message)
    assert error.diagnostics[0].help == help_text


def test_a_bad_string_parameter_override_on_an_enum_shows_the_value(tmp_path: Path) -> None:
    text = "parameters:\n  sev: {type: string, default: high}\nrules:\n" + rule(
        "      - severity: {param: sev}\n"
    )
    error = policy_error(tmp_path, text, sev="bogus")
    # The override is wrong, not the file: no file position, the parameter named (it was the rule's).
    assert error.message == (
        "`severity` eq: parameter `sev` is `bogus`, expected one of low, normal, high, urgent (the override, "
        f"used at {tmp_path / 'policy.yaml'}:8:19)"
    )
    assert (error.file, error.line, error.diagnostics[0].param) == (None, None, "sev")
    error = policy_error(tmp_path, text.replace("default: high", "default: bogus"))
    assert (
        error.message
        == "`severity` eq: parameter `sev` is `bogus`, expected one of low, normal, high, urgent"
    )
    assert (error.line, error.diagnostics[0].param) == (8, None)


@pytest.mark.parametrize(
    ("override", "hint"),
    [
        (Decimal("45.5"), "a whole number written without a decimal point or exponent"),
        (Decimal("30.0"), "a whole number written without a decimal point or exponent"),
        (2**53, "a number below 2**53 in size"),
        (Decimal(30), "an int, not a Decimal"),
    ],
)
def test_an_integer_override_s_message_names_the_limit_it_breaks(
    tmp_path: Path, override: object, hint: str
) -> None:
    """`45.5` was told it must be "a number below 2**53 in size"."""
    text = "parameters:\n  days: {type: integer, default: 2}\nrules:\n" + rule(
        "      - severity: high\n", "{follow_ups: [{kind: k, due_in: {days: {param: days}}}]}"
    )
    error = policy_error(tmp_path, text, days=override)
    assert error.message == f"parameter `days` must be integer ({hint}), got `{override}`"
    assert (
        policy_error(tmp_path, text, days=2**53 - 1).code == "invalid-parameter-value"
    )  # a duration's range
    assert policy_error(tmp_path, text, days=True).message == "parameter `days` must be integer, got `true`"


def test_an_override_out_of_a_duration_s_range_is_the_override_s_problem(tmp_path: Path) -> None:
    text = "parameters:\n  days: {type: integer, default: 2}\nrules:\n" + rule(
        "      - severity: high\n", "{follow_ups: [{kind: k, due_in: {days: {param: days}}}]}"
    )
    error = policy_error(tmp_path, text, days=100_001)
    assert (error.file, error.diagnostics[0].param, error.code) == (None, "days", "invalid-parameter-value")
    assert error.message.startswith(
        "`days`: parameter `days` is 100001, expected 0 to 100000 (the override, used at "
    )


def test_a_bad_item_of_an_in_list_is_pointed_at_itself(tmp_path: Path) -> None:
    error = policy_error(tmp_path, "rules:\n" + rule("      - severity: {in: [high, hgh]}\n"))
    assert (error.code, error.line, error.column) == ("type-mismatch", 6, 31)  # `hgh`; the list is at 25
    assert error.diagnostics[0].help == "did you mean `high`?"


def test_a_not_in_list_of_mixed_types_on_an_attribute_is_refused(tmp_path: Path) -> None:
    """`attributes.n: {not_in: [a, 1]}` was false for every value (`ne` across types is false)."""
    error = policy_error(tmp_path, "rules:\n" + rule('      - attributes.n: {not_in: ["a", 1, true]}\n'))
    assert (error.code, error.line) == ("type-mismatch", 6)
    assert error.message == (
        "`attributes.n` not_in: a `not_in` list mixes booleans and numbers and strings, so it never holds "
        "(a comparison only holds between values of one type)"
    )
    assert (
        error.diagnostics[0].help
        == "to hold for every value outside the list, write `not: {attributes.n: {in: [...]}}`"
    )
    for allowed in ('{not_in: ["a", "b"]}', '{in: ["a", 1]}', "{not_in: [1, 2.5]}"):
        csrules.load(
            write_policy(tmp_path, "rules:\n" + rule(f"      - attributes.n: {allowed}\n"), "ok.yaml")
        )


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


def test_every_missing_key_of_a_mapping_is_reported(tmp_path: Path) -> None:
    """Only the first was: a rule lacking `description` and `rationale` took two runs to mend."""
    error = policy_error(tmp_path, "rules:\n  - id: a\n    then:\n      require_role: senior\n")
    assert [(d.code, d.span.line, d.span.column, d.message) for d in error.diagnostics if d.span] == [
        ("missing-key", 2, 5, "missing required key `description`"),
        ("missing-key", 2, 5, "missing required key `rationale`"),
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (  # reported at `due_in` with due_in's keys, plus "not an integer" and a missing `param`
            "rules:\n  - id: a\n    description: d\n    rationale: r\n    then:\n      follow_ups:\n"
            "        - kind: k\n          due_in:\n            days:\n              parm: x\n",
            [
                ("missing-key", 10, 15, "missing required key `param`", None),
                ("unknown-key", 10, 15, "unknown key `parm`", "did you mean `param`?"),
            ],
        ),
        (  # reported at the list, as "not a string"
            "invariants:\n  - id: i\n    description: d\n    never:\n      outcome: [approve, 5]\n",
            [("invalid-type", 5, 26, "`invariants.0.never.outcome.1`: input should be a valid string", None)],
        ),
    ],
    ids=["param-misspelt", "list-item"],
)
def test_a_value_of_a_union_is_reported_for_the_alternative_it_is(
    tmp_path: Path, text: str, expected: list[tuple[object, ...]]
) -> None:
    error = policy_error(tmp_path, text)
    found = [(d.code, d.span.line, d.span.column, d.message, d.help) for d in error.diagnostics if d.span]
    assert found == expected


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


def test_a_name_declared_with_a_bad_default_is_not_then_called_unknown(tmp_path: Path) -> None:
    """Its uses were reported too: `unknown parameter `limit``, `derives undeclared fact `x``
    (declare it under `derived:`), though both are declared in the same file."""
    text = (
        "parameters:\n  limit: {type: money, default: 20.001}\nderived:\n  x: {type: integer, default: foo}\n"
        "rules:\n"
        + rule(
            "      - request.amount: {gt: {param: limit}}\n      - derived.x: 3\n", then="{derive: {x: 3}}"
        )
        + rule(
            "      - request.amount: {gt: 1}\n",
            then="{actions: [{kind: k, params: {l: {param: limit}}}]}",
            rule_id="s",
        )
    )
    error = policy_error(tmp_path, text, limit=5)
    assert [(d.code, d.span.line if d.span else None) for d in error.diagnostics] == [
        ("invalid-parameter-value", 2),
        ("invalid-derived-default", 4),
    ]


def test_unknown_parameter_override(tmp_path: Path) -> None:
    error = policy_error(tmp_path, HEADER, limt=5)
    assert (error.code, error.file, error.line) == ("unknown-parameter", None, None)
    assert str(error) == "params: unknown parameter `limt` (did you mean `limit`?)"


@pytest.mark.parametrize(
    ("value", "limit"),
    [
        ("lots", ""),
        (True, ""),
        (-1, " (money >= 0)"),  # the limit broken is named (it said "must be money" alone)
        ("1.001", " (money with at most 2 decimal places)"),
        (10**12, " (money <= 1000000000)"),
        ([5], ""),
    ],
)
def test_parameter_override_of_the_wrong_type(tmp_path: Path, value: object, limit: str) -> None:
    error = policy_error(tmp_path, HEADER, limit=value)
    assert error.code == "invalid-parameter-value"
    assert error.message.startswith(f"parameter `limit` must be money{limit}, got ")


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


@pytest.mark.parametrize(
    "then",
    ["{}", "{deny: false}", "{actions: []}", "{derive: {}}", "{follow_ups: []}", "{require_role: null}"],
)
def test_rule_without_effect(tmp_path: Path, then: str) -> None:
    error = policy_error(tmp_path, "rules:\n" + rule("      - customer.abusive: true\n", then=then))
    assert (error.code, error.line, error.message) == ("empty-effects", 7, "rule `r` has no effect")


def test_a_rule_with_one_real_effect_among_empty_ones_loads(tmp_path: Path) -> None:
    then = "{deny: false, actions: [], follow_ups: [{kind: call_back, due_in: {hours: 1}}]}"
    engine = csrules.load(
        write_policy(tmp_path, "rules:\n" + rule("      - customer.abusive: true\n", then=then))
    )
    assert [f.kind for f in engine.bundle.rules[0].then.follow_ups] == ["call_back"]


def test_a_derived_money_fact_takes_only_a_money_parameter(tmp_path: Path) -> None:
    """An integer parameter may be compared with money, but -5 held as money made `derived.m`
    a value no money fact can have."""
    text = (
        "parameters:\n  i: {type: integer, default: -5}\n  m: {type: money, default: 5}\n"
        "derived:\n  held: {type: money, default: 0}\nrules:\n"
        + rule("      - customer.abusive: true\n", then="{derive: {held: {param: i}}}")
    )
    error = policy_error(tmp_path, text)
    # At the value `{param: i}`, as a condition's operand is (it was at the key `held`, column 21).
    assert (error.code, error.line, error.column) == ("type-mismatch", 12, 27)
    assert error.message == (
        "derive `held`: parameter `i` is integer, expected money (a derived fact holds values of its own type)"
    )
    engine = csrules.load(write_policy(tmp_path, text.replace("{param: i}", "{param: m}")))
    assert engine.bundle.rules[0].then.derive[0][0] == "held"
    for value, message in [
        ("yes", 'derive `held`: expected money, got `"yes"`'),
        ("{param: nope}", "derive `held`: unknown parameter `nope`"),
    ]:
        error = policy_error(tmp_path, text.replace("{param: i}", value))
        assert (error.line, error.column, error.message) == (12, 27, message)
    error = policy_error(tmp_path, text.replace("{held: {param: i}}", "{hold: 5}"))  # the name is wrong
    assert (error.code, error.line, error.column) == ("unknown-derived-fact", 12, 21)


def test_a_long_chain_of_derived_facts_written_backwards_is_a_policy_error(tmp_path: Path) -> None:
    """Staging walked the chain recursively: 1,000 links were a RecursionError."""
    count = 1000
    lines = ["derived:", *(f"  x{i}: {{type: boolean}}" for i in range(count)), "rules:"]
    for i in reversed(range(count)):
        when = f"[{{derived.x{i - 1}: true}}]" if i else "[]"
        lines.append(
            f"  - {{id: r{i}, description: d, rationale: r, when: {when}, then: {{derive: {{x{i}: true}}}}}}"
        )
    error = policy_error(tmp_path, "\n".join(lines) + "\n")
    assert error.code == "engine-limit"
    assert "the bundle needs 1006 facts on one engine fact" in error.message


def test_a_rule_of_400_comparisons_is_an_engine_limit_error(tmp_path: Path) -> None:
    """The matcher's depth was computed recursively, node by node: a RecursionError."""
    when = "".join(f"      - item.sku: {{ne: v{i}}}\n" for i in range(400))
    error = policy_error(tmp_path, "rules:\n" + rule(when))
    assert (error.code, error.line) == ("engine-limit", 2)
    assert "matcher depth 402 (at most 60)" in error.message


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


@pytest.mark.parametrize("text", ["2026-W03-3", "20260114", "2026-014"])
def test_dates_in_a_policy_are_written_as_tickets_write_them(tmp_path: Path, text: str) -> None:
    """Python 3.11's `date.fromisoformat` read week dates and basic formats in a policy, which a
    ticket's `promise.delivery_date` refuses (`invalid-date`)."""
    header = f"parameters:\n  cutoff: {{type: date, default: '{text}', description: d}}\n"
    error = policy_error(
        tmp_path, header + "rules:\n" + rule("      - promise.delivery_date: {lt: {param: cutoff}}\n")
    )
    assert (error.code, error.line, error.message) == (
        "invalid-parameter-value",
        2,
        f"parameter `cutoff`: default must be date, got `{quoted_if_typed(text)}`",
    )
    error = policy_error(tmp_path, "rules:\n" + rule(f"      - promise.delivery_date: {{lt: '{text}'}}\n"))
    assert (error.code, error.message) == (
        "type-mismatch",
        f"`promise.delivery_date` lt: `promise.delivery_date` is date, got `{quoted_if_typed(text)}`",
    )
    good = "parameters:\n  cutoff: {type: date, default: '2026-01-14', description: d}\n"
    engine = csrules.load(
        write_policy(
            tmp_path, good + "rules:\n" + rule("      - promise.delivery_date: {lt: {param: cutoff}}\n")
        )
    )
    assert str(engine.params["cutoff"]) == "2026-01-14"
    with pytest.raises(csrules.PolicyError) as info:
        csrules.load(
            write_policy(
                tmp_path, good + "rules:\n" + rule("      - promise.delivery_date: {lt: {param: cutoff}}\n")
            ),
            params={"cutoff": text},
        )
    assert info.value.diagnostics[0].param == "cutoff"


# durable_rules 2.0.28 keeps a string's length in 16 bits: a policy string of 65,536 UTF-8 bytes
# or more compared equal to a ticket's string that was a prefix of it (a silent wrong decision
# untraced, an EngineError traced). Policy strings have the tickets' limit: 10,000 characters.
_LONG = "A" * 10_001
_LONGEST = "A" * 10_000
_STRING_PARAM = "parameters:\n  blocked: {type: string, default: C-9}\nrules:\n" + rule(
    "      - customer.id: {param: blocked}\n", "{deny: true}"
)


@pytest.mark.parametrize(
    ("text", "code", "where"),
    [
        ("rules:\n" + rule("      - customer.id: {ne: " + _LONG + "}\n"), "type-mismatch", (6, 27)),
        ("rules:\n" + rule("      - customer.id: {in: [x, " + _LONG + "]}\n"), "type-mismatch", (6, 31)),
        ("rules:\n" + rule("      - attributes.code: " + _LONG + "\n"), "type-mismatch", (6, 26)),
        (
            f"parameters:\n  p: {{type: string, default: {_LONG}}}\nrules: []\n",
            "invalid-parameter-value",
            (2, 30),
        ),
        (
            f"derived:\n  label: {{type: string, default: {_LONG}}}\nrules: []\n",
            "invalid-derived-default",
            (2, 34),
        ),
        (
            "derived:\n  label: {type: string, default: x}\nrules:\n"
            + rule("      - customer.id: C-1\n", f"{{derive: {{label: {_LONG}}}}}"),
            "type-mismatch",
            (9, 28),  # at the value
        ),
    ],
)
def test_a_policy_string_longer_than_a_tickets_is_refused_where_it_is(
    tmp_path: Path, text: str, code: str, where: tuple[int, int]
) -> None:
    error = policy_error(tmp_path, text)
    assert (error.code, (error.line, error.column)) == (code, where)
    assert "a string of 10001 characters in composed form (NFC; at most 10000)" in error.message


def test_a_string_parameter_override_longer_than_a_tickets_is_refused(tmp_path: Path) -> None:
    error = policy_error(tmp_path, _STRING_PARAM, blocked="A" * 65_537)
    assert error.code == "invalid-parameter-value"
    assert error.message == (
        "parameter `blocked` must be string, got a string of 65537 characters in composed form (NFC; at most 10000)"
    )


def test_the_longest_policy_string_compares_exactly(tmp_path: Path) -> None:
    engine = csrules.load(write_policy(tmp_path, _STRING_PARAM), params={"blocked": _LONGEST})
    ticket = make_ticket(customer={"id": _LONGEST})
    assert engine.evaluate(ticket, now=NOW).outcome == "deny"
    for other in (_LONGEST[:-1], _LONGEST[:-1] + "B"):
        ticket = make_ticket(customer={"id": other})
        assert engine.evaluate(ticket, now=NOW).outcome == "approve"
        assert next(iter(engine.evaluate_many([ticket], now=NOW, trace=False))).outcome == "approve"


def test_a_name_hash_collision_names_the_attributes_as_written_and_where(tmp_path: Path) -> None:
    """It named the engine's `a.num.` / `a.str.` names and had no position."""
    text = (
        "rules:\n"
        "  - {id: r1, description: d, rationale: r, when: [{attributes.qde7rv_5: x}], then: {deny: true}}\n"
        "  - {id: r2, description: d, rationale: r, when: [{attributes.xyc_f8p9: 1}], then: {deny: true}}\n"
    )
    error = policy_error(tmp_path, text)
    assert (error.code, error.line, error.column) == ("engine-limit", 2, 52)
    assert error.message == (
        "fact names `attributes.xyc_f8p9` and `attributes.qde7rv_5` collide in durable_rules' 32-bit name hash"
    )


def test_a_long_string_of_the_wrong_type_is_reported_as_the_wrong_value_not_as_too_long(
    tmp_path: Path,
) -> None:
    """An enum or money fact given a long string said `got a string of 10001 characters ... (at
    most 10000)`, as if its length were the problem."""
    text = "rules:\n" + rule("      - request.kind: " + _LONG + "\n")
    error = policy_error(tmp_path, text)
    assert error.code == "type-mismatch"
    assert error.message.endswith("got `" + "A" * 57 + "...`")


def test_a_collision_with_a_comparison_sent_as_a_difference_names_the_comparison(tmp_path: Path) -> None:
    """`request.amount gt limit` is the engine fact `c.0` (amount minus limit); `a.num.xze2eqjs`
    has its FNV-1a hash (found by a meet-in-the-middle search)."""
    text = (
        "parameters:\n  limit: {type: money, default: 20}\nrules:\n"
        "  - {id: r1, description: d, rationale: r, when: [{attributes.xze2eqjs: 1}], then: {deny: true}}\n"
        "  - {id: r2, description: d, rationale: r, when: [{request.amount: {gt: {param: limit}}}],"
        " then: {deny: true}}\n"
    )
    error = policy_error(tmp_path, text)
    assert (error.code, error.line, error.column) == ("engine-limit", 5, 52)
    assert error.message == (
        "fact names `attributes.xze2eqjs` and `request.amount compared with parameter limit` collide in "
        "durable_rules' 32-bit name hash"
    )
    assert error.diagnostics[0].help == "rename the attribute or derived fact; a ticket path's name is fixed"


def test_an_unquoted_date_as_an_action_parameter_is_told_to_be_quoted(tmp_path: Path) -> None:
    """YAML reads `2026-12-31` as a date: the message said a parameter "is a scalar", which a date is."""
    text = "rules:\n" + rule(
        "      - request.amount: {gt: 5}\n", "{actions: [{kind: k, params: {valid_until: 2026-12-31}}]}"
    )
    error = policy_error(tmp_path, text)
    assert (error.code, error.message) == (
        "invalid-value",
        "an action parameter is text, a number, true, false or null: a date or time written unquoted "
        "is a date to YAML, quote it (`'2026-12-31'`)",
    )
    assert (error.line, error.column) == (7, 54)


@pytest.mark.parametrize(
    ("declared", "where", "got"),
    [
        ("  currency:\n    type: string\n    default: usd\n", (4, 14), "got `usd`"),
        ("  currency:\n    type: money\n    default: 5\n", (3, 11), "got type `money`"),
    ],
)
def test_a_bad_currency_default_is_reported_at_what_is_wrong_and_shows_it(
    tmp_path: Path, declared: str, where: tuple[int, int], got: str
) -> None:
    """It was reported at the parameter's name without the value, unlike every other default."""
    error = policy_error(tmp_path, "parameters:\n" + declared)
    assert (error.code, (error.line, error.column)) == ("invalid-parameter-value", where)
    assert error.message == f"parameter `currency` must be a string of 3 capital letters, {got}"


@pytest.mark.parametrize(
    ("default", "hint"),
    [
        ("20.005", "expected money with at most 2 decimal places"),
        ("-1", "expected money >= 0"),
        ('"20"', None),  # text: no limit of money to name
    ],
)
def test_a_bad_money_default_names_the_limit_it_breaks_as_a_bad_literal_does(
    tmp_path: Path, default: str, hint: str | None
) -> None:
    """`default must be money, got `20.005`` said no more, while the same number in a condition
    said which limit it breaks."""
    error = policy_error(
        tmp_path, f"parameters:\n  lim: {{type: money, default: {default}, description: d}}\n"
    )
    (diagnostic,) = error.diagnostics
    assert (diagnostic.code, diagnostic.message) == (
        "invalid-parameter-value",
        f"parameter `lim`: default must be money, got `{default}`",
    )
    assert diagnostic.help == hint
