"""Redaction: personal data replaced by salted tokens; redacted decisions and logs still verify."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import csrules
from csrules.decision_log import verify_log
from csrules.redact import Redactor
from tests.helpers import NOW, ROOT, write_policy

SALT = b"0123456789abcdef-secret"
TICKET = json.loads((ROOT / "examples" / "tickets" / "loyal_refund_45.json").read_text(encoding="utf-8"))


def test_named_facts_become_tokens_and_the_decision_still_verifies(engine: csrules.Engine) -> None:
    ticket = {**TICKET, "attributes": {"email": "ann@example.com", "score": 5551234567}}
    decision = engine.evaluate(ticket, now=NOW)
    redactor = Redactor(
        engine, ["customer.id", "agent.id", "id", "attributes.email", "attributes.score"], salt=SALT
    )
    redacted = redactor.redact(decision)
    facts = redacted.trace.facts
    assert facts.customer.id == redactor.token("C-0007")
    assert facts.agent.id == redactor.token("A-22")
    assert redacted.ticket_id == facts.id == redactor.token("T-1003")
    # A number named for redaction is redacted too (it was kept): the token of its JSON text.
    assert facts.attributes == {
        "email": redactor.token("ann@example.com"),
        "score": redactor.token("5551234567"),
    }
    assert redactor.token("C-0007").startswith("redacted:")
    assert len(redactor.token("C-0007")) == 41
    text = redacted.to_json()
    for secret in ("C-0007", "A-22", "T-1003", "ann@example.com", "5551234567"):
        assert secret not in text
    # Everything else is the decision as made, and it replays identically.
    assert redacted.model_dump(exclude={"ticket_id", "trace"}) == decision.model_dump(
        exclude={"ticket_id", "trace"}
    )
    assert redacted.trace.steps == decision.trace.steps
    assert engine.verify(redacted).status == "identical"
    assert redactor.redact(redacted) == redacted  # idempotent


def test_a_value_that_only_looks_redacted_is_redacted(engine: csrules.Engine) -> None:
    """Any value starting with `redacted:` was taken for a token and stored in clear."""
    redactor = Redactor(engine, ["customer.id", "attributes.email"], salt=SALT)
    ticket = {
        **TICKET,
        "customer": {"id": "redacted:C-PRIVATE-9"},
        "attributes": {"email": "redacted: bob@example.com"},
    }
    redacted = redactor.redact(engine.evaluate(ticket, now=NOW))
    assert redacted.trace.facts.customer.id == redactor.token("redacted:C-PRIVATE-9")
    assert redacted.trace.facts.attributes["email"] == redactor.token("redacted: bob@example.com")
    for secret in ("C-PRIVATE-9", "bob@example.com"):
        assert secret not in redacted.to_json()
    assert redactor.redact(redacted) == redacted  # a real token is left as it is


def test_tokens_depend_on_the_salt(engine: csrules.Engine) -> None:
    one = Redactor(engine, ["customer.id"], salt=SALT)
    other = Redactor(engine, ["customer.id"], salt=b"another-secret-of-16")
    assert one.token("C-1") == Redactor(engine, ["customer.id"], salt=SALT).token("C-1")
    assert one.token("C-1") != other.token("C-1")
    with pytest.raises(ValueError, match="at least 16 bytes"):
        Redactor(engine, ["customer.id"], salt=b"short")
    with pytest.raises(ValueError, match=r"the salt must be bytes .*, got str"):  # was TypeError
        Redactor(engine, ["customer.id"], salt="0123456789abcdef-secret")  # type: ignore[arg-type]


def test_a_name_typed_with_a_combining_accent_finds_its_token(engine: csrules.Engine) -> None:
    """Tickets store text in NFC; `token()` hashed what it was given, so `Ame\u0301lie` typed by an
    auditor matched none of Amélie's decisions."""
    redactor = Redactor(engine, ["customer.id"], salt=SALT)
    decision = engine.evaluate({**TICKET, "customer": {"id": "Ame\u0301lie"}}, now=NOW)
    redacted = redactor.redact(decision)
    assert redacted.trace.facts.customer.id == redactor.token("Ame\u0301lie") == redactor.token("Am\u00e9lie")


