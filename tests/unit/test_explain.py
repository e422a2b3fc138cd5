"""What `explain()` and the HTML report say: true to the decision, the same for equal decisions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import csrules
from csrules.explain import explain
from csrules.report_html import render_html
from csrules.verify import parse_decision
from tests.helpers import NOW, ROOT, make_ticket, refund, write_policy

ANY_BESIDE_NOT = """\
policy: p
description: an `any` that holds beside a `not` that stops the rule
rules:
  - id: r_any
    description: any, then not
    rationale: r
    when:
      - any:
          - attributes.s: q
          - request.amount: {gt: 10}
      - not: {customer.abusive: false}
    then:
      actions: [{kind: a1}]
  - id: r_all_under_not
    description: a list under not, every member holding
    rationale: r
    when:
      - not: [request.kind: refund, request.amount: {gt: 10}]
    then:
      actions: [{kind: a2}]
  - id: r_any_under_not
    description: an any under not whose second alternative holds
    rationale: r
    when:
      - not: {any: [request.amount: {gt: 1000}, request.kind: refund]}
      - request.amount: {gt: 1}
    then:
      actions: [{kind: a3}]
  - id: r_plain
    description: a list whose second member fails
    rationale: r
    when:
      - request.kind: refund
      - request.amount: {gt: 1000}
      - attributes.s: x
    then:
      actions: [{kind: a4}]
"""


def _why_not(text: str, rule: str) -> str:
    return next(line for line in text.splitlines() if line.startswith(f"  {rule}: "))


def test_a_rule_that_did_not_fire_is_blamed_on_a_comparison_that_stopped_it(tmp_path: Path) -> None:
    """The first failing comparison was blamed even when an `any` around it held: `r_any` was
    said to fail on `attributes.s == q` while the `not` stopped it."""
    engine = csrules.load(write_policy(tmp_path, ANY_BESIDE_NOT))
    ticket = make_ticket(
        request={"kind": "refund", "amount": "45.00"},
        customer={"id": "C-1", "abusive": False},
        attributes={"s": "x"},
    )
    text = engine.evaluate(ticket, now=NOW).explain()
    assert _why_not(text, "r_any") == "  r_any: under `not`: customer.abusive == false: actual false, holds"
    assert _why_not(text, "r_all_under_not") == (
        "  r_all_under_not: under `not`: request.kind == refund: actual refund, holds"
    )
    assert _why_not(text, "r_any_under_not") == (
        "  r_any_under_not: under `not`: request.kind == refund: actual refund, holds"
    )
    assert _why_not(text, "r_plain") == "  r_plain: request.amount > 1000.00: actual 45.00, fails"


def test_an_altered_where_falls_back_to_the_first_failing_comparison(engine: csrules.Engine) -> None:
    data = json.loads(engine.evaluate(refund("5.00"), now=NOW).to_json())
    for step in data["trace"]["steps"]:
        for result in step["conditions"]:
            result["where"] = "when[x]"
    text = parse_decision(json.dumps(data)).explain()
    assert _why_not(text, "over_senior_limit") == (
        "  over_senior_limit: request.amount > 50.00 (senior_limit): actual 5.00, fails"
    )


def test_a_where_nested_past_the_stack_falls_back_not_raises(engine: csrules.Engine) -> None:
    data = json.loads(engine.evaluate(refund("5.00"), now=NOW).to_json())
    step = next(s for s in data["trace"]["steps"] if s["rule"] == "over_senior_limit")
    step["conditions"][0]["where"] = "when" + ".not" * 100_000 + ".request.amount"
    text = parse_decision(json.dumps(data)).explain()
    assert _why_not(text, "over_senior_limit") == (
        "  over_senior_limit: request.amount > 50.00 (senior_limit): actual 5.00, fails"
    )


def test_an_untraced_decision_lists_the_rules_that_fired(engine: csrules.Engine) -> None:
    """It said `Fired rules (0 of 0): (none)` under a `Why` line naming a fired rule."""
    (decision,) = engine.evaluate_many([refund("45.00")], now=NOW, trace=False)
    assert isinstance(decision, csrules.Decision)
    text = decision.explain()
    assert (
        "Fired rules (2, in firing order; no trace steps recorded):\n"
        "  over_front_line_limit\n"
        "  escalation_update_normal\n\n"
    ) in text
    assert "Did not fire" not in text
    page = render_html([(decision, None)], title="t")
    assert "<h3>Trace: not recorded (2 rules fired)</h3>" in page
    assert "0 of 0" not in page


@pytest.mark.parametrize(
    ("ticket_id", "shown"),
    [
        ("T-1", "Ticket T-1: APPROVE"),
        ("100", 'Ticket "100": APPROVE'),
        ("zendesk:7", 'Ticket "zendesk:7": APPROVE'),
        ("T-7: DENY | ref", 'Ticket "T-7: DENY | ref": APPROVE'),
        ("T-7: DENY (agent role x, required role x) | ref", 'Ticket "T-7: DENY (agent role x,'),
        # an invisible character is written out; a backslash typed in the id reads otherwise
        ("T-\u200b1", "Ticket T-\\u200b1: APPROVE"),
        ("T-\\u200b1", 'Ticket "T-\\\\u200b1": APPROVE'),
        ("a\\b", 'Ticket "a\\\\b": APPROVE'),
    ],
)
def test_the_ticket_id_in_the_first_line_reads_one_way(
    engine: csrules.Engine, ticket_id: str, shown: str
) -> None:
    """An id holding `: DENY (...)` was printed bare: the line read as a denial of ticket T-7."""
    ticket = refund("5.00")
    ticket["id"] = ticket_id
    assert engine.evaluate(ticket, now=NOW).explain().startswith(shown)


def test_a_decision_read_back_explains_and_renders_as_the_one_made(engine: csrules.Engine) -> None:
    """Action parameters and attributes were shown in the policy's and the ticket's order, and in
    key order once read back from canonical JSON: equal decisions, different text."""
    ticket = json.loads((ROOT / "examples" / "tickets" / "deli_sale_out_of_stock.json").read_text())
    ticket["attributes"] = {"zeta": "z", "alpha": "a"}
    made = engine.evaluate(ticket, now=NOW)
    read = parse_decision(made.to_json())
    assert read == made
    assert explain(read, steps="all") == explain(made, steps="all")
    assert "issue_raincheck (honored_price=5.99, sku=DELI-SMOKED-HAM-1LB, valid_until=" in made.explain()
    assert render_html([(read, None)], title="t") == render_html([(made, None)], title="t")


def test_the_html_page_writes_out_a_line_break_in_ticket_text(engine: csrules.Engine) -> None:
    """`T-1\\n2` was written raw, which a browser shows as `T-1 2`, another ticket's id."""
    ticket = refund("5.00")
    ticket["id"] = "T-1\n2"
    page = render_html([(engine.evaluate(ticket, now=NOW), None)], title="t")
    assert "T-1\\n2" in page
    assert "T-1\n2" not in page


