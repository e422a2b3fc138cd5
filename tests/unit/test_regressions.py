"""Regression tests for defects found in review; each docstring says what went wrong before."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import csrules
from csrules import _durable
from csrules.cli.main import main
from csrules.explain import explain
from tests.helpers import NOW, ROOT, make_ticket, refund, write_policy


def rule(rule_id: str, when: str, then: str = "{actions: [{kind: k}]}") -> str:
    return f"  - id: {rule_id}\n    description: d\n    rationale: r\n    when: {when}\n    then: {then}\n"


def load(tmp_path: Path, text: str, **params: Any) -> csrules.Engine:
    return csrules.load(write_policy(tmp_path, text), params=params or None)


def policy_error(tmp_path: Path, text: str, **params: Any) -> csrules.PolicyError:
    with pytest.raises(csrules.PolicyError) as info:
        load(tmp_path, text, **params)
    return info.value


def test_engine_failures_do_not_outlive_a_reload(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Four engine failures disabled a bundle for the whole process, and reloading returned the
    same disabled ruleset from the cache."""
    engine = load(tmp_path, "rules:\n" + rule("r", "[{severity: high}]"))
    real = _durable._engine.assert_fact
    monkeypatch.setattr(
        _durable._engine, "assert_fact", lambda *a: (_ for _ in ()).throw(_durable._engine.error("boom"))
    )
    for _ in range(_durable.MAX_REGISTRATIONS + 1):
        with pytest.raises(csrules.EngineError):
            engine.evaluate(make_ticket(), now=NOW)
    monkeypatch.setattr(_durable._engine, "assert_fact", real)
    reloaded = load(tmp_path, "rules:\n" + rule("r", "[{severity: high}]"))
    assert reloaded.evaluate(make_ticket(severity="high"), now=NOW).trace.fired == ["r"]


def test_a_derived_fact_nobody_derives_has_its_default(tmp_path: Path) -> None:
    """A stage-0 rule testing a never-derived fact saw it absent in the engine (EngineError)."""
    text = "derived:\n  vip: {type: boolean}\nrules:\n" + rule("not_vip", "[{derived.vip: false}]")
    assert load(tmp_path, text).evaluate(make_ticket(), now=NOW).trace.fired == ["not_vip"]


def test_a_fact_reference_compares_ticket_facts_only(tmp_path: Path) -> None:
    """`derived.cap < {fact: request.amount}` loaded, then raised EngineError when it held."""
    text = "derived:\n  cap: {type: money, default: 10}\nrules:\n" + rule(
        "over_cap", "[{derived.cap: {lt: {fact: request.amount}}}]"
    )
    assert policy_error(tmp_path, text).code == "type-mismatch"


@pytest.mark.parametrize(
    "when",
    [
        "[{not: {item.sku: {in: [" + ", ".join(f"s{i}" for i in range(50)) + "]}}}]",
        "[{not: {item.sku: {not_in: [" + ", ".join(f"s{i}" for i in range(50)) + "]}}}]",
        "[" + ", ".join(f"{{any: [{{item.sku: a{i}}}, {{customer.id: b{i}}}]}}" for i in range(5)) + "]",
    ],
)
def test_negations_and_alternatives_compile(tmp_path: Path, when: str) -> None:
    """`not` over an `in` of 14 values loaded, then every evaluation failed (durable error 113)."""
    engine = load(tmp_path, "rules:\n" + rule("r", when))
    item = {"sku": "s3", "on_sale": False, "in_stock": True}
    results = {engine.evaluate(make_ticket(item=item), now=NOW).trace.step("r").fired for _ in range(2)}
    assert len(results) == 1


def test_too_many_alternatives_is_a_load_error(tmp_path: Path) -> None:
    when = "[" + ", ".join(f"{{any: [{{item.sku: a{i}}}, {{customer.id: b{i}}}]}}" for i in range(7)) + "]"
    error = policy_error(tmp_path, "rules:\n" + rule("r", when))
    assert (error.code, error.line) == ("engine-limit", 2)
    assert "128 alternatives" in error.message


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("rules:\n" + rule("r", "[{attributes.x: 9007199254740993}]"), "type-mismatch"),
        ("rules:\n" + rule("r", "[{attributes.x: 0.12345678901234567}]"), "type-mismatch"),
        ("rules:\n" + rule("r", "[{attributes.x: " + "9" * 5000 + "}]"), "yaml-syntax"),
        ("parameters:\n  big: {type: integer, default: 9007199254740992}\n", "invalid-parameter-value"),
    ],
)
def test_numbers_beyond_exact_doubles_are_refused(tmp_path: Path, text: str, code: str) -> None:
    """The engine saturates at int64 and compares ints as doubles; csrules and it disagreed."""
    assert policy_error(tmp_path, text).code == code


