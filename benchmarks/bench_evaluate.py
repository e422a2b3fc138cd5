"""Single-ticket decision latency: csrules against durable_rules driven directly, zen-engine and plain Python.

What it measures, in one process, on the same N deterministic tickets (benchmarks/_tickets.py):

(a)  csrules: `engine.evaluate(ticket, now=FIXED_NOW)` on the default bundle (`csrules.load()`),
     with ticket validation, the staged durable_rules run and the full justification trace.
(a0) the same without the trace (`evaluate_many([ticket], trace=False)`, one ticket per call): for
     reference, not a target; checked to agree with (a) on outcome, role, reasons, actions and
     follow-ups.
(b)  durable_rules host, no trace (the baseline of the ratios): the 17 rules of policies/ written
     by hand as one durable_rules JSON ruleset, run through durable's own `durable.engine.Host`
     (subclassed with a no-op `_run`, so no timer threads). Per ticket: flatten the JSON ticket into
     one fact (money as integer cents, `promise_slack_days` = delivery - earliest feasible, and the
     derived `high_value` computed in Python), `host.assert_fact` with a fresh sid, and
     `host.delete_state` in `finally`. Every action only records its rule name. The 12 ticket
     rules (including `high_value_customer`, on tier and lifetime value) match the ticket fact; a
     catch-all rule (pri 65535) fires last, computes the outcome from the rule names recorded so
     far and asserts a `decision` fact from its action (durable's forward chaining), which the 5
     follow-up rules match. No validation, no trace, no action parameters, no due dates.
(b1) the same, but the outcome is computed in Python (by (c)) before asserting and put in the
     ticket fact, so the follow-up rules match the ticket fact: one fact, no chaining.
(c)  plain hand-written Python deciding outcome, required role, action and follow-up kinds from
     the JSON ticket (money parsed with Decimal).
(d)  zen-engine (GoRules, Rust core; the `bench` extra) with its trace (`{"trace": True}`), on the
     equivalent decision model benchmarks/zen_default_bundle.json (JDM), from the same flat fact as
     (b) (`flatten`: money in cents, `high_value` and `promise_slack_days` computed in Python), the
     default bundle's parameter values written into the tables. The model: input -> two collect
     decision tables in parallel ("Conduct and empowerment": the 6 rules that require a role, with
     their actions; "Learning and rainchecks": the 5 rules with actions, the raincheck follow-up and
     the denial) -> an expression node "Outcome" (required role = highest rank collected; deny,
     escalate or approve) -> a collect table "Follow-ups" (the 5 decision-stage rules) -> an
     expression node "Decision" (outcome, required_role; actions with their parameters, as
     csrules computes them: the raincheck's sku, honored price and `valid_until` = now + 30 days,
     the honest promise's delivery date; follow-ups with their due dates from `now`; the reasons
     for the outcome and the required role; fired rule names) -> output. Its fact is (b)'s with
     `now`, the item's sku and the promise's earliest feasible date added (`zen_fact`). Checked
     against (a) on all of these, parameters and due dates included (before 2026-11-29 the model
     gave action and follow-up kinds only, and did about 20% less work than a decision holds).
     Loaded once through a static loader and evaluated by key (`ZenEngine.evaluate`), the fastest
     way we found: `ZenEngine.create_decision(...).evaluate`
     and a callback loader cost about 250 µs more per call in zen-engine 2.1.3 (even for a model that
     only passes its input through).
(e)  the same without trace.
(f)  the floor, for the traced targets: what any traced decision made the way the issue asks
     (validated ticket, durable_rules deciding, a trace of records) spends before any logic of its
     own, each part timed alone on the same tickets: (f1) validating the ticket
     (`Ticket.model_validate`); (f2) the C engine calls csrules makes for the ticket, replayed
     with their JSON texts built beforehand (asserts, actions, the retraction of the facts:
     recorded once per ticket from a real evaluation, then replayed in a state of the bench's
     own, kept from ticket to ticket as csrules keeps its own); (f3) constructing the
     decision's records that are its own (records shared with another decision, such as
     interned condition results, are left out) from their finished values, through the same
     no-validation constructor csrules uses. The sum is printed as a ratio to (b) and (d).

Each implementation runs over all tickets in a block (order rotated per repeat), each call timed
with `perf_counter_ns`; per repeat the median and p99 are taken, and the table shows the median of
those over the repeats. Before timing, every ticket is decided by all implementations and they are
compared: outcome and required_role for (a), (b), (b1), (c) ((b) derives them from its fired rule
names), the fired rule set for (a) against (b), and action/follow-up kinds for (a) against (c);
outcome, required_role, action and follow-up kinds and fired rules (high_value_customer aside: the
zen model gets `high_value` as input) for (a) against (d), and (d)'s result against (e)'s.

Without zen-engine installed, rows (d) and (e) are skipped with a note on how to install it
(`pip install -e '.[bench]'`; `make bench` does it).

Run:  .venv/bin/python benchmarks/bench_evaluate.py [--tickets 5000] [--repeats 5] [--seed 1]
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import importlib.metadata
import itertools
import json
import operator
import statistics
import time
from collections.abc import Callable, Iterable
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import durable.engine

import csrules
from _tickets import FIXED_NOW, generate_tickets, percentile
from csrules import _durable  # the floor replays the C engine calls csrules makes
from csrules.trace import recorder

try:
    import zen  # zen-engine: the `bench` extra, never a runtime dependency of csrules
except ImportError:
    zen = None

ZEN_MODEL = Path(__file__).with_name("zen_default_bundle.json")
ZEN_KEY = "default_bundle"

RULESET = "csrules_bench_baseline"
RULESET_ONE_FACT = "csrules_bench_baseline_one_fact"

ROLE_RANK = {"front_line": 0, "senior": 1, "supervisor": 2, "manager": 3}
REQUIRES = {
    "abusive_customer": "supervisor",
    "employee_behavior_complaint": "supervisor",
    "over_front_line_limit": "senior",
    "over_front_line_limit_high_value": "senior",
    "over_senior_limit": "supervisor",
    "over_supervisor_limit": "manager",
}
DENIES = frozenset({"deny_raincheck"})
DECISION_RULES = frozenset(
    {
        "escalation_update_urgent",
        "escalation_update_high",
        "escalation_update_normal",
        "escalation_update_low",
        "satisfaction_check",
    }
)
CENTS = Decimal(100)

Decided = tuple[str, str]  # (outcome, required_role)


def resolve(fired: Iterable[str], agent_role: str) -> Decided:
    """Outcome and required role from fired rule names, as csrules' `resolve_outcome` does."""
    required = "front_line"
    denied = False
    for name in fired:
        role = REQUIRES.get(name)
        if role is not None and ROLE_RANK[role] > ROLE_RANK[required]:
            required = role
        elif name in DENIES:
            denied = True
    if denied:
        return "deny", required
    if ROLE_RANK[agent_role] < ROLE_RANK[required]:
        return "escalate", required
    return "approve", required


