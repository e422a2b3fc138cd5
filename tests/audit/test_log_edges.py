"""Edges of the audit tools: readers beside a writer, a crash before the head update, a damaged
head file, untraced decisions, and inputs that must be one-line errors (exit 2), not tracebacks."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import stat
import threading
from pathlib import Path
from typing import Any

import pytest

import csrules
from csrules import decision_log
from csrules.cli.main import main
from csrules.decision_log import GENESIS, LogRepair, verify_log
from csrules.testing.coverage import Coverage
from tests.helpers import NOW, refund


def _fill(path: Path, engine: csrules.Engine, count: int) -> csrules.DecisionLog:
    log = csrules.DecisionLog(path)
    for i in range(count):
        log.append(engine.evaluate({**refund(f"{10 + i}.00"), "id": f"T-{i}"}, now=NOW))
    return log


def _writer(path: str, count: int) -> None:
    engine = csrules.load()
    log = csrules.DecisionLog(path)
    for i in range(count):
        log.append(engine.evaluate({**refund("45.00"), "id": f"W-{i}"}, now=NOW))


def test_verifying_beside_a_writer_never_raises_a_false_alarm(tmp_path: Path, engine: csrules.Engine) -> None:
    path = tmp_path / "decisions.jsonl"
    _fill(path, engine, 1)
    writer = multiprocessing.get_context("spawn").Process(target=_writer, args=(str(path), 60))
    writer.start()
    reports = []
    while writer.is_alive():
        reports.append(verify_log(path))
    writer.join()
    reports.append(verify_log(path))
    assert [r.problem for r in reports if not r.ok] == []
    assert reports[-1].records == 61


def test_a_crash_before_the_head_update_is_a_note_and_repair_catches_up(
    tmp_path: Path, engine: csrules.Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "decisions.jsonl"
    log = _fill(path, engine, 3)
    head = (tmp_path / "decisions.jsonl.head").read_text()
    log.append(engine.evaluate(refund("99.00"), now=NOW))
    (tmp_path / "decisions.jsonl.head").write_text(head)  # the state a crash leaves
    report = verify_log(path)
    assert (report.ok, report.records) == (True, 4)
    assert report.notes == (
        "the head file names record 3 of 4: a write finished without its head update (a crash), or "
        "someone who cannot write the head file added a record; the next append or `csrules log "
        "repair` adopts the record, and verifying keeps noting it",
    )
    assert main(["log", "repair", str(path)]) == 0
    assert capsys.readouterr().out == (
        "brought the head file up to record 4, written without its head update (`log verify` keeps "
        "noting it)\n"
    )
    assert verify_log(path).notes == (
        "record 4 was written without its head update and adopted by a later append or repair: a "
        "crash leaves such a record, and so does someone who can write the log but not its head "
        "file; the head file does not vouch for it",
    )
    assert json.loads((tmp_path / "decisions.jsonl.head").read_text()) == {
        "adopted": [4],
        "hash": log.head[1],
        "seq": 4,
    }
    assert main(["log", "repair", str(path)]) == 0  # nothing left to do: repair is idempotent
    assert capsys.readouterr().out == "nothing to repair\n"


def test_a_head_more_than_one_record_behind_is_truncation(tmp_path: Path, engine: csrules.Engine) -> None:
    """A head 2 records behind was an `ok` with a note that the next append would fix it (the
    append refused it): records appended by someone who cannot write the head file passed. An
    append holds its lock from the write to the head's update, so a crash leaves at most one."""
    path = tmp_path / "decisions.jsonl"
    log = _fill(path, engine, 2)
    head = (tmp_path / "decisions.jsonl.head").read_text()
    for amount in ("98.00", "99.00"):
        log.append(engine.evaluate(refund(amount), now=NOW))
    (tmp_path / "decisions.jsonl.head").write_text(head)
    report = verify_log(path)
    assert report.problem is not None
    assert (report.problem.code, report.problem.message) == (
        "truncated-log",
        "the head file names record 2, the log ends at record 4: later records were written without "
        "their head updates (a crash leaves one at most), or records were replaced",
    )


def test_an_anchor_taken_before_later_appends_still_vouches_for_its_records(
    tmp_path: Path, engine: csrules.Engine
) -> None:
    """The anchor had to be the log's head now: one taken yesterday failed as soon as anything
    was appended, and the same hash in capitals failed too."""
    path = tmp_path / "decisions.jsonl"
    log = _fill(path, engine, 3)
    anchor = log.head[1]
    for amount in ("98.00", "99.00"):
        log.append(engine.evaluate(refund(amount), now=NOW))
    for given in (anchor, anchor.upper(), f" {anchor}\n"):
        report = verify_log(path, head=given)
        assert (report.ok, report.records) == (True, 5)
        assert report.notes == (
            "the anchor given names record 3 of 5: the log holds it intact, and 2 record(s) appended "
            "since, which it cannot vouch for",
        )
    assert verify_log(path, head=log.head[1]).notes == ()
    # An anchor taken when the log was empty (its head: 64 zeros) vouches for nothing yet.
    empty = verify_log(path, head="0" * 64)
    assert (empty.ok, empty.notes) == (
        True,
        (
            "the anchor given names record 0 of 5: the log holds it intact, and 5 record(s) appended since, "
            "which it cannot vouch for",
        ),
    )
    wrong = verify_log(path, head="ab" * 32).problem
    assert wrong is not None
    assert wrong.message == (
        f"the anchor given, {'ab' * 6}, names no record of the log (its head is {log.head[1][:12]}): "
        "records were cut off or replaced"
    )


def test_a_head_ahead_of_the_log_is_still_truncation_and_repair_does_not_hide_it(
    tmp_path: Path, engine: csrules.Engine
) -> None:
    path = tmp_path / "decisions.jsonl"
    _fill(path, engine, 3)
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines[:2]))
    csrules.DecisionLog.repair(path)
    report = verify_log(path)
    assert report.problem is not None
    assert report.problem.code == "truncated-log"


@pytest.mark.parametrize("text", ["garbage", "[1]", '{"seq": "3", "hash": 1}'])
def test_a_damaged_head_file_is_reported_not_raised(
    tmp_path: Path, engine: csrules.Engine, capsys: pytest.CaptureFixture[str], text: str
) -> None:
    path = tmp_path / "decisions.jsonl"
    _fill(path, engine, 2)
    (tmp_path / "decisions.jsonl.head").write_text(text)
    report = verify_log(path)
    assert report.problem is not None
    assert report.problem.code == "invalid-head"
    assert main(["log", "verify", str(path)]) == 1
    assert capsys.readouterr().out.startswith("tampered: ")


BIG_INT = b'{"seq": ' + b"9" * 5000 + b"}\n"


def test_a_log_with_a_big_int_is_tampered_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    path.write_bytes(BIG_INT)
    report = verify_log(path)
    assert report.problem is not None
    assert (report.problem.code, report.problem.line) == ("invalid-record", 1)


def test_a_record_with_a_key_given_twice_is_tampered(tmp_path: Path, engine: csrules.Engine) -> None:
    """The hash covers the value json.loads keeps (the last): the line showed another one too."""
    path = tmp_path / "log.jsonl"
    csrules.DecisionLog(path, fsync=False).append(engine.evaluate(refund("45.00"), now=NOW))
    line = path.read_text(encoding="utf-8")
    assert '"outcome":"escalate",' in line
    path.write_text(
        line.replace('"outcome":"escalate",', '"outcome":"approve","outcome":"escalate",', 1),
        encoding="utf-8",
    )
    report = verify_log(path)
    assert report.problem is not None
    assert (report.problem.code, report.problem.line, report.problem.message) == (
        "invalid-record",
        1,
        "not a log record (duplicate key `outcome`)",
    )


