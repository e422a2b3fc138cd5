"""`csrules schema`: the shipped JSON Schemas are up to date and agree with csrules on real files.

Documents are validated against the schemas generated in-process; `test_shipped_schema_is_up_to_date`
ties those to the shipped files, so a stale file fails one test with the fix in its message.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import csrules
from csrules.load import read_document
from csrules.schema import (
    DECISION_SCHEMA_ID,
    POLICY_SCHEMA_ID,
    TICKET_SCHEMA_ID,
    decision_schema,
    policy_schema,
    ticket_schema,
)
from csrules.testing.strategies import tickets
from tests.helpers import NOW, ROOT, make_ticket
from tests.test_docs import POLICIES as DOC_POLICIES

POLICY_FILES = sorted((ROOT / "policies").glob("*.yaml"))
TICKET_FILES = sorted((ROOT / "examples" / "tickets").glob("*.json"))
RULE = {"id": "r", "description": "d", "rationale": "r", "then": {"deny": True}}


ENGINE = csrules.load()


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "csrules", "schema", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
        timeout=60,
    )


def as_json(value: Any) -> Any:
    """Policy data as an editor sees it: YAML dates are strings, decimals JSON numbers."""
    if isinstance(value, dict):
        return {key: as_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [as_json(item) for item in value]
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, date | datetime):
        return value.isoformat()
    return value


def policy_data(path: Path) -> Any:
    """A policy file read as csrules reads it (YAML 1.2 scalars), in its JSON form."""
    return as_json(read_document(path).data)


def problems(schema: dict[str, Any], instance: Any) -> list[tuple[str, str]]:
    """(JSON pointer, message) of every schema violation, sorted."""
    validator = jsonschema.Draft202012Validator(schema)
    return sorted(
        ("".join(f"/{part}" for part in error.absolute_path), error.message)
        for error in validator.iter_errors(instance)
    )


@pytest.mark.parametrize(("name", "schema_id", "title"), [
    ("policy", POLICY_SCHEMA_ID, "csrules policy file"),
    ("ticket", TICKET_SCHEMA_ID, "csrules ticket"),
    ("decision", DECISION_SCHEMA_ID, "csrules decision"),
])  # fmt: skip
def test_schema_command_prints_the_schema(name: str, schema_id: str, title: str) -> None:
    result = run(name)
    assert result.returncode == 0, result.stderr
    schema = json.loads(result.stdout)
    assert (schema["$schema"], schema["$id"], schema["title"]) == (
        "https://json-schema.org/draft/2020-12/schema",
        schema_id,
        title,
    )
    jsonschema.Draft202012Validator.check_schema(schema)


@pytest.mark.parametrize("name", ["policy", "ticket", "decision"])
def test_shipped_schema_is_up_to_date(name: str) -> None:
    """The files in src/csrules/schemas/ are what the models generate now."""
    shipped = run(name)
    generated = run(name, "--generate")
    assert shipped.returncode == generated.returncode == 0, shipped.stderr + generated.stderr
    assert shipped.stdout == generated.stdout, (
        f"src/csrules/schemas/{name}.schema.json is out of date: run `make schemas` and commit the result"
    )
    assert shipped.stdout.endswith("}\n")


def test_output_writes_the_file_and_prints_nothing(tmp_path: Path) -> None:
    target = tmp_path / ".csrules" / "policy.schema.json"
    result = run("policy", "--output", str(target))
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    assert target.read_text(encoding="utf-8") == run("policy").stdout


def test_unknown_schema_name_is_a_usage_error() -> None:
    result = run("rules")
    assert result.returncode == 2
    assert result.stdout == ""
    assert "argument name: invalid choice: 'rules'" in result.stderr
    assert "Traceback" not in result.stderr


def test_unwritable_output_is_one_line(tmp_path: Path) -> None:
    result = run("policy", "--output", str(tmp_path))
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == f"csrules: error: {tmp_path}: cannot write the schema: Is a directory\n"


def test_an_output_under_a_file_is_not_a_directory(tmp_path: Path) -> None:
    """Creating the missing directories said "File exists" of a path that does not exist."""
    (tmp_path / "file.json").write_text("{}", encoding="utf-8")
    target = tmp_path / "file.json" / "policy.schema.json"
    result = run("policy", "--output", str(target))
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == f"csrules: error: {target}: cannot write the schema: Not a directory\n"


def test_an_output_ending_in_a_slash_names_a_directory(tmp_path: Path) -> None:
    """`--output out/` wrote a file named `out`."""
    result = run("policy", "--output", f"{tmp_path}/out/")
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == f"csrules: error: {tmp_path}/out/: cannot write the schema: Is a directory\n"
    assert list(tmp_path.iterdir()) == []
    result = run("policy", "--output", f"{tmp_path}/new/sub/.")  # no folder made for a path that names none
    assert (result.returncode, result.stdout) == (2, "")
    assert (
        result.stderr
        == f"csrules: error: {tmp_path}/new/sub/.: cannot write the schema: No such file or directory\n"
    )
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("path", POLICY_FILES, ids=[p.name for p in POLICY_FILES])
def test_every_bundled_policy_file_is_valid(path: Path) -> None:
    assert problems(policy_schema(), policy_data(path)) == []


@pytest.mark.parametrize(("name", "text"), DOC_POLICIES, ids=[n for n, _ in DOC_POLICIES])
def test_every_policy_in_the_docs_is_valid(name: str, text: str, tmp_path: Path) -> None:
    path = tmp_path / "example.yaml"
    path.write_text(text, encoding="utf-8")
    assert problems(policy_schema(), policy_data(path)) == []


@pytest.mark.parametrize("path", TICKET_FILES, ids=[p.name for p in TICKET_FILES])
def test_every_example_ticket_is_valid(path: Path) -> None:
    assert problems(ticket_schema(), json.loads(path.read_text(encoding="utf-8"))) == []


def rule_with(when: Any) -> dict[str, Any]:
    return {"rules": [{**RULE, "when": when}]}


@pytest.mark.parametrize("when", [
    None,
    [],
    {"request.amount": {"gt": 20}},
    [{"severity": "high", "channel": "phone"}],
    [{"request.amount": {"gt": {"param": "front_line_limit"}, "lte": 100}}],
    [{"promise.delivery_date": {"lt": {"fact": "promise.earliest_feasible"}}}],
    [{"promise.delivery_date": {"gte": "2026-12-01"}}, {"opened_at": {"lt": "2026-11-23T10:00:00Z"}}],
    [{"customer.tier": {"in": ["loyal", "advocate"]}}, {"item.sale_price": {"exists": True}}],
    [{"customer.tier": {"param": "vip_tier"}}],
    [{"attributes.score": {"gt": 20}}, {"attributes.vip": "gold"}, {"derived.high_value": False}],
    [{"decision.outcome": "escalate"}],
    {"any": [{"severity": "urgent"}, [{"channel": "phone"}, {"category": "billing"}]]},
    [{"not": {"all": [{"item.on_sale": True}, {"item.in_stock": False}]}}],
    {"not": [{"severity": "low"}]},
])  # fmt: skip
def test_the_condition_language_is_accepted(when: Any) -> None:
    assert problems(policy_schema(), rule_with(when)) == []


@pytest.mark.parametrize(("document", "problem"), [
    ({"rules": [RULE], "rulez": []}, ("", "Additional properties are not allowed ('rulez' was unexpected)")),
    ({"rules": [{"id": "r", "description": "d", "rationale": "r"}]}, ("/rules/0", "'then' is a required property")),
    ({"rules": [{**RULE, "then": {}}]}, ("/rules/0/then", "{} is not valid under any of the given schemas")),
    # no effect (`empty-effects`): each passed the schema, as a key was there
    ({"rules": [{**RULE, "then": {"deny": False}}]}, ("/rules/0/then", "{'deny': False} is not valid under any of the given schemas")),
    ({"rules": [{**RULE, "then": {"actions": [], "derive": {}}}]}, ("/rules/0/then", "{'actions': [], 'derive': {}} is not valid under any of the given schemas")),
    # action parameters were anything
    ({"rules": [{**RULE, "then": {"actions": [{"kind": "k", "params": {"until": {"now_plus": {"weeks": 1}}}}]}}]}, ("/rules/0/then/actions/0/params/until", "{'now_plus': {'weeks': 1}} is not valid under any of the given schemas")),
    ({"rules": [{**RULE, "then": {"actions": [{"kind": "k", "params": {"skus": ["a", "b"]}}]}}]}, ("/rules/0/then/actions/0/params/skus", "['a', 'b'] is not valid under any of the given schemas")),
    # invariants: roles, outcomes and kinds were any text
    ({"invariants": [{"id": "i", "description": "d", "never": {"required_role": "boss"}}]}, ("/invariants/0/never", "{'required_role': 'boss'} is not valid under any of the given schemas")),
    ({"invariants": [{"id": "i", "description": "d", "never": {"outcome": []}}]}, ("/invariants/0/never", "{'outcome': []} is not valid under any of the given schemas")),
    ({"invariants": [{"id": "i", "description": "d", "never": {}}]}, ("/invariants/0/never", "{} is not valid under any of the given schemas")),
    ({"invariants": [{"id": "i", "description": "d", "monotonic_in": "severity"}]}, ("/invariants/0/monotonic_in", "'severity' is not valid under any of the given schemas")),
    ({"invariants": [{"id": "i", "description": "d", "role_monotonic": False}]}, ("/invariants/0/role_monotonic", "False is not valid under any of the given schemas")),
    ({"invariants": [{"id": "i", "description": "d", "role_monotonic": True, "monotonic_in": "request.amount"}]}, ("/invariants/0", "{'id': 'i', 'description': 'd', 'role_monotonic': True, 'monotonic_in': 'request.amount'} is valid under each of {'required': ['role_monotonic'], 'properties': {'role_monotonic': {'not': {'type': 'null'}}}}, {'required': ['monotonic_in'], 'properties': {'monotonic_in': {'not': {'type': 'null'}}}}")),
    ({"rules": [{**RULE, "id": "Refund"}]}, ("/rules/0/id", "'Refund' does not match '^[a-z][a-z0-9_]{0,63}$'")),
    ({"rules": [{**RULE, "then": {"require_role": "ceo"}}]}, ("/rules/0/then/require_role", "'ceo' is not valid under any of the given schemas")),
    ({"parameters": {"limit": {"type": "money"}}}, ("/parameters/limit", "'default' is a required property")),
    ({"parameters": {"Limit": {"type": "money", "default": 1}}}, ("/parameters", "'Limit' does not match any of the regexes: '^[a-z][a-z0-9_]{0,63}$'")),
    ({"rules": [{**RULE, "then": {"follow_ups": [{"kind": "call", "due_in": {"weeks": 1}}]}}]}, ("/rules/0/then/follow_ups/0/due_in", "Additional properties are not allowed ('weeks' was unexpected)")),
])  # fmt: skip
def test_bad_documents_are_rejected(document: dict[str, Any], problem: tuple[str, str]) -> None:
    assert problems(policy_schema(), document) == [problem]


@pytest.mark.parametrize("when", [
    [{"request.amount": {"greater": 5}}],
    [{"request.amount": -5}],
    [{"request.amount": "20"}],
    [{"request.amount": {"gt": {"fact": "item.sku"}}}],
    [{"request.amount": {"in": []}}],
    [{"request.amount": {"in": {"param": "limit"}}}],
    [{"request.amount": {"exists": "yes"}}],
    [{"severity": "hgih"}],
    [{"severity": {"gt": "high"}}],
    [{"item.onsale": True}],
    [{"attributes.Score": 1}],
    [{"attributes.score": {"gt": "20"}}],
    [{"derived.high_value": {"fact": "item.on_sale"}}],
    [{"all": [{"severity": "high"}], "channel": "phone"}],
    {"any": []},
    {"not": []},
    [[]],
    [{}],
    ["severity"],
])  # fmt: skip
def test_bad_conditions_are_rejected(when: Any) -> None:
    """Each of these is also a PolicyError in csrules (see tests/unit/test_validate.py)."""
    assert problems(policy_schema(), rule_with(when)) == [
        ("/rules/0/when", f"{when!r} is not valid under any of the given schemas")
    ]


@pytest.mark.parametrize(("part", "value", "problem"), [
    ("channel", "fax", ("/channel", "'fax' is not one of ['in_store', 'phone', 'email', 'chat', 'web']")),
    ("unknown", 1, ("", "Additional properties are not allowed ('unknown' was unexpected)")),
    ("customer", {"id": "C-1", "lifetime_value": -5}, ("/customer/lifetime_value", "-5 is not valid under any of the given schemas")),
    ("customer", {"id": "C-1", "tier": "gold"}, ("/customer/tier", "'gold' is not one of ['one_time', 'occasional', 'frequent', 'loyal', 'advocate']")),
    ("attributes", {"Vip": True}, ("/attributes", "'Vip' does not match any of the regexes: '^[a-z_][a-z0-9_]{0,63}$'")),
    ("attributes", {"tags": ["a"]}, ("/attributes/tags", "['a'] is not valid under any of the given schemas")),
    ("id", "", ("/id", "'' should be non-empty")),
    ("request", {"kind": "refund"}, ("/request", "{'kind': 'refund'} is not valid under any of the given schemas")),
    # money text was any text, a naive time was taken
    ("request", {"kind": "refund", "amount": "twenty"}, ("/request", "{'kind': 'refund', 'amount': 'twenty'} is not valid under any of the given schemas")),
    ("request", {"kind": "refund", "amount": "1e3"}, ("/request", "{'kind': 'refund', 'amount': '1e3'} is not valid under any of the given schemas")),
    ("opened_at", "2026-11-23T10:00:00", ("/opened_at", "'2026-11-23T10:00:00' is not valid under any of the given schemas")),
    # a date was only `format: date`, which validators do not check by default
    ("promise", {"delivery_date": "2026-W01-1", "earliest_feasible": "2026-01-01"}, ("/promise", "{'delivery_date': '2026-W01-1', 'earliest_feasible': '2026-01-01'} is not valid under any of the given schemas")),
    ("request", {"kind": "refund", "amount": "-0.00"}, ("/request", "{'kind': 'refund', 'amount': '-0.00'} is not valid under any of the given schemas")),
])  # fmt: skip
def test_bad_tickets_are_rejected(part: str, value: Any, problem: tuple[str, str]) -> None:
    """Each of these is also a TicketError in csrules."""
    assert problems(ticket_schema(), make_ticket(**{part: value})) == [problem]


@settings(max_examples=60, deadline=None)
@given(ticket=tickets(), trace=st.booleans())
def test_every_decision_validates_against_the_decision_schema(ticket: dict[str, Any], trace: bool) -> None:
    """Decisions with and without their trace (evaluate_many's trace=False), as JSON."""
    schema = decision_schema()
    decision = (
        ENGINE.evaluate(ticket, now=NOW)
        if trace
        else next(iter(ENGINE.evaluate_many([ticket], now=NOW, trace=False)))
    )
    assert isinstance(decision, csrules.Decision)
    assert problems(schema, json.loads(decision.model_dump_json())) == []


def test_the_decision_schema_refuses_what_is_no_decision() -> None:
    schema = decision_schema()
    decision = json.loads(ENGINE.evaluate(make_ticket(), now=NOW).model_dump_json())
    assert problems(schema, decision) == []
    wrong = {**decision, "outcome": "maybe"}
    assert [pointer for pointer, _ in problems(schema, wrong)] == ["/outcome"]
    del wrong["outcome"]
    assert problems(schema, wrong)[0][1] == "'outcome' is a required property"


@pytest.mark.parametrize(
    ("pointer", "value", "where"),
    [
        ("request/amount", -5, "/trace/facts/request"),
        ("request/amount", 2000000000, "/trace/facts/request"),
        ("attributes", {"Not-An-Attribute": 1}, "/trace/facts/attributes"),
        ("attributes", {f"a{i}": 1 for i in range(65)}, "/trace/facts/attributes"),
        ("opened_at", "2026-11-23T10:00:00", "/trace/facts/opened_at"),
        ("promise/delivery_date", "next week", "/trace/facts/promise"),
    ],
)
def test_the_decision_schema_has_the_ticket_limits_in_the_recorded_facts(
    pointer: str, value: Any, where: str
) -> None:
    """`trace.facts` was the bare model: a recorded amount of -5, 65 attributes or a naive time
    validated, though csrules reads none of them back (`invalid-decision`)."""
    ticket = make_ticket(
        request={"kind": "refund", "amount": "5.00"},
        promise={"delivery_date": "2026-01-02", "earliest_feasible": "2026-01-01"},
    )
    decision = json.loads(ENGINE.evaluate(ticket, now=NOW).model_dump_json())
    assert problems(decision_schema(), decision) == []
    *parents, last = pointer.split("/")
    holder = decision["trace"]["facts"]
    for part in parents:
        holder = holder[part]
    holder[last] = value
    assert [found for found, _ in problems(decision_schema(), decision)] == [where]
    with pytest.raises(csrules.AuditError) as refused:
        csrules.verify(ENGINE, decision)
    assert refused.value.code == "invalid-decision"


@pytest.mark.parametrize(
    "ticket",
    [
        make_ticket(opened_at="2026-11-23T10:00Z"),
        make_ticket(opened_at="2026-11-23 10:00:00Z"),
        make_ticket(opened_at="2026-11-23T10:00:00+05:30:00"),
        make_ticket(request={"kind": "refund", "amount": "45.00"}),
        make_ticket(request={"kind": "refund", "amount": "45"}),
    ],
)
def test_tickets_csrules_takes_are_valid(ticket: dict[str, Any]) -> None:
    """`format: date-time` (RFC 3339) showed an editor error on times csrules reads."""
    ENGINE.evaluate(ticket, now=NOW)
    assert problems(ticket_schema(), ticket) == []


@pytest.mark.parametrize(
    "then",
    [
        {
            "actions": [
                {
                    "kind": "k",
                    "params": {"a": 1, "b": None, "c": {"param": "limit"}, "d": {"fact": "item.sku"}},
                }
            ]
        },
        {
            "actions": [
                {"kind": "k", "params": {"until": {"now_plus": {"days": 3, "hours": {"param": "hours"}}}}}
            ]
        },
        {"deny": True, "actions": []},
        {"derive": {"vip": True}},
        {"follow_ups": [{"kind": "call", "due_in": {"hours": 1}}]},
    ],
)
def test_effects_csrules_takes_are_valid(then: dict[str, Any]) -> None:
    assert problems(policy_schema(), {"rules": [{**RULE, "then": then}]}) == []


@pytest.mark.parametrize(
    "invariant",
    [
        {"never": {"outcome": "deny", "required_role": None}},
        {"never": {"outcome": "deny"}, "monotonic_in": None},
        {"role_monotonic": True, "never": None},
    ],
)
def test_an_invariant_key_with_no_value_is_left_out_as_csrules_reads_it(
    tmp_path: Path, invariant: dict[str, Any]
) -> None:
    """csrules reads a null as a key left out: the schema refused these valid invariants."""
    document = {"rules": [RULE], "invariants": [{"id": "i", "description": "d", **invariant}]}
    path = tmp_path / "p.yaml"
    path.write_text(json.dumps(document), encoding="utf-8")
    csrules.load(path)
    assert problems(policy_schema(), document) == []