def test_paths_that_cannot_be_redacted_are_refused(tmp_path: Path) -> None:
    engine = csrules.load(
        [
            write_policy(
                tmp_path,
                "rules:\n  - id: vip\n    description: VIP\n    rationale: r\n"
                "    when: [{customer.id: C-VIP}]\n    then: {require_role: senior}\n",
            )
        ]
    )
    with pytest.raises(csrules.PolicyError) as info:
        Redactor(engine, ["customer.id", "request.amount", "agent.id"], salt=SALT)
    assert [(d.code, d.message) for d in info.value.diagnostics] == [
        (
            "unredactable-path",
            "`request.amount` is not a text fact of the ticket: only text can be replaced by a token",
        ),
        ("unredactable-path", "rule `vip` reads `customer.id`: a redacted decision would not replay"),
    ]


def test_a_redacting_log_holds_no_personal_data_and_verifies(tmp_path: Path, engine: csrules.Engine) -> None:
    path = tmp_path / "decisions.jsonl"
    log = csrules.DecisionLog(path, redactor=Redactor(engine, ["customer.id", "agent.id"], salt=SALT))
    log.append(engine.evaluate(TICKET, now=NOW))
    text = path.read_text(encoding="utf-8")
    assert "C-0007" not in text
    assert "A-22" not in text
    assert verify_log(path).ok
    (record,) = list(csrules.DecisionLog(path))
    assert engine.verify(record.decision).ok


def test_a_decision_of_another_policy_version_is_refused(tmp_path: Path, engine: csrules.Engine) -> None:
    """Another bundle may read the path (a condition's actual value, an action parameter)."""
    other = csrules.load(
        [
            write_policy(
                tmp_path,
                "rules:\n  - id: vip\n    description: VIP\n    rationale: r\n"
                "    when: [{attributes.email: ceo@example.com}]\n    then: {require_role: senior}\n",
            )
        ]
    )
    redactor = Redactor(engine, ["attributes.email"], salt=SALT)
    decision = other.evaluate({**TICKET, "attributes": {"email": "ceo@example.com"}}, now=NOW)
    with pytest.raises(ValueError, match="this Redactor was made for policy"):
        redactor.redact(decision)


@pytest.mark.parametrize(
    ("update", "where"),
    [
        ({"outcome": "maybe"}, "/outcome: input should be 'approve', 'escalate' or 'deny'"),
        ({"attributes": {"email": ["bob@example.com"]}}, "/trace/facts/attributes/email: "),
    ],
)
def test_a_decision_changed_after_it_was_made_is_refused_without_showing_its_values(
    tmp_path: Path,
    engine: csrules.Engine,
    capfd: pytest.CaptureFixture[str],
    update: dict[str, object],
    where: str,
) -> None:
    """A redacting log raised pydantic's own ValidationError, quoting the input value (a value
    named for redaction, too), and pydantic printed serializer warnings with it on stderr."""
    redactor = Redactor(engine, ["customer.id", "attributes.email"], salt=SALT)
    decision = engine.evaluate({**TICKET, "attributes": {"email": "bob@example.com"}}, now=NOW)
    if "attributes" in update:
        facts = decision.trace.facts.model_copy(update=update)
        changed = decision.model_copy(update={"trace": decision.trace.model_copy(update={"facts": facts})})
    else:
        changed = decision.model_copy(update=update)
    log = csrules.DecisionLog(tmp_path / "log.jsonl", redactor=redactor)
    with pytest.raises(csrules.AuditError) as caught:
        log.append(changed)
    assert caught.value.code == "invalid-decision"
    assert str(caught.value).startswith(f"{tmp_path / 'log.jsonl'}: not a decision: {where}")
    assert str(caught.value).endswith("; nothing was appended [invalid-decision]")
    with pytest.raises(csrules.AuditError, match=r"^not a decision: ") as direct:
        redactor.redact(changed)
    for text in (str(caught.value), str(direct.value), *capfd.readouterr()):
        assert "bob@example.com" not in text
        assert "maybe" not in text
    assert not (tmp_path / "log.jsonl").exists() or (tmp_path / "log.jsonl").read_bytes() == b""
