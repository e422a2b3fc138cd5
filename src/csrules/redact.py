"""Redaction: personal data in recorded decisions replaced by salted hashes, still verifiable. No I/O.

A `Redactor` names ticket fact paths that are personal data (`customer.id`, `agent.id`, `id`,
string attributes...) and a secret salt. `redactor.redact(decision)` returns the decision with each
of those values replaced by `redacted:` + the first 32 hex digits of HMAC-SHA256(salt, value): the
same value always gives the same token (an auditor holding the salt can check "was this customer's
ticket decided so?" with `redactor.token(value)`), and without the salt the value cannot be read
back.

A redacted decision still verifies (`verify()` gives `identical`), because the Redactor refuses,
when it is made, any path that a rule of the bundle tests or copies into an action: replaying the
redacted facts then fires exactly the same rules with the same values. Only text facts can be
redacted (a token is text; an amount or a date must stay what it is for the decision to replay).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import unicodedata
from collections.abc import Iterable
from typing import Any

from .decision import Decision
from .engine import Engine
from .errors import AuditError, Diagnostic, PolicyError, one_line
from .policy import FactRef, compares
from .ticket import ATTRIBUTE_NAME, FACT_TYPES
from .values import SERIALIZATION_FAILURES, failure_text
from .verify import decision_from_json

__all__ = ["TOKEN_PREFIX", "Redactor"]

TOKEN_PREFIX = "redacted:"
_TOKEN = re.compile(re.escape(TOKEN_PREFIX) + "[0-9a-f]{32}")


def _used_paths(engine: Engine) -> dict[str, str]:
    """Fact paths the bundle's rules read, each with the first rule reading it."""
    used: dict[str, str] = {}
    for rule in engine.bundle.rules:
        for compare in compares(rule.when):
            used.setdefault(compare.path, rule.id)
            if isinstance(compare.operand, FactRef):
                used.setdefault(compare.operand.path, rule.id)
        for action in rule.then.actions:
            for _name, value in action.params:
                if isinstance(value, FactRef):
                    used.setdefault(value.path, rule.id)
    return used


class Redactor:
    """Replaces personal-data facts of decisions by salted hashes.

    Args:
        engine: the engine whose decisions are redacted: its rules must not read the paths.
        paths: ticket fact paths of text values, e.g. `customer.id`, `agent.id`, `id`,
            `attributes.email`.
        salt: a secret of at least 16 bytes; keep it out of the log.

    Raises:
        PolicyError: `unredactable-path` for a path that is not a text fact, or that a rule reads.
        ValueError: a salt that is not bytes, or shorter than 16 bytes.
        TypeError: `engine` is not an Engine.
    """

    def __init__(self, engine: Engine, paths: Iterable[str], *, salt: bytes) -> None:
        if not isinstance(engine, Engine):
            raise TypeError(
                f"Redactor(engine, ...): `engine` must be a csrules.Engine, got {type(engine).__name__}"
            )
        if not isinstance(salt, bytes | bytearray | memoryview):
            raise ValueError(
                f"the salt must be bytes (a secret, kept out of the log), got {type(salt).__name__}"
            )
        if len(bytes(salt)) < 16:
            raise ValueError("the salt must be at least 16 bytes (a secret, kept out of the log)")
        self._salt = bytes(salt)
        self._digest = engine.policy_digest
        self.paths = tuple(dict.fromkeys(paths))
        used = _used_paths(engine)
        problems: list[Diagnostic] = []
        for path in self.paths:
            head, _, name = path.partition(".")
            text = (path in FACT_TYPES and FACT_TYPES[path].kind == "string") or (
                head == "attributes" and ATTRIBUTE_NAME.fullmatch(name) is not None
            )
            if not text or path == "request.currency":
                problems.append(
                    Diagnostic(
                        "unredactable-path",
                        f"`{path}` is not a text fact of the ticket: only text can be replaced by a token",
                        None,
                        scope="paths",
                    )
                )
            elif path in used:
                problems.append(
                    Diagnostic(
                        "unredactable-path",
                        f"rule `{used[path]}` reads `{path}`: a redacted decision would not replay",
                        None,
                        scope="paths",
                    )
                )
        if problems:
            raise PolicyError(problems)

    def __repr__(self) -> str:
        return f"<csrules.Redactor {list(self.paths)}>"

    def token(self, value: str) -> str:
        """The token that replaces `value`: of its NFC form, as a ticket's text is stored, so the
        name typed with a combining accent (`Ame\u0301lie`) finds the decisions of `Amélie`."""
        text = unicodedata.normalize("NFC", str.__str__(value))
        digest = hmac.new(self._salt, text.encode("utf-8"), hashlib.sha256).hexdigest()
        return TOKEN_PREFIX + digest[:32]

    def _replace(self, value: Any) -> Any:
        if isinstance(value, str) and _TOKEN.fullmatch(value):
            return value  # already redacted (a value that only starts with `redacted:` is not)
        if isinstance(value, bool | int | float):  # a custom attribute holding a number: its JSON text
            return self.token(json.dumps(value))
        if isinstance(value, str):
            return self.token(value)
        return value  # absent

    def redact(self, decision: Decision) -> Decision:
        """The decision with every named fact replaced by its token (idempotent).

        Raises:
            TypeError: `decision` is not a Decision.
            ValueError: the decision was made under another policy version than the engine the
                Redactor was made for: its rules may read the paths (make a Redactor per engine).
            AuditError: `invalid-decision`, the decision does not read back as a Decision (it
                was changed after it was made, with `model_copy(update=...)` say); the message
                says where, never what value is there (it may be one of the values to hide).
        """
        if not isinstance(decision, Decision):
            raise TypeError(f"redact takes a csrules.Decision, got {type(decision).__name__}")
        if decision.trace.policy_digest != self._digest:
            raise ValueError(
                f"the decision was made under policy {decision.trace.policy_digest[:12]}, this Redactor "
                f"was made for policy {self._digest[:12]}: make a Redactor for that engine"
            )
        try:
            # Its JSON-mode dump, as `to_json` makes it but with pydantic's warnings off: they
            # would print the values of a decision changed after it was made, redacted ones too.
            data = decision.model_dump(mode="json", warnings=False)
        except SERIALIZATION_FAILURES as exc:  # pydantic's serializer fails in many ways on such data
            message = one_line(failure_text(exc))
            raise AuditError("invalid-decision", f"not a decision: {message}") from None
        facts = data["trace"]["facts"]
        for path in self.paths:
            parts = path.split(".")
            holder = facts
            for part in parts[:-1]:
                holder = holder.get(part) if isinstance(holder, dict) else None
            if isinstance(holder, dict) and parts[-1] in holder:
                holder[parts[-1]] = self._replace(holder[parts[-1]])
        data["ticket_id"] = facts["id"]
        return decision_from_json(json.dumps(data))  # AuditError naming only where