# --- (c) plain Python ---------------------------------------------------------------------------

ABOVE_FRONT_LINE = Decimal("20")
ABOVE_FRONT_LINE_HV = Decimal("50")
ABOVE_SENIOR = Decimal("50")
ABOVE_SUPERVISOR = Decimal("100")
HIGH_VALUE_LTV = Decimal("1000")


class Plain:
    """The default bundle's decision, hand-written: (outcome, role, action kinds, follow-up kinds)."""

    @staticmethod
    def decide(ticket: dict[str, Any]) -> tuple[str, str, tuple[str, ...], tuple[str, ...]]:
        customer = ticket["customer"]
        category = ticket.get("category", "other")
        request = ticket.get("request")
        item = ticket.get("item")
        promise = ticket.get("promise")
        required = 0
        actions: list[str] = []
        follow_ups: list[str] = []
        if customer.get("abusive", False):
            required = 2
            actions.append("supervisor_takeover")
        if category == "employee_behavior":
            required = 2
            actions.append("review_agent_performance")
        amount = Decimal(request["amount"]) if request is not None else None
        if amount is not None:
            high_value = (
                customer.get("tier") in ("loyal", "advocate")
                or Decimal(customer.get("lifetime_value", "0")) >= HIGH_VALUE_LTV
            )
            if amount > ABOVE_SUPERVISOR:
                required = 3
            elif amount > ABOVE_SENIOR:
                required = max(required, 2)
            elif amount > (ABOVE_FRONT_LINE_HV if high_value else ABOVE_FRONT_LINE):
                required = max(required, 1)
        if category == "stock":
            actions.append("review_stocking_process")
        elif category == "product":
            actions.append("review_product")
        if promise is not None and promise["delivery_date"] < promise["earliest_feasible"]:
            actions.append("revise_promise")  # ISO dates compare correctly as strings
        denied = False
        if request is not None and request["kind"] == "raincheck":
            if (
                item is not None
                and item["on_sale"] is True
                and item["in_stock"] is False
                and item.get("sale_price") is not None
            ):
                actions.append("issue_raincheck")
                follow_ups.append("restock_notice")
            else:
                denied = True
        role = ("front_line", "senior", "supervisor", "manager")[required]
        if denied:
            outcome = "deny"
        elif ROLE_RANK[ticket["agent"]["role"]] < required:
            outcome = "escalate"
            follow_ups.append("escalation_update")
        else:
            outcome = "approve"
            if amount is not None and amount > 0:
                follow_ups.append("satisfaction_check")
        return outcome, role, tuple(sorted(actions)), tuple(sorted(follow_ups))


