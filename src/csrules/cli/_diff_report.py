"""The words of `csrules diff`: an ImpactReport as text, JSON or a Markdown pull-request comment.

Text and Markdown share the side-by-side view of an example: for each rule that fired under one
policy only, and each rule that set the outcome or the required role on either side, the rule's
comparisons under the old policies (left) and the new (right), worded as `csrules eval` words
them (`explain.format_listed`). JSON is one object with stable keys (docs/impact.md).
"""

from __future__ import annotations

import html
import json
import re
import textwrap
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from itertools import zip_longest
from typing import Any

from ..decision import Decision
from ..errors import one_line
from ..explain import format_effect, format_listed, format_ticket_id, format_value
from ..impact import ImpactReport, ParamChange
from ..trace import TraceStep
from ..values import json_value, to_json

__all__ = ["Compared", "Side", "render_json", "render_markdown", "render_text"]

COLUMN = 52  # two columns and " | " fit the 110 characters of the rest of csrules' output


@dataclass(frozen=True)
class Side:
    """One side of the diff: the policies as given on the command line, and their digest."""

    label: str
    digest: str


@dataclass(frozen=True)
class Compared:
    """Everything a rendering needs: the report, both sides, and the examples decided again."""

    report: ImpactReport
    old: Side
    new: Side
    corpus: str
    now: datetime
    examples: dict[int, tuple[Decision, Decision]]
    params: tuple[ParamChange, ...] = ()


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _share(part: int, whole: int) -> str:
    if not whole:
        return "0.0%"
    share = 100.0 * part / whole
    # Never a rounded 0.0% or 100.0% for a share that is neither: 1 of 3,000 is "<0.1%".
    if 0 < share < 0.05:
        return "<0.1%"
    if 99.95 <= share < 100:
        return ">99.9%"
    return f"{share:.1f}%"


def _one_sided(report: ImpactReport) -> str:
    return (
        f"{_plural(report.one_sided, 'line')} of them decided under one side only, rejected by the "
        "other: a change for --fail-on-change"
    )


def _param_value(value: Any) -> str:
    if value is None:
        return "(none)"  # that side has no such parameter
    # As explanations write values: text that could read as a number or as two items (`a, b`) in
    # JSON quotes, so the comma-separated line reads one way only.
    return format_value(value)


def _param_lines(params: tuple[ParamChange, ...]) -> list[str]:
    """`parameters changed: currency USD -> EUR, front_line_limit 20.00 -> 25.00`, wrapped at 110
    characters between changes, never inside one."""
    lines = ["parameters changed:"]
    for n, p in enumerate(params, 1):
        item = f"{p.name} {_param_value(p.old)} -> {_param_value(p.new)}" + ("," if n < len(params) else "")
        if len(lines[-1]) + 1 + len(item) > 110 and lines[-1].strip() != "parameters changed:":
            lines.append("  " + item)
        else:
            lines[-1] += " " + item
    return lines


def _plural(count: int, word: str) -> str:
    return f"{count:,} {word}{'' if count == 1 else 's'}"


def _summary(report: ImpactReport) -> str:
    return (
        f"{_plural(report.tickets, 'ticket')}, {_plural(report.changed, 'decision')} changed "
        f"({_share(report.changed, report.tickets)})"
    )


def _rules_cell(rules: Iterable[tuple[str, int]], limit: int = 4) -> str:
    items = list(rules)
    shown = ", ".join(f"{rule} {count:,}" for rule, count in items[:limit])
    return shown + (f", +{len(items) - limit} more" if len(items) > limit else "")


def _ordered(counter: Counter[str]) -> list[tuple[str, int]]:
    # Ties keep the order first seen: bundle order for the rules of the first changed ticket.
    return sorted(counter.items(), key=lambda item: -item[1])


# --- side by side ------------------------------------------------------------------------------------


def _step_cell(step: TraceStep | None, rule: str) -> list[str]:
    if step is None:
        return [f"{rule}: (no such rule)"]
    lines = [f"{rule}: {'fired' if step.fired else 'did not fire'}"]
    lines.extend(f"- {format_listed(result)}" for result in step.conditions)
    if step.fired:
        lines.extend(f"=> {format_effect(e)}" for e in step.effects)
    return lines


def _decision_cell(decision: Decision) -> list[str]:
    head = decision.outcome + (f" to {decision.required_role}" if decision.outcome == "escalate" else "")
    lines = [f"{head} (required role {decision.required_role})"]
    for action in decision.actions:
        params = f" ({format_value(action.params)})" if action.params else ""
        lines.append(f"action {action.kind}{params}")
    lines.extend(f"follow-up {f.kind} due {_iso(f.due)}" for f in decision.follow_ups)
    return lines


def _wrap(lines: list[str]) -> list[str]:
    out: list[str] = []
    for line in lines:
        out.extend(textwrap.wrap(line, COLUMN, subsequent_indent="  ", break_on_hyphens=False) or [""])
    return out