def test_an_empty_log_without_a_head_verifies_with_a_note(tmp_path: Path) -> None:
    """A log never written to and one emptied with its head deleted look the same: only an
    anchor kept elsewhere tells them apart, and the report says so."""
    path = tmp_path / "log.jsonl"
    path.write_bytes(b"")
    report = verify_log(path)
    assert (report.problem, report.records) == (None, 0)
    assert report.notes == (
        "the log has no records and no head file: a log never written to, or one emptied and its head "
        "file deleted; only a head hash kept elsewhere (`--head`) tells them apart",
    )
    anchored = verify_log(path, head="ab" * 32)
    assert anchored.problem is not None
    assert anchored.problem.code == "truncated-log"


def test_untraced_decisions_verify_and_count_towards_coverage(engine: csrules.Engine) -> None:
    (decision,) = list(engine.evaluate_many([refund("45.00")], now=NOW, trace=False))
    assert decision.trace.steps == []
    assert engine.verify(decision).status == "identical"
    coverage = Coverage(engine.bundle)
    coverage.add(decision)
    assert coverage.rule_counts == (2, 17)
    assert coverage.condition_counts == (0, 62)


def test_decisions_share_no_mutable_trace_values(engine: csrules.Engine) -> None:
    loyal = {**refund("45.00", tier="loyal")}
    first, second = engine.evaluate(loyal, now=NOW), engine.evaluate(loyal, now=NOW)
    expected = first.trace.steps[2].conditions[0].expected
    assert expected == ["loyal", "advocate"]
    expected.append("changed")  # type: ignore[union-attr]
    assert second.trace.steps[2].conditions[0].expected == ["loyal", "advocate"]
    assert engine.evaluate(loyal, now=NOW).trace.steps[2].conditions[0].expected == ["loyal", "advocate"]


@pytest.mark.parametrize(
    "case",
    [
        (["log", "repair"], None, "cannot open the log: No such file or directory [no-such-file]"),
        (["log", "show"], None, "cannot read the log: No such file or directory"),
        # was "tampered: ..." on stdout, exit 1: no log is bad input, not a tampered log
        (
            ["log", "verify"],
            None,
            "input.jsonl: cannot read the log: No such file or directory [no-such-file]",
        ),
        # was "tampered": an abbreviated or malformed anchor is the caller's mistake
        (["log", "verify", "--head", "d3baadb31a22"], b"", "--head: the anchor must be the 64 hex digits"),
        (["coverage"], b"\xff\xfe not text\n", "not UTF-8 text [invalid-decision]"),
        (["coverage"], b"[" * 100_000 + b"\n", "not JSON (or nested too deeply) [invalid-decision]"),
        (["report", "--html", "out.html"], b"[" * 100_000 + b"\n", ""),
        # json.loads raises a plain ValueError for an int of more than 4,300 digits: it was exit 3
        (["coverage"], BIG_INT, "input.jsonl:1: not JSON (or nested too deeply) [invalid-decision]"),
        (["report", "--html", "out.html"], BIG_INT, "neither a decision nor JSON Lines [invalid-decision]"),
        # a whole line that is no record: as `log verify` says (the listing used to say torn-record)
        (
            ["log", "show"],
            BIG_INT,
            "input.jsonl:1: not a log record (not JSON) (run `csrules log verify`) [invalid-record]",
        ),
        (["verify"], BIG_INT, "not a decision: the document: invalid JSON: number out of range"),
        (["verify"], b"\xff\xfe\x00garbage", "input.jsonl: not UTF-8 text [invalid-decision]"),
    ],
    ids=[
        "repair-missing",
        "show-missing",
        "verify-missing",
        "verify-short-anchor",
        "coverage-not-utf8",
        "coverage-deep",
        "report-deep",
        "coverage-big-int",
        "report-big-int",
        "show-big-int",
        "verify-big-int",
        "verify-not-utf8",
    ],
)
def test_bad_files_are_one_line_and_exit_2(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    case: tuple[list[str], bytes | None, str],
) -> None:
    argv, content, message = case
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "input.jsonl"
    if content is not None:
        path.write_bytes(content)
    command = (
        [*argv[:1], *argv[1:2], str(path), *argv[2:]] if argv[0] == "log" else [argv[0], str(path), *argv[1:]]
    )
    assert main(command) == 2
    err = capsys.readouterr().err
    assert err.startswith("csrules: error: ")
    assert err.count("\n") == 1
    assert message in err


def _cut(path: Path, keep: int) -> None:
    """Keep the first `keep` records, the head file as it was (the state a truncation leaves)."""
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines[:keep]))


@pytest.mark.parametrize("head", ["kept", "deleted", "garbage"])
def test_an_append_never_writes_a_new_head_over_a_truncated_log(
    tmp_path: Path, engine: csrules.Engine, head: str
) -> None:
    """An append overwrote the head: a truncated log then verified ok."""
    path = tmp_path / "log.jsonl"
    log = _fill(path, engine, 5)
    _cut(path, 3)
    head_file = tmp_path / "log.jsonl.head"
    if head == "deleted":
        head_file.unlink()
    elif head == "garbage":
        head_file.write_text("not a head\n")
    before = (path.read_bytes(), head_file.read_bytes() if head_file.exists() else None)
    with pytest.raises(csrules.AuditError) as info:
        log.append(engine.evaluate(refund("5.00"), now=NOW))
    assert info.value.code == ("invalid-head" if head == "garbage" else "truncated-log")
    assert (path.read_bytes(), head_file.read_bytes() if head_file.exists() else None) == before
    assert verify_log(path).problem is not None


def test_an_append_after_a_crash_before_the_head_update_goes_on(
    tmp_path: Path, engine: csrules.Engine
) -> None:
    path = tmp_path / "log.jsonl"
    _fill(path, engine, 1)
    (tmp_path / "log.jsonl.head").unlink()  # the first append crashed before writing its head
    record = csrules.DecisionLog(path).append(engine.evaluate(refund("5.00"), now=NOW))
    assert record.seq == 2
    assert verify_log(path).ok