# --- (b) durable_rules through its own Host -----------------------------------------------------


class QuietHost(durable.engine.Host):  # type: ignore[misc]
    """A durable Host without its two timer threads (they segfault with concurrent states)."""

    def _run(self) -> None:
        pass


def _cents(text: str) -> int:
    return int(Decimal(text) * CENTS)


def flatten(ticket: dict[str, Any]) -> dict[str, Any]:
    """The ticket as one flat durable fact; money in cents; `high_value` computed here."""
    customer = ticket["customer"]
    tier = customer.get("tier", "one_time")
    ltv = _cents(customer.get("lifetime_value", "0"))
    fact: dict[str, Any] = {
        "kind": "ticket",
        "id": "t",
        "category": ticket.get("category", "other"),
        "severity": ticket.get("severity", "normal"),
        "tier": tier,
        "lifetime_value": ltv,
        "abusive": customer.get("abusive", False),
        "role": ticket["agent"]["role"],
        "high_value": tier in ("loyal", "advocate") or ltv >= 100_000,
    }
    request = ticket.get("request")
    if request is not None:
        fact["request_kind"] = request["kind"]
        fact["amount"] = _cents(request["amount"])
    item = ticket.get("item")
    if item is not None:
        fact["on_sale"] = item["on_sale"]
        fact["in_stock"] = item["in_stock"]
        if item.get("sale_price") is not None:
            fact["sale_price"] = _cents(item["sale_price"])
    promise = ticket.get("promise")
    if promise is not None:
        slack = date.fromisoformat(promise["delivery_date"]) - date.fromisoformat(
            promise["earliest_feasible"]
        )
        fact["promise_slack_days"] = slack.days
    return fact


def _on(kind: str, *tests: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"m": {"$and": [{"kind": kind}, *tests]}}]


def _ticket_rules() -> dict[str, list[dict[str, Any]]]:
    return {
        "abusive_customer": _on("ticket", {"abusive": True}),
        "employee_behavior_complaint": _on("ticket", {"category": "employee_behavior"}),
        "high_value_customer": _on(
            "ticket",
            {"$or": [{"tier": "loyal"}, {"tier": "advocate"}, {"$gte": {"lifetime_value": 100_000}}]},
        ),
        "over_front_line_limit": _on("ticket", {"high_value": False}, {"$gt": {"amount": 2000}}),
        "over_front_line_limit_high_value": _on("ticket", {"high_value": True}, {"$gt": {"amount": 5000}}),
        "over_senior_limit": _on("ticket", {"$gt": {"amount": 5000}}),
        "over_supervisor_limit": _on("ticket", {"$gt": {"amount": 10_000}}),
        "review_stocking": _on("ticket", {"category": "stock"}),
        "review_product": _on("ticket", {"category": "product"}),
        "honest_promise": _on("ticket", {"$lt": {"promise_slack_days": 0}}),
        "issue_raincheck": _on(
            "ticket",
            {"request_kind": "raincheck"},
            {"on_sale": True},
            {"in_stock": False},
            {"$ex": {"sale_price": 1}},
        ),
        "deny_raincheck": _on(
            "ticket",
            {"request_kind": "raincheck"},
            {
                "$or": [
                    {"$nex": {"on_sale": 1}},
                    {"$neq": {"on_sale": True}},
                    {"$nex": {"in_stock": 1}},
                    {"$neq": {"in_stock": False}},
                    {"$nex": {"sale_price": 1}},
                ]
            },
        ),
    }


def _decision_rules(kind: str) -> dict[str, list[dict[str, Any]]]:
    rules = {
        f"escalation_update_{severity}": _on(kind, {"outcome": "escalate"}, {"severity": severity})
        for severity in ("urgent", "high", "normal", "low")
    }
    rules["satisfaction_check"] = _on(kind, {"outcome": "approve"}, {"$gt": {"amount": 0}})
    return rules