def _row(left: list[str], right: list[str]) -> list[str]:
    return [f"{a:<{COLUMN}} | {b}".rstrip() for a, b in zip_longest(_wrap(left), _wrap(right), fillvalue="")]


def _shown_rules(old: Decision, new: Decision, changed: Iterable[str]) -> list[str]:
    wanted = set(changed)
    for decision in (old, new):
        wanted.update(decision.reasons.outcome, decision.reasons.required_role)
    order = [s.rule for s in new.trace.steps] + [s.rule for s in old.trace.steps]
    return [rule for rule in dict.fromkeys(order) if rule in wanted]


def side_by_side(old: Decision, new: Decision, changed: Iterable[str]) -> list[str]:
    """The two decisions of an example in two columns, `old | new`."""
    old_steps = {s.rule: s for s in old.trace.steps}
    new_steps = {s.rule: s for s in new.trace.steps}
    lines = _row(["old"], ["new"])
    lines += _row(_decision_cell(old), _decision_cell(new))
    lines.append("-" * COLUMN + "-+-" + "-" * COLUMN)
    for index, rule in enumerate(_shown_rules(old, new, changed)):
        if index:
            lines.append(f"{'':<{COLUMN}} |")
        lines += _row(_step_cell(old_steps.get(rule), rule), _step_cell(new_steps.get(rule), rule))
    return lines


# --- text --------------------------------------------------------------------------------------------


def _table(rows: list[tuple[str, str, str]]) -> list[str]:
    """Three columns; the last wraps under itself to keep lines within 110 characters."""
    width = max(len(row[0]) for row in rows)
    count = max(len(row[1]) for row in rows)
    indent = 2 + width + 2 + count + 2
    lines: list[str] = []
    for a, b, c in rows:
        cell = textwrap.wrap(c, max(110 - indent, 30), break_on_hyphens=False) or [""]
        lines.append(f"  {a:<{width}}  {b:>{count}}  {cell[0]}".rstrip())
        lines.extend(" " * indent + more for more in cell[1:])
    return lines


def render_text(compared: Compared) -> str:
    """The report for a terminal."""
    report = compared.report
    lines = [
        one_line(
            f"csrules diff: {compared.old.label} ({compared.old.digest[:12]})"
            f" -> {compared.new.label} ({compared.new.digest[:12]})"
        ),
        one_line(
            f"tickets from {compared.corpus}, at {_iso(compared.now)} unless a line gives its own `now`"
        ),
    ]
    if compared.params:
        lines += _param_lines(compared.params)
    lines += ["", _summary(report)]
    if report.rules_only:
        lines.append(f"{_plural(report.rules_only, 'more ticket')} fired other rules for the same decision")
    if report.errors:
        lines.append(f"{_plural(report.errors, 'line')} could not be compared:")
        lines.extend(f"  line {line}: {one_line(message)}" for line, message in report.error_lines)
        if report.errors > len(report.error_lines):
            lines.append(f"  ... and {report.errors - len(report.error_lines):,} more")
        if report.one_sided:
            lines.append(f"  {_one_sided(report)}")
    if report.changed:
        lines.append("")
        lines.append("Transitions:")
        lines += _table(
            [("transition", "tickets", "rules (tickets)")]
            + [
                (s.transition.key, f"{s.tickets:,}", _rules_cell(_ordered(s.rules)))
                for s in report.transitions
            ]
        )
        lines.append("")
        lines.append("Rules that caused the changes (fired under one policy only, or with other effects):")
        lines += _table([("rule", "tickets", "")] + [(r, f"{n:,}", "") for r, n in report.rule_counts()])
    if compared.examples:
        lines.append("")
        lines.append(f"Examples (the first {report.per_transition} of each transition):")
        for stats in report.transitions:
            shown = ", ".join(
                f"line {n} ({format_ticket_id(report.examples[n].ticket_id)})" for n in stats.examples
            )
            lines.append(f"  {stats.transition.key}: {shown}")
        for line, (old, new) in sorted(compared.examples.items()):
            example = report.examples[line]
            lines.append("")
            keys = ", ".join(t.key for t in example.change.transitions())
            lines += textwrap.wrap(
                f"line {line}, ticket {format_ticket_id(example.ticket_id)}: {keys}",
                110,
                subsequent_indent="  ",
                break_on_hyphens=False,
            )
            lines.extend("  " + row for row in side_by_side(old, new, example.change.rules))
    return "\n".join(lines) + "\n"


# --- markdown ----------------------------------------------------------------------------------------


def _md(text: str) -> str:
    """Text from the corpus, a policy or the command line (a path, a parameter's value, a message
    quoting a ticket's value) in the comment, as a one-line code span whose fence is longer than
    any run of backticks in it: nothing in it is read as Markdown or HTML, no link, no image, no
    emphasis, and no `@team` mention or bare URL that GitHub would act on."""
    line = one_line(text)
    fence = "`" * (max((len(run) for run in re.findall(r"`+", line)), default=0) + 1)
    # CommonMark strips one space from each end of a span that starts and ends with one.
    pad = " " if not line or line[0] in "` " or line[-1] in "` " else ""
    return f"{fence}{pad}{line}{pad}{fence}"


