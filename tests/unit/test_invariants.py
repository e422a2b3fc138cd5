"""Invariants declared in policy files: validation, checking with shrunk counterexamples, strategies."""

from __future__ import annotations

import re
import shutil
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings

import csrules
from csrules.testing.invariants import check_invariant, check_invariants
from csrules.testing.strategies import boundaries, limits, named_values, tickets
from tests.helpers import NOW, ROOT, write_policy

EXAMPLES = 100

RULE = """\
rules:
  - id: over_twenty
    description: Over twenty
    rationale: A senior decides above twenty.
    when: [{request.amount: {gt: 20}}]
    then: {require_role: senior}
"""

# Band rules with a gap above 50 and a rule that makes seniority hurt: every kind of violation.
BROKEN = """\
rules:
  - id: senior_band
    description: Senior band
    rationale: Amounts above 20 up to 50 go to a senior.
    when:
      - request.amount: {gt: 20}
      - request.amount: {lte: 50}
    then: {require_role: senior}
  - id: supervisor_band
    description: Supervisor band
    rationale: Amounts above 60 go to a supervisor.
    when:
      - request.amount: {gt: 60}
    then: {require_role: supervisor}
  - id: managers_deny
    description: Managers may not grant goodwill
    rationale: Made up so that seniority hurts.
    when:
      - agent.role: manager
      - request.kind: goodwill
    then: {deny: true}
invariants:
  - id: monotonic
    description: A larger amount never needs a less senior employee.
    monotonic_in: request.amount
  - id: roles
    description: Seniority never hurts.
    role_monotonic: true
  - id: vacuous
    description: Tests a region no ticket is in.
    never: {outcome: deny, when: [{request.amount: {gt: 60}}, {request.amount: {lte: 20}}]}
  - id: no_goodwill_denial
    description: Goodwill is never denied.
    never: {outcome: deny, when: [{request.kind: goodwill}]}
"""


def load_text(tmp_path: Path, text: str) -> csrules.Engine:
    return csrules.load([write_policy(tmp_path, text)])


def problems(tmp_path: Path, invariants: str) -> list[str]:
    path = write_policy(tmp_path, RULE + "invariants:\n" + invariants)
    with pytest.raises(csrules.PolicyError) as info:
        csrules.load([path])
    return [f"{d.span.line}:{d.span.column} {d.code}: {d.message}" for d in info.value.diagnostics if d.span]


# --- validation --------------------------------------------------------------------------------


def test_the_three_kinds_load_as_declared(tmp_path: Path) -> None:
    engine = load_text(
        tmp_path,
        RULE
        + "invariants:\n"
        + "  - {id: a, description: d, monotonic_in: request.amount}\n"
        + "  - {id: b, description: d, role_monotonic: true}\n"
        + "  - id: c\n    description: d\n"
        + "    never: {outcome: [approve, approve], required_role: senior, when: [{customer.abusive: true}]}\n",
    )
    a, b, c = engine.bundle.invariants
    assert (a.kind, a.path, a.source) == ("monotonic_in", "request.amount", "policy.yaml:8")
    assert (b.kind, b.path) == ("role_monotonic", None)
    assert (c.kind, c.outcomes, c.roles) == ("never", ("approve",), ("senior",))
    assert [(x.path, x.op, x.operand) for x in c.when.items] == [("customer.abusive", "eq", True)]


def test_invariants_do_not_change_the_policy_digest(tmp_path: Path) -> None:
    (tmp_path / "plain").mkdir()
    (tmp_path / "declared").mkdir()
    plain = load_text(tmp_path / "plain", RULE)
    declared = load_text(
        tmp_path / "declared", RULE + "invariants:\n  - {id: b, description: d, role_monotonic: true}\n"
    )
    assert plain.policy_digest == declared.policy_digest


