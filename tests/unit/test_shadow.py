"""Shadow mode: live decisions unchanged, divergences and candidate failures recorded, nothing leaks."""

from __future__ import annotations

import contextlib
import errno
import json
import multiprocessing
import os
import re
import shutil
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

import csrules
from csrules.shadow import compare_decisions
from tests.helpers import NOW, ROOT, make_ticket, refund

Record = csrules.Divergence | csrules.ShadowFailure

AMOUNTS = ["0.00", "5.00", "19.99", "20.00", "20.01", "22.50", "25.00", "25.01", "49.99", "50.01", "120.00"]


@pytest.fixture(scope="module")
def candidate_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default bundle with `front_line_limit` raised from 20 to 25."""
    copy = tmp_path_factory.mktemp("candidate") / "policies"
    shutil.copytree(ROOT / "policies", copy)
    path = copy / "empowerment.yaml"
    text = path.read_text(encoding="utf-8")
    old = "  front_line_limit:\n    type: money\n    default: 20\n"
    assert old in text
    path.write_text(text.replace(old, old.replace("20", "25")), encoding="utf-8")
    return copy


def tickets() -> list[dict[str, Any]]:
    """Refunds around the limits, for plain and high-value customers, front-line and senior agents."""
    found = []
    for amount in AMOUNTS:
        for tier in ("one_time", "loyal"):
            for role in ("front_line", "senior"):
                ticket = refund(amount, tier=tier, role=role)
                ticket["id"] = f"T-{amount}-{tier}-{role}"
                found.append(ticket)
    found.append(make_ticket(id="T-quiet"))
    # The examples: actions with money params (a raincheck), conduct rules, promises, follow-ups.
    for path in sorted((ROOT / "examples" / "tickets").glob("*.json")):
        found.append(json.loads(path.read_text(encoding="utf-8")))
    return found


def in_changed_band(ticket: dict[str, Any]) -> bool:
    request = ticket.get("request")
    return (
        request is not None
        and 20 < float(request["amount"]) <= 25
        and ticket["customer"].get("tier") == "one_time"
    )


def test_identical_bundles_never_diverge_and_live_json_is_byte_identical(engine: csrules.Engine) -> None:
    records: list[Record] = []
    shadow = csrules.load(shadow=csrules.default_policies(), sink=records.append)
    assert isinstance(shadow, csrules.ShadowEngine)
    for ticket in tickets():
        assert shadow.evaluate(ticket, now=NOW).to_json() == engine.evaluate(ticket, now=NOW).to_json()
    assert records == []
    count = len(tickets())
    assert shadow.stats == csrules.ShadowStats(evaluations=count, shadowed=count)


def test_raised_front_line_limit_diverges_exactly_between_20_and_25(
    engine: csrules.Engine, candidate_dir: Path
) -> None:
    records: list[Record] = []
    shadow = csrules.load(shadow=candidate_dir, sink=records.append)
    for ticket in tickets():
        assert shadow.evaluate(ticket, now=NOW).to_json() == engine.evaluate(ticket, now=NOW).to_json()
    expected_ids = [t["id"] for t in tickets() if in_changed_band(t)]
    assert [r.ticket_id for r in records] == expected_ids
    assert len(expected_ids) == 6  # 20.01, 22.50, 25.00 x front_line, senior
    assert shadow.stats.divergences == 6
    assert shadow.stats.shadow_failures == 0


def test_a_divergence_names_both_outcomes_and_the_rules_that_differ(candidate_dir: Path) -> None:
    records: list[Record] = []
    shadow = csrules.load(shadow=candidate_dir, sink=records.append)
    live = shadow.evaluate(refund("22.50", tier="one_time"), now=NOW)
    assert (live.outcome, live.required_role) == ("escalate", "senior")
    [divergence] = records
    assert isinstance(divergence, csrules.Divergence)
    assert divergence.ticket_id == "T-1"
    assert divergence.evaluated_at == NOW
    assert divergence.live_digest == shadow.policy_digest == shadow.live.policy_digest
    assert divergence.candidate_digest == shadow.candidate.policy_digest != shadow.policy_digest
    assert (divergence.live_outcome, divergence.candidate_outcome) == ("escalate", "approve")
    assert (divergence.live_required_role, divergence.candidate_required_role) == ("senior", "front_line")
    assert divergence.fired_only_live == ["escalation_update_normal", "over_front_line_limit"]
    assert divergence.fired_only_candidate == ["satisfaction_check"]
    assert hash(csrules.Divergence.model_validate_json(divergence.to_json())) == hash(divergence)
    assert divergence.actions_added == divergence.actions_removed == []
    assert [(f.kind, f.rule) for f in divergence.follow_ups_removed] == [
        ("escalation_update", "escalation_update_normal")
    ]
    assert [(f.kind, f.rule) for f in divergence.follow_ups_added] == [
        ("satisfaction_check", "satisfaction_check")
    ]
    as_dict = json.loads(divergence.to_json())
    assert as_dict == divergence.as_dict()
    assert as_dict["record"] == "divergence"
    assert as_dict["evaluated_at"] == "2026-11-23T15:00:00Z"


def test_a_senior_agent_diverges_only_in_the_rules_that_fired(candidate_dir: Path) -> None:
    """Same outcome and role (a senior approves either way), but `over_front_line_limit` fired only live."""
    records: list[Record] = []
    shadow = csrules.load(shadow=candidate_dir, sink=records.append)
    shadow.evaluate(refund("25.00", role="senior"), now=NOW)
    [divergence] = records
    assert isinstance(divergence, csrules.Divergence)
    assert divergence.live_outcome == divergence.candidate_outcome == "approve"
    assert divergence.live_required_role == "senior"
    assert divergence.candidate_required_role == "front_line"
    assert divergence.fired_only_live == ["over_front_line_limit"]
    assert divergence.fired_only_candidate == []


def test_compare_decisions_of_one_decision_is_none(engine: csrules.Engine) -> None:
    decision = engine.evaluate(refund("45.00", tier="loyal"), now=NOW)
    assert compare_decisions(decision, decision) is None


def test_a_follow_up_due_later_is_a_divergence(engine: csrules.Engine) -> None:
    """Kinds alike but due times differ: still a divergence (the candidate changed a deadline)."""
    live = engine.evaluate(refund("30.00"), now=NOW)
    later = live.model_copy(
        update={
            "follow_ups": [f.model_copy(update={"due": f.due + timedelta(hours=1)}) for f in live.follow_ups]
        }
    )
    divergence = compare_decisions(live, later)
    assert divergence is not None
    assert divergence.fired_only_live == divergence.fired_only_candidate == []
    assert divergence.follow_ups_removed == live.follow_ups
    assert divergence.follow_ups_added == later.follow_ups


def test_an_action_with_other_params_is_a_divergence(engine: csrules.Engine) -> None:
    """Same action kinds, but the candidate honours another price: the action is removed and added."""
    ticket = json.loads(
        (ROOT / "examples" / "tickets" / "deli_sale_out_of_stock.json").read_text(encoding="utf-8")
    )
    live = engine.evaluate(ticket, now=NOW)
    repriced = [
        a.model_copy(update={"params": {**a.params, "honored_price": Decimal("4.99")}})
        if a.kind == "issue_raincheck"
        else a
        for a in live.actions
    ]
    divergence = compare_decisions(live, live.model_copy(update={"actions": repriced}))
    assert divergence is not None
    assert [a.kind for a in divergence.actions_removed] == [a.kind for a in divergence.actions_added]
    assert [a.kind for a in divergence.actions_added] == ["issue_raincheck"]
    assert divergence.actions_added[0].params["honored_price"] == Decimal("4.99")
    assert compare_decisions(live, live.model_copy(update={"actions": list(live.actions)})) is None


@pytest.mark.parametrize(
    ("live", "candidate", "diverges"),
    [
        ("1", "1.00", False),
        ("5", "5.0", False),
        ("0", "-0.0", False),
        ("1", "1.01", True),
        ("1", "'1'", True),
    ],
)
def test_action_params_are_compared_as_decisions_combine_them(
    tmp_path: Path, live: str, candidate: str, diverges: bool
) -> None:
    """`1` and `1.00` are one number for a decision's actions (docs/decisions.md) and for `csrules
    diff`; shadow mode compared their JSON text and recorded a divergence."""
    bundles = []
    for name, literal in (("live", live), ("candidate", candidate)):
        shutil.copytree(ROOT / "policies", tmp_path / name)
        path = tmp_path / name / "rainchecks.yaml"
        text = path.read_text(encoding="utf-8")
        line = "            sku: {fact: item.sku}\n"
        path.write_text(text.replace(line, f"{line}            copies: {literal}\n"), encoding="utf-8")
        bundles.append(tmp_path / name)
    records: list[Record] = []
    shadow = csrules.load(bundles[0], shadow=bundles[1], sink=records.append)
    ticket = json.loads((ROOT / "examples/tickets/deli_sale_out_of_stock.json").read_text(encoding="utf-8"))
    decision = shadow.evaluate(ticket, now=NOW)
    assert [a.params["copies"] for a in decision.actions if a.kind == "issue_raincheck"] == [int(live)]
    assert shadow.stats.divergences == len(records) == int(diverges)
    if diverges:
        assert isinstance(records[0], csrules.Divergence)
        assert [a.kind for a in records[0].actions_added] == ["issue_raincheck"]


def test_candidate_refusing_the_ticket_records_a_failure_and_live_is_intact(engine: csrules.Engine) -> None:
    records: list[Record] = []
    shadow = csrules.load(
        shadow=csrules.default_policies(), shadow_params={"currency": "EUR"}, sink=records.append
    )
    ticket = refund("45.00", tier="loyal")
    ticket["request"]["currency"] = "USD"  # a request naming no currency is in the bundle's
    assert shadow.evaluate(ticket, now=NOW).to_json() == engine.evaluate(ticket, now=NOW).to_json()
    [failure] = records
    assert isinstance(failure, csrules.ShadowFailure)
    assert hash(csrules.ShadowFailure.model_validate_json(failure.to_json())) == hash(failure)
    assert failure.ticket_id == "T-1"
    assert failure.error_type == "TicketError"
    assert failure.code == "currency-mismatch"
    assert "/request/currency" in failure.message
    assert (failure.live_outcome, failure.live_required_role) == ("approve", "front_line")
    assert failure.candidate_digest == shadow.candidate.policy_digest
    assert json.loads(failure.to_json())["record"] == "shadow_failure"
    assert shadow.stats == csrules.ShadowStats(evaluations=1, shadowed=1, shadow_failures=1)


class _Unspeakable(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no message")


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (csrules.EngineError("durable_rules failed"), ("EngineError", None, "durable_rules failed")),
        (KeyError("boom"), ("KeyError", None, "'boom'")),
        # Building the record called str(exc): its RuntimeError reached the caller, and the live
        # decision was lost.
        (_Unspeakable(), ("_Unspeakable", None, "(_Unspeakable: its message cannot be shown)")),
    ],
)
def test_any_candidate_exception_becomes_a_failure_record(
    engine: csrules.Engine, monkeypatch: pytest.MonkeyPatch, error: Exception, expected: tuple[str, None, str]
) -> None:
    candidate = csrules.load()

    def explode(*args: Any, **kwargs: Any) -> None:
        raise error

    monkeypatch.setattr(candidate, "evaluate", explode)
    records: list[Record] = []
    shadow = csrules.ShadowEngine(engine, candidate, sink=records.append)
    ticket = refund("30.00")
    assert shadow.evaluate(ticket, now=NOW).to_json() == engine.evaluate(ticket, now=NOW).to_json()
    [failure] = records
    assert isinstance(failure, csrules.ShadowFailure)
    assert (failure.error_type, failure.code, failure.message) == expected


@pytest.mark.parametrize("trace", [True, False])
def test_a_timeout_landing_in_the_candidates_turn_reaches_the_caller(
    engine: csrules.Engine, monkeypatch: pytest.MonkeyPatch, trace: bool
) -> None:
    """A signal-based request timeout (`TimeoutError`, an Exception) that landed while the
    candidate decided was swallowed: the call returned after its deadline, and the sink got a
    ShadowFailure blaming the candidate."""
    candidate = csrules.load()

    def deadline(*args: Any, **kwargs: Any) -> None:
        raise TimeoutError("request deadline")

    monkeypatch.setattr(candidate, "evaluate" if trace else "evaluate_many", deadline)
    records: list[Record] = []
    shadow = csrules.ShadowEngine(engine, candidate, sink=records.append)
    decide = (
        (lambda: shadow.evaluate(refund("30.00"), now=NOW))
        if trace
        else (lambda: list(shadow.evaluate_many([refund("30.00")], now=NOW, trace=False)))
    )
    with pytest.raises(TimeoutError, match="request deadline"):
        decide()
    assert records == []


def test_a_raising_sink_is_counted_and_the_live_decision_returned(
    engine: csrules.Engine, candidate_dir: Path
) -> None:
    def sink(record: Record) -> None:
        raise OSError("disk full")

    shadow = csrules.load(shadow=candidate_dir, sink=sink)
    for ticket in tickets():
        assert shadow.evaluate(ticket, now=NOW).to_json() == engine.evaluate(ticket, now=NOW).to_json()
    assert shadow.stats.divergences == 6
    assert shadow.stats.sink_failures == 6


def test_live_errors_propagate_unchanged_and_the_candidate_is_not_run(
    engine: csrules.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    candidate = csrules.load()
    calls: list[Any] = []
    monkeypatch.setattr(candidate, "evaluate", lambda *a, **k: calls.append(a))
    records: list[Record] = []
    shadow = csrules.ShadowEngine(engine, candidate, sink=records.append)
    bad = refund("-5")
    with pytest.raises(csrules.TicketError) as plain:
        engine.evaluate(bad, now=NOW)
    with pytest.raises(csrules.TicketError) as shadowed:
        shadow.evaluate(bad, now=NOW)
    assert (shadowed.value.path, shadowed.value.code, str(shadowed.value)) == (
        plain.value.path,
        plain.value.code,
        str(plain.value),
    )
    with pytest.raises(csrules.TicketError, match="invalid-now"):
        shadow.evaluate(refund("5"), now=datetime(2026, 11, 23, 15, 0))
    assert calls == []
    assert records == []
    assert shadow.stats == csrules.ShadowStats()


def test_both_engines_decide_at_the_same_instant(
    engine: csrules.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    candidate = csrules.load()
    seen: list[datetime] = []
    real = candidate.evaluate

    def spy(ticket: Any, *, now: datetime | None = None) -> csrules.Decision:
        assert now is not None
        seen.append(now)
        return real(ticket, now=now)

    monkeypatch.setattr(candidate, "evaluate", spy)
    shadow = csrules.ShadowEngine(engine, candidate, sink=lambda record: None)
    decision = shadow.evaluate(refund("5"))  # now defaults to the current time, read once
    assert seen == [decision.trace.evaluated_at]
    eastern = NOW.astimezone(timezone(timedelta(hours=-5)))
    decision = shadow.evaluate(refund("5"), now=eastern)
    assert decision.trace.evaluated_at == seen[-1] == NOW
    assert seen[-1].tzinfo is UTC


def test_sampling_is_decided_by_the_ticket_id(engine: csrules.Engine, candidate_dir: Path) -> None:
    candidate = csrules.load(candidate_dir)
    batch = [{**refund("22.50"), "id": f"T-{n}"} for n in range(200)]

    def shadowed_ids(sample: float) -> list[str]:
        records: list[Record] = []
        shadow = csrules.ShadowEngine(engine, candidate, sink=records.append, sample=sample)
        for ticket in batch:
            shadow.evaluate(ticket, now=NOW)
        assert shadow.stats.shadowed == shadow.stats.divergences == len(records)
        assert shadow.stats.evaluations == len(batch)
        return [r.ticket_id for r in records]

    half = shadowed_ids(0.5)
    assert 70 <= len(half) <= 130
    assert shadowed_ids(0.5) == half  # the same tickets again, not a fresh draw
    assert set(shadowed_ids(0.25)) <= set(half)  # a smaller share is a subset
    assert shadowed_ids(0.0) == []
    assert len(shadowed_ids(1.0)) == len(batch)


def test_threads_get_the_plain_results_and_each_divergence_once(
    engine: csrules.Engine, candidate_dir: Path
) -> None:
    per_thread = [
        [{**t, "id": f"{t['id']}#{n}.{copy}"} for copy in range(6) for t in tickets()] for n in range(8)
    ]
    expected = {
        n: [engine.evaluate(t, now=NOW).to_json() for t in batch] for n, batch in enumerate(per_thread)
    }
    records: list[Record] = []
    shadow = csrules.load(shadow=candidate_dir, sink=records.append)
    results: dict[int, list[str]] = {}
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            results[n] = [shadow.evaluate(t, now=NOW).to_json() for t in per_thread[n]]
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert results == expected
    diverging = sorted(t["id"] for batch in per_thread for t in batch if in_changed_band(t))
    assert len(diverging) == 8 * 6 * 6
    assert sorted(r.ticket_id for r in records) == diverging
    total = sum(len(batch) for batch in per_thread)
    assert shadow.stats == csrules.ShadowStats(evaluations=total, shadowed=total, divergences=len(diverging))


def test_json_lines_sink_appends_one_canonical_line_per_record(tmp_path: Path, candidate_dir: Path) -> None:
    path = tmp_path / "divergences.jsonl"
    sink = csrules.JsonLinesSink(path)
    assert path.read_text(encoding="utf-8") == ""  # created when the sink is made
    shadow = csrules.load(shadow=candidate_dir, sink=sink)
    for ticket in tickets():
        shadow.evaluate(ticket, now=NOW)
    failing = csrules.load(shadow=candidate_dir, shadow_params={"currency": "EUR"}, sink=sink)
    failing.evaluate(
        {**refund("5"), "request": {"kind": "refund", "amount": "5", "currency": "USD"}}, now=NOW
    )
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 7
    parsed = [json.loads(line) for line in lines]
    assert [p["record"] for p in parsed] == ["divergence"] * 6 + ["shadow_failure"]
    assert all(
        line == json.dumps(p, sort_keys=True, separators=(",", ":"))
        for line, p in zip(lines, parsed, strict=True)
    )
    assert csrules.Divergence.model_validate(parsed[0]).ticket_id == parsed[0]["ticket_id"]
    assert csrules.ShadowFailure.model_validate(parsed[-1]).code == "currency-mismatch"


def test_json_lines_sink_keeps_its_file_after_a_chdir_and_takes_only_records(
    tmp_path: Path, candidate_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A relative path was opened again for each record, in whatever the current directory had
    become; anything but a record raised AttributeError from inside the sink."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    monkeypatch.chdir(tmp_path / "a")
    sink = csrules.JsonLinesSink("divergences.jsonl")
    assert sink.path == tmp_path / "a" / "divergences.jsonl"
    monkeypatch.chdir(tmp_path / "b")
    shadow = csrules.load(shadow=candidate_dir, sink=sink)
    diverging = [t for t in tickets() if compare_decisions(*_both(shadow, t)) is not None][:1]
    shadow.evaluate(diverging[0], now=NOW)
    assert len((tmp_path / "a" / "divergences.jsonl").read_text(encoding="utf-8").split("\n")) == 2
    assert not (tmp_path / "b" / "divergences.jsonl").exists()
    # `..` after a link goes up from the link's target, as `open` reads it, not by text alone.
    (tmp_path / "var" / "logs" / "app").mkdir(parents=True)
    (tmp_path / "b" / "app").symlink_to(tmp_path / "var" / "logs" / "app")
    assert (
        csrules.JsonLinesSink("app/../linked.jsonl").path.resolve()
        == tmp_path / "var" / "logs" / "linked.jsonl"
    )
    assert (tmp_path / "var" / "logs" / "linked.jsonl").exists()
    for wrong in ({"record": "divergence"}, None, "text"):
        with pytest.raises(
            TypeError, match=r"^JsonLinesSink takes a csrules\.Divergence or csrules\.ShadowFailure, got "
        ):
            sink(wrong)  # type: ignore[arg-type]


def _both(shadow: csrules.ShadowEngine, ticket: dict[str, Any]) -> tuple[csrules.Decision, csrules.Decision]:
    return shadow.live.evaluate(ticket, now=NOW), shadow.candidate.evaluate(ticket, now=NOW)


def test_json_lines_sink_in_a_missing_directory_fails_when_made(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        csrules.JsonLinesSink(tmp_path / "missing" / "divergences.jsonl")


def test_json_lines_sink_at_a_path_no_file_can_have_fails_with_os_error(tmp_path: Path) -> None:
    """A NUL in the path raised ValueError("embedded null byte"); the documented failure is OSError."""
    with pytest.raises(OSError, match=r"^cannot open '.*a\\x00b' for appending: embedded null byte$"):
        csrules.JsonLinesSink(f"{tmp_path}/a\0b")


def test_json_lines_sink_on_a_fifo_no_one_reads_fails_instead_of_blocking(
    tmp_path: Path, candidate_dir: Path
) -> None:
    """Opening a FIFO for appending waits for a reader: making the sink, and later each record, in
    the evaluating thread, blocked for as long as no process read the FIFO."""
    fifo = tmp_path / "divergences.fifo"
    os.mkfifo(fifo)
    outcome: list[object] = []
    worker = threading.Thread(target=lambda: outcome.append(_made(fifo)), daemon=True)
    worker.start()
    worker.join(10)
    assert not worker.is_alive(), "JsonLinesSink blocked on a FIFO with no reader"
    (error,) = outcome
    assert isinstance(error, OSError)
    assert error.errno == errno.ENXIO
    # With a reader the records arrive; once it left, a record is a counted sink failure, no wait.
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    sink = csrules.JsonLinesSink(fifo)
    shadow = csrules.load(shadow=candidate_dir, sink=sink)
    diverging = [t for t in tickets() if compare_decisions(*_both(shadow, t)) is not None][:2]
    shadow.evaluate(diverging[0], now=NOW)
    line = os.read(reader, 1 << 20).decode("utf-8")
    assert line.endswith("\n")
    assert json.loads(line)["record"] == "divergence"
    os.close(reader)
    worker = threading.Thread(target=lambda: shadow.evaluate(diverging[1], now=NOW), daemon=True)
    worker.start()
    worker.join(10)
    assert not worker.is_alive(), "a record to a FIFO whose reader left blocked the evaluation"
    assert shadow.stats.sink_failures == 1


def _made(path: Path) -> object:
    try:
        return csrules.JsonLinesSink(path)
    except OSError as exc:
        return exc


def test_shadow_evaluate_many_checks_its_tickets_at_the_call() -> None:
    shadow = csrules.load(shadow=csrules.default_policies(), sink=print)
    with pytest.raises(
        TypeError, match=r"^evaluate_many\(\): `tickets` must be an iterable of tickets, got int$"
    ):
        shadow.evaluate_many(5, now=NOW)  # type: ignore[arg-type]


def test_shadow_without_a_sink_is_refused() -> None:
    with pytest.raises(TypeError, match="sink"):
        csrules.load(shadow=csrules.default_policies())  # type: ignore[call-overload]


@pytest.mark.parametrize(
    "options",
    [
        {"sink": print},
        {"shadow_params": {"front_line_limit": 25}},
        {"sample": 0.5},
        {"sample": Decimal("sNaN")},  # compared with 1.0, it raised InvalidOperation
    ],
)
def test_shadow_options_without_shadow_are_refused(options: dict[str, Any]) -> None:
    with pytest.raises(TypeError, match="need `shadow`"):
        csrules.load(**options)


@pytest.mark.parametrize(
    "sample",
    [
        -0.1,
        1.5,
        float("nan"),
        Decimal("NaN"),
        Decimal("sNaN"),
        Decimal("1.01"),
        Decimal("1e400"),
        pytest.param(10**400, id="10**400"),
        pytest.param(-(10**400), id="-10**400"),
        pytest.param(Fraction(10**400), id="Fraction(10**400)"),
    ],
)
def test_sample_outside_0_to_1_is_refused(sample: float) -> None:
    """A Decimal NaN raised `decimal.InvalidOperation`, an int beyond any float `OverflowError`."""
    with pytest.raises(ValueError, match=r"^`sample` must be between 0 and 1, got `"):
        csrules.load(shadow=csrules.default_policies(), sink=print, sample=sample)


