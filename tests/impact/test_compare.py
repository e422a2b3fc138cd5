"""impact.compare, parse_line and ImpactReport: pure logic over decisions and corpus lines."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import csrules
from csrules.decision import Action, FollowUp
from csrules.impact import (
    MAX_ERRORS_KEPT,
    Change,
    FollowUpMove,
    ImpactReport,
    LineResult,
    Transition,
    compare,
    compare_line,
    decide_line,
    parse_line,
)
from tests.helpers import NOW, make_ticket, refund
from tests.impact.support import policies_with


@pytest.fixture(scope="module")
def raised(tmp_path_factory: pytest.TempPathFactory) -> csrules.Engine:
    """The default bundle with the front-line limit raised from 20 to 25."""
    return csrules.load(policies_with(tmp_path_factory.mktemp("raised"), front_line_limit=25))


def keys(change: Change | None) -> list[str]:
    assert change is not None
    return [t.key for t in change.transitions()]


def test_the_same_decision_is_no_change(engine: csrules.Engine) -> None:
    decision = engine.evaluate(refund("45.00"), now=NOW)
    assert compare(decision, engine.evaluate(refund("45.00"), now=NOW)) is None


def test_a_raised_limit_approves_what_it_escalated(engine: csrules.Engine, raised: csrules.Engine) -> None:
    old, new = engine.evaluate(refund("22.00"), now=NOW), raised.evaluate(refund("22.00"), now=NOW)
    change = compare(old, new)
    assert change is not None
    assert change.outcome == ("escalate", "approve")
    assert change.required_role == ("senior", "front_line")
    assert change.follow_ups_removed == (("escalation_update", NOW + timedelta(hours=24)),)
    assert change.follow_ups_added == (("satisfaction_check", NOW + timedelta(hours=72)),)
    # The rule whose comparison moved, and the follow-up rules that depend on the outcome.
    assert change.rules == ("over_front_line_limit", "escalation_update_normal", "satisfaction_check")
    assert keys(change) == [
        "outcome escalate->approve",
        "required_role senior->front_line",
        "follow_up +satisfaction_check",
        "follow_up -escalation_update",
    ]


def test_an_amount_outside_the_moved_range_is_unchanged(
    engine: csrules.Engine, raised: csrules.Engine
) -> None:
    for amount in ("20.00", "25.01", "60.00"):
        assert (
            compare(engine.evaluate(refund(amount), now=NOW), raised.evaluate(refund(amount), now=NOW))
            is None
        )


def test_a_senior_agent_sees_only_the_required_role_change(
    engine: csrules.Engine, raised: csrules.Engine
) -> None:
    ticket = refund("22.00", role="senior")
    assert keys(compare(engine.evaluate(ticket, now=NOW), raised.evaluate(ticket, now=NOW))) == [
        "required_role senior->front_line"
    ]


def test_fired_rules_alone_change_no_decision(engine: csrules.Engine, raised: csrules.Engine) -> None:
    """An abusive customer goes to a supervisor either way; only over_front_line_limit differs."""
    ticket = refund("22.00", abusive=True)
    change = compare(engine.evaluate(ticket, now=NOW), raised.evaluate(ticket, now=NOW))
    assert change is not None
    assert change.rules == ("over_front_line_limit",)
    assert not change.decision_changed


def test_a_shorter_window_moves_the_follow_up_earlier(engine: csrules.Engine, tmp_path: Path) -> None:
    shorter = csrules.load(policies_with(tmp_path, escalation_update_hours_normal=12))
    change = compare(engine.evaluate(refund("30.00"), now=NOW), shorter.evaluate(refund("30.00"), now=NOW))
    assert change is not None
    assert change.follow_ups_moved == (
        FollowUpMove("escalation_update", NOW + timedelta(hours=24), NOW + timedelta(hours=12)),
    )
    assert (change.follow_ups_added, change.follow_ups_removed) == ((), ())
    assert change.rules == ("escalation_update_normal",)  # fired under both, with another due time
    assert keys(change) == ["follow_up escalation_update moved earlier"]


def test_other_action_params_are_a_changed_action(engine: csrules.Engine, tmp_path: Path) -> None:
    longer = csrules.load(policies_with(tmp_path, raincheck_valid_days=45))
    ticket = make_ticket(
        request={"kind": "raincheck", "amount": "3.00"},
        item={"sku": "HAM", "on_sale": True, "in_stock": False, "sale_price": "5.99"},
    )
    change = compare(engine.evaluate(ticket, now=NOW), longer.evaluate(ticket, now=NOW))
    assert keys(change) == ["action issue_raincheck changed", "follow_up restock_notice moved later"]
    assert change is not None
    assert [kind for kind, _ in change.actions_added] == ["issue_raincheck"]
    assert json.loads(change.actions_added[0][1])["valid_until"] == "2027-01-07T15:00:00Z"
    assert change.rules == ("issue_raincheck",)


def test_actions_are_added_and_removed_by_kind_and_params(engine: csrules.Engine) -> None:
    decision = engine.evaluate(refund("10.00"), now=NOW)
    takeover = Action(kind="supervisor_takeover", rule="abusive_customer")
    review = Action(kind="review_product", params={"sku": "X"}, rule="review_product")
    old = decision.model_copy(update={"actions": [takeover, review]})
    new = decision.model_copy(update={"actions": [review.model_copy(update={"rule": "elsewhere"})]})
    assert keys(compare(old, new)) == ["action -supervisor_takeover"]
    assert keys(compare(new, old)) == ["action +supervisor_takeover"]


def test_follow_ups_pair_by_kind_then_due(engine: csrules.Engine) -> None:
    decision = engine.evaluate(refund("10.00"), now=NOW)
    due = [NOW + timedelta(hours=h) for h in (1, 2, 3)]
    old = decision.model_copy(update={"follow_ups": [FollowUp(kind="update", due=due[0], rule="r")]})
    new = decision.model_copy(
        update={"follow_ups": [FollowUp(kind="update", due=d, rule="r") for d in (due[1], due[2])]}
    )
    change = compare(old, new)
    assert change is not None
    assert change.follow_ups_moved == (FollowUpMove("update", due[0], due[1]),)
    assert change.follow_ups_added == (("update", due[2]),)
    assert keys(change) == ["follow_up +update", "follow_up update moved later"]


def test_transition_keys() -> None:
    assert Transition("outcome", "approve->deny").key == "outcome approve->deny"
    assert Transition("action", "added", "x").key == "action +x"
    assert Transition("follow_up", "removed", "y").key == "follow_up -y"
    assert Transition("follow_up", "moved later", "y").key == "follow_up y moved later"


# --- corpus lines -------------------------------------------------------------------------------------


def test_a_line_is_a_ticket_a_wrapper_or_a_stored_decision(engine: csrules.Engine) -> None:
    ticket = refund("45.00")
    assert parse_line(json.dumps(ticket)) == (ticket, None)
    wrapped = json.dumps({"ticket": ticket, "now": "2026-11-23T15:00:00Z"})
    assert parse_line(wrapped) == (ticket, NOW)
    assert parse_line(json.dumps({"ticket": ticket})) == (ticket, None)
    stored = engine.evaluate(ticket, now=NOW).model_dump_json()
    facts, now = parse_line(stored)
    assert now == NOW
    assert facts["request"] == {"kind": "refund", "amount": 45.0, "currency": "USD"}
    assert parse_line(json.dumps({"seq": 1, "decision": json.loads(stored)})) == (facts, now)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"id": "T",', "invalid JSON: Expecting property name enclosed in double quotes (column 12)"),
        ("[1, 2]", "expected a JSON object, got list"),
        ('{"ticket": {"id": "T"}, "when": 1}', "a wrapper has only `ticket` and `now`, got `when`"),
        (
            '{"ticket": {"id": "T"}, "now": "2026-11-23T15:00:00"}',
            "`now` must be an ISO 8601 date and time with a UTC offset, got `2026-11-23T15:00:00`",
        ),
        # read as --now is: a week date, the basic format and an offset in seconds were taken
        *(
            (
                f'{{"ticket": {{"id": "T"}}, "now": "{now}"}}',
                f"`now` must be an ISO 8601 date and time with a UTC offset, got `{now}`",
            )
            for now in ("2026-W10-1T10:00:00Z", "20260302T100000Z", "2026-03-02T10:00:00+05:30:30")
        ),
        (
            '{"ticket": {"id": "T"}, "now": "9999-12-31T23:00:00-05:00"}',
            "`now` must be between the years 1900 and 9000 in UTC, got `9999-12-31T23:00:00-05:00`",
        ),
        ('{"ticket": [1]}', "`ticket` must be a JSON object"),
        (
            '{"ticket": {"id": "T"}, "now": null}',  # written as Python writes None
            "`now` must be an ISO 8601 date and time with a UTC offset, got `null`",
        ),
        (
            '{"ticket": {"id": "T"}, "now": 7}',
            "`now` must be an ISO 8601 date and time with a UTC offset, got `7`",
        ),
        # bytes that are not UTF-8, read with surrogateescape: "invalid JSON: Expecting value (column 1)"
        ("\udcff{}", "not UTF-8 text (byte 0xff at column 1)"),
        ('{"id": "T\udce9"}', "not UTF-8 text (byte 0xe9 at column 10)"),
        ('{"id": "T", "id": "U"}', "invalid JSON: duplicate key `id`"),
        # read by Python and then refused as money ("got `Infinity`"): impact.md calls them no JSON
        ('{"id": "T", "request": {"amount": NaN}}', "invalid JSON: NaN is not JSON"),
        ('{"id": "T", "n": -Infinity}', "invalid JSON: -Infinity is not JSON"),
        (
            '{"id": "T", "request": {"amount": 1e400}}',
            "invalid JSON: the number 1e400 cannot be read exactly (it would read as inf)",
        ),
        (
            '{"name": "T"}',
            'expected a ticket (with `id`), `{"ticket": ..., "now": ...}` or a stored decision',
        ),
    ],
)
def test_a_bad_line_says_why(engine: csrules.Engine, line: str, message: str) -> None:
    assert decide_line(engine, engine, line, NOW) == message


def test_a_ticket_rejected_by_one_side_only_names_it(engine: csrules.Engine) -> None:
    euro = csrules.load(params={"currency": "EUR"})
    usd = refund("5.00")
    usd["request"]["currency"] = "USD"  # a request naming no currency would be in the bundle's
    message = decide_line(engine, euro, json.dumps(usd), NOW)
    assert message == (
        "rejected by the new policies only: ticket /request/currency: "
        'expected `EUR` (the bundle currency), got `"USD"` [currency-mismatch]'
    )
    assert decide_line(engine, engine, '{"id": "T"}', NOW) == (
        "ticket /customer: expected a value (the field is required), got nothing [missing-field]"
    )


def test_each_line_is_evaluated_at_its_own_now_or_the_default(engine: csrules.Engine) -> None:
    later = datetime(2026, 12, 1, tzinfo=UTC)
    line = json.dumps({"ticket": refund("30.00"), "now": later.isoformat()})
    decided = decide_line(engine, engine, line, NOW)
    assert not isinstance(decided, str)
    assert decided[0].trace.evaluated_at == later
    decided = decide_line(engine, engine, json.dumps(refund("30.00")), NOW)
    assert not isinstance(decided, str)
    assert decided[0].trace.evaluated_at == NOW


# --- the report ------------------------------------------------------------------------------------------


def test_examples_are_the_first_k_of_each_transition(engine: csrules.Engine, raised: csrules.Engine) -> None:
    report = ImpactReport(examples=2)
    amounts = ["21.00", "5.00", "22.00", "23.00", "24.00"]
    lines = [json.dumps(refund(a, role="senior" if i == 3 else "front_line")) for i, a in enumerate(amounts)]
    report.add_all(compare_line(engine, raised, n, text, NOW) for n, text in enumerate(lines, 1))
    assert (report.tickets, report.changed, report.rules_only, report.errors) == (5, 4, 0, 0)
    rows = {s.transition.key: (s.tickets, s.examples) for s in report.transitions}
    assert rows["outcome escalate->approve"] == (3, [1, 3])
    assert rows["required_role senior->front_line"] == (4, [1, 3])
    assert sorted(report.examples) == [1, 3]
    assert report.rule_counts()[0] == ("over_front_line_limit", 4)


def test_errors_are_all_counted_and_the_first_kept() -> None:
    report = ImpactReport()
    report.add_all(LineResult(n, error=f"bad {n}") for n in range(1, 31))
    assert (report.errors, report.tickets) == (30, 0)
    assert report.error_lines == [(n, f"bad {n}") for n in range(1, MAX_ERRORS_KEPT + 1)]


def test_an_action_parameter_written_otherwise_is_no_change(tmp_path: Path) -> None:
    """`fee: 5.9` against `fee: 5.90`: the Decimals' texts differed, so every ticket "changed"
    with no rule causing it (and `--fail-on-change` failed)."""
    rule = (
        "rules:\n  - id: note_fee\n    description: d\n    rationale: r\n    when: []\n"
        "    then: {{actions: [{{kind: note_fee, params: {{fee: {fee}}}}}]}}\n"
    )
    old, new = tmp_path / "old", tmp_path / "new"
    for folder, fee in ((old, "5.9"), (new, "5.90")):
        folder.mkdir()
        (folder / "fee.yaml").write_text(rule.format(fee=fee), encoding="utf-8")
    before, after = csrules.load(old), csrules.load(new)
    ticket = refund("5.00")
    assert compare(before.evaluate(ticket, now=NOW), after.evaluate(ticket, now=NOW)) is None


def _action_bundles(tmp_path: Path, *thens: str) -> list[csrules.Engine]:
    engines = []
    for i, then in enumerate(thens):
        folder = tmp_path / f"b{i}"
        folder.mkdir()
        (folder / "p.yaml").write_text(
            "rules:\n  - id: a\n    description: d\n    rationale: r\n"
            f"    when: [{{request.kind: refund}}]\n    then: {then}\n",
            encoding="utf-8",
        )
        engines.append(csrules.load(folder))
    return engines


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("{actions: [{kind: act, params: {x: 1}}]}", "{actions: [{kind: act, params: {x: 1.00}}]}"),
        ("{actions: [{kind: act, params: {x: 10}}]}", "{actions: [{kind: act, params: {x: 10.0}}]}"),
        (  # the order a rule writes its effects and parameters in
            "{require_role: senior, actions: [{kind: b, params: {p: 1, q: 2}}, {kind: c}]}",
            "{actions: [{kind: c}, {kind: b, params: {q: 2, p: 1}}], require_role: senior}",
        ),
    ],
)
def test_the_same_json_values_written_otherwise_are_no_change(tmp_path: Path, old: str, new: str) -> None:
    """`1` -> `1.00` reported a changed action with no rule credited (the int wrote `10`, the
    Decimal `10.0`), and reordering a rule's effects counted as other rules firing."""
    before, after = _action_bundles(tmp_path, old, new)
    ticket = refund("5.00")
    assert compare(before.evaluate(ticket, now=NOW), after.evaluate(ticket, now=NOW)) is None


@pytest.mark.parametrize(
    ("old", "new"),
    [("1", "true"), ("0", "false"), ("1", '"1"'), ("1.5", "1.25")],
)
def test_another_json_value_is_a_changed_action_credited_to_its_rule(
    tmp_path: Path, old: str, new: str
) -> None:
    """`1` -> `true` changed the decision but credited no rule: Python's `1 == True` made the
    rule's effects look the same."""
    before, after = _action_bundles(
        tmp_path,
        f"{{actions: [{{kind: act, params: {{x: {old}}}}}]}}",
        f"{{actions: [{{kind: act, params: {{x: {new}}}}}]}}",
    )
    ticket = refund("5.00")
    change = compare(before.evaluate(ticket, now=NOW), after.evaluate(ticket, now=NOW))
    assert change is not None
    assert keys(change) == ["action act changed"]
    assert change.rules == ("a",)
