"""A property over histories of a decision log: genuine appends mixed with crashes, torn writes,
records forged by someone who can write the log but not its head file, and repairs. Whatever the
history, a log that verifies names every record its head did not see written, an appended record is
never lost or rewritten, and crashes alone never leave a log that refuses appends for good."""

from __future__ import annotations

import hashlib
import json
import tempfile
from pathlib import Path
from typing import Any
from unittest import mock

from hypothesis import given, settings
from hypothesis import strategies as st

import csrules
from csrules import decision_log
from csrules.decision_log import verify_log
from tests.helpers import NOW, refund

STEPS = ["append", "crash", "forge", "tear", "repair"]

DECISION = csrules.load().evaluate(refund("45.00"), now=NOW)
_DECISION = json.loads(DECISION.to_json())


def _canonical(value: object) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _forge(path: Path) -> int:
    """Append a chained, hashed record without touching the head; its seq."""
    last = json.loads(path.read_bytes().splitlines()[-1]) if path.stat().st_size else None
    body = {
        "decision": _DECISION,
        "prev": last["hash"] if last else "0" * 64,
        "seq": last["seq"] + 1 if last else 1,
    }
    record = {**body, "hash": hashlib.sha256(_canonical(body)).hexdigest()}
    with path.open("ab") as handle:
        handle.write(_canonical(record) + b"\n")
    return int(body["seq"])


class _Crash(BaseException):
    """The process died where it was raised."""


def _crashing_append(path: Path) -> int | None:
    """An append that dies just before its head update; the seq it wrote, None when refused."""
    write_head = decision_log._write_head
    written: list[int] = []

    def crash_before_the_new_head(target: Path, head: Any, *, fsync: bool) -> None:
        if written and head.seq == written[0]:
            raise _Crash
        write_head(target, head, fsync=fsync)

    with path.open("rb") as handle:
        written.append(sum(1 for _ in handle) + 1)  # refused unless the log ends with whole records
    with mock.patch.object(decision_log, "_write_head", crash_before_the_new_head):
        try:
            csrules.DecisionLog(path, fsync=False).append(DECISION)
        except _Crash:
            return written[0]
        except csrules.AuditError:
            return None
    raise AssertionError("the append did not reach its head update")


def _unvouched_named(path: Path, records: int) -> set[int]:
    """The records the head file names as adopted, and the last one when the head lags behind it."""
    head_file = path.with_name(path.name + ".head")
    head = json.loads(head_file.read_text()) if head_file.exists() else {"seq": 0, "adopted": []}
    named = set(head.get("adopted", []))
    if head["seq"] == records - 1:
        named.add(records)
    return named


@settings(deadline=None)
@given(st.lists(st.sampled_from(STEPS), max_size=14))
def test_a_log_that_verifies_names_every_record_its_head_did_not_see_written(steps: list[str]) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "log.jsonl"
        unvouched: set[int] = set()  # records written without their head update
        confirmed: dict[int, bytes] = {}  # records whose append returned: never lost nor rewritten
        torn = forged = False
        path.touch()  # a log created and never written to
        for step in steps:
            report = verify_log(path)
            if step == "append":
                try:
                    record = csrules.DecisionLog(path, fsync=False).append(DECISION)
                except csrules.AuditError:
                    assert not report.ok  # refused exactly when the log does not verify
                    continue
                assert report.ok
                confirmed[record.seq] = path.read_bytes().splitlines(keepends=True)[record.seq - 1]
            elif step == "crash":
                seq = _crashing_append(path)
                assert (seq is None) is not report.ok
                if seq is None:
                    continue
                unvouched.add(seq)
            elif step == "forge" and not torn:
                unvouched.add(_forge(path))
                forged = True
            elif step == "tear" and not torn:
                with path.open("ab") as handle:
                    handle.write(b'{"decision":{"outc')
                torn = True
            elif step == "repair":
                csrules.DecisionLog.repair(path)
                torn = False
            report = verify_log(path)
            lines = path.read_bytes().splitlines(keepends=True)
            for seq, line in confirmed.items():
                assert lines[seq - 1] == line, f"record {seq} was lost or rewritten"
            if report.ok:
                assert torn is False
                assert {s for s in unvouched if s <= report.records} <= _unvouched_named(path, report.records)
                if unvouched & set(range(1, report.records + 1)):
                    assert report.notes
            else:
                assert report.problem is not None
                assert report.problem.code in ("torn-record", "truncated-log"), report.problem
                # Crashes alone never leave a head two records behind: only a forgery on top of one.
                assert report.problem.code == "torn-record" or forged, report.problem