class DurableBaseline:
    """(b) / (b1): the default bundle as hand-written durable_rules JSON, on durable's own Host."""

    def __init__(self, host: QuietHost, one_fact: bool) -> None:
        self.host = host
        self.one_fact = one_fact
        self.name = RULESET_ONE_FACT if one_fact else RULESET
        self.fired: list[str] = []
        self.errors = 0
        self._sids = itertools.count(1)
        ruleset: dict[str, dict[str, Any]] = {}
        for pri, (name, patterns) in enumerate(_ticket_rules().items()):
            ruleset[name] = {"pri": pri, "all": patterns, "run": self._record(name)}
        decision_kind = "ticket" if one_fact else "decision"
        for pri, (name, patterns) in enumerate(_decision_rules(decision_kind).items(), start=100):
            ruleset[name] = {"pri": pri, "all": patterns, "run": self._record(name)}
        catch_all = self._record("catch_all") if one_fact else self._decide
        ruleset["catch_all"] = {"pri": 65535, "all": [{"m": {"kind": "ticket"}}], "run": catch_all}
        # Ruleset.__init__ deletes `run` from the rule dicts it is given, so register fresh rule
        # dicts. Not `copy.deepcopy(ruleset)`: deepcopy of a bound method deep-copies its instance,
        # so `self._decide` would run on a copy of this object and never see `self.fired`.
        host.register_rulesets(
            {self.name: {name: {**rule, "all": copy.deepcopy(rule["all"])} for name, rule in ruleset.items()}}
        )

    def _record(self, name: str) -> Callable[[Any], None]:
        def run(c: Any) -> None:
            self.fired.append(name)

        return run

    def _decide(self, c: Any) -> None:
        """Catch-all on the ticket: fires last; asserts the decision fact for the follow-up rules."""
        self.fired.append("catch_all")
        ticket = c.m._d
        outcome, _ = resolve(self.fired, ticket["role"])
        fact: dict[str, Any] = {
            "kind": "decision",
            "id": "d",
            "outcome": outcome,
            "severity": ticket["severity"],
        }
        if "amount" in ticket:
            fact["amount"] = ticket["amount"]
        with contextlib.suppress(durable.engine.MessageNotHandledException):
            c.assert_fact(fact)  # raises when no follow-up rule wants this decision

    def run(self, ticket: dict[str, Any]) -> list[str]:
        """Assert the ticket in a fresh state; the fired rule names (catch-all included)."""
        self.fired = []
        fact = flatten(ticket)
        if self.one_fact:
            fact["outcome"] = Plain.decide(ticket)[0]
        sid = str(next(self._sids))
        fact["sid"] = sid
        try:
            state = self.host.assert_fact(self.name, fact)
            if state and "exception" in state:
                self.errors += 1
        finally:
            self.host.delete_state(self.name, sid)
        return self.fired


# --- (d) / (e) zen-engine -----------------------------------------------------------------------


class ZenPeer:
    """(d) / (e): benchmarks/zen_default_bundle.json on zen-engine, from the same flat fact as (b)."""

    def __init__(self) -> None:
        content = json.loads(ZEN_MODEL.read_text(encoding="utf-8"))
        self.engine = zen.ZenEngine({"loader": {"type": "static", "content": {ZEN_KEY: content}}})
        self._traced = {"trace": True}
        self._untraced = {"trace": False}

    def traced(self, ticket: dict[str, Any]) -> dict[str, Any]:
        return self.engine.evaluate(ZEN_KEY, zen_fact(ticket), self._traced)

    def untraced(self, ticket: dict[str, Any]) -> dict[str, Any]:
        return self.engine.evaluate(ZEN_KEY, zen_fact(ticket), self._untraced)

    @staticmethod
    def decided(response: dict[str, Any]) -> tuple[str, str, tuple[str, ...], tuple[str, ...]]:
        result = response["result"]
        return (
            result["outcome"],
            result["required_role"],
            tuple(sorted(action["kind"] for action in result["actions"])),
            tuple(sorted(follow_up["kind"] for follow_up in result["follow_ups"])),
        )

    @staticmethod
    def effects(response: dict[str, Any]) -> tuple[list[Any], list[Any], dict[str, list[str]]]:
        """Actions (kind, rule, parameters as canonical JSON), follow-ups (kind, rule, due) and
        reasons, in the form `_effects` gives csrules' (zen writes a date as `2026-01-01 00:00:00 UTC`)."""
        result = response["result"]
        actions = sorted(
            (
                a["kind"],
                a["rule"],
                json.dumps(
                    {k: _iso(v) if k == "valid_until" else v for k, v in a["params"].items()}, sort_keys=True
                ),
            )
            for a in result["actions"]
        )
        follow_ups = sorted((f["kind"], f["rule"], _iso(f["due"])) for f in result["follow_ups"])
        reasons = {k: sorted(v) for k, v in result["reasons"].items()}
        return actions, follow_ups, reasons


