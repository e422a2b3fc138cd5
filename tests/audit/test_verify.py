"""Replay: recorded decisions reproduce byte for byte; altered ones and changed policies are named."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import pydantic
import pytest

import csrules
from csrules.cli.main import main
from tests.helpers import NOW, ROOT, make_ticket, refund

TICKETS = sorted((ROOT / "examples" / "tickets").glob("*.json"))


@pytest.mark.parametrize("path", TICKETS, ids=[t.stem for t in TICKETS])
def test_every_example_decision_replays_identically(engine: csrules.Engine, path: Path) -> None:
    decision = engine.evaluate(json.loads(path.read_text(encoding="utf-8")), now=NOW)
    for form in (decision, decision.to_json(), json.loads(decision.to_json())):
        result = engine.verify(form)
        assert (result.status, result.differences, result.notes, result.ok) == ("identical", (), (), True)
        assert result.replayed is not None
        assert result.replayed.to_json() == decision.to_json()


def test_canonical_json_is_byte_identical_across_processes(engine: csrules.Engine) -> None:
    ticket = json.loads(
        (ROOT / "examples" / "tickets" / "deli_sale_out_of_stock.json").read_text(encoding="utf-8")
    )
    here = engine.evaluate(ticket, now=NOW).to_json()
    script = (
        "import json, sys, datetime, csrules\n"
        "ticket = json.loads(sys.stdin.read())\n"
        "now = datetime.datetime(2026, 11, 23, 15, 0, tzinfo=datetime.UTC)\n"
        "sys.stdout.write(csrules.load().evaluate(ticket, now=now).to_json())\n"
    )
    for seed in ("0", "1", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run(
            [sys.executable, "-c", script],
            input=json.dumps(ticket).encode(),
            capture_output=True,
            env=env,
            check=True,
        ).stdout
        assert out == here.encode("utf-8")


def test_an_altered_decision_is_different_with_each_field(engine: csrules.Engine) -> None:
    data = json.loads(engine.evaluate(refund("45.00"), now=NOW).to_json())
    data["outcome"] = "approve"
    data["reasons"]["outcome"] = []
    result = engine.verify(data)
    assert result.status == "different"
    assert [str(d) for d in result.differences] == [
        '/outcome: "approve" -> "escalate"',
        '/reasons/outcome: [] -> ["over_front_line_limit"]',
    ]
    assert result.summary() == (
        f"different: decision T-1 does not replay under its own policy {engine.policy_digest[:12]}: 2 field(s) differ"
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            ("trace", "steps", 0, "fired", "no"),
            "not a decision: /trace/steps/0/fired: input should be a valid boolean",
        ),
        (
            ("trace", "steps", 0, "stage", "0"),
            "not a decision: /trace/steps/0/stage: input should be a valid integer",
        ),
        (
            ("trace", "steps", 0, "stage", 0.0),
            "not a decision: /trace/steps/0/stage: input should be a valid integer",
        ),
    ],
)
def test_a_value_of_another_json_type_is_no_decision(
    engine: csrules.Engine, change: tuple[Any, ...], message: str
) -> None:
    """Read laxly, `"fired": "no"` became False again and the altered record replayed identically."""
    data = json.loads(engine.evaluate(refund("45.00"), now=NOW).to_json())
    *where, key, value = change
    target = data
    for part in where:
        target = target[part]
    target[key] = value
    for form in (data, json.dumps(data)):
        with pytest.raises(csrules.AuditError) as info:
            engine.verify(form)
        assert (info.value.code, info.value.message) == ("invalid-decision", message)


@pytest.mark.parametrize(
    ("old", "new", "path"),
    [
        ('"amount":45.0', '"amount":"45.00"', "/trace/facts/request/amount"),
        (
            '"evaluated_at":"2026-11-23T15:00:00Z"',
            '"evaluated_at":"2026-11-23T15:00:00+00:00"',
            "/trace/evaluated_at",
        ),
    ],
)
def test_a_value_written_otherwise_is_a_difference(
    engine: csrules.Engine, old: str, new: str, path: str
) -> None:
    """Both read back as the same Decision, so the record replayed `identical` though it had
    been edited."""
    text = engine.evaluate(refund("45.00"), now=NOW).to_json()
    assert text.count(old) == 1
    edited = text.replace(old, new)
    for form in (edited, json.loads(edited)):
        result = engine.verify(form)
        assert result.status == "different"
        assert [d.path for d in result.differences] == [path]
    assert engine.verify(text).ok


def test_a_key_added_as_null_is_a_difference(engine: csrules.Engine) -> None:
    """A missing key and `null` compared equal: a record with an action parameter, a derived fact
    and a parameter added as null replayed `identical`, "byte for byte"."""
    text = engine.evaluate(refund("45.00"), now=NOW).to_json()
    data = json.loads(text)
    data["trace"]["derived"]["fraud_suspected"] = None
    data["trace"]["params"]["refund_cap"] = None
    data["trace"]["facts"]["promise"] = None  # the key a ticket without a promise has: unchanged
    result = engine.verify(data)
    assert result.status == "different"
    assert [str(d) for d in result.differences] == [
        "/trace/derived/fraud_suspected: null -> (no such key)",
        "/trace/params/refund_cap: null -> (no such key)",
    ]
    del data["trace"]["derived"]["fraud_suspected"], data["trace"]["params"]["refund_cap"]
    del data["trace"]["facts"]["promise"]  # written as null: taking it away is an edit too
    assert [str(d) for d in engine.verify(data).differences] == [
        "/trace/facts/promise: (no such key) -> null"
    ]
    as_json = engine.verify(data).as_dict()  # `csrules verify --format json` crashed on the sentinel
    assert json.loads(json.dumps(as_json))["differences"] == [
        {"path": "/trace/facts/promise", "replayed": None}
    ]
    assert engine.verify(text).ok


def test_a_key_given_twice_is_no_decision(engine: csrules.Engine) -> None:
    """Read as its last value, `"outcome": "approve", ..., "outcome": "escalate"` replayed
    identically while a reader of the file sees approve."""
    text = engine.evaluate(refund("45.00"), now=NOW).to_json()
    assert text.count('"outcome":"escalate",') == 1  # canonical JSON: keys sorted
    twice = text.replace('"outcome":"escalate",', '"outcome":"approve","outcome":"escalate",', 1)
    for form in (twice, twice.encode()):
        with pytest.raises(csrules.AuditError) as info:
            engine.verify(form)
        assert (info.value.code, info.value.message) == (
            "invalid-decision",
            "not a decision: duplicate key `outcome`",
        )


def test_a_record_without_steps_replays_untraced_and_says_so(engine: csrules.Engine) -> None:
    data = json.loads(engine.evaluate(refund("45.00"), now=NOW).to_json())
    data["trace"]["steps"] = []
    result = engine.verify(data)
    assert result.status == "identical"  # its outcome and effects are those of the facts
    assert result.notes == (
        "the record has no trace steps (decided with trace=False, or its steps were removed): replayed "
        "the same way, so its outcome and effects are checked, not a justification",
    )


def test_a_changed_policy_is_reported_as_such(engine: csrules.Engine) -> None:
    decision = engine.evaluate(refund("45.00"), now=NOW)
    raised = csrules.load(params={"front_line_limit": 50})
    result = raised.verify(decision)
    assert result.status == "policy-changed"
    assert (result.recorded_digest, result.current_digest) == (engine.policy_digest, raised.policy_digest)
    assert result.notes == ("parameter front_line_limit: recorded 20.0, now 50.0",)
    assert {d.path for d in result.differences} >= {"/outcome", "/required_role", "/trace/policy_digest"}
    # Same policies again: identical, however long ago.
    assert engine.verify(decision).ok


def test_a_digest_no_parameter_explains_says_so(engine: csrules.Engine) -> None:
    """A forged outcome with its digest scribbled over read as an expected policy change, with
    nothing saying that no parameter changed."""
    data = json.loads(engine.evaluate(refund("45.00"), now=NOW).to_json())
    data["outcome"], data["trace"]["policy_digest"] = "approve", "f" * 64
    result = engine.verify(data)
    assert result.status == "policy-changed"
    assert result.notes == (
        "no parameter differs: the policy files are not those of the recorded digest (they changed "
        "since), or the record's digest was altered; replay under the policies of that digest to tell which",
    )


def test_a_newer_engine_version_is_a_note_not_a_difference(engine: csrules.Engine) -> None:
    data = json.loads(engine.evaluate(refund("45.00"), now=NOW).to_json())
    data["trace"]["engine_version"] = "csrules 0.0.9; durable_rules 2.0.28"
    result = engine.verify(data)
    assert (result.status, result.differences) == ("identical", ())
    assert result.notes == (
        f"recorded by csrules 0.0.9; durable_rules 2.0.28; replayed by {csrules.engine.ENGINE_VERSION}",
    )


def test_facts_the_current_engine_refuses_are_a_difference(engine: csrules.Engine) -> None:
    decision = engine.evaluate(refund("45.00"), now=NOW)  # a request naming no currency: USD's
    euros = csrules.load(params={"currency": "EUR"})
    for recorded in (decision, decision.to_json()):  # in memory as its record: decided in USD
        result = euros.verify(recorded)
        assert result.status == "policy-changed"
        assert result.replayed is None
        assert result.notes[-1].startswith(
            "the current engine refuses the recorded facts: ticket /request/currency"
        )
        assert [str(d) for d in result.differences[:1]] == ['the decision: "a decision" -> "no decision"']


def _nested(empty: dict[str, Any] | list[Any], depth: int) -> Any:
    """`empty` holding itself `depth` levels deep: {"a": {"a": ...}} or [[...]]."""
    outer = inner = empty
    for _ in range(depth):
        deeper = type(empty)()
        if isinstance(inner, dict):
            inner["a"] = deeper
        else:
            inner.append(deeper)
        inner = deeper
    return outer


class _Unreadable(Mapping[str, Any]):
    """A caller's mapping that fails when iterated."""

    def __getitem__(self, key: str) -> Any:
        return 1

    def __len__(self) -> int:
        return 1

    def __iter__(self) -> Iterator[str]:
        raise RuntimeError("the caller's bug")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("{", "not a decision: the document: invalid JSON: EOF while parsing an object at line 1 column 1"),
        ({"outcome": "approve"}, "not a decision: /ticket_id: field required"),
        (_nested({}, 5000), "not a decision: nested too deeply"),
        ({"ticket_id": _nested([], 5000)}, "not a decision: nested too deeply"),
        (
            "[" * 5000,
            "not a decision: the document: invalid JSON: recursion limit exceeded at line 1 column 202",
        ),
        (_Unreadable(), "not a decision: `RuntimeError` raised while reading the mapping"),
        (
            {"ticket_id": float("nan")},
            "not a decision: not a JSON object (Out of range float values are not JSON compliant)",
        ),
    ],
)
def test_a_non_decision_is_an_audit_error(engine: csrules.Engine, data: object, message: str) -> None:
    with pytest.raises(csrules.AuditError) as info:
        engine.verify(data)  # type: ignore[arg-type]
    assert (info.value.code, info.value.message) == ("invalid-decision", message)