@pytest.mark.parametrize("sample", ["0.5", None, True, [0.5]])
def test_a_sample_that_is_not_a_number_is_refused(sample: object) -> None:
    """`"0.5"` and None raised a bare `'<=' not supported` TypeError, and True was taken as 1."""
    with pytest.raises(
        TypeError, match=rf"^`sample` must be a number from 0 to 1, got `{re.escape(repr(sample))}`$"
    ):
        csrules.load(shadow=csrules.default_policies(), sink=print, sample=sample)  # type: ignore[call-overload]


@pytest.mark.parametrize("sample", [0, 1, Decimal("0.25")])
def test_a_sample_of_any_number_type_is_taken(sample: object) -> None:
    shadow = csrules.load(shadow=csrules.default_policies(), sink=print, sample=sample)  # type: ignore[call-overload]
    assert shadow.sample == float(sample)  # type: ignore[arg-type]
    assert type(shadow.sample) is float


def test_closing_a_shadow_engine_while_threads_evaluate_records_no_failure() -> None:
    """The reload pattern: `close()` from one thread while others evaluate. A close between an
    evaluation's live and candidate decisions made the candidate raise "the engine is closed",
    recorded as a ShadowFailure, as if the candidate were broken (2 or 3 per reload under load)."""
    records: list[Record] = []
    shadow = csrules.load(shadow=csrules.default_policies(), sink=records.append)
    started = threading.Barrier(5)
    decided: list[int] = [0] * 4

    def work(n: int) -> None:
        started.wait()
        while True:
            try:
                shadow.evaluate(refund("22.50", tier="one_time"), now=NOW)
            except csrules.EngineError:
                return
            decided[n] += 1

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    started.wait()
    while sum(decided) < 400:
        time.sleep(0.01)
    shadow.close()
    for thread in threads:
        thread.join()
    assert records == []
    stats = shadow.stats
    assert stats.evaluations == sum(decided)
    assert stats.shadow_failures == 0
    assert sum(decided) - 4 <= stats.shadowed <= sum(decided)  # at most one cut short per thread


