"""Coverage of a bundle by decisions: which rules fired and which comparisons held and failed.

Decisions carry their full trace (one step per rule, one result per comparison), so coverage is a
tally over traces; nothing is re-evaluated. The same tally serves a case suite and its invariant
runs (`csrules test --coverage`) and a file of past decisions (`csrules coverage FILE.jsonl`:
which rules never fire in production).

Two measures, each must reach `--fail-under`:
- rules: the share of the bundle's rules that fired at least once;
- condition outcomes: the share of (comparison, outcome) pairs seen, two per comparison: it held
  at least once and failed at least once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from ..decision import Decision
from ..policy import Bundle, compares

__all__ = ["ConditionCoverage", "Coverage", "RuleCoverage"]


@dataclass
class ConditionCoverage:
    """How often one comparison of a rule held and failed."""

    where: str
    path: str
    op: str
    held: int = 0
    failed: int = 0

    @property
    def covered(self) -> int:
        """How many of its two outcomes were seen (0, 1 or 2)."""
        return (self.held > 0) + (self.failed > 0)


@dataclass
class RuleCoverage:
    """How often one rule fired and did not, and its comparisons."""

    rule: str
    source: str
    fired: int = 0
    not_fired: int = 0
    conditions: list[ConditionCoverage] = field(default_factory=list)


class Coverage:
    """A running tally of decisions against one bundle; `add` each decision."""

    def __init__(self, bundle: Bundle) -> None:
        self.decisions = 0
        self.foreign = 0  # decisions made under another policy digest (counted all the same)
        self._rules = {
            rule.id: RuleCoverage(
                rule.id,
                rule.source,
                conditions=[ConditionCoverage(c.where, c.path, c.op) for c in compares(rule.when)],
            )
            for rule in bundle.rules
        }
        self._index = {
            (rule_id, (c.where, c.op)): c for rule_id, r in self._rules.items() for c in r.conditions
        }
        self._digests: set[str] = set()

    def add(self, decision: Decision, digest: str | None = None) -> None:
        """Tally one decision; `digest` is the bundle's, to count decisions of other versions."""
        self.decisions += 1
        if digest is not None and decision.trace.policy_digest != digest:
            self.foreign += 1
        if not decision.trace.steps:  # made with trace=False: which rules fired, no conditions
            fired = set(decision.trace.fired)
            for tally in self._rules.values():
                if tally.rule in fired:
                    tally.fired += 1
                else:
                    tally.not_fired += 1
            return
        for step in decision.trace.steps:
            rule = self._rules.get(step.rule)
            if rule is None:
                continue  # a rule this bundle no longer has
            if step.fired:
                rule.fired += 1
            else:
                rule.not_fired += 1
            for result in step.conditions:
                condition = self._index.get((step.rule, (result.where, result.op)))
                if condition is None:
                    continue
                if result.passed:
                    condition.held += 1
                else:
                    condition.failed += 1

    def add_all(self, decisions: Iterable[Decision], digest: str | None = None) -> None:
        """Tally every decision."""
        for decision in decisions:
            self.add(decision, digest)

    @property
    def rules(self) -> list[RuleCoverage]:
        """Per rule, in bundle order."""
        return list(self._rules.values())

    @property
    def never_fired(self) -> list[str]:
        """Ids of the rules no decision fired, in bundle order."""
        return [r.rule for r in self._rules.values() if r.fired == 0]

    @property
    def rule_counts(self) -> tuple[int, int]:
        """(rules fired at least once, rules)."""
        return len(self._rules) - len(self.never_fired), len(self._rules)

    @property
    def condition_counts(self) -> tuple[int, int]:
        """(condition outcomes seen, condition outcomes): two outcomes per comparison."""
        conditions = list(self._index.values())
        return sum(c.covered for c in conditions), 2 * len(conditions)

    def below(self, percent: float) -> list[str]:
        """The measures under `percent`, worded, e.g. `rules 94.1% < 100%` (with as many decimals
        as it takes to tell the two apart: `5.88% < 5.9%`, not `5.9% < 5.9%`)."""
        out: list[str] = []
        for name, (seen, total) in (
            ("rules", self.rule_counts),
            ("condition outcomes", self.condition_counts),
        ):
            share = 100.0 * seen / total if total else 100.0
            if share < percent:
                places = next((p for p in range(1, 9) if float(f"{share:.{p}f}") < percent), 9)
                out.append(f"{name} {share:.{places}f}% < {_as_given(percent)}%")
        return out


def _as_given(percent: float) -> str:
    """A threshold with every digit it was given (`50.00001`, not `50`), and `100` for `100.0`."""
    text = repr(float(percent))
    return text.removesuffix(".0")