def test_in_keeps_one_and_true_apart(tmp_path: Path) -> None:
    """`in: [1, true]` lost `true` because Python dedupes `1 == True`."""
    engine = load(tmp_path, "rules:\n" + rule("r", "[{attributes.x: {in: [1, true]}}]"))
    for value in (1, True):
        assert engine.evaluate(make_ticket(attributes={"x": value}), now=NOW).trace.fired == ["r"]
    assert engine.evaluate(make_ticket(attributes={"x": False}), now=NOW).trace.fired == []


@pytest.mark.parametrize(
    "value",
    ["2026-02-30", "2026-01-01T00:00:00+99:00"],
)
def test_invalid_yaml_dates_are_policy_errors(tmp_path: Path, value: str) -> None:
    """PyYAML's ValueError for an impossible date escaped load()."""
    error = policy_error(tmp_path, f"parameters:\n  day: {{type: date, default: {value}}}\n")
    assert (error.code, error.line) == ("yaml-syntax", 2)


@pytest.mark.parametrize("params", [{1: 2}, [("front_line_limit", 5)], {"front_line_limit": float("nan")}])
def test_malformed_params_are_policy_errors(params: Any) -> None:
    with pytest.raises(csrules.PolicyError) as info:
        csrules.load(params=params)
    assert info.value.file is None


@pytest.mark.parametrize("now", ["0001-01-01T00:00:00+05:00", "9999-12-31T00:00:00+00:00"])
def test_now_out_of_range_is_a_ticket_error(engine: csrules.Engine, now: str) -> None:
    with pytest.raises(csrules.TicketError) as info:
        engine.evaluate(make_ticket(), now=datetime.fromisoformat(now))
    assert info.value.code == "invalid-now"
    assert info.value.got == f"`{now}`"  # as ISO text, not `datetime.datetime(1, 1, 1, ...)`


def test_many_derived_facts_are_refused_at_load(tmp_path: Path) -> None:
    """260 derived facts passed load, then a raw durable_rules error (302) escaped evaluate()."""
    declared = "".join(f"  f{i}: {{type: boolean}}\n" for i in range(260))
    text = "derived:\n" + declared + "rules:\n" + rule("r", "[{derived.f0: true}]")
    assert policy_error(tmp_path, text).code == "engine-limit"


@pytest.mark.parametrize("value", [-5, 100_001])
def test_duration_parameters_are_bounded(value: int) -> None:
    """`satisfaction_check_hours=-5` gave a follow-up due in the past; 10**9 overflowed."""
    with pytest.raises(csrules.PolicyError) as info:
        csrules.load(params={"satisfaction_check_hours": value})
    assert info.value.code == "invalid-parameter-value"


def test_yaml_numbers_are_read_as_yaml_1_2(tmp_path: Path) -> None:
    """`020` was octal 16 and `1:30` sexagesimal 90."""
    engine = load(tmp_path, "parameters:\n  limit: {type: money, default: 020}\n")
    assert engine.params["limit"] == 20
    error = policy_error(tmp_path, "parameters:\n  hours: {type: integer, default: 1:30}\n")
    assert error.code == "invalid-parameter-value"


def test_string_parameter_overrides_are_nfc(tmp_path: Path) -> None:
    text = "parameters:\n  blocked: {type: string, default: X}\nrules:\n" + rule(
        "blocked_sku", "[{item.sku: {param: blocked}}]", "{deny: true}"
    )
    engine = load(tmp_path, text, blocked="Cafe\u0301")
    item = {"sku": "Caf\u00e9", "on_sale": False, "in_stock": True}
    assert engine.evaluate(make_ticket(item=item), now=NOW).outcome == "deny"


def test_spanless_problems_say_what_they_are_about(tmp_path: Path) -> None:
    with pytest.raises(csrules.PolicyError) as info:
        csrules.load([])
    assert str(info.value) == "paths: no policy paths given"


def test_shape_errors_show_the_document_path(tmp_path: Path) -> None:
    text = "rules:\n" + rule("r", "[]", "{follow_ups: [{kind: k, due_in: {days: -1}}]}")
    error = policy_error(tmp_path, text)
    assert error.message.startswith("`rules.0.then.follow_ups.0.due_in.days`: ")


def test_explain_does_not_mistake_a_name_for_not(tmp_path: Path) -> None:
    """`attributes.notice` was read as a comparison under `not`."""
    engine = load(tmp_path, "rules:\n" + rule("vip_notice", "[{attributes.notice: vip}]"))
    text = engine.evaluate(make_ticket(attributes={"notice": "regular"}), now=NOW).explain()
    assert "  vip_notice: attributes.notice == vip: actual regular, fails" in text


