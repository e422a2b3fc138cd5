"""Policy case files: loading, defaults, and the default bundle's suite covering every rule."""

from __future__ import annotations

from pathlib import Path

import pytest

import csrules
from csrules.testing.cases import DEFAULT_NOW, Engines, load_cases, run_cases
from csrules.testing.report import describe_failure
from tests.helpers import ROOT

SUITE = ROOT / "tests" / "policy_cases"


def test_the_suite_fires_every_rule_of_the_bundle() -> None:
    results = run_cases(load_cases([SUITE]))
    assert all(r.passed for r in results)
    fired = {rule for r in results if r.decision for rule in r.decision.trace.fired}
    assert fired == {r.id for r in csrules.load().bundle.rules}


def test_case_defaults_and_overrides(tmp_path: Path) -> None:
    (tmp_path / "a.cases.yaml").write_text(
        "params: {front_line_limit: 30}\ncases:\n"
        "  - name: file params\n    ticket: {id: T, customer: {id: C}, agent: {id: A, role: front_line}}\n    expect: {}\n"
        "  - name: case params win\n    params: {front_line_limit: 40}\n    now: 2026-05-01T12:00:00+02:00\n"
        "    ticket: {id: T, customer: {id: C}, agent: {id: A, role: front_line}}\n    expect: {}\n",
        encoding="utf-8",
    )
    first, second = load_cases([tmp_path])
    assert (first.params, first.now, first.policies, first.line) == (
        {"front_line_limit": 30},
        DEFAULT_NOW,
        None,
        3,
    )
    assert second.params == {"front_line_limit": 40}
    assert second.now.isoformat() == "2026-05-01T12:00:00+02:00"


def test_an_unknown_rule_in_an_expectation_fails_the_case(tmp_path: Path) -> None:
    (tmp_path / "a.cases.yaml").write_text(
        "cases:\n  - name: typo\n    ticket: {id: T, customer: {id: C}, agent: {id: A, role: front_line}}\n"
        "    expect: {not_fired: [over_front_line_limt]}\n",
        encoding="utf-8",
    )
    (result,) = run_cases(load_cases([tmp_path]))
    assert not result.passed
    assert [(m.field, m.expected) for m in result.mismatches] == [("rules", ["over_front_line_limt"])]


def test_an_expected_error_that_does_not_happen_fails(tmp_path: Path) -> None:
    (tmp_path / "a.cases.yaml").write_text(
        "cases:\n  - name: valid after all\n    ticket: {id: T, customer: {id: C}, agent: {id: A, role: front_line}}\n"
        "    expect: {error: {code: invalid-money}}\n",
        encoding="utf-8",
    )
    (result,) = run_cases(load_cases([tmp_path]))
    assert [m.field for m in result.mismatches] == ["error"]


def test_a_case_ticket_datetime_in_a_yaml_1_1_form_is_refused_as_json_would_be(tmp_path: Path) -> None:
    """Unquoted, `2026-1-5 1:00:00 +5` was a datetime to YAML and the case passed, while the same
    ticket as JSON is refused: a case's values are read as the text JSON would hold."""
    (tmp_path / "a.cases.yaml").write_text(
        "cases:\n  - name: lax\n    ticket: {id: T, opened_at: 2026-1-5 1:00:00 +5, customer: {id: C},"
        " agent: {id: A, role: front_line}}\n    expect: {error: {code: invalid-datetime, path: /opened_at}}\n",
        encoding="utf-8",
    )
    (result,) = run_cases(load_cases([tmp_path]))
    assert result.mismatches == ()