_NOW_TEXT = FIXED_NOW.isoformat()


def zen_fact(ticket: dict[str, Any]) -> dict[str, Any]:
    """(b)'s flat fact, with what the model needs for action parameters and due dates: `now`,
    the item's sku, the promise's earliest feasible date."""
    fact = flatten(ticket)
    fact["now"] = _NOW_TEXT
    item = ticket.get("item")
    if item is not None:
        fact["sku"] = item["sku"]
    promise = ticket.get("promise")
    if promise is not None:
        fact["earliest_feasible"] = promise["earliest_feasible"]
    return fact


def _iso(text: str) -> str:
    """zen's date text as the decision's JSON writes it."""
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S UTC").strftime("%Y-%m-%dT%H:%M:%SZ")


def _effects(decision: csrules.Decision) -> tuple[list[Any], list[Any], dict[str, list[str]]]:
    data = json.loads(decision.to_json())
    actions = sorted((a["kind"], a["rule"], json.dumps(a["params"], sort_keys=True)) for a in data["actions"])
    follow_ups = sorted((f["kind"], f["rule"], f["due"]) for f in data["follow_ups"])
    reasons = {k: sorted(v) for k, v in data["reasons"].items()}
    return actions, follow_ups, reasons


# --- (f) the floor -----------------------------------------------------------------------------


