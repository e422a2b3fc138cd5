"""Stage 10, report: decisions (with their verification) -> one standalone HTML page. No I/O.

The page is for an auditor: per decision the outcome, the reasons, actions and follow-ups, the
verification status, the trace table (every rule of the bundle, fired or not, each comparison with
its expected and actual value), the facts and the policy version. For a decision log, the result of
checking its hash chain comes first.

Standalone: CSS inline, no script, no font, image or link outside the page (anchors within it
only), so it opens offline, from an e-mail attachment or an archive, and prints. Every text comes
from `html.escape`: a description or fact value such as `<script>` reads as text. The same input
gives the same bytes: no clock is read, nothing depends on dict or set order.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from decimal import Decimal
from html import escape
from typing import Any

from ._version import __version__
from .decision import Decision
from .decision_log import LogReport
from .errors import one_line
from .explain import format_actual, format_effect, format_test, format_ticket_id, format_value
from .ticket import FACT_TYPES
from .trace import ConditionResult, TraceStep
from .verify import Verification, shown

__all__ = ["render_html"]

MAX_DIFFERENCES = 100
"""Differences listed per decision; the rest are counted."""

_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
"""Nothing outside the page loads: no script, no font, no image but `data:` URIs."""

_STATUS_MEANING = {
    "identical": "the decision replays byte for byte under the same policy version",
    "different": "the replay under the same policy version differs: the record was altered, "
    "or the engine changed its behaviour",
    "policy-changed": "the policies or their parameters are not those of the recorded digest (they "
    "changed since the decision was made, or the digest was altered); the differences say what would "
    "be decided today",
}

_CSS = """
:root { --ink: #1c1f23; --muted: #5b6470; --line: #d5d9de; --head: #eef1f4;
  --ok: #17692f; --ok-bg: #e3f4e8; --bad: #a4221b; --bad-bg: #fbe6e4; --warn: #7a4d00; --warn-bg: #fdf0d2;
  --off: #525b66; --off-bg: #eceef1; }
* { box-sizing: border-box; }
html { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
body { margin: 0 auto; max-width: 1240px; padding: 20px 28px 40px; color: var(--ink); background: #fff;
  font: 14px/1.45 "Liberation Sans", "Helvetica Neue", Arial, sans-serif; }
code, .mono { font-family: "DejaVu Sans Mono", "Liberation Mono", Menlo, Consolas, monospace;
  font-size: .9em; }
h1 { font-size: 1.7em; margin: 0 0 4px; }
h2 { font-size: 1.4em; margin: 0; }
h3 { font-size: 1.07em; margin: 22px 0 6px; padding-bottom: 3px; border-bottom: 1px solid var(--line); }
p { margin: 4px 0; }
h2, h3 { break-after: avoid; }
.meta { color: var(--muted); }
header.page { border-bottom: 3px solid var(--ink); padding-bottom: 10px; margin-bottom: 16px; }
.panel { border: 1px solid var(--line); border-radius: 6px; padding: 10px 14px; margin: 12px 0; }
.panel.bad { border-color: var(--bad); background: var(--bad-bg); }
.panel.ok { border-color: var(--ok); background: var(--ok-bg); }
.panel h3 { margin-top: 0; }
.badge { display: inline-block; padding: 1px 9px; border-radius: 10px; font-weight: 700; font-size: .82em;
  letter-spacing: .03em; text-transform: uppercase; white-space: nowrap; border: 1px solid currentColor; }
.badge.ok, .badge.identical, .badge.fired, .badge.approve { color: var(--ok); background: var(--ok-bg); }
.badge.bad, .badge.different, .badge.deny { color: var(--bad); background: var(--bad-bg); }
.badge.policy-changed, .badge.escalate { color: var(--warn); background: var(--warn-bg); }
.badge.unverified, .badge.not-fired { color: var(--off); background: var(--off-bg); }
section.decision { border-top: 3px solid var(--ink); padding-top: 12px; margin-top: 28px; }
header.page + section.decision { border-top: none; margin-top: 0; padding-top: 0; }
.decision-head { display: flex; align-items: baseline; gap: 14px; flex-wrap: wrap; }
.label { color: var(--muted); font-size: .86em; }
.cards { display: grid; grid-template-columns: repeat(4, 1fr); gap: 10px; margin: 12px 0; }
.card { border: 1px solid var(--line); border-radius: 6px; padding: 8px 12px; }
.card .value { font-size: 1.4em; font-weight: 700; }
.card.outcome-approve { border-left: 6px solid var(--ok); }
.card.outcome-escalate { border-left: 6px solid var(--warn); }
.card.outcome-deny { border-left: 6px solid var(--bad); }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; vertical-align: top; padding: 4px 8px; border-bottom: 1px solid var(--line); }
th { background: var(--head); font-size: .86em; font-weight: 700; }
thead { display: table-header-group; }
tr, .step { break-inside: avoid; }
.two { display: grid; grid-template-columns: 1fr 1fr; gap: 20px; }
table.kv th { width: 38%; background: none; font-weight: 400; color: var(--muted); font-size: .93em; }
table.trace { font-size: .93em; }
table.trace tbody.step { border-top: 2px solid var(--line); }
table.trace tbody.step.fired td.rule { border-left: 6px solid var(--ok); background: var(--ok-bg); }
table.trace tbody.step.not-fired td.rule { border-left: 6px solid var(--line); }
table.trace tbody.step.fired td { background: #f5fbf7; }
table.trace td.rule { width: 30%; }
.rule-id { font-weight: 700; }
.source, .rationale { color: var(--muted); font-size: .9em; }
.rationale { font-style: italic; white-space: pre-line; }
td.holds { color: var(--ok); font-weight: 700; }
td.fails { color: var(--bad); font-weight: 700; }
.negated { display: block; font-weight: 400; color: var(--muted); font-size: .88em; }
ul.plain { margin: 0; padding-left: 18px; }
.none { color: var(--muted); }
a { color: inherit; }
@page { margin: 12mm; }
@media print {
  body { padding: 0; max-width: none; font-size: 10px; }
  section.decision { break-before: page; border-top: none; margin-top: 0; }
  section.decision:first-of-type { break-before: auto; }
  nav.index a { text-decoration: none; }
}
"""


def _e(value: object) -> str:
    """Text for the page: HTML-escaped, and every control, bidi or invisible format character
    written out as in the text outputs (`one_line`), the line break too (a browser shows it as a
    space: `T-1\\n2` would read as `T-1 2`); a U+202E in a ticket id would show the rest of its
    cell reversed. A lone surrogate (a file name that is not UTF-8, as Python decodes it), which a
    UTF-8 page cannot hold, is shown as its escape, `\\udcff`."""
    return escape(one_line(str(value)), quote=True)


def _lines(text: str) -> str:
    """A rule's rationale (a YAML block of several lines): `_e` for each line, the breaks kept."""
    return "\n".join(_e(part) for part in text.split("\n"))


def _when(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _flatten(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted fact path, leaf value) pairs in the model's own field order; custom attributes by
    name (a decision read back holds them sorted, one just made as the ticket gave them)."""
    if isinstance(value, dict) and value:
        for key, item in sorted(value.items()) if path == "attributes" else value.items():
            yield from _flatten(item, f"{path}.{key}" if path else str(key))
    elif path:
        yield path, value


def _fact(path: str, value: Any) -> str:
    """A fact as the trace table shows it: money with its two decimals (`0.10`, not JSON's `0.1`)."""
    kind = FACT_TYPES.get(path)
    if kind is not None and kind.kind == "money" and isinstance(value, int | float):
        return f"{Decimal(repr(value)):.2f}"
    return _shown(value)


def _shown(value: Any) -> str:
    if isinstance(value, dict) and not value:
        return "(none)"
    return format_value(value)


def _kv(rows: Sequence[tuple[str, str]], *, keys_are_code: bool = True) -> str:
    if not rows:
        return '<p class="none">(none)</p>'
    body = "".join(
        f"<tr><th>{f'<code>{_e(k)}</code>' if keys_are_code else _e(k)}</th><td>{v}</td></tr>"
        for k, v in rows
    )
    return f'<table class="kv"><tbody>{body}</tbody></table>'


def _rule_link(anchor: str, rule: str, decision: Decision) -> str:
    """A rule id linked to its trace step; unlinked when the trace has no step of that id (a
    decision read back that names a rule its trace lacks): a link must lead somewhere."""
    if not any(step.rule == rule for step in decision.trace.steps):
        return f"<code>{_e(rule)}</code>"
    return f'<a href="#{_e(anchor)}-rule-{_e(rule)}"><code>{_e(rule)}</code></a>'


def _outcome_text(decision: Decision) -> str:
    if decision.outcome == "escalate":
        return f"escalate to {decision.required_role}"
    return decision.outcome


def _why(decision: Decision, anchor: str) -> str:
    rules = ", ".join(_rule_link(anchor, r, decision) for r in decision.reasons.outcome)
    role_rules = ", ".join(_rule_link(anchor, r, decision) for r in decision.reasons.required_role)
    if decision.outcome == "deny":
        return f"Denied by {rules}."
    if decision.outcome == "escalate":
        return (
            f"{rules} require{'s' if len(decision.reasons.outcome) == 1 else ''} "
            f"<b>{_e(decision.required_role)}</b>, above the agent's role <b>{_e(decision.agent_role)}</b>."
        )
    if role_rules:
        return (
            f"The agent's role <b>{_e(decision.agent_role)}</b> covers the required role "
            f"<b>{_e(decision.required_role)}</b> (set by {role_rules})."
        )
    return f"No rule requires more than <b>{_e(decision.required_role)}</b>; nothing denies."


def _verification_badge(verification: Verification | None) -> str:
    if verification is None:
        return '<span class="badge unverified">not verified</span>'
    return f'<span class="badge {_e(verification.status)}">{_e(verification.status)}</span>'


def _verification(verification: Verification | None) -> str:
    if verification is None:
        return (
            f"<p>{_verification_badge(None)} The decision was not replayed: nothing here says whether "
            "the current policies reproduce it.</p>"
        )
    parts = [
        f"<p>{_verification_badge(verification)} {_e(_STATUS_MEANING[verification.status])}.</p>",
        f'<p class="mono">{_e(verification.summary())}</p>',
    ]
    if verification.differences:
        listed = verification.differences[:MAX_DIFFERENCES]
        rows = "".join(
            f"<tr><td><code>{_e(d.path or '/')}</code></td><td><code>{_e(shown(d.recorded))}</code></td>"
            f"<td><code>{_e(shown(d.replayed))}</code></td></tr>"
            for d in listed
        )
        parts.append(
            "<table><thead><tr><th>field (JSON pointer)</th><th>recorded</th><th>replayed now</th></tr>"
            "</thead>"
            f"<tbody>{rows}</tbody></table>"
        )
        if len(verification.differences) > len(listed):
            more = len(verification.differences) - len(listed)
            parts.append(f'<p class="meta">and {more} more difference(s) not listed</p>')
    if verification.notes:
        notes = "".join(f"<li>{_e(n)}</li>" for n in verification.notes)
        parts.append(f'<p class="label">notes</p><ul class="plain">{notes}</ul>')
    return "".join(parts)


def _condition_cells(result: ConditionResult) -> str:
    verdict = "holds" if result.passed else "fails"
    needed = (
        '<span class="negated">under <code>not</code>: the rule needs this to fail</span>'
        if result.negated
        else ""
    )
    return (
        f"<td><code>{_e(format_test(result))}</code>"
        f'<div class="source">{_e(result.where)}</div></td>'
        f"<td><code>{_e(format_actual(result))}</code></td>"
        f'<td class="{verdict}">{verdict}{needed}</td>'
    )


def _step(step: TraceStep, anchor: str) -> str:
    state = "fired" if step.fired else "not-fired"
    rows = max(1, len(step.conditions))
    span = f' rowspan="{rows}"' if rows > 1 else ""
    effects = (
        '<ul class="plain">' + "".join(f"<li>{_e(format_effect(e))}</li>" for e in step.effects) + "</ul>"
        if step.effects
        else '<span class="none">&mdash;</span>'
    )
    rule = (
        f'<td class="rule"{span} id="{_e(anchor)}-rule-{_e(step.rule)}">'
        f'<div class="rule-id">{_e(step.rule)}</div>'
        f'<div class="source">{_e(step.source)} &middot; stage {step.stage}</div>'
        f"<div>{_e(step.description)}</div>"
        f'<div class="rationale">{_lines(step.rationale)}</div></td>'
        f'<td{span}><span class="badge {state}">{"fired" if step.fired else "not fired"}</span></td>'
    )
    tail = f"<td{span}>{effects}</td>"
    if not step.conditions:
        return (
            f'<tbody class="step {state}"><tr>{rule}'
            f'<td colspan="3" class="none">no comparisons: the rule always fires</td>{tail}</tr></tbody>'
        )
    first, *rest = step.conditions
    lines = [f"<tr>{rule}{_condition_cells(first)}{tail}</tr>"]
    lines += [f"<tr>{_condition_cells(result)}</tr>" for result in rest]
    return f'<tbody class="step {state}">{"".join(lines)}</tbody>'


def _trace_table(decision: Decision, anchor: str) -> str:
    steps = decision.trace.steps
    if not steps:  # decided with trace=False: the rules fired are in the summary, no comparison
        count = len(decision.trace.fired)
        return (
            f"<h3>Trace: not recorded ({count} rule{'' if count == 1 else 's'} fired)</h3>"
            '<p class="none">decided without a trace (<code>trace=False</code>): the rules fired are '
            "listed above, in firing order; no comparison was recorded</p>"
        )
    fired = sum(1 for s in steps if s.fired)
    head = (
        "<thead><tr><th>rule</th><th>fired</th><th>comparison (expected)</th><th>actual</th>"
        "<th>result</th><th>effects</th></tr></thead>"
    )
    body = "".join(_step(step, anchor) for step in steps)
    return (
        f"<h3>Trace: every rule considered ({fired} of {len(steps)} fired)</h3>"
        f'<table class="trace">{head}{body}</table>'
    )


def _decision(index: int, decision: Decision, verification: Verification | None, label: str) -> str:
    anchor = f"d{index}"
    trace = decision.trace
    outcome = decision.outcome
    cards = (
        f'<div class="card outcome-{_e(outcome)}"><div class="label">outcome</div>'
        f'<div class="value">{_e(_outcome_text(decision))}</div></div>'
        f'<div class="card"><div class="label">required role</div>'
        f'<div class="value">{_e(decision.required_role)}</div></div>'
        f'<div class="card"><div class="label">agent role</div>'
        f'<div class="value">{_e(decision.agent_role)}</div></div>'
        f'<div class="card"><div class="label">verification</div>'
        f'<div class="value">{_verification_badge(verification)}</div></div>'
    )
    reasons = _kv(
        [
            (
                "outcome set by",
                ", ".join(_rule_link(anchor, r, decision) for r in decision.reasons.outcome) or "&mdash;",
            ),
            (
                "required role set by",
                ", ".join(_rule_link(anchor, r, decision) for r in decision.reasons.required_role)
                or "&mdash;",
            ),
        ],
        keys_are_code=False,
    )
    if decision.actions:
        actions = "".join(
            f"<tr><td><code>{_e(a.kind)}</code></td>"
            f"<td>{_e(format_value(a.params)) if a.params else '&mdash;'}</td>"
            f"<td>{_rule_link(anchor, a.rule, decision)}</td></tr>"
            for a in decision.actions
        )
        actions = (
            "<table><thead><tr><th>action</th><th>parameters</th><th>rule</th></tr></thead>"
            f"<tbody>{actions}</tbody></table>"
        )
    else:
        actions = '<p class="none">(none)</p>'
    if decision.follow_ups:
        follow_ups = "".join(
            f"<tr><td><code>{_e(f.kind)}</code></td><td>{_e(_when(f.due))}</td>"
            f"<td>{_rule_link(anchor, f.rule, decision)}</td></tr>"
            for f in decision.follow_ups
        )
        follow_ups = (
            "<table><thead><tr><th>follow-up</th><th>due (UTC)</th><th>rule</th></tr></thead>"
            f"<tbody>{follow_ups}</tbody></table>"
        )
    else:
        follow_ups = '<p class="none">(none)</p>'
    facts = _kv(
        [(p, f"<code>{_e(_fact(p, v))}</code>") for p, v in _flatten(trace.facts.model_dump(mode="json"))]
    )
    derived = _kv(
        [(f"derived.{k}", f"<code>{_e(_shown(v))}</code>") for k, v in sorted(trace.derived.items())]
    )
    params = _kv([(k, f"<code>{_e(_shown(v))}</code>") for k, v in sorted(trace.params.items())])
    policy = _kv(
        [
            ("policy digest", f'<code style="word-break: break-all">{_e(trace.policy_digest)}</code>'),
            ("engine version", _e(trace.engine_version)),
            ("evaluated at (UTC)", _e(_when(trace.evaluated_at))),
            ("rules fired, in firing order", _e(", ".join(trace.fired) or "none")),
        ],
        keys_are_code=False,
    )
    where = f' <span class="meta">{_e(label)}</span>' if label else ""
    return (
        f'<section class="decision" id="{anchor}">'
        f'<div class="decision-head"><h2>Ticket <code>{_e(format_ticket_id(decision.ticket_id))}</code></h2>'
        f'<span class="badge {_e(outcome)}">{_e(outcome)}</span>{where}</div>'
        f'<div class="cards">{cards}</div>'
        f"<p>{_why(decision, anchor)}</p>"
        f'<h3>Verification</h3><div class="verification">{_verification(verification)}</div>'
        f'<div class="two"><div><h3>Reasons</h3>{reasons}</div>'
        f"<div><h3>Policy version</h3>{policy}</div></div>"
        f"<h3>Actions</h3>{actions}<h3>Follow-ups</h3>{follow_ups}"
        f"{_trace_table(decision, anchor)}"
        f'<div class="two"><div><h3>Facts (the validated ticket)</h3>{facts}</div>'
        f"<div><h3>Derived facts</h3>{derived}<h3>Parameters</h3>{params}</div></div>"
        "</section>"
    )


def _log(status: LogReport) -> str:
    if status.problem is None:
        # `log verify`'s notes (e.g. a head file one record behind: a crash, or an append by
        # someone who could not write the head) belong beside the verdict, not only in a terminal.
        notes = "".join(f"<p>Note: {_e(note)}</p>" for note in status.notes)
        return (
            '<div class="panel ok log"><h3>Decision log</h3>'
            f'<p><span class="badge ok">intact</span> {status.records} record(s), every hash and link '
            f"checked; head <code>{_e(status.head)}</code> (record {status.records}).</p>{notes}</div>"
        )
    problem = status.problem
    where = f"line {problem.line}" if problem.line else "the end of the log"
    return (
        '<div class="panel bad log"><h3>Decision log</h3>'
        f'<p><span class="badge bad">tampered</span> first problem at {_e(where)}: '
        f"{_e(problem.message)} <code>[{_e(problem.code)}]</code></p>"
        f"<p>{status.records} record(s) verified before it. The decisions from that line on are "
        "shown as recorded: they cannot be trusted to be the original ones.</p></div>"
    )


def _index(items: Sequence[tuple[Decision, Verification | None]], labels: Sequence[str]) -> str:
    rows = "".join(
        f'<tr><td><a href="#d{i}">{_e(label or i)}</a></td>'
        f"<td><code>{_e(format_ticket_id(d.ticket_id))}</code></td>"
        f"<td>{_e(_outcome_text(d))}</td><td>{_e(_when(d.trace.evaluated_at))}</td>"
        f"<td><code>{_e(d.trace.policy_digest[:12])}</code></td><td>{_verification_badge(v)}</td></tr>"
        for i, ((d, v), label) in enumerate(zip(items, labels, strict=True), 1)
    )
    return (
        '<nav class="index"><h3>Decisions</h3><table><thead><tr><th>record</th><th>ticket</th>'
        "<th>outcome</th><th>evaluated at (UTC)</th><th>policy</th><th>verification</th></tr></thead>"
        f"<tbody>{rows}</tbody></table></nav>"
    )


def render_html(
    items: Sequence[tuple[Decision, Verification | None]],
    *,
    title: str,
    source: str | None = None,
    log_status: LogReport | None = None,
    labels: Sequence[str] | None = None,
    omitted: int = 0,
    notes: Sequence[str] = (),
) -> str:
    """The audit report as one standalone HTML page.

    Args:
        items: each decision with its verification (None: not replayed), in the order shown.
        title: the page title.
        source: the file the decisions came from, named in the header.
        log_status: the result of `verify_log` when the decisions come from a decision log.
        labels: per decision, where it came from (e.g. "record 3, line 3"); default: none.
        omitted: how many more decisions the input holds that are not shown.
        notes: page-level remarks shown under the header (filters applied, unreadable lines).
    """
    labels = list(labels) if labels is not None else [""] * len(items)
    if len(labels) != len(items):
        raise ValueError("labels and items differ in length")
    verified = [v for _, v in items if v is not None]
    failing = sum(1 for v in verified if not v.ok)
    counts = f"{len(items)} decision(s) shown"
    if omitted:
        counts += f", {omitted} more not shown"
    if verified:
        counts += f"; {len(verified) - failing} replayed identically, {failing} not"
    header = (
        f'<header class="page"><h1>{_e(title)}</h1>'
        f'<p class="meta">csrules {_e(__version__)}'
        + (f" &middot; from <code>{_e(source)}</code>" if source else "")
        + f" &middot; {_e(counts)}</p>"
        + "".join(f'<p class="meta">{_e(n)}</p>' for n in notes)
        + "</header>"
    )
    body = [header]
    if log_status is not None:
        body.append(_log(log_status))
    if len(items) > 1 or omitted:
        body.append(_index(items, labels))
    if not items:
        body.append('<p class="none">No decision to show.</p>')
    body += [
        _decision(i, d, v, label) for i, ((d, v), label) in enumerate(zip(items, labels, strict=True), 1)
    ]
    if omitted:
        body.append(f'<p class="meta">{omitted} more decision(s) not shown (raise <code>--limit</code>).</p>')
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        # The browser itself refuses anything from outside the page, and any script.
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{_CSS}</style></head>\n<body>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )
