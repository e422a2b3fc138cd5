"""The public entry points: `load()` builds an `Engine`; `Engine.evaluate()` decides a ticket.

load:     paths -> load.load_documents -> validate.validate_bundle -> compile.compile_bundle -> Engine
evaluate: ticket -> ticket.parse_ticket -> evaluate.evaluate_rules -> combine.combine -> Decision

An Engine is immutable and thread-safe. Loading never leaves a partly-applied state: a bad bundle
raises PolicyError and no Engine exists; a service keeps using the Engine it had.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import _durable
from ._version import __version__
from .combine import combine
from .compile import CompiledBundle, compile_bundle
from .decision import Decision
from .errors import Diagnostic, EngineError, PolicyError, TicketError
from .evaluate import evaluate_rules
from .load import PolicyPaths, load_documents
from .policy import Bundle
from .ticket import Ticket, parse_ticket
from .trace import Trace
from .validate import validate_bundle
from .values import json_value

if TYPE_CHECKING:
    from .verify import Verification

__all__ = ["ENGINE_VERSION", "Engine", "default_policies", "load"]

ENGINE_VERSION = f"csrules {__version__}; {_durable.ENGINE_VERSION}"


def default_policies() -> Path:
    """The directory of the default bundle: inside the installed wheel, or the repository's
    top-level `policies/` for an editable install."""
    packaged = Path(str(resources.files("csrules"))) / "policies"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "policies"


class Engine:
    """A loaded, validated and compiled policy bundle. Create it with `csrules.load()`."""

    def __init__(self, compiled: CompiledBundle) -> None:
        self._compiled = compiled
        self._ruleset = _durable.ruleset_for(compiled.digest, compiled.ruleset)
        try:
            self._ruleset.register()
        except EngineError as exc:
            diagnostic = Diagnostic("engine-limit", f"durable_rules cannot compile this bundle: {exc}", None)
            raise PolicyError([diagnostic]) from exc
        self._params = {name: json_value(value) for name, value in compiled.bundle.params.items()}

    def __repr__(self) -> str:
        bundle = self._compiled.bundle
        counts = f"{len(bundle.rules)} rules from {len(bundle.files)} files"
        return f"<csrules.Engine {counts}, policy {self.policy_digest[:12]}>"

    @property
    def policy_digest(self) -> str:
        """sha256 hex of the canonical bundle including effective parameters."""
        return self._compiled.digest

    @property
    def bundle(self) -> Bundle:
        """The validated bundle (rules in bundle order, parameters, derived facts)."""
        return self._compiled.bundle

    @property
    def params(self) -> dict[str, Any]:
        """The effective parameters (defaults with overrides)."""
        return dict(self._compiled.bundle.params)

    @property
    def ruleset(self) -> dict[str, Any]:
        """The compiled durable_rules ruleset (plain JSON data), for inspection and golden tests."""
        return self._compiled.ruleset

    def verify(self, decision: Decision | str | bytes | Mapping[str, Any]) -> Verification:
        """Replay a recorded decision (its facts, at its `evaluated_at`) and compare: `identical`,
        `different` (with every differing field), or `policy-changed` (another policy digest).

        Raises:
            AuditError: `decision` is not a decision.
        """
        # verify.py replays with an Engine and imports this module: import it when asked.
        from .verify import verify  # noqa: PLC0415

        return verify(self, decision)

    def evaluate(self, ticket: Ticket | Mapping[str, Any], *, now: datetime | None = None) -> Decision:
        """Decide a ticket.

        Args:
            ticket: a `Ticket`, or a dict in Python or JSON form.
            now: the evaluation time, an aware datetime; defaults to the current UTC time. Due
                dates are computed from it; it is the only clock the evaluation reads.

        Raises:
            TicketError: the ticket is invalid (with a JSON pointer), its request currency is not
                the bundle's, or `now` is not an aware datetime.
            EngineError: durable_rules failed.
        """
        moment = _now(now)
        facts = parse_ticket(ticket)
        currency = self._compiled.bundle.currency
        if facts.request is not None and facts.request.currency != currency:
            raise TicketError(
                "/request/currency",
                "currency-mismatch",
                f"`{currency}` (the bundle currency)",
                f"`{facts.request.currency}`",
            )
        evaluation = evaluate_rules(self._compiled, self._ruleset, facts, moment)
        combined = combine(evaluation.fired, facts.agent.role)
        trace = Trace(
            policy_digest=self._compiled.digest,
            engine_version=ENGINE_VERSION,
            evaluated_at=moment,
            facts=facts,
            params=self._params,
            derived={name: json_value(value) for name, value in evaluation.derived.items()},
            fired=list(evaluation.order),
            steps=list(evaluation.steps),
        )
        return Decision(
            ticket_id=facts.id,
            outcome=combined.outcome,
            required_role=combined.required_role,
            agent_role=facts.agent.role,
            reasons=combined.reasons,
            actions=combined.actions,
            follow_ups=combined.follow_ups,
            trace=trace,
        )


def _now(now: object) -> datetime:
    if now is None:
        return datetime.now(UTC)
    if not isinstance(now, datetime) or now.utcoffset() is None or not 1900 <= now.year <= 9000:
        expected = "`now` as an aware datetime (with a UTC offset) between the years 1900 and 9000"
        raise TicketError("", "invalid-now", expected, f"`{now!r}`")
    return now.astimezone(UTC)


def load(paths: PolicyPaths | None = None, *, params: Mapping[str, object] | None = None) -> Engine:
    """Load, validate and compile a policy bundle.

    Args:
        paths: a directory of *.yaml files, a file, or a list of them (str or PathLike); the
            default bundle when omitted.
        params: overrides of the bundle's parameters, by name.

    Raises:
        PolicyError: with file, line and column of the first problem, and every problem in
            `.diagnostics`; or for an unknown parameter name or a value of the wrong type.
    """
    if paths is None:
        paths = default_policies()
    if isinstance(paths, Sequence) and not isinstance(paths, str):
        paths = [os.fspath(p) for p in paths]
    documents = load_documents(paths)
    bundle = validate_bundle(documents, params)
    return Engine(compile_bundle(bundle))