@pytest.mark.parametrize(
    ("invariants", "expected"),
    [
        (
            "  - {id: a, description: d, monotonic_in: request.kind}\n",
            "8:43 invalid-invariant: invariant `a`: `monotonic_in` takes a money or integer ticket fact, got `request.kind`",
        ),
        (
            "  - {id: a, description: d, role_monotonic: true, monotonic_in: request.amount}\n",
            "8:5 invalid-invariant: invariant `a` needs exactly one of `monotonic_in`, `role_monotonic`, `never`; found `monotonic_in`, `role_monotonic`",
        ),
        (
            "  - {id: a, description: d}\n",
            "8:5 invalid-invariant: invariant `a` needs exactly one of `monotonic_in`, `role_monotonic`, `never`; found none",
        ),
        (
            "  - {id: a, description: d, role_monotonic: false}\n",
            "8:45 invalid-invariant: invariant `a`: `role_monotonic` can only be `true`",
        ),
        (
            "  - {id: a, description: d, never: {when: []}}\n",
            "8:36 invalid-invariant: invariant `a`: `never` needs `outcome`, `required_role` or both",
        ),
        (
            "  - {id: a, description: d, never: {outcome: deny, when: {decision.outcome: approve}}}\n",
            "8:58 invalid-invariant: invariant `a`: `when` may test ticket facts only, not `decision.*`",
        ),
        (
            "  - {id: a, description: d, never: {outcome: deny, when: {request.amont: 5}}}\n",
            "8:59 unknown-fact-path: unknown fact path `request.amont`",
        ),
        (
            "  - {id: a, description: d, never: {outcome: maybe}}\n",
            "8:46 invalid-value: invariant `a`: `outcome` takes approve, escalate, deny or a list of them, got `maybe`",
        ),
        (
            "  - {id: a, description: d, role_monotonic: true}\n  - {id: a, description: e, role_monotonic: true}\n",
            "9:10 invalid-invariant: duplicate invariant id `a`",
        ),
        # An empty list forbade nothing and read as "any": `csrules check` said ok, every ticket failed
        (
            "  - {id: a, description: d, never: {outcome: []}}\n",
            "8:46 invalid-invariant: invariant `a`: `outcome` is an empty list: name the outcomes the "
            "invariant forbids, or leave the key out",
        ),
        (
            "  - {id: a, description: d, never: {outcome: approve, required_role: []}}\n",
            "8:70 invalid-invariant: invariant `a`: `required_role` is an empty list: name the required "
            "roles the invariant forbids, or leave the key out",
        ),
    ],
)
def test_invalid_invariants_are_policy_errors(tmp_path: Path, invariants: str, expected: str) -> None:
    assert problems(tmp_path, invariants)[0] == expected


# --- checking ----------------------------------------------------------------------------------