def _html(text: str) -> str:
    """Text inside the raw HTML of a `<details>` block: one line, HTML-escaped, so `</details>`
    or a line of backticks cannot end the block early."""
    return html.escape(one_line(text), quote=False)


def render_markdown(compared: Compared) -> str:
    """The report as a pull-request comment: summary, table, one collapsed section per example."""
    report = compared.report
    lines = [
        f"### csrules diff: {report.changed:,} of {_plural(report.tickets, 'decision')} changed"
        f" ({_share(report.changed, report.tickets)})",
        "",
        f"{_md(compared.old.label)} (`{compared.old.digest[:12]}`) → {_md(compared.new.label)}"
        f" (`{compared.new.digest[:12]}`), tickets from {_md(compared.corpus)}"
        f" at {_iso(compared.now)} unless a line gives its own `now`.",
    ]
    if compared.params:
        changes = ", ".join(
            f"`{p.name}` {_md(_param_value(p.old))} → {_md(_param_value(p.new))}" for p in compared.params
        )
        lines += ["", f"Parameters changed: {changes}."]
    if report.rules_only:
        lines += ["", f"{_plural(report.rules_only, 'more ticket')} fired other rules for the same decision."]
    if report.errors:
        lines += ["", f"{_plural(report.errors, 'line')} could not be compared:", ""]
        lines += [f"- line {line}: {_md(message)}" for line, message in report.error_lines]
        if report.errors > len(report.error_lines):
            lines.append(f"- ... and {report.errors - len(report.error_lines):,} more")
        if report.one_sided:
            lines += ["", _one_sided(report)]
    if report.changed:
        lines += ["", "| transition | tickets | rules (tickets) |", "|---|---:|---|"]
        for stats in report.transitions:
            rules = ", ".join(f"`{rule}` {count:,}" for rule, count in _ordered(stats.rules))
            lines.append(f"| `{stats.transition.key}` | {stats.tickets:,} | {rules} |")
        rules = ", ".join(f"`{rule}` {count:,}" for rule, count in report.rule_counts())
        lines += [
            "",
            f"Rules that caused the changes (fired under one policy only, or with other effects): {rules}.",
        ]
    if compared.examples:
        lines += ["", f"#### Examples (the first {report.per_transition} of each transition)"]
        for line, (old, new) in sorted(compared.examples.items()):
            example = report.examples[line]
            keys = ", ".join(t.key for t in example.change.transitions())
            lines += [
                "",
                "<details>",
                f"<summary>line {line}, <code>{_html(example.ticket_id)}</code>: {keys}</summary>",
                "",
                "```text",
                *side_by_side(old, new, example.change.rules),
                "```",
                "",
                "</details>",
            ]
    return "\n".join(lines) + "\n"


# --- json --------------------------------------------------------------------------------------------


def _decision_json(decision: Decision) -> dict[str, Any]:
    data = decision.model_dump(
        mode="json", include={"outcome", "required_role", "reasons", "actions", "follow_ups"}
    )
    data["fired"] = list(decision.trace.fired)
    return data


def _param_json(value: Any) -> Any:
    return None if value is None else to_json(json_value(value))


def render_json(compared: Compared) -> str:
    """The report as one JSON object with stable keys (docs/impact.md), indented."""
    report = compared.report
    data = {
        "old": {"policies": compared.old.label, "policy_digest": compared.old.digest},
        "new": {"policies": compared.new.label, "policy_digest": compared.new.digest},
        "corpus": compared.corpus,
        "now": _iso(compared.now),
        "parameters": [
            {"name": p.name, "old": _param_json(p.old), "new": _param_json(p.new)} for p in compared.params
        ],
        "tickets": report.tickets,
        "changed": report.changed,
        "rules_only": report.rules_only,
        "errors": {
            "count": report.errors,
            "one_sided": report.one_sided,
            "lines": [{"line": line, "message": message} for line, message in report.error_lines],
        },
        "transitions": [
            {
                "transition": stats.transition.key,
                "field": stats.transition.field,
                "change": stats.transition.change,
                "kind": stats.transition.kind,
                "tickets": stats.tickets,
                "rules": [{"rule": rule, "tickets": count} for rule, count in _ordered(stats.rules)],
                "examples": list(stats.examples),
            }
            for stats in report.transitions
        ],
        "rules": [{"rule": rule, "tickets": count} for rule, count in report.rule_counts()],
        "examples": [
            {
                "line": line,
                "ticket_id": report.examples[line].ticket_id,
                "transitions": [t.key for t in report.examples[line].change.transitions()],
                "rules": list(report.examples[line].change.rules),
                "old": _decision_json(old),
                "new": _decision_json(new),
            }
            for line, (old, new) in sorted(compared.examples.items())
        ],
    }
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