def test_explain_quotes_text_that_would_read_as_another_value_and_marks_not(tmp_path: Path) -> None:
    """The text "100" read as the number 100 (`attributes.score > 20: actual 100, fails`), "absent"
    as an absent fact, a comma in a value faked a second action parameter, and comparisons under
    `not` were listed as plain failures before `=> deny`."""
    text = "rules:\n" + "".join(
        [
            rule("high_score", "[{attributes.score: {gt: 20}}]"),
            rule("note_absent", "[{attributes.note: {exists: false}}]"),
            rule("flag", "[]", "{actions: [{kind: flag, params: {who: {fact: customer.id}}}]}"),
            rule("no_raincheck", "[{not: {request.kind: raincheck}}]", "{deny: true}"),
        ]
    )
    engine = load(tmp_path, text)
    ticket = make_ticket(
        customer={"id": "C-1, approved_by=manager"},
        attributes={"score": "100", "note": "absent", "tag": "a b"},
        request={"kind": "refund", "amount": "5"},
    )
    lines = engine.evaluate(ticket, now=NOW).explain().splitlines()
    assert '  high_score: attributes.score > 20: actual "100", fails' in lines
    assert '  note_absent: attributes.note is absent: actual "absent", fails' in lines
    assert '    => action flag (who="C-1, approved_by=manager")' in lines
    assert "    - under `not`: request.kind == raincheck: actual refund, fails" in lines