class _Recording:
    """A stand-in for the `durable_rules_engine` module inside csrules._durable: it passes every
    call on and records it."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    def __getattr__(self, name: str) -> Callable[..., Any]:
        function = getattr(self.real, name)

        def call(*args: Any) -> Any:
            self.calls.append((name, args))
            return function(*args)

        return call


_ASSERT, _START, _NEXT, _RETRACT = range(4)


class Floor:
    """(f1)-(f3): each part of the floor of a traced decision, timed alone."""

    def __init__(self, engine: csrules.Engine, tickets: list[dict[str, Any]]) -> None:
        real = _durable._engine
        recording = _Recording(real)
        self._engine = real
        self._programs: dict[str, list[tuple[int, int, str]]] = {}
        self._records: dict[str, list[tuple[Callable[[dict[str, Any]], Any], dict[str, Any]]]] = {}
        decisions = []
        _durable._engine = recording  # type: ignore[assignment]
        try:
            for ticket in tickets:
                recording.calls.clear()
                decisions.append(engine.evaluate(ticket, now=FIXED_NOW))
                self._programs[ticket["id"]] = self._program(recording.calls)
        finally:
            _durable._engine = real
        owners: dict[int, int] = {}  # id(record) -> how many decisions hold it
        for decision in decisions:
            for item in {id(r): r for r in _records(decision)}.values():
                owners[id(item)] = owners.get(id(item), 0) + 1
        for ticket, decision in zip(tickets, decisions, strict=True):
            self._records[ticket["id"]] = [
                (recorder(type(r)), dict(r.__dict__)) for r in _records(decision) if owners[id(r)] == 1
            ]
        self.records_per_decision = statistics.mean(len(r) for r in self._records.values())

    @staticmethod
    def _program(calls: list[tuple[str, tuple[Any, ...]]]) -> list[tuple[int, int, str]]:
        program: list[tuple[int, int, str]] = []
        for name, args in calls:
            if name == "assert_fact":
                text = args[1]
                assert text.startswith('{"sid":"'), text
                program.append((_ASSERT, args[0], text[text.index('"', 8) :]))  # from the sid's end
            elif name == "start_action_for_state":
                program.append((_START, args[0], ""))
            elif name == "complete_and_start_action":
                program.append((_NEXT, args[0], ""))
            elif name == "retract_facts":
                text = args[1].replace(f'"sid":"{_durable._SID}"', '"sid":"floor"')
                program.append((_RETRACT, args[0], text))
            else:
                raise AssertionError(f"unexpected C call {name}")
        return program

    def validate(self, ticket: dict[str, Any]) -> object:
        return csrules.Ticket.model_validate(ticket)

    def engine_calls(self, ticket: dict[str, Any]) -> object:
        engine = self._engine
        head = '{"sid":"floor'  # one state per ruleset, its facts retracted after each ticket, like csrules'
        states: dict[int, Any] = {}
        for op, handle, text in self._programs[ticket["id"]]:
            if op == _ASSERT:
                result = engine.assert_fact(handle, head + text)
                states.setdefault(handle, result[1])
            elif op == _START:
                engine.start_action_for_state(handle, states[handle])
            elif op == _NEXT:
                engine.complete_and_start_action(handle, states[handle])
            else:
                engine.retract_facts(handle, text)
        return states

    def records(self, ticket: dict[str, Any]) -> object:
        return [make(values.copy()) for make, values in self._records[ticket["id"]]]


def _records(decision: csrules.Decision) -> Iterable[Any]:
    """The records a traced decision consists of, the validated ticket (`trace.facts`) aside."""
    yield decision
    yield decision.reasons
    yield from decision.actions
    yield from decision.follow_ups
    yield decision.trace
    for step in decision.trace.steps:
        yield step
        yield from step.conditions
        yield from step.effects


# --- comparison and timing ----------------------------------------------------------------------


def check_agreement(
    engine: csrules.Engine,
    tickets: list[dict[str, Any]],
    chained: DurableBaseline,
    one_fact: DurableBaseline,
    peer: ZenPeer | None,
) -> None:
    disagreements = {
        "outcome+role (a) vs (b)": 0,
        "outcome+role (a) vs (b1)": 0,
        "outcome+role (a) vs (c)": 0,
        "fired rules (a) vs (b)": 0,
        "fired rules (a) vs (b1)": 0,
        "action kinds (a) vs (c)": 0,
        "follow-up kinds (a) vs (c)": 0,
    }
    if peer is not None:
        disagreements |= {
            "outcome+role (a) vs (d)": 0,
            "action kinds (a) vs (d)": 0,
            "follow-up kinds (a) vs (d)": 0,
            "actions with parameters (a) vs (d)": 0,
            "follow-ups with due dates (a) vs (d)": 0,
            "reasons (a) vs (d)": 0,
            "fired rules (a) vs (d), high_value_customer aside": 0,
            "result (d) vs (e)": 0,
        }
    shown = 0
    trace_bytes = {"(a)": 0, "(d)": 0}
    traced_sample = 0
    outcomes: dict[str, int] = {}
    fired_total = 0
    for ticket in tickets:
        decision = engine.evaluate(ticket, now=FIXED_NOW)
        a = (decision.outcome, decision.required_role)
        a_fired = set(decision.trace.fired)
        fired_total += len(a_fired)
        outcomes[decision.outcome] = outcomes.get(decision.outcome, 0) + 1
        b_fired = set(chained.run(ticket)) - {"catch_all"}
        b1_fired = set(one_fact.run(ticket)) - {"catch_all"}
        role = ticket["agent"]["role"]
        b = resolve(b_fired, role)
        b1 = resolve(b1_fired, role)
        c_outcome, c_role, c_actions, c_follow_ups = Plain.decide(ticket)
        a_actions = tuple(sorted(x.kind for x in decision.actions))
        a_follow_ups = tuple(sorted(x.kind for x in decision.follow_ups))
        checks = {
            "outcome+role (a) vs (b)": a == b,
            "outcome+role (a) vs (b1)": a == b1,
            "outcome+role (a) vs (c)": a == (c_outcome, c_role),
            "fired rules (a) vs (b)": a_fired == b_fired,
            "fired rules (a) vs (b1)": a_fired == b1_fired,
            "action kinds (a) vs (c)": a_actions == c_actions,
            "follow-up kinds (a) vs (c)": a_follow_ups == c_follow_ups,
        }
        d: tuple[str, str, tuple[str, ...], tuple[str, ...]] | None = None
        if peer is not None:
            d_response = peer.traced(ticket)
            e_response = peer.untraced(ticket)
            d = peer.decided(d_response)
            d_fired = set(d_response["result"]["fired"])
            checks |= {
                "outcome+role (a) vs (d)": a == d[:2],
                "action kinds (a) vs (d)": a_actions == d[2],
                "follow-up kinds (a) vs (d)": a_follow_ups == d[3],
                **dict(
                    zip(
                        (
                            "actions with parameters (a) vs (d)",
                            "follow-ups with due dates (a) vs (d)",
                            "reasons (a) vs (d)",
                        ),
                        map(operator.eq, _effects(decision), peer.effects(d_response)),
                        strict=True,
                    )
                ),
                "fired rules (a) vs (d), high_value_customer aside": a_fired - {"high_value_customer"}
                == d_fired,
                "result (d) vs (e)": d_response["result"] == e_response["result"],
            }
            if traced_sample < 200:
                traced_sample += 1
                trace_bytes["(a)"] += len(decision.trace.model_dump_json())
                trace_bytes["(d)"] += len(json.dumps(d_response["trace"], ensure_ascii=False))
        failed = [name for name, ok in checks.items() if not ok]
        for name in failed:
            disagreements[name] += 1
        if failed and shown < 5:
            shown += 1
            print(f"  DISAGREEMENT on {ticket['id']}: {', '.join(failed)}")
            print(f"    ticket: {ticket}")
            print(f"    (a) {a} fired={sorted(a_fired)}")
            print(f"    (b) {b} fired={sorted(b_fired)}   (b1) {b1} fired={sorted(b1_fired)}")
            print(f"    (c) {(c_outcome, c_role)} actions={c_actions} follow_ups={c_follow_ups}")
            if d is not None:
                print(f"    (d) {d}")
    print(
        f"checked {len(tickets)} tickets: outcomes {dict(sorted(outcomes.items()))}, "
        f"{fired_total / len(tickets):.2f} rules fired per ticket (csrules)"
    )
    for name, count in disagreements.items():
        print(f"  disagreements, {name}: {count}")
    print(f"  total disagreements: {sum(disagreements.values())}")
    print(f"  durable action exceptions (state['exception']): {chained.errors + one_fact.errors}")
    if traced_sample:
        print(
            f"  trace per decision as JSON (mean of the first {traced_sample} tickets): "
            f"(a) csrules {trace_bytes['(a)'] / traced_sample / 1024:.1f} KiB, "
            f"(d) zen-engine {trace_bytes['(d)'] / traced_sample / 1024:.1f} KiB"
        )


def _decided(decision: csrules.Decision | csrules.TicketError) -> str:
    """What a traced and an untraced decision must agree on, as JSON."""
    if isinstance(decision, csrules.TicketError):
        return f"TicketError {decision}"
    return decision.model_dump_json(include={"outcome", "required_role", "reasons", "actions", "follow_ups"})


def time_pass(
    call: Callable[[dict[str, Any]], object], tickets: list[dict[str, Any]]
) -> tuple[list[int], int]:
    """Per-call nanoseconds (in ticket order) and the wall time of the whole pass."""
    samples = [0] * len(tickets)
    clock = time.perf_counter_ns
    start = clock()
    for index, ticket in enumerate(tickets):
        before = clock()
        call(ticket)
        samples[index] = clock() - before
    return samples, clock() - start


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tickets", type=int, default=5000, help="tickets to generate (default 5000)")
    parser.add_argument("--repeats", type=int, default=5, help="timed passes per implementation (default 5)")
    parser.add_argument("--seed", type=int, default=1, help="ticket generator seed (default 1)")
    args = parser.parse_args()

    tickets = generate_tickets(args.tickets, args.seed)
    engine = csrules.load()
    host = QuietHost()
    chained = DurableBaseline(host, one_fact=False)
    one_fact = DurableBaseline(host, one_fact=True)
    peer = ZenPeer() if zen is not None else None
    print(f"{args.tickets} tickets (seed {args.seed}), {args.repeats} repeats, now={FIXED_NOW.isoformat()}")
    print(
        f"csrules {csrules.__version__}, policy {engine.policy_digest[:12]}, {len(engine.bundle.rules)} rules"
    )
    if peer is None:
        print(
            "zen-engine is not installed: rows (d) and (e) are skipped. "
            "Install it with `pip install -e '.[bench]'` (`make bench` does)."
        )
    else:
        print(f"zen-engine {importlib.metadata.version('zen-engine')}, model {ZEN_MODEL.name}")
    print()
    check_agreement(engine, tickets, chained, one_fact, peer)
    print()

    def evaluate(ticket: dict[str, Any]) -> csrules.Decision:
        return engine.evaluate(ticket, now=FIXED_NOW)

    def untraced(ticket: dict[str, Any]) -> csrules.Decision | csrules.TicketError:
        return next(engine.evaluate_many([ticket], now=FIXED_NOW, trace=False))

    differing = sum(_decided(evaluate(t)) != _decided(untraced(t)) for t in tickets)
    print(f"  disagreements, (a) vs (a0) on outcome, role, actions, follow-ups: {differing}")
    print()

    implementations: list[tuple[str, Callable[[dict[str, Any]], object]]] = [
        ("(a) csrules evaluate, full trace", evaluate),
        ("(a0) csrules, no trace (for reference)", untraced),
        ("(b) durable Host, no trace, chained", chained.run),
        ("(b1) durable Host, no trace, one fact", one_fact.run),
        ("(c) plain Python", Plain.decide),
    ]
    if peer is not None:
        implementations += [
            ("(d) zen-engine, with trace", peer.traced),
            ("(e) zen-engine, no trace", peer.untraced),
        ]
    floor = Floor(engine, tickets)
    floors = [
        ("(f1) floor: ticket validation", floor.validate),
        ("(f2) floor: the C engine calls", floor.engine_calls),
        ("(f3) floor: the decision's own records", floor.records),
    ]
    implementations += floors
    medians: dict[str, list[float]] = {name: [] for name, _ in implementations}
    p99s: dict[str, list[float]] = {name: [] for name, _ in implementations}
    walls: dict[str, list[float]] = {name: [] for name, _ in implementations}
    for _, call in implementations:  # warm-up
        for ticket in tickets[:200]:
            call(ticket)
    for repeat in range(args.repeats):
        shift = repeat % len(implementations)
        for name, call in implementations[shift:] + implementations[:shift]:
            samples, wall = time_pass(call, tickets)
            ordered = sorted(samples)
            medians[name].append(statistics.median(ordered) / 1000)
            p99s[name].append(percentile([float(s) for s in ordered], 0.99) / 1000)
            walls[name].append(wall / 1e9)

    base = "(b) durable Host, no trace, chained"
    base_median = statistics.median(medians[base])
    base_p99 = statistics.median(p99s[base])
    print(f"latency per decision, median over {args.repeats} repeats of each repeat's median / p99:")
    header = f"{'implementation':<40} {'median µs':>10} {'p99 µs':>10} {'median/(b)':>11} {'p99/(b)':>9}"
    print(header)
    print("-" * len(header))
    for name, _ in implementations:
        median = statistics.median(medians[name])
        p99 = statistics.median(p99s[name])
        print(
            f"{name:<40} {median:>10.1f} {p99:>10.1f} {median / base_median:>10.2f}x {p99 / base_p99:>8.2f}x"
        )
    print()
    a_name = implementations[0][0]
    a_median = statistics.median(medians[a_name])
    a_p99 = statistics.median(p99s[a_name])
    print("the issue's targets (median; p99 for information):")
    print(
        f"  (a) csrules traced / (b) durable host, no trace: {a_median / base_median:.2f}x; "
        f"{a_p99 / base_p99:.2f}x   (target: at most 0.50x)"
    )
    if peer is not None:
        zen_name = "(d) zen-engine, with trace"
        zen_median = statistics.median(medians[zen_name])
        zen_p99 = statistics.median(p99s[zen_name])
        print(
            f"  (a) csrules traced / (d) zen-engine traced:      {a_median / zen_median:.2f}x; "
            f"{a_p99 / zen_p99:.2f}x   (target: at most 1.00x)"
        )
    else:
        print("  (a) csrules traced / (d) zen-engine traced: skipped (zen-engine not installed)")
    print()
    floor_median = sum(statistics.median(medians[name]) for name, _ in floors)
    print(
        f"the floor of a traced decision, (f1) + (f2) + (f3), before any logic "
        f"({floor.records_per_decision:.1f} own records per decision): {floor_median:.1f} µs"
    )
    print(
        f"  floor / (b) durable host, no trace: {floor_median / base_median:.2f}x"
        "   (the target for (a): 0.50x)"
    )
    if peer is not None:
        print(
            f"  floor / (d) zen-engine traced:      {floor_median / zen_median:.2f}x"
            "   (the target for (a): 1.00x)"
        )
    print(f"  (a) above the floor: {a_median - floor_median:.1f} µs (csrules' own logic and glue)")
    print()
    pass_seconds = statistics.median(walls[a_name])
    spread = ", ".join(f"{m:.0f}" for m in medians[a_name])
    rate = args.tickets / pass_seconds
    print(f"(a) evaluations/second: {rate:,.0f} (from the median wall time of a whole pass)")
    print(f"(a) per-repeat medians µs: {spread}")


if __name__ == "__main__":
    main()
