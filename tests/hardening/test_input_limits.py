"""Inputs read in bounded memory: a JSON document, or a line of JSON Lines, is at most
`csrules.source.MAX_JSON_BYTES` (256 MiB). Before, `/dev/zero` or a 3 GB file given to a command
was read whole: a MemoryError (exit 3) or the machine's OOM killer.

The limit is lowered here (monkeypatch) so the boundaries are cheap to reach; the commands on
`/dev/zero` run with the real one.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest

import csrules
from csrules import source
from csrules.cli.main import main
from csrules.decision_log import read_decisions, verify_log
from tests.helpers import NOW, ROOT, refund, run_cli

LIMIT = 65536


@pytest.fixture
def limit(monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr(source, "MAX_JSON_BYTES", LIMIT)
    return LIMIT


def _padded(document: str, size: int) -> str:
    """`document` with spaces after it, `size` bytes in all (JSON reads them as whitespace)."""
    return document + " " * (size - len(document.encode()))


@pytest.mark.parametrize(("extra", "ok"), [(-1, True), (0, True), (1, False)])
def test_a_ticket_file_at_just_below_and_just_above_the_limit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], limit: int, extra: int, ok: bool
) -> None:
    path = tmp_path / "ticket.json"
    path.write_text(_padded(json.dumps(refund("45.00")), limit + extra), encoding="utf-8")
    code = main(["eval", str(path), "--now", "2026-11-23T15:00:00Z", "--format", "jsonl"])
    out, err = capsys.readouterr()
    if ok:
        assert (code, err, json.loads(out)["outcome"]) == (0, "", "escalate")
    else:
        assert (code, out) == (2, "")
        assert (
            err
            == f"csrules: error: {path}: cannot read the ticket: the document is larger than 65,536 bytes\n"
        )


def test_a_decision_file_over_the_limit_is_no_decision(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], engine: csrules.Engine, limit: int
) -> None:
    text = engine.evaluate(refund("5.00"), now=NOW).to_json()
    assert len(text) < limit
    path = tmp_path / "decision.json"
    path.write_text(_padded(text, limit), encoding="utf-8")
    assert main(["verify", str(path)]) == 0
    path.write_text(_padded(text, limit + 1), encoding="utf-8")
    assert main(["verify", str(path)]) == 2
    assert capsys.readouterr().err.endswith(
        f"{path}: not a decision: the document is larger than 65,536 bytes [invalid-decision]\n"
    )


def _log_of_one(tmp_path: Path, engine: csrules.Engine) -> tuple[Path, csrules.DecisionLog]:
    path = tmp_path / "decisions.jsonl"
    log = csrules.DecisionLog(path, fsync=False)
    log.append(engine.evaluate(refund("5.00"), now=NOW))
    return path, log


def test_a_log_line_over_the_limit_is_no_record_and_no_decision(
    tmp_path: Path, engine: csrules.Engine, limit: int
) -> None:
    path, _ = _log_of_one(tmp_path, engine)
    with path.open("a", encoding="utf-8") as handle:
        handle.write("x" * limit + "\n")
    report = verify_log(path)
    assert report.records == 1
    assert report.problem is not None
    assert (report.problem.code, report.problem.line) == ("invalid-record", 2)
    assert report.problem.message == "not a record: line 2 is larger than 65,536 bytes"
    with pytest.raises(csrules.AuditError) as info:
        list(read_decisions(path))
    assert (info.value.code, info.value.line) == ("invalid-decision", 2)
    assert info.value.message == "not a decision: line 2 is larger than 65,536 bytes"


def test_a_decision_whose_record_would_pass_the_limit_is_not_appended(
    tmp_path: Path, engine: csrules.Engine, limit: int
) -> None:
    """No record is written that no reader would read back."""
    path, log = _log_of_one(tmp_path, engine)
    before = path.read_bytes()
    notes = {f"note{n}": "n" * 10_000 for n in range(limit // 10_000 + 1)}  # 10,000 characters at most
    big = engine.evaluate({**refund("5.00"), "attributes": notes}, now=NOW)
    with pytest.raises(csrules.AuditError) as info:
        log.append(big)
    assert info.value.code == "invalid-decision"
    assert (
        info.value.message == "the decision's record would be larger than 65,536 bytes; nothing was appended"
    )
    assert path.read_bytes() == before
    assert verify_log(path).ok


def test_a_ticket_line_over_the_limit_stops_the_diff_with_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], limit: int
) -> None:
    corpus = tmp_path / "tickets.jsonl"
    corpus.write_text(json.dumps(refund("5.00")) + "\n" + "x" * limit + "\n", encoding="utf-8")
    policies = str(ROOT / "policies")
    assert main(["diff", policies, policies, "--tickets", str(corpus)]) == 2
    assert capsys.readouterr().err == (
        f"csrules: error: {corpus}:2: cannot read the tickets: line 2 is larger than 65,536 bytes\n"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["eval", "/dev/zero"], "/dev/zero: cannot read the ticket: the document is larger than 256 MiB"),
        (
            ["verify", "/dev/zero"],
            "/dev/zero: not a decision: the document is larger than 256 MiB [invalid-decision]",
        ),
        (
            ["coverage", "/dev/zero"],
            "/dev/zero:1: not a decision: line 1 is larger than 256 MiB [invalid-decision]",
        ),
        (
            ["report", "/dev/zero", "--html", "{tmp}/page.html"],
            "/dev/zero: the input is larger than 256 MiB, the most a report reads from a pipe or a device [invalid-decision]",
        ),
        (
            ["diff", "policies", "policies", "--tickets", "/dev/zero"],
            "/dev/zero:1: cannot read the tickets: line 1 is larger than 256 MiB",
        ),
    ],
    ids=["eval", "verify", "coverage", "report", "diff"],
)
def test_an_endless_input_is_one_line_and_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    result = run_cli(*(a.format(tmp=tmp_path) for a in args))
    assert (result.returncode, result.stdout, result.stderr) == (2, "", f"csrules: error: {message}\n")
    assert list(tmp_path.iterdir()) == []


def test_a_report_reads_a_log_larger_than_the_limit_a_line_at_a_time(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], engine: csrules.Engine, limit: int
) -> None:
    """The report read its whole input into memory: a log larger than the limit was refused; now
    only the decisions shown are kept, and the limit is a line's."""
    path, log = _log_of_one(tmp_path, engine)
    for n in range(2, 9):
        log.append(engine.evaluate({**refund(f"{n}.00"), "id": f"T-{n}"}, now=NOW))
    assert path.stat().st_size > limit
    out = tmp_path / "page.html"
    assert main(["report", str(path), "--html", str(out), "--limit", "3"]) == 0
    assert capsys.readouterr().out == (
        f"wrote {out}: 3 decision(s), 5 more not shown, 0 not replayed identically, log intact\n"
    )