def test_a_non_callable_sink_is_refused(engine: csrules.Engine) -> None:
    with pytest.raises(TypeError, match="callable"):
        csrules.ShadowEngine(engine, engine, sink="divergences.jsonl")  # type: ignore[arg-type]
    # The class is callable, but calling it makes a sink and appends nothing: every record lost.
    with pytest.raises(TypeError, match=r"^`sink` must be a JsonLinesSink\(path\), not the class itself$"):
        csrules.load(shadow=csrules.default_policies(), sink=csrules.JsonLinesSink)


def test_a_broken_candidate_fails_at_load(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("rules: [", encoding="utf-8")
    with pytest.raises(csrules.PolicyError) as info:
        csrules.load(shadow=tmp_path, sink=print)
    assert info.value.file is not None
    assert info.value.file.endswith("bad.yaml")
    assert "while loading the shadow candidate" in info.value.__notes__
    with pytest.raises(csrules.PolicyError) as params:
        csrules.load(shadow=csrules.default_policies(), shadow_params={"no_such": 1}, sink=print)
    assert "while loading the shadow candidate" in params.value.__notes__


def test_a_broken_live_bundle_fails_at_load_without_the_note(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("rules: [", encoding="utf-8")
    with pytest.raises(csrules.PolicyError) as info:
        csrules.load(tmp_path, shadow=csrules.default_policies(), sink=print)
    assert not getattr(info.value, "__notes__", [])


def test_shadow_engine_reads_like_the_live_engine(engine: csrules.Engine, candidate_dir: Path) -> None:
    shadow = csrules.load(params={"senior_limit": 60}, shadow=candidate_dir, sink=print, sample=0.5)
    live = csrules.load(params={"senior_limit": 60})
    assert shadow.policy_digest == live.policy_digest
    assert shadow.params == live.params
    assert shadow.bundle == live.bundle
    assert shadow.ruleset == live.ruleset
    assert shadow.candidate.params["front_line_limit"] == 25  # live params are not inherited
    assert shadow.candidate.params["senior_limit"] == 50
    assert shadow.sample == 0.5
    assert repr(shadow) == (
        f"<csrules.ShadowEngine live {live.policy_digest[:12]}, "
        f"candidate {shadow.candidate.policy_digest[:12]}, sample 0.5>"
    )
    assert type(csrules.load()) is csrules.Engine


def test_a_shadow_engine_closes_verifies_and_is_a_context_manager(candidate_dir: Path) -> None:
    """The reload pattern (`old.close()`, `with csrules.load(...)`) raised AttributeError."""
    with csrules.load(shadow=candidate_dir, sink=print) as shadow:
        decision = shadow.evaluate(refund("30.00"), now=NOW)
        assert shadow.verify(decision).ok
        assert shadow.verify(decision.to_json()).status == "identical"
        assert not shadow.closed
    assert shadow.closed
    assert shadow.live.closed
    assert shadow.candidate.closed
    with pytest.raises(csrules.EngineError, match="the engine is closed"):
        shadow.evaluate(refund("30.00"), now=NOW)
    shadow.close()  # again: nothing


# --- evaluate_many -------------------------------------------------------------------------------


def _batch() -> list[Any]:
    """`tickets()` with tickets the live engine refuses among them."""
    batch: list[Any] = tickets()
    batch.insert(3, refund("-5"))
    batch.insert(10, "not a ticket")
    batch.append(make_ticket(id="T-no-agent", agent=None))
    return batch


def _shown(result: csrules.Decision | csrules.TicketError) -> str | tuple[str, str, str]:
    if isinstance(result, csrules.TicketError):
        return result.path, result.code, str(result)
    return result.to_json()


def _one_by_one(candidate_dir: Path, batch: list[Any]) -> tuple[list[Record], csrules.ShadowStats]:
    """The records and counters of `ShadowEngine.evaluate`, ticket by ticket."""
    records: list[Record] = []
    shadow = csrules.load(shadow=candidate_dir, sink=records.append)
    for ticket in batch:
        with contextlib.suppress(csrules.TicketError):
            shadow.evaluate(ticket, now=NOW)
    return records, shadow.stats


@pytest.mark.parametrize(("workers", "trace"), [(1, True), (1, False), (2, True), (2, False)])
def test_evaluate_many_yields_the_live_results_and_shadows_as_evaluate_does(
    engine: csrules.Engine, candidate_dir: Path, workers: int, trace: bool
) -> None:
    """A ShadowEngine had no `evaluate_many`: a service switching to shadow mode lost its bulk path."""
    batch = _batch()
    records: list[Record] = []
    shadow = csrules.load(shadow=candidate_dir, sink=records.append)
    results = list(shadow.evaluate_many(batch, now=NOW, workers=workers, trace=trace, chunk_size=7))
    assert [_shown(r) for r in results] == [
        _shown(r) for r in engine.evaluate_many(batch, now=NOW, trace=trace)
    ]
    expected_records, expected_stats = _one_by_one(candidate_dir, batch)
    assert records == expected_records  # the trace is not compared: the same records either way
    assert [r.ticket_id for r in records] == [t["id"] for t in tickets() if in_changed_band(t)]
    assert (
        shadow.stats
        == expected_stats
        == csrules.ShadowStats(evaluations=len(batch) - 3, shadowed=len(batch) - 3, divergences=6)
    )


@pytest.mark.parametrize("trace", [True, False])
def test_evaluate_many_records_a_candidate_refusing_a_ticket(engine: csrules.Engine, trace: bool) -> None:
    records: list[Record] = []
    shadow = csrules.load(
        shadow=csrules.default_policies(), shadow_params={"currency": "EUR"}, sink=records.append
    )
    ticket = refund("45.00", tier="loyal")
    ticket["request"]["currency"] = "USD"
    [result] = shadow.evaluate_many([ticket], now=NOW, trace=trace)
    [expected] = engine.evaluate_many([ticket], now=NOW, trace=trace)
    assert _shown(result) == _shown(expected)
    [failure] = records
    assert isinstance(failure, csrules.ShadowFailure)
    assert (failure.ticket_id, failure.error_type, failure.code) == (
        "T-1",
        "TicketError",
        "currency-mismatch",
    )
    assert shadow.stats == csrules.ShadowStats(evaluations=1, shadowed=1, shadow_failures=1)


def test_evaluate_many_with_workers_gives_the_candidate_each_ticket_as_it_was_read(
    candidate_dir: Path,
) -> None:
    """With workers the live engine reads ahead of its results; an input that reuses one dict for
    every row (as some database cursors do) must not give the candidate a later row."""
    amounts = ["22.50", "5.00", "24.00", "30.00", "21.00"] * 20

    def rows() -> Iterator[dict[str, Any]]:
        row = refund("0.00")
        for n, amount in enumerate(amounts):
            row["id"] = f"T-{n}"
            row["request"]["amount"] = amount
            yield row

    records: list[Record] = []
    shadow = csrules.load(shadow=candidate_dir, sink=records.append)
    results = list(shadow.evaluate_many(rows(), now=NOW, workers=2, chunk_size=4))
    assert [r.outcome for r in results if isinstance(r, csrules.Decision)] == [
        "escalate" if Decimal(a) > 20 else "approve" for a in amounts
    ]
    assert [r.ticket_id for r in records] == [
        f"T-{n}" for n, a in enumerate(amounts) if 20 < Decimal(a) <= 25
    ]


def test_evaluate_many_refuses_bad_options_at_the_call(candidate_dir: Path) -> None:
    shadow = csrules.load(shadow=candidate_dir, sink=print)
    with pytest.raises(ValueError, match="`workers` must be an int from 0 to"):
        shadow.evaluate_many([], workers=-1)
    with pytest.raises(ValueError, match="`chunk_size` must be an int >= 1"):
        shadow.evaluate_many([], chunk_size=0)
    with pytest.raises(csrules.TicketError, match="invalid-now"):
        shadow.evaluate_many([], now=datetime(2026, 11, 23, 15, 0))
    shadow.close()
    with pytest.raises(csrules.EngineError, match="the engine is closed"):
        shadow.evaluate_many([])


def test_evaluate_many_counts_a_raising_sink_and_goes_on(engine: csrules.Engine, candidate_dir: Path) -> None:
    def sink(record: Record) -> None:
        raise OSError("disk full")

    shadow = csrules.load(shadow=candidate_dir, sink=sink)
    results = list(shadow.evaluate_many(tickets(), now=NOW, trace=False))
    assert len(results) == len(tickets())
    assert (shadow.stats.divergences, shadow.stats.sink_failures) == (6, 6)


def test_leaving_evaluate_many_early_stops_the_live_workers(candidate_dir: Path) -> None:
    shadow = csrules.load(shadow=candidate_dir, sink=print)
    results = shadow.evaluate_many(
        (refund("5.00") for _ in range(1_000_000)), now=NOW, workers=2, chunk_size=4
    )
    assert next(results).outcome == "approve"
    assert len(multiprocessing.active_children()) == 2
    results.close()
    assert multiprocessing.active_children() == []


@pytest.mark.parametrize("workers", [1, 2])
def test_evaluate_many_shadows_every_ticket_read_before_the_input_fails(
    candidate_dir: Path, workers: int
) -> None:
    def rows() -> Iterator[dict[str, Any]]:
        for n in range(30):
            yield {**refund("22.50", tier="one_time"), "id": f"T-{n}"}
        raise OSError("the corpus file went away")

    records: list[Record] = []
    shadow = csrules.load(shadow=candidate_dir, sink=records.append)
    seen: list[str] = []
    with pytest.raises(OSError, match="the corpus file went away"):
        seen.extend(r.ticket_id for r in shadow.evaluate_many(rows(), now=NOW, workers=workers, chunk_size=4))
    assert seen == [r.ticket_id for r in records] == [f"T-{n}" for n in range(30)]
    assert shadow.stats == csrules.ShadowStats(evaluations=30, shadowed=30, divergences=30)
