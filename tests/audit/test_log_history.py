"""A property over histories of a decision log: genuine appends mixed with crashes, torn writes,
records forged by someone who can write the log but not its head file, and repairs. Whatever the
history, a log that verifies names every record its head did not see written, and an appended
record is never lost or rewritten."""

from __future__ import annotations

import hashlib
import json
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

import csrules
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
        head_file = path.with_name("log.jsonl.head")
        unvouched: set[int] = set()  # records written without their head update
        confirmed: dict[int, bytes] = {}  # records whose append returned: never lost nor rewritten
        torn = False
        path.touch()  # a log created and never written to
        for step in steps:
            report = verify_log(path)
            if step in ("append", "crash"):
                head_before = head_file.read_bytes() if head_file.exists() else None
                try:
                    record = csrules.DecisionLog(path, fsync=False).append(DECISION)
                except csrules.AuditError:
                    refused = True
                else:
                    refused = False
                assert refused is not report.ok  # refused exactly when the log does not verify
                if refused:
                    continue
                confirmed[record.seq] = path.read_bytes().splitlines(keepends=True)[record.seq - 1]
                if step == "crash":  # the head update never happened
                    if head_before is None:
                        head_file.unlink()
                    else:
                        head_file.write_bytes(head_before)
                    unvouched.add(record.seq)
                    del confirmed[record.seq]
            elif step == "forge" and not torn:
                unvouched.add(_forge(path))
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