def test_a_custom_attribute_number_is_shown_as_given_not_as_money(tmp_path: Path) -> None:
    """`2.0` was shown `2.00` in explain and the trace table, `2.0` in the facts table."""
    engine = csrules.load(
        write_policy(
            tmp_path,
            "policy: p\ndescription: d\nrules:\n  - id: risky\n    description: d\n    rationale: r\n"
            "    when: [attributes.score: {gt: 1.25}]\n    then: {require_role: senior}\n",
        )
    )
    decision = engine.evaluate(make_ticket(attributes={"score": 2.0}), now=NOW)
    assert "    - attributes.score > 1.25: actual 2.0, holds" in decision.explain()
    page = render_html([(decision, None)], title="t")
    assert "<td><code>2.0</code></td>" in page
    assert "2.00" not in page


def test_a_small_number_reads_alike_in_the_explanation_both_tables_and_the_json(tmp_path: Path) -> None:
    """`1e-7` was `1E-7` in the explanation and the trace table, `1e-07` in the facts table and the
    JSON; a parameter of `0.000001` taken from the policy was `0.000001` beside them."""
    rule = (
        "    when: [attributes.score: {gt: 0.00000001}]\n"
        "    then: {actions: [{kind: k, params: {s: {fact: attributes.score}, lit: 0.000001, cents: 45}}]}\n"
    )
    engine = csrules.load(
        write_policy(tmp_path, "rules:\n  - id: r\n    description: d\n    rationale: r\n" + rule)
    )
    decision = engine.evaluate(make_ticket(attributes={"score": 1e-7}), now=NOW)
    text = decision.explain()
    assert "    - attributes.score > 1e-08: actual 1e-07, holds" in text
    assert "  k (cents=45, lit=1e-06, s=1e-07)  <- r" in text
    page = render_html([(decision, None)], title="t")
    assert "<td><code>1e-07</code></td>" in page
    assert "E-" not in text + page
    written = json.loads(decision.to_json())
    assert written["actions"][0]["params"] == {"cents": 45, "lit": 1e-06, "s": 1e-07}
    assert '"params":{"cents":45,"lit":1e-06,"s":1e-07}' in decision.to_json()


def test_a_typed_backslash_escape_and_the_character_it_names_read_apart(tmp_path: Path) -> None:
    """`gold` followed by a zero-width space, and `gold` followed by the six characters `\\u200b`,
    were both shown `actual gold\\u200b`."""
    engine = csrules.load(
        write_policy(
            tmp_path,
            "policy: p\ndescription: d\nrules:\n  - id: vip\n    description: d\n    rationale: r\n"
            "    when: [attributes.vip: gold]\n    then: {require_role: senior}\n",
        )
    )
    shown = [
        engine.evaluate(make_ticket(attributes={"vip": vip}), now=NOW).explain(steps="all")
        for vip in ("gold\u200b", "gold\\u200b")
    ]
    assert "    - attributes.vip == gold: actual gold\\u200b, fails" in shown[0].splitlines()
    assert '    - attributes.vip == gold: actual "gold\\\\u200b", fails' in shown[1].splitlines()
