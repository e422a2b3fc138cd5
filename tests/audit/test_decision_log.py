"""The decision log: a hash chain that names the first altered, deleted, reordered, truncated or torn
record, and concurrent writers from threads and processes that lose and interleave nothing."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import threading
from pathlib import Path

import pytest

import csrules
from csrules.cli.main import main
from csrules.decision_log import GENESIS, LogRepair, verify_log
from tests.helpers import NOW, refund

AMOUNTS = ["5.00", "20.00", "20.01", "45.00", "50.01", "150.00"]


def fill(path: Path, engine: csrules.Engine, count: int = len(AMOUNTS)) -> csrules.DecisionLog:
    log = csrules.DecisionLog(path)
    for i in range(count):
        ticket = refund(AMOUNTS[i % len(AMOUNTS)])
        ticket["id"] = f"T-{i + 1}"
        log.append(engine.evaluate(ticket, now=NOW))
    return log


def lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def test_records_chain_and_read_back(tmp_path: Path, engine: csrules.Engine) -> None:
    path = tmp_path / "decisions.jsonl"
    log = fill(path, engine)
    records = list(log)
    assert [r.seq for r in records] == [1, 2, 3, 4, 5, 6]
    assert [r.decision.ticket_id for r in records] == [f"T-{i}" for i in range(1, 7)]
    first = json.loads(lines(path)[0])
    assert sorted(first) == ["decision", "hash", "prev", "seq"]
    assert first["prev"] == GENESIS
    assert [json.loads(line)["prev"] for line in lines(path)[1:]] == [r.hash for r in records[:-1]]
    assert log.head == (6, records[-1].hash)
    assert json.loads((tmp_path / "decisions.jsonl.head").read_text()) == {"hash": records[-1].hash, "seq": 6}
    report = verify_log(path)
    assert (report.ok, report.records, report.head) == (True, 6, records[-1].hash)
    # A record's decision is the decision, byte for byte, and still verifies.
    assert engine.verify(records[3].decision).ok


def tamper(path: Path, kind: str) -> None:
    records = lines(path)
    if kind == "edit":
        records[2] = records[2].replace(b'"outcome":"escalate"', b'"outcome":"approve"', 1)
    elif kind == "delete":
        del records[3]
    elif kind == "reorder":
        records[1], records[2] = records[2], records[1]
    elif kind == "duplicate":
        records.insert(4, records[3])
    elif kind == "truncate":
        del records[-2:]
    elif kind == "replace_last":  # the last record swapped for another valid-looking one
        records[-1] = records[0]
    path.write_bytes(b"".join(records))


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("edit", ("altered-record", 3, 2)),
        ("delete", ("broken-chain", 4, 3)),
        ("reorder", ("broken-chain", 2, 1)),
        ("duplicate", ("broken-chain", 5, 4)),
        ("truncate", ("truncated-log", None, 4)),
        ("replace_last", ("broken-chain", 6, 5)),
    ],
)
def test_every_kind_of_tampering_is_named_with_its_line(
    tmp_path: Path, engine: csrules.Engine, kind: str, expected: tuple[str, int | None, int]
) -> None:
    code, line, verified = expected
    path = tmp_path / "decisions.jsonl"
    fill(path, engine)
    tamper(path, kind)
    report = verify_log(path)
    assert report.problem is not None
    assert (report.ok, report.problem.code, report.problem.line, report.records) == (
        False,
        code,
        line,
        verified,
    )


def test_messages_say_what_happened(tmp_path: Path, engine: csrules.Engine) -> None:
    path = tmp_path / "decisions.jsonl"
    fill(path, engine)
    tamper(path, "delete")
    assert str(verify_log(path).problem) == (
        f"{path}:4: expected record 4 chained to the one before, found record 5: a record was deleted or moved [broken-chain]"
    )
    fill(tmp_path / "b.jsonl", engine)
    tamper(tmp_path / "b.jsonl", "truncate")
    assert str(verify_log(tmp_path / "b.jsonl").problem) == (
        f"{tmp_path / 'b.jsonl'}: the head file names record 6, the log ends at record 4: records were cut off "
        "the end, or the last one was replaced [truncated-log]"
    )


def test_a_rewritten_log_is_caught_by_an_anchor_kept_elsewhere(
    tmp_path: Path, engine: csrules.Engine
) -> None:
    path = tmp_path / "decisions.jsonl"
    anchor = fill(path, engine).head[1]
    path.unlink()
    (tmp_path / "decisions.jsonl.head").unlink()
    fill(path, engine, count=5)  # a consistent, shorter log and head: only the anchor knows
    assert verify_log(path).ok
    report = verify_log(path, head=anchor)
    assert report.problem is not None
    assert report.problem.code == "truncated-log"


def test_a_torn_write_is_reported_on_open_and_repaired(tmp_path: Path, engine: csrules.Engine) -> None:
    path = tmp_path / "decisions.jsonl"
    fill(path, engine)
    whole = path.read_bytes()
    path.write_bytes(whole + lines(path)[0][:100])  # a crash 100 bytes into the 7th record
    with pytest.raises(csrules.AuditError) as info:
        csrules.DecisionLog(path)
    assert info.value.code == "torn-record"
    report = verify_log(path)
    assert report.problem is not None
    assert (report.problem.code, report.problem.line, report.records) == ("torn-record", 7, 6)
    assert csrules.DecisionLog.repair(path) == LogRepair(removed=100)
    assert path.read_bytes() == whole  # earlier records untouched
    assert csrules.DecisionLog.repair(path) == LogRepair()
    log = csrules.DecisionLog(path)
    record = log.append(engine.evaluate(refund("1.00"), now=NOW))
    assert record.seq == 7
    assert verify_log(path).ok


def test_an_unparseable_last_line_with_a_newline_is_evidence_not_a_torn_write(
    tmp_path: Path, engine: csrules.Engine
) -> None:
    """An append writes its record and newline at once and a record holds no raw newline, so a
    cut write never ends with one: such a line was edited. Repair cut it (and with it the evidence),
    and opening the log called it `torn-record` where `log verify` said `invalid-record`."""
    path = tmp_path / "decisions.jsonl"
    fill(path, engine, count=2)
    with path.open("ab") as handle:
        handle.write(b'{"decision": \n')
    kept = path.read_bytes()
    with pytest.raises(csrules.AuditError) as info:
        csrules.DecisionLog(path)
    assert info.value.code == "invalid-record"
    repaired = csrules.DecisionLog.repair(path)
    assert (repaired.removed, repaired.newline_restored, repaired.adopted) == (0, False, None)
    assert repaired.problem is not None
    assert (repaired.ok, repaired.problem.code) == (False, "invalid-record")
    assert path.read_bytes() == kept
    problem = verify_log(path).problem
    assert problem is not None
    assert (problem.code, problem.line) == ("invalid-record", 3)


def test_threads_append_without_losing_or_interleaving(tmp_path: Path, engine: csrules.Engine) -> None:
    path = tmp_path / "decisions.jsonl"
    log = csrules.DecisionLog(path, fsync=False)
    decisions = {
        f"W{w}-{i}": engine.evaluate({**refund("45.00"), "id": f"W{w}-{i}"}, now=NOW)
        for w in range(8)
        for i in range(25)
    }

    def write(worker: int) -> None:
        for i in range(25):
            log.append(decisions[f"W{worker}-{i}"])

    threads = [threading.Thread(target=write, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    report = verify_log(path)
    assert (report.ok, report.records) == (True, 200)
    assert sorted(r.decision.ticket_id for r in csrules.DecisionLog(path)) == sorted(decisions)


def _process_writer(path: str, worker: int, count: int) -> None:
    engine = csrules.load()
    log = csrules.DecisionLog(path)
    for i in range(count):
        log.append(engine.evaluate({**refund("45.00"), "id": f"P{worker}-{i}"}, now=NOW))


def test_processes_append_without_losing_or_interleaving(tmp_path: Path) -> None:
    path = tmp_path / "decisions.jsonl"
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_process_writer, args=(str(path), w, 30)) for w in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
        assert worker.exitcode == 0
    report = verify_log(path)
    assert (report.ok, report.records) == (True, 120)
    ids = [r.decision.ticket_id for r in csrules.DecisionLog(path)]
    assert sorted(ids) == sorted(f"P{w}-{i}" for w in range(4) for i in range(30))
    for worker in range(4):  # each process's own records stay in its order
        mine = [i for i in ids if i.startswith(f"P{worker}-")]
        assert mine == [f"P{worker}-{i}" for i in range(30)]


def test_cli_log_verify_show_and_repair(
    tmp_path: Path, engine: csrules.Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "decisions.jsonl"
    head = fill(path, engine).head[1]
    assert main(["log", "verify", str(path)]) == 0
    assert capsys.readouterr().out == f"ok: 6 records, head {head} (record 6)\n"
    assert main(["log", "show", str(path), "--ticket", "T-4"]) == 0
    assert capsys.readouterr().out == (
        f"     4  2026-11-23T15:00:00Z  T-4  escalate  senior  policy {engine.policy_digest[:12]}\n"
    )
    assert main(["log", "show", str(path), "--since", "2026-11-24"]) == 0
    assert capsys.readouterr().out == ""
    assert main(["log", "show", str(path), "--since", "yesterday"]) == 2
    assert (
        capsys.readouterr().err
        == "csrules: error: --since: expected an ISO 8601 date or datetime, got `yesterday`\n"
    )
    # read as `--now` and tickets are: a week date and an offset with seconds were taken
    for since in ("2026-W48-1", "2026-11-23T15:00:00+05:30:15", "2026-13-01"):
        assert main(["log", "show", str(path), "--since", since]) == 2
        assert capsys.readouterr().err == (
            f"csrules: error: --since: expected an ISO 8601 date or datetime, got `{since}`\n"
        )
    # a date and time without an offset was read as UTC, where tickets and --now refuse it
    assert main(["log", "show", str(path), "--since", "2026-11-23T15:00:00"]) == 2
    assert capsys.readouterr().err == (
        "csrules: error: --since needs a date, or a date and time with a UTC offset "
        "(e.g. `2026-11-23T15:00:00Z`), got `2026-11-23T15:00:00`\n"
    )
    for since, listed in (("2026-11-23T16:00:00+01:00", 6), ("2026-11-23 15:00:01Z", 0), ("2026-11-23", 6)):
        assert main(["log", "show", str(path), "--since", since]) == 0
        assert len(capsys.readouterr().out.splitlines()) == listed
    tamper(path, "reorder")
    assert main(["log", "verify", str(path)]) == 1
    assert capsys.readouterr().out.splitlines() == [
        f"tampered: {path}:2: expected record 2 chained to the one before, found record 3: a record was deleted or moved [broken-chain]",
        "1 records verified before it",
    ]
    assert main(["log", "show", str(path)]) == 2
    shown = capsys.readouterr()
    assert shown.out == ""  # nothing listed: it printed record 1 before refusing record 2
    assert shown.err == (
        f"csrules: error: {path}:2: expected record 2 chained to the one before, found record 3: a record "
        "was deleted or moved (run `csrules log verify`) [broken-chain]\n"
    )
    fill(tmp_path / "cut.jsonl", engine, count=3)  # the head names record 3; the log loses it
    lines = (tmp_path / "cut.jsonl").read_bytes().splitlines(keepends=True)
    (tmp_path / "cut.jsonl").write_bytes(b"".join(lines[:2]))
    assert main(["log", "show", str(tmp_path / "cut.jsonl")]) == 2
    shown = capsys.readouterr()
    assert shown.out == ""
    assert "records were cut off the end" in shown.err
    fill(tmp_path / "t.jsonl", engine, count=1)
    with (tmp_path / "t.jsonl").open("ab") as handle:
        handle.write(b'{"dec')
    assert main(["log", "repair", str(tmp_path / "t.jsonl")]) == 0
    assert capsys.readouterr().out == "removed a torn record of 5 bytes\n"


def test_a_record_whose_hash_holds_but_is_no_decision_is_named_by_its_line(
    tmp_path: Path, engine: csrules.Engine
) -> None:
    """The record's hash and the head were recomputed over an outcome no decision has: the error
    said `not a decision` but not where (`AuditError.line` was None)."""
    path = tmp_path / "decisions.jsonl"
    fill(path, engine, count=2)
    records = lines(path)
    record = json.loads(records[1])
    record["decision"]["outcome"] = "bogus"
    body = {"decision": record["decision"], "prev": record["prev"], "seq": record["seq"]}
    digest = hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    record["hash"] = digest
    records[1] = (json.dumps(record, sort_keys=True, separators=(",", ":")) + "\n").encode()
    path.write_bytes(b"".join(records))
    Path(f"{path}.head").write_text(json.dumps({"hash": digest, "seq": 2}) + "\n", encoding="utf-8")
    report = verify_log(path)
    assert report.problem is not None
    assert (report.problem.code, report.problem.line, report.records) == ("invalid-decision", 2, 1)
    assert str(report.problem).startswith(f"{path}:2: not a decision: /outcome: ")
