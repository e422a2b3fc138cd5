"""The decision log: appending and verifying, against the least any hash-chained JSON Lines log does.

What it measures, in one process, on the traced decisions of N generated tickets:

append        `DecisionLog.append(decision)` with `fsync=False` (then with the default `fsync=True`
              on a tenth of them): the lock, the check of the last record and the head, the
              canonical record, its write, the head's atomic replacement.
append floor  per decision, what any such log spends: the decision's canonical JSON (from
              `Decision.to_json()`), its sha256 chained to the previous hash, and one write of the
              line to a file open for appending. No lock, no head, no check of what is there.
verify        `verify_log(path)`: every record read, its form and hash checked, its chain, and its
              decision validated back into a Decision.
verify floor  per line, what any reader of such a log spends: `json.loads`, the canonical JSON
              again (the form check) and the sha256.

Figures are medians over the repeats, in µs per record, with the ratio to the floor. Nothing is
asserted.

Run:  .venv/bin/python benchmarks/bench_log.py [--tickets 2000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import tempfile
import time
from pathlib import Path

import csrules
from _tickets import FIXED_NOW, generate_tickets
from csrules.decision_log import verify_log


def canonical(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def append_floor(decisions: list[csrules.Decision], path: Path) -> None:
    prev, seq = "0" * 64, 0
    with path.open("ab") as handle:
        for decision in decisions:
            seq += 1
            body = {"decision": json.loads(decision.to_json()), "prev": prev, "seq": seq}
            digest = hashlib.sha256(canonical(body).encode()).hexdigest()
            handle.write((canonical({**body, "hash": digest}) + "\n").encode())
            prev = digest


def verify_floor(path: Path) -> int:
    count = 0
    with path.open("rb") as handle:
        for line in handle:
            record = json.loads(line)
            assert canonical(record).encode() == line.rstrip(b"\n")
            body = {key: record[key] for key in ("decision", "prev", "seq")}
            assert hashlib.sha256(canonical(body).encode()).hexdigest() == record["hash"]
            count += 1
    return count


def per_record(seconds: float, count: int) -> float:
    return seconds / count * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    engine = csrules.load()
    decisions = [engine.evaluate(ticket, now=FIXED_NOW) for ticket in generate_tickets(args.tickets)]
    size = statistics.median(len(d.to_json()) for d in decisions)
    print(f"{len(decisions)} traced decisions (median {size:,.0f} bytes of JSON), {args.repeats} repeats")
    rows: dict[str, list[float]] = {}
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory() as directory:
            log_path, floor_path = Path(directory, "log.jsonl"), Path(directory, "floor.jsonl")
            started = time.perf_counter()
            append_floor(decisions, floor_path)
            rows.setdefault("append floor", []).append(
                per_record(time.perf_counter() - started, len(decisions))
            )
            log = csrules.DecisionLog(log_path, fsync=False)
            started = time.perf_counter()
            for decision in decisions:
                log.append(decision)
            rows.setdefault("append, fsync=False", []).append(
                per_record(time.perf_counter() - started, len(decisions))
            )
            durable = csrules.DecisionLog(Path(directory, "durable.jsonl"))
            some = decisions[: max(1, len(decisions) // 10)]
            started = time.perf_counter()
            for decision in some:
                durable.append(decision)
            rows.setdefault("append, fsync=True", []).append(
                per_record(time.perf_counter() - started, len(some))
            )
            started = time.perf_counter()
            count = verify_floor(floor_path)
            rows.setdefault("verify floor", []).append(per_record(time.perf_counter() - started, count))
            started = time.perf_counter()
            report = verify_log(log_path)
            rows.setdefault("verify_log", []).append(
                per_record(time.perf_counter() - started, report.records)
            )
            assert report.ok, report.problem
            assert report.records == count == len(decisions)
    medians = {name: statistics.median(values) for name, values in rows.items()}
    print(f"\n{'':24}{'µs/record':>12}{'records/s':>12}{'/ floor':>10}")
    for name, floor in (
        ("append floor", "append floor"),
        ("append, fsync=False", "append floor"),
        ("append, fsync=True", "append floor"),
        ("verify floor", "verify floor"),
        ("verify_log", "verify floor"),
    ):
        value = medians[name]
        print(f"{name:24}{value:12.0f}{1e6 / value:12,.0f}{value / medians[floor]:9.2f}x")


if __name__ == "__main__":
    main()