def test_cli_verify_replays_with_the_recorded_parameters(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    decision = csrules.load(params={"front_line_limit": 50}).evaluate(refund("45.00"), now=NOW)
    path = tmp_path / "decision.json"
    path.write_text(decision.to_json(), encoding="utf-8")
    assert main(["verify", str(path)]) == 1  # today's policies use their own limit, 20
    assert (
        capsys.readouterr().out.splitlines()[-1]
        == "  note: parameter front_line_limit: recorded 50.0, now 20.0"
    )
    assert main(["verify", str(path), "--recorded-params"]) == 0
    assert capsys.readouterr().out == (
        f"identical: decision T-1 replays byte for byte under policy {decision.trace.policy_digest[:12]}\n"
        "  note: parameter front_line_limit: recorded 50.00, the policy files give 20.00\n"
    )
    data = json.loads(decision.to_json())
    data["required_role"] = "manager"
    path.write_text(json.dumps(data), encoding="utf-8")
    assert main(["verify", str(path), "--recorded-params", "--format", "json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert (report["status"], report["differences"]) == (
        "different",
        [{"path": "/required_role", "recorded": "manager", "replayed": "front_line"}],
    )


def test_cli_verify_against_changed_policies(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    decision = csrules.load().evaluate(refund("45.00"), now=NOW)
    path = tmp_path / "decision.json"
    path.write_text(decision.to_json(), encoding="utf-8")
    changed = tmp_path / "policies"
    changed.mkdir()
    for source in (ROOT / "policies").glob("*.yaml"):
        (changed / source.name).write_text(
            source.read_text(encoding="utf-8").replace("default: 20\n", "default: 50\n"), encoding="utf-8"
        )
    assert main(["verify", str(path), "--policies", str(changed)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(
        f"policy-changed: decision T-1 was made under policy {decision.trace.policy_digest[:12]}"
    )
    assert '  /outcome: "escalate" -> "approve"' in lines


def test_cli_verify_bad_input_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "d.json"
    path.write_text('{"outcome": "approve"}', encoding="utf-8")
    assert main(["verify", str(path)]) == 2
    assert capsys.readouterr().err == (
        f"csrules: error: {path}: not a decision: /ticket_id: field required [invalid-decision]\n"
    )
    assert main(["verify", str(tmp_path / "none.json")]) == 2
    assert capsys.readouterr().err.startswith(
        f"csrules: error: {tmp_path / 'none.json'}: cannot read the decision"
    )


def test_a_decision_made_without_validation_is_an_audit_error(engine: csrules.Engine) -> None:
    """A `model_construct`ed Decision without a trace raised AttributeError."""
    decision = engine.evaluate(refund("45.00"), now=NOW)
    for made, message in (
        (
            csrules.Decision.model_construct(**{**dict(decision), "trace": None}),
            "/trace: input should be an object",
        ),
        (
            csrules.Decision.model_construct(**{**dict(decision), "ticket_id": 5}),
            "/ticket_id: input should be a valid string",
        ),
    ):
        with pytest.raises(csrules.AuditError) as info:
            engine.verify(made)
        assert (info.value.code, info.value.message) == ("invalid-decision", f"not a decision: {message}")
    assert engine.verify(decision).status == "identical"


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ('"amount":45.0', '"amount":45.0000000000000000000000000001'),
        ('"amount":45.0', '"amount":4.5e1'),
        ('"amount":45.0', '"amount":45.00'),
    ],
)
def test_a_number_rewritten_in_a_record_does_not_replay_identically(
    engine: csrules.Engine, old: str, new: str
) -> None:
    """Numbers were read as floats: each of these edits read back as 45.0 and verified as
    "identical: replays byte for byte"."""
    text = engine.evaluate(refund("45.00"), now=NOW).to_json()
    assert text.count(old) == 1
    result = engine.verify(text.replace(old, new))
    assert result.status == "different"
    assert [(d.path, str(d)) for d in result.differences] == [
        ("/trace/facts/request/amount", f"/trace/facts/request/amount: {new.split(':')[1]} -> 45.0")
    ]
    assert engine.verify(text).status == "identical"


def test_a_decision_with_small_floats_replays_identically_in_every_form(engine: csrules.Engine) -> None:
    """pydantic writes 1e-7 where json.dumps writes 1e-07: compared as text, an untouched decision
    (and one saved with model_dump_json) read as `different`."""
    decision = engine.evaluate(make_ticket(attributes={"score": 1e-7, "tiny": 0.00001}), now=NOW)
    for form in (decision, decision.to_json(), decision.model_dump_json()):
        assert engine.verify(form).status == "identical"


def test_json_output_shows_a_rewritten_number_as_written(
    tmp_path: Path, engine: csrules.Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--format json` and `json.dumps(as_dict())` showed `"recorded": 15.0, "replayed": 15.0`:
    a difference between two equal values, the edit it reports hidden."""
    text = engine.evaluate(refund("45.00"), now=NOW).to_json().replace('"amount":45.0', '"amount":4.5e1')
    result = engine.verify(text)
    assert json.loads(result.to_json())["differences"] == [
        {"path": "/trace/facts/request/amount", "recorded": 45.0, "replayed": 45.0}
    ]
    assert '"recorded": 4.5e1,\n      "replayed": 45.0\n' in result.to_json()
    assert result.to_json(indent=None).endswith(
        '"differences": [{"path": "/trace/facts/request/amount", "recorded": 4.5e1, "replayed": 45.0}], '
        f'"notes": [], "recorded_digest": "{engine.policy_digest}", "status": "different", "ticket_id": "T-1"}}'
    )
    path = tmp_path / "edited.json"
    path.write_text(text, encoding="utf-8")
    assert main(["verify", str(path), "--format", "json"]) == 1
    out = capsys.readouterr().out
    assert out == result.to_json() + "\n"
    assert '"recorded": 4.5e1' in out
    # Without a number written otherwise, the text is json.dumps' own
    same = engine.verify(engine.evaluate(refund("45.00"), now=NOW))
    assert same.to_json() == json.dumps(same.as_dict(), sort_keys=True, indent=2, ensure_ascii=False)


def test_an_integer_rewritten_as_minus_zero_does_not_replay_identically(engine: csrules.Engine) -> None:
    """Only fractions and exponents were kept as written: `"n":0` edited to `"n":-0` replayed
    "identical: byte for byte"."""
    text = engine.evaluate(make_ticket(attributes={"n": 0}), now=NOW).to_json()
    assert text.count('"n":0') == 1
    result = engine.verify(text.replace('"n":0', '"n":-0'))
    assert result.status == "different"
    assert [str(d) for d in result.differences] == ["/trace/facts/attributes/n: -0 -> 0"]
    assert '"recorded": -0,' in result.to_json()
    assert engine.verify(text).status == "identical"


@pytest.mark.parametrize(
    "case",
    [
        ("/trace/evaluated_at", "2026-11-23T15:00:00", "a date and time with a UTC offset (aware)"),
        ("/trace/evaluated_at", "2026-11-23t15:00:00z", "an ISO 8601 date and time with a UTC offset"),
        ("/trace/evaluated_at", 1795446000, "an ISO 8601 date and time with a UTC offset"),
        ("/follow_ups/0/due", "2026-11-26 15:00", "a date and time with a UTC offset (aware)"),
        ("/follow_ups/0/due", "2026-11-26T15:00:00+05:30:15", "an ISO 8601 date and time with a UTC offset"),
    ],
)
def test_a_recorded_instant_to_json_never_writes_is_not_a_decision(
    engine: csrules.Engine, tmp_path: Path, capsys: pytest.CaptureFixture[str], case: tuple[str, object, str]
) -> None:
    """They were read as decisions (a naive `evaluated_at` then blamed on "the recorded facts", an
    integer read as a Unix time) and reported `different`, exit 1."""
    pointer, value, message = case
    recorded = json.loads(engine.evaluate(refund("10.00"), now=NOW).to_json())
    assert recorded["follow_ups"], "the satisfaction check"
    *parents, last = pointer.strip("/").split("/")
    target = recorded
    for part in parents:
        target = target[int(part)] if part.isdigit() else target[part]
    target[last] = value
    path = tmp_path / "d.json"
    path.write_text(json.dumps(recorded), encoding="utf-8")
    assert main(["verify", str(path)]) == 2
    assert (
        capsys.readouterr().err
        == f"csrules: error: {path}: not a decision: {pointer}: {message} [invalid-decision]\n"
    )
    naive = {**recorded, "trace": {**recorded["trace"], "evaluated_at": datetime(2026, 11, 23, 15)}}
    with pytest.raises(pydantic.ValidationError, match="a date and time with a UTC offset"):
        csrules.Decision.model_validate(naive)