def test_repair_does_not_make_a_head_for_a_log_that_lost_records(
    tmp_path: Path, engine: csrules.Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "log.jsonl"
    _fill(path, engine, 5)
    _cut(path, 3)
    (tmp_path / "log.jsonl.head").unlink()
    assert main(["log", "repair", str(path)]) == 1  # the log still refuses appends
    assert capsys.readouterr().out == (
        "nothing to repair; left as it is, as no crash leaves it: the head file is missing "
        "[truncated-log] (run `csrules log verify`)\n"
    )
    assert not (tmp_path / "log.jsonl.head").exists()
    problem = verify_log(path).problem
    assert problem is not None
    assert problem.code == "truncated-log"


@pytest.mark.parametrize(
    ("edit", "code"),
    [
        (lambda line: line.replace(b"\n", b"\r\n"), "altered-record"),
        (lambda line: b"\xef\xbb\xbf" + line, "altered-record"),
        (lambda line: line.replace(b'"seq":', b'"seq": '), "altered-record"),
        (lambda line: line.replace(b'"category":"other"', b'"category":"\\u006fther"'), "altered-record"),
        (lambda line: line.replace(b'"category":"other"', b'"category":"\\ud800"'), "invalid-record"),
    ],
    ids=["crlf", "bom", "space", "escape", "lone-surrogate"],
)
def test_any_byte_edited_in_a_record_is_tampering(
    tmp_path: Path, engine: csrules.Engine, capsys: pytest.CaptureFixture[str], edit: Any, code: str
) -> None:
    """The hash covers the values read back: edits that read back the same verified ok, and a
    lone surrogate raised UnicodeEncodeError (exit 3)."""
    path = tmp_path / "log.jsonl"
    _fill(path, engine, 3)
    lines = path.read_bytes().splitlines(keepends=True)
    assert b'"category":"other"' in lines[1]
    lines[1] = edit(lines[1])
    path.write_bytes(b"".join(lines))
    problem = verify_log(path).problem
    assert problem is not None
    assert (problem.code, problem.line) == (code, 2)
    assert main(["log", "verify", str(path)]) == 1
    assert capsys.readouterr().out.startswith("tampered: ")


def test_iterating_a_log_while_appending_to_it_does_not_wait_forever(
    tmp_path: Path, engine: csrules.Engine
) -> None:
    """An iterator held the shared lock for its whole life: the append in the loop waited on it."""
    path = tmp_path / "log.jsonl"
    log = _fill(path, engine, 3)
    seen: list[int] = []
    decision = engine.evaluate(refund("7.00"), now=NOW)

    def iterate_and_append() -> None:
        for record in log:  # the records of the moment iteration started
            seen.append(record.seq)
            log.append(decision)

    worker = threading.Thread(target=iterate_and_append, daemon=True)  # a hang fails, not blocks
    worker.start()
    worker.join(timeout=60)
    assert not worker.is_alive(), "the append waited for the iterator's lock"
    assert seen == [1, 2, 3]
    assert verify_log(path).records == 6


def test_repair_never_cuts_an_edited_last_record(
    tmp_path: Path, engine: csrules.Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    """A complete record that was edited is evidence, not a torn write: repair keeps it."""
    path = tmp_path / "log.jsonl"
    _fill(path, engine, 3)
    edited = path.read_bytes().replace(b'"seq":3}\n', b'"seq": 3}\n')
    assert edited != path.read_bytes()
    path.write_bytes(edited)
    assert main(["log", "repair", str(path)]) == 1
    assert capsys.readouterr().out == (
        "nothing to repair; left as it is, as no crash leaves it: the record is not in the form csrules "
        "writes: it was edited [altered-record] (run `csrules log verify`)\n"
    )
    assert path.read_bytes() == edited
    problem = verify_log(path).problem
    assert problem is not None
    assert (problem.code, problem.line) == ("altered-record", 3)


def _forge(path: Path, engine: csrules.Engine, amount: str) -> None:
    """Append a record as someone who can write the log but not its head file: a whole record,
    chained and hashed as csrules does it (anyone can compute sha256)."""
    last = json.loads(path.read_bytes().splitlines()[-1])
    decision = json.loads(engine.evaluate({**refund(amount), "id": f"F-{amount}"}, now=NOW).to_json())
    body = {"decision": decision, "prev": last["hash"], "seq": last["seq"] + 1}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    record = {**body, "hash": hashlib.sha256(canonical.encode()).hexdigest()}
    with path.open("ab") as handle:
        handle.write(json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode())
        handle.write(b"\n")


_ADOPTED_4 = (
    "record 4 was written without its head update and adopted by a later append or repair: a crash "
    "leaves such a record, and so does someone who can write the log but not its head file; the head "
    "file does not vouch for it"
)


def test_a_forged_record_stays_noted_after_the_next_genuine_append(
    tmp_path: Path, engine: csrules.Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    """The next append took the forged record over and wrote a head naming it: the note went away,
    and forgeries in between genuine appends all verified clean."""
    path = tmp_path / "log.jsonl"
    log = _fill(path, engine, 3)
    _forge(path, engine, "1.00")
    assert [r.seq for r in log] == [1, 2, 3, 4]
    assert verify_log(path).notes[0].startswith("the head file names record 3 of 4: ")
    log.append(engine.evaluate(refund("7.00"), now=NOW))
    report = verify_log(path)
    assert (report.ok, report.records, report.notes) == (True, 5, (_ADOPTED_4,))
    log.append(engine.evaluate(refund("8.00"), now=NOW))  # a head that adopted nothing new keeps the list
    _forge(path, engine, "2.00")
    log.append(engine.evaluate(refund("9.00"), now=NOW))
    report = verify_log(path)
    assert (report.ok, report.records) == (True, 8)
    assert report.notes == (
        "records 4, 7 were written without their head update and adopted by a later append or repair: "
        "a crash leaves such a record, and so does someone who can write the log but not its head file; "
        "the head file does not vouch for them",
    )
    assert json.loads((tmp_path / "log.jsonl.head").read_text()) == {
        "adopted": [4, 7],
        "hash": log.head[1],
        "seq": 8,
    }
    assert main(["log", "verify", str(path)]) == 0
    assert capsys.readouterr().out.splitlines()[1] == f"note: {report.notes[0]}"


def test_a_log_that_never_adopted_a_record_keeps_the_head_file_of_before(
    tmp_path: Path, engine: csrules.Engine
) -> None:
    path = tmp_path / "log.jsonl"
    log = _fill(path, engine, 2)
    seq, digest = log.head
    assert (tmp_path / "log.jsonl.head").read_text() == f'{{"hash":"{digest}","seq":{seq}}}\n'


def test_one_record_and_no_head_is_a_note_as_for_the_append_and_repair_adopts_it(
    tmp_path: Path, engine: csrules.Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    """The state a crash in the first append leaves: the append took it and repair made a head, but
    verify called it `truncated-log`, and after the repair the log verified clean."""
    path = tmp_path / "log.jsonl"
    _fill(path, engine, 1)
    (tmp_path / "log.jsonl.head").unlink()
    report = verify_log(path)
    assert (report.ok, report.records) == (True, 1)
    assert report.notes == (
        "the log has one record and no head file: the first append did not finish (a crash), or a log "
        "was cut to its first record and its head file deleted; the next append or `csrules log repair` "
        "adopts the record, and verifying keeps noting it",
    )
    assert main(["log", "repair", str(path)]) == 0
    assert capsys.readouterr().out == (
        "brought the head file up to record 1, written without its head update (`log verify` keeps "
        "noting it)\n"
    )
    assert verify_log(path).notes == (_ADOPTED_4.replace("record 4", "record 1"),)


def test_an_append_after_a_first_append_that_crashed_notes_the_record_it_adopted(
    tmp_path: Path, engine: csrules.Engine
) -> None:
    path = tmp_path / "log.jsonl"
    _fill(path, engine, 1)
    (tmp_path / "log.jsonl.head").unlink()
    csrules.DecisionLog(path).append(engine.evaluate(refund("5.00"), now=NOW))
    report = verify_log(path)
    assert (report.ok, report.records, report.notes) == (
        True,
        2,
        (_ADOPTED_4.replace("record 4", "record 1"),),
    )


@pytest.mark.parametrize("head", ["names-it", "one-behind"])
def test_repair_gives_a_whole_last_record_its_newline_back_instead_of_cutting_it(
    tmp_path: Path, engine: csrules.Engine, capsys: pytest.CaptureFixture[str], head: str
) -> None:
    """A record whole but for its final newline (an editor that strips it, or a write cut just
    before it) was cut off by repair: a hash-valid record, gone."""
    path = tmp_path / "log.jsonl"
    log = _fill(path, engine, 3)
    before = (tmp_path / "log.jsonl.head").read_text()
    log.append(engine.evaluate(refund("99.00"), now=NOW))
    whole = path.read_bytes()
    path.write_bytes(whole[:-1])
    if head == "one-behind":
        (tmp_path / "log.jsonl.head").write_text(before)
    problem = verify_log(path).problem
    assert problem is not None
    assert (problem.code, problem.line) == ("torn-record", 4)
    assert main(["log", "repair", str(path)]) == 0
    expected = "restored the last record's missing final newline"
    if head == "one-behind":
        expected += (
            "; brought the head file up to record 4, written without its head update (`log verify` "
            "keeps noting it)"
        )
    assert capsys.readouterr().out == expected + "\n"
    assert path.read_bytes() == whole
    report = verify_log(path)
    assert (report.ok, report.records) == (True, 4)
    assert report.notes == ((_ADOPTED_4,) if head == "one-behind" else ())


@pytest.mark.parametrize("cut", [2, 40, -1], ids=["brace", "mid", "first-byte"])
def test_repair_cuts_a_record_cut_short(tmp_path: Path, engine: csrules.Engine, cut: int) -> None:
    path = tmp_path / "log.jsonl"
    _fill(path, engine, 2)
    whole = path.read_bytes()
    last = whole.splitlines(keepends=True)[-1]
    torn = last[:1] if cut == -1 else last[:-cut]  # as if a third append wrote these bytes only
    path.write_bytes(whole + torn)
    assert csrules.DecisionLog.repair(path) == LogRepair(removed=len(torn))
    assert path.read_bytes() == whole


def test_repair_cuts_a_write_cut_inside_a_character(tmp_path: Path, engine: csrules.Engine) -> None:
    path = tmp_path / "log.jsonl"
    _fill(path, engine, 1)
    whole = path.read_bytes()
    head = (tmp_path / "log.jsonl.head").read_bytes()
    log = csrules.DecisionLog(path)
    log.append(engine.evaluate({**refund("5.00"), "id": "T-\u00e9t\u00e9"}, now=NOW))
    last = path.read_bytes()[len(whole) :]
    cut = last.index("\u00e9".encode()) + 1  # the first byte of a two-byte character
    path.write_bytes(whole + last[:cut])
    (tmp_path / "log.jsonl.head").write_bytes(head)  # the crash came before the head's update
    assert csrules.DecisionLog.repair(path) == LogRepair(removed=cut)
    assert path.read_bytes() == whole


@pytest.mark.parametrize(
    ("edit", "code"),
    [
        (lambda line: line.replace(b'"seq":2', b'"seq": 2'), "altered-record"),  # not as written
        (lambda line: line + b"xx", "invalid-record"),  # a whole record, then bytes
        (lambda line: line.replace(b'"category":"other"', b'"category":"otter"'), "altered-record"),
        (lambda line: b"[1, 2]", "invalid-record"),  # JSON, but no record
    ],
    ids=["spaced", "trailing-bytes", "hash-broken", "no-record"],
)
def test_repair_keeps_a_last_line_without_its_newline_that_no_crash_leaves(
    tmp_path: Path, engine: csrules.Engine, capsys: pytest.CaptureFixture[str], edit: Any, code: str
) -> None:
    """A cut write never closes its record's `{`: a last line that holds a whole JSON value was
    edited. Repair cut it, the whole record in front of `xx` included, and the evidence with it;
    verify called it `torn-record` (a crash) where it is tampering."""
    path = tmp_path / "log.jsonl"
    _fill(path, engine, 2)
    whole = path.read_bytes()
    last = whole.splitlines(keepends=True)[-1]
    edited = whole[: -len(last)] + edit(last[:-1])
    path.write_bytes(edited)
    repaired = csrules.DecisionLog.repair(path)
    assert (repaired.removed, repaired.newline_restored, repaired.adopted) == (0, False, None)
    assert repaired.problem is not None
    assert (repaired.problem.code, repaired.problem.message) == (
        "invalid-record",
        "the last line lacks its newline but is neither a whole record nor the start of one (what a write "
        "cut short leaves): it was edited",
    )
    assert path.read_bytes() == edited
    problem = verify_log(path).problem
    assert problem is not None
    assert (problem.code, problem.message, problem.line) == ("invalid-record", repaired.problem.message, 2)
    with pytest.raises(csrules.AuditError) as info:
        csrules.DecisionLog(path)
    assert (info.value.code, info.value.message) == ("invalid-record", repaired.problem.message)
    assert main(["log", "verify", str(path)]) == 1
    assert capsys.readouterr().out.startswith("tampered: ")
    assert main(["log", "repair", str(path)]) == 1
    assert capsys.readouterr().out == (
        "nothing to repair; left as it is, as no crash leaves it: the last line lacks its newline but is "
        "neither a whole record nor the start of one (what a write cut short leaves): it was edited "
        "[invalid-record] (run `csrules log verify`)\n"
    )
    assert code  # what the line would be with a newline: shown once an investigator adds one
    path.write_bytes(edited + b"\n")
    problem = verify_log(path).problem
    assert problem is not None
    assert (problem.code, problem.line) == (code, 2)


_ODD_ID = 'T-"q\\b\n\t\x01\u00e9\u20ac\U0001f600'  # escapes, control characters, 2-, 3- and 4-byte UTF-8


def _cut_points(record: bytes) -> list[int]:
    """Every byte of the record's start and end (its keys, hash, prev and seq) and around each
    escape and multi-byte character, and every 97th byte between: where a write can be cut."""
    near = {i + d for i, byte in enumerate(record) if byte == 0x5C or byte >= 0x80 for d in range(-4, 5)}
    points = (
        set(range(1, 64)) | set(range(len(record) - 300, len(record))) | near | set(range(1, len(record), 97))
    )
    return sorted(p for p in points if 0 < p < len(record))


def test_repair_cuts_a_record_cut_short_at_any_byte(tmp_path: Path, engine: csrules.Engine) -> None:
    """A write cut anywhere leaves the start of a record: inside a key, a string, an escape
    (`\\"`, `\\u0001`), a multi-byte character, a number, `true`; with or without NUL bytes where the
    rest of the write should be. Repair cuts each of them, and nothing else."""
    path = tmp_path / "log.jsonl"
    log = _fill(path, engine, 1)
    whole = path.read_bytes()
    head = (tmp_path / "log.jsonl.head").read_bytes()
    log.append(engine.evaluate({**refund("5.00"), "id": _ODD_ID}, now=NOW))
    record = path.read_bytes()[len(whole) : -1]
    assert b'\\"q\\\\b\\n\\t\\u0001' in record
    assert b"true" in record
    points = _cut_points(record)
    assert len(points) > 500
    for cut in points:
        for nuls in (0, 3) if cut % 3 else (0,):
            torn = record[:cut] + b"\0" * nuls
            path.write_bytes(whole + torn)
            (tmp_path / "log.jsonl.head").write_bytes(head)  # the crash came before the head's update
            with pytest.raises(csrules.AuditError) as info:
                csrules.DecisionLog(path)
            assert info.value.code == "torn-record", (cut, nuls)
            assert csrules.DecisionLog.repair(path) == LogRepair(removed=len(torn)), (cut, nuls)
            assert path.read_bytes() == whole


@pytest.mark.parametrize(
    "edit",
    [
        lambda torn: b" " + torn,
        lambda torn: b"\xef\xbb\xbf" + torn,
        lambda torn: torn.replace(b'{"decision":{', b'{"decision": {', 1),
        lambda torn: torn[: torn.index(b"}") + 1].replace(b"}", b"]"),
        lambda torn: torn[: torn.rindex(b'"seq":') + 6] + b"3x",
        lambda torn: torn[: torn.rindex(b'"seq":') + 6] + b"1" * 5000,
        lambda torn: torn[:100] + b"\xff" + torn[100:],
        lambda torn: torn[:100] + b"\0" + torn[100:],
        lambda torn: b'{"seq":3,"decision":',
        lambda torn: b"[1,2",
        lambda torn: b'{"decision":' + b"[" * 100_000,
        lambda torn: torn[: torn.index(b'"stage":') + 8] + b"NaN",
    ],
    ids=[
        "leading-space",
        "bom",
        "space-between-tokens",
        "brace-to-bracket",
        "seq-3x",
        "5000-digits",
        "bad-utf8",
        "nul-inside",
        "other-start",
        "no-record",
        "deep",
        "nan",
    ],
)
def test_repair_leaves_an_edited_last_line_that_no_cut_write_leaves(
    tmp_path: Path, engine: csrules.Engine, capsys: pytest.CaptureFixture[str], edit: Any
) -> None:
    """A cut write leaves the first bytes of a record as csrules writes it. Anything else without
    its newline was edited: repair cut it as a crash's leftover (and, behind it, the record it hid)
    where it is evidence."""
    path = tmp_path / "log.jsonl"
    _fill(path, engine, 3)
    whole = path.read_bytes()
    last = whole.splitlines(keepends=True)[-1]
    edited = whole[: -len(last)] + edit(last[:-2])  # the last record, cut short, then edited
    path.write_bytes(edited)
    message = (
        "the last line lacks its newline but is neither a whole record nor the start of one (what a write "
        "cut short leaves): it was edited"
    )
    repaired = csrules.DecisionLog.repair(path)
    assert repaired.problem is not None
    assert (repaired.removed, repaired.problem.code, repaired.problem.message) == (
        0,
        "invalid-record",
        message,
    )
    assert path.read_bytes() == edited
    with pytest.raises(csrules.AuditError) as info:
        csrules.DecisionLog(path)
    assert (info.value.code, info.value.message) == ("invalid-record", message)
    assert main(["log", "verify", str(path)]) == 1
    assert capsys.readouterr().out.startswith(f"tampered: {path}:3: {message} [invalid-record]")


@pytest.mark.parametrize("newline", [True, False], ids=["whole", "newline-stripped"])
@pytest.mark.parametrize("count", [1, 3])
def test_a_last_record_that_does_not_follow_the_one_before_is_left_and_refused(
    tmp_path: Path, engine: csrules.Engine, capsys: pytest.CaptureFixture[str], newline: bool, count: int
) -> None:
    """A copy of the last record appended (no crash writes a record twice): its hash holds and the
    head names its twin, so appending chained onto it and repair gave it a newline and said nothing."""
    path = tmp_path / "log.jsonl"
    log = _fill(path, engine, count)
    whole = path.read_bytes()
    copied = whole + whole.splitlines(keepends=True)[-1][: None if newline else -1]
    path.write_bytes(copied)
    message = (
        f"the last record (record {count}) does not follow the line before it: a record was deleted, "
        "moved or duplicated"
    )
    with pytest.raises(csrules.AuditError) as info:
        log.append(engine.evaluate(refund("5.00"), now=NOW))
    assert (info.value.code, info.value.message) == ("broken-chain", message)
    with pytest.raises(csrules.AuditError):
        log.head  # noqa: B018
    repaired = csrules.DecisionLog.repair(path)
    assert repaired.problem is not None
    assert (repaired.removed, repaired.newline_restored, repaired.problem.code) == (0, False, "broken-chain")
    assert path.read_bytes() == copied
    problem = verify_log(path).problem
    assert problem is not None
    assert (problem.code, problem.line) == ("broken-chain", count + 1)
    assert main(["log", "repair", str(path)]) == 1
    assert capsys.readouterr().out == (
        f"nothing to repair; left as it is, as no crash leaves it: {message} [broken-chain] (run `csrules "
        "log verify`)\n"
    )


def test_appending_refuses_a_log_whose_next_to_last_record_was_deleted(
    tmp_path: Path, engine: csrules.Engine
) -> None:
    """The head names the last record, which is still there: only its `prev` tells one is missing."""
    path = tmp_path / "log.jsonl"
    log = _fill(path, engine, 3)
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(lines[0] + lines[2])
    with pytest.raises(csrules.AuditError) as info:
        log.append(engine.evaluate(refund("5.00"), now=NOW))
    assert (info.value.code, info.value.message) == (
        "broken-chain",
        "the last record (record 3) does not follow the line before it: a record was deleted, moved or "
        "duplicated",
    )
    assert path.read_bytes() == lines[0] + lines[2]


def test_repair_cuts_nul_bytes_a_file_system_left_after_a_whole_record(
    tmp_path: Path, engine: csrules.Engine
) -> None:
    """A crash can leave a file's new size without all of its data: NUL bytes where the end of a
    write should be. After a whole record they are what remains of its newline."""
    path = tmp_path / "log.jsonl"
    _fill(path, engine, 2)
    whole = path.read_bytes()
    path.write_bytes(whole[:-1] + b"\0" * 7)
    assert csrules.DecisionLog.repair(path) == LogRepair(removed=7, newline_restored=True)
    assert path.read_bytes() == whole
    path.write_bytes(whole + b"\0" * 100)  # the next write's data lost entirely
    assert csrules.DecisionLog.repair(path) == LogRepair(removed=100)
    assert path.read_bytes() == whole
    assert verify_log(path).ok


@pytest.mark.parametrize(
    "adopted",
    ['"4"', "[4]", "[0]", "[2, 2]", "[3, 1]", "[true]", "[1.0]", "{}"],
    ids=["text", "beyond", "zero", "repeated", "unsorted", "bool", "float", "object"],
)
def test_a_head_whose_adopted_list_is_not_one_is_invalid(
    tmp_path: Path, engine: csrules.Engine, adopted: str
) -> None:
    path = tmp_path / "log.jsonl"
    log = _fill(path, engine, 3)
    head_file = tmp_path / "log.jsonl.head"
    head_file.write_text(f'{{"adopted":{adopted},"hash":"{log.head[1]}","seq":3}}\n')
    expected = (
        "invalid-head",
        "the head file's `adopted` is not a list of increasing record numbers up to its own",
    )
    problem = verify_log(path).problem
    assert problem is not None
    assert (problem.code, problem.message, problem.file) == (*expected, str(head_file))
    before = (path.read_bytes(), head_file.read_bytes())
    for attempt in (lambda: log.append(engine.evaluate(refund("5.00"), now=NOW)), lambda: log.repair(path)):
        with pytest.raises(csrules.AuditError) as info:
            attempt()
        assert (info.value.code, info.value.message) == expected
    assert (path.read_bytes(), head_file.read_bytes()) == before


def test_a_note_names_ten_adopted_records_and_counts_the_rest(tmp_path: Path, engine: csrules.Engine) -> None:
    path = tmp_path / "log.jsonl"
    log = _fill(path, engine, 12)
    adopted = list(range(1, 13))
    (tmp_path / "log.jsonl.head").write_text(
        json.dumps({"adopted": adopted, "hash": log.head[1], "seq": 12}, separators=(",", ":"))
    )
    assert verify_log(path).notes == (
        "records 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 and 2 more were written without their head update and "
        "adopted by a later append or repair: a crash leaves such a record, and so does someone who can "
        "write the log but not its head file; the head file does not vouch for them",
    )


def test_two_crashes_in_a_row_leave_the_head_one_record_behind(
    tmp_path: Path, engine: csrules.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A crash before the head's update, then another in the append after it: the head named
    record 3 of a log of 5, `truncated-log`, and appending was refused for good."""
    path = tmp_path / "log.jsonl"
    log = _fill(path, engine, 3)
    head = (tmp_path / "log.jsonl.head").read_text()
    log.append(engine.evaluate(refund("4.00"), now=NOW))
    (tmp_path / "log.jsonl.head").write_text(head)  # the first crash

    class Crash(BaseException):
        pass

    write_head = decision_log._write_head

    def crash_on_the_new_records_head(target: Path, new: Any, *, fsync: bool) -> None:
        if new.seq == 5:
            raise Crash
        write_head(target, new, fsync=fsync)

    monkeypatch.setattr(decision_log, "_write_head", crash_on_the_new_records_head)
    with pytest.raises(Crash):
        log.append(engine.evaluate(refund("5.00"), now=NOW))
    monkeypatch.undo()
    report = verify_log(path)
    assert (report.ok, report.records) == (True, 5)
    assert report.notes[0].startswith("the head file names record 4 of 5: ")
    assert report.notes[1] == _ADOPTED_4
    assert log.append(engine.evaluate(refund("6.00"), now=NOW)).seq == 6
    report = verify_log(path)
    assert (report.ok, report.records) == (True, 6)
    assert report.notes == (
        _ADOPTED_4.replace("record 4 was", "records 4, 5 were")
        .replace("its head update", "their head update")
        .replace("vouch for it", "vouch for them"),
    )


def _rewrite_last(path: Path, change: Any, *, rehash: bool) -> None:
    """Change the last record's decision JSON; with `rehash` its hash is computed again (a forger
    who also rewrites the head file), without it the hash no longer holds."""
    lines = path.read_bytes().splitlines(keepends=True)
    record = json.loads(lines[-1])
    change(record)
    if rehash:
        body = {key: record[key] for key in ("decision", "prev", "seq")}
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        record["hash"] = hashlib.sha256(canonical.encode()).hexdigest()
    lines[-1] = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"
    path.write_bytes(b"".join(lines))


@pytest.mark.parametrize("head", ["names-it", "one-behind"])
def test_an_altered_last_record_is_never_chained_onto_nor_adopted(
    tmp_path: Path, engine: csrules.Engine, capsys: pytest.CaptureFixture[str], head: str
) -> None:
    """Appending and repairing read the last record without checking its hash: an append chained
    onto an altered record, and repair adopted it into the head file."""
    path = tmp_path / "log.jsonl"
    log = _fill(path, engine, 3)
    head_file = tmp_path / "log.jsonl.head"
    if head == "one-behind":
        before = head_file.read_text()
        log.append(engine.evaluate(refund("4.00"), now=NOW))
        head_file.write_text(before)
    _rewrite_last(path, lambda record: record["decision"].update(ticket_id="T-forged"), rehash=False)
    kept = (path.read_bytes(), head_file.read_bytes())
    seq = 4 if head == "one-behind" else 3
    expected = ("altered-record", f"the last record (record {seq}) was altered: its hash does not match")
    for attempt in (lambda: log.append(engine.evaluate(refund("5.00"), now=NOW)), lambda: log.head):
        with pytest.raises(csrules.AuditError) as info:
            attempt()
        assert (info.value.code, info.value.message) == expected
    repaired = csrules.DecisionLog.repair(path)
    assert repaired.problem is not None
    assert (repaired.adopted, repaired.problem.code, repaired.problem.message) == (None, *expected)
    assert (path.read_bytes(), head_file.read_bytes()) == kept
    assert main(["log", "repair", str(path)]) == 1
    capsys.readouterr()


def test_a_record_nested_too_deeply_to_write_again_is_invalid_not_a_crash(
    tmp_path: Path, engine: csrules.Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    """json.loads read it back, json.dumps recursed too deep: RecursionError out of verify_log,
    repair and `log verify` (exit 3). Where loads stops and dumps starts failing depends on the
    stack in use, so every depth around the recursion limit is tried."""
    path = tmp_path / "log.jsonl"
    _fill(path, engine, 2)
    whole = path.read_bytes().splitlines(keepends=True)
    messages = set()
    for depth in range(700, 1001):
        deep = b"[" * depth + b"1" + b"]" * depth
        path.write_bytes(
            whole[0] + whole[1].replace(b'{"decision":{', b'{"decision":{"aaa":' + deep + b",", 1)
        )
        problem = verify_log(path).problem
        assert problem is not None
        assert problem.line == 2
        messages.add((problem.code, problem.message))
        if problem.message.endswith("(nested too deeply)"):
            repaired = csrules.DecisionLog.repair(path)
            assert repaired.problem is not None
            assert repaired.problem.code == problem.code
            assert main(["log", "verify", str(path)]) == 1
    assert ("invalid-record", "not a log record (nested too deeply)") in messages
    assert {code for code, _ in messages} <= {"invalid-record", "altered-record"}  # not JSON, or the hash
    capsys.readouterr()


def test_a_record_whose_seq_is_true_is_no_record(tmp_path: Path, engine: csrules.Engine) -> None:
    """`true` is an int to isinstance: a record of seq `true` became the last record, and the head
    an append wrote, `{"adopted":[true],"seq":true}`, was refused ever after."""
    path = tmp_path / "log.jsonl"
    path.write_bytes(b"")
    decision = json.loads(engine.evaluate(refund("5.00"), now=NOW).to_json())
    body = {"decision": decision, "prev": GENESIS, "seq": True}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    record = {**body, "hash": hashlib.sha256(canonical.encode()).hexdigest()}
    line = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"
    path.write_bytes(line)
    problem = verify_log(path).problem
    assert problem is not None
    assert (problem.code, problem.line) == ("invalid-record", 1)
    with pytest.raises(csrules.AuditError) as info:
        csrules.DecisionLog(path)
    assert info.value.code == "invalid-record"
    assert csrules.DecisionLog.repair(path).adopted is None
    assert not (tmp_path / "log.jsonl.head").exists()


@pytest.mark.parametrize(
    "head",
    ['{"hash":"%s","seq":true}', '{"hash":"%s","seq":0}', '{"hash":"zz","seq":2}', '{"hash":"%s","seq":-1}'],
    ids=["seq-true", "seq-zero", "hash-not-hex", "seq-negative"],
)
def test_a_head_that_is_no_head_record_is_invalid(tmp_path: Path, engine: csrules.Engine, head: str) -> None:
    path = tmp_path / "log.jsonl"
    log = _fill(path, engine, 2)
    head_file = tmp_path / "log.jsonl.head"
    head_file.write_text(head.replace("%s", log.head[1]) + "\n")
    problem = verify_log(path).problem
    assert problem is not None
    assert (problem.code, problem.file) == ("invalid-head", str(head_file))


def test_repair_with_an_unreadable_head_changes_nothing(tmp_path: Path, engine: csrules.Engine) -> None:
    """Repair cut the torn line, then raised `invalid-head`: a change, and an error saying none."""
    path = tmp_path / "log.jsonl"
    _fill(path, engine, 2)
    (tmp_path / "log.jsonl.head").write_text("not a head\n")
    with path.open("ab") as handle:
        handle.write(b'{"decision":{"ou')
    kept = path.read_bytes()
    with pytest.raises(csrules.AuditError) as info:
        csrules.DecisionLog.repair(path)
    assert info.value.code == "invalid-head"
    assert path.read_bytes() == kept


def test_log_verify_calls_a_torn_last_record_damaged_not_tampered(
    tmp_path: Path, engine: csrules.Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "log.jsonl"
    _fill(path, engine, 2)
    with path.open("ab") as handle:
        handle.write(b'{"decision":{"ou')
    assert main(["log", "verify", str(path)]) == 1
    assert capsys.readouterr().out == (
        f"damaged: {path}:3: the last record is incomplete (a write was interrupted): `csrules log repair` mends it [torn-record]\n"
        "2 records verified before it\n"
    )


def test_an_append_makes_its_head_durable_with_the_directory(
    tmp_path: Path, engine: csrules.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The head file is replaced by a rename, which is on disk only once its directory is."""
    path = tmp_path / "log.jsonl"
    synced: list[str] = []
    fsync = os.fsync

    def recording(fd: int) -> None:
        mode = os.fstat(fd).st_mode
        synced.append("directory" if stat.S_ISDIR(mode) else "file")
        fsync(fd)

    monkeypatch.setattr(os, "fsync", recording)
    csrules.DecisionLog(path).append(engine.evaluate(refund("5.00"), now=NOW))
    assert synced == ["file", "file", "directory"]  # the record, the head's content, its rename
    synced.clear()
    csrules.DecisionLog(path, fsync=False).append(engine.evaluate(refund("6.00"), now=NOW))
    assert synced == []


@pytest.mark.parametrize("fails", ["write", "replace"])
def test_an_append_whose_head_update_fails_leaves_no_temporary_file(
    tmp_path: Path, engine: csrules.Engine, monkeypatch: pytest.MonkeyPatch, fails: str
) -> None:
    """A full disk while the head is replaced: the record is written, the head one behind (what a
    crash leaves), and the temporary head file, half written or whole, was left beside the log."""
    path = tmp_path / "log.jsonl"
    log = _fill(path, engine, 2)
    write_text = Path.write_text

    def full(*args: Any, **kwargs: Any) -> None:
        if fails == "write":  # part of the content, then the disk is full
            write_text(args[0], args[1][:5], encoding="utf-8")
        raise OSError(28, "No space left on device")

    if fails == "write":
        monkeypatch.setattr(Path, "write_text", full)
    else:
        monkeypatch.setattr(decision_log.os, "replace", full)
    with pytest.raises(OSError, match="No space left"):
        log.append(engine.evaluate(refund("5.00"), now=NOW))
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["log.jsonl", "log.jsonl.head"]
    report = verify_log(path)
    assert (report.ok, report.records) == (True, 3)
    assert report.notes[0].startswith("the head file names record 2 of 3: ")
    assert log.append(engine.evaluate(refund("6.00"), now=NOW)).seq == 4


def _rehash(line: bytes) -> bytes:
    """The record line with its hash recomputed, as anyone can (sha256 over its canonical JSON
    without `hash`), written in the form csrules writes."""
    record = json.loads(line)
    body = {key: record[key] for key in ("decision", "prev", "seq")}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    record["hash"] = hashlib.sha256(canonical.encode()).hexdigest()
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


def test_records_of_odd_text_verify_and_their_hash_is_sha256_of_their_canonical_json(
    tmp_path: Path, engine: csrules.Engine
) -> None:
    """The hash is built around the decision's JSON, not by encoding the record again: it must
    still be what anyone computes with json.dumps, for text with escapes and characters of every
    UTF-8 length."""
    path = tmp_path / "log.jsonl"
    log = csrules.DecisionLog(path, fsync=False)
    for name in (_ODD_ID, "T-\u2028\u0000\\u0041", "T-" + "\U0001f600" * 300):
        log.append(engine.evaluate({**refund("45.00"), "id": name}, now=NOW))
    lines = path.read_bytes().splitlines(keepends=True)
    assert [_rehash(line) for line in lines] == lines
    report = verify_log(path)
    assert (report.ok, report.records) == (True, 3)
    assert [r.decision.ticket_id for r in log] == [
        _ODD_ID,
        "T-\u2028\u0000\\u0041",
        "T-" + "\U0001f600" * 300,
    ]


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_a_record_holding_nan_is_no_record_even_with_its_hash_holding(
    tmp_path: Path, engine: csrules.Engine, constant: str
) -> None:
    """json.loads reads NaN and json.dumps writes it back: a record holding it was in the written
    form and its hash held, so it read as a record whose decision was then refused."""
    path = tmp_path / "log.jsonl"
    csrules.DecisionLog(path, fsync=False).append(engine.evaluate(refund("45.00"), now=NOW))
    line = path.read_bytes()
    assert b'"stage":0}' in line
    path.write_bytes(_rehash(line.replace(b'"stage":0}', b'"stage":' + constant.encode() + b"}", 1)))
    report = verify_log(path)
    assert report.problem is not None
    assert (report.problem.code, report.problem.line, report.problem.message) == (
        "invalid-record",
        1,
        "not a log record (not JSON)",
    )


@pytest.mark.parametrize("target", ["log", "head", "hard link", "symlink"])
def test_a_report_is_never_written_over_its_input_or_its_head(
    tmp_path: Path, engine: csrules.Engine, capsys: pytest.CaptureFixture[str], target: str
) -> None:
    """`report LOG --html LOG` turned a hash-chained log into an HTML page (exit 0, the log then
    'tampered'); its head file could be replaced the same way."""
    path = tmp_path / "log.jsonl"
    _fill(path, engine, 3)
    before = (path.read_bytes(), (tmp_path / "log.jsonl.head").read_bytes())
    html = {"log": path, "head": tmp_path / "log.jsonl.head", "hard link": tmp_path / "link.html"}.get(
        target, tmp_path / "sym.html"
    )
    if target == "hard link":
        os.link(path, html)
    elif target == "symlink":
        html.symlink_to(path)
    assert main(["report", str(path), "--html", str(html), "--no-verify"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    what = "the input log head" if target == "head" else "the input"
    assert err == f"csrules: error: --html: `{html}` is {what}\n"
    assert (path.read_bytes(), (tmp_path / "log.jsonl.head").read_bytes()) == before
    assert verify_log(path).ok
    assert main(["report", str(path), "--html", str(tmp_path / "page.html"), "--no-verify"]) == 0


@pytest.mark.parametrize("command", [["log", "verify"], ["log", "show"], ["log", "repair"]])
def test_a_log_that_is_a_pipe_is_refused_not_read_as_empty(
    tmp_path: Path, engine: csrules.Engine, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    """`cat log | csrules log verify /dev/stdin` said "ok: 0 records" (a pipe's size is 0, and the
    read stopped there), whatever the pipe held; a FIFO with no writer would block the open."""
    fifo = tmp_path / "decisions.jsonl"
    os.mkfifo(fifo)
    assert main([*command, str(fifo)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"csrules: error: {fifo}: cannot ")
    assert "not a regular file (a pipe or a device)" in err
    report = verify_log(fifo)
    assert report.problem is not None
    assert (report.problem.code, report.records) == ("no-such-file", 0)


@pytest.mark.parametrize(
    ("command", "verb"), [(["log", "verify"], "read"), (["log", "show"], "read"), (["log", "repair"], "open")]
)
def test_a_log_that_is_a_directory_is_called_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str], verb: str
) -> None:
    """A directory was "not a regular file (a pipe or a device)"; `log show` added "(run `csrules
    log verify`)", which could say no more."""
    assert main([*command, str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err == f"csrules: error: {tmp_path}: cannot {verb} the log: Is a directory [no-such-file]\n"
    with pytest.raises(csrules.AuditError, match="cannot read the log: Is a directory") as caught:
        csrules.DecisionLog(tmp_path)
    assert caught.value.code == "no-such-file"


def test_a_head_file_that_is_a_fifo_is_unreadable_not_waited_on(
    tmp_path: Path, engine: csrules.Engine
) -> None:
    """Reading it waited for a writer forever, holding the log's lock: every append waited too."""
    path = tmp_path / "decisions.jsonl"
    log = _fill(path, engine, 2)
    head = tmp_path / "decisions.jsonl.head"
    head.unlink()
    os.mkfifo(head)
    report = verify_log(path)
    assert report.problem is not None
    assert (report.problem.code, report.problem.message) == ("invalid-head", "the head file cannot be read")
    with pytest.raises(csrules.AuditError) as info:
        log.append(engine.evaluate(refund("5.00"), now=NOW))
    assert info.value.code == "invalid-head"


def _changed_decisions(engine: csrules.Engine) -> dict[str, csrules.Decision]:
    decision = engine.evaluate(refund("45.00"), now=NOW)
    mutated = engine.evaluate(refund("45.00"), now=NOW)
    mutated.actions.append("not an action")  # type: ignore[arg-type]
    return {
        "model_copy": decision.model_copy(update={"outcome": "maybe"}),
        "model_construct": csrules.Decision.model_construct(**{**dict(decision), "required_role": 3}),
        "mutated": mutated,
    }


@pytest.mark.parametrize("how", ["model_copy", "model_construct", "mutated"])
def test_an_append_refuses_a_decision_no_reader_would_read_back(
    tmp_path: Path, engine: csrules.Engine, how: str
) -> None:
    """A Decision changed after it was made was hashed and chained: every reader then refused the
    log (`invalid-decision` at line 1) and no edit could remove the record without breaking the
    chain; appends went on."""
    path = tmp_path / "log.jsonl"
    log = _fill(path, engine, 1)
    before = path.read_bytes(), (tmp_path / "log.jsonl.head").read_bytes()
    with pytest.raises(csrules.AuditError) as caught:
        log.append(_changed_decisions(engine)[how])
    assert caught.value.code == "invalid-decision"
    assert caught.value.message.startswith("not a decision: /")
    assert caught.value.message.endswith("; nothing was appended")
    assert (path.read_bytes(), (tmp_path / "log.jsonl.head").read_bytes()) == before
    assert log.append(engine.evaluate(refund("5.00"), now=NOW)).seq == 2
    assert verify_log(path).ok


def test_a_log_reached_through_a_link_has_its_head_beside_the_log_itself(
    tmp_path: Path, engine: csrules.Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    """The head was looked for beside the path as spelled: an intact log read through a link was
    `tampered: the head file is missing`, appending through it refused, and appending through both
    names split the head in two."""
    (tmp_path / "data").mkdir()
    real = tmp_path / "data" / "real.jsonl"
    _fill(real, engine, 2)
    link = tmp_path / "link.jsonl"
    link.symlink_to(Path("data") / "real.jsonl")
    assert csrules.DecisionLog(link).append(engine.evaluate(refund("7.00"), now=NOW)).seq == 3
    _fill(real, engine, 1)
    assert sorted(p.name for p in tmp_path.rglob("*")) == [
        "data",
        "link.jsonl",
        "real.jsonl",
        "real.jsonl.head",
    ]
    for path in (link, real):
        report = verify_log(path)
        assert (report.ok, report.records, report.notes) == (True, 4, ())
        assert main(["log", "verify", str(path)]) == 0
        assert capsys.readouterr().out.startswith("ok: 4 records, head ")
    assert decision_log.head_file(link) == real.with_name("real.jsonl.head")


def test_a_log_whose_head_an_earlier_release_put_beside_its_link_keeps_it_there(
    tmp_path: Path, engine: csrules.Engine
) -> None:
    """Before csrules looked through links, `link.jsonl` had `link.jsonl.head`: once the head was
    looked for beside the log itself, such a log read as `the head file is missing` and no append,
    nor repair, could go on."""
    (tmp_path / "data").mkdir()
    real = tmp_path / "data" / "real.jsonl"
    link = tmp_path / "link.jsonl"
    link.symlink_to(Path("data") / "real.jsonl")
    _fill(real, engine, 2)
    (tmp_path / "data" / "real.jsonl.head").rename(tmp_path / "link.jsonl.head")  # where it was written
    assert decision_log.head_file(link) == tmp_path / "link.jsonl.head"
    report = verify_log(link)
    assert (report.ok, report.records, report.notes) == (True, 2, ())
    assert csrules.DecisionLog(link).append(engine.evaluate(refund("7.00"), now=NOW)).seq == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "link.jsonl", "link.jsonl.head"]
    assert verify_log(link).records == 3


def test_a_long_log_name_gets_a_short_temporary_head_and_one_too_long_for_its_head_is_refused(
    tmp_path: Path, engine: csrules.Engine
) -> None:
    """A name of 231-250 bytes: the temporary head `NAME.head.<pid>.<thread>.tmp` was too long, so
    the first append wrote its record then raised `File name too long` (from its own clean-up), and
    every later one failed: a log stuck at one record. A name of 251-255 bytes has no room for
    `.head`: refused before anything is written."""
    long = tmp_path / ("x" * 236 + ".jsonl")
    log = _fill(long, engine, 3)
    assert verify_log(long).records == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == [long.name, long.name + ".head"]
    assert log.append(engine.evaluate(refund("7.00"), now=NOW)).seq == 4
    too_long = tmp_path / ("y" * 246 + ".jsonl")
    with pytest.raises(csrules.AuditError) as caught:
        csrules.DecisionLog(too_long).append(engine.evaluate(refund("7.00"), now=NOW))
    assert caught.value.code == "no-such-file"
    assert caught.value.message == (
        "the log's name is too long: its head file `yyyyyyyyyyyyyyyyyyyyyyyy....head` would be longer "
        "than the 255 bytes a file name may have; nothing was appended"
    )
    assert not too_long.exists()


def test_repair_that_cannot_write_the_head_is_one_line_not_an_internal_error(
    tmp_path: Path,
    engine: csrules.Engine,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A folder the system refuses to write in (read-only, full): `repair` raised the OSError of
    the temporary head file, and the CLI said `internal error`, exit 3."""
    path = tmp_path / "log.jsonl"
    _fill(path, engine, 2)
    head = (tmp_path / "log.jsonl.head").read_bytes()
    _fill(path, engine, 1)
    (tmp_path / "log.jsonl.head").write_bytes(head)  # a third record, its head update lost in a crash

    def refused(*args: Any, **kwargs: Any) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(Path, "write_text", refused)
    assert main(["log", "repair", str(path)]) == 2
    assert capsys.readouterr().err == (
        f"csrules: error: {path}: cannot write the head file: Operation not permitted; the log ends with "
        "a whole record (record 3) the head does not name yet: repair again once the head file can be "
        "written [no-such-file]\n"
    )
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["log.jsonl", "log.jsonl.head"]
    assert (tmp_path / "log.jsonl.head").read_bytes() == head
    assert main(["log", "repair", str(path)]) == 0
    assert verify_log(path).records == 3


def _killed_while_replacing_the_head(path: str) -> None:
    """A writer SIGKILLed after writing its temporary head file, before renaming it over the head
    (the OOM killer, `kill -9`): what it leaves beside the log."""
    import signal  # noqa: PLC0415 - this child process alone

    engine = csrules.load()
    log = csrules.DecisionLog(path, fsync=False)
    os.replace = lambda *_: os.kill(os.getpid(), signal.SIGKILL)  # type: ignore[assignment]
    log.append(engine.evaluate(refund("45.00"), now=NOW))


def test_repair_removes_the_temporary_head_files_of_killed_writers_and_no_other_file(
    tmp_path: Path, engine: csrules.Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each writer killed while it replaced the head left `LOG.head.<pid>.<thread>.tmp` beside
    the log, for good."""
    path = tmp_path / "log.jsonl"
    _fill(path, engine, 2)
    writer = multiprocessing.get_context("spawn").Process(
        target=_killed_while_replacing_the_head, args=(str(path),)
    )
    writer.start()
    writer.join()
    assert writer.exitcode == -9
    (leftover,) = (p.name for p in tmp_path.glob("log.jsonl.head.*.tmp"))
    assert leftover.startswith(f"log.jsonl.head.{writer.pid}.")
    others = [
        "log.jsonl.head.tmp",  # not a name csrules writes
        "log.jsonl.head.1.2.tmp.bak",
        "log.jsonl.head.x.head.1.2.tmp",  # another log's: `log.jsonl.head.x`
        ".csrules-head.1.2.tmp",  # the shared fallback name: maybe another log's, mid-write
    ]
    for name in others:
        (tmp_path / name).write_text("{}\n")
    (tmp_path / "log.jsonl.head.7.8.tmp").write_text("{}\n")

    repair = csrules.DecisionLog.repair(path)
    assert (repair.ok, repair.adopted, repair.leftovers) == (True, 3, 2)
    assert "removed 2 temporary head files left by killed writers" in repair.describe()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*others, "log.jsonl", "log.jsonl.head"])
    assert verify_log(path).records == 3
    assert main(["log", "repair", str(path)]) == 0
    assert capsys.readouterr().out.splitlines()[-1].endswith("nothing to repair")


def test_log_show_and_a_replay_summary_quote_a_ticket_id_that_could_read_as_more_columns(
    tmp_path: Path, engine: csrules.Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    """`log show` printed an id holding two spaces bare: `T-1010  approve  front_line ...` read,
    column by column, as an approval by the front line of a decision escalated to a manager."""
    path = tmp_path / "log.jsonl"
    log = csrules.DecisionLog(path, fsync=False)
    spoof = "T-1010  approve  front_line  policy 692223280240"
    escalated = {**refund("500.00"), "id": spoof}
    log.append(engine.evaluate(escalated, now=NOW))
    log.append(engine.evaluate({**refund("5.00"), "id": "T-7"}, now=NOW))
    log.append(engine.evaluate({**refund("5.00"), "id": "100"}, now=NOW))
    assert main(["log", "show", str(path)]) == 0
    digest = engine.policy_digest[:12]
    assert capsys.readouterr().out.splitlines() == [
        f'     1  2026-11-23T15:00:00Z  "{spoof}"  escalate  manager  policy {digest}',
        f"     2  2026-11-23T15:00:00Z  T-7  approve  front_line  policy {digest}",
        f'     3  2026-11-23T15:00:00Z  "100"  approve  front_line  policy {digest}',
    ]
    summary = engine.verify(engine.evaluate({**refund("5.00"), "id": "T-1 replays"}, now=NOW)).summary()
    assert summary == f'identical: decision "T-1 replays" replays byte for byte under policy {digest}'