def test_audit_output_keeps_a_record_s_text_on_one_line_and_in_order(
    engine: csrules.Engine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A ticket id with a line break printed a second, fake summary line; a U+202E in it showed
    the rest of the line reversed; AuditError's str() quoted a key with its line break."""
    ticket = make_ticket(id="T-5\nidentical: decision T-5\u202e", request={"kind": "refund", "amount": "45"})
    decision = engine.evaluate(ticket, now=NOW)
    data = json.loads(decision.to_json())
    data["outcome"] = "approve"
    path = tmp_path / "d.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    assert main(["verify", str(path)]) == 1
    out = capsys.readouterr().out
    assert out.splitlines()[0] == (
        f'different: decision "T-5\\nidentical: decision T-5\\u202e" does not replay under its own policy '
        f"{engine.policy_digest[:12]}: 1 field(s) differ"
    )
    assert "\u202e" not in out
    with pytest.raises(csrules.AuditError) as info:
        engine.verify('{"ticket_id": "T", "a\\nb": 1, "a\\nb": 2}')
    assert "\n" not in str(info.value)
    assert str(info.value) == "not a decision: duplicate key `a\\nb` [invalid-decision]"


def test_the_bundle_cannot_be_edited_behind_the_engine(engine: csrules.Engine) -> None:
    with pytest.raises(TypeError):
        engine.bundle.params["front_line_limit"] = 0  # type: ignore[index]


def test_actions_differing_only_in_value_type_are_both_kept(tmp_path: Path) -> None:
    text = (
        "rules:\n"
        + rule("a", "[]", "{actions: [{kind: pay, params: {amount: 1.50}}]}")
        + rule("b", "[]", "{actions: [{kind: pay, params: {amount: '1.50'}}]}")
    )
    decision = load(tmp_path, text).evaluate(make_ticket(), now=NOW)
    assert [a.rule for a in decision.actions] == ["a", "b"]


def test_ordering_a_custom_attribute_needs_a_numeric_parameter(tmp_path: Path) -> None:
    text = "parameters:\n  s: {type: string, default: x}\nrules:\n" + rule(
        "r", "[{attributes.x: {lt: {param: s}}}]"
    )
    assert policy_error(tmp_path, text).code == "type-mismatch"


def test_cli_refuses_nan_params_and_giant_numbers_in_one_line(tmp_path: Path) -> None:
    ticket = tmp_path / "t.json"
    ticket.write_text('{"id": "T", "n": ' + "9" * 5000 + "}", encoding="utf-8")
    for args in (["--param", "front_line_limit=.nan"], []):
        result = subprocess.run(
            [sys.executable, "-m", "csrules", "eval", str(ticket if not args else ROOT / "examples/tickets/loyal_refund_45.json"), *args],
            capture_output=True, text=True, check=False, cwd=ROOT,
        )  # fmt: skip
        assert result.returncode == 2, result.stderr
        assert len(result.stderr.splitlines()) == 1
        assert "Traceback" not in result.stderr


def test_decision_with_a_second_offset_round_trips(engine: csrules.Engine) -> None:
    decision = engine.evaluate(make_ticket(opened_at="2026-01-01T00:00:00+05:30"), now=NOW)
    assert csrules.Decision.model_validate_json(decision.model_dump_json()) == decision
    # Taken in UTC (docs/language.md): the same instant in any offset gives the same JSON.
    assert json.loads(decision.to_json())["trace"]["facts"]["opened_at"] == "2025-12-31T18:30:00Z"
    same = engine.evaluate(make_ticket(opened_at="2025-12-31T18:30:00Z"), now=NOW)
    assert same.to_json() == decision.to_json()


def test_a_bundle_the_engine_rejects_is_a_policy_error_at_load(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Registration happens in load(), so a rejection is not a failure on the first ticket."""

    def reject(name: str, definition: str) -> int:
        raise _durable._engine.error("Could not create ruleset, error code: 113")

    monkeypatch.setattr(_durable._engine, "create_ruleset", reject)
    with pytest.raises(csrules.PolicyError) as info:
        load(tmp_path, "rules:\n" + rule("unique_to_this_test", "[{severity: low}]"))
    assert info.value.code == "engine-limit"
    assert "error code: 113" in info.value.message


def test_loading_an_unchanged_bundle_registers_nothing_new(monkeypatch: pytest.MonkeyPatch) -> None:
    first = csrules.load()
    created: list[str] = []
    monkeypatch.setattr(_durable._engine, "create_ruleset", lambda name, text: created.append(name))
    again = csrules.load()
    assert again._rulesets.rulesets == first._rulesets.rulesets
    assert created == []


def test_an_engine_error_after_stage_zero_is_an_engine_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """An assert failing inside a barrier's action escaped as a raw durable_rules_engine.error."""
    text = (
        "derived:\n  flag: {type: boolean}\nrules:\n"
        + rule("mk", "[{severity: low}]", "{derive: {flag: true}}")
        + rule("uses", "[{derived.flag: true}]")
    )
    engine = load(tmp_path, text)
    real = _durable._engine.assert_fact
    calls = iter(range(100))

    def second_fails(handle: int, fact: str) -> Any:
        if next(calls) == 1:  # the stage-1 fact, asserted by the stage-0 barrier
            raise _durable._engine.error("Could not assert fact, error code: 303")
        return real(handle, fact)

    monkeypatch.setattr(_durable._engine, "assert_fact", second_fails)
    with pytest.raises(csrules.EngineError, match="error code: 303"):
        engine.evaluate(make_ticket(severity="low"), now=NOW)
    monkeypatch.setattr(_durable._engine, "assert_fact", real)
    assert engine.evaluate(make_ticket(severity="low"), now=NOW).trace.fired == ["mk", "uses"]


def test_actions_may_name_the_decision_without_a_decision_stage(tmp_path: Path) -> None:
    text = (
        "rules:\n"
        + rule("s", "[{severity: high}]", "{require_role: senior}")
        + rule(
            "note",
            "[]",
            "{actions: [{kind: note, params: {o: {fact: decision.outcome}, r: {fact: decision.required_role}}}]}",
        )
    )
    decision = load(tmp_path, text).evaluate(make_ticket(severity="high"), now=NOW)
    assert decision.actions[0].params == {"o": "escalate", "r": "senior"}


def test_a_list_of_files_keeps_its_order(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("rules:\n" + rule("ra", "[]"), encoding="utf-8")
    (tmp_path / "b.yaml").write_text("rules:\n" + rule("rb", "[]"), encoding="utf-8")
    forward = csrules.load([tmp_path / "a.yaml", tmp_path / "b.yaml"])
    backward = csrules.load([tmp_path / "b.yaml", tmp_path / "a.yaml"])
    assert [r.id for r in backward.bundle.rules] == ["rb", "ra"]
    assert forward.policy_digest != backward.policy_digest


def test_equal_priority_derivations_take_the_first_in_bundle_order(tmp_path: Path) -> None:
    text = (
        "derived:\n  tag: {type: string, default: none}\nrules:\n"
        + rule("one", "[]", "{derive: {tag: first}}")
        + rule("two", "[]", "{derive: {tag: second}}")
    )
    assert load(tmp_path, text).evaluate(make_ticket(), now=NOW).trace.derived == {"tag": "first"}


def test_a_stage_of_several_parts_feeds_the_next_stage(tmp_path: Path) -> None:
    thresholds = "".join(
        rule(f"over_{i}", f"[{{request.amount: {{gt: {i}}}}}]", "{derive: {over: true}}") for i in range(70)
    )
    text = (
        "derived:\n  over: {type: boolean}\nrules:\n"
        + thresholds
        + rule("uses", "[{derived.over: true}]", "{require_role: manager}")
    )
    engine = load(tmp_path, text)
    assert engine._compiled.parts[0] == 2
    high = engine.evaluate(make_ticket(request={"kind": "refund", "amount": 1000}), now=NOW)
    assert (len(high.trace.fired), high.required_role) == (71, "manager")
    zero = engine.evaluate(make_ticket(request={"kind": "refund", "amount": 0}), now=NOW)
    assert (zero.trace.fired, zero.required_role) == ([], "front_line")


@pytest.mark.parametrize("literal", ["1e400", "1.23456789012345678", "9007199254740993"])
def test_action_parameter_numbers_are_bounded(tmp_path: Path, literal: str) -> None:
    """`1e400` in an action parameter became null in JSON and crashed explain()."""
    error = policy_error(
        tmp_path, "rules:\n" + rule("r", "[]", f"{{actions: [{{kind: pay, params: {{x: {literal}}}}}]}}")
    )
    assert (error.code, error.line) == ("invalid-value", 6)


def test_a_giant_parameter_override_is_a_policy_error() -> None:
    with pytest.raises(csrules.PolicyError) as info:
        csrules.load(params={"front_line_limit": 10**5000})
    assert "too large to show" in str(info.value)


def test_many_parameter_limits_on_one_fact_still_load(tmp_path: Path) -> None:
    """Comparisons with parameters become one engine property each (c.N); 250 of them would
    outgrow a stage fact (240), so the values are compiled in as constants instead, as before."""
    count = 250
    lines = ["parameters:", *(f"  l{i}: {{type: money, default: {10 + i}}}" for i in range(count)), "rules:"]
    for i in range(count):
        lines += [
            f"  - id: r{i}",
            "    description: d",
            "    rationale: r",
            f"    when: [{{request.amount: {{gt: {{param: l{i}}}}}}}]",
            "    then: {require_role: senior}",
        ]
    engine = csrules.load([write_policy(tmp_path, "\n".join(lines) + "\n")])
    decision = engine.evaluate(refund("100.00"), now=NOW)
    assert (decision.outcome, len(decision.trace.fired)) == ("escalate", 90)  # 10.00 ... 99.00
    assert '"c.' not in json.dumps(engine.ruleset)


def test_reused_condition_records_never_show_another_tickets_value(tmp_path: Path) -> None:
    """Comparisons with a constant reuse the record built for an absent fact or a string or
    boolean value; `true` and `1`, `"1"` and `1` compare equal in Python or JSON but are other values."""
    engine = load(tmp_path, "rules:\n" + rule("r", "[{attributes.x: true}, {category: stock}]"))
    values: list[Any] = [True, 1, "1", 1.0, True, None, "true", 1]
    shown = []
    records = []
    for value in values:
        ticket = make_ticket(attributes={} if value is None else {"x": value}, category="stock")
        decision = engine.evaluate(ticket, now=NOW)
        first, _ = decision.trace.steps[0].conditions
        records.append(first)
        shown.append((first.actual, type(first.actual).__name__, first.passed))
        assert json.loads(decision.to_json())["trace"]["steps"][0]["conditions"][1]["actual"] == "stock"
    assert shown == [
        (True, "bool", True),
        (1, "int", False),
        ("1", "str", False),
        (Decimal("1.0"), "Decimal", False),
        (True, "bool", True),
        (None, "NoneType", False),
        ("true", "str", False),
        (1, "int", False),
    ]
    assert records[4] is records[0]  # the boolean's record is kept and reused
    assert records[7] is not records[1]  # numbers are not: `1` and `1.0` compare equal


def test_explain_and_log_show_keep_control_characters_of_a_ticket_on_one_line(
    engine: csrules.Engine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A ticket id or attribute with a line break or a terminal escape was printed as it was."""
    ticket = {**make_ticket(id="T\n\x1b[2J-1"), "attributes": {"note": "a\nb"}}
    decision = engine.evaluate(ticket, now=NOW)
    text = explain(decision, steps="all")
    assert text.startswith('Ticket "T\\n\\u001b[2J-1": ')  # quoted, as any value with a bracket
    assert "\x1b" not in text
    log = tmp_path / "log.jsonl"
    csrules.DecisionLog(log).append(decision)
    assert main(["log", "show", str(log)]) == 0
    out = capsys.readouterr().out
    assert '"T\\n\\u001b[2J-1"' in out  # quoted as `explain` quotes it: a bracket, a line break
    assert "\x1b" not in out
    assert len(out.splitlines()) == 1