@pytest.mark.parametrize(
    ("text", "line"),
    [("cases: []\n", 1), ("cases:\n  - name: x\n    expect: {}\n", 2), ("rules: []\n", 1)],
)
def test_invalid_case_files_are_policy_errors(tmp_path: Path, text: str, line: int) -> None:
    (tmp_path / "a.cases.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(csrules.PolicyError) as info:
        load_cases([tmp_path])
    assert (info.value.code, info.value.line) == ("invalid-case", line)


TICKET = "{id: T, customer: {id: C}, agent: {id: A, role: front_line}}"


@pytest.mark.parametrize(
    ("head", "expect", "message"),
    [
        # Each crashed `csrules test` (exit 3) or was silently read otherwise.
        (
            "",
            "{follow_ups: [{kind: escalation_update, due_in: {days: 999999999999}}]}",
            "`cases.0.expect.follow_ups.0.due_in.days`: input should be less than or equal to 100000",
        ),
        (
            "",
            "{follow_ups: [{kind: escalation_update, due_in: {days: -1}}]}",
            "`cases.0.expect.follow_ups.0.due_in.days`: input should be greater than or equal to 0",
        ),
        (
            "",
            "{actions: [{kind: a, params: {x: .inf}}]}",
            "`cases.0.expect.actions.0.params.x`: an action parameter is a string, a finite number, true, "
            "false or null",
        ),
        (
            "",
            "{error: {code: invalid-money}, fired: [no_such_rule], outcome: approve}",
            "`cases.0.expect`: `error` stands alone: a refused ticket has no fired, outcome to check",
        ),
        ("policies: []\n", "{}", "`policies`: list should have at least 1 item after validation, not 0"),
        (
            "now: 0001-01-01T00:00:00+01:00\n",
            "{}",
            "`now`: a date and time between the years 1900 and 9000 in UTC",
        ),
        ("now: 12345\n", "{}", "`now`: a date and time, e.g. 2026-11-23T15:00:00Z"),
        ("now: 2026-01-01\n", "{}", "`now`: a date and time, e.g. 2026-11-23T15:00:00Z"),
        # quoted, a bare date was read as midnight; a week date and an offset in seconds too
        ('now: "2026-01-01"\n', "{}", "`now`: a date and time, e.g. 2026-11-23T15:00:00Z"),
        ('now: "2026-W48-1T15:00:00Z"\n', "{}", "`now`: a date and time, e.g. 2026-11-23T15:00:00Z"),
        ('now: "2026-11-23T15:00:00+05:30:30"\n', "{}", "`now`: a date and time, e.g. 2026-11-23T15:00:00Z"),
        # `due` is read as `now` is: a Unix time was 1970 plus seconds, year 9999 crashed (exit 3)
        (
            "",
            "{follow_ups: [{kind: k, due: 1795532400}]}",
            "`cases.0.expect.follow_ups.0.due`: a date and time, e.g. 2026-11-23T15:00:00Z",
        ),
        (
            "",
            '{follow_ups: [{kind: k, due: "9999-12-31T23:59:59-05:00"}]}',
            "`cases.0.expect.follow_ups.0.due`: a date and time between the years 1900 and 9000 in UTC",
        ),
        (
            "",
            '{follow_ups: [{kind: k, due: "2026-11-24"}]}',
            "`cases.0.expect.follow_ups.0.due`: a date and time, e.g. 2026-11-23T15:00:00Z",
        ),
        (  # `due_in` won silently over `due`
            "",
            "{follow_ups: [{kind: k, due_in: {days: 30}, due: 1999-01-01T00:00:00Z}]}",
            "`cases.0.expect.follow_ups.0`: a follow-up's time is `due` or `due_in`, not both",
        ),
        (  # YAML's null: nothing was checked
            "",
            "{actions: }",
            "`cases.0.expect`: `actions` is empty: give what to expect ([] for none), or leave it out to "
            "not check it",
        ),
        (
            "",
            "{outcome: , follow_ups: }",
            "`cases.0.expect`: `follow_ups` is empty: give what to expect ([] for none), or leave it out to "
            "not check it",
        ),
        (  # YAML's null: the error's path was not checked
            "",
            "{error: {code: missing-field, path: }}",
            "`cases.0.expect.error.path`: no value given: give one, or leave the key out",
        ),
        # YAML's null: the cases ran on the default bundle, or at the default `now`, without a word
        ("policies:\n", "{}", "`policies`: no value given: give one, or leave the key out"),
        ("now:\n", "{}", "`now`: no value given: give one, or leave the key out"),
        # `policies: [""]` was the case file's own folder (`policies: ""` was refused)
        ('policies: [""]\n', "{}", "`policies.0`: string should have at least 1 character"),
    ],
    ids=[
        "due-in-huge",
        "due-in-negative",
        "inf-param",
        "error-and-more",
        "no-policies",
        "year-1",
        "unix-time",
        "date",
        "quoted-date",
        "week-date",
        "offset-seconds",
        "due-unix-time",
        "due-year-9999",
        "due-date",
        "due-and-due-in",
        "null-actions",
        "null-outcome-and-follow-ups",
        "null-error-path",
        "null-policies",
        "null-now",
        "empty-policy-path",
    ],
)
def test_case_files_that_cannot_be_run_as_written_are_invalid(
    tmp_path: Path, head: str, expect: str, message: str
) -> None:
    (tmp_path / "a.cases.yaml").write_text(
        f"{head}cases:\n  - name: x\n    ticket: {TICKET}\n    expect: {expect}\n", encoding="utf-8"
    )
    with pytest.raises(csrules.PolicyError) as info:
        load_cases([tmp_path])
    assert info.value.code == "invalid-case"
    assert info.value.message == f"invalid case file: {message}"


def test_two_cases_of_one_name_are_invalid(tmp_path: Path) -> None:
    """pytest got two items of one node id, and `csrules test` two lines no one could tell apart."""
    case = f"  - name: same\n    ticket: {TICKET}\n    expect: {{}}\n"
    (tmp_path / "a.cases.yaml").write_text("cases:\n" + case + case, encoding="utf-8")
    with pytest.raises(csrules.PolicyError) as info:
        load_cases([tmp_path])
    assert (info.value.code, info.value.line, info.value.column) == ("invalid-case", 5, 11)
    assert info.value.message == "invalid case file: duplicate case name `same`"


def test_a_case_name_with_a_double_colon_is_invalid(tmp_path: Path) -> None:
    """pytest selects a case as `FILE::NAME` and splits at every `::`: `pytest 'a.cases.yaml::a :: b'`
    answered "not found" for a case it had just listed."""
    ok = f"  - name: 'a : b [c]'\n    ticket: {TICKET}\n    expect: {{}}\n"
    bad = f"  - name: 'a :: b'\n    ticket: {TICKET}\n    expect: {{}}\n"
    (tmp_path / "a.cases.yaml").write_text("cases:\n" + ok + bad, encoding="utf-8")
    with pytest.raises(csrules.PolicyError) as info:
        load_cases([tmp_path])
    assert (info.value.code, info.value.line, info.value.column) == ("invalid-case", 5, 11)
    assert info.value.message == (
        "invalid case file: a case name cannot contain `::` (pytest selects a case as `FILE::NAME`), "
        "got `a :: b`"
    )
    (tmp_path / "a.cases.yaml").write_text("cases:\n" + ok, encoding="utf-8")
    assert [case.name for case in load_cases([tmp_path])] == ["a : b [c]"]


def test_an_expected_null_parameter_is_not_a_missing_one(tmp_path: Path) -> None:
    """`params: {nokey: null}` held for an action that has no parameter `nokey`."""
    policy = tmp_path / "p.yaml"
    policy.write_text(
        "rules:\n  - id: r\n    description: d\n    rationale: r\n    when: []\n"
        "    then: {actions: [{kind: call, params: {reason: null}}]}\n",
        encoding="utf-8",
    )

    def case(name: str, params: str) -> str:
        return f"  - name: {name}\n    ticket: {TICKET}\n    expect: {{actions: [{{kind: call, params: {params}}}]}}\n"

    (tmp_path / "a.cases.yaml").write_text(
        "policies: p.yaml\ncases:\n" + case("held", "{reason: null}") + case("absent", "{nokey: null}"),
        encoding="utf-8",
    )
    held, absent = run_cases(load_cases([tmp_path]))
    assert held.passed
    assert [m.field for m in absent.mismatches] == ["actions[call].params"]
    # YAML's words, not Python's (`None`, `True`)
    assert describe_failure(absent).splitlines()[1] == (
        "  actions[call].params: expected {nokey: null}, got [{reason: null}]"
    )


@pytest.mark.parametrize(
    ("text", "where", "message"),
    [
        (  # the file's params, a value the parameter's type refuses: at the file's key
            "params:\n  front_line_limit: abc\ncases:\n  - name: x\n    ticket: {TICKET}\n    expect: {{}}\n",
            (2, 3),
            "parameter `front_line_limit` must be money, got `abc`",
        ),
        (  # a case's own params win over the file's: at the case's key
            "params: {{front_line_limit: 30}}\ncases:\n  - name: x\n    ticket: {TICKET}\n"
            "    params:\n      front_line_limit: [1]\n    expect: {{}}\n",
            (6, 7),
            "parameter `front_line_limit` must be money, got `[1]`",
        ),
        (  # an unknown name: at its key
            "cases:\n  - name: x\n    ticket: {TICKET}\n    params: {{front_line_limt: 30}}\n    expect: {{}}\n",
            (4, 14),
            "unknown parameter `front_line_limt`",
        ),
    ],
)
def test_a_refused_case_parameter_is_reported_where_the_case_file_gives_it(
    tmp_path: Path, text: str, where: tuple[int, int], message: str
) -> None:
    """The error said `params: parameter ... must be money`, with no file or line."""
    (tmp_path / "a.cases.yaml").write_text(text.format(TICKET=TICKET), encoding="utf-8")
    with pytest.raises(csrules.PolicyError) as info:
        run_cases(load_cases([tmp_path]))
    assert (info.value.file, info.value.line, info.value.column) == (str(tmp_path / "a.cases.yaml"), *where)
    assert info.value.message == message
    assert str(info.value).startswith(f"{tmp_path / 'a.cases.yaml'}:{where[0]}:{where[1]}: {message}")


def test_a_case_parameter_breaking_the_bundle_is_reported_at_the_case_naming_the_rule(tmp_path: Path) -> None:
    """A parameter value that only the rule using it refuses is the override's problem: it is
    reported at the case's `params`, and the message names the rule's place (where the other fix
    may be)."""
    policy = tmp_path / "p.yaml"
    policy.write_text(
        "parameters:\n  tier: {type: string, default: loyal}\n"
        "rules:\n  - id: r\n    description: d\n    rationale: r\n"
        "    when: [{customer.tier: {eq: {param: tier}}}]\n    then: {deny: true}\n",
        encoding="utf-8",
    )
    (tmp_path / "a.cases.yaml").write_text(
        f"policies: p.yaml\ncases:\n  - name: x\n    ticket: {TICKET}\n    params: {{tier: gold}}\n"
        "    expect: {}\n",
        encoding="utf-8",
    )
    with pytest.raises(csrules.PolicyError) as info:
        run_cases(load_cases([tmp_path]))
    assert (info.value.file, info.value.line) == (str(tmp_path / "a.cases.yaml"), 5)
    assert info.value.code == "type-mismatch"
    assert info.value.message.endswith(f"(the override, used at {policy}:7:33)")


def test_an_expected_text_that_looks_like_a_number_is_shown_quoted(tmp_path: Path) -> None:
    """`honored_price: "5.99"` against the action's 5.99 failed with both shown as 5.99."""
    ticket = (
        "{id: T, customer: {id: C}, agent: {id: A, role: front_line}, request: {kind: raincheck, amount: 3},"
        " item: {sku: HAM, on_sale: true, in_stock: false, sale_price: 5.99, regular_price: 8}}"
    )
    (tmp_path / "a.cases.yaml").write_text(
        f"cases:\n  - name: x\n    ticket: {ticket}\n"
        '    expect: {actions: [{kind: issue_raincheck, params: {honored_price: "5.99"}}]}\n',
        encoding="utf-8",
    )
    (result,) = run_cases(load_cases([tmp_path]))
    line = describe_failure(result).splitlines()[1]
    assert line.startswith('  actions[issue_raincheck].params: expected {honored_price: "5.99"}, got [{')
    assert "honored_price: 5.99," in line


def test_an_expected_instant_matches_however_its_offset_is_written(tmp_path: Path) -> None:
    """`valid_until: "2026-12-23T15:00:00+00:00"` failed against the decision's `...Z`."""
    ticket = (
        "{id: T, customer: {id: C}, agent: {id: A, role: front_line}, request: {kind: raincheck, amount: 3},"
        " item: {sku: HAM, on_sale: true, in_stock: false, sale_price: 5.99, regular_price: 8}}"
    )

    def case(name: str, until: str) -> str:
        return (
            f"  - name: {name}\n    ticket: {ticket}\n"
            f"    expect: {{actions: [{{kind: issue_raincheck, params: {{valid_until: {until}}}}}]}}\n"
        )

    (tmp_path / "a.cases.yaml").write_text(
        "now: 2026-11-23T15:00:00Z\ncases:\n"
        + case("utc", '"2026-12-23T15:00:00+00:00"')
        + case("offset", '"2026-12-23T16:00:00+01:00"')
        + case("other", '"2026-12-23T15:00:00+01:00"')
        + case("text", '"soon"')
        # unquoted, YAML's timestamps: refused as "not a scalar" (`now` and `due` took them)
        + case("yaml", "2026-12-23T16:00:00+01:00")
        + case("yaml-naive", "2026-12-23 15:00:00")
        + case("yaml-other", "2026-12-23T15:00:00+01:00"),
        encoding="utf-8",
    )
    results = run_cases(load_cases([tmp_path]))
    assert [r.passed for r in results] == [True, True, False, False, True, True, False]


def _run_against(tmp_path: Path, then: str, expect: str) -> list[str]:
    """The mismatched fields of one case with `expect`, on a one-rule bundle with `then`."""
    (tmp_path / "p.yaml").write_text(
        f"rules:\n  - id: r\n    description: d\n    rationale: r\n    when: []\n    then: {then}\n",
        encoding="utf-8",
    )
    (tmp_path / "a.cases.yaml").write_text(
        f"policies: p.yaml\nnow: 2026-11-23T15:00:00Z\ncases:\n  - name: x\n    ticket: {TICKET}\n"
        f"    expect: {expect}\n",
        encoding="utf-8",
    )
    (result,) = run_cases(load_cases([tmp_path / "a.cases.yaml"]))
    return [m.field for m in result.mismatches]


TWO_ACTIONS = "{actions: [{kind: review, params: {note: loyal}}, {kind: review}]}"
TWO_FOLLOW_UPS = "{follow_ups: [{kind: update, due_in: {hours: 2}}, {kind: update, due_in: {hours: 24}}]}"


@pytest.mark.parametrize(
    ("then", "expect", "mismatched"),
    [
        # each expected item needs an item of its own: one actual cannot satisfy two alike
        (TWO_ACTIONS, "{actions: [{kind: review, params: {note: loyal}}, {kind: review, params: {note: loyal}}]}",
         ["actions[review].params"]),
        (TWO_ACTIONS, "{actions: [{kind: review, params: {note: loyal}}, review]}", []),
        (TWO_ACTIONS, "{actions: [review, {kind: review, params: {note: loyal}}]}", []),
        # one action, two expected: the kinds differ; the parameters are the action's, no mismatch
        ("{actions: [{kind: note, params: {x: 1}}]}", "{actions: [note, {kind: note, params: {x: 1}}]}",
         ["actions"]),
        ("{follow_ups: [{kind: update, due_in: {hours: 2}}]}",
         "{follow_ups: [update, {kind: update, due_in: {hours: 2}}]}", ["follow_ups"]),
        (TWO_FOLLOW_UPS, "{follow_ups: [{kind: update, due_in: {hours: 24}}, {kind: update, due_in: {hours: 24}}]}",
         ["follow_ups[update].due"]),
        (TWO_FOLLOW_UPS, "{follow_ups: [{kind: update, due_in: {hours: 24}}, {kind: update, due_in: {hours: 2}}]}", []),
        (TWO_FOLLOW_UPS, "{follow_ups: [update, {kind: update, due: 2026-11-23T17:00:00Z}]}", []),
        # JSON's true is not 1, false is not 0; 1 and 1.0 are one number
        ("{actions: [{kind: a, params: {flag: false, n: 1}}]}", "{actions: [{kind: a, params: {flag: 0}}]}",
         ["actions[a].params"]),
        ("{actions: [{kind: a, params: {flag: false, n: 1}}]}", "{actions: [{kind: a, params: {n: true}}]}",
         ["actions[a].params"]),
        ("{actions: [{kind: a, params: {flag: false, n: 1}}]}", "{actions: [{kind: a, params: {flag: false, n: 1.0}}]}",
         []),
        ("{actions: [{kind: a, params: {flag: true}}]}", "{actions: [{kind: a, params: {flag: true}}]}", []),
    ],
)  # fmt: skip
def test_expectations_are_matched_one_to_one_and_as_json_values(
    tmp_path: Path, then: str, expect: str, mismatched: list[str]
) -> None:
    """Two alike expectations passed on one action or follow-up; `flag: 0` passed for `false`."""
    assert _run_against(tmp_path, then, expect) == mismatched


@pytest.mark.parametrize(("text", "kind"), [("- name: a\n", "a list"), ("hello\n", "a single value")])
def test_a_case_file_that_is_no_mapping_says_what_it_should_be(tmp_path: Path, text: str, kind: str) -> None:
    """It said "`` ``: input should be a valid dictionary or instance of _CaseFileDoc"."""
    (tmp_path / "a.cases.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(csrules.PolicyError) as info:
        load_cases([tmp_path])
    assert (info.value.code, info.value.line, info.value.column) == ("invalid-case", 1, 1)
    assert info.value.message == f"invalid case file: expected a mapping with `cases:` at the top, got {kind}"


def test_a_null_now_of_a_case_is_refused_where_it_is(tmp_path: Path) -> None:
    (tmp_path / "a.cases.yaml").write_text(
        f"cases:\n  - name: x\n    now:\n    ticket: {TICKET}\n    expect: {{}}\n", encoding="utf-8"
    )
    with pytest.raises(csrules.PolicyError) as info:
        load_cases([tmp_path])
    assert (info.value.code, info.value.line, info.value.column) == ("invalid-case", 3, 9)
    assert (
        info.value.message
        == "invalid case file: `cases.0.now`: no value given: give one, or leave the key out"
    )


def test_a_custom_attribute_with_a_fraction_is_a_number_as_in_json(tmp_path: Path) -> None:
    """YAML's `score: 0.5` was read as a Decimal, which a ticket refuses: `invalid-attribute`."""
    (tmp_path / "p.yaml").write_text(
        "policy: p\ndescription: d\nrules:\n  - id: risky\n    description: d\n    rationale: r\n"
        "    when: [attributes.score: {gt: 0.25}]\n    then: {require_role: senior}\n",
        encoding="utf-8",
    )
    (tmp_path / "a.cases.yaml").write_text(
        "policies: p.yaml\ncases:\n"
        + "".join(
            f"  - name: {name}\n    ticket: {{id: T, customer: {{id: C}}, agent: {{id: A, role: front_line}}, "
            f"attributes: {{score: {score}}}}}\n    expect: {{required_role: {role}}}\n"
            for name, score, role in [
                ("above", "0.5", "senior"),
                ("at", "0.25", "front_line"),
                ("int", "1", "senior"),
            ]
        ),
        encoding="utf-8",
    )
    results = run_cases(load_cases([tmp_path]))
    assert [(r.case.name, r.passed, r.error) for r in results] == [
        ("above", True, None),
        ("at", True, None),
        ("int", True, None),
    ]
    assert results[0].case.ticket["attributes"] == {"score": 0.5}


def test_the_default_bundle_and_its_path_are_one_bundle(tmp_path: Path) -> None:
    """A case file without `policies` and one naming the default bundle's folder counted as two
    bundles: coverage left one file's cases out, invariants were checked twice."""
    body = f"cases:\n  - name: x\n    ticket: {TICKET}\n    expect: {{outcome: approve}}\n"
    (tmp_path / "a.cases.yaml").write_text(body, encoding="utf-8")
    (tmp_path / "b.cases.yaml").write_text(
        f"policies: {csrules.default_policies()}\n{body}", encoding="utf-8"
    )
    engines = Engines()
    results = run_cases(load_cases([tmp_path]), engines=engines)
    assert [r.passed for r in results] == [True, True]
    assert engines.bundle_of(results[0].case) == engines.bundle_of(results[1].case)
    assert len(engines.as_written()) == 1


def test_a_case_attribute_no_float_holds_is_refused_not_rounded(tmp_path: Path) -> None:
    """`0.30000000000000001` became 0.3 and passed; `csrules eval` refuses that JSON number."""
    (tmp_path / "p.yaml").write_text(
        "policy: p\ndescription: d\nrules:\n  - id: risky\n    description: d\n    rationale: r\n"
        "    when: [attributes.score: {gt: 0.3}]\n    then: {require_role: senior}\n",
        encoding="utf-8",
    )
    (tmp_path / "a.cases.yaml").write_text(
        "policies: p.yaml\ncases:\n  - name: x\n    ticket: {id: T, customer: {id: C}, agent: {id: A, "
        "role: front_line}, attributes: {score: 0.30000000000000001}}\n    expect: {outcome: approve}\n",
        encoding="utf-8",
    )
    (result,) = run_cases(load_cases([tmp_path]))
    assert not result.passed
    assert result.error is not None
    assert (result.error.code, result.error.path) == ("invalid-attribute", "/attributes/score")
    assert result.error.got == "`0.30000000000000001`"  # as written, not `Decimal('0.30000000000000001')`


@pytest.mark.parametrize(
    ("written", "path", "got"),
    [
        ("id: 2026-01-01", "/id", "`2026-01-01` (an unquoted YAML date or time: quote it to give text)"),
        (
            "id: T, items: [{sku: 2026-01-01T10:00:00Z}]",
            None,
            None,
        ),
    ],
)
def test_a_refused_case_value_yaml_read_as_a_date_is_shown_as_written(
    tmp_path: Path, written: str, path: str | None, got: str | None
) -> None:
    """The report showed Python's repr of what PyYAML made of it: `datetime.date(2026, 1, 1)`."""
    (tmp_path / "a.cases.yaml").write_text(
        f"cases:\n  - name: x\n    ticket: {{{written}, customer: {{id: C}}, agent: {{id: A, "
        "role: front_line}}\n    expect: {outcome: approve}\n",
        encoding="utf-8",
    )
    (result,) = run_cases(load_cases([tmp_path]))
    assert result.error is not None
    if path is None:  # another refusal (an unknown field): left as it is
        assert (result.error.code, result.error.path) == ("unknown-field", "/items")
        return
    assert (result.error.code, result.error.path, result.error.got) == ("invalid-type", path, got)
    assert str(result.error) == f"ticket {path}: expected a valid string, got {got} [invalid-type]"


@pytest.mark.parametrize(
    ("text", "where", "message"),
    [
        (
            f"cases:\n  - name: a\n    ticket: {TICKET}\n    expects:\n      outcome: deny\n",
            (4, 5),
            "`cases.0.expects`: extra inputs are not permitted (`expect` is required there)",
        ),
        (
            "case:\n  - name: a\n",
            (1, 1),
            "`case`: extra inputs are not permitted (`cases` is required there)",
        ),
        (
            "cases:\n  - name: a\n    tickets: {id: T}\n    expects: {}\n",
            (3, 5),
            "`cases.0.tickets`: extra inputs are not permitted (`ticket`, `expect` are required there)",
        ),
        (  # a missing key alone is still named where its mapping is
            f"cases:\n  - name: a\n    ticket: {TICKET}\n",
            (2, 5),
            "`cases.0.expect`: field required",
        ),
    ],
)
def test_a_misspelt_required_key_is_named_where_it_is_written(
    tmp_path: Path, text: str, where: tuple[int, int], message: str
) -> None:
    """`expects:` for `expect:` was reported as `cases.0.expect: field required` at the case's
    first key: the misspelt key was never named, nor pointed at."""
    (tmp_path / "a.cases.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(csrules.PolicyError) as info:
        load_cases([tmp_path])
    assert (info.value.line, info.value.column) == where
    assert info.value.message == f"invalid case file: {message}"


@pytest.mark.parametrize("name", ["str", "_x", "list[int]", "function-plain"])
def test_a_bad_expected_parameter_is_named_whatever_its_name(tmp_path: Path, name: str) -> None:
    """A parameter named like one of pydantic's union labels (`str`, `_...`, `list[...`) was left
    out of the path and reported at the first parameter instead."""
    text = (
        f"cases:\n  - name: a\n    ticket: {TICKET}\n    expect:\n      actions:\n"
        f"        - kind: k\n          params: {{ok: 1, '{name}': [1]}}\n"
    )
    (tmp_path / "a.cases.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(csrules.PolicyError) as info:
        load_cases([tmp_path])
    assert info.value.message == (
        f"invalid case file: `cases.0.expect.actions.0.params.{name}`: an action parameter is a string, "
        "a finite number, true, false or null"
    )
    assert (info.value.line, info.value.column) == (7, 31 + len(name))  # at the value


def test_a_failure_report_marks_the_comparisons_a_fired_rule_needs_to_fail(tmp_path: Path) -> None:
    """`deny_raincheck ... fired:` listed `item.in_stock == false: actual true, fails` without its
    `under `not``: a fired rule with a failing condition, as `csrules eval` does not show it."""
    (tmp_path / "a.cases.yaml").write_text(
        "cases:\n  - name: denied\n    ticket: {id: T, customer: {id: C}, agent: {id: A, role: front_line}, "
        'request: {kind: raincheck, amount: "2.50"}, item: {sku: B, on_sale: true, in_stock: true, '
        'sale_price: "4.00"}}\n    expect: {outcome: approve}\n',
        encoding="utf-8",
    )
    (result,) = run_cases(load_cases([tmp_path]))
    lines = [line.strip() for line in describe_failure(result).splitlines()]
    start = lines.index("deny_raincheck [policies/rainchecks.yaml:33] fired:")
    listed = [
        "- request.kind == raincheck: actual raincheck, holds",
        "- under `not`: item.on_sale == true: actual true, holds",
        "- under `not`: item.in_stock == false: actual true, fails",
        "- under `not`: item.sale_price exists: actual 4.00, holds",
    ]
    assert lines[start + 1 : start + 5] == listed
    explained = csrules.load().evaluate(result.case.ticket, now=result.case.now).explain(steps="all")
    assert all(line in explained for line in listed)


@pytest.mark.parametrize(
    ("written", "path", "got"),
    [
        ("request: {kind: refund, amount: 20.001}", "/request/amount", "`20.001`"),
        ("opened_at: 2026-11-23 10:00:00", "/opened_at", '`"2026-11-23T10:00:00"`'),
        ("promise: {delivery_date: 2026-02-30}", None, None),  # no date: a YAML error of the file
        # An unquoted date for a text fact stays a date, refused as in a policy (not respelled
        # text), and shown as written with a hint (it showed `datetime.datetime(...)`).
        (
            "item: {sku: 2026-11-23T10:00:00Z, on_sale: true, in_stock: true}",
            "/item/sku",
            "`2026-11-23T10:00:00+00:00` (an unquoted YAML date or time: quote it to give text)",
        ),
    ],
)
def test_a_refused_case_ticket_shows_its_values_as_json_would_not_as_python(
    tmp_path: Path, written: str, path: str | None, got: str | None
) -> None:
    """`got `Decimal('20.001')``, `got `datetime.datetime(2026, 11, 23, 10, 0)``: YAML's values
    reached the ticket as Python objects, where `csrules eval` of the same JSON shows `20.001`."""
    (tmp_path / "a.cases.yaml").write_text(
        f"cases:\n  - name: x\n    ticket: {{id: T, customer: {{id: C}}, agent: {{id: A, role: front_line}}, "
        f"{written}}}\n    expect: {{outcome: approve}}\n",
        encoding="utf-8",
    )
    if path is None:
        with pytest.raises(csrules.PolicyError):
            load_cases([tmp_path])
        return
    (result,) = run_cases(load_cases([tmp_path]))
    assert result.error is not None
    assert result.error.path == path
    assert result.error.got == got