def test_the_default_bundle_meets_its_invariants() -> None:
    results = check_invariants(csrules.load(), examples=EXAMPLES)
    assert [(r.invariant.id, r.passed) for r in results] == [
        ("abuse_never_handled_below_supervisor", True),
        ("larger_amount_never_lowers_role", True),
        ("seniority_never_hurts", True),
        ("front_line_decides_up_to_front_line_limit", True),
        ("senior_decides_up_to_senior_limit", True),
        ("supervisor_decides_up_to_supervisor_limit", True),
        ("manager_decides_above_supervisor_limit", True),
        ("raincheck_only_for_sale_items", True),
    ]
    # Every check ran the boundary sweep and its random examples; every `never` reached its region.
    assert all(r.examples > EXAMPLES for r in results)
    assert all(r.relevant >= EXAMPLES // 10 for r in results if r.invariant.kind == "never")


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_supervisor_limit_below_the_senior_limit_is_caught_at_the_boundary(seed: int) -> None:
    engine = csrules.load(params={"supervisor_limit": 40})
    invariant = next(i for i in engine.bundle.invariants if i.id == "senior_decides_up_to_senior_limit")
    result = check_invariant(engine, invariant, examples=EXAMPLES, seed=seed)
    assert not result.passed
    assert result.problem == "a ticket satisfying `when` gets outcome escalate, required role manager"
    # The sweep: amounts 0.00, 0.01, 19.99, 20.00, 20.01, 39.99, 40.00, 40.01, each with the
    # customer's lifetime value absent, 999.99, 1000.00 and 1000.01 (a limit of the bundle's), up
    # to the first that breaks it: 7 x 4 + 1.
    assert result.examples == 29
    (witness,) = result.witnesses
    assert witness.ticket["request"]["amount"] == "40.01"
    assert witness.decision.required_role == "manager"
    assert witness.decision.reasons.required_role == ["over_supervisor_limit"]


_IN_STORE_MANAGER = """
  - id: in_store_manager
    description: planted
    rationale: planted
    when:
      - channel: in_store
      - request.amount: {gt: 7}
    then:
      require_role: manager
"""


def _with_in_store_manager(tmp_path: Path) -> csrules.Engine:
    """The default bundle with the planted rule `_IN_STORE_MANAGER`."""
    bundle = tmp_path / "policies"
    shutil.copytree(ROOT / "policies", bundle)
    empowerment = bundle / "empowerment.yaml"
    text = empowerment.read_text(encoding="utf-8")
    empowerment.write_text(
        text.replace("\ninvariants:", _IN_STORE_MANAGER + "\ninvariants:", 1), encoding="utf-8"
    )
    return csrules.load(bundle)


def test_random_tickets_reach_the_enum_values_and_sections_a_bundle_reads(tmp_path: Path) -> None:
    """Channels, severities, categories, tiers and request kinds were drawn uniformly, never as
    the values the bundle compares them with, and an optional field was there a quarter of the
    time: `channel: in_store` came in 4% of tickets, and a planted rule sending $7.01 in store to
    a manager broke three invariants that seeds 1, 2 and 4 (of 0 to 7) reported all held."""
    engine = _with_in_store_manager(tmp_path)
    drawn: list[dict[str, object]] = []

    @settings(max_examples=400, database=None, derandomize=True)
    @given(tickets(engine=engine))
    def draw(ticket: dict[str, object]) -> None:
        drawn.append(ticket)

    draw()
    in_store = sum(t.get("channel") == "in_store" for t in drawn)
    assert sum("channel" in t for t in drawn) > len(drawn) * 0.35  # was about 0.23
    assert in_store > len(drawn) * 0.2  # was about 0.04
    assert sum("opened_at" in t for t in drawn) < len(drawn) * 0.35  # no rule reads it: as before
    broken = [r for r in check_invariants(engine, examples=EXAMPLES, seed=0) if not r.passed]
    assert len(broken) == 3
    assert {w.ticket.get("channel") for r in broken for w in r.witnesses} == {"in_store"}


def test_every_other_invariant_still_holds_with_the_broken_limit() -> None:
    engine = csrules.load(params={"supervisor_limit": 40})
    failed = [r.invariant.id for r in check_invariants(engine, examples=EXAMPLES) if not r.passed]
    assert failed == ["senior_decides_up_to_senior_limit"]


def test_each_kind_of_violation_with_its_counterexample(tmp_path: Path) -> None:
    results = {r.invariant.id: r for r in check_invariants(load_text(tmp_path, BROKEN), examples=EXAMPLES)}

    monotonic = results["monotonic"]
    assert (
        monotonic.problem
        == "request.amount 50.00 requires senior, but the larger 50.01 requires only front_line"
    )  # the closest pair: the sweep compares neighbours
    low, high = monotonic.witnesses
    assert (low.label, high.label) == ("request.amount 50.00", "request.amount 50.01")
    assert (low.decision.required_role, high.decision.required_role) == ("senior", "front_line")
    assert {k: v for k, v in low.ticket.items() if k != "request"} == {
        k: v for k, v in high.ticket.items() if k != "request"
    }

    roles = results["roles"]
    assert roles.problem == "a front_line agent gets approve, but a manager agent gets deny"
    junior, senior = roles.witnesses
    assert (junior.ticket["agent"]["role"], senior.ticket["agent"]["role"]) == ("front_line", "manager")
    assert senior.decision.reasons.outcome == ["managers_deny"]

    vacuous = results["vacuous"]
    assert vacuous.examples == EXAMPLES + 9  # the sweep: 19.99 ... 60.01 around the three limits
    assert vacuous.problem == "`when` held on none of the 109 tickets tried: the invariant was not tested"
    assert (vacuous.relevant, vacuous.witnesses) == (0, ())

    never = results["no_goodwill_denial"]
    (witness,) = never.witnesses
    assert never.problem == "a ticket satisfying `when` gets outcome deny, required role front_line"
    assert (witness.ticket["request"]["kind"], witness.ticket["agent"]["role"]) == ("goodwill", "manager")


VIP_BAND = """\
rules:
  - id: over_twenty
    description: Over twenty
    rationale: A senior decides above twenty.
    when: [{request.amount: {gt: 20}}]
    then: {require_role: senior}
  - id: vip_band
    description: Mid-size refunds of valued customers
    rationale: Made up so that only valued customers break the invariants.
    when:
      - customer.lifetime_value: {gte: 1000}
      - request.amount: {gt: 30}
      - request.amount: {lte: 50}
    then: {require_role: supervisor}
invariants:
  - {id: monotonic, description: d, monotonic_in: request.amount}
  - id: supervisors_above_fifty
    description: d
    never: {required_role: supervisor, when: [{request.amount: {lte: 50}}]}
"""


def test_a_break_only_a_combination_of_limits_reaches_is_found_by_the_sweep(tmp_path: Path) -> None:
    """The sweep set only `request.amount`: a break that needs a valued customer too was left to
    the random tickets, and with few of them passed."""
    engine = load_text(tmp_path, VIP_BAND)
    monotonic, never = check_invariants(engine, examples=1, seed=0)
    assert monotonic.problem == (
        "request.amount 50.00 requires supervisor, but the larger 50.01 requires only senior"
    )
    low, high = monotonic.witnesses
    assert low.ticket["customer"] == high.ticket["customer"] == {"id": "C-1", "lifetime_value": "1000.00"}
    # The smallest amount first: 30.01 with a lifetime value of exactly 1000.00.
    assert never.problem == "a ticket satisfying `when` gets outcome escalate, required role supervisor"
    (witness,) = never.witnesses
    assert (witness.ticket["request"]["amount"], witness.ticket["customer"]) == (
        "30.01",
        {"id": "C-1", "lifetime_value": "1000.00"},
    )
    assert witness.decision.reasons.required_role == ["vip_band"]


def test_the_sweep_takes_each_fact_alone_beyond_its_cap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from csrules.testing import invariants  # noqa: PLC0415 - the cap is the module's

    monkeypatch.setattr(invariants, "SWEEP_CAP", 4)
    (result,) = check_invariants(
        load_text(
            tmp_path,
            VIP_BAND.replace("  - {id: monotonic, description: d, monotonic_in: request.amount}\n", ""),
        ),
        examples=1,
        seed=0,
    )
    # Amounts 19.99 ... 50.01 (3 x 3 points) with no lifetime value, then the lifetime value
    # absent, 999.99, 1000.00 and 1000.01 with the amount at 0.00, then one random ticket: no sweep
    # ticket has both, and the random one does not either: the break is not found.
    assert (result.passed, result.examples) == (True, 9 + 4 + 1)


def test_checking_is_deterministic_for_a_seed(tmp_path: Path) -> None:
    engine = load_text(tmp_path, BROKEN)
    first = check_invariants(engine, examples=EXAMPLES, seed=7)
    second = check_invariants(engine, examples=EXAMPLES, seed=7)
    assert [(r.problem, r.examples, r.relevant, [w.ticket for w in r.witnesses]) for r in first] == [
        (r.problem, r.examples, r.relevant, [w.ticket for w in r.witnesses]) for r in second
    ]


# --- strategies --------------------------------------------------------------------------------


def test_limits_are_the_values_the_bundle_compares_a_fact_with() -> None:
    engine = csrules.load()
    assert limits(engine) == [Decimal("0.00"), Decimal("20.00"), Decimal("50.00"), Decimal("100.00")]
    assert limits(engine, "customer.lifetime_value") == [Decimal("1000.00")]
    assert limits(engine, "item.regular_price") == []
    assert limits(csrules.load(params={"supervisor_limit": 75})) == [
        Decimal("0.00"),
        Decimal("20.00"),
        Decimal("50.00"),
        Decimal("75.00"),
    ]


@settings(max_examples=50, deadline=None)
@given(tickets(sections=("request", "item")))
def test_required_sections_are_always_drawn(ticket: dict[str, object]) -> None:
    assert {"request", "item"} <= set(ticket)
    csrules.load().evaluate(ticket)


def test_an_unknown_section_is_refused() -> None:
    with pytest.raises(ValueError, match=r"unknown ticket sections \['requests'\]"):
        tickets(sections=("requests",))


def test_integer_parameters_used_as_money_limits_are_limits_too(tmp_path: Path) -> None:
    engine = load_text(
        tmp_path,
        "parameters:\n  lo: {type: integer, default: 20}\n" + RULE.replace("{gt: 20}", "{gt: {param: lo}}"),
    )
    assert limits(engine) == [Decimal("20.00")]


@pytest.mark.parametrize("examples", [0, -1])
def test_no_examples_is_a_value_error_not_hypothesis(examples: int) -> None:
    """It raised hypothesis' InvalidArgument."""
    from csrules.testing.invariants import check_invariants  # noqa: PLC0415 - as the CLI imports it

    with pytest.raises(ValueError, match="`examples` must be an int >= 1"):
        check_invariants(csrules.load(), examples=examples)


def test_the_sweep_reaches_every_limit_of_a_bundle_with_many(tmp_path: Path) -> None:
    """With ten limits below it, a break at 500.00 -> 500.01 passed: the sweep took all pairs of
    boundary amounts, cut at 300, from the low end."""
    rules = "".join(
        f"  - id: over_{n}\n    description: d\n    rationale: r\n"
        f"    when: [{{request.amount: {{gt: {n}}}}}]\n    then: {{require_role: senior}}\n"
        for n in range(10, 101, 10)
    )
    text = (
        "rules:\n" + rules + "  - id: exactly_500\n    description: d\n    rationale: r\n"
        "    when: [{request.amount: {gt: 499.99}}, {request.amount: {lte: 500}}]\n"
        "    then: {require_role: manager}\n"
        "invariants:\n  - {id: mono, description: d, monotonic_in: request.amount}\n"
    )
    (result,) = check_invariants(load_text(tmp_path, text), examples=1, seed=0)
    assert (
        result.problem == "request.amount 500.00 requires manager, but the larger 500.01 requires only senior"
    )


@pytest.mark.parametrize(
    ("rule_when", "fact"),
    [
        ("[{attributes.legal_threat: true}]", "attributes"),
        ("[{attributes.region: north}]", "attributes"),
        ("[{opened_at: {lt: 2025-06-01T00:00:00Z}}]", "opened_at"),
        ("[{promise.delivery_date: {lt: 2020-01-01}}]", "promise"),
        ("[{item.sku: TV-55}]", "item"),
        ("[{customer.id: C-VIP-9}]", "customer"),
    ],
)
def test_the_random_tickets_reach_values_only_the_bundle_names(
    tmp_path: Path, rule_when: str, fact: str
) -> None:
    """An attribute the bundle reads (`legal_threat`), a date long before the drawn range, an sku
    of its own: no generated ticket had them, so a break behind them was reported as holding."""
    text = (
        "rules:\n  - id: hidden\n    description: d\n    rationale: r\n"
        f"    when: {rule_when}\n    then: {{require_role: manager}}\n"
        "invariants:\n  - id: front_line_alone\n    description: d\n"
        "    never: {required_role: manager}\n"
    )
    (result,) = check_invariants(load_text(tmp_path, text), examples=200, seed=0)
    assert not result.passed
    (witness,) = result.witnesses
    assert witness.decision.reasons.required_role == ["hidden"]
    assert fact in witness.ticket


def test_boundaries_are_money_even_for_a_limit_finer_than_a_cent() -> None:
    """`boundaries([Decimal("0.005")])` gave 0.005 and 0.015, which no ticket can hold."""
    assert boundaries([Decimal("0.005"), Decimal("20")]) == [
        Decimal("0.00"),
        Decimal("0.01"),
        Decimal("19.99"),
        Decimal("20.00"),
        Decimal("20.01"),
    ]


EDGES = """\
rules:
  - {id: a, description: d, rationale: r, when: [{opened_at: {exists: true}}], then: {require_role: senior}}
  - {id: b, description: d, rationale: r, when: [{item.sku: {exists: true}}], then: {require_role: senior}}
  - {id: c, description: d, rationale: r, when: [{promise.delivery_date: {lt: 9999-12-31}}], then: {require_role: senior}}
  - {id: d, description: d, rationale: r, when: [{promise.earliest_feasible: {gt: 0001-01-01}}], then: {require_role: senior}}
  - {id: e, description: d, rationale: r, when: [{opened_at: {gt: 9000-12-31T23:59:00Z}}], then: {require_role: senior}}
  - {id: f, description: d, rationale: r, when: [{opened_at: {lt: 2025-06-01T00:00:00+05:30}}], then: {require_role: senior}}
  - {id: g, description: d, rationale: r, when: [{customer.id: {in: ["", C-9]}}], then: {require_role: senior}}
  - {id: h, description: d, rationale: r, when: [{attributes.score: {gt: 2.5}}, {attributes.vip: true}], then: {require_role: senior}}
invariants:
  - {id: never_manager, description: d, never: {required_role: manager}}
"""


def test_tickets_drawn_for_a_bundle_are_valid_whatever_it_compares_facts_with(tmp_path: Path) -> None:
    """`exists: true` was drawn as a value (`sku: true`, and a crash for a date), dates one day
    past 9999-12-31 overflowed, an `opened_at` limit of 9000-12-31T23:59Z gave year 9001, an empty
    id was drawn: `csrules test` crashed or every such ticket was refused."""
    engine = load_text(tmp_path, EDGES)

    @settings(max_examples=300, deadline=None, database=None)
    @given(tickets(engine=engine))
    def decided(ticket: dict[str, object]) -> None:
        engine.evaluate(ticket, now=NOW)  # a TicketError fails the test

    decided()
    (result,) = check_invariants(engine, examples=100, seed=0)
    assert result.passed


PINNED_BY_PARAMETER = """\
policy: a
description: a parameter in an invariant's `when`
parameters:
  conduct_cat: {type: string, default: employee_behavior, description: d}
rules:
  - id: conduct
    description: Conduct goes to a supervisor
    rationale: r
    when:
      - category: {eq: {param: conduct_cat}}
    then:
      require_role: supervisor
  - id: glitch
    description: A typo sends 37.12 to a manager
    rationale: r
    when:
      - request.amount: {gt: 37.11}
      - request.amount: {lt: 37.13}
    then:
      require_role: manager
invariants:
  - id: conduct_stays_with_supervisor
    description: Conduct complaints are decided by a supervisor.
    never:
      required_role: manager
      when:
        - category: {eq: {param: conduct_cat}}
"""


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_an_equality_with_a_parameter_in_when_is_pinned_to_its_value(tmp_path: Path, seed: int) -> None:
    """The `{param: ...}` reference itself was set on tickets, which made them all invalid: the
    region was reached by chance (5 of 200 tickets) and the violation missed for seeds 0 and 2."""
    (result,) = check_invariants(load_text(tmp_path, PINNED_BY_PARAMETER), examples=200, seed=seed)
    assert not result.passed
    (witness,) = result.witnesses
    assert witness.ticket["category"] == "employee_behavior"
    assert witness.decision.required_role == "manager"
    assert witness.ticket["request"]["amount"] == "37.12"


LEGAL = """\
policy: legal
description: d
rules:
  - id: legal_threat
    description: d
    rationale: A manager handles legal threats, but the store manager those made in store.
    when:
      - attributes.legal_threat: "yes"
      - not: {channel: in_store}
    then:
      require_role: manager
invariants:
  - id: never_below_manager
    description: A legal threat is never handled below a manager.
    never:
      required_role: [front_line, senior, supervisor]
      when:
        - attributes.legal_threat: "yes"
"""


@pytest.mark.parametrize("seed", range(4))
def test_a_never_invariant_on_a_custom_attribute_reaches_its_region_and_finds_the_violation(
    tmp_path: Path, seed: int
) -> None:
    """Equalities on custom attributes were never set on the drawn tickets: `when` held on 1-20 of
    ~200 tickets, and a ticket in store (front line) passed the invariant for seeds 1 and 6."""
    (result,) = check_invariants(load_text(tmp_path, LEGAL), examples=EXAMPLES, seed=seed)
    assert result.problem == "a ticket satisfying `when` gets outcome approve, required role front_line"
    (witness,) = result.witnesses
    assert (witness.ticket["attributes"], witness.ticket["channel"]) == ({"legal_threat": "yes"}, "in_store")
    fixed = LEGAL.replace("      - not: {channel: in_store}\n", "")
    (held,) = check_invariants(load_text(tmp_path, fixed), examples=EXAMPLES, seed=seed)
    assert held.problem is None
    assert held.relevant >= 15  # a fifth to a half of the tickets are in its region


def _drawn(engine: csrules.Engine, count: int) -> list[dict[str, object]]:
    drawn: list[dict[str, object]] = []

    @settings(max_examples=count, database=None, derandomize=True)
    @given(tickets(engine=engine))
    def draw(ticket: dict[str, object]) -> None:
        drawn.append(ticket)

    draw()
    return drawn


def test_tickets_drawn_at_the_most_money_may_be_are_valid(tmp_path: Path) -> None:
    """A limit of 1,000,000,000 drew 1,000,000,000.01 (`invalid-money`) one ticket in 30."""
    write_policy(
        tmp_path,
        "rules:\n"
        "  - {id: huge, description: d, rationale: r, when: [{request.amount: {gte: 1000000000}}],"
        " then: {require_role: manager}}\n"
        "  - {id: dear, description: d, rationale: r, when: [{item.sale_price: {gte: 1000000000}}],"
        " then: {require_role: manager}}\n",
    )
    engine = csrules.load(tmp_path)
    assert boundaries([Decimal("1000000000")]) == [Decimal("999999999.99"), Decimal("1000000000.00")]
    drawn = _drawn(engine, 300)
    assert any(t.get("request", {}).get("amount") == "1000000000.00" for t in drawn)  # type: ignore[union-attr]
    for ticket in drawn:
        engine.evaluate(ticket, now=NOW)  # a TicketError fails the test


def test_tickets_drawn_for_a_bundle_reading_many_attributes_have_at_most_64(tmp_path: Path) -> None:
    rules = "".join(
        f"  - {{id: r{n}, description: d, rationale: r, when: [{{attributes.a{n}: true}}], then: {{deny: true}}}}\n"
        for n in range(70)
    )
    write_policy(tmp_path, "rules:\n" + rules)
    engine = csrules.load(tmp_path)
    drawn = _drawn(engine, 200)
    assert max(len(t.get("attributes", {})) for t in drawn) > 40  # type: ignore[arg-type]
    for ticket in drawn:
        engine.evaluate(ticket, now=NOW)  # 65 attributes or more: TicketError too-many-attributes


@pytest.mark.parametrize(
    ("pin", "message"),
    [
        (
            {"agent_role": "Manager"},
            "`agent.role` must be one of front_line, senior, supervisor, manager, got 'Manager'",
        ),
        ({"request_kind": "refunds"}, "`request.kind` must be one of refund, credit, "),
    ],
)
def test_a_pinned_value_no_ticket_may_have_is_refused(pin: dict[str, str], message: str) -> None:
    """Every ticket drawn was invalid (`invalid-enum`), silently."""
    with pytest.raises(ValueError, match=re.escape(message)):
        tickets(**pin)  # type: ignore[arg-type]


PHONE_BAND = """\
rules:
  - id: small_phone_refunds
    description: Small refunds by phone
    rationale: Made up so that a larger amount needs less, on the phone only.
    when:
      - channel: phone
      - request.amount: {lte: 10}
    then: {require_role: supervisor}
invariants:
  - {id: monotonic, description: d, monotonic_in: request.amount}
"""


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_a_break_found_by_random_tickets_is_narrowed_to_adjacent_cents(tmp_path: Path, seed: int) -> None:
    """The sweep's minimal ticket has no channel, so random tickets find this break, with any two
    amounts either side of 10 (it reported 9.99 against 10.01 for every seed): the pair is
    narrowed to the closest one."""
    (result,) = check_invariants(load_text(tmp_path, PHONE_BAND), examples=200, seed=seed)
    assert result.problem == (
        "request.amount 10.00 requires supervisor, but the larger 10.01 requires only front_line"
    )
    low, high = result.witnesses
    assert (low.label, high.label) == ("request.amount 10.00", "request.amount 10.01")
    assert (low.ticket["request"]["amount"], high.ticket["request"]["amount"]) == ("10.00", "10.01")
    assert low.ticket["channel"] == high.ticket["channel"] == "phone"
    assert (low.decision.required_role, high.decision.required_role) == ("supervisor", "front_line")
    assert {**low.ticket, "request": None} == {**high.ticket, "request": None}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_break_that_needs_one_value_the_bundle_names_is_found_by_the_sweep(
    tmp_path: Path, seed: int
) -> None:
    """The planted rule needs `channel: in_store` besides an amount over 7: the random tickets
    found it for 13 seeds of 20 with 200 examples (11 with 100), and this test's module, by the
    constants hypothesis reads from it, changed which. The sweep sets each value the bundle names
    on each of its tickets, so one example is enough, whatever the seed."""
    engine = _with_in_store_manager(tmp_path)
    results = {r.invariant.id: r for r in check_invariants(engine, examples=1, seed=seed)}
    broken = sorted(name for name, result in results.items() if not result.passed)
    assert broken == [
        "front_line_decides_up_to_front_line_limit",
        "senior_decides_up_to_senior_limit",
        "supervisor_decides_up_to_supervisor_limit",
    ]
    for name in broken:
        assert (
            results[name].problem == "a ticket satisfying `when` gets outcome escalate, required role manager"
        )
        (witness,) = results[name].witnesses
        assert witness.ticket == {
            "id": "T-0",
            "customer": {"id": "C-1"},
            "agent": {"id": "A-1", "role": "front_line"},
            "request": {"kind": "refund", "amount": "7.01"},
            "channel": "in_store",
        }
        assert witness.decision.reasons.required_role == ["in_store_manager"]


def test_named_values_are_the_values_a_ticket_can_hold_that_the_bundle_compares(tmp_path: Path) -> None:
    engine = load_text(
        tmp_path,
        """\
rules:
  - id: r
    description: d
    rationale: r
    when:
      - channel: {in: [in_store, phone]}
      - customer.abusive: {ne: true}
      - attributes.legal_threat: "yes"
      - attributes.score: {gt: 2.5}
      - item.sku: KETTLE-2L
      - opened_at: {lt: 2026-01-01T00:00:00+01:00}
      - severity: {ne: urgent}
      - channel: phone
      - request.amount: {gt: 20}
      - customer.id: ""
    then: {require_role: senior}
""",
    )
    assert named_values(engine) == [
        ("channel", "in_store"),
        ("channel", "phone"),
        ("customer.abusive", True),
        ("attributes.legal_threat", "yes"),
        ("attributes.score", 2.5),
        ("item.sku", "KETTLE-2L"),
        ("opened_at", "2025-12-31T23:00:00Z"),
        ("severity", "urgent"),
    ]
    # The default bundle compares derived facts and the decision too: no ticket holds those.
    assert named_values(csrules.load(ROOT / "policies")) == [
        ("customer.abusive", True),
        ("category", "employee_behavior"),
        ("customer.tier", "loyal"),
        ("customer.tier", "advocate"),
        ("severity", "urgent"),
        ("severity", "high"),
        ("severity", "normal"),
        ("severity", "low"),
        ("category", "stock"),
        ("category", "product"),
        ("request.kind", "raincheck"),
        ("item.on_sale", True),
        ("item.in_stock", False),
        ("agent.role", "front_line"),
        ("agent.role", "senior"),
        ("item.on_sale", False),
    ]


def test_the_named_sweep_adds_at_most_its_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    """A bundle naming thousands of values (skus, attribute values) would add thousands of tickets
    per value-less sweep ticket: at most NAMED_CAP are added, each value on fewer tickets."""
    from csrules.testing import invariants  # noqa: PLC0415 - the cap is the module's

    engine = csrules.load(ROOT / "policies")
    never = [i for i in engine.bundle.invariants if i.kind == "never"]
    full = [check_invariant(engine, i, examples=1, seed=0).examples for i in never]
    assert full == [529, 205, 325, 525, 93, 573]  # 44 sweep tickets, the named ones, 1 random
    monkeypatch.setattr(invariants, "NAMED_CAP", 4)
    capped = [check_invariant(engine, i, examples=1, seed=0).examples for i in never]
    assert capped == [48, 47, 47, 49, 49, 49]
    assert all(44 + 1 < n <= 44 + 4 + 1 for n in capped)