@pytest.mark.parametrize("kind", ["log", "decision"])
def test_a_report_reads_a_pipe_whole_and_refuses_a_log_there(
    tmp_path: Path, engine: csrules.Engine, kind: str
) -> None:
    """A pipe cannot be read twice: it is read whole (at most MAX_JSON_BYTES). A log from a pipe
    was reported "log intact" with its chain unchecked (verify_log read the pipe again, empty)."""
    if kind == "log":
        path, _ = _log_of_one(tmp_path, engine)
        text = path.read_text(encoding="utf-8")
    else:  # one decision, over several lines
        text = json.dumps(json.loads(engine.evaluate(refund("45.00"), now=NOW).to_json()), indent=2)
    out = tmp_path / "page.html"
    result = run_cli("report", "/dev/stdin", "--html", str(out), stdin=text)
    if kind == "log":
        assert (result.returncode, result.stdout) == (2, "")
        assert result.stderr == (
            "csrules: error: /dev/stdin: a decision log is reported on from its file, where its hash "
            "chain and head file are checked, not from a pipe or a device\n"
        )
        assert not out.exists()
    else:
        assert (result.returncode, result.stderr) == (0, "")
        assert result.stdout == f"wrote {out}: 1 decision(s), 0 not replayed identically\n"
        assert "Ticket <code>T-1</code>" in out.read_text(encoding="utf-8")


def test_an_overlong_last_line_is_refused_without_being_read_whole(
    tmp_path: Path, engine: csrules.Engine, limit: int
) -> None:
    """Opening, appending to and repairing a log read its last line backwards to its start,
    however long (a 300 MiB line: 600 MB of memory); past the limit no record is that long."""
    path, _ = _log_of_one(tmp_path, engine)
    with path.open("ab") as handle:
        handle.write(b"{" + b"x" * (limit + 10))  # unterminated, as a cut write would be
    before = path.read_bytes()
    message = f"{path}: the last line is longer than 65,536 bytes: no record is [invalid-record]"
    with pytest.raises(csrules.AuditError) as info:
        csrules.DecisionLog(path, fsync=False)
    assert str(info.value) == message
    repair = csrules.DecisionLog.repair(path)
    assert repair.problem is not None
    assert str(repair.problem) == message
    assert path.read_bytes() == before  # evidence, left alone


def test_too_large_pickles_with_its_message() -> None:
    error = source.TooLarge(5)
    again = pickle.loads(pickle.dumps(error))
    assert (str(again), again.line) == (str(error), 5)
